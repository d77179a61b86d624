"""Stochastic, median and mixed pooling (SPEC §4.8–4.10) against fastpool.reference,
their semantic traps by name, gradients by central differences, thread-count
independence, and every class of bad argument.

Selections (stochastic training values and indices, median values and indices,
the max half of mixed pooling) are compared exactly; sums (stochastic inference,
gradients, dalpha) within a dtype-aware tolerance.  Mixed pooling is also held
bit for bit to fastpool's own max_pool2d and avg_pool2d.
"""

import math
import re

import numpy as np
import pytest
import strategies as S
from hypothesis import given, settings
from hypothesis import strategies as st

fastpool = pytest.importorskip("fastpool")
R = S.reference

FLOATS = (np.float32, np.float64)
INTS = (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.int64)


# --------------------------------------------------------------------------
# Helpers


def _with_values(case, logical):
    """The case with new logical values, stored in the case's layout and memory
    (strategies.arrange fills the gaps of "step2" with -7: not for unsigned)."""
    if logical.dtype.kind == "u" and case.memory == "step2":
        case.memory = "negative"
    case.logical = np.ascontiguousarray(logical)
    case.x = S.arrange(case.to_user(case.logical), case.memory, case.batched,
                       case.channels_last)
    return case


def _geo(case):
    return {"kernel_size": case.kernel_size, "stride": case.stride, "padding": case.padding,
            "dilation": case.dilation, "ceil_mode": case.ceil_mode}


def _fast(case, **kw):
    return {**_geo(case), "channels_last": case.channels_last,
            "num_threads": case.num_threads, **kw}


def _ref(case, **kw):
    return {**_geo(case), "rank": 2, **kw}


def _garbage_out(shape, dtype, case):
    return S.arrange(np.full(shape, 77, dtype=dtype), case.memory, case.batched,
                     case.channels_last)


def _nonnegative(rng, shape, dtype, kind):
    """Values stochastic pooling accepts: finite and >= 0, of several kinds."""
    if kind == "uniform":
        a = rng.random(shape)
    elif kind == "zeros":  # many zeros, so all-zero windows occur
        a = rng.random(shape) * (rng.random(shape) < 0.2)
    elif kind == "ties":
        a = rng.integers(0, 3, size=shape).astype(np.float64)
    else:  # "wide"
        a = rng.random(shape) * 10.0 ** rng.integers(-3, 4, size=shape)
    return a.astype(dtype)


@st.composite
def stochastic_cases(draw, dtypes=FLOATS, threads=(None, 1, 2)):
    case = draw(S.pool_cases("max", ranks=(2,), dtypes=dtypes, specials=False,
                             threads=threads, nan_policies=("propagate",)))
    kind = draw(st.sampled_from(("uniform", "zeros", "ties", "wide")))
    rng = np.random.default_rng(case.seed)
    case.values = kind
    return _with_values(case, _nonnegative(rng, case.logical.shape, case.dtype, kind))


@st.composite
def median_cases(draw, dtypes=FLOATS + (np.float16,), specials=True):
    case = draw(S.pool_cases("max", ranks=(2,), dtypes=(np.float32,), specials=specials,
                             nan_policies=("propagate",)))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    if dtype.kind == "f":
        logical = case.logical.astype(dtype)
    else:
        rng = np.random.default_rng(case.seed)
        info = np.iinfo(dtype)
        if draw(st.booleans()):  # ties
            logical = rng.integers(max(info.min, -3), 4, size=case.logical.shape)
        else:
            logical = rng.integers(info.min, info.max, size=case.logical.shape,
                                   endpoint=True)
        logical = logical.astype(dtype)
    return _with_values(case, logical)


def _msg(name, arg):
    return rf"^{re.escape(name)}: .*{re.escape(arg)}"


# --------------------------------------------------------------------------
# Stochastic pooling (SPEC §4.8)


@settings(max_examples=60)
@given(stochastic_cases(dtypes=FLOATS + (np.float16,)), st.integers(0, 2**64 - 1),
       st.sampled_from((np.int64, np.int32)), st.booleans())
def test_stochastic_training_matches_reference(case, seed, index_dtype, use_out):
    y_ref, i_ref = R.stochastic_pool(case.logical, **_ref(case), seed=seed)
    kw = _fast(case, seed=seed, return_indices=True, index_dtype=index_dtype)
    if use_out:
        shape = case.to_user(y_ref).shape
        kw["out"] = _garbage_out(shape, case.dtype, case)
        kw["indices_out"] = _garbage_out(shape, index_dtype, case)
    y, idx = fastpool.stochastic_pool2d(case.x, **kw)
    assert np.array_equal(y, case.to_user(y_ref)), case.describe()
    assert np.array_equal(idx, case.to_user(i_ref)), case.describe()
    assert idx.dtype == index_dtype
    if use_out:
        assert y is kw["out"] and idx is kw["indices_out"]


@settings(max_examples=50)
@given(stochastic_cases(dtypes=FLOATS + (np.float16,)))
def test_stochastic_inference_matches_reference(case):
    expected = case.to_user(R.stochastic_pool(case.logical, **_ref(case), training=False))
    y = fastpool.stochastic_pool2d(case.x, **_fast(case, training=False))
    S.assert_close_sum(y, expected, case.geometry.taps, S.finite_max_abs(expected),
                       case.describe())


@settings(max_examples=40)
@given(stochastic_cases(), st.integers(0, 2**64 - 1), st.sampled_from(S.MEMORY))
def test_stochastic_training_backward_routes_dy_to_the_indices(case, seed, grad_memory):
    y, idx = fastpool.stochastic_pool2d(case.x, **_fast(case, seed=seed, return_indices=True))
    g = case.grad(case.to_logical(y).shape)
    expected = R.max_pool_backward(g, case.to_logical(idx), case.logical.shape, rank=2)
    gu = S.arrange(case.to_user(g), grad_memory, case.batched, case.channels_last)
    dx = fastpool.stochastic_pool2d_backward(gu, idx, case.x.shape,
                                             channels_last=case.channels_last,
                                             num_threads=case.num_threads)
    cover = math.prod(math.ceil(k / s) for k, s in zip(case.geometry.kernel,
                                                        case.geometry.stride))
    S.assert_close_sum(dx, case.to_user(expected), cover, S.finite_max_abs(g), case.describe())


