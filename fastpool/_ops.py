"""Lp, adaptive, global, unpooling and fractional max pooling; index helpers.

Built on the shared argument layer ``fastpool._args``; every kernel call goes to
the C core with the GIL released.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from fastpool import _core
from fastpool._args import (
    _AVG_DTYPES,
    _FLOAT_DTYPES,
    _GRAD_DTYPES,
    _INDEX_DTYPES,
    _INT64_MAX,
    _MAX_DTYPES,
    _as_array,
    _as_input,
    _as_int,
    _avg_out_dtype,
    _check_ndim,
    _flag,
    _grad_input,
    _input_shape,
    _int_tuple,
    _is_seq,
    _logical,
    _logical_shape,
    _max_outputs,
    _max_pool_backward,
    _nan_flags,
    _no_overlap,
    _num_threads,
    _output,
    _padding,
    _pool,
    _seed,
    _shape_tuple,
    _spatial,
    _user_shape,
)

__all__ = [
    "pool_output_shape",
    "adaptive_windows",
    "convert_indices",
    "global_max_pool",
    "global_avg_pool",
    "global_lp_pool",
    "global_max_pool_backward",
    "global_avg_pool_backward",
    "global_lp_pool_backward",
    "fractional_max_pool2d",
    "fractional_max_pool3d",
    "fractional_max_pool2d_backward",
    "fractional_max_pool3d_backward",
]


# --------------------------------------------------------------------------
# Shared argument handling


def _norm_type(name: str, norm_type: Any) -> float:
    if isinstance(norm_type, np.ndarray) and norm_type.ndim == 0:
        norm_type = norm_type[()]
    if isinstance(norm_type, (bool, np.bool_)) or not isinstance(
        norm_type, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{name}: norm_type must be a real number, got {norm_type!r}")
    p = float(norm_type)
    if not p > 0:
        raise ValueError(f"{name}: norm_type must be positive (inf allowed), got {norm_type!r}")
    return p


# --------------------------------------------------------------------------
# Lp pooling


def _lp_pool(rank, x, norm_type, kernel_size, stride, ceil_mode, padding, dilation,
             channels_last, out, num_threads, name=None):
    name = name or f"lp_pool{rank}d"
    channels_last = _flag(name, "channels_last", channels_last)
    p = _norm_type(name, norm_type)
    a = _as_input(name, "x", x)
    batched = _check_ndim(name, "x", a, rank)
    xl = _logical(a, batched, channels_last)
    geo = _pool(name, rank, xl.shape, kernel_size, stride, padding, dilation, ceil_mode)
    nt = _num_threads(name, num_threads)
    _no_overlap(name, "out", out, a)
    y, yl = _output(name, "out", out, geo.out_shape, a.dtype, batched, channels_last)
    _core.lp_pool_forward(name, p, xl, yl, geo.kernel, geo.stride, geo.pad_begin, geo.pad_end,
                          geo.dilation, geo.flags, nt)
    return y


def _lp_pool_backward(rank, grad_output, x, y, norm_type, kernel_size, stride, ceil_mode,
                      padding, dilation, channels_last, out, num_threads, name=None):
    name = name or f"lp_pool{rank}d_backward"
    channels_last = _flag(name, "channels_last", channels_last)
    p = _norm_type(name, norm_type)
    a = _as_input(name, "x", x)
    batched = _check_ndim(name, "x", a, rank)
    xl = _logical(a, batched, channels_last)
    geo = _pool(name, rank, xl.shape, kernel_size, stride, padding, dilation, ceil_mode)
    g = _as_input(name, "grad_output", grad_output)
    yy = _as_input(name, "y", y)
    expected = _user_shape(geo.out_shape, batched, channels_last)
    for arg, arr in (("grad_output", g), ("y", yy)):
        if arr.shape != expected:
            raise ValueError(f"{name}: {arg} has shape {arr.shape}, expected {expected}")
        if arr.dtype != a.dtype:
            raise TypeError(f"{name}: {arg} has dtype {arr.dtype}, expected x's dtype {a.dtype}")
    nt = _num_threads(name, num_threads)
    _no_overlap(name, "out", out, a, g, yy)
    dx, dxl = _output(name, "out", out, xl.shape, a.dtype, batched, channels_last)
    _core.lp_pool_backward(name, p, _logical(g, batched, channels_last), xl,
                           _logical(yy, batched, channels_last), dxl, geo.kernel, geo.stride,
                           geo.pad_begin, geo.pad_end, geo.dilation, geo.flags, nt)
    return dx


# --------------------------------------------------------------------------
# Adaptive pooling


def _output_size(name: str, output_size: Any, in_spatial: tuple[int, ...], rank: int):
    """Normalise output_size: int or tuple, None entries keep that axis."""
    if _is_seq(output_size):
        items = list(output_size)
        if len(items) == 1 and rank > 1:
            items = items * rank
        if len(items) != rank:
            raise ValueError(
                f"{name}: output_size must be an int or {rank} entries, got {output_size!r}"
            )
    else:
        items = [output_size] * rank
    sizes = []
    for i, v in enumerate(items):
        if v is None:
            sizes.append(in_spatial[i])
            continue
        v = _as_int(name, "output_size", v)
        if v < 1:
            raise ValueError(f"{name}: output_size must be positive, got {output_size!r}")
        sizes.append(v)
    return tuple(sizes)


def _adaptive_input(name, x, rank, channels_last, dtypes=_FLOAT_DTYPES):
    channels_last = _flag(name, "channels_last", channels_last)
    a = _as_input(name, "x", x, dtypes)
    batched = _check_ndim(name, "x", a, rank)
    xl = _logical(a, batched, channels_last)
    if any(s < 1 for s in xl.shape[2:]):
        raise ValueError(f"{name}: x must have non-empty spatial axes, got shape {a.shape}")
    return a, batched, xl


def _adaptive_max_pool(rank, x, output_size, return_indices, channels_last, index_dtype,
                       nan_policy, out, indices_out, num_threads, name=None):
    name = name or f"adaptive_max_pool{rank}d"
    return_indices = _flag(name, "return_indices", return_indices)
    a, batched, xl = _adaptive_input(name, x, rank, channels_last, _MAX_DTYPES)
    flags = _nan_flags(name, nan_policy)
    osz = _output_size(name, output_size, xl.shape[2:], rank)
    nt = _num_threads(name, num_threads)
    want_idx = return_indices or indices_out is not None
    y, yl, idx, il = _max_outputs(name, a, xl.shape[:2] + osz, batched, channels_last,
                                  want_idx, index_dtype, out, indices_out)
    _core.adaptive_max_pool_forward(name, xl, yl, il, flags, nt)
    return (y, idx) if return_indices else y


def _adaptive_avg_pool(rank, x, output_size, channels_last, out, num_threads, name=None):
    name = name or f"adaptive_avg_pool{rank}d"
    a, batched, xl = _adaptive_input(name, x, rank, channels_last, _AVG_DTYPES)
    osz = _output_size(name, output_size, xl.shape[2:], rank)
    nt = _num_threads(name, num_threads)
    _no_overlap(name, "out", out, a)
    ydt = _avg_out_dtype(name, a.dtype, None)
    y, yl = _output(name, "out", out, xl.shape[:2] + osz, ydt, batched, channels_last)
    _core.adaptive_avg_pool_forward(name, xl, yl, nt)
    return y


def _adaptive_avg_pool_backward(rank, grad_output, input_shape, channels_last, out,
                                num_threads, name=None):
    name = name or f"adaptive_avg_pool{rank}d_backward"
    g, batched, gl, logical_in = _grad_input(name, grad_output, rank, input_shape,
                                             channels_last, _GRAD_DTYPES)
    if gl.shape[:2] != logical_in[:2]:
        raise ValueError(f"{name}: grad_output has shape {g.shape}, which does not match "
                         f"input_shape {tuple(input_shape)} in batch and channels")
    if any(s < 1 for s in logical_in[2:]) or any(s < 1 for s in gl.shape[2:]):
        raise ValueError(f"{name}: spatial sizes must be positive")
    nt = _num_threads(name, num_threads)
    _no_overlap(name, "out", out, g)
    dx, dxl = _output(name, "out", out, logical_in, g.dtype, batched, channels_last,
                      "input_shape")
    _core.adaptive_avg_pool_backward(name, gl, dxl, nt)
    return dx


def adaptive_windows(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end tables of adaptive pooling along one axis.

    Window ``o`` covers ``[start[o], end[o])`` with ``start = floor(o*I/O)``
    and ``end = ceil((o+1)*I/O)``, computed in exact integer arithmetic (the
    same code the kernels use), so other runtimes can reproduce adaptive
    pooling exactly.  Windows overlap when ``I`` is not a multiple of ``O``.

    Parameters
    ----------
    in_size : int
        Input extent ``I`` (>= 1).
    out_size : int
        Output extent ``O`` (>= 1).

    Returns
    -------
    start, end : ndarray of int64
    """
    name = "adaptive_windows"
    i = _as_int(name, "in_size", in_size)
    o = _as_int(name, "out_size", out_size)
    if i < 1:
        raise ValueError(f"{name}: in_size must be positive, got {i}")
    if o < 1:
        raise ValueError(f"{name}: out_size must be positive, got {o}")
    try:
        starts, ends = np.empty(o, np.int64), np.empty(o, np.int64)
    except (MemoryError, ValueError):
        raise MemoryError(f"{name}: not enough memory for tables of out_size {o}") from None
    _core.adaptive_window(i, starts, ends)
    return starts, ends


