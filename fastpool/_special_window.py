"""Special window poolings: stochastic, median and mixed max-average (SPEC §4.8–4.10).

Built on the shared argument layer ``fastpool._args``; every
kernel call goes to the C core with the GIL released.  The rules are written
out in the docstrings below and in the header block "special poolings" of
``fastpool.h``.

Backward signatures follow SPEC §2: ``(grad_output, indices, input_shape)``
where the forward returned indices, otherwise ``(grad_output, x, <the
forward's arguments>)``.  Stochastic pooling returns indices in training
only, median pooling for ``even="lower"``/``"upper"`` only, so for those two
the keyword that decides it in the forward (``training=``, ``even=``) picks the
backward's signature too.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np

from fastpool import _core
from fastpool._args import (
    _GRAD_DTYPES,
    _MAX_DTYPES,
    _as_input,
    _check_ndim,
    _flag,
    _index_dtype,
    _logical,
    _max_outputs,
    _max_pool_backward,
    _named_call_errors,
    _no_overlap,
    _num_threads,
    _output,
    _pool,
    _seed,
    _seed_key,
    _user_shape,
)

__all__ = [
    "median_pool2d",
    "median_pool2d_backward",
    "mixed_pool2d",
    "mixed_pool2d_backward",
    "stochastic_pool2d",
    "stochastic_pool2d_backward",
]

#: Stochastic and mixed pooling average, so they take the floating dtypes.
_FLOAT_IN = _GRAD_DTYPES
_ORDERS = (("avg", "max"), ("max", "avg"))


# --------------------------------------------------------------------------
# Argument helpers


def _plain(value: Any) -> Any:
    """A 0-d array parameter as its Python scalar (the tuple helpers iterate arrays)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    return value


def _geometry(name, rank, in_shape, kernel_size, stride, padding, dilation, ceil_mode, flags=0):
    """The normalised pooling geometry of ``_args._pool``, with the function named in
    every error (also for ints beyond int64)."""
    try:
        return _pool(name, rank, in_shape, _plain(kernel_size), _plain(stride), _plain(padding),
                     _plain(dilation), _flag(name, "ceil_mode", ceil_mode), flags)
    except OverflowError as e:
        if str(e).startswith(f"{name}:"):
            raise
        raise OverflowError(f"{name}: kernel_size, stride, padding and dilation must fit in "
                            f"int64, got kernel_size={kernel_size!r}, stride={stride!r}, "
                            f"padding={padding!r}, dilation={dilation!r}") from None


def _input(name, x, rank, channels_last, dtypes):
    a = _as_input(name, "x", x, dtypes)
    batched = _check_ndim(name, "x", a, rank)
    return a, batched, _logical(a, batched, _flag(name, "channels_last", channels_last))


def _stochastic_call(name, a, thunk):
    """Run a stochastic-pooling kernel.  The C core refuses an input outside the
    domain (before writing anything) with an invalid-argument status; the
    error then names the first offending element."""
    try:
        thunk()
    except _core.FastpoolError:
        with np.errstate(invalid="ignore"):
            bad = ~(np.isfinite(a) & (a >= 0))
        if not bad.any():
            raise
        pos = tuple(int(v) for v in np.unravel_index(int(np.flatnonzero(bad)[0]), a.shape))
        raise ValueError(f"{name}: x must be finite and >= 0 (cells are sampled in "
                         f"proportion to their values), got x[{', '.join(map(str, pos))}] = "
                         f"{float(a[pos])!r}") from None


def _even(name: str, even: Any) -> int:
    if isinstance(even, str) and even in _core.MEDIAN_EVEN:
        return _core.MEDIAN_EVEN[even]
    raise ValueError(f"{name}: even must be 'lower', 'upper' or 'mean', got {even!r}")


def _mode(name: str, mode: Any) -> str:
    if isinstance(mode, str) and mode in ("blend", "concat"):
        return mode
    raise ValueError(f"{name}: mode must be 'blend' or 'concat', got {mode!r}")