@settings(max_examples=40)
@given(stochastic_cases(), st.booleans())
def test_stochastic_inference_backward_matches_reference(case, use_out):
    y = R.stochastic_pool(case.logical, **_ref(case), training=False)
    g = case.grad(y.shape)
    expected = case.to_user(R.stochastic_pool_backward(g, case.logical, **_ref(case)))
    kw = _fast(case, training=False)
    if use_out:
        kw["out"] = _garbage_out(case.x.shape, case.dtype, case)
    dx = fastpool.stochastic_pool2d_backward(case.to_user(g), case.x, **kw)
    if use_out:
        assert dx is kw["out"]
    # each term is dy * (2 a_j S1 - S2) / S1^2, of size up to 2|dy| * max(a)/S1 ...
    terms = case.geometry.taps * math.prod(math.ceil(k * d / s) for k, d, s in zip(
        case.geometry.kernel, case.geometry.dilation, case.geometry.stride))
    bound = 16 * S.eps(case.dtype) * terms * (np.abs(expected) + S.finite_max_abs(g))
    S.assert_close_bound(dx, expected, bound, case.describe())


def test_stochastic_reference_generator_is_splitmix64():
    """The published SplitMix64 outputs for state 0: F(0), F(gamma), F(2 gamma)."""
    gamma = 0x9E3779B97F4A7C15
    out = R.splitmix64([0, gamma, (2 * gamma) % 2**64])
    assert [int(v) for v in out] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4,
                                     0x06C45D188009454F]
    u = R.stochastic_uniforms(3, 2, 3, (4, 5))
    assert u.shape == (2, 3, 4, 5) and np.all((u > 0) & (u < 1))
    assert len(np.unique(u)) == u.size


def test_stochastic_same_seed_same_result_for_1_and_2_threads():
    """Large enough for the parallel path; also NCHW vs NHWC and repeated calls."""
    rng = np.random.default_rng(5)
    x = rng.random((4, 16, 33, 34)).astype(np.float32)
    kw = {"kernel_size": 3, "stride": 2, "padding": 1, "seed": 2**63 + 11,
          "return_indices": True}
    y1, i1 = fastpool.stochastic_pool2d(x, **kw, num_threads=1)
    y2, i2 = fastpool.stochastic_pool2d(x, **kw, num_threads=2)
    y3, i3 = fastpool.stochastic_pool2d(x, **kw, num_threads=2)
    assert np.array_equal(y1, y2) and np.array_equal(i1, i2)
    assert np.array_equal(y2, y3) and np.array_equal(i2, i3)
    xl = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    yc, ic = fastpool.stochastic_pool2d(xl, **kw, channels_last=True, num_threads=2)
    assert np.array_equal(np.moveaxis(yc, -1, 1), y1)
    assert np.array_equal(np.moveaxis(ic, -1, 1), i1)
    other, _ = fastpool.stochastic_pool2d(x, **{**kw, "seed": 12}, num_threads=2)
    assert not np.array_equal(other, y1)


def test_stochastic_seed_none_draws_a_fresh_seed_each_call():
    x = np.random.default_rng(1).random((2, 8, 32, 32))
    a = fastpool.stochastic_pool2d(x, 2, return_indices=True)[1]
    b = fastpool.stochastic_pool2d(x, 2, return_indices=True)[1]
    assert not np.array_equal(a, b)


def test_stochastic_sampling_frequencies_follow_the_activations():
    """25000 windows of 5 taps holding 0, 1, 2, 3, 4 in shuffled order: value v must
    be picked with probability v/10 (a chi-square bound, fixed seed so the test is
    deterministic), and 0 never.  A uniform sampler over the non-zero cells gives a
    statistic near 7400, an argmax sampler one near 10**5; the bound is 40."""
    rng = np.random.default_rng(0)
    n_win = 25000
    vals = np.argsort(rng.random((n_win, 5)), axis=1).astype(np.float64)  # permutations
    x = vals.reshape(2, 5, 50, 50 * 5)
    y = fastpool.stochastic_pool2d(x, (1, 5), seed=2024)
    counts = np.array([np.count_nonzero(y == v) for v in range(5)])
    assert counts.sum() == n_win and counts[0] == 0
    expected = n_win * np.arange(1, 5) / 10
    chi2 = float(np.sum((counts[1:] - expected) ** 2 / expected))
    assert chi2 < 40, (counts, chi2)


def test_stochastic_all_zero_window_picks_its_first_valid_cell():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 2:, 2:] = [[0, 5], [1, 0]]
    y, idx = fastpool.stochastic_pool2d(x, 3, 2, padding=1, seed=9, return_indices=True)
    # window (0, 0) covers rows/cols -1..1: its first valid cell is (0, 0)
    assert idx[0, 0, 0, 0] == 0 and y[0, 0, 0, 0] == 0
    # window (0, 1) covers rows -1..1, cols 1..3: first valid cell (0, 1)
    assert idx[0, 0, 0, 1] == 1
    # window (1, 1) holds 5 and 1 besides zeros: never a zero cell
    assert x[0, 0].flat[idx[0, 0, 1, 1]] > 0


def test_stochastic_zero_cells_are_never_picked():
    rng = np.random.default_rng(3)
    x = rng.random((3, 4, 40, 40)) * (rng.random((3, 4, 40, 40)) < 0.3)
    for seed in range(5):
        y, _ = fastpool.stochastic_pool2d(x, 4, seed=seed, return_indices=True)
        window_sums = fastpool.avg_pool2d(x, 4) * 16
        assert np.all((y > 0) == (window_sums > 0))


def test_stochastic_window_wholly_in_padding_gives_zero_and_index_minus_one():
    x = np.ones((1, 2, 3, 3), dtype=np.float32)
    y, idx = fastpool.stochastic_pool2d(x, 2, 2, padding=((3, 0), (0, 0)), seed=1,
                                        return_indices=True)
    assert np.all(y[:, :, 0] == 0) and np.all(idx[:, :, 0] == -1)
    dx = fastpool.stochastic_pool2d_backward(np.ones_like(y), idx, x.shape)
    assert dx.sum() == np.count_nonzero(idx >= 0)


@pytest.mark.parametrize("bad", [-1.0, -0.0001, np.nan, np.inf])
@pytest.mark.parametrize("training", [True, False])
def test_stochastic_rejects_values_outside_its_domain(bad, training):
    x = np.ones((1, 2, 4, 4))
    x[0, 1, 2, 3] = bad
    out = np.full((1, 2, 2, 2), 5.0)
    with pytest.raises(ValueError, match=r"^stochastic_pool2d: x must be finite and >= 0.*"
                                         r"x\[0, 1, 2, 3\]"):
        fastpool.stochastic_pool2d(x, 2, training=training, seed=1, out=out)
    assert np.all(out == 5.0)
    if not training:
        dx_out = np.full(x.shape, 5.0)
        with pytest.raises(ValueError, match=r"^stochastic_pool2d_backward: x must be finite"):
            fastpool.stochastic_pool2d_backward(np.ones((1, 2, 2, 2)), x, 2, training=False,
                                                out=dx_out)
        assert np.all(dx_out == 5.0)


