"""PyTorch drop-in: fastpool's kernels behind ``torch.nn.functional`` and ``torch.nn`` names.

``import fastpool.torch`` (fastpool itself never imports torch) gives

- functions with the names and signatures of ``torch.nn.functional``:
  ``max_pool1d/2d/3d``, ``avg_pool1d/2d/3d``, ``lp_pool1d/2d/3d``,
  ``adaptive_max_pool1d/2d/3d``, ``adaptive_avg_pool1d/2d/3d``,
  ``max_unpool1d/2d/3d`` and ``fractional_max_pool2d/3d``;
- ``nn.Module`` classes with the names of ``torch.nn``: ``MaxPool1d/2d/3d``,
  ``AvgPool1d/2d/3d``, ``LPPool1d/2d/3d``, ``AdaptiveMaxPool1d/2d/3d``,
  ``AdaptiveAvgPool1d/2d/3d``, ``MaxUnpool1d/2d/3d``,
  ``FractionalMaxPool2d/3d``.  Each subclasses its ``torch.nn`` namesake and
  only replaces ``forward``, so the constructor, attributes, ``repr``,
  ``state_dict`` and ``isinstance`` checks are torch's own;
- :func:`convert_modules`, which switches the pooling modules of an existing
  model to these classes in place;
- the ``torch.autograd.Function`` classes behind them (``MaxPoolFunction``,
  ``AvgPoolFunction``, ``LPPoolFunction``, ``AdaptiveMaxPoolFunction``,
  ``AdaptiveAvgPoolFunction``, ``MaxUnpoolFunction``,
  ``FractionalMaxPoolFunction``), whose backward calls fastpool's
  ``*_backward`` functions;
- the special poolings, which torch does not have (SPEC §4.8–4.12):
  functions named and ordered like fastpool's (``input`` first, no
  ``channels_last`` / ``out`` / ``num_threads``): ``stochastic_pool2d``,
  ``median_pool2d``, ``mixed_pool2d``, ``spatial_pyramid_pool``,
  ``yolo_spp``, ``bilinear_pool``, ``netvlad``; the modules
  ``StochasticPool2d`` (training follows ``module.training``),
  ``MedianPool2d``, ``MixedPool2d`` (fixed or learnable ``alpha``),
  ``SpatialPyramidPool``, ``YOLOSPP``, ``BilinearPool`` and ``NetVLAD``
  (``weight``, ``bias``, ``centroids`` parameters), plain ``nn.Module``
  subclasses; and their Functions (``StochasticPoolFunction``,
  ``MedianPoolFunction``, ``MixedPoolFunction``,
  ``SpatialPyramidPoolFunction``, ``YOLOSPPFunction``,
  ``BilinearPoolFunction``, ``NetVLADFunction``), whose backward calls
  fastpool's ``*_backward`` (parameter gradients included: mixed pooling's
  ``dalpha``, NetVLAD's ``dweight``, ``dbias``, ``dcentroids``).
  ``spatial_pyramid_pool`` always reads a channels_last input through its
  ``(N, C, H, W)`` view (strides, no copy), so its features are ordered
  ``(C, l, l)`` whatever the memory format.  Stochastic pooling's key is
  ``seed=`` or 64 bits drawn from a torch generator (``generator=``, default
  torch's global one), so ``torch.manual_seed`` reproduces it.

Memory.  Inputs are handed to fastpool as NumPy views of the tensor's memory
(``tensor.detach().numpy()``), never copied, whatever the strides.  A 4-D or
5-D tensor whose strides torch itself would call channels_last (the rule of
``Tensor.suggest_memory_format``) is passed as its ``(N, *spatial, C)`` view
with ``channels_last=True``; the output, the indices and the input gradient
then come back channels_last too.  Outputs are fastpool's NumPy buffers
wrapped as tensors (``y.data_ptr()`` is the buffer the kernel wrote).

Threads.  Every call passes ``num_threads=torch.get_num_threads()``, so
``torch.set_num_threads`` governs fastpool's kernels as it governs torch's.

Unsupported input raises instead of falling back to torch's own operator
(a silent fallback would hide a slow or differently-defined path):
``TypeError`` for dtypes other than float32/float64, for non-strided
(sparse, mkldnn) tensors and for non-tensors; ``ValueError`` for tensors not
on the CPU.  Bad pooling arguments raise fastpool's ``ValueError`` /
``TypeError`` / ``IndexError`` (torch raises ``RuntimeError``).

Intentional differences from torch (tests compare with torch wherever torch
is defined):

- **Padding.** torch's ``padding <= kernel_size / 2`` check is not imposed,
  and ``padding`` also takes fastpool's other forms (``(begin, end)`` pairs,
  ``"same"``, ``"valid"``).  A window lying wholly in padding gives -inf
  with index -1 (max; its gradient is dropped) or 0 (average); torch
  returns an arbitrary index there.
- **Lp pooling** is ``(sum |x|^p)^(1/p)`` (ONNX ``LpPool``).  It equals
  torch's ``lp_pool`` where torch is well defined: ``x >= 0`` or an even
  ``p``, and no ceil-mode overhang (torch scales the clipped window's mean
  by the full kernel size).  Its gradient is 0 where the output is 0 (torch
  gives NaN or inf).  ``norm_type=inf`` is max ``|x|`` as in torch;
  ``norm_type <= 0`` (torch's ``-inf`` special case included) raises
  ``ValueError``.
- **Averages** of float32 are accumulated in float64, so they may differ from
  torch's float32 sums in the last bits.
- **Memory format.** A channels_last input gives a channels_last output for
  every operator.  torch does so for the 2-D operators and ``max_pool3d``
  but returns contiguous tensors from ``avg_pool3d``, ``lp_pool3d``, the 3-D
  adaptive operators, ``max_unpool3d`` and fractional max pooling.  Values
  are the same.
- **max_unpool** validates every index before writing (``IndexError``) and
  resolves duplicate indices deterministically (the last in C order wins);
  ``output_size`` may also be given with ``rank + 1`` entries.
- **avg_pool1d** also accepts ``divisor_override`` (torch's 2-D/3-D only).
- **Double backward** is not supported: backward is computed by fastpool's
  kernels, which are not themselves differentiable (a second
  differentiation raises ``RuntimeError``).  The operators call NumPy:
  ``torch.jit.script`` cannot compile them, ``torch.jit.trace`` would record
  their outputs as constants (do not trace them), and ``torch.compile`` runs
  them eagerly between graph breaks.

Fractional max pooling draws ``_random_samples`` with ``torch.rand`` exactly
as ``torch.nn.functional`` does, so under the same ``torch.manual_seed`` it
reproduces torch's output bit for bit.
"""

from __future__ import annotations

import torch
import torch.nn as _tnn
from torch.autograd.function import once_differentiable

import fastpool as _fp

__all__ = [
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
    "fractional_max_pool2d",
    "fractional_max_pool3d",
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
    "MaxUnpool1d",
    "MaxUnpool2d",
    "MaxUnpool3d",
    "FractionalMaxPool2d",
    "FractionalMaxPool3d",
    "MaxPoolFunction",
    "AvgPoolFunction",
    "LPPoolFunction",
    "AdaptiveMaxPoolFunction",
    "AdaptiveAvgPoolFunction",
    "MaxUnpoolFunction",
    "FractionalMaxPoolFunction",
    "convert_modules",
    "stochastic_pool2d",
    "median_pool2d",
    "mixed_pool2d",
    "spatial_pyramid_pool",
    "yolo_spp",
    "bilinear_pool",
    "netvlad",
    "StochasticPool2d",
    "MedianPool2d",
    "MixedPool2d",
    "SpatialPyramidPool",
    "YOLOSPP",
    "BilinearPool",
    "NetVLAD",
    "StochasticPoolFunction",
    "MedianPoolFunction",
    "MixedPoolFunction",
    "SpatialPyramidPoolFunction",
    "YOLOSPPFunction",
    "BilinearPoolFunction",
    "NetVLADFunction",
]

