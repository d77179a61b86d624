"""Lp, adaptive, global, unpooling and fractional pooling, and the index helpers,
against fastpool.reference on drawn problems; the reference against PyTorch
wherever PyTorch defines the behaviour.

Anything that selects or copies (max values and indices, unpooling and its
gather, fractional max) is compared exactly, NaN included; sums (averages, Lp,
gradients that accumulate) within a tolerance of a few ulps per summed term.
Cases cover float32 and float64, batched and unbatched input, NCHW and
channels-last, contiguous and strided memory, and 1 or 2 threads.
"""

import math

import numpy as np
import pytest
import strategies as S
from hypothesis import assume, given, settings
from hypothesis import strategies as st

fastpool = pytest.importorskip("fastpool")
R = S.reference


def _fn(name, rank=None, backward=False):
    suffix = "" if rank is None else f"{rank}d"
    return getattr(fastpool, f"{name}{suffix}" + ("_backward" if backward else ""))


def _empty_out(shape, dtype, memory, batched, channels_last):
    """An output buffer of the given user shape in a drawn memory arrangement,
    filled with garbage that must be overwritten."""
    return S.arrange(np.full(shape, 12345, dtype=dtype), memory, batched, channels_last)


def _check_out(result, kw):
    if "out" in kw:
        assert result is kw["out"]
    else:
        assert result.flags.c_contiguous


# --------------------------------------------------------------------------
# Lp pooling (SPEC §4.4)


def _lp_args(case):
    return (case.kernel_size, case.stride, case.ceil_mode)


def _lp_kw(case):
    return {"padding": case.padding, "dilation": case.dilation}


@given(S.lp_cases(), st.booleans())
def test_lp_pool_forward(case_p, use_out):
    case, p = case_p
    expected = case.to_user(R.lp_pool(case.logical, p, *_lp_args(case), rank=case.rank,
                                      **_lp_kw(case)))
    kw = {**_lp_kw(case), "channels_last": case.channels_last, "num_threads": case.num_threads}
    if use_out:
        kw["out"] = _empty_out(expected.shape, case.dtype, case.memory, case.batched,
                               case.channels_last)
    y = _fn("lp_pool", case.rank)(case.x, p, *_lp_args(case), **kw)
    _check_out(y, kw)
    rtol = S.lp_rtol(case.dtype, case.geometry.taps, p)
    S.assert_close_bound(y, expected, rtol * np.abs(expected.astype(np.float64)),
                         f"p={p} {case.describe()}")


@given(S.lp_cases(specials=False), st.sampled_from(S.MEMORY), st.booleans())
def test_lp_pool_backward(case_p, grad_memory, use_out):
    case, p = case_p
    args, kw = _lp_args(case), _lp_kw(case)
    y = R.lp_pool(case.logical, p, *args, rank=case.rank, **kw)
    g = case.grad(y.shape)
    dx_ref = R.lp_pool_backward(g, case.logical, y, p, *args, rank=case.rank, **kw)
    # The same sum of absolute terms bounds the rounding error.
    mag = R.lp_pool_backward(np.abs(g), np.abs(case.logical), y, p, *args, rank=case.rank, **kw)
    arr = lambda a: S.arrange(case.to_user(a), grad_memory, case.batched, case.channels_last)
    fkw = {**kw, "channels_last": case.channels_last, "num_threads": case.num_threads}
    if use_out:
        fkw["out"] = _empty_out(case.x.shape, case.dtype, case.memory, case.batched,
                                case.channels_last)
    dx = _fn("lp_pool", case.rank, backward=True)(arr(g), case.x, arr(y), p, *args, **fkw)
    _check_out(dx, fkw)
    bound = S.lp_grad_rtol(case.dtype, case.geometry.taps, p) * mag
    S.assert_close_bound(dx, case.to_user(dx_ref), case.to_user(bound),
                         f"p={p} {case.describe()}")


