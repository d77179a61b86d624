"""Bad arguments raise ValueError/TypeError/IndexError naming the function and the
argument (SPEC §5); malformed-but-legal inputs (zero sizes, byte-swapped or
misaligned data) neither crash nor give wrong answers."""

import re

import numpy as np
import pytest
import strategies as S

fastpool = pytest.importorskip("fastpool")
R = S.reference

RANKS = (1, 2, 3)


def _x(rank, dtype=np.float32, batched=True, size=6):
    rng = np.random.default_rng(rank)
    shape = ((2,) if batched else ()) + (3,) + (size,) * rank
    return rng.standard_normal(shape).astype(dtype)


def _msg(name, arg):
    """``<name>: ... <arg>``: the message starts with the function and names the argument."""
    return rf"^{re.escape(name)}: .*{re.escape(arg)}"


def _forward(kind, rank):
    return getattr(fastpool, f"{kind}_pool{rank}d")


def _call(kind, rank, **overrides):
    """Call a forward (kind "max"/"avg") or backward ("max_backward"/"avg_backward") with
    valid arguments, some replaced by ``overrides``; returns (name, thunk)."""
    x = overrides.pop("x", _x(rank))
    if kind in ("max", "avg"):
        name = f"{kind}_pool{rank}d"
        kw = {"kernel_size": 2}
        kw.update(overrides)
        return name, lambda: getattr(fastpool, name)(x, **kw)
    if kind == "max_backward":
        y, i = fastpool.__dict__[f"max_pool{rank}d"](x, 2, return_indices=True)
        name = f"max_pool{rank}d_backward"
        kw = {"grad_output": np.ones_like(y), "indices": i, "input_shape": x.shape}
        kw.update(overrides)
        return name, lambda: getattr(fastpool, name)(**kw)
    y = fastpool.__dict__[f"avg_pool{rank}d"](x, 2)
    name = f"avg_pool{rank}d_backward"
    kw = {"grad_output": np.ones_like(y), "input_shape": x.shape, "kernel_size": 2}
    kw.update(overrides)
    return name, lambda: getattr(fastpool, name)(**kw)


# --------------------------------------------------------------------------
# Pooling parameters


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("kind", ["max", "avg", "avg_backward"])
@pytest.mark.parametrize("arg, value", [
    ("kernel_size", 0), ("kernel_size", -1), ("kernel_size", "tuple0"),
    ("stride", 0), ("stride", -2), ("stride", "tuple0"),
    ("dilation", 0), ("dilation", -1),
])
def test_non_positive_parameters(kind, rank, arg, value):
    if value == "tuple0":
        value = (2,) * (rank - 1) + (0,)
    name, thunk = _call(kind, rank, **{arg: value})
    with pytest.raises(ValueError, match=_msg(name, arg)):
        thunk()


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("kind", ["max", "avg", "avg_backward"])
@pytest.mark.parametrize("padding", [-1, "neg_tuple", "neg_pair"])
def test_negative_padding(kind, rank, padding):
    if padding == "neg_tuple":
        padding = (0,) * (rank - 1) + (-1,)
    elif padding == "neg_pair":
        padding = ((0, 1),) * (rank - 1) + ((1, -1),)
    name, thunk = _call(kind, rank, padding=padding)
    with pytest.raises(ValueError, match=_msg(name, "padding")):
        thunk()


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("kind", ["max", "avg", "avg_backward"])
@pytest.mark.parametrize("padding", ["full", "SAME_PADDING", "", "wrong_len", "bad_pair"])
def test_bad_padding_form(kind, rank, padding):
    if padding == "wrong_len":
        padding = (1,) * (rank + 1)
    elif padding == "bad_pair":
        padding = ((1, 2, 3),) * rank
    name, thunk = _call(kind, rank, padding=padding)
    with pytest.raises(ValueError, match=_msg(name, "padding")):
        thunk()


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("arg", ["kernel_size", "stride", "dilation"])
def test_wrong_number_of_per_axis_values(kind, rank, arg):
    name, thunk = _call(kind, rank, **{arg: (1,) * (rank + 1)})
    with pytest.raises(ValueError, match=_msg(name, arg)):
        thunk()


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("arg, value", [("kernel_size", 2.5), ("stride", "2"),
                                        ("kernel_size", None), ("dilation", 1.0)])
def test_non_integer_parameters(kind, rank, arg, value):
    name, thunk = _call(kind, rank, **{arg: value})
    with pytest.raises(TypeError, match=_msg(name, arg)):
        thunk()


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("kind", ["max", "avg", "avg_backward"])
@pytest.mark.parametrize("geometry", [
    {"kernel_size": 7},                                # kernel larger than input (6)
    {"kernel_size": 3, "dilation": 3},                    # effective kernel 7 > 6
    {"kernel_size": 8, "padding": "valid"},
    {"kernel_size": 9, "stride": 1, "padding": 1, "ceil_mode": True},  # 6 + 2 < 9
])
def test_output_size_below_one(kind, rank, geometry):
    name, thunk = _call(kind, rank, **geometry)
    with pytest.raises(ValueError, match=rf"^{re.escape(name)}: .*output size"):
        thunk()


