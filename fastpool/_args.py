"""The argument layer every operator module shares.

Normalisation and validation of the arguments (ints and per-axis tuples,
padding forms, flags, seeds, thread counts), the pooling geometry the C core
computes (cached per call signature), input arrays and layouts, output
allocation and checks, and the one backward of the max family (a scatter by
index).  Everything here runs with the GIL; errors name the public function
and the argument at fault.  Operator modules import from here and from
nowhere else in the package.
"""

from __future__ import annotations

import functools
import inspect
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from fastpool import _core

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
#: Max-type operators (max, adaptive/global max, unpool) take every one of these.
_MAX_DTYPES = tuple(
    np.dtype(t)
    for t in (np.float16, np.float32, np.float64, np.int8, np.uint8, np.int16, np.uint16,
              np.int32, np.int64)
)
#: Gradients are floating point.
_GRAD_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
#: Average pooling: floating types (float16 sums in float32), and integers
#: (float64 result, or the input's type rounded half to even and saturated).
_AVG_DTYPES = _MAX_DTYPES


def _avg_out_dtype(name: str, x_dtype: np.dtype, dtype: Any) -> np.dtype:
    """The output dtype of average pooling for input dtype x_dtype."""
    if dtype is None:
        return x_dtype if x_dtype.kind == "f" else np.dtype(np.float64)
    try:
        want = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name}: dtype must be a NumPy dtype, got {dtype!r}") from None
    if want == x_dtype or (x_dtype.kind in "iu" and want == np.dtype(np.float64)):
        return want
    allowed = f"{x_dtype} or float64" if x_dtype.kind in "iu" else str(x_dtype)
    raise TypeError(f"{name}: dtype must be {allowed} for {x_dtype} input, got {want}")
_INDEX_DTYPES = (np.dtype(np.int64), np.dtype(np.int32))
_MAX_THREADS = _core.MAX_THREADS  # fastpool.h's FP_MAX_THREADS: the one limit


# --------------------------------------------------------------------------
# Scalar and tuple arguments


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _is_seq(value: Any) -> bool:
    """True for a per-axis sequence; a string or a 0-d array is a single value."""
    if isinstance(value, np.ndarray):
        return value.ndim > 0
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _as_int(name: str, arg: str, value: Any) -> int:
    """An exact integer (Python or NumPy, a 0-d integer array included) within int64."""
    if isinstance(value, (bool, np.bool_)) or (
        isinstance(value, np.ndarray) and value.dtype.kind == "b"
    ):
        raise TypeError(f"{name}: {arg} must be an integer, got {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name}: {arg} must be an integer, got {value!r}") from None
    if not _INT64_MIN <= v <= _INT64_MAX:
        raise OverflowError(f"{name}: {arg} must fit in int64, got {v}")
    return v


def _flag(name: str, arg: str, value: Any) -> bool:
    """A boolean option: True/False, a NumPy bool, or the integers 0 and 1."""
    if value is True or value is False:
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{name}: {arg} must be True or False (or 0 or 1), got {value!r}")


def _shape_tuple(name: str, arg: str, value: Any) -> tuple[int, ...]:
    """A shape given as a sequence of non-negative ints (each within int64)."""
    if not _is_seq(value):
        raise TypeError(f"{name}: {arg} must be a sequence of ints, got {value!r}")
    shape = tuple(_as_int(name, arg, v) for v in value)
    if any(v < 0 for v in shape):
        raise ValueError(f"{name}: {arg} must be non-negative, got {shape}")
    return shape


def _int_tuple(name: str, arg: str, value: Any, rank: int, minimum: int) -> tuple[int, ...]:
    """An int or one int per spatial axis, each >= minimum."""
    if _is_seq(value):
        items = list(value)
        if len(items) == 1 and rank > 1:
            items = items * rank
        if len(items) != rank:
            raise ValueError(
                f"{name}: {arg} must be an int or a sequence of {rank} ints, got {value!r}"
            )
        result = tuple(_as_int(name, arg, v) for v in items)
    else:
        result = (_as_int(name, arg, value),) * rank
    if any(v < minimum for v in result):
        rule = "positive" if minimum == 1 else "non-negative"
        shown = result if len(result) > 1 else result[0]
        raise ValueError(f"{name}: {arg} must be {rule}, got {shown!r}")
    return result


