#!/usr/bin/env bash
# Test an installed gmmfast wheel the way a user gets it:
#
#   tools/test_wheel.sh [--fast] [--no-suite] [--no-emulation] [WHEEL]
#                                             (default WHEEL: dist/gmmfast-*manylinux*.whl)
#
# 1. installs WHEEL with the test extra into a fresh virtual environment in which no C
#    compiler can be found: PATH holds the venv and links to every program on the
#    caller's PATH except C/C++ compilers, CC=false, CXX=false, and pip takes wheels
#    only (--only-binary=:all:);
# 2. runs the whole test suite of this checkout against it (tests/conftest.py checks that
#    the gmmfast under test is the one in that venv); with --fast only the `emulation`
#    subset and the wheel/OpenMP checks (tests/test_wheel_isa.py, test_openmp_runtimes.py);
# 3. runs the installed wheel's Python under qemu-user with three CPU models --
#    Nehalem (SSE4.2, no AVX), Haswell (AVX2+FMA) and max (all qemu emulates) -- and
#    checks that each picks the kernel variant its CPU allows, that a variant the CPU
#    cannot run is refused with a clear ImportError, and that the small-input tests
#    marked `emulation` pass (a kernel instruction the CPU lacks would end the run with
#    SIGILL).  Skipped, saying so, when qemu-x86_64 is not installed or the machine is
#    not x86-64;
# 4. between 2 and 3, with the caller's PATH back: the configure-only CMake checks.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
suite=1 emulation=1 fast=0
while [ $# -gt 0 ]; do
    case "$1" in
        --fast) fast=1 ;;
        --no-suite) suite=0 ;;
        --no-emulation) emulation=0 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
    shift
done
wheel="$(realpath "${1:-$(ls dist/gmmfast-*manylinux*.whl)}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python="$(command -v python3)"
caller_path="$PATH"

