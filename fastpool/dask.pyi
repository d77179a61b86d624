# Type stubs for fastpool.dask, written by scripts/stubs.py from the package's own
# signatures and docstrings: do not edit; rerun the script.

from collections.abc import Sequence
from typing import IO, Any, Literal, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

_Size = int | Sequence[int]
_Padding = int | str | Sequence[int | tuple[int, int]]
_OutputSize = int | Sequence[int | None] | None

__all__ = ['adaptive_avg_pool1d', 'adaptive_avg_pool2d', 'adaptive_avg_pool3d', 'adaptive_max_pool1d', 'adaptive_max_pool2d', 'adaptive_max_pool3d', 'avg_pool1d', 'avg_pool2d', 'avg_pool3d', 'global_avg_pool', 'global_lp_pool', 'global_max_pool', 'lp_pool1d', 'lp_pool2d', 'lp_pool3d', 'max_pool1d', 'max_pool2d', 'max_pool3d', 'pyramid', 'to_zarr']

@overload
def max_pool1d(x: Any, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., dilation: _Size = ..., ceil_mode: bool = ..., return_indices: Literal[False] = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ...) -> Any:
    """Lazy :func:`fastpool.max_pool1d` of a dask array (N, C, W) or (C, W).

    With ``channels_last`` the channels are at the end.
    Same arguments and semantics as the in-memory function, without ``out=``.
    The result equals ``fastpool.max_pool1d(x.compute(), ...)`` for any chunking.
    Returns ``y`` or, with ``return_indices``, ``(y, indices)``
    (flat within the input's ``(n, c)`` plane).

    Parameters
    ----------
    x : dask.array.Array
        (N, C, W) or (C, W),
        or with ``channels_last`` the channels at the end; any chunking
        (each output block is computed from one input piece).
    kernel_size, stride, padding, dilation, ceil_mode, return_indices
        As for :func:`fastpool.max_pool1d`.
    channels_last, index_dtype, nan_policy, num_threads
        As for :func:`fastpool.max_pool1d` (``num_threads`` applies to each
        block's call).

    Returns
    -------
    y : dask.array.Array
        Lazy, of the shape and dtype of the in-memory result; batch and channel
        chunks as in x, roughly one output chunk per input chunk along each
        spatial axis.
    indices : dask.array.Array
        Only with ``return_indices``: lazy, shaped like ``y``, of
        ``index_dtype``, each flat within the whole input's ``(n, c)`` plane
        (``-1`` for a window lying wholly in padding).  ``ValueError`` if a
        plane has more cells than ``index_dtype`` can hold.
    """
@overload
def max_pool1d(x: Any, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., dilation: _Size = ..., ceil_mode: bool = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ..., return_indices: Literal[True]) -> tuple[Any, Any]: ...
@overload
def max_pool1d(x: Any, kernel_size: _Size, stride: _Size | None, padding: _Padding, dilation: _Size, ceil_mode: bool, return_indices: Literal[True], *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ...) -> tuple[Any, Any]: ...
@overload
def max_pool1d(x: Any, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., dilation: _Size = ..., ceil_mode: bool = ..., return_indices: bool = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ...) -> Any | tuple[Any, Any]: ...