_FLOAT_DTYPES = (torch.float32, torch.float64)
_INDEX_DTYPES = (torch.int64, torch.int32)
_TO_LAST = {2: (0, 2, 3, 1), 3: (0, 2, 3, 4, 1)}
_FROM_LAST = {2: (0, 3, 1, 2), 3: (0, 4, 1, 2, 3)}
_CL_ORDER = {2: (1, 3, 2, 0), 3: (1, 4, 3, 2, 0)}


# --------------------------------------------------------------------------
# Tensors <-> NumPy views, without copies


def _check(name: str, arg: str, t, dtypes=_FLOAT_DTYPES) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: {arg} must be a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(
            f"{name}: {arg} is on device {t.device}; fastpool.torch runs on CPU tensors only "
            f"(use torch.nn.functional.{name} for other devices)"
        )
    if t.layout != torch.strided:
        raise TypeError(f"{name}: {arg} has layout {t.layout}; only strided tensors are "
                        "supported")
    if t.dtype not in dtypes:
        supported = ", ".join(str(d) for d in dtypes)
        raise TypeError(f"{name}: {arg} has dtype {t.dtype}; supported dtypes are {supported}")


def _channels_last(t: torch.Tensor, rank: int) -> bool:
    """torch's own rule (``suggest_memory_format``) for channels_last strides."""
    if rank == 1 or t.dim() != rank + 2:
        return False
    sizes, strides = t.shape, t.stride()
    if strides[1] == 0:
        return False
    low = 0
    for d in _CL_ORDER[rank]:
        if sizes[d] == 0 or strides[d] < low:
            return False
        if d == 0 and low == strides[1]:
            return False
        low = strides[d] * sizes[d] if sizes[d] > 1 else strides[d]
    return True


def _np(t: torch.Tensor, cl: bool, rank: int):
    """A NumPy view of t's memory, (N, *spatial, C) when cl."""
    t = t.detach()
    if cl:
        t = t.permute(_TO_LAST[rank])
    return t.numpy()


def _tensor(a, cl: bool, rank: int) -> torch.Tensor:
    """A tensor over the NumPy array a (no copy); a is (N, *spatial, C) when cl.

    The channels_last result is built with ``set_`` rather than ``permute`` so
    that it is not a view: autograd forbids in-place changes to view outputs
    of a custom Function (``nn.ReLU(inplace=True)`` after a pooling layer).
    """
    t = torch.from_numpy(a)
    if not cl:
        return t
    perm = _FROM_LAST[rank]
    shape, stride = t.shape, t.stride()
    return torch.empty(0, dtype=t.dtype).set_(
        t.untyped_storage(), t.storage_offset(),
        tuple(shape[p] for p in perm), tuple(stride[p] for p in perm),
    )


def _prepare(name: str, t, rank: int):
    _check(name, "input", t)
    cl = _channels_last(t, rank)
    return cl, _np(t, cl, rank)


def _plain(v):
    """Lists and torch.Size as plain tuples (fastpool caches geometry on tuples)."""
    if isinstance(v, (list, tuple)):
        return tuple(_plain(e) for e in v)
    return v


def _stride(stride):
    stride = _plain(stride)
    return None if stride is None or stride == () else stride


def _threads() -> int:
    return torch.get_num_threads()


def _needs_grad(*tensors) -> bool:
    return torch.is_grad_enabled() and any(getattr(t, "requires_grad", False) for t in tensors)


# --------------------------------------------------------------------------
# autograd Functions


class MaxPoolFunction(torch.autograd.Function):
    """Max pooling; ``apply(input, rank, kernel_size, stride, padding, dilation,
    ceil_mode)`` returns ``(output, indices)`` (indices not differentiable)."""

    @staticmethod
    def forward(ctx, input, rank, kernel_size, stride, padding, dilation, ceil_mode):
        cl, xa = _prepare(f"max_pool{rank}d", input, rank)
        y, idx = getattr(_fp, f"max_pool{rank}d")(
            xa, kernel_size, stride, padding, dilation, ceil_mode, True,
            channels_last=cl, num_threads=_threads())
        yt, it = _tensor(y, cl, rank), _tensor(idx, cl, rank)
        ctx.mark_non_differentiable(it)
        ctx.save_for_backward(it)
        ctx.info = (rank, cl, xa.shape)
        return yt, it

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output, grad_indices):
        (it,) = ctx.saved_tensors
        rank, cl, shape = ctx.info
        dx = getattr(_fp, f"max_pool{rank}d_backward")(
            _np(grad_output, cl, rank), _np(it, cl, rank), shape, channels_last=cl,
            num_threads=_threads())
        return _tensor(dx, cl, rank), None, None, None, None, None, None


class AvgPoolFunction(torch.autograd.Function):
    """Average pooling; ``apply(input, rank, kernel_size, stride, padding,
    ceil_mode, count_include_pad, divisor_override)``."""

    @staticmethod
    def forward(ctx, input, rank, kernel_size, stride, padding, ceil_mode, count_include_pad,
                divisor_override):
        cl, xa = _prepare(f"avg_pool{rank}d", input, rank)
        args = (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        y = getattr(_fp, f"avg_pool{rank}d")(xa, *args, channels_last=cl,
                                              num_threads=_threads())
        ctx.info = (rank, cl, xa.shape, args)
        return _tensor(y, cl, rank)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        rank, cl, shape, args = ctx.info
        dx = getattr(_fp, f"avg_pool{rank}d_backward")(
            _np(grad_output, cl, rank), shape, *args, channels_last=cl, num_threads=_threads())
        return (_tensor(dx, cl, rank),) + (None,) * 7


class LPPoolFunction(torch.autograd.Function):
    """Power-average pooling ``(sum |x|^p)^(1/p)``; ``apply(input, rank,
    norm_type, kernel_size, stride, ceil_mode)``."""

    @staticmethod
    def forward(ctx, input, rank, norm_type, kernel_size, stride, ceil_mode):
        cl, xa = _prepare(f"lp_pool{rank}d", input, rank)
        args = (norm_type, kernel_size, stride, ceil_mode)
        y = getattr(_fp, f"lp_pool{rank}d")(xa, *args, channels_last=cl,
                                             num_threads=_threads())
        yt = _tensor(y, cl, rank)
        ctx.save_for_backward(input, yt)
        ctx.info = (rank, cl, args)
        return yt

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        x, y = ctx.saved_tensors
        rank, cl, args = ctx.info
        dx = getattr(_fp, f"lp_pool{rank}d_backward")(
            _np(grad_output, cl, rank), _np(x, cl, rank), _np(y, cl, rank), *args,
            channels_last=cl, num_threads=_threads())
        return (_tensor(dx, cl, rank),) + (None,) * 5


class AdaptiveMaxPoolFunction(torch.autograd.Function):
    """Adaptive max pooling; ``apply(input, rank, output_size)`` returns
    ``(output, indices)``."""

    @staticmethod
    def forward(ctx, input, rank, output_size):
        cl, xa = _prepare(f"adaptive_max_pool{rank}d", input, rank)
        y, idx = getattr(_fp, f"adaptive_max_pool{rank}d")(
            xa, output_size, True, channels_last=cl, num_threads=_threads())
        yt, it = _tensor(y, cl, rank), _tensor(idx, cl, rank)
        ctx.mark_non_differentiable(it)
        ctx.save_for_backward(it)
        ctx.info = (rank, cl, xa.shape)
        return yt, it

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output, grad_indices):
        (it,) = ctx.saved_tensors
        rank, cl, shape = ctx.info
        dx = getattr(_fp, f"adaptive_max_pool{rank}d_backward")(
            _np(grad_output, cl, rank), _np(it, cl, rank), shape, channels_last=cl,
            num_threads=_threads())
        return _tensor(dx, cl, rank), None, None