def _padding(name: str, padding: Any, rank: int) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """(pad_mode, pad_begin, pad_end) from every accepted padding form."""
    if isinstance(padding, str):
        mode = padding.lower()
        zeros = (0,) * rank
        if mode == "valid":
            return _core.PAD_EXPLICIT, zeros, zeros
        if mode in ("same", "same_upper"):
            return _core.PAD_SAME_UPPER, zeros, zeros
        if mode == "same_lower":
            return _core.PAD_SAME_LOWER, zeros, zeros
        raise ValueError(
            f"{name}: padding must be an int, a tuple, 'valid', 'same' or 'same_lower', "
            f"got {padding!r}"
        )
    if _is_seq(padding):
        items = list(padding)
        if len(items) != rank and not (len(items) == 1 and rank > 1):
            hint = " (write ((begin, end),) for asymmetric 1-d padding)" if rank == 1 else ""
            raise ValueError(
                f"{name}: padding must have one entry per spatial axis ({rank}), "
                f"each an int or a (begin, end) pair, got {padding!r}{hint}"
            )
        if len(items) == 1:
            items = items * rank
        begin, end = [], []
        for item in items:
            if _is_seq(item):
                pair = list(item)
                if len(pair) != 2:
                    raise ValueError(
                        f"{name}: padding entries must be ints or (begin, end) pairs, "
                        f"got {item!r}"
                    )
                b, e = (_as_int(name, "padding", v) for v in pair)
            else:
                b = e = _as_int(name, "padding", item)
            begin.append(b)
            end.append(e)
    else:
        begin = end = [_as_int(name, "padding", padding)] * rank
    if any(v < 0 for v in begin) or any(v < 0 for v in end):
        raise ValueError(f"{name}: padding must be non-negative, got {padding!r}")
    return _core.PAD_EXPLICIT, tuple(begin), tuple(end)


def _num_threads(name: str, num_threads: Any) -> int:
    if num_threads is None:
        return 0
    if type(num_threads) is int and 0 < num_threads <= _MAX_THREADS:
        return num_threads
    try:
        n = _as_int(name, "num_threads", num_threads)
    except OverflowError:
        n = _MAX_THREADS + 1  # reported as out of range below
    if n < 1 or n > _MAX_THREADS:
        raise ValueError(
            f"{name}: num_threads must be None or between 1 and {_MAX_THREADS}, "
            f"got {num_threads!r}"
        )
    return n


class _Pool:
    """Normalised pooling arguments and the geometry the C core computed."""

    __slots__ = ("kernel", "stride", "pad_begin", "pad_end", "dilation", "flags", "out_shape")

    def __init__(
        self,
        name: str,
        rank: int,
        in_shape: tuple[int, ...],
        kernel_size: Any,
        stride: Any,
        padding: Any,
        dilation: Any,
        ceil_mode: bool,
        flags: int = 0,
    ) -> None:
        self.kernel = _int_tuple(name, "kernel_size", kernel_size, rank, 1)
        if stride is None or (_is_seq(stride) and len(stride) == 0):
            self.stride = self.kernel
        else:
            self.stride = _int_tuple(name, "stride", stride, rank, 1)
        self.dilation = _int_tuple(name, "dilation", dilation, rank, 1)
        mode, pb, pe = _padding(name, padding, rank)
        if ceil_mode:
            flags |= _core.FLAG_CEIL_MODE
        self.flags = flags
        status, out, rpb, rpe = _core.geometry(
            in_shape, self.kernel, self.stride, pb, pe, self.dilation, mode, flags
        )
        if status:
            _geometry_error(name, status, in_shape, self.kernel, self.stride, mode, pb, pe,
                            self.dilation, flags, rank, padding)
        self.pad_begin, self.pad_end, self.out_shape = rpb, rpe, out


class _NoKey(Exception):
    pass


def _key(v: Any) -> Any:
    """A cache key for an argument made of exact ints, strings, None and tuples."""
    t = type(v)
    if t is int or t is str or v is None:
        return v
    if t is tuple:
        return tuple(_key(e) for e in v)
    raise _NoKey


_GEOMETRY_CACHE: dict = {}
_GEOMETRY_CACHE_SIZE = 256