# --------------------------------------------------------------------------
# Global pooling: adaptive to 1, rank from x.ndim


def _global_rank(name: str, ndim: int, channels_last: bool) -> int:
    _flag(name, "channels_last", channels_last)
    if ndim not in (3, 4, 5):
        raise ValueError(f"{name}: x must be batched (N, C, *spatial) with 1 to 3 spatial axes, "
                         f"got {ndim} dimensions")
    return ndim - 2


def global_max_pool(x, return_indices=False, *, channels_last=False, index_dtype=np.int64,
                    nan_policy="propagate", out=None, indices_out=None, num_threads=None):
    """Max over each ``(n, c)`` plane of a batched input.

    Parameters
    ----------
    x : array_like, float32 or float64
        ``(N, C, *spatial)`` with 1 to 3 spatial axes (``(N, *spatial, C)``
        with ``channels_last``).
    return_indices, channels_last, index_dtype, nan_policy, out, indices_out, num_threads
        As for :func:`adaptive_max_pool2d`.

    Returns
    -------
    y : ndarray of shape ``(N, C, 1, ...)``
    indices : ndarray, with ``return_indices``
    """
    a = _as_array("global_max_pool", "x", x)
    rank = _global_rank("global_max_pool", a.ndim, channels_last)
    return _adaptive_max_pool(rank, a, 1, return_indices, channels_last, index_dtype, nan_policy,
                              out, indices_out, num_threads, name="global_max_pool")


def global_avg_pool(x, *, channels_last=False, out=None, num_threads=None):
    """Mean over each ``(n, c)`` plane of a batched input; output ``(N, C, 1, ...)``.

    Parameters
    ----------
    x : array_like, float32 or float64
        ``(N, C, *spatial)``, 1 to 3 spatial axes.
    channels_last, out, num_threads
        As for :func:`adaptive_avg_pool2d`.

    Returns
    -------
    ndarray
        Shape ``(N, C, 1, ...)`` with one 1 per spatial axis (``(N, 1, ..., C)``
        with ``channels_last``); x's dtype for floating input, float64 for
        integer input.
    """
    a = _as_array("global_avg_pool", "x", x)
    rank = _global_rank("global_avg_pool", a.ndim, channels_last)
    return _adaptive_avg_pool(rank, a, 1, channels_last, out, num_threads,
                              name="global_avg_pool")


def _global_lp_args(name, a, channels_last):
    rank = _global_rank(name, a.ndim, channels_last)
    spatial = a.shape[1:-1] if channels_last else a.shape[2:]
    if any(s < 1 for s in spatial):
        raise ValueError(f"{name}: x must have non-empty spatial axes, got shape {a.shape}")
    return rank, tuple(spatial)


