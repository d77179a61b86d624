"""Pooling layers for NumPy training code: ``forward(x)`` / ``backward(grad)`` objects.

Each layer wraps one fastpool forward function and its ``*_backward``:
``forward(x)`` returns the output and keeps what the backward pass needs (the
max family's indices and the input shape; Lp pooling's input and output);
``backward(grad)`` returns the gradient with respect to ``x`` of the latest
``forward`` call.  Calling the layer is calling ``forward``.  The standard
poolings hold no parameters, so they slot into a teaching framework's
``PoolingLayer`` or a hand-written training loop::

    import numpy as np
    from fastpool.nn import MaxPool2d, GlobalAvgPool

    pool, gap = MaxPool2d(2), GlobalAvgPool()
    x = np.random.rand(8, 4, 16, 16)
    y = gap(pool(x))                          # (8, 4, 1, 1)
    dx = pool.backward(gap.backward(np.ones_like(y)))

Constructor arguments follow ``torch.nn``'s classes of the same names (and
their ``repr``), plus fastpool's keyword-only options: ``channels_last=True``
for ``(N, *spatial, C)`` arrays, ``num_threads``, and ``nan_policy`` for the
max family.  Arguments accept everything fastpool's functions accept
(``(begin, end)`` padding pairs, ``"same"``, ...).  See the README for the
semantics.

The state kept by ``forward`` is a reference, not a copy: an Lp layer's
``backward`` reads the ``x`` it was given, so do not modify ``x`` in place
between the two calls.  ``backward`` may be called more than once; the next
``forward`` replaces the state.

The special poolings (SPEC §4.8–4.12) have layers too: ``StochasticPool2d``
(``training`` attribute, ``train()`` / ``eval()``, seeded generator),
``MedianPool2d``, ``MixedPool2d``, ``SpatialPyramidPool``, ``YOLOSPP``,
``BilinearPool`` (``forward(x, y=None)``) and ``NetVLAD``.  Two of them hold
parameters, as NumPy arrays: ``MixedPool2d.alpha`` and ``NetVLAD.weight``,
``.bias``, ``.centroids``.  ``backward`` still returns ``dx`` and stores each
parameter's gradient as the attribute ``d<name>`` (``dalpha``, ``dweight``,
``dbias``, ``dcentroids``), summed over the batch and replaced by every
``backward``; ``parameters()`` / ``gradients()`` return them as dicts::

    vlad = NetVLAD(16, 64, seed=0)
    v = vlad(x)                               # (N, 16*64)
    dx = vlad.backward(dv)
    for name, g in vlad.gradients().items():
        vlad.parameters()[name] -= 0.1 * g    # in place: the layer's own arrays
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

import fastpool as _fp

__all__ = [
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "LPPool1d",
    "LPPool2d",
    "LPPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "GlobalMaxPool",
    "GlobalAvgPool",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "MaxUnpool3d",
    "FractionalMaxPool2d",
    "FractionalMaxPool3d",
    "StochasticPool2d",
    "MedianPool2d",
    "MixedPool2d",
    "SpatialPyramidPool",
    "YOLOSPP",
    "BilinearPool",
    "NetVLAD",
]


def _ntuple(value, n):
    """torch's ``_single`` / ``_pair`` / ``_triple`` (strings are kept whole)."""
    if isinstance(value, Iterable) and not isinstance(value, str):
        return tuple(value)
    return (value,) * n