def _order(name: str, order: Any) -> tuple[str, str]:
    if isinstance(order, (Sequence, np.ndarray)) and not isinstance(order, str):
        t = tuple(order)
        if t in _ORDERS:
            return t
    raise ValueError(f"{name}: order must be ('avg', 'max') or ('max', 'avg'), got {order!r}")


def _alpha(name: str, alpha: Any, channels: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """(alpha as a contiguous float64 array of shape (1,) or (C,), alpha's own shape)."""
    if isinstance(alpha, (bool, np.bool_)):
        raise TypeError(f"{name}: alpha must be a real number or an array of one per "
                        f"channel, got {alpha!r}")
    try:
        arr = np.asarray(alpha)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: alpha must be a real number or an array of one per "
                        f"channel, got {alpha!r}") from None
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name}: alpha must be real (a float or an array of floats), got "
                        f"dtype {arr.dtype}")
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, channels)):
        raise ValueError(f"{name}: alpha must be a scalar or have shape ({channels},) (one per "
                         f"channel), got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float64).reshape(-1), arr.shape


def _grad(name, grad_output, expected_logical, a, batched, channels_last):
    """grad_output checked against the forward output's shape and x's dtype;
    returns it and its logical view."""
    g = _as_input(name, "grad_output", grad_output, _GRAD_DTYPES)
    expected = _user_shape(expected_logical, batched, channels_last)
    if g.shape != expected:
        raise ValueError(f"{name}: grad_output has shape {g.shape}, expected {expected} for "
                         "this x and these pooling arguments")
    if g.dtype != a.dtype:
        raise TypeError(f"{name}: grad_output has dtype {g.dtype}, expected x's dtype {a.dtype}")
    return g, _logical(g, batched, channels_last)


def _bind(name: str, impl, args: tuple, kwargs: dict, usage: str):
    """Bind a backward call to the signature of the mode it asked for."""
    try:
        bound = _SIGNATURES[impl].bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{name}: {e}; this mode is called as {usage}") from None
    return impl(*bound.args, **bound.kwargs)


# --------------------------------------------------------------------------
# Stochastic pooling (SPEC §4.8)


def _stochastic(rank, x, kernel_size, stride, padding, training, seed, return_indices, dilation,
                ceil_mode, channels_last, index_dtype, out, indices_out, num_threads):
    name = f"stochastic_pool{rank}d"
    training = _flag(name, "training", training)
    return_indices = _flag(name, "return_indices", return_indices)
    a, batched, xl = _input(name, x, rank, channels_last, _FLOAT_IN)
    geo = _geometry(name, rank, xl.shape, kernel_size, stride, padding, dilation, ceil_mode)
    nt = _num_threads(name, num_threads)
    want_idx = return_indices or indices_out is not None
    if want_idx and not training:
        raise ValueError(f"{name}: return_indices and indices_out need training=True (the "
                         "inference output is a weighted average, not one cell)")
    key = _seed_key(_seed(name, seed)) if training else None
    y, yl, idx, il = _max_outputs(name, a, geo.out_shape, batched, channels_last, want_idx,
                                  index_dtype, out, indices_out)
    _stochastic_call(name, a, lambda: _core.stochastic_pool_forward(
        name, xl, yl, il, key, geo.kernel, geo.stride, geo.pad_begin, geo.pad_end,
        geo.dilation, geo.flags, nt))
    return (y, idx) if return_indices else y


def stochastic_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, *,
                      training: bool = True, seed: Any = None,
                      return_indices: bool = False, dilation: Any = 1, ceil_mode: bool = False,
                      channels_last: bool = False, index_dtype: Any = np.int64,
                      out: np.ndarray | None = None, indices_out: np.ndarray | None = None,
                      num_threads: int | None = None):
    """2-D stochastic pooling (Zeiler & Fergus 2013).

    Shapes follow PyTorch: ``(N, C, H, W)`` or unbatched ``(C, H, W)``; with
    ``channels_last=True`` ``(N, H, W, C)``.  Any strides, no copies; the
    output is C-contiguous in the input's logical order.  Every element of
    ``x`` must be finite and ``>= 0`` (``ValueError`` otherwise, nothing
    written).  Padding cells never take part.

    Training (``training=True``): each window picks one of its valid cells
    ``a_i`` with probability ``a_i / sum(a)`` and outputs its value: with
    running sums ``P_i`` in float64 in row-major tap order, the first ``i``
    with ``P_i >= u * P_last``.  An all-zero window picks its first valid cell
    (a zero cell is never picked otherwise); a window wholly in padding gives
    0 with index -1.  ``u`` in ``(0, 1)`` comes from a counter-based generator
    keyed by ``(seed, n, c, output position)`` (SplitMix64's finalizer ``F``:
    ``h = F(F(F(F(seed) ^ n) ^ c) ^ o)``, ``u = ((h >> 12) + 0.5) / 2**52``,
    ``o = oh*OW + ow``; see ``fastpool.h``), so a given seed gives the same
    result for any thread count, layout and call, and
    :func:`fastpool.reference.stochastic_uniforms` reproduces it.

    Inference (``training=False``): the probabilistic weighting
    ``sum(a**2) / sum(a)`` of each window (0 where the sum is 0), computed in
    float64.

    Parameters
    ----------
    x : array_like, float16, float32 or float64
    kernel_size, stride, padding
        As for :func:`max_pool2d` (``stride=None`` means ``kernel_size``;
        padding an int, per-axis ints, ``(begin, end)`` pairs, ``"valid"``,
        ``"same"`` or ``"same_lower"``).
    training : bool
        Sample (True) or weight (False).
    seed : int in ``[0, 2**64)``, numpy.random.Generator or SeedSequence, optional
        The generator's key.  A ``Generator`` gives it one 64-bit draw (and so
        advances), a ``SeedSequence`` its first 64-bit state word.  ``None``
        draws a fresh key from the operating system's entropy on every call
        (like PyTorch's default generator), so results then differ between
        calls.  Unused when ``training=False``.
    return_indices : bool
        Also return the picked cells as flat indices within each ``(n, c)``
        plane (``h*W + w``), as :func:`max_pool2d` does.  Training only.
    dilation, ceil_mode
        As for :func:`max_pool2d`.
    channels_last, index_dtype, out, indices_out, num_threads
        As for :func:`max_pool2d`.

    Returns
    -------
    y : ndarray, x's dtype
    indices : ndarray of index_dtype, with ``return_indices``
    """
    return _stochastic(2, x, kernel_size, stride, padding, training, seed, return_indices,
                       dilation, ceil_mode, channels_last, index_dtype, out, indices_out,
                       num_threads)


