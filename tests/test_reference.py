"""fastpool.reference checked against PyTorch, wherever PyTorch defines the behaviour.

PyTorch limits padding to kernel/2, has no dilation for average pooling and
no asymmetric padding; inside those limits the reference must agree with
``torch.nn.functional`` exactly for max pooling (values and indices) and up to
rounding for averages and gradients.  Beyond the limits it is checked against
PyTorch run on an input padded explicitly with ``np.pad``, and against the
rules of SPEC §4 written out by hand.
"""

import dataclasses
import math

import numpy as np
import pytest
import strategies as S
from hypothesis import assume, given

torch = pytest.importorskip("torch")
F = torch.nn.functional
R = S.reference

_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {2: F.avg_pool2d, 3: F.avg_pool3d}


def _batched(case):
    return case.logical if case.batched else case.logical[np.newaxis]


def _torch_geometry(case):
    g = case.geometry
    assert g.pad_begin == g.pad_end
    return g.kernel, g.stride, g.pad_begin, g.dilation


def _torch_max(a, rank, k, s, p, d, ceil_mode, grad=None):
    t = torch.from_numpy(np.ascontiguousarray(a)).requires_grad_(grad is not None)
    y, i = _MAX[rank](t, k, s, p, d, ceil_mode=ceil_mode, return_indices=True)
    dx = None
    if grad is not None:
        y.backward(torch.from_numpy(grad))
        dx = t.grad.numpy()
    return y.detach().numpy(), i.numpy(), dx


def _torch_avg(a, rank, k, s, p, ceil_mode, count_include_pad, divisor_override, grad=None):
    """avg_pool{2,3}d; a 1-d problem runs as 2-d with a unit first axis (avg_pool1d
    has no divisor_override)."""
    if rank == 1:
        a = a[:, :, np.newaxis, :]
        k, s, p = (1,) + tuple(k), (1,) + tuple(s), (0,) + tuple(p)
        if grad is not None:
            grad = grad[:, :, np.newaxis, :]
    t = torch.from_numpy(np.ascontiguousarray(a)).requires_grad_(grad is not None)
    try:
        y = _AVG[max(rank, 2)](t, k, s, p, ceil_mode=ceil_mode,
                               count_include_pad=count_include_pad,
                               divisor_override=divisor_override)
    except RuntimeError as e:
        # avg_pool3d refuses an input smaller than the kernel, padding or not.
        assume("smaller than kernel size" not in str(e))
        raise
    dx = None
    if grad is not None:
        y.backward(torch.from_numpy(np.ascontiguousarray(grad)))
        dx = t.grad.numpy()
    y = y.detach().numpy()
    if rank == 1:
        y = y[:, :, 0, :]
        dx = dx[:, :, 0, :] if dx is not None else None
    return y, dx


# --------------------------------------------------------------------------
# Inside PyTorch's domain


@given(S.torch_cases("max"))
def test_max_pool_matches_torch(case):
    k, s, p, d = _torch_geometry(case)
    y_ref, i_ref = R.max_pool(case.logical, **case.ref_kwargs("max"))
    # PyTorch leaves a window with no input cell undefined (its index points at padding).
    assume(np.all(i_ref >= 0))
    if case.nan_policy == "omit":
        assume(not np.isnan(case.logical).any())
    a = _batched(case)
    g = case.grad(R.pool_output_shape(a.shape, k, s, case.padding, d, case.ceil_mode,
                                      rank=case.rank), integer=True)
    y_t, i_t, dx_t = _torch_max(a, case.rank, k, s, p, d, case.ceil_mode, grad=g)
    if not case.batched:
        y_t, i_t, dx_t, g = y_t[0], i_t[0], dx_t[0], g[0]
    assert y_ref.dtype == case.dtype and i_ref.dtype == np.int64
    assert np.array_equal(y_ref, y_t, equal_nan=True), case.describe()
    assert np.array_equal(i_ref, i_t), case.describe()
    # Integer gradients: the sums are exact in any order.
    dx_ref = R.max_pool_backward(g, i_ref, case.logical.shape, rank=case.rank)
    assert dx_ref.dtype == case.dtype
    assert np.array_equal(dx_ref, dx_t), case.describe()


