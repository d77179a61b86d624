"""Stochastic, median and mixed pooling against the obvious compositions.

One workload: x of shape [8, 64, 56, 56] float32 (NCHW), 3x3
windows, stride 2, no padding, on ONE thread (fastpool num_threads=1,
torch.set_num_threads(1); NumPy is single-threaded here).  Every candidate is
timed round-robin, ``--repeat`` rounds (default 7, at least 5; a sample of a
fast candidate repeats it to span at least 50 ms), and the table gives each
one's median time per call and its time relative to fastpool's operator.  Each
composition's result is checked against fastpool's first (exactly where both
select, to a float32 tolerance where they sum), so the table compares equal
work.

    python -m fastpool_bench.special_window            # prints a Markdown table
    python -m fastpool_bench.special_window --repeat 11

(or ``python bench/special_window.py`` from a clone of the repository).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import fastpool as fp

SHAPE = (8, 64, 56, 56)
K, S = 3, 2


def _windows(x: np.ndarray) -> np.ndarray:
    """(N, C, OH, OW, 9) view of the 3x3/s2 windows."""
    return sliding_window_view(x, (K, K), axis=(2, 3))[:, :, ::S, ::S].reshape(
        x.shape[:2] + ((x.shape[2] - K) // S + 1, (x.shape[3] - K) // S + 1, K * K))


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


def candidates(x: np.ndarray, torch) -> list[tuple[str, str, object, object]]:
    """(operator, candidate, thunk, check) rows; the first of each operator is fastpool."""
    rows = []
    a = 0.5
    xt = torch.from_numpy(x) if torch is not None else None
    F = torch.nn.functional if torch is not None else None

    # median
    rows.append(("median 3x3/s2", "fastpool median_pool2d",
                 lambda: fp.median_pool2d(x, K, S, num_threads=1), "exact"))
    rows.append(("median 3x3/s2", "NumPy sliding_window_view + np.median",
                 lambda: np.median(_windows(x), axis=-1), "exact"))
    if torch is not None:
        def torch_median():
            cols = F.unfold(xt, K, stride=S)  # (N, C*9, L)
            n, c = x.shape[:2]
            out = cols.view(n, c, K * K, -1).median(dim=2).values
            return out.view(n, c, (x.shape[2] - K) // S + 1, -1)
        rows.append(("median 3x3/s2", "torch unfold + median", torch_median, "exact"))

    # mixed, blend
    rows.append(("mixed blend a=0.5", "fastpool mixed_pool2d",
                 lambda: fp.mixed_pool2d(x, K, S, alpha=a, num_threads=1), "close"))

    def fp_blend():
        mx = fp.max_pool2d(x, K, S, num_threads=1)
        av = fp.avg_pool2d(x, K, S, num_threads=1)
        return a * mx + (1 - a) * av
    rows.append(("mixed blend a=0.5", "fastpool max_pool2d + avg_pool2d + blend", fp_blend,
                 "close"))
    rows.append(("mixed blend a=0.5", "fastpool max_pool2d + avg_pool2d (no blend)",
                 lambda: (fp.max_pool2d(x, K, S, num_threads=1),
                          fp.avg_pool2d(x, K, S, num_threads=1)), None))
    if torch is not None:
        rows.append(("mixed blend a=0.5", "torch max_pool2d + avg_pool2d + blend",
                     lambda: a * F.max_pool2d(xt, K, S) + (1 - a) * F.avg_pool2d(xt, K, S),
                     "close"))

    # mixed, concat
    rows.append(("mixed concat [avg, max]", "fastpool mixed_pool2d",
                 lambda: fp.mixed_pool2d(x, K, S, mode="concat", num_threads=1), "exact"))
    rows.append(("mixed concat [avg, max]", "fastpool avg_pool2d, max_pool2d + concatenate",
                 lambda: np.concatenate([fp.avg_pool2d(x, K, S, num_threads=1),
                                         fp.max_pool2d(x, K, S, num_threads=1)], axis=1),
                 "exact"))
    if torch is not None:
        rows.append(("mixed concat [avg, max]", "torch avg_pool2d, max_pool2d + cat",
                     lambda: torch.cat([F.avg_pool2d(xt, K, S), F.max_pool2d(xt, K, S)], 1),
                     "close"))

    # stochastic, training: NumPy's composition draws its own uniforms, so only
    # the picked values' membership is checked, not equality
    rows.append(("stochastic training", "fastpool stochastic_pool2d",
                 lambda: fp.stochastic_pool2d(x, K, S, seed=1, num_threads=1), None))
    rng = np.random.default_rng(1)

    def np_stochastic():
        w = _windows(x).astype(np.float64)
        run = np.cumsum(w, axis=-1)
        u = rng.random(run.shape[:-1])
        t = np.argmax(run >= (u * run[..., -1])[..., None], axis=-1)
        return np.take_along_axis(w, t[..., None], axis=-1)[..., 0].astype(x.dtype)
    rows.append(("stochastic training", "NumPy windows + cumsum + argmax", np_stochastic,
                 None))

    # stochastic, inference
    rows.append(("stochastic inference", "fastpool stochastic_pool2d(training=False)",
                 lambda: fp.stochastic_pool2d(x, K, S, training=False, num_threads=1),
                 "close"))

    def np_weighted():
        w = _windows(x).astype(np.float64)
        s1 = w.sum(-1)
        return np.where(s1 > 0, (w * w).sum(-1) / np.where(s1 > 0, s1, 1), 0).astype(x.dtype)
    rows.append(("stochastic inference", "NumPy windows: sum(a^2) / sum(a)", np_weighted,
                 "close"))
    return rows


def _array(v):
    if isinstance(v, tuple):
        return None
    return v.numpy() if hasattr(v, "numpy") else np.asarray(v)


def run(repeat: int) -> int:
    torch = _torch()
    x = np.random.default_rng(0).random(SHAPE, dtype=np.float32)
    rows = candidates(x, torch)
    reference = {}
    for op, name, thunk, check in rows:  # warm up and check equal results
        got = _array(thunk())
        if op not in reference:
            reference[op] = got
            continue
        ref = reference[op]
        if check == "exact" and not np.array_equal(got, ref):
            print(f"MISMATCH: {name} differs from fastpool for {op}", file=sys.stderr)
            return 1
        if check == "close" and not np.allclose(got, ref, rtol=1e-5, atol=1e-6):
            print(f"MISMATCH: {name} differs from fastpool for {op}", file=sys.stderr)
            return 1
    # Each sample repeats a fast candidate to span >= 50 ms, so that a lost
    # scheduler slice on a busy machine is a small part of it.
    calls = []
    for _, _, thunk, _ in rows:
        t0 = time.perf_counter()
        thunk()
        calls.append(max(1, round(0.05 / max(time.perf_counter() - t0, 1e-6))))
    samples: list[list[float]] = [[] for _ in rows]
    for _ in range(repeat):
        for i, (_, _, thunk, _) in enumerate(rows):
            t0 = time.perf_counter()
            for _ in range(calls[i]):
                thunk()
            samples[i].append((time.perf_counter() - t0) / calls[i])
    medians = [statistics.median(s) for s in samples]
    print(f"x {list(SHAPE)} float32 NCHW, {K}x{K}/s{S}, 1 thread, median of {repeat} "
          f"round-robin samples, load average {os.getloadavg()[0]:.1f} (fastpool {fp.__version__}, NumPy {np.__version__}"
          + (f", torch {torch.__version__}" if torch is not None else ", torch not installed")
          + ")\n")
    print("| operator | candidate | median ms | time / fastpool |")
    print("|---|---|---:|---:|")
    base = {}
    for (op, name, _, _), m in zip(rows, medians):
        base.setdefault(op, m)
        print(f"| {op} | {name} | {m * 1e3:.2f} | {m / base[op]:.2f}x |")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="round-robin rounds (>= 5)")
    args = ap.parse_args(argv)
    if args.repeat < 5:
        ap.error("--repeat must be at least 5")
    return run(args.repeat)


if __name__ == "__main__":
    sys.exit(main())