def global_lp_pool(x, norm_type, *, channels_last=False, out=None, num_threads=None):
    """``(sum |x|^p)^(1/p)`` over each ``(n, c)`` plane (ONNX GlobalLpPool).

    Parameters
    ----------
    x : array_like, float32 or float64
        ``(N, C, *spatial)``, 1 to 3 spatial axes.
    norm_type : float
        ``p > 0``; ``inf`` gives max ``|x|``.
    channels_last, out, num_threads
        As for :func:`lp_pool2d`.

    Returns
    -------
    ndarray
        Shape ``(N, C, 1, ...)`` with one 1 per spatial axis (``(N, 1, ..., C)``
        with ``channels_last``), x's dtype.
    """
    a = _as_array("global_lp_pool", "x", x)
    rank, spatial = _global_lp_args("global_lp_pool", a, channels_last)
    return _lp_pool(rank, a, norm_type, spatial, 1, False, 0, 1, channels_last, out,
                    num_threads, name="global_lp_pool")


def global_max_pool_backward(grad_output, indices, input_shape, *, channels_last=False,
                             out=None, num_threads=None):
    """Gradient of :func:`global_max_pool`: ``dy`` routed to the recorded indices.

    Parameters
    ----------
    grad_output : array_like, float16, float32 or float64
        Gradient of the pooled output, shaped like the forward output
        ``(N, C, 1, ...)`` (``(N, 1, ..., C)`` with ``channels_last``).
    indices : array_like, int64 or int32
        The indices returned by the forward call, shaped like ``grad_output``.
    input_shape : tuple of int
        Shape of the forward input: batched, with 1 to 3 spatial axes, in the
        same layout as ``grad_output``.
    channels_last, out, num_threads
        As for :func:`max_pool2d_backward`.

    Returns
    -------
    ndarray
        ``dx`` of shape ``input_shape`` and grad_output's dtype: zero except
        at the recorded index of each plane, which receives that plane's
        ``dy``; index ``-1`` is skipped.
    """
    name = "global_max_pool_backward"
    shape = _global_input_shape(name, input_shape)
    return _max_pool_backward(len(shape) - 2, grad_output, indices, shape, channels_last, out,
                              num_threads, name=name)


def global_avg_pool_backward(grad_output, input_shape, *, channels_last=False, out=None,
                             num_threads=None):
    """Gradient of :func:`global_avg_pool`: ``dy / (number of cells)`` everywhere.

    Parameters
    ----------
    grad_output : array_like, float16, float32 or float64
        Gradient of the pooled output; must have the forward output's shape
        for ``input_shape``, ``(N, C, 1, ...)`` (``(N, 1, ..., C)`` with
        ``channels_last``).
    input_shape : tuple of int
        Shape of the forward input: batched, with 1 to 3 non-empty spatial
        axes, in the same layout as ``grad_output``.
    channels_last, out, num_threads
        As for :func:`avg_pool2d_backward`.

    Returns
    -------
    ndarray
        ``dx`` of shape ``input_shape`` and grad_output's dtype; every cell of
        plane ``(n, c)`` holds that plane's ``dy`` divided by the plane size.
    """
    name = "global_avg_pool_backward"
    shape = _global_input_shape(name, input_shape)
    rank = len(shape) - 2
    g = _as_array(name, "grad_output", grad_output)
    _, logical = _logical_shape(shape, rank, _flag(name, "channels_last", channels_last))
    expected = _user_shape(logical[:2] + (1,) * rank, True, channels_last)
    if g.shape != expected:
        raise ValueError(f"{name}: grad_output has shape {g.shape}, expected {expected} (the "
                         "forward output's shape for this input_shape)")
    return _adaptive_avg_pool_backward(rank, g, shape, channels_last, out, num_threads,
                                       name=name)


def _global_input_shape(name: str, input_shape: Any) -> tuple[int, ...]:
    shape = _shape_tuple(name, "input_shape", input_shape)
    if len(shape) not in (3, 4, 5):
        raise ValueError(f"{name}: input_shape must be batched (N, C, *spatial) with 1 to 3 "
                         f"spatial axes, got {shape}")
    return shape


def global_lp_pool_backward(grad_output, x, y, norm_type, *, channels_last=False, out=None,
                            num_threads=None):
    """Gradient of :func:`global_lp_pool` (see :func:`lp_pool2d_backward` for the rule).

    Parameters
    ----------
    grad_output : array_like, float32 or float64
        Gradient of the pooled output, shaped like ``y`` and of x's dtype.
    x : array_like, float32 or float64
        The forward input, ``(N, C, *spatial)`` with 1 to 3 spatial axes
        (``(N, *spatial, C)`` with ``channels_last``).
    y : array_like
        The forward output, ``(N, C, 1, ...)``, of x's dtype.
    norm_type : float
        The forward call's ``p``.
    channels_last, out, num_threads
        As for :func:`lp_pool2d_backward`.

    Returns
    -------
    ndarray
        ``dx`` of x's shape and dtype.
    """
    a = _as_array("global_lp_pool_backward", "x", x)
    rank, spatial = _global_lp_args("global_lp_pool_backward", a, channels_last)
    return _lp_pool_backward(rank, grad_output, a, y, norm_type, spatial, 1, False, 0, 1,
                             channels_last, out, num_threads, name="global_lp_pool_backward")


# --------------------------------------------------------------------------
# Max unpooling


def _unpool_geometry(name, rank, in_logical, kernel_size, stride, padding, output_size,
                     channels_last=False, batched=True):
    """The (N, C, *spatial) output shape of max unpooling (the C core's
    ``fp_max_unpool_output_shape``).  output_size has ``rank`` entries, or the
    whole output shape in the caller's layout: ``rank + 2`` entries (as PyTorch
    takes), or ``rank + 1`` for an unbatched input (its own shape)."""
    k = _int_tuple(name, "kernel_size", kernel_size, rank, 1)
    s = k if stride is None else _int_tuple(name, "stride", stride, rank, 1)
    if isinstance(padding, str) and padding.lower() != "valid":
        raise ValueError(f"{name}: padding must be an int, a tuple or 'valid', got {padding!r}")
    _, pb, pe = _padding(name, padding, rank)
    size = None
    if output_size is not None:
        items = list(output_size) if _is_seq(output_size) else None
        if items is None:
            raise TypeError(f"{name}: output_size must be a sequence of ints, got "
                            f"{output_size!r}")
        full = rank + 2 if batched else rank + 1
        if len(items) == full:
            items = items[len(items) - rank - 1:-1] if channels_last else items[-rank:]
        if len(items) != rank:
            raise ValueError(f"{name}: output_size must have {rank} entries or {full} (the "
                             f"whole output shape), got {output_size!r}")
        size = tuple(_as_int(name, "output_size", v) for v in items)
    status, shape = _core.max_unpool_output_shape(in_logical, k, s, pb, pe, size)
    if status == 0:
        return shape
    if status == _core.STATUS_OVERFLOW:
        raise OverflowError(f"{name}: the output size given by input size {in_logical[2:]}, "
                            f"kernel_size {k} and stride {s} overflows int64")
    if status != _core.STATUS_OUTPUT_SIZE:
        raise ValueError(f"{name}: invalid unpooling arguments ({_core.status_string(status)})")
    _, default = _core.max_unpool_output_shape(in_logical, k, s, pb, pe, None)
    default = default[2:]
    if size is not None and not all(d - st < v < d + st for d, st, v in zip(default, s, size)):
        raise ValueError(
            f"{name}: output_size {size} must lie strictly between "
            f"{tuple(d - st for d, st in zip(default, s))} and "
            f"{tuple(d + st for d, st in zip(default, s))} (default {default} \u00b1 stride)"
        )
    raise ValueError(f"{name}: output size would be {shape[2:]}; every entry must be positive")


