"""Max and average pooling, 1-3 spatial dimensions, forward and backward.

The arguments go through the shared layer ``fastpool._args``; the pooling runs
in the C core through ``fastpool._core`` with the GIL released.
"""

from __future__ import annotations

import numpy as np

from fastpool import _core
from fastpool._args import (
    _AVG_DTYPES,
    _GRAD_DTYPES,
    _MAX_DTYPES,
    _as_input,
    _avg_out_dtype,
    _check_ndim,
    _divisor,
    _flag,
    _grad_input,
    _logical,
    _max_outputs,
    _max_pool_backward,
    _nan_flags,
    _no_overlap,
    _num_threads,
    _output,
    _pool,
    _spatial,
    _user_shape,
)

__all__ = [
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "max_pool1d_backward",
    "max_pool2d_backward",
    "max_pool3d_backward",
    "avg_pool1d_backward",
    "avg_pool2d_backward",
    "avg_pool3d_backward",
]


# --------------------------------------------------------------------------
# The operators


def _max_pool(rank, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
              channels_last, index_dtype, nan_policy, out, indices_out, num_threads):
    name = f"max_pool{rank}d"
    return_indices = _flag(name, "return_indices", return_indices)
    channels_last = _flag(name, "channels_last", channels_last)
    a = _as_input(name, "x", x, _MAX_DTYPES)
    batched = _check_ndim(name, "x", a, rank)
    xl = _logical(a, batched, channels_last)
    flags = _nan_flags(name, nan_policy)
    geo = _pool(name, rank, xl.shape, kernel_size, stride, padding, dilation, ceil_mode, flags)
    nt = _num_threads(name, num_threads)
    want_idx = return_indices or indices_out is not None
    y, yl, idx, il = _max_outputs(name, a, geo.out_shape, batched, channels_last, want_idx,
                                  index_dtype, out, indices_out)
    _core.max_pool_forward(name, xl, yl, il, geo.kernel, geo.stride, geo.pad_begin,
                           geo.pad_end, geo.dilation, geo.flags, nt)
    return (y, idx) if return_indices else y


def _avg_pool(rank, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override, dilation, channels_last, out, num_threads, dtype=None):
    name = f"avg_pool{rank}d"
    count_include_pad = _flag(name, "count_include_pad", count_include_pad)
    channels_last = _flag(name, "channels_last", channels_last)
    a = _as_input(name, "x", x, _AVG_DTYPES)
    ydt = _avg_out_dtype(name, a.dtype, dtype)
    batched = _check_ndim(name, "x", a, rank)
    xl = _logical(a, batched, channels_last)
    flags = _core.FLAG_COUNT_INCLUDE_PAD if count_include_pad else 0
    geo = _pool(name, rank, xl.shape, kernel_size, stride, padding, dilation, ceil_mode, flags)
    dov = _divisor(name, divisor_override)
    nt = _num_threads(name, num_threads)
    _no_overlap(name, "out", out, a)
    y, yl = _output(name, "out", out, geo.out_shape, ydt, batched, channels_last)
    _core.avg_pool_forward(name, xl, yl, geo.kernel, geo.stride, geo.pad_begin, geo.pad_end,
                           geo.dilation, geo.flags, dov, nt)
    return y

def _avg_pool_backward(rank, grad_output, input_shape, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, divisor_override, dilation, channels_last, out,
                       num_threads):
    name = f"avg_pool{rank}d_backward"
    count_include_pad = _flag(name, "count_include_pad", count_include_pad)
    g, batched, gl, logical_in = _grad_input(name, grad_output, rank, input_shape,
                                             channels_last, _GRAD_DTYPES)
    flags = _core.FLAG_COUNT_INCLUDE_PAD if count_include_pad else 0
    geo = _pool(name, rank, logical_in, kernel_size, stride, padding, dilation, ceil_mode, flags)
    if gl.shape != geo.out_shape:
        expected = _user_shape(geo.out_shape, batched, channels_last)
        raise ValueError(f"{name}: grad_output has shape {g.shape}, expected {expected} for "
                         "this input_shape and these pooling arguments")
    dov = _divisor(name, divisor_override)
    nt = _num_threads(name, num_threads)
    _no_overlap(name, "out", out, g)
    dx, dxl = _output(name, "out", out, logical_in, g.dtype, batched, channels_last,
                      "input_shape")
    _core.avg_pool_backward(name, gl, dxl, geo.kernel, geo.stride, geo.pad_begin, geo.pad_end,
                            geo.dilation, geo.flags, dov, nt)
    return dx


# --------------------------------------------------------------------------
# The rank-specific public functions


_LAYOUT_DOC = """
    Shapes follow PyTorch: ``(N, C, {sp})`` or unbatched ``(C, {sp})``; with
    ``channels_last=True`` the logical shape is ``(N, {sp}, C)`` (NHWC).
    Any strides are accepted without a copy; the output is C-contiguous in the
    same logical order as the input."""

_COMMON_PARAMS = """
    kernel_size : int or tuple of {r} ints
        Window size per spatial axis.
    stride : int or tuple of {r} ints, optional
        Step between windows; ``None`` means ``kernel_size``.
    padding : int, tuple, "valid", "same" or "same_lower"
        Implicit padding: an int, one int per axis (symmetric), or one
        ``(begin, end)`` pair per axis (asymmetric, like ONNX ``pads``).
        ``"same"`` gives ``ceil(I / stride)`` outputs with the extra pad at the
        end (TensorFlow SAME, ONNX SAME_UPPER), ``"same_lower"`` at the start.
        PyTorch's ``padding <= kernel_size / 2`` limit is not imposed.
    ceil_mode : bool
        Round the output size up; no window may start in the end padding."""

