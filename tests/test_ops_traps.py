"""One hand-written test per semantic trap of Lp, adaptive, global, unpooling and
fractional pooling and of the index helpers (SPEC §4.4-4.7), each named after it."""

import math
import re

import numpy as np
import pytest
import strategies as S

fastpool = pytest.importorskip("fastpool")
R = S.reference
nan, inf = np.nan, np.inf


def _onnx_lp_pool_2d(x, p, kernel, strides, pads):
    """ONNX LpPool written out from its definition: zero padding with ONNX ``pads``
    = [b0, b1, e0, e1], then ``(sum |x|^p)^(1/p)`` over each window."""
    b0, b1, e0, e1 = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (b0, e0), (b1, e1)))
    kh, kw = kernel
    sh, sw = strides
    oh = (xp.shape[2] - kh) // sh + 1
    ow = (xp.shape[3] - kw) // sw + 1
    y = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            y[:, :, i, j] = (np.abs(win) ** p).sum(axis=(2, 3)) ** (1 / p)
    return y


# --------------------------------------------------------------------------
# Lp pooling (SPEC §4.4)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, 0.5])
def test_lp_pool_equals_onnx_lppool_with_padding(p):
    rng = np.random.default_rng(30)
    x = rng.standard_normal((2, 3, 7, 6))  # negative values too: ONNX takes |x|
    pads = (1, 0, 2, 1)  # ONNX pads: begins (H, W), then ends (H, W)
    expected = _onnx_lp_pool_2d(x, p, (3, 2), (2, 1), pads)
    y = fastpool.lp_pool2d(x, p, (3, 2), (2, 1), padding=((1, 2), (0, 1)))
    assert y.shape == expected.shape == (2, 3, 4, 6)
    assert np.allclose(y, expected, rtol=1e-13, atol=0)
    # float32, channels-last, two threads: the same numbers.
    xh = np.ascontiguousarray(np.moveaxis(x.astype(np.float32), 1, -1))
    yh = fastpool.lp_pool2d(xh, p, (3, 2), (2, 1), padding=((1, 2), (0, 1)), channels_last=True,
                            num_threads=2)
    assert np.allclose(np.moveaxis(yh, -1, 1), expected, rtol=1e-6, atol=0)
    # A window wholly in padding gives 0.
    y = fastpool.lp_pool1d(np.ones((1, 1, 2)), p, 2, 2, padding=((2, 0),))
    assert y.tolist() == [[[0.0, 2 ** (1 / p)]]]


def test_lp_pool_with_padding_and_ceil_mode():
    # I=6, k=3, s=2, pad 1, ceil: 4 windows [-1,2), [1,4), [3,6), [5,8); the last one
    # holds x[5], one padding cell and one cell past the padding, both count 0.
    x = np.array([[[1.0, -2.0, 3.0, -4.0, 5.0, -6.0]]])
    y = fastpool.lp_pool1d(x, 2, 3, 2, True, padding=1)
    expected = [math.hypot(1, 2), math.hypot(2, 3, 4), math.hypot(4, 5, 6), 6.0]
    assert np.allclose(y, [[expected]], rtol=1e-15, atol=0)
    assert np.allclose(R.lp_pool(x, 2, 3, 2, True, padding=1), [[expected]], rtol=1e-15, atol=0)
    assert fastpool.pool_output_shape(x.shape, 3, 2, 1, ceil_mode=True, op="lp") == (1, 1, 4)
    # Backward: the overhang windows spread over their input cells only.
    g = np.array([[[1.0, 1.0, 1.0, 1.0]]])
    y = fastpool.lp_pool1d(x, 2, 3, 2, True, padding=1)
    dx = fastpool.lp_pool1d_backward(g, x, y, 2, 3, 2, True, padding=1)
    dr = R.lp_pool_backward(g, x, y, 2, 3, 2, True, padding=1)
    assert np.allclose(dx, dr, rtol=1e-14, atol=1e-15)
    assert dx[0, 0, 5] == pytest.approx(-6 / math.hypot(4, 5, 6) - 1.0)
    # Without padding, the overhang window [4, 7) of I=6 holds x[4] and x[5] only.  PyTorch
    # (avg_pool of x^p times k) scales its sum by k / 2 there; fastpool does not.
    xp = np.abs(x)
    y = fastpool.lp_pool1d(xp, 2, 3, 2, True)
    assert y.shape == (1, 1, 3) and y[0, 0, 2] == pytest.approx(math.hypot(5, 6))
    try:
        import torch
    except ImportError:
        return
    t = torch.nn.functional.lp_pool1d(torch.from_numpy(xp), 2, 3, 2, True).numpy()
    assert np.allclose(t[..., :2], y[..., :2], rtol=1e-15, atol=0)
    assert t[0, 0, 2] == pytest.approx(math.hypot(5, 6) * math.sqrt(3 / 2))


def test_lp_pool_p_inf_is_max_abs():
    x = np.array([[[-5.0, 2.0, 4.0, -4.0, 1.0, 0.5]]])
    y = fastpool.lp_pool1d(x, inf, 2)
    assert y.tolist() == [[[5.0, 4.0, 1.0]]]
    assert fastpool.lp_pool1d(x, float("inf"), 3, 1, padding=2).tolist() == [
        [[5.0, 5.0, 5.0, 4.0, 4.0, 4.0, 1.0, 0.5]]]
    # Backward: dy * sign(x) to the first cell whose |x| is the maximum (4 before -4).
    dx = fastpool.lp_pool1d_backward(np.array([[[1.0, 2.0, 3.0]]]), x, y, inf, 2)
    assert dx.tolist() == [[[-1.0, 0.0, 2.0, 0.0, 3.0, 0.0]]]
    # Global p=inf, float32 and 2-D.
    x2 = np.array([[[[1.0, -7.0], [7.0, 3.0]]]], np.float32)
    assert fastpool.global_lp_pool(x2, inf).tolist() == [[[[7.0]]]]
    gy = np.ones((1, 1, 1, 1), np.float32)
    assert fastpool.global_lp_pool_backward(gy, x2, np.full_like(gy, 7), inf).tolist() == [
        [[[0.0, -1.0], [0.0, 0.0]]]]


