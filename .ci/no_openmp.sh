#!/usr/bin/env bash
# The whole test suite against a build without OpenMP, in a venv of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python -m venv "$work/venv"
"$work/venv/bin/pip" install -q . pytest hypothesis -Ccmake.define.FASTPOOL_OPENMP=OFF \
  -Cbuild-dir="$work/build"
cd tests  # not the source tree: import the installed package
"$work/venv/bin/python" -c "import fastpool, sys; sys.exit(fastpool._core.build_info()['openmp'])"
# test_c_library.py builds the C library with plain CMake (both OpenMP settings)
# whatever is installed: the first job already ran it.
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider . --ignore=test_c_library.py
