"""One hand-written test per semantic trap of SPEC §4, each named after it."""

import threading
import time

import numpy as np
import pytest
import strategies as S

fastpool = pytest.importorskip("fastpool")
R = S.reference
nan, inf = np.nan, np.inf


def _max(x, *args, **kw):
    rank = x.ndim - 2 if kw.pop("batched", True) else x.ndim - 1
    return getattr(fastpool, f"max_pool{rank}d")(x, *args, return_indices=True, **kw)


# --------------------------------------------------------------------------
# Geometry


def test_ceil_mode_drop_rule():
    # k=1, s=2, I=32: the formula gives 17, but the 17th window would start at 32,
    # which is past the input and the (zero) begin padding: dropped.
    assert R.output_size(32, 1, 2, 0, 0, 1, True) == 16
    assert fastpool.pool_output_shape((1, 1, 32), 1, 2, ceil_mode=True) == (1, 1, 16)
    x = np.arange(32.0).reshape(1, 1, 32)
    y, i = fastpool.max_pool1d(x, 1, 2, ceil_mode=True, return_indices=True)
    assert y.tolist() == [[list(np.arange(0.0, 32.0, 2))]]
    assert i.tolist() == [[list(range(0, 32, 2))]]
    # k=4, s=4, p=2, I=9: the formula gives 4 windows, starting at -2, 2, 6 and 10; the
    # 4th starts in the end padding ((O-1)*s = 12 >= I + pb = 11), so it goes.
    assert R.output_size(9, 4, 4, 2, 2, 1, True) == 3
    assert fastpool.pool_output_shape((1, 1, 9), 4, 4, 2, ceil_mode=True) == (1, 1, 3)
    x = np.arange(1.0, 10.0).reshape(1, 1, 9)
    assert fastpool.avg_pool1d(x, 4, 4, 2, ceil_mode=True).shape == (1, 1, 3)
    assert fastpool.max_pool1d(x, 4, 4, 2, ceil_mode=True).tolist() == [[[2.0, 6.0, 9.0]]]
    # The same rule per axis in 2-D and 3-D.
    assert fastpool.pool_output_shape((2, 3, 32, 9), (1, 4), (2, 4), (0, 2),
                                      ceil_mode=True) == (2, 3, 16, 3)
    assert fastpool.pool_output_shape((3, 9, 32, 9), (4, 1, 4), (4, 2, 4), (2, 0, 2),
                                      ceil_mode=True) == (3, 3, 16, 3)  # unbatched: C=3


def test_count_include_pad_divisor_clipped_at_input_plus_pad_in_ceil_mode():
    # I=6, k=3, s=2, p=1, ceil: 4 windows; the last covers [5, 8) but the divisor
    # counts only [5, 7) = I + pe: 2 cells (one input, one padding), not 3.
    x = np.ones((1, 1, 6))
    y = fastpool.avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=True)
    assert np.allclose(y, [[[2 / 3, 1, 1, 1 / 2]]], rtol=0, atol=1e-15)
    y = fastpool.avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)
    assert np.allclose(y, [[[1, 1, 1, 1]]], rtol=0, atol=1e-15)
    dx = fastpool.avg_pool1d_backward(np.ones((1, 1, 4)), (1, 1, 6), 3, 2, 1, ceil_mode=True)
    assert np.allclose(dx, [[[1 / 3, 2 / 3, 1 / 3, 2 / 3, 1 / 3, 1 / 3 + 1 / 2]]],
                       rtol=0, atol=1e-15)
    # 2-D: the corner window is clipped on both axes: divisor 2*2 = 4.
    x = np.ones((1, 1, 6, 6), np.float32)
    y = fastpool.avg_pool2d(x, 3, 2, 1, ceil_mode=True)
    assert y.shape == (1, 1, 4, 4)
    assert y[0, 0, 3, 3] == np.float32(1 / 4)
    assert y[0, 0, 0, 3] == np.float32(2 / 6)
    expected = R.avg_pool(x, 3, 2, 1, ceil_mode=True, rank=2)
    assert np.allclose(y, expected, rtol=1e-6, atol=0)
    # With dilation the count is of taps: k=2, d=3, s=5, pad (0, 2), I=7, ceil: the second
    # window's taps are 5 (input) and 8 (end padding, < I + pe = 9): divisor 2.
    x = np.arange(7.0).reshape(1, 1, 7)
    y = fastpool.avg_pool1d(x, 2, 5, ((0, 2),), ceil_mode=True, dilation=3)
    assert y.tolist() == [[[1.5, 2.5]]]


