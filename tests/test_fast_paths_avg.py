"""The vectorised fast paths of the averaging, adaptive, global and Lp kernels.

Each case is chosen to land on (or just beside) one fast path: plane lengths and
row widths around the 8- and 16-lane vector widths, the 14->7 / 15->7 adaptive
maps, NHWC channel counts that are no multiple of a vector, padding and divisor
options next to the padding-free fast paths, NaN / inf / -0.0, float32 and float64.
Values are compared with ``fastpool.reference``: exactly for max (values, signs of
zero, NaN positions), within ``strategies.assert_close_sum`` for sums.  Where a
strided copy of the same input takes the general kernel, the fast path must give
the same bits as that kernel, and every result must be bit-identical at 1 and 2
threads.
"""

from __future__ import annotations

import numpy as np
import pytest
import strategies as S

fastpool = pytest.importorskip("fastpool")
R = fastpool.reference

DTYPES = (np.float32, np.float64)


def _data(shape, dtype, seed, specials=True):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    if specials and x.size > 20:
        flat = x.reshape(-1)
        flat[3] = np.nan
        flat[x.size // 2] = np.inf
        flat[x.size // 3] = -np.inf
        flat[x.size - 2] = np.nan
        flat[7] = -0.0
    return x


def _strided(x):
    """The same logical array in memory the fast paths refuse (W stride 2)."""
    big = np.empty(x.shape[:-1] + (2 * x.shape[-1],), x.dtype)
    big[..., ::2] = x
    return big[..., ::2]


def _same_bits(a, b):
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def _threads_agree(fn):
    one = fn(1)
    two = fn(2)
    if isinstance(one, tuple):
        for u, v in zip(one, two):
            _same_bits(u, v)
    else:
        _same_bits(one, two)
    return one


def _close_sum(y, ref, taps, x):
    S.assert_close_sum(y, ref, taps, S.finite_max_abs(x))


# --------------------------------------------------------------------------
# global average: short planes summed with vector lanes


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("plane", [(1, 1), (1, 7), (1, 8), (3, 3), (1, 15), (4, 4), (1, 17),
                                   (7, 7), (5, 5), (2, 12), (3, 11), (8, 8), (1, 33),
                                   (31, 31)])
def test_global_avg_plane_sizes(dtype, plane):
    x = _data((3, 37) + plane, dtype, seed=plane[0] * 100 + plane[1])
    y = _threads_agree(lambda t: fastpool.global_avg_pool(x, num_threads=t))
    ref = R.global_avg_pool(x)
    _close_sum(y, ref, plane[0] * plane[1], x)
    _same_bits(y, _threads_agree(lambda t: fastpool.global_avg_pool(x, num_threads=t)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spatial", [(49,), (3, 3, 3), (2, 5, 5)])
def test_global_avg_ranks_and_bulk(dtype, spatial):
    x = _data((64, 200) + spatial, dtype, seed=len(spatial))
    y = _threads_agree(lambda t: fastpool.global_avg_pool(x, num_threads=t))
    _close_sum(y, R.global_avg_pool(x), int(np.prod(spatial)), x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_avg_large_values_no_cancellation_loss(dtype):
    # float64 accumulation: 1e8 + many small ones must keep the small ones
    x = np.full((2, 3, 7, 7), 1.0, dtype)
    x[..., 0, 0] = 1e8 if dtype == np.float64 else 1e6
    y = fastpool.global_avg_pool(x)
    ref = R.global_avg_pool(x)
    _close_sum(y, ref, 49, x)


# --------------------------------------------------------------------------
# average pooling of short rows (W-span <= 16): k in {1, 2, 3}, s in {1, 2}


def _avg_case(shape, k, s, dtype, seed, **kw):
    x = _data(shape, dtype, seed)
    y = _threads_agree(lambda t: fastpool.avg_pool2d(x, k, s, num_threads=t, **kw))
    ref = R.avg_pool(x, k, s, **kw)
    return x, y, ref


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,s", [((2, 2), 2), ((3, 3), 2), ((2, 2), 1), ((3, 3), 1),
                                 ((1, 1), 2), ((1, 3), 1), ((3, 1), 2), ((4, 2), (3, 2))])
@pytest.mark.parametrize("w", [3, 5, 7, 8, 9, 14, 15, 16, 17])
def test_avg_short_rows(dtype, k, s, w):
    kh, kw_ = k
    if w < kw_:
        pytest.skip("kernel wider than the row")
    x, y, ref = _avg_case((2, 5, 9, w), k, s, dtype, seed=w * 10 + kh)
    _close_sum(y, ref, kh * kw_, x)
    # the general kernel (strided input) gives the same bits
    _same_bits(y, fastpool.avg_pool2d(_strided(x), k, s))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", [{"padding": 1}, {"padding": 1, "count_include_pad": False},
                                {"divisor_override": 3}, {"ceil_mode": True},
                                {"padding": ((0, 1), (1, 0))}, {"dilation": 2}])
def test_avg_short_rows_options(dtype, kw):
    for w in (7, 14, 15, 16):
        x, y, ref = _avg_case((3, 4, 11, w), 3, 2, dtype, seed=w, **kw)
        _close_sum(y, ref, 9 * (kw.get("divisor_override") or 1), x)
        _same_bits(y, fastpool.avg_pool2d(_strided(x), 3, 2, **kw))


@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_short_rows_at_buffer_end_and_tiny_batches(dtype):
    # the last rows of the input cannot read 16 cells past their start
    for shape in [(1, 1, 2, 5), (1, 1, 3, 14), (1, 2, 14, 14), (1, 1, 15, 15), (3, 1, 4, 9)]:
        x, y, ref = _avg_case(shape, 2, 2, dtype, seed=sum(shape))
        _close_sum(y, ref, 4, x)
        _same_bits(y, fastpool.avg_pool2d(_strided(x), 2, 2))
    # unbatched (C, H, W), and an out= buffer whose neighbours must survive
    x = _data((6, 14, 14), dtype, seed=4)
    y = fastpool.avg_pool2d(x, 2, 2)
    _close_sum(y, R.avg_pool(x, (2, 2), (2, 2)), 4, x)
    buf = np.full((2, 6, 7, 7), 777, dtype)
    fastpool.avg_pool2d(x, 2, 2, out=buf[0])
    assert np.all(buf[1] == 777)
    _same_bits(buf[0], y)


# --------------------------------------------------------------------------
# adaptive average / max: 14 -> 7 (k 2, s 2) and 15 -> 7 (k 3, s 2) among others


ADAPTIVE = [((14, 14), 7), ((15, 15), 7), ((16, 16), 8), ((9, 9), 3), ((16, 16), 16),
            ((12, 12), 6), ((14, 9), (7, 3)), ((32, 32), 16), ((8, 8), 1), ((7, 7), 7),
            ((17, 17), 8), ((13, 13), 6)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spatial,osz", ADAPTIVE)
def test_adaptive_avg_fast(dtype, spatial, osz):
    x = _data((3, 9) + spatial, dtype, seed=spatial[0] * 7 + spatial[1])
    y = _threads_agree(lambda t: fastpool.adaptive_avg_pool2d(x, osz, num_threads=t))
    o = osz if isinstance(osz, tuple) else (osz, osz)
    taps = max(-(-a // b) + 1 for a, b in zip(spatial, o)) ** 2
    _close_sum(y, R.adaptive_avg_pool(x, o), taps, x)
    if o != (1, 1):  # a global mean of a flat plane is summed in its own order
        _same_bits(y, fastpool.adaptive_avg_pool2d(_strided(x), osz))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spatial,osz", ADAPTIVE)
def test_adaptive_max_fast(dtype, spatial, osz):
    x = _data((3, 9) + spatial, dtype, seed=spatial[0] * 5 + spatial[1])
    # ties, among them -0.0 before +0.0 and +0.0 before -0.0 in one window
    x.reshape(-1)[20:24] = [-0.0, 0.0, 0.0, -0.0]
    x[1, 2] = np.round(x[1, 2])
    o = osz if isinstance(osz, tuple) else (osz, osz)
    y = _threads_agree(lambda t: fastpool.adaptive_max_pool2d(x, osz, num_threads=t))
    ref, ref_idx = R.adaptive_max_pool(x, o)
    assert np.array_equal(y, ref, equal_nan=True)
    # bit for bit the cell the reference selects (its first maximum, last NaN):
    # signs of zero included
    planes = x.reshape(x.shape[:2] + (-1,))
    picked = np.take_along_axis(planes, ref_idx.reshape(ref_idx.shape[:2] + (-1,)), axis=-1)
    _same_bits(y, picked.reshape(y.shape))
    _same_bits(y, fastpool.adaptive_max_pool2d(_strided(x), osz))
    # with indices the results agree too
    y2, idx = fastpool.adaptive_max_pool2d(x, osz, return_indices=True)
    _same_bits(y2, y)
    assert np.array_equal(idx, ref_idx)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive_max_all_nan_and_inf_rows(dtype):
    x = np.full((2, 3, 14, 14), np.nan, dtype)
    x[0, 0] = -np.inf
    x[0, 1, ::2, ::2] = np.inf
    x[1, 2] = _data((14, 14), dtype, seed=9, specials=False)
    y = fastpool.adaptive_max_pool2d(x, 7)
    ref, _ = R.adaptive_max_pool(x, (7, 7))
    assert np.array_equal(y, ref, equal_nan=True)
    y = fastpool.adaptive_max_pool2d(x, 7, nan_policy="omit")
    ref, _ = R.adaptive_max_pool(x, (7, 7), nan_policy="omit")
    assert np.array_equal(y, ref, equal_nan=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive_max_out_buffer_neighbours(dtype):
    x = _data((5, 14, 14), dtype, seed=3)
    buf = np.full((2, 5, 7, 7), 555, dtype)
    fastpool.adaptive_max_pool2d(x, 7, out=buf[1])
    assert np.all(buf[0] == 555)
    assert np.array_equal(buf[1], R.adaptive_max_pool(x, (7, 7))[0], equal_nan=True)


# --------------------------------------------------------------------------
# Lp pooling: row kernel with p = 1, 2, integer p (products), inf and pow paths


LP_P = [1, 2, 3, 4, 7, 16, 17, 1.5, 2.5, 0.5, np.inf]


def _lp_check(x, p, k, s, **kw):
    y = _threads_agree(lambda t: fastpool.lp_pool2d(x, p, k, s, num_threads=t, **kw))
    ref = R.lp_pool(x, p, k, s, **kw)
    taps = int(np.prod(np.broadcast_to(k, (2,))))
    rtol = S.lp_rtol(x.dtype, taps, p)
    S.assert_close_bound(y, ref, rtol * np.abs(ref.astype(np.float64)), f"p={p} {kw}")
    return y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", LP_P)
@pytest.mark.parametrize("w", [7, 8, 9, 16, 17, 33])
def test_lp_rows(dtype, p, w):
    # scaled so that |x|^17 stays finite in float32's float64 accumulation
    x = _data((2, 3, 10, w), dtype, seed=w) * dtype(0.7)
    y = _lp_check(x, p, 3, 2)
    ys = _lp_check(_strided(x), p, 3, 2)
    if p in (1, np.inf):  # sums and maxima only (products may be fused differently)
        _same_bits(y, ys)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [1, 2, 3, 1.5, np.inf])
@pytest.mark.parametrize("kw", [{"padding": 1}, {"ceil_mode": True}, {"dilation": 2},
                                {"padding": ((2, 0), (0, 2))}, {}])
def test_lp_borders_and_options(dtype, p, kw):
    x = _data((2, 4, 11, 13), dtype, seed=5)
    y = _lp_check(x, p, 3, 2, **kw)
    ys = _lp_check(_strided(x), p, 3, 2, **kw)
    if p in (1, np.inf):
        _same_bits(y, ys)
    _lp_check(x, p, (2, 3), 1, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [1, 2, 4, 2.5, np.inf])
@pytest.mark.parametrize("c", [1, 3, 8, 17])
def test_lp_channels_last(dtype, p, c):
    x = _data((2, 12, 9, c), dtype, seed=c)
    y = _threads_agree(lambda t: fastpool.lp_pool2d(x, p, 3, 2, channels_last=True,
                                                    num_threads=t))
    xl = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    ref = R.lp_pool(xl, p, 3, 2).transpose(0, 2, 3, 1)
    S.assert_close_bound(y, ref, S.lp_rtol(x.dtype, 9, p) * np.abs(ref.astype(np.float64)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [2, 3, np.inf])
def test_lp_window_wholly_in_padding_and_global(dtype, p):
    x = _data((1, 2, 4, 4), dtype, seed=1, specials=False)
    y = fastpool.lp_pool2d(x, p, 2, 3, padding=((3, 0), (0, 0)))
    ref = R.lp_pool(x, p, 2, 3, padding=((3, 0), (0, 0)))
    assert np.array_equal(y, ref)
    g = fastpool.global_lp_pool(_data((2, 5, 7, 7), dtype, seed=2), p)
    gr = R.global_lp_pool(_data((2, 5, 7, 7), dtype, seed=2), p)
    S.assert_close_bound(g, gr, S.lp_rtol(dtype, 49, p) * np.abs(gr.astype(np.float64)))


# --------------------------------------------------------------------------
# channels-last average pooling: 8 channels per vector, a scalar tail


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c", [2, 3, 7, 8, 9, 15, 16, 17, 64, 65])
@pytest.mark.parametrize("k,s,kw", [(2, 2, {}), (3, 2, {"padding": 1}),
                                    (3, 2, {"padding": 1, "count_include_pad": False}),
                                    (3, 1, {"divisor_override": 5}),
                                    (6, 2, {"padding": 2, "ceil_mode": True}),
                                    (3, 2, {"padding": ((3, 0), (0, 1))})])
def test_avg_channels_last(dtype, c, k, s, kw):
    x = _data((2, 9, 10, c), dtype, seed=c * 3 + k)
    y = _threads_agree(lambda t: fastpool.avg_pool2d(x, k, s, channels_last=True,
                                                     num_threads=t, **kw))
    xl = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    ref = R.avg_pool(xl, k, s, **kw).transpose(0, 2, 3, 1)
    _close_sum(y, ref, k * k * (kw.get("divisor_override") or 1), x)
    # the same logical input in NCHW memory takes the row kernel: the same bits
    _same_bits(y, fastpool.avg_pool2d(xl, k, s, **kw).transpose(0, 2, 3, 1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("w", [18, 32, 33, 47, 112])
@pytest.mark.parametrize("kw", [{}, {"divisor_override": 2}, {"divisor_override": 8},
                                {"divisor_override": 3}, {"padding": 1}])
def test_avg_wide_rows_2x2(dtype, w, kw):
    # 8 outputs per vector step, a divisor that is a power of two multiplied
    x = _data((2, 3, 6, w), dtype, seed=w)
    x[0, 0, :2, :4] = -0.0
    y = _threads_agree(lambda t: fastpool.avg_pool2d(x, 2, 2, num_threads=t, **kw))
    _close_sum(y, R.avg_pool(x, 2, 2, **kw), 4 * (kw.get("divisor_override") or 1), x)
    # the per-output kernel's bits, -0.0 windows (a sum from +0.0) included
    _same_bits(y, fastpool.avg_pool2d(_strided(x), 2, 2, **kw))