@given(S.lp_cases(specials=False, layouts=False, threads=(1,)))
def test_lp_pool_backward_needs_no_contiguous_y(case_p):
    """The fast forward's own output, reversed in memory, feeds the backward."""
    case, p = case_p
    y = _fn("lp_pool", case.rank)(case.x, p, *_lp_args(case), **_lp_kw(case))
    y_rev = S.arrange(y, "negative", case.batched, False)
    g = case.grad(y.shape)
    back = _fn("lp_pool", case.rank, backward=True)
    one = back(g, case.x, y, p, *_lp_args(case), **_lp_kw(case), num_threads=1)
    two = back(g, case.x, y_rev, p, *_lp_args(case), **_lp_kw(case), num_threads=2)
    assert np.array_equal(one, two), case.describe()


def _torch_lp(t, rank, p, k, s, ceil_mode):
    F = pytest.importorskip("torch").nn.functional
    if rank == 1:
        k, s = k[0], s[0]  # lp_pool1d multiplies by kernel_size: it must be an int
    return {1: F.lp_pool1d, 2: F.lp_pool2d, 3: F.lp_pool3d}[rank](t, p, k, s, ceil_mode)


@settings(max_examples=60)
@given(S.lp_cases(forms=("valid",), dilation=False, layouts=False, specials=False,
                  threads=(None,)))
def test_lp_pool_reference_matches_torch(case_p):
    """No padding, no ceil-mode overhang, and x > 0 or an even p (or p = inf, which
    PyTorch computes as max |x|): PyTorch's lp_pool is defined there."""
    torch = pytest.importorskip("torch")
    case, p = case_p
    g = case.geometry
    assume(all((O - 1) * s + k <= I for O, s, k, I in zip(g.out, g.stride, g.kernel,
                                                             g.spatial)))
    x = case.logical.astype(np.float64)
    if p not in (2.0, 4.0, math.inf) or case.seed % 3 == 0:
        x = np.abs(x) + 0.125
    x = x if case.batched else x[np.newaxis]
    y = R.lp_pool(x, p, g.kernel, g.stride, case.ceil_mode, rank=case.rank)
    t = torch.from_numpy(x).requires_grad_(True)
    ty = _torch_lp(t, case.rank, p, g.kernel, g.stride, case.ceil_mode)
    assert np.allclose(ty.detach().numpy(), y, rtol=1e-11, atol=0), case.describe()
    gr = case.grad(y.shape).astype(np.float64)
    ty.backward(torch.from_numpy(gr))
    dx = R.lp_pool_backward(gr, x, y, p, g.kernel, g.stride, case.ceil_mode, rank=case.rank)
    mag = R.lp_pool_backward(np.abs(gr), np.abs(x), y, p, g.kernel, g.stride, case.ceil_mode,
                             rank=case.rank)
    assert np.all(np.abs(t.grad.numpy() - dx) <= 1e-10 * mag + 1e-300), case.describe()


# --------------------------------------------------------------------------
# Adaptive pooling (SPEC §4.5)


@given(st.integers(1, 2**62), st.integers(1, 300))
def test_adaptive_windows(in_size, out_size):
    start, end = fastpool.adaptive_windows(in_size, out_size)
    rs, re = R.adaptive_windows(in_size, out_size)
    assert start.dtype == np.int64 and end.dtype == np.int64
    assert start.tolist() == rs.tolist() and end.tolist() == re.tolist()


@given(st.integers(1, 60), st.integers(1, 60))
def test_adaptive_windows_cover_the_input(in_size, out_size):
    start, end = fastpool.adaptive_windows(in_size, out_size)
    assert start[0] == 0 and end[-1] == in_size
    assert np.all(start < end) and np.all(np.diff(start) >= 0)
    assert np.all(start[1:] <= end[:-1])  # no cell is left out
    for o in range(out_size):
        assert start[o] * out_size <= o * in_size < (start[o] + 1) * out_size
        assert (end[o] - 1) * out_size < (o + 1) * in_size <= end[o] * out_size