def test_same_padding_with_stride_and_dilation():
    # I=10, k=3, s=2, d=2: ek=5, O=ceil(10/2)=5, total pad (5-1)*2 + 5 - 10 = 3.
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 10, 11))
    for mode, pads in (("same", ((1, 2), (1, 2))), ("same_lower", ((2, 1), (2, 1)))):
        # W=11: O=6, total = 5*2 + 5 - 11 = 4 -> (2, 2) either way
        pads = (pads[0], (2, 2))
        y, i = _max(x, 3, 2, mode, dilation=2)
        ye, ie = _max(x, 3, 2, pads, dilation=2)
        assert y.shape == (2, 3, 5, 6)
        assert np.array_equal(y, ye) and np.array_equal(i, ie)
        yr, ir = R.max_pool(x, 3, 2, mode, dilation=2)
        assert np.array_equal(y, yr) and np.array_equal(i, ir)
        a = fastpool.avg_pool2d(x, 3, 2, mode, dilation=2, count_include_pad=False)
        ae = fastpool.avg_pool2d(x, 3, 2, pads, dilation=2, count_include_pad=False)
        assert np.array_equal(a, ae)
        assert np.allclose(a, R.avg_pool(x, 3, 2, mode, count_include_pad=False, dilation=2),
                           rtol=1e-12, atol=1e-12)
        assert fastpool.pool_output_shape(x.shape, 3, 2, mode, 2) == (2, 3, 5, 6)
    # Stride 1: "same" keeps the size, whatever the kernel and dilation.
    for k, d in ((2, 1), (4, 1), (3, 3), (2, 5)):
        assert fastpool.pool_output_shape((1, 1, 7, 8, 9), k, 1, "same", d) == (1, 1, 7, 8, 9)
    # ceil_mode still applies to the resolved pads.
    assert fastpool.pool_output_shape((1, 1, 5), 2, 2, "same", ceil_mode=True) == (1, 1, 3)


def test_asymmetric_padding():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 7, 9)).astype(np.float32)
    pads = ((0, 3), (2, 1))
    y, i = _max(x, 3, 2, pads)
    # The same as padding explicitly with -inf (indices then shifted back).
    padded = np.pad(x, ((0, 0), (0, 0), (0, 3), (2, 1)), constant_values=-inf)
    yp, ip = _max(padded, 3, 2, 0)
    assert np.array_equal(y, yp)
    h, w = np.unravel_index(ip, padded.shape[2:])
    assert np.array_equal(i, h * 9 + (w - 2))
    yr, ir = R.max_pool(x, 3, 2, pads)
    assert np.array_equal(y, yr) and np.array_equal(i, ir)
    # Mixed forms: an int axis and a pair axis.
    y2, i2 = _max(x, 3, 2, (1, (2, 1)))
    yr2, ir2 = R.max_pool(x, 3, 2, ((1, 1), (2, 1)))
    assert np.array_equal(y2, yr2) and np.array_equal(i2, ir2)
    # Average with count_include_pad: the divisor counts the asymmetric padding.
    a = fastpool.avg_pool2d(x, 3, 2, pads)
    ap = fastpool.avg_pool2d(np.pad(x, ((0, 0), (0, 0), (0, 3), (2, 1))), 3, 2, 0)
    assert np.allclose(a, ap, rtol=1e-6, atol=1e-6)
    # 1-D asymmetric padding is one pair per axis.
    x1 = np.arange(5.0).reshape(1, 1, 5)
    assert fastpool.max_pool1d(x1, 2, 2, ((1, 0),)).tolist() == [[[0.0, 2.0, 4.0]]]
    assert fastpool.avg_pool1d(x1, 2, 2, ((0, 1),)).tolist() == [[[0.5, 2.5, 2.0]]]