class AdaptiveAvgPoolFunction(torch.autograd.Function):
    """Adaptive average pooling; ``apply(input, rank, output_size)``."""

    @staticmethod
    def forward(ctx, input, rank, output_size):
        cl, xa = _prepare(f"adaptive_avg_pool{rank}d", input, rank)
        y = getattr(_fp, f"adaptive_avg_pool{rank}d")(xa, output_size, channels_last=cl,
                                                       num_threads=_threads())
        ctx.info = (rank, cl, xa.shape)
        return _tensor(y, cl, rank)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        rank, cl, shape = ctx.info
        dx = getattr(_fp, f"adaptive_avg_pool{rank}d_backward")(
            _np(grad_output, cl, rank), shape, channels_last=cl, num_threads=_threads())
        return _tensor(dx, cl, rank), None, None


class MaxUnpoolFunction(torch.autograd.Function):
    """Max unpooling; ``apply(input, indices, rank, kernel_size, stride, padding,
    output_size)`` with ``output_size`` spatial or ``None``.  Differentiable in
    ``input`` (a gather of the output gradient at ``indices``)."""

    @staticmethod
    def forward(ctx, input, indices, rank, kernel_size, stride, padding, output_size):
        name = f"max_unpool{rank}d"
        cl, xa = _prepare(name, input, rank)
        _check(name, "indices", indices, _INDEX_DTYPES)
        ia = _np(indices, cl, rank)
        args = (kernel_size, stride, padding, output_size)
        y = getattr(_fp, name)(xa, ia, *args, channels_last=cl, num_threads=_threads())
        ctx.save_for_backward(indices)
        ctx.info = (rank, cl, args)
        return _tensor(y, cl, rank)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        (indices,) = ctx.saved_tensors
        rank, cl, args = ctx.info
        dx = getattr(_fp, f"max_unpool{rank}d_backward")(
            _np(grad_output, cl, rank), _np(indices, cl, rank), *args, channels_last=cl,
            num_threads=_threads())
        return (_tensor(dx, cl, rank),) + (None,) * 6


class FractionalMaxPoolFunction(torch.autograd.Function):
    """Fractional max pooling; ``apply(input, rank, kernel_size, output_size,
    samples)`` with ``samples`` a ``(N, C, rank)`` tensor in torch's
    ``_random_samples`` order; returns ``(output, indices)``."""

    @staticmethod
    def forward(ctx, input, rank, kernel_size, output_size, samples):
        name = f"fractional_max_pool{rank}d"
        cl, xa = _prepare(name, input, rank)
        _check(name, "_random_samples", samples)
        y, idx = getattr(_fp, name)(
            xa, kernel_size, output_size, None, True, samples=samples.detach().numpy(),
            channels_last=cl, num_threads=_threads())
        yt, it = _tensor(y, cl, rank), _tensor(idx, cl, rank)
        ctx.mark_non_differentiable(it)
        ctx.save_for_backward(it)
        ctx.info = (rank, cl, xa.shape)
        return yt, it

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output, grad_indices):
        (it,) = ctx.saved_tensors
        rank, cl, shape = ctx.info
        dx = getattr(_fp, f"fractional_max_pool{rank}d_backward")(
            _np(grad_output, cl, rank), _np(it, cl, rank), shape, channels_last=cl,
            num_threads=_threads())
        return _tensor(dx, cl, rank), None, None, None, None


# --------------------------------------------------------------------------
# Functional API, rank-generic