def test_stochastic_negative_zero_is_accepted():
    x = np.full((1, 1, 2, 2), -0.0)
    _, idx = fastpool.stochastic_pool2d(x, 2, seed=0, return_indices=True)
    assert idx[0, 0, 0, 0] == 0


def test_stochastic_inference_gradient_is_zero_for_all_zero_windows():
    """sum(a**2)/sum(a) is not differentiable at a = 0; its windows contribute 0."""
    x = np.zeros((1, 1, 2, 4))
    x[0, 0, :, 2:] = [[1.0, 2.0], [3.0, 0.0]]
    dx = fastpool.stochastic_pool2d_backward(np.ones((1, 1, 1, 2)), x, 2, training=False)
    assert np.all(dx[..., :2] == 0)
    # the other window: (2 a_j S1 - S2) / S1^2 with S1 = 6, S2 = 14
    assert np.allclose(dx[0, 0, :, 2:], (2 * x[0, 0, :, 2:] * 6 - 14) / 36)


def test_stochastic_inference_is_sum_of_squares_over_sum():
    x = np.array([[[[1.0, 2.0], [3.0, 0.0]]]])
    assert fastpool.stochastic_pool2d(x, 2, training=False)[0, 0, 0, 0] == 14.0 / 6.0
    assert fastpool.stochastic_pool2d(np.zeros((1, 1, 2, 2)), 2, training=False)[0, 0] == 0
    with pytest.raises(ValueError, match="^stochastic_pool2d: return_indices"):
        fastpool.stochastic_pool2d(x, 2, training=False, return_indices=True)


# --------------------------------------------------------------------------
# Median pooling (SPEC §4.9)


EVENS = ("lower", "upper", "mean")


@settings(max_examples=80)
@given(median_cases(dtypes=FLOATS + (np.float16,) + INTS), st.sampled_from(EVENS),
       st.booleans())
def test_median_forward_matches_reference(case, even, use_out):
    y_ref, i_ref = R.median_pool(case.logical, **_ref(case), even=even)
    want_idx = even != "mean"
    kw = _fast(case, even=even, return_indices=want_idx)
    if use_out:
        shape = case.to_user(y_ref).shape
        kw["out"] = _garbage_out(shape, y_ref.dtype, case)
        if want_idx:
            kw["indices_out"] = _garbage_out(shape, np.int64, case)
    res = fastpool.median_pool2d(case.x, **kw)
    y, idx = res if want_idx else (res, None)
    assert y.dtype == y_ref.dtype
    assert np.array_equal(y, case.to_user(y_ref), equal_nan=True), case.describe()
    # the same bits: the sign of zero is that of the indexed cell
    assert np.array_equal(np.signbit(y), np.signbit(case.to_user(y_ref))), case.describe()
    if want_idx:
        assert np.array_equal(idx, case.to_user(i_ref)), case.describe()
    if use_out:
        assert y is kw["out"]


