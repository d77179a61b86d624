"""The specialised max-pooling kernels, bit for bit against fastpool.reference.

Each test below is aimed at one fast path of src/maxpool_impl.h and draws the
sizes around its vector widths (multiples of 4, 8 and 16, plus and minus one),
odd sizes, padding and ceil mode, with values that make the selection rule
matter: small integers (ties, the first maximum wins), -0.0 next to +0.0
(equal, so the first one's bits must come out), NaN with distinct payloads
(the last NaN wins) and -inf.  Values are compared with the reference's
(NaN as NaN), indices exactly, and the bits of every non-NaN value with those
of the input cell the reference's index names (the reference's NumPy maxima
do not fix which of two equal zeros comes out; fastpool's scan does); every
result is checked at 1 and at 2 threads.
"""

import numpy as np
import pytest
import strategies as S
from hypothesis import given, settings
from hypothesis import strategies as st

fastpool = pytest.importorskip("fastpool")
R = S.reference

# sizes around the vector widths of float64/float32 (4, 8, 16 lanes)
EDGE_SIZES = st.sampled_from([1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65])
LONG_SIZES = st.sampled_from([95, 96, 97, 127, 128, 129, 255, 256, 257, 511])
DTYPES = st.sampled_from([np.float32, np.float64])
INDEX_DTYPES = st.sampled_from([np.int64, np.int32])


def _nan(dtype, payload):
    """A quiet NaN of dtype whose mantissa carries payload (so two NaNs differ in bits)."""
    if np.dtype(dtype) == np.float32:
        return np.array([0x7FC00000 | payload], np.uint32).view(np.float32)[0]
    return np.array([0x7FF8000000000000 | payload], np.uint64).view(np.float64)[0]


@st.composite
def values(draw, shape, dtype):
    """An array of shape: small integers (ties) or normals, with -0.0, -inf and
    distinct NaNs sprinkled in, from a drawn seed."""
    seed = draw(st.integers(0, 2**32 - 1))
    mode = draw(st.sampled_from(["ties", "normal", "specials"]))
    rng = np.random.default_rng(seed)
    if mode == "normal":
        a = rng.standard_normal(shape).astype(dtype)
    else:
        a = rng.integers(-3, 4, size=shape).astype(dtype)
    if mode == "specials" and a.size:
        u = rng.random(shape)
        a[u < 0.2] = -0.0
        a[(u >= 0.2) & (u < 0.25)] = -np.inf
        flat = a.reshape(-1)
        for j in np.flatnonzero((u >= 0.25) & (u < 0.3)).tolist():
            flat[j] = _nan(dtype, 1 + j % 1000)
    return a


def _bits(a):
    a = np.ascontiguousarray(a)
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def assert_same_values(actual, expected, msg=""):
    """Equal values (NaN where NaN, -0.0 == +0.0: the reference computes its
    maxima with NumPy and does not fix which zero comes out)."""
    assert actual.shape == expected.shape, msg
    assert actual.dtype == expected.dtype, msg
    assert np.array_equal(actual, expected, equal_nan=True), msg


def selected(x, i_ref):
    """x's element at each reference index (logical layout), -inf for index -1:
    the bits fastpool's scan returns (the first of equal zeros included)."""
    n, c = x.shape[:2]
    flat = x.reshape(n, c, -1)
    idx = i_ref.reshape(n, c, -1)
    picked = np.take_along_axis(flat, np.maximum(idx, 0), axis=2)
    picked[idx < 0] = -np.inf
    return picked.reshape(i_ref.shape)


def assert_selected_bits(y, x, i_ref, msg=""):
    """y's bits are those of the selected inputs wherever they are not NaN."""
    want = selected(x, i_ref)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(y), nan), msg
    assert np.array_equal(_bits(y)[~nan], _bits(want)[~nan]), msg


def _user(a, channels_last):
    return np.moveaxis(a, 1, -1) if channels_last else a


