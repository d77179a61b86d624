"""Bilinear pooling and NetVLAD (SPEC §4.12): properties against the float64
reference, forward and backward, in every layout; backward against central
finite differences; the named traps; PyTorch's compositions; thread-count
determinism; the memory bound of NetVLAD; bad inputs."""

import math
import re
import tracemalloc

import numpy as np
import pytest
import strategies as S
from hypothesis import assume, given, settings
from hypothesis import strategies as st

fastpool = pytest.importorskip("fastpool")
R = S.reference

# --------------------------------------------------------------------------
# Cases


def _user(logical, batched, channels_last, memory):
    """The user-layout array handed to fastpool for a batched logical array."""
    a = logical if batched else logical[0]
    return S.arrange(S.user_view(a, batched, channels_last), memory, batched, channels_last)


def _to_logical(user, batched, channels_last):
    a = S.logical_view(user, batched, channels_last)
    return a if batched else a[np.newaxis]


def _values(rng, shape, kind, positive=False):
    if kind == "ints":
        a = rng.integers(-3, 4, size=shape).astype(np.float64)
    elif kind == "wide":
        a = rng.standard_normal(shape) * 10.0 ** rng.integers(-2, 3, size=shape)
    else:
        a = rng.standard_normal(shape)
    if positive:
        a = 0.1 + np.abs(a) % 2.0
    return a


@st.composite
def layouts(draw):
    return {
        "batched": draw(st.booleans()),
        "channels_last": draw(st.booleans()),
        "memory": draw(st.sampled_from(S.MEMORY)),
        "threads": draw(st.sampled_from((None, 1, 2))),
    }


@st.composite
def spatial_shapes(draw, max_positions=40):
    rank = draw(st.integers(1, 3))
    limit = {1: 40, 2: 7, 3: 4}[rank]
    shape = tuple(draw(st.integers(1, limit)) for _ in range(rank))
    assume(math.prod(shape) <= max_positions)
    return rank, shape


@st.composite
def bilinear_cases(draw, dtypes=(np.float32, np.float64), positive=False):
    rank, spatial = draw(spatial_shapes())
    lay = draw(layouts())
    n = draw(st.integers(1, 3)) if lay["batched"] else 1
    cx = draw(st.integers(1, 12))
    two = draw(st.booleans())
    cy = draw(st.integers(1, 10)) if two else cx
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(("normal", "ints", "wide")))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    x = _values(rng, (n, cx) + spatial, kind, positive).astype(dtype)
    y = _values(rng, (n, cy) + spatial, kind, positive).astype(dtype) if two else None
    opts = {"average": draw(st.booleans()), "signed_sqrt": draw(st.booleans()),
            "l2_normalize": draw(st.booleans())}
    return dict(lay, rank=rank, x=x, y=y, dtype=dtype, opts=opts, rng=rng)


@st.composite
def netvlad_cases(draw, dtypes=(np.float32, np.float64)):
    rank, spatial = draw(spatial_shapes())
    lay = draw(layouts())
    n = draw(st.integers(1, 3)) if lay["batched"] else 1
    d = draw(st.integers(1, 10))
    k = draw(st.integers(1, 7))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    x = rng.standard_normal((n, d) + spatial).astype(dtype)
    w = rng.standard_normal((k, d)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    c = (rng.standard_normal((k, d)) * draw(st.sampled_from((0.1, 1.0)))).astype(dtype)
    return dict(lay, rank=rank, x=x, w=w, b=b, c=c, dtype=dtype,
                normalize_input=draw(st.booleans()), rng=rng)


def _call_kw(case):
    return {"spatial_rank": case["rank"], "channels_last": case["channels_last"],
            "num_threads": case["threads"]}


# --------------------------------------------------------------------------
# Error bounds of the float computations (float32 sums in float32)


def _eps(dtype):
    return float(np.finfo(dtype).eps)


def _norm_bound(v, ev, eps, axis):
    """Bound on the error of v / max(||v||, eps) given elementwise errors ev of v."""
    n = np.sqrt((v * v).sum(axis=axis, keepdims=True))
    en = np.sqrt((ev * ev).sum(axis=axis, keepdims=True))
    z = v / np.maximum(n, eps)
    return (ev + np.abs(z) * en) / np.maximum(n - en, eps)


def _bilinear_bound(x, y, opts, dtype, eps=1e-12):
    """Per-element error bound of bilinear_pool in dtype, from float64 values."""
    e = _eps(dtype)
    X = x.reshape(x.shape[0], x.shape[1], -1)
    Y = X if y is None else y.reshape(y.shape[0], y.shape[1], -1)
    P = X.shape[2]
    scale = (1.0 / P if P else 0.0) if opts["average"] else 1.0
    B = np.einsum("nip,njp->nij", X, Y).reshape(X.shape[0], -1) * scale
    eb = 2 * e * (P + 4) * scale * np.einsum("nip,njp->nij", np.abs(X), np.abs(Y)).reshape(B.shape)
    eb = eb + e * np.abs(B)
    v, ev = B, eb
    if opts["signed_sqrt"]:
        v = np.sign(B) * np.sqrt(np.abs(B))
        ev = 2 * eb / np.sqrt(np.maximum(np.abs(B), eb + 1e-300)) + 2 * e * np.abs(v)
    if opts["l2_normalize"]:
        ev = _norm_bound(v, ev, eps, axis=1) + 4 * e
    return 4 * ev + 1e-300


def _netvlad_bound(x, w, b, c, normalize_input, dtype, eps=1e-12):
    """Per-element error bound of netvlad in dtype, from the float64 reference's
    intermediates: logit errors move the soft assignment, the sums over D and
    P add their own rounding, each normalisation divides by its norm."""
    e = _eps(dtype)
    X = x.reshape(x.shape[0], x.shape[1], -1)
    N, D, P = X.shape
    Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), eps) if normalize_input else X
    L = np.einsum("kd,ndp->nkp", w, Xn) + b[None, :, None]
    A = np.exp(L - L.max(1, keepdims=True))
    A /= A.sum(1, keepdims=True)
    dl = 2 * e * (D + 4) * (np.einsum("kd,ndp->nkp", np.abs(w), np.abs(Xn)) + np.abs(b)[None, :, None])
    ea = 4 * A * dl.max(axis=1, keepdims=True) + 4 * e * A
    Rabs = np.abs(Xn[:, None, :, :] - c[None, :, :, None])
    V = np.einsum("nkp,nkdp->nkd", A, Xn[:, None] - c[None, :, :, None])
    ev = np.einsum("nkp,nkdp->nkd", ea + 2 * e * (P + D + 4) * A, Rabs) + 4 * e * np.abs(V)
    U = V / np.maximum(np.linalg.norm(V, axis=2, keepdims=True), eps)
    eu = _norm_bound(V, ev, eps, axis=2) + 4 * e
    eu = eu.reshape(N, -1)
    ez = _norm_bound(U.reshape(N, -1), eu, eps, axis=1) + 4 * e
    return 8 * ez


