"""Slow, obviously correct NumPy definitions of fastpool's operators.

Every fast function in :mod:`fastpool` is tested against this module.  It is
written to be read, not to be fast: it pads with :func:`numpy.pad`, cuts the
windows out with :func:`numpy.lib.stride_tricks.sliding_window_view`, states
each rule of the specification (SPEC §4.1–4.7) directly, and scatters
gradients with :func:`numpy.add.at`.  It imports nothing from the rest of
fastpool, so a mistake in the fast path cannot hide in a shared helper.

Arrays are in PyTorch's logical order, ``(N, C, *spatial)`` or unbatched
``(C, *spatial)``.  The spatial rank is ``len(kernel_size)`` when it is a
sequence, else the ``rank=`` keyword, else ``x.ndim - 2``.

Functions
---------
output_size, resolve_padding, pool_geometry, pool_output_shape
    The geometry: output size per axis and the padding forms; the output
    shape of every operator family.
max_pool, max_pool_backward
    Max pooling with flat per-plane indices, and its gradient.
avg_pool, avg_pool_backward
    Average pooling, and its gradient.
lp_pool, lp_pool_backward
    Lp pooling (ONNX ``LpPool``: padding contributes 0), and its gradient (§4.4).
adaptive_windows, adaptive_output_size, adaptive_max_pool, adaptive_avg_pool, and backwards
    Adaptive pooling over exact integer windows (§4.5).
global_max_pool, global_avg_pool, global_lp_pool, and backwards
    One window per (n, c) plane.
unpool_output_size, max_unpool, max_unpool_backward
    Max unpooling and its gather gradient (§4.6).
fractional_output_size, fractional_starts, fractional_max_pool, fractional_max_pool_backward
    Fractional max pooling with PyTorch's windows for given samples (§4.7).
convert_indices
    Max-pooling indices between PyTorch, ONNX and TensorFlow conventions (§4.6).
spp_bins, spatial_pyramid_pool, yolo_spp, and backwards
    Spatial pyramid pooling (adaptive, SPPNet and Caffe bins) and YOLO SPP (§4.11).


bilinear_pool, bilinear_pool_backward, netvlad, netvlad_backward
    The special poolings over all positions (§4.12), in float64; NetVLAD from
    its residual-tensor definition.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "adaptive_avg_pool",
    "adaptive_avg_pool_backward",
    "adaptive_max_pool",
    "adaptive_max_pool_backward",
    "adaptive_output_size",
    "adaptive_windows",
    "avg_pool",
    "avg_pool_backward",
    "bilinear_pool",
    "bilinear_pool_backward",
    "convert_indices",
    "fractional_max_pool",
    "fractional_max_pool_backward",
    "fractional_output_size",
    "fractional_starts",
    "global_avg_pool",
    "global_avg_pool_backward",
    "global_lp_pool",
    "global_lp_pool_backward",
    "global_max_pool",
    "global_max_pool_backward",
    "lp_pool",
    "lp_pool_backward",
    "max_pool",
    "max_pool_backward",
    "max_unpool",
    "max_unpool_backward",
    "netvlad",
    "netvlad_backward",
    "output_size",
    "pool_geometry",
    "pool_output_shape",
    "resolve_padding",
    "unpool_output_size",
]
# special poolings: spatial pyramid, YOLO-SPP
__all__ += [
    "spatial_pyramid_pool",
    "spatial_pyramid_pool_backward",
    "spp_bins",
    "yolo_spp",
    "yolo_spp_backward",
]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


# --------------------------------------------------------------------------
# Arguments


def _is_seq(value: Any) -> bool:
    return isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, str)


def _int(value: Any, what: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer, got {value!r}") from None


def _per_axis(value: Any, rank: int, what: str, minimum: int) -> tuple[int, ...]:
    """An int, or one int per spatial axis (a 1-tuple is repeated), each >= minimum."""
    if _is_seq(value):
        items = [_int(v, what) for v in value]
        if len(items) == 1:
            items = items * rank
        if len(items) != rank:
            raise ValueError(f"{what} must have {rank} entries, got {value!r}")
    else:
        items = [_int(value, what)] * rank
    if any(v < minimum for v in items):
        raise ValueError(f"{what} must be >= {minimum}, got {value!r}")
    return tuple(items)


def _rank(kernel_size: Any, rank: int | None, ndim: int | None) -> int:
    """len(kernel_size) for a sequence, else ``rank``, else ``ndim - 2``."""
    if rank is None:
        if _is_seq(kernel_size):
            rank = len(kernel_size)
        elif ndim is not None:
            rank = ndim - 2
        else:
            raise ValueError("rank must be given when kernel_size is an int")
    if rank not in (1, 2, 3):
        raise ValueError(f"rank must be 1, 2 or 3, got {rank}")
    return rank


def _float_array(x: Any, what: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype not in _FLOATS:
        raise TypeError(f"{what} must be float32 or float64, got {a.dtype}")
    return a


def _batched(a: np.ndarray, rank: int, what: str) -> tuple[np.ndarray, bool]:
    """(a with a leading batch axis, whether a had one)."""
    if a.ndim == rank + 2:
        return a, True
    if a.ndim == rank + 1:
        return a[np.newaxis], False
    raise ValueError(f"{what} must have {rank + 1} or {rank + 2} dimensions, got {a.shape}")


# --------------------------------------------------------------------------
# Geometry (SPEC §4.1)


def output_size(I: int, k: int, s: int, pad_begin: int, pad_end: int, d: int,
                ceil_mode: bool) -> int:
    """Number of windows along one axis (PyTorch's rule).

    ``ek = d*(k-1) + 1``; ``O = floor((I + pb + pe - ek + (s-1 if ceil_mode)) / s) + 1``;
    in ceil mode the last window is dropped if it would start in the end
    padding, ``(O-1)*s >= I + pb``.  Raises ``ValueError`` if ``O < 1``.
    """
    if k < 1 or s < 1 or d < 1:
        raise ValueError(f"kernel, stride and dilation must be positive, got {k}, {s}, {d}")
    if pad_begin < 0 or pad_end < 0:
        raise ValueError(f"padding must be non-negative, got ({pad_begin}, {pad_end})")
    ek = d * (k - 1) + 1
    span = I + pad_begin + pad_end - ek + (s - 1 if ceil_mode else 0)
    # Python's // is floor division, also for a negative span.
    O = span // s + 1
    if ceil_mode and O >= 1 and (O - 1) * s >= I + pad_begin:
        O -= 1
    if O < 1:
        raise ValueError(
            f"output size would be {O} < 1 (input {I}, kernel {k}, stride {s}, "
            f"padding ({pad_begin}, {pad_end}), dilation {d}, ceil_mode {ceil_mode})"
        )
    return O


def resolve_padding(padding: Any, spatial: Sequence[int], kernel: Sequence[int],
                    stride: Sequence[int], dilation: Sequence[int]
                    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(pad_begin, pad_end)`` per axis from any accepted padding form.

    Forms: an int; one entry per axis, each an int (symmetric) or a
    ``(begin, end)`` pair; ``"valid"``; ``"same"`` (extra pad at the end);
    ``"same_lower"`` (extra pad at the start).  For the "same" forms
    ``O = ceil(I/s)`` and ``total = max(0, (O-1)*s + ek - I)``.
    """
    rank = len(spatial)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0,) * rank, (0,) * rank
        if mode not in ("same", "same_upper", "same_lower"):
            raise ValueError(f"padding must be an int, a tuple, 'valid', 'same' or "
                             f"'same_lower', got {padding!r}")
        begin, end = [], []
        for I, k, s, d in zip(spatial, kernel, stride, dilation):
            ek = d * (k - 1) + 1
            O = -(-I // s)  # ceil(I / s)
            total = max(0, (O - 1) * s + ek - I)
            small, large = total // 2, total - total // 2
            if mode == "same_lower":
                begin.append(large)
                end.append(small)
            else:
                begin.append(small)
                end.append(large)
        return tuple(begin), tuple(end)
    if _is_seq(padding):
        items = list(padding)
        if len(items) == 1:
            items = items * rank
        if len(items) != rank:
            raise ValueError(f"padding must have {rank} entries, got {padding!r}")
        begin, end = [], []
        for item in items:
            if _is_seq(item):
                if len(item) != 2:
                    raise ValueError(f"a padding pair must be (begin, end), got {item!r}")
                b, e = _int(item[0], "padding"), _int(item[1], "padding")
            else:
                b = e = _int(item, "padding")
            begin.append(b)
            end.append(e)
    else:
        p = _int(padding, "padding")
        begin, end = [p] * rank, [p] * rank
    if min(begin + end) < 0:
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    return tuple(begin), tuple(end)


class Geometry:
    """Normalised pooling arguments for one input shape.

    Attributes: ``rank``, ``spatial`` (input sizes), ``kernel``, ``stride``,
    ``dilation``, ``pad_begin``, ``pad_end``, ``out`` (output sizes), all tuples
    with one entry per spatial axis, and ``ceil_mode``.
    """

    def __init__(self, spatial, kernel, stride, padding, dilation, ceil_mode):
        rank = len(spatial)
        self.rank = rank
        self.spatial = tuple(int(v) for v in spatial)
        self.kernel = _per_axis(kernel, rank, "kernel_size", 1)
        self.stride = (self.kernel if stride is None
                       else _per_axis(stride, rank, "stride", 1))
        self.dilation = _per_axis(dilation, rank, "dilation", 1)
        self.pad_begin, self.pad_end = resolve_padding(
            padding, self.spatial, self.kernel, self.stride, self.dilation)
        self.ceil_mode = bool(ceil_mode)
        self.out = tuple(
            output_size(I, k, s, pb, pe, d, self.ceil_mode)
            for I, k, s, pb, pe, d in zip(self.spatial, self.kernel, self.stride,
                                          self.pad_begin, self.pad_end, self.dilation)
        )

    @property
    def taps(self) -> int:
        """Taps per window (product of the kernel sizes)."""
        return math.prod(self.kernel)


def pool_geometry(input_shape: Sequence[int], kernel_size: Any, stride: Any = None,
                  padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False, *,
                  rank: int | None = None) -> Geometry:
    """The :class:`Geometry` of a pooling over ``input_shape`` (logical order)."""
    shape = tuple(input_shape)
    rank = _rank(kernel_size, rank, len(shape))
    if len(shape) not in (rank + 1, rank + 2):
        raise ValueError(f"input_shape must have {rank + 1} or {rank + 2} entries, got {shape}")
    return Geometry(shape[-rank:], kernel_size, stride, padding, dilation, ceil_mode)


_SHAPE_OPS = ("max", "avg", "lp", "unpool", "adaptive", "global", "fractional")


def pool_output_shape(input_shape: Sequence[int], kernel_size: Any = None, stride: Any = None,
                      padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False, *,
                      op: str = "max", output_size: Any = None, output_ratio: Any = None,
                      rank: int | None = None) -> tuple[int, ...]:
    """Full output shape of any operator family for an input of ``input_shape``
    (logical order, batched or not).

    ``op``: ``"max"``, ``"avg"``, ``"lp"`` (:class:`Geometry`), ``"unpool"``
    (:func:`unpool_output_size`), ``"adaptive"`` (:func:`adaptive_output_size`),
    ``"global"`` (all ones; batched input) or ``"fractional"``
    (:func:`fractional_output_size`).  The spatial rank is ``rank``, else
    ``len(kernel_size)`` or ``len(output_size)`` for a sequence, else
    ``len(input_shape) - 2``.
    """
    if op not in _SHAPE_OPS:
        raise ValueError(f"op must be one of {_SHAPE_OPS}, got {op!r}")
    shape = tuple(int(v) for v in input_shape)
    if rank is None:
        for candidate in (kernel_size, output_size):
            if _is_seq(candidate):
                rank = len(candidate)
                break
    rank = _rank(None, rank if rank is not None else len(shape) - 2, None)
    if len(shape) not in (rank + 1, rank + 2):
        raise ValueError(f"input_shape must have {rank + 1} or {rank + 2} entries, got {shape}")
    lead, spatial = shape[:-rank], shape[-rank:]
    if op in ("max", "avg", "lp"):
        out = Geometry(spatial, kernel_size, stride, padding, dilation, ceil_mode).out
    elif op == "unpool":
        out = unpool_output_size(spatial, kernel_size, stride, padding, output_size)
    elif op == "adaptive":
        out = adaptive_output_size(spatial, output_size)
    elif op == "global":
        if len(shape) != rank + 2:
            raise ValueError(f"global pooling needs a batched input_shape, got {shape}")
        out = (1,) * rank
    else:
        out = fractional_output_size(spatial, kernel_size, output_size, output_ratio)
    return lead + tuple(out)


# --------------------------------------------------------------------------
# Windows


def _windows(a: np.ndarray, g: Geometry, fill: float) -> np.ndarray:
    """The taps of every window: shape ``a.shape[:-rank] + g.out + (taps,)``.

    The last ``rank`` axes of ``a`` are the spatial ones.  Cells outside the
    input (padding, and the ceil-mode overhang past the end padding) read
    ``fill``.  Taps are in row-major order over the kernel.
    """
    r = g.rank
    lead = a.ndim - r
    width = [(0, 0)] * lead
    for I, k, s, pb, d, O in zip(g.spatial, g.kernel, g.stride, g.pad_begin, g.dilation, g.out):
        ek = d * (k - 1) + 1
        last = (O - 1) * s + ek  # padded length the windows reach
        width.append((pb, max(0, last - pb - I)))
    padded = np.pad(a, width, mode="constant", constant_values=fill)
    ek = tuple(d * (k - 1) + 1 for k, d in zip(g.kernel, g.dilation))
    view = sliding_window_view(padded, ek, axis=tuple(range(lead, a.ndim)))
    # view: lead + window starts (one per padded position) + window offsets
    starts = tuple(slice(0, (O - 1) * s + 1, s) for O, s in zip(g.out, g.stride))
    taps = tuple(slice(None, None, d) for d in g.dilation)
    view = view[(Ellipsis,) + starts + taps]
    assert view.shape[lead:lead + r] == g.out and view.shape[lead + r:] == g.kernel
    return view.reshape(view.shape[:lead + r] + (g.taps,))


def _plane_indices(g: Geometry) -> np.ndarray:
    """Flat in-plane index of every tap of every window, -1 outside the input."""
    plane = np.arange(math.prod(g.spatial), dtype=np.int64).reshape(g.spatial)
    return _windows(plane, g, -1)


# --------------------------------------------------------------------------
# Max pooling (SPEC §4.2)


def _check_nan_policy(nan_policy: str) -> None:
    if nan_policy not in ("propagate", "omit"):
        raise ValueError(f"nan_policy must be 'propagate' or 'omit', got {nan_policy!r}")


def _select_max(vals: np.ndarray, where: np.ndarray, nan_policy: str
                ) -> tuple[np.ndarray, np.ndarray]:
    """The max-pooling selection rule over the taps of each window.

    ``vals`` holds the taps, ``(..., T)`` in row-major window order;
    ``where`` (broadcastable to it) the flat in-plane index of each tap, -1
    for a tap outside the input, whose value is ignored.  Returns ``(y, idx)``
    of shape ``vals.shape[:-1]``: see :func:`max_pool` for the rules.
    """
    where = np.broadcast_to(where, vals.shape)
    valid = where >= 0
    nan = valid & np.isnan(vals)
    num = valid & ~nan
    T = vals.shape[-1]

    has_valid = valid.any(axis=-1)
    has_nan = nan.any(axis=-1)
    has_num = num.any(axis=-1)
    numbers = np.where(num, vals, -np.inf)
    top = numbers.max(axis=-1)
    t_first_valid = np.argmax(valid, axis=-1)
    t_first_top = np.argmax(num & (numbers == top[..., np.newaxis]), axis=-1)
    t_last_nan = T - 1 - np.argmax(nan[..., ::-1], axis=-1)

    nan_value = np.array(np.nan, dtype=vals.dtype)
    if nan_policy == "propagate":
        y = np.where(has_nan, nan_value, top)
        t = np.where(has_nan, t_last_nan, t_first_top)
    else:
        y = np.where(has_num, top, np.where(has_valid, nan_value, top))
        t = np.where(has_num, t_first_top, t_first_valid)
    y = np.where(has_valid, y, -np.inf).astype(vals.dtype)

    idx = np.take_along_axis(where, t[..., np.newaxis], axis=-1)[..., 0]
    idx = np.where(has_valid, idx, -1).astype(np.int64)
    return y, idx


def max_pool(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
             ceil_mode: bool = False, nan_policy: str = "propagate", *,
             rank: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling and the flat in-plane index of each maximum.

    Rules, per window, over its valid (non-padding) cells in row-major tap order:

    - ``nan_policy="propagate"``: if any cell is NaN the result is NaN and the
      index is that of the **last** NaN; otherwise the maximum and the index
      of its **first** occurrence.
    - ``nan_policy="omit"``: NaN cells are ignored; the maximum of the others
      and the first index of it.  If every valid cell is NaN: NaN and the
      index of the first valid cell.
    - A window with no valid cell: ``-inf`` and index ``-1``.

    Returns ``(y, indices)``, ``y`` in ``x``'s dtype and ``indices`` int64.
    """
    _check_nan_policy(nan_policy)
    a = _float_array(x, "x")
    r = _rank(kernel_size, rank, a.ndim)
    a, batched = _batched(a, r, "x")
    g = Geometry(a.shape[2:], kernel_size, stride, padding, dilation, ceil_mode)
    y, idx = _select_max(_windows(a, g, -np.inf), _plane_indices(g), nan_policy)
    if not batched:
        y, idx = y[0], idx[0]
    return np.ascontiguousarray(y), np.ascontiguousarray(idx)


def max_pool_backward(grad_output: Any, indices: Any, input_shape: Sequence[int], *,
                      rank: int | None = None) -> np.ndarray:
    """Gradient of :func:`max_pool`: ``dx[n, c].flat[idx] += dy``, index -1 skipped.

    ``rank`` defaults to ``len(input_shape) - 2``.  Indices outside
    ``[-1, plane size)`` raise ``IndexError``.  Sums are formed in float64 and
    cast to ``grad_output``'s dtype.
    """
    dy = _float_array(grad_output, "grad_output")
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"indices must be integers, got {idx.dtype}")
    shape = tuple(int(v) for v in input_shape)
    r = rank if rank is not None else len(shape) - 2
    if r not in (1, 2, 3):
        raise ValueError(f"rank must be 1, 2 or 3, got {r}")
    if idx.shape != dy.shape:
        raise ValueError(f"indices has shape {idx.shape}, grad_output {dy.shape}")
    dy, batched = _batched(dy, r, "grad_output")
    idx = idx.reshape(dy.shape)
    full = shape if batched else (1,) + shape
    if len(full) != r + 2 or full[:2] != dy.shape[:2]:
        raise ValueError(f"input_shape {shape} does not fit grad_output {dy.shape}")
    plane = math.prod(full[2:])
    bad = (idx < -1) | (idx >= plane)
    if bad.any():
        raise IndexError(f"index {idx[bad][0]} is outside [-1, {plane})")

    NC = full[0] * full[1]
    dx = np.zeros((NC, plane), dtype=np.float64)
    flat_idx = idx.reshape(NC, -1)
    flat_dy = dy.reshape(NC, -1).astype(np.float64)
    rows = np.broadcast_to(np.arange(NC)[:, np.newaxis], flat_idx.shape)
    keep = flat_idx >= 0
    np.add.at(dx, (rows[keep], flat_idx[keep]), flat_dy[keep])
    dx = dx.reshape(full).astype(dy.dtype)
    return dx if batched else dx[0]


# --------------------------------------------------------------------------
# Average pooling (SPEC §4.3)


def _axis_counts(I: int, k: int, s: int, pb: int, pe: int, d: int, O: int):
    """Per output position along one axis: (taps counted by count_include_pad, valid taps)."""
    pool = np.zeros(O, dtype=np.int64)
    valid = np.zeros(O, dtype=np.int64)
    ek = d * (k - 1) + 1
    for o in range(O):
        h0 = o * s - pb
        h1 = min(h0 + ek, I + pe)
        taps = h0 + d * np.arange(k)
        pool[o] = np.count_nonzero(taps < h1)
        valid[o] = np.count_nonzero((taps >= 0) & (taps < I))
    return pool, valid


def _outer(factors: list[np.ndarray]) -> np.ndarray:
    result = np.ones((), dtype=np.int64)
    for f in factors:
        result = np.multiply.outer(result, f)
    return result


def _divisors(g: Geometry, count_include_pad: bool, divisor_override: Any):
    """(divisor per output position, valid-cell count per output position)."""
    pools, valids = [], []
    for args in zip(g.spatial, g.kernel, g.stride, g.pad_begin, g.pad_end, g.dilation, g.out):
        p, v = _axis_counts(*args)
        pools.append(p)
        valids.append(v)
    pool, valid = _outer(pools), _outer(valids)
    if divisor_override is not None:
        dov = _int(divisor_override, "divisor_override")
        if dov < 1:
            raise ValueError(f"divisor_override must be positive, got {dov}")
        divisor = np.full(g.out, dov, dtype=np.int64)
    elif count_include_pad:
        divisor = pool
    else:
        divisor = valid
    return divisor, valid


def avg_pool(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
             ceil_mode: bool = False, count_include_pad: bool = True,
             divisor_override: Any = None, dilation: Any = 1, *,
             rank: int | None = None) -> np.ndarray:
    """Average pooling: the sum of each window's valid cells over its divisor.

    Per axis ``h0 = o*s - pb``, ``h1 = min(h0 + ek, I + pe)``; taps
    ``h0 + t*d``.  The divisor is ``divisor_override`` if given, else the taps
    below ``h1`` (``count_include_pad``) or the taps inside the input, each a
    product over the axes.  A window with no valid cell gives 0.  Computed in
    float64, returned in ``x``'s dtype.
    """
    a = _float_array(x, "x")
    r = _rank(kernel_size, rank, a.ndim)
    a, batched = _batched(a, r, "x")
    g = Geometry(a.shape[2:], kernel_size, stride, padding, dilation, ceil_mode)
    divisor, valid = _divisors(g, count_include_pad, divisor_override)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sums = _windows(a.astype(np.float64), g, 0.0).sum(axis=-1)
        y = np.where(valid > 0, sums / np.where(divisor > 0, divisor, 1), 0.0).astype(a.dtype)
    return np.ascontiguousarray(y if batched else y[0])


def avg_pool_backward(grad_output: Any, input_shape: Sequence[int], kernel_size: Any,
                      stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                      count_include_pad: bool = True, divisor_override: Any = None,
                      dilation: Any = 1, *, rank: int | None = None) -> np.ndarray:
    """Gradient of :func:`avg_pool`: each window's ``dy / divisor`` added to its valid cells.

    Sums are formed in float64 and cast to ``grad_output``'s dtype.
    """
    dy = _float_array(grad_output, "grad_output")
    shape = tuple(int(v) for v in input_shape)
    r = _rank(kernel_size, rank, len(shape))
    dy, batched = _batched(dy, r, "grad_output")
    full = shape if batched else (1,) + shape
    if len(full) != r + 2:
        raise ValueError(f"input_shape {shape} does not fit grad_output {dy.shape}")
    g = Geometry(full[2:], kernel_size, stride, padding, dilation, ceil_mode)
    if dy.shape != full[:2] + g.out:
        raise ValueError(f"grad_output has shape {dy.shape}, expected {full[:2] + g.out}")
    divisor, valid = _divisors(g, count_include_pad, divisor_override)
    share = np.where(valid > 0, dy.astype(np.float64) / np.where(divisor > 0, divisor, 1), 0.0)

    # Accumulate into a padded plane that every tap of every window lies in,
    # then keep the input part: padding cells simply drop their share.
    padded_shape, offsets = [], []
    for I, k, s, pb, d, O in zip(g.spatial, g.kernel, g.stride, g.pad_begin, g.dilation, g.out):
        padded_shape.append(max(I + pb, (O - 1) * s + d * (k - 1) + 1))
        offsets.append(pb)
    acc = np.zeros(full[:2] + tuple(padded_shape), dtype=np.float64)
    for tap in np.ndindex(*g.kernel):
        target = tuple(
            slice(t * d, t * d + (O - 1) * s + 1, s)
            for t, d, s, O in zip(tap, g.dilation, g.stride, g.out)
        )
        acc[(Ellipsis,) + target] += share
    inside = tuple(slice(pb, pb + I) for pb, I in zip(offsets, g.spatial))
    dx = acc[(Ellipsis,) + inside].astype(dy.dtype)
    dx = np.ascontiguousarray(dx)
    return dx if batched else dx[0]


# --------------------------------------------------------------------------
# Scatter and gather by flat in-plane index


def _scatter(values: np.ndarray, where: np.ndarray, full_shape: tuple[int, ...]) -> np.ndarray:
    """``dx[n, c].flat[where] += values`` over every tap whose ``where`` is >= 0.

    ``values`` is ``(N, C, ..., T)``; ``where`` broadcasts to it.  Returns a
    float64 array of ``full_shape`` = ``(N, C, *spatial)``.
    """
    N, C = full_shape[:2]
    plane = math.prod(full_shape[2:])
    where = np.broadcast_to(where, values.shape).reshape(N * C, -1)
    values = values.reshape(N * C, -1).astype(np.float64)
    rows = np.broadcast_to(np.arange(N * C)[:, np.newaxis], where.shape)
    keep = where >= 0
    dx = np.zeros((N * C, plane), dtype=np.float64)
    np.add.at(dx, (rows[keep], where[keep]), values[keep])
    return dx.reshape(full_shape)


def _check_indices(idx: np.ndarray, plane: int, what: str) -> None:
    """IndexError naming the first index (C order) outside ``[-1, plane)``."""
    bad = (idx < -1) | (idx >= plane)
    if bad.any():
        pos = tuple(int(v) for v in np.unravel_index(np.flatnonzero(bad)[0], idx.shape))
        raise IndexError(f"{what}{list(pos)} = {int(idx[pos])} is outside [-1, {plane})")


def _int_indices(indices: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{what} must be integers, got {idx.dtype}")
    if idx.shape != shape:
        raise ValueError(f"{what} has shape {idx.shape}, expected {shape}")
    return idx.astype(np.int64)


# --------------------------------------------------------------------------
# Lp pooling (SPEC §4.4)


def _norm(norm_type: Any) -> float:
    p = float(norm_type)
    if not p > 0:
        raise ValueError(f"norm_type must be positive (inf allowed), got {norm_type!r}")
    return p


def _lp_reduce(vals: np.ndarray, p: float) -> np.ndarray:
    """``(sum |v|^p)^(1/p)`` over the last axis in float64; ``max |v|`` for p = inf.

    NaN propagates (through the sum, and through ``np.max``).
    """
    mag = np.abs(vals.astype(np.float64))
    with np.errstate(over="ignore", invalid="ignore"):
        if math.isinf(p):
            return mag.max(axis=-1)
        return (mag ** p).sum(axis=-1) ** (1.0 / p)


def _lp_terms(vals: np.ndarray, valid: np.ndarray, y: np.ndarray, dy: np.ndarray,
              p: float) -> np.ndarray:
    """Per-tap gradient of Lp pooling: ``dy * sign(x) * (|x| / y)^(p-1)``.

    ``vals``/``valid`` are ``(..., T)``; ``y`` and ``dy`` are ``(...)``.  A tap
    contributes 0 where it is invalid, where ``x = 0`` and, unless ``p = 1``,
    where ``y = 0``.  For ``p = inf`` only the first valid tap with
    ``|x| = y`` (and ``x != 0``) gets ``dy * sign(x)``.
    """
    v = vals.astype(np.float64)
    y = y.astype(np.float64)[..., np.newaxis]
    dy = dy.astype(np.float64)[..., np.newaxis]
    valid = np.broadcast_to(valid, v.shape)
    live = valid & (v != 0)
    if math.isinf(p):
        hit = live & (np.abs(v) == y)
        first = np.argmax(hit, axis=-1)[..., np.newaxis]
        chosen = hit & (np.arange(v.shape[-1]) == first)
        return np.where(chosen, dy * np.sign(v), 0.0)
    if p != 1:
        live = live & (y != 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        terms = dy * np.sign(v) * (np.abs(v) / y) ** (p - 1)
    return np.where(live, terms, 0.0)


def lp_pool(x: Any, norm_type: Any, kernel_size: Any, stride: Any = None,
            ceil_mode: bool = False, *, padding: Any = 0, dilation: Any = 1,
            rank: int | None = None) -> np.ndarray:
    """Lp (power-average) pooling: ``(sum over the window of |x|^p)^(1/p)``.

    Geometry as for :func:`avg_pool` (any padding form, dilation, ceil mode);
    padding cells contribute 0, so this is ONNX ``LpPool``.  ``p = inf`` gives
    ``max |x|`` (0 for a window wholly in padding).  NaN propagates.  Computed
    in float64, returned in ``x``'s dtype.
    """
    p = _norm(norm_type)
    a = _float_array(x, "x")
    r = _rank(kernel_size, rank, a.ndim)
    a, batched = _batched(a, r, "x")
    g = Geometry(a.shape[2:], kernel_size, stride, padding, dilation, ceil_mode)
    y = _lp_reduce(_windows(a, g, 0.0), p).astype(a.dtype)
    return np.ascontiguousarray(y if batched else y[0])


def lp_pool_backward(grad_output: Any, x: Any, y: Any, norm_type: Any, kernel_size: Any,
                     stride: Any = None, ceil_mode: bool = False, *, padding: Any = 0,
                     dilation: Any = 1, rank: int | None = None) -> np.ndarray:
    """Gradient of :func:`lp_pool` given its input ``x`` and output ``y``.

    ``dx_i = sum over the windows holding x_i of dy * sign(x_i) * (|x_i|/y)^(p-1)``,
    with the zero cases of :func:`_lp_terms`; ``p = inf`` routes ``dy * sign(x)``
    to the first cell of each window whose ``|x|`` equals ``y``.  Summed in
    float64, returned in ``grad_output``'s dtype.
    """
    p = _norm(norm_type)
    dy = _float_array(grad_output, "grad_output")
    a = _float_array(x, "x")
    yy = _float_array(y, "y")
    r = _rank(kernel_size, rank, a.ndim)
    a, batched = _batched(a, r, "x")
    dy, _ = _batched(dy, r, "grad_output")
    yy, _ = _batched(yy, r, "y")
    g = Geometry(a.shape[2:], kernel_size, stride, padding, dilation, ceil_mode)
    out_shape = a.shape[:2] + g.out
    if dy.shape != out_shape or yy.shape != out_shape:
        raise ValueError(f"grad_output and y must have shape {out_shape}, got "
                         f"{dy.shape} and {yy.shape}")
    where = _plane_indices(g)
    terms = _lp_terms(_windows(a, g, 0.0), where >= 0, yy, dy, p)
    dx = _scatter(terms, where, a.shape).astype(dy.dtype)
    return np.ascontiguousarray(dx if batched else dx[0])


# --------------------------------------------------------------------------
# Adaptive pooling (SPEC §4.5)


def adaptive_windows(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``start[o] = floor(o*I/O)`` and ``end[o] = ceil((o+1)*I/O)``, as int64 arrays.

    Python integers, so exact for any sizes.
    """
    I, O = _int(in_size, "in_size"), _int(out_size, "out_size")
    if I < 1 or O < 1:
        raise ValueError(f"in_size and out_size must be positive, got {I}, {O}")
    start = [o * I // O for o in range(O)]
    end = [-(-(o + 1) * I // O) for o in range(O)]
    return np.array(start, dtype=np.int64), np.array(end, dtype=np.int64)


def adaptive_output_size(spatial: Sequence[int], output_size: Any) -> tuple[int, ...]:
    """The output extents: an int for every axis, or one entry per axis where
    ``None`` keeps that axis's input size."""
    rank = len(spatial)
    if _is_seq(output_size):
        items = list(output_size)
        if len(items) == 1:
            items = items * rank
        if len(items) != rank:
            raise ValueError(f"output_size must have {rank} entries, got {output_size!r}")
    else:
        items = [output_size] * rank
    sizes = tuple(I if v is None else _int(v, "output_size") for I, v in zip(spatial, items))
    if min(sizes) < 1:
        raise ValueError(f"output_size must be positive, got {output_size!r}")
    return sizes


def _gather(a: np.ndarray, tables: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Windows given by per-axis position tables.

    ``a`` is ``(N, C, *spatial)``; ``tables[i]`` broadcasts to ``(N, C, O_i, L_i)``
    and holds the input position of tap ``l`` of window ``o`` along axis ``i``,
    or -1 for no tap.  Returns ``(vals, where)``, both ``(N, C, *O, T)`` with
    ``T = prod(L_i)`` taps in row-major order; ``where`` is the flat in-plane
    index of each tap (-1 where any axis has none) and ``vals`` is 0 there.
    """
    N, C = a.shape[:2]
    spatial = a.shape[2:]
    r = len(spatial)
    full = [np.broadcast_to(t, (N, C) + t.shape[-2:]) for t in tables]
    # Axis i's table, shaped (N, C, 1, 1, ..., O_i, L_i, ..., 1, 1): interleaved (O, L) pairs.
    pos = []
    for i, t in enumerate(full):
        shape = [N, C] + [1] * (2 * r)
        shape[2 + 2 * i], shape[3 + 2 * i] = t.shape[-2:]
        pos.append(t.reshape(shape))
    valid = np.ones((1, 1) + (1,) * (2 * r), dtype=bool)
    flat = np.zeros((1, 1) + (1,) * (2 * r), dtype=np.int64)
    for i, p_i in enumerate(pos):
        valid = valid & (p_i >= 0)
        flat = flat * spatial[i] + p_i
    n = np.arange(N).reshape((N, 1) + (1,) * (2 * r))
    c = np.arange(C).reshape((1, C) + (1,) * (2 * r))
    vals = a[(n, c) + tuple(np.maximum(p_i, 0) for p_i in pos)]
    valid = np.broadcast_to(valid, vals.shape)
    where = np.where(valid, np.broadcast_to(flat, vals.shape), -1)
    vals = np.where(valid, vals, 0).astype(a.dtype)
    # (N, C, O0, L0, O1, L1, ...) -> (N, C, O0, O1, ..., L0, L1, ...) -> (N, C, *O, T)
    order = [0, 1] + [2 + 2 * i for i in range(r)] + [3 + 2 * i for i in range(r)]
    vals, where = vals.transpose(order), where.transpose(order)
    out = vals.shape[2:2 + r]
    return vals.reshape((N, C) + out + (-1,)), where.reshape((N, C) + out + (-1,))


def _adaptive_tables(spatial: Sequence[int], out: Sequence[int]) -> list[np.ndarray]:
    tables = []
    for I, O in zip(spatial, out):
        start, end = adaptive_windows(I, O)
        L = int((end - start).max())
        t = start[:, np.newaxis] + np.arange(L)
        tables.append(np.where(t < end[:, np.newaxis], t, -1)[np.newaxis, np.newaxis])
    return tables


def _adaptive_rank(output_size: Any, rank: int | None, ndim: int) -> int:
    if rank is None and _is_seq(output_size) and len(output_size) > 1:
        rank = len(output_size)
    return _rank(None, rank if rank is not None else ndim - 2, None)


def adaptive_max_pool(x: Any, output_size: Any, nan_policy: str = "propagate", *,
                      rank: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive max pooling: window ``o`` of an axis is :func:`adaptive_windows`'s
    ``[start[o], end[o])``; the selection rule of :func:`max_pool`.

    The spatial rank is ``len(output_size)`` for a sequence of more than one
    entry, else ``rank``, else ``x.ndim - 2``.  Returns ``(y, indices)``.
    """
    _check_nan_policy(nan_policy)
    a = _float_array(x, "x")
    r = _adaptive_rank(output_size, rank, a.ndim)
    a, batched = _batched(a, r, "x")
    out = adaptive_output_size(a.shape[2:], output_size)
    vals, where = _gather(a, _adaptive_tables(a.shape[2:], out))
    y, idx = _select_max(vals, where, nan_policy)
    if not batched:
        y, idx = y[0], idx[0]
    return np.ascontiguousarray(y), np.ascontiguousarray(idx)


def adaptive_avg_pool(x: Any, output_size: Any, *, rank: int | None = None) -> np.ndarray:
    """Adaptive average pooling: the mean of each window of :func:`adaptive_windows`,
    computed in float64 and returned in ``x``'s dtype."""
    a = _float_array(x, "x")
    r = _adaptive_rank(output_size, rank, a.ndim)
    a, batched = _batched(a, r, "x")
    out = adaptive_output_size(a.shape[2:], output_size)
    vals, where = _gather(a.astype(np.float64), _adaptive_tables(a.shape[2:], out))
    count = (where >= 0).sum(axis=-1)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, as it should be
        y = (vals.sum(axis=-1) / count).astype(a.dtype)
    return np.ascontiguousarray(y if batched else y[0])


def adaptive_max_pool_backward(grad_output: Any, indices: Any, input_shape: Sequence[int], *,
                               rank: int | None = None) -> np.ndarray:
    """Gradient of :func:`adaptive_max_pool`: that of :func:`max_pool_backward`."""
    return max_pool_backward(grad_output, indices, input_shape, rank=rank)


def adaptive_avg_pool_backward(grad_output: Any, input_shape: Sequence[int], *,
                               rank: int | None = None) -> np.ndarray:
    """Gradient of :func:`adaptive_avg_pool`: each ``dy`` over its window's size,
    added to every cell of the window (overlapping windows accumulate)."""
    dy = _float_array(grad_output, "grad_output")
    shape = tuple(int(v) for v in input_shape)
    r = rank if rank is not None else len(shape) - 2
    r = _rank(None, r, None)
    dy, batched = _batched(dy, r, "grad_output")
    full = shape if batched else (1,) + shape
    if len(full) != r + 2 or full[:2] != dy.shape[:2]:
        raise ValueError(f"input_shape {shape} does not fit grad_output {dy.shape}")
    tables = _adaptive_tables(full[2:], dy.shape[2:])
    _, where = _gather(np.zeros(full, dtype=np.float64), tables)
    count = (where >= 0).sum(axis=-1)
    share = dy.astype(np.float64) / count
    dx = _scatter(np.broadcast_to(share[..., np.newaxis], where.shape), where, full)
    dx = dx.astype(dy.dtype)
    return np.ascontiguousarray(dx if batched else dx[0])


# --------------------------------------------------------------------------
# Global pooling: one window per (n, c) plane, rank from x.ndim


def _planes(x: Any, what: str = "x") -> np.ndarray:
    """x as ``(N, C, P)``: batched input with 1 to 3 spatial axes."""
    a = _float_array(x, what)
    if a.ndim not in (3, 4, 5):
        raise ValueError(f"{what} must be (N, C, *spatial) with 1 to 3 spatial axes, "
                         f"got {a.shape}")
    return a.reshape(a.shape[:2] + (-1,))


def _keepdims(v: np.ndarray, ndim: int) -> np.ndarray:
    return np.ascontiguousarray(v.reshape(v.shape[:2] + (1,) * (ndim - 2)))


def global_max_pool(x: Any, nan_policy: str = "propagate") -> tuple[np.ndarray, np.ndarray]:
    """Max over each whole ``(n, c)`` plane with :func:`max_pool`'s selection rule.

    Returns ``(y, indices)`` of shape ``(N, C, 1, ...)``.
    """
    _check_nan_policy(nan_policy)
    planes = _planes(x)
    y, idx = _select_max(planes, np.arange(planes.shape[-1]), nan_policy)
    ndim = np.ndim(x)
    return _keepdims(y, ndim), _keepdims(idx, ndim)


def global_avg_pool(x: Any) -> np.ndarray:
    """Mean of each ``(n, c)`` plane (float64 sum), shape ``(N, C, 1, ...)``."""
    planes = _planes(x)
    with np.errstate(invalid="ignore", over="ignore"):
        mean = planes.astype(np.float64).sum(axis=-1) / planes.shape[-1]
        return _keepdims(mean.astype(planes.dtype), np.ndim(x))


def global_lp_pool(x: Any, norm_type: Any) -> np.ndarray:
    """``(sum |x|^p)^(1/p)`` of each ``(n, c)`` plane, shape ``(N, C, 1, ...)``."""
    planes = _planes(x)
    return _keepdims(_lp_reduce(planes, _norm(norm_type)).astype(planes.dtype), np.ndim(x))


def global_max_pool_backward(grad_output: Any, indices: Any,
                             input_shape: Sequence[int]) -> np.ndarray:
    """Gradient of :func:`global_max_pool`: ``dy`` added at each plane's index."""
    return max_pool_backward(grad_output, indices, input_shape)


def global_avg_pool_backward(grad_output: Any, input_shape: Sequence[int]) -> np.ndarray:
    """Gradient of :func:`global_avg_pool`: ``dy / P`` at every cell of the plane."""
    dy = _float_array(grad_output, "grad_output")
    shape = tuple(int(v) for v in input_shape)
    if len(shape) not in (3, 4, 5) or dy.shape != shape[:2] + (1,) * (len(shape) - 2):
        raise ValueError(f"grad_output {dy.shape} does not fit input_shape {shape}")
    P = math.prod(shape[2:])
    dx = np.broadcast_to(dy.astype(np.float64) / P, shape).astype(dy.dtype)
    return np.ascontiguousarray(dx)


def global_lp_pool_backward(grad_output: Any, x: Any, y: Any, norm_type: Any) -> np.ndarray:
    """Gradient of :func:`global_lp_pool`, by :func:`lp_pool_backward`'s rule."""
    planes = _planes(x)
    dy = _float_array(grad_output, "grad_output").reshape(planes.shape[:2])
    yy = _float_array(y, "y").reshape(planes.shape[:2])
    valid = np.ones(planes.shape, dtype=bool)
    dx = _lp_terms(planes, valid, yy, dy, _norm(norm_type))
    return np.ascontiguousarray(dx.reshape(np.shape(x)).astype(dy.dtype))


# --------------------------------------------------------------------------
# Max unpooling (SPEC §4.6)


def unpool_output_size(spatial: Sequence[int], kernel_size: Any, stride: Any = None,
                       padding: Any = 0, output_size: Any = None) -> tuple[int, ...]:
    """Spatial size of :func:`max_unpool`'s output.

    Default per axis ``(I-1)*s - pad_begin - pad_end + k``.  A given
    ``output_size`` (spatial entries, or a full shape whose last ``rank``
    entries are taken) must lie strictly within ``default ± s`` per axis.
    """
    rank = len(spatial)
    k = _per_axis(kernel_size, rank, "kernel_size", 1)
    s = k if stride is None else _per_axis(stride, rank, "stride", 1)
    if isinstance(padding, str) and padding.lower() != "valid":
        raise ValueError(f"unpooling padding must be an int, a tuple or 'valid', got {padding!r}")
    pb, pe = resolve_padding(padding, spatial, k, s, (1,) * rank)
    default = tuple((I - 1) * si - b - e + ki
                    for I, si, b, e, ki in zip(spatial, s, pb, pe, k))
    if output_size is None:
        size = default
    else:
        items = [_int(v, "output_size") for v in output_size]
        if len(items) < rank:
            raise ValueError(f"output_size must have at least {rank} entries, "
                             f"got {output_size!r}")
        size = tuple(items[-rank:])
        for o, dflt, si in zip(size, default, s):
            if not dflt - si < o < dflt + si:
                raise ValueError(f"output_size {size} must lie strictly within "
                                 f"{default} ± {s}")
    if min(size) < 1:
        raise ValueError(f"output size would be {size}")
    return size


def max_unpool(x: Any, indices: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               output_size: Any = None, *, rank: int | None = None) -> np.ndarray:
    """Max unpooling: zeros, then ``y[n, c].flat[indices] = x``.

    Every index is checked first (``IndexError`` naming the first one, in C
    order, outside ``[-1, plane)``); -1 is skipped; when an index repeats
    within a plane the value written last in C order is kept.
    """
    a = _float_array(x, "x")
    r = _rank(kernel_size, rank, a.ndim)
    idx = _int_indices(indices, a.shape, "indices")
    a, batched = _batched(a, r, "x")
    idx = idx.reshape(a.shape)
    size = unpool_output_size(a.shape[2:], kernel_size, stride, padding, output_size)
    plane = math.prod(size)
    _check_indices(idx if batched else idx[0], plane, "indices")

    NC = a.shape[0] * a.shape[1]
    rows = np.broadcast_to(np.arange(NC)[:, np.newaxis], (NC, idx[0, 0].size))
    keys = (rows * plane + idx.reshape(NC, -1)).ravel()
    vals = a.reshape(NC, -1).ravel()
    keep = idx.reshape(NC, -1).ravel() >= 0
    keys, vals = keys[keep], vals[keep]
    # The last write of each key: its first occurrence in the reversed sequence.
    unique, first_reversed = np.unique(keys[::-1], return_index=True)
    y = np.zeros(NC * plane, dtype=a.dtype)
    y[unique] = vals[::-1][first_reversed]
    y = y.reshape(a.shape[:2] + size)
    return np.ascontiguousarray(y if batched else y[0])


def max_unpool_backward(grad_output: Any, indices: Any, kernel_size: Any, stride: Any = None,
                        padding: Any = 0, output_size: Any = None, *,
                        rank: int | None = None) -> np.ndarray:
    """Gradient of :func:`max_unpool`, a gather: ``dx = dy[n, c].flat[indices]``,
    0 where the index is -1."""
    dy = _float_array(grad_output, "grad_output")
    idx = np.asarray(indices)
    r = _rank(kernel_size, rank, idx.ndim)
    idx = _int_indices(idx, idx.shape, "indices")
    idx, batched = _batched(idx, r, "indices")
    size = unpool_output_size(idx.shape[2:], kernel_size, stride, padding, output_size)
    dy = dy if batched else dy[np.newaxis]
    if dy.shape != idx.shape[:2] + size:
        raise ValueError(f"grad_output has shape {dy.shape}, expected {idx.shape[:2] + size}")
    _check_indices(idx if batched else idx[0], math.prod(size), "indices")
    NC = idx.shape[0] * idx.shape[1]
    flat = idx.reshape(NC, -1)
    planes = dy.reshape(NC, -1)
    dx = np.take_along_axis(planes, np.maximum(flat, 0), axis=1)
    dx = np.where(flat >= 0, dx, 0).astype(dy.dtype).reshape(idx.shape)
    return np.ascontiguousarray(dx if batched else dx[0])


# --------------------------------------------------------------------------
# Fractional max pooling (SPEC §4.7)


def fractional_output_size(spatial: Sequence[int], kernel_size: Any, output_size: Any = None,
                           output_ratio: Any = None) -> tuple[int, ...]:
    """``output_size`` per axis, or ``int(I * ratio)``; each needs ``O + k - 1 <= I``."""
    rank = len(spatial)
    k = _per_axis(kernel_size, rank, "kernel_size", 1)
    if (output_size is None) == (output_ratio is None):
        raise ValueError("give exactly one of output_size and output_ratio")
    if output_size is not None:
        out = _per_axis(output_size, rank, "output_size", 1)
    else:
        ratios = list(output_ratio) if _is_seq(output_ratio) else [output_ratio]
        if len(ratios) == 1:
            ratios = ratios * rank
        if len(ratios) != rank or not all(0 < float(q) < 1 for q in ratios):
            raise ValueError(f"output_ratio must be in (0, 1) per axis, got {output_ratio!r}")
        out = tuple(int(I * float(q)) for I, q in zip(spatial, ratios))
        if min(out) < 1:
            raise ValueError(f"output_ratio {output_ratio!r} gives output size {out}")
    for I, ki, O in zip(spatial, k, out):
        if O + ki - 1 > I:
            raise ValueError(f"output size {out} with kernel {k} needs input >= O + k - 1, "
                             f"got {tuple(spatial)}")
    return out


def fractional_starts(in_size: int, out_size: int, kernel: int, sample: float,
                      dtype: Any = np.float64) -> np.ndarray:
    """Window starts along one axis (PyTorch's ``generate_intervals``).

    In ``dtype`` arithmetic: ``alpha = (I-k)/(O-1)``,
    ``start[i] = int((i + u)*alpha) - int(u*alpha)`` for ``i < O-1`` and
    ``start[O-1] = I - k``.
    """
    T = np.dtype(dtype).type
    starts = np.zeros(out_size, dtype=np.int64)
    if out_size > 1:
        alpha = T(in_size - kernel) / T(out_size - 1)
        u = T(sample)
        for i in range(out_size - 1):
            starts[i] = int(T((T(i) + u) * alpha)) - int(T(u * alpha))
    starts[out_size - 1] = in_size - kernel
    return starts


def fractional_max_pool(x: Any, kernel_size: Any, output_size: Any = None,
                        output_ratio: Any = None, *, samples: Any,
                        nan_policy: str = "propagate",
                        rank: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fractional max pooling with the given samples (PyTorch semantics).

    ``samples`` is ``(N, C, rank)`` (``(C, rank)`` also for unbatched input) in
    PyTorch's ``_random_samples`` order: ``(W, H)`` for 2-D, ``(D, H, W)`` for
    3-D.  Windows ``[start, start + k)`` from :func:`fractional_starts` in
    ``x``'s dtype; :func:`max_pool`'s selection rule.  Returns ``(y, indices)``.
    """
    _check_nan_policy(nan_policy)
    a = _float_array(x, "x")
    r = _rank(kernel_size, rank, a.ndim)
    if r == 1:
        raise ValueError("fractional max pooling is 2-D or 3-D")
    a, batched = _batched(a, r, "x")
    N, C = a.shape[:2]
    k = _per_axis(kernel_size, r, "kernel_size", 1)
    out = fractional_output_size(a.shape[2:], k, output_size, output_ratio)
    u = np.asarray(samples, dtype=np.float64)
    if u.shape == (C, r) and not batched:
        u = u[np.newaxis]
    if u.shape != (N, C, r):
        raise ValueError(f"samples must have shape {(N, C, r)}, got {u.shape}")
    # PyTorch's order to the logical (D, H, W) order of the axes.
    u = u[..., ::-1] if r == 2 else u
    tables = []
    for i in range(r):
        t = np.zeros((N, C, out[i], k[i]), dtype=np.int64)
        for n in range(N):
            for c in range(C):
                st = fractional_starts(a.shape[2 + i], out[i], k[i], u[n, c, i], a.dtype)
                t[n, c] = st[:, np.newaxis] + np.arange(k[i])
        tables.append(t)
    vals, where = _gather(a, tables)
    y, idx = _select_max(vals, where, nan_policy)
    if not batched:
        y, idx = y[0], idx[0]
    return np.ascontiguousarray(y), np.ascontiguousarray(idx)


def fractional_max_pool_backward(grad_output: Any, indices: Any, input_shape: Sequence[int], *,
                                 rank: int | None = None) -> np.ndarray:
    """Gradient of :func:`fractional_max_pool`: that of :func:`max_pool_backward`."""
    return max_pool_backward(grad_output, indices, input_shape, rank=rank)


# --------------------------------------------------------------------------
# Index conventions (SPEC §4.6)


def convert_indices(indices: Any, input_shape: Sequence[int], source: str = "torch",
                    target: str = "onnx", storage_order: int = 0, *,
                    include_batch: bool = False) -> np.ndarray:
    """Max-pooling indices from one framework's convention to another's.

    ``indices`` is ``(N, C, *out)`` and ``input_shape`` ``(N, C, *spatial)``
    (logical order).  Conventions, for the cell at ``(n, c, *coords)``:

    - ``"torch"``: ``ravel(coords, spatial)`` (row-major within the plane);
    - ``"onnx"``: ``(n*C + c)*P + ravel(coords, spatial, order)`` with order
      ``"C"`` for ``storage_order=0`` and ``"F"`` (first spatial axis fastest)
      for ``storage_order=1``;
    - ``"tf"``: ``ravel((*coords, c), (*spatial, C))``, or with
      ``include_batch`` ``ravel((n, *coords, c), (N, *spatial, C))``.

    -1 stays -1.  Returns int64.
    """
    for name in (source, target):
        if name not in ("torch", "onnx", "tf"):
            raise ValueError(f"unknown index convention {name!r}")
    if storage_order not in (0, 1):
        raise ValueError(f"storage_order must be 0 or 1, got {storage_order!r}")
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"indices must be integers, got {idx.dtype}")
    idx = idx.astype(np.int64)
    shape = tuple(int(v) for v in input_shape)
    N, C, spatial = shape[0], shape[1], shape[2:]
    P = math.prod(spatial)
    order = "F" if storage_order == 1 else "C"
    n = np.broadcast_to(np.arange(N).reshape((N, 1) + (1,) * (idx.ndim - 2)), idx.shape)
    c = np.broadcast_to(np.arange(C).reshape((1, C) + (1,) * (idx.ndim - 2)), idx.shape)
    live = idx >= 0
    v = np.where(live, idx, 0)

    if source == "torch":
        coords = np.unravel_index(v, spatial)
    elif source == "onnx":
        coords = np.unravel_index(v % P, spatial, order=order)
    elif include_batch:
        coords = np.unravel_index(v, (N,) + spatial + (C,))[1:-1]
    else:
        coords = np.unravel_index(v, spatial + (C,))[:-1]

    if target == "torch":
        res = np.ravel_multi_index(coords, spatial)
    elif target == "onnx":
        res = (n * C + c) * P + np.ravel_multi_index(coords, spatial, order=order)
    elif include_batch:
        res = np.ravel_multi_index((n,) + tuple(coords) + (c,), (N,) + spatial + (C,))
    else:
        res = np.ravel_multi_index(tuple(coords) + (c,), spatial + (C,))
    return np.ascontiguousarray(np.where(live, res, -1).astype(np.int64))


# ---- special poolings: stochastic, median, mixed ----
# SPEC §4.8 (stochastic), §4.9 (median), §4.10 (mixed max-average).

__all__ += [
    "median_pool",
    "median_pool_backward",
    "mixed_pool",
    "mixed_pool_backward",
    "splitmix64",
    "stochastic_pool",
    "stochastic_pool_backward",
    "stochastic_uniforms",
]

_SPECIAL_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def _special_float(x: Any, what: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype not in _SPECIAL_FLOATS:
        raise TypeError(f"{what} must be float16, float32 or float64, got {a.dtype}")
    return a


def splitmix64(z: Any) -> np.ndarray:
    """SplitMix64's output function ``F`` on uint64 (arithmetic mod 2**64)::

        z += 0x9E3779B97F4A7C15
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB
        return z ^ (z >> 31)
    """
    z = np.array(z, dtype=np.uint64, ndmin=1)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def stochastic_uniforms(seed: int, n: int, c: int, out: Sequence[int]) -> np.ndarray:
    """The uniform numbers of stochastic pooling, shape ``(n, c, *out)``.

    For sample ``i``, channel ``j`` and flat output index ``o`` (row-major over
    ``out``): ``h = F(F(F(F(seed) ^ i) ^ j) ^ o)`` with ``F`` = :func:`splitmix64`,
    and ``u = ((h >> 12) + 0.5) / 2**52``, in ``(0, 1)``.
    """
    if not 0 <= int(seed) < 1 << 64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    key = splitmix64(int(seed))[0]
    ns = np.arange(n, dtype=np.uint64)[:, np.newaxis]
    cs = np.arange(c, dtype=np.uint64)[np.newaxis, :]
    plane = splitmix64(splitmix64(key ^ ns) ^ cs)
    o = np.arange(math.prod(out), dtype=np.uint64)
    h = splitmix64(plane[..., np.newaxis] ^ o).reshape(n, c, -1)
    u = ((h >> np.uint64(12)).astype(np.float64) + 0.5) / 2.0 ** 52
    return u.reshape((n, c) + tuple(out))


def _stochastic_input(x: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
                      ceil_mode: bool, rank: int | None):
    a = _special_float(x, "x")
    if not np.all(np.isfinite(a) & (a >= 0)):
        raise ValueError("x must be finite and >= 0")
    r = _rank(kernel_size, rank, a.ndim)
    a, batched = _batched(a, r, "x")
    g = Geometry(a.shape[2:], kernel_size, stride, padding, dilation, ceil_mode)
    where = np.broadcast_to(_plane_indices(g), a.shape[:2] + g.out + (g.taps,))
    vals = np.where(where >= 0, _windows(a.astype(np.float64), g, 0.0), 0.0)
    return a, batched, g, vals, where


def stochastic_pool(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
                    dilation: Any = 1, ceil_mode: bool = False, *, training: bool = True,
                    seed: int = 0, rank: int | None = None):
    """Stochastic pooling (Zeiler & Fergus 2013) of non-negative, finite ``x``.

    Training: in each window, the running sums ``P`` of its valid cells (float64,
    row-major tap order) and the window's uniform ``u`` (:func:`stochastic_uniforms`)
    pick the first valid cell with ``P >= u * P[-1]``; an all-zero window picks its
    first valid cell, one wholly in padding gives 0 and index -1.  Returns
    ``(y, indices)``, ``y`` the picked values in x's dtype.

    Inference (``training=False``): ``sum(a**2) / sum(a)`` per window (0 where
    the sum is 0), in float64, returned in x's dtype.
    """
    a, batched, g, vals, where = _stochastic_input(x, kernel_size, stride, padding, dilation,
                                                   ceil_mode, rank)
    valid = where >= 0
    if not training:
        s1 = vals.sum(axis=-1)
        s2 = (vals * vals).sum(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.where(s1 > 0, s2 / np.where(s1 > 0, s1, 1.0), 0.0).astype(a.dtype)
        return np.ascontiguousarray(y if batched else y[0])
    u = stochastic_uniforms(seed, a.shape[0], a.shape[1], g.out)
    run = np.cumsum(vals, axis=-1)  # np.add.accumulate: one addition after another
    hit = valid & (run >= (u * run[..., -1])[..., np.newaxis])
    t = np.argmax(hit, axis=-1)[..., np.newaxis]
    has = valid.any(axis=-1)
    y = np.where(has, np.take_along_axis(vals, t, axis=-1)[..., 0], 0.0).astype(a.dtype)
    idx = np.where(has, np.take_along_axis(where, t, axis=-1)[..., 0], -1).astype(np.int64)
    if not batched:
        y, idx = y[0], idx[0]
    return np.ascontiguousarray(y), np.ascontiguousarray(idx)


def stochastic_pool_backward(grad_output: Any, x: Any, kernel_size: Any, stride: Any = None,
                             padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False, *,
                             rank: int | None = None) -> np.ndarray:
    """Gradient of inference-mode :func:`stochastic_pool` (training mode's is
    :func:`max_pool_backward` of its indices): ``dy * (2 a_j S1 - S2) / S1**2``
    summed over the windows holding cell ``j``, 0 from windows with ``S1 = 0``.
    Summed in float64, returned in grad_output's dtype."""
    dy = _special_float(grad_output, "grad_output")
    a, batched, g, vals, where = _stochastic_input(x, kernel_size, stride, padding, dilation,
                                                   ceil_mode, rank)
    dy, _ = _batched(dy, g.rank, "grad_output")
    if dy.shape != a.shape[:2] + g.out:
        raise ValueError(f"grad_output has shape {dy.shape}, expected {a.shape[:2] + g.out}")
    s1 = vals.sum(axis=-1)[..., np.newaxis]
    s2 = (vals * vals).sum(axis=-1)[..., np.newaxis]
    live = (where >= 0) & (s1 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = dy.astype(np.float64)[..., np.newaxis] * (2 * vals * s1 - s2) / s1 ** 2
    dx = _scatter(np.where(live, terms, 0.0), where, a.shape).astype(dy.dtype)
    return np.ascontiguousarray(dx if batched else dx[0])


_MEDIAN_EVEN = ("lower", "upper", "mean")


def _mean_of_two(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``(lo + hi) / 2`` in float64, ``lo/2 + hi/2`` where the sum alone overflows."""
    a, b = lo.astype(np.float64), hi.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        s = a + b
        return np.where(np.isinf(s) & np.isfinite(a) & np.isfinite(b), 0.5 * a + 0.5 * b,
                        0.5 * s)


def median_pool(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
                dilation: Any = 1, ceil_mode: bool = False, even: str = "lower", *,
                rank: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Median pooling over the valid cells of each window; returns ``(y, indices)``.

    With ``m`` valid cells, ``lo``/``hi`` are the ``(m-1)//2``-th / ``m//2``-th
    smallest; ``even`` picks ``lo`` ("lower"), ``hi`` ("upper") or their mean
    ("mean", :func:`_mean_of_two`, in x's dtype for floating x and float64 for
    integers).  The index of a selected value is that of the first valid cell
    (row-major) equal to it, and the value is that cell's.  Any NaN: NaN and the
    first NaN's index.  No valid cell: NaN (integers: the type's minimum; "mean":
    NaN) and index -1.  ``indices`` has one entry per output, or for "mean" a
    trailing axis of 2 holding the lo and hi cells.
    """
    if even not in _MEDIAN_EVEN:
        raise ValueError(f"even must be one of {_MEDIAN_EVEN}, got {even!r}")
    a = np.asarray(x)
    r = _rank(kernel_size, rank, a.ndim)
    a, batched = _batched(a, r, "x")
    g = Geometry(a.shape[2:], kernel_size, stride, padding, dilation, ceil_mode)
    where = np.broadcast_to(_plane_indices(g), a.shape[:2] + g.out + (g.taps,))
    valid = where >= 0
    vals = _windows(a, g, 0)
    nan = valid & np.isnan(vals) if a.dtype.kind == "f" else np.zeros(vals.shape, bool)
    has_nan = nan.any(axis=-1)
    m = valid.sum(axis=-1)
    # valid cells first, each window's in ascending order
    order = np.lexsort((vals, ~valid), axis=-1)
    ranked = np.take_along_axis(vals, order, axis=-1)

    def first_cell(k):
        v = np.take_along_axis(ranked, np.maximum(k, 0)[..., np.newaxis], axis=-1)
        t = np.argmax(valid & (vals == v), axis=-1)
        t = np.where(has_nan, np.argmax(nan, axis=-1), t)[..., np.newaxis]
        return (np.take_along_axis(vals, t, axis=-1)[..., 0],
                np.where(m > 0, np.take_along_axis(where, t, axis=-1)[..., 0], -1))

    lo, ilo = first_cell((m - 1) // 2)
    hi, ihi = first_cell(m // 2)
    empty = m == 0
    if even == "mean":
        y = _mean_of_two(lo, hi)
        y = np.where(empty, np.nan, y).astype(a.dtype if a.dtype.kind == "f" else np.float64)
        idx = np.stack([ilo, ihi], axis=-1)
    else:
        y, idx = (lo, ilo) if even == "lower" else (hi, ihi)
        fill = np.nan if a.dtype.kind == "f" else np.iinfo(a.dtype).min
        y = np.where(empty, np.array(fill, dtype=a.dtype), y).astype(a.dtype)
    idx = idx.astype(np.int64)
    if not batched:
        y, idx = y[0], idx[0]
    return np.ascontiguousarray(y), np.ascontiguousarray(idx)


def median_pool_backward(grad_output: Any, x: Any, kernel_size: Any, stride: Any = None,
                         padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False,
                         even: str = "lower", *, rank: int | None = None) -> np.ndarray:
    """Gradient of :func:`median_pool` from its input: ``dy`` to the selected cell
    ("lower"/"upper"; the same as :func:`max_pool_backward` of the indices), or
    ``dy / 2`` to each of the lo and hi cells ("mean"; all of ``dy`` when they are
    one cell).  Summed in float64, returned in grad_output's dtype."""
    dy = _special_float(grad_output, "grad_output")
    a = _special_float(x, "x")
    _, idx = median_pool(a, kernel_size, stride, padding, dilation, ceil_mode, even, rank=rank)
    r = _rank(kernel_size, rank, a.ndim)
    dyb, batched = _batched(dy, r, "grad_output")
    ab, _ = _batched(a, r, "x")
    idx = idx if batched else idx[np.newaxis]
    if dyb.shape != idx.shape[:dyb.ndim]:
        raise ValueError(f"grad_output has shape {dy.shape}, expected {idx.shape[:dyb.ndim]}")
    g64 = dyb.astype(np.float64)
    if even == "mean":
        same = idx[..., 0] == idx[..., 1]
        values = np.stack([np.where(same, g64, g64 / 2), np.where(same, 0.0, g64 / 2)], -1)
    else:
        values, idx = g64[..., np.newaxis], idx[..., np.newaxis]
    dx = _scatter(values, idx, ab.shape).astype(dy.dtype)
    return np.ascontiguousarray(dx if batched else dx[0])


def _mixed_parts(x, kernel_size, stride, padding, dilation, ceil_mode, count_include_pad,
                 rank):
    """(a batched, batched, max and average in x's dtype, max indices, any-valid mask)."""
    a = _special_float(x, "x")
    r = _rank(kernel_size, rank, a.ndim)
    a, batched = _batched(a, r, "x")
    a64 = a.astype(np.float64)
    mx, idx = max_pool(a64, kernel_size, stride, padding, dilation, ceil_mode, rank=r)
    av = avg_pool(a64, kernel_size, stride, padding, ceil_mode, count_include_pad,
                  dilation=dilation, rank=r)
    g = Geometry(a.shape[2:], kernel_size, stride, padding, dilation, ceil_mode)
    live = (_plane_indices(g) >= 0).any(axis=-1)
    return a, batched, mx.astype(a.dtype), av.astype(a.dtype), idx, live, g


def _alpha_column(alpha: Any, ndim: int) -> np.ndarray:
    al = np.asarray(alpha, dtype=np.float64)
    if al.ndim > 1:
        raise ValueError(f"alpha must be a number or one per channel, got shape {al.shape}")
    return al.reshape((1, -1) + (1,) * (ndim - 2)) if al.ndim == 1 else al


def mixed_pool(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, *, alpha: Any = 0.5,
               mode: str = "blend", order: Sequence[str] = ("avg", "max"),
               count_include_pad: bool = True, rank: int | None = None) -> np.ndarray:
    """Mixed max-average pooling (Lee et al. 2016) from :func:`max_pool` and
    :func:`avg_pool`, each rounded to x's dtype.

    ``mode="blend"``: ``alpha*max + (1 - alpha)*avg`` in float64 (``alpha`` a
    number or one per channel), rounded to x's dtype.  ``mode="concat"``: the two
    along the channels, in ``order`` (default ``("avg", "max")``).
    """
    a, batched, mx, av, _, _, _ = _mixed_parts(x, kernel_size, stride, padding, dilation,
                                               ceil_mode, count_include_pad, rank)
    if mode == "blend":
        al = _alpha_column(alpha, a.ndim)
        with np.errstate(invalid="ignore", over="ignore"):
            y = (al * mx.astype(np.float64) + (1 - al) * av.astype(np.float64)).astype(a.dtype)
    elif mode == "concat":
        parts = {"avg": av, "max": mx}
        y = np.concatenate([parts[order[0]], parts[order[1]]], axis=1)
    else:
        raise ValueError(f"mode must be 'blend' or 'concat', got {mode!r}")
    return np.ascontiguousarray(y if batched else y[0])


def mixed_pool_backward(grad_output: Any, x: Any, kernel_size: Any, stride: Any = None,
                        padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False, *,
                        alpha: Any = 0.5, mode: str = "blend",
                        order: Sequence[str] = ("avg", "max"), count_include_pad: bool = True,
                        rank: int | None = None):
    """Gradient of :func:`mixed_pool`: the max part through :func:`max_pool_backward`,
    the average part through :func:`avg_pool_backward`.  For the blend also
    ``dalpha = sum(dy * (max - avg))`` over the batch and the windows that hold an
    input cell, of alpha's shape; returns ``(dx, dalpha)`` then, else ``dx``.
    Summed in float64, returned in grad_output's dtype."""
    dy = _special_float(grad_output, "grad_output")
    a, batched, mx, av, idx, live, g = _mixed_parts(x, kernel_size, stride, padding, dilation,
                                                    ceil_mode, count_include_pad, rank)
    dy, _ = _batched(dy, g.rank, "grad_output")
    d64 = dy.astype(np.float64)
    geo = {"kernel_size": kernel_size, "stride": stride, "padding": padding,
           "ceil_mode": ceil_mode, "count_include_pad": count_include_pad,
           "dilation": dilation, "rank": g.rank}
    c = a.shape[1]
    if mode == "blend":
        al = _alpha_column(alpha, a.ndim)
        gmax, gavg = al * d64, (1 - al) * d64
    else:
        first, second = d64[:, :c], d64[:, c:]
        gmax, gavg = (second, first) if tuple(order) == ("avg", "max") else (first, second)
    dx = max_pool_backward(gmax, idx, a.shape, rank=g.rank) + \
        avg_pool_backward(gavg, a.shape, **geo)
    dx = dx.astype(dy.dtype)
    dx = np.ascontiguousarray(dx if batched else dx[0])
    if mode != "blend":
        return dx
    with np.errstate(invalid="ignore"):
        terms = np.where(live, d64 * (mx.astype(np.float64) - av.astype(np.float64)), 0.0)
    per_channel = terms.sum(axis=tuple(i for i in range(terms.ndim) if i != 1))
    shape = np.shape(alpha)
    dalpha = per_channel if shape == (c,) else np.asarray(per_channel.sum()).reshape(shape)
    return dx, dalpha.astype(dy.dtype)

# ---- special poolings: spatial pyramid, YOLO-SPP ----
# SPEC §4.11.  Built on this module's own max / average / adaptive pooling:
# every level is a plain pooling whose windows the variant defines.

SPP_VARIANTS = ("adaptive", "sppnet", "caffe")


def spp_bins(in_size: int, level: int, variant: str = "adaptive"
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(start, end, pool)`` of the ``level`` bins along an axis of ``in_size`` cells.

    Bin ``o`` covers ``[start[o], end[o])``; ``pool[o]`` is its factor of the
    average's divisor.

    - ``adaptive``: :func:`adaptive_windows`; ``pool`` is the cell count.
    - ``sppnet``: window ``k = ceil(a/l)``, stride ``s = floor(a/l)`` (He et
      al. 2014), ``start = o*s``: the first ``l`` windows of that sliding
      window.  ``a < l`` (stride 0) raises ``ValueError``.
    - ``caffe``: Caffe's SPPLayer: ``k = ceil(a/l)``, stride ``k``, pad
      ``p = (k*l - a + 1) // 2``, Caffe's ceil-mode output size (which is
      :func:`output_size` with ``ceil_mode``); ``p >= k`` (Caffe's
      ``CHECK_LT(pad, kernel)``) or a count other than ``l`` raises
      ``ValueError``.  ``pool`` is the window clipped to ``[-p, a + p)``.
    """
    a, l = _int(in_size, "in_size"), _int(level, "level")
    if variant not in SPP_VARIANTS:
        raise ValueError(f"variant must be one of {SPP_VARIANTS}, got {variant!r}")
    if a < 1 or l < 1:
        raise ValueError(f"in_size and level must be positive, got {a}, {l}")
    if variant == "adaptive":
        start, end = adaptive_windows(a, l)
        return start, end, end - start
    k = -(-a // l)
    o = np.arange(l, dtype=np.int64)
    if variant == "sppnet":
        s = a // l
        if s < 1:
            raise ValueError(f"sppnet: {a} cells cannot make {l} bins (stride floor(a/l) = 0)")
        return o * s, o * s + k, np.full(l, k, dtype=np.int64)
    pad = (k * l - a + 1) // 2
    if pad >= k or output_size(a, k, k, pad, pad, 1, True) != l:
        raise ValueError(f"caffe: {a} cells cannot make {l} bins (kernel {k}, pad {pad})")
    h0 = o * k - pad
    h1 = np.minimum(h0 + k, a + pad)
    return np.maximum(h0, 0), np.minimum(h1, a), h1 - h0


def _spp_args(x: Any, levels: Any, mode: str, variant: str, features: str):
    if mode not in ("max", "avg"):
        raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
    if variant not in SPP_VARIANTS:
        raise ValueError(f"variant must be one of {SPP_VARIANTS}, got {variant!r}")
    if features not in ("chw", "hwc"):
        raise ValueError(f"features must be 'chw' or 'hwc', got {features!r}")
    lv = tuple(_int(v, "levels") for v in (levels if _is_seq(levels) else (levels,)))
    if not lv or min(lv) < 1:
        raise ValueError(f"levels must be positive and not empty, got {levels!r}")
    a = np.asarray(x)
    if a.ndim not in (3, 4):
        raise ValueError(f"x must have 3 or 4 dimensions, got {a.shape}")
    return lv, a


def _level_pool(a: np.ndarray, l: int, mode: str, variant: str):
    """One level's ``(N, C, l, l)`` pooling of a float array (and max indices)."""
    H, W = a.shape[2:]
    for size in (H, W):
        spp_bins(size, l, variant)  # raises for sizes the variant cannot bin
    if variant == "adaptive":
        if mode == "max":
            return adaptive_max_pool(a, (l, l))
        return adaptive_avg_pool(a, (l, l)), None
    kh, kw = -(-H // l), -(-W // l)
    if variant == "sppnet":
        args = {"kernel_size": (kh, kw), "stride": (H // l, W // l)}
    else:
        args = {"kernel_size": (kh, kw), "stride": (kh, kw), "ceil_mode": True,
                "padding": ((kh * l - H + 1) // 2, (kw * l - W + 1) // 2)}
    if mode == "max":
        y, idx = max_pool(a, **args)
        return y[..., :l, :l], idx[..., :l, :l]  # sppnet: the first l windows
    y = avg_pool(a, count_include_pad=True, **args)
    return y[..., :l, :l], None


def _flatten_level(y: np.ndarray, features: str) -> np.ndarray:
    N = y.shape[0]
    return (y if features == "chw" else y.transpose(0, 2, 3, 1)).reshape(N, -1)


def spatial_pyramid_pool(x: Any, levels: Any = (1, 2, 4), mode: str = "max",
                         variant: str = "adaptive", *, features: str = "chw") -> np.ndarray:
    """Spatial pyramid pooling of ``(N, C, H, W)`` or ``(C, H, W)``: each level's
    ``l x l`` pooling over :func:`spp_bins`, flattened ``(C, l, l)`` (or
    ``(l, l, C)`` with ``features="hwc"``), levels concatenated in order.

    Max: :func:`max_pool`'s rule.  Average: the bin's sum over its cell count
    (``caffe``: over the window clipped to the padded axis).  Float inputs
    only (max: exact; average: float64 sums)."""
    lv, a = _spp_args(x, levels, mode, variant, features)
    a = _float_array(a, "x")
    a, batched = _batched(a, 2, "x")
    parts = [_flatten_level(_level_pool(a, l, mode, variant)[0], features) for l in lv]
    y = np.concatenate(parts, axis=1).astype(a.dtype)
    return np.ascontiguousarray(y if batched else y[0])


def spatial_pyramid_pool_backward(grad_output: Any, x: Any, levels: Any = (1, 2, 4),
                                  mode: str = "max", variant: str = "adaptive", *,
                                  features: str = "chw") -> np.ndarray:
    """Gradient of :func:`spatial_pyramid_pool`: the sum over the levels of each
    level's :func:`max_pool_backward` (indices of the forward) or average
    gradient (:func:`avg_pool_backward`, :func:`adaptive_avg_pool_backward`)."""
    lv, a = _spp_args(x, levels, mode, variant, features)
    a = _float_array(a, "x")
    dy = _float_array(grad_output, "grad_output")
    a, batched = _batched(a, 2, "x")
    dy = dy if batched else dy[np.newaxis]
    N, C, H, W = a.shape
    if dy.shape != (N, C * sum(l * l for l in lv)):
        raise ValueError(f"grad_output has shape {dy.shape}, expected "
                         f"{(N, C * sum(l * l for l in lv))}")
    dx = np.zeros(a.shape, dtype=np.float64)
    off = 0
    for l in lv:
        g = dy[:, off:off + C * l * l].astype(np.float64)
        off += C * l * l
        g = g.reshape(N, C, l, l) if features == "chw" else g.reshape(N, l, l, C).transpose(
            0, 3, 1, 2)
        g = np.ascontiguousarray(g)
        if mode == "max":
            _, idx = _level_pool(a, l, mode, variant)
            dx += max_pool_backward(g, idx, a.shape)
        elif variant == "adaptive":
            dx += adaptive_avg_pool_backward(g, a.shape)
        else:
            bins = [spp_bins(s, l, variant) for s in (H, W)]
            # each bin's share over its cells
            share = g / np.multiply.outer(bins[0][2], bins[1][2])
            for i in range(l):
                for j in range(l):
                    (h0, h1), (w0, w1) = ((b[0][o], b[1][o]) for b, o in zip(bins, (i, j)))
                    dx[:, :, h0:h1, w0:w1] += share[:, :, i, j, np.newaxis, np.newaxis]
    dx = dx.astype(a.dtype)
    return np.ascontiguousarray(dx if batched else dx[0])


YOLO_SPP_ORDERS = ("ultralytics", "darknet")


def _yolo_args(x: Any, kernel_sizes: Any, order: str):
    ks = tuple(_int(k, "kernel_sizes") for k in (kernel_sizes if _is_seq(kernel_sizes)
                                                 else (kernel_sizes,)))
    if not ks or any(k < 1 or k % 2 == 0 for k in ks):
        raise ValueError(f"kernel_sizes must be odd positive ints, got {kernel_sizes!r}")
    if order not in YOLO_SPP_ORDERS:
        raise ValueError(f"order must be one of {YOLO_SPP_ORDERS}, got {order!r}")
    a = _float_array(x, "x")
    a, batched = _batched(a, 2, "x")
    return ks, a, batched


def yolo_spp(x: Any, kernel_sizes: Any = (5, 9, 13), order: str = "ultralytics") -> np.ndarray:
    """``[x, p(k0), p(k1), ...]`` (ultralytics) or ``[..., p(k1), p(k0), x]``
    (darknet) along the channels, ``p(k)`` = :func:`max_pool` with kernel ``k``,
    stride 1, padding ``k // 2``."""
    ks, a, batched = _yolo_args(x, kernel_sizes, order)
    pools = [max_pool(a, k, 1, k // 2)[0] for k in ks]
    blocks = [a] + pools if order == "ultralytics" else pools[::-1] + [a]
    y = np.concatenate(blocks, axis=1)
    return np.ascontiguousarray(y if batched else y[0])


def yolo_spp_backward(grad_output: Any, x: Any, kernel_sizes: Any = (5, 9, 13),
                      order: str = "ultralytics") -> np.ndarray:
    """Gradient of :func:`yolo_spp`: the x block of ``grad_output`` plus each
    pool's :func:`max_pool_backward` with the forward's indices."""
    ks, a, batched = _yolo_args(x, kernel_sizes, order)
    dy = _float_array(grad_output, "grad_output")
    dy = dy if batched else dy[np.newaxis]
    C = a.shape[1]
    if dy.shape != (a.shape[0], C * (1 + len(ks))) + a.shape[2:]:
        raise ValueError(f"grad_output has shape {dy.shape}, which does not fit x {a.shape}")
    blocks = [dy[:, b * C:(b + 1) * C] for b in range(1 + len(ks))]
    if order == "darknet":
        blocks = blocks[-1:] + blocks[-2::-1]  # [x, p(k0), p(k1), ...]
    dx = blocks[0].astype(np.float64)
    for k, g in zip(ks, blocks[1:]):
        _, idx = max_pool(a, k, 1, k // 2)
        dx = dx + max_pool_backward(np.ascontiguousarray(g, dtype=np.float64), idx, a.shape)
    dx = dx.astype(a.dtype)
    return np.ascontiguousarray(dx if batched else dx[0])


# ---- special poolings: bilinear, NetVLAD ----
# Batched float64 inputs in the logical order (N, C, *spatial); the spatial
# axes are flattened into P positions.  Backward by the chain rule written
# out step by step; NetVLAD from the K x D x P residual tensor it is defined by.


def _positions(x: Any, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim < 3:
        raise ValueError(f"{what} must be (N, C, *spatial), got shape {a.shape}")
    return a.reshape(a.shape[0], a.shape[1], -1)


def _l2_normalize(v: np.ndarray, eps: float, axis: int) -> np.ndarray:
    """torch.nn.functional.normalize: v / max(||v||, eps)."""
    n = np.sqrt((v * v).sum(axis=axis, keepdims=True))
    return v / np.maximum(n, eps)


def _l2_normalize_backward(v: np.ndarray, g: np.ndarray, eps: float, axis: int) -> np.ndarray:
    """PyTorch's gradient of v / clamp_min(||v||, eps): the norm passes the
    gradient where ||v|| >= eps, the clamp blocks it below."""
    n = np.sqrt((v * v).sum(axis=axis, keepdims=True))
    den = np.maximum(n, eps)
    through = n >= eps
    # d(v/n) = g/n - v <v, g> / n^3
    proj = v * (v * g).sum(axis=axis, keepdims=True) / np.where(through, n, 1.0) ** 3
    return g / den - np.where(through, proj, 0.0)


def _signed_sqrt(b: np.ndarray) -> np.ndarray:
    return np.sign(b) * np.sqrt(np.abs(b))


def bilinear_pool(x: Any, y: Any = None, *, average: bool = True, signed_sqrt: bool = True,
                  l2_normalize: bool = True, eps: float = 1e-12) -> np.ndarray:
    """B = (1/P) sum_p x_p y_p^T per sample, signed square root, L2 norm -> (N, Cx*Cy)."""
    X = _positions(x, "x")
    Y = X if y is None else _positions(y, "y")
    P = X.shape[2]
    B = np.einsum("nip,njp->nij", X, Y)
    if average:
        B = B / P if P else np.zeros_like(B)
    B = B.reshape(B.shape[0], -1)
    if signed_sqrt:
        B = _signed_sqrt(B)
    if l2_normalize:
        B = _l2_normalize(B, eps, axis=1)
    return B


def bilinear_pool_backward(grad_output: Any, x: Any, y: Any = None, *, average: bool = True,
                           signed_sqrt: bool = True, l2_normalize: bool = True,
                           eps: float = 1e-12):
    """dx (y None: both factors are x), or (dx, dy).  The signed square root's
    derivative is taken as 1 / (2 sqrt(|B| + eps))."""
    xa = np.asarray(x, dtype=np.float64)
    X = _positions(x, "x")
    Y = X if y is None else _positions(y, "y")
    N, Cx, P = X.shape
    Cy = Y.shape[1]
    scale = (1.0 / P if P else 0.0) if average else 1.0
    u = np.einsum("nip,njp->nij", X, Y).reshape(N, -1) * scale
    s = _signed_sqrt(u) if signed_sqrt else u
    g = np.asarray(grad_output, dtype=np.float64).reshape(N, -1)
    ds = _l2_normalize_backward(s, g, eps, axis=1) if l2_normalize else g
    du = ds * 0.5 / np.sqrt(np.abs(u) + eps) if signed_sqrt else ds
    dB = (du * scale).reshape(N, Cx, Cy)
    # B_ij = sum_p X_ip Y_jp
    dX = np.einsum("nij,njp->nip", dB, Y)
    dY = np.einsum("nij,nip->njp", dB, X)
    if y is None:
        return (dX + dY).reshape(xa.shape)
    return dX.reshape(xa.shape), dY.reshape(np.asarray(y).shape)


def _softmax(logits: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _netvlad_parts(x, weight, bias, centroids, normalize_input, eps):
    X = _positions(x, "x")
    W = np.asarray(weight, dtype=np.float64)
    b = np.asarray(bias, dtype=np.float64)
    C = np.asarray(centroids, dtype=np.float64)
    Xn = _l2_normalize(X, eps, axis=1) if normalize_input else X
    L = np.einsum("kd,ndp->nkp", W, Xn) + b[None, :, None]
    A = _softmax(L, axis=1)
    R = Xn[:, None, :, :] - C[None, :, :, None]  # the (N, K, D, P) residuals
    V = np.einsum("nkp,nkdp->nkd", A, R)
    return X, W, C, Xn, A, R, V


def netvlad(x: Any, weight: Any, bias: Any, centroids: Any, *, normalize_input: bool = True,
            eps: float = 1e-12) -> np.ndarray:
    """NetVLAD as the standard PyTorch module defines it: soft assignment by a
    1x1 convolution and softmax, assignment-weighted residuals summed over the
    positions, intra-normalisation, flattening, global L2 -> (N, K*D)."""
    V = _netvlad_parts(x, weight, bias, centroids, normalize_input, eps)[-1]
    U = _l2_normalize(V, eps, axis=2)
    return _l2_normalize(U.reshape(U.shape[0], -1), eps, axis=1)


def netvlad_backward(grad_output: Any, x: Any, weight: Any, bias: Any, centroids: Any, *,
                     normalize_input: bool = True, eps: float = 1e-12):
    """(dx, dweight, dbias, dcentroids), the parameter gradients summed over
    the batch, through the residual tensor."""
    xa = np.asarray(x, dtype=np.float64)
    X, W, _, Xn, A, R, V = _netvlad_parts(x, weight, bias, centroids, normalize_input, eps)
    N, K, D = V.shape
    U = _l2_normalize(V, eps, axis=2)
    g = np.asarray(grad_output, dtype=np.float64).reshape(N, -1)
    dU = _l2_normalize_backward(U.reshape(N, -1), g, eps, axis=1).reshape(N, K, D)
    dV = _l2_normalize_backward(V, dU, eps, axis=2)
    # V_kd = sum_p A_kp R_kdp
    dA = np.einsum("nkd,nkdp->nkp", dV, R)
    dR = dV[:, :, :, None] * A[:, :, None, :]
    dXn = dR.sum(axis=1)
    dC = -dR.sum(axis=(0, 3))
    # A = softmax_k(L)
    dL = A * (dA - (A * dA).sum(axis=1, keepdims=True))
    dW = np.einsum("nkp,ndp->kd", dL, Xn)
    db = dL.sum(axis=(0, 2))
    dXn = dXn + np.einsum("kd,nkp->ndp", W, dL)
    dX = _l2_normalize_backward(X, dXn, eps, axis=1) if normalize_input else dXn
    return dX.reshape(xa.shape), dW, db, dC