def test_lp_pool_negative_inputs_odd_p_differ_from_torch():
    # PyTorch: S^(1/p) with S = sum x^p (avg_pool of x^p times the kernel size), which is
    # too small when odd powers cancel and NaN when S < 0; fastpool and ONNX use |x|.
    # With x = [2, -1, -2, 1] and p = 3, window by window:
    x = np.array([[[2.0, -1.0, -2.0, 1.0]]])
    y = fastpool.lp_pool1d(x, 3, 2)
    assert np.allclose(y, [[[9 ** (1 / 3), 9 ** (1 / 3)]]], rtol=1e-15, atol=0)
    with np.errstate(invalid="ignore"):
        torch_rule = [np.float64(s) ** (1 / 3) for s in (8 - 1, -8 + 1)]
    assert np.allclose(torch_rule, [7 ** (1 / 3), nan], equal_nan=True)
    assert not np.allclose(y[0, 0], torch_rule)
    assert np.array_equal(y, R.lp_pool(x, 3, 2))
    # With an even p, or x >= 0, the two agree.
    assert np.allclose(fastpool.lp_pool1d(x, 2, 2), [[[5 ** 0.5, 5 ** 0.5]]], rtol=1e-15)
    try:
        import torch
    except ImportError:
        return
    t = torch.from_numpy(x)
    assert np.allclose(torch.nn.functional.lp_pool1d(t, 3, 2).numpy(), [[torch_rule]],
                       equal_nan=True)
    assert np.allclose(torch.nn.functional.lp_pool1d(t, 2, 2).numpy(),
                       fastpool.lp_pool1d(x, 2, 2))


def test_lp_pool_backward_zero_rules():
    # x_i = 0 gets 0 (no 0^(p-1) blow-up for p < 1); a window with y = 0 gives 0 (p != 1).
    x = np.array([[[0.0, 3.0, 0.0, 0.0, -2.0, 0.0]]])
    g = np.ones((1, 1, 3))
    for p in (0.5, 2.0, 3.0, 1.0):
        y = fastpool.lp_pool1d(x, p, 2)
        assert y[0, 0, 1] == 0
        dx = fastpool.lp_pool1d_backward(g, x, y, p, 2)
        assert np.all(np.isfinite(dx))
        assert dx[0, 0, [0, 2, 3, 5]].tolist() == [0.0] * 4
        # the sole non-zero cell of its window: sign(x) (up to y's rounding)
        assert dx[0, 0, 1] == pytest.approx(1.0) and dx[0, 0, 4] == pytest.approx(-1.0)
        assert np.allclose(dx, R.lp_pool_backward(g, x, y, p, 2), rtol=1e-15, atol=0)
    # p = 1 is the sum of |x| and its gradient sign(x), whatever y is.
    x = np.array([[[-1.5, 2.0, 0.5]]])
    assert fastpool.lp_pool1d(x, 1, 3).tolist() == [[[4.0]]]
    dx = fastpool.lp_pool1d_backward(np.array([[[2.0]]]), x, np.array([[[4.0]]]), 1, 3)
    assert dx.tolist() == [[[-2.0, 2.0, 2.0]]]


def test_lp_pool_dilation_and_same_padding():
    rng = np.random.default_rng(31)
    x = rng.standard_normal((1, 2, 9, 8, 7))
    for padding in ("same", "same_lower", ((0, 2), 1, (2, 0))):
        y = fastpool.lp_pool3d(x, 2.5, (3, 2, 2), 2, padding=padding, dilation=(1, 2, 3))
        yr = R.lp_pool(x, 2.5, (3, 2, 2), 2, padding=padding, dilation=(1, 2, 3))
        assert y.shape == yr.shape and np.allclose(y, yr, rtol=1e-13, atol=0)


# --------------------------------------------------------------------------
# Adaptive pooling (SPEC §4.5)


def test_adaptive_windows_7_to_3_overlap():
    start, end = fastpool.adaptive_windows(7, 3)
    assert list(zip(start.tolist(), end.tolist())) == [(0, 3), (2, 5), (4, 7)]
    x = np.array([[[1.0, 9.0, 5.0, 2.0, 7.0, 3.0, 4.0]]])
    y, i = fastpool.adaptive_max_pool1d(x, 3, return_indices=True)
    assert y.tolist() == [[[9.0, 7.0, 7.0]]] and i.tolist() == [[[1, 4, 4]]]
    # Cell 4 is the maximum of two windows: its gradient accumulates.
    dx = fastpool.adaptive_max_pool1d_backward(np.array([[[1.0, 2.0, 3.0]]]), i, x.shape)
    assert dx.tolist() == [[[0.0, 1.0, 0.0, 0.0, 5.0, 0.0, 0.0]]]
    # Average: cells 2 and 4 are shared.
    a = fastpool.adaptive_avg_pool1d(x, 3)
    assert np.allclose(a, [[[5.0, 14 / 3, 14 / 3]]], rtol=1e-15, atol=0)
    da = fastpool.adaptive_avg_pool1d_backward(np.array([[[3.0, 3.0, 3.0]]]), x.shape)
    assert np.allclose(da, [[[1, 1, 2, 1, 2, 1, 1]]], rtol=1e-15, atol=0)