def _assert_bound(actual, expected, bound, msg=""):
    actual = np.asarray(actual, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape, msg)
    diff = np.abs(actual - expected)
    bound = np.broadcast_to(bound, expected.shape)
    ok = diff <= bound
    if not np.all(ok):
        i = np.unravel_index(np.argmax(diff - bound), diff.shape)
        raise AssertionError(f"{msg}: {actual[i]} vs {expected[i]} at {i}, diff {diff[i]}, "
                             f"bound {bound[i]}")


def _assert_rel(actual, expected, rtol, msg="", floor=0.0):
    """|actual - expected| <= rtol * max(max|expected|, floor): a gradient's
    error follows the size of its largest terms, and floor stands for them
    where the gradient itself cancels to (almost) nothing."""
    actual = np.asarray(actual, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape, msg)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    diff = np.abs(actual - expected)
    tol = rtol * max(scale, floor) + 1e-300
    if diff.size and not np.all(diff <= tol):
        i = np.unravel_index(np.argmax(diff), diff.shape)
        raise AssertionError(f"{msg}: {actual[i]} vs {expected[i]} at {i}, diff {diff[i]}, "
                             f"tol {tol}")


def _bilinear_grad_terms(g, x, y, opts, eps=1e-12):
    """The size of the largest term of bilinear_pool's gradient: the chain
    rule with every factor replaced by its magnitude."""
    X = x.reshape(x.shape[0], x.shape[1], -1)
    Y = X if y is None else y.reshape(y.shape[0], y.shape[1], -1)
    P = X.shape[2]
    scale = (1.0 / P if P else 0.0) if opts["average"] else 1.0
    u = np.einsum("nip,njp->nij", X, Y).reshape(X.shape[0], -1) * scale
    s = np.sign(u) * np.sqrt(np.abs(u)) if opts["signed_sqrt"] else u
    ds = np.abs(g)
    if opts["l2_normalize"]:
        r = np.maximum(np.linalg.norm(s, axis=1, keepdims=True), eps)
        ds = 2 * ds.max(axis=1, keepdims=True) / r * np.ones_like(s)
    if opts["signed_sqrt"]:
        ds = ds * 0.5 / np.sqrt(np.abs(u) + eps)
    db = (ds * scale).reshape(X.shape[0], X.shape[1], Y.shape[1])
    return max(float(np.max(np.einsum("nij,njp->nip", db, np.abs(Y)), initial=0)),
               float(np.max(np.einsum("nij,nip->njp", db, np.abs(X)), initial=0)))


# --------------------------------------------------------------------------
# Properties: bilinear pooling


@settings(max_examples=60, deadline=None)
@given(bilinear_cases())
def test_bilinear_pool_matches_reference(case):
    x, y, opts = case["x"], case["y"], case["opts"]
    xu = _user(x, case["batched"], case["channels_last"], case["memory"])
    yu = None if y is None else _user(y, case["batched"], case["channels_last"], case["memory"])
    out = fastpool.bilinear_pool(xu, yu, **opts, **_call_kw(case))
    x64 = x.astype(np.float64)
    y64 = None if y is None else y.astype(np.float64)
    expected = R.bilinear_pool(x64, y64, **opts)
    assert out.dtype == case["dtype"] and out.flags.c_contiguous
    got = out if case["batched"] else out[np.newaxis]
    _assert_bound(got, expected, _bilinear_bound(x64, y64, opts, case["dtype"]), "bilinear_pool")


@settings(max_examples=40, deadline=None)
@given(bilinear_cases(dtypes=(np.float64,)))
def test_bilinear_pool_backward_matches_reference_float64(case):
    x, y, opts = case["x"], case["y"], case["opts"]
    bat, cl = case["batched"], case["channels_last"]
    cy = x.shape[1] if y is None else y.shape[1]
    g = case["rng"].standard_normal((x.shape[0], x.shape[1] * cy))
    xu = _user(x, bat, cl, case["memory"])
    yu = None if y is None else _user(y, bat, cl, case["memory"])
    res = fastpool.bilinear_pool_backward(g if bat else g[0], xu, yu, **opts, **_call_kw(case))
    expected = R.bilinear_pool_backward(g, x, y, **opts)
    terms = _bilinear_grad_terms(g, x, y, opts)
    if y is None:
        assert res.shape == xu.shape and res.flags.c_contiguous
        _assert_rel(_to_logical(res, bat, cl), expected, 1e-9, "dx", terms)
    else:
        for got, arr, exp, what in ((res[0], xu, expected[0], "dx"), (res[1], yu, expected[1], "dy")):
            assert got.shape == arr.shape and got.flags.c_contiguous
            _assert_rel(_to_logical(got, bat, cl), exp, 1e-9, what, terms)


@settings(max_examples=30, deadline=None)
@given(bilinear_cases(dtypes=(np.float32,), positive=True))
def test_bilinear_pool_backward_float32_near_float64(case):
    # positive features (after a ReLU, as in B-CNN): B is well away from 0,
    # where float32 products could not place the signed square root's slope
    x, y, opts = case["x"], case["y"], case["opts"]
    bat, cl = case["batched"], case["channels_last"]
    cy = x.shape[1] if y is None else y.shape[1]
    g = case["rng"].standard_normal((x.shape[0], x.shape[1] * cy)).astype(np.float32)
    xu = _user(x, bat, cl, case["memory"])
    yu = None if y is None else _user(y, bat, cl, case["memory"])
    res = fastpool.bilinear_pool_backward(g if bat else g[0], xu, yu, **opts, **_call_kw(case))
    y64 = None if y is None else y.astype(np.float64)
    expected = R.bilinear_pool_backward(g.astype(np.float64), x.astype(np.float64), y64, **opts)
    got = (res,) if y is None else res
    exp = (expected,) if y is None else expected
    P = math.prod(x.shape[2:])
    terms = _bilinear_grad_terms(g.astype(np.float64), x.astype(np.float64), y64, opts)
    for a, b in zip(got, exp):
        assert a.dtype == np.float32
        _assert_rel(_to_logical(a, bat, cl), b, 2e-5 * (P + max(x.shape[1], cy)), "float32 grad",
                    terms)