def _max_unpool(rank, x, indices, kernel_size, stride, padding, output_size, channels_last,
                out, num_threads):
    name = f"max_unpool{rank}d"
    channels_last = _flag(name, "channels_last", channels_last)
    a = _as_input(name, "x", x, _MAX_DTYPES)
    batched = _check_ndim(name, "x", a, rank)
    idx = _as_input(name, "indices", indices, _INDEX_DTYPES)
    if idx.shape != a.shape:
        raise ValueError(f"{name}: indices has shape {idx.shape}, expected x's shape {a.shape}")
    xl, il = _logical(a, batched, channels_last), _logical(idx, batched, channels_last)
    out_logical = _unpool_geometry(name, rank, xl.shape, kernel_size, stride, padding,
                                   output_size, channels_last, batched)
    nt = _num_threads(name, num_threads)
    _no_overlap(name, "out", out, a, idx)
    y, yl = _output(name, "out", out, out_logical, a.dtype, batched, channels_last)
    try:
        _core.max_unpool(name, True, xl, il, yl, nt)
    except IndexError:
        _raise_bad_index(name, idx, int(np.prod(out_logical[2:], dtype=np.int64)))
    return y


def _raise_bad_index(name, idx, plane):
    bad = np.flatnonzero((idx < -1) | (idx >= plane))
    pos = tuple(int(v) for v in np.unravel_index(bad[0], idx.shape)) if bad.size else ()
    value = idx[pos] if bad.size else None
    raise IndexError(f"{name}: indices{list(pos)} = {value} is outside [-1, {plane}) "
                     "(the size of one output plane); nothing was written") from None


def _max_unpool_backward(rank, grad_output, indices, kernel_size, stride, padding, output_size,
                         channels_last, out, num_threads):
    name = f"max_unpool{rank}d_backward"
    channels_last = _flag(name, "channels_last", channels_last)
    idx = _as_input(name, "indices", indices, _INDEX_DTYPES)
    batched = _check_ndim(name, "indices", idx, rank)
    g = _as_input(name, "grad_output", grad_output, _GRAD_DTYPES)
    il, gl = _logical(idx, batched, channels_last), None
    out_logical = _unpool_geometry(name, rank, il.shape, kernel_size, stride, padding,
                                   output_size, channels_last, batched)
    if g.ndim != idx.ndim:
        raise ValueError(f"{name}: grad_output must have {idx.ndim} dimensions, got {g.shape}")
    gl = _logical(g, batched, channels_last)
    if gl.shape != out_logical:
        expected = _user_shape(out_logical, batched, channels_last)
        raise ValueError(f"{name}: grad_output has shape {g.shape}, expected {expected}")
    nt = _num_threads(name, num_threads)
    _no_overlap(name, "out", out, g, idx)
    dx, dxl = _output(name, "out", out, il.shape, g.dtype, batched, channels_last)
    try:
        _core.max_unpool(name, False, dxl, il, gl, nt)
    except IndexError:
        _raise_bad_index(name, idx, int(np.prod(out_logical[2:], dtype=np.int64)))
    return dx


# --------------------------------------------------------------------------
# Fractional max pooling


def _fractional_size(name, rank, in_logical, k, output_size, output_ratio):
    """Output spatial size of fractional max pooling (PyTorch's rules, computed by
    the C core's ``fp_fractional_output_shape``)."""
    if (output_size is None) == (output_ratio is None):
        raise ValueError(f"{name}: give exactly one of output_size and output_ratio")
    osz = ratios = None
    if output_size is not None:
        osz = _int_tuple(name, "output_size", output_size, rank, 1)
    else:
        ratios = list(output_ratio) if _is_seq(output_ratio) else [output_ratio] * rank
        if len(ratios) == 1:
            ratios = ratios * rank
        if len(ratios) != rank or not all(isinstance(r, (int, float, np.number))
                                          and 0 < float(r) < 1 for r in ratios):
            raise ValueError(f"{name}: output_ratio must be in (0, 1) per axis, got "
                             f"{output_ratio!r}")
        ratios = tuple(float(r) for r in ratios)
    status, shape = _core.fractional_output_shape(in_logical, k, osz, ratios)
    if status == 0:
        return shape[2:]
    got = shape[2:] if shape is not None else osz
    if ratios is not None and shape is not None and any(o < 1 for o in got):
        raise ValueError(f"{name}: output_ratio {output_ratio!r} gives output size {got}")
    raise ValueError(
        f"{name}: output_size {got} with kernel_size {k} needs input size >= "
        f"output_size + kernel_size - 1 per axis, got {in_logical[2:]}"
    )