@pytest.mark.parametrize("even", EVENS)
def test_median_even_windows_in_all_three_conventions(even):
    """2x2 windows without padding: lower is sorted[1], upper sorted[2] (SciPy's
    rank filter, rank 2), mean is np.median; computed here with np.sort."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 8, 6))
    w = x.reshape(2, 3, 4, 2, 3, 2).transpose(0, 1, 2, 4, 3, 5).reshape(2, 3, 4, 3, 4)
    srt = np.sort(w, axis=-1)
    expected = {"lower": srt[..., 1], "upper": srt[..., 2], "mean": np.median(w, axis=-1)}
    y = fastpool.median_pool2d(x, 2, even=even)
    assert np.array_equal(y, expected[even])


def test_median_odd_windows_agree_in_all_conventions():
    x = np.random.default_rng(8).standard_normal((1, 2, 9, 9)).astype(np.float32)
    ys = [fastpool.median_pool2d(x, 3, even=e) for e in EVENS]
    assert np.array_equal(ys[0], ys[1]) and np.array_equal(ys[0], ys[2])


def test_median_padding_is_excluded():
    """A 3x3 window at the corner with padding 1 holds 4 cells: even count."""
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    lo, hi, mean = (fastpool.median_pool2d(x, 3, 1, 1, even=e)[0, 0, 0, 0] for e in EVENS)
    # cells 0, 1, 4, 5
    assert (lo, hi, mean) == (1.0, 4.0, 2.5)


def test_median_ties_give_the_first_cell_holding_the_value():
    x = np.array([[[[3, 1, 2], [1, 5, 1], [2, 1, 7]]]], dtype=np.float32)
    y, idx = fastpool.median_pool2d(x, 3, return_indices=True)
    # sorted: 1 1 1 1 2 2 3 5 7, median 2, first 2 at flat index 2
    assert y[0, 0, 0, 0] == 2 and idx[0, 0, 0, 0] == 2
    x[0, 0, 0, 2] = 1  # now five 1s: median 1, first 1 at index 1
    y, idx = fastpool.median_pool2d(x, 3, return_indices=True)
    assert y[0, 0, 0, 0] == 1 and idx[0, 0, 0, 0] == 1


def test_median_signed_zero_comes_from_the_indexed_cell():
    x = np.array([[[[0.0, -0.0, 1.0], [-0.0, 2.0, 0.0], [3.0, -1.0, 4.0]]]])
    y, idx = fastpool.median_pool2d(x, 3, return_indices=True)
    # sorted: -1 0 0 0 0 1 2 3 4 -> 0; the first zero is +0.0 at index 0
    assert idx[0, 0, 0, 0] == 0 and not np.signbit(y[0, 0, 0, 0])
    x[0, 0, 0, 0] = -0.0
    y, idx = fastpool.median_pool2d(x, 3, return_indices=True)
    assert idx[0, 0, 0, 0] == 0 and np.signbit(y[0, 0, 0, 0])


def test_median_nan_gives_nan_and_the_first_nan():
    x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
    x[0, 0, 1, 2] = np.nan
    x[0, 0, 2, 0] = np.nan
    for even in ("lower", "upper"):
        y, idx = fastpool.median_pool2d(x, 3, even=even, return_indices=True)
        assert np.isnan(y[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 5
    assert np.isnan(fastpool.median_pool2d(x, 3, even="mean")[0, 0, 0, 0])


def test_median_window_wholly_in_padding():
    x = np.ones((1, 1, 2, 2), dtype=np.float32)
    pad = ((2, 0), (0, 0))
    y, idx = fastpool.median_pool2d(x, 2, 2, pad, return_indices=True)
    assert np.isnan(y[0, 0, 0, 0]) and idx[0, 0, 0, 0] == -1
    xi = np.ones((1, 1, 2, 2), dtype=np.int16)
    yi, idx = fastpool.median_pool2d(xi, 2, 2, pad, return_indices=True)
    assert yi[0, 0, 0, 0] == np.iinfo(np.int16).min and idx[0, 0, 0, 0] == -1
    ym = fastpool.median_pool2d(xi, 2, 2, pad, even="mean")
    assert ym.dtype == np.float64 and np.isnan(ym[0, 0, 0, 0])


@pytest.mark.parametrize("dtype", FLOATS + (np.float16,) + INTS)
def test_median_mean_of_integers_is_float64_and_floats_keep_their_dtype(dtype):
    x = np.array([[[[1, 2], [4, 7]]]]).astype(dtype)
    y = fastpool.median_pool2d(x, 2, even="mean")
    assert y.dtype == (np.float64 if np.dtype(dtype).kind in "iu" else dtype)
    assert y[0, 0, 0, 0] == 3.0
    assert fastpool.median_pool2d(x, 2).dtype == dtype


def test_median_mean_does_not_overflow():
    big = np.finfo(np.float64).max
    x = np.array([[[[big, big], [big, -1.0]]]])
    assert fastpool.median_pool2d(x, 2, even="mean")[0, 0, 0, 0] == big
    xi = np.array([[[[2**62, 2**62], [2**62, 0]]]], dtype=np.int64)
    assert fastpool.median_pool2d(xi, 2, even="mean")[0, 0, 0, 0] == 2.0**62


@pytest.mark.parametrize("m", list(range(1, 36)))
def test_median_every_window_size_of_the_network_and_beyond(m):
    """Windows of 1 to 35 cells: the sorting networks (up to 32) and the
    quickselect above, with and without ties, all three conventions."""
    rng = np.random.default_rng(m)
    for x in (rng.standard_normal((2, 3, 3, m + 7)),
              rng.integers(-2, 3, size=(2, 3, 3, m + 7)).astype(np.float32)):
        for even in EVENS:
            y_ref, i_ref = R.median_pool(x, (1, m), (1, 1), even=even)
            res = fastpool.median_pool2d(x, (1, m), 1, even=even,
                                         return_indices=even != "mean")
            y = res[0] if even != "mean" else res
            assert np.array_equal(y, y_ref), (m, even)
            if even != "mean":
                assert np.array_equal(res[1], i_ref), (m, even)
        # also as a (m, 1) kernel and channels-last: the network across channels
        xl = np.ascontiguousarray(np.moveaxis(np.swapaxes(x, 2, 3), 1, -1))
        y_ref, i_ref = R.median_pool(np.swapaxes(x, 2, 3), (m, 1), 1)
        y, idx = fastpool.median_pool2d(xl, (m, 1), 1, channels_last=True, return_indices=True)
        assert np.array_equal(np.moveaxis(y, -1, 1), y_ref), m
        assert np.array_equal(np.moveaxis(idx, -1, 1), i_ref), m


@pytest.mark.parametrize("dtype", (np.float32, np.float64, np.float16, np.int8, np.uint16,
                                   np.int64))
def test_median_large_windows_take_the_radix_selection(dtype):
    """More than 4096 valid cells: selected without a copy, one pass per byte."""
    rng = np.random.default_rng(11)
    if np.dtype(dtype).kind == "f":
        x = rng.standard_normal((1, 2, 70, 70)).astype(dtype)
        x[0, 0, 3, 4] = -0.0
        x[0, 1, 10, 10] = np.nan
    else:
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, size=(1, 2, 70, 70), endpoint=True).astype(dtype)
    for even in EVENS:
        y_ref, i_ref = R.median_pool(x, 65, 5, even=even)
        res = fastpool.median_pool2d(x, 65, 5, even=even, return_indices=even != "mean")
        y = res[0] if even != "mean" else res
        assert np.array_equal(y, y_ref, equal_nan=True), even
        if even != "mean":
            assert np.array_equal(res[1], i_ref), even


@settings(max_examples=40)
@given(median_cases(specials=False), st.sampled_from(("lower", "upper")),
       st.sampled_from(S.MEMORY))
def test_median_backward_with_indices_matches_reference(case, even, grad_memory):
    y, idx = fastpool.median_pool2d(case.x, **_fast(case, even=even, return_indices=True))
    g = case.grad(case.to_logical(y).shape).astype(np.float64).astype(
        case.dtype if case.dtype.kind == "f" else np.float64)
    expected = R.median_pool_backward(g, case.logical.astype(g.dtype), **_ref(case), even=even)
    gu = S.arrange(case.to_user(g), grad_memory, case.batched, case.channels_last)
    dx = fastpool.median_pool2d_backward(gu, idx, case.x.shape, even=even,
                                         channels_last=case.channels_last,
                                         num_threads=case.num_threads)
    cover = math.prod(math.ceil(k * d / s) for k, d, s in zip(
        case.geometry.kernel, case.geometry.dilation, case.geometry.stride))
    S.assert_close_sum(dx, case.to_user(expected), cover, S.finite_max_abs(g), case.describe())


@settings(max_examples=40)
@given(median_cases(dtypes=FLOATS + (np.float16,)), st.booleans())
def test_median_mean_backward_matches_reference(case, use_out):
    y = R.median_pool(case.logical, **_ref(case), even="mean")[0]
    g = case.grad(y.shape)
    expected = case.to_user(R.median_pool_backward(g, case.logical, **_ref(case), even="mean"))
    kw = _fast(case, even="mean")
    if use_out:
        kw["out"] = _garbage_out(case.x.shape, case.dtype, case)
    dx = fastpool.median_pool2d_backward(case.to_user(g), case.x, **kw)
    cover = math.prod(math.ceil(k * d / s) for k, d, s in zip(
        case.geometry.kernel, case.geometry.dilation, case.geometry.stride))
    S.assert_close_sum(dx, expected, 2 * cover, S.finite_max_abs(g), case.describe())


def test_median_mean_backward_splits_dy_between_the_two_middle_cells():
    x = np.array([[[[4.0, 1.0], [3.0, 2.0]]]])
    dx = fastpool.median_pool2d_backward(np.array([[[[6.0]]]]), x, 2, even="mean")
    assert np.array_equal(dx, [[[[0.0, 0.0], [3.0, 3.0]]]])
    x3 = np.array([[[[5.0, 1.0, 3.0]]]])  # odd count: all of dy to the median
    dx3 = fastpool.median_pool2d_backward(np.array([[[[6.0]]]]), x3, (1, 3), even="mean")
    assert np.array_equal(dx3, [[[[0.0, 0.0, 6.0]]]])


def test_median_mean_has_no_indices():
    x = np.ones((1, 1, 4, 4))
    with pytest.raises(ValueError, match="^median_pool2d: return_indices"):
        fastpool.median_pool2d(x, 2, even="mean", return_indices=True)
    with pytest.raises(ValueError, match="^median_pool2d: return_indices and indices_out"):
        fastpool.median_pool2d(x, 2, even="mean", indices_out=np.empty((1, 1, 2, 2), np.int64))


# --------------------------------------------------------------------------
# Mixed pooling (SPEC §4.10)


@st.composite
def mixed_cases(draw, dtypes=FLOATS, specials=True):
    return draw(S.pool_cases("avg", ranks=(2,), dtypes=dtypes, specials=specials,
                             divisor_override_ok=False))


def _mixed_kw(case, **kw):
    return {**_fast(case), "count_include_pad": case.count_include_pad, **kw}


def _alpha_draw(draw, c):
    if draw(st.booleans()):
        return draw(st.sampled_from((0.0, 0.25, 0.5, 1.0, -0.5, 1.7)))
    rng = np.random.default_rng(draw(st.integers(0, 99)))
    return rng.uniform(-0.5, 1.5, size=c)


@settings(max_examples=60)
@given(mixed_cases(dtypes=FLOATS + (np.float16,)), st.data())
def test_mixed_blend_equals_alpha_max_plus_one_minus_alpha_avg(case, data):
    """Bit for bit: fastpool's own max_pool2d and avg_pool2d, blended in float64."""
    c = case.logical.shape[-3]
    alpha = _alpha_draw(data.draw, c)
    geo = _geo(case)
    mx = fastpool.max_pool2d(case.x, **geo, channels_last=case.channels_last)
    av = fastpool.avg_pool2d(case.x, **geo, count_include_pad=case.count_include_pad,
                             channels_last=case.channels_last)
    al = np.asarray(alpha, dtype=np.float64)
    if al.ndim:
        cax = -1 if case.channels_last else -3
        al = al.reshape((c,) + (1,) * (-cax - 1))
    with np.errstate(invalid="ignore", over="ignore"):
        expected = (al * mx.astype(np.float64) +
                    (1 - al) * av.astype(np.float64)).astype(case.dtype)
    y = fastpool.mixed_pool2d(case.x, **_mixed_kw(case, alpha=alpha))
    assert np.array_equal(y, expected, equal_nan=True), case.describe()
    ref = case.to_user(R.mixed_pool(case.logical, **_ref(case), alpha=alpha,
                                    count_include_pad=case.count_include_pad))
    tol = 8 * S.eps(case.dtype) * (np.abs(ref.astype(np.float64)) + S.finite_max_abs(ref))
    S.assert_close_bound(y, ref, tol, case.describe())


