"""Special poolings over all spatial positions: bilinear pooling and NetVLAD.

Both are matrix products over the ``P = prod(spatial)`` positions of an
``(N, C, *spatial)`` input, computed by the C core's own blocked GEMM
(``fp_bilinear_pool_*``, ``fp_netvlad_*`` in ``fastpool.h``) with the GIL
released; see the header for the exact order of operations.  They are
rank-agnostic: ``spatial_rank`` (1 to 3, default 2) says how many trailing
axes are spatial, so that ``(C, H, W)`` can be told apart from ``(N, C, L)``.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from fastpool import _core
from fastpool._args import (
    _FLOAT_DTYPES,
    _as_input,
    _check_ndim,
    _flag,
    _logical,
    _no_overlap,
    _num_threads,
    _output,
)

__all__ = [
    "bilinear_pool",
    "bilinear_pool_backward",
    "netvlad",
    "netvlad_backward",
]


# --------------------------------------------------------------------------
# Shared argument handling


def _spatial_rank(name: str, spatial_rank: Any) -> int:
    if isinstance(spatial_rank, (bool, np.bool_)):
        raise TypeError(f"{name}: spatial_rank must be an integer, got {spatial_rank!r}")
    try:
        r = operator.index(spatial_rank)
    except TypeError:
        raise TypeError(f"{name}: spatial_rank must be an integer, got {spatial_rank!r}") \
            from None
    if not 1 <= r <= 3:
        raise ValueError(f"{name}: spatial_rank must be 1, 2 or 3, got {r}")
    return r


def _eps(name: str, eps: Any) -> float:
    if isinstance(eps, (bool, np.bool_)):
        raise TypeError(f"{name}: eps must be a number, got {eps!r}")
    try:
        e = float(eps)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: eps must be a number, got {eps!r}") from None
    if not (e >= 0 and math.isfinite(e)):
        raise ValueError(f"{name}: eps must be finite and >= 0, got {eps!r}")
    return e


def _features_input(name, arg, value, rank, channels_last):
    """(array, batched, logical (N, C, *spatial) view) of a feature-map input."""
    a = _as_input(name, arg, value, _FLOAT_DTYPES)
    batched = _check_ndim(name, arg, a, rank)
    return a, batched, _logical(a, batched, _flag(name, "channels_last", channels_last))


def _same_dtype(name: str, arg: str, a: np.ndarray, dtype: np.dtype) -> None:
    if a.dtype != dtype:
        raise TypeError(f"{name}: {arg} has dtype {a.dtype}, expected x's dtype {dtype}")


def _grad(name, grad_output, dtype, batched, logical_shape):
    """The output gradient as the C core's (N, F) view, checked against the
    forward output's shape."""
    g = _as_input(name, "grad_output", grad_output, _FLOAT_DTYPES)
    _same_dtype(name, "grad_output", g, dtype)
    expected = logical_shape if batched else logical_shape[1:]
    if g.shape != tuple(expected):
        raise ValueError(f"{name}: grad_output has shape {g.shape}, expected {tuple(expected)} "
                         "(the forward output's shape)")
    return g, (g if batched else g[np.newaxis])


def _out_tuple(name: str, out: Any, count: int) -> tuple:
    if out is None:
        return (None,) * count
    if count == 1:
        return (out,)
    if not isinstance(out, (tuple, list)) or len(out) != count:
        raise TypeError(f"{name}: out must be None or a tuple of {count} arrays (or None "
                        f"entries), got {type(out).__name__}")
    return tuple(out)


def _distinct_outputs(name: str, outs: list[tuple[str, Any]]) -> None:
    for i, (an, a) in enumerate(outs):
        for bn, b in outs[:i]:
            if a is not None and b is not None and np.may_share_memory(a, b):
                raise ValueError(f"{name}: {an} must not overlap {bn}")


# --------------------------------------------------------------------------
# Bilinear pooling


def _bilinear_flags(name: str, average: Any, signed_sqrt: Any, l2_normalize: Any) -> int:
    return ((_core.BILINEAR_AVERAGE if _flag(name, "average", average) else 0)
            | (_core.BILINEAR_SIGNED_SQRT if _flag(name, "signed_sqrt", signed_sqrt) else 0)
            | (_core.BILINEAR_L2_NORMALIZE if _flag(name, "l2_normalize", l2_normalize) else 0))


def _netvlad_flags(name: str, normalize_input: Any) -> int:
    return _core.NETVLAD_NORMALIZE_INPUT if _flag(name, "normalize_input", normalize_input) else 0