def test_window_wholly_in_padding():
    # pad 3 > k/2: the first and last windows see only padding.
    x = np.arange(1.0, 5.0).reshape(1, 1, 4)
    y, i = fastpool.max_pool1d(x, 2, 2, 3, return_indices=True)
    assert y.tolist() == [[[-inf, 1.0, 3.0, 4.0, -inf]]]
    assert i.tolist() == [[[-1, 0, 2, 3, -1]]]
    for cip in (True, False):
        a = fastpool.avg_pool1d(x, 2, 2, 3, count_include_pad=cip)
        assert a[0, 0, 0] == 0 and a[0, 0, -1] == 0
    assert fastpool.avg_pool1d(x, 2, 2, 3, divisor_override=7)[0, 0, 0] == 0
    # 2-D and 3-D, both layouts, with ceil mode and dilation adding windows in padding.
    rng = np.random.default_rng(3)
    for shape, k in (((2, 3, 4, 5), 2), ((1, 2, 3, 4, 3), 2)):
        x = rng.standard_normal(shape)
        rank = x.ndim - 2
        kw = {"kernel_size": k, "stride": 2, "padding": 4, "dilation": 1, "ceil_mode": True}
        y, i = getattr(fastpool, f"max_pool{rank}d")(x, return_indices=True, **kw)
        yr, ir = R.max_pool(x, **kw)
        assert (ir == -1).any()
        assert np.array_equal(y, yr) and np.array_equal(i, ir)
        assert np.all(y[i == -1] == -inf)
        a = getattr(fastpool, f"avg_pool{rank}d")(x, k, 2, 4, True, False)
        assert np.all(a[i == -1] == 0)
        # backward skips -1
        g = np.ones_like(y)
        dx = getattr(fastpool, f"max_pool{rank}d_backward")(g, i, x.shape)
        assert dx.sum() == (i >= 0).sum()


# --------------------------------------------------------------------------
# Max pooling selection


def test_ties_give_first_index():
    x = np.array([[[1.0, 3.0, 3.0, 2.0, 3.0, 3.0]]])
    y, i = fastpool.max_pool1d(x, 3, 1, return_indices=True)
    assert y.tolist() == [[[3.0, 3.0, 3.0, 3.0]]]
    assert i.tolist() == [[[1, 1, 2, 4]]]
    # A constant plane: every window picks its first valid cell in row-major order.
    x = np.zeros((1, 2, 5, 5), np.float32)
    y, i = fastpool.max_pool2d(x, 3, 2, 1, return_indices=True)
    assert i[0, 0].tolist() == [[0, 1, 3], [5, 6, 8], [15, 16, 18]]
    # All -inf inside the input, -inf padding: the first valid cell, never padding.
    xi = np.full((1, 1, 5, 5), -inf)
    y, i = fastpool.max_pool2d(xi, 3, 2, 1, return_indices=True)
    assert np.all(y == -inf)
    assert i[0, 0].tolist() == [[0, 1, 3], [5, 6, 8], [15, 16, 18]]
    # Row-major means the earlier row wins over the earlier column.
    x = np.zeros((1, 1, 2, 2))
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = 5
    assert fastpool.max_pool2d(x, 2, return_indices=True)[1].item() == 1
    # Same in NHWC memory, with threads, in 3-D and with dilation.
    rng = np.random.default_rng(4)
    x = rng.integers(0, 2, size=(2, 9, 6, 7, 8)).astype(np.float32)
    _yr, ir = R.max_pool(x, 3, 1, 1, dilation=2)
    xh = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    for nt in (1, 2):
        y, i = fastpool.max_pool3d(x, 3, 1, 1, 2, return_indices=True, num_threads=nt)
        assert np.array_equal(i, ir)
        _yh, ih = fastpool.max_pool3d(xh, 3, 1, 1, 2, return_indices=True, channels_last=True,
                                     num_threads=nt)
        assert np.array_equal(np.moveaxis(ih, -1, 1), ir)