def _fractional_max_pool(rank, x, kernel_size, output_size, output_ratio, return_indices,
                         samples, seed, channels_last, index_dtype, nan_policy, out,
                         indices_out, num_threads):
    name = f"fractional_max_pool{rank}d"
    return_indices = _flag(name, "return_indices", return_indices)
    channels_last = _flag(name, "channels_last", channels_last)
    a = _as_input(name, "x", x)
    batched = _check_ndim(name, "x", a, rank)
    xl = _logical(a, batched, channels_last)
    k = _int_tuple(name, "kernel_size", kernel_size, rank, 1)
    flags = _nan_flags(name, nan_policy)
    osz = _fractional_size(name, rank, xl.shape, k, output_size, output_ratio)
    n, c = xl.shape[:2]
    nt = _num_threads(name, num_threads)
    want_idx = return_indices or indices_out is not None
    y, yl, idx, il = _max_outputs(name, a, xl.shape[:2] + osz, batched, channels_last,
                                  want_idx, index_dtype, out, indices_out)
    if samples is None:
        rng = np.random.default_rng(_seed(name, seed))
        smp = rng.random((n, c, rank), dtype=a.dtype)
    else:
        if seed is not None:
            raise ValueError(f"{name}: give samples or seed, not both")
        smp = _as_array(name, "samples", samples)
        if smp.dtype.kind not in "iuf":
            raise TypeError(f"{name}: samples must be real numbers, got dtype {smp.dtype}")
        if smp.ndim == 2 and not batched:
            smp = smp[np.newaxis]
        if smp.shape != (n, c, rank):
            raise ValueError(f"{name}: samples must have shape {(n, c, rank)} (PyTorch's "
                             f"_random_samples), got {smp.shape}")
        smp = np.asarray(smp, dtype=a.dtype)
        if not np.all((smp >= 0) & (smp < 1)):
            raise ValueError(f"{name}: samples must lie in [0, 1)")
        _no_overlap(name, "out", out, smp)
        _no_overlap(name, "indices_out", indices_out, smp)
    # PyTorch orders 2-D samples (W, H) and 3-D samples (D, H, W); the core
    # takes logical (D, H, W) order.
    core_samples = smp[..., ::-1] if rank == 2 else smp
    _core.fractional_max_pool_forward(name, core_samples, xl, yl, il, k, flags, nt)
    return (y, idx) if return_indices else y


# --------------------------------------------------------------------------
# Output shapes of every family


_SHAPE_OPS = ("max", "avg", "lp", "unpool", "adaptive", "global", "fractional")


def pool_output_shape(input_shape, kernel_size=None, stride=None, padding=0, dilation=1,
                      ceil_mode=False, *, op="max", output_size=None, output_ratio=None,
                      rank=None, channels_last=False):
    """Output shape of any pooling family, from the same geometry the kernels use.

    Parameters
    ----------
    input_shape : sequence of int
        ``(N, C, *spatial)`` or unbatched ``(C, *spatial)``; with
        ``channels_last`` ``(N, *spatial, C)`` or ``(*spatial, C)``.
    kernel_size, stride, padding, dilation, ceil_mode
        As for :func:`max_pool2d` (``"max"``, ``"avg"``, ``"lp"``); kernel,
        stride and padding also for ``"unpool"``, kernel for ``"fractional"``.
    op : str
        ``"max"``, ``"avg"``, ``"lp"`` (one geometry), ``"unpool"``,
        ``"adaptive"``, ``"global"`` or ``"fractional"``.
    output_size : optional
        For ``"adaptive"`` (``None`` entries keep the axis), ``"unpool"`` and
        ``"fractional"``.
    output_ratio : optional
        For ``"fractional"``.
    rank : int, optional
        Spatial rank; defaults to ``len(kernel_size)`` (or of ``output_size``)
        when it is a sequence, else ``len(input_shape) - 2``.
    channels_last : bool
        Layout of ``input_shape`` and of the result.

    Returns
    -------
    tuple of int
        The output shape, in the layout of ``input_shape``.
    """
    name = "pool_output_shape"
    if not isinstance(op, str) or op not in _SHAPE_OPS:
        raise ValueError(f"{name}: op must be one of {_SHAPE_OPS}, got {op!r}")
    channels_last = _flag(name, "channels_last", channels_last)
    if rank is None:
        # (unpooling's output_size may include batch and channels)
        for candidate in (kernel_size,) if op == "unpool" else (kernel_size, output_size):
            if _is_seq(candidate):
                rank = len(candidate)
                break
        else:
            rank = len(_shape_tuple(name, "input_shape", input_shape)) - 2
    try:
        rank_ok = _as_int(name, "rank", rank) in (1, 2, 3)
    except (TypeError, OverflowError):
        rank_ok = False
    if not rank_ok:
        raise ValueError(f"{name}: rank must be 1, 2 or 3, got {rank!r}")
    rank = operator.index(rank)
    shape = _input_shape(name, input_shape, rank)
    batched, logical = _logical_shape(shape, rank, channels_last)
    if op in ("max", "avg", "lp"):
        out = _pool(name, rank, logical, kernel_size, stride, padding, dilation,
                    ceil_mode).out_shape
    elif op == "unpool":
        out = _unpool_geometry(name, rank, logical, kernel_size, stride, padding, output_size,
                               channels_last, batched)
    elif op == "adaptive":
        out = logical[:2] + _output_size(name, output_size, logical[2:], rank)
    elif op == "global":
        out = logical[:2] + (1,) * rank
    else:
        k = _int_tuple(name, "kernel_size", kernel_size, rank, 1)
        out = logical[:2] + _fractional_size(name, rank, logical, k, output_size,
                                             output_ratio)
    return _user_shape(out, batched, channels_last)


# --------------------------------------------------------------------------
# Index conventions