@overload
def max_pool2d(x: Any, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., dilation: _Size = ..., ceil_mode: bool = ..., return_indices: Literal[False] = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ...) -> Any:
    """Lazy :func:`fastpool.max_pool2d` of a dask array (N, C, H, W) or (C, H, W).

    With ``channels_last`` the channels are at the end.
    Same arguments and semantics as the in-memory function, without ``out=``.
    The result equals ``fastpool.max_pool2d(x.compute(), ...)`` for any chunking.
    Returns ``y`` or, with ``return_indices``, ``(y, indices)``
    (flat within the input's ``(n, c)`` plane).

    Parameters
    ----------
    x : dask.array.Array
        (N, C, H, W) or (C, H, W),
        or with ``channels_last`` the channels at the end; any chunking
        (each output block is computed from one input piece).
    kernel_size, stride, padding, dilation, ceil_mode, return_indices
        As for :func:`fastpool.max_pool2d`.
    channels_last, index_dtype, nan_policy, num_threads
        As for :func:`fastpool.max_pool2d` (``num_threads`` applies to each
        block's call).

    Returns
    -------
    y : dask.array.Array
        Lazy, of the shape and dtype of the in-memory result; batch and channel
        chunks as in x, roughly one output chunk per input chunk along each
        spatial axis.
    indices : dask.array.Array
        Only with ``return_indices``: lazy, shaped like ``y``, of
        ``index_dtype``, each flat within the whole input's ``(n, c)`` plane
        (``-1`` for a window lying wholly in padding).  ``ValueError`` if a
        plane has more cells than ``index_dtype`` can hold.
    """
@overload
def max_pool2d(x: Any, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., dilation: _Size = ..., ceil_mode: bool = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ..., return_indices: Literal[True]) -> tuple[Any, Any]: ...
@overload
def max_pool2d(x: Any, kernel_size: _Size, stride: _Size | None, padding: _Padding, dilation: _Size, ceil_mode: bool, return_indices: Literal[True], *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ...) -> tuple[Any, Any]: ...
@overload
def max_pool2d(x: Any, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., dilation: _Size = ..., ceil_mode: bool = ..., return_indices: bool = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ...) -> Any | tuple[Any, Any]: ...

@overload
def max_pool3d(x: Any, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., dilation: _Size = ..., ceil_mode: bool = ..., return_indices: Literal[False] = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ...) -> Any:
    """Lazy :func:`fastpool.max_pool3d` of a dask array (N, C, D, H, W) or (C, D, H, W).

    With ``channels_last`` the channels are at the end.
    Same arguments and semantics as the in-memory function, without ``out=``.
    The result equals ``fastpool.max_pool3d(x.compute(), ...)`` for any chunking.
    Returns ``y`` or, with ``return_indices``, ``(y, indices)``
    (flat within the input's ``(n, c)`` plane).

    Parameters
    ----------
    x : dask.array.Array
        (N, C, D, H, W) or (C, D, H, W),
        or with ``channels_last`` the channels at the end; any chunking
        (each output block is computed from one input piece).
    kernel_size, stride, padding, dilation, ceil_mode, return_indices
        As for :func:`fastpool.max_pool3d`.
    channels_last, index_dtype, nan_policy, num_threads
        As for :func:`fastpool.max_pool3d` (``num_threads`` applies to each
        block's call).

    Returns
    -------
    y : dask.array.Array
        Lazy, of the shape and dtype of the in-memory result; batch and channel
        chunks as in x, roughly one output chunk per input chunk along each
        spatial axis.
    indices : dask.array.Array
        Only with ``return_indices``: lazy, shaped like ``y``, of
        ``index_dtype``, each flat within the whole input's ``(n, c)`` plane
        (``-1`` for a window lying wholly in padding).  ``ValueError`` if a
        plane has more cells than ``index_dtype`` can hold.
    """
@overload
def max_pool3d(x: Any, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., dilation: _Size = ..., ceil_mode: bool = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ..., return_indices: Literal[True]) -> tuple[Any, Any]: ...
@overload
def max_pool3d(x: Any, kernel_size: _Size, stride: _Size | None, padding: _Padding, dilation: _Size, ceil_mode: bool, return_indices: Literal[True], *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ...) -> tuple[Any, Any]: ...
@overload
def max_pool3d(x: Any, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., dilation: _Size = ..., ceil_mode: bool = ..., return_indices: bool = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ...) -> Any | tuple[Any, Any]: ...