# --- a PATH without compilers -------------------------------------------------------------
nocc="$work/bin"
mkdir -p "$nocc"
compiler='^(cc|c89|c99|gcc|g\+\+|c\+\+|cpp|clang|clang\+\+|tcc|icc|icx|[a-z0-9_]+-(linux|pc|w64)-[a-z0-9_-]*(gcc|g\+\+|c\+\+|cpp|clang)(-[0-9.]+)?|(c89|c99|gcc|g\+\+|cpp|clang|clang\+\+)-[0-9.]+)$'
IFS=: read -r -a path_dirs <<<"$PATH"
for d in "${path_dirs[@]}"; do
    [ -d "$d" ] || continue
    for f in "$d"/*; do
        name="$(basename "$f")"
        [ -x "$f" ] && [ ! -d "$f" ] || continue
        [[ "$name" =~ $compiler ]] && continue
        [ -e "$nocc/$name" ] || ln -s "$f" "$nocc/$name"
    done
done
venv="$work/venv"
"$python" -m venv "$venv"
export PATH="$venv/bin:$nocc" CC=false CXX=false
unset PYTHONPATH
for c in cc gcc c++ g++ clang x86_64-linux-gnu-gcc; do
    if command -v "$c" >/dev/null; then echo "error: $c is still on PATH" >&2; exit 1; fi
done
echo "no C compiler on PATH ($(ls "$nocc" | wc -l) other programs linked), CC=$CC"

python -m pip install --quiet --upgrade --only-binary=:all: pip
python -m pip install --quiet --only-binary=:all: "$wheel[test]" threadpoolctl
site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')"
export GMMFAST_TEST_INSTALLED="$site/gmmfast"
(cd "$work" && python -c 'import gmmfast; gmmfast.show_config()')

if [ "$suite" = 1 ] && [ "$fast" = 1 ]; then
    start=$SECONDS
    pytest -p no:cacheprovider -q -m emulation
    pytest -p no:cacheprovider -q tests/test_wheel_isa.py tests/test_openmp_runtimes.py
    echo "fast tests against the installed wheel: $((SECONDS - start)) s"
elif [ "$suite" = 1 ]; then
    start=$SECONDS
    pytest -p no:cacheprovider
    echo "test suite against the installed wheel: $((SECONDS - start)) s"
fi

# --- configure-only CMake checks (tests/test_cmake_targets.py), with the compiler back ---------
# They read which modules and flags CMakeLists.txt generates per target processor; the
# suite above skipped them for want of a compiler.
if [ "$suite" = 1 ]; then
    python -m pip install --quiet cmake ninja
    PATH="$venv/bin:$caller_path" CC= pytest -p no:cacheprovider -q tests/test_cmake_targets.py
fi

# --- CPU models under qemu-user -------------------------------------------------------------
if [ "$emulation" = 0 ]; then exit 0; fi
if [ "$(uname -m)" != x86_64 ] || ! command -v qemu-x86_64 >/dev/null; then
    echo "SKIPPED: CPU dispatch under emulation (needs qemu-x86_64 on an x86-64 machine: apt-get install qemu-user)"
    exit 0
fi
py="$venv/bin/python"
# The variant each CPU model must get, from NumPy's own CPU feature detection (not gmmfast's).
expect_code='
try:                          # the runtime CPU feature table of NumPy (np.__cpu_features__ before 2.x)
    from numpy._core._multiarray_umath import __cpu_features__ as f
except ImportError:
    from numpy.core._multiarray_umath import __cpu_features__ as f
if all(f.get(x) for x in ("AVX512F", "AVX512BW", "AVX512CD", "AVX512DQ", "AVX512VL")):
    print("avx512")
elif f.get("AVX2") and f.get("FMA3"):
    print("avx2")
else:
    print("baseline")'
variant_code='import gmmfast; gmmfast.show_config(); print(gmmfast.config()["kernel_variant"])'
# Nehalem and Haswell must get baseline and avx2 (NumPy must agree, or the emulation is
# not what this test assumes); "Haswell,-bmi2" is Haswell with BMI2 masked, as virtual
# machines do: the avx2 variant (compiled for Haswell, BMI2 allowed) must not be chosen;
# max gets what NumPy sees (avx2 on qemu 7.2, which emulates no AVX-512).
declare -A must=([Nehalem]=baseline [Haswell]=avx2 [Haswell,-bmi2]=baseline)
qemu-x86_64 --version | head -1
for cpu in Nehalem Haswell Haswell,-bmi2 max; do
    q=(qemu-x86_64 -cpu "$cpu")
    # qemu warns about host-only features (pcid, x2apic, ...) the model names: not ours
    seen="$(cd "$work" && "${q[@]}" "$py" -c "$expect_code" 2>/dev/null)"
    expect="${must[$cpu]:-$seen}"
    if [ "$cpu" = Nehalem ] || [ "$cpu" = Haswell ]; then
        if [ "$seen" != "$expect" ]; then
            echo "error: NumPy sees $seen on qemu's $cpu, not $expect: the emulation is not what this test assumes" >&2
            exit 1
        fi
    fi
    got="$(cd "$work" && env -u GMMFAST_KERNELS "${q[@]}" "$py" -c "$variant_code" 2>/dev/null | tail -1)"
    if [ "$got" != "$expect" ]; then
        echo "error: -cpu $cpu: gmmfast chose $got, the CPU calls for $expect" >&2
        exit 1
    fi
    echo "-cpu $cpu: kernel variant $got, as expected (NumPy sees $seen)"
    for forced in avx2 avx512; do
        [ "$forced" = avx2 ] && [ "$expect" != baseline ] && continue
        [ "$forced" = avx512 ] && [ "$expect" = avx512 ] && continue
        rc=0
        err="$(cd "$work" && GMMFAST_KERNELS=$forced "${q[@]}" "$py" -c 'import gmmfast' 2>&1)" || rc=$?
        if [ "$rc" != 1 ] || ! grep -q "ImportError: GMMFAST_KERNELS=$forced was requested but this CPU does not report" <<<"$err"; then
            echo "error: -cpu $cpu GMMFAST_KERNELS=$forced: exit $rc, not a clear ImportError:" >&2
            echo "$err" >&2
            exit 1
        fi
        echo "-cpu $cpu GMMFAST_KERNELS=$forced: refused: $(tail -1 <<<"$err")"
    done
    [ "$cpu" = "Haswell,-bmi2" ] && continue  # the same baseline code as Nehalem
    # qemu 7.2 faults on an AVX2 masked load (vmaskmov) whose masked-off lanes lie in an
    # unmapped page, where a real CPU suppresses the fault (tools/qemu_maskload.c shows it);
    # NumPy's AVX2 sort loads array tails so and died in np.unique.  NumPy (the test's
    # reference, not the code under test) therefore runs its baseline (x86-64-v2) code here;
    # gmmfast still picks its kernels from CPUID (checked above), and has no masked loads.
    npy_off=()
    [ "$expect" != baseline ] && npy_off=(NPY_DISABLE_CPU_FEATURES="X86_V3 X86_V4 AVX512_ICL AVX512_SPR")
    start=$SECONDS
    rc=0
    env -u GMMFAST_KERNELS "${npy_off[@]}" "${q[@]}" "$py" -m pytest -p no:cacheprovider -q -m emulation \
        tests/test_mixture.py tests/test_segmentation.py tests/test_mog2.py tests/test_maxflow.py \
        tests/test_grabcut.py tests/test_openmp_runtimes.py || rc=$?
    if [ "$rc" -gt 128 ]; then
        echo "error: -cpu $cpu: the tests died with signal $((rc - 128))" >&2
        exit 1
    elif [ "$rc" != 0 ]; then
        echo "error: -cpu $cpu: the emulation tests failed (exit $rc)" >&2
        exit 1
    fi
    echo "-cpu $cpu: emulation tests passed in $((SECONDS - start)) s"
done
