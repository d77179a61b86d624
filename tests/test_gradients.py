"""Every backward against central finite differences of its forward, in float64.

For each operator ``f`` and a fixed random ``g``, the gradient of the scalar
``L(x) = sum(f(x) * g)`` is computed one input cell at a time,
``(L(x + h e_i) - L(x - h e_i)) / 2h``, on inputs small enough to take the whole
Jacobian.  Inputs avoid the places where the derivative does not exist: values
of max-type operators are distinct and far apart compared with ``h`` (so the
argmax does not move), Lp inputs stay away from 0 (and, for ``p = inf``, have
distinct magnitudes), and unpooling indices are distinct.  The reference's
backward is held to the same standard.
"""

import numpy as np
import pytest
import strategies as S

fastpool = pytest.importorskip("fastpool")
R = S.reference

H = 1e-6
RTOL, ATOL = 1e-6, 1e-7


def _numeric_grad(forward, x, g, h=H):
    """d/dx of sum(forward(x) * g) by central differences, one cell at a time."""
    x = np.array(x, dtype=np.float64, order="C")
    flat = x.reshape(-1)
    grad = np.zeros(flat.size)
    for j in range(flat.size):
        old = flat[j]
        flat[j] = old + h
        up = float(np.sum(forward(x) * g))
        flat[j] = old - h
        down = float(np.sum(forward(x) * g))
        flat[j] = old
        grad[j] = (up - down) / (2 * h)
    return grad.reshape(x.shape)


def _assert_grad(dx, numeric, what):
    assert dx.shape == numeric.shape, what
    err = np.abs(dx - numeric)
    bound = ATOL + RTOL * np.abs(numeric)
    worst = np.unravel_index(np.argmax(err - bound), err.shape)
    assert np.all(err <= bound), (f"{what}: analytic {dx[worst]} vs numeric {numeric[worst]} "
                                  f"at {worst}")


def _distinct(rng, shape, gap=0.01):
    """Distinct values, at least ``gap`` apart, of both signs."""
    n = int(np.prod(shape))
    return (rng.permutation(n) - n / 2).reshape(shape) * gap


def _away_from_zero(rng, shape, distinct=False):
    """|x| in [0.25, 1.5], random signs; distinct magnitudes on request."""
    n = int(np.prod(shape))
    if distinct:
        mag = 0.25 + rng.permutation(n) * (1.25 / n)
    else:
        mag = rng.uniform(0.25, 1.5, size=n)
    return (mag * rng.choice([-1.0, 1.0], size=n)).reshape(shape)


_SHAPES = {1: (2, 2, 9), 2: (1, 2, 6, 5), 3: (1, 1, 4, 4, 3)}


# --------------------------------------------------------------------------
# Max and average pooling


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("geometry", [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    {"kernel_size": 2, "stride": 1, "padding": ((1, 0),), "dilation": 2},
])
def test_max_pool_backward_matches_finite_differences(rank, geometry):
    rng = np.random.default_rng(100 + rank)
    x = _distinct(rng, _SHAPES[rank])
    kw = dict(geometry)
    if "padding" in kw and isinstance(kw["padding"], tuple):
        kw["padding"] = kw["padding"] * rank
    f = getattr(fastpool, f"max_pool{rank}d")
    y, i = f(x, return_indices=True, **kw)
    g = rng.standard_normal(y.shape)
    numeric = _numeric_grad(lambda a: f(a, **kw), x, g)
    dx = getattr(fastpool, f"max_pool{rank}d_backward")(g, i, x.shape)
    _assert_grad(dx, numeric, f"max_pool{rank}d {geometry}")
    _assert_grad(R.max_pool_backward(g, i, x.shape), numeric, "reference")


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("geometry", [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False},
    {"kernel_size": 2, "stride": 1, "padding": 1, "divisor_override": 3, "dilation": 2},
])
def test_avg_pool_backward_matches_finite_differences(rank, geometry):
    rng = np.random.default_rng(110 + rank)
    x = rng.standard_normal(_SHAPES[rank])
    f = getattr(fastpool, f"avg_pool{rank}d")
    y = f(x, **geometry)
    g = rng.standard_normal(y.shape)
    numeric = _numeric_grad(lambda a: f(a, **geometry), x, g)
    dx = getattr(fastpool, f"avg_pool{rank}d_backward")(g, x.shape, **geometry)
    _assert_grad(dx, numeric, f"avg_pool{rank}d {geometry}")
    _assert_grad(R.avg_pool_backward(g, x.shape, **geometry), numeric, "reference")