def _pool(name, rank, in_shape, kernel_size, stride, padding, dilation, ceil_mode, flags=0):
    """A _Pool for these arguments, reused when the same call repeats (a
    training loop): argument parsing costs more than small kernels do."""
    ceil_mode = _flag(name, "ceil_mode", ceil_mode)
    try:
        key = (name, rank, in_shape, _key(kernel_size), _key(stride), _key(padding),
               _key(dilation), bool(ceil_mode), flags)
    except _NoKey:
        return _Pool(name, rank, in_shape, kernel_size, stride, padding, dilation, ceil_mode,
                     flags)
    geo = _GEOMETRY_CACHE.get(key)
    if geo is None:
        geo = _Pool(name, rank, in_shape, kernel_size, stride, padding, dilation, ceil_mode,
                    flags)
        if len(_GEOMETRY_CACHE) >= _GEOMETRY_CACHE_SIZE:
            _GEOMETRY_CACHE.clear()
        _GEOMETRY_CACHE[key] = geo
    return geo


def _geometry_error(name, status, in_shape, k, s, mode, pb, pe, d, flags, rank, padding):
    if status == _core.STATUS_OVERFLOW:
        raise OverflowError(f"{name}: the pooling geometry overflows int64 "
                            f"(input {in_shape[2:]}, kernel_size {k}, dilation {d})")
    if status == _core.STATUS_OUTPUT_SIZE:
        for i in range(rank):
            st, *_ = _core.geometry((1, 1, in_shape[2 + i]), (k[i],), (s[i],), (pb[i],), (pe[i],),
                                    (d[i],), mode, flags)
            if st:
                raise ValueError(
                    f"{name}: output size would be < 1 along spatial axis {i}: input size "
                    f"{in_shape[2 + i]}, kernel_size {k[i]}, dilation {d[i]}, stride {s[i]}, "
                    f"padding {padding!r}"
                )
    raise ValueError(f"{name}: invalid pooling arguments ({_core.status_string(status)})")

_SEED_LIMIT = 1 << 64
_SEED_RULE = "None, an integer in [0, 2**64), a numpy.random.Generator or a SeedSequence"


def _seed(name: str, seed: Any):
    """A random seed as ``numpy.random.default_rng`` takes it: None, an integer in
    [0, 2**64) (a 0-d integer array too), a ``Generator`` or a ``SeedSequence``."""
    if seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        return seed
    if isinstance(seed, np.ndarray) and seed.ndim == 0 and seed.dtype.kind in "iu":
        seed = seed[()]
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"{name}: seed must be {_SEED_RULE}, got {seed!r}")
    try:
        s = operator.index(seed)
    except TypeError:
        raise TypeError(f"{name}: seed must be {_SEED_RULE}, got {seed!r}") from None
    if not 0 <= s < _SEED_LIMIT:
        raise ValueError(f"{name}: seed must be {_SEED_RULE}, got {s}")
    return s


def _seed_key(seed) -> int:
    """The 64-bit key of a counter-based draw from a seed ``_seed`` returned: an
    integer is its own key, a Generator gives one draw, a SeedSequence its first
    state word, and None a key from fresh OS entropy."""
    if type(seed) is int:
        return seed
    if isinstance(seed, np.random.SeedSequence):
        return int(seed.generate_state(1, np.uint64)[0])
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng()
    return int(rng.integers(0, _SEED_LIMIT, dtype=np.uint64))


# --------------------------------------------------------------------------
# Arrays and layouts


def _as_array(name: str, arg: str, value: Any) -> np.ndarray:
    """numpy.asarray, with an error that names the argument (ragged lists...)."""
    if type(value) is np.ndarray:
        return value
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as e:
        raise type(e)(f"{name}: {arg} is not convertible to an array: {e}") from None


def _as_input(name: str, arg: str, value: Any, dtypes=_FLOAT_DTYPES) -> np.ndarray:
    """A NumPy view the C core can read: native byte order, aligned, element strides.

    Only inputs that break one of those get copied.
    """
    a = value if type(value) is np.ndarray else _as_array(name, arg, value)
    dt = a.dtype
    flags = a.flags
    if dt in dtypes and flags.aligned and (
        flags.c_contiguous or all(s % dt.itemsize == 0 for s in a.strides)
    ):
        return a
    if dt.newbyteorder("=") not in dtypes:
        supported = ", ".join(str(t) for t in dtypes)
        raise TypeError(f"{name}: {arg} has dtype {dt}; supported dtypes are {supported}")
    if not dt.isnative:
        a = a.astype(dt.newbyteorder("="))
    elif not a.flags.aligned or any(s % dt.itemsize for s in a.strides):
        a = a.copy()
    return a


