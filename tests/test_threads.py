"""Results never depend on threads (issues #7, #12): every operator gives bit-identical
results for 1, 2, 3 and 4 threads (3 cuts the work into uneven chunks); eight Python
threads calling at once all get correct results; a call made while another process
keeps a core busy is right; processes started with ``spawn`` after OpenMP has run
work, and a child forked after fastpool's pool has run, work.

The inputs are large enough that the C core really runs several threads (it runs
calls below about 32k elementary operations on one).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

fastpool = pytest.importorskip("fastpool")

SPATIAL = {1: (3000,), 2: (40, 44), 3: (12, 14, 16)}


def _x(rank, seed=0, dtype=np.float64, positive=False, channels=8):
    rng = np.random.default_rng(seed + rank)
    # quarter-integers: many ties, so the first-maximum rule is exercised too
    x = rng.integers(-40, 41, size=(3, channels) + SPATIAL[rank]) / 4
    if positive:
        x = np.abs(x)
    x = x.astype(dtype)
    x.flat[::97] = np.nan if not positive else x.flat[::97]
    return x


def _cases():
    """(name, function of num_threads) for every public operator and its backward."""
    cases = []
    for r in (1, 2, 3):
        x = _x(r)
        xp = _x(r, positive=True)
        y, i = fastpool.__dict__[f"max_pool{r}d"](x, 3, 2, 1, return_indices=True)
        a = fastpool.__dict__[f"avg_pool{r}d"](x, 3, 2, 1)
        lp = fastpool.__dict__[f"lp_pool{r}d"](xp, 2.5, 3, 2)
        am, ai = fastpool.__dict__[f"adaptive_max_pool{r}d"](x, 5, return_indices=True)
        aa = fastpool.__dict__[f"adaptive_avg_pool{r}d"](x, 5)
        up_in, up_idx = fastpool.__dict__[f"max_pool{r}d"](x, 2, return_indices=True)
        up = fastpool.__dict__[f"max_unpool{r}d"](up_in, up_idx, 2)
        f = fastpool.__dict__
        cases += [
            (f"max_pool{r}d", lambda t, f=f, x=x, r=r: f[f"max_pool{r}d"](
                x, 3, 2, 1, return_indices=True, num_threads=t)),
            (f"max_pool{r}d[omit]", lambda t, f=f, x=x, r=r: f[f"max_pool{r}d"](
                x, 3, 1, dilation=2, nan_policy="omit", return_indices=True, num_threads=t)),
            (f"avg_pool{r}d", lambda t, f=f, x=x, r=r: f[f"avg_pool{r}d"](
                x, 3, 2, 1, ceil_mode=True, count_include_pad=False, num_threads=t)),
            (f"lp_pool{r}d", lambda t, f=f, x=xp, r=r: f[f"lp_pool{r}d"](
                x, 2.5, 3, 2, num_threads=t)),
            (f"adaptive_max_pool{r}d", lambda t, f=f, x=x, r=r: f[f"adaptive_max_pool{r}d"](
                x, 5, return_indices=True, num_threads=t)),
            (f"adaptive_avg_pool{r}d", lambda t, f=f, x=x, r=r: f[f"adaptive_avg_pool{r}d"](
                x, 5, num_threads=t)),
            (f"max_unpool{r}d", lambda t, f=f, v=up_in, i=up_idx, r=r: f[f"max_unpool{r}d"](
                v, i, 2, num_threads=t)),
            (f"max_pool{r}d_backward", lambda t, f=f, g=y, i=i, s=x.shape, r=r:
                f[f"max_pool{r}d_backward"](g, i, s, num_threads=t)),
            (f"avg_pool{r}d_backward", lambda t, f=f, g=a, s=x.shape, r=r:
                f[f"avg_pool{r}d_backward"](g, s, 3, 2, 1, num_threads=t)),
            (f"lp_pool{r}d_backward", lambda t, f=f, g=lp, x=xp, y=lp, r=r:
                f[f"lp_pool{r}d_backward"](g, x, y, 2.5, 3, 2, num_threads=t)),
            (f"adaptive_max_pool{r}d_backward", lambda t, f=f, g=am, i=ai, s=x.shape, r=r:
                f[f"adaptive_max_pool{r}d_backward"](g, i, s, num_threads=t)),
            (f"adaptive_avg_pool{r}d_backward", lambda t, f=f, g=aa, s=x.shape, r=r:
                f[f"adaptive_avg_pool{r}d_backward"](g, s, num_threads=t)),
            (f"max_unpool{r}d_backward", lambda t, f=f, g=up, i=up_idx, r=r:
                f[f"max_unpool{r}d_backward"](g, i, 2, num_threads=t)),
            (f"global_max_pool[{r}d]", lambda t, x=x: fastpool.global_max_pool(
                x, return_indices=True, num_threads=t)),
            (f"global_avg_pool[{r}d]", lambda t, x=x: fastpool.global_avg_pool(
                x, num_threads=t)),
            (f"global_lp_pool[{r}d]", lambda t, x=xp: fastpool.global_lp_pool(
                x, 3, num_threads=t)),
            (f"global_max_pool_backward[{r}d]", lambda t, x=x: fastpool.global_max_pool_backward(
                *fastpool.global_max_pool(x, return_indices=True), x.shape, num_threads=t)),
            (f"global_avg_pool_backward[{r}d]", lambda t, x=x: fastpool.global_avg_pool_backward(
                fastpool.global_avg_pool(x), x.shape, num_threads=t)),
            (f"global_lp_pool_backward[{r}d]", lambda t, x=xp: fastpool.global_lp_pool_backward(
                fastpool.global_lp_pool(x, 3), x, fastpool.global_lp_pool(x, 3), 3,
                num_threads=t)),
            (f"max_pool{r}d[channels_last]", lambda t, f=f, x=x, r=r: f[f"max_pool{r}d"](
                np.moveaxis(x, 1, -1), 3, 2, 1, channels_last=True, return_indices=True,
                num_threads=t)),
            (f"avg_pool{r}d_backward[channels_last]", lambda t, f=f, g=a, s=x.shape, r=r:
                f[f"avg_pool{r}d_backward"](np.moveaxis(g, 1, -1), s[:1] + s[2:] + s[1:2],
                                            3, 2, 1, channels_last=True, num_threads=t)),
        ]
        if r >= 2:
            fm, fi = f[f"fractional_max_pool{r}d"](x, 2, output_ratio=0.5, seed=3,
                                                   return_indices=True)
            cases += [
                (f"fractional_max_pool{r}d", lambda t, f=f, x=x, r=r:
                    f[f"fractional_max_pool{r}d"](x, 2, output_ratio=0.5, seed=3,
                                                  return_indices=True, num_threads=t)),
                (f"fractional_max_pool{r}d_backward", lambda t, f=f, g=fm, i=fi, s=x.shape, r=r:
                    f[f"fractional_max_pool{r}d_backward"](g, i, s, num_threads=t)),
            ]
    cases += _special_cases()
    return cases



def _special_cases():
    """The special poolings (issue #5): 2-D, so one input each."""
    fp = fastpool
    x = _x(2)
    xp = _x(2, positive=True)
    rng = np.random.default_rng(5)
    w, b, cen = (rng.standard_normal(s) for s in ((6, 8), (6,), (6, 8)))
    st, st_i = fp.stochastic_pool2d(xp, 3, 2, 1, seed=11, return_indices=True)
    med, med_i = fp.median_pool2d(x, 4, 2, 1, return_indices=True)
    mix = fp.mixed_pool2d(x, 3, 2, 1, alpha=np.linspace(0, 1, 8))
    spp = fp.spatial_pyramid_pool(x, (1, 3, 5), variant="sppnet")
    yolo = fp.yolo_spp(x)
    bil = fp.bilinear_pool(xp)
    vlad = fp.netvlad(xp, w, b, cen)
    return [
        ("stochastic_pool2d", lambda t: fp.stochastic_pool2d(
            xp, 3, 2, 1, seed=11, return_indices=True, num_threads=t)),
        ("stochastic_pool2d[inference]", lambda t: fp.stochastic_pool2d(
            xp, 3, 2, 1, training=False, num_threads=t)),
        ("stochastic_pool2d_backward", lambda t: fp.stochastic_pool2d_backward(
            st, st_i, xp.shape, num_threads=t)),
        ("stochastic_pool2d_backward[inference]", lambda t: fp.stochastic_pool2d_backward(
            st, xp, 3, 2, 1, training=False, num_threads=t)),
        ("median_pool2d", lambda t: fp.median_pool2d(
            x, 4, 2, 1, return_indices=True, num_threads=t)),
        ("median_pool2d[mean]", lambda t: fp.median_pool2d(
            x, 4, 2, 1, even="mean", num_threads=t)),
        ("median_pool2d_backward", lambda t: fp.median_pool2d_backward(
            med, med_i, x.shape, num_threads=t)),
        ("median_pool2d_backward[mean]", lambda t: fp.median_pool2d_backward(
            med, x, 4, 2, 1, even="mean", num_threads=t)),
        ("mixed_pool2d", lambda t: fp.mixed_pool2d(
            x, 3, 2, 1, alpha=np.linspace(0, 1, 8), num_threads=t)),
        ("mixed_pool2d[concat]", lambda t: fp.mixed_pool2d(
            x, 3, 2, 1, mode="concat", num_threads=t)),
        ("mixed_pool2d_backward", lambda t: fp.mixed_pool2d_backward(
            mix, x, 3, 2, 1, alpha=np.linspace(0, 1, 8), num_threads=t)),
        ("spatial_pyramid_pool", lambda t: fp.spatial_pyramid_pool(
            x, (1, 3, 5), variant="sppnet", num_threads=t)),
        ("spatial_pyramid_pool[avg]", lambda t: fp.spatial_pyramid_pool(
            x, (1, 3, 5), mode="avg", num_threads=t)),
        ("spatial_pyramid_pool_backward", lambda t: fp.spatial_pyramid_pool_backward(
            spp, x, (1, 3, 5), variant="sppnet", num_threads=t)),
        ("yolo_spp", lambda t: fp.yolo_spp(x, num_threads=t)),
        ("yolo_spp_backward", lambda t: fp.yolo_spp_backward(yolo, x, num_threads=t)),
        ("bilinear_pool", lambda t: fp.bilinear_pool(xp, num_threads=t)),
        ("bilinear_pool[xy]", lambda t: fp.bilinear_pool(xp, x[:, :5], num_threads=t)),
        ("bilinear_pool_backward", lambda t: fp.bilinear_pool_backward(
            bil, xp, num_threads=t)),
        ("netvlad", lambda t: fp.netvlad(xp, w, b, cen, num_threads=t)),
        ("netvlad_backward", lambda t: fp.netvlad_backward(
            vlad, xp, w, b, cen, num_threads=t)),
    ]

CASES = _cases()


def _as_tuple(v):
    return v if isinstance(v, tuple) else (v,)


def _identical(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# Public functions that are not operators: nothing to run on threads.
HELPERS = {"pool_output_shape", "adaptive_windows", "convert_indices", "show_config",
           "get_include", "get_library_dir", "get_cmake_dir", "get_pkgconfig_dir"}


def test_every_public_operator_has_a_case():
    names = {n.split("[")[0] for n, _ in CASES}
    ops = {n for n in fastpool.__all__ if callable(getattr(fastpool, n))} - HELPERS
    assert not ops - names, f"add thread cases for {sorted(ops - names)}"


@pytest.mark.parametrize("name, fn", CASES, ids=[n for n, _ in CASES])
def test_bit_identical_for_1_2_3_and_4_threads(name, fn):
    base = _as_tuple(fn(1))
    for t in (2, 3, 4):
        got = _as_tuple(fn(t))
        assert all(_identical(a, b) for a, b in zip(base, got)), f"{name}: {t} threads differ"


def test_eight_python_threads_at_once():
    """Eight Python threads, each running a different operator (the GIL is released
    in the kernels, so they really overlap), all get the serial results."""
    picks = CASES[:: max(1, len(CASES) // 16)][:16]
    want = [_as_tuple(fn(1)) for _, fn in picks]

    def work(k):
        name, fn = picks[k % len(picks)]
        return k % len(picks), _as_tuple(fn(2 if k % 3 else None))

    with ThreadPoolExecutor(8) as pool:
        for k, got in pool.map(work, range(8 * 6)):
            assert all(_identical(a, b) for a, b in zip(want[k], got)), picks[k][0]


def test_public_functions_pickle_by_reference():
    """Process pools and dask ship functions by reference: every public function
    pickles to itself."""
    import pickle

    for name in fastpool.__all__:
        fn = getattr(fastpool, name)
        if callable(fn):
            assert pickle.loads(pickle.dumps(fn)) is fn, name


def _child(x):
    import fastpool as fp
    return fp.max_pool2d(x, 3, 2, 1, num_threads=2), fp.avg_pool2d(x, 2, num_threads=2)


def test_spawned_processes_after_openmp_work():
    """After fastpool has run an OpenMP team here, processes started with ``spawn`` (a
    fresh interpreter: no inherited OpenMP state) run it with two threads correctly.
    (``fork`` without exec would inherit a dead thread pool: GNU libgomp then hangs in
    a child's first parallel region; README, "Threads and processes".)"""
    x = _x(2, dtype=np.float32)
    want = _child(x)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.map(_child, [x, x])
    for got in results:
        assert all(_identical(a, b) for a, b in zip(want, got))


def _spin(ready, seconds):
    import time
    ready.set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_right_while_another_process_keeps_a_core_busy():
    """The driver hands chunks out dynamically, so a thread the OS deschedules (its
    core taken by another process) has its share taken over: the results must be the
    serial ones all the same, for every thread count.  (The time is the benchmark's:
    `fastpool bench`, thread scenarios.)"""
    picks = CASES[:: max(1, len(CASES) // 12)]
    want = [_as_tuple(fn(1)) for _, fn in picks]
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    spinner = ctx.Process(target=_spin, args=(ready, 120.0), daemon=True)
    spinner.start()
    try:
        assert ready.wait(60), "the spinning process did not start"
        for _ in range(3):
            for (name, fn), w in zip(picks, want):
                for t in (2, 3):
                    got = _as_tuple(fn(t))
                    assert all(_identical(a, b) for a, b in zip(w, got)), f"{name}, {t} threads"
    finally:
        spinner.terminate()
        spinner.join()


_FORK_CHILD = """
import os, sys
import numpy as np
import fastpool
x = np.random.default_rng(0).standard_normal((8, 16, 64, 64)).astype(np.float32)
want = fastpool.max_pool2d(x, 3, 2, 1, num_threads=1)
assert np.array_equal(fastpool.max_pool2d(x, 3, 2, 1, num_threads=2), want)
pid = os.fork()
if pid == 0:
    ok = all(np.array_equal(fastpool.max_pool2d(x, 3, 2, 1, num_threads=t), want)
             for t in (2, 3, 2))
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
assert np.array_equal(fastpool.max_pool2d(x, 3, 2, 1, num_threads=2), want)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork here")
def test_forked_child_after_parallel_work(tmp_path):
    """fastpool's own pool is fork-safe (pthread_atfork: the child makes new helper
    threads): a child forked after a parallel call runs parallel calls correctly.  Run
    in a fresh interpreter that imports nothing but NumPy and fastpool, so no other
    library's thread pool is inherited."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _FORK_CHILD], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