def avg_pool1d(x: Any, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., ceil_mode: bool = ..., count_include_pad: bool = ..., divisor_override: int | None = ..., *, dilation: _Size = ..., channels_last: bool = ..., dtype: DTypeLike = ..., num_threads: int | None = ...) -> Any:
    """Lazy :func:`fastpool.avg_pool1d` of a dask array (N, C, W) or (C, W).

    With ``channels_last`` the channels are at the end.
    Same arguments and semantics as the in-memory function, without ``out=``.
    The result equals ``fastpool.avg_pool1d(x.compute(), ...)`` for any chunking.
    Returns ``y``; identical floats.

    Parameters
    ----------
    x : dask.array.Array
        (N, C, W) or (C, W),
        or with ``channels_last`` the channels at the end; any chunking
        (each output block is computed from one input piece).
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        As for :func:`fastpool.avg_pool1d`.
    dilation, channels_last, dtype, num_threads
        As for :func:`fastpool.avg_pool1d` (``num_threads`` applies to each
        block's call).

    Returns
    -------
    y : dask.array.Array
        Lazy, of the shape and dtype of the in-memory result; batch and channel
        chunks as in x, roughly one output chunk per input chunk along each
        spatial axis.
    """

def avg_pool2d(x: Any, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., ceil_mode: bool = ..., count_include_pad: bool = ..., divisor_override: int | None = ..., *, dilation: _Size = ..., channels_last: bool = ..., dtype: DTypeLike = ..., num_threads: int | None = ...) -> Any:
    """Lazy :func:`fastpool.avg_pool2d` of a dask array (N, C, H, W) or (C, H, W).

    With ``channels_last`` the channels are at the end.
    Same arguments and semantics as the in-memory function, without ``out=``.
    The result equals ``fastpool.avg_pool2d(x.compute(), ...)`` for any chunking.
    Returns ``y``; identical floats.

    Parameters
    ----------
    x : dask.array.Array
        (N, C, H, W) or (C, H, W),
        or with ``channels_last`` the channels at the end; any chunking
        (each output block is computed from one input piece).
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        As for :func:`fastpool.avg_pool2d`.
    dilation, channels_last, dtype, num_threads
        As for :func:`fastpool.avg_pool2d` (``num_threads`` applies to each
        block's call).

    Returns
    -------
    y : dask.array.Array
        Lazy, of the shape and dtype of the in-memory result; batch and channel
        chunks as in x, roughly one output chunk per input chunk along each
        spatial axis.
    """

def avg_pool3d(x: Any, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., ceil_mode: bool = ..., count_include_pad: bool = ..., divisor_override: int | None = ..., *, dilation: _Size = ..., channels_last: bool = ..., dtype: DTypeLike = ..., num_threads: int | None = ...) -> Any:
    """Lazy :func:`fastpool.avg_pool3d` of a dask array (N, C, D, H, W) or (C, D, H, W).

    With ``channels_last`` the channels are at the end.
    Same arguments and semantics as the in-memory function, without ``out=``.
    The result equals ``fastpool.avg_pool3d(x.compute(), ...)`` for any chunking.
    Returns ``y``; identical floats.

    Parameters
    ----------
    x : dask.array.Array
        (N, C, D, H, W) or (C, D, H, W),
        or with ``channels_last`` the channels at the end; any chunking
        (each output block is computed from one input piece).
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        As for :func:`fastpool.avg_pool3d`.
    dilation, channels_last, dtype, num_threads
        As for :func:`fastpool.avg_pool3d` (``num_threads`` applies to each
        block's call).

    Returns
    -------
    y : dask.array.Array
        Lazy, of the shape and dtype of the in-memory result; batch and channel
        chunks as in x, roughly one output chunk per input chunk along each
        spatial axis.
    """

