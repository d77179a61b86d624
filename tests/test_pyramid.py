"""Spatial pyramid pooling and YOLO SPP (SPEC §4.11): properties against the
reference, bit-exactness of YOLO SPP against separate max pools, one test per
semantic trap, gradients by central differences, thread-count independence,
bad inputs and ``out=``."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import MEMORY, arrange, assert_close_sum, make_values, reference, user_view

fastpool = pytest.importorskip("fastpool")

SPP_FUNCS = ("spatial_pyramid_pool", "spatial_pyramid_pool_backward")
YOLO_FUNCS = ("yolo_spp", "yolo_spp_backward")
MAX_DTYPES = (np.float16, np.float32, np.float64, np.int8, np.uint8, np.int16, np.uint16,
              np.int32, np.int64)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shapes, dtypes and bytes (NaN payloads and signed zeros included)."""
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def tagged_nans(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """a with every NaN given its own payload (and sign), so tests see which NaN won."""
    a = a.copy()
    if a.dtype.kind != "f":
        return a
    bits = {2: np.uint16, 4: np.uint32, 8: np.uint64}[a.itemsize]
    u = a.view(bits)
    nan = np.isnan(a)
    quiet = {2: 0x7E00, 4: 0x7FC00000, 8: 0x7FF8000000000000}[a.itemsize]
    sign = {2: 0x8000, 4: 0x80000000, 8: 0x8000000000000000}[a.itemsize]
    payload = rng.integers(1, 200, size=int(nan.sum())).astype(bits)
    flip = (rng.random(payload.shape) < 0.5).astype(bits) * bits(sign)
    u[nan] = bits(quiet) | payload | flip
    return a


def to_user(logical, batched, channels_last, memory):
    if memory == "step2" and logical.dtype.kind == "u":  # arrange() fills with -7
        memory = "negative"
    return arrange(user_view(logical, batched, channels_last), memory, batched, channels_last)


def values(rng, shape, dtype, kind, rate):
    """make_values for floating dtypes; small and extreme integers for the others."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return make_values(rng, shape, dtype, kind, rate)
    info = np.iinfo(dtype)
    lo, hi = max(info.min, -2**40), min(info.max, 2**40)  # exact in the float64 reference
    a = rng.integers(max(lo, -20), min(hi, 20) + 1, size=shape).astype(dtype)
    edge = rng.random(shape)
    a[edge < 0.05] = lo
    a[edge > 0.95] = hi
    return a


def direct_yolo(x_logical, ks, order):
    """YOLO SPP from separate fastpool.max_pool2d calls and np.concatenate (logical layout)."""
    pools = [fastpool.max_pool2d(x_logical, k, 1, k // 2) for k in ks]
    blocks = [x_logical] + pools if order == "ultralytics" else pools[::-1] + [x_logical]
    return np.concatenate(blocks, axis=-3)


# --------------------------------------------------------------------------
# Strategies


@st.composite
def spp_cases(draw, dtypes=(np.float32, np.float64), specials=True):
    batched = draw(st.booleans())
    n = draw(st.integers(1, 3)) if batched else 1
    c = draw(st.integers(1, 6))
    h, w = draw(st.integers(1, 15)), draw(st.integers(1, 15))
    levels = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    mode = draw(st.sampled_from(("max", "avg")))
    variant = draw(st.sampled_from(("adaptive", "sppnet", "caffe")))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(("normal", "ties", "wide")))
    rate = draw(st.sampled_from((0.0, 0.0, 0.05, 0.3))) if specials else 0.0
    shape = ((n,) if batched else ()) + (c, h, w)
    logical = values(np.random.default_rng(seed), shape, dtype, kind, rate)
    channels_last = draw(st.booleans())
    memory = draw(st.sampled_from(MEMORY))
    threads = draw(st.sampled_from((None, 1, 2)))
    return {"logical": logical, "batched": batched, "levels": levels, "mode": mode, "variant": variant,
                "channels_last": channels_last, "memory": memory, "threads": threads, "seed": seed,
                "x": to_user(logical, batched, channels_last, memory)}


def spp_valid(case) -> bool:
    h, w = case["logical"].shape[-2:]
    try:
        for level in case["levels"]:
            for size in (h, w):
                reference.spp_bins(size, level, case["variant"])
    except ValueError:
        return False
    return True


def spp_reference(case, logical=None):
    x = case["logical"] if logical is None else logical
    return reference.spatial_pyramid_pool(x, case["levels"], case["mode"], case["variant"],
                                          features="hwc" if case["channels_last"] else "chw")


@st.composite
def yolo_cases(draw, dtypes=(np.float32, np.float64), big=False):
    batched = draw(st.booleans())
    n = draw(st.integers(1, 2)) if batched else 1
    c = draw(st.integers(1, 12))
    top = 40 if big else 17
    h, w = draw(st.integers(1, top)), draw(st.integers(1, top))
    ks = tuple(draw(st.lists(st.sampled_from((1, 3, 5, 7, 9, 11, 13, 15, 21)), min_size=1,
                             max_size=4)))
    if draw(st.integers(0, 2)) == 0:
        ks = (5, 9, 13)
    order = draw(st.sampled_from(("ultralytics", "darknet")))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shape = ((n,) if batched else ()) + (c, h, w)
    kind = draw(st.sampled_from(("normal", "ties", "zeros", "wide")))
    if kind == "zeros":  # the values whose bits a wrong tie rule changes
        logical = rng.choice(np.array([0.0, -0.0, -1.0, np.nan, 1.0]), size=shape,
                             p=[.35, .35, .2, .05, .05])
        logical = logical.astype(dtype) if dtype.kind == "f" else np.zeros(shape, dtype)
    else:
        rate = draw(st.sampled_from((0.0, 0.05, 0.3)))
        logical = values(rng, shape, dtype, "normal" if kind == "wide" else kind, rate)
    logical = tagged_nans(logical, rng)
    channels_last = draw(st.booleans())
    memory = draw(st.sampled_from(MEMORY))
    threads = draw(st.sampled_from((None, 1, 2)))
    return {"logical": logical, "batched": batched, "ks": ks, "order": order,
                "channels_last": channels_last, "memory": memory, "threads": threads, "seed": seed,
                "x": to_user(logical, batched, channels_last, memory)}


def logical_of(user, batched, channels_last):
    if not channels_last:
        return user
    return np.moveaxis(user, -1, 1 if batched else 0)


# --------------------------------------------------------------------------
# Spatial pyramid pooling: properties


@settings(max_examples=80)
@given(spp_cases())
def test_spp_forward_matches_reference(case):
    kw = {"levels": case["levels"], "mode": case["mode"], "variant": case["variant"],
              "channels_last": case["channels_last"], "num_threads": case["threads"]}
    if not spp_valid(case):
        with pytest.raises(ValueError, match=r"^spatial_pyramid_pool: variant="):
            fastpool.spatial_pyramid_pool(case["x"], **kw)
        return
    y = fastpool.spatial_pyramid_pool(case["x"], **kw)
    expected = spp_reference(case)
    assert y.flags.c_contiguous
    if case["mode"] == "max":
        np.testing.assert_array_equal(y, expected)
    else:
        h, w = case["logical"].shape[-2:]
        assert_close_sum(y, expected, h * w, float(np.nanmax(np.abs(case["logical"]),
                                                             initial=0)) or 1.0)


@settings(max_examples=60)
@given(spp_cases(specials=False))
def test_spp_backward_matches_reference(case):
    if not spp_valid(case):
        return
    kw = {"levels": case["levels"], "mode": case["mode"], "variant": case["variant"],
              "channels_last": case["channels_last"], "num_threads": case["threads"]}
    y = fastpool.spatial_pyramid_pool(case["x"], **kw)
    g = np.random.default_rng(case["seed"] ^ 0x5EED).standard_normal(y.shape).astype(y.dtype)
    dx = fastpool.spatial_pyramid_pool_backward(g, case["x"], **kw)
    assert dx.shape == case["x"].shape and dx.dtype == case["x"].dtype
    expected = reference.spatial_pyramid_pool_backward(
        g, case["logical"], case["levels"], case["mode"], case["variant"],
        features="hwc" if case["channels_last"] else "chw")
    # a cell lies in at most (l/a + 2) bins per axis and level
    terms = sum((level + 2) ** 2 for level in case["levels"])
    assert_close_sum(logical_of(dx, case["batched"], case["channels_last"]), expected, terms,
                     float(np.abs(g).max(initial=1.0)))


@settings(max_examples=30)
@given(spp_cases(dtypes=MAX_DTYPES[3:] + (np.float16,), specials=False))
def test_spp_other_dtypes_match_reference(case):
    """Integers and float16: max in the input's dtype, average of integers in float64."""
    if not spp_valid(case):
        return
    x64 = case["logical"].astype(np.float64)
    y = fastpool.spatial_pyramid_pool(case["x"], case["levels"], case["mode"], case["variant"],
                                      channels_last=case["channels_last"])
    expected = spp_reference(case, x64)
    if case["mode"] == "max":
        assert y.dtype == case["logical"].dtype
        np.testing.assert_array_equal(y, expected.astype(y.dtype))
    else:
        is_int = case["logical"].dtype.kind in "iu"
        assert y.dtype == (np.float64 if is_int else np.float16)
        tol = 1e-12 if is_int else 2e-3
        np.testing.assert_allclose(y.astype(np.float64), expected, rtol=tol,
                                   atol=tol * (np.abs(x64).max() + 1))


# --------------------------------------------------------------------------
# Spatial pyramid pooling: traps


@pytest.mark.parametrize("variant", ["adaptive", "sppnet", "caffe"])
@pytest.mark.parametrize("hw", [(13, 13), (7, 9)])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_spp_non_divisible_sizes_each_variant(variant, hw, mode):
    """13x13 and 7x9 with levels (1, 2, 3, 4, 6): every level the variant can bin
    matches the reference; the ones it cannot (Caffe: pad >= kernel) raise."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3) + hw)
    levels = (1, 2, 3, 4, 6)
    ok = []
    for level in levels:
        try:
            for size in hw:
                reference.spp_bins(size, level, variant)
            ok.append(level)
        except ValueError:
            with pytest.raises(ValueError, match=rf"cannot make {level} bins"):
                fastpool.spatial_pyramid_pool(x, (1, level), mode, variant)
    if variant != "caffe":
        assert ok == list(levels)  # adaptive and SPPNet bin every level of these sizes
    else:
        assert 6 not in ok and {1, 2, 3, 4} <= set(ok)
    y = fastpool.spatial_pyramid_pool(x, tuple(ok), mode, variant)
    assert y.shape == (2, 3 * sum(level * level for level in ok))
    expected = reference.spatial_pyramid_pool(x, tuple(ok), mode, variant)
    np.testing.assert_allclose(y, expected, rtol=1e-13, atol=1e-13)


def test_spp_sppnet_keeps_the_papers_first_l_windows():
    """a=7, l=4: window ceil(7/4)=2, stride floor(7/4)=1 gives 6 windows; the
    first 4, [o, o+2), are kept.  On 0..6 their maxima are 1, 2, 3, 4."""
    x = np.broadcast_to(np.arange(7.0), (1, 1, 7, 7)).copy()
    y = fastpool.spatial_pyramid_pool(x, (4,), "max", "sppnet")
    np.testing.assert_array_equal(y.reshape(4, 4), np.tile([1.0, 2.0, 3.0, 4.0], (4, 1)))
    # where the paper's count is l (a % l <= a // l), it is a plain pooling
    x13 = np.random.default_rng(1).standard_normal((1, 2, 13, 13))
    for level in (1, 2, 3, 4, 6):
        k, s = -(-13 // level), 13 // level
        plain = fastpool.max_pool2d(x13, k, s)
        assert plain.shape[-1] == level
        np.testing.assert_array_equal(
            fastpool.spatial_pyramid_pool(x13, (level,), "max", "sppnet"), plain.reshape(1, -1))


def test_spp_caffe_average_divides_by_the_padded_window():
    """Caffe, a=13, l=4: kernel 4, pad 2; the corner bin holds 2x2 cells of a 4x4
    window clipped to [-2, 15): ones average to 4/16."""
    y = fastpool.spatial_pyramid_pool(np.ones((1, 1, 13, 13)), (4,), "avg", "caffe")
    bins = y.reshape(4, 4)
    assert bins[0, 0] == 4 / 16 and bins[1, 1] == 1.0
    assert bins[0, 3] == (2 * 3) / 16  # [-2, 2) x [10, 14) clipped to 13 columns


def test_spp_levels_order_is_respected():
    x = np.random.default_rng(3).standard_normal((2, 3, 9, 11)).astype(np.float32)
    a = fastpool.spatial_pyramid_pool(x, (1, 2, 4))
    b = fastpool.spatial_pyramid_pool(x, (4, 1, 2))
    c = 3
    blocks_a = np.split(a, [c * 1, c * 5], axis=1)   # levels 1, 2, 4
    blocks_b = np.split(b, [c * 16, c * 17], axis=1)  # levels 4, 1, 2
    np.testing.assert_array_equal(blocks_a[0], blocks_b[1])
    np.testing.assert_array_equal(blocks_a[1], blocks_b[2])
    np.testing.assert_array_equal(blocks_a[2], blocks_b[0])
    # a repeated level is written twice
    r = fastpool.spatial_pyramid_pool(x, (2, 2))
    np.testing.assert_array_equal(r[:, :12], r[:, 12:])


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_spp_input_smaller_than_level(mode):
    """a < l: adaptive bins repeat cells (PyTorch's adaptive pooling allows it);
    sppnet (stride 0) and caffe (pad >= kernel) raise, naming the axis."""
    x = np.random.default_rng(4).standard_normal((1, 2, 3, 5))
    y = fastpool.spatial_pyramid_pool(x, (4,), mode, "adaptive")
    np.testing.assert_allclose(y, reference.spatial_pyramid_pool(x, (4,), mode, "adaptive"))
    for variant in ("sppnet", "caffe"):
        with pytest.raises(ValueError, match=rf"^spatial_pyramid_pool: variant='{variant}' "
                                             r"cannot make 4 bins from the 3 cells of axis H"):
            fastpool.spatial_pyramid_pool(x, (4,), mode, variant)


def test_spp_channels_last_flattens_each_level_hwc():
    x = np.random.default_rng(5).standard_normal((2, 6, 7, 3))  # NHWC
    y = fastpool.spatial_pyramid_pool(x, (1, 2), channels_last=True)
    nchw = fastpool.spatial_pyramid_pool(np.moveaxis(x, -1, 1), (1, 2))
    # level 2: NHWC output is (l, l, C), NCHW output (C, l, l) of the same bins
    np.testing.assert_array_equal(y[:, 3:].reshape(2, 2, 2, 3),
                                  nchw[:, 3:].reshape(2, 3, 2, 2).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(y[:, :3], nchw[:, :3])


def test_spp_unbatched_and_empty_batch():
    x = np.random.default_rng(6).standard_normal((3, 8, 8))
    y = fastpool.spatial_pyramid_pool(x, (1, 2))
    assert y.shape == (15,)
    np.testing.assert_array_equal(y, fastpool.spatial_pyramid_pool(x[None], (1, 2))[0])
    assert fastpool.spatial_pyramid_pool(np.zeros((0, 3, 8, 8)), (1, 2)).shape == (0, 15)
    g = np.ones(15)
    dx = fastpool.spatial_pyramid_pool_backward(g, x, (1, 2))
    np.testing.assert_array_equal(dx, fastpool.spatial_pyramid_pool_backward(g[None], x[None],
                                                                             (1, 2))[0])


def test_spp_max_gradient_goes_to_first_max_and_last_nan():
    x = np.zeros((1, 1, 2, 2))
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = 5.0  # a tie: the first in row-major order wins
    dx = fastpool.spatial_pyramid_pool_backward(np.ones((1, 1)), x, (1,))
    assert dx[0, 0, 0, 1] == 1 and dx.sum() == 1
    x[0, 0, 0, 0] = x[0, 0, 1, 1] = np.nan  # NaN: the last one wins
    dx = fastpool.spatial_pyramid_pool_backward(np.ones((1, 1)), x, (1,))
    assert dx[0, 0, 1, 1] == 1 and dx.sum() == 1


# --------------------------------------------------------------------------
# YOLO SPP: properties and traps


@settings(max_examples=80)
@given(yolo_cases(dtypes=(np.float32, np.float64, np.float16, np.int8, np.uint8, np.int32)))
def test_yolo_spp_equals_separate_max_pools_bitwise(case):
    """Every block equals fastpool.max_pool2d with that kernel, bit for bit (the
    NaN that wins and the sign of a zero maximum included), in both orders."""
    y = fastpool.yolo_spp(case["x"], case["ks"], case["order"],
                          channels_last=case["channels_last"], num_threads=case["threads"])
    expected = direct_yolo(case["logical"], case["ks"], case["order"])
    assert same_bits(logical_of(y, case["batched"], case["channels_last"]), expected)
    assert y.flags.c_contiguous


@settings(max_examples=40)
@given(yolo_cases())
def test_yolo_spp_matches_reference(case):
    y = fastpool.yolo_spp(case["x"], case["ks"], case["order"],
                          channels_last=case["channels_last"])
    expected = reference.yolo_spp(case["logical"], case["ks"], case["order"])
    np.testing.assert_array_equal(logical_of(y, case["batched"], case["channels_last"]),
                                  expected)


@settings(max_examples=50)
@given(yolo_cases(big=True))
def test_yolo_spp_backward_matches_reference(case):
    kw = {"kernel_sizes": case["ks"], "order": case["order"],
              "channels_last": case["channels_last"], "num_threads": case["threads"]}
    y = fastpool.yolo_spp(case["x"], **kw)
    g = np.random.default_rng(case["seed"] ^ 0x5EED).standard_normal(y.shape).astype(y.dtype)
    dx = fastpool.yolo_spp_backward(g, case["x"], **kw)
    assert dx.shape == case["x"].shape and dx.dtype == case["x"].dtype
    expected = reference.yolo_spp_backward(logical_of(g, case["batched"], case["channels_last"]),
                                           case["logical"], case["ks"], case["order"])
    k = max(case["ks"])
    assert_close_sum(logical_of(dx, case["batched"], case["channels_last"]), expected,
                     1 + len(case["ks"]) * k * k, float(np.abs(g).max(initial=1.0)))


@pytest.mark.parametrize("ks", [(3, 7), (5, 11), (9, 5, 13), (5, 5, 9), (1,), (13,), (1, 3),
                                (31,), (21, 3)])
@pytest.mark.parametrize("order", ["ultralytics", "darknet"])
def test_yolo_spp_non_cascade_kernel_sizes(ks, order):
    """Sizes that are not SPPF's 5/9/13, unsorted, repeated, 1, or wider than the input."""
    rng = np.random.default_rng(sum(ks))
    x = tagged_nans(rng.choice(np.array([0.0, -0.0, 1.0, np.nan, -np.inf, np.inf, 2.0],
                                        dtype=np.float32), size=(2, 3, 12, 17)), rng)
    y = fastpool.yolo_spp(x, ks, order)
    assert same_bits(y, direct_yolo(x, ks, order))
    g = rng.standard_normal(y.shape).astype(np.float32)
    assert_close_sum(fastpool.yolo_spp_backward(g, x, ks, order),
                     reference.yolo_spp_backward(g, x, ks, order), 1 + len(ks) * 12 * 17, 4.0)


def test_yolo_spp_is_exact_where_the_sppf_cascade_is_not():
    """SPPF's max5(max5(x)) selects column-major among equal values: on +0/-0
    data it differs from the row-major max9 in sign bits; yolo_spp does not."""
    rng = np.random.default_rng(11)
    x = rng.choice(np.array([0.0, -0.0, -1.0], dtype=np.float32), size=(1, 64, 9, 9))
    p5 = fastpool.max_pool2d(x, 5, 1, 2)
    direct9 = fastpool.max_pool2d(x, 9, 1, 4)
    assert not same_bits(fastpool.max_pool2d(p5, 5, 1, 2), direct9)
    np.testing.assert_array_equal(fastpool.max_pool2d(p5, 5, 1, 2), direct9)  # values agree
    y = fastpool.yolo_spp(x, (5, 9))
    assert same_bits(y[:, 128:], direct9)


@pytest.mark.parametrize("shape,ks,channels_last", [
    ((1, 2, 150, 170), (5, 9, 13), False),   # several tiles per plane (float64 scratch)
    ((1, 40, 30, 35), (5, 9, 13), True),      # NHWC channel blocks
    ((2, 2, 1, 300), (5, 9, 13), False),      # one row
    ((1, 1, 100, 100), (3, 2001), False),     # kernels wider than any tile: fallbacks
])
def test_yolo_spp_tiles_and_fallbacks(shape, ks, channels_last):
    rng = np.random.default_rng(12)
    x = tagged_nans(rng.choice(np.array([0.0, -0.0, 1.0, 2.0, np.nan]), size=shape,
                               p=[.3, .3, .2, .19, .01]), rng)
    xu = np.ascontiguousarray(np.moveaxis(x, 1, -1)) if channels_last else x
    y = fastpool.yolo_spp(xu, ks, channels_last=channels_last)
    assert same_bits(logical_of(y, True, channels_last), direct_yolo(x, ks, "ultralytics"))
    g = rng.standard_normal(y.shape)
    dx = fastpool.yolo_spp_backward(g, xu, ks, channels_last=channels_last)
    gl = logical_of(g, True, channels_last)
    expected = gl[:, :shape[1]].copy()
    for i, k in enumerate(ks, 1):
        _, idx = fastpool.max_pool2d(x, k, 1, k // 2, return_indices=True)
        expected += fastpool.max_pool2d_backward(
            np.ascontiguousarray(gl[:, i * shape[1]:(i + 1) * shape[1]]), idx, shape)
    np.testing.assert_allclose(logical_of(dx, True, channels_last), expected, rtol=1e-12,
                               atol=1e-9)


@pytest.mark.parametrize("bad", [(4,), (5, 8), (0,), (-3,)])
def test_yolo_spp_even_or_non_positive_kernel_raises(bad):
    x = np.zeros((1, 1, 5, 5), np.float32)
    for fn, args in ((fastpool.yolo_spp, (x,)), (fastpool.yolo_spp_backward, (np.zeros(
            (1, 1 + len(bad), 5, 5), np.float32), x))):
        with pytest.raises(ValueError, match=rf"^{fn.__name__}: kernel_sizes must be "
                                             r"(odd|positive)"):
            fn(*args, bad)


def test_yolo_spp_unbatched_and_empty():
    x = np.random.default_rng(13).standard_normal((3, 6, 7)).astype(np.float32)
    y = fastpool.yolo_spp(x)
    assert y.shape == (12, 6, 7)
    assert same_bits(y, fastpool.yolo_spp(x[None])[0])
    assert fastpool.yolo_spp(np.zeros((2, 3, 0, 4), np.float32)).shape == (2, 12, 0, 4)
    assert fastpool.yolo_spp(np.zeros((0, 3, 4, 4), np.float32)).shape == (0, 12, 4, 4)


# --------------------------------------------------------------------------
# Gradients by central differences (float64, no ties)


def _numeric_grad(f, x, g, h=1e-6):
    num = np.zeros_like(x)
    flat = x.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = float(np.sum(g * f(x)))
        flat[i] = old - h
        minus = float(np.sum(g * f(x)))
        flat[i] = old
        num.reshape(-1)[i] = (plus - minus) / (2 * h)
    return num


def _distinct(rng, shape):
    """Values at least 1e-3 apart, so a perturbation of 1e-6 changes no maximum."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 1e-3 - 0.3).astype(np.float64)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("variant", ["adaptive", "sppnet", "caffe"])
def test_spp_backward_central_differences(mode, variant):
    rng = np.random.default_rng(21)
    x = _distinct(rng, (2, 2, 7, 9))
    levels = (1, 2, 3)
    g = rng.standard_normal((2, 2 * 14))
    dx = fastpool.spatial_pyramid_pool_backward(g, x, levels, mode, variant)
    num = _numeric_grad(lambda a: fastpool.spatial_pyramid_pool(a, levels, mode, variant), x, g)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("order", ["ultralytics", "darknet"])
def test_yolo_spp_backward_central_differences(order):
    rng = np.random.default_rng(22)
    x = _distinct(rng, (1, 2, 6, 7))
    g = rng.standard_normal((1, 8, 6, 7))
    dx = fastpool.yolo_spp_backward(g, x, (3, 5, 9), order)
    num = _numeric_grad(lambda a: fastpool.yolo_spp(a, (3, 5, 9), order), x, g)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------
# Threads


def test_one_and_two_threads_bit_identical():
    rng = np.random.default_rng(31)
    x = tagged_nans(rng.choice(np.array([0.0, -0.0, 1.0, 2.0, np.nan, 3.0]), size=(3, 16, 24, 26)),
                    rng).astype(np.float32)
    for cl in (False, True):
        xu = np.ascontiguousarray(np.moveaxis(x, 1, -1)) if cl else x
        y1 = fastpool.yolo_spp(xu, channels_last=cl, num_threads=1)
        y2 = fastpool.yolo_spp(xu, channels_last=cl, num_threads=2)
        assert same_bits(y1, y2)
        g = rng.standard_normal(y1.shape).astype(np.float32)
        assert same_bits(fastpool.yolo_spp_backward(g, xu, channels_last=cl, num_threads=1),
                         fastpool.yolo_spp_backward(g, xu, channels_last=cl, num_threads=2))
        for mode in ("max", "avg"):
            for variant in ("adaptive", "sppnet", "caffe"):
                kw = {"levels": (1, 2, 4), "mode": mode, "variant": variant, "channels_last": cl}
                s1 = fastpool.spatial_pyramid_pool(xu, num_threads=1, **kw)
                assert same_bits(s1, fastpool.spatial_pyramid_pool(xu, num_threads=2, **kw))
                gs = rng.standard_normal(s1.shape).astype(np.float32)
                assert same_bits(
                    fastpool.spatial_pyramid_pool_backward(gs, xu, num_threads=1, **kw),
                    fastpool.spatial_pyramid_pool_backward(gs, xu, num_threads=2, **kw))


# --------------------------------------------------------------------------
# Bad inputs and out=


X = np.random.default_rng(41).standard_normal((2, 3, 8, 8)).astype(np.float32)
SPP_G = np.ones((2, 3 * 21), np.float32)
YOLO_G = np.ones((2, 12, 8, 8), np.float32)


def _call(name, **over):
    """The function `name` on valid arguments with some replaced."""
    if name.startswith("spatial"):
        args = {"x": X, "levels": (1, 2, 4), "mode": "max", "variant": "adaptive"}
    else:
        args = {"x": X, "kernel_sizes": (5, 9, 13), "order": "ultralytics"}
    if name.endswith("_backward"):
        args = dict(grad_output=SPP_G if name.startswith("spatial") else YOLO_G, **args)
    args.update(over)
    return getattr(fastpool, name)(**args)


BAD_ARGS = [
    # (functions, argument, value, exception, message pattern after "name: ")
    (SPP_FUNCS + YOLO_FUNCS, "x", np.zeros((2, 3, 8, 8), np.complex64), TypeError, "x has dtype"),
    (SPP_FUNCS + YOLO_FUNCS, "x", np.zeros((2, 3, 8, 8), bool), TypeError, "x has dtype"),
    (SPP_FUNCS + YOLO_FUNCS, "x", np.zeros((8, 8), np.float32), ValueError, "x must have"),
    (SPP_FUNCS + YOLO_FUNCS, "x", np.zeros((1, 2, 3, 8, 8), np.float32), ValueError,
     "x must have"),
    (SPP_FUNCS, "x", np.zeros((2, 3, 0, 8), np.float32), ValueError, "x must have non-empty"),
    (SPP_FUNCS, "levels", (1, 0), ValueError, "levels must be positive"),
    (SPP_FUNCS, "levels", (), ValueError, "levels must not be empty"),
    (SPP_FUNCS, "levels", (1, 2.5), TypeError, "levels must be an integer"),
    (SPP_FUNCS, "levels", True, TypeError, "levels must be an integer"),
    (SPP_FUNCS, "levels", "124", TypeError, "levels must be an integer"),
    (SPP_FUNCS, "levels", (2**64,), OverflowError, "levels must fit in int64"),
    (SPP_FUNCS, "levels", (2**31,), ValueError, "levels .* too large"),
    (SPP_FUNCS, "mode", "mean", ValueError, "mode must be one of"),
    (SPP_FUNCS, "mode", None, ValueError, "mode must be one of"),
    (SPP_FUNCS, "variant", "torch", ValueError, "variant must be one of"),
    (SPP_FUNCS + YOLO_FUNCS, "channels_last", "no", TypeError, "channels_last must be True"),
    (SPP_FUNCS + YOLO_FUNCS, "channels_last", np.array([1, 0]), TypeError,
     "channels_last must be True"),
    (SPP_FUNCS + YOLO_FUNCS, "num_threads", 0, ValueError, "num_threads must be"),
    (SPP_FUNCS + YOLO_FUNCS, "num_threads", 5000, ValueError, "num_threads must be"),
    (SPP_FUNCS + YOLO_FUNCS, "num_threads", 1.5, TypeError, "num_threads must be an integer"),
    (YOLO_FUNCS, "kernel_sizes", (5, 8), ValueError, "kernel_sizes must be odd"),
    (YOLO_FUNCS, "kernel_sizes", (), ValueError, "kernel_sizes must not be empty"),
    (YOLO_FUNCS, "kernel_sizes", (3,) * 17, ValueError, "kernel_sizes may have at most 16"),
    (YOLO_FUNCS, "kernel_sizes", (5.0,), TypeError, "kernel_sizes must be an integer"),
    (YOLO_FUNCS, "kernel_sizes", (2**64 + 1,), OverflowError, "kernel_sizes must fit in int64"),
    (YOLO_FUNCS, "order", "yolo", ValueError, "order must be one of"),
    (("spatial_pyramid_pool_backward",), "grad_output", np.ones((2, 62), np.float32),
     ValueError, "grad_output has shape"),
    (("spatial_pyramid_pool_backward",), "grad_output", np.ones((2, 63), np.float64),
     TypeError, "grad_output has dtype"),
    (("yolo_spp_backward",), "grad_output", np.ones((2, 9, 8, 8), np.float32), ValueError,
     "grad_output has shape"),
    (("yolo_spp_backward",), "grad_output", np.ones((2, 12, 8, 8), np.float64), TypeError,
     "grad_output has dtype"),
    (("spatial_pyramid_pool_backward", "yolo_spp_backward"), "x",
     np.zeros((2, 3, 8, 8), np.int32), TypeError, "x has dtype"),
]


@pytest.mark.parametrize("funcs,arg,value,exc,pattern", BAD_ARGS,
                         ids=[f"{a}={v!r:.20}-{'/'.join(f)[:30]}" for f, a, v, _, _ in BAD_ARGS])
def test_bad_inputs_raise_naming_function_and_argument(funcs, arg, value, exc, pattern):
    for name in funcs:
        with pytest.raises(exc, match=rf"^{name}: {pattern}"):
            _call(name, **{arg: value})


def test_spp_caffe_level_it_cannot_bin_names_level_and_axis():
    with pytest.raises(ValueError, match=r"^spatial_pyramid_pool: variant='caffe' cannot make "
                                         r"6 bins from the 13 cells of axis H"):
        fastpool.spatial_pyramid_pool(np.zeros((1, 1, 13, 13)), (1, 6), variant="caffe")


@pytest.mark.parametrize("name", SPP_FUNCS + YOLO_FUNCS)
def test_out_buffer_used_and_bad_out_untouched(name):
    y = _call(name)
    buf = np.full_like(y, 7)
    res = _call(name, out=buf)
    assert res is buf
    np.testing.assert_array_equal(buf, y)
    # a strided view works too
    big = np.full((2,) + y.shape, 7, y.dtype)
    view = big[1]
    assert _call(name, out=view) is view and np.array_equal(view, y)
    wrong = [np.full(y.shape[:-1] + (y.shape[-1] + 1,), 7, y.dtype),  # shape
             np.full(y.shape, 7, np.float64),                          # dtype
             np.full(y.shape, 7, y.dtype)[::1]]                        # read-only (below)
    wrong[2].flags.writeable = False
    for bad in wrong:
        with pytest.raises((ValueError, TypeError), match=rf"^{name}: out "):
            _call(name, out=bad)
        assert np.all(bad == 7)
    with pytest.raises(TypeError, match=rf"^{name}: out must be a numpy.ndarray"):
        _call(name, out=[0.0])
    # a bad argument after out= was checked leaves out untouched too
    keep = np.full_like(y, 7)
    with pytest.raises(ValueError):
        _call(name, out=keep, num_threads=0)
    assert np.all(keep == 7)


def test_out_overlapping_the_input_raises():
    buf = np.zeros((1, 8, 4, 4), np.float32)
    with pytest.raises(ValueError, match=r"^yolo_spp: out must not overlap"):
        fastpool.yolo_spp(buf[:, :2], (3,), out=buf[:, 1:5])
    flat = np.zeros(2 * 3 * 64 + 2 * 63, np.float32)
    xs = flat[:2 * 3 * 64].reshape(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"^spatial_pyramid_pool: out must not overlap"):
        fastpool.spatial_pyramid_pool(xs, (1, 2, 4), out=flat[100:100 + 126].reshape(2, 63))


def test_public_names_and_docstrings():
    for name in SPP_FUNCS + YOLO_FUNCS:
        fn = getattr(fastpool, name)
        assert name in fastpool.__all__ and fn.__doc__ and "Parameters" in fn.__doc__
    for name in ("spp_bins", "spatial_pyramid_pool", "spatial_pyramid_pool_backward",
                 "yolo_spp", "yolo_spp_backward"):
        assert re.search(r"\S", getattr(reference, name).__doc__)