@settings(max_examples=50)
@given(mixed_cases(dtypes=FLOATS + (np.float16,)), st.sampled_from((("avg", "max"),
                                                                     ("max", "avg"))),
       st.booleans())
def test_mixed_concat_equals_avg_and_max_in_both_orders(case, order, use_out):
    geo = _geo(case)
    parts = {"max": fastpool.max_pool2d(case.x, **geo, channels_last=case.channels_last),
             "avg": fastpool.avg_pool2d(case.x, **geo, count_include_pad=case.count_include_pad,
                                        channels_last=case.channels_last)}
    cax = -1 if case.channels_last else -3
    expected = np.concatenate([parts[order[0]], parts[order[1]]], axis=cax)
    kw = _mixed_kw(case, mode="concat", order=order)
    if use_out:
        kw["out"] = _garbage_out(expected.shape, case.dtype, case)
    y = fastpool.mixed_pool2d(case.x, **kw)
    assert np.array_equal(y, expected, equal_nan=True), case.describe()
    if use_out:
        assert y is kw["out"]
    else:
        assert y.flags.c_contiguous


def test_mixed_concat_default_order_is_avg_then_max():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    y = fastpool.mixed_pool2d(x, 4, mode="concat")
    assert y.shape == (1, 2, 1, 1) and y[0, 0, 0, 0] == 7.5 and y[0, 1, 0, 0] == 15
    y = fastpool.mixed_pool2d(x, 4, mode="concat", order=("max", "avg"))
    assert y[0, 0, 0, 0] == 15 and y[0, 1, 0, 0] == 7.5
    yu = fastpool.mixed_pool2d(x[0], 4, mode="concat")
    assert yu.shape == (2, 1, 1)


@settings(max_examples=40)
@given(mixed_cases(specials=False), st.data())
def test_mixed_blend_backward_matches_reference(case, data):
    c = case.logical.shape[-3]
    alpha = _alpha_draw(data.draw, c)
    y = R.mixed_pool(case.logical, **_ref(case), alpha=alpha,
                     count_include_pad=case.count_include_pad)
    g = case.grad(y.shape)
    dx_ref, da_ref = R.mixed_pool_backward(g, case.logical, **_ref(case), alpha=alpha,
                                           count_include_pad=case.count_include_pad)
    dx, da = fastpool.mixed_pool2d_backward(case.to_user(g), case.x,
                                            **_mixed_kw(case, alpha=alpha))
    cover = math.prod(math.ceil(k * d / s) for k, d, s in zip(
        case.geometry.kernel, case.geometry.dilation, case.geometry.stride))
    scale = S.finite_max_abs(g) * (1 + float(np.max(np.abs(alpha))))
    S.assert_close_sum(dx, case.to_user(dx_ref), 2 * cover, scale, case.describe())
    assert da.shape == np.shape(alpha) and da.dtype == case.dtype
    outputs = y.size // c
    S.assert_close_sum(np.asarray(da), np.asarray(da_ref), outputs * 4,
                       S.finite_max_abs(g) * S.finite_max_abs(case.logical) * 2,
                       case.describe())


@settings(max_examples=40)
@given(mixed_cases(specials=False), st.sampled_from((("avg", "max"), ("max", "avg"))))
def test_mixed_concat_backward_matches_reference(case, order):
    y = R.mixed_pool(case.logical, **_ref(case), mode="concat", order=order,
                     count_include_pad=case.count_include_pad)
    g = case.grad(y.shape)
    expected = R.mixed_pool_backward(g, case.logical, **_ref(case), mode="concat", order=order,
                                     count_include_pad=case.count_include_pad)
    dx = fastpool.mixed_pool2d_backward(case.to_user(g), case.x,
                                        **_mixed_kw(case, mode="concat", order=order))
    cover = math.prod(math.ceil(k * d / s) for k, d, s in zip(
        case.geometry.kernel, case.geometry.dilation, case.geometry.stride))
    S.assert_close_sum(dx, case.to_user(expected), 2 * cover, S.finite_max_abs(g),
                       case.describe())