def convert_indices(indices, input_shape, source="torch", target="onnx", storage_order=0, *,
                    channels_last=False, include_batch=False):
    """Convert max-pooling indices between PyTorch, ONNX and TensorFlow conventions.

    Parameters
    ----------
    indices : array_like of int
        Batched indices in the ``source`` convention, laid out ``(N, C, *out)``
        or, with ``channels_last``, ``(N, *out, C)``.  ``-1`` stays ``-1``.
    input_shape : tuple of int
        Shape of the pooled input, in the same layout as ``indices``.
    source, target : "torch", "onnx" or "tf"
        ``"torch"``: flat within the ``(n, c)`` plane, ``(d*H + h)*W + w``.
        ``"onnx"``: flat over the whole tensor, ``(n*C + c)*P + p`` where the
        in-plane offset ``p`` is row-major (``storage_order=0``) or
        column-major (``storage_order=1``: the first spatial axis varies
        fastest, as in ONNX Runtime).  ``"tf"``: ``p*C + c`` (TensorFlow
        ``max_pool_with_argmax``), plus ``n*P*C`` with ``include_batch``.
    storage_order : 0 or 1
        ONNX storage order, on whichever side is ONNX.
    channels_last : bool
        Layout of ``indices`` and ``input_shape``.
    include_batch : bool
        TensorFlow's ``include_batch_in_index``, on whichever side is TF.

    Returns
    -------
    ndarray of int64, shaped like ``indices``
    """
    name = "convert_indices"
    conventions = ("torch", "onnx", "tf")
    for arg, value in (("source", source), ("target", target)):
        if not isinstance(value, str) or value not in conventions:
            raise ValueError(f"{name}: {arg} must be one of {conventions}, got {value!r}")
    if not (isinstance(storage_order, (int, np.integer)) and not isinstance(
            storage_order, (bool, np.bool_)) and storage_order in (0, 1)):
        raise ValueError(f"{name}: storage_order must be 0 or 1, got {storage_order!r}")
    channels_last = _flag(name, "channels_last", channels_last)
    include_batch = _flag(name, "include_batch", include_batch)
    idx = _as_array(name, "indices", indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{name}: indices must be integers, got dtype {idx.dtype}")
    shape = _shape_tuple(name, "input_shape", input_shape)
    if idx.ndim not in (3, 4, 5) or len(shape) != idx.ndim:
        raise ValueError(f"{name}: indices must be batched (N, C, *out) with 1 to 3 spatial "
                         f"axes and input_shape of the same rank; got {idx.shape} and {shape}")
    il = np.moveaxis(idx, -1, 1) if channels_last else idx
    _, logical = _logical_shape(shape, idx.ndim - 2, channels_last)
    if any(s < 1 for s in logical[2:]):
        raise ValueError(f"{name}: input_shape must have positive spatial extents, got {shape}")
    if il.shape[:2] != logical[:2]:
        raise ValueError(f"{name}: indices {idx.shape} and input_shape {shape} differ in batch "
                         "or channels")
    if math.prod(logical) > _INT64_MAX:
        raise OverflowError(f"{name}: input_shape {shape} has more cells than int64 indices "
                            "can address")
    try:
        return _convert_indices(name, idx, il, logical, source, target, storage_order,
                                channels_last, include_batch)
    except MemoryError:
        raise MemoryError(f"{name}: not enough memory to convert indices of shape "
                          f"{idx.shape}") from None


def _convert_indices(name, idx, il, logical, source, target, storage_order, channels_last,
                     include_batch):
    c_size, spatial = logical[1], logical[2:]
    plane = int(np.prod(spatial, dtype=np.int64))
    n = np.arange(il.shape[0], dtype=np.int64).reshape((-1,) + (1,) * (il.ndim - 1))
    c = np.arange(il.shape[1], dtype=np.int64).reshape((1, -1) + (1,) * (il.ndim - 2))
    v = _source_indices(name, il, source, n, c, c_size, plane, include_batch, idx.shape,
                        channels_last)
    # source -> row-major offset p within the plane
    if source == "torch":
        p = v
    elif source == "onnx":
        p = v % plane
        if storage_order == 1:
            p = _flatten(_unflatten(p, spatial[::-1])[::-1], spatial)
    else:
        p = v // c_size
        if include_batch:
            p = p % plane
    # p -> target
    if target == "torch":
        res = p
    elif target == "onnx":
        q = _flatten(_unflatten(p, spatial)[::-1], spatial[::-1]) if storage_order == 1 else p
        res = (n * c_size + c) * plane + q
    else:
        res = p * c_size + c
        if include_batch:
            res = res + n * plane * c_size
    res = np.where(v < 0, -1, res)
    if channels_last:
        res = np.moveaxis(res, 1, -1)
    return np.ascontiguousarray(res, dtype=np.int64)


def _source_indices(name, il, source, n, c, c_size, plane, include_batch, user_shape,
                    channels_last):
    """il as int64, after checking that every index is -1 or names a cell of its own
    (n, c) plane in the source convention (IndexError naming the first that does not)."""
    if il.dtype == np.uint64 and il.size and il.max() > _INT64_MAX:
        bad = il > _INT64_MAX
    else:
        v = il.astype(np.int64)
        if source == "torch":
            ok = (v >= 0) & (v < plane)
        elif source == "onnx":
            ok = (v // plane) == n * c_size + c
        else:
            ok = (v % c_size == c) & (v >= 0)
            top = plane * c_size
            ok &= (v // top == n) if include_batch else (v < top)
        bad = ~ok & (v != -1)
        if not bad.any():
            return v
    if channels_last:
        bad = np.moveaxis(bad, 1, -1)
    pos = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), user_shape))
    value = (np.moveaxis(il, 1, -1) if channels_last else il)[pos]
    raise IndexError(f"{name}: indices{list(pos)} = {value} is not -1 or a cell of its own "
                     f"(n, c) plane in the {source!r} convention (plane size {plane})")


def _unflatten(p, dims):
    """Row-major coordinates of flat offsets p over extents dims."""
    coords = []
    for s in dims[::-1]:
        coords.append(p % s)
        p = p // s
    return coords[::-1]


def _flatten(coords, dims):
    p = np.zeros_like(coords[0])
    for s, cval in zip(dims, coords):
        p = p * s + cval
    return p


# --------------------------------------------------------------------------
# Rank-specific public functions