# --------------------------------------------------------------------------
# Lp pooling


_LP_GEOMETRY = [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 2, "ceil_mode": True, "padding": 1},
    {"kernel_size": 2, "stride": 1, "padding": "same", "dilation": 2},
]


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, 0.5, 1.7, np.inf])
@pytest.mark.parametrize("geometry", range(len(_LP_GEOMETRY)))
def test_lp_pool_backward_matches_finite_differences(rank, p, geometry):
    rng = np.random.default_rng(120 + rank)
    geo = dict(_LP_GEOMETRY[geometry])
    x = _away_from_zero(rng, _SHAPES[rank], distinct=np.isinf(p))
    k, stride, ceil_mode = geo.pop("kernel_size"), geo.pop("stride", None), \
        geo.pop("ceil_mode", False)
    f = getattr(fastpool, f"lp_pool{rank}d")
    y = f(x, p, k, stride, ceil_mode, **geo)
    g = rng.standard_normal(y.shape)
    numeric = _numeric_grad(lambda a: f(a, p, k, stride, ceil_mode, **geo), x, g)
    dx = getattr(fastpool, f"lp_pool{rank}d_backward")(g, x, y, p, k, stride, ceil_mode, **geo)
    _assert_grad(dx, numeric, f"lp_pool{rank}d p={p} {_LP_GEOMETRY[geometry]}")
    dr = R.lp_pool_backward(g, x, y, p, k, stride, ceil_mode, **geo)
    _assert_grad(dr, numeric, "reference")


def test_lp_pool_backward_channels_last_matches_finite_differences():
    rng = np.random.default_rng(126)
    x = _away_from_zero(rng, (2, 5, 4, 3))  # (N, H, W, C)
    kw = {"padding": ((1, 0), (0, 1)), "channels_last": True}
    y = fastpool.lp_pool2d(x, 2.5, 2, 1, **kw)
    g = rng.standard_normal(y.shape)
    numeric = _numeric_grad(lambda a: fastpool.lp_pool2d(a, 2.5, 2, 1, **kw), x, g)
    _assert_grad(fastpool.lp_pool2d_backward(g, x, y, 2.5, 2, 1, **kw), numeric, "lp NHWC")


# --------------------------------------------------------------------------
# Adaptive and global pooling


_ADAPTIVE = {1: [(7, 3), (3, 5)], 2: [((7, 5), (3, 2)), ((4, 6), (None, 4))],
             3: [((5, 4, 3), (3, 3, 2))]}


@pytest.mark.parametrize("rank,sizes", [(r, s) for r, v in _ADAPTIVE.items() for s in v])
def test_adaptive_max_pool_backward_matches_finite_differences(rank, sizes):
    in_size, out_size = sizes
    in_size = in_size if isinstance(in_size, tuple) else (in_size,)
    rng = np.random.default_rng(130 + rank)
    x = _distinct(rng, (2, 2) + in_size)
    f = getattr(fastpool, f"adaptive_max_pool{rank}d")
    y, i = f(x, out_size, return_indices=True)
    g = rng.standard_normal(y.shape)
    numeric = _numeric_grad(lambda a: f(a, out_size), x, g)
    dx = getattr(fastpool, f"adaptive_max_pool{rank}d_backward")(g, i, x.shape)
    _assert_grad(dx, numeric, f"adaptive_max_pool{rank}d {sizes}")
    _assert_grad(R.adaptive_max_pool_backward(g, i, x.shape), numeric, "reference")