# --------------------------------------------------------------------------
# Properties: NetVLAD


@settings(max_examples=60, deadline=None)
@given(netvlad_cases())
def test_netvlad_matches_reference(case):
    x, w, b, c = case["x"], case["w"], case["b"], case["c"]
    xu = _user(x, case["batched"], case["channels_last"], case["memory"])
    out = fastpool.netvlad(xu, w, b, c, normalize_input=case["normalize_input"], **_call_kw(case))
    args64 = [a.astype(np.float64) for a in (x, w, b, c)]
    expected = R.netvlad(*args64, normalize_input=case["normalize_input"])
    assert out.dtype == case["dtype"] and out.flags.c_contiguous
    got = out if case["batched"] else out[np.newaxis]
    bound = _netvlad_bound(*args64, case["normalize_input"], case["dtype"])
    _assert_bound(got, expected, bound, "netvlad")


def _netvlad_conditioned(x, w, b, c, normalize_input, eps=1e-12):
    """The smallest ratio of a VLAD row's norm to the size of its terms: tiny
    means the intra-normalisation divides rounding noise by almost nothing."""
    X = x.reshape(x.shape[0], x.shape[1], -1)
    Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), eps) if normalize_input else X
    L = np.einsum("kd,ndp->nkp", w, Xn) + b[None, :, None]
    A = np.exp(L - L.max(1, keepdims=True))
    A /= A.sum(1, keepdims=True)
    R_ = Xn[:, None] - c[None, :, :, None]
    V = np.einsum("nkp,nkdp->nkd", A, R_)
    size = np.einsum("nkp,nkdp->nkd", A, np.abs(R_))
    return float(np.min(np.linalg.norm(V, axis=2) / (np.linalg.norm(size, axis=2) + 1e-300)))


def _netvlad_grad_terms(g, x, w, b, c, normalize_input, eps=1e-12):
    """A bound on the size of the largest term of netvlad's gradients: the
    output gradient through both normalisations (divided by the norms), times
    the largest factors the remaining chain rule multiplies by."""
    X = x.reshape(x.shape[0], x.shape[1], -1)
    _, D, P = X.shape
    Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), eps) if normalize_input else X
    L = np.einsum("kd,ndp->nkp", w, Xn) + b[None, :, None]
    A = np.exp(L - L.max(1, keepdims=True))
    A /= A.sum(1, keepdims=True)
    V = np.einsum("nkp,nkdp->nkd", A, Xn[:, None] - c[None, :, :, None])
    rho = np.maximum(np.linalg.norm(V, axis=2), eps)
    dv = 2 * float(np.max(np.abs(g))) / float(np.min(rho))
    big = 1 + float(np.max(np.abs(Xn), initial=0)) + float(np.max(np.abs(c), initial=0))
    inv_m = 1.0
    if normalize_input:
        inv_m = 1 / max(float(np.min(np.linalg.norm(X, axis=1), initial=1)), eps)
    return dv * big * (1 + float(np.max(np.abs(w)))) * (P + D + 1) * inv_m


@settings(max_examples=40, deadline=None)
@given(netvlad_cases(dtypes=(np.float64,)))
def test_netvlad_backward_matches_reference_float64(case):
    x, w, b, c = case["x"], case["w"], case["b"], case["c"]
    assume(_netvlad_conditioned(x, w, b, c, case["normalize_input"]) > 1e-6)
    bat, cl = case["batched"], case["channels_last"]
    g = case["rng"].standard_normal((x.shape[0], w.size))
    xu = _user(x, bat, cl, case["memory"])
    dx, dw, db, dc = fastpool.netvlad_backward(g if bat else g[0], xu, w, b, c,
                                               normalize_input=case["normalize_input"],
                                               **_call_kw(case))
    ex = R.netvlad_backward(g, x, w, b, c, normalize_input=case["normalize_input"])
    assert dx.shape == xu.shape and dx.flags.c_contiguous
    floor = _netvlad_grad_terms(g, x, w, b, c, case["normalize_input"])
    for got, exp, what in ((_to_logical(dx, bat, cl), ex[0], "dx"), (dw, ex[1], "dweight"),
                           (db, ex[2], "dbias"), (dc, ex[3], "dcentroids")):
        _assert_rel(got, exp, 1e-8, what, floor)


@settings(max_examples=25, deadline=None)
@given(netvlad_cases(dtypes=(np.float32,)))
def test_netvlad_backward_float32_near_float64(case):
    x, w, b, c = case["x"], case["w"], case["b"], case["c"]
    args64 = [a.astype(np.float64) for a in (x, w, b, c)]
    assume(_netvlad_conditioned(*args64, case["normalize_input"]) > 0.05)
    bat, cl = case["batched"], case["channels_last"]
    g = case["rng"].standard_normal((x.shape[0], w.size)).astype(np.float32)
    xu = _user(x, bat, cl, case["memory"])
    res = fastpool.netvlad_backward(g if bat else g[0], xu, w, b, c,
                                    normalize_input=case["normalize_input"], **_call_kw(case))
    ex = R.netvlad_backward(g.astype(np.float64), *args64, normalize_input=case["normalize_input"])
    terms = math.prod(x.shape[2:]) + x.shape[1] + w.shape[0]
    got = (_to_logical(res[0], bat, cl),) + tuple(res[1:])
    floor = _netvlad_grad_terms(g.astype(np.float64), *args64, case["normalize_input"])
    for a, e_, what in zip(got, ex, ("dx", "dweight", "dbias", "dcentroids")):
        assert a.dtype == np.float32
        _assert_rel(a, e_, 1e-4 * terms, what, floor)


# --------------------------------------------------------------------------
# Backward against central finite differences (float64), every output


H = 1e-6


def _numeric(forward, a, g):
    a = np.array(a, dtype=np.float64)
    flat = a.reshape(-1)
    out = np.zeros(flat.size)
    for j in range(flat.size):
        old = flat[j]
        flat[j] = old + H
        up = float(np.sum(forward(a) * g))
        flat[j] = old - H
        down = float(np.sum(forward(a) * g))
        flat[j] = old
        out[j] = (up - down) / (2 * H)
    return out.reshape(a.shape)