def lp_pool1d(x: Any, norm_type: float, kernel_size: _Size, stride: _Size | None = ..., ceil_mode: bool = ..., *, padding: _Padding = ..., dilation: _Size = ..., channels_last: bool = ..., num_threads: int | None = ...) -> Any:
    """Lazy :func:`fastpool.lp_pool1d` of a dask array (N, C, W) or (C, W).

    With ``channels_last`` the channels are at the end.
    Same arguments and semantics as the in-memory function, without ``out=``.
    The result equals ``fastpool.lp_pool1d(x.compute(), ...)`` for any chunking.
    Returns ``y``; identical floats.

    Parameters
    ----------
    x : dask.array.Array
        (N, C, W) or (C, W),
        or with ``channels_last`` the channels at the end; any chunking
        (each output block is computed from one input piece).
    norm_type, kernel_size, stride, ceil_mode, padding, dilation
        As for :func:`fastpool.lp_pool1d`.
    channels_last, num_threads
        As for :func:`fastpool.lp_pool1d` (``num_threads`` applies to each
        block's call).

    Returns
    -------
    y : dask.array.Array
        Lazy, of the shape and dtype of the in-memory result; batch and channel
        chunks as in x, roughly one output chunk per input chunk along each
        spatial axis.
    """

def lp_pool2d(x: Any, norm_type: float, kernel_size: _Size, stride: _Size | None = ..., ceil_mode: bool = ..., *, padding: _Padding = ..., dilation: _Size = ..., channels_last: bool = ..., num_threads: int | None = ...) -> Any:
    """Lazy :func:`fastpool.lp_pool2d` of a dask array (N, C, H, W) or (C, H, W).

    With ``channels_last`` the channels are at the end.
    Same arguments and semantics as the in-memory function, without ``out=``.
    The result equals ``fastpool.lp_pool2d(x.compute(), ...)`` for any chunking.
    Returns ``y``; identical floats.

    Parameters
    ----------
    x : dask.array.Array
        (N, C, H, W) or (C, H, W),
        or with ``channels_last`` the channels at the end; any chunking
        (each output block is computed from one input piece).
    norm_type, kernel_size, stride, ceil_mode, padding, dilation
        As for :func:`fastpool.lp_pool2d`.
    channels_last, num_threads
        As for :func:`fastpool.lp_pool2d` (``num_threads`` applies to each
        block's call).

    Returns
    -------
    y : dask.array.Array
        Lazy, of the shape and dtype of the in-memory result; batch and channel
        chunks as in x, roughly one output chunk per input chunk along each
        spatial axis.
    """

def lp_pool3d(x: Any, norm_type: float, kernel_size: _Size, stride: _Size | None = ..., ceil_mode: bool = ..., *, padding: _Padding = ..., dilation: _Size = ..., channels_last: bool = ..., num_threads: int | None = ...) -> Any:
    """Lazy :func:`fastpool.lp_pool3d` of a dask array (N, C, D, H, W) or (C, D, H, W).

    With ``channels_last`` the channels are at the end.
    Same arguments and semantics as the in-memory function, without ``out=``.
    The result equals ``fastpool.lp_pool3d(x.compute(), ...)`` for any chunking.
    Returns ``y``; identical floats.

    Parameters
    ----------
    x : dask.array.Array
        (N, C, D, H, W) or (C, D, H, W),
        or with ``channels_last`` the channels at the end; any chunking
        (each output block is computed from one input piece).
    norm_type, kernel_size, stride, ceil_mode, padding, dilation
        As for :func:`fastpool.lp_pool3d`.
    channels_last, num_threads
        As for :func:`fastpool.lp_pool3d` (``num_threads`` applies to each
        block's call).

    Returns
    -------
    y : dask.array.Array
        Lazy, of the shape and dtype of the in-memory result; batch and channel
        chunks as in x, roughly one output chunk per input chunk along each
        spatial axis.
    """