@given(S.torch_cases("max"))
def test_max_pool_backward_matches_torch_with_float_gradients(case):
    k, s, p, d = _torch_geometry(case)
    y_ref, i_ref = R.max_pool(case.logical, **case.ref_kwargs("max"))
    assume(np.all(i_ref >= 0))
    a = _batched(case)
    g = case.grad(y_ref.shape if case.batched else (1,) + y_ref.shape)
    _, _, dx_t = _torch_max(a, case.rank, k, s, p, d, case.ceil_mode, grad=g)
    if not case.batched:
        dx_t, g = dx_t[0], g[0]
    dx_ref = R.max_pool_backward(g, i_ref, case.logical.shape, rank=case.rank)
    S.assert_close_sum(dx_ref, dx_t, math.prod(case.geometry.kernel), S.finite_max_abs(g),
                       case.describe())


@given(S.torch_cases("avg"))
def test_avg_pool_matches_torch(case):
    k, s, p, d = _torch_geometry(case)
    assert d == (1,) * case.rank
    y_ref = R.avg_pool(case.logical, **case.ref_kwargs("avg"))
    a = _batched(case)
    g = case.grad(y_ref.shape if case.batched else (1,) + y_ref.shape)
    y_t, dx_t = _torch_avg(a, case.rank, k, s, p, case.ceil_mode, case.count_include_pad,
                           case.divisor_override, grad=g)
    if not case.batched:
        y_t, dx_t, g = y_t[0], dx_t[0], g[0]
    taps = math.prod(k)
    S.assert_close_sum(y_ref, y_t, taps, S.finite_max_abs(case.logical), case.describe())
    dx_ref = R.avg_pool_backward(g, case.logical.shape, **case.ref_kwargs("avg"))
    S.assert_close_sum(dx_ref, dx_t, taps, S.finite_max_abs(g), case.describe())


