"""CMakeLists.txt's choice of kernel variants and flags per target, by configure-only runs.

Only Linux x86-64 builds are run here; for another processor, CMake is configured as a
cross build (a toolchain file naming the processor, with this machine's compiler standing
in for the target's) and the generated build is read: the manifest gmmfast/_dispatch.py
will load, and the compile command of every module (compile_commands.json).  Needs
CMake, a C compiler with OpenMP and NumPy's headers; without a compiler (the installed-
wheel job of tools/test_wheel.sh) it skips, and that script runs it again afterwards with
the compiler on PATH.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gmmfast._kernels import _manifest

REPO = Path(__file__).resolve().parents[1]
CC = os.environ.get("CC") if os.environ.get("CC") not in (None, "", "false") else shutil.which("cc")
CMAKE = shutil.which("cmake")

pytestmark = pytest.mark.skipif(CC is None or CMAKE is None or not (REPO / "CMakeLists.txt").exists(),
                                reason="needs cmake, a C compiler and the source checkout")


def _configure(tmp_path, processor=None):
    """Configure into tmp_path; returns (manifest namespace, {module: compile command})."""
    args = [CMAKE, "-S", str(REPO), "-B", str(tmp_path / "b"), "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON",
            f"-DPython_EXECUTABLE={sys.executable}", "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_C_COMPILER={CC}"]
    if shutil.which("ninja"):
        args += ["-G", "Ninja"]
    if processor is not None:
        toolchain = tmp_path / "toolchain.cmake"
        toolchain.write_text(f"set(CMAKE_SYSTEM_NAME Linux)\nset(CMAKE_SYSTEM_PROCESSOR {processor})\n")
        args.append(f"-DCMAKE_TOOLCHAIN_FILE={toolchain}")
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = {}
    exec((tmp_path / "b" / "_manifest.py").read_text(), manifest)
    commands = {}
    for entry in json.loads((tmp_path / "b" / "compile_commands.json").read_text()):
        module = Path(entry["file"]).stem  # _gmm_avx2.c -> _gmm_avx2
        commands[module] = entry["command"]
    return manifest, commands, proc.stdout


def _march(command):
    return re.findall(r"-march=(\S+)", command)


def test_aarch64_builds_the_portable_variant_only(tmp_path):
    manifest, commands, log = _configure(tmp_path, "aarch64")
    assert "gmmfast: target aarch64, kernel variants baseline" in log
    assert manifest["VARIANTS"] == ("baseline",)
    # the same kernels as this x86-64 build, each once
    assert set(manifest["PER_VARIANT"]) == set(_manifest.PER_VARIANT)
    assert set(manifest["PORTABLE"]) == set(_manifest.PORTABLE)
    assert all(v == ("baseline",) for v in manifest["KERNEL_VARIANTS"].values())
    expected = {f"{k}_baseline" for k in manifest["PER_VARIANT"]} | set(manifest["PORTABLE"]) | {"_cpu"}
    assert set(commands) == expected
    for module, command in commands.items():
        assert not _march(command), (module, command)
        assert "-mprefer-vector-width" not in command and "-mavx" not in command, module
        assert "-O3" in command, module


def test_x86_64_sets_isa_flags_per_variant_only(tmp_path):
    manifest, commands, _ = _configure(tmp_path, "x86_64")
    assert manifest["VARIANTS"][:2] == ("baseline", "avx2")
    # one -march per module, its variant's (the avx512 name depends on the compiler's age)
    allowed = {"baseline": {"x86-64"}, "avx2": {"haswell"}, "avx512": {"x86-64-v4", "skylake-avx512"}}
    expected = set()
    for kernel in manifest["PER_VARIANT"]:
        # avx512 is left out for the kernels CMakeLists.txt lists (GMMFAST_NO_AVX512_KERNELS)
        assert manifest["KERNEL_VARIANTS"][kernel][:2] == ("baseline", "avx2"), kernel
        for variant in manifest["KERNEL_VARIANTS"][kernel]:
            module = f"{kernel}_{variant}"
            expected.add(module)
            march = _march(commands[module])
            assert len(march) == 1 and march[0] in allowed[variant], (module, commands[module])
    for module in [*manifest["PORTABLE"], "_cpu"]:
        expected.add(module)
        assert _march(commands[module]) == ["x86-64"], (module, commands[module])
    assert set(commands) == expected
