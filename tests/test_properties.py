"""Every fastpool function against fastpool.reference, on drawn problems.

Max pooling values, indices and anything that only selects are compared
exactly (NaN included); averages and gradients, which are sums, within a
tolerance of a few ulps per summed term (``strategies.assert_close_sum``).
Cases cover ranks 1-3, batched and unbatched input, every padding form,
dilation, ceil mode, both dtypes, NCHW and channels-last, contiguous and
strided memory, and 1 or 2 threads.
"""

import numpy as np
import pytest
import strategies as S
from hypothesis import given, settings
from hypothesis import strategies as st

fastpool = pytest.importorskip("fastpool")
R = S.reference


def _fn(kind, rank, backward=False):
    return getattr(fastpool, f"{kind}_pool{rank}d" + ("_backward" if backward else ""))


def _empty_out(shape, dtype, memory, batched, channels_last):
    """An output buffer of the given user shape in a drawn memory arrangement,
    filled with garbage that must be overwritten."""
    return S.arrange(np.full(shape, 12345, dtype=dtype), memory, batched, channels_last)


# --------------------------------------------------------------------------
# Max pooling


@given(S.pool_cases("max"), st.sampled_from([np.int64, np.int32]), st.booleans())
def test_max_pool_forward(case, index_dtype, use_out):
    y_ref, i_ref = R.max_pool(case.logical, **case.ref_kwargs("max"))
    expect_y, expect_i = case.to_user(y_ref), case.to_user(i_ref)
    kw = case.fast_kwargs("max")
    if use_out:
        kw["out"] = _empty_out(expect_y.shape, case.dtype, case.memory, case.batched,
                               case.channels_last)
        kw["indices_out"] = _empty_out(expect_i.shape, index_dtype, case.memory, case.batched,
                                       case.channels_last)
    y, i = _fn("max", case.rank)(case.x, return_indices=True, index_dtype=index_dtype, **kw)
    if use_out:
        assert y is kw["out"] and i is kw["indices_out"]
    else:
        assert y.flags.c_contiguous and i.flags.c_contiguous
    assert y.dtype == case.dtype and i.dtype == np.dtype(index_dtype)
    assert y.shape == expect_y.shape, case.describe()
    assert np.array_equal(y, expect_y, equal_nan=True), case.describe()
    assert np.array_equal(i, expect_i), case.describe()


@given(S.pool_cases("max"))
def test_max_pool_forward_without_indices(case):
    y_ref, _ = R.max_pool(case.logical, **case.ref_kwargs("max"))
    y = _fn("max", case.rank)(case.x, **case.fast_kwargs("max"))
    assert isinstance(y, np.ndarray) and y.flags.c_contiguous
    assert np.array_equal(y, case.to_user(y_ref), equal_nan=True), case.describe()


@given(S.pool_cases("max"), st.booleans(), st.sampled_from(S.MEMORY), st.booleans())
def test_max_pool_backward(case, integer_grad, grad_memory, use_out):
    y_ref, i_ref = R.max_pool(case.logical, **case.ref_kwargs("max"))
    g = case.grad(y_ref.shape, integer=integer_grad)
    dx_ref = case.to_user(R.max_pool_backward(g, i_ref, case.logical.shape, rank=case.rank))
    arr = lambda a: S.arrange(case.to_user(a), grad_memory, case.batched,
                              case.channels_last)
    kw = {"channels_last": case.channels_last, "num_threads": case.num_threads}
    if use_out:
        kw["out"] = _empty_out(dx_ref.shape, case.dtype, case.memory, case.batched,
                               case.channels_last)
    dx = _fn("max", case.rank, backward=True)(arr(g), arr(i_ref), case.x.shape, **kw)
    if use_out:
        assert dx is kw["out"]
    else:
        assert dx.flags.c_contiguous
    assert dx.dtype == case.dtype and dx.shape == case.x.shape
    if integer_grad:
        assert np.array_equal(dx, dx_ref), case.describe()
    else:
        S.assert_close_sum(dx, dx_ref, case.geometry.taps, S.finite_max_abs(g), case.describe())


