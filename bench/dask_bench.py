#!/usr/bin/env python
"""fastpool.dask on a LocalCluster against dask.array.coarsen (and xarray's coarsen):
``python bench/dask_bench.py [--gib G] [--repeat N] ...`` (:mod:`fastpool_bench.dask_cluster`)."""

from fastpool_bench.dask_cluster import main

if __name__ == "__main__":
    main()