def _make(rank: int):
    sp = _spatial(rank)

    def max_pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                 return_indices=False, *, channels_last=False, index_dtype=np.int64,
                 nan_policy="propagate", out=None, indices_out=None, num_threads=None):
        return _max_pool(rank, x, kernel_size, stride, padding, dilation, ceil_mode,
                         return_indices, channels_last, index_dtype, nan_policy, out,
                         indices_out, num_threads)

    max_pool.__doc__ = f"""{rank}-D max pooling (PyTorch ``max_pool{rank}d`` semantics).
{_LAYOUT_DOC.format(sp=sp)}

    Parameters
    ----------
    x : array_like, float32 or float64
{_COMMON_PARAMS.format(r=rank)}
    dilation : int or tuple of {rank} ints
        Spacing between window taps.
    return_indices : bool
        Also return the position of each maximum, as a flat index within its
        ``(n, c)`` plane (``{'(d*H + h)*W + w' if rank == 3 else 'h*W + w' if rank == 2 else 'w'}``),
        ``-1`` for a window lying wholly in padding.
    channels_last : bool
        The input and outputs are ``(N, {sp}, C)``.
    index_dtype : numpy dtype
        ``int64`` (default) or ``int32``.
    nan_policy : "propagate" or "omit"
        ``"propagate"``: any NaN in a window gives NaN, with the index of the
        last NaN (PyTorch).  ``"omit"``: NaN is skipped.
    out, indices_out : ndarray, optional
        Buffers of the output's shape and dtype to write into.
    num_threads : int, optional
        Threads for this call; ``None`` uses OpenMP's current default.

    Returns
    -------
    y : ndarray
        Padding counts as -inf; ties give the first maximum.
    indices : ndarray
        Only with ``return_indices``.
    """

    def avg_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None, *, dilation=1,
                 channels_last=False, dtype=None, out=None, num_threads=None):
        return _avg_pool(rank, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                         divisor_override, dilation, channels_last, out, num_threads, dtype)

    avg_pool.__doc__ = f"""{rank}-D average pooling (PyTorch ``avg_pool{rank}d`` semantics).
{_LAYOUT_DOC.format(sp=sp)}

    Parameters
    ----------
    x : array_like, float32 or float64
{_COMMON_PARAMS.format(r=rank)}
    count_include_pad : bool
        Divide by the window size clipped to ``I + pad_end`` (True) or by the
        number of input cells in the window (False).
    divisor_override : int, optional
        Divide every window's sum by this instead.
    dilation : int or tuple of {rank} ints
        Spacing between window taps.
    dtype : numpy dtype, optional
        Output dtype.  Floating inputs: their own dtype.  Integer inputs:
        float64 by default, or the input's dtype, rounded half to even and
        saturated (uint8 in, uint8 out for image pyramids).
    channels_last, out, num_threads
        As for :func:`max_pool{rank}d`.

    Returns
    -------
    ndarray
        A window with no input cell gives 0.  Sums are accumulated in float64
        (float32 for float16 input).
    """

    def max_pool_backward(grad_output, indices, input_shape, *, channels_last=False, out=None,
                          num_threads=None):
        return _max_pool_backward(rank, grad_output, indices, input_shape, channels_last, out,
                                  num_threads)

    max_pool_backward.__doc__ = f"""Gradient of :func:`max_pool{rank}d` with respect to its input.

    Parameters
    ----------
    grad_output : array_like, float32 or float64
        Gradient of the pooled output, in the forward output's layout.
    indices : array_like, int64 or int32
        The indices returned by the forward call.
    input_shape : tuple of int
        Shape of the forward input, in the same layout.
    channels_last, out, num_threads
        As for :func:`max_pool{rank}d`.

    Returns
    -------
    ndarray
        ``dx`` with ``dx[n, c].flat[i] += dy`` for every output; index ``-1``
        is skipped.  Every index is checked before anything is written
        (``IndexError``).  Deterministic for any thread count.
    """

    def avg_pool_backward(grad_output, input_shape, kernel_size, stride=None, padding=0,
                          ceil_mode=False, count_include_pad=True, divisor_override=None, *,
                          dilation=1, channels_last=False, out=None, num_threads=None):
        return _avg_pool_backward(rank, grad_output, input_shape, kernel_size, stride, padding,
                                  ceil_mode, count_include_pad, divisor_override, dilation,
                                  channels_last, out, num_threads)

    avg_pool_backward.__doc__ = f"""Gradient of :func:`avg_pool{rank}d` with respect to its input.

    Parameters
    ----------
    grad_output : array_like, float32 or float64
        Gradient of the pooled output, in the forward output's layout.
    input_shape : tuple of int
        Shape of the forward input, in the same layout.
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, dilation
        The forward call's pooling arguments.
    channels_last, out, num_threads
        As for :func:`avg_pool{rank}d`.

    Returns
    -------
    ndarray
        Each output's gradient divided by its divisor and spread over the
        input cells of its window.  Deterministic for any thread count.
    """

    fns = {
        f"max_pool{rank}d": max_pool,
        f"avg_pool{rank}d": avg_pool,
        f"max_pool{rank}d_backward": max_pool_backward,
        f"avg_pool{rank}d_backward": avg_pool_backward,
    }
    for fname, fn in fns.items():
        fn.__name__ = fn.__qualname__ = fname
        fn.__module__ = "fastpool"
    return fns


for _rank in (1, 2, 3):
    globals().update(_make(_rank))
del _rank