@given(S.pool_cases("max"))
def test_max_pool_backward_of_the_fast_forward(case):
    """The round trip a training framework makes: fast indices into fast backward."""
    y, i = _fn("max", case.rank)(case.x, return_indices=True, **case.fast_kwargs("max"))
    g = case.to_user(case.grad(case.to_logical(y).shape, integer=True))
    dx = _fn("max", case.rank, backward=True)(g, i, case.x.shape,
                                              channels_last=case.channels_last,
                                              num_threads=case.num_threads)
    _, i_ref = R.max_pool(case.logical, **case.ref_kwargs("max"))
    dx_ref = R.max_pool_backward(case.to_logical(g), i_ref, case.logical.shape, rank=case.rank)
    assert np.array_equal(dx, case.to_user(dx_ref)), case.describe()


# --------------------------------------------------------------------------
# Average pooling


@given(S.pool_cases("avg"), st.booleans())
def test_avg_pool_forward(case, use_out):
    y_ref = case.to_user(R.avg_pool(case.logical, **case.ref_kwargs("avg")))
    kw = case.fast_kwargs("avg")
    if use_out:
        kw["out"] = _empty_out(y_ref.shape, case.dtype, case.memory, case.batched,
                               case.channels_last)
    y = _fn("avg", case.rank)(case.x, **kw)
    if use_out:
        assert y is kw["out"]
    else:
        assert y.flags.c_contiguous
    assert y.dtype == case.dtype and y.shape == y_ref.shape, case.describe()
    S.assert_close_sum(y, y_ref, case.geometry.taps, S.finite_max_abs(case.logical),
                       case.describe())


@given(S.pool_cases("avg", specials=False), st.sampled_from(S.MEMORY), st.booleans())
def test_avg_pool_backward(case, grad_memory, use_out):
    y_ref = R.avg_pool(case.logical, **case.ref_kwargs("avg"))
    g = case.grad(y_ref.shape)
    dx_ref = case.to_user(R.avg_pool_backward(g, case.logical.shape, **case.ref_kwargs("avg")))
    kw = case.fast_kwargs("avg")
    if use_out:
        kw["out"] = _empty_out(dx_ref.shape, case.dtype, case.memory, case.batched,
                               case.channels_last)
    gu = S.arrange(case.to_user(g), grad_memory, case.batched, case.channels_last)
    dx = _fn("avg", case.rank, backward=True)(gu, case.x.shape, **kw)
    if use_out:
        assert dx is kw["out"]
    else:
        assert dx.flags.c_contiguous
    assert dx.dtype == case.dtype and dx.shape == case.x.shape
    S.assert_close_sum(dx, dx_ref, case.geometry.taps, S.finite_max_abs(g), case.describe())


@given(S.pool_cases("avg", ceil_modes=(True,), count_include_pads=(True,),
                    divisor_override_ok=False, specials=False))
def test_avg_pool_ceil_mode_count_include_pad(case):
    """The divisor clipped at I + pad_end: drawn often enough to be seen."""
    y_ref = R.avg_pool(case.logical, **case.ref_kwargs("avg"))
    y = _fn("avg", case.rank)(case.x, **case.fast_kwargs("avg"))
    scale = S.finite_max_abs(case.logical)
    S.assert_close_sum(y, case.to_user(y_ref), case.geometry.taps, scale, case.describe())
    g = case.grad(y_ref.shape)
    dx_ref = R.avg_pool_backward(g, case.logical.shape, **case.ref_kwargs("avg"))
    dx = _fn("avg", case.rank, backward=True)(case.to_user(g), case.x.shape,
                                              **case.fast_kwargs("avg"))
    S.assert_close_sum(dx, case.to_user(dx_ref), case.geometry.taps, S.finite_max_abs(g),
                       case.describe())


# --------------------------------------------------------------------------
# Geometry, layouts and threads