def test_output_size_below_one_in_pool_output_shape():
    with pytest.raises(ValueError, match=r"^pool_output_shape: .*output size"):
        fastpool.pool_output_shape((1, 1, 4, 4), 5)
    with pytest.raises(ValueError, match=_msg("pool_output_shape", "kernel_size")):
        fastpool.pool_output_shape((1, 1, 4, 4), 0)
    with pytest.raises(ValueError, match=_msg("pool_output_shape", "rank")):
        fastpool.pool_output_shape((1, 1, 4, 4), 2, rank=4)


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("kind", ["avg", "avg_backward"])
@pytest.mark.parametrize("value", [0, -3])
def test_bad_divisor_override(kind, rank, value):
    name, thunk = _call(kind, rank, divisor_override=value)
    with pytest.raises(ValueError, match=_msg(name, "divisor_override")):
        thunk()


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("kind", ["max", "avg", "max_backward", "avg_backward"])
@pytest.mark.parametrize("value, error", [(0, ValueError), (-1, ValueError),
                                          ("2", TypeError), (1.5, TypeError)])
def test_bad_num_threads(kind, rank, value, error):
    name, thunk = _call(kind, rank, num_threads=value)
    with pytest.raises(error, match=_msg(name, "num_threads")):
        thunk()


# --------------------------------------------------------------------------
# Arrays


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("delta", [-2, 1, 2])
def test_wrong_ndim(kind, rank, delta):
    x = np.zeros((2,) * (rank + 2 + delta), np.float32)
    name, thunk = _call(kind, rank, x=x)
    with pytest.raises(ValueError, match=_msg(name, "x")):
        thunk()


def test_zero_dimensional_input():
    with pytest.raises(ValueError, match=_msg("max_pool1d", "x")):
        fastpool.max_pool1d(np.float32(3), 1)


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128, np.bool_, object, "U3",
                                   np.longdouble])
def test_unsupported_dtype(kind, rank, dtype):
    if np.dtype(dtype) == np.dtype(np.float64):
        pytest.skip("longdouble is float64 on this platform")
    x = np.zeros((2, 3) + (6,) * rank, dtype=dtype)
    name, thunk = _call(kind, rank, x=x)
    with pytest.raises(TypeError, match=_msg(name, "x")) as info:
        thunk()
    assert "float32" in str(info.value) and "float64" in str(info.value)


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("kind", ["max_backward", "avg_backward"])
@pytest.mark.parametrize("dtype", [np.int32, np.complex128])
def test_unsupported_grad_dtype(kind, rank, dtype):
    name, thunk = _call(kind, rank)
    grad = thunk.__closure__  # noqa: F841 - keep the valid call around for readability
    x = _x(rank)
    y_shape = fastpool.pool_output_shape(x.shape, (2,) * rank)
    name, thunk = _call(kind, rank, grad_output=np.ones(y_shape, dtype=dtype))
    with pytest.raises(TypeError, match=_msg(name, "grad_output")) as info:
        thunk()
    assert "float32" in str(info.value) and "float64" in str(info.value)


def test_list_input_is_accepted():
    y = fastpool.max_pool1d([[[1.0, 5.0, 2.0, 3.0]]], 2)
    assert y.dtype == np.float64 and y.tolist() == [[[5.0, 3.0]]]


# --------------------------------------------------------------------------
# Options


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("policy", ["ignore", "raise", "", None, "OMIT "])
def test_bad_nan_policy(rank, policy):
    name, thunk = _call("max", rank, nan_policy=policy)
    with pytest.raises(ValueError, match=_msg(name, "nan_policy")):
        thunk()


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("index_dtype", [np.float32, np.int16, np.uint64, "int8", "bogus"])
def test_bad_index_dtype(rank, index_dtype):
    name, thunk = _call("max", rank, index_dtype=index_dtype, return_indices=True)
    with pytest.raises((TypeError, ValueError), match=_msg(name, "index_dtype")):
        thunk()


# --------------------------------------------------------------------------
# out= and indices_out=