def _stochastic_bwd_indices(grad_output, indices, input_shape, *, channels_last=False,
                            out=None, num_threads=None):
    name = "stochastic_pool2d_backward"
    return _max_pool_backward(2, grad_output, indices, input_shape,
                              _flag(name, "channels_last", channels_last), out, num_threads,
                              name=name)


def _stochastic_bwd_x(grad_output, x, kernel_size, stride=None, padding=0, *, dilation=1,
                      ceil_mode=False, channels_last=False, out=None, num_threads=None):
    name = "stochastic_pool2d_backward"
    channels_last = _flag(name, "channels_last", channels_last)
    a, batched, xl = _input(name, x, 2, channels_last, _FLOAT_IN)
    geo = _geometry(name, 2, xl.shape, kernel_size, stride, padding, dilation, ceil_mode)
    g, gl = _grad(name, grad_output, geo.out_shape, a, batched, channels_last)
    nt = _num_threads(name, num_threads)
    _no_overlap(name, "out", out, a, g)
    dx, dxl = _output(name, "out", out, xl.shape, a.dtype, batched, channels_last)
    _stochastic_call(name, a, lambda: _core.stochastic_pool_weighted_backward(
        name, gl, xl, dxl, geo.kernel, geo.stride, geo.pad_begin, geo.pad_end, geo.dilation,
        geo.flags, nt))
    return dx