def check_forward(x, kernel, stride, padding, ceil_mode=False, channels_last=False,
                  index_dtype=np.int64, with_indices=True):
    """fastpool's forward on x (logical NC...) against the reference, at 1 and 2 threads."""
    rank = x.ndim - 2
    y_ref, i_ref = R.max_pool(x, kernel, stride, padding, 1, ceil_mode, rank=rank)
    fn = getattr(fastpool, f"max_pool{rank}d")
    xu = np.ascontiguousarray(_user(x, channels_last))
    msg = f"shape={x.shape} k={kernel} s={stride} p={padding} ceil={ceil_mode} cl={channels_last}"
    for t in (1, 2):
        if with_indices:
            y, i = fn(xu, kernel, stride, padding, ceil_mode=ceil_mode, return_indices=True,
                      channels_last=channels_last, index_dtype=index_dtype, num_threads=t)
            assert i.dtype == np.dtype(index_dtype), msg
            assert np.array_equal(i, _user(i_ref, channels_last)), msg
        else:
            y = fn(xu, kernel, stride, padding, ceil_mode=ceil_mode,
                   channels_last=channels_last, num_threads=t)
        y = np.ascontiguousarray(np.moveaxis(y, -1, 1)) if channels_last else y
        assert_same_values(y, y_ref, msg)
        assert_selected_bits(y, x, i_ref, msg)


# --------------------------------------------------------------------------
# 1-D rows: k=3/s=2 and k=2/s=2 (one window row, vectorised across outputs)


@settings(deadline=None)
@given(st.data(), st.sampled_from([(3, 2), (2, 2), (3, 1), (4, 2), (5, 3)]),
       st.one_of(EDGE_SIZES, LONG_SIZES), st.integers(0, 1), st.booleans(), DTYPES,
       INDEX_DTYPES, st.booleans())
def test_max_pool1d_rows(data, ks, length, pad, ceil_mode, dtype, index_dtype, with_indices):
    k, s = ks
    pad = min(pad, k // 2)
    if length + 2 * pad < k:
        length = k
    n, c = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 5))
    x = data.draw(values((n, c, length), dtype))
    check_forward(x, k, s, pad, ceil_mode, index_dtype=index_dtype, with_indices=with_indices)


def test_max_pool1d_no_index_writes_without_indices():
    """Without return_indices the k3/s2 rows give the reference's values (the
    index-free kernel), and the caller's output buffer is the result."""
    x = np.arange(3 * 4 * 33, dtype=np.float32).reshape(3, 4, 33)[:, :, ::-1].copy()
    y_ref, _ = R.max_pool(x, 3, 2, 0, rank=1)
    out = np.full(y_ref.shape, 7.0, np.float32)
    y = fastpool.max_pool1d(x, 3, 2, out=out, num_threads=1)
    assert y is out
    assert_same_values(y, y_ref)


# --------------------------------------------------------------------------
# Backward in channels-last memory: windows that tile the input (a gather,
# every dx cell written once) and, when an index leaves its window, the scatter


def _tile_indices(rng, spatial, out):
    """Per output a random cell of its tile window (k = in // out per axis), as
    flat in-plane indices of shape out."""
    flat = 0
    for a, o in enumerate(out):
        ka = spatial[a] // o
        g = np.arange(o).reshape([-1 if b == a else 1 for b in range(len(out))])
        cell = g * ka + rng.integers(0, ka, size=out)
        flat = flat * spatial[a] + cell
    return np.asarray(flat)


@settings(deadline=None)
@given(st.data(), st.sampled_from([1, 2, 3]), DTYPES, INDEX_DTYPES,
       st.sampled_from(["tiles", "stray", "none"]))
def test_max_pool_backward_channels_last(data, rank, dtype, index_dtype, kind):
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    k = data.draw(st.sampled_from([2, 3]) if rank < 3 else st.just(2))
    out = [data.draw(st.integers(1, {1: 9, 2: 6, 3: 3}[rank])) for _ in range(rank)]
    # in = k*out plus 0..k-1 cells no window covers
    spatial = tuple(o * k + data.draw(st.integers(0, k - 1)) for o in out)
    n = data.draw(st.integers(1, 2))
    c = data.draw(st.sampled_from([1, 3, 4, 7, 8, 15, 16, 17, 63, 64, 65, 130]))
    plane = int(np.prod(spatial))
    idx = np.stack([np.stack([_tile_indices(rng, spatial, out) for _ in range(c)])
                    for _ in range(n)])
    if kind == "tiles":
        # some windows without a valid cell (index -1)
        idx[rng.random(idx.shape) < 0.1] = -1
    elif kind == "stray":
        # one index outside its window: the scatter must take over
        j = tuple(int(rng.integers(0, s)) for s in idx.shape)
        idx[j] = int(rng.integers(0, plane))
    else:
        idx[...] = -1
    ints = data.draw(st.booleans())
    if ints or kind == "stray":
        g = rng.integers(-4, 5, size=idx.shape).astype(dtype)
    else:
        g = rng.standard_normal(idx.shape).astype(dtype)
    g[rng.random(g.shape) < 0.1] = -0.0
    dx_ref = R.max_pool_backward(g, idx, (n, c, *spatial), rank=rank)
    gu = np.ascontiguousarray(np.moveaxis(g, 1, -1))
    iu = np.ascontiguousarray(np.moveaxis(idx, 1, -1)).astype(index_dtype)
    fn = getattr(fastpool, f"max_pool{rank}d_backward")
    shape_u = (n, *spatial, c)
    for t in (1, 2):
        out_buf = np.full(shape_u, 12345, dtype=dtype)
        dx = fn(gu, iu, shape_u, channels_last=True, out=out_buf, num_threads=t)
        assert dx is out_buf
        got = np.moveaxis(dx, -1, 1)
        assert np.array_equal(_bits(got), _bits(dx_ref)), (kind, spatial, out, c, t)