def _max_pool(rank, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    args = (_plain(kernel_size), _stride(stride), _plain(padding), _plain(dilation),
            bool(ceil_mode))
    if _needs_grad(input):
        y, idx = MaxPoolFunction.apply(input, rank, *args)
        return (y, idx) if return_indices else y
    cl, xa = _prepare(f"max_pool{rank}d", input, rank)
    res = getattr(_fp, f"max_pool{rank}d")(xa, *args, bool(return_indices), channels_last=cl,
                                            num_threads=_threads())
    if return_indices:
        return _tensor(res[0], cl, rank), _tensor(res[1], cl, rank)
    return _tensor(res, cl, rank)


def _avg_pool(rank, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    args = (_plain(kernel_size), _stride(stride), _plain(padding), bool(ceil_mode),
            bool(count_include_pad), divisor_override)
    if _needs_grad(input):
        return AvgPoolFunction.apply(input, rank, *args)
    cl, xa = _prepare(f"avg_pool{rank}d", input, rank)
    y = getattr(_fp, f"avg_pool{rank}d")(xa, *args, channels_last=cl, num_threads=_threads())
    return _tensor(y, cl, rank)


def _lp_pool(rank, input, norm_type, kernel_size, stride, ceil_mode):
    args = (norm_type, _plain(kernel_size), _stride(stride), bool(ceil_mode))
    if _needs_grad(input):
        return LPPoolFunction.apply(input, rank, *args)
    cl, xa = _prepare(f"lp_pool{rank}d", input, rank)
    y = getattr(_fp, f"lp_pool{rank}d")(xa, *args, channels_last=cl, num_threads=_threads())
    return _tensor(y, cl, rank)


def _adaptive_max_pool(rank, input, output_size, return_indices):
    output_size = _plain(output_size)
    if _needs_grad(input):
        y, idx = AdaptiveMaxPoolFunction.apply(input, rank, output_size)
        return (y, idx) if return_indices else y
    cl, xa = _prepare(f"adaptive_max_pool{rank}d", input, rank)
    res = getattr(_fp, f"adaptive_max_pool{rank}d")(xa, output_size, bool(return_indices),
                                                     channels_last=cl, num_threads=_threads())
    if return_indices:
        return _tensor(res[0], cl, rank), _tensor(res[1], cl, rank)
    return _tensor(res, cl, rank)


def _adaptive_avg_pool(rank, input, output_size):
    output_size = _plain(output_size)
    if _needs_grad(input):
        return AdaptiveAvgPoolFunction.apply(input, rank, output_size)
    cl, xa = _prepare(f"adaptive_avg_pool{rank}d", input, rank)
    y = getattr(_fp, f"adaptive_avg_pool{rank}d")(xa, output_size, channels_last=cl,
                                                   num_threads=_threads())
    return _tensor(y, cl, rank)


def _unpool_size(name, rank, output_size):
    """torch's output_size forms (spatial, or the full shape) as spatial sizes."""
    if output_size is None:
        return None
    size = _plain(output_size)
    if not isinstance(size, tuple):
        size = (size,)
    if len(size) not in (rank, rank + 1, rank + 2):
        raise ValueError(f"{name}: output_size must have {rank} or {rank + 2} entries, got "
                         f"{output_size!r}")
    return size[len(size) - rank:]


def _max_unpool(rank, input, indices, kernel_size, stride, padding, output_size):
    name = f"max_unpool{rank}d"
    args = (_plain(kernel_size), _stride(stride), _plain(padding),
            _unpool_size(name, rank, output_size))
    if _needs_grad(input):
        return MaxUnpoolFunction.apply(input, indices, rank, *args)
    cl, xa = _prepare(name, input, rank)
    _check(name, "indices", indices, _INDEX_DTYPES)
    y = getattr(_fp, name)(xa, _np(indices, cl, rank), *args, channels_last=cl,
                           num_threads=_threads())
    return _tensor(y, cl, rank)


def _fractional_max_pool(rank, input, kernel_size, output_size, output_ratio, return_indices,
                         _random_samples):
    name = f"fractional_max_pool{rank}d"
    _check(name, "input", input)
    if output_size is None and output_ratio is None:
        raise ValueError(f"{name} requires specifying either an output_size or an "
                         "output_ratio")
    if output_size is None:
        ratio = _plain(output_ratio)
        if not isinstance(ratio, tuple):
            ratio = (ratio,) * rank
        elif len(ratio) == 1:
            ratio = ratio * rank
        if len(ratio) != rank:
            raise ValueError(f"{name}: output_ratio must be a number or {rank} numbers, got "
                             f"{output_ratio!r}")
        output_size = tuple(int(input.size(i - rank) * float(ratio[i])) for i in range(rank))
    samples = _random_samples
    if samples is None:
        # Exactly torch.nn.functional's draw, so torch.manual_seed reproduces torch.
        n_batch = 1 if input.dim() == rank + 1 else input.size(0)
        samples = torch.rand(n_batch, input.size(-rank - 1), rank, dtype=input.dtype,
                             device=input.device)
    args = (_plain(kernel_size), _plain(output_size))
    if _needs_grad(input):
        y, idx = FractionalMaxPoolFunction.apply(input, rank, *args, samples)
        return (y, idx) if return_indices else y
    cl, xa = _prepare(name, input, rank)
    _check(name, "_random_samples", samples)
    y, idx = getattr(_fp, name)(xa, *args, None, True, samples=samples.detach().numpy(),
                                channels_last=cl, num_threads=_threads())
    if return_indices:
        return _tensor(y, cl, rank), _tensor(idx, cl, rank)
    return _tensor(y, cl, rank)


# --------------------------------------------------------------------------
# Functional API, torch.nn.functional's names and signatures


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """:func:`torch.nn.functional.max_pool1d` on fastpool's kernels (see the module notes)."""
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """:func:`torch.nn.functional.max_pool2d` on fastpool's kernels (see the module notes)."""
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """:func:`torch.nn.functional.max_pool3d` on fastpool's kernels (see the module notes)."""
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """:func:`torch.nn.functional.avg_pool1d` on fastpool's kernels; also takes
    ``divisor_override`` (torch's 1-D function does not)."""
    return _avg_pool(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """:func:`torch.nn.functional.avg_pool2d` on fastpool's kernels (see the module notes)."""
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """:func:`torch.nn.functional.avg_pool3d` on fastpool's kernels (see the module notes)."""
    return _avg_pool(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """:func:`torch.nn.functional.lp_pool1d` as ``(sum |x|^p)^(1/p)`` (see the module notes)."""
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """:func:`torch.nn.functional.lp_pool2d` as ``(sum |x|^p)^(1/p)`` (see the module notes)."""
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """:func:`torch.nn.functional.lp_pool3d` as ``(sum |x|^p)^(1/p)`` (see the module notes)."""
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """:func:`torch.nn.functional.adaptive_max_pool1d` on fastpool's kernels."""
    return _adaptive_max_pool(1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """:func:`torch.nn.functional.adaptive_max_pool2d` on fastpool's kernels."""
    return _adaptive_max_pool(2, input, output_size, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """:func:`torch.nn.functional.adaptive_max_pool3d` on fastpool's kernels."""
    return _adaptive_max_pool(3, input, output_size, return_indices)


def adaptive_avg_pool1d(input, output_size):
    """:func:`torch.nn.functional.adaptive_avg_pool1d` on fastpool's kernels."""
    return _adaptive_avg_pool(1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    """:func:`torch.nn.functional.adaptive_avg_pool2d` on fastpool's kernels."""
    return _adaptive_avg_pool(2, input, output_size)


def adaptive_avg_pool3d(input, output_size):
    """:func:`torch.nn.functional.adaptive_avg_pool3d` on fastpool's kernels."""
    return _adaptive_avg_pool(3, input, output_size)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """:func:`torch.nn.functional.max_unpool1d` on fastpool's kernels (see the module notes)."""
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """:func:`torch.nn.functional.max_unpool2d` on fastpool's kernels (see the module notes)."""
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """:func:`torch.nn.functional.max_unpool3d` on fastpool's kernels (see the module notes)."""
    return _max_unpool(3, input, indices, kernel_size, stride, padding, output_size)


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None):
    """:func:`torch.nn.functional.fractional_max_pool2d` on fastpool's kernels.

    ``_random_samples`` (``(N, C, 2)``, ordered ``(W, H)``) defaults to
    torch's own ``torch.rand`` draw, so seeded runs reproduce torch exactly.
    """
    return _fractional_max_pool(2, input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples)


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None):
    """:func:`torch.nn.functional.fractional_max_pool3d` on fastpool's kernels.

    ``_random_samples`` (``(N, C, 3)``, ordered ``(D, H, W)``) defaults to
    torch's own ``torch.rand`` draw, so seeded runs reproduce torch exactly.
    """
    return _fractional_max_pool(3, input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples)


# --------------------------------------------------------------------------
# Modules: torch's classes with a fastpool forward


class _MaxPoolForward:
    def forward(self, input):
        return _max_pool(self._rank, input, self.kernel_size, self.stride, self.padding,
                         self.dilation, self.ceil_mode, self.return_indices)


class _AvgPoolForward:
    def forward(self, input):
        return _avg_pool(self._rank, input, self.kernel_size, self.stride, self.padding,
                         self.ceil_mode, self.count_include_pad,
                         getattr(self, "divisor_override", None))


class _LPPoolForward:
    def forward(self, input):
        return _lp_pool(self._rank, input, float(self.norm_type), self.kernel_size,
                        self.stride, self.ceil_mode)


class _AdaptiveMaxPoolForward:
    def forward(self, input):
        return _adaptive_max_pool(self._rank, input, self.output_size, self.return_indices)


class _AdaptiveAvgPoolForward:
    def forward(self, input):
        return _adaptive_avg_pool(self._rank, input, self.output_size)


class _MaxUnpoolForward:
    def forward(self, input, indices, output_size=None):
        return _max_unpool(self._rank, input, indices, self.kernel_size, self.stride,
                           self.padding, output_size)


class _FractionalMaxPoolForward:
    def forward(self, input):
        return _fractional_max_pool(self._rank, input, self.kernel_size, self.output_size,
                                    self.output_ratio, self.return_indices,
                                    self._random_samples)


def _doc(torch_name: str) -> str:
    return (f"Drop-in for :class:`torch.nn.{torch_name}` that runs fastpool's kernels on CPU "
            f"tensors.\n\n    Same constructor, attributes and ``repr`` as torch's class (this "
            f"is a subclass that\n    replaces ``forward``); see :mod:`fastpool.torch` for the "
            f"intentional differences.\n    ")


class MaxPool1d(_MaxPoolForward, _tnn.MaxPool1d):
    __doc__ = _doc("MaxPool1d")
    _rank = 1


class MaxPool2d(_MaxPoolForward, _tnn.MaxPool2d):
    __doc__ = _doc("MaxPool2d")
    _rank = 2


class MaxPool3d(_MaxPoolForward, _tnn.MaxPool3d):
    __doc__ = _doc("MaxPool3d")
    _rank = 3


class AvgPool1d(_AvgPoolForward, _tnn.AvgPool1d):
    __doc__ = _doc("AvgPool1d")
    _rank = 1


class AvgPool2d(_AvgPoolForward, _tnn.AvgPool2d):
    __doc__ = _doc("AvgPool2d")
    _rank = 2


class AvgPool3d(_AvgPoolForward, _tnn.AvgPool3d):
    __doc__ = _doc("AvgPool3d")
    _rank = 3


class LPPool1d(_LPPoolForward, _tnn.LPPool1d):
    __doc__ = _doc("LPPool1d")
    _rank = 1


class LPPool2d(_LPPoolForward, _tnn.LPPool2d):
    __doc__ = _doc("LPPool2d")
    _rank = 2


class LPPool3d(_LPPoolForward, _tnn.LPPool3d):
    __doc__ = _doc("LPPool3d")
    _rank = 3


class AdaptiveMaxPool1d(_AdaptiveMaxPoolForward, _tnn.AdaptiveMaxPool1d):
    __doc__ = _doc("AdaptiveMaxPool1d")
    _rank = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPoolForward, _tnn.AdaptiveMaxPool2d):
    __doc__ = _doc("AdaptiveMaxPool2d")
    _rank = 2


class AdaptiveMaxPool3d(_AdaptiveMaxPoolForward, _tnn.AdaptiveMaxPool3d):
    __doc__ = _doc("AdaptiveMaxPool3d")
    _rank = 3


class AdaptiveAvgPool1d(_AdaptiveAvgPoolForward, _tnn.AdaptiveAvgPool1d):
    __doc__ = _doc("AdaptiveAvgPool1d")
    _rank = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolForward, _tnn.AdaptiveAvgPool2d):
    __doc__ = _doc("AdaptiveAvgPool2d")
    _rank = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolForward, _tnn.AdaptiveAvgPool3d):
    __doc__ = _doc("AdaptiveAvgPool3d")
    _rank = 3


class MaxUnpool1d(_MaxUnpoolForward, _tnn.MaxUnpool1d):
    __doc__ = _doc("MaxUnpool1d")
    _rank = 1


class MaxUnpool2d(_MaxUnpoolForward, _tnn.MaxUnpool2d):
    __doc__ = _doc("MaxUnpool2d")
    _rank = 2


class MaxUnpool3d(_MaxUnpoolForward, _tnn.MaxUnpool3d):
    __doc__ = _doc("MaxUnpool3d")
    _rank = 3


class FractionalMaxPool2d(_FractionalMaxPoolForward, _tnn.FractionalMaxPool2d):
    __doc__ = _doc("FractionalMaxPool2d")
    _rank = 2


class FractionalMaxPool3d(_FractionalMaxPoolForward, _tnn.FractionalMaxPool3d):
    __doc__ = _doc("FractionalMaxPool3d")
    _rank = 3


_MODULES = (
    MaxPool1d, MaxPool2d, MaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d,
    LPPool1d, LPPool2d, LPPool3d,
    AdaptiveMaxPool1d, AdaptiveMaxPool2d, AdaptiveMaxPool3d,
    AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d,
    MaxUnpool1d, MaxUnpool2d, MaxUnpool3d, FractionalMaxPool2d, FractionalMaxPool3d,
)
_SWAP = {getattr(_tnn, cls.__name__): cls for cls in _MODULES}


def convert_modules(module: _tnn.Module) -> _tnn.Module:
    """Switch every torch pooling module inside ``module`` to fastpool's, in place.

    Each ``torch.nn.MaxPool2d`` (``AvgPool2d``, ... every class this module
    provides) found by ``module.modules()`` becomes an instance of the
    ``fastpool.torch`` class of the same name, keeping its attributes, hooks
    and identity (the fastpool classes are subclasses that only replace
    ``forward``).  Subclasses of torch's pooling classes are left alone.

    Parameters
    ----------
    module : torch.nn.Module
        A model, or a single pooling module.

    Returns
    -------
    torch.nn.Module
        ``module`` itself, for chaining.
    """
    for m in module.modules():
        cls = _SWAP.get(type(m))
        if cls is not None:
            m.__class__ = cls
    return module


# --------------------------------------------------------------------------
# Special poolings (SPEC §4.8–4.12): autograd Functions
#
# Each takes the fastpool function's arguments in its order (``input`` first)
# and calls fastpool with ``channels_last`` picked from the tensor's strides
# (torch's rule, as above) and ``num_threads=torch.get_num_threads()``.


_SEED_SPAN = 1 << 64


def _key(seed, generator) -> int:
    """The stochastic pooling key: ``seed`` itself, else 64 bits drawn from torch."""
    if seed is not None:
        return seed
    draw = torch.randint(-(1 << 63), (1 << 63) - 1, (), dtype=torch.int64, generator=generator)
    return int(draw) % _SEED_SPAN


class StochasticPoolFunction(torch.autograd.Function):
    """Stochastic pooling; ``apply(input, kernel_size, stride, padding, dilation,
    ceil_mode, training, seed)``.  Training (``seed`` an int) returns
    ``(output, indices)`` and routes the gradient to the picked cells;
    inference returns the output, differentiated by
    ``stochastic_pool2d_backward(..., training=False)``."""

    @staticmethod
    def forward(ctx, input, kernel_size, stride, padding, dilation, ceil_mode, training, seed):
        cl, xa = _prepare("stochastic_pool2d", input, 2)
        args = (kernel_size, stride, padding)
        kw = {"dilation": dilation, "ceil_mode": ceil_mode}
        ctx.info = (cl, xa.shape, training, args, kw)
        if training:
            y, idx = _fp.stochastic_pool2d(xa, *args, training=True, seed=seed,
                                           return_indices=True, channels_last=cl,
                                           num_threads=_threads(), **kw)
            yt, it = _tensor(y, cl, 2), _tensor(idx, cl, 2)
            ctx.mark_non_differentiable(it)
            ctx.save_for_backward(it)
            return yt, it
        y = _fp.stochastic_pool2d(xa, *args, training=False, channels_last=cl,
                                  num_threads=_threads(), **kw)
        ctx.save_for_backward(input)
        return _tensor(y, cl, 2)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output, *unused):
        (saved,) = ctx.saved_tensors
        cl, shape, training, args, kw = ctx.info
        g = _np(grad_output, cl, 2)
        if training:
            dx = _fp.stochastic_pool2d_backward(g, _np(saved, cl, 2), shape, training=True,
                                                channels_last=cl, num_threads=_threads())
        else:
            dx = _fp.stochastic_pool2d_backward(g, _np(saved, cl, 2), *args, training=False,
                                                channels_last=cl, num_threads=_threads(), **kw)
        return (_tensor(dx, cl, 2),) + (None,) * 7


class MedianPoolFunction(torch.autograd.Function):
    """Median pooling; ``apply(input, kernel_size, stride, padding, dilation,
    ceil_mode, even)``.  ``even="lower"``/``"upper"`` returns ``(output,
    indices)``; ``even="mean"`` returns the output (its backward recomputes the
    two middle cells from the input)."""

    @staticmethod
    def forward(ctx, input, kernel_size, stride, padding, dilation, ceil_mode, even):
        cl, xa = _prepare("median_pool2d", input, 2)
        args = (kernel_size, stride, padding)
        kw = {"dilation": dilation, "ceil_mode": ceil_mode}
        ctx.info = (cl, xa.shape, even, args, kw)
        if even != "mean":
            y, idx = _fp.median_pool2d(xa, *args, even=even, return_indices=True,
                                       channels_last=cl, num_threads=_threads(), **kw)
            yt, it = _tensor(y, cl, 2), _tensor(idx, cl, 2)
            ctx.mark_non_differentiable(it)
            ctx.save_for_backward(it)
            return yt, it
        y = _fp.median_pool2d(xa, *args, even=even, channels_last=cl, num_threads=_threads(),
                              **kw)
        ctx.save_for_backward(input)
        return _tensor(y, cl, 2)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output, *unused):
        (saved,) = ctx.saved_tensors
        cl, shape, even, args, kw = ctx.info
        g = _np(grad_output, cl, 2)
        if even != "mean":
            dx = _fp.median_pool2d_backward(g, _np(saved, cl, 2), shape, even=even,
                                            channels_last=cl, num_threads=_threads())
        else:
            dx = _fp.median_pool2d_backward(g, _np(saved, cl, 2), *args, even="mean",
                                            channels_last=cl, num_threads=_threads(), **kw)
        return (_tensor(dx, cl, 2),) + (None,) * 6