def _bilinear_inputs(name, x, y, rank, channels_last):
    a, batched, xl = _features_input(name, "x", x, rank, channels_last)
    b = bl = None
    if y is not None:
        b = _as_input(name, "y", y, _FLOAT_DTYPES)
        _same_dtype(name, "y", b, a.dtype)
        if b.ndim != a.ndim:
            raise ValueError(f"{name}: y has shape {b.shape}, expected {a.ndim} dimensions like "
                             f"x {a.shape}")
        bl = _logical(b, batched, channels_last)
        if bl.shape[0] != xl.shape[0] or bl.shape[2:] != xl.shape[2:]:
            raise ValueError(f"{name}: y has shape {b.shape}, which does not match x's shape "
                             f"{a.shape} in the batch and spatial extents")
    return a, batched, xl, b, bl


def bilinear_pool(x, y=None, *, average: bool = True, signed_sqrt: bool = True,
                  l2_normalize: bool = True, eps: float = 1e-12, spatial_rank: int = 2,
                  channels_last: bool = False, out=None, num_threads=None) -> np.ndarray:
    """Bilinear pooling (B-CNN, Lin et al. 2015): the outer products of two
    feature maps averaged over the spatial positions, signed square root and
    L2 normalisation.

    Per sample, with ``x_p`` and ``y_p`` the channel vectors at position ``p``
    of the ``P`` positions::

        B = (1/P) * sum_p x_p y_p^T          (Cx x Cy; no 1/P if not average)
        B = sign(B) * sqrt(|B|)              (signed_sqrt)
        B = B / max(||B||, eps)              (l2_normalize, over all Cx*Cy:
                                              torch.nn.functional.normalize)

    flattened row-major (``x``'s channel major).

    Parameters
    ----------
    x : array_like, float32 or float64
        ``(N, Cx, *spatial)`` or unbatched ``(Cx, *spatial)``, with
        ``spatial_rank`` spatial axes (``(N, *spatial, Cx)`` with
        ``channels_last``).  Any strides, no copy.
    y : array_like, optional
        ``(N, Cy, *spatial)``: the same batch and spatial extents and dtype as
        ``x``.  ``None`` means ``y = x`` (the symmetric product, computed once
        per pair of channels).
    average, signed_sqrt, l2_normalize : bool
        The three steps above, each on by default.
    eps : float
        Floor of the L2 norm (and offset of the signed square root's
        gradient, see :func:`bilinear_pool_backward`); finite, >= 0.
    spatial_rank : int
        Number of spatial axes, 1 to 3 (default 2): ``x.ndim`` is
        ``spatial_rank + 2`` (batched) or ``spatial_rank + 1`` (unbatched).
    channels_last : bool
        Inputs are ``(N, *spatial, C)``.
    out : ndarray, optional
        Output buffer, ``(N, Cx*Cy)`` (``(Cx*Cy,)`` unbatched), x's dtype.
    num_threads : int, optional
        Threads for this call; ``None`` uses OpenMP's current default.

    Returns
    -------
    ndarray of shape ``(N, Cx*Cy)`` or ``(Cx*Cy,)``
        Element ``i*Cy + j`` is ``B[i, j]``.  float32 sums are accumulated in
        float32 (blocks of at most 256 terms), the norm in float64.  With no
        position (``P = 0``) ``B`` is 0.  Bit-identical for any thread count.
    """
    name = "bilinear_pool"
    rank = _spatial_rank(name, spatial_rank)
    e = _eps(name, eps)
    a, batched, xl, b, bl = _bilinear_inputs(name, x, y, rank, channels_last)
    nt = _num_threads(name, num_threads)
    cy = bl.shape[1] if bl is not None else xl.shape[1]
    features = xl.shape[1] * cy
    _no_overlap(name, "out", out, *(v for v in (a, b) if v is not None))
    res, rl = _output(name, "out", out, (xl.shape[0], features), a.dtype, batched, False)
    flags = _bilinear_flags(name, average, signed_sqrt, l2_normalize)
    _core.bilinear_pool(name, xl, bl, rl, flags, e, nt)
    return res


