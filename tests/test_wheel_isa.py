"""Each installed compiled module holds only the instructions its CPU variant allows.

Instruction-set flags are set per kernel variant (CMakeLists.txt), never for the whole
build: a baseline module with one AVX instruction in it would end a run on a CPU without
AVX with SIGILL, whatever the dispatcher chose.  objdump's disassembly is the reference:
an instruction is counted as AVX when it is VEX/EVEX-encoded (objdump writes those with a
"v" prefix) or names a ymm register, as AVX-512 when it names a zmm register, a mask
register (%k0-%k7) or one of the registers only EVEX reaches (xmm16-31, ymm16-31).  The
avx2 modules must show AVX (if the scan found none there, it could not find it anywhere)
and no AVX-512.  Also: a wheel must not be tagged for an x86-64 ISA level.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

from gmmfast import _kernels
from gmmfast._kernels import _manifest

# an installed wheel has one directory; an editable install adds its build's install tree
KERNEL_DIRS = [Path(p).resolve() for p in _kernels.__path__]
OBJDUMP = shutil.which("objdump")
X86 = _manifest.VARIANTS != ("baseline",)

_AVX512_OPERAND = re.compile(r"%zmm\d|%k[0-7]\b|%[xy]mm(1[6-9]|2\d|3[01])\b")


def _modules():
    """(module name, variant or None for portable, path) of every installed kernel module."""
    found = []
    for path in sorted(p for d in KERNEL_DIRS for p in d.iterdir()):
        if path.suffix not in (".so", ".pyd"):
            continue
        name = path.name.split(".")[0]
        kernel, _, variant = name.rpartition("_")
        if kernel in _manifest.PER_VARIANT and variant in _manifest.VARIANTS:
            found.append((name, variant, path))
        else:
            found.append((name, None, path))
    return found


@lru_cache(maxsize=None)
def _isa(path: Path) -> frozenset:
    """{"avx", "avx512"}: the wider instruction sets the module's code uses."""
    text = subprocess.run([OBJDUMP, "-d", "--no-show-raw-insn", str(path)], capture_output=True,
                          text=True, check=True).stdout
    seen = set()
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        insn = parts[-1].strip()
        mnemonic = insn.split(" ", 1)[0]
        if _AVX512_OPERAND.search(insn) or mnemonic.startswith("k"):
            seen.add("avx512")
        if (mnemonic.startswith("v") and mnemonic not in ("verr", "verw")) or "%ymm" in insn:
            seen.add("avx")
    return frozenset(seen)


needs_objdump = pytest.mark.skipif(OBJDUMP is None or not X86,
                                   reason="needs binutils' objdump and an x86-64 build")


def test_manifest_is_consistent():
    # every per-variant kernel is built for the baseline and for no variant the build lacks
    assert set(_manifest.KERNEL_VARIANTS) == set(_manifest.PER_VARIANT)
    for kernel, variants in _manifest.KERNEL_VARIANTS.items():
        assert variants[0] == "baseline" and set(variants) <= set(_manifest.VARIANTS), kernel
        assert list(variants) == [v for v in _manifest.VARIANTS if v in variants], kernel


def test_every_built_module_is_installed():
    names = {name for name, _, _ in _modules()}
    expected = {f"{k}_{v}" for k in _manifest.PER_VARIANT for v in _manifest.KERNEL_VARIANTS[k]}
    expected |= set(_manifest.PORTABLE) | {"_cpu"}
    assert expected <= names, expected - names


@needs_objdump
def test_baseline_and_portable_modules_have_no_avx():
    for name, variant, path in _modules():
        if variant in (None, "baseline"):
            assert _isa(path) == frozenset(), f"{name} uses {sorted(_isa(path))}"


@needs_objdump
def test_avx2_modules_use_avx_and_no_avx512():
    avx2 = [(name, path) for name, variant, path in _modules() if variant == "avx2"]
    assert avx2
    for name, path in avx2:
        assert _isa(path) == {"avx"}, f"{name} uses {sorted(_isa(path))}"


@needs_objdump
def test_avx512_modules_use_512_bit_vectors():
    avx512 = [(name, path) for name, variant, path in _modules() if variant == "avx512"]
    if not avx512:
        pytest.skip("this build has no avx512 variant")
    # the EM kernel's 16-lane float loops are why the variant exists
    assert "avx512" in _isa(dict(avx512)["_gmm_avx512"])


def test_wheel_is_not_tagged_for_an_isa_level():
    wheel = importlib.metadata.distribution("gmmfast").read_text("WHEEL")
    if wheel is None:
        pytest.skip("gmmfast was not installed from a wheel")
    tags = [line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")]
    assert tags
    for tag in tags:
        assert not re.search(r"_v\d$", tag), tag


def test_emulation_subset_is_selected(request):
    """tools/test_wheel.sh runs `-m emulation` under qemu: every test of the subset must be
    marked (a second collection hook in conftest once replaced the marking one: 0 selected)."""
    import sys

    conftest = request.config.pluginmanager.get_plugin(str(Path(__file__).with_name("conftest.py")))
    EMULATION_SUBSET = conftest.EMULATION_SUBSET
    files = sorted({n.split("::")[0] for n in EMULATION_SUBSET})
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--co", "-q", "-m", "emulation",
                           *files], capture_output=True, text=True, cwd=root, timeout=300)
    selected = {line.strip() for line in proc.stdout.splitlines() if "::" in line}
    assert selected == set(EMULATION_SUBSET), proc.stdout[-2000:] + proc.stderr[-2000:]