@given(S.pool_cases("max"))
def test_pool_output_shape(case):
    y_ref, _ = R.max_pool(case.logical, **case.ref_kwargs("max"))
    expected = case.to_user(y_ref).shape
    shape = fastpool.pool_output_shape(case.x.shape, case.kernel_size, case.stride, case.padding,
                                       case.dilation, case.ceil_mode, rank=case.rank,
                                       channels_last=case.channels_last)
    assert tuple(shape) == expected, case.describe()
    if case.batched and not isinstance(case.kernel_size, int) and not case.channels_last:
        # rank defaults to len(kernel_size)
        assert fastpool.pool_output_shape(case.x.shape, case.kernel_size, case.stride,
                                          case.padding, case.dilation,
                                          case.ceil_mode) == expected


@given(S.pool_cases("max", layouts=False, threads=(1,)))
def test_channels_last_max_equals_nchw_transposed(case):
    f = _fn("max", case.rank)
    kw = case.fast_kwargs("max")
    y, i = f(case.logical, return_indices=True, **kw)
    xh = np.ascontiguousarray(S.user_view(case.logical, case.batched, True))
    yh, ih = f(xh, return_indices=True, **{**kw, "channels_last": True})
    assert np.array_equal(yh, S.user_view(y, case.batched, True), equal_nan=True)
    assert np.array_equal(ih, S.user_view(i, case.batched, True))


@given(S.pool_cases("avg", layouts=False, threads=(1,)))
def test_channels_last_avg_equals_nchw_transposed(case):
    f = _fn("avg", case.rank)
    kw = case.fast_kwargs("avg")
    y = f(case.logical, **kw)
    xh = np.ascontiguousarray(S.user_view(case.logical, case.batched, True))
    yh = f(xh, **{**kw, "channels_last": True})
    S.assert_close_sum(yh, S.user_view(y, case.batched, True), case.geometry.taps,
                       S.finite_max_abs(case.logical), case.describe())


@given(S.pool_cases("max", threads=(1,)), S.pool_cases("avg", threads=(1,)))
def test_results_do_not_depend_on_the_thread_count(mcase, acase):
    for case, kind in ((mcase, "max"), (acase, "avg")):
        f = _fn(kind, case.rank)
        kw = case.fast_kwargs(kind)
        if kind == "max":
            kw["return_indices"] = True
        one = f(case.x, **{**kw, "num_threads": 1})
        two = f(case.x, **{**kw, "num_threads": 2})
        one, two = (one, two) if kind == "max" else ((one,), (two,))
        for a, b in zip(one, two):
            assert np.array_equal(a, b, equal_nan=True), case.describe()


@given(S.pool_cases("max", specials=False))
def test_inputs_are_not_modified(case):
    before = case.x.copy()
    _fn("max", case.rank)(case.x, return_indices=True, **case.fast_kwargs("max"))
    kw = case.fast_kwargs("avg")
    kw.pop("nan_policy", None)
    _fn("avg", case.rank)(case.x, **{**kw, "count_include_pad": True, "divisor_override": None})
    assert np.array_equal(case.x, before)


@settings(max_examples=12)
@given(S.pool_cases("max", big=True), S.pool_cases("avg", big=True))
def test_larger_arrays(mcase, acase):
    """A few larger problems: several vector blocks per row and per channel run."""
    y_ref, i_ref = R.max_pool(mcase.logical, **mcase.ref_kwargs("max"))
    y, i = _fn("max", mcase.rank)(mcase.x, return_indices=True, **mcase.fast_kwargs("max"))
    assert np.array_equal(y, mcase.to_user(y_ref), equal_nan=True), mcase.describe()
    assert np.array_equal(i, mcase.to_user(i_ref)), mcase.describe()
    g = mcase.grad(y_ref.shape, integer=True)
    dx = _fn("max", mcase.rank, backward=True)(mcase.to_user(g), i, mcase.x.shape,
                                               channels_last=mcase.channels_last,
                                               num_threads=mcase.num_threads)
    dx_ref = R.max_pool_backward(g, i_ref, mcase.logical.shape, rank=mcase.rank)
    assert np.array_equal(dx, mcase.to_user(dx_ref)), mcase.describe()
    a_ref = R.avg_pool(acase.logical, **acase.ref_kwargs("avg"))
    a = _fn("avg", acase.rank)(acase.x, **acase.fast_kwargs("avg"))
    S.assert_close_sum(a, acase.to_user(a_ref), acase.geometry.taps,
                       S.finite_max_abs(acase.logical), acase.describe())