def test_nan_gives_nan_with_last_nan_index():
    x = np.array([[[nan, 1.0, nan, 5.0, 0.0, nan, inf, 2.0]]])
    y, i = fastpool.max_pool1d(x, 4, return_indices=True)
    assert np.array_equal(y, [[[nan, nan]]], equal_nan=True)
    assert i.tolist() == [[[2, 5]]]
    # A NaN before a larger value still wins; a window without NaN is unaffected.
    x = np.array([[[nan, 9.0, 1.0, 2.0]]], np.float32)
    y, i = fastpool.max_pool1d(x, 2, return_indices=True)
    assert np.isnan(y[0, 0, 0]) and y[0, 0, 1] == 2.0 and i.tolist() == [[[0, 3]]]
    # 2-D with overlapping windows, row-major "last", in both layouts.
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 0, 2] = x[0, 0, 1, 0] = x[0, 0, 1, 3] = nan
    yr, ir = R.max_pool(x, 3, 1)
    assert ir[0, 0].tolist() == [[4, 7], [4, 7]]
    y, i = fastpool.max_pool2d(x, 3, 1, return_indices=True)
    assert np.array_equal(y, yr, equal_nan=True) and np.array_equal(i, ir)
    y, i = fastpool.max_pool2d(np.ascontiguousarray(np.moveaxis(x, 1, -1)), 3, 1,
                               return_indices=True, channels_last=True)
    assert np.array_equal(np.moveaxis(i, -1, 1), ir)
    # The gradient follows the NaN's index.
    dx = fastpool.max_pool2d_backward(np.ones((1, 1, 2, 2)), ir, x.shape)
    assert dx[0, 0, 1, 0] == 2 and dx[0, 0, 1, 3] == 2 and dx[0, 0, 0, 2] == 0


def test_nan_policy_omit():
    x = np.array([[[nan, 1.0, nan, 5.0, nan, nan, nan, nan, 2.0, nan, 2.0, nan]]])
    y, i = fastpool.max_pool1d(x, 4, return_indices=True, nan_policy="omit")
    assert np.array_equal(y, [[[5.0, nan, 2.0]]], equal_nan=True)
    # all-NaN window: NaN and the index of its first cell
    assert i.tolist() == [[[3, 4, 8]]]
    # Without NaN, omit and propagate agree.
    rng = np.random.default_rng(5)
    x = rng.integers(-2, 3, size=(2, 5, 9, 9)).astype(np.float32)
    a = fastpool.max_pool2d(x, 3, 2, 1, return_indices=True)
    b = fastpool.max_pool2d(x, 3, 2, 1, return_indices=True, nan_policy="omit")
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    # All-NaN window with padding: the first valid cell, not the padding.
    x = np.full((1, 1, 3, 3), nan)
    y, i = fastpool.max_pool2d(x, 2, 2, 1, return_indices=True, nan_policy="omit")
    assert np.isnan(y).all() and i[0, 0].tolist() == [[0, 1], [3, 4]]
    # NaN mixed with -inf: the NaN is skipped, the first -inf is the maximum.
    x = np.array([[[nan, -inf, -inf, nan]]])
    y, i = fastpool.max_pool1d(x, 4, return_indices=True, nan_policy="omit")
    _yr, ir = R.max_pool(x, 4, nan_policy="omit")
    assert y.tolist() == [[[-inf]]] and ir.tolist() == [[[1]]]
    assert i.tolist() == ir.tolist()