def bilinear_pool_backward(grad_output, x, y=None, *, average: bool = True,
                           signed_sqrt: bool = True, l2_normalize: bool = True,
                           eps: float = 1e-12, spatial_rank: int = 2,
                           channels_last: bool = False, out=None, num_threads=None):
    """Gradient of :func:`bilinear_pool` with respect to ``x`` (and ``y``).

    Parameters
    ----------
    grad_output : array_like
        Gradient of the forward output, ``(N, Cx*Cy)`` (``(Cx*Cy,)``
        unbatched), x's dtype.
    x, y, average, signed_sqrt, l2_normalize, eps, spatial_rank, channels_last
        The forward call's arguments.
    out : ndarray, or tuple of two, optional
        ``dx`` buffer when ``y`` is None, else ``(dx, dy)`` (entries may be None).
    num_threads : int, optional
        As for :func:`bilinear_pool`.

    Returns
    -------
    dx : ndarray
        When ``y`` is None; it holds both paths through ``x``
        (``(dB + dB^T) x``), and equals ``dx + dy`` of the two-input form
        with ``y = x``.
    (dx, dy) : tuple of ndarray
        When ``y`` is given.

    Notes
    -----
    The derivative of ``sign(B) sqrt(|B|)`` is infinite at ``B = 0``; it is
    taken as ``1 / (2 sqrt(|B| + eps))`` everywhere (the B-CNN rule, Lin et
    al. used ``eps = 1e-8``): finite, ``1 / (2 sqrt(eps))`` at 0 and within
    a relative ``eps / (2|B|)`` of the exact derivative elsewhere.  The L2
    step differentiates ``B / max(||B||, eps)`` as PyTorch does: through the
    norm where ``||B|| >= eps``, as a division by the constant ``eps`` below.
    """
    name = "bilinear_pool_backward"
    rank = _spatial_rank(name, spatial_rank)
    e = _eps(name, eps)
    a, batched, xl, b, bl = _bilinear_inputs(name, x, y, rank, channels_last)
    cy = bl.shape[1] if bl is not None else xl.shape[1]
    g, gl = _grad(name, grad_output, a.dtype, batched, (xl.shape[0], xl.shape[1] * cy))
    nt = _num_threads(name, num_threads)
    outs = _out_tuple(name, out, 1 if y is None else 2)
    inputs = [v for v in (g, a, b) if v is not None]
    _no_overlap(name, "out", outs[0], *inputs)
    dx, dxl = _output(name, "out", outs[0], xl.shape, a.dtype, batched, channels_last)
    dy = dyl = None
    if y is not None:
        _no_overlap(name, "out[1]", outs[1], *inputs)
        _distinct_outputs(name, [("out[0]", outs[0]), ("out[1]", outs[1])])
        dy, dyl = _output(name, "out[1]", outs[1], bl.shape, a.dtype, batched, channels_last)
    _core.bilinear_pool_backward(name, gl, xl, bl, dxl, dyl,
                                 _bilinear_flags(name, average, signed_sqrt, l2_normalize), e, nt)
    return dx if y is None else (dx, dy)


# --------------------------------------------------------------------------
# NetVLAD


def _netvlad_params(name, weight, bias, centroids, dtype, d):
    w = _as_input(name, "weight", weight, _FLOAT_DTYPES)
    _same_dtype(name, "weight", w, dtype)
    if w.ndim != 2 or w.shape[1] != d:
        raise ValueError(f"{name}: weight must have shape (K, D) with D = {d} (x's channels), "
                         f"got {w.shape}")
    k = w.shape[0]
    bb = _as_input(name, "bias", bias, _FLOAT_DTYPES)
    _same_dtype(name, "bias", bb, dtype)
    if bb.shape != (k,):
        raise ValueError(f"{name}: bias must have shape ({k},) (one per cluster of weight), "
                         f"got {bb.shape}")
    c = _as_input(name, "centroids", centroids, _FLOAT_DTYPES)
    _same_dtype(name, "centroids", c, dtype)
    if c.shape != (k, d):
        raise ValueError(f"{name}: centroids must have shape ({k}, {d}) (weight's shape), "
                         f"got {c.shape}")
    return w, bb, c


