"""Benchmarks must time the installed, compiled gmmfast, not the source folder.

``python -m pytest bench/...`` from a checkout puts the checkout first on
sys.path, where ``gmmfast/`` has no compiled kernels; drop it in that case.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _importable() -> bool:
    try:
        importlib.import_module("gmmfast._kernels._cpu")
        return True
    except ImportError:
        for name in [m for m in sys.modules if m == "gmmfast" or m.startswith("gmmfast.")]:
            del sys.modules[name]
        return False


if not _importable():
    sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != REPO_ROOT]
    importlib.invalidate_caches()
    if not _importable():
        pytest.exit("gmmfast has no compiled kernels here: run `pip install .` first.", returncode=4)