def _alpha_np(alpha):
    """alpha for fastpool: a tensor's NumPy view (it must be a CPU float tensor), or as given."""
    if isinstance(alpha, torch.Tensor):
        _check("mixed_pool2d", "alpha", alpha)
        return alpha.detach().numpy()
    return alpha


class MixedPoolFunction(torch.autograd.Function):
    """Mixed max-average pooling; ``apply(input, alpha, kernel_size, stride,
    padding, mode, order, dilation, ceil_mode, count_include_pad)``.  ``alpha``
    is a number or a tensor (0-d, ``(1,)`` or ``(C,)``); a tensor gets the
    gradient ``sum(dy * (max - avg))`` of fastpool's ``dalpha``."""

    @staticmethod
    def forward(ctx, input, alpha, kernel_size, stride, padding, mode, order, dilation,
                ceil_mode, count_include_pad):
        cl, xa = _prepare("mixed_pool2d", input, 2)
        args = (kernel_size, stride, padding)
        kw = {"mode": mode, "order": order, "dilation": dilation, "ceil_mode": ceil_mode,
              "count_include_pad": count_include_pad}
        y = _fp.mixed_pool2d(xa, *args, alpha=_alpha_np(alpha), channels_last=cl,
                             num_threads=_threads(), **kw)
        is_tensor = isinstance(alpha, torch.Tensor)
        ctx.save_for_backward(input, *((alpha,) if is_tensor else ()))
        ctx.info = (cl, args, kw, None if is_tensor else alpha)
        return _tensor(y, cl, 2)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        x, *alpha_t = ctx.saved_tensors
        cl, args, kw, alpha = ctx.info
        alpha_in = alpha_t[0] if alpha_t else alpha
        res = _fp.mixed_pool2d_backward(_np(grad_output, cl, 2), _np(x, cl, 2), *args,
                                        alpha=_alpha_np(alpha_in), channels_last=cl,
                                        num_threads=_threads(), **kw)
        dalpha = None
        if kw["mode"] == "blend":
            dx, da = res
            if alpha_t and ctx.needs_input_grad[1]:
                dalpha = torch.from_numpy(da).to(alpha_t[0].dtype).reshape(alpha_t[0].shape)
        else:
            dx = res
        return (_tensor(dx, cl, 2), dalpha) + (None,) * 8