def stochastic_pool2d_backward(grad_output: Any, *args: Any, training: bool = True,
                               **kwargs: Any) -> np.ndarray:
    """Gradient of :func:`stochastic_pool2d` with respect to its input.

    The signature depends on ``training``, like the forward's output:

    - ``training=True`` (the forward returned indices):
      ``stochastic_pool2d_backward(grad_output, indices, input_shape, *,
      channels_last=False, out=None, num_threads=None)`` adds each ``dy`` at
      its picked cell (``dx[n, c].flat[i] += dy``, index -1 skipped), exactly
      :func:`max_pool2d_backward`.
    - ``training=False``:
      ``stochastic_pool2d_backward(grad_output, x, kernel_size, stride=None,
      padding=0, *, training=False, dilation=1, ceil_mode=False,
      channels_last=False, out=None, num_threads=None)`` with the forward's
      input and arguments gives the exact gradient of ``sum(a**2) / sum(a)``:
      ``dy * (2*a_j*S1 - S2) / S1**2`` summed over the windows holding cell
      ``j`` (``S1 = sum(a)``, ``S2 = sum(a**2)``); windows whose sum is 0
      contribute 0 (the function is not differentiable there).

    Parameters
    ----------
    grad_output : array_like, float16, float32 or float64
        Gradient of the pooled output, in the forward output's layout.  With
        ``training=False`` it must have the forward output's shape and x's
        dtype.
    indices, input_shape
        With ``training=True`` (the first call form): the indices returned by
        the forward call (shaped like ``grad_output``, int64 or int32) and the
        shape of the forward input, in the same layout; as for
        :func:`max_pool2d_backward`.
    x, kernel_size, stride, padding
        With ``training=False`` (the second call form): the forward's input
        and pooling arguments.
    training : bool
        Selects the call form: True (default) for the sampled forward, False
        for the inference (weighted) forward.
    dilation, ceil_mode
        Keyword-only, ``training=False`` only: the forward's arguments.
    channels_last, out, num_threads
        Keyword-only, both forms: as for :func:`max_pool2d_backward`.

    Returns
    -------
    ndarray
        ``dx``, in ``grad_output``'s dtype and the input's layout: of shape
        ``input_shape`` (``training=True``) or x's shape (``training=False``).
        Deterministic for any thread count.
    """
    name = "stochastic_pool2d_backward"
    if _flag(name, "training", training):
        return _bind(name, _stochastic_bwd_indices, (grad_output, *args), kwargs,
                     f"{name}(grad_output, indices, input_shape) with training=True")
    return _bind(name, _stochastic_bwd_x, (grad_output, *args), kwargs,
                 f"{name}(grad_output, x, kernel_size, stride=None, padding=0, "
                 "training=False, ...)")


# --------------------------------------------------------------------------
# Median pooling (SPEC §4.9)


def _median(rank, x, kernel_size, stride, padding, dilation, ceil_mode, even, return_indices,
            channels_last, index_dtype, out, indices_out, num_threads):
    name = f"median_pool{rank}d"
    ev = _even(name, even)
    return_indices = _flag(name, "return_indices", return_indices)
    a, batched, xl = _input(name, x, rank, channels_last, _MAX_DTYPES)
    geo = _geometry(name, rank, xl.shape, kernel_size, stride, padding, dilation, ceil_mode)
    nt = _num_threads(name, num_threads)
    want_idx = return_indices or indices_out is not None
    mean = ev == _core.MEDIAN_EVEN["mean"]
    if want_idx and mean:
        raise ValueError(f"{name}: return_indices and indices_out need even='lower' or "
                         "'upper' (the mean of two cells has no single index; "
                         f"{name}_backward(grad_output, x, ..., even='mean') recomputes both)")
    ydt = np.dtype(np.float64) if mean and a.dtype.kind in "iu" else a.dtype
    _no_overlap(name, "out", out, a)
    _no_overlap(name, "indices_out", indices_out, a)
    y, yl = _output(name, "out", out, geo.out_shape, ydt, batched, channels_last)
    idx = il = None
    if want_idx:
        idt = _index_dtype(name, index_dtype)
        if out is not None and indices_out is not None and np.may_share_memory(out, indices_out):
            raise ValueError(f"{name}: indices_out must not overlap out")
        idx, il = _output(name, "indices_out", indices_out, geo.out_shape, idt, batched,
                          channels_last)
    _core.median_pool_forward(name, ev, xl, yl, il, geo.kernel, geo.stride, geo.pad_begin,
                              geo.pad_end, geo.dilation, geo.flags, nt)
    return (y, idx) if return_indices else y