@overload
def adaptive_max_pool1d(x: Any, output_size: _OutputSize, return_indices: Literal[False] = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ...) -> Any:
    """Lazy :func:`fastpool.adaptive_max_pool1d` of a dask array (N, C, W) or (C, W).

    With ``channels_last`` the channels are at the end.
    Same arguments and semantics as the in-memory function, without ``out=``.
    The result equals ``fastpool.adaptive_max_pool1d(x.compute(), ...)`` for any chunking.
    Chunks are rebuilt on periods of the windows.

    Parameters
    ----------
    x : dask.array.Array
        (N, C, W) or (C, W),
        or with ``channels_last`` the channels at the end; any chunking
        (each output block is computed from one input piece).
        Spatial axes must be non-empty.
    output_size, return_indices
        As for :func:`fastpool.adaptive_max_pool1d`.
    channels_last, index_dtype, nan_policy, num_threads
        As for :func:`fastpool.adaptive_max_pool1d` (``num_threads``
        applies to each block's call).

    Returns
    -------
    y : dask.array.Array
        Lazy, of the shape and dtype of the in-memory result; along each
        spatial axis the chunks follow the input rechunked onto periods of
        the adaptive windows.
    indices : dask.array.Array
        Only with ``return_indices``: lazy, shaped like ``y``, of
        ``index_dtype``, each flat within the whole input's ``(n, c)`` plane.
        ``ValueError`` if a plane has more cells than ``index_dtype`` can hold.
    """
@overload
def adaptive_max_pool1d(x: Any, output_size: _OutputSize, *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ..., return_indices: Literal[True]) -> tuple[Any, Any]: ...
@overload
def adaptive_max_pool1d(x: Any, output_size: _OutputSize, return_indices: Literal[True], *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ...) -> tuple[Any, Any]: ...
@overload
def adaptive_max_pool1d(x: Any, output_size: _OutputSize, return_indices: bool = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ...) -> Any | tuple[Any, Any]: ...

@overload
def adaptive_max_pool2d(x: Any, output_size: _OutputSize, return_indices: Literal[False] = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ...) -> Any:
    """Lazy :func:`fastpool.adaptive_max_pool2d` of a dask array (N, C, H, W) or (C, H, W).

    With ``channels_last`` the channels are at the end.
    Same arguments and semantics as the in-memory function, without ``out=``.
    The result equals ``fastpool.adaptive_max_pool2d(x.compute(), ...)`` for any chunking.
    Chunks are rebuilt on periods of the windows.

    Parameters
    ----------
    x : dask.array.Array
        (N, C, H, W) or (C, H, W),
        or with ``channels_last`` the channels at the end; any chunking
        (each output block is computed from one input piece).
        Spatial axes must be non-empty.
    output_size, return_indices
        As for :func:`fastpool.adaptive_max_pool2d`.
    channels_last, index_dtype, nan_policy, num_threads
        As for :func:`fastpool.adaptive_max_pool2d` (``num_threads``
        applies to each block's call).

    Returns
    -------
    y : dask.array.Array
        Lazy, of the shape and dtype of the in-memory result; along each
        spatial axis the chunks follow the input rechunked onto periods of
        the adaptive windows.
    indices : dask.array.Array
        Only with ``return_indices``: lazy, shaped like ``y``, of
        ``index_dtype``, each flat within the whole input's ``(n, c)`` plane.
        ``ValueError`` if a plane has more cells than ``index_dtype`` can hold.
    """
@overload
def adaptive_max_pool2d(x: Any, output_size: _OutputSize, *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ..., return_indices: Literal[True]) -> tuple[Any, Any]: ...
@overload
def adaptive_max_pool2d(x: Any, output_size: _OutputSize, return_indices: Literal[True], *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ...) -> tuple[Any, Any]: ...
@overload
def adaptive_max_pool2d(x: Any, output_size: _OutputSize, return_indices: bool = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ...) -> Any | tuple[Any, Any]: ...