def _dx_out(input, cl):
    """(tensor, NumPy view in input's logical order) for a gradient laid out like input."""
    fmt = torch.channels_last if cl else torch.contiguous_format
    t = torch.empty(input.shape, dtype=input.dtype, memory_format=fmt)
    return t, t.numpy()


class SpatialPyramidPoolFunction(torch.autograd.Function):
    """Spatial pyramid pooling; ``apply(input, levels, mode, variant)`` ->
    ``(N, C * sum(l*l))``, each level flattened ``(C, l, l)`` as
    ``torch.flatten(F.adaptive_max_pool2d(x, l), 1)`` is.

    The input always goes in as its ``(N, C, H, W)`` view (channels_last memory
    too, as strides: no copy), so the feature order never depends on the
    memory format; the input gradient comes back in the input's format."""

    @staticmethod
    def forward(ctx, input, levels, mode, variant):
        _check("spatial_pyramid_pool", "input", input)
        xa = _np(input, False, 2)
        y = _fp.spatial_pyramid_pool(xa, levels, mode, variant, num_threads=_threads())
        ctx.save_for_backward(input)
        ctx.info = (levels, mode, variant)
        return torch.from_numpy(y)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        levels, mode, variant = ctx.info
        dx, dxa = _dx_out(x, _channels_last(x, 2))
        _fp.spatial_pyramid_pool_backward(grad_output.detach().numpy(), _np(x, False, 2),
                                          levels, mode, variant, out=dxa,
                                          num_threads=_threads())
        return dx, None, None, None


class YOLOSPPFunction(torch.autograd.Function):
    """YOLO's SPP block; ``apply(input, kernel_sizes, order)`` ->
    ``[x, p(k0), p(k1), ...]`` (ultralytics) or the reverse (darknet) along
    the channels."""

    @staticmethod
    def forward(ctx, input, kernel_sizes, order):
        cl, xa = _prepare("yolo_spp", input, 2)
        y = _fp.yolo_spp(xa, kernel_sizes, order, channels_last=cl, num_threads=_threads())
        ctx.save_for_backward(input)
        ctx.info = (cl, kernel_sizes, order)
        return _tensor(y, cl, 2)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        cl, kernel_sizes, order = ctx.info
        dx = _fp.yolo_spp_backward(_np(grad_output, cl, 2), _np(x, cl, 2), kernel_sizes, order,
                                   channels_last=cl, num_threads=_threads())
        return _tensor(dx, cl, 2), None, None


def _features_layout(name, rank, *tensors):
    """channels_last for the rank-agnostic poolings: all inputs channels_last."""
    for i, t in enumerate(tensors):
        _check(name, "input" if i == 0 else "y", t)
    return all(_channels_last(t, rank) for t in tensors)


class BilinearPoolFunction(torch.autograd.Function):
    """Bilinear pooling; ``apply(input, y, average, signed_sqrt, l2_normalize,
    eps, spatial_rank)`` with ``y`` a tensor or ``None`` (``y = input``)."""

    @staticmethod
    def forward(ctx, input, y, average, signed_sqrt, l2_normalize, eps, spatial_rank):
        tensors = (input,) if y is None else (input, y)
        cl = _features_layout("bilinear_pool", spatial_rank, *tensors)
        arrays = [_np(t, cl, spatial_rank) for t in tensors]
        kw = {"average": average, "signed_sqrt": signed_sqrt, "l2_normalize": l2_normalize,
              "eps": eps, "spatial_rank": spatial_rank}
        res = _fp.bilinear_pool(arrays[0], arrays[1] if y is not None else None,
                                channels_last=cl, num_threads=_threads(), **kw)
        ctx.save_for_backward(*tensors)
        ctx.info = (cl, kw)
        return torch.from_numpy(res)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        tensors = ctx.saved_tensors
        cl, kw = ctx.info
        rank = kw["spatial_rank"]
        arrays = [_np(t, cl, rank) for t in tensors]
        res = _fp.bilinear_pool_backward(grad_output.detach().numpy(), arrays[0],
                                         arrays[1] if len(arrays) > 1 else None,
                                         channels_last=cl, num_threads=_threads(), **kw)
        if len(arrays) == 1:
            return (_tensor(res, cl, rank), None) + (None,) * 5
        return (_tensor(res[0], cl, rank), _tensor(res[1], cl, rank)) + (None,) * 5


class NetVLADFunction(torch.autograd.Function):
    """NetVLAD; ``apply(input, weight, bias, centroids, normalize_input, eps,
    spatial_rank)``, differentiable in the input and the three parameters
    (all of one dtype)."""

    @staticmethod
    def forward(ctx, input, weight, bias, centroids, normalize_input, eps, spatial_rank):
        cl = _features_layout("netvlad", spatial_rank, input)
        for arg, t in (("weight", weight), ("bias", bias), ("centroids", centroids)):
            _check("netvlad", arg, t)
        params = [t.detach().numpy() for t in (weight, bias, centroids)]
        kw = {"normalize_input": normalize_input, "eps": eps, "spatial_rank": spatial_rank}
        res = _fp.netvlad(_np(input, cl, spatial_rank), *params, channels_last=cl,
                          num_threads=_threads(), **kw)
        ctx.save_for_backward(input, weight, bias, centroids)
        ctx.info = (cl, kw)
        return torch.from_numpy(res)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        x, *params = ctx.saved_tensors
        cl, kw = ctx.info
        rank = kw["spatial_rank"]
        dx, dw, db, dc = _fp.netvlad_backward(
            grad_output.detach().numpy(), _np(x, cl, rank), *(p.detach().numpy() for p in params),
            channels_last=cl, num_threads=_threads(), **kw)
        return (_tensor(dx, cl, rank), torch.from_numpy(dw), torch.from_numpy(db),
                torch.from_numpy(dc), None, None, None)


# --------------------------------------------------------------------------
# Special poolings: functional forms (fastpool's arguments, ``input`` first)


def stochastic_pool2d(input, kernel_size, stride=None, padding=0, *, training=True, seed=None,
                      return_indices=False, dilation=1, ceil_mode=False, generator=None):
    """:func:`fastpool.stochastic_pool2d` on a tensor, differentiable.

    ``training=True`` samples one cell per window (``return_indices`` also
    returns the picks, as ``max_pool2d`` does) and routes the gradient to it;
    ``training=False`` is the probabilistic weighting ``sum(a**2)/sum(a)``
    with its exact gradient.  The sampling key: ``seed`` (an int in
    ``[0, 2**64)``) when given, else 64 bits drawn from ``generator`` (torch's
    default CPU generator when ``None``), so ``torch.manual_seed`` makes runs
    reproducible, for any thread count and memory format.  Nothing is drawn
    in inference.
    """
    training = bool(training)
    key = _key(seed, generator) if training else None
    args = (_plain(kernel_size), _stride(stride), _plain(padding), _plain(dilation),
            bool(ceil_mode), training, key)
    if not training:
        if return_indices:
            raise ValueError("stochastic_pool2d: return_indices needs training=True (the "
                             "inference output is a weighted average, not one cell)")
        return StochasticPoolFunction.apply(input, *args)
    y, idx = StochasticPoolFunction.apply(input, *args)
    return (y, idx) if return_indices else y