def _assert_fd(analytic, numeric, what):
    err = np.abs(analytic - numeric)
    tol = 1e-7 + 1e-5 * np.abs(numeric)
    i = np.unravel_index(np.argmax(err - tol), err.shape)
    assert np.all(err <= tol), f"{what}: {analytic[i]} vs numeric {numeric[i]} at {i}"


@pytest.mark.parametrize("two", [False, True])
@pytest.mark.parametrize("average,signed_sqrt,l2_normalize",
                         [(True, True, True), (False, True, True), (True, False, True),
                          (True, True, False), (False, False, False)])
def test_bilinear_backward_matches_finite_differences(two, average, signed_sqrt, l2_normalize):
    rng = np.random.default_rng(11)
    # positive features keep every B well away from 0, where the signed
    # square root has no derivative
    x = 0.3 + rng.random((2, 4, 3, 2))
    y = 0.3 + rng.random((2, 3, 3, 2)) if two else None
    opts = {"average": average, "signed_sqrt": signed_sqrt, "l2_normalize": l2_normalize}
    cy = 3 if two else 4
    g = rng.standard_normal((2, 4 * cy))
    res = fastpool.bilinear_pool_backward(g, x, y, **opts)
    if not two:
        _assert_fd(res, _numeric(lambda a: fastpool.bilinear_pool(a, **opts), x, g), "dx")
        return
    _assert_fd(res[0], _numeric(lambda a: fastpool.bilinear_pool(a, y, **opts), x, g), "dx")
    _assert_fd(res[1], _numeric(lambda a: fastpool.bilinear_pool(x, a, **opts), y, g), "dy")


@pytest.mark.parametrize("normalize_input", [True, False])
@pytest.mark.parametrize("spatial", [(3, 4), (5,)])
def test_netvlad_backward_matches_finite_differences(normalize_input, spatial):
    rng = np.random.default_rng(12)
    d, k = 4, 3
    x = rng.standard_normal((2, d) + spatial)
    w = rng.standard_normal((k, d))
    b = rng.standard_normal(k)
    c = rng.standard_normal((k, d)) * 0.5
    g = rng.standard_normal((2, k * d))
    kw = {"normalize_input": normalize_input, "spatial_rank": len(spatial)}
    dx, dw, db, dc = fastpool.netvlad_backward(g, x, w, b, c, **kw)
    _assert_fd(dx, _numeric(lambda a: fastpool.netvlad(a, w, b, c, **kw), x, g), "dx")
    _assert_fd(dw, _numeric(lambda a: fastpool.netvlad(x, a, b, c, **kw), w, g), "dweight")
    _assert_fd(db, _numeric(lambda a: fastpool.netvlad(x, w, a, c, **kw), b, g), "dbias")
    _assert_fd(dc, _numeric(lambda a: fastpool.netvlad(x, w, b, a, **kw), c, g), "dcentroids")


def test_reference_backward_matches_finite_differences():
    # the reference's chain rules, on their own
    rng = np.random.default_rng(13)
    x = 0.3 + rng.random((1, 3, 2, 2))
    y = 0.3 + rng.random((1, 2, 2, 2))
    g = rng.standard_normal((1, 6))
    dx, dy = R.bilinear_pool_backward(g, x, y)
    _assert_fd(dx, _numeric(lambda a: R.bilinear_pool(a, y), x, g), "reference dx")
    _assert_fd(dy, _numeric(lambda a: R.bilinear_pool(x, a), y, g), "reference dy")
    w, b, c = rng.standard_normal((2, 3)), rng.standard_normal(2), rng.standard_normal((2, 3))
    g = rng.standard_normal((1, 6))
    grads = R.netvlad_backward(g, x, w, b, c)
    args = (x, w, b, c)
    for i, name in enumerate(("dx", "dweight", "dbias", "dcentroids")):

        def f(a, i=i):
            return R.netvlad(*args[:i], a, *args[i + 1:])

        _assert_fd(grads[i], _numeric(f, args[i], g), f"reference {name}")


# --------------------------------------------------------------------------
# Traps


def test_bilinear_gradient_at_zero_is_finite_and_follows_the_documented_rule():
    # channels 0 and 1 never fire together: B[0, 1] = B[1, 0] = 0 exactly
    x = np.array([[[1.0, 0.0], [0.0, 1.0]]])  # (N=1, C=2, P=2)
    eps = 1e-12
    g = np.ones((1, 4))
    dx = fastpool.bilinear_pool_backward(g, x, spatial_rank=1, l2_normalize=False, eps=eps)
    assert np.all(np.isfinite(dx))
    # B = diag(0.5, 0.5); dB_ij = g * 1/(2 sqrt(|B_ij| + eps)) / P; dx = (dB + dB^T) x
    d_diag = 0.5 / math.sqrt(0.5 + eps) / 2
    d_off = 0.5 / math.sqrt(eps) / 2
    expected = np.array([[[2 * d_diag, 2 * d_off], [2 * d_off, 2 * d_diag]]])
    np.testing.assert_allclose(dx, expected, rtol=1e-12)
    # the same rule with a different eps, and in float32
    dx8 = fastpool.bilinear_pool_backward(g, x, spatial_rank=1, l2_normalize=False, eps=1e-8)
    assert dx8[0, 0, 1] == pytest.approx(2 * 0.5 / math.sqrt(1e-8) / 2, rel=1e-12)
    dx32 = fastpool.bilinear_pool_backward(g.astype(np.float32), x.astype(np.float32),
                                           spatial_rank=1, l2_normalize=False)
    assert np.all(np.isfinite(dx32))
    np.testing.assert_allclose(dx32, expected, rtol=1e-6)
    # with L2 normalisation and an all-zero input every gradient stays finite (and 0)
    z = np.zeros((2, 3, 4, 4))
    dz = fastpool.bilinear_pool_backward(np.ones((2, 9)), z)
    assert np.all(np.isfinite(dz)) and not np.any(dz)
    # and the reference implements the same rule
    np.testing.assert_allclose(R.bilinear_pool_backward(g, x, l2_normalize=False, eps=eps),
                               expected, rtol=1e-12)