def test_mixed_max_gradient_goes_to_the_first_maximum():
    x = np.array([[[[2.0, 5.0], [5.0, 1.0]]]])
    dx = fastpool.mixed_pool2d_backward(np.array([[[[0.0]], [[4.0]]]]), x, 2, mode="concat")
    assert np.array_equal(dx, [[[[0.0, 4.0], [0.0, 0.0]]]])
    dx, da = fastpool.mixed_pool2d_backward(np.array([[[[4.0]]]]), x, 2, alpha=0.5)
    assert np.array_equal(dx, [[[[0.5, 2.5], [0.5, 0.5]]]])
    assert da == 4.0 * (5.0 - 3.25)


# --------------------------------------------------------------------------
# Gradients against central differences (float64, inputs without ties)

H = 1e-6


def _numeric(f, x, g):
    x = np.array(x, dtype=np.float64, order="C")
    flat = x.reshape(-1)
    out = np.zeros(flat.size)
    for j in range(flat.size):
        old = flat[j]
        flat[j] = old + H
        up = float(np.sum(f(x) * g))
        flat[j] = old - H
        down = float(np.sum(f(x) * g))
        flat[j] = old
        out[j] = (up - down) / (2 * H)
    return out.reshape(x.shape)


def _close(a, b):
    assert a.shape == b.shape
    assert np.allclose(a, b, rtol=1e-6, atol=1e-7), np.max(np.abs(a - b))


def _distinct(rng, shape, low=0.0):
    n = math.prod(shape)
    return (low + 0.2 + rng.permutation(n) * 0.01).reshape(shape)