@overload
def adaptive_max_pool3d(x: Any, output_size: _OutputSize, return_indices: Literal[False] = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ...) -> Any:
    """Lazy :func:`fastpool.adaptive_max_pool3d` of a dask array (N, C, D, H, W) or (C, D, H, W).

    With ``channels_last`` the channels are at the end.
    Same arguments and semantics as the in-memory function, without ``out=``.
    The result equals ``fastpool.adaptive_max_pool3d(x.compute(), ...)`` for any chunking.
    Chunks are rebuilt on periods of the windows.

    Parameters
    ----------
    x : dask.array.Array
        (N, C, D, H, W) or (C, D, H, W),
        or with ``channels_last`` the channels at the end; any chunking
        (each output block is computed from one input piece).
        Spatial axes must be non-empty.
    output_size, return_indices
        As for :func:`fastpool.adaptive_max_pool3d`.
    channels_last, index_dtype, nan_policy, num_threads
        As for :func:`fastpool.adaptive_max_pool3d` (``num_threads``
        applies to each block's call).

    Returns
    -------
    y : dask.array.Array
        Lazy, of the shape and dtype of the in-memory result; along each
        spatial axis the chunks follow the input rechunked onto periods of
        the adaptive windows.
    indices : dask.array.Array
        Only with ``return_indices``: lazy, shaped like ``y``, of
        ``index_dtype``, each flat within the whole input's ``(n, c)`` plane.
        ``ValueError`` if a plane has more cells than ``index_dtype`` can hold.
    """
@overload
def adaptive_max_pool3d(x: Any, output_size: _OutputSize, *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ..., return_indices: Literal[True]) -> tuple[Any, Any]: ...
@overload
def adaptive_max_pool3d(x: Any, output_size: _OutputSize, return_indices: Literal[True], *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ...) -> tuple[Any, Any]: ...
@overload
def adaptive_max_pool3d(x: Any, output_size: _OutputSize, return_indices: bool = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ...) -> Any | tuple[Any, Any]: ...

def adaptive_avg_pool1d(x: Any, output_size: _OutputSize, *, channels_last: bool = ..., num_threads: int | None = ...) -> Any:
    """Lazy :func:`fastpool.adaptive_avg_pool1d` of a dask array (N, C, W) or (C, W).

    With ``channels_last`` the channels are at the end.
    Same arguments and semantics as the in-memory function, without ``out=``.
    The result equals ``fastpool.adaptive_avg_pool1d(x.compute(), ...)`` for any chunking.
    Chunks are rebuilt on periods of the windows.

    Parameters
    ----------
    x : dask.array.Array
        (N, C, W) or (C, W),
        or with ``channels_last`` the channels at the end; any chunking
        (each output block is computed from one input piece).
        Spatial axes must be non-empty.
    output_size
        As for :func:`fastpool.adaptive_avg_pool1d`.
    channels_last, num_threads
        As for :func:`fastpool.adaptive_avg_pool1d` (``num_threads``
        applies to each block's call).

    Returns
    -------
    y : dask.array.Array
        Lazy, of the shape and dtype of the in-memory result; along each
        spatial axis the chunks follow the input rechunked onto periods of
        the adaptive windows.
    """

def adaptive_avg_pool2d(x: Any, output_size: _OutputSize, *, channels_last: bool = ..., num_threads: int | None = ...) -> Any:
    """Lazy :func:`fastpool.adaptive_avg_pool2d` of a dask array (N, C, H, W) or (C, H, W).

    With ``channels_last`` the channels are at the end.
    Same arguments and semantics as the in-memory function, without ``out=``.
    The result equals ``fastpool.adaptive_avg_pool2d(x.compute(), ...)`` for any chunking.
    Chunks are rebuilt on periods of the windows.

    Parameters
    ----------
    x : dask.array.Array
        (N, C, H, W) or (C, H, W),
        or with ``channels_last`` the channels at the end; any chunking
        (each output block is computed from one input piece).
        Spatial axes must be non-empty.
    output_size
        As for :func:`fastpool.adaptive_avg_pool2d`.
    channels_last, num_threads
        As for :func:`fastpool.adaptive_avg_pool2d` (``num_threads``
        applies to each block's call).

    Returns
    -------
    y : dask.array.Array
        Lazy, of the shape and dtype of the in-memory result; along each
        spatial axis the chunks follow the input rechunked onto periods of
        the adaptive windows.
    """