def _adaptive_terms(case):
    sizes = case.logical.shape[-case.rank:]
    return math.prod(int((e - s).max()) for s, e in
                     (R.adaptive_windows(I, O) for I, O in zip(sizes, case.params["out"])))


def _adaptive_cover(case):
    sizes = case.logical.shape[-case.rank:]
    return math.prod(S.adaptive_cover(I, O) for I, O in zip(sizes, case.params["out"]))


@given(S.adaptive_cases("max"), st.sampled_from([np.int64, np.int32]), st.booleans())
def test_adaptive_max_pool_forward(case, index_dtype, use_out):
    y_ref, i_ref = R.adaptive_max_pool(case.logical, case.params["output_size"],
                                       case.params["nan_policy"], rank=case.rank)
    expect_y, expect_i = case.to_user(y_ref), case.to_user(i_ref)
    kw = {**case.common(), "nan_policy": case.params["nan_policy"], "index_dtype": index_dtype}
    if use_out:
        kw["out"] = _empty_out(expect_y.shape, case.dtype, case.memory, case.batched,
                               case.channels_last)
        kw["indices_out"] = _empty_out(expect_i.shape, index_dtype, case.memory, case.batched,
                                       case.channels_last)
    y, i = _fn("adaptive_max_pool", case.rank)(case.x, case.params["output_size"], True, **kw)
    if use_out:
        assert y is kw["out"] and i is kw["indices_out"]
    assert y.dtype == case.dtype and i.dtype == np.dtype(index_dtype)
    assert np.array_equal(y, expect_y, equal_nan=True), case.describe()
    assert np.array_equal(i, expect_i), case.describe()
    y2 = _fn("adaptive_max_pool", case.rank)(case.x, case.params["output_size"], **case.common(),
                                             nan_policy=case.params["nan_policy"])
    assert np.array_equal(y2, expect_y, equal_nan=True), case.describe()


@given(S.adaptive_cases("max"), st.booleans(), st.sampled_from(S.MEMORY), st.booleans())
def test_adaptive_max_pool_backward(case, integer_grad, grad_memory, use_out):
    y_ref, i_ref = R.adaptive_max_pool(case.logical, case.params["output_size"],
                                       case.params["nan_policy"], rank=case.rank)
    g = case.grad(y_ref.shape, integer=integer_grad)
    dx_ref = case.to_user(R.adaptive_max_pool_backward(g, i_ref, case.logical.shape,
                                                       rank=case.rank))
    kw = case.common()
    if use_out:
        kw["out"] = _empty_out(case.x.shape, case.dtype, case.memory, case.batched,
                               case.channels_last)
    dx = _fn("adaptive_max_pool", case.rank, backward=True)(
        case.arranged(g, grad_memory), case.arranged(i_ref, grad_memory), case.x.shape, **kw)
    _check_out(dx, kw)
    if integer_grad:
        assert np.array_equal(dx, dx_ref), case.describe()
    else:
        S.assert_close_sum(dx, dx_ref, _adaptive_cover(case), S.finite_max_abs(g),
                           case.describe())


@given(S.adaptive_cases("avg"), st.booleans())
def test_adaptive_avg_pool_forward(case, use_out):
    expected = case.to_user(R.adaptive_avg_pool(case.logical, case.params["output_size"],
                                                rank=case.rank))
    kw = case.common()
    if use_out:
        kw["out"] = _empty_out(expected.shape, case.dtype, case.memory, case.batched,
                               case.channels_last)
    y = _fn("adaptive_avg_pool", case.rank)(case.x, case.params["output_size"], **kw)
    _check_out(y, kw)
    S.assert_close_sum(y, expected, _adaptive_terms(case), S.finite_max_abs(case.logical),
                       case.describe())