def median_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, *,
                  dilation: Any = 1, ceil_mode: bool = False, even: str = "lower",
                  return_indices: bool = False, channels_last: bool = False,
                  index_dtype: Any = np.int64, out: np.ndarray | None = None,
                  indices_out: np.ndarray | None = None, num_threads: int | None = None):
    """2-D median pooling: the median of the valid cells of each window.

    Shapes and layouts as for :func:`max_pool2d`.  Padding cells are
    excluded, so border windows take the median of fewer cells.  With ``m``
    valid cells, ``lo`` and ``hi`` are the ``(m-1)//2``-th and ``m//2``-th
    smallest (the same cell for odd ``m``):

    - ``even="lower"`` (default): ``lo``, PyTorch's ``median``;
    - ``even="upper"``: ``hi``, SciPy's ``rank_filter(x, rank=m//2)``;
    - ``even="mean"``: ``(lo + hi) / 2``, NumPy's ``median``, formed in
      float64 (``lo/2 + hi/2`` where that sum overflows) and rounded once to
      x's dtype; integer inputs give float64 (as average pooling does).

    Ties: the index is that of the first valid cell in row-major order that
    holds the selected value (``-0.0`` equals ``+0.0``), and the output is that
    cell's value.  (PyTorch does not specify which of tied cells its index
    names.)  NaN: any NaN in a window gives NaN with the index of its first
    NaN (PyTorch).  A window wholly in padding gives NaN (integer dtypes: the
    type's minimum, like max pooling) with index -1.

    Parameters
    ----------
    x : array_like, any of float16, float32, float64, int8, uint8, int16,
        uint16, int32, int64
    kernel_size, stride, padding, dilation, ceil_mode
        As for :func:`max_pool2d`.
    even : "lower", "upper" or "mean"
        Which middle of an even number of cells.
    return_indices : bool
        Also return the flat index within the ``(n, c)`` plane of the selected
        cell; ``even="lower"`` or ``"upper"`` only.
    channels_last, index_dtype, out, indices_out, num_threads
        As for :func:`max_pool2d`.

    Returns
    -------
    y : ndarray
        x's dtype (float64 for ``even="mean"`` on integers).
    indices : ndarray of index_dtype, with ``return_indices``

    Notes
    -----
    Windows of up to 32 cells take a sorting network across neighbouring
    outputs, larger ones a quickselect (a radix selection above 4096 cells);
    no window is sorted in full and nothing is allocated besides the outputs.
    """
    return _median(2, x, kernel_size, stride, padding, dilation, ceil_mode, even,
                   return_indices, channels_last, index_dtype, out, indices_out, num_threads)


def _median_bwd_indices(grad_output, indices, input_shape, *, channels_last=False, out=None,
                        num_threads=None):
    name = "median_pool2d_backward"
    return _max_pool_backward(2, grad_output, indices, input_shape,
                              _flag(name, "channels_last", channels_last), out, num_threads,
                              name=name)


