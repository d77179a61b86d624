# Type stubs for fastpool, written by scripts/stubs.py from the package's own
# signatures and docstrings: do not edit; rerun the script.

from collections.abc import Sequence
from typing import IO, Any, Literal, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

__version__: str

_Size = int | Sequence[int]
_Padding = int | str | Sequence[int | tuple[int, int]]
_OutputSize = int | Sequence[int | None] | None

__all__ = ['__version__', 'adaptive_avg_pool1d', 'adaptive_avg_pool1d_backward', 'adaptive_avg_pool2d', 'adaptive_avg_pool2d_backward', 'adaptive_avg_pool3d', 'adaptive_avg_pool3d_backward', 'adaptive_max_pool1d', 'adaptive_max_pool1d_backward', 'adaptive_max_pool2d', 'adaptive_max_pool2d_backward', 'adaptive_max_pool3d', 'adaptive_max_pool3d_backward', 'adaptive_windows', 'avg_pool1d', 'avg_pool1d_backward', 'avg_pool2d', 'avg_pool2d_backward', 'avg_pool3d', 'avg_pool3d_backward', 'bilinear_pool', 'bilinear_pool_backward', 'convert_indices', 'fractional_max_pool2d', 'fractional_max_pool2d_backward', 'fractional_max_pool3d', 'fractional_max_pool3d_backward', 'get_cmake_dir', 'get_include', 'get_library_dir', 'get_pkgconfig_dir', 'global_avg_pool', 'global_avg_pool_backward', 'global_lp_pool', 'global_lp_pool_backward', 'global_max_pool', 'global_max_pool_backward', 'lp_pool1d', 'lp_pool1d_backward', 'lp_pool2d', 'lp_pool2d_backward', 'lp_pool3d', 'lp_pool3d_backward', 'max_pool1d', 'max_pool1d_backward', 'max_pool2d', 'max_pool2d_backward', 'max_pool3d', 'max_pool3d_backward', 'max_unpool1d', 'max_unpool1d_backward', 'max_unpool2d', 'max_unpool2d_backward', 'max_unpool3d', 'max_unpool3d_backward', 'median_pool2d', 'median_pool2d_backward', 'mixed_pool2d', 'mixed_pool2d_backward', 'netvlad', 'netvlad_backward', 'pool_output_shape', 'show_config', 'spatial_pyramid_pool', 'spatial_pyramid_pool_backward', 'stochastic_pool2d', 'stochastic_pool2d_backward', 'yolo_spp', 'yolo_spp_backward']

def show_config(file: IO[str] | None = ...) -> None:
    """Print the version, the build and the threading fastpool runs with.

    The OpenMP lines give the OpenMP version the kernels were compiled for,
    the runtime library they run with (found through the dynamic linker, and
    described by threadpoolctl when it is installed) and any other OpenMP
    runtime loaded in the process, since two runtimes compete for the cores.

    Parameters
    ----------
    file : file-like, optional
        Where to print; standard output by default.

    Returns
    -------
    None
        The report is printed to ``file``, not returned.
    """

def get_include() -> str:
    """Directory that holds ``fastpool.h``, the C API's one header.

    Put it on the include path of C code, and of Cython code that cimports
    :mod:`fastpool.cython_api` (which needs no library).

    Returns
    -------
    str
        An absolute path.

    Raises
    ------
    FileNotFoundError
        If this installation lacks the header.
    """

def get_library_dir() -> str:
    """Directory that holds the shared library ``libfastpool.so``.

    Link with ``-L<dir> -lfastpool`` and add ``-Wl,-rpath,<dir>`` (or use
    :func:`get_cmake_dir` or the pkg-config file in ``<dir>/pkgconfig``).

    Returns
    -------
    str
        An absolute path.

    Raises
    ------
    FileNotFoundError
        If this installation lacks the library.
    """

def get_cmake_dir() -> str:
    """Directory of the CMake package: pass it as ``-Dfastpool_DIR=<dir>``.

    ``find_package(fastpool CONFIG REQUIRED)`` then defines the imported target
    ``fastpool::fastpool`` (the shared library, with its include directory).
    scikit-build-core builds find it without help, through fastpool's
    ``cmake.prefix`` entry point.

    Returns
    -------
    str
        An absolute path.

    Raises
    ------
    FileNotFoundError
        If this installation lacks the CMake package.
    """

def get_pkgconfig_dir() -> str:
    """Directory of ``fastpool.pc``: add it to ``PKG_CONFIG_PATH``.

    The file locates the header and library relative to itself, so it is
    right wherever fastpool is installed.

    Returns
    -------
    str
        An absolute path.

    Raises
    ------
    FileNotFoundError
        If this installation lacks the pkg-config file.
    """