@pytest.mark.parametrize("in_size,out_size", [
    (2**53 + 1, 3),          # o*I/O is not representable in a double
    (2**62 - 1, 7),          # o*I overflows int64
    (2**63 - 1, 5),          # the largest int64
    (10**12 + 39, 97),
    (3, 2**20 + 3),          # far more outputs than inputs
])
def test_adaptive_windows_exact_for_large_sizes(in_size, out_size):
    if out_size > 1000:
        start, end = fastpool.adaptive_windows(in_size, out_size)
        assert start.tolist() == [o * in_size // out_size for o in range(out_size)]
        assert end.tolist() == [-(-(o + 1) * in_size // out_size) for o in range(out_size)]
        return
    start, end = fastpool.adaptive_windows(in_size, out_size)
    for o in range(out_size):
        assert int(start[o]) == o * in_size // out_size
        assert int(end[o]) == -(-(o + 1) * in_size // out_size)
    rs, re_ = R.adaptive_windows(in_size, out_size)
    assert np.array_equal(start, rs) and np.array_equal(end, re_)


def test_adaptive_pooling_exact_windows_when_i_times_o_is_large():
    # I*O ~ 1e10: products past 2**32, where float32 window arithmetic goes wrong.
    I, O = 100_003, 99_991
    x = np.random.default_rng(32).standard_normal((1, 1, I))
    y, i = fastpool.adaptive_max_pool1d(x, O, return_indices=True)
    yr, ir = R.adaptive_max_pool(x, O)
    assert np.array_equal(y, yr) and np.array_equal(i, ir)
    a = fastpool.adaptive_avg_pool1d(x, O)
    assert np.allclose(a, R.adaptive_avg_pool(x, O), rtol=1e-15, atol=1e-15)


def test_adaptive_none_keeps_the_axis():
    rng = np.random.default_rng(33)
    x = rng.standard_normal((2, 3, 5, 7, 4))
    y = fastpool.adaptive_avg_pool3d(x, (None, 3, None))
    assert y.shape == (2, 3, 5, 3, 4)
    assert np.allclose(y, R.adaptive_avg_pool(x, (None, 3, None)), rtol=1e-14, atol=1e-15)
    # A None axis is the identity along it.
    m, i = fastpool.adaptive_max_pool2d(x[:, :, 0], (None, 1), return_indices=True)
    assert np.array_equal(m[..., 0], x[:, :, 0].max(axis=-1))
    assert np.array_equal(i[..., 0], np.arange(7) * 4 + x[:, :, 0].argmax(axis=-1))
    assert fastpool.pool_output_shape(x.shape, op="adaptive", output_size=(None, 3, None)) == \
        (2, 3, 5, 3, 4)
    # An int output_size is one size for every axis.
    assert fastpool.adaptive_max_pool2d(x[0, :, 0], 2).shape == (3, 2, 2)  # unbatched


def test_adaptive_output_larger_than_input_repeats_cells():
    x = np.array([[[1.0, 2.0, 3.0]]])
    start, end = fastpool.adaptive_windows(3, 5)
    assert list(zip(start.tolist(), end.tolist())) == [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]
    y, i = fastpool.adaptive_max_pool1d(x, 5, return_indices=True)
    assert y.tolist() == [[[1.0, 2.0, 2.0, 3.0, 3.0]]] and i.tolist() == [[[0, 1, 1, 2, 2]]]
    assert np.allclose(fastpool.adaptive_avg_pool1d(x, 5), [[[1.0, 1.5, 2.0, 2.5, 3.0]]])


def test_adaptive_max_ties_and_nan():
    x = np.array([[[3.0, 3.0, nan, 1.0, nan, 2.0, 2.0]]])
    # windows [0,3), [2,5), [4,7): ties take the first, NaN the last NaN
    y, i = fastpool.adaptive_max_pool1d(x, 3, return_indices=True)
    assert np.array_equal(y, [[[nan, nan, nan]]], equal_nan=True)
    assert i.tolist() == [[[2, 4, 4]]]
    y, i = fastpool.adaptive_max_pool1d(x, 3, return_indices=True, nan_policy="omit")
    assert y.tolist() == [[[3.0, 1.0, 2.0]]] and i.tolist() == [[[0, 3, 5]]]


# --------------------------------------------------------------------------
# Global pooling


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_global_pool_rank_from_ndim(rank):
    rng = np.random.default_rng(40 + rank)
    x = rng.standard_normal((2, 3) + (5, 4, 3)[:rank])
    plane = x.reshape(2, 3, -1)
    ones = (1,) * rank
    y, i = fastpool.global_max_pool(x, return_indices=True)
    assert y.shape == i.shape == (2, 3) + ones
    assert np.array_equal(y.reshape(2, 3), plane.max(axis=-1))
    assert np.array_equal(i.reshape(2, 3), plane.argmax(axis=-1))
    a = fastpool.global_avg_pool(x)
    assert a.shape == (2, 3) + ones
    assert np.allclose(a.reshape(2, 3), plane.mean(axis=-1), rtol=1e-14, atol=1e-15)
    lp = fastpool.global_lp_pool(x, 3)
    assert np.allclose(lp.reshape(2, 3), (np.abs(plane) ** 3).sum(-1) ** (1 / 3), rtol=1e-14)
    assert fastpool.pool_output_shape(x.shape, op="global") == (2, 3) + ones
    # Global = adaptive to 1, and = the same with channels_last.
    f = getattr(fastpool, f"adaptive_max_pool{rank}d")
    ya, ia = f(x, 1, return_indices=True)
    assert np.array_equal(y, ya) and np.array_equal(i, ia)
    xh = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    yh, ih = fastpool.global_max_pool(xh, return_indices=True, channels_last=True)
    assert yh.shape == (2,) + ones + (3,)
    assert np.array_equal(np.moveaxis(ih, -1, 1), i)
    # Backward for all three.
    g = rng.standard_normal(y.shape)
    dx = fastpool.global_max_pool_backward(g, i, x.shape)
    assert np.array_equal(dx, R.global_max_pool_backward(g, i, x.shape))
    da = fastpool.global_avg_pool_backward(g, x.shape)
    assert np.allclose(da, np.broadcast_to(g / plane.shape[-1], x.shape), rtol=1e-15, atol=0)
    dl = fastpool.global_lp_pool_backward(g, x, lp, 3)
    assert np.allclose(dl, R.global_lp_pool_backward(g, x, lp, 3), rtol=1e-13, atol=1e-15)


def test_global_pool_needs_a_batch():
    # (C, L) would be ambiguous with (N, L) for rank 0: global pooling takes batched input.
    with pytest.raises(ValueError, match="global_max_pool"):
        fastpool.global_max_pool(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="global_avg_pool"):
        fastpool.global_avg_pool(np.zeros((1, 2, 3, 4, 5, 6)))


# --------------------------------------------------------------------------
# Max unpooling (SPEC §4.6)


def test_unpool_minus_one_is_skipped():
    x = np.array([[[5.0, 6.0, 7.0]]])
    idx = np.array([[[-1, 3, -1]]])
    y = fastpool.max_unpool1d(x, idx, 2)
    assert y.tolist() == [[[0.0, 0.0, 0.0, 6.0, 0.0, 0.0]]]
    dx = fastpool.max_unpool1d_backward(np.arange(6.0).reshape(1, 1, 6), idx, 2)
    assert dx.tolist() == [[[0.0, 3.0, 0.0]]]
    # The round trip from max pooling with windows wholly in padding.
    x = np.arange(1.0, 5.0).reshape(1, 1, 4)
    p, i = fastpool.max_pool1d(x, 2, 2, 3, return_indices=True)
    assert i.tolist() == [[[-1, 0, 2, 3, -1]]]
    assert fastpool.max_unpool1d(p, i, 2, 2, 3).tolist() == [[[1.0, 0.0, 3.0, 4.0]]]


def test_unpool_index_past_the_plane_raises_before_writing():
    x = np.ones((1, 2, 2, 2))
    idx = np.zeros((1, 2, 2, 2), np.int64)
    idx[0, 1, 0, 1] = 16   # the output plane is 4x4: 16 is one past its end
    idx[0, 1, 1, 0] = -2   # also bad, but later in C order
    out = np.full((1, 2, 4, 4), -123.0)
    with pytest.raises(IndexError, match=re.escape("indices[0, 1, 0, 1] = 16")):
        fastpool.max_unpool2d(x, idx, 2, out=out)
    assert np.all(out == -123.0)  # nothing written, not even the zero fill
    # Without the 16, the -2 is the first bad index.
    idx[0, 1, 0, 1] = 15
    with pytest.raises(IndexError, match=re.escape("indices[0, 1, 1, 0] = -2")):
        fastpool.max_unpool2d(x, idx, 2, out=out, num_threads=2)
    assert np.all(out == -123.0)
    # The backward gather checks too, and leaves its out untouched.
    dout = np.full(x.shape, -7.0)
    with pytest.raises(IndexError, match=re.escape("indices[0, 1, 1, 0] = -2")):
        fastpool.max_unpool2d_backward(np.ones((1, 2, 4, 4)), idx, 2, out=dout)
    assert np.all(dout == -7.0)
    # An index that is only bad for the real output size (output_size smaller than default).
    x1 = np.ones((1, 1, 2))
    with pytest.raises(IndexError, match=re.escape("indices[0, 0, 1] = 3")):
        fastpool.max_unpool1d(x1, np.array([[[0, 3]]]), 2, output_size=(3,))
    assert fastpool.max_unpool1d(x1, np.array([[[0, 2]]]), 2, output_size=(3,)).shape == (1, 1, 3)


def test_unpool_bad_index_named_in_the_users_layout():
    # channels_last: the first bad index in C order of the (N, H, W, C) array.
    x = np.ones((1, 2, 2, 3))
    idx = np.zeros((1, 2, 2, 3), np.int64)
    idx[0, 1, 0, 0] = 99   # channel 0, later in NCHW order than the next one
    idx[0, 1, 1, 2] = 50
    with pytest.raises(IndexError, match=re.escape("indices[0, 1, 0, 0] = 99")):
        fastpool.max_unpool2d(x, idx, 2, channels_last=True)


def test_unpool_duplicates_last_in_c_order_wins():
    x = np.array([[[1.0, 2.0, 3.0, 4.0]]])
    idx = np.array([[[5, 5, 0, 5]]])
    y = fastpool.max_unpool1d(x, idx, 2)
    assert y.tolist() == [[[3.0, 0.0, 0.0, 0.0, 0.0, 4.0, 0.0, 0.0]]]
    assert np.array_equal(y, R.max_unpool(x, idx, 2))
    # 2-D, many planes, both layouts, any thread count: the same deterministic answer.
    rng = np.random.default_rng(41)
    x = rng.standard_normal((3, 17, 6, 6))
    idx = rng.integers(0, 4, size=x.shape)  # only 4 targets per 12x12 plane: many duplicates
    expected = R.max_unpool(x, idx, 2)
    planes = expected.reshape(3, 17, -1)
    last = x.reshape(3, 17, -1)[:, :, [np.flatnonzero(idx[0, 0].ravel() == t)[-1]
                                      for t in range(4)]]
    assert np.array_equal(planes[0, 0, :4], last[0, 0])
    xh = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    ih = np.ascontiguousarray(np.moveaxis(idx, 1, -1))
    for nt in (1, 2, None):
        assert np.array_equal(fastpool.max_unpool2d(x, idx, 2, num_threads=nt), expected)
        yh = fastpool.max_unpool2d(xh, ih, 2, channels_last=True, num_threads=nt)
        assert np.array_equal(np.moveaxis(yh, -1, 1), expected)


def test_unpool_output_size_just_inside_and_outside_the_stride_range():
    x = np.ones((1, 1, 3, 4))
    idx = np.zeros((1, 1, 3, 4), np.int64)
    # default: (3-1)*3 + 2 = 8 rows, (4-1)*2 - 0 - 1 + 3 = 8 columns (pads (0, 1))
    k, s, pad = (2, 3), (3, 2), (0, (0, 1))
    assert fastpool.max_unpool2d(x, idx, k, s, pad).shape == (1, 1, 8, 8)
    assert fastpool.pool_output_shape(x.shape, k, s, pad, op="unpool") == (1, 1, 8, 8)
    for size in ((6, 7), (10, 9), (8, 8), (6, 9), (10, 7)):  # strictly within ±(3, 2)
        assert fastpool.max_unpool2d(x, idx, k, s, pad, size).shape == (1, 1) + size
        assert fastpool.max_unpool2d(x, idx, k, s, pad, (1, 1) + size).shape == (1, 1) + size
        assert fastpool.pool_output_shape(x.shape, k, s, pad, op="unpool", output_size=size,
                                          rank=2) == (1, 1) + size
        assert R.unpool_output_size((3, 4), k, s, pad, size) == size
    for size in ((5, 8), (11, 8), (8, 6), (8, 10)):  # exactly ±stride: outside
        with pytest.raises(ValueError, match="output_size"):
            fastpool.max_unpool2d(x, idx, k, s, pad, size)
        with pytest.raises(ValueError, match="output_size"):
            fastpool.pool_output_shape(x.shape, k, s, pad, op="unpool", output_size=size,
                                       rank=2)
        with pytest.raises(ValueError, match="output_size"):
            R.unpool_output_size((3, 4), k, s, pad, size)
        g = np.ones((1, 1) + size)
        with pytest.raises(ValueError, match="output_size"):
            fastpool.max_unpool2d_backward(g, idx, k, s, pad, size)


def test_unpool_full_output_size_channels_last():
    """A full output_size is in the caller's layout, like every other shape argument."""
    x = np.ones((1, 2, 2, 3))                        # (N, H, W, C)
    idx = np.broadcast_to(np.array([0, 6, 18, 24]).reshape(1, 2, 2, 1), x.shape)
    y = fastpool.max_unpool2d(x, idx, 2, output_size=(1, 5, 5, 3), channels_last=True)
    assert y.shape == (1, 5, 5, 3)
    assert np.array_equal(y, fastpool.max_unpool2d(x, idx, 2, output_size=(5, 5),
                                                   channels_last=True))
    assert fastpool.max_unpool2d(x[0], idx[0], 2, output_size=(5, 5, 3),
                                 channels_last=True).shape == (5, 5, 3)
    assert fastpool.pool_output_shape((1, 2, 2, 3), 2, op="unpool", output_size=(1, 5, 5, 3),
                                      channels_last=True) == (1, 5, 5, 3)


@pytest.mark.parametrize("channels_last", [False, True])
def test_unpool_output_size_has_rank_or_full_entries(channels_last):
    """Like PyTorch, a batched input's output_size has ``rank`` or ``rank + 2`` entries:
    (8, 8, 8) for a batched 2-D unpool is neither, and is refused rather than read as
    its last two entries.  An unbatched input's whole shape has ``rank + 1``."""
    x = np.ones((2, 3, 4, 4))
    idx = np.zeros(x.shape, np.int64)
    if channels_last:
        x, idx = np.moveaxis(x, 1, -1), np.moveaxis(idx, 1, -1)
    for bad in ((8, 8, 8), (8,), (2, 3, 8, 8, 1)):
        with pytest.raises(ValueError, match="output_size"):
            fastpool.max_unpool2d(x, idx, 2, output_size=bad, channels_last=channels_last)
        with pytest.raises(ValueError, match="output_size"):
            fastpool.pool_output_shape(x.shape, 2, op="unpool", output_size=bad,
                                       channels_last=channels_last)
    full = (2, 8, 8, 3) if channels_last else (2, 3, 8, 8)
    assert fastpool.max_unpool2d(x, idx, 2, output_size=full,
                                 channels_last=channels_last).shape == full
    one = (8, 8, 3) if channels_last else (3, 8, 8)
    assert fastpool.max_unpool2d(x[0], idx[0], 2, output_size=one,
                                 channels_last=channels_last).shape == one


def test_unpool_asymmetric_padding_default_size():
    x = np.arange(1.0, 4.0).reshape(1, 1, 3)
    idx = np.array([[[0, 2, 4]]])
    # (3-1)*2 - 1 - 0 + 3 = 6
    y = fastpool.max_unpool1d(x, idx, 3, 2, ((1, 0),))
    assert y.tolist() == [[[1.0, 0.0, 2.0, 0.0, 3.0, 0.0]]]
    assert R.max_unpool(x, idx, 3, 2, ((1, 0),)).tolist() == y.tolist()


def test_unpool_inverts_max_pool_and_backward_is_a_gather():
    rng = np.random.default_rng(42)
    x = rng.permutation(2 * 3 * 8 * 6).reshape(2, 3, 8, 6).astype(np.float64)
    p, i = fastpool.max_pool2d(x, 2, return_indices=True)
    u = fastpool.max_unpool2d(p, i, 2)
    assert u.shape == x.shape
    assert np.array_equal(u, np.where(u != 0, x, 0)) and np.count_nonzero(u) == p.size
    g = rng.standard_normal(x.shape)
    dx = fastpool.max_unpool2d_backward(g, i, 2)
    assert np.array_equal(dx, np.take_along_axis(g.reshape(2, 3, -1), i.reshape(2, 3, -1),
                                                 -1).reshape(p.shape))


# --------------------------------------------------------------------------
# Fractional max pooling (SPEC §4.7)


def test_fractional_windows_equal_torch_for_given_samples():
    # I=11, O=4, k=1, u=0.1: alpha = 10/3 and (i+u)*alpha rounds differently in float32
    # and float64, so the windows depend on the dtype, as in PyTorch.
    assert R.fractional_starts(11, 4, 1, 0.1, np.float32).tolist() == [0, 3, 6, 10]
    assert R.fractional_starts(11, 4, 1, 0.1, np.float64).tolist() == [0, 3, 7, 10]
    x = np.arange(11.0).reshape(1, 1, 1, 11)
    for dtype, cols in ((np.float32, [0, 3, 6, 10]), (np.float64, [0, 3, 7, 10])):
        smp = np.array([[[0.1, 0.5]]], dtype)  # (W, H)
        y, i = fastpool.fractional_max_pool2d(x.astype(dtype), (1, 1), (1, 4),
                                              return_indices=True, samples=smp)
        assert i.tolist() == [[[cols]]] and y.tolist() == [[[[float(c) for c in cols]]]]
    # The general rule on a 2-D problem with a sample per plane and axis.
    rng = np.random.default_rng(43)
    x = rng.standard_normal((2, 3, 13, 10)).astype(np.float32)
    smp = rng.random((2, 3, 2)).astype(np.float32)
    smp[0, 0] = (0.0, np.nextafter(np.float32(1), np.float32(0)))
    y, i = fastpool.fractional_max_pool2d(x, (3, 2), (5, 4), return_indices=True, samples=smp)
    yr, ir = R.fractional_max_pool(x, (3, 2), (5, 4), samples=smp)
    assert np.array_equal(y, yr) and np.array_equal(i, ir)
    try:
        import torch
    except ImportError:
        return
    F = torch.nn.functional
    ty, ti = F.fractional_max_pool2d(torch.from_numpy(x), (3, 2), output_size=(5, 4),
                                     return_indices=True, _random_samples=torch.from_numpy(smp))
    assert np.array_equal(ty.numpy(), y) and np.array_equal(ti.numpy(), i)
    for dtype, cols in ((np.float32, [0, 3, 6, 10]), (np.float64, [0, 3, 7, 10])):
        t = torch.from_numpy(np.arange(11.0, dtype=dtype).reshape(1, 1, 1, 11))
        _, ti = F.fractional_max_pool2d(t, 1, output_size=(1, 4), return_indices=True,
                                        _random_samples=torch.tensor([[[0.1, 0.5]]],
                                                                     dtype=t.dtype))
        assert ti.tolist() == [[[cols]]]


def test_fractional_samples_are_in_pytorch_order():
    # 2-D samples are (W, H): a sample moving only the W windows leaves H alone.
    x = np.arange(100.0).reshape(1, 1, 10, 10)
    a = fastpool.fractional_max_pool2d(x, 2, 4, return_indices=True,
                                       samples=np.array([[[0.0, 0.0]]]))[1]
    b = fastpool.fractional_max_pool2d(x, 2, 4, return_indices=True,
                                       samples=np.array([[[0.9, 0.0]]]))[1]
    rows_a, cols_a = np.divmod(a[0, 0], 10)
    rows_b, cols_b = np.divmod(b[0, 0], 10)
    assert np.array_equal(rows_a, rows_b) and not np.array_equal(cols_a, cols_b)
    # 3-D samples are (D, H, W).  (I=10, k=2, O=4: alpha = 8/3 is not an integer, so
    # the sample moves the windows.)
    x3 = np.arange(1000.0).reshape(1, 1, 10, 10, 10)
    base = fastpool.fractional_max_pool3d(x3, 2, 4, return_indices=True,
                                          samples=np.zeros((1, 1, 3)))[1]
    moved = fastpool.fractional_max_pool3d(x3, 2, 4, return_indices=True,
                                           samples=np.array([[[0.9, 0.0, 0.0]]]))[1]
    d0, d1 = base // 100, moved // 100
    assert not np.array_equal(d0, d1) and np.array_equal(base % 100, moved % 100)


def test_fractional_seed_is_reproducible():
    rng = np.random.default_rng(44)
    x = rng.standard_normal((2, 4, 20, 20)).astype(np.float32)
    # O=6: alpha = 18/5 (with O=7 it would be the integer 3, and every sample would
    # give the same windows)
    a = fastpool.fractional_max_pool2d(x, 2, 6, return_indices=True, seed=123)
    b = fastpool.fractional_max_pool2d(x, 2, 6, return_indices=True, seed=123, num_threads=2)
    c = fastpool.fractional_max_pool2d(x, 2, 6, return_indices=True, seed=124)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    # Each output is the value at its index, and the maximum of a 2x2 window holding it.
    flat = x.reshape(2, 4, -1)
    assert np.array_equal(np.take_along_axis(flat, a[1].reshape(2, 4, -1), -1),
                          a[0].reshape(2, 4, -1))
    with pytest.raises(ValueError, match="samples or seed"):
        fastpool.fractional_max_pool2d(x, 2, 6, samples=np.zeros((2, 4, 2)), seed=1)


def test_fractional_output_ratio():
    rng = np.random.default_rng(45)
    x = rng.standard_normal((2, 3, 10, 9))
    smp = rng.random((2, 3, 2))
    # output_size = int(I * ratio): int(10 * 0.5) = 5, int(9 * 0.5) = 4
    y, i = fastpool.fractional_max_pool2d(x, 2, output_ratio=0.5, return_indices=True,
                                          samples=smp)
    y2, i2 = fastpool.fractional_max_pool2d(x, 2, (5, 4), return_indices=True, samples=smp)
    assert y.shape == (2, 3, 5, 4) and np.array_equal(y, y2) and np.array_equal(i, i2)
    assert fastpool.pool_output_shape(x.shape, 2, op="fractional", output_ratio=0.5) == \
        (2, 3, 5, 4)
    y3 = fastpool.fractional_max_pool2d(x, (3, 2), output_ratio=(0.75, 0.4), samples=smp)
    assert y3.shape == (2, 3, 7, 3)
    yr, _ = R.fractional_max_pool(x, (3, 2), output_ratio=(0.75, 0.4), samples=smp)
    assert np.array_equal(y3, yr)
    with pytest.raises(ValueError):
        fastpool.fractional_max_pool2d(x, 2, (5, 4), output_ratio=0.5, samples=smp)
    with pytest.raises(ValueError):
        fastpool.fractional_max_pool2d(x, 2, output_ratio=1.0, samples=smp)


def test_fractional_output_plus_kernel_fills_the_input():
    # O + k - 1 = I: alpha = 1, every window moves by one (the last starts at I - k).
    x = np.arange(6.0).reshape(1, 1, 1, 6)
    y, i = fastpool.fractional_max_pool2d(x, (1, 3), (1, 4), return_indices=True,
                                          samples=np.array([[[0.7, 0.2]]]))
    assert i.tolist() == [[[[2, 3, 4, 5]]]] and y.tolist() == [[[[2.0, 3.0, 4.0, 5.0]]]]
    with pytest.raises(ValueError, match="output_size"):
        fastpool.fractional_max_pool2d(x, (1, 3), (1, 5), samples=np.zeros((1, 1, 2)))


# --------------------------------------------------------------------------
# nan_policy="omit" for every max-type operator (SPEC §4.2)


def test_nan_policy_omit_every_max_operator():
    row = np.array([nan, 2.0, nan, 5.0, 5.0, nan, nan, nan, nan])
    x = row.reshape(1, 1, 9)
    # adaptive 9 -> 3: windows [0,3) [3,6) [6,9)
    y, i = fastpool.adaptive_max_pool1d(x, 3, return_indices=True, nan_policy="omit")
    assert np.array_equal(y, [[[2.0, 5.0, nan]]], equal_nan=True) and i.tolist() == [[[1, 3, 6]]]
    y, i = fastpool.adaptive_max_pool1d(x, 3, return_indices=True)
    assert np.isnan(y).all() and i.tolist() == [[[2, 5, 8]]]
    # global: the first 5.0; all-NaN plane: NaN and index 0
    x2 = np.stack([row, np.full(9, nan)]).reshape(1, 2, 3, 3)
    y, i = fastpool.global_max_pool(x2, return_indices=True, nan_policy="omit")
    assert np.array_equal(y.ravel(), [5.0, nan], equal_nan=True) and i.ravel().tolist() == [3, 0]
    y, i = fastpool.global_max_pool(x2, return_indices=True)
    assert np.isnan(y).all() and i.ravel().tolist() == [8, 8]
    # fractional: windows of 3 starting at 0, 3, 6 (alpha = 3, u = 0)
    xf = row.reshape(1, 1, 1, 9)
    y, i = fastpool.fractional_max_pool2d(xf, (1, 3), (1, 3), return_indices=True,
                                          samples=np.zeros((1, 1, 2)), nan_policy="omit")
    assert np.array_equal(y, [[[[2.0, 5.0, nan]]]], equal_nan=True)
    assert i.tolist() == [[[[1, 3, 6]]]]
    # max_pool itself, for completeness: the same windows.
    y, i = fastpool.max_pool1d(x, 3, return_indices=True, nan_policy="omit")
    assert i.tolist() == [[[1, 3, 6]]]
    # -inf and NaN: the -inf is a number.
    x = np.array([[[nan, -inf, nan]]])
    y, i = fastpool.adaptive_max_pool1d(x, 1, return_indices=True, nan_policy="omit")
    assert y.tolist() == [[[-inf]]] and i.tolist() == [[[1]]]
    with pytest.raises(ValueError, match="nan_policy"):
        fastpool.global_max_pool(x2, nan_policy="skip")


# --------------------------------------------------------------------------
# Index conventions (SPEC §4.6)


def _pooled_indices(shape, k=3, s=2, pad=2, seed=46):
    rank = len(shape) - 2
    x = np.random.default_rng(seed).standard_normal(shape)
    return getattr(fastpool, f"max_pool{rank}d")(x, k, s, pad, return_indices=True)[1]


@pytest.mark.parametrize("storage_order", [0, 1])
@pytest.mark.parametrize("shape", [(2, 3, 11), (2, 3, 7, 6), (1, 2, 5, 4, 6)])
def test_convert_indices_round_trip_torch_onnx_torch(shape, storage_order):
    idx = _pooled_indices(shape, pad=3)
    assert (idx == -1).any()
    onnx = fastpool.convert_indices(idx, shape, "torch", "onnx", storage_order)
    assert onnx.dtype == np.int64 and onnx.shape == idx.shape
    assert np.array_equal(onnx == -1, idx == -1)
    assert np.array_equal(fastpool.convert_indices(onnx, shape, "onnx", "torch", storage_order),
                          idx)
    # ONNX storage_order 0: flat over the whole (N, C, *spatial) tensor.
    if storage_order == 0:
        n, c = np.indices(idx.shape)[:2]
        plane = math.prod(shape[2:])
        assert np.array_equal(onnx, np.where(idx < 0, -1, (n * shape[1] + c) * plane + idx))


@pytest.mark.parametrize("include_batch", [False, True])
@pytest.mark.parametrize("shape", [(2, 3, 11), (2, 3, 7, 6), (2, 2, 5, 4, 6)])
def test_convert_indices_round_trip_torch_tf_torch(shape, include_batch):
    idx = _pooled_indices(shape)
    tf = fastpool.convert_indices(idx, shape, "torch", "tf", include_batch=include_batch)
    back = fastpool.convert_indices(tf, shape, "tf", "torch", include_batch=include_batch)
    assert np.array_equal(back, idx)
    # TensorFlow's formula, (y*W + x)*C + c (+ n*H*W*C), by hand.
    n, c = np.indices(idx.shape)[:2]
    C, P = shape[1], math.prod(shape[2:])
    expected = idx * C + c + (n * P * C if include_batch else 0)
    assert np.array_equal(tf, np.where(idx < 0, -1, expected))
    # ONNX <-> TF directly, through PyTorch's convention.
    onnx = fastpool.convert_indices(idx, shape, "torch", "onnx")
    assert np.array_equal(fastpool.convert_indices(onnx, shape, "onnx", "tf",
                                                   include_batch=include_batch), tf)


def test_convert_indices_onnx_storage_order_1_is_column_major():
    N, C, H, W = 2, 3, 4, 5
    idx = np.array([[[[0, 4, 7, 19]]] * C] * N)        # (N, C, 1, 4): torch h*W + w
    h, w = np.divmod(idx, W)
    n, c = np.indices(idx.shape)[:2]
    expected = (n * C + c) * H * W + w * H + h       # ONNX Runtime: first spatial axis fastest
    got = fastpool.convert_indices(idx, (N, C, H, W), "torch", "onnx", storage_order=1)
    assert np.array_equal(got, expected)
    assert got[0, 0, 0].tolist() == [0, 16, 9, 19]    # (0,0) (0,4) (1,2) (3,4)
    assert np.array_equal(fastpool.convert_indices(expected, (N, C, H, W), "onnx", "torch",
                                                   storage_order=1), idx)
    # 3-D: d + h*D + w*D*H.
    D, H3, W3 = 2, 3, 4
    p = np.array([[[[[23]]]]])                       # d=1, h=2, w=3
    assert fastpool.convert_indices(p, (1, 1, D, H3, W3), "torch", "onnx", 1).item() == \
        1 + 2 * D + 3 * D * H3


def test_convert_indices_channels_last():
    shape = (2, 3, 7, 6)
    idx = _pooled_indices(shape)
    to_h = lambda a: np.ascontiguousarray(np.moveaxis(a, 1, -1))
    shape_h = (2, 7, 6, 3)
    for target, kw in (("onnx", {"storage_order": 1}), ("tf", {"include_batch": True})):
        nchw = fastpool.convert_indices(idx, shape, "torch", target, **kw)
        nhwc = fastpool.convert_indices(to_h(idx), shape_h, "torch", target, channels_last=True,
                                        **kw)
        assert np.array_equal(nhwc, to_h(nchw))
        assert np.array_equal(nchw, R.convert_indices(idx, shape, "torch", target, **kw))


# --------------------------------------------------------------------------
# Output shapes of every family


def test_pool_output_shape_every_family():
    shape = (2, 3, 10, 9)
    assert fastpool.pool_output_shape(shape, 3, 2, 1, op="lp") == (2, 3, 5, 5)
    assert fastpool.pool_output_shape(shape, 3, 2, 1, ceil_mode=True, op="avg") == (2, 3, 6, 5)
    assert fastpool.pool_output_shape(shape, op="adaptive", output_size=(4, None)) == \
        (2, 3, 4, 9)
    assert fastpool.pool_output_shape(shape, op="global") == (2, 3, 1, 1)
    assert fastpool.pool_output_shape(shape, 2, op="unpool") == (2, 3, 20, 18)
    assert fastpool.pool_output_shape(shape, 3, 2, 1, op="unpool") == (2, 3, 19, 17)
    assert fastpool.pool_output_shape(shape, 3, op="fractional", output_size=4) == (2, 3, 4, 4)
    assert fastpool.pool_output_shape(shape, 2, op="fractional", output_ratio=(0.5, 0.7)) == \
        (2, 3, 5, 6)
    # channels_last and unbatched
    assert fastpool.pool_output_shape((2, 10, 9, 3), op="adaptive", output_size=4,
                                      channels_last=True) == (2, 4, 4, 3)
    assert fastpool.pool_output_shape((3, 10, 9), 2, op="unpool", rank=2) == (3, 20, 18)
    for op, kw in (("lp", {"kernel_size": 3}), ("adaptive", {"output_size": (4, None)}),
                   ("global", {}), ("unpool", {"kernel_size": 2}),
                   ("fractional", {"kernel_size": 2, "output_ratio": 0.5})):
        assert fastpool.pool_output_shape(shape, op=op, **kw) == \
            R.pool_output_shape(shape, op=op, **kw)