@pytest.mark.parametrize("average", [True, False])
def test_bilinear_gradient_with_an_infinite_input_and_no_l2(average):
    """Signed sqrt without the L2 step: where the product u is infinite its slope
    1/(2 sqrt|u|) is 0, so dB = 0 there and dx = dB x is NaN only at the infinite cell
    (0 * inf), finite elsewhere -- what autograd through the unfused steps gives.  (The
    fused L2 step must not leak a NaN from s * c1 when there is no L2 step.)"""
    x = np.array([np.inf, 1.0], np.float32).reshape(1, 1, 1, 2)
    g = np.array([[3.0]], np.float32)
    got = fastpool.bilinear_pool_backward(g, x, signed_sqrt=True, l2_normalize=False,
                                          average=average)
    want = R.bilinear_pool_backward(g, x, signed_sqrt=True, l2_normalize=False,
                                    average=average)
    assert np.isnan(got[0, 0, 0, 0]) and got[0, 0, 0, 1] == 0.0
    np.testing.assert_array_equal(got, want.astype(np.float32))


def test_bilinear_y_none_equals_y_is_x_passed_explicitly():
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((3, 37, 5, 6)).astype(dtype)
        # without the L2 step every element is the same chain of products: equal bits
        a = fastpool.bilinear_pool(x, l2_normalize=False)
        b = fastpool.bilinear_pool(x, x, l2_normalize=False)
        assert np.array_equal(a, b)
        # the norm adds the symmetric matrix's squares in another order
        a = fastpool.bilinear_pool(x)
        b = fastpool.bilinear_pool(x, x)
        np.testing.assert_allclose(a, b, rtol=8 * _eps(dtype), atol=8 * _eps(dtype))
        g = rng.standard_normal(a.shape).astype(dtype)
        dx = fastpool.bilinear_pool_backward(g, x)
        dx1, dx2 = fastpool.bilinear_pool_backward(g, x, x)
        scale = float(np.max(np.abs(dx)))
        np.testing.assert_allclose(dx, dx1 + dx2, rtol=0, atol=1e3 * _eps(dtype) * scale)


def test_l2_eps_all_zero_input_gives_zeros_not_nan():
    z = np.zeros((2, 4, 3, 3), dtype=np.float32)
    out = fastpool.bilinear_pool(z)
    assert out.shape == (2, 16) and not np.any(out) and np.all(np.isfinite(out))
    # NetVLAD: zero descriptors and zero centroids give a zero VLAD vector
    w = np.ones((3, 4), np.float32)
    v = fastpool.netvlad(z, w, np.zeros(3, np.float32), np.zeros((3, 4), np.float32))
    assert v.shape == (2, 12) and not np.any(v) and np.all(np.isfinite(v))
    grads = fastpool.netvlad_backward(np.ones((2, 12), np.float32), z, w,
                                      np.zeros(3, np.float32), np.zeros((3, 4), np.float32))
    assert all(np.all(np.isfinite(a)) for a in grads)


def test_l2_eps_is_a_floor_as_in_torch_normalize():
    # v / max(||v||, eps), not v / (||v|| + eps)
    x = np.array([[[3.0, 4.0]]])  # B = [[12.5]] averaged, sqrt -> 3.5355...
    b = 12.5
    out = fastpool.bilinear_pool(x, signed_sqrt=False, eps=100.0, spatial_rank=1)
    assert out[0, 0] == pytest.approx(b / 100.0, rel=1e-15)
    out = fastpool.bilinear_pool(x, signed_sqrt=False, eps=1.0, spatial_rank=1)
    assert out[0, 0] == pytest.approx(1.0, rel=1e-15)
    # below the floor the gradient is g / eps (the clamp stops it), above it the
    # norm's own gradient: here d(v/|v|)/dv = 0 for one element
    g = np.ones((1, 1))
    d = fastpool.bilinear_pool_backward(g, x, signed_sqrt=False, eps=100.0, spatial_rank=1)
    np.testing.assert_allclose(d, 2 * x / 2 / 100.0, rtol=1e-14)  # dB/dx = 2x/P
    d = fastpool.bilinear_pool_backward(g, x, signed_sqrt=False, eps=1.0, spatial_rank=1)
    np.testing.assert_allclose(d, 0.0, atol=1e-15)
    # at ||v|| == eps exactly the clamp passes the gradient, as torch's clamp_min does
    d = fastpool.bilinear_pool_backward(g, x, signed_sqrt=False, eps=b, spatial_rank=1)
    np.testing.assert_allclose(d, 0.0, atol=1e-15)
    d = fastpool.bilinear_pool_backward(g, x, signed_sqrt=False, eps=np.nextafter(b, 100),
                                        spatial_rank=1)
    np.testing.assert_allclose(d, x / np.nextafter(b, 100), rtol=1e-14)


def test_empty_spatial_axes_give_zeros():
    x = np.zeros((2, 3, 0, 4))
    assert np.array_equal(fastpool.bilinear_pool(x), np.zeros((2, 9)))
    assert np.array_equal(fastpool.bilinear_pool(x, average=False), np.zeros((2, 9)))
    assert np.array_equal(R.bilinear_pool(x), np.zeros((2, 9)))
    dx = fastpool.bilinear_pool_backward(np.ones((2, 9)), x)
    assert dx.shape == x.shape
    w, b, c = np.ones((2, 3)), np.zeros(2), np.ones((2, 3))
    out = fastpool.netvlad(x, w, b, c)
    assert np.array_equal(out, np.zeros((2, 6))) and np.array_equal(R.netvlad(x, w, b, c), out)
    dx, dw, db, dc = fastpool.netvlad_backward(np.ones((2, 6)), x, w, b, c)
    assert dx.shape == x.shape and not np.any(dw) and not np.any(db) and not np.any(dc)


def test_nan_in_one_sample_stays_in_that_sample():
    x = np.ones((2, 3, 2, 2))
    x[1, 0, 1, 1] = np.nan
    out = fastpool.bilinear_pool(x)
    assert np.all(np.isfinite(out[0])) and np.all(np.isnan(out[1]))
    w, b, c = np.ones((2, 3)), np.zeros(2), np.zeros((2, 3))
    v = fastpool.netvlad(x, w, b, c)
    assert np.all(np.isfinite(v[0])) and np.all(np.isnan(v[1]))