def _median_bwd_x(grad_output, x, kernel_size, stride=None, padding=0, *, dilation=1,
                  ceil_mode=False, channels_last=False, out=None, num_threads=None):
    name = "median_pool2d_backward"
    channels_last = _flag(name, "channels_last", channels_last)
    a, batched, xl = _input(name, x, 2, channels_last, _MAX_DTYPES)
    if a.dtype.kind not in "f":
        raise TypeError(f"{name}: x has dtype {a.dtype}; the gradient needs floating x "
                        "(float16, float32, float64)")
    geo = _geometry(name, 2, xl.shape, kernel_size, stride, padding, dilation, ceil_mode)
    g, gl = _grad(name, grad_output, geo.out_shape, a, batched, channels_last)
    nt = _num_threads(name, num_threads)
    _no_overlap(name, "out", out, a, g)
    dx, dxl = _output(name, "out", out, xl.shape, a.dtype, batched, channels_last)
    _core.median_pool_backward(name, _core.MEDIAN_EVEN["mean"], gl, xl, dxl, geo.kernel,
                               geo.stride, geo.pad_begin, geo.pad_end, geo.dilation, geo.flags,
                               nt)
    return dx


def median_pool2d_backward(grad_output: Any, *args: Any, even: str = "lower",
                           **kwargs: Any) -> np.ndarray:
    """Gradient of :func:`median_pool2d` with respect to its input.

    The signature depends on ``even``, like the forward's ability to return
    indices:

    - ``even="lower"`` or ``"upper"`` (the forward returned indices):
      ``median_pool2d_backward(grad_output, indices, input_shape, *,
      channels_last=False, out=None, num_threads=None)`` adds each ``dy`` at
      its selected cell, exactly :func:`max_pool2d_backward`.
    - ``even="mean"``: ``median_pool2d_backward(grad_output, x, kernel_size,
      stride=None, padding=0, *, even="mean", dilation=1, ceil_mode=False,
      channels_last=False, out=None, num_threads=None)`` with the forward's
      input and arguments recomputes each window's two middle cells (the
      first cells holding ``lo`` and ``hi``, as in the forward) and gives each
      ``dy / 2``; all of ``dy`` when they are one cell (odd counts, NaN
      windows).  ``x`` must be floating.

    Parameters
    ----------
    grad_output : array_like, float16, float32 or float64
        Gradient of the pooled output, in the forward output's layout.  With
        ``even="mean"`` it must have the forward output's shape and x's dtype.
    indices, input_shape
        With ``even="lower"`` or ``"upper"`` (the first call form): the indices
        returned by the forward call (shaped like ``grad_output``, int64 or
        int32) and the shape of the forward input, in the same layout; as for
        :func:`max_pool2d_backward`.
    x, kernel_size, stride, padding
        With ``even="mean"`` (the second call form): the forward's input
        (float16, float32 or float64) and pooling arguments.
    even : "lower", "upper" or "mean"
        The forward's ``even``; selects the call form.
    dilation, ceil_mode
        Keyword-only, ``even="mean"`` only: the forward's arguments.
    channels_last, out, num_threads
        Keyword-only, both forms: as for :func:`max_pool2d_backward`.

    Returns
    -------
    ndarray
        ``dx`` in ``grad_output``'s dtype and the input's layout: of shape
        ``input_shape`` (indices form) or x's shape (``even="mean"``);
        deterministic for any thread count.
    """
    name = "median_pool2d_backward"
    ev = _even(name, even)
    if ev != _core.MEDIAN_EVEN["mean"]:
        return _bind(name, _median_bwd_indices, (grad_output, *args), kwargs,
                     f"{name}(grad_output, indices, input_shape) with even={even!r}")
    return _bind(name, _median_bwd_x, (grad_output, *args), kwargs,
                 f"{name}(grad_output, x, kernel_size, stride=None, padding=0, even='mean', "
                 "...)")


# --------------------------------------------------------------------------
# Mixed max-average pooling (SPEC §4.10)