GEOMETRIES = [{"kernel_size": 2},
              {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
              {"kernel_size": (2, 3), "stride": 1, "padding": ((1, 0), (0, 2)),
               "dilation": (2, 1)}]


@pytest.mark.parametrize("geo", GEOMETRIES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_stochastic_gradients_match_finite_differences(geo, channels_last):
    rng = np.random.default_rng(4)
    x = _distinct(rng, (2, 3, 6, 5))  # > 0: the domain ends at 0
    xu = np.moveaxis(x, 1, -1) if channels_last else x
    kw = {**geo, "channels_last": channels_last}
    y = fastpool.stochastic_pool2d(xu, **kw, training=False)
    g = rng.standard_normal(y.shape)
    num = _numeric(lambda v: fastpool.stochastic_pool2d(v, **kw, training=False), xu, g)
    _close(fastpool.stochastic_pool2d_backward(g, xu, **kw, training=False), num)
    y, idx = fastpool.stochastic_pool2d(xu, **kw, seed=3, return_indices=True)
    num = _numeric(lambda v: fastpool.stochastic_pool2d(v, **kw, seed=3), xu, g)
    _close(fastpool.stochastic_pool2d_backward(g, idx, xu.shape, channels_last=channels_last),
           num)


@pytest.mark.parametrize("geo", GEOMETRIES)
@pytest.mark.parametrize("even", EVENS)
def test_median_gradients_match_finite_differences(geo, even):
    rng = np.random.default_rng(5)
    x = _distinct(rng, (2, 3, 6, 5), low=-1.0)
    y = fastpool.median_pool2d(x, **geo, even=even)
    g = rng.standard_normal(y.shape)
    num = _numeric(lambda v: fastpool.median_pool2d(v, **geo, even=even), x, g)
    if even == "mean":
        dx = fastpool.median_pool2d_backward(g, x, **geo, even="mean")
    else:
        _, idx = fastpool.median_pool2d(x, **geo, even=even, return_indices=True)
        dx = fastpool.median_pool2d_backward(g, idx, x.shape, even=even)
    _close(dx, num)


@pytest.mark.parametrize("geo", GEOMETRIES)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_mixed_gradients_match_finite_differences(geo, count_include_pad):
    rng = np.random.default_rng(6)
    x = _distinct(rng, (2, 3, 6, 5), low=-1.0)
    kw = {**geo, "count_include_pad": count_include_pad}
    for alpha in (0.3, np.array([0.1, 0.6, 1.2])):
        y = fastpool.mixed_pool2d(x, **kw, alpha=alpha)
        g = rng.standard_normal(y.shape)
        num = _numeric(lambda v, alpha=alpha: fastpool.mixed_pool2d(v, **kw, alpha=alpha), x, g)
        dx, da = fastpool.mixed_pool2d_backward(g, x, **kw, alpha=alpha)
        _close(dx, num)
        al = np.array(alpha, dtype=np.float64)
        num_a = _numeric(lambda a: fastpool.mixed_pool2d(x, **kw, alpha=a), al, g)
        _close(np.asarray(da), num_a)
    y = fastpool.mixed_pool2d(x, **kw, mode="concat")
    g = rng.standard_normal(y.shape)
    num = _numeric(lambda v: fastpool.mixed_pool2d(v, **kw, mode="concat"), x, g)
    _close(fastpool.mixed_pool2d_backward(g, x, **kw, mode="concat"), num)


# --------------------------------------------------------------------------
# Thread-count independence (large enough for the parallel paths)


def _threads_agree(fn):
    one, two = fn(1), fn(2)
    one, two = (one if isinstance(one, tuple) else (one,)), (two if isinstance(two, tuple)
                                                             else (two,))
    for a, b in zip(one, two):
        assert np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("channels_last", [False, True])
def test_one_and_two_threads_are_bit_identical(channels_last):
    rng = np.random.default_rng(9)
    x = rng.random((3, 12, 30, 31))
    xs = np.moveaxis(x, 1, -1) if channels_last else x
    kw = {"kernel_size": 3, "stride": 2, "padding": 1, "channels_last": channels_last}
    y = fastpool.median_pool2d(xs, **kw)
    g = rng.standard_normal(y.shape)
    g2 = np.concatenate([g, g[..., ::-1, :]] if not channels_last else [g, g],
                        axis=-1 if channels_last else 1)
    _threads_agree(lambda n: fastpool.stochastic_pool2d(xs, **kw, seed=1, return_indices=True,
                                                        num_threads=n))
    _threads_agree(lambda n: fastpool.stochastic_pool2d(xs, **kw, training=False,
                                                        num_threads=n))
    _threads_agree(lambda n: fastpool.stochastic_pool2d_backward(g, xs, **kw, training=False,
                                                                 num_threads=n))
    for even in EVENS:
        _threads_agree(lambda n, even=even: fastpool.median_pool2d(xs, **kw, even=even,
                                                                    num_threads=n))
    _threads_agree(lambda n: fastpool.median_pool2d_backward(g, xs, **kw, even="mean",
                                                             num_threads=n))
    for alpha in (0.4, rng.random(12)):
        _threads_agree(lambda n, alpha=alpha: fastpool.mixed_pool2d(xs, **kw, alpha=alpha,
                                                                    num_threads=n))
        _threads_agree(lambda n, alpha=alpha: fastpool.mixed_pool2d_backward(
            g, xs, **kw, alpha=alpha, num_threads=n))
    _threads_agree(lambda n: fastpool.mixed_pool2d(xs, **kw, mode="concat", num_threads=n))
    _threads_agree(lambda n: fastpool.mixed_pool2d_backward(g2, xs, **kw, mode="concat",
                                                            num_threads=n))


# --------------------------------------------------------------------------
# Bad arguments: a clean exception naming the function and the argument, and
# out= left as it was


X = np.random.default_rng(0).random((2, 3, 6, 6))
Y_SHAPE = (2, 3, 3, 3)


def _forward_calls():
    """(name, function, valid kwargs, output shape, output dtype)."""
    return [
        ("stochastic_pool2d", fastpool.stochastic_pool2d, {"x": X, "kernel_size": 2, "seed": 1},
         Y_SHAPE, np.float64),
        ("median_pool2d", fastpool.median_pool2d, {"x": X, "kernel_size": 2}, Y_SHAPE,
         np.float64),
        ("mixed_pool2d", fastpool.mixed_pool2d, {"x": X, "kernel_size": 2}, Y_SHAPE,
         np.float64),
    ]


COMMON_BAD = [
    ("x", np.zeros((3, 6)), ValueError, "x"),
    ("x", np.zeros((1, 2, 3, 4, 5)), ValueError, "x"),
    ("x", X.astype(np.complex128), TypeError, "x"),
    ("x", X.astype(bool), TypeError, "x"),
    ("x", np.array([["a"]]), TypeError, "x"),
    ("kernel_size", 0, ValueError, "kernel_size"),
    ("kernel_size", (2, -1), ValueError, "kernel_size"),
    ("kernel_size", (2, 2, 2), ValueError, "kernel_size"),
    ("kernel_size", 2.5, TypeError, "kernel_size"),
    ("kernel_size", "2", TypeError, "kernel_size"),
    ("kernel_size", True, TypeError, "kernel_size"),
    ("kernel_size", 2**64, OverflowError, "kernel_size"),
    ("kernel_size", 7, ValueError, "output size"),
    ("stride", 0, ValueError, "stride"),
    ("stride", 1.5, TypeError, "stride"),
    ("padding", -1, ValueError, "padding"),
    ("padding", "full", ValueError, "padding"),
    ("padding", ((1, 2, 3), 0), ValueError, "padding"),
    ("dilation", 0, ValueError, "dilation"),
    ("ceil_mode", "yes", TypeError, "ceil_mode"),
    ("ceil_mode", np.array([True, False]), TypeError, "ceil_mode"),
    ("channels_last", 2, TypeError, "channels_last"),  # 0 and 1 are flags (one rule)
    ("num_threads", 0, ValueError, "num_threads"),
    ("num_threads", 10**6, ValueError, "num_threads"),
    ("num_threads", "2", TypeError, "num_threads"),
]

SPECIFIC_BAD = {
    "stochastic_pool2d": [
        ("x", X.astype(np.int32), TypeError, "x"),
        ("x", -X, ValueError, "x"),
        ("seed", -1, ValueError, "seed"),
        ("seed", 2**64, ValueError, "seed"),
        ("seed", 1.5, TypeError, "seed"),
        ("seed", "abc", TypeError, "seed"),
        ("seed", True, TypeError, "seed"),
        ("training", None, TypeError, "training"),
        ("return_indices", "no", TypeError, "return_indices"),
        ("indices_out", np.zeros(Y_SHAPE), TypeError, "indices_out"),
        ("indices_out", np.zeros((2, 3, 3), np.int64), ValueError, "indices_out"),
    ],
    "median_pool2d": [
        ("even", "middle", ValueError, "even"),
        ("even", None, ValueError, "even"),
        ("return_indices", 2, TypeError, "return_indices"),
        ("indices_out", np.zeros(Y_SHAPE, np.int16), TypeError, "indices_out"),
    ],
    "mixed_pool2d": [
        ("x", X.astype(np.int16), TypeError, "x"),
        ("alpha", np.ones(4), ValueError, "alpha"),
        ("alpha", np.ones((3, 1)), ValueError, "alpha"),
        ("alpha", "0.5", TypeError, "alpha"),
        ("alpha", 1j, TypeError, "alpha"),
        ("alpha", True, TypeError, "alpha"),
        ("mode", "max", ValueError, "mode"),
        ("count_include_pad", None, TypeError, "count_include_pad"),
    ],
}

OUT_BAD = [
    (np.zeros((2, 3, 3, 4)), ValueError),
    (np.zeros(Y_SHAPE, np.float32), TypeError),
    ([[0.0]], TypeError),
]


def _bad_rows():
    rows = []
    for name, fn, kw, shape, dtype in _forward_calls():
        for arg, value, err, pat in COMMON_BAD + SPECIFIC_BAD[name]:
            rows.append(pytest.param(name, fn, kw, shape, dtype, arg, value, err, pat,
                                     id=f"{name}-{arg}-{value!r}"[:80]))
    return rows


@pytest.mark.parametrize("name, fn, kw, shape, dtype, arg, value, err, pat", _bad_rows())
def test_bad_argument_names_function_and_argument_and_leaves_out_alone(name, fn, kw, shape,
                                                                       dtype, arg, value, err,
                                                                       pat):
    out = np.full(shape, 3.25, dtype=dtype)
    call = {**kw, arg: value}
    if arg != "x":
        call["out"] = out
    with pytest.raises(err, match=_msg(name, pat)):
        fn(**call)
    assert np.all(out == 3.25)


@pytest.mark.parametrize("name, fn, kw, shape, dtype", [c for c in _forward_calls()])
def test_bad_out(name, fn, kw, shape, dtype):
    for out, err in OUT_BAD:
        with pytest.raises(err, match=_msg(name, "out")):
            fn(**kw, out=out)
    ro = np.zeros(shape, dtype)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=_msg(name, "out")):
        fn(**kw, out=ro)
    x = np.zeros((2, 3, 6, 6))
    with pytest.raises(ValueError, match=_msg(name, "out")):
        fn(**{**kw, "x": x}, out=x[:, :, :3, :3])


@pytest.mark.parametrize("fn", [fastpool.stochastic_pool2d, fastpool.median_pool2d])
@pytest.mark.parametrize("index_dtype", [np.float32, "int16", np.uint64, "nonsense"])
def test_bad_index_dtype(fn, index_dtype):
    out = np.full(Y_SHAPE, 3.25)
    with pytest.raises(TypeError, match=_msg(fn.__name__, "index_dtype")):
        fn(X, 2, return_indices=True, index_dtype=index_dtype, out=out)
    assert np.all(out == 3.25)


def test_bad_mixed_order():
    for order in (("avg", "avg"), ("max",), "avgmax", None, ("mean", "max")):
        with pytest.raises(ValueError, match=_msg("mixed_pool2d", "order")):
            fastpool.mixed_pool2d(X, 2, mode="concat", order=order)


def test_bad_backward_arguments():
    y, idx = fastpool.stochastic_pool2d(X, 2, seed=1, return_indices=True)
    sb, mb, xb = (fastpool.stochastic_pool2d_backward, fastpool.median_pool2d_backward,
                  fastpool.mixed_pool2d_backward)
    n1, n2, n3 = "stochastic_pool2d_backward", "median_pool2d_backward", "mixed_pool2d_backward"
    cases = [
        (lambda: sb(y, idx), TypeError, _msg(n1, "input_shape")),
        (lambda: sb(y, idx, X.shape, 2), TypeError, _msg(n1, "argument")),
        (lambda: sb(y, X, 2, training=False, seed=3), TypeError, _msg(n1, "seed")),
        (lambda: sb(y, idx, X.shape, training="no"), TypeError, _msg(n1, "training")),
        (lambda: sb(y, idx.astype(np.float32), X.shape), TypeError, _msg(n1, "indices")),
        (lambda: sb(y, idx + 100, X.shape), IndexError, _msg(n1, "indices")),
        (lambda: sb(y.astype(np.int32), idx, X.shape), TypeError, _msg(n1, "grad_output")),
        (lambda: sb(y[..., :2], X, 2, training=False), ValueError, _msg(n1, "grad_output")),
        (lambda: sb(y.astype(np.float32), X, 2, training=False), TypeError,
         _msg(n1, "grad_output")),
        (lambda: mb(y, idx, (2, 3, 6)), ValueError, _msg(n2, "input_shape")),
        (lambda: mb(y, X, 2, even="mean", out=np.zeros((2, 3, 6, 5))), ValueError,
         _msg(n2, "out")),
        (lambda: mb(y, X.astype(np.int32), 2, even="mean"), TypeError, _msg(n2, "x")),
        (lambda: mb(y, idx, X.shape, even="median"), ValueError, _msg(n2, "even")),
        (lambda: xb(y, X, 2, mode="concat"), ValueError, _msg(n3, "grad_output")),
        (lambda: xb(y, X, 2, alpha=np.ones(2)), ValueError, _msg(n3, "alpha")),
        (lambda: xb(y, X, 0), ValueError, _msg(n3, "kernel_size")),
    ]
    for thunk, err, pat in cases:
        with pytest.raises(err, match=pat):
            thunk()


@pytest.mark.parametrize("name", ["stochastic_pool2d", "stochastic_pool2d_backward",
                                  "median_pool2d", "median_pool2d_backward", "mixed_pool2d",
                                  "mixed_pool2d_backward"])
def test_call_errors_name_the_function(name):
    fn = getattr(fastpool, name)
    y, idx = fastpool.median_pool2d(X, 2, return_indices=True)
    valid = {"stochastic_pool2d_backward": (y, idx, X.shape),
             "median_pool2d_backward": (y, idx, X.shape),
             "mixed_pool2d_backward": (y, X, 2)}.get(name, (X, 2))
    fn(*valid)
    with pytest.raises(TypeError, match=rf"^{name}: .*grad_output|^{name}: .*'x'"):
        fn()
    with pytest.raises(TypeError, match=rf"^{name}: .*bogus"):
        fn(*valid, bogus=1)
    assert fn.__name__ == name and fn.__module__ == "fastpool" and fn.__doc__


def test_backward_out_is_untouched_after_an_error():
    y, idx = fastpool.median_pool2d(X, 2, return_indices=True)
    out = np.full(X.shape, 3.25)
    bad = idx.copy()
    bad[1, 2, 2, 2] = 36
    with pytest.raises(IndexError, match=r"^median_pool2d_backward: indices\[1, 2, 2, 2\]"):
        fastpool.median_pool2d_backward(y, bad, X.shape, out=out)
    assert np.all(out == 3.25)
    with pytest.raises(TypeError, match=_msg("mixed_pool2d_backward", "grad_output")):
        fastpool.mixed_pool2d_backward(y.astype(np.float32), X, 2, out=out)
    assert np.all(out == 3.25)


def test_legal_unusual_inputs_work():
    """Byte-swapped, misaligned-free views, read-only and empty batches."""
    xs = X.astype(X.dtype.newbyteorder(">"))
    ro = X.copy()
    ro.flags.writeable = False
    for x in (xs, ro, X[:, :, ::-1, :]):
        expected = fastpool.median_pool2d(np.ascontiguousarray(x, dtype=np.float64), 2)
        assert np.array_equal(fastpool.median_pool2d(x, 2), expected)
        assert np.array_equal(fastpool.mixed_pool2d(x, 2),
                              fastpool.mixed_pool2d(np.ascontiguousarray(x, np.float64), 2))
    # NumPy scalars and 0-d arrays as parameters (tests/test_bad_inputs.py's B4)
    expected = fastpool.median_pool2d(X, 2, 2, 1)
    for k in (np.int64(2), np.array(2)):
        assert np.array_equal(fastpool.median_pool2d(X, k, k, np.array(1)), expected)
        assert np.array_equal(fastpool.mixed_pool2d(X, k, dilation=np.array(1)),
                              fastpool.mixed_pool2d(X, 2))
    empty = np.zeros((0, 3, 6, 6))
    assert fastpool.stochastic_pool2d(empty, 2, seed=0).shape == (0, 3, 3, 3)
    assert fastpool.median_pool2d(empty, 2).shape == (0, 3, 3, 3)
    assert fastpool.mixed_pool2d(empty, 2, mode="concat").shape == (0, 6, 3, 3)
    dx, da = fastpool.mixed_pool2d_backward(np.zeros((0, 3, 3, 3)), empty, 2)
    assert dx.shape == empty.shape and da == 0