@given(S.adaptive_cases("avg", specials=False), st.sampled_from(S.MEMORY), st.booleans())
def test_adaptive_avg_pool_backward(case, grad_memory, use_out):
    out_shape = case.logical.shape[:-case.rank] + case.params["out"]
    g = case.grad(out_shape)
    dx_ref = R.adaptive_avg_pool_backward(g, case.logical.shape, rank=case.rank)
    kw = case.common()
    if use_out:
        kw["out"] = _empty_out(case.x.shape, case.dtype, case.memory, case.batched,
                               case.channels_last)
    dx = _fn("adaptive_avg_pool", case.rank, backward=True)(case.arranged(g, grad_memory),
                                                            case.x.shape, **kw)
    _check_out(dx, kw)
    S.assert_close_sum(dx, case.to_user(dx_ref), _adaptive_cover(case), S.finite_max_abs(g),
                       case.describe())


def _torch_adaptive(kind, rank):
    F = pytest.importorskip("torch").nn.functional
    return getattr(F, f"adaptive_{kind}_pool{rank}d")


@settings(max_examples=80)
@given(S.adaptive_cases("max", layouts=False, threads=(None,), nan_policies=("propagate",),
                        batched=(True,)))
def test_adaptive_max_pool_reference_matches_torch(case):
    torch = pytest.importorskip("torch")
    osz = case.params["output_size"]
    if case.rank == 1 and isinstance(osz, tuple):
        osz = case.params["out"]  # adaptive_max_pool1d takes no None
    y, i = R.adaptive_max_pool(case.logical, case.params["output_size"], rank=case.rank)
    t = torch.from_numpy(case.logical).requires_grad_(True)
    ty, ti = _torch_adaptive("max", case.rank)(t, osz, return_indices=True)
    assert np.array_equal(ty.detach().numpy(), y, equal_nan=True), case.describe()
    assert np.array_equal(ti.numpy(), i), case.describe()
    g = case.grad(y.shape, integer=True)
    ty.backward(torch.from_numpy(g))
    dx = R.adaptive_max_pool_backward(g, i, case.logical.shape)
    assert np.array_equal(t.grad.numpy(), dx), case.describe()


@settings(max_examples=80)
@given(S.adaptive_cases("avg", layouts=False, threads=(None,), specials=False,
                        batched=(True,), dtypes=(np.float64,)))
def test_adaptive_avg_pool_reference_matches_torch(case):
    torch = pytest.importorskip("torch")
    osz = case.params["output_size"]
    if case.rank == 1 and isinstance(osz, tuple):
        osz = case.params["out"]
    y = R.adaptive_avg_pool(case.logical, case.params["output_size"], rank=case.rank)
    t = torch.from_numpy(case.logical).requires_grad_(True)
    ty = _torch_adaptive("avg", case.rank)(t, osz)
    S.assert_close_sum(ty.detach().numpy(), y, _adaptive_terms(case),
                       S.finite_max_abs(case.logical), case.describe())
    g = case.grad(y.shape)
    ty.backward(torch.from_numpy(g))
    dx = R.adaptive_avg_pool_backward(g, case.logical.shape)
    S.assert_close_sum(t.grad.numpy(), dx, _adaptive_cover(case), S.finite_max_abs(g),
                       case.describe())


# --------------------------------------------------------------------------
# Global pooling


@given(S.global_cases("max"), st.booleans(), st.booleans())
def test_global_max_pool(case, use_out, integer_grad):
    policy = case.params["nan_policy"]
    y_ref, i_ref = R.global_max_pool(case.logical, policy)
    expect_y, expect_i = case.to_user(y_ref), case.to_user(i_ref)
    kw = {**case.common(), "nan_policy": policy}
    if use_out:
        kw["out"] = _empty_out(expect_y.shape, case.dtype, case.memory, True,
                               case.channels_last)
        kw["indices_out"] = _empty_out(expect_i.shape, np.int64, case.memory, True,
                                       case.channels_last)
    y, i = fastpool.global_max_pool(case.x, True, **kw)
    assert y.shape == expect_y.shape, case.describe()
    assert np.array_equal(y, expect_y, equal_nan=True), case.describe()
    assert np.array_equal(i, expect_i), case.describe()
    g = case.grad(y_ref.shape, integer=integer_grad)
    dx = fastpool.global_max_pool_backward(case.arranged(g), i, case.x.shape, **case.common())
    dx_ref = R.global_max_pool_backward(g, i_ref, case.logical.shape)
    assert np.array_equal(dx, case.to_user(dx_ref)), case.describe()