def _mixed_args(name, x, kernel_size, stride, padding, alpha, mode, order, dilation, ceil_mode,
                count_include_pad, channels_last, num_threads):
    mode = _mode(name, mode)
    first = _order(name, order)[0] if mode == "concat" else None
    channels_last = _flag(name, "channels_last", channels_last)
    a, batched, xl = _input(name, x, 2, channels_last, _FLOAT_IN)
    flags = _core.FLAG_COUNT_INCLUDE_PAD if _flag(name, "count_include_pad",
                                                  count_include_pad) else 0
    geo = _geometry(name, 2, xl.shape, kernel_size, stride, padding, dilation, ceil_mode, flags)
    al = ashape = None
    if mode == "blend":
        al, ashape = _alpha(name, alpha, xl.shape[1])
    nt = _num_threads(name, num_threads)
    return mode, first, channels_last, a, batched, xl, geo, al, ashape, nt


def _halves(yl, channels, first):
    """(max part, avg part) of a concat output's logical view."""
    lo, hi = yl[:, :channels], yl[:, channels:]
    return (lo, hi) if first == "max" else (hi, lo)


def mixed_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, *,
                 alpha: Any = 0.5, mode: str = "blend", order: Sequence[str] = ("avg", "max"),
                 dilation: Any = 1, ceil_mode: bool = False, count_include_pad: bool = True,
                 channels_last: bool = False, out: np.ndarray | None = None,
                 num_threads: int | None = None) -> np.ndarray:
    """2-D mixed max-average pooling (Lee, Gallagher & Tu 2016).

    One pass over ``x`` computes each window's max, with :func:`max_pool2d`'s
    rules (padding is -inf, the first maximum, any NaN gives NaN), and its
    average, with :func:`avg_pool2d`'s (``count_include_pad``, sums in float64
    for float32/64 and float32 for float16); the two equal those functions'
    outputs bit for bit.  Shapes and layouts as for :func:`max_pool2d`.

    - ``mode="blend"``: ``alpha*max + (1 - alpha)*avg``, formed in float64
      from those two results and rounded once.  ``alpha`` is a number or an
      array with one per channel, shape ``(C,)``; any real value (it is
      usually a learned parameter in [0, 1]).
    - ``mode="concat"``: both, concatenated along the channels: ``2C``
      channels, ``[avg, max]`` by default, ``order=("max", "avg")`` for
      fastai's ``AdaptiveConcatPool2d`` order.

    A window wholly in padding has max -inf and average 0.

    Parameters
    ----------
    x : array_like, float16, float32 or float64
    kernel_size, stride, padding, dilation, ceil_mode
        As for :func:`max_pool2d`.
    alpha : float or array_like of shape (C,)
        Blend weight of the max (``mode="blend"`` only).
    mode : "blend" or "concat"
    order : ("avg", "max") or ("max", "avg")
        Channel order of ``mode="concat"``.
    count_include_pad : bool
        As for :func:`avg_pool2d`.
    channels_last, out, num_threads
        As for :func:`max_pool2d`.

    Returns
    -------
    ndarray, x's dtype
    """
    name = "mixed_pool2d"
    mode, first, channels_last, a, batched, xl, geo, al, _, nt = _mixed_args(
        name, x, kernel_size, stride, padding, alpha, mode, order, dilation, ceil_mode,
        count_include_pad, channels_last, num_threads)
    args = (geo.kernel, geo.stride, geo.pad_begin, geo.pad_end, geo.dilation, geo.flags, nt)
    _no_overlap(name, "out", out, a)
    if mode == "blend":
        y, yl = _output(name, "out", out, geo.out_shape, a.dtype, batched, channels_last)
        _core.mixed_pool_forward(name, xl, al, yl, None, None, *args)
        return y
    c = xl.shape[1]
    shape = (geo.out_shape[0], 2 * c) + tuple(geo.out_shape[2:])
    y, yl = _output(name, "out", out, shape, a.dtype, batched, channels_last)
    ymax, yavg = _halves(yl, c, first)
    _core.mixed_pool_forward(name, xl, None, None, ymax, yavg, *args)
    return y