@pytest.mark.parametrize("rank,sizes", [(r, s) for r, v in _ADAPTIVE.items() for s in v])
def test_adaptive_avg_pool_backward_matches_finite_differences(rank, sizes):
    in_size, out_size = sizes
    in_size = in_size if isinstance(in_size, tuple) else (in_size,)
    rng = np.random.default_rng(140 + rank)
    x = rng.standard_normal((2, 2) + in_size)
    f = getattr(fastpool, f"adaptive_avg_pool{rank}d")
    y = f(x, out_size)
    g = rng.standard_normal(y.shape)
    numeric = _numeric_grad(lambda a: f(a, out_size), x, g)
    dx = getattr(fastpool, f"adaptive_avg_pool{rank}d_backward")(g, x.shape)
    _assert_grad(dx, numeric, f"adaptive_avg_pool{rank}d {sizes}")
    _assert_grad(R.adaptive_avg_pool_backward(g, x.shape), numeric, "reference")


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_global_pool_backwards_match_finite_differences(rank):
    rng = np.random.default_rng(150 + rank)
    shape = _SHAPES[rank]
    x = _distinct(rng, shape)
    y, i = fastpool.global_max_pool(x, return_indices=True)
    g = rng.standard_normal(y.shape)
    numeric = _numeric_grad(fastpool.global_max_pool, x, g)
    _assert_grad(fastpool.global_max_pool_backward(g, i, x.shape), numeric, "global max")
    numeric = _numeric_grad(fastpool.global_avg_pool, x, g)
    _assert_grad(fastpool.global_avg_pool_backward(g, x.shape), numeric, "global avg")
    _assert_grad(R.global_avg_pool_backward(g, x.shape), numeric, "reference global avg")
    for p in (1.0, 2.0, 3.0, 0.5, np.inf):
        xl = _away_from_zero(rng, shape, distinct=np.isinf(p))
        y = fastpool.global_lp_pool(xl, p)
        numeric = _numeric_grad(lambda a, p=p: fastpool.global_lp_pool(a, p), xl, g)
        _assert_grad(fastpool.global_lp_pool_backward(g, xl, y, p), numeric, f"global lp {p}")
        _assert_grad(R.global_lp_pool_backward(g, xl, y, p), numeric, f"reference lp {p}")


# --------------------------------------------------------------------------
# Unpooling and fractional max pooling


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("output_size", [None, "larger"])
def test_max_unpool_backward_matches_finite_differences(rank, output_size):
    # Unpooling is linear in x; with distinct indices its gradient is the gather.
    rng = np.random.default_rng(160 + rank)
    pooled = {1: (2, 2, 4), 2: (1, 2, 3, 2), 3: (1, 1, 2, 2, 2)}[rank]
    k, s, pad = 3, 2, 1
    default = tuple((I - 1) * s - 2 * pad + k for I in pooled[2:])
    size = default if output_size is None else tuple(d + 1 for d in default)
    plane = int(np.prod(size))
    count = int(np.prod(pooled[2:]))
    planes = int(np.prod(pooled[:2]))
    idx = np.stack([rng.permutation(plane)[:count] for _ in range(planes)]).reshape(pooled)
    x = rng.standard_normal(pooled)
    osz = None if output_size is None else size
    f = getattr(fastpool, f"max_unpool{rank}d")
    y = f(x, idx, k, s, pad, osz)
    g = rng.standard_normal(y.shape)
    numeric = _numeric_grad(lambda a: f(a, idx, k, s, pad, osz), x, g)
    dx = getattr(fastpool, f"max_unpool{rank}d_backward")(g, idx, k, s, pad, osz)
    _assert_grad(dx, numeric, f"max_unpool{rank}d")
    _assert_grad(R.max_unpool_backward(g, idx, k, s, pad, osz), numeric, "reference")


@pytest.mark.parametrize("rank,shape,kernel,out", [
    (2, (2, 2, 9, 8), 2, (4, 5)),
    (2, (1, 3, 7, 7), (3, 2), (3, 4)),
    (3, (1, 2, 6, 5, 5), 2, (3, 3, 2)),
])
def test_fractional_max_pool_backward_matches_finite_differences(rank, shape, kernel, out):
    rng = np.random.default_rng(170 + rank)
    x = _distinct(rng, shape)
    samples = rng.random(shape[:2] + (rank,))
    f = getattr(fastpool, f"fractional_max_pool{rank}d")
    y, i = f(x, kernel, out, return_indices=True, samples=samples)
    g = rng.standard_normal(y.shape)
    numeric = _numeric_grad(lambda a: f(a, kernel, out, samples=samples), x, g)
    dx = getattr(fastpool, f"fractional_max_pool{rank}d_backward")(g, i, x.shape)
    _assert_grad(dx, numeric, f"fractional_max_pool{rank}d")
    _assert_grad(R.fractional_max_pool_backward(g, i, x.shape), numeric, "reference")