@given(S.global_cases("avg"), st.booleans())
def test_global_avg_pool(case, use_out):
    expected = case.to_user(R.global_avg_pool(case.logical))
    kw = case.common()
    if use_out:
        kw["out"] = _empty_out(expected.shape, case.dtype, case.memory, True,
                               case.channels_last)
    y = fastpool.global_avg_pool(case.x, **kw)
    _check_out(y, kw)
    plane = math.prod(case.logical.shape[2:])
    S.assert_close_sum(y, expected, plane, S.finite_max_abs(case.logical), case.describe())
    g = case.grad(case.logical.shape[:2] + (1,) * case.rank)
    dx = fastpool.global_avg_pool_backward(case.arranged(g), case.x.shape, **case.common())
    dx_ref = R.global_avg_pool_backward(g, case.logical.shape)
    S.assert_close_sum(dx, case.to_user(dx_ref), 1, S.finite_max_abs(g), case.describe())


@given(S.global_cases("lp"), st.booleans())
def test_global_lp_pool(case, use_out):
    p = case.params["p"]
    y_ref = R.global_lp_pool(case.logical, p)
    expected = case.to_user(y_ref)
    kw = case.common()
    if use_out:
        kw["out"] = _empty_out(expected.shape, case.dtype, case.memory, True,
                               case.channels_last)
    y = fastpool.global_lp_pool(case.x, p, **kw)
    _check_out(y, kw)
    plane = math.prod(case.logical.shape[2:])
    rtol = S.lp_rtol(case.dtype, plane, p)
    S.assert_close_bound(y, expected, rtol * np.abs(expected.astype(np.float64)),
                         f"p={p} {case.describe()}")


@given(S.global_cases("lp", specials=False))
def test_global_lp_pool_backward(case):
    p = case.params["p"]
    y = R.global_lp_pool(case.logical, p)
    g = case.grad(y.shape)
    dx_ref = R.global_lp_pool_backward(g, case.logical, y, p)
    mag = R.global_lp_pool_backward(np.abs(g), np.abs(case.logical), y, p)
    dx = fastpool.global_lp_pool_backward(case.arranged(g), case.x, case.arranged(y), p,
                                          **case.common())
    bound = S.lp_grad_rtol(case.dtype, 1, p) * mag
    S.assert_close_bound(dx, case.to_user(dx_ref), case.to_user(bound),
                         f"p={p} {case.describe()}")


# --------------------------------------------------------------------------
# Max unpooling (SPEC §4.6)


def _unpool_args(case):
    p = case.params
    return (p["kernel_size"], p["stride"], p["padding"])


def _fast_output_size(case):
    """output_size for fastpool: spatial, or the full shape (NCHW only: with
    channels_last fastpool reads a full shape in PyTorch's order, see
    test_ops_traps.test_unpool_full_output_size_channels_last)."""
    size = case.params["output_size"]
    if size is None or len(size) == case.rank:
        return size
    return size[-case.rank:] if case.channels_last else size


@given(S.unpool_cases(), st.booleans())
def test_max_unpool_forward(case, use_out):
    idx = case.params["indices"]
    expected = case.to_user(R.max_unpool(case.logical, idx, *_unpool_args(case),
                                         case.params["output_size"], rank=case.rank))
    kw = case.common()
    if use_out:
        kw["out"] = _empty_out(expected.shape, case.dtype, case.memory, case.batched,
                               case.channels_last)
    y = _fn("max_unpool", case.rank)(case.x, case.arranged(idx), *_unpool_args(case),
                                     _fast_output_size(case), **kw)
    _check_out(y, kw)
    assert y.dtype == case.dtype and y.shape == expected.shape, case.describe()
    assert np.array_equal(y, expected, equal_nan=True), case.describe()


