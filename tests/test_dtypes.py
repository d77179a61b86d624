"""Max-type operators on every integer and floating dtype (SPEC 4.13): the
result equals the float64 computation cast back, integer padding is the
type's minimum, and indices do not depend on the dtype."""

import numpy as np
import pytest

import fastpool
from fastpool import reference

MAX_DTYPES = [np.float16, np.float32, np.float64, np.int8, np.uint8, np.int16, np.uint16,
              np.int32, np.int64]


def _values(dtype, shape, rng):
    """Values exactly representable in dtype, with ties, spanning its range."""
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is None:
        return rng.integers(-1000, 1000, shape).astype(dtype)
    x = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    x.flat[::7] = info.min  # the padding value itself must lose ties to a real cell
    return x


@pytest.mark.parametrize("dtype", MAX_DTYPES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_max_pool_every_dtype_matches_reference(dtype, channels_last):
    rng = np.random.default_rng(7)
    x = _values(dtype, (2, 3, 11, 13), rng)
    y_ref, i_ref = reference.max_pool(x.astype(np.float64), (3, 2), (2, 1), ((1, 2), (0, 1)),
                                      (1, 2), True)
    xin = np.ascontiguousarray(np.moveaxis(x, 1, -1)) if channels_last else x
    y, i = fastpool.max_pool2d(xin, (3, 2), (2, 1), ((1, 2), (0, 1)), (1, 2), True, True,
                               channels_last=channels_last)
    if channels_last:
        y, i = np.moveaxis(y, -1, 1), np.moveaxis(i, -1, 1)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y.astype(np.float64), y_ref)
    np.testing.assert_array_equal(i, i_ref)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32])
def test_integer_padding_is_the_type_minimum(dtype):
    info = np.iinfo(dtype)
    x = np.full((1, 1, 1, 3), info.min, dtype=dtype)
    y, i = fastpool.max_pool2d(x, (1, 3), 1, ((0, 0), (5, 0)), return_indices=True)
    # windows wholly in padding: the type's minimum and index -1; otherwise
    # the real cell wins a tie against padding
    assert y.dtype == np.dtype(dtype)
    assert (y == info.min).all()
    assert i[0, 0, 0, :3].tolist() == [-1, -1, -1]
    assert i[0, 0, 0, 3] == 0