def median_pool2d(input, kernel_size, stride=None, padding=0, *, dilation=1, ceil_mode=False,
                  even="lower", return_indices=False):
    """:func:`fastpool.median_pool2d` on a tensor, differentiable (the gradient goes to
    the selected cell; ``even="mean"``: half to each middle cell)."""
    args = (_plain(kernel_size), _stride(stride), _plain(padding), _plain(dilation),
            bool(ceil_mode), even)
    if even == "mean":
        if return_indices:
            raise ValueError("median_pool2d: return_indices needs even='lower' or 'upper' "
                             "(the mean of two cells has no single index)")
        return MedianPoolFunction.apply(input, *args)
    y, idx = MedianPoolFunction.apply(input, *args)
    return (y, idx) if return_indices else y


def mixed_pool2d(input, kernel_size, stride=None, padding=0, *, alpha=0.5, mode="blend",
                 order=("avg", "max"), dilation=1, ceil_mode=False, count_include_pad=True):
    """:func:`fastpool.mixed_pool2d` on a tensor, differentiable.

    ``mode="blend"``: ``alpha*max + (1 - alpha)*avg``; ``alpha`` is a number
    or a CPU float tensor (0-d, ``(1,)`` or one per channel ``(C,)``), which
    receives the gradient ``sum(dy * (max - avg))`` when it requires grad.
    ``mode="concat"``: ``[avg, max]`` (or ``order=("max", "avg")``) along the
    channels.
    """
    return MixedPoolFunction.apply(input, alpha, _plain(kernel_size), _stride(stride),
                                   _plain(padding), mode, _plain(order), _plain(dilation),
                                   bool(ceil_mode), bool(count_include_pad))


def spatial_pyramid_pool(input, levels=(1, 2, 4), mode="max", variant="adaptive"):
    """:func:`fastpool.spatial_pyramid_pool` on a tensor, differentiable:
    ``(N, C, H, W)`` -> ``(N, C * sum(l*l))``, levels flattened ``(C, l, l)``
    in the order given, in every memory format (with ``variant="adaptive"``
    this is ``torch.cat([F.adaptive_max_pool2d(x, l).flatten(1) for l in
    levels], 1)``)."""
    return SpatialPyramidPoolFunction.apply(input, _plain(levels), mode, variant)


def yolo_spp(input, kernel_sizes=(5, 9, 13), order="ultralytics"):
    """:func:`fastpool.yolo_spp` on a tensor, differentiable: ``torch.cat([x] +
    [F.max_pool2d(x, k, 1, k // 2) for k in kernel_sizes], 1)`` (ultralytics)
    or its reverse (darknet), in one output buffer."""
    return YOLOSPPFunction.apply(input, _plain(kernel_sizes), order)


def bilinear_pool(input, y=None, *, average=True, signed_sqrt=True, l2_normalize=True,
                  eps=1e-12, spatial_rank=2):
    """:func:`fastpool.bilinear_pool` on tensors, differentiable in ``input`` and ``y``
    (the signed square root's derivative as documented there)."""
    return BilinearPoolFunction.apply(input, y, bool(average), bool(signed_sqrt),
                                      bool(l2_normalize), eps, spatial_rank)


def netvlad(input, weight, bias, centroids, *, normalize_input=True, eps=1e-12, spatial_rank=2):
    """:func:`fastpool.netvlad` on tensors, differentiable in ``input``, ``weight``
    ``(K, D)``, ``bias`` ``(K,)`` and ``centroids`` ``(K, D)`` (all of one dtype)."""
    return NetVLADFunction.apply(input, weight, bias, centroids, bool(normalize_input), eps,
                                 spatial_rank)


# --------------------------------------------------------------------------
# Special poolings: modules (no torch.nn namesake; plain nn.Module subclasses)


class StochasticPool2d(_tnn.Module):
    """Stochastic pooling (Zeiler & Fergus 2013) on fastpool's kernels.

    ``module.training`` decides the mode, as for ``nn.Dropout``: in training
    each window outputs one of its cells, picked with probability
    ``a_i / sum(a)`` (inputs must be ``>= 0``, e.g. after a ReLU); in eval
    mode the probabilistic weighting ``sum(a**2) / sum(a)``.

    Parameters
    ----------
    kernel_size, stride, padding, dilation, ceil_mode
        As for ``nn.MaxPool2d`` (``stride=None`` means ``kernel_size``).
    seed : int, optional
        Seeds the module's own ``torch.Generator`` (``self.generator``); every
        training ``forward`` draws a fresh 64-bit key from it, so a model
        built with the same seed gives the same samples step after step,
        independently of the global RNG.  ``None`` draws the keys from torch's
        default generator (reproducible under ``torch.manual_seed``).  The
        generator is not part of ``state_dict``.
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                 seed=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.ceil_mode = ceil_mode
        self.seed = seed
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}, seed={self.seed}")

    def forward(self, input):
        return stochastic_pool2d(input, self.kernel_size, self.stride, self.padding,
                                 training=self.training, dilation=self.dilation,
                                 ceil_mode=self.ceil_mode, generator=self.generator)


class MedianPool2d(_tnn.Module):
    """Median pooling on fastpool's kernels: the median of each window's valid cells.

    Parameters
    ----------
    kernel_size, stride, padding, dilation, ceil_mode
        As for ``nn.MaxPool2d`` (``stride=None`` means ``kernel_size``).
    even : "lower", "upper" or "mean"
        Which middle of an even count (PyTorch's ``median``, SciPy's rank
        filter, NumPy's ``median``).
    return_indices : bool
        Also return the selected cells (``"lower"``/``"upper"`` only).
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                 even="lower", return_indices=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.ceil_mode = ceil_mode
        self.even = even
        self.return_indices = return_indices

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}, even={self.even!r}")

    def forward(self, input):
        return median_pool2d(input, self.kernel_size, self.stride, self.padding,
                             dilation=self.dilation, ceil_mode=self.ceil_mode, even=self.even,
                             return_indices=self.return_indices)


