"""Spatial pyramid pooling and YOLO SPP, forward and backward (SPEC §4.11).

Argument handling here, on the shared layer ``fastpool._args``; the pooling runs
in the C core (``fp_spatial_pyramid_pool_*``, ``fp_yolo_spp_*``) with the GIL
released, each writing straight into its one output buffer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fastpool import _core
from fastpool._args import (
    _AVG_DTYPES,
    _GRAD_DTYPES,
    _MAX_DTYPES,
    _as_input,
    _as_int,
    _avg_out_dtype,
    _check_ndim,
    _flag,
    _logical,
    _no_overlap,
    _num_threads,
    _output,
    _user_shape,
)

__all__ = [
    "spatial_pyramid_pool",
    "spatial_pyramid_pool_backward",
    "yolo_spp",
    "yolo_spp_backward",
]

_MODES = {"max": _core.SPP_MAX, "avg": _core.SPP_AVG}
_VARIANTS = {"adaptive": _core.SPP_ADAPTIVE, "sppnet": _core.SPP_SPPNET,
             "caffe": _core.SPP_CAFFE}
_ORDERS = {"ultralytics": _core.YOLO_SPP_ULTRALYTICS, "darknet": _core.YOLO_SPP_DARKNET}
# Larger parameters are refused here rather than overflowing a C int64.
_MAX_PARAM = 2**62


# --------------------------------------------------------------------------
# Arguments


def _choice(name: str, arg: str, value: Any, table: dict) -> int:
    if isinstance(value, str) and value in table:
        return table[value]
    allowed = ", ".join(repr(k) for k in table)
    raise ValueError(f"{name}: {arg} must be one of {allowed}, got {value!r}")


def _sizes(name: str, arg: str, value: Any) -> tuple[int, ...]:
    """A positive int or a non-empty sequence of them."""
    if isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, str):
        if isinstance(value, np.ndarray) and value.ndim != 1:
            raise ValueError(f"{name}: {arg} must be an int or a sequence of ints, got "
                             f"an array of shape {value.shape}")
        items = tuple(_as_int(name, arg, v) for v in value)
        if not items:
            raise ValueError(f"{name}: {arg} must not be empty")
    else:
        items = (_as_int(name, arg, value),)
    if any(v < 1 for v in items):
        raise ValueError(f"{name}: {arg} must be positive, got {items}")
    if any(v > _MAX_PARAM for v in items):
        raise ValueError(f"{name}: {arg} must be at most 2**62, got {items}")
    return items


def _spp_args(name: str, levels: Any, mode: Any, variant: Any, channels_last: Any):
    lv = _sizes(name, "levels", levels)
    return (lv, _choice(name, "mode", mode, _MODES), _choice(name, "variant", variant, _VARIANTS),
            _flag(name, "channels_last", channels_last))


def _spp_geometry(name: str, logical: tuple[int, ...], levels: tuple[int, ...], mode: int,
                  variant: int, variant_name: str) -> int:
    """The feature count F, or the error that names the level and axis at fault."""
    if any(s < 1 for s in logical[2:]):
        raise ValueError(f"{name}: x must have non-empty spatial axes, got H, W = "
                         f"{logical[2:]}")
    status, shape = _core.spp_output_shape(levels, mode, variant, tuple(logical))
    if not status:
        return shape[1]
    if status == _core.STATUS_OUTPUT_SIZE:
        for level in levels:
            for axis, size in zip("HW", logical[2:]):
                st, *_ = _core.spp_window(variant, size, level)
                if not st:
                    continue
                if size < level:
                    why = ("the windows' stride floor(size/level) would be 0" if
                           variant == _core.SPP_SPPNET else
                           "Caffe's pad (kernel*level - size + 1)//2 would not be below its "
                           "kernel ceil(size/level)")
                else:
                    why = ("Caffe's pad (kernel*level - size + 1)//2 is not below its kernel "
                           "ceil(size/level), which Caffe's PoolingLayer rejects")
                raise ValueError(
                    f"{name}: variant={variant_name!r} cannot make {level} bins from the "
                    f"{size} cells of axis {axis}: {why}; variant='adaptive' takes any size"
                )
    raise ValueError(f"{name}: levels {levels} are too large for {logical[1]} channels "
                     f"(C * sum(l*l) must fit int64)")


# --------------------------------------------------------------------------
# Spatial pyramid pooling


def spatial_pyramid_pool(x, levels=(1, 2, 4), mode="max", variant="adaptive", *,
                         channels_last=False, out=None, num_threads=None) -> np.ndarray:
    """Spatial pyramid pooling (He et al. 2014) into one fixed-length feature vector.

    Each level ``l`` pools every ``(n, c)`` plane into ``l x l`` bins; the
    levels are flattened and concatenated, in the order given, straight into
    one output buffer (no per-level temporaries).

    Parameters
    ----------
    x : array_like
        ``(N, C, H, W)`` or unbatched ``(C, H, W)``; ``(N, H, W, C)`` with
        ``channels_last``.  Any strides.  Max mode: every dtype of
        :func:`max_pool2d`; average: floating types, or integers (float64 out).
    levels : int or sequence of int
        Bins per side of each level, e.g. ``(1, 2, 4)`` (21 bins per channel).
    mode : "max" or "avg"
    variant : "adaptive", "sppnet" or "caffe"
        How the ``l`` bins of an axis of ``a`` cells are laid out:

        - ``"adaptive"``: bin ``o`` is ``[floor(o*a/l), ceil((o+1)*a/l))``
          (PyTorch's adaptive pooling, :func:`adaptive_windows`).  Any ``a >= 1``,
          also ``a < l`` (bins then repeat cells).
        - ``"sppnet"``: the paper's sliding window, size ``ceil(a/l)`` and
          stride ``floor(a/l)``, no padding.  A plain pooling with that kernel
          and stride gives ``l`` windows when ``a % l <= a // l`` (every
          ``a >= l*(l-1)``, e.g. every level up to 6 of a 13 x 13 map) and more
          otherwise (``a=7, l=4``: 6 windows); fastpool keeps the first ``l``,
          so the last ``a % l - 1`` cells of such an axis are not pooled at that
          level.  Needs ``a >= l``.
        - ``"caffe"``: Caffe's ``SPPLayer``: kernel and stride ``ceil(a/l)``,
          padding ``(kernel*l - a + 1) // 2`` at both ends, Caffe's ceil-mode
          output size.  That is ``l`` bins exactly when the padding is below the
          kernel, which Caffe's ``PoolingLayer`` requires too; other sizes
          (``a < l``, or ``a=13, l=6``) raise ``ValueError``.

        Average pooling divides by the bin's cell count, except ``"caffe"``,
        which divides by the window clipped to the padded axis (Caffe's AVE,
        ``count_include_pad``).  Max pooling follows :func:`max_pool2d` (first
        maximum, NaN propagates) in every variant; Caffe itself skips NaN.
    channels_last : bool
        ``x`` is ``(N, H, W, C)``; each level is then flattened ``(l, l, C)``,
        as Keras' ``Flatten`` of a channels-last level (pass a transposed view
        with ``channels_last=False`` for the ``(C, l, l)`` order: no copy).
    out : ndarray, optional
        ``(N, F)`` (``(F,)`` unbatched) buffer to write into,
        ``F = C * sum(l*l)``.
    num_threads : int, optional
        Threads for this call; ``None`` uses OpenMP's current default.

    Returns
    -------
    ndarray of shape ``(N, C * sum(l*l))``, or ``(C * sum(l*l),)`` unbatched
        Level ``L`` occupies features ``[C*sum(l_i^2, i < L), ...)`` flattened
        ``(C, l, l)`` row-major (``(l, l, C)`` with ``channels_last``).
    """
    name = "spatial_pyramid_pool"
    lv, m, v, cl = _spp_args(name, levels, mode, variant, channels_last)
    a = _as_input(name, "x", x, _MAX_DTYPES if m == _core.SPP_MAX else _AVG_DTYPES)
    batched = _check_ndim(name, "x", a, 2)
    xl = _logical(a, batched, cl)
    n_features = _spp_geometry(name, xl.shape, lv, m, v, variant)
    nt = _num_threads(name, num_threads)
    ydt = a.dtype if m == _core.SPP_MAX else _avg_out_dtype(name, a.dtype, None)
    _no_overlap(name, "out", out, a)
    y, yl = _feature_output(name, out, xl.shape[0], n_features, ydt, batched, lv)
    features = _core.SPP_FEATURES_HWC if cl else _core.SPP_FEATURES_CHW
    _core.spatial_pyramid_pool_forward(name, xl, yl, lv, m, v, features, nt)
    return y


def spatial_pyramid_pool_backward(grad_output, x, levels=(1, 2, 4), mode="max",
                                  variant="adaptive", *, channels_last=False, out=None,
                                  num_threads=None) -> np.ndarray:
    """Gradient of :func:`spatial_pyramid_pool` with respect to ``x``.

    Parameters
    ----------
    grad_output : array_like, floating
        ``(N, F)`` (``(F,)`` unbatched), of ``x``'s dtype.
    x : array_like, floating
        The forward input (max mode finds each bin's maximum in it again;
        average mode uses only its shape).
    levels, mode, variant, channels_last
        The forward call's arguments.
    out, num_threads
        As for :func:`spatial_pyramid_pool`; ``out`` has ``x``'s shape.

    Returns
    -------
    ndarray
        ``dx``: max mode adds each bin's gradient to its first maximum (or
        last NaN) in ``x``, average mode spreads it over the bin's cells
        divided as in the forward; the levels' gradients are summed.
        Deterministic for any thread count.
    """
    name = "spatial_pyramid_pool_backward"
    lv, m, v, cl = _spp_args(name, levels, mode, variant, channels_last)
    a = _as_input(name, "x", x, _GRAD_DTYPES)
    batched = _check_ndim(name, "x", a, 2)
    xl = _logical(a, batched, cl)
    n_features = _spp_geometry(name, xl.shape, lv, m, v, variant)
    g = _as_input(name, "grad_output", grad_output, _GRAD_DTYPES)
    expected = (xl.shape[0], n_features) if batched else (n_features,)
    if g.shape != expected:
        raise ValueError(f"{name}: grad_output has shape {g.shape}, expected {expected} for "
                         f"x of shape {a.shape} and levels {lv}")
    if g.dtype != a.dtype:
        raise TypeError(f"{name}: grad_output has dtype {g.dtype}, expected x's dtype {a.dtype}")
    nt = _num_threads(name, num_threads)
    _no_overlap(name, "out", out, a, g)
    dx, dxl = _output(name, "out", out, xl.shape, a.dtype, batched, cl)
    gl = g if batched else g[np.newaxis]
    features = _core.SPP_FEATURES_HWC if cl else _core.SPP_FEATURES_CHW
    _core.spatial_pyramid_pool_backward(name, gl, xl if m == _core.SPP_MAX else None, dxl, lv,
                                        m, v, features, nt)
    return dx


def _feature_output(name, out, n, n_features, dtype, batched, levels):
    """(result, (N, F) view) for a feature output."""
    try:
        return _output(name, "out", out, (n, n_features), dtype, batched, False)
    except (MemoryError, ValueError) as exc:
        if out is None:
            raise type(exc)(f"{name}: levels {levels} give {n_features} features per sample, "
                            "more than can be allocated") from None
        raise


# --------------------------------------------------------------------------
# YOLO SPP


def _yolo_args(name: str, kernel_sizes: Any, order: Any, channels_last: Any):
    ks = _sizes(name, "kernel_sizes", kernel_sizes)
    if len(ks) > _core.YOLO_SPP_MAX_KERNELS:
        raise ValueError(f"{name}: kernel_sizes may have at most {_core.YOLO_SPP_MAX_KERNELS} "
                         f"entries, got {len(ks)}")
    even = [k for k in ks if k % 2 == 0]
    if even:
        raise ValueError(f"{name}: kernel_sizes must be odd (stride-1 pooling with padding "
                         f"k//2 keeps H x W only for odd k), got {ks}")
    return ks, _choice(name, "order", order, _ORDERS), _flag(name, "channels_last",
                                                             channels_last)


def _yolo_shape(xl_shape, ks):
    n, c, h, w = xl_shape
    return (n, c * (1 + len(ks)), h, w)


def yolo_spp(x, kernel_sizes=(5, 9, 13), order="ultralytics", *, channels_last=False, out=None,
             num_threads=None) -> np.ndarray:
    """YOLO's SPP block: stride-1 max pools concatenated with the input along channels.

    Parameters
    ----------
    x : array_like
        ``(N, C, H, W)`` or unbatched ``(C, H, W)`` (``(N, H, W, C)`` with
        ``channels_last``), any dtype of :func:`max_pool2d`, any strides.
    kernel_sizes : int or sequence of odd int
        Each pool is ``max_pool2d(x, k, stride=1, padding=k // 2)``; at most 16,
        any order, repeats allowed.
    order : "ultralytics" or "darknet"
        ``"ultralytics"``: ``[x, p(k0), p(k1), ...]`` (ultralytics' ``SPP``);
        ``"darknet"``: ``[..., p(k1), p(k0), x]`` (darknet's yolov3-spp.cfg,
        route layers -1, -3, -5, -6: ``[p13, p9, p5, x]``).
    channels_last : bool
        Input and output are ``(N, H, W, C)``.
    out : ndarray, optional
        ``(N, C*(1 + len(kernel_sizes)), H, W)`` buffer (in the input's layout).
    num_threads : int, optional
        Threads for this call; ``None`` uses OpenMP's current default.

    Returns
    -------
    ndarray
        Every pooled block equals the matching :func:`max_pool2d` call bit for
        bit, NaN payloads and signed zeros included.  The pools share one
        horizontal cascade over the sorted kernel sizes (a window of ``k2``
        over the input is a window of ``k2 - k1 + 1`` over the ``k1`` result),
        so any set of odd sizes is computed in about the time of the largest;
        the 2-D cascade ``max5(max5(x))`` of SPPF is not used, as it can pick
        ``-0.0`` where the row-major scan picks ``+0.0`` (or another NaN).
    """
    name = "yolo_spp"
    ks, order_code, cl = _yolo_args(name, kernel_sizes, order, channels_last)
    a = _as_input(name, "x", x, _MAX_DTYPES)
    batched = _check_ndim(name, "x", a, 2)
    xl = _logical(a, batched, cl)
    nt = _num_threads(name, num_threads)
    _no_overlap(name, "out", out, a)
    y, yl = _output(name, "out", out, _yolo_shape(xl.shape, ks), a.dtype, batched, cl)
    _core.yolo_spp_forward(name, xl, yl, ks, order_code, nt)
    return y


def yolo_spp_backward(grad_output, x, kernel_sizes=(5, 9, 13), order="ultralytics", *,
                      channels_last=False, out=None, num_threads=None) -> np.ndarray:
    """Gradient of :func:`yolo_spp` with respect to ``x``.

    Parameters
    ----------
    grad_output : array_like, floating
        In the forward output's shape and layout, of ``x``'s dtype.
    x : array_like, floating
        The forward input: each window's maximum is found in it again (no
        indices are stored).
    kernel_sizes, order, channels_last
        The forward call's arguments.
    out, num_threads
        As for :func:`yolo_spp`; ``out`` has ``x``'s shape.

    Returns
    -------
    ndarray
        ``dx`` = the ``x`` block of ``grad_output`` plus, for every kernel,
        :func:`max_pool2d_backward` of its block (each output's gradient to
        its window's first maximum, or last NaN, as PyTorch).  Deterministic
        for any thread count.
    """
    name = "yolo_spp_backward"
    ks, order_code, cl = _yolo_args(name, kernel_sizes, order, channels_last)
    a = _as_input(name, "x", x, _GRAD_DTYPES)
    batched = _check_ndim(name, "x", a, 2)
    xl = _logical(a, batched, cl)
    g = _as_input(name, "grad_output", grad_output, _GRAD_DTYPES)
    ylog = _yolo_shape(xl.shape, ks)
    expected = _user_shape(ylog, batched, cl)
    if g.shape != expected:
        raise ValueError(f"{name}: grad_output has shape {g.shape}, expected {expected} for x of "
                         f"shape {a.shape} and {len(ks)} kernel sizes")
    if g.dtype != a.dtype:
        raise TypeError(f"{name}: grad_output has dtype {g.dtype}, expected x's dtype {a.dtype}")
    nt = _num_threads(name, num_threads)
    _no_overlap(name, "out", out, a, g)
    dx, dxl = _output(name, "out", out, xl.shape, a.dtype, batched, cl)
    _core.yolo_spp_backward(name, _logical(g, batched, cl), xl, dxl, ks, order_code, nt)
    return dx