@pytest.mark.parametrize("dtype", MAX_DTYPES)
def test_stride1_adaptive_global_and_unpool_every_dtype(dtype):
    rng = np.random.default_rng(3)
    x = _values(dtype, (2, 3, 20, 17), rng)
    xf = x.astype(np.float64)
    for k in (5, 9):
        y = fastpool.max_pool2d(x, k, 1, k // 2)
        np.testing.assert_array_equal(y.astype(np.float64), fastpool.max_pool2d(xf, k, 1, k // 2))
    a, ai = fastpool.adaptive_max_pool2d(x, (6, 5), return_indices=True)
    af, afi = fastpool.adaptive_max_pool2d(xf, (6, 5), return_indices=True)
    np.testing.assert_array_equal(a.astype(np.float64), af)
    np.testing.assert_array_equal(ai, afi)
    g, gi = fastpool.global_max_pool(x, return_indices=True)
    np.testing.assert_array_equal(g.astype(np.float64), xf.max(axis=(2, 3), keepdims=True))
    y, idx = fastpool.max_pool2d(x, 2, return_indices=True)
    u = fastpool.max_unpool2d(y, idx, 2, output_size=x.shape[2:])
    assert u.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(
        u.astype(np.float64),
        fastpool.max_unpool2d(y.astype(np.float64), idx, 2, output_size=x.shape[2:]))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_max_backward_floating_dtypes(dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 8, 8)).astype(dtype)
    y, idx = fastpool.max_pool2d(x, 2, return_indices=True)
    g = rng.integers(-4, 4, y.shape).astype(dtype)
    dx = fastpool.max_pool2d_backward(g, idx, x.shape)
    assert dx.dtype == np.dtype(dtype)
    # disjoint windows: no sums, so the float64 reference cast back is exact
    ref = reference.max_pool_backward(g.astype(np.float64), idx, x.shape).astype(dtype)
    np.testing.assert_array_equal(dx, ref)


def test_float16_nan_and_inf_follow_the_scan_rule():
    x = np.array([[[[1, np.nan, 3, np.nan], [np.inf, -np.inf, 2, 2]]]], dtype=np.float16)
    y, i = fastpool.max_pool2d(x, 2, return_indices=True)
    assert np.isnan(y[0, 0, 0, 0]) and i[0, 0, 0, 0] == 1
    assert np.isnan(y[0, 0, 0, 1]) and i[0, 0, 0, 1] == 3


@pytest.mark.parametrize("fn", ["max_pool2d_backward", "max_unpool2d_backward"])
def test_integer_gradients_are_refused(fn):
    idx = np.zeros((1, 1, 2, 2), np.int64)
    g = np.ones((1, 1, 2, 2), np.int32)
    with pytest.raises(TypeError, match=f"^{fn}: grad_output"):
        if fn == "max_pool2d_backward":
            fastpool.max_pool2d_backward(g, idx, (1, 1, 4, 4))
        else:
            fastpool.max_unpool2d_backward(np.ones((1, 1, 4, 4), np.int32), idx, 2)


INT_DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.int64]


@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_integer_average_is_float64_by_default(dtype, channels_last):
    rng = np.random.default_rng(11)
    x = _values(dtype, (2, 5, 9, 12), rng)
    ref = reference.avg_pool(x.astype(np.float64), 3, 2, 1, True, False)
    xin = np.ascontiguousarray(np.moveaxis(x, 1, -1)) if channels_last else x
    y = fastpool.avg_pool2d(xin, 3, 2, 1, True, False, channels_last=channels_last)
    if channels_last:
        y = np.moveaxis(y, -1, 1)
    assert y.dtype == np.float64
    # float64 sums of 9 taps: a few ulps of the largest term
    atol = 16 * np.finfo(np.float64).eps * float(np.abs(x.astype(np.float64)).max())
    np.testing.assert_allclose(y, ref, rtol=1e-14, atol=atol)


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_integer_average_into_its_own_type_rounds_half_even_and_saturates(dtype):
    rng = np.random.default_rng(13)
    x = _values(dtype, (2, 3, 10, 8), rng)
    y = fastpool.avg_pool2d(x, 2, dtype=dtype)
    ref = reference.avg_pool(x.astype(np.float64), 2)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y, np.rint(ref).astype(dtype))
    # exact halves go to the even neighbour
    h = np.array([[[[1, 2, 1, 4, 5, 6]]]], dtype=dtype)
    assert fastpool.avg_pool2d(h, (1, 2), dtype=dtype).ravel().tolist() == [2, 2, 6]


def test_uint8_image_pyramid_level():
    img = np.array([[[[250, 255], [255, 255]]]], np.uint8)
    assert fastpool.avg_pool2d(img, 2, dtype=np.uint8).item() == 254  # 253.75
    with pytest.raises(TypeError, match="^avg_pool2d: dtype"):
        fastpool.avg_pool2d(img, 2, dtype=np.int16)


def test_float16_average_accumulates_wider():
    # 4096 ones and one 1: float16 sums would stick at 2048; the mean is 1
    x = np.ones((1, 1, 1, 4097), np.float16)
    assert fastpool.avg_pool1d(x[0], 4097).item() == 1.0
    rng = np.random.default_rng(17)
    x = rng.standard_normal((2, 3, 9, 11)).astype(np.float16)
    y = fastpool.avg_pool2d(x, 3, 2, 1)
    ref = reference.avg_pool(x.astype(np.float64), 3, 2, 1).astype(np.float16)
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y, ref)  # one rounding of a float32 sum
    dx = fastpool.avg_pool2d_backward(np.ones_like(y), x.shape, 3, 2, 1)
    assert dx.dtype == np.float16


@pytest.mark.parametrize("dtype", INT_DTYPES + [np.float16])
def test_adaptive_and_global_average_of_every_dtype(dtype):
    rng = np.random.default_rng(19)
    x = _values(dtype, (2, 3, 10, 13), rng)
    xf = x.astype(np.float64)
    out_dtype = np.float16 if dtype == np.float16 else np.float64
    for size in [(5, 13), (3, 4), (1, 1)]:  # regular, overlapping and global windows
        y = fastpool.adaptive_avg_pool2d(x, size)
        assert y.dtype == out_dtype
        np.testing.assert_allclose(y.astype(np.float64),
                                   fastpool.adaptive_avg_pool2d(xf, size).astype(out_dtype),
                                   rtol=1e-14, atol=16 * np.finfo(np.float64).eps * np.abs(xf).max())
    g = fastpool.global_avg_pool(x)
    assert g.dtype == out_dtype