def _out_shape(rank, batched=True):
    return fastpool.pool_output_shape(_x(rank, batched=batched).shape, (2,) * rank)


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_out_wrong_shape(kind, rank):
    shape = _out_shape(rank)
    for bad in (shape[:-1] + (shape[-1] + 1,), shape[1:], (1,) + shape):
        name, thunk = _call(kind, rank, out=np.empty(bad, np.float32))
        with pytest.raises(ValueError, match=_msg(name, "out")):
            thunk()


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_out_wrong_dtype(kind, rank):
    for dtype in (np.float64, np.int64, np.float16):
        name, thunk = _call(kind, rank, out=np.empty(_out_shape(rank), dtype))
        with pytest.raises(TypeError, match=_msg(name, "out")):
            thunk()


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_out_read_only(kind, rank):
    out = np.zeros(_out_shape(rank), np.float32)
    out.flags.writeable = False
    name, thunk = _call(kind, rank, out=out)
    with pytest.raises(ValueError, match=_msg(name, "out")):
        thunk()
    assert np.all(out == 0)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_out_not_an_array(kind):
    name, thunk = _call(kind, 1, out=[[[0.0] * 3] * 3] * 2)
    with pytest.raises(TypeError, match=_msg(name, "out")):
        thunk()


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_out_overlapping_input(kind):
    x = _x(1, size=4)
    name, thunk = _call(kind, 1, x=x, out=x[..., :2])
    with pytest.raises(ValueError, match=_msg(name, "out")):
        thunk()


@pytest.mark.parametrize("rank", RANKS)
def test_indices_out_mismatch(rank):
    shape = _out_shape(rank)
    for bad, error in ((np.empty(shape, np.float32), TypeError),
                       (np.empty(shape, np.int32), TypeError),  # index_dtype is int64
                       (np.empty(shape[1:], np.int64), ValueError)):
        name, thunk = _call("max", rank, indices_out=bad, return_indices=True)
        with pytest.raises(error, match=_msg(name, "indices_out")):
            thunk()
    ro = np.zeros(shape, np.int64)
    ro.flags.writeable = False
    name, thunk = _call("max", rank, indices_out=ro, return_indices=True)
    with pytest.raises(ValueError, match=_msg(name, "indices_out")):
        thunk()


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("kind", ["max_backward", "avg_backward"])
def test_backward_out_mismatch(kind, rank):
    x = _x(rank)
    for bad, error in ((np.empty(x.shape, np.float64), TypeError),
                       (np.empty(x.shape[1:], np.float32), ValueError)):
        name, thunk = _call(kind, rank, out=bad)
        with pytest.raises(error, match=_msg(name, "out")):
            thunk()
    ro = np.zeros(x.shape, np.float32)
    ro.flags.writeable = False
    name, thunk = _call(kind, rank, out=ro)
    with pytest.raises(ValueError, match=_msg(name, "out")):
        thunk()