@given(S.torch_cases("avg", ranks=(1,)))
def test_avg_pool1d_matches_torch_avg_pool1d(case):
    k, s, p, _ = _torch_geometry(case)
    y_ref = R.avg_pool(case.logical, **{**case.ref_kwargs("avg"), "divisor_override": None})
    t = torch.from_numpy(np.ascontiguousarray(_batched(case)))
    y_t = F.avg_pool1d(t, k, s, p, ceil_mode=case.ceil_mode,
                       count_include_pad=case.count_include_pad).numpy()
    if not case.batched:
        y_t = y_t[0]
    S.assert_close_sum(y_ref, y_t, math.prod(k), S.finite_max_abs(case.logical))


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_output_size_matches_torch_exhaustively(rank, ceil_mode):
    """Every small (I, k, s, p, d) inside PyTorch's limits: the same output size,
    and the same errors."""
    for I in range(1, 12):
        for k in range(1, 5):
            for s in range(1, 5):
                for p in range(k // 2 + 1):
                    for d in range(1, 4):
                        try:
                            O = R.output_size(I, k, s, p, p, d, ceil_mode)
                        except ValueError:
                            O = None
                        shape = (1, 1) + (I,) + (1,) * (rank - 1)
                        t = torch.zeros(shape)
                        ks = (k,) + (1,) * (rank - 1)
                        ss = (s,) + (1,) * (rank - 1)
                        ps = (p,) + (0,) * (rank - 1)
                        ds = (d,) + (1,) * (rank - 1)
                        try:
                            O_t = _MAX[rank](t, ks, ss, ps, ds, ceil_mode=ceil_mode).shape[2]
                        except RuntimeError:
                            O_t = None
                        assert O == O_t, (I, k, s, p, d, ceil_mode)


# --------------------------------------------------------------------------
# Beyond PyTorch's limits: explicit padding in NumPy, then PyTorch without padding


@given(S.pool_cases("max", layouts=False, threads=(None,), forms=("pairs", "same", "same_lower"),
                    dtypes=(np.float64,)))
def test_max_pool_large_asymmetric_padding_matches_torch_on_padded_input(case):
    case = dataclasses.replace(case, ceil_mode=False)
    g = case.geometry
    a = _batched(case)
    width = [(0, 0), (0, 0)] + list(zip(g.pad_begin, g.pad_end))
    padded = np.pad(a, width, constant_values=-np.inf)
    y_t, i_t, _ = _torch_max(padded, case.rank, g.kernel, g.stride, 0, g.dilation, False)
    y_ref, i_ref = R.max_pool(case.logical, **case.ref_kwargs("max"))
    if not case.batched:
        y_t, i_t = y_t[0], i_t[0]
    if case.nan_policy == "propagate":
        assert np.array_equal(y_ref, y_t, equal_nan=True), case.describe()
    # Map PyTorch's indices in the padded plane back to the input plane.
    coords = np.unravel_index(i_t, padded.shape[2:])
    inside = np.ones(i_t.shape, bool)
    back = []
    for c, pb, size in zip(coords, g.pad_begin, g.spatial):
        inside &= (c >= pb) & (c < pb + size)
        back.append(np.clip(c - pb, 0, size - 1))
    i_back = np.where(inside, np.ravel_multi_index(tuple(back), g.spatial), -1)
    selective = ~np.isneginf(y_ref) & (case.nan_policy == "propagate")
    assert np.array_equal(i_ref[selective], i_back[selective]), case.describe()
    assert np.all(i_ref[y_ref == -np.inf] < math.prod(g.spatial))


@given(S.pool_cases("avg", layouts=False, threads=(None,), specials=False,
                    forms=("pairs", "same", "same_lower"), dilation=False))
def test_avg_pool_large_asymmetric_padding_matches_torch_on_padded_input(case):
    # Without ceil mode every window lies inside [-pb, I + pe), so zero padding
    # and count_include_pad=True give the reference's "pool" divisor.
    case = dataclasses.replace(case, ceil_mode=False, count_include_pad=True)
    g = case.geometry
    a = _batched(case)
    width = [(0, 0), (0, 0)] + list(zip(g.pad_begin, g.pad_end))
    padded = np.pad(a, width, constant_values=0)
    y_t, _ = _torch_avg(padded, case.rank, g.kernel, g.stride, (0,) * case.rank, False, True,
                        case.divisor_override)
    y_ref = R.avg_pool(case.logical, **case.ref_kwargs("avg"))
    if not case.batched:
        y_t = y_t[0]
    S.assert_close_sum(y_ref, y_t, g.taps, S.finite_max_abs(a), case.describe())


# --------------------------------------------------------------------------
# The rules of SPEC §4, by hand


def test_output_size_rules():
    assert R.output_size(32, 1, 2, 0, 0, 1, True) == 16
    assert R.output_size(9, 4, 4, 2, 2, 1, True) == 3  # the 4th window would start in padding
    assert R.output_size(9, 4, 4, 2, 2, 1, False) == 3
    assert R.output_size(10, 3, 2, 0, 0, 1, False) == 4
    assert R.output_size(10, 3, 2, 0, 0, 1, True) == 5
    assert R.output_size(7, 3, 1, 0, 0, 3, False) == 1
    with pytest.raises(ValueError):
        R.output_size(6, 3, 1, 0, 0, 3, False)
    with pytest.raises(ValueError):
        R.output_size(6, 3, 1, -1, 0, 1, False)


@pytest.mark.parametrize("I", range(1, 14))
@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("d", [1, 2])
def test_same_padding(I, k, s, d):
    (pb,), (pe,) = R.resolve_padding("same", (I,), (k,), (s,), (d,))
    (lb,), (le,) = R.resolve_padding("same_lower", (I,), (k,), (s,), (d,))
    total = max(0, (math.ceil(I / s) - 1) * s + d * (k - 1) + 1 - I)
    assert (pb, pe) == (total // 2, total - total // 2)
    assert (lb, le) == (pe, pb)
    assert R.output_size(I, k, s, pb, pe, d, False) == math.ceil(I / s)
    assert R.output_size(I, k, s, lb, le, d, True) == math.ceil(I / s)


def test_padding_forms_resolve_alike():
    spatial, k, s, d = (5, 6, 7), (2, 3, 2), (1, 2, 3), (1, 1, 2)
    assert R.resolve_padding(1, spatial, k, s, d) == ((1, 1, 1), (1, 1, 1))
    assert R.resolve_padding((1, 2, 0), spatial, k, s, d) == ((1, 2, 0), (1, 2, 0))
    assert R.resolve_padding(((1, 2), 3, (0, 4)), spatial, k, s, d) == ((1, 3, 0), (2, 3, 4))
    assert R.resolve_padding("valid", spatial, k, s, d) == ((0, 0, 0), (0, 0, 0))
    with pytest.raises(ValueError):
        R.resolve_padding("full", spatial, k, s, d)
    with pytest.raises(ValueError):
        R.resolve_padding((1, -1, 0), spatial, k, s, d)


def test_max_rules_by_hand():
    nan, inf = np.nan, np.inf
    x = np.array([[[1.0, 3.0, 3.0, 2.0,   nan, 5.0, nan, 1.0,   -inf, -inf, 0.0, 0.0]]])
    y, i = R.max_pool(x, 4)
    assert np.array_equal(y, [[[3.0, nan, 0.0]]], equal_nan=True)
    assert i.tolist() == [[[1, 6, 10]]]
    y, i = R.max_pool(x, 4, nan_policy="omit")
    assert np.array_equal(y, [[[3.0, 5.0, 0.0]]])
    assert i.tolist() == [[[1, 5, 10]]]
    # all-(-inf) window: -inf and its first valid cell; wholly-padding window: -1
    x = np.array([[[-inf, -inf]]])
    y, i = R.max_pool(x, 2, 2, padding=((3, 0),))
    assert y.tolist() == [[[-inf, -inf]]] and i.tolist() == [[[-1, 0]]]
    # all-NaN window under "omit": NaN and its first valid cell
    x = np.array([[[nan, nan, 1.0]]])
    y, i = R.max_pool(x, 2, 1, padding=((1, 0),), nan_policy="omit")
    assert np.array_equal(y, [[[nan, nan, 1.0]]], equal_nan=True)
    assert i.tolist() == [[[0, 0, 2]]]
    # "omit" ignores the NaN entirely: the first -inf is the maximum, not the NaN before it
    x = np.array([[[nan, -inf, -inf]]])
    y, i = R.max_pool(x, 3, nan_policy="omit")
    assert y.tolist() == [[[-inf]]] and i.tolist() == [[[1]]]


def test_avg_rules_by_hand():
    x = np.arange(1.0, 10.0).reshape(1, 1, 9)
    # k=4, s=4, p=2, ceil: windows [-2,2) [2,6) [6,10) clipped at I+pe = 11
    assert R.avg_pool(x, 4, 4, 2, ceil_mode=True).tolist() == [[[3 / 4, 18 / 4, 24 / 4]]]
    assert R.avg_pool(x, 4, 4, 2, ceil_mode=True, count_include_pad=False).tolist() == \
        [[[3 / 2, 18 / 4, 24 / 3]]]
    # ceil-mode overhang beyond the end padding is not counted: I=6, k=3, s=2, p=0
    x = np.arange(1.0, 7.0).reshape(1, 6)
    assert R.avg_pool(x, 3, 2, 0, ceil_mode=True, rank=1).tolist() == [[2.0, 4.0, 5.5]]
    # window wholly in padding gives 0 whatever the divisor
    for cip in (True, False):
        y = R.avg_pool(x, 2, 2, ((3, 0),), count_include_pad=cip, rank=1)
        assert y[0, 0] == 0 and y[0, 1] == (0.5 if cip else 1.0)
    # dilation: taps h0 + t*d
    x = np.arange(7.0).reshape(1, 7)
    assert R.avg_pool(x, 3, 1, 0, dilation=3, rank=1).tolist() == [[3.0]]
    assert R.avg_pool(x, 2, 5, ((0, 2),), ceil_mode=True, dilation=3, rank=1).tolist() == \
        [[1.5, 5 / 2]]
    assert R.avg_pool(x, 2, 5, ((0, 2),), ceil_mode=True, dilation=3, rank=1,
                      count_include_pad=False).tolist() == [[1.5, 5.0]]


@given(S.pool_cases("avg", layouts=False, threads=(None,), specials=False))
def test_avg_backward_is_the_adjoint_of_forward(case):
    """<avg(x), g> == <x, avg_backward(g)> in float64: forward and backward agree on
    every window and divisor."""
    x = case.logical.astype(np.float64)
    y = R.avg_pool(x, **case.ref_kwargs("avg"))
    g = case.grad(y.shape).astype(np.float64)
    dx = R.avg_pool_backward(g, x.shape, **case.ref_kwargs("avg"))
    lhs, rhs = float(np.sum(y * g)), float(np.sum(x * dx))
    assert math.isclose(lhs, rhs, rel_tol=1e-9, abs_tol=1e-9 * (1 + np.abs(x).sum())), \
        case.describe()


@given(S.pool_cases("max", layouts=False, threads=(None,), specials=False))
def test_max_values_are_read_at_their_indices(case):
    y, i = R.max_pool(case.logical, **case.ref_kwargs("max"))
    a = _batched(case).reshape(_batched(case).shape[:2] + (-1,))
    yb = y if case.batched else y[np.newaxis]
    ib = (i if case.batched else i[np.newaxis]).reshape(a.shape[:2] + (-1,))
    picked = np.take_along_axis(a, np.maximum(ib, 0), axis=-1).reshape(yb.shape)
    assert np.array_equal(np.where(ib.reshape(yb.shape) >= 0, picked, -np.inf), yb)


@given(S.pool_cases("max", layouts=False, threads=(None,)))
def test_reference_max_backward_routes_each_gradient_to_its_index(case):
    y, i = R.max_pool(case.logical, **case.ref_kwargs("max"))
    g = case.grad(y.shape, integer=True)
    dx = R.max_pool_backward(g, i, case.logical.shape, rank=case.rank)
    assert dx.shape == case.logical.shape and dx.dtype == case.dtype
    assert float(dx.sum()) == float(g[i >= 0].sum())


def test_max_backward_rejects_bad_indices():
    g = np.ones((1, 1, 2))
    with pytest.raises(IndexError):
        R.max_pool_backward(g, np.array([[[0, 4]]]), (1, 1, 4))
    with pytest.raises(IndexError):
        R.max_pool_backward(g, np.array([[[-2, 0]]]), (1, 1, 4))
    assert R.max_pool_backward(g, np.array([[[-1, 3]]]), (1, 1, 4)).tolist() == [[[0, 0, 0, 1]]]


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_unbatched_is_the_batched_result_of_one(rank):
    rng = np.random.default_rng(rank)
    x = rng.standard_normal((3,) + (7,) * rank)
    y, i = R.max_pool(x, 3, 2, 1, rank=rank)
    yb, ib = R.max_pool(x[np.newaxis], 3, 2, 1)
    assert np.array_equal(y, yb[0]) and np.array_equal(i, ib[0])
    a = R.avg_pool(x, (3,) * rank, 2, 1, ceil_mode=True)
    ab = R.avg_pool(x[np.newaxis], (3,) * rank, 2, 1, ceil_mode=True)
    assert np.array_equal(a, ab[0])
