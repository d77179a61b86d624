"""fastpool.dask: lazy pooling of dask arrays equals in-memory fastpool for any chunking.

Most cases run on dask's synchronous scheduler (the graph is the same on every
scheduler, and this keeps the matrix fast); the ``cluster`` tests run the same
graphs on a ``dask.distributed.LocalCluster`` with two spawned worker
processes.  Every comparison is exact: bit for bit, NaN and signed zeros
included.
"""

import importlib.util
import itertools
import math
import os

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

import fastpool
import fastpool.dask as fd
from fastpool.dask import _window_plan

SYNC = {"scheduler": "synchronous"}


def _bits(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return a.view(np.dtype(f"u{a.dtype.itemsize}")) if a.dtype.kind == "f" else a


def assert_identical(ref, got):
    """got (numpy) equals ref exactly: shape, dtype and every bit."""
    assert got.shape == ref.shape
    assert got.dtype == ref.dtype
    assert np.array_equal(_bits(ref), _bits(got)), np.nanmax(np.abs(ref - got))


def compute(y, **kw):
    return y.compute(**(kw or SYNC))


def data(shape, dtype=np.float32, seed=0):
    """Random values with ties, signed zeros, infinities and one NaN mixed in."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    n = flat.size
    picks = rng.choice(n, size=min(n, 9), replace=False)
    specials = np.array([0.0, -0.0, 1.5, 1.5, -np.inf, np.inf, 0.0, -0.0, np.nan], dtype)
    flat[picks] = specials[: picks.size]
    return x


def finite(shape, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(dtype)


def nhwc(x):
    return np.ascontiguousarray(np.moveaxis(x, 1, -1))


# --------------------------------------------------------------------------
# The 2-d matrix: chunkings x pooling arguments x layouts

SHAPE_2D = (2, 3, 19, 26)
CHUNKINGS_2D = {
    "single": -1,
    "aligned": (1, 3, 8, 8),  # boundaries on multiples of the stride
    "unaligned": (2, 2, 5, 7),
    "tiny": (2, 3, 2, 3),  # chunks smaller than the windows
    "irregular": ((2,), (1, 2), (4, 9, 6), (1, 10, 15)),
}

POOLS_2D = {
    "max-k3s2p1": ("max", dict(kernel_size=3, stride=2, padding=1)),
    "max-ceil": ("max", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    "max-asym-dil-ceil": ("max", dict(kernel_size=(3, 2), stride=(2, 3),
                                      padding=((0, 2), (1, 1)), dilation=(2, 1),
                                      ceil_mode=True)),
    "max-same": ("max", dict(kernel_size=3, stride=2, padding="same")),
    "max-same-lower": ("max", dict(kernel_size=4, stride=3, padding="same_lower")),
    "max-valid": ("max", dict(kernel_size=2, padding="valid")),
    "max-all-pad": ("max", dict(kernel_size=2, stride=3, padding=((4, 6), (0, 7)))),
    "max-all-pad-ceil": ("max", dict(kernel_size=2, stride=3, padding=((4, 6), (0, 7)),
                                     ceil_mode=True)),
    "max-s1-large": ("max", dict(kernel_size=5, stride=1, padding=2)),
    "max-omit": ("max", dict(kernel_size=3, stride=2, nan_policy="omit")),
    "avg-ceil-cip": ("avg", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    "avg-ceil-nocip": ("avg", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                   count_include_pad=False)),
    "avg-clip-end": ("avg", dict(kernel_size=3, stride=2, padding=((0, 1), (1, 0)),
                                 ceil_mode=True)),
    "avg-same-nocip": ("avg", dict(kernel_size=3, stride=2, padding="same",
                                   count_include_pad=False)),
    "avg-divisor": ("avg", dict(kernel_size=3, stride=1, padding=1, divisor_override=5)),
    "avg-dilation": ("avg", dict(kernel_size=3, stride=2, padding=2, dilation=2,
                                 ceil_mode=True)),
    "avg-2x2": ("avg", dict(kernel_size=2)),
    "avg-all-pad": ("avg", dict(kernel_size=2, stride=3, padding=((4, 6), (0, 7)),
                                ceil_mode=True)),
    "lp2-ceil": ("lp", dict(norm_type=2, kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    "lp1": ("lp", dict(norm_type=1, kernel_size=2)),
    "lp3-same": ("lp", dict(norm_type=3, kernel_size=3, stride=2, padding="same")),
    "lpinf-dil": ("lp", dict(norm_type=math.inf, kernel_size=2, stride=2, dilation=3,
                             padding=((1, 2), (0, 0)))),
}


def call(module, op, rank, x, kw, channels_last=False):
    kw = dict(kw)
    fn = getattr(module, f"{op}_pool{rank}d")
    if op == "lp":
        return fn(x, kw.pop("norm_type"), kw.pop("kernel_size"), channels_last=channels_last,
                  **kw)
    return fn(x, channels_last=channels_last, **kw)


def _chunks(chunking, channels_last):
    if chunking == -1 or not channels_last:
        return chunking
    return (chunking[0],) + tuple(chunking[2:]) + (chunking[1],)


MATRIX_2D = [
    (chunking, pool, layout)
    for chunking in CHUNKINGS_2D
    for pool in POOLS_2D
    for layout in (("nchw", "nhwc") if chunking in ("unaligned", "tiny") else ("nchw",))
]


@pytest.mark.parametrize(("chunking", "pool", "layout"), MATRIX_2D)
def test_2d_matches_in_memory(chunking, pool, layout):
    op, kw = POOLS_2D[pool]
    x = data(SHAPE_2D)
    cl = layout == "nhwc"
    if cl:
        x = nhwc(x)
    xd = da.from_array(x, chunks=_chunks(CHUNKINGS_2D[chunking], cl))
    ref = call(fastpool, op, 2, x, kw, cl)
    got = call(fd, op, 2, xd, kw, cl)
    assert isinstance(got, da.Array)
    assert got.shape == ref.shape
    assert_identical(ref, compute(got))


@pytest.mark.parametrize("chunks", [(3, 4), (1, 50), (2, 7), ((1, 2), (13, 1, 1, 20, 15))])
@pytest.mark.parametrize("kw", [
    dict(kernel_size=5, stride=3, padding=2, ceil_mode=True),
    dict(kernel_size=4, stride=2, padding="same", dilation=2),
    dict(kernel_size=3, stride=4, padding=((0, 3),), ceil_mode=True),
])
@pytest.mark.parametrize("op", ["max", "avg", "lp"])
def test_1d_unbatched(op, kw, chunks):
    x = data((3, 50), np.float64)
    xd = da.from_array(x, chunks=chunks)
    kw = dict(kw, norm_type=2) if op == "lp" else kw
    assert_identical(call(fastpool, op, 1, x, kw), compute(call(fd, op, 1, xd, kw)))


@pytest.mark.parametrize("layout", ["ncdhw", "ndhwc"])
@pytest.mark.parametrize("op", ["max", "avg", "lp"])
@pytest.mark.parametrize("chunks", [(1, 2, 4, 3, 5), (2, 3, 9, 10, 11), (2, 3, 2, 3, 4)])
def test_3d_matches_in_memory(chunks, op, layout):
    x = data((2, 3, 9, 10, 11), np.float64, seed=3)
    cl = layout == "ndhwc"
    if cl:
        x = nhwc(x)
        chunks = (chunks[0],) + chunks[2:] + (chunks[1],)
    xd = da.from_array(x, chunks=chunks)
    for kw in (dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
               dict(kernel_size=(2, 3, 1), stride=(2, 2, 1), padding="same",
                    count_include_pad=False),
               dict(kernel_size=2)):
        kw = dict(kw)
        if op != "avg":
            kw.pop("count_include_pad", None)
        if op == "lp":
            kw["norm_type"] = 2
        assert_identical(call(fastpool, op, 3, x, kw, cl), compute(call(fd, op, 3, xd, kw, cl)))


@pytest.mark.parametrize("chunks", [(1, 2, 5, 7), (2, 3, 19, 26), (1, 1, 2, 3)])
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_max_indices_are_global(chunks, layout):
    x = data(SHAPE_2D, seed=5)
    cl = layout == "nhwc"
    if cl:
        x = nhwc(x)
        chunks = (chunks[0],) + chunks[2:] + (chunks[1],)
    xd = da.from_array(x, chunks=chunks)
    for kw in (dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
               dict(kernel_size=2, stride=3, padding=((4, 6), (0, 7)), index_dtype=np.int32)):
        yr, ir = fastpool.max_pool2d(x, return_indices=True, channels_last=cl, **kw)
        y, i = fd.max_pool2d(xd, return_indices=True, channels_last=cl, **kw)
        y, i = dask.compute(y, i, **SYNC)
        assert_identical(yr, y)
        assert_identical(ir, i)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float16])
def test_other_dtypes(dtype):
    rng = np.random.default_rng(30)
    x = (rng.integers(0, 250, (2, 3, 19, 26)) if dtype != np.float16
         else rng.standard_normal((2, 3, 19, 26))).astype(dtype)
    xd = da.from_array(x, chunks=(1, 2, 5, 7))
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    assert_identical(fastpool.max_pool2d(x, **kw), compute(fd.max_pool2d(xd, **kw)))
    assert_identical(fastpool.avg_pool2d(x, **kw), compute(fd.avg_pool2d(xd, **kw)))
    assert_identical(fastpool.avg_pool2d(x, **kw, dtype=dtype),
                     compute(fd.avg_pool2d(xd, **kw, dtype=dtype)))
    assert_identical(fastpool.adaptive_max_pool2d(x, (5, 6)),
                     compute(fd.adaptive_max_pool2d(xd, (5, 6))))
    assert_identical(fastpool.adaptive_avg_pool2d(x, (5, 6)),
                     compute(fd.adaptive_avg_pool2d(xd, (5, 6))))
    levels = fd.pyramid(xd[0], 2, "mean", dtype=dtype)
    ref = fastpool.avg_pool2d(fastpool.avg_pool2d(x[0], 2, 2, 0, True, False, dtype=dtype),
                              2, 2, 0, True, False, dtype=dtype)
    assert_identical(ref, compute(levels[2]))


# --------------------------------------------------------------------------
# Any chunking, any arguments (Hypothesis)


@st.composite
def pooling_case(draw):
    rank = draw(st.integers(1, 3))
    op = draw(st.sampled_from(["max", "avg", "lp"]))
    spatial = draw(st.lists(st.integers(1, 13), min_size=rank, max_size=rank))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    k = draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank))
    s = draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank))
    d = draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank))
    pad_kind = draw(st.sampled_from(["pairs", "same", "same_lower", "int"]))
    if pad_kind == "pairs":
        padding = tuple(
            (draw(st.integers(0, 5)), draw(st.integers(0, 5))) for _ in range(rank))
    elif pad_kind == "int":
        padding = draw(st.integers(0, 3))
    else:
        padding = pad_kind
    ceil_mode = draw(st.booleans())
    channels_last = draw(st.booleans())
    batched = draw(st.booleans())
    kw = dict(kernel_size=tuple(k), stride=tuple(s), padding=padding, dilation=tuple(d),
              ceil_mode=ceil_mode)
    if op == "avg":
        kw["count_include_pad"] = draw(st.booleans())
    if op == "lp":
        kw["norm_type"] = draw(st.sampled_from([1, 2, 3.5, math.inf]))
    logical = (n, c, *spatial)
    try:
        fastpool.pool_output_shape(logical, kw["kernel_size"], kw["stride"], padding,
                                   kw["dilation"], ceil_mode)
    except ValueError:
        assume(False)
    shape = (n, *spatial, c) if channels_last else logical
    if not batched:
        shape = shape[1:]
    chunks = tuple(draw(st.integers(1, max(1, size))) for size in shape)
    seed = draw(st.integers(0, 2**16))
    return op, rank, shape, chunks, kw, channels_last, seed


@settings(max_examples=60)
@given(pooling_case())
def test_any_chunking_matches_in_memory(case):
    op, rank, shape, chunks, kw, cl, seed = case
    x = data(shape, np.float64, seed)
    ref = call(fastpool, op, rank, x, kw, cl)
    got = compute(call(fd, op, rank, da.from_array(x, chunks=chunks), kw, cl))
    assert_identical(ref, got)


# --------------------------------------------------------------------------
# The chunk plan: every output once, exactly the input its windows read


@given(st.integers(1, 40), st.integers(1, 5), st.integers(1, 4), st.integers(1, 3),
       st.integers(0, 6), st.integers(0, 6), st.booleans(),
       st.lists(st.integers(1, 9), min_size=1, max_size=8))
def test_window_plan_covers_outputs_with_exact_halo(size, k, s, d, pb, pe, ceil_mode, sizes):
    chunks, left = [], size
    for c in sizes:
        if left <= 0:
            break
        chunks.append(min(c, left))
        left -= chunks[-1]
    if left > 0:
        chunks.append(left)
    try:
        out = fastpool.pool_output_shape((1, 1, size), k, s, ((pb, pe),), d, ceil_mode)[2]
    except ValueError:
        return
    ek = d * (k - 1) + 1
    flags = fastpool._core.FLAG_CEIL_MODE if ceil_mode else 0
    plan = _window_plan(chunks, size, k, s, d, pb, pe, flags, out)
    assert plan[0].o0 == 0 and plan[-1].o1 == out
    for p, q in itertools.pairwise(plan):
        assert p.o1 == q.o0 and p.o0 < p.o1
    for i, p in enumerate(plan):
        lo, hi = p.o0 * s - pb, (p.o1 - 1) * s - pb + ek
        # the local call makes exactly the block's outputs
        local = (p.b - p.a) if p.a is not None else 0
        got = fastpool.pool_output_shape((1, 1, local), k, s, ((p.pb, p.pe),), d, ceil_mode)[2]
        assert got == p.o1 - p.o0
        if p.a is None:  # no input cell in any window of the block
            assert hi <= 0 or lo >= size
            continue
        assert p.a == max(lo, 0) and p.a - p.pb == lo  # windows line up with the global ones
        if i < len(plan) - 1:
            assert p.b == min(hi, size)  # the halo is exactly what the windows read
        else:
            assert p.b == size


def test_aligned_pooling_reads_chunks_as_they_are():
    x = da.ones((1, 2, 64, 64), chunks=(1, 2, 16, 16), dtype=np.float32)
    y = fd.avg_pool2d(x, 2)
    assert y.chunks == ((1,), (2,), (8,) * 4, (8,) * 4)
    deps = y.__dask_graph__().dependencies[y.name]
    assert deps == {x.name}  # no slicing or concatenation: one task per block


# --------------------------------------------------------------------------
# Adaptive and global


@pytest.mark.parametrize("chunks", [(1, 2, 5, 7), (2, 3, 24, 35), (1, 1, 10, 11)])
@pytest.mark.parametrize("output_size", [(6, 7), (5, 5), (7, None), (24, 35), (1, 1), (12, 34)])
def test_adaptive_matches_in_memory(chunks, output_size):
    x = data((2, 3, 24, 35), seed=7)
    xd = da.from_array(x, chunks=chunks)
    assert_identical(fastpool.adaptive_avg_pool2d(finite(x.shape), output_size),
                     compute(fd.adaptive_avg_pool2d(da.from_array(finite(x.shape), chunks=chunks),
                                                    output_size)))
    yr, ir = fastpool.adaptive_max_pool2d(x, output_size, True)
    y, i = fd.adaptive_max_pool2d(xd, output_size, True)
    y, i = dask.compute(y, i, **SYNC)
    assert_identical(yr, y)
    assert_identical(ir, i)


def test_adaptive_channels_last_1d_3d():
    x = finite((2, 12, 9, 10, 3), np.float64, seed=8)
    xd = da.from_array(x, chunks=(1, 5, 4, 3, 2))
    for fn in ("adaptive_avg_pool3d", "adaptive_max_pool3d"):
        assert_identical(getattr(fastpool, fn)(x, (4, 3, 5), channels_last=True),
                         compute(getattr(fd, fn)(xd, (4, 3, 5), channels_last=True)))
    x1 = finite((3, 40), seed=9)
    assert_identical(fastpool.adaptive_avg_pool1d(x1, 15),
                     compute(fd.adaptive_avg_pool1d(da.from_array(x1, chunks=(2, 7)), 15)))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_adaptive_avg_takes_the_in_memory_kernel(layout, channels):
    # uniform windows, one output per block along each axis, and a whole-plane
    # output: in memory these take three different kernels, so must the blocks
    x = finite((2, channels, 24, 30), np.float64, seed=15)
    chunks = (1, 1, 6, 10)
    cl = layout == "nhwc"
    if cl:
        x, chunks = nhwc(x), (1, 6, 10, 1)
    xd = da.from_array(x, chunks=chunks)
    for size in ((4, 3), (1, 1), (8, 6), (5, 7)):
        assert_identical(fastpool.adaptive_avg_pool2d(x, size, channels_last=cl),
                         compute(fd.adaptive_avg_pool2d(xd, size, channels_last=cl)))
    whole = xd.rechunk({1: -1, 2: -1} if cl else {2: -1, 3: -1})
    assert_identical(fastpool.global_avg_pool(x, channels_last=cl),
                     compute(fd.global_avg_pool(whole, channels_last=cl)))


def test_adaptive_chunks_follow_window_periods():
    x = da.zeros((1, 1, 100, 100), chunks=(1, 1, 30, 30))
    y = fd.adaptive_avg_pool2d(x, (50, 7))  # period 2 inputs -> 1 output; 100 and 7 coprime
    assert y.chunks[2] == (15, 15, 15, 5)
    assert y.chunks[3] == (7,)


@pytest.mark.parametrize("chunks", [(1, 2, 5, 7), (2, 3, 24, 35), (2, 1, 24, 35)])
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_global_pooling(chunks, layout):
    x = data((2, 3, 24, 35), np.float64, seed=10)
    f = finite(x.shape, np.float64, seed=11)
    cl = layout == "nhwc"
    if cl:
        x, f = nhwc(x), nhwc(f)
        chunks = (chunks[0],) + chunks[2:] + (chunks[1],)
    xd, fdd = da.from_array(x, chunks=chunks), da.from_array(f, chunks=chunks)
    # max: identical values
    np.testing.assert_array_equal(compute(fd.global_max_pool(xd, channels_last=cl)),
                                  fastpool.global_max_pool(x, channels_last=cl))
    np.testing.assert_array_equal(
        compute(fd.global_max_pool(xd, channels_last=cl, nan_policy="omit")),
        fastpool.global_max_pool(x, channels_last=cl, nan_policy="omit"))
    avg = compute(fd.global_avg_pool(fdd, channels_last=cl))
    lp = compute(fd.global_lp_pool(fdd, 3, channels_last=cl))
    ref_avg = fastpool.global_avg_pool(f, channels_last=cl)
    ref_lp = fastpool.global_lp_pool(f, 3, channels_last=cl)
    spatial_single = chunks == -1 or (chunks[2:] == (24, 35) if not cl else chunks[1:3] == (24, 35))
    if spatial_single:  # one fastpool call per plane: identical
        assert_identical(ref_avg, avg)
        assert_identical(ref_lp, lp)
    else:  # partial sums in float64: equal to rounding
        assert avg.shape == ref_avg.shape and avg.dtype == ref_avg.dtype
        np.testing.assert_allclose(avg, ref_avg, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(lp, ref_lp, rtol=1e-12)


# --------------------------------------------------------------------------
# Pyramid and Zarr


@pytest.mark.parametrize("method", ["mean", "max"])
@pytest.mark.parametrize("chunks", [(3, 32, 20), (1, 17, 13)])
def test_pyramid_levels_equal_repeated_pooling(method, chunks):
    x = finite((3, 101, 77), seed=12)
    levels = fd.pyramid(da.from_array(x, chunks=chunks), 4, method)
    assert len(levels) == 5
    assert [lv.shape for lv in levels] == [(3, 101, 77), (3, 51, 39), (3, 26, 20), (3, 13, 10),
                                           (3, 7, 5)]
    ref = x
    for lv in levels[1:]:
        if method == "mean":
            ref = fastpool.avg_pool2d(ref, 2, 2, 0, True, False)
        else:
            ref = fastpool.max_pool2d(ref, 2, 2, 0, ceil_mode=True)
        assert all(c <= a for c, a in zip(lv.chunksize[1:], chunks[1:]))
        assert_identical(ref, compute(lv))


def test_pyramid_channels_last_3d_factor():
    x = finite((16, 20, 12, 2), seed=13)  # unbatched (D, H, W, C)
    levels = fd.pyramid(da.from_array(x, chunks=(5, 7, 12, 2)), 2, "max", factor=(1, 2, 2),
                        rank=3, channels_last=True)
    ref = fastpool.max_pool3d(x, (1, 2, 2), ceil_mode=True, channels_last=True)
    assert_identical(ref, compute(levels[1]))
    ref = fastpool.max_pool3d(ref, (1, 2, 2), ceil_mode=True, channels_last=True)
    assert_identical(ref, compute(levels[2]))


def test_pyramid_to_zarr_roundtrip(tmp_path):
    pytest.importorskip("zarr")
    x = finite((2, 45, 38), seed=14)
    levels = fd.pyramid(da.from_array(x, chunks=(2, 16, 10)), 3, "mean")
    root = fd.to_zarr(levels, str(tmp_path / "pyr.zarr"))
    assert sorted(root.attrs["fastpool_pyramid"]["datasets"][i]["path"] for i in range(4)) == \
        ["0", "1", "2", "3"]
    for i, lv in enumerate(levels):
        back = da.from_zarr(str(tmp_path / "pyr.zarr"), component=str(i))
        assert_identical(compute(lv), compute(back))
    with pytest.raises((FileExistsError, ValueError)):  # no silent overwrite (zarr 3, zarr 2)
        fd.to_zarr(levels, str(tmp_path / "pyr.zarr"))
    fd.to_zarr(levels[:2], str(tmp_path / "pyr.zarr"), overwrite=True)


# --------------------------------------------------------------------------
# Laziness and errors


def test_lazy_on_an_array_larger_than_memory():
    x = da.random.random((1, 1, 2**20, 2**20), chunks=(1, 1, 2**14, 2**14)).astype(np.float32)
    y = fd.max_pool2d(x, 3, 2, 1)  # 4 TiB input: must not be touched
    assert y.shape == (1, 1, 2**19, 2**19)
    assert y.dtype == np.float32


def test_errors():
    x = da.zeros((1, 1, 8, 8), chunks=4, dtype=np.float32)
    with pytest.raises(TypeError, match="dask"):
        fd.max_pool2d(np.zeros((1, 1, 8, 8), np.float32), 2)
    with pytest.raises(ValueError, match="kernel_size"):
        fd.max_pool2d(x, 0)
    with pytest.raises(ValueError, match="output size"):
        fd.avg_pool2d(x, 9)
    with pytest.raises(ValueError, match="dimensions"):
        fd.max_pool3d(da.zeros((8, 8), chunks=4), 2)
    with pytest.raises(TypeError, match="dtype"):
        fd.max_pool2d(da.zeros((1, 1, 8, 8), chunks=4, dtype=np.complex64), 2)
    with pytest.raises(ValueError, match="nan_policy"):
        fd.max_pool2d(x, 2, nan_policy="drop")
    with pytest.raises(ValueError, match="method"):
        fd.pyramid(x, 2, "median")


# --------------------------------------------------------------------------
# On a LocalCluster with spawned worker processes


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, memory_limit="2GiB")
        c = distributed.Client(cluster)
        c.run(importlib.import_module, "fastpool.dask")  # workers import fastpool once, here
        try:
            yield c
        finally:
            c.close()
            cluster.close()


@pytest.mark.slow
def test_cluster_workers_are_processes(client):
    pids = set(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_cluster_matches_in_memory(client, layout):
    cl = layout == "nhwc"
    x2 = data((2, 3, 40, 53), seed=20)
    x3 = data((1, 2, 11, 12, 13), np.float64, seed=21)
    c2, c3 = (2, 2, 17, 27), (1, 2, 6, 5, 13)  # few blocks, not aligned to the strides
    if cl:
        x2, x3 = nhwc(x2), nhwc(x3)
        c2, c3 = (2, 17, 27, 2), (1, 6, 5, 13, 2)
    x2d, x3d = da.from_array(x2, chunks=c2), da.from_array(x3, chunks=c3)
    cases = [
        (2, x2, x2d, "max", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
        (2, x2, x2d, "avg", dict(kernel_size=3, stride=2, padding="same",
                                 count_include_pad=False)),
        (2, x2, x2d, "lp", dict(norm_type=2, kernel_size=2, stride=2, ceil_mode=True)),
        (3, x3, x3d, "max", dict(kernel_size=3, stride=2, padding=((0, 2), (1, 1), (2, 0)))),
        (3, x3, x3d, "avg", dict(kernel_size=2, ceil_mode=True)),
    ]
    lazy = [call(fd, op, r, xd, kw, cl) for r, _, xd, op, kw in cases]
    results = client.compute(lazy, sync=True)
    for (r, x, _, op, kw), got in zip(cases, results):
        assert_identical(call(fastpool, op, r, x, kw, cl), got)


@pytest.mark.slow
def test_cluster_adaptive_global_pyramid_zarr(client, tmp_path):
    x = finite((2, 3, 48, 50), seed=22)
    xd = da.from_array(x, chunks=(2, 3, 13, 17))
    a, g, p = dask.compute(fd.adaptive_avg_pool2d(xd, (12, 10)), fd.global_max_pool(xd),
                           fd.pyramid(xd, 3, "mean")[3], scheduler=client)
    assert_identical(fastpool.adaptive_avg_pool2d(x, (12, 10)), a)
    assert_identical(fastpool.global_max_pool(x), g)
    ref = x
    for _ in range(3):
        ref = fastpool.avg_pool2d(ref, 2, 2, 0, True, False)
    assert_identical(ref, p)
    if importlib.util.find_spec("zarr") is not None:
        fd.to_zarr(fd.pyramid(xd, 2, "max"), str(tmp_path / "c.zarr"))  # written by the workers
        back = da.from_zarr(str(tmp_path / "c.zarr"), component="2").compute(scheduler=client)
        ref = fastpool.max_pool2d(fastpool.max_pool2d(x, 2, ceil_mode=True), 2, ceil_mode=True)
        assert_identical(ref, back)