# --------------------------------------------------------------------------
# Shapes, layouts, dtypes, buffers


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_unbatched_input(rank):
    rng = np.random.default_rng(rank)
    xb = rng.standard_normal((1, 4) + (6,) * rank)
    x = xb[0]
    fmax = getattr(fastpool, f"max_pool{rank}d")
    favg = getattr(fastpool, f"avg_pool{rank}d")
    y, i = fmax(x, 3, 2, 1, return_indices=True)
    yb, ib = fmax(xb, 3, 2, 1, return_indices=True)
    assert y.shape == yb.shape[1:] and np.array_equal(y, yb[0]) and np.array_equal(i, ib[0])
    a, ab = favg(x, 3, 2, 1, True), favg(xb, 3, 2, 1, True)
    assert a.shape == ab.shape[1:] and np.array_equal(a, ab[0])
    g = rng.standard_normal(y.shape)
    dx = getattr(fastpool, f"max_pool{rank}d_backward")(g, i, x.shape)
    dxb = getattr(fastpool, f"max_pool{rank}d_backward")(g[None], ib, xb.shape)
    assert dx.shape == x.shape and np.array_equal(dx, dxb[0])
    ga = rng.standard_normal(a.shape)
    da = getattr(fastpool, f"avg_pool{rank}d_backward")(ga, x.shape, 3, 2, 1, True)
    dab = getattr(fastpool, f"avg_pool{rank}d_backward")(ga[None], xb.shape, 3, 2, 1, True)
    assert da.shape == x.shape and np.array_equal(da, dab[0])
    assert fastpool.pool_output_shape(x.shape, (3,) * rank, 2, 1) == y.shape
    # unbatched channels-last: (*spatial, C)
    xh = np.moveaxis(x, 0, -1)
    yh = fmax(xh, 3, 2, 1, channels_last=True)
    assert np.array_equal(yh, np.moveaxis(y, 0, -1))


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_channels_last_equals_nchw(rank, dtype):
    rng = np.random.default_rng(10 + rank)
    x = rng.standard_normal((2, 11) + (9, 8, 7)[:rank]).astype(dtype)
    x[0, 3, 2] = nan
    xh = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    to_h = lambda a: np.moveaxis(a, 1, -1)
    fmax = getattr(fastpool, f"max_pool{rank}d")
    favg = getattr(fastpool, f"avg_pool{rank}d")
    args = (3, 2, ((1, 2),) * rank, 2, True)  # kernel, stride, pads, dilation, ceil_mode
    y, i = fmax(x, *args, return_indices=True)
    yh, ih = fmax(xh, *args, return_indices=True, channels_last=True)
    assert yh.flags.c_contiguous and yh.shape == to_h(y).shape
    assert np.array_equal(yh, to_h(y), equal_nan=True) and np.array_equal(ih, to_h(i))
    g = rng.standard_normal(y.shape).astype(dtype)
    dx = getattr(fastpool, f"max_pool{rank}d_backward")(g, i, x.shape)
    dxh = getattr(fastpool, f"max_pool{rank}d_backward")(
        np.ascontiguousarray(to_h(g)), ih, xh.shape, channels_last=True)
    assert np.array_equal(dxh, to_h(dx))
    kw = {"count_include_pad": False, "dilation": 2}
    a = favg(x, 3, 2, ((1, 2),) * rank, True, **kw)
    ah = favg(xh, 3, 2, ((1, 2),) * rank, True, channels_last=True, **kw)
    tol = {"rtol": 8 * np.finfo(dtype).eps, "atol": 32 * np.finfo(dtype).eps, "equal_nan": True}
    assert np.allclose(ah, to_h(a), **tol)
    da = getattr(fastpool, f"avg_pool{rank}d_backward")(g, x.shape, 3, 2, ((1, 2),) * rank,
                                                        True, **kw)
    dah = getattr(fastpool, f"avg_pool{rank}d_backward")(
        np.ascontiguousarray(to_h(g)), xh.shape, 3, 2, ((1, 2),) * rank, True,
        channels_last=True, **kw)
    assert np.allclose(dah, to_h(da), **tol)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_index_dtype_int32(rank):
    rng = np.random.default_rng(20 + rank)
    x = rng.standard_normal((2, 3) + (7,) * rank).astype(np.float32)
    f = getattr(fastpool, f"max_pool{rank}d")
    y64, i64 = f(x, 3, 2, 3, return_indices=True)
    y32, i32 = f(x, 3, 2, 3, return_indices=True, index_dtype=np.int32)
    assert i64.dtype == np.int64 and i32.dtype == np.int32
    assert np.array_equal(y32, y64) and np.array_equal(i32, i64)
    assert (i32 == -1).any()  # padding 3 with kernel 3: the first window is all padding
    # "int32" as a string and np.dtype work too; int32 indices feed the backward.
    assert f(x, 3, 2, 3, return_indices=True, index_dtype="int32")[1].dtype == np.int32
    g = np.ones_like(y32)
    b = getattr(fastpool, f"max_pool{rank}d_backward")
    assert np.array_equal(b(g, i32, x.shape), b(g, i64, x.shape))