def test_netvlad_memory_does_not_grow_with_k_d_p():
    k, d, h, w_ = 64, 512, 60, 80
    residual_bytes = k * d * h * w_ * 4  # 629 MB
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, d, h, w_), dtype=np.float32)
    w = rng.standard_normal((k, d), dtype=np.float32) * 0.05
    b = np.zeros(k, np.float32)
    c = rng.standard_normal((k, d), dtype=np.float32) * 0.05
    g = rng.standard_normal((1, k * d), dtype=np.float32)
    from fastpool import _core

    for threads in (1, 2):
        for backward in (False, True):
            ws = _core.netvlad_workspace_size(x, k, backward, _core.NETVLAD_NORMALIZE_INPUT,
                                              threads)
            # K*P soft assignments (and in backward their gradients), K*D VLAD
            # rows, packing buffers: a few MB
            assert ws < 16 * 2**20, ws
        tracemalloc.start()
        try:
            out = fastpool.netvlad(x, w, b, c, num_threads=threads)
            _, peak_fwd = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            grads = fastpool.netvlad_backward(g, x, w, b, c, num_threads=threads)
            _, peak_bwd = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert out.shape == (1, k * d) and np.all(np.isfinite(out))
        assert all(np.all(np.isfinite(a)) for a in grads)
        # NumPy reports its allocations to tracemalloc: outputs plus workspace
        assert peak_fwd < residual_bytes / 20, peak_fwd
        assert peak_bwd < x.nbytes + residual_bytes / 20, peak_bwd


def test_netvlad_with_one_cluster():
    # one cluster: the soft assignment is 1 everywhere, V = sum_p x_p - P c
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 5, 3, 4))
    w, b, c = rng.standard_normal((1, 5)), rng.standard_normal(1), rng.standard_normal((1, 5))
    out = fastpool.netvlad(x, w, b, c, normalize_input=False)
    v = x.reshape(2, 5, -1).sum(axis=2) - 12 * c
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    np.testing.assert_allclose(out, v, rtol=1e-13)
    np.testing.assert_allclose(fastpool.netvlad(x, w, b, c), R.netvlad(x, w, b, c), rtol=1e-13)
    # weight and bias cannot change a one-cluster softmax: their gradients vanish
    _, dw, db, _ = fastpool.netvlad_backward(rng.standard_normal((2, 5)), x, w, b, c)
    assert np.max(np.abs(dw)) < 1e-13 and np.max(np.abs(db)) < 1e-13
    ex = R.netvlad_backward(np.ones((2, 5)), x, w, b, c)
    got = fastpool.netvlad_backward(np.ones((2, 5)), x, w, b, c)
    np.testing.assert_allclose(got[0], ex[0], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(got[3], ex[3], rtol=1e-10, atol=1e-13)


def test_unbatched_equals_batched_row():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 4, 5)).astype(np.float32)
    y = rng.standard_normal((3, 4, 5)).astype(np.float32)
    assert np.array_equal(fastpool.bilinear_pool(x, y), fastpool.bilinear_pool(x[None], y[None])[0])
    g = rng.standard_normal(18).astype(np.float32)
    dx, dy = fastpool.bilinear_pool_backward(g, x, y)
    dxb, dyb = fastpool.bilinear_pool_backward(g[None], x[None], y[None])
    assert np.array_equal(dx, dxb[0]) and np.array_equal(dy, dyb[0])
    w, b, c = (rng.standard_normal(s).astype(np.float32) for s in ((3, 6), (3,), (3, 6)))
    assert np.array_equal(fastpool.netvlad(x, w, b, c), fastpool.netvlad(x[None], w, b, c)[0])
    g = rng.standard_normal(18).astype(np.float32)
    one = fastpool.netvlad_backward(g, x, w, b, c)
    many = fastpool.netvlad_backward(g[None], x[None], w, b, c)
    assert np.array_equal(one[0], many[0][0])
    assert all(np.array_equal(a, b_) for a, b_ in zip(one[1:], many[1:]))


def test_spatial_rank_selects_how_many_axes_are_positions():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 4, 5))
    as2d = fastpool.bilinear_pool(x)  # batched (N, C, H, W)
    as1d = fastpool.bilinear_pool(x.reshape(2, 3, 20), spatial_rank=1)
    np.testing.assert_allclose(as2d, as1d, rtol=1e-14)
    # the same 4-d array read as an unbatched 3-d map (C=2, D=3, H=4, W=5)
    un = fastpool.bilinear_pool(x, spatial_rank=3)
    assert un.shape == (4,)
    np.testing.assert_allclose(un, R.bilinear_pool(x[None])[0], rtol=1e-14)


def _bilinear_all(xu, yu, g, g2, cl, t):
    return (fastpool.bilinear_pool(xu, channels_last=cl, num_threads=t),
            fastpool.bilinear_pool(xu, yu, channels_last=cl, num_threads=t),
            fastpool.bilinear_pool_backward(g, xu, channels_last=cl, num_threads=t),
            *fastpool.bilinear_pool_backward(g2, xu, yu, channels_last=cl, num_threads=t))


def _netvlad_all(xu, w, b, c, g, cl, t):
    return (fastpool.netvlad(xu, w, b, c, channels_last=cl, num_threads=t),
            *fastpool.netvlad_backward(g, xu, w, b, c, channels_last=cl, num_threads=t))


@pytest.mark.parametrize("op", ["bilinear", "netvlad"])
def test_one_two_and_three_threads_are_bit_identical(op):
    rng = np.random.default_rng(9)
    for n in (1, 3, 5):
        for cl in (False, True):
            x = rng.standard_normal((n, 64, 12, 15)).astype(np.float32)
            xu = np.ascontiguousarray(np.moveaxis(x, 1, -1)) if cl else x
            if op == "bilinear":
                y = rng.standard_normal((n, 40, 12, 15)).astype(np.float32)
                yu = np.ascontiguousarray(np.moveaxis(y, 1, -1)) if cl else y
                g = rng.standard_normal((n, 64 * 64)).astype(np.float32)
                g2 = rng.standard_normal((n, 64 * 40)).astype(np.float32)
                runs = [_bilinear_all(xu, yu, g, g2, cl, t) for t in (1, 2, 3)]
            else:
                w = rng.standard_normal((16, 64)).astype(np.float32)
                b = rng.standard_normal(16).astype(np.float32)
                c = rng.standard_normal((16, 64)).astype(np.float32) * 0.1
                g = rng.standard_normal((n, 16 * 64)).astype(np.float32)
                runs = [_netvlad_all(xu, w, b, c, g, cl, t) for t in (1, 2, 3)]
            for t, res in zip((2, 3), runs[1:]):
                for a, b_ in zip(runs[0], res):
                    assert np.array_equal(a, b_), (op, n, cl, t)