def _make(rank: int):
    sp = _spatial(rank)

    def lp_pool(x, norm_type, kernel_size, stride=None, ceil_mode=False, *, padding=0,
                dilation=1, channels_last=False, out=None, num_threads=None):
        return _lp_pool(rank, x, norm_type, kernel_size, stride, ceil_mode, padding, dilation,
                        channels_last, out, num_threads)

    lp_pool.__doc__ = f"""{rank}-D power-average pooling: ``(sum |x|^p)^(1/p)`` per window.

    Padding contributes 0, so this equals ONNX ``LpPool`` everywhere and
    PyTorch's ``lp_pool{rank}d`` wherever PyTorch is well defined (no padding,
    no ceil-mode overhang, and ``x >= 0`` or an even ``p``: PyTorch takes the
    sign of the sum of ``x^p``, not of ``|x|^p``).

    Parameters
    ----------
    x : array_like, float32 or float64
        ``(N, C, {sp})`` or ``(C, {sp})``; ``(N, {sp}, C)`` with ``channels_last``.
    norm_type : float
        ``p > 0``; ``1`` sums ``|x|``, ``inf`` gives max ``|x|``.
    kernel_size, stride, ceil_mode, padding, dilation, channels_last, out, num_threads
        As for :func:`max_pool{rank}d`.

    Returns
    -------
    ndarray
    """

    def lp_pool_backward(grad_output, x, y, norm_type, kernel_size, stride=None,
                         ceil_mode=False, *, padding=0, dilation=1, channels_last=False,
                         out=None, num_threads=None):
        return _lp_pool_backward(rank, grad_output, x, y, norm_type, kernel_size, stride,
                                 ceil_mode, padding, dilation, channels_last, out, num_threads)

    lp_pool_backward.__doc__ = f"""Gradient of :func:`lp_pool{rank}d`.

    ``dx_i = dy * sign(x_i) * (|x_i| / y)^(p-1)`` summed over the windows that
    hold ``x_i``; it is 0 where ``x_i = 0`` and, unless ``p = 1``, in windows
    whose output is 0 (so it stays finite).  ``p = inf`` routes ``dy * sign(x)``
    to the first cell of the window whose ``|x|`` is the maximum.

    Parameters
    ----------
    grad_output : array_like
        Gradient of the output.
    x, y : array_like
        The forward input and output.
    norm_type, kernel_size, stride, ceil_mode, padding, dilation
        The forward call's arguments.
    channels_last, out, num_threads
        As for :func:`lp_pool{rank}d`.

    Returns
    -------
    ndarray
        ``dx``, of x's shape and dtype (``grad_output`` and ``y`` must have
        the forward output's shape and x's dtype).
    """

    def adaptive_max_pool(x, output_size, return_indices=False, *, channels_last=False,
                          index_dtype=np.int64, nan_policy="propagate", out=None,
                          indices_out=None, num_threads=None):
        return _adaptive_max_pool(rank, x, output_size, return_indices, channels_last,
                                  index_dtype, nan_policy, out, indices_out, num_threads)

    adaptive_max_pool.__doc__ = f"""{rank}-D adaptive max pooling (PyTorch semantics).

    Output cell ``o`` of an axis covers ``[floor(o*I/O), ceil((o+1)*I/O))``
    (see :func:`adaptive_windows`); windows overlap when ``I`` is not a
    multiple of ``O``.  Max follows :func:`max_pool{rank}d`'s rules.

    Parameters
    ----------
    x : array_like, float32 or float64
        ``(N, C, {sp})`` or ``(C, {sp})``; ``(N, {sp}, C)`` with ``channels_last``.
    output_size : int or tuple of {rank}
        ``None`` entries keep that axis's input size.
    return_indices, channels_last, index_dtype, nan_policy, out, indices_out, num_threads
        As for :func:`max_pool{rank}d`.

    Returns
    -------
    y : ndarray
        ``(N, C, *output_size)`` (batch axis only if x has one; channels
        last with ``channels_last``), x's dtype.
    indices : ndarray
        Only with ``return_indices``: flat index of each maximum within its
        ``(n, c)`` plane, shaped like ``y``, of ``index_dtype``.
    """

    def adaptive_avg_pool(x, output_size, *, channels_last=False, out=None, num_threads=None):
        return _adaptive_avg_pool(rank, x, output_size, channels_last, out, num_threads)

    adaptive_avg_pool.__doc__ = f"""{rank}-D adaptive average pooling (PyTorch semantics).

    The mean over each window of :func:`adaptive_windows`.

    Parameters
    ----------
    x : array_like, float32 or float64
    output_size : int or tuple of {rank}
        ``None`` entries keep that axis's input size.
    channels_last, out, num_threads
        As for :func:`avg_pool{rank}d`.

    Returns
    -------
    ndarray
        ``(N, C, *output_size)`` (batch axis only if x has one; channels
        last with ``channels_last``); x's dtype for floating input, float64
        for integer input.
    """

    def adaptive_max_pool_backward(grad_output, indices, input_shape, *, channels_last=False,
                                   out=None, num_threads=None):
        return _max_pool_backward(rank, grad_output, indices, input_shape, channels_last, out,
                                  num_threads, name=f"adaptive_max_pool{rank}d_backward")

    adaptive_max_pool_backward.__doc__ = f"""Gradient of :func:`adaptive_max_pool{rank}d`:
    ``dy`` added at the recorded indices (overlapping windows accumulate).

    Parameters
    ----------
    grad_output : array_like, float16, float32 or float64
        Gradient of the pooled output, in the forward output's layout.
    indices : array_like, int64 or int32
        The indices returned by the forward call, shaped like ``grad_output``.
    input_shape : tuple of int
        Shape of the forward input, in the same layout (batched exactly when
        ``grad_output`` is).
    channels_last, out, num_threads
        As for :func:`max_pool{rank}d_backward`.

    Returns
    -------
    ndarray
        ``dx`` of shape ``input_shape`` and grad_output's dtype; index ``-1``
        is skipped and every index is checked before anything is written
        (``IndexError``).
    """

    def adaptive_avg_pool_backward(grad_output, input_shape, *, channels_last=False, out=None,
                                   num_threads=None):
        return _adaptive_avg_pool_backward(rank, grad_output, input_shape, channels_last, out,
                                           num_threads)

    adaptive_avg_pool_backward.__doc__ = f"""Gradient of :func:`adaptive_avg_pool{rank}d`:
    each ``dy`` divided by its window's size and spread over the window.

    Parameters
    ----------
    grad_output : array_like, float16, float32 or float64
        Gradient of the pooled output, in the forward output's layout; its
        spatial shape is the forward's output size.
    input_shape : tuple of int
        Shape of the forward input, in the same layout (batched exactly when
        ``grad_output`` is), with the same batch and channels.
    channels_last, out, num_threads
        As for :func:`avg_pool{rank}d_backward`.

    Returns
    -------
    ndarray
        ``dx`` of shape ``input_shape`` and grad_output's dtype.
    """

    def max_unpool(x, indices, kernel_size, stride=None, padding=0, output_size=None, *,
                   channels_last=False, out=None, num_threads=None):
        return _max_unpool(rank, x, indices, kernel_size, stride, padding, output_size,
                           channels_last, out, num_threads)

    max_unpool.__doc__ = f"""{rank}-D max unpooling (PyTorch ``max_unpool{rank}d``).

    The output is zero-filled and ``y[n, c].flat[indices] = x``.  Every index
    is checked before anything is written: one outside ``[-1, plane size)``
    raises ``IndexError`` naming it and leaves ``out`` untouched; ``-1`` is
    skipped.  Duplicate indices: the last in C order wins.

    Parameters
    ----------
    x : array_like, float32 or float64
        Pooled values, ``(N, C, {sp})`` or ``(C, {sp})``.
    indices : array_like, int64 or int32
        Flat per-plane indices of x's shape (from :func:`max_pool{rank}d`).
    kernel_size, stride, padding
        The pooling arguments; the default output size per axis is
        ``(I-1)*stride - pad_begin - pad_end + kernel_size``.
    output_size : tuple, optional
        Spatial size (or full shape); must lie strictly within
        ``default ± stride`` per axis.
    channels_last, out, num_threads
        As for :func:`max_pool{rank}d`.

    Returns
    -------
    ndarray
        x's dtype, with x's batch and channel axes and the output spatial size
        (the default above or ``output_size``), in x's layout.
    """

    def max_unpool_backward(grad_output, indices, kernel_size, stride=None, padding=0,
                            output_size=None, *, channels_last=False, out=None,
                            num_threads=None):
        return _max_unpool_backward(rank, grad_output, indices, kernel_size, stride, padding,
                                    output_size, channels_last, out, num_threads)

    max_unpool_backward.__doc__ = f"""Gradient of :func:`max_unpool{rank}d`: the gather
    ``dx = dy[n, c].flat[indices]`` (0 where the index is -1).  Takes the
    forward's unpooling arguments to check ``grad_output``'s shape.

    Parameters
    ----------
    grad_output : array_like, float16, float32 or float64
        Gradient of the unpooled output; must have the forward output's shape.
    indices : array_like, int64 or int32
        The indices passed to the forward call (x's shape).
    kernel_size, stride, padding, output_size
        The forward call's unpooling arguments.
    channels_last, out, num_threads
        As for :func:`max_unpool{rank}d`.

    Returns
    -------
    ndarray
        ``dx`` of indices' shape and grad_output's dtype.  An index outside
        ``[-1, plane size)`` raises ``IndexError``.
    """

    fns = {
        f"lp_pool{rank}d": lp_pool,
        f"lp_pool{rank}d_backward": lp_pool_backward,
        f"adaptive_max_pool{rank}d": adaptive_max_pool,
        f"adaptive_avg_pool{rank}d": adaptive_avg_pool,
        f"adaptive_max_pool{rank}d_backward": adaptive_max_pool_backward,
        f"adaptive_avg_pool{rank}d_backward": adaptive_avg_pool_backward,
        f"max_unpool{rank}d": max_unpool,
        f"max_unpool{rank}d_backward": max_unpool_backward,
    }
    if rank > 1:
        def fractional_max_pool(x, kernel_size, output_size=None, output_ratio=None,
                                return_indices=False, *, samples=None, seed=None,
                                channels_last=False, index_dtype=np.int64,
                                nan_policy="propagate", out=None, indices_out=None,
                                num_threads=None):
            return _fractional_max_pool(rank, x, kernel_size, output_size, output_ratio,
                                        return_indices, samples, seed, channels_last,
                                        index_dtype, nan_policy, out, indices_out, num_threads)

        fractional_max_pool.__doc__ = f"""{rank}-D fractional max pooling (PyTorch semantics).

        Per ``(n, c)`` and axis a sample ``u`` in ``[0, 1)`` places the windows:
        ``alpha = (I-k)/(O-1)``, ``start[i] = int((i+u)*alpha) - int(u*alpha)``,
        ``start[O-1] = I-k`` (computed in x's dtype, like PyTorch).

        Parameters
        ----------
        x : array_like, float32 or float64
        kernel_size : int or tuple of {rank}
        output_size : int or tuple of {rank}, optional
        output_ratio : float or tuple of {rank}, optional
            ``output_size = int(I * ratio)``; give exactly one of the two.
        return_indices : bool
        samples : array_like, optional
            ``(N, C, {rank})`` in PyTorch's ``_random_samples`` order
            ({'(W, H)' if rank == 2 else '(D, H, W)'}); reproduces PyTorch exactly.
        seed : int in ``[0, 2**64)``, numpy.random.Generator or SeedSequence, optional
            Draws the samples with ``numpy.random.default_rng(seed)``.
        channels_last, index_dtype, nan_policy, out, indices_out, num_threads
            As for :func:`max_pool{rank}d`.

        Returns
        -------
        y : ndarray
            ``(N, C, *output_size)`` (batch axis only if x has one; channels
            last with ``channels_last``), x's dtype.
        indices : ndarray
            Only with ``return_indices``: flat index of each maximum within
            its ``(n, c)`` plane, shaped like ``y``, of ``index_dtype``.
        """
        fns[f"fractional_max_pool{rank}d"] = fractional_max_pool

        def fractional_max_pool_backward(grad_output, indices, input_shape, *,
                                         channels_last=False, out=None, num_threads=None):
            return _max_pool_backward(rank, grad_output, indices, input_shape, channels_last,
                                      out, num_threads,
                                      name=f"fractional_max_pool{rank}d_backward")

        fractional_max_pool_backward.__doc__ = f"""Gradient of
        :func:`fractional_max_pool{rank}d`: ``dy`` added at the recorded indices.

        Parameters
        ----------
        grad_output : array_like, float16, float32 or float64
            Gradient of the pooled output, in the forward output's layout.
        indices : array_like, int64 or int32
            The indices returned by the forward call, shaped like
            ``grad_output``.
        input_shape : tuple of int
            Shape of the forward input, in the same layout (batched exactly
            when ``grad_output`` is).
        channels_last, out, num_threads
            As for :func:`max_pool{rank}d_backward`.

        Returns
        -------
        ndarray
            ``dx`` of shape ``input_shape`` and grad_output's dtype; index
            ``-1`` is skipped and every index is checked before anything is
            written (``IndexError``).
        """
        fns[f"fractional_max_pool{rank}d_backward"] = fractional_max_pool_backward
    for fname, fn in fns.items():
        fn.__name__ = fn.__qualname__ = fname
        fn.__module__ = "fastpool"
    __all__.extend(n for n in fns if n not in __all__)
    return fns


for _rank in (1, 2, 3):
    globals().update(_make(_rank))
del _rank