def test_max_pool_backward_channels_last_from_overlapping_windows():
    """3x3/s2 windows: in = 2*out + 1 looks like 2x2 tiles, but the indices
    of the overlapping windows leave them; integer gradients sum exactly."""
    rng = np.random.default_rng(5)
    x = rng.integers(-3, 4, size=(2, 19, 13, 13)).astype(np.float32)
    y_ref, i_ref = R.max_pool(x, 3, 2, 0, rank=2)
    g = rng.integers(-4, 5, size=y_ref.shape).astype(np.float32)
    dx_ref = R.max_pool_backward(g, i_ref, x.shape, rank=2)
    iu = np.ascontiguousarray(np.moveaxis(i_ref, 1, -1))
    gu = np.ascontiguousarray(np.moveaxis(g, 1, -1))
    for t in (1, 2):
        dx = fastpool.max_pool2d_backward(gu, iu, (2, 13, 13, 19), channels_last=True,
                                          num_threads=t)
        assert np.array_equal(np.moveaxis(dx, -1, 1), dx_ref)


# --------------------------------------------------------------------------
# Stride-1 windows on small planes (values only): whole-buffer doubling passes


@settings(deadline=None)
@given(st.data(), st.sampled_from([1, 2]), DTYPES, st.booleans())
def test_max_pool_stride1_small_planes(data, rank, dtype, strided):
    k = tuple(data.draw(st.integers(1, 13)) for _ in range(rank))
    if max(k) < 4:
        k = (4,) + k[1:]
    pad = tuple(data.draw(st.integers(0, ka // 2)) for ka in k)
    size_st = EDGE_SIZES if rank == 2 else st.one_of(EDGE_SIZES, LONG_SIZES)
    spatial = tuple(max(data.draw(size_st), ka - 2 * pa) for ka, pa in zip(k, pad))
    n, c = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 4))
    x = data.draw(values((n, c, *spatial), dtype))
    y_ref, i_ref = R.max_pool(x, k, 1, pad, 1, False, rank=rank)
    fn = getattr(fastpool, f"max_pool{rank}d")
    xin = x
    if strided:
        # every other element of a larger buffer, along the last axis
        big = np.zeros((*x.shape[:-1], 2 * x.shape[-1]), dtype)
        big[..., ::2] = x
        xin = big[..., ::2]
    msg = f"shape={x.shape} k={k} p={pad} strided={strided}"
    for t in (1, 2):
        if strided:
            obig = np.full((*y_ref.shape[:-1], 2 * y_ref.shape[-1]), 7, dtype)
            out = obig[..., 1::2]
            y = fn(xin, k, 1, pad, out=out, num_threads=t)
            assert y is out
        else:
            y = fn(xin, k, 1, pad, num_threads=t)
        assert_same_values(y, y_ref, msg)
        assert_selected_bits(y, x, i_ref, msg)


# --------------------------------------------------------------------------
# Forward in channels-last memory (the per-ISA channel loops)


@settings(deadline=None)
@given(st.data(), st.sampled_from([(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 1, 0)]),
       st.sampled_from([1, 3, 4, 7, 8, 15, 16, 17, 31, 33, 65]), st.booleans(), DTYPES,
       INDEX_DTYPES, st.booleans())
def test_max_pool2d_channels_last(data, ksp, c, ceil_mode, dtype, index_dtype, with_indices):
    k, s, p = ksp
    h, w = data.draw(EDGE_SIZES), data.draw(EDGE_SIZES)
    h, w = max(h, k), max(w, k)
    n = data.draw(st.integers(1, 2))
    x = data.draw(values((n, c, h, w), dtype))
    check_forward(x, k, s, p, ceil_mode, channels_last=True, index_dtype=index_dtype,
                  with_indices=with_indices)