def test_out_buffers():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 8, 9)).astype(np.float32)
    shape = fastpool.pool_output_shape(x.shape, 3, 2, 1)
    out = np.full(shape, 7, np.float32)
    iout = np.full(shape, 7, np.int64)
    y, i = fastpool.max_pool2d(x, 3, 2, 1, return_indices=True, out=out, indices_out=iout)
    assert y is out and i is iout
    yr, ir = R.max_pool(x, 3, 2, 1)
    assert np.array_equal(out, yr) and np.array_equal(iout, ir)
    # indices_out alone, without return_indices: filled, y returned alone.
    iout2 = np.full(shape, 7, np.int32)
    y2 = fastpool.max_pool2d(x, 3, 2, 1, indices_out=iout2, index_dtype=np.int32)
    assert isinstance(y2, np.ndarray) and np.array_equal(y2, yr) and np.array_equal(iout2, ir)
    # avg and both backwards.
    aout = np.full(shape, 7, np.float32)
    a = fastpool.avg_pool2d(x, 3, 2, 1, out=aout)
    assert a is aout and np.allclose(a, R.avg_pool(x, 3, 2, 1), rtol=1e-6, atol=1e-6)
    g = rng.standard_normal(shape).astype(np.float32)
    dout = np.full(x.shape, 7, np.float32)
    dx = fastpool.max_pool2d_backward(g, i, x.shape, out=dout)
    assert dx is dout
    assert np.allclose(dx, R.max_pool_backward(g, ir, x.shape), rtol=1e-6, atol=1e-5)
    dout2 = np.full(x.shape, 7, np.float32)
    da = fastpool.avg_pool2d_backward(g, x.shape, 3, 2, 1, out=dout2)
    assert da is dout2
    assert np.allclose(da, R.avg_pool_backward(g, x.shape, 3, 2, 1), rtol=1e-6, atol=1e-6)
    # Non-contiguous and channels-last out buffers.
    big = np.full((2, 3) + (shape[2], 2 * shape[3]), 7, np.float32)
    view = big[..., ::2]
    y3 = fastpool.max_pool2d(x, 3, 2, 1, out=view)
    assert y3 is view and np.array_equal(big[..., ::2], yr) and np.all(big[..., 1::2] == 7)
    xh = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    outh = np.empty((2,) + shape[2:] + (3,), np.float32)
    assert fastpool.max_pool2d(xh, 3, 2, 1, channels_last=True, out=outh) is outh
    assert np.array_equal(outh, np.moveaxis(yr, 1, -1))


# --------------------------------------------------------------------------
# Threads


def _big_problems():
    rng = np.random.default_rng(7)
    x32 = rng.integers(-50, 50, size=(4, 32, 96, 96)).astype(np.float32) / 8
    x64 = rng.standard_normal((2, 16, 24, 40, 40))
    return x32, x64