def netvlad(x, weight, bias, centroids, *, normalize_input: bool = True, eps: float = 1e-12,
            spatial_rank: int = 2, channels_last: bool = False, out=None,
            num_threads=None) -> np.ndarray:
    """NetVLAD pooling (Arandjelovic et al. 2016), as the standard PyTorch
    module computes it, without forming the K x D x P residual tensor.

    Per sample, with ``x_p`` the D-vector at position ``p``::

        x_p = x_p / max(||x_p||, eps)                     (normalize_input)
        a_kp = softmax_k(weight[k] . x_p + bias[k])       (soft assignment)
        V_k = sum_p a_kp x_p - (sum_p a_kp) centroids[k]  (= A X^T - (A 1) C)
        V_k = V_k / max(||V_k||, eps)                     (intra-normalisation)
        V = V / max(||V||, eps)                           (over all K*D)

    flattened cluster-major.  ``weight`` and ``bias`` are the 1x1
    convolution of the PyTorch module (``conv.weight.reshape(K, D)``).

    Parameters
    ----------
    x : array_like, float32 or float64
        ``(N, D, *spatial)`` or unbatched ``(D, *spatial)`` (``(N, *spatial,
        D)`` with ``channels_last``), ``spatial_rank`` spatial axes.
    weight : array_like, ``(K, D)``
    bias : array_like, ``(K,)``
    centroids : array_like, ``(K, D)``
        All of x's dtype.
    normalize_input : bool
        L2-normalise each position's descriptor first (default, as the
        PyTorch implementations do with ``F.normalize(x, dim=1)``).
    eps : float
        Floor of the three L2 norms (``F.normalize``'s, 1e-12).
    spatial_rank, channels_last, out, num_threads
        As for :func:`bilinear_pool`; ``out`` is ``(N, K*D)``.

    Returns
    -------
    ndarray of shape ``(N, K*D)`` or ``(K*D,)``
        Element ``k*D + d``.  Scratch memory grows with ``K*P`` and ``K*D``
        per thread, never with ``K*D*P``.  Bit-identical for any thread count.
    """
    name = "netvlad"
    rank = _spatial_rank(name, spatial_rank)
    e = _eps(name, eps)
    a, batched, xl = _features_input(name, "x", x, rank, channels_last)
    w, b, c = _netvlad_params(name, weight, bias, centroids, a.dtype, xl.shape[1])
    nt = _num_threads(name, num_threads)
    _no_overlap(name, "out", out, a, w, b, c)
    res, rl = _output(name, "out", out, (xl.shape[0], w.shape[0] * xl.shape[1]), a.dtype,
                      batched, False)
    _core.netvlad(name, xl, w, b, c, rl,
                  _netvlad_flags(name, normalize_input), e, nt)
    return res


def netvlad_backward(grad_output, x, weight, bias, centroids, *, normalize_input: bool = True,
                     eps: float = 1e-12, spatial_rank: int = 2, channels_last: bool = False,
                     out=None, num_threads=None):
    """Gradients of :func:`netvlad`.

    Parameters
    ----------
    grad_output : array_like
        Gradient of the forward output, ``(N, K*D)`` (``(K*D,)`` unbatched).
    x, weight, bias, centroids, normalize_input, eps, spatial_rank, channels_last
        The forward call's arguments.
    out : tuple of four, optional
        Buffers ``(dx, dweight, dbias, dcentroids)`` (entries may be None).
    num_threads : int, optional
        As for :func:`netvlad`.

    Returns
    -------
    (dx, dweight, dbias, dcentroids) : tuple of ndarray
        ``dx`` in x's shape and layout; the parameter gradients summed over
        the batch, in sample order.  Each L2 step is differentiated as
        PyTorch differentiates ``F.normalize``: through the norm where it is
        >= eps, as a division by the constant eps below.
    """
    name = "netvlad_backward"
    rank = _spatial_rank(name, spatial_rank)
    e = _eps(name, eps)
    a, batched, xl = _features_input(name, "x", x, rank, channels_last)
    w, b, c = _netvlad_params(name, weight, bias, centroids, a.dtype, xl.shape[1])
    k, d = w.shape
    g, gl = _grad(name, grad_output, a.dtype, batched, (xl.shape[0], k * d))
    nt = _num_threads(name, num_threads)
    outs = _out_tuple(name, out, 4)
    labels = ("out[0]", "out[1]", "out[2]", "out[3]")
    for label, o in zip(labels, outs):
        _no_overlap(name, label, o, g, a, w, b, c)
    _distinct_outputs(name, list(zip(labels, outs)))
    dx, dxl = _output(name, "out[0]", outs[0], xl.shape, a.dtype, batched, channels_last)
    dw, _ = _output(name, "out[1]", outs[1], (k, d), a.dtype, True, False)
    db, _ = _output(name, "out[2]", outs[2], (k,), a.dtype, True, False)
    dc, _ = _output(name, "out[3]", outs[3], (k, d), a.dtype, True, False)
    _core.netvlad_backward(name, gl, xl, w, b, c, dxl, dw, db, dc,
                           _netvlad_flags(name, normalize_input), e, nt)
    return dx, dw, db, dc


for _fn in (bilinear_pool, bilinear_pool_backward, netvlad, netvlad_backward):
    _fn.__module__ = "fastpool"
del _fn