def adaptive_avg_pool3d(x: Any, output_size: _OutputSize, *, channels_last: bool = ..., num_threads: int | None = ...) -> Any:
    """Lazy :func:`fastpool.adaptive_avg_pool3d` of a dask array (N, C, D, H, W) or (C, D, H, W).

    With ``channels_last`` the channels are at the end.
    Same arguments and semantics as the in-memory function, without ``out=``.
    The result equals ``fastpool.adaptive_avg_pool3d(x.compute(), ...)`` for any chunking.
    Chunks are rebuilt on periods of the windows.

    Parameters
    ----------
    x : dask.array.Array
        (N, C, D, H, W) or (C, D, H, W),
        or with ``channels_last`` the channels at the end; any chunking
        (each output block is computed from one input piece).
        Spatial axes must be non-empty.
    output_size
        As for :func:`fastpool.adaptive_avg_pool3d`.
    channels_last, num_threads
        As for :func:`fastpool.adaptive_avg_pool3d` (``num_threads``
        applies to each block's call).

    Returns
    -------
    y : dask.array.Array
        Lazy, of the shape and dtype of the in-memory result; along each
        spatial axis the chunks follow the input rechunked onto periods of
        the adaptive windows.
    """

def global_max_pool(x: Any, *, channels_last: bool = ..., nan_policy: Literal["propagate", "omit"] = ..., num_threads: int | None = ...) -> Any:
    """Max over each ``(n, c)`` plane of a batched dask array; output ``(N, C, 1, ...)``.

    Each block is pooled with :func:`fastpool.global_max_pool` and the
    per-block maxima are pooled again the same way: the values equal the
    in-memory result (NaN propagates, or is skipped with ``nan_policy="omit"``),
    except that the sign of a zero maximum may differ.

    Parameters
    ----------
    x : dask.array.Array
        Batched ``(N, C, *spatial)`` with 1 to 3 spatial axes (``(N, *spatial, C)``
        with ``channels_last``), any chunking.
    channels_last, nan_policy, num_threads
        As for :func:`fastpool.global_max_pool` (``num_threads`` applies to each
        block's call).

    Returns
    -------
    dask.array.Array
        Lazy, shape ``(N, C, 1, ...)`` with one 1 per spatial axis
        (``(N, 1, ..., C)`` with ``channels_last``), x's dtype; batch and
        channel chunks as in x.  No indices are returned.
    """

def global_avg_pool(x: Any, *, channels_last: bool = ..., num_threads: int | None = ...) -> Any:
    """Mean over each ``(n, c)`` plane of a batched dask array; output ``(N, C, 1, ...)``.

    When every plane is one chunk along the spatial axes this is one
    :func:`fastpool.global_avg_pool` call per block (identical to in-memory).
    Otherwise the per-block sums are taken in float64 and divided by the
    plane size, which may differ from in-memory fastpool in the last bits.

    Parameters
    ----------
    x : dask.array.Array
        Batched ``(N, C, *spatial)`` with 1 to 3 spatial axes (``(N, *spatial, C)``
        with ``channels_last``), any chunking.
    channels_last, num_threads
        As for :func:`fastpool.global_avg_pool` (``num_threads`` applies to each
        block's call).

    Returns
    -------
    dask.array.Array
        Lazy, shape ``(N, C, 1, ...)`` with one 1 per spatial axis
        (``(N, 1, ..., C)`` with ``channels_last``), of the dtype
        :func:`fastpool.global_avg_pool` gives for x's dtype (float64 for
        integer input).
    """