def _check_ndim(name: str, arg: str, a: np.ndarray, rank: int) -> bool:
    """True if a is batched; raises if its ndim fits neither form."""
    if a.ndim == rank + 2:
        return True
    if a.ndim == rank + 1:
        return False
    raise ValueError(
        f"{name}: {arg} must have {rank + 1} (unbatched) or {rank + 2} (batched) dimensions, "
        f"got shape {a.shape}"
    )


def _logical(a: np.ndarray, batched: bool, channels_last: bool) -> np.ndarray:
    """View of a user-layout array in the C core's (N, C, *spatial) order."""
    if not batched:
        a = a[np.newaxis]
    if channels_last:
        a = np.moveaxis(a, -1, 1)
    return a


def _user_shape(logical_shape: tuple[int, ...], batched: bool, channels_last: bool):
    shape = tuple(logical_shape)
    if channels_last:
        shape = (shape[0],) + shape[2:] + (shape[1],)
    return shape if batched else shape[1:]


def _output(
    name: str,
    arg: str,
    out: Any,
    logical_shape: tuple[int, ...],
    dtype: np.dtype,
    batched: bool,
    channels_last: bool,
    source: str = "output size",
) -> tuple[np.ndarray, np.ndarray]:
    """(array returned to the user, its logical view for the C core).

    ``source`` names what set the shape, for the error when it cannot be
    allocated: the pooling arguments ("output size") or a backward's
    ``input_shape``."""
    shape = _user_shape(logical_shape, batched, channels_last)
    if out is None:
        try:
            res = np.empty(shape, dtype=dtype)
        except ValueError:
            raise ValueError(f"{name}: {source} {shape} is larger than the largest possible "
                             "array") from None
        except MemoryError:
            raise MemoryError(f"{name}: not enough memory for an array of {source} "
                              f"{shape}") from None
    else:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"{name}: {arg} must be a numpy.ndarray, got {type(out).__name__}")
        if out.shape != shape:
            raise ValueError(f"{name}: {arg} has shape {out.shape}, expected {shape}")
        if out.dtype != dtype:
            raise TypeError(f"{name}: {arg} has dtype {out.dtype}, expected {dtype}")
        if not out.flags.writeable:
            raise ValueError(f"{name}: {arg} is read-only")
        if not out.flags.aligned or any(s % dtype.itemsize for s in out.strides):
            raise ValueError(f"{name}: {arg} must be aligned with strides that are multiples "
                             "of its item size")
        if out.size and any(s == 0 and n > 1 for s, n in zip(out.strides, out.shape)):
            raise ValueError(f"{name}: {arg} must not have overlapping elements (zero strides)")
        res = out
    return res, _logical(res, batched, channels_last)


def _no_overlap(name: str, arg: str, out: Any, *inputs: np.ndarray) -> None:
    if out is None:
        return
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name}: {arg} must be a numpy.ndarray, got {type(out).__name__}")
    for a in inputs:
        if np.may_share_memory(out, a):
            raise ValueError(f"{name}: {arg} must not overlap the input arrays")


def _input_shape(name: str, input_shape: Any, rank: int) -> tuple[int, ...]:
    if type(input_shape) is tuple and len(input_shape) in (rank + 1, rank + 2) and all(
        type(v) is int and 0 <= v <= _INT64_MAX for v in input_shape
    ):
        return input_shape
    shape = _shape_tuple(name, "input_shape", input_shape)
    if len(shape) not in (rank + 1, rank + 2):
        raise ValueError(
            f"{name}: input_shape must have {rank + 1} or {rank + 2} entries, got {shape}"
        )
    return shape


def _logical_shape(shape: tuple[int, ...], rank: int, channels_last: bool):
    batched = len(shape) == rank + 2
    s = shape if batched else (1,) + shape
    if channels_last:
        s = (s[0], s[-1]) + s[1:-1]
    return batched, s


# --------------------------------------------------------------------------
# Operator options and the shared backward


def _nan_flags(name: str, nan_policy: Any) -> int:
    if type(nan_policy) is str:
        if nan_policy == "propagate":
            return 0
        if nan_policy == "omit":
            return _core.FLAG_NAN_OMIT
    raise ValueError(f"{name}: nan_policy must be 'propagate' or 'omit', got {nan_policy!r}")


