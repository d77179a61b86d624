#!/usr/bin/env bash
# The C tests and a Python smoke subset under AddressSanitizer + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake -S . -B "$work/c" -DFASTPOOL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug > "$work/c.log"
cmake --build "$work/c" --parallel 2 >> "$work/c.log"
ctest --test-dir "$work/c" --output-on-failure

# The instrumented extension in a venv of its own, so nothing else is imported.
python -m venv "$work/venv"
"$work/venv/bin/pip" install -q . pytest hypothesis -Ccmake.define.FASTPOOL_SANITIZE=ON \
  -Ccmake.build-type=Debug -Cbuild-dir="$work/build"
libasan=$(gcc -print-file-name=libasan.so)
# CPython itself is not instrumented: preload the runtime (an instrumented
# extension cannot be imported without it: "ASan runtime does not come first")
# and ignore CPython's leaks.
export LD_PRELOAD="$libasan" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
cd tests  # not the source tree: import the installed package
"$work/venv/bin/python" -c "import fastpool" # a broken install fails here, before pytest
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider \
  test_traps.py test_errors.py test_large.py