# --------------------------------------------------------------------------
# Against PyTorch


def _torch():
    return pytest.importorskip("torch")


def _torch_netvlad_module(torch, k, d, normalize_input=True):
    """The standard NetVLAD nn.Module: conv1x1 soft assignment, softmax over
    clusters, the (N, K, D, P) residuals weighted and summed, intra-normalised,
    flattened, L2-normalised."""
    F = torch.nn.functional

    class NetVLAD(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(d, k, kernel_size=(1, 1), bias=True)
            self.centroids = torch.nn.Parameter(torch.rand(k, d))

        def forward(self, x):
            n, c = x.shape[:2]
            if normalize_input:
                x = F.normalize(x, p=2, dim=1)
            soft_assign = self.conv(x).view(n, k, -1)
            soft_assign = F.softmax(soft_assign, dim=1)
            x_flatten = x.view(n, c, -1)
            residual = x_flatten.expand(k, -1, -1, -1).permute(1, 0, 2, 3) - \
                self.centroids.expand(x_flatten.size(-1), -1, -1).permute(1, 2, 0).unsqueeze(0)
            residual = residual * soft_assign.unsqueeze(2)
            vlad = residual.sum(dim=-1)
            vlad = F.normalize(vlad, p=2, dim=2)
            vlad = vlad.view(x.size(0), -1)
            return F.normalize(vlad, p=2, dim=1)

    return NetVLAD()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("normalize_input", [True, False])
def test_netvlad_equals_the_torch_module(dtype, normalize_input):
    torch = _torch()
    torch.manual_seed(0)
    k, d = 8, 16
    mod = _torch_netvlad_module(torch, k, d, normalize_input).to(
        torch.float64 if dtype == np.float64 else torch.float32)
    x = torch.randn(3, d, 7, 9, dtype=mod.centroids.dtype, requires_grad=True)
    out = mod(x)
    g = torch.randn_like(out)
    out.backward(g)
    w = mod.conv.weight.detach().reshape(k, d).numpy()
    b = mod.conv.bias.detach().numpy()
    c = mod.centroids.detach().numpy()
    xn = x.detach().numpy()
    ours = fastpool.netvlad(xn, w, b, c, normalize_input=normalize_input)
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(ours, out.detach().numpy(), rtol=tol, atol=tol)
    dx, dw, db, dc = fastpool.netvlad_backward(g.numpy(), xn, w, b, c,
                                               normalize_input=normalize_input)
    for got, want in ((dx, x.grad), (dw, mod.conv.weight.grad.reshape(k, d)),
                      (db, mod.conv.bias.grad), (dc, mod.centroids.grad)):
        want = want.numpy()
        np.testing.assert_allclose(got, want, rtol=0, atol=tol * 10 * np.max(np.abs(want)))


def test_bilinear_equals_a_torch_bmm_composition():
    torch = _torch()
    torch.manual_seed(1)
    x = torch.rand(4, 12, 6, 5, dtype=torch.float64, requires_grad=True)
    y = torch.rand(4, 7, 6, 5, dtype=torch.float64, requires_grad=True)
    b = torch.bmm(x.view(4, 12, -1), y.view(4, 7, -1).transpose(1, 2)) / 30
    b = b.reshape(4, -1)
    b = torch.sign(b) * torch.sqrt(torch.abs(b))
    out = torch.nn.functional.normalize(b, dim=1)
    g = torch.randn_like(out)
    out.backward(g)
    ours = fastpool.bilinear_pool(x.detach().numpy(), y.detach().numpy())
    np.testing.assert_allclose(ours, out.detach().numpy(), rtol=1e-13)
    dx, dy = fastpool.bilinear_pool_backward(g.numpy(), x.detach().numpy(), y.detach().numpy())
    # away from B = 0 the documented slope differs from torch's exact one by eps/(2|B|)
    np.testing.assert_allclose(dx, x.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(dy, y.grad.numpy(), rtol=1e-9)


# --------------------------------------------------------------------------
# Bad inputs: ValueError/TypeError naming the function and the argument,
# out= untouched


def _msg(name, arg):
    return rf"^{re.escape(name)}: .*{re.escape(arg)}"


def _bil_args():
    rng = np.random.default_rng(10)
    return rng.standard_normal((2, 3, 4, 5)).astype(np.float32), \
        rng.standard_normal((2, 2, 4, 5)).astype(np.float32)


def _nv_args():
    rng = np.random.default_rng(10)
    return (rng.standard_normal((2, 3, 4, 5)).astype(np.float32),
            rng.standard_normal((4, 3)).astype(np.float32),
            rng.standard_normal(4).astype(np.float32),
            rng.standard_normal((4, 3)).astype(np.float32))


@pytest.mark.parametrize("bad,arg,exc", [
    ({"y": np.ones((3, 2, 4, 5), np.float32)}, "y", ValueError),      # batch
    ({"y": np.ones((2, 2, 4, 6), np.float32)}, "y", ValueError),      # spatial
    ({"y": np.ones((2, 2, 20), np.float32)}, "y", ValueError),        # ndim
    ({"y": np.ones((2, 2, 4, 5), np.float64)}, "y", TypeError),       # dtype
    ({"x": np.ones((2, 3, 4, 5), np.int32)}, "x", TypeError),
    ({"x": np.ones((3, 4), np.float32)}, "x", ValueError),
    ({"x": np.ones((2, 3, 4, 5, 6, 7), np.float32)}, "x", ValueError),
    ({"spatial_rank": 0}, "spatial_rank", ValueError),
    ({"spatial_rank": 4}, "spatial_rank", ValueError),
    ({"spatial_rank": 2.0}, "spatial_rank", TypeError),
    ({"eps": -1.0}, "eps", ValueError),
    ({"eps": float("nan")}, "eps", ValueError),
    ({"eps": float("inf")}, "eps", ValueError),
    ({"eps": "small"}, "eps", TypeError),
    ({"num_threads": 0}, "num_threads", ValueError),
    ({"num_threads": 1.5}, "num_threads", TypeError),
])
def test_bilinear_bad_inputs(bad, arg, exc):
    x, y = _bil_args()
    kw = {"x": x, "y": y}
    kw.update(bad)
    out = np.full((2, 6), 7.0, np.float32)
    x_, y_ = kw.pop("x"), kw.pop("y")
    with pytest.raises(exc, match=_msg("bilinear_pool", arg)):
        fastpool.bilinear_pool(x_, y_, out=out, **kw)
    assert np.all(out == 7.0)
    g = np.ones((2, 6), np.float32)
    dx, dy = np.full(x.shape, 7.0, np.float32), np.full(y.shape, 7.0, np.float32)
    with pytest.raises(exc, match=_msg("bilinear_pool_backward", arg)):
        fastpool.bilinear_pool_backward(g, x_, y_, out=(dx, dy), **kw)
    assert np.all(dx == 7.0) and np.all(dy == 7.0)


def test_bilinear_bad_outputs_and_gradients():
    x, y = _bil_args()
    for out, exc in ((np.zeros((2, 7), np.float32), ValueError),
                     (np.zeros((2, 6), np.float64), TypeError),
                     ([0.0] * 12, TypeError)):
        with pytest.raises(exc, match=_msg("bilinear_pool", "out")):
            fastpool.bilinear_pool(x, y, out=out)
    ro = np.zeros((2, 6), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=_msg("bilinear_pool", "out")):
        fastpool.bilinear_pool(x, y, out=ro)
    with pytest.raises(ValueError, match=_msg("bilinear_pool", "out")):
        fastpool.bilinear_pool(x, out=x.reshape(2, -1)[:, :9])  # overlaps x
    with pytest.raises(ValueError, match=_msg("bilinear_pool_backward", "grad_output")):
        fastpool.bilinear_pool_backward(np.ones((2, 9), np.float32), x, y)
    with pytest.raises(TypeError, match=_msg("bilinear_pool_backward", "grad_output")):
        fastpool.bilinear_pool_backward(np.ones((2, 6)), x, y)
    with pytest.raises(TypeError, match=_msg("bilinear_pool_backward", "out")):
        fastpool.bilinear_pool_backward(np.ones((2, 6), np.float32), x, y, out=np.zeros_like(x))
    dx = np.full(x.shape, 7.0, np.float32)
    with pytest.raises(ValueError, match=_msg("bilinear_pool_backward", "out[1]")):
        fastpool.bilinear_pool_backward(np.ones((2, 6), np.float32), x, y,
                                        out=(dx, np.zeros((2, 2, 4, 4), np.float32)))
    assert np.all(dx == 7.0)
    with pytest.raises(ValueError, match=_msg("bilinear_pool_backward", "out[1]")):
        fastpool.bilinear_pool_backward(np.ones((2, 6), np.float32), x, y, out=(dx, dx))


@pytest.mark.parametrize("bad,arg,exc", [
    ({"w": np.ones((4, 2), np.float32)}, "weight", ValueError),       # D
    ({"w": np.ones((4, 3, 1, 1), np.float32)}, "weight", ValueError), # conv layout
    ({"w": np.ones((4, 3), np.float64)}, "weight", TypeError),
    ({"b": np.ones(3, np.float32)}, "bias", ValueError),              # K
    ({"b": np.ones((4, 1), np.float32)}, "bias", ValueError),
    ({"b": np.ones(4, np.float64)}, "bias", TypeError),
    ({"c": np.ones((3, 3), np.float32)}, "centroids", ValueError),    # K
    ({"c": np.ones((4, 2), np.float32)}, "centroids", ValueError),    # D
    ({"c": np.ones((4, 3), np.float16)}, "centroids", TypeError),
    ({"x": np.ones((2, 3, 4, 5), np.uint8)}, "x", TypeError),
    ({"x": np.ones((2, 3, 4, 5, 6, 7), np.float32)}, "x", ValueError),
    ({"spatial_rank": -1}, "spatial_rank", ValueError),
    ({"eps": -0.5}, "eps", ValueError),
    ({"num_threads": -2}, "num_threads", ValueError),
])
def test_netvlad_bad_inputs(bad, arg, exc):
    x, w, b, c = _nv_args()
    args = {"x": x, "w": w, "b": b, "c": c}
    kw = dict(bad)
    for key in ("x", "w", "b", "c"):
        if key in kw:
            args[key] = kw.pop(key)
    out = np.full((2, 12), 7.0, np.float32)
    with pytest.raises(exc, match=_msg("netvlad", arg)):
        fastpool.netvlad(args["x"], args["w"], args["b"], args["c"], out=out, **kw)
    assert np.all(out == 7.0)
    outs = tuple(np.full(s, 7.0, np.float32) for s in (x.shape, (4, 3), (4,), (4, 3)))
    with pytest.raises(exc, match=_msg("netvlad_backward", arg)):
        fastpool.netvlad_backward(np.ones((2, 12), np.float32), args["x"], args["w"], args["b"],
                                  args["c"], out=outs, **kw)
    assert all(np.all(o == 7.0) for o in outs)


def test_netvlad_bad_outputs_and_gradients():
    x, w, b, c = _nv_args()
    g = np.ones((2, 12), np.float32)
    with pytest.raises(ValueError, match=_msg("netvlad", "out")):
        fastpool.netvlad(x, w, b, c, out=np.zeros((2, 11), np.float32))
    with pytest.raises(ValueError, match=_msg("netvlad_backward", "grad_output")):
        fastpool.netvlad_backward(np.ones((2, 13), np.float32), x, w, b, c)
    with pytest.raises(TypeError, match=_msg("netvlad_backward", "out")):
        fastpool.netvlad_backward(g, x, w, b, c, out=(None, None))
    dw = np.full((4, 3), 7.0, np.float32)
    with pytest.raises(ValueError, match=_msg("netvlad_backward", "out[2]")):
        fastpool.netvlad_backward(g, x, w, b, c, out=(None, dw, np.zeros(5, np.float32), None))
    assert np.all(dw == 7.0)
    with pytest.raises(ValueError, match=_msg("netvlad_backward", "out[3]")):
        fastpool.netvlad_backward(g, x, w, b, c, out=(None, dw, None, dw))
    with pytest.raises(ValueError, match=_msg("netvlad_backward", "out[1]")):
        fastpool.netvlad_backward(g, x, w, b, c, out=(None, w, None, None))  # an input
    # given buffers are filled and returned
    outs = (np.empty_like(x), np.empty((4, 3), np.float32), np.empty(4, np.float32),
            np.empty((4, 3), np.float32))
    res = fastpool.netvlad_backward(g, x, w, b, c, out=outs)
    assert all(r is o for r, o in zip(res, outs))
    ref = fastpool.netvlad_backward(g, x, w, b, c)
    assert all(np.array_equal(r, e) for r, e in zip(res, ref))
