"""The wheel job: build the manylinux wheel and test it as a user gets it.

Runs tools/build_wheels.sh (sdist, wheel built from the unpacked sdist, auditwheel
repair) and then tools/test_wheel.sh --fast on that wheel: installed into a fresh venv
with no C compiler on PATH, the `emulation` subset and the wheel/OpenMP checks run
against it, then the wheel's Python under qemu-user with three CPU models.  About 10
minutes on 2 cores, so it is a `slow` test (GMMFAST_SLOW_TESTS=1); CI's 25 minutes hold
the README's suite only.  The whole suite against the wheel:
``tools/build_wheels.sh && tools/test_wheel.sh`` (bench/RESULTS.md, Wheels).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="manylinux wheels are built on Linux"),
    pytest.mark.skipif(not (ROOT / "tools" / "build_wheels.sh").exists(), reason="needs the source checkout"),
    pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="needs a C compiler"),
]


def test_built_wheel_installs_without_a_compiler_and_passes(tmp_path):
    build = subprocess.run(["bash", "tools/build_wheels.sh", str(tmp_path / "dist")], cwd=ROOT,
                           capture_output=True, text=True, timeout=3600)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    wheels = list((tmp_path / "dist").glob("gmmfast-*manylinux*.whl"))
    assert len(wheels) == 1, build.stdout[-2000:]
    test = subprocess.run(["bash", "tools/test_wheel.sh", "--fast", str(wheels[0])], cwd=ROOT,
                          capture_output=True, text=True, timeout=3600)
    assert test.returncode == 0, test.stdout[-4000:] + test.stderr[-4000:]
    assert "no C compiler on PATH" in test.stdout
    print(test.stdout[-3000:])