@given(S.unpool_cases(specials=False), st.sampled_from(S.MEMORY), st.booleans())
def test_max_unpool_backward(case, grad_memory, use_out):
    idx = case.params["indices"]
    out_shape = case.logical.shape[:-case.rank] + case.params["out"]
    g = case.grad(out_shape)
    expected = case.to_user(R.max_unpool_backward(g, idx, *_unpool_args(case),
                                                  case.params["output_size"], rank=case.rank))
    kw = case.common()
    if use_out:
        kw["out"] = _empty_out(expected.shape, case.dtype, case.memory, case.batched,
                               case.channels_last)
    dx = _fn("max_unpool", case.rank, backward=True)(
        case.arranged(g, grad_memory), case.arranged(idx), *_unpool_args(case),
        _fast_output_size(case), **kw)
    _check_out(dx, kw)
    assert np.array_equal(dx, expected), case.describe()


@settings(max_examples=80)
@given(S.unpool_cases(layouts=False, threads=(None,), index_modes=("distinct", "pooled"),
                      forms=("int", "tuple", "valid"), allow_minus_one=False,
                      batched=(True,)))
def test_max_unpool_reference_matches_torch(case):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    idx = case.params["indices"].astype(np.int64)
    assume((idx >= 0).all())
    k, s, padding = _unpool_args(case)
    pad = 0 if padding == "valid" else padding
    y = R.max_unpool(case.logical, idx, k, s, padding, case.params["output_size"],
                     rank=case.rank)
    planes = idx.reshape(idx.shape[0] * idx.shape[1], -1)
    # PyTorch leaves duplicates unspecified (its CPU kernel keeps the first; fastpool the last).
    assume(all(len(set(row.tolist())) == row.size for row in planes))
    t = torch.from_numpy(case.logical).requires_grad_(True)
    f = {1: F.max_unpool1d, 2: F.max_unpool2d, 3: F.max_unpool3d}[case.rank]
    ty = f(t, torch.from_numpy(idx), k, s, pad, case.params["output_size"])
    assert np.array_equal(ty.detach().numpy(), y, equal_nan=True), case.describe()
    g = case.grad(y.shape)
    ty.backward(torch.from_numpy(g))
    dx = R.max_unpool_backward(g, idx, k, s, padding, case.params["output_size"],
                               rank=case.rank)
    assert np.array_equal(t.grad.numpy(), dx), case.describe()


# --------------------------------------------------------------------------
# Fractional max pooling (SPEC §4.7)


def _fractional_kw(case):
    p = case.params
    kw = {"samples": p["samples"], "nan_policy": p["nan_policy"]}
    if "output_ratio" in p:
        kw["output_ratio"] = p["output_ratio"]
    else:
        kw["output_size"] = p["output_size"]
    return kw


def _fractional_ref(case):
    return R.fractional_max_pool(case.logical, case.params["kernel_size"], rank=case.rank,
                                 **_fractional_kw(case))


@given(S.fractional_cases(), st.sampled_from([np.int64, np.int32]), st.booleans())
def test_fractional_max_pool_forward(case, index_dtype, use_out):
    y_ref, i_ref = _fractional_ref(case)
    expect_y, expect_i = case.to_user(y_ref), case.to_user(i_ref)
    kw = {**case.common(), **_fractional_kw(case), "index_dtype": index_dtype}
    if not case.batched and case.seed % 2:
        kw["samples"] = kw["samples"][0]  # (C, rank) for unbatched input
    if use_out:
        kw["out"] = _empty_out(expect_y.shape, case.dtype, case.memory, case.batched,
                               case.channels_last)
        kw["indices_out"] = _empty_out(expect_i.shape, index_dtype, case.memory, case.batched,
                                       case.channels_last)
    y, i = _fn("fractional_max_pool", case.rank)(case.x, case.params["kernel_size"],
                                                 return_indices=True, **kw)
    if use_out:
        assert y is kw["out"] and i is kw["indices_out"]
    assert y.dtype == case.dtype and i.dtype == np.dtype(index_dtype)
    assert np.array_equal(y, expect_y, equal_nan=True), case.describe()
    assert np.array_equal(i, expect_i), case.describe()