def test_forward_bit_identical_1_vs_2_threads():
    x32, x64 = _big_problems()
    x32h = np.ascontiguousarray(np.moveaxis(x32, 1, -1))
    cases = [
        (fastpool.max_pool2d, x32, {"kernel_size": 3, "stride": 1, "padding": 1,
                                        "return_indices": True}),
        (fastpool.max_pool2d, x32h, {"kernel_size": 3, "stride": 2, "padding": ((0, 2), 1),
                                         "return_indices": True, "channels_last": True}),
        (fastpool.max_pool2d, x32, {"kernel_size": 9, "stride": 1, "padding": 4, "dilation": 2,
                                        "return_indices": True}),
        (fastpool.max_pool3d, x64, {"kernel_size": 3, "stride": 2, "padding": "same",
                                        "ceil_mode": True, "return_indices": True}),
        (fastpool.avg_pool2d, x32, {"kernel_size": 5, "stride": 1, "padding": 2}),
        (fastpool.avg_pool2d, x32h, {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
                                         "count_include_pad": False, "channels_last": True}),
        (fastpool.avg_pool2d, x32[:, :, ::2, ::-1], {"kernel_size": 7, "stride": 1, "padding": 3}),
        (fastpool.avg_pool3d, x64, {"kernel_size": (2, 3, 4), "stride": 1, "padding": 1,
                                        "dilation": 2}),
    ]
    for f, x, kw in cases:
        one = f(x, num_threads=1, **kw)
        two = f(x, num_threads=2, **kw)
        default = f(x, **kw)
        one, two, default = (r if isinstance(r, tuple) else (r,) for r in (one, two, default))
        for a, b, c in zip(one, two, default):
            assert np.array_equal(a, b, equal_nan=True), (f.__name__, kw)
            assert np.array_equal(a, c, equal_nan=True), (f.__name__, kw)


def test_backward_deterministic_across_threads():
    rng = np.random.default_rng(8)
    x32, x64 = _big_problems()
    for x, kw in ((x32, {"kernel_size": 5, "stride": 1, "padding": 2}),
                  (x32, {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2}),
                  (x64, {"kernel_size": 3, "stride": 1, "padding": 1})):
        rank = x.ndim - 2
        y, i = getattr(fastpool, f"max_pool{rank}d")(x, return_indices=True, **kw)
        g = rng.standard_normal(y.shape).astype(x.dtype)
        back = getattr(fastpool, f"max_pool{rank}d_backward")
        ref = back(g, i, x.shape, num_threads=1)
        for nt in (1, 2, None, 2):
            assert np.array_equal(back(g, i, x.shape, num_threads=nt), ref), (nt, kw)
        # the same with channels-last memory
        gh = np.ascontiguousarray(np.moveaxis(g, 1, -1))
        ih = np.ascontiguousarray(np.moveaxis(i, 1, -1))
        shape_h = (x.shape[0],) + x.shape[2:] + (x.shape[1],)
        one = back(gh, ih, shape_h, channels_last=True, num_threads=1)
        two = back(gh, ih, shape_h, channels_last=True, num_threads=2)
        assert np.array_equal(one, two)
        avg_back = getattr(fastpool, f"avg_pool{rank}d_backward")
        akw = {k: v for k, v in kw.items()}
        ref = avg_back(g, x.shape, num_threads=1, **akw)
        for nt in (2, None, 2):
            assert np.array_equal(avg_back(g, x.shape, num_threads=nt, **akw), ref), (nt, kw)
        one = avg_back(gh, shape_h, channels_last=True, num_threads=1, **akw)
        two = avg_back(gh, shape_h, channels_last=True, num_threads=2, **akw)
        assert np.array_equal(one, two)
    # Sanity: the deterministic answer is also the right one.
    x = x32[:1, :4]
    y, i = fastpool.max_pool2d(x, 5, 1, 2, return_indices=True)
    g = rng.integers(-3, 4, size=y.shape).astype(np.float32)
    assert np.array_equal(fastpool.max_pool2d_backward(g, i, x.shape, num_threads=2),
                          R.max_pool_backward(g, i, x.shape))


