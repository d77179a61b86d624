"""fastpool.dask on a LocalCluster against dask.array.coarsen (and xarray's coarsen).

A multi-GB float32 image ``(1, 1, S, S)`` is generated lazily, chunk by chunk,
on the workers (``dask.array.random``), so it never sits in memory whole; it is
pooled 2x2 (mean, or max with ``--op max``) and the result reduced to one
number, so only a scalar travels back.  Each method runs ``--repeat`` times,
round-robin; the script prints the median wall time and the median CPU time
the workers used (steadier than wall time on a shared machine), the same for
generating and summing the input alone (the floor every method pays), and the
peak resident memory of each worker process, sampled with psutil every 20 ms.

    python -m fastpool_bench.dask_cluster     # 4 GiB, 2 workers x 1 thread, 4 GiB limit each
    python -m fastpool_bench.dask_cluster --gib 1 --repeat 2

(or ``python bench/dask_bench.py`` from a clone of the repository).  Needs
``dask[distributed]`` and psutil (``pip install "./bench[dask]"``); xarray is timed
when it is installed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

import dask
import dask.array as da
import numpy as np
import psutil
from distributed import Client, LocalCluster

import fastpool
import fastpool.dask as fd


class PeakRSS:
    """Samples the resident set size of some processes in a background thread."""

    def __init__(self, pids, interval=0.02):
        self.procs = [psutil.Process(p) for p in pids]
        self.interval = interval
        self.peak = [0] * len(self.procs)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for i, p in enumerate(self.procs):
                try:
                    self.peak[i] = max(self.peak[i], p.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def worker_cpu(procs) -> float:
    """User + system CPU seconds used so far by the worker processes (less
    sensitive than wall time to other load on a shared machine)."""
    total = 0.0
    for p in procs:
        t = p.cpu_times()
        total += t.user + t.system + t.children_user + t.children_system
    return total


def source(side: int, chunk: int, seed: int = 0) -> da.Array:
    rng = da.random.default_rng(seed)
    return rng.random((1, 1, side, side), dtype=np.float32, chunks=(1, 1, chunk, chunk))


def methods(x: da.Array, op: str) -> dict:
    reducer = np.mean if op == "mean" else np.max
    out = {
        "input only (generate + sum)": x.sum(dtype=np.float64),
        f"fastpool.dask {'avg' if op == 'mean' else 'max'}_pool2d(x, 2)":
            (fd.avg_pool2d(x, 2) if op == "mean" else fd.max_pool2d(x, 2)).sum(dtype=np.float64),
        f"dask.array.coarsen(np.{op}, x, 2x2)":
            da.coarsen(reducer, x, {2: 2, 3: 2}).sum(dtype=np.float64),
    }
    try:
        import xarray as xr
    except ImportError:
        pass
    else:
        xa = xr.DataArray(x, dims=("n", "c", "y", "x"))
        c = xa.coarsen(y=2, x=2)
        out[f"xarray .coarsen(y=2, x=2).{op}()"] = (c.mean() if op == "mean" else c.max()).data.sum(
            dtype=np.float64)
    return out


def check(client: Client, op: str) -> None:
    """The three methods agree on a small input, and fastpool.dask equals in-memory fastpool."""
    x = source(1024, 300, seed=1)
    xn = x.compute()
    ref = fastpool.avg_pool2d(xn, 2) if op == "mean" else fastpool.max_pool2d(xn, 2)
    got = (fd.avg_pool2d(x, 2) if op == "mean" else fd.max_pool2d(x, 2)).compute()
    assert np.array_equal(ref, got), "fastpool.dask differs from in-memory fastpool"
    co = da.coarsen(np.mean if op == "mean" else np.max, x, {2: 2, 3: 2}).compute()
    np.testing.assert_allclose(got, co, rtol=1e-6)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gib", type=float, default=4.0, help="input size in GiB (float32)")
    ap.add_argument("--chunk", type=int, default=4096, help="chunk side (4096: 64 MiB chunks)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="4GiB", help="per worker")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--op", choices=("mean", "max"), default="mean")
    args = ap.parse_args(argv)

    side = int((args.gib * 2**30 / 4) ** 0.5) // args.chunk * args.chunk
    with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               memory_limit=args.memory_limit, dashboard_address=None)
    client = Client(cluster)
    try:
        client.run(__import__, "fastpool.dask")
        pids = list(client.run(os.getpid).values())
        omp = set(client.run(os.environ.get, "OMP_NUM_THREADS").values())
        check(client, args.op)
        x = source(side, args.chunk)
        print(f"input {x.shape} float32 = {x.nbytes / 2**30:.2f} GiB in {x.npartitions} chunks "
              f"of {args.chunk}x{args.chunk} ({args.chunk**2 * 4 / 2**20:.0f} MiB); "
              f"{args.workers} worker processes x 1 thread, memory_limit {args.memory_limit}, "
              f"OMP_NUM_THREADS={','.join(map(str, omp))}; fastpool {fastpool.__version__}, "
              f"dask {dask.__version__}, {os.cpu_count()} CPUs")
        graphs = methods(x, args.op)
        times = {k: [] for k in graphs}
        peaks = {k: [0] * len(pids) for k in graphs}
        cpu = {k: [] for k in graphs}
        results = {}
        for _ in range(args.repeat):
            for name, graph in graphs.items():
                client.run(lambda: __import__("gc").collect())
                with PeakRSS(pids) as mon:
                    c0 = worker_cpu(mon.procs)
                    t = time.perf_counter()
                    results[name] = float(graph.compute())
                    times[name].append(time.perf_counter() - t)
                    cpu[name].append(worker_cpu(mon.procs) - c0)
                peaks[name] = [max(a, b) for a, b in zip(peaks[name], mon.peak)]
        width = max(map(len, graphs))
        for name in graphs:
            med = statistics.median(times[name])
            rate = x.nbytes / 2**30 / med
            mem = ", ".join(f"{p / 2**20:.0f}" for p in peaks[name])
            print(f"{name:<{width}}  median {med:6.2f} s  ({rate:5.2f} GiB/s of input)  "
                  f"worker CPU {statistics.median(cpu[name]):6.2f} s  "
                  f"runs {', '.join(f'{t:.2f}' for t in times[name])}  "
                  f"peak worker RSS MiB: {mem}  sum {results[name]:.6g}")
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