# --------------------------------------------------------------------------
# Backward arguments


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("bad", [-2, "plane", 10**12, -(2**40)])
def test_max_backward_indices_out_of_range(rank, bad):
    x = _x(rank)
    y, i = _forward("max", rank)(x, 2, return_indices=True)
    plane = int(np.prod(x.shape[2:]))
    i = i.copy()
    i.flat[i.size // 2] = plane if bad == "plane" else bad
    out = np.full(x.shape, 7, np.float32)
    name = f"max_pool{rank}d_backward"
    with pytest.raises(IndexError, match=rf"^{re.escape(name)}: .*indices"):
        getattr(fastpool, name)(np.ones_like(y), i, x.shape, out=out)
    # Every index is checked before anything is written.
    assert np.all(out == 7)
    with pytest.raises(IndexError):
        R.max_pool_backward(np.ones_like(y), i, x.shape)


@pytest.mark.parametrize("rank", RANKS)
def test_max_backward_indices_dtype_and_shape(rank):
    x = _x(rank)
    y, i = _forward("max", rank)(x, 2, return_indices=True)
    name = f"max_pool{rank}d_backward"
    f = getattr(fastpool, name)
    with pytest.raises(TypeError, match=_msg(name, "indices")):
        f(np.ones_like(y), i.astype(np.float64), x.shape)
    with pytest.raises(TypeError, match=_msg(name, "indices")):
        f(np.ones_like(y), i.astype(np.uint8), x.shape)
    with pytest.raises(ValueError, match=_msg(name, "indices")):
        f(np.ones_like(y), i[..., :-1], x.shape)


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("kind", ["max_backward", "avg_backward"])
def test_backward_input_shape_mismatch(kind, rank):
    x = _x(rank)
    for bad in (x.shape[:1] + (x.shape[1] + 1,) + x.shape[2:],   # channels differ
                (x.shape[0] + 1,) + x.shape[1:],                  # batch differs
                x.shape[1:],                                      # unbatched vs batched
                x.shape + (6,)):                                  # wrong rank
        name, thunk = _call(kind, rank, input_shape=bad)
        with pytest.raises(ValueError, match=rf"^{re.escape(name)}: "):
            thunk()


@pytest.mark.parametrize("rank", RANKS)
def test_avg_backward_grad_output_shape_mismatch(rank):
    x = _x(rank)
    y_shape = fastpool.pool_output_shape(x.shape, (2,) * rank)
    bad = y_shape[:-1] + (y_shape[-1] + 1,)
    name, thunk = _call("avg_backward", rank, grad_output=np.ones(bad, np.float32))
    with pytest.raises(ValueError, match=_msg(name, "grad_output")):
        thunk()


@pytest.mark.parametrize("input_shape", ["abc", 5, None, (2, 3, -4, 4), (2, 3, 4.5, 4)])
def test_bad_input_shape(input_shape):
    g = np.ones((2, 3, 2, 2), np.float32)
    with pytest.raises((TypeError, ValueError), match=_msg("avg_pool2d_backward",
                                                           "input_shape")):
        fastpool.avg_pool2d_backward(g, input_shape, 2)


# --------------------------------------------------------------------------
# Malformed but legal inputs: no crash, right answers


@pytest.mark.parametrize("rank", RANKS)
def test_empty_batch_or_channels(rank):
    for shape in ((0, 3) + (6,) * rank, (2, 0) + (6,) * rank, (0,) + (6,) * rank):
        x = np.zeros(shape, np.float32)
        for kind in ("max", "avg"):
            try:
                y = _forward(kind, rank)(x, 2)
            except ValueError as e:
                assert str(e).startswith(f"{kind}_pool{rank}d: ")
            else:
                assert y.shape == R.pool_output_shape(shape, (2,) * rank)


@pytest.mark.parametrize("rank", RANKS)
def test_zero_spatial_size(rank):
    x = np.zeros((1, 2) + (0,) + (4,) * (rank - 1), np.float32)
    for kind in ("max", "avg"):
        with pytest.raises(ValueError, match=rf"^{kind}_pool{rank}d: "):
            _forward(kind, rank)(x, 1)


def test_huge_sizes_do_not_crash():
    huge = 2**62
    for shape in ((1, 1, huge, huge), (huge, huge, 4, 4), (1, 1, 3, huge)):
        try:
            out = fastpool.pool_output_shape(shape, 2, 1)
        except (OverflowError, ValueError) as e:
            assert str(e).startswith("pool_output_shape: ")
        else:
            assert out == R.pool_output_shape(shape, 2, 1)
    with pytest.raises((OverflowError, ValueError), match=r"^pool_output_shape: "):
        fastpool.pool_output_shape((1, 1, 8), 2**62, 1, 0, 4)  # effective kernel overflows
    with pytest.raises((OverflowError, ValueError), match=r"^max_pool1d: "):
        fastpool.max_pool1d(np.zeros((1, 1, 8)), 2**62, 1, 0, 4)
    with pytest.raises((OverflowError, ValueError), match=r"^avg_pool1d: "):
        fastpool.avg_pool1d(np.zeros((1, 1, 8)), 3, 1, 2**62)
    with pytest.raises((OverflowError, ValueError, MemoryError), match=r"^max_pool1d_backward: "):
        fastpool.max_pool1d_backward(np.zeros((1, 1, 1)), np.zeros((1, 1, 1), np.int64),
                                     (1, 1, 2**62))


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("dtype", [">f4", ">f8"])
def test_byte_swapped_input(rank, dtype):
    x = _x(rank, np.dtype(dtype).newbyteorder("=")).astype(dtype)
    y, i = _forward("max", rank)(x, 3, 2, 1, return_indices=True)
    yr, ir = R.max_pool(x.astype(x.dtype.newbyteorder("=")), 3, 2, 1, rank=rank)
    assert y.dtype.isnative and np.array_equal(y, yr) and np.array_equal(i, ir)
    a = _forward("avg", rank)(x, 3, 2, 1)
    assert np.allclose(a, R.avg_pool(x.astype(x.dtype.newbyteorder("=")), 3, 2, 1, rank=rank),
                       rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("rank", RANKS)
def test_misaligned_input(rank):
    x = _x(rank, np.float64)
    buf = np.zeros(x.nbytes + 1, np.uint8)
    mis = buf[1:].view(np.float64).reshape(x.shape)
    mis[...] = x
    assert not mis.flags.aligned
    y, i = _forward("max", rank)(mis, 3, 2, 1, return_indices=True)
    yr, ir = R.max_pool(x, 3, 2, 1, rank=rank)
    assert np.array_equal(y, yr) and np.array_equal(i, ir)


def test_zero_stride_input():
    x = np.broadcast_to(np.float32(2.5), (2, 3, 8, 8))
    y, i = fastpool.max_pool2d(x, 3, 2, 1, return_indices=True)
    assert np.all(y == 2.5)
    assert np.array_equal(i, R.max_pool(np.full((2, 3, 8, 8), 2.5, np.float32), 3, 2, 1)[1])