@overload
def max_pool1d(x: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., dilation: _Size = ..., ceil_mode: bool = ..., return_indices: Literal[False] = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """1-D max pooling (PyTorch ``max_pool1d`` semantics).

    Shapes follow PyTorch: ``(N, C, W)`` or unbatched ``(C, W)``; with
    ``channels_last=True`` the logical shape is ``(N, W, C)`` (NHWC).
    Any strides are accepted without a copy; the output is C-contiguous in the
    same logical order as the input.

    Parameters
    ----------
    x : array_like, float32 or float64

    kernel_size : int or tuple of 1 ints
        Window size per spatial axis.
    stride : int or tuple of 1 ints, optional
        Step between windows; ``None`` means ``kernel_size``.
    padding : int, tuple, "valid", "same" or "same_lower"
        Implicit padding: an int, one int per axis (symmetric), or one
        ``(begin, end)`` pair per axis (asymmetric, like ONNX ``pads``).
        ``"same"`` gives ``ceil(I / stride)`` outputs with the extra pad at the
        end (TensorFlow SAME, ONNX SAME_UPPER), ``"same_lower"`` at the start.
        PyTorch's ``padding <= kernel_size / 2`` limit is not imposed.
    ceil_mode : bool
        Round the output size up; no window may start in the end padding.
    dilation : int or tuple of 1 ints
        Spacing between window taps.
    return_indices : bool
        Also return the position of each maximum, as a flat index within its
        ``(n, c)`` plane (``w``),
        ``-1`` for a window lying wholly in padding.
    channels_last : bool
        The input and outputs are ``(N, W, C)``.
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
@overload
def max_pool1d(x: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., dilation: _Size = ..., ceil_mode: bool = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ..., return_indices: Literal[True]) -> tuple[NDArray[Any], NDArray[Any]]: ...
@overload
def max_pool1d(x: ArrayLike, kernel_size: _Size, stride: _Size | None, padding: _Padding, dilation: _Size, ceil_mode: bool, return_indices: Literal[True], *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> tuple[NDArray[Any], NDArray[Any]]: ...
@overload
def max_pool1d(x: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., dilation: _Size = ..., ceil_mode: bool = ..., return_indices: bool = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any] | tuple[NDArray[Any], NDArray[Any]]: ...

@overload
def max_pool2d(x: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., dilation: _Size = ..., ceil_mode: bool = ..., return_indices: Literal[False] = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """2-D max pooling (PyTorch ``max_pool2d`` semantics).

    Shapes follow PyTorch: ``(N, C, H, W)`` or unbatched ``(C, H, W)``; with
    ``channels_last=True`` the logical shape is ``(N, H, W, C)`` (NHWC).
    Any strides are accepted without a copy; the output is C-contiguous in the
    same logical order as the input.

    Parameters
    ----------
    x : array_like, float32 or float64

    kernel_size : int or tuple of 2 ints
        Window size per spatial axis.
    stride : int or tuple of 2 ints, optional
        Step between windows; ``None`` means ``kernel_size``.
    padding : int, tuple, "valid", "same" or "same_lower"
        Implicit padding: an int, one int per axis (symmetric), or one
        ``(begin, end)`` pair per axis (asymmetric, like ONNX ``pads``).
        ``"same"`` gives ``ceil(I / stride)`` outputs with the extra pad at the
        end (TensorFlow SAME, ONNX SAME_UPPER), ``"same_lower"`` at the start.
        PyTorch's ``padding <= kernel_size / 2`` limit is not imposed.
    ceil_mode : bool
        Round the output size up; no window may start in the end padding.
    dilation : int or tuple of 2 ints
        Spacing between window taps.
    return_indices : bool
        Also return the position of each maximum, as a flat index within its
        ``(n, c)`` plane (``h*W + w``),
        ``-1`` for a window lying wholly in padding.
    channels_last : bool
        The input and outputs are ``(N, H, W, C)``.
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
@overload
def max_pool2d(x: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., dilation: _Size = ..., ceil_mode: bool = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ..., return_indices: Literal[True]) -> tuple[NDArray[Any], NDArray[Any]]: ...
@overload
def max_pool2d(x: ArrayLike, kernel_size: _Size, stride: _Size | None, padding: _Padding, dilation: _Size, ceil_mode: bool, return_indices: Literal[True], *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> tuple[NDArray[Any], NDArray[Any]]: ...
@overload
def max_pool2d(x: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., dilation: _Size = ..., ceil_mode: bool = ..., return_indices: bool = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any] | tuple[NDArray[Any], NDArray[Any]]: ...

@overload
def max_pool3d(x: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., dilation: _Size = ..., ceil_mode: bool = ..., return_indices: Literal[False] = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """3-D max pooling (PyTorch ``max_pool3d`` semantics).

    Shapes follow PyTorch: ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)``; with
    ``channels_last=True`` the logical shape is ``(N, D, H, W, C)`` (NHWC).
    Any strides are accepted without a copy; the output is C-contiguous in the
    same logical order as the input.

    Parameters
    ----------
    x : array_like, float32 or float64

    kernel_size : int or tuple of 3 ints
        Window size per spatial axis.
    stride : int or tuple of 3 ints, optional
        Step between windows; ``None`` means ``kernel_size``.
    padding : int, tuple, "valid", "same" or "same_lower"
        Implicit padding: an int, one int per axis (symmetric), or one
        ``(begin, end)`` pair per axis (asymmetric, like ONNX ``pads``).
        ``"same"`` gives ``ceil(I / stride)`` outputs with the extra pad at the
        end (TensorFlow SAME, ONNX SAME_UPPER), ``"same_lower"`` at the start.
        PyTorch's ``padding <= kernel_size / 2`` limit is not imposed.
    ceil_mode : bool
        Round the output size up; no window may start in the end padding.
    dilation : int or tuple of 3 ints
        Spacing between window taps.
    return_indices : bool
        Also return the position of each maximum, as a flat index within its
        ``(n, c)`` plane (``(d*H + h)*W + w``),
        ``-1`` for a window lying wholly in padding.
    channels_last : bool
        The input and outputs are ``(N, D, H, W, C)``.
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
@overload
def max_pool3d(x: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., dilation: _Size = ..., ceil_mode: bool = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ..., return_indices: Literal[True]) -> tuple[NDArray[Any], NDArray[Any]]: ...
@overload
def max_pool3d(x: ArrayLike, kernel_size: _Size, stride: _Size | None, padding: _Padding, dilation: _Size, ceil_mode: bool, return_indices: Literal[True], *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> tuple[NDArray[Any], NDArray[Any]]: ...
@overload
def max_pool3d(x: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., dilation: _Size = ..., ceil_mode: bool = ..., return_indices: bool = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any] | tuple[NDArray[Any], NDArray[Any]]: ...

def avg_pool1d(x: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., ceil_mode: bool = ..., count_include_pad: bool = ..., divisor_override: int | None = ..., *, dilation: _Size = ..., channels_last: bool = ..., dtype: DTypeLike = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """1-D average pooling (PyTorch ``avg_pool1d`` semantics).

    Shapes follow PyTorch: ``(N, C, W)`` or unbatched ``(C, W)``; with
    ``channels_last=True`` the logical shape is ``(N, W, C)`` (NHWC).
    Any strides are accepted without a copy; the output is C-contiguous in the
    same logical order as the input.

    Parameters
    ----------
    x : array_like, float32 or float64

    kernel_size : int or tuple of 1 ints
        Window size per spatial axis.
    stride : int or tuple of 1 ints, optional
        Step between windows; ``None`` means ``kernel_size``.
    padding : int, tuple, "valid", "same" or "same_lower"
        Implicit padding: an int, one int per axis (symmetric), or one
        ``(begin, end)`` pair per axis (asymmetric, like ONNX ``pads``).
        ``"same"`` gives ``ceil(I / stride)`` outputs with the extra pad at the
        end (TensorFlow SAME, ONNX SAME_UPPER), ``"same_lower"`` at the start.
        PyTorch's ``padding <= kernel_size / 2`` limit is not imposed.
    ceil_mode : bool
        Round the output size up; no window may start in the end padding.
    count_include_pad : bool
        Divide by the window size clipped to ``I + pad_end`` (True) or by the
        number of input cells in the window (False).
    divisor_override : int, optional
        Divide every window's sum by this instead.
    dilation : int or tuple of 1 ints
        Spacing between window taps.
    dtype : numpy dtype, optional
        Output dtype.  Floating inputs: their own dtype.  Integer inputs:
        float64 by default, or the input's dtype, rounded half to even and
        saturated (uint8 in, uint8 out for image pyramids).
    channels_last, out, num_threads
        As for :func:`max_pool1d`.

    Returns
    -------
    ndarray
        A window with no input cell gives 0.  Sums are accumulated in float64
        (float32 for float16 input).
    """

def avg_pool2d(x: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., ceil_mode: bool = ..., count_include_pad: bool = ..., divisor_override: int | None = ..., *, dilation: _Size = ..., channels_last: bool = ..., dtype: DTypeLike = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """2-D average pooling (PyTorch ``avg_pool2d`` semantics).

    Shapes follow PyTorch: ``(N, C, H, W)`` or unbatched ``(C, H, W)``; with
    ``channels_last=True`` the logical shape is ``(N, H, W, C)`` (NHWC).
    Any strides are accepted without a copy; the output is C-contiguous in the
    same logical order as the input.

    Parameters
    ----------
    x : array_like, float32 or float64

    kernel_size : int or tuple of 2 ints
        Window size per spatial axis.
    stride : int or tuple of 2 ints, optional
        Step between windows; ``None`` means ``kernel_size``.
    padding : int, tuple, "valid", "same" or "same_lower"
        Implicit padding: an int, one int per axis (symmetric), or one
        ``(begin, end)`` pair per axis (asymmetric, like ONNX ``pads``).
        ``"same"`` gives ``ceil(I / stride)`` outputs with the extra pad at the
        end (TensorFlow SAME, ONNX SAME_UPPER), ``"same_lower"`` at the start.
        PyTorch's ``padding <= kernel_size / 2`` limit is not imposed.
    ceil_mode : bool
        Round the output size up; no window may start in the end padding.
    count_include_pad : bool
        Divide by the window size clipped to ``I + pad_end`` (True) or by the
        number of input cells in the window (False).
    divisor_override : int, optional
        Divide every window's sum by this instead.
    dilation : int or tuple of 2 ints
        Spacing between window taps.
    dtype : numpy dtype, optional
        Output dtype.  Floating inputs: their own dtype.  Integer inputs:
        float64 by default, or the input's dtype, rounded half to even and
        saturated (uint8 in, uint8 out for image pyramids).
    channels_last, out, num_threads
        As for :func:`max_pool2d`.

    Returns
    -------
    ndarray
        A window with no input cell gives 0.  Sums are accumulated in float64
        (float32 for float16 input).
    """

def avg_pool3d(x: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., ceil_mode: bool = ..., count_include_pad: bool = ..., divisor_override: int | None = ..., *, dilation: _Size = ..., channels_last: bool = ..., dtype: DTypeLike = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """3-D average pooling (PyTorch ``avg_pool3d`` semantics).

    Shapes follow PyTorch: ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)``; with
    ``channels_last=True`` the logical shape is ``(N, D, H, W, C)`` (NHWC).
    Any strides are accepted without a copy; the output is C-contiguous in the
    same logical order as the input.

    Parameters
    ----------
    x : array_like, float32 or float64

    kernel_size : int or tuple of 3 ints
        Window size per spatial axis.
    stride : int or tuple of 3 ints, optional
        Step between windows; ``None`` means ``kernel_size``.
    padding : int, tuple, "valid", "same" or "same_lower"
        Implicit padding: an int, one int per axis (symmetric), or one
        ``(begin, end)`` pair per axis (asymmetric, like ONNX ``pads``).
        ``"same"`` gives ``ceil(I / stride)`` outputs with the extra pad at the
        end (TensorFlow SAME, ONNX SAME_UPPER), ``"same_lower"`` at the start.
        PyTorch's ``padding <= kernel_size / 2`` limit is not imposed.
    ceil_mode : bool
        Round the output size up; no window may start in the end padding.
    count_include_pad : bool
        Divide by the window size clipped to ``I + pad_end`` (True) or by the
        number of input cells in the window (False).
    divisor_override : int, optional
        Divide every window's sum by this instead.
    dilation : int or tuple of 3 ints
        Spacing between window taps.
    dtype : numpy dtype, optional
        Output dtype.  Floating inputs: their own dtype.  Integer inputs:
        float64 by default, or the input's dtype, rounded half to even and
        saturated (uint8 in, uint8 out for image pyramids).
    channels_last, out, num_threads
        As for :func:`max_pool3d`.

    Returns
    -------
    ndarray
        A window with no input cell gives 0.  Sums are accumulated in float64
        (float32 for float16 input).
    """

def max_pool1d_backward(grad_output: ArrayLike, indices: ArrayLike, input_shape: Sequence[int], *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """Gradient of :func:`max_pool1d` with respect to its input.

    Parameters
    ----------
    grad_output : array_like, float32 or float64
        Gradient of the pooled output, in the forward output's layout.
    indices : array_like, int64 or int32
        The indices returned by the forward call.
    input_shape : tuple of int
        Shape of the forward input, in the same layout.
    channels_last, out, num_threads
        As for :func:`max_pool1d`.

    Returns
    -------
    ndarray
        ``dx`` with ``dx[n, c].flat[i] += dy`` for every output; index ``-1``
        is skipped.  Every index is checked before anything is written
        (``IndexError``).  Deterministic for any thread count.
    """

def max_pool2d_backward(grad_output: ArrayLike, indices: ArrayLike, input_shape: Sequence[int], *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """Gradient of :func:`max_pool2d` with respect to its input.

    Parameters
    ----------
    grad_output : array_like, float32 or float64
        Gradient of the pooled output, in the forward output's layout.
    indices : array_like, int64 or int32
        The indices returned by the forward call.
    input_shape : tuple of int
        Shape of the forward input, in the same layout.
    channels_last, out, num_threads
        As for :func:`max_pool2d`.

    Returns
    -------
    ndarray
        ``dx`` with ``dx[n, c].flat[i] += dy`` for every output; index ``-1``
        is skipped.  Every index is checked before anything is written
        (``IndexError``).  Deterministic for any thread count.
    """

def max_pool3d_backward(grad_output: ArrayLike, indices: ArrayLike, input_shape: Sequence[int], *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """Gradient of :func:`max_pool3d` with respect to its input.

    Parameters
    ----------
    grad_output : array_like, float32 or float64
        Gradient of the pooled output, in the forward output's layout.
    indices : array_like, int64 or int32
        The indices returned by the forward call.
    input_shape : tuple of int
        Shape of the forward input, in the same layout.
    channels_last, out, num_threads
        As for :func:`max_pool3d`.

    Returns
    -------
    ndarray
        ``dx`` with ``dx[n, c].flat[i] += dy`` for every output; index ``-1``
        is skipped.  Every index is checked before anything is written
        (``IndexError``).  Deterministic for any thread count.
    """

def avg_pool1d_backward(grad_output: ArrayLike, input_shape: Sequence[int], kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., ceil_mode: bool = ..., count_include_pad: bool = ..., divisor_override: int | None = ..., *, dilation: _Size = ..., channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """Gradient of :func:`avg_pool1d` with respect to its input.

    Parameters
    ----------
    grad_output : array_like, float32 or float64
        Gradient of the pooled output, in the forward output's layout.
    input_shape : tuple of int
        Shape of the forward input, in the same layout.
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, dilation
        The forward call's pooling arguments.
    channels_last, out, num_threads
        As for :func:`avg_pool1d`.

    Returns
    -------
    ndarray
        Each output's gradient divided by its divisor and spread over the
        input cells of its window.  Deterministic for any thread count.
    """

def avg_pool2d_backward(grad_output: ArrayLike, input_shape: Sequence[int], kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., ceil_mode: bool = ..., count_include_pad: bool = ..., divisor_override: int | None = ..., *, dilation: _Size = ..., channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """Gradient of :func:`avg_pool2d` with respect to its input.

    Parameters
    ----------
    grad_output : array_like, float32 or float64
        Gradient of the pooled output, in the forward output's layout.
    input_shape : tuple of int
        Shape of the forward input, in the same layout.
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, dilation
        The forward call's pooling arguments.
    channels_last, out, num_threads
        As for :func:`avg_pool2d`.

    Returns
    -------
    ndarray
        Each output's gradient divided by its divisor and spread over the
        input cells of its window.  Deterministic for any thread count.
    """

def avg_pool3d_backward(grad_output: ArrayLike, input_shape: Sequence[int], kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., ceil_mode: bool = ..., count_include_pad: bool = ..., divisor_override: int | None = ..., *, dilation: _Size = ..., channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """Gradient of :func:`avg_pool3d` with respect to its input.

    Parameters
    ----------
    grad_output : array_like, float32 or float64
        Gradient of the pooled output, in the forward output's layout.
    input_shape : tuple of int
        Shape of the forward input, in the same layout.
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, dilation
        The forward call's pooling arguments.
    channels_last, out, num_threads
        As for :func:`avg_pool3d`.

    Returns
    -------
    ndarray
        Each output's gradient divided by its divisor and spread over the
        input cells of its window.  Deterministic for any thread count.
    """

def pool_output_shape(input_shape: Sequence[int], kernel_size: _Size = ..., stride: _Size | None = ..., padding: _Padding = ..., dilation: _Size = ..., ceil_mode: bool = ..., *, op: Any = ..., output_size: _OutputSize = ..., output_ratio: float | Sequence[float] | None = ..., rank: int = ..., channels_last: bool = ...) -> tuple[int, ...]:
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

def adaptive_windows(in_size: int, out_size: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
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

def convert_indices(indices: ArrayLike, input_shape: Sequence[int], source: str = ..., target: str = ..., storage_order: int = ..., *, channels_last: bool = ..., include_batch: bool = ...) -> NDArray[Any]:
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

@overload
def global_max_pool(x: ArrayLike, return_indices: Literal[False] = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
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
@overload
def global_max_pool(x: ArrayLike, *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ..., return_indices: Literal[True]) -> tuple[NDArray[Any], NDArray[Any]]: ...
@overload
def global_max_pool(x: ArrayLike, return_indices: Literal[True], *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> tuple[NDArray[Any], NDArray[Any]]: ...
@overload
def global_max_pool(x: ArrayLike, return_indices: bool = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any] | tuple[NDArray[Any], NDArray[Any]]: ...

def global_avg_pool(x: ArrayLike, *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
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

def global_lp_pool(x: ArrayLike, norm_type: float, *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
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

def global_max_pool_backward(grad_output: ArrayLike, indices: ArrayLike, input_shape: Sequence[int], *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
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

def global_avg_pool_backward(grad_output: ArrayLike, input_shape: Sequence[int], *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
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

def global_lp_pool_backward(grad_output: ArrayLike, x: ArrayLike, y: ArrayLike | None, norm_type: float, *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
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

@overload
def fractional_max_pool2d(x: ArrayLike, kernel_size: _Size, output_size: _OutputSize = ..., output_ratio: float | Sequence[float] | None = ..., return_indices: Literal[False] = ..., *, samples: ArrayLike | None = ..., seed: int | np.random.Generator | np.random.SeedSequence | None = ..., channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """2-D fractional max pooling (PyTorch semantics).

    Per ``(n, c)`` and axis a sample ``u`` in ``[0, 1)`` places the windows:
    ``alpha = (I-k)/(O-1)``, ``start[i] = int((i+u)*alpha) - int(u*alpha)``,
    ``start[O-1] = I-k`` (computed in x's dtype, like PyTorch).

    Parameters
    ----------
    x : array_like, float32 or float64
    kernel_size : int or tuple of 2
    output_size : int or tuple of 2, optional
    output_ratio : float or tuple of 2, optional
        ``output_size = int(I * ratio)``; give exactly one of the two.
    return_indices : bool
    samples : array_like, optional
        ``(N, C, 2)`` in PyTorch's ``_random_samples`` order
        ((W, H)); reproduces PyTorch exactly.
    seed : int in ``[0, 2**64)``, numpy.random.Generator or SeedSequence, optional
        Draws the samples with ``numpy.random.default_rng(seed)``.
    channels_last, index_dtype, nan_policy, out, indices_out, num_threads
        As for :func:`max_pool2d`.

    Returns
    -------
    y : ndarray
        ``(N, C, *output_size)`` (batch axis only if x has one; channels
        last with ``channels_last``), x's dtype.
    indices : ndarray
        Only with ``return_indices``: flat index of each maximum within
        its ``(n, c)`` plane, shaped like ``y``, of ``index_dtype``.
    """
@overload
def fractional_max_pool2d(x: ArrayLike, kernel_size: _Size, output_size: _OutputSize = ..., output_ratio: float | Sequence[float] | None = ..., *, samples: ArrayLike | None = ..., seed: int | np.random.Generator | np.random.SeedSequence | None = ..., channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ..., return_indices: Literal[True]) -> tuple[NDArray[Any], NDArray[Any]]: ...
@overload
def fractional_max_pool2d(x: ArrayLike, kernel_size: _Size, output_size: _OutputSize, output_ratio: float | Sequence[float] | None, return_indices: Literal[True], *, samples: ArrayLike | None = ..., seed: int | np.random.Generator | np.random.SeedSequence | None = ..., channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> tuple[NDArray[Any], NDArray[Any]]: ...
@overload
def fractional_max_pool2d(x: ArrayLike, kernel_size: _Size, output_size: _OutputSize = ..., output_ratio: float | Sequence[float] | None = ..., return_indices: bool = ..., *, samples: ArrayLike | None = ..., seed: int | np.random.Generator | np.random.SeedSequence | None = ..., channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any] | tuple[NDArray[Any], NDArray[Any]]: ...

@overload
def fractional_max_pool3d(x: ArrayLike, kernel_size: _Size, output_size: _OutputSize = ..., output_ratio: float | Sequence[float] | None = ..., return_indices: Literal[False] = ..., *, samples: ArrayLike | None = ..., seed: int | np.random.Generator | np.random.SeedSequence | None = ..., channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """3-D fractional max pooling (PyTorch semantics).

    Per ``(n, c)`` and axis a sample ``u`` in ``[0, 1)`` places the windows:
    ``alpha = (I-k)/(O-1)``, ``start[i] = int((i+u)*alpha) - int(u*alpha)``,
    ``start[O-1] = I-k`` (computed in x's dtype, like PyTorch).

    Parameters
    ----------
    x : array_like, float32 or float64
    kernel_size : int or tuple of 3
    output_size : int or tuple of 3, optional
    output_ratio : float or tuple of 3, optional
        ``output_size = int(I * ratio)``; give exactly one of the two.
    return_indices : bool
    samples : array_like, optional
        ``(N, C, 3)`` in PyTorch's ``_random_samples`` order
        ((D, H, W)); reproduces PyTorch exactly.
    seed : int in ``[0, 2**64)``, numpy.random.Generator or SeedSequence, optional
        Draws the samples with ``numpy.random.default_rng(seed)``.
    channels_last, index_dtype, nan_policy, out, indices_out, num_threads
        As for :func:`max_pool3d`.

    Returns
    -------
    y : ndarray
        ``(N, C, *output_size)`` (batch axis only if x has one; channels
        last with ``channels_last``), x's dtype.
    indices : ndarray
        Only with ``return_indices``: flat index of each maximum within
        its ``(n, c)`` plane, shaped like ``y``, of ``index_dtype``.
    """
@overload
def fractional_max_pool3d(x: ArrayLike, kernel_size: _Size, output_size: _OutputSize = ..., output_ratio: float | Sequence[float] | None = ..., *, samples: ArrayLike | None = ..., seed: int | np.random.Generator | np.random.SeedSequence | None = ..., channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ..., return_indices: Literal[True]) -> tuple[NDArray[Any], NDArray[Any]]: ...
@overload
def fractional_max_pool3d(x: ArrayLike, kernel_size: _Size, output_size: _OutputSize, output_ratio: float | Sequence[float] | None, return_indices: Literal[True], *, samples: ArrayLike | None = ..., seed: int | np.random.Generator | np.random.SeedSequence | None = ..., channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> tuple[NDArray[Any], NDArray[Any]]: ...
@overload
def fractional_max_pool3d(x: ArrayLike, kernel_size: _Size, output_size: _OutputSize = ..., output_ratio: float | Sequence[float] | None = ..., return_indices: bool = ..., *, samples: ArrayLike | None = ..., seed: int | np.random.Generator | np.random.SeedSequence | None = ..., channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any] | tuple[NDArray[Any], NDArray[Any]]: ...

def fractional_max_pool2d_backward(grad_output: ArrayLike, indices: ArrayLike, input_shape: Sequence[int], *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """Gradient of
    :func:`fractional_max_pool2d`: ``dy`` added at the recorded indices.

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
        As for :func:`max_pool2d_backward`.

    Returns
    -------
    ndarray
        ``dx`` of shape ``input_shape`` and grad_output's dtype; index
        ``-1`` is skipped and every index is checked before anything is
        written (``IndexError``).
    """

def fractional_max_pool3d_backward(grad_output: ArrayLike, indices: ArrayLike, input_shape: Sequence[int], *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """Gradient of
    :func:`fractional_max_pool3d`: ``dy`` added at the recorded indices.

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
        As for :func:`max_pool3d_backward`.

    Returns
    -------
    ndarray
        ``dx`` of shape ``input_shape`` and grad_output's dtype; index
        ``-1`` is skipped and every index is checked before anything is
        written (``IndexError``).
    """

def lp_pool1d(x: ArrayLike, norm_type: float, kernel_size: _Size, stride: _Size | None = ..., ceil_mode: bool = ..., *, padding: _Padding = ..., dilation: _Size = ..., channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """1-D power-average pooling: ``(sum |x|^p)^(1/p)`` per window.

    Padding contributes 0, so this equals ONNX ``LpPool`` everywhere and
    PyTorch's ``lp_pool1d`` wherever PyTorch is well defined (no padding,
    no ceil-mode overhang, and ``x >= 0`` or an even ``p``: PyTorch takes the
    sign of the sum of ``x^p``, not of ``|x|^p``).

    Parameters
    ----------
    x : array_like, float32 or float64
        ``(N, C, W)`` or ``(C, W)``; ``(N, W, C)`` with ``channels_last``.
    norm_type : float
        ``p > 0``; ``1`` sums ``|x|``, ``inf`` gives max ``|x|``.
    kernel_size, stride, ceil_mode, padding, dilation, channels_last, out, num_threads
        As for :func:`max_pool1d`.

    Returns
    -------
    ndarray
    """

def lp_pool1d_backward(grad_output: ArrayLike, x: ArrayLike, y: ArrayLike | None, norm_type: float, kernel_size: _Size, stride: _Size | None = ..., ceil_mode: bool = ..., *, padding: _Padding = ..., dilation: _Size = ..., channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """Gradient of :func:`lp_pool1d`.

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
        As for :func:`lp_pool1d`.

    Returns
    -------
    ndarray
        ``dx``, of x's shape and dtype (``grad_output`` and ``y`` must have
        the forward output's shape and x's dtype).
    """

@overload
def adaptive_max_pool1d(x: ArrayLike, output_size: _OutputSize, return_indices: Literal[False] = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """1-D adaptive max pooling (PyTorch semantics).

    Output cell ``o`` of an axis covers ``[floor(o*I/O), ceil((o+1)*I/O))``
    (see :func:`adaptive_windows`); windows overlap when ``I`` is not a
    multiple of ``O``.  Max follows :func:`max_pool1d`'s rules.

    Parameters
    ----------
    x : array_like, float32 or float64
        ``(N, C, W)`` or ``(C, W)``; ``(N, W, C)`` with ``channels_last``.
    output_size : int or tuple of 1
        ``None`` entries keep that axis's input size.
    return_indices, channels_last, index_dtype, nan_policy, out, indices_out, num_threads
        As for :func:`max_pool1d`.

    Returns
    -------
    y : ndarray
        ``(N, C, *output_size)`` (batch axis only if x has one; channels
        last with ``channels_last``), x's dtype.
    indices : ndarray
        Only with ``return_indices``: flat index of each maximum within its
        ``(n, c)`` plane, shaped like ``y``, of ``index_dtype``.
    """
@overload
def adaptive_max_pool1d(x: ArrayLike, output_size: _OutputSize, *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ..., return_indices: Literal[True]) -> tuple[NDArray[Any], NDArray[Any]]: ...
@overload
def adaptive_max_pool1d(x: ArrayLike, output_size: _OutputSize, return_indices: Literal[True], *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> tuple[NDArray[Any], NDArray[Any]]: ...
@overload
def adaptive_max_pool1d(x: ArrayLike, output_size: _OutputSize, return_indices: bool = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any] | tuple[NDArray[Any], NDArray[Any]]: ...

def adaptive_avg_pool1d(x: ArrayLike, output_size: _OutputSize, *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """1-D adaptive average pooling (PyTorch semantics).

    The mean over each window of :func:`adaptive_windows`.

    Parameters
    ----------
    x : array_like, float32 or float64
    output_size : int or tuple of 1
        ``None`` entries keep that axis's input size.
    channels_last, out, num_threads
        As for :func:`avg_pool1d`.

    Returns
    -------
    ndarray
        ``(N, C, *output_size)`` (batch axis only if x has one; channels
        last with ``channels_last``); x's dtype for floating input, float64
        for integer input.
    """

def adaptive_max_pool1d_backward(grad_output: ArrayLike, indices: ArrayLike, input_shape: Sequence[int], *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """Gradient of :func:`adaptive_max_pool1d`:
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
        As for :func:`max_pool1d_backward`.

    Returns
    -------
    ndarray
        ``dx`` of shape ``input_shape`` and grad_output's dtype; index ``-1``
        is skipped and every index is checked before anything is written
        (``IndexError``).
    """

def adaptive_avg_pool1d_backward(grad_output: ArrayLike, input_shape: Sequence[int], *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """Gradient of :func:`adaptive_avg_pool1d`:
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
        As for :func:`avg_pool1d_backward`.

    Returns
    -------
    ndarray
        ``dx`` of shape ``input_shape`` and grad_output's dtype.
    """

def max_unpool1d(x: ArrayLike, indices: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., output_size: _OutputSize = ..., *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """1-D max unpooling (PyTorch ``max_unpool1d``).

    The output is zero-filled and ``y[n, c].flat[indices] = x``.  Every index
    is checked before anything is written: one outside ``[-1, plane size)``
    raises ``IndexError`` naming it and leaves ``out`` untouched; ``-1`` is
    skipped.  Duplicate indices: the last in C order wins.

    Parameters
    ----------
    x : array_like, float32 or float64
        Pooled values, ``(N, C, W)`` or ``(C, W)``.
    indices : array_like, int64 or int32
        Flat per-plane indices of x's shape (from :func:`max_pool1d`).
    kernel_size, stride, padding
        The pooling arguments; the default output size per axis is
        ``(I-1)*stride - pad_begin - pad_end + kernel_size``.
    output_size : tuple, optional
        Spatial size (or full shape); must lie strictly within
        ``default ± stride`` per axis.
    channels_last, out, num_threads
        As for :func:`max_pool1d`.

    Returns
    -------
    ndarray
        x's dtype, with x's batch and channel axes and the output spatial size
        (the default above or ``output_size``), in x's layout.
    """

def max_unpool1d_backward(grad_output: ArrayLike, indices: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., output_size: _OutputSize = ..., *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """Gradient of :func:`max_unpool1d`: the gather
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
        As for :func:`max_unpool1d`.

    Returns
    -------
    ndarray
        ``dx`` of indices' shape and grad_output's dtype.  An index outside
        ``[-1, plane size)`` raises ``IndexError``.
    """

def lp_pool2d(x: ArrayLike, norm_type: float, kernel_size: _Size, stride: _Size | None = ..., ceil_mode: bool = ..., *, padding: _Padding = ..., dilation: _Size = ..., channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """2-D power-average pooling: ``(sum |x|^p)^(1/p)`` per window.

    Padding contributes 0, so this equals ONNX ``LpPool`` everywhere and
    PyTorch's ``lp_pool2d`` wherever PyTorch is well defined (no padding,
    no ceil-mode overhang, and ``x >= 0`` or an even ``p``: PyTorch takes the
    sign of the sum of ``x^p``, not of ``|x|^p``).

    Parameters
    ----------
    x : array_like, float32 or float64
        ``(N, C, H, W)`` or ``(C, H, W)``; ``(N, H, W, C)`` with ``channels_last``.
    norm_type : float
        ``p > 0``; ``1`` sums ``|x|``, ``inf`` gives max ``|x|``.
    kernel_size, stride, ceil_mode, padding, dilation, channels_last, out, num_threads
        As for :func:`max_pool2d`.

    Returns
    -------
    ndarray
    """

def lp_pool2d_backward(grad_output: ArrayLike, x: ArrayLike, y: ArrayLike | None, norm_type: float, kernel_size: _Size, stride: _Size | None = ..., ceil_mode: bool = ..., *, padding: _Padding = ..., dilation: _Size = ..., channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """Gradient of :func:`lp_pool2d`.

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
        As for :func:`lp_pool2d`.

    Returns
    -------
    ndarray
        ``dx``, of x's shape and dtype (``grad_output`` and ``y`` must have
        the forward output's shape and x's dtype).
    """

@overload
def adaptive_max_pool2d(x: ArrayLike, output_size: _OutputSize, return_indices: Literal[False] = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """2-D adaptive max pooling (PyTorch semantics).

    Output cell ``o`` of an axis covers ``[floor(o*I/O), ceil((o+1)*I/O))``
    (see :func:`adaptive_windows`); windows overlap when ``I`` is not a
    multiple of ``O``.  Max follows :func:`max_pool2d`'s rules.

    Parameters
    ----------
    x : array_like, float32 or float64
        ``(N, C, H, W)`` or ``(C, H, W)``; ``(N, H, W, C)`` with ``channels_last``.
    output_size : int or tuple of 2
        ``None`` entries keep that axis's input size.
    return_indices, channels_last, index_dtype, nan_policy, out, indices_out, num_threads
        As for :func:`max_pool2d`.

    Returns
    -------
    y : ndarray
        ``(N, C, *output_size)`` (batch axis only if x has one; channels
        last with ``channels_last``), x's dtype.
    indices : ndarray
        Only with ``return_indices``: flat index of each maximum within its
        ``(n, c)`` plane, shaped like ``y``, of ``index_dtype``.
    """
@overload
def adaptive_max_pool2d(x: ArrayLike, output_size: _OutputSize, *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ..., return_indices: Literal[True]) -> tuple[NDArray[Any], NDArray[Any]]: ...
@overload
def adaptive_max_pool2d(x: ArrayLike, output_size: _OutputSize, return_indices: Literal[True], *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> tuple[NDArray[Any], NDArray[Any]]: ...
@overload
def adaptive_max_pool2d(x: ArrayLike, output_size: _OutputSize, return_indices: bool = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any] | tuple[NDArray[Any], NDArray[Any]]: ...

def adaptive_avg_pool2d(x: ArrayLike, output_size: _OutputSize, *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """2-D adaptive average pooling (PyTorch semantics).

    The mean over each window of :func:`adaptive_windows`.

    Parameters
    ----------
    x : array_like, float32 or float64
    output_size : int or tuple of 2
        ``None`` entries keep that axis's input size.
    channels_last, out, num_threads
        As for :func:`avg_pool2d`.

    Returns
    -------
    ndarray
        ``(N, C, *output_size)`` (batch axis only if x has one; channels
        last with ``channels_last``); x's dtype for floating input, float64
        for integer input.
    """

def adaptive_max_pool2d_backward(grad_output: ArrayLike, indices: ArrayLike, input_shape: Sequence[int], *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """Gradient of :func:`adaptive_max_pool2d`:
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
        As for :func:`max_pool2d_backward`.

    Returns
    -------
    ndarray
        ``dx`` of shape ``input_shape`` and grad_output's dtype; index ``-1``
        is skipped and every index is checked before anything is written
        (``IndexError``).
    """

def adaptive_avg_pool2d_backward(grad_output: ArrayLike, input_shape: Sequence[int], *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """Gradient of :func:`adaptive_avg_pool2d`:
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
        As for :func:`avg_pool2d_backward`.

    Returns
    -------
    ndarray
        ``dx`` of shape ``input_shape`` and grad_output's dtype.
    """

def max_unpool2d(x: ArrayLike, indices: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., output_size: _OutputSize = ..., *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """2-D max unpooling (PyTorch ``max_unpool2d``).

    The output is zero-filled and ``y[n, c].flat[indices] = x``.  Every index
    is checked before anything is written: one outside ``[-1, plane size)``
    raises ``IndexError`` naming it and leaves ``out`` untouched; ``-1`` is
    skipped.  Duplicate indices: the last in C order wins.

    Parameters
    ----------
    x : array_like, float32 or float64
        Pooled values, ``(N, C, H, W)`` or ``(C, H, W)``.
    indices : array_like, int64 or int32
        Flat per-plane indices of x's shape (from :func:`max_pool2d`).
    kernel_size, stride, padding
        The pooling arguments; the default output size per axis is
        ``(I-1)*stride - pad_begin - pad_end + kernel_size``.
    output_size : tuple, optional
        Spatial size (or full shape); must lie strictly within
        ``default ± stride`` per axis.
    channels_last, out, num_threads
        As for :func:`max_pool2d`.

    Returns
    -------
    ndarray
        x's dtype, with x's batch and channel axes and the output spatial size
        (the default above or ``output_size``), in x's layout.
    """

def max_unpool2d_backward(grad_output: ArrayLike, indices: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., output_size: _OutputSize = ..., *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """Gradient of :func:`max_unpool2d`: the gather
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
        As for :func:`max_unpool2d`.

    Returns
    -------
    ndarray
        ``dx`` of indices' shape and grad_output's dtype.  An index outside
        ``[-1, plane size)`` raises ``IndexError``.
    """

def lp_pool3d(x: ArrayLike, norm_type: float, kernel_size: _Size, stride: _Size | None = ..., ceil_mode: bool = ..., *, padding: _Padding = ..., dilation: _Size = ..., channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """3-D power-average pooling: ``(sum |x|^p)^(1/p)`` per window.

    Padding contributes 0, so this equals ONNX ``LpPool`` everywhere and
    PyTorch's ``lp_pool3d`` wherever PyTorch is well defined (no padding,
    no ceil-mode overhang, and ``x >= 0`` or an even ``p``: PyTorch takes the
    sign of the sum of ``x^p``, not of ``|x|^p``).

    Parameters
    ----------
    x : array_like, float32 or float64
        ``(N, C, D, H, W)`` or ``(C, D, H, W)``; ``(N, D, H, W, C)`` with ``channels_last``.
    norm_type : float
        ``p > 0``; ``1`` sums ``|x|``, ``inf`` gives max ``|x|``.
    kernel_size, stride, ceil_mode, padding, dilation, channels_last, out, num_threads
        As for :func:`max_pool3d`.

    Returns
    -------
    ndarray
    """

def lp_pool3d_backward(grad_output: ArrayLike, x: ArrayLike, y: ArrayLike | None, norm_type: float, kernel_size: _Size, stride: _Size | None = ..., ceil_mode: bool = ..., *, padding: _Padding = ..., dilation: _Size = ..., channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """Gradient of :func:`lp_pool3d`.

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
        As for :func:`lp_pool3d`.

    Returns
    -------
    ndarray
        ``dx``, of x's shape and dtype (``grad_output`` and ``y`` must have
        the forward output's shape and x's dtype).
    """

@overload
def adaptive_max_pool3d(x: ArrayLike, output_size: _OutputSize, return_indices: Literal[False] = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """3-D adaptive max pooling (PyTorch semantics).

    Output cell ``o`` of an axis covers ``[floor(o*I/O), ceil((o+1)*I/O))``
    (see :func:`adaptive_windows`); windows overlap when ``I`` is not a
    multiple of ``O``.  Max follows :func:`max_pool3d`'s rules.

    Parameters
    ----------
    x : array_like, float32 or float64
        ``(N, C, D, H, W)`` or ``(C, D, H, W)``; ``(N, D, H, W, C)`` with ``channels_last``.
    output_size : int or tuple of 3
        ``None`` entries keep that axis's input size.
    return_indices, channels_last, index_dtype, nan_policy, out, indices_out, num_threads
        As for :func:`max_pool3d`.

    Returns
    -------
    y : ndarray
        ``(N, C, *output_size)`` (batch axis only if x has one; channels
        last with ``channels_last``), x's dtype.
    indices : ndarray
        Only with ``return_indices``: flat index of each maximum within its
        ``(n, c)`` plane, shaped like ``y``, of ``index_dtype``.
    """
@overload
def adaptive_max_pool3d(x: ArrayLike, output_size: _OutputSize, *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ..., return_indices: Literal[True]) -> tuple[NDArray[Any], NDArray[Any]]: ...
@overload
def adaptive_max_pool3d(x: ArrayLike, output_size: _OutputSize, return_indices: Literal[True], *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> tuple[NDArray[Any], NDArray[Any]]: ...
@overload
def adaptive_max_pool3d(x: ArrayLike, output_size: _OutputSize, return_indices: bool = ..., *, channels_last: bool = ..., index_dtype: DTypeLike = ..., nan_policy: Literal["propagate", "omit"] = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any] | tuple[NDArray[Any], NDArray[Any]]: ...

def adaptive_avg_pool3d(x: ArrayLike, output_size: _OutputSize, *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """3-D adaptive average pooling (PyTorch semantics).

    The mean over each window of :func:`adaptive_windows`.

    Parameters
    ----------
    x : array_like, float32 or float64
    output_size : int or tuple of 3
        ``None`` entries keep that axis's input size.
    channels_last, out, num_threads
        As for :func:`avg_pool3d`.

    Returns
    -------
    ndarray
        ``(N, C, *output_size)`` (batch axis only if x has one; channels
        last with ``channels_last``); x's dtype for floating input, float64
        for integer input.
    """

def adaptive_max_pool3d_backward(grad_output: ArrayLike, indices: ArrayLike, input_shape: Sequence[int], *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """Gradient of :func:`adaptive_max_pool3d`:
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
        As for :func:`max_pool3d_backward`.

    Returns
    -------
    ndarray
        ``dx`` of shape ``input_shape`` and grad_output's dtype; index ``-1``
        is skipped and every index is checked before anything is written
        (``IndexError``).
    """

def adaptive_avg_pool3d_backward(grad_output: ArrayLike, input_shape: Sequence[int], *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """Gradient of :func:`adaptive_avg_pool3d`:
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
        As for :func:`avg_pool3d_backward`.

    Returns
    -------
    ndarray
        ``dx`` of shape ``input_shape`` and grad_output's dtype.
    """

def max_unpool3d(x: ArrayLike, indices: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., output_size: _OutputSize = ..., *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """3-D max unpooling (PyTorch ``max_unpool3d``).

    The output is zero-filled and ``y[n, c].flat[indices] = x``.  Every index
    is checked before anything is written: one outside ``[-1, plane size)``
    raises ``IndexError`` naming it and leaves ``out`` untouched; ``-1`` is
    skipped.  Duplicate indices: the last in C order wins.

    Parameters
    ----------
    x : array_like, float32 or float64
        Pooled values, ``(N, C, D, H, W)`` or ``(C, D, H, W)``.
    indices : array_like, int64 or int32
        Flat per-plane indices of x's shape (from :func:`max_pool3d`).
    kernel_size, stride, padding
        The pooling arguments; the default output size per axis is
        ``(I-1)*stride - pad_begin - pad_end + kernel_size``.
    output_size : tuple, optional
        Spatial size (or full shape); must lie strictly within
        ``default ± stride`` per axis.
    channels_last, out, num_threads
        As for :func:`max_pool3d`.

    Returns
    -------
    ndarray
        x's dtype, with x's batch and channel axes and the output spatial size
        (the default above or ``output_size``), in x's layout.
    """

def max_unpool3d_backward(grad_output: ArrayLike, indices: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., output_size: _OutputSize = ..., *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
    """Gradient of :func:`max_unpool3d`: the gather
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
        As for :func:`max_unpool3d`.

    Returns
    -------
    ndarray
        ``dx`` of indices' shape and grad_output's dtype.  An index outside
        ``[-1, plane size)`` raises ``IndexError``.
    """

def bilinear_pool(x: ArrayLike, y: ArrayLike | None = ..., *, average: bool = ..., signed_sqrt: bool = ..., l2_normalize: bool = ..., eps: float = ..., spatial_rank: int = ..., channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
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

def bilinear_pool_backward(grad_output: ArrayLike, x: ArrayLike, y: ArrayLike | None = ..., *, average: bool = ..., signed_sqrt: bool = ..., l2_normalize: bool = ..., eps: float = ..., spatial_rank: int = ..., channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any] | tuple[NDArray[Any], NDArray[Any]]:
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

def netvlad(x: ArrayLike, weight: ArrayLike, bias: ArrayLike, centroids: ArrayLike, *, normalize_input: bool = ..., eps: float = ..., spatial_rank: int = ..., channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
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

def netvlad_backward(grad_output: ArrayLike, x: ArrayLike, weight: ArrayLike, bias: ArrayLike, centroids: ArrayLike, *, normalize_input: bool = ..., eps: float = ..., spatial_rank: int = ..., channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
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

def spatial_pyramid_pool(x: ArrayLike, levels: int | Sequence[int] = ..., mode: str = ..., variant: str = ..., *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
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

def spatial_pyramid_pool_backward(grad_output: ArrayLike, x: ArrayLike, levels: int | Sequence[int] = ..., mode: str = ..., variant: str = ..., *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
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

def yolo_spp(x: ArrayLike, kernel_sizes: int | Sequence[int] = ..., order: str | Sequence[str] = ..., *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
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

def yolo_spp_backward(grad_output: ArrayLike, x: ArrayLike, kernel_sizes: int | Sequence[int] = ..., order: str | Sequence[str] = ..., *, channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
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

@overload
def median_pool2d(x: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., *, dilation: _Size = ..., ceil_mode: bool = ..., even: str = ..., return_indices: Literal[False] = ..., channels_last: bool = ..., index_dtype: DTypeLike = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
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
@overload
def median_pool2d(x: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., *, dilation: _Size = ..., ceil_mode: bool = ..., even: str = ..., channels_last: bool = ..., index_dtype: DTypeLike = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ..., return_indices: Literal[True]) -> tuple[NDArray[Any], NDArray[Any]]: ...
@overload
def median_pool2d(x: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., *, dilation: _Size = ..., ceil_mode: bool = ..., even: str = ..., return_indices: bool = ..., channels_last: bool = ..., index_dtype: DTypeLike = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any] | tuple[NDArray[Any], NDArray[Any]]: ...

def median_pool2d_backward(grad_output: ArrayLike, *args: Any, even: str = ..., **kwargs: Any) -> NDArray[Any]:
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

def mixed_pool2d(x: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., *, alpha: ArrayLike | float = ..., mode: str = ..., order: Sequence[str] = ..., dilation: _Size = ..., ceil_mode: bool = ..., count_include_pad: bool = ..., channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
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

def mixed_pool2d_backward(grad_output: ArrayLike, x: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., *, alpha: ArrayLike | float = ..., mode: str = ..., order: Sequence[str] = ..., dilation: _Size = ..., ceil_mode: bool = ..., count_include_pad: bool = ..., channels_last: bool = ..., out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any] | tuple[NDArray[Any], NDArray[Any]]:
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

@overload
def stochastic_pool2d(x: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., *, training: bool = ..., seed: int | np.random.Generator | np.random.SeedSequence | None = ..., return_indices: Literal[False] = ..., dilation: _Size = ..., ceil_mode: bool = ..., channels_last: bool = ..., index_dtype: DTypeLike = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any]:
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
@overload
def stochastic_pool2d(x: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., *, training: bool = ..., seed: int | np.random.Generator | np.random.SeedSequence | None = ..., dilation: _Size = ..., ceil_mode: bool = ..., channels_last: bool = ..., index_dtype: DTypeLike = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ..., return_indices: Literal[True]) -> tuple[NDArray[Any], NDArray[Any]]: ...
@overload
def stochastic_pool2d(x: ArrayLike, kernel_size: _Size, stride: _Size | None = ..., padding: _Padding = ..., *, training: bool = ..., seed: int | np.random.Generator | np.random.SeedSequence | None = ..., return_indices: bool = ..., dilation: _Size = ..., ceil_mode: bool = ..., channels_last: bool = ..., index_dtype: DTypeLike = ..., out: NDArray[Any] | None = ..., indices_out: NDArray[Any] | None = ..., num_threads: int | None = ...) -> NDArray[Any] | tuple[NDArray[Any], NDArray[Any]]: ...

def stochastic_pool2d_backward(grad_output: ArrayLike, *args: Any, training: bool = ..., **kwargs: Any) -> NDArray[Any]:
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
