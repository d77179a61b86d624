#!/usr/bin/env python
"""Stochastic, median and mixed pooling against the obvious compositions, on one thread:
``python bench/special_window.py [--repeat N]`` (:mod:`fastpool_bench.special_window`)."""

import sys

from fastpool_bench.special_window import main

if __name__ == "__main__":
    sys.exit(main())