def global_lp_pool(x: Any, norm_type: float, *, channels_last: bool = ..., num_threads: int | None = ...) -> Any:
    """``(sum |x|^p)^(1/p)`` over each ``(n, c)`` plane of a batched dask array.

    When every plane is one chunk along the spatial axes this is one
    :func:`fastpool.global_lp_pool` call per block (identical to in-memory).
    Otherwise each block's norm is computed in float64 with fastpool and the
    norms are combined by one more ``global_lp_pool`` (``(sum r_b^p)^(1/p)``
    is the norm of the whole plane), then cast back: the last bits may differ
    from in-memory fastpool.

    Parameters
    ----------
    x : dask.array.Array
        Batched ``(N, C, *spatial)`` with 1 to 3 spatial axes (``(N, *spatial, C)``
        with ``channels_last``), any chunking.
    norm_type : float
        As for :func:`fastpool.global_lp_pool`: ``p > 0``, ``inf`` gives max ``|x|``.
    channels_last, num_threads
        As for :func:`fastpool.global_lp_pool` (``num_threads`` applies to each
        block's call).

    Returns
    -------
    dask.array.Array
        Lazy, shape ``(N, C, 1, ...)`` with one 1 per spatial axis
        (``(N, 1, ..., C)`` with ``channels_last``), x's dtype.
    """

def pyramid(x: Any, levels: Any, method: str = ..., factor: int | Sequence[int] = ..., *, rank: int = ..., channels_last: bool = ..., ceil_mode: bool = ..., rechunk: bool = ..., dtype: DTypeLike = ..., num_threads: int | None = ...) -> list[Any]:
    """A multi-scale pyramid: ``[x, pool(x), pool(pool(x)), ...]``.

    Parameters
    ----------
    x : dask.array.Array
        ``(N, C, *spatial)`` or ``(C, *spatial)`` (``channels_last``:
        ``(N, *spatial, C)`` or ``(*spatial, C)``), any dtype the in-memory
        functions take.  For a single-channel ``(H, W)`` image pass ``x[None]``.
    levels : int
        Number of reductions; the result has ``levels + 1`` arrays.
    method : "mean" or "max"
        ``"mean"``: average pooling that counts only input cells
        (``count_include_pad=False``); ``"max"``: max pooling.
    factor : int or tuple of ``rank`` ints
        Kernel size and stride of every reduction (2: halve each axis).
    rank : int
        Number of spatial axes (1, 2 or 3).
    channels_last : bool
        Layout, as for the pooling functions.
    ceil_mode : bool
        True (default): an axis of odd length keeps its last row/column,
        reduced over the cells that exist, and an axis of length 1 stays 1.
        False: the remainder is dropped.
    rechunk : bool
        Rechunk every level to the spatial chunk shape of ``x`` (capped at the
        level's size), so deep levels are not made of tiny chunks.
    dtype : optional
        For ``"mean"``: the levels' dtype, as ``avg_pool``'s ``dtype=``.  By
        default integer images give float64 levels; ``dtype=x.dtype`` keeps
        the integer type (means rounded half to even).

    Returns
    -------
    list of dask.array.Array
        Level ``i`` equals in-memory fastpool applied ``i`` times.
    """

def to_zarr(levels: Any, store: Any, *, overwrite: bool = ..., compute: bool = ..., **array_kwargs: Any) -> Any:
    """Write a pyramid (a list of dask arrays) to a Zarr group, level ``i`` at path ``"i"``.

    Parameters
    ----------
    levels : list of dask.array.Array
        For example the result of :func:`pyramid`.
    store : str, pathlib.Path or a Zarr store
        Where the group is created.
    overwrite : bool
        Replace an existing group (otherwise writing into an existing one fails).
    compute : bool
        Write now (default), or return a ``dask.delayed`` object that writes
        when computed.
    **array_kwargs
        Passed to Zarr's array creation (compressors, ...).

    Returns
    -------
    zarr.Group, or a Delayed when ``compute=False``.

    The group's ``fastpool_pyramid`` attribute lists the paths and shapes
    (it is not OME-NGFF metadata: add that for your axes if you need it).  Chunks are made regular
    first, since Zarr needs regular chunks.
    """