def _divisor(name: str, divisor_override: Any) -> int:
    if divisor_override is None:
        return 0
    v = _as_int(name, "divisor_override", divisor_override)
    if v < 1:
        raise ValueError(f"{name}: divisor_override must be positive, got {v}")
    return v


def _index_dtype(name: str, index_dtype: Any) -> np.dtype:
    try:
        idt = np.dtype(index_dtype)
    except TypeError:
        raise TypeError(f"{name}: index_dtype must be int64 or int32, got {index_dtype!r}") \
            from None
    if idt not in _INDEX_DTYPES:
        raise TypeError(f"{name}: index_dtype must be int64 or int32, got {idt}")
    return idt


def _max_outputs(name, a, out_logical, batched, channels_last, want_idx, index_dtype, out,
                 indices_out):
    """Allocate or check y (and indices) for a max-type forward."""
    _no_overlap(name, "out", out, a)
    _no_overlap(name, "indices_out", indices_out, a)
    y, yl = _output(name, "out", out, out_logical, a.dtype, batched, channels_last)
    idx = il = None
    if want_idx:
        idt = _index_dtype(name, index_dtype)
        if out is not None and indices_out is not None and np.may_share_memory(out, indices_out):
            raise ValueError(f"{name}: indices_out must not overlap out")
        idx, il = _output(name, "indices_out", indices_out, out_logical, idt, batched,
                          channels_last)
    return y, yl, idx, il


def _grad_input(name, grad_output, rank, input_shape, channels_last, dtypes=_FLOAT_DTYPES):
    channels_last = _flag(name, "channels_last", channels_last)
    g = _as_input(name, "grad_output", grad_output, dtypes)
    shape = _input_shape(name, input_shape, rank)
    batched = _check_ndim(name, "grad_output", g, rank)
    if (len(shape) == rank + 2) != batched:
        raise ValueError(
            f"{name}: grad_output has shape {g.shape} but input_shape is {shape}: "
            "both must be batched or both unbatched"
        )
    _, logical_in = _logical_shape(shape, rank, channels_last)
    return g, batched, _logical(g, batched, channels_last), logical_in


def _max_pool_backward(rank, grad_output, indices, input_shape, channels_last, out,
                       num_threads, name=None):
    name = name or f"max_pool{rank}d_backward"
    g, batched, gl, logical_in = _grad_input(name, grad_output, rank, input_shape,
                                             channels_last, _GRAD_DTYPES)
    idx = _as_array(name, "indices", indices)
    if idx.dtype.newbyteorder("=") not in _INDEX_DTYPES:
        raise TypeError(f"{name}: indices has dtype {idx.dtype}; supported are int64, int32")
    idx = _as_input(name, "indices", idx, _INDEX_DTYPES)
    if idx.shape != g.shape:
        raise ValueError(f"{name}: indices has shape {idx.shape}, expected grad_output's "
                         f"shape {g.shape}")
    il = _logical(idx, batched, channels_last)
    if gl.shape[:2] != logical_in[:2]:
        raise ValueError(f"{name}: grad_output has shape {g.shape}, which does not match "
                         f"input_shape {tuple(input_shape)} in batch and channels")
    nt = _num_threads(name, num_threads)
    _no_overlap(name, "out", out, g, idx)
    dx, dxl = _output(name, "out", out, logical_in, g.dtype, batched, channels_last,
                      "input_shape")
    try:
        _core.max_pool_backward(name, gl, il, dxl, nt)
    except IndexError:
        plane = int(np.prod(logical_in[2:], dtype=np.int64))
        bad = np.flatnonzero((idx < -1) | (idx >= plane))
        pos = np.unravel_index(bad[0], idx.shape) if bad.size else ()
        value = idx[pos] if bad.size else None
        raise IndexError(
            f"{name}: indices{list(map(int, pos))} = {value} is outside [-1, {plane}) "
            f"(the size of one input plane)"
        ) from None
    return dx


def _spatial(rank: int) -> str:
    return ", ".join(("D", "H", "W")[3 - rank:])


def _named_call_errors(fn):
    """fn, whose call errors (a missing or unknown argument) name it like every
    other error: the signature is bound only after a TypeError, so a good call
    costs nothing extra."""
    sig = inspect.signature(fn)

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TypeError:
            try:
                sig.bind(*args, **kwargs)
            except TypeError as e:
                raise TypeError(f"{fn.__name__}: {e}") from None
            raise
    return call