class _Layer:
    """Common machinery: ``__call__``, ``__repr__`` and the backward-before-forward check."""

    _rank = 0
    _forward_state = "input_shape"

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def extra_repr(self) -> str:
        """The argument list shown by ``repr`` (as torch's ``extra_repr``)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        if self.channels_last:
            extra = f"{extra}, channels_last=True" if extra else "channels_last=True"
        return f"{type(self).__name__}({extra})"

    def _require_forward(self) -> None:
        if getattr(self, self._forward_state) is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() was called before forward(): run "
                "forward(x) first; it keeps what backward needs"
            )

    def _fn(self, family: str):
        return getattr(_fp, f"{family}{self._rank}d")


def _spatial(rank: int) -> str:
    return ", ".join(("D", "H", "W")[3 - rank:])


# --------------------------------------------------------------------------
# Max


class _MaxPoolNd(_Layer):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False, *, channels_last=False, nan_policy="propagate",
                 num_threads=None):
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode
        self.channels_last = channels_last
        self.nan_policy = nan_policy
        self.num_threads = num_threads
        self.indices = None
        self.input_shape = None

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")

    def forward(self, x):
        """Pool ``x``; keep the indices and the input shape for :meth:`backward`.

        Returns
        -------
        y : ndarray
        indices : ndarray of int64
            Only when the layer was built with ``return_indices=True``.
        """
        x = np.asarray(x)
        y, idx = self._fn("max_pool")(
            x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, True,
            channels_last=self.channels_last, nan_policy=self.nan_policy,
            num_threads=self.num_threads)
        self.indices, self.input_shape = idx, x.shape
        return (y, idx) if self.return_indices else y

    def backward(self, grad):
        """Gradient with respect to the last ``forward`` input: ``grad`` added at the indices."""
        self._require_forward()
        return getattr(_fp, f"max_pool{self._rank}d_backward")(
            grad, self.indices, self.input_shape, channels_last=self.channels_last,
            num_threads=self.num_threads)


_MAX_DOC = """{r}-D max pooling layer (``torch.nn.MaxPool{r}d``'s arguments).

    Parameters
    ----------
    kernel_size : int or tuple of {r} ints
    stride : int or tuple of {r} ints, optional
        Defaults to ``kernel_size``.
    padding : int, tuple, "valid", "same" or "same_lower"
        As for :func:`fastpool.max_pool{r}d` (no ``<= kernel_size / 2`` limit).
    dilation : int or tuple of {r} ints
    return_indices : bool
        ``forward`` also returns the indices (they are kept either way).
    ceil_mode : bool
    channels_last : bool, keyword-only
        Arrays are ``(N, {sp}, C)`` instead of ``(N, C, {sp})``.
    nan_policy : "propagate" or "omit", keyword-only
    num_threads : int, optional, keyword-only

    Attributes
    ----------
    indices : ndarray or None
        Flat per-plane positions of the maxima from the last ``forward``.
    input_shape : tuple or None
        Shape of the last ``forward`` input.

    Examples
    --------
    >>> pool = MaxPool{r}d(2)
    >>> y = pool(x)                       # doctest: +SKIP
    >>> dx = pool.backward(dy)            # doctest: +SKIP
    """


class MaxPool1d(_MaxPoolNd):
    __doc__ = _MAX_DOC.format(r=1, sp=_spatial(1))
    _rank = 1


class MaxPool2d(_MaxPoolNd):
    __doc__ = _MAX_DOC.format(r=2, sp=_spatial(2))
    _rank = 2


class MaxPool3d(_MaxPoolNd):
    __doc__ = _MAX_DOC.format(r=3, sp=_spatial(3))
    _rank = 3


# --------------------------------------------------------------------------
# Average


class _AvgPoolNd(_Layer):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None, *, dilation=1,
                 channels_last=False, num_threads=None):
        stride = stride if stride is not None else kernel_size
        if self._rank == 1:  # torch's AvgPool1d stores 1-tuples
            kernel_size, stride, padding = (_ntuple(v, 1) for v in (kernel_size, stride, padding))
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override
        self.dilation = dilation
        self.channels_last = channels_last
        self.num_threads = num_threads
        self.input_shape = None

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def _args(self):
        return (self.kernel_size, self.stride, self.padding, self.ceil_mode,
                self.count_include_pad, self.divisor_override)

    def forward(self, x):
        """Average-pool ``x``; keep its shape for :meth:`backward`."""
        x = np.asarray(x)
        y = self._fn("avg_pool")(x, *self._args(), dilation=self.dilation,
                                 channels_last=self.channels_last, num_threads=self.num_threads)
        self.input_shape = x.shape
        return y

    def backward(self, grad):
        """Gradient with respect to the last ``forward`` input."""
        self._require_forward()
        return getattr(_fp, f"avg_pool{self._rank}d_backward")(
            grad, self.input_shape, *self._args(), dilation=self.dilation,
            channels_last=self.channels_last, num_threads=self.num_threads)


_AVG_DOC = """{r}-D average pooling layer (``torch.nn.AvgPool{r}d``'s arguments).

    Parameters
    ----------
    kernel_size : int or tuple of {r} ints
    stride : int or tuple of {r} ints, optional
        Defaults to ``kernel_size``.
    padding : int, tuple, "valid", "same" or "same_lower"
    ceil_mode : bool
    count_include_pad : bool
        Divide by the padded window size (True) or by the input cells only.
    divisor_override : int, optional
    dilation : int or tuple of {r} ints, keyword-only
    channels_last : bool, keyword-only
        Arrays are ``(N, {sp}, C)``.
    num_threads : int, optional, keyword-only

    Attributes
    ----------
    input_shape : tuple or None
        Shape of the last ``forward`` input.
    """


class AvgPool1d(_AvgPoolNd):
    __doc__ = _AVG_DOC.format(r=1, sp=_spatial(1))
    _rank = 1


class AvgPool2d(_AvgPoolNd):
    __doc__ = _AVG_DOC.format(r=2, sp=_spatial(2))
    _rank = 2


class AvgPool3d(_AvgPoolNd):
    __doc__ = _AVG_DOC.format(r=3, sp=_spatial(3))
    _rank = 3


# --------------------------------------------------------------------------
# Lp


class _LPPoolNd(_Layer):
    _forward_state = "input"

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False, *, padding=0,
                 dilation=1, channels_last=False, num_threads=None):
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode
        self.padding = padding
        self.dilation = dilation
        self.channels_last = channels_last
        self.num_threads = num_threads
        self.input = None
        self.output = None

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")

    def _args(self):
        return (self.norm_type, self.kernel_size, self.stride, self.ceil_mode)

    def forward(self, x):
        """``(sum |x|^p)^(1/p)`` per window; keep ``x`` and the output for :meth:`backward`."""
        x = np.asarray(x)
        y = self._fn("lp_pool")(x, *self._args(), padding=self.padding, dilation=self.dilation,
                                channels_last=self.channels_last, num_threads=self.num_threads)
        self.input, self.output = x, y
        return y

    def backward(self, grad):
        """Gradient with respect to the last ``forward`` input (0 where the output is 0)."""
        self._require_forward()
        return getattr(_fp, f"lp_pool{self._rank}d_backward")(
            grad, self.input, self.output, *self._args(), padding=self.padding,
            dilation=self.dilation, channels_last=self.channels_last,
            num_threads=self.num_threads)


_LP_DOC = """{r}-D power-average pooling layer (``torch.nn.LPPool{r}d``'s arguments).

    Computes ``(sum |x|^p)^(1/p)`` per window (ONNX ``LpPool``; equal to
    torch's where torch is well defined, see :func:`fastpool.lp_pool{r}d`).

    Parameters
    ----------
    norm_type : float
        ``p > 0``; ``inf`` gives max ``|x|``.
    kernel_size : int or tuple of {r} ints
    stride : int or tuple of {r} ints, optional
        Defaults to ``kernel_size``.
    ceil_mode : bool
    padding : int, tuple, "valid", "same" or "same_lower", keyword-only
        Padding contributes 0.
    dilation : int or tuple of {r} ints, keyword-only
    channels_last : bool, keyword-only
        Arrays are ``(N, {sp}, C)``.
    num_threads : int, optional, keyword-only

    Attributes
    ----------
    input, output : ndarray or None
        The last ``forward``'s input (a reference, not a copy) and output.
    """


class LPPool1d(_LPPoolNd):
    __doc__ = _LP_DOC.format(r=1, sp=_spatial(1))
    _rank = 1


class LPPool2d(_LPPoolNd):
    __doc__ = _LP_DOC.format(r=2, sp=_spatial(2))
    _rank = 2


class LPPool3d(_LPPoolNd):
    __doc__ = _LP_DOC.format(r=3, sp=_spatial(3))
    _rank = 3


# --------------------------------------------------------------------------
# Adaptive and global


class _AdaptiveMaxPoolNd(_Layer):
    def __init__(self, output_size, return_indices=False, *, channels_last=False,
                 nan_policy="propagate", num_threads=None):
        self.output_size = output_size
        self.return_indices = return_indices
        self.channels_last = channels_last
        self.nan_policy = nan_policy
        self.num_threads = num_threads
        self.indices = None
        self.input_shape = None

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"

    def forward(self, x):
        """Adaptive max pooling of ``x``; keep the indices for :meth:`backward`."""
        x = np.asarray(x)
        y, idx = self._fn("adaptive_max_pool")(
            x, self.output_size, True, channels_last=self.channels_last,
            nan_policy=self.nan_policy, num_threads=self.num_threads)
        self.indices, self.input_shape = idx, x.shape
        return (y, idx) if self.return_indices else y

    def backward(self, grad):
        """Gradient with respect to the last ``forward`` input."""
        self._require_forward()
        return getattr(_fp, f"adaptive_max_pool{self._rank}d_backward")(
            grad, self.indices, self.input_shape, channels_last=self.channels_last,
            num_threads=self.num_threads)


class _AdaptiveAvgPoolNd(_Layer):
    def __init__(self, output_size, *, channels_last=False, num_threads=None):
        self.output_size = output_size
        self.channels_last = channels_last
        self.num_threads = num_threads
        self.input_shape = None

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"

    def forward(self, x):
        """Adaptive average pooling of ``x``; keep its shape for :meth:`backward`."""
        x = np.asarray(x)
        y = self._fn("adaptive_avg_pool")(x, self.output_size, channels_last=self.channels_last,
                                          num_threads=self.num_threads)
        self.input_shape = x.shape
        return y

    def backward(self, grad):
        """Gradient with respect to the last ``forward`` input."""
        self._require_forward()
        return getattr(_fp, f"adaptive_avg_pool{self._rank}d_backward")(
            grad, self.input_shape, channels_last=self.channels_last,
            num_threads=self.num_threads)


_ADAPTIVE_DOC = """{r}-D adaptive {kind} pooling layer (``torch.nn.Adaptive{Kind}Pool{r}d``'s arguments).

    Output cell ``o`` of an axis covers ``[floor(o*I/O), ceil((o+1)*I/O))``.

    Parameters
    ----------
    output_size : int or tuple of {r}
        ``None`` entries keep that axis's input size.{extra}
    channels_last : bool, keyword-only
        Arrays are ``(N, {sp}, C)``.
    num_threads : int, optional, keyword-only

    Attributes
    ----------
    input_shape : tuple or None
        Shape of the last ``forward`` input.{attrs}
    """
_AMAX_EXTRA = """
    return_indices : bool
        ``forward`` also returns the indices (they are kept either way).
    nan_policy : "propagate" or "omit", keyword-only"""
_AMAX_ATTRS = """
    indices : ndarray or None
        Flat per-plane positions of the maxima from the last ``forward``."""


def _adaptive_doc(r, kind):
    extra, attrs = (_AMAX_EXTRA, _AMAX_ATTRS) if kind == "max" else ("", "")
    return _ADAPTIVE_DOC.format(r=r, kind=kind, Kind=kind.capitalize(), sp=_spatial(r),
                                extra=extra, attrs=attrs)


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    __doc__ = _adaptive_doc(1, "max")
    _rank = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    __doc__ = _adaptive_doc(2, "max")
    _rank = 2


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    __doc__ = _adaptive_doc(3, "max")
    _rank = 3


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    __doc__ = _adaptive_doc(1, "average")
    _rank = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    __doc__ = _adaptive_doc(2, "average")
    _rank = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    __doc__ = _adaptive_doc(3, "average")
    _rank = 3


class GlobalMaxPool(_Layer):
    """Max over each ``(n, c)`` plane: ``(N, C, *spatial)`` -> ``(N, C, 1, ...)``.

    The spatial rank (1 to 3) is taken from the input; the input must be batched.

    Parameters
    ----------
    return_indices : bool
        ``forward`` also returns the indices (they are kept either way).
    channels_last : bool, keyword-only
        Arrays are ``(N, *spatial, C)``.
    nan_policy : "propagate" or "omit", keyword-only
    num_threads : int, optional, keyword-only

    Attributes
    ----------
    indices : ndarray or None
    input_shape : tuple or None
    """

    def __init__(self, return_indices=False, *, channels_last=False, nan_policy="propagate",
                 num_threads=None):
        self.return_indices = return_indices
        self.channels_last = channels_last
        self.nan_policy = nan_policy
        self.num_threads = num_threads
        self.indices = None
        self.input_shape = None

    def forward(self, x):
        """Global max of ``x``; keep the indices for :meth:`backward`."""
        x = np.asarray(x)
        y, idx = _fp.global_max_pool(x, True, channels_last=self.channels_last,
                                     nan_policy=self.nan_policy, num_threads=self.num_threads)
        self.indices, self.input_shape = idx, x.shape
        return (y, idx) if self.return_indices else y

    def backward(self, grad):
        """Gradient with respect to the last ``forward`` input."""
        self._require_forward()
        return _fp.global_max_pool_backward(grad, self.indices, self.input_shape,
                                            channels_last=self.channels_last,
                                            num_threads=self.num_threads)


class GlobalAvgPool(_Layer):
    """Mean over each ``(n, c)`` plane: ``(N, C, *spatial)`` -> ``(N, C, 1, ...)``.

    The spatial rank (1 to 3) is taken from the input; the input must be batched.

    Parameters
    ----------
    channels_last : bool, keyword-only
        Arrays are ``(N, *spatial, C)``.
    num_threads : int, optional, keyword-only

    Attributes
    ----------
    input_shape : tuple or None
    """

    def __init__(self, *, channels_last=False, num_threads=None):
        self.channels_last = channels_last
        self.num_threads = num_threads
        self.input_shape = None

    def forward(self, x):
        """Global mean of ``x``; keep its shape for :meth:`backward`."""
        x = np.asarray(x)
        y = _fp.global_avg_pool(x, channels_last=self.channels_last,
                                num_threads=self.num_threads)
        self.input_shape = x.shape
        return y

    def backward(self, grad):
        """Gradient with respect to the last ``forward`` input."""
        self._require_forward()
        return _fp.global_avg_pool_backward(grad, self.input_shape,
                                            channels_last=self.channels_last,
                                            num_threads=self.num_threads)


# --------------------------------------------------------------------------
# Unpooling


class _MaxUnpoolNd(_Layer):
    _forward_state = "indices"

    def __init__(self, kernel_size, stride=None, padding=0, *, channels_last=False,
                 num_threads=None):
        r = self._rank
        self.kernel_size = _ntuple(kernel_size, r)
        self.stride = _ntuple(stride if stride is not None else kernel_size, r)
        self.padding = _ntuple(padding, r)
        self.channels_last = channels_last
        self.num_threads = num_threads
        self.indices = None
        self.output_size = None

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def _args(self):
        return (self.kernel_size, self.stride, self.padding, self.output_size)

    def forward(self, x, indices, output_size=None):
        """Scatter ``x`` to ``indices`` in a zero-filled output; keep the indices.

        Parameters
        ----------
        x : array_like
            Pooled values.
        indices : array_like of int64 or int32
            From the matching max pooling, shaped like ``x``.
        output_size : tuple, optional
            Spatial size (or the full shape) of the output.
        """
        idx = np.asarray(indices)
        self.indices, self.output_size = None, output_size
        y = self._fn("max_unpool")(x, idx, *self._args(), channels_last=self.channels_last,
                                   num_threads=self.num_threads)
        self.indices = idx
        return y

    def backward(self, grad):
        """Gradient with respect to the last ``forward``'s ``x``: a gather at the indices."""
        self._require_forward()
        return getattr(_fp, f"max_unpool{self._rank}d_backward")(
            grad, self.indices, *self._args(), channels_last=self.channels_last,
            num_threads=self.num_threads)


_UNPOOL_DOC = """{r}-D max unpooling layer (``torch.nn.MaxUnpool{r}d``'s arguments).

    ``forward(x, indices, output_size=None)`` writes each value of ``x`` at its
    index in a zero-filled output; ``backward(grad)`` gathers ``grad`` at the
    same indices.

    Parameters
    ----------
    kernel_size : int or tuple of {r} ints
    stride : int or tuple of {r} ints, optional
        Defaults to ``kernel_size``.
    padding : int or tuple
        The padding of the pooling being inverted.
    channels_last : bool, keyword-only
        Arrays are ``(N, {sp}, C)``.
    num_threads : int, optional, keyword-only
    """


class MaxUnpool1d(_MaxUnpoolNd):
    __doc__ = _UNPOOL_DOC.format(r=1, sp=_spatial(1))
    _rank = 1


class MaxUnpool2d(_MaxUnpoolNd):
    __doc__ = _UNPOOL_DOC.format(r=2, sp=_spatial(2))
    _rank = 2


class MaxUnpool3d(_MaxUnpoolNd):
    __doc__ = _UNPOOL_DOC.format(r=3, sp=_spatial(3))
    _rank = 3


# --------------------------------------------------------------------------
# Fractional max


class _FractionalMaxPoolNd(_Layer):
    def __init__(self, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                 *, seed=None, channels_last=False, nan_policy="propagate", num_threads=None):
        name = type(self).__name__
        if (output_size is None) == (output_ratio is None):
            raise ValueError(f"{name}: give exactly one of output_size and output_ratio")
        r = self._rank
        self.kernel_size = _ntuple(kernel_size, r)
        self.output_size = _ntuple(output_size, r) if output_size is not None else None
        self.output_ratio = _ntuple(output_ratio, r) if output_ratio is not None else None
        if self.output_ratio is not None and not all(0 < v < 1 for v in self.output_ratio):
            raise ValueError(f"{name}: output_ratio must be between 0 and 1, got {output_ratio}")
        self.return_indices = return_indices
        self.channels_last = channels_last
        self.nan_policy = nan_policy
        self.num_threads = num_threads
        self.rng = np.random.default_rng(seed)
        self.samples = None
        self.indices = None
        self.input_shape = None

    def extra_repr(self) -> str:
        size = (f"output_size={self.output_size}" if self.output_size is not None
                else f"output_ratio={self.output_ratio}")
        return f"kernel_size={self.kernel_size}, {size}"

    def forward(self, x, samples=None):
        """Fractional max pooling of ``x`` with fresh window positions.

        Parameters
        ----------
        x : array_like, float32 or float64
        samples : array_like, optional
            ``(N, C, rank)`` values in ``[0, 1)`` in torch's ``_random_samples``
            order; by default drawn from the layer's generator (``seed``), new
            ones on every call.  Kept as ``self.samples``.
        """
        x = np.asarray(x)
        if samples is None:
            if x.ndim not in (self._rank + 1, self._rank + 2):
                raise ValueError(f"{type(self).__name__}: x must have {self._rank + 1} or "
                                 f"{self._rank + 2} dimensions, got shape {x.shape}")
            batched = x.ndim == self._rank + 2
            n = x.shape[0] if batched else 1
            c = x.shape[-1] if self.channels_last else x.shape[1 if batched else 0]
            dtype = np.float32 if x.dtype == np.float32 else np.float64
            samples = self.rng.random((n, c, self._rank), dtype=dtype)
        y, idx = self._fn("fractional_max_pool")(
            x, self.kernel_size, self.output_size, self.output_ratio, True, samples=samples,
            channels_last=self.channels_last, nan_policy=self.nan_policy,
            num_threads=self.num_threads)
        self.samples, self.indices, self.input_shape = samples, idx, x.shape
        return (y, idx) if self.return_indices else y

    def backward(self, grad):
        """Gradient with respect to the last ``forward`` input."""
        self._require_forward()
        return getattr(_fp, f"fractional_max_pool{self._rank}d_backward")(
            grad, self.indices, self.input_shape, channels_last=self.channels_last,
            num_threads=self.num_threads)


_FRACTIONAL_DOC = """{r}-D fractional max pooling layer (``torch.nn.FractionalMaxPool{r}d``'s arguments).

    Every ``forward`` draws new window positions from the layer's generator
    (or takes ``samples=``), as in training; the ``repr`` lists the arguments
    (torch's shows none).

    Parameters
    ----------
    kernel_size : int or tuple of {r} ints
    output_size : int or tuple of {r} ints, optional
    output_ratio : float or tuple of {r} floats, optional
        In ``(0, 1)``; give exactly one of ``output_size`` and ``output_ratio``.
    return_indices : bool
        ``forward`` also returns the indices (they are kept either way).
    seed : int, optional, keyword-only
        Seeds the layer's ``numpy.random.Generator`` (``self.rng``).
    channels_last : bool, keyword-only
        Arrays are ``(N, {sp}, C)``.
    nan_policy : "propagate" or "omit", keyword-only
    num_threads : int, optional, keyword-only

    Attributes
    ----------
    samples, indices : ndarray or None
        The last ``forward``'s samples and indices.
    input_shape : tuple or None
    """


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    __doc__ = _FRACTIONAL_DOC.format(r=2, sp=_spatial(2))
    _rank = 2


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    __doc__ = _FRACTIONAL_DOC.format(r=3, sp=_spatial(3))
    _rank = 3


# --------------------------------------------------------------------------
# Special poolings (SPEC §4.8–4.12)
#
# Layers with parameters (MixedPool2d's alpha, NetVLAD's weight, bias and
# centroids) keep them as NumPy arrays under those names; ``backward`` returns
# ``dx`` and stores each parameter's gradient as ``d<name>`` (``dalpha``,
# ``dweight``, ...), summed over the batch and overwritten (not accumulated)
# by every call.  ``parameters()`` and ``gradients()`` give both as dicts of
# the same keys, so a plain SGD step is
# ``for k, g in layer.gradients().items(): layer.parameters()[k] -= lr * g``.


class _ParamLayer(_Layer):
    _params: tuple[str, ...] = ()

    def parameters(self) -> dict:
        """The parameter arrays by name (the layer's own arrays, not copies)."""
        return {k: getattr(self, k) for k in self._params}

    def gradients(self) -> dict:
        """The gradients of the last ``backward`` by parameter name (None before one)."""
        return {k: getattr(self, f"d{k}") for k in self._params}


class StochasticPool2d(_Layer):
    """2-D stochastic pooling layer (Zeiler & Fergus 2013), :func:`fastpool.stochastic_pool2d`.

    In training each window outputs one of its cells, picked with probability
    ``a_i / sum(a)`` (``x`` must be finite and ``>= 0``); in inference the
    weighting ``sum(a**2) / sum(a)``.  The mode is the ``training`` attribute
    at the time of ``forward`` (``train()`` / ``eval()`` set it, as in torch),
    and ``backward`` differentiates that mode.

    Parameters
    ----------
    kernel_size, stride, padding, dilation, ceil_mode
        As for :class:`MaxPool2d` (``stride=None`` means ``kernel_size``).
    seed : int, optional, keyword-only
        Seeds the layer's ``numpy.random.Generator`` (``self.rng``).  Every
        training ``forward`` draws a new 64-bit key from it (kept as
        ``self.key``), so a layer built with the same seed gives the same
        samples call after call; ``forward(x, key=k)`` uses ``k`` instead.
    training : bool, keyword-only
        The initial mode (default True).
    channels_last : bool, keyword-only
        Arrays are ``(N, H, W, C)``.
    num_threads : int, optional, keyword-only

    Attributes
    ----------
    key : int or None
        The last training ``forward``'s key (``fastpool.stochastic_pool2d``'s
        ``seed``).
    indices : ndarray or None
        The picked cells of the last training ``forward``.
    input, input_shape
        The last ``forward``'s input (a reference, kept in inference) and shape.
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, *,
                 seed=None, training=True, channels_last=False, num_threads=None):
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.ceil_mode = ceil_mode
        self.training = training
        self.channels_last = channels_last
        self.num_threads = num_threads
        self.rng = np.random.default_rng(seed)
        self.key = self.indices = self.input = self.input_shape = None
        self._mode = None

    def train(self, mode=True):
        """Set the training mode (``eval()`` is ``train(False)``); returns the layer."""
        self.training = bool(mode)
        return self

    def eval(self):
        """Inference mode; returns the layer."""
        return self.train(False)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")

    def _args(self):
        return (self.kernel_size, self.stride, self.padding)

    def forward(self, x, key=None):
        """Pool ``x`` in the current mode; keep what :meth:`backward` needs."""
        x = np.asarray(x)
        kw = {"dilation": self.dilation, "ceil_mode": self.ceil_mode,
              "channels_last": self.channels_last, "num_threads": self.num_threads}
        self.input_shape = None
        if self.training:
            if key is None:
                key = int(self.rng.integers(0, 2**64, dtype=np.uint64))
            y, idx = _fp.stochastic_pool2d(x, *self._args(), training=True, seed=key,
                                           return_indices=True, **kw)
            self.key, self.indices, self.input = key, idx, None
        else:
            y = _fp.stochastic_pool2d(x, *self._args(), training=False, **kw)
            self.indices, self.input = None, x
        self._mode, self.input_shape = self.training, x.shape
        return y

    def backward(self, grad):
        """Gradient with respect to the last ``forward`` input, in that call's mode."""
        self._require_forward()
        if self._mode:
            return _fp.stochastic_pool2d_backward(grad, self.indices, self.input_shape,
                                                  channels_last=self.channels_last,
                                                  num_threads=self.num_threads)
        return _fp.stochastic_pool2d_backward(
            grad, self.input, *self._args(), training=False, dilation=self.dilation,
            ceil_mode=self.ceil_mode, channels_last=self.channels_last,
            num_threads=self.num_threads)


class MedianPool2d(_Layer):
    """2-D median pooling layer, :func:`fastpool.median_pool2d`.

    Parameters
    ----------
    kernel_size, stride, padding, dilation, ceil_mode
        As for :class:`MaxPool2d` (``stride=None`` means ``kernel_size``).
    even : "lower", "upper" or "mean", keyword-only
        Which middle of an even count.
    return_indices : bool, keyword-only
        ``forward`` also returns the selected cells (``"lower"``/``"upper"``;
        kept either way).
    channels_last : bool, keyword-only
        Arrays are ``(N, H, W, C)``.
    num_threads : int, optional, keyword-only

    Attributes
    ----------
    indices : ndarray or None
        Selected cells of the last ``forward`` (``"lower"``/``"upper"``).
    input : ndarray or None
        The last ``forward``'s input (``"mean"``, whose backward recomputes
        the two middle cells; a reference, not a copy).
    input_shape : tuple or None
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, *,
                 even="lower", return_indices=False, channels_last=False, num_threads=None):
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.ceil_mode = ceil_mode
        self.even = even
        self.return_indices = return_indices
        self.channels_last = channels_last
        self.num_threads = num_threads
        self.indices = self.input = self.input_shape = None

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}, even={self.even!r}")

    def _args(self):
        return (self.kernel_size, self.stride, self.padding)

    def forward(self, x):
        """Median-pool ``x``; keep the indices (or ``x`` for ``"mean"``)."""
        x = np.asarray(x)
        kw = {"dilation": self.dilation, "ceil_mode": self.ceil_mode, "even": self.even,
              "channels_last": self.channels_last, "num_threads": self.num_threads}
        self.input_shape = None
        if self.even == "mean":
            if self.return_indices:
                raise ValueError("MedianPool2d: return_indices needs even='lower' or 'upper'")
            y = _fp.median_pool2d(x, *self._args(), **kw)
            self.indices, self.input, self.input_shape = None, x, x.shape
            return y
        y, idx = _fp.median_pool2d(x, *self._args(), return_indices=True, **kw)
        self.indices, self.input, self.input_shape = idx, None, x.shape
        return (y, idx) if self.return_indices else y

    def backward(self, grad):
        """Gradient with respect to the last ``forward`` input."""
        self._require_forward()
        if self.indices is not None:
            return _fp.median_pool2d_backward(grad, self.indices, self.input_shape,
                                              even=self.even, channels_last=self.channels_last,
                                              num_threads=self.num_threads)
        return _fp.median_pool2d_backward(
            grad, self.input, *self._args(), even="mean", dilation=self.dilation,
            ceil_mode=self.ceil_mode, channels_last=self.channels_last,
            num_threads=self.num_threads)


class MixedPool2d(_ParamLayer):
    """2-D mixed max-average pooling layer (Lee et al. 2016), :func:`fastpool.mixed_pool2d`.

    ``mode="blend"``: ``alpha*max + (1 - alpha)*avg``, with ``alpha`` a
    parameter (scalar or one per channel) whose gradient ``backward`` stores
    as ``dalpha``; ``mode="concat"``: ``[avg, max]`` (or ``order=("max",
    "avg")``) along the channels, no parameter.

    Parameters
    ----------
    kernel_size, stride, padding, dilation, ceil_mode, count_include_pad
        As for :class:`MaxPool2d` / :class:`AvgPool2d`.
    alpha : float or array_like of shape (C,), keyword-only
        Initial blend weight of the max; kept as a float64 array
        ``self.alpha`` (0-d for a number) that training may update in place.
    mode : "blend" or "concat", keyword-only
    order : ("avg", "max") or ("max", "avg"), keyword-only
    channels_last : bool, keyword-only
        Arrays are ``(N, H, W, C)``.
    num_threads : int, optional, keyword-only

    Attributes
    ----------
    alpha : ndarray
        The parameter (blend only).
    dalpha : ndarray or None
        ``sum(dy * (max - avg))`` over the batch and outputs, of ``alpha``'s
        shape, from the last ``backward`` (blend; None for concat).
    input : ndarray or None
        The last ``forward``'s input (a reference; the backward re-reads it).
    """

    _forward_state = "input"
    _params = ("alpha",)

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                 count_include_pad=True, *, alpha=0.5, mode="blend", order=("avg", "max"),
                 channels_last=False, num_threads=None):
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.alpha = np.array(alpha, dtype=np.float64)
        self.mode = mode
        self.order = tuple(order)
        self.channels_last = channels_last
        self.num_threads = num_threads
        self._params = ("alpha",) if mode == "blend" else ()
        self.input = self.dalpha = None

    def extra_repr(self) -> str:
        if self.mode == "blend":
            alpha = self.alpha.item() if self.alpha.ndim == 0 else self.alpha.tolist()
            extra = f"alpha={alpha}"
        else:
            extra = f"order={self.order}"
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"mode={self.mode!r}, {extra}")

    def _kw(self):
        return {"alpha": self.alpha, "mode": self.mode, "order": self.order,
                "dilation": self.dilation, "ceil_mode": self.ceil_mode,
                "count_include_pad": self.count_include_pad,
                "channels_last": self.channels_last, "num_threads": self.num_threads}

    def forward(self, x):
        """Mixed-pool ``x`` with the current ``alpha``; keep ``x``."""
        x = np.asarray(x)
        self.input = None
        y = _fp.mixed_pool2d(x, self.kernel_size, self.stride, self.padding, **self._kw())
        self.input = x
        return y

    def backward(self, grad):
        """``dx`` of the last ``forward``; stores ``self.dalpha`` (blend)."""
        self._require_forward()
        res = _fp.mixed_pool2d_backward(grad, self.input, self.kernel_size, self.stride,
                                        self.padding, **self._kw())
        if self.mode != "blend":
            self.dalpha = None
            return res
        dx, self.dalpha = res
        return dx


class SpatialPyramidPool(_Layer):
    """Spatial pyramid pooling layer (He et al. 2014), :func:`fastpool.spatial_pyramid_pool`:
    ``(N, C, H, W)`` -> ``(N, C * sum(l*l))``.

    Parameters
    ----------
    levels : int or sequence of int
    mode : "max" or "avg"
    variant : "adaptive", "sppnet" or "caffe"
    channels_last : bool, keyword-only
        ``x`` is ``(N, H, W, C)`` and each level is flattened ``(l, l, C)``.
    num_threads : int, optional, keyword-only

    Attributes
    ----------
    input : ndarray or None
        The last ``forward``'s input (a reference; the max backward re-finds
        each bin's maximum in it).
    """

    _forward_state = "input"

    def __init__(self, levels=(1, 2, 4), mode="max", variant="adaptive", *,
                 channels_last=False, num_threads=None):
        self.levels = levels
        self.mode = mode
        self.variant = variant
        self.channels_last = channels_last
        self.num_threads = num_threads
        self.input = None

    def extra_repr(self) -> str:
        return f"levels={self.levels}, mode={self.mode!r}, variant={self.variant!r}"

    def _args(self):
        return (self.levels, self.mode, self.variant)

    def forward(self, x):
        """Pool ``x`` into the pyramid's features; keep ``x``."""
        x = np.asarray(x)
        self.input = None
        y = _fp.spatial_pyramid_pool(x, *self._args(), channels_last=self.channels_last,
                                     num_threads=self.num_threads)
        self.input = x
        return y

    def backward(self, grad):
        """Gradient with respect to the last ``forward`` input."""
        self._require_forward()
        return _fp.spatial_pyramid_pool_backward(grad, self.input, *self._args(),
                                                 channels_last=self.channels_last,
                                                 num_threads=self.num_threads)


class YOLOSPP(_Layer):
    """YOLO's SPP block, :func:`fastpool.yolo_spp`: ``x`` and its stride-1 max
    pools concatenated along the channels (``[x, p5, p9, p13]`` ultralytics,
    ``[p13, p9, p5, x]`` darknet).

    Parameters
    ----------
    kernel_sizes : int or sequence of odd int
    order : "ultralytics" or "darknet"
    channels_last : bool, keyword-only
        Arrays are ``(N, H, W, C)``.
    num_threads : int, optional, keyword-only

    Attributes
    ----------
    input : ndarray or None
        The last ``forward``'s input (a reference; the backward re-finds the
        maxima in it).
    """

    _forward_state = "input"

    def __init__(self, kernel_sizes=(5, 9, 13), order="ultralytics", *, channels_last=False,
                 num_threads=None):
        self.kernel_sizes = kernel_sizes
        self.order = order
        self.channels_last = channels_last
        self.num_threads = num_threads
        self.input = None

    def extra_repr(self) -> str:
        return f"kernel_sizes={self.kernel_sizes}, order={self.order!r}"

    def forward(self, x):
        """The SPP block of ``x``; keep ``x``."""
        x = np.asarray(x)
        self.input = None
        y = _fp.yolo_spp(x, self.kernel_sizes, self.order, channels_last=self.channels_last,
                         num_threads=self.num_threads)
        self.input = x
        return y

    def backward(self, grad):
        """Gradient with respect to the last ``forward`` input."""
        self._require_forward()
        return _fp.yolo_spp_backward(grad, self.input, self.kernel_sizes, self.order,
                                     channels_last=self.channels_last,
                                     num_threads=self.num_threads)


class BilinearPool(_Layer):
    """Bilinear pooling layer (B-CNN, Lin et al. 2015), :func:`fastpool.bilinear_pool`.

    ``forward(x, y=None)`` -> ``(N, Cx * Cy)``; ``backward(grad)`` returns
    ``dx`` for ``y=None`` and ``(dx, dy)`` for two inputs.

    Parameters
    ----------
    average, signed_sqrt, l2_normalize : bool
    eps : float
    spatial_rank : int, keyword-only
        Spatial axes of the inputs, 1 to 3 (default 2).
    channels_last : bool, keyword-only
        Inputs are ``(N, *spatial, C)``.
    num_threads : int, optional, keyword-only

    Attributes
    ----------
    input, other : ndarray or None
        The last ``forward``'s ``x`` and ``y`` (references, not copies).
    """

    _forward_state = "input"

    def __init__(self, average=True, signed_sqrt=True, l2_normalize=True, eps=1e-12, *,
                 spatial_rank=2, channels_last=False, num_threads=None):
        self.average = average
        self.signed_sqrt = signed_sqrt
        self.l2_normalize = l2_normalize
        self.eps = eps
        self.spatial_rank = spatial_rank
        self.channels_last = channels_last
        self.num_threads = num_threads
        self.input = self.other = None

    def extra_repr(self) -> str:
        return (f"average={self.average}, signed_sqrt={self.signed_sqrt}, "
                f"l2_normalize={self.l2_normalize}, eps={self.eps}")

    def _kw(self):
        return {"average": self.average, "signed_sqrt": self.signed_sqrt,
                "l2_normalize": self.l2_normalize, "eps": self.eps,
                "spatial_rank": self.spatial_rank, "channels_last": self.channels_last,
                "num_threads": self.num_threads}

    def forward(self, x, y=None):
        """Bilinear pooling of ``x`` (with ``y``, or itself); keep both."""
        x = np.asarray(x)
        y = None if y is None else np.asarray(y)
        self.input = None
        res = _fp.bilinear_pool(x, y, **self._kw())
        self.input, self.other = x, y
        return res

    def backward(self, grad):
        """``dx``, or ``(dx, dy)`` when ``forward`` had two inputs."""
        self._require_forward()
        return _fp.bilinear_pool_backward(grad, self.input, self.other, **self._kw())


class NetVLAD(_ParamLayer):
    """NetVLAD layer (Arandjelovic et al. 2016), :func:`fastpool.netvlad`:
    ``(N, D, *spatial)`` -> ``(N, K * D)``.

    Parameters
    ----------
    num_clusters : int
        ``K``.
    dim : int
        ``D``, the input's channels.
    alpha : float, keyword-only
        Sharpness of the initial soft assignment (see below).
    normalize_input : bool, keyword-only
    eps : float, keyword-only
    spatial_rank : int, keyword-only
        Spatial axes of the input, 1 to 3 (default 2).
    seed : int, optional, keyword-only
        Seeds the generator of the initial centroids.
    dtype : float32 or float64, keyword-only
        Of the parameters; the input must have the same dtype.
    channels_last : bool, keyword-only
        Inputs are ``(N, *spatial, D)``.
    num_threads : int, optional, keyword-only

    Attributes
    ----------
    weight : ndarray, ``(K, D)``
        The soft assignment's 1x1 convolution weight.
    bias : ndarray, ``(K,)``
    centroids : ndarray, ``(K, D)``
    dweight, dbias, dcentroids : ndarray or None
        Their gradients from the last ``backward``, summed over the batch.
    input : ndarray or None
        The last ``forward``'s input (a reference, not a copy).

    Initialisation (:meth:`reset_parameters`): ``centroids`` are random unit
    vectors (the descriptors are unit vectors after ``normalize_input``),
    ``weight = 2*alpha*centroids`` and ``bias = -alpha*||centroids||**2``, so
    that the assignment starts as ``softmax_k(-alpha*||x - c_k||**2)`` (the
    paper's choice; ``||x||**2`` is common to all clusters).
    ``reset_parameters(centroids)`` starts from given centroids, e.g. k-means
    of training descriptors.
    """

    _forward_state = "input"
    _params = ("weight", "bias", "centroids")

    def __init__(self, num_clusters, dim, *, alpha=100.0, normalize_input=True, eps=1e-12,
                 spatial_rank=2, seed=None, dtype=np.float64, channels_last=False,
                 num_threads=None):
        self.num_clusters = num_clusters
        self.dim = dim
        self.alpha = float(alpha)
        self.normalize_input = normalize_input
        self.eps = eps
        self.spatial_rank = spatial_rank
        self.dtype = np.dtype(dtype)
        self.channels_last = channels_last
        self.num_threads = num_threads
        self.rng = np.random.default_rng(seed)
        self.input = self.dweight = self.dbias = self.dcentroids = None
        self.reset_parameters()

    def reset_parameters(self, centroids=None):
        """Initialise as described in the class docstring; ``centroids`` (``(K, D)``)
        replaces the random unit vectors."""
        k, d = self.num_clusters, self.dim
        if centroids is None:
            c = self.rng.standard_normal((k, d))
            c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
        else:
            c = np.array(centroids, dtype=np.float64)
            if c.shape != (k, d):
                raise ValueError(f"NetVLAD.reset_parameters: centroids must have shape "
                                 f"({k}, {d}), got {c.shape}")
        self.centroids = c.astype(self.dtype)
        self.weight = (2.0 * self.alpha * c).astype(self.dtype)
        self.bias = (-self.alpha * (c * c).sum(1)).astype(self.dtype)

    def extra_repr(self) -> str:
        return (f"num_clusters={self.num_clusters}, dim={self.dim}, alpha={self.alpha}, "
                f"normalize_input={self.normalize_input}")

    def _kw(self):
        return {"normalize_input": self.normalize_input, "eps": self.eps,
                "spatial_rank": self.spatial_rank, "channels_last": self.channels_last,
                "num_threads": self.num_threads}

    def forward(self, x):
        """NetVLAD descriptors of ``x`` with the current parameters; keep ``x``."""
        x = np.asarray(x)
        self.input = None
        y = _fp.netvlad(x, self.weight, self.bias, self.centroids, **self._kw())
        self.input = x
        return y

    def backward(self, grad):
        """``dx`` of the last ``forward``; stores ``dweight``, ``dbias``, ``dcentroids``."""
        self._require_forward()
        dx, self.dweight, self.dbias, self.dcentroids = _fp.netvlad_backward(
            grad, self.input, self.weight, self.bias, self.centroids, **self._kw())
        return dx