class MixedPool2d(_tnn.Module):
    """Mixed max-average pooling (Lee, Gallagher & Tu 2016) on fastpool's kernels.

    ``mode="blend"``: ``alpha*max_pool2d(x) + (1 - alpha)*avg_pool2d(x)``;
    ``mode="concat"``: ``[avg, max]`` along the channels (``order=("max",
    "avg")`` for fastai's ``AdaptiveConcatPool2d`` order), ``2C`` channels.

    Parameters
    ----------
    kernel_size, stride, padding, dilation, ceil_mode, count_include_pad
        As for ``nn.MaxPool2d`` / ``nn.AvgPool2d``.
    alpha : float or sequence of C floats
        The blend weight of the max (its initial value when learnable).
    learn_alpha : bool
        Make ``alpha`` an ``nn.Parameter`` trained through fastpool's
        ``dalpha = sum(dy * (max - avg))`` (the "mixed" pooling of the
        paper; not clamped to [0, 1]).  Otherwise ``alpha`` is fixed: a
        float attribute, or a buffer for a per-channel sequence.
    num_channels : int, optional
        With ``learn_alpha``: one alpha per channel, shape ``(num_channels,)``,
        all starting at ``alpha``; ``None`` (default) learns a single 0-d one.
    mode : "blend" or "concat"
    order : ("avg", "max") or ("max", "avg")
        Channel order of ``mode="concat"``.
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                 count_include_pad=True, alpha=0.5, learn_alpha=False, num_channels=None,
                 mode="blend", order=("avg", "max")):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.mode = mode
        self.order = tuple(order)
        if learn_alpha:
            if mode != "blend":
                raise ValueError("MixedPool2d: learn_alpha needs mode='blend' (concat has no "
                                 "alpha)")
            shape = () if num_channels is None else (num_channels,)
            self.alpha = _tnn.Parameter(torch.full(shape, float(alpha)))
        elif isinstance(alpha, (int, float)):
            self.alpha = float(alpha)
        else:
            self.register_buffer("alpha", torch.as_tensor(alpha, dtype=torch.float64))

    def extra_repr(self) -> str:
        alpha = (f", alpha={self.alpha}" if isinstance(self.alpha, float) else
                 f", alpha=<{'parameter' if isinstance(self.alpha, _tnn.Parameter) else 'buffer'}"
                 f" {tuple(self.alpha.shape)}>")
        extra = alpha if self.mode == "blend" else f", order={self.order}"
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"mode={self.mode!r}{extra}")

    def forward(self, input):
        return mixed_pool2d(input, self.kernel_size, self.stride, self.padding,
                            alpha=self.alpha, mode=self.mode, order=self.order,
                            dilation=self.dilation, ceil_mode=self.ceil_mode,
                            count_include_pad=self.count_include_pad)


class SpatialPyramidPool(_tnn.Module):
    """Spatial pyramid pooling (He et al. 2014): ``(N, C, H, W)`` -> ``(N, C * sum(l*l))``.

    Parameters
    ----------
    levels : int or sequence of int
        Bins per side of each level, flattened ``(C, l, l)`` in this order.
    mode : "max" or "avg"
    variant : "adaptive", "sppnet" or "caffe"
        The bin layout (see :func:`fastpool.spatial_pyramid_pool`).
    """

    def __init__(self, levels=(1, 2, 4), mode="max", variant="adaptive"):
        super().__init__()
        self.levels = levels
        self.mode = mode
        self.variant = variant

    def extra_repr(self) -> str:
        return f"levels={self.levels}, mode={self.mode!r}, variant={self.variant!r}"

    def forward(self, input):
        return spatial_pyramid_pool(input, self.levels, self.mode, self.variant)


class YOLOSPP(_tnn.Module):
    """YOLO's SPP block: the input and its stride-1 max pools along the channels.

    ``(N, C, H, W)`` -> ``(N, C * (1 + len(kernel_sizes)), H, W)``:
    ``[x, p5, p9, p13]`` (``order="ultralytics"``, the pooling part of
    ultralytics' ``SPP`` module, without its 1x1 convolutions) or
    ``[p13, p9, p5, x]`` (``order="darknet"``, yolov3-spp.cfg), each pool
    ``F.max_pool2d(x, k, 1, k // 2)`` for odd ``k``.
    """

    def __init__(self, kernel_sizes=(5, 9, 13), order="ultralytics"):
        super().__init__()
        self.kernel_sizes = kernel_sizes
        self.order = order

    def extra_repr(self) -> str:
        return f"kernel_sizes={self.kernel_sizes}, order={self.order!r}"

    def forward(self, input):
        return yolo_spp(input, self.kernel_sizes, self.order)


class BilinearPool(_tnn.Module):
    """Bilinear pooling (B-CNN, Lin et al. 2015): ``forward(x, y=None)`` ->
    ``(N, Cx * Cy)``, the spatial average of the outer products, signed square
    root and L2 normalisation (each step switchable; see
    :func:`fastpool.bilinear_pool`).  ``y=None`` pools ``x`` with itself."""

    def __init__(self, average=True, signed_sqrt=True, l2_normalize=True, eps=1e-12,
                 spatial_rank=2):
        super().__init__()
        self.average = average
        self.signed_sqrt = signed_sqrt
        self.l2_normalize = l2_normalize
        self.eps = eps
        self.spatial_rank = spatial_rank

    def extra_repr(self) -> str:
        return (f"average={self.average}, signed_sqrt={self.signed_sqrt}, "
                f"l2_normalize={self.l2_normalize}, eps={self.eps}")

    def forward(self, input, y=None):
        return bilinear_pool(input, y, average=self.average, signed_sqrt=self.signed_sqrt,
                             l2_normalize=self.l2_normalize, eps=self.eps,
                             spatial_rank=self.spatial_rank)


class NetVLAD(_tnn.Module):
    """NetVLAD (Arandjelovic et al. 2016): ``(N, D, H, W)`` -> ``(N, K * D)``.

    The standard PyTorch NetVLAD layer (input L2 normalisation, soft
    assignment by a 1x1 convolution, residual aggregation, intra- and global
    L2 normalisation) on fastpool's kernels, which never form the K x D x HW
    residual tensor.

    Parameters
    ----------
    num_clusters : int
        ``K``.
    dim : int
        ``D``, the input's channels.
    alpha : float
        Sharpness of the initial soft assignment (see below).
    normalize_input : bool
    eps : float
        Floor of the L2 norms (``F.normalize``'s).
    spatial_rank : int
        Spatial axes of the input, 1 to 3.
    dtype : torch.dtype, optional
        Of the parameters (default: torch's default dtype); they must have the
        input's dtype in ``forward``.

    Attributes
    ----------
    weight : nn.Parameter, ``(K, D)``
        The assignment convolution's weight (``conv.weight.reshape(K, D)`` of
        the usual module).
    bias : nn.Parameter, ``(K,)``
    centroids : nn.Parameter, ``(K, D)``

    Initialisation (:meth:`reset_parameters`): ``centroids`` are random unit
    vectors (the input descriptors are unit vectors after
    ``normalize_input``), and ``weight = 2*alpha*centroids``, ``bias =
    -alpha*||centroids||**2``, the paper's choice that makes the assignment
    ``softmax_k(-alpha*||x - c_k||**2)`` (the ``||x||**2`` term is the same
    for every cluster).  ``reset_parameters(centroids)`` starts from given
    centroids instead, e.g. k-means of training descriptors, as the paper does.
    """

    def __init__(self, num_clusters, dim, alpha=100.0, normalize_input=True, eps=1e-12,
                 spatial_rank=2, dtype=None):
        super().__init__()
        self.num_clusters = num_clusters
        self.dim = dim
        self.alpha = float(alpha)
        self.normalize_input = normalize_input
        self.eps = eps
        self.spatial_rank = spatial_rank
        kw = {"dtype": dtype}
        self.weight = _tnn.Parameter(torch.empty(num_clusters, dim, **kw))
        self.bias = _tnn.Parameter(torch.empty(num_clusters, **kw))
        self.centroids = _tnn.Parameter(torch.empty(num_clusters, dim, **kw))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self, centroids=None):
        """Initialise as described in the class docstring; ``centroids`` (``(K, D)``)
        replaces the random unit vectors."""
        if centroids is None:
            c = torch.nn.functional.normalize(
                torch.randn(self.num_clusters, self.dim, dtype=self.centroids.dtype), dim=1)
        else:
            c = torch.as_tensor(centroids, dtype=self.centroids.dtype)
            if c.shape != (self.num_clusters, self.dim):
                raise ValueError(f"NetVLAD.reset_parameters: centroids must have shape "
                                 f"({self.num_clusters}, {self.dim}), got {tuple(c.shape)}")
        self.centroids.copy_(c)
        self.weight.copy_(2.0 * self.alpha * c)
        self.bias.copy_(-self.alpha * c.pow(2).sum(1))

    def extra_repr(self) -> str:
        return (f"num_clusters={self.num_clusters}, dim={self.dim}, alpha={self.alpha}, "
                f"normalize_input={self.normalize_input}")

    def forward(self, input):
        return netvlad(input, self.weight, self.bias, self.centroids,
                       normalize_input=self.normalize_input, eps=self.eps,
                       spatial_rank=self.spatial_rank)
