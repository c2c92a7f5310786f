"""The shell scripts of tools/ and .ci/ parse (``bash -n``): most of them run only before a
release, so a syntax error would otherwise wait for that day (one did, in test_wheel.sh)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted([*ROOT.glob("tools/*.sh"), *ROOT.glob(".ci/run")])


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.skipif(not SCRIPTS, reason="needs the source checkout")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_script_parses(script):
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