@given(S.fractional_cases(), st.booleans(), st.sampled_from(S.MEMORY))
def test_fractional_max_pool_backward(case, integer_grad, grad_memory):
    y_ref, i_ref = _fractional_ref(case)
    g = case.grad(y_ref.shape, integer=integer_grad)
    _, i = _fn("fractional_max_pool", case.rank)(case.x, case.params["kernel_size"],
                                                 return_indices=True, **case.common(),
                                                 **_fractional_kw(case))
    dx = _fn("fractional_max_pool", case.rank, backward=True)(
        case.arranged(g, grad_memory), S.arrange(i, grad_memory, case.batched,
                                                 case.channels_last),
        case.x.shape, **case.common())
    dx_ref = R.fractional_max_pool_backward(g, i_ref, case.logical.shape, rank=case.rank)
    if integer_grad:
        assert np.array_equal(dx, case.to_user(dx_ref)), case.describe()
    else:
        k = case.params["kernel_size"]
        taps = math.prod(k) if isinstance(k, tuple) else k ** case.rank
        S.assert_close_sum(dx, case.to_user(dx_ref), taps, S.finite_max_abs(g),
                           case.describe())


@settings(max_examples=80)
@given(S.fractional_cases(layouts=False, threads=(None,), nan_policies=("propagate",),
                          batched=(True,)))