def test_two_python_threads_progress():
    """The GIL is released during the kernels: while one thread runs a long pooling
    call, another Python thread keeps running, and both get correct results."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 8, 192, 192)).astype(np.float32)
    kw = {"kernel_size": 11, "stride": 1, "padding": 15, "dilation": 3, "return_indices": True,
              "num_threads": 1}
    # Grow the work until one call clearly outlasts the 5 ms GIL switch interval.
    for _ in range(5):
        t0 = time.perf_counter()
        fastpool.max_pool2d(x, **kw)
        if time.perf_counter() - t0 > 0.15:
            break
        x = np.concatenate([x, x], axis=0)
    expected = fastpool.max_pool2d(x, **kw)

    window = {}
    result = {}
    started = threading.Event()

    def worker():
        started.set()
        window["enter"] = time.perf_counter()
        result["y"] = fastpool.max_pool2d(x, **kw)
        window["exit"] = time.perf_counter()

    t = threading.Thread(target=worker)
    ticks = []
    small = rng.standard_normal((1, 2, 16, 16))
    small_results = []
    t.start()
    started.wait()
    while t.is_alive():
        ticks.append(time.perf_counter())
        if len(ticks) % 1000 == 0:
            small_results.append(fastpool.avg_pool2d(small, 2))
    t.join()
    enter, exit_ = window["enter"], window["exit"]
    duration = exit_ - enter
    assert duration > 0.05, "the pooling call was too short to tell"
    # Ticks in the middle half of the call: far (>= 12 ms) from its ends, where a
    # thread switch before entering or after leaving the C code could let them in.
    inside = [s for s in ticks if enter + duration / 4 < s < exit_ - duration / 4]
    assert len(inside) > 100, (
        f"the main thread ran {len(inside)} times in the middle of a {duration:.3f}s call: "
        "the GIL seems to be held"
    )
    assert np.array_equal(result["y"][0], expected[0]) and np.array_equal(result["y"][1],
                                                                           expected[1])
    want = R.avg_pool(small, 2)
    assert all(np.allclose(r, want, rtol=1e-12, atol=1e-12) for r in small_results)


def test_two_python_threads_pooling_at_once_give_correct_results():
    rng = np.random.default_rng(11)
    xs = [rng.standard_normal((2, 8, 64, 64)).astype(dt) for dt in (np.float32, np.float64)]
    expected = [R.max_pool(x, 3, 2, 1) for x in xs]
    got = [None, None]

    def run(j):
        for _ in range(5):
            got[j] = fastpool.max_pool2d(xs[j], 3, 2, 1, return_indices=True, num_threads=2)

    threads = [threading.Thread(target=run, args=(j,)) for j in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (y, i), (yr, ir) in zip(got, expected):
        assert np.array_equal(y, yr) and np.array_equal(i, ir)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_avg_divisor_past_int64_gives_the_tiny_mean(dtype):
    """kernel = stride = padding = 2**40 with count_include_pad: a window's divisor is
    2**80 taps, past int64.  The mean must be the tiny finite 16 / 2**80 (exactly
    2**-76), not inf from an overflowed divisor; without count_include_pad it is 1."""
    x = np.ones((1, 1, 4, 4), dtype)
    k = 2**40
    y = fastpool.avg_pool2d(x, k, k, k, count_include_pad=True)
    assert y.shape == (1, 1, 2, 2)
    want = np.zeros((1, 1, 2, 2), dtype)
    want[0, 0, 1, 1] = 2.0**-76
    assert np.array_equal(y, want), y
    y = fastpool.avg_pool2d(x, k, k, k, count_include_pad=False)
    assert y[0, 0, 1, 1] == 1 and y[0, 0, 0, 0] == 0, y  # no input cell: 0 (README)
    dx = fastpool.avg_pool2d_backward(np.ones_like(want), x.shape, k, k, k,
                                      count_include_pad=True)
    assert np.array_equal(dx, np.full(x.shape, 2.0**-80, dtype)), dx
