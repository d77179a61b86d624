#!/usr/bin/env python
"""Run fastpool's benchmark suite and record its results in bench/README.md.

The suite is the one ``fastpool bench`` runs (the ``fastpool-bench`` package in this
directory: ``pip install ./bench``), with the same options; this script also writes
the Markdown, under a heading with the date, between the results markers of
``bench/README.md`` (:mod:`fastpool_bench.record`).

    python bench/run.py                      # full shapes, threads 1 and all cores
    python bench/run.py --quick              # small shapes, about a minute
    python bench/run.py --json out.json      # also every sample, ratio and verdict
    python bench/run.py --plot speedup.png   # also a bar chart of the speed-ups

Extra option: ``--readme FILE`` writes the results into another file than
``bench/README.md`` (it is created, markers included, if missing).
"""

import sys
from pathlib import Path

from fastpool_bench.record import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], readme=Path(__file__).resolve().with_name("README.md"),
                  prog="python bench/run.py"))