def test_fractional_max_pool_reference_matches_torch(case):
    """PyTorch's windows for the same _random_samples, in float32 and float64."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    f = {2: F.fractional_max_pool2d, 3: F.fractional_max_pool3d}[case.rank]
    kw = _fractional_kw(case)
    y, i = _fractional_ref(case)
    t = torch.from_numpy(case.logical).requires_grad_(True)
    if case.rank == 3:
        # fractional_max_pool3d wants O + k - 1 < I, one less than 2-D's (and fastpool's) <=.
        sizes = case.logical.shape[2:]
        k = case.params["kernel_size"]
        k = k if isinstance(k, tuple) else (k,) * 3
        assume(all(o + ki - 1 < I for o, ki, I in zip(case.params["out"], k, sizes)))
    if "output_ratio" in kw:
        ratio = kw["output_ratio"]
        # PyTorch calls len() on the ratio: give it a tuple.
        tkw = {"output_ratio": ratio if isinstance(ratio, tuple) else (ratio,) * case.rank}
    else:
        tkw = {"output_size": case.params["out"]}
    ty, ti = f(t, case.params["kernel_size"], return_indices=True,
               _random_samples=torch.from_numpy(kw["samples"]), **tkw)
    assert np.array_equal(ty.detach().numpy(), y, equal_nan=True), case.describe()
    assert np.array_equal(ti.numpy(), i), case.describe()
    g = case.grad(y.shape, integer=True)
    ty.backward(torch.from_numpy(g))
    dx = R.fractional_max_pool_backward(g, i, case.logical.shape)
    assert np.array_equal(t.grad.numpy(), dx), case.describe()


# --------------------------------------------------------------------------
# Output shapes of every family


@given(S.lp_cases(specials=False))
def test_pool_output_shape_lp(case_p):
    case, p = case_p
    y = _fn("lp_pool", case.rank)(case.x, p, *_lp_args(case), **_lp_kw(case),
                                  channels_last=case.channels_last)
    ref = R.pool_output_shape(case.logical.shape, case.kernel_size, case.stride, case.padding,
                              case.dilation, case.ceil_mode, op="lp", rank=case.rank)
    shape = fastpool.pool_output_shape(case.x.shape, case.kernel_size, case.stride,
                                       case.padding, case.dilation, case.ceil_mode, op="lp",
                                       rank=case.rank, channels_last=case.channels_last)
    assert tuple(shape) == y.shape == case.to_user(np.empty(ref)).shape, case.describe()


@given(S.adaptive_cases("avg", specials=False))
def test_pool_output_shape_adaptive(case):
    osz = case.params["output_size"]
    ref = R.pool_output_shape(case.logical.shape, op="adaptive", output_size=osz,
                              rank=case.rank)
    shape = fastpool.pool_output_shape(case.x.shape, op="adaptive", output_size=osz,
                                       rank=case.rank, channels_last=case.channels_last)
    y = _fn("adaptive_avg_pool", case.rank)(case.x, osz, channels_last=case.channels_last)
    assert tuple(shape) == y.shape == case.user_shape(ref), case.describe()


@given(S.global_cases("avg", specials=False))
def test_pool_output_shape_global(case):
    ref = R.pool_output_shape(case.logical.shape, op="global")
    shape = fastpool.pool_output_shape(case.x.shape, op="global",
                                       channels_last=case.channels_last)
    y = fastpool.global_avg_pool(case.x, channels_last=case.channels_last)
    assert tuple(shape) == y.shape == case.user_shape(ref), case.describe()


@given(S.unpool_cases(specials=False))
def test_pool_output_shape_unpool(case):
    k, s, padding = _unpool_args(case)
    osz = case.params["output_size"]
    ref = R.pool_output_shape(case.logical.shape, k, s, padding, op="unpool", output_size=osz,
                              rank=case.rank)
    shape = fastpool.pool_output_shape(case.x.shape, k, s, padding, op="unpool",
                                       output_size=_fast_output_size(case), rank=case.rank,
                                       channels_last=case.channels_last)
    assert tuple(shape) == case.user_shape(ref), case.describe()
    assert ref[-case.rank:] == case.params["out"]


@given(S.fractional_cases(specials=False))
def test_pool_output_shape_fractional(case):
    p = case.params
    size, ratio = p.get("output_size"), p.get("output_ratio")
    ref = R.pool_output_shape(case.logical.shape, p["kernel_size"], op="fractional",
                              output_size=size, output_ratio=ratio, rank=case.rank)
    shape = fastpool.pool_output_shape(case.x.shape, p["kernel_size"], op="fractional",
                                       output_size=size, output_ratio=ratio, rank=case.rank,
                                       channels_last=case.channels_last)
    assert tuple(shape) == case.user_shape(ref), case.describe()
    assert ref[-case.rank:] == p["out"]


# --------------------------------------------------------------------------
# Index conventions


_CONVENTIONS = ("torch", "onnx", "tf")


@given(S.index_cases(), st.sampled_from(_CONVENTIONS), st.sampled_from(_CONVENTIONS),
       st.sampled_from((0, 1)), st.booleans())
def test_convert_indices(case, source, target, storage_order, include_batch):
    shape = case.params["input_shape"]
    kw = {"storage_order": storage_order, "include_batch": include_batch}
    src = R.convert_indices(case.logical, shape, "torch", source, **kw)
    expected = R.convert_indices(src, shape, source, target, **kw)
    got = fastpool.convert_indices(case.to_user(src.astype(case.dtype)), case.user_shape(shape),
                                   source, target, channels_last=case.channels_last, **kw)
    assert got.dtype == np.int64 and got.flags.c_contiguous
    assert np.array_equal(got, case.to_user(expected)), case.describe()
    # Back to PyTorch's convention is the identity on what we started from.
    back = fastpool.convert_indices(got, case.user_shape(shape), target, "torch",
                                    channels_last=case.channels_last, **kw)
    assert np.array_equal(back, case.to_user(case.logical)), case.describe()
