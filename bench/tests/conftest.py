"""pytest configuration of the benchmark suite's tests: ``import bench_helpers`` from here.

These tests need fastpool and the ``fastpool_bench`` package installed (``pip install
".[test]" ./bench`` from the repository root, then ``pytest tests bench/tests``): the
commands run in subprocesses from temporary directories, so that they import the
installed packages and not the source tree.
"""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
