#!/usr/bin/env bash
# Build every compiled module with AddressSanitizer + UndefinedBehaviorSanitizer and run
# the test suite on that build.
#
#   tools/sanitize.sh                 the whole suite (what bench/RESULTS.md records)
#   tools/sanitize.sh --quick         only the tests that call the kernels directly (a few minutes
#                                     once built; CI does not run it: the sanitized build alone
#                                     takes longer than CI's time left, see bench/RESULTS.md)
#   tools/sanitize.sh tests/test_x.py -k y      any pytest arguments
#
# The build goes to its own virtual environment and build folder (build/sanitize/ in the
# checkout, or $GMMFAST_SANITIZE_DIR), so the usual installs are untouched; a second run
# rebuilds only what changed.  Needs GCC (or Clang) with its libasan/libubsan.
#
# CPython is not built with ASan, so the ASan runtime is preloaded into it (LD_PRELOAD;
# child processes inherit it, so the CLI tests' own Pythons are checked too).  Options:
#   detect_leaks=0     CPython keeps interned objects and module state to exit on
#                      purpose: leak reports would be its own, never the kernels'.
#   halt_on_error=1    the first finding (ASan or UBSan) stops the run with a report;
#                      UBSan also prints the stack.
#   log_path           reports go to files, printed at the end: pytest captures the
#                      tests' output, and a report from a dying process would be lost.
# No suppression file is used (see bench/RESULTS.md, Reliability, for what the run found).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
work="${GMMFAST_SANITIZE_DIR:-$root/build/sanitize}"
sanitizers="${GMMFAST_SANITIZE:-address,undefined,float-cast-overflow}"
# the run is bounded (a hang under the sanitizers is a finding too); 2 cores, shared machine
limit="${GMMFAST_SANITIZE_TIMEOUT:-90m}"
cc="${CC:-gcc}"

quick=0
if [ "${1:-}" = "--quick" ]; then
    quick=1
    shift
fi

asan_runtime="$("$cc" -print-file-name=libasan.so)"
if [ ! -e "$asan_runtime" ]; then
    echo "sanitize.sh: $cc has no libasan.so (install its sanitizer runtime, e.g. Debian's libasan8)" >&2
    exit 2
fi

# --- build ---------------------------------------------------------------------------
if [ ! -x "$work/venv/bin/python" ]; then
    python3 -m venv "$work/venv"
fi
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
python -m pip install --quiet --upgrade pip
# cmake from PyPI: a pyenv shim on PATH can be too slow to answer scikit-build-core under load
python -m pip install --quiet scikit-build-core cython numpy ninja cmake
echo "sanitize.sh: building gmmfast with -fsanitize=$sanitizers in $work (several minutes)"
# a variant this CPU cannot load is never run by the tests: leave the avx512 one out here
avx512=ON
grep -qw avx512f /proc/cpuinfo 2>/dev/null || avx512=OFF
CC="$cc" python -m pip install --quiet --no-build-isolation ".[test]" \
    -Cbuild-dir="$work/cmake" \
    -Ccmake.define.GMMFAST_SANITIZE="$sanitizers" -Ccmake.define.GMMFAST_AVX512="$avx512"

# --- run -----------------------------------------------------------------------------
logs="$work/logs"
rm -rf "$logs"
mkdir -p "$logs"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:log_path=$logs/asan:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:report_error_type=1:log_path=$logs/ubsan:${UBSAN_OPTIONS:-}"
export GMMFAST_SANITIZED="$sanitizers"      # tests that measure memory or time read it

if [ "$quick" = 1 ]; then
    set -- tests/test_kernel_entry_checks.py tests/test_kernel_variants.py tests/test_maxflow.py "$@"
fi
# the venv's pytest script (not python -m pytest) keeps the checkout off sys.path: the
# tests import the sanitized build installed in the venv
# libstdc++ right after the runtime: ASan looks up the real __cxa_throw when it starts, and
# without it a C++ extension that throws (matplotlib's ft2font) stops the run with a CHECK.
cxx_runtime="$("$cc" -print-file-name=libstdc++.so.6)"
# --capture=sys: pytest's default fd-level capture swallows what a dying process writes to
# fd 2, and a UBSan report from the pytest process itself was lost so (its log_path file
# was never written); the output is kept in $work/pytest.log and searched for reports.
set +e
LD_PRELOAD="$asan_runtime:$cxx_runtime${LD_PRELOAD:+:$LD_PRELOAD}" timeout "$limit" \
    pytest -p no:cacheprovider --capture=sys "$@" 2>&1 | tee "$work/pytest.log"
status=${PIPESTATUS[0]}
set -e
if grep -q -E "runtime error:|ERROR: AddressSanitizer|ERROR: UndefinedBehaviorSanitizer" "$work/pytest.log"; then
    echo "sanitize.sh: sanitizer reports in the output (see $work/pytest.log):" >&2
    grep -E -A3 "runtime error:|ERROR: AddressSanitizer|ERROR: UndefinedBehaviorSanitizer" "$work/pytest.log" >&2
    exit 1
fi

reports=("$logs"/*)
if [ -e "${reports[0]}" ]; then
    echo "sanitize.sh: sanitizer reports:" >&2
    for f in "${reports[@]}"; do
        echo "=== $f" >&2
        cat "$f" >&2
    done
    exit 1
fi
if [ "$status" != 0 ]; then
    echo "sanitize.sh: the tests failed (exit $status), with no sanitizer report" >&2
    exit "$status"
fi
echo "sanitize.sh: clean (no sanitizer report, tests passed)"