def mixed_pool2d_backward(grad_output: Any, x: Any, kernel_size: Any, stride: Any = None,
                          padding: Any = 0, *, alpha: Any = 0.5, mode: str = "blend",
                          order: Sequence[str] = ("avg", "max"), dilation: Any = 1,
                          ceil_mode: bool = False, count_include_pad: bool = True,
                          channels_last: bool = False, out: np.ndarray | None = None,
                          num_threads: int | None = None):
    """Gradient of :func:`mixed_pool2d`, from its input and arguments.

    The max part's gradient goes to each window's max cell (the index
    :func:`max_pool2d` returns: first maximum, last NaN), the average part's
    is divided by the window's divisor and spread over its valid cells.

    Parameters
    ----------
    grad_output : array_like
        Gradient of the forward output (``2C`` channels for ``mode="concat"``,
        in the forward's order).
    x, kernel_size, stride, padding, alpha, mode, order, dilation, ceil_mode,
    count_include_pad, channels_last
        The forward call's input and arguments.
    out : ndarray, optional
        Buffer for ``dx``.
    num_threads : int, optional

    Returns
    -------
    dx : ndarray
        ``alpha*dy`` at the max cell plus ``(1 - alpha)*dy/divisor`` over the
        window (blend), or the max half's and the average half's gradients
        (concat).
    dalpha : ndarray, ``mode="blend"`` only
        ``sum(dy * (max - avg))`` over the batch and the outputs, of alpha's
        shape (``()`` for a number, ``(C,)`` per channel) and grad_output's
        dtype; sums in float64 in a fixed order, so bit-identical for any
        thread count.  Windows wholly in padding contribute 0 to both.
    """
    name = "mixed_pool2d_backward"
    mode, first, channels_last, a, batched, xl, geo, al, ashape, nt = _mixed_args(
        name, x, kernel_size, stride, padding, alpha, mode, order, dilation, ceil_mode,
        count_include_pad, channels_last, num_threads)
    c = xl.shape[1]
    expected = geo.out_shape if mode == "blend" else \
        (geo.out_shape[0], 2 * c) + tuple(geo.out_shape[2:])
    g, gl = _grad(name, grad_output, expected, a, batched, channels_last)
    _no_overlap(name, "out", out, a, g)
    dx, dxl = _output(name, "out", out, xl.shape, a.dtype, batched, channels_last)
    args = (geo.kernel, geo.stride, geo.pad_begin, geo.pad_end, geo.dilation, geo.flags, nt)
    if mode == "concat":
        gmax, gavg = _halves(gl, c, first)
        _core.mixed_pool_backward(name, xl, dxl, None, None, None, gmax, gavg, *args)
        return dx
    dalpha = np.empty(c, dtype=np.float64)
    _core.mixed_pool_backward(name, xl, dxl, al, gl, dalpha, None, None, *args)
    if ashape != (c,):
        dalpha = np.asarray(dalpha.sum()).reshape(ashape)
    return dx, dalpha.astype(g.dtype)


# Signatures the backward's modes bind their arguments to.
_SIGNATURES = {f: inspect.signature(f) for f in (_stochastic_bwd_indices, _stochastic_bwd_x,
                                                 _median_bwd_indices, _median_bwd_x)}


stochastic_pool2d = _named_call_errors(stochastic_pool2d)
stochastic_pool2d_backward = _named_call_errors(stochastic_pool2d_backward)
median_pool2d = _named_call_errors(median_pool2d)
median_pool2d_backward = _named_call_errors(median_pool2d_backward)
mixed_pool2d = _named_call_errors(mixed_pool2d)
mixed_pool2d_backward = _named_call_errors(mixed_pool2d_backward)

for _f in (stochastic_pool2d, stochastic_pool2d_backward, median_pool2d,
           median_pool2d_backward, mixed_pool2d, mixed_pool2d_backward):
    _f.__module__ = "fastpool"
del _f
