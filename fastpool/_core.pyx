# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Thin Cython layer over the fastpool C API.

Arguments arrive already validated and normalised by ``fastpool._args``:
arrays are NumPy arrays in logical (N, C, *spatial) order with native byte
order, aligned data and strides that are multiples of the item size.  Every
kernel call runs without the GIL.
"""
cimport numpy as cnp
from libc.stdint cimport int64_t
from libc.string cimport memset

from fastpool._fastpool cimport *

cnp.import_array()

# The extension links libfastpool.so by its name alone: a process that has
# already loaded another build's libfastpool.so would bind this module to it.
if fp_version_number() != FP_VERSION_NUMBER:
    raise ImportError(
        f"fastpool._core was built against fastpool.h {FP_VERSION_NUMBER} but runs with "
        f"libfastpool {fp_version_number()} ({fp_version_string().decode()}), loaded "
        "earlier in this process from elsewhere; load fastpool's own library "
        "(fastpool.get_library_dir()) or import fastpool before the other one"
    )


class FastpoolError(ValueError):
    """A status returned by the C core that the Python layer did not foresee."""


cdef int _fill_tensor(cnp.ndarray a, fp_tensor *t) except -1:
    cdef int i
    cdef int typenum = cnp.PyArray_TYPE(a)
    cdef Py_ssize_t itemsize = cnp.PyArray_ITEMSIZE(a)
    memset(t, 0, sizeof(fp_tensor))
    if typenum == cnp.NPY_FLOAT32:
        t.dtype = FP_FLOAT32
    elif typenum == cnp.NPY_FLOAT64:
        t.dtype = FP_FLOAT64
    elif typenum == cnp.NPY_INT32:
        t.dtype = FP_INT32
    elif typenum == cnp.NPY_INT64 or (typenum == cnp.NPY_LONGLONG and itemsize == 8):
        t.dtype = FP_INT64
    elif typenum == cnp.NPY_FLOAT16:
        t.dtype = FP_FLOAT16
    elif typenum == cnp.NPY_INT8:
        t.dtype = FP_INT8
    elif typenum == cnp.NPY_UINT8:
        t.dtype = FP_UINT8
    elif typenum == cnp.NPY_INT16:
        t.dtype = FP_INT16
    elif typenum == cnp.NPY_UINT16:
        t.dtype = FP_UINT16
    else:
        raise TypeError(f"unsupported dtype {a.dtype}")
    t.ndim = cnp.PyArray_NDIM(a)
    for i in range(t.ndim):
        t.shape[i] = cnp.PyArray_DIM(a, i)
        t.strides[i] = cnp.PyArray_STRIDE(a, i) // itemsize
    t.data = cnp.PyArray_DATA(a)
    return 0


cdef int _fill_params(fp_pool_params *p, int rank, tuple kernel, tuple stride, tuple pad_begin,
                      tuple pad_end, tuple dilation, int pad_mode, unsigned int flags,
                      int num_threads, int64_t divisor_override) except -1:
    cdef int i
    fp_pool_params_init(p, rank)
    p.pad_mode = pad_mode
    for i in range(rank):
        p.kernel[i] = kernel[i]
        p.stride[i] = stride[i]
        p.pad_begin[i] = pad_begin[i]
        p.pad_end[i] = pad_end[i]
        p.dilation[i] = dilation[i]
    p.flags = flags
    p.num_threads = num_threads
    p.divisor_override = divisor_override
    return 0


def status_string(int status):
    """The C library's description of a status code."""
    return fp_status_string(<fp_status>status).decode()


def geometry(tuple in_shape, tuple kernel, tuple stride, tuple pad_begin, tuple pad_end,
             tuple dilation, int pad_mode, unsigned int flags):
    """Output shape and resolved pads: (status, out_shape, pad_begin, pad_end)."""
    cdef fp_pool_params p
    cdef int64_t ins[5]
    cdef int64_t outs[5]
    cdef int64_t pb[3]
    cdef int64_t pe[3]
    cdef int rank = len(kernel), i
    cdef fp_status st
    _fill_params(&p, rank, kernel, stride, pad_begin, pad_end, dilation, pad_mode, flags, 0, 0)
    for i in range(rank + 2):
        ins[i] = in_shape[i]
    st = fp_pool_output_shape(&p, ins, outs, pb, pe)
    if st != FP_OK:
        return int(st), None, None, None
    return (0, tuple([outs[i] for i in range(rank + 2)]), tuple([pb[i] for i in range(rank)]),
            tuple([pe[i] for i in range(rank)]))


def max_unpool_output_shape(tuple in_shape, tuple kernel, tuple stride, tuple pad_begin,
                            tuple pad_end, object output_size):
    """(status, out_shape) of max unpooling; output_size None for the default."""
    cdef fp_pool_params p
    cdef int64_t ins[5]
    cdef int64_t req[3]
    cdef int64_t outs[5]
    cdef int64_t *preq = NULL
    cdef int rank = len(kernel), i
    cdef fp_status st
    _fill_params(&p, rank, kernel, stride, pad_begin, pad_end, (1,) * rank, FP_PAD_EXPLICIT,
                 0, 0, 0)
    for i in range(rank + 2):
        ins[i] = in_shape[i]
    if output_size is not None:
        for i in range(rank):
            req[i] = output_size[i]
        preq = req
    st = fp_max_unpool_output_shape(&p, ins, preq, outs)
    if st != FP_OK and st != FP_ERR_OUTPUT_SIZE:
        return int(st), None
    return int(st), tuple([outs[i] for i in range(rank + 2)])


def fractional_output_shape(tuple in_shape, tuple kernel, object output_size,
                            object output_ratio):
    """(status, out_shape) of fractional max pooling from exactly one of
    output_size and output_ratio (tuples of rank entries)."""
    cdef fp_pool_params p
    cdef int64_t ins[5]
    cdef int64_t req[3]
    cdef double ratio[3]
    cdef int64_t outs[5]
    cdef int64_t *preq = NULL
    cdef double *pratio = NULL
    cdef int rank = len(kernel), i
    cdef fp_status st
    fp_pool_params_init(&p, rank)
    for i in range(rank):
        p.kernel[i] = kernel[i]
    for i in range(rank + 2):
        ins[i] = in_shape[i]
    if output_size is not None:
        for i in range(rank):
            req[i] = output_size[i]
        preq = req
    if output_ratio is not None:
        for i in range(rank):
            ratio[i] = output_ratio[i]
        pratio = ratio
    st = fp_fractional_output_shape(&p, ins, preq, pratio, outs)
    if st != FP_OK and st != FP_ERR_OUTPUT_SIZE:
        return int(st), None
    return int(st), tuple([outs[i] for i in range(rank + 2)])


def pool_window(tuple in_shape, tuple kernel, tuple stride, tuple pad_begin, tuple pad_end,
                tuple dilation, unsigned int flags, int axis, int64_t o):
    """(start, end): the input range that output o reads along spatial axis `axis`."""
    cdef fp_pool_params p
    cdef int64_t ins[5]
    cdef int64_t start = 0, end = 0
    cdef int rank = len(kernel), i
    _fill_params(&p, rank, kernel, stride, pad_begin, pad_end, dilation, FP_PAD_EXPLICIT,
                 flags, 0, 0)
    for i in range(rank + 2):
        ins[i] = in_shape[i]
    _check(fp_pool_window(&p, ins, axis, o, &start, &end), "pool_window")
    return start, end


def pool_first_window(tuple in_shape, tuple kernel, tuple stride, tuple pad_begin,
                      tuple pad_end, tuple dilation, unsigned int flags, int axis, int64_t pos):
    """The first output along `axis` whose window starts at or after input position pos."""
    cdef fp_pool_params p
    cdef int64_t ins[5]
    cdef int64_t o = 0
    cdef int rank = len(kernel), i
    _fill_params(&p, rank, kernel, stride, pad_begin, pad_end, dilation, FP_PAD_EXPLICIT,
                 flags, 0, 0)
    for i in range(rank + 2):
        ins[i] = in_shape[i]
    _check(fp_pool_first_window(&p, ins, axis, pos, &o), "pool_first_window")
    return o


cdef int _check(fp_status st, str name) except -1:
    if st == FP_OK:
        return 0
    msg = f"{name}: {fp_status_string(st).decode()}"
    if st == FP_ERR_INDEX_OUT_OF_RANGE:
        raise IndexError(msg)
    if st == FP_ERR_UNSUPPORTED_DTYPE or st == FP_ERR_DTYPE_MISMATCH:
        raise TypeError(msg)
    if st == FP_ERR_OVERFLOW:
        raise OverflowError(msg)
    raise FastpoolError(msg)


def max_pool_forward(str name, cnp.ndarray x, cnp.ndarray y, object indices, tuple kernel,
                     tuple stride, tuple pad_begin, tuple pad_end, tuple dilation,
                     unsigned int flags, int num_threads):
    cdef fp_pool_params p
    cdef fp_tensor tx, ty, ti
    cdef fp_tensor *pti = NULL
    cdef fp_status st
    _fill_params(&p, x.ndim - 2, kernel, stride, pad_begin, pad_end, dilation, FP_PAD_EXPLICIT,
                 flags, num_threads, 0)
    _fill_tensor(x, &tx)
    _fill_tensor(y, &ty)
    if indices is not None:
        _fill_tensor(<cnp.ndarray>indices, &ti)
        pti = &ti
    with nogil:
        st = fp_max_pool_forward(&p, &tx, &ty, pti)
    _check(st, name)


def max_pool_backward(str name, cnp.ndarray dy, cnp.ndarray indices, cnp.ndarray dx,
                      int num_threads):
    cdef fp_pool_params p
    cdef fp_tensor tdy, ti, tdx
    cdef fp_status st
    fp_pool_params_init(&p, dx.ndim - 2)
    p.num_threads = num_threads
    _fill_tensor(dy, &tdy)
    _fill_tensor(indices, &ti)
    _fill_tensor(dx, &tdx)
    with nogil:
        st = fp_max_pool_backward(&p, &tdy, &ti, &tdx)
    _check(st, name)


def avg_pool_forward(str name, cnp.ndarray x, cnp.ndarray y, tuple kernel, tuple stride,
                     tuple pad_begin, tuple pad_end, tuple dilation, unsigned int flags,
                     int64_t divisor_override, int num_threads):
    cdef fp_pool_params p
    cdef fp_tensor tx, ty
    cdef fp_status st
    _fill_params(&p, x.ndim - 2, kernel, stride, pad_begin, pad_end, dilation, FP_PAD_EXPLICIT,
                 flags, num_threads, divisor_override)
    _fill_tensor(x, &tx)
    _fill_tensor(y, &ty)
    with nogil:
        st = fp_avg_pool_forward(&p, &tx, &ty)
    _check(st, name)


def avg_pool_backward(str name, cnp.ndarray dy, cnp.ndarray dx, tuple kernel, tuple stride,
                      tuple pad_begin, tuple pad_end, tuple dilation, unsigned int flags,
                      int64_t divisor_override, int num_threads):
    cdef fp_pool_params p
    cdef fp_tensor tdy, tdx
    cdef fp_status st
    _fill_params(&p, dx.ndim - 2, kernel, stride, pad_begin, pad_end, dilation, FP_PAD_EXPLICIT,
                 flags, num_threads, divisor_override)
    _fill_tensor(dy, &tdy)
    _fill_tensor(dx, &tdx)
    with nogil:
        st = fp_avg_pool_backward(&p, &tdy, &tdx)
    _check(st, name)


def lp_pool_forward(str name, double p, cnp.ndarray x, cnp.ndarray y, tuple kernel,
                    tuple stride, tuple pad_begin, tuple pad_end, tuple dilation,
                    unsigned int flags, int num_threads):
    cdef fp_pool_params prm
    cdef fp_tensor tx, ty
    cdef fp_status st
    _fill_params(&prm, x.ndim - 2, kernel, stride, pad_begin, pad_end, dilation,
                 FP_PAD_EXPLICIT, flags, num_threads, 0)
    _fill_tensor(x, &tx)
    _fill_tensor(y, &ty)
    with nogil:
        st = fp_lp_pool_forward(&prm, p, &tx, &ty)
    _check(st, name)


def lp_pool_backward(str name, double p, cnp.ndarray dy, cnp.ndarray x, cnp.ndarray y,
                     cnp.ndarray dx, tuple kernel, tuple stride, tuple pad_begin,
                     tuple pad_end, tuple dilation, unsigned int flags, int num_threads):
    cdef fp_pool_params prm
    cdef fp_tensor tdy, tx, ty, tdx
    cdef fp_status st
    _fill_params(&prm, x.ndim - 2, kernel, stride, pad_begin, pad_end, dilation,
                 FP_PAD_EXPLICIT, flags, num_threads, 0)
    _fill_tensor(dy, &tdy)
    _fill_tensor(x, &tx)
    _fill_tensor(y, &ty)
    _fill_tensor(dx, &tdx)
    with nogil:
        st = fp_lp_pool_backward(&prm, p, &tdy, &tx, &ty, &tdx)
    _check(st, name)


def adaptive_window(int64_t in_size, int64_t[::1] starts, int64_t[::1] ends):
    """Fill starts and ends (int64, one entry per output) with the adaptive
    windows of one axis of in_size cells."""
    cdef int64_t o, out_size = starts.shape[0]
    cdef fp_status st = FP_OK
    with nogil:
        for o in range(out_size):
            st = fp_adaptive_window(in_size, out_size, o, &starts[o], &ends[o])
            if st != FP_OK:
                break
    _check(st, "adaptive_windows")


cdef int _threads_params(fp_pool_params *p, int rank, unsigned int flags,
                         int num_threads) except -1:
    fp_pool_params_init(p, rank)
    p.flags = flags
    p.num_threads = num_threads
    return 0


def adaptive_max_pool_forward(str name, cnp.ndarray x, cnp.ndarray y, object indices,
                              unsigned int flags, int num_threads):
    cdef fp_pool_params p
    cdef fp_tensor tx, ty, ti
    cdef fp_tensor *pti = NULL
    cdef fp_status st
    _threads_params(&p, x.ndim - 2, flags, num_threads)
    _fill_tensor(x, &tx)
    _fill_tensor(y, &ty)
    if indices is not None:
        _fill_tensor(<cnp.ndarray>indices, &ti)
        pti = &ti
    with nogil:
        st = fp_adaptive_max_pool_forward(&p, &tx, &ty, pti)
    _check(st, name)


def adaptive_avg_pool_forward(str name, cnp.ndarray x, cnp.ndarray y, int num_threads):
    cdef fp_pool_params p
    cdef fp_tensor tx, ty
    cdef fp_status st
    _threads_params(&p, x.ndim - 2, 0, num_threads)
    _fill_tensor(x, &tx)
    _fill_tensor(y, &ty)
    with nogil:
        st = fp_adaptive_avg_pool_forward(&p, &tx, &ty)
    _check(st, name)


def adaptive_avg_pool_backward(str name, cnp.ndarray dy, cnp.ndarray dx, int num_threads):
    cdef fp_pool_params p
    cdef fp_tensor tdy, tdx
    cdef fp_status st
    _threads_params(&p, dx.ndim - 2, 0, num_threads)
    _fill_tensor(dy, &tdy)
    _fill_tensor(dx, &tdx)
    with nogil:
        st = fp_adaptive_avg_pool_backward(&p, &tdy, &tdx)
    _check(st, name)


def max_unpool(str name, bint forward, cnp.ndarray small, cnp.ndarray indices, cnp.ndarray big,
               int num_threads):
    """forward: big = unpool(small); backward: small = gather(big)."""
    cdef fp_pool_params p
    cdef fp_tensor ts, ti, tb
    cdef fp_status st
    _threads_params(&p, small.ndim - 2, 0, num_threads)
    _fill_tensor(small, &ts)
    _fill_tensor(indices, &ti)
    _fill_tensor(big, &tb)
    with nogil:
        if forward:
            st = fp_max_unpool_forward(&p, &ts, &ti, &tb)
        else:
            st = fp_max_unpool_backward(&p, &tb, &ti, &ts)
    _check(st, name)


def fractional_max_pool_forward(str name, cnp.ndarray samples, cnp.ndarray x, cnp.ndarray y,
                                object indices, tuple kernel, unsigned int flags,
                                int num_threads):
    cdef fp_pool_params p
    cdef fp_tensor tsm, tx, ty, ti
    cdef fp_tensor *pti = NULL
    cdef fp_status st
    cdef int i
    _threads_params(&p, x.ndim - 2, flags, num_threads)
    for i in range(x.ndim - 2):
        p.kernel[i] = kernel[i]
    _fill_tensor(samples, &tsm)
    _fill_tensor(x, &tx)
    _fill_tensor(y, &ty)
    if indices is not None:
        _fill_tensor(<cnp.ndarray>indices, &ti)
        pti = &ti
    with nogil:
        st = fp_fractional_max_pool_forward(&p, &tsm, &tx, &ty, pti)
    _check(st, name)


FLAG_CEIL_MODE = FP_FLAG_CEIL_MODE
FLAG_COUNT_INCLUDE_PAD = FP_FLAG_COUNT_INCLUDE_PAD
FLAG_NAN_OMIT = FP_FLAG_NAN_OMIT
PAD_EXPLICIT = FP_PAD_EXPLICIT
MAX_THREADS = FP_MAX_THREADS
PAD_SAME_UPPER = FP_PAD_SAME_UPPER
PAD_SAME_LOWER = FP_PAD_SAME_LOWER
STATUS_OUTPUT_SIZE = FP_ERR_OUTPUT_SIZE
STATUS_OVERFLOW = FP_ERR_OVERFLOW


def build_info():
    """Facts about this build of the C core, for show_config()."""
    return {
        "version": fp_version_string().decode(),
        "version_number": fp_version_number(),
        "openmp": bool(fp_has_openmp()),
        "simd": fp_simd_level().decode(),
        "max_threads": fp_default_num_threads(),
        "compiler": FP_C_COMPILER_STR.decode(),
        "c_flags": FP_C_FLAGS_STR.decode().strip(),
        "build_type": FP_BUILD_TYPE_STR.decode(),
    }


cdef extern from *:
    """
    #ifndef FP_C_COMPILER
    #define FP_C_COMPILER "unknown"
    #endif
    #ifndef FP_C_FLAGS
    #define FP_C_FLAGS ""
    #endif
    #ifndef FP_BUILD_TYPE
    #define FP_BUILD_TYPE ""
    #endif
    static const char *FP_C_COMPILER_STR = FP_C_COMPILER;
    static const char *FP_C_FLAGS_STR = FP_C_FLAGS;
    static const char *FP_BUILD_TYPE_STR = FP_BUILD_TYPE;
    """
    const char *FP_C_COMPILER_STR
    const char *FP_C_FLAGS_STR
    const char *FP_BUILD_TYPE_STR


# ---- special poolings: stochastic, median, mixed ----
# Geometry arguments as for max_pool_forward: explicit pads resolved by the
# Python layer, flags (ceil mode, count_include_pad), threads.

cdef int _geom_params(fp_pool_params *p, int rank, tuple kernel, tuple stride, tuple pad_begin,
                      tuple pad_end, tuple dilation, unsigned int flags,
                      int num_threads) except -1:
    return _fill_params(p, rank, kernel, stride, pad_begin, pad_end, dilation, FP_PAD_EXPLICIT,
                        flags, num_threads, 0)


def stochastic_pool_forward(str name, cnp.ndarray x, cnp.ndarray y, object indices,
                            object seed, tuple kernel, tuple stride, tuple pad_begin,
                            tuple pad_end, tuple dilation, unsigned int flags, int num_threads):
    """Training forward with the given seed (an int in [0, 2**64)), or the
    inference forward (probabilistic weighting) when seed is None."""
    cdef fp_pool_params p
    cdef fp_tensor tx, ty, ti
    cdef fp_tensor *pti = NULL
    cdef fp_status st
    cdef uint64_t s = 0 if seed is None else seed
    cdef bint training = seed is not None
    _geom_params(&p, x.ndim - 2, kernel, stride, pad_begin, pad_end, dilation, flags,
                 num_threads)
    _fill_tensor(x, &tx)
    _fill_tensor(y, &ty)
    if indices is not None:
        _fill_tensor(<cnp.ndarray>indices, &ti)
        pti = &ti
    with nogil:
        if training:
            st = fp_stochastic_pool_forward(&p, s, &tx, &ty, pti)
        else:
            st = fp_stochastic_pool_weighted_forward(&p, &tx, &ty)
    _check(st, name)


def stochastic_pool_weighted_backward(str name, cnp.ndarray dy, cnp.ndarray x, cnp.ndarray dx,
                                      tuple kernel, tuple stride, tuple pad_begin,
                                      tuple pad_end, tuple dilation, unsigned int flags,
                                      int num_threads):
    cdef fp_pool_params p
    cdef fp_tensor tdy, tx, tdx
    cdef fp_status st
    _geom_params(&p, x.ndim - 2, kernel, stride, pad_begin, pad_end, dilation, flags,
                 num_threads)
    _fill_tensor(dy, &tdy)
    _fill_tensor(x, &tx)
    _fill_tensor(dx, &tdx)
    with nogil:
        st = fp_stochastic_pool_weighted_backward(&p, &tdy, &tx, &tdx)
    _check(st, name)


def median_pool_forward(str name, int even, cnp.ndarray x, cnp.ndarray y, object indices,
                        tuple kernel, tuple stride, tuple pad_begin, tuple pad_end,
                        tuple dilation, unsigned int flags, int num_threads):
    cdef fp_pool_params p
    cdef fp_tensor tx, ty, ti
    cdef fp_tensor *pti = NULL
    cdef fp_status st
    _geom_params(&p, x.ndim - 2, kernel, stride, pad_begin, pad_end, dilation, flags,
                 num_threads)
    _fill_tensor(x, &tx)
    _fill_tensor(y, &ty)
    if indices is not None:
        _fill_tensor(<cnp.ndarray>indices, &ti)
        pti = &ti
    with nogil:
        st = fp_median_pool_forward(&p, even, &tx, &ty, pti)
    _check(st, name)


def median_pool_backward(str name, int even, cnp.ndarray dy, cnp.ndarray x, cnp.ndarray dx,
                         tuple kernel, tuple stride, tuple pad_begin, tuple pad_end,
                         tuple dilation, unsigned int flags, int num_threads):
    cdef fp_pool_params p
    cdef fp_tensor tdy, tx, tdx
    cdef fp_status st
    _geom_params(&p, x.ndim - 2, kernel, stride, pad_begin, pad_end, dilation, flags,
                 num_threads)
    _fill_tensor(dy, &tdy)
    _fill_tensor(x, &tx)
    _fill_tensor(dx, &tdx)
    with nogil:
        st = fp_median_pool_backward(&p, even, &tdy, &tx, &tdx)
    _check(st, name)


def mixed_pool_forward(str name, cnp.ndarray x, object alpha, object y, object ymax,
                       object yavg, tuple kernel, tuple stride, tuple pad_begin, tuple pad_end,
                       tuple dilation, unsigned int flags, int num_threads):
    """The blend into y (alpha a float64 array of shape (1,) or (C,)), or,
    when alpha is None, the pair into ymax and yavg."""
    cdef fp_pool_params p
    cdef fp_tensor tx, ta, ty, tm, tv
    cdef fp_status st
    cdef bint blend = alpha is not None
    _geom_params(&p, x.ndim - 2, kernel, stride, pad_begin, pad_end, dilation, flags,
                 num_threads)
    _fill_tensor(x, &tx)
    if blend:
        _fill_tensor(<cnp.ndarray>alpha, &ta)
        _fill_tensor(<cnp.ndarray>y, &ty)
    else:
        _fill_tensor(<cnp.ndarray>ymax, &tm)
        _fill_tensor(<cnp.ndarray>yavg, &tv)
    with nogil:
        if blend:
            st = fp_mixed_pool_forward(&p, &ta, &tx, &ty)
        else:
            st = fp_mixed_pool_pair_forward(&p, &tx, &tm, &tv)
    _check(st, name)


def mixed_pool_backward(str name, cnp.ndarray x, cnp.ndarray dx, object alpha, object dy,
                        object dalpha, object dymax, object dyavg, tuple kernel, tuple stride,
                        tuple pad_begin, tuple pad_end, tuple dilation, unsigned int flags,
                        int num_threads):
    """The blend's gradient from dy (and dalpha, float64 (C,), unless None)
    when alpha is given, else the pair's from dymax and dyavg."""
    cdef fp_pool_params p
    cdef fp_tensor tx, tdx, ta, tdy, tda, tm, tv
    cdef fp_tensor *ptda = NULL
    cdef fp_status st
    cdef bint blend = alpha is not None
    _geom_params(&p, x.ndim - 2, kernel, stride, pad_begin, pad_end, dilation, flags,
                 num_threads)
    _fill_tensor(x, &tx)
    _fill_tensor(dx, &tdx)
    if blend:
        _fill_tensor(<cnp.ndarray>alpha, &ta)
        _fill_tensor(<cnp.ndarray>dy, &tdy)
        if dalpha is not None:
            _fill_tensor(<cnp.ndarray>dalpha, &tda)
            ptda = &tda
    else:
        _fill_tensor(<cnp.ndarray>dymax, &tm)
        _fill_tensor(<cnp.ndarray>dyavg, &tv)
    with nogil:
        if blend:
            st = fp_mixed_pool_backward(&p, &ta, &tdy, &tx, &tdx, ptda)
        else:
            st = fp_mixed_pool_pair_backward(&p, &tm, &tv, &tx, &tdx)
    _check(st, name)


MEDIAN_EVEN = {"lower": FP_MEDIAN_LOWER, "upper": FP_MEDIAN_UPPER, "mean": FP_MEDIAN_MEAN}
STATUS_INVALID_ARGUMENT = FP_ERR_INVALID_ARGUMENT



# ---- special poolings: spatial_pyramid_pool, yolo_spp ----
import numpy as _np

SPP_MAX = FP_SPP_MAX
SPP_AVG = FP_SPP_AVG
SPP_ADAPTIVE = FP_SPP_ADAPTIVE
SPP_SPPNET = FP_SPP_SPPNET
SPP_CAFFE = FP_SPP_CAFFE
SPP_FEATURES_CHW = FP_SPP_FEATURES_CHW
SPP_FEATURES_HWC = FP_SPP_FEATURES_HWC
YOLO_SPP_MAX_KERNELS = FP_YOLO_SPP_MAX_KERNELS
YOLO_SPP_ULTRALYTICS = FP_YOLO_SPP_ULTRALYTICS
YOLO_SPP_DARKNET = FP_YOLO_SPP_DARKNET


cdef int _fill_spp_params(fp_pool_params *p, int num_threads) except -1:
    fp_pool_params_init(p, 2)
    p.flags = 0
    p.num_threads = num_threads
    return 0


def spp_window(int variant, int64_t in_size, int64_t level):
    """(status, starts, ends, pools) of one pyramid level along one axis."""
    cdef int64_t o, a, b, c
    cdef fp_status st
    starts, ends, pools = [], [], []
    for o in range(level):
        st = fp_spp_window(variant, in_size, level, o, &a, &b, &c)
        if st != FP_OK:
            return int(st), None, None, None
        starts.append(a)
        ends.append(b)
        pools.append(c)
    return 0, starts, ends, pools


def spp_output_shape(tuple levels, int mode, int variant, tuple in_shape):
    """(status, (N, F)) of a spatial pyramid pooling of a logical (N, C, H, W) input."""
    cdef int64_t[::1] lv = _np.asarray(levels, dtype=_np.int64)
    cdef int64_t ins[4]
    cdef int64_t outs[2]
    cdef int i
    for i in range(4):
        ins[i] = in_shape[i]
    st = fp_spatial_pyramid_pool_output_shape(&lv[0], <int32_t>lv.shape[0], mode, variant, ins,
                                              outs)
    if st != FP_OK:
        return int(st), None
    return 0, (outs[0], outs[1])


def spatial_pyramid_pool_forward(str name, cnp.ndarray x, cnp.ndarray y, tuple levels,
                                 int mode, int variant, int features, int num_threads):
    cdef fp_pool_params p
    cdef fp_tensor tx, ty
    cdef fp_status st
    cdef int64_t[::1] lv = _np.asarray(levels, dtype=_np.int64)
    cdef int32_t nl = <int32_t>lv.shape[0]
    _fill_spp_params(&p, num_threads)
    _fill_tensor(x, &tx)
    _fill_tensor(y, &ty)
    with nogil:
        st = fp_spatial_pyramid_pool_forward(&p, &lv[0], nl, mode, variant, features, &tx, &ty)
    _check(st, name)


def spatial_pyramid_pool_backward(str name, cnp.ndarray dy, object x, cnp.ndarray dx,
                                  tuple levels, int mode, int variant, int features,
                                  int num_threads):
    cdef fp_pool_params p
    cdef fp_tensor tdy, tx, tdx
    cdef fp_tensor *ptx = NULL
    cdef fp_status st
    cdef int64_t[::1] lv = _np.asarray(levels, dtype=_np.int64)
    cdef int32_t nl = <int32_t>lv.shape[0]
    _fill_spp_params(&p, num_threads)
    _fill_tensor(dy, &tdy)
    _fill_tensor(dx, &tdx)
    if x is not None:
        _fill_tensor(<cnp.ndarray>x, &tx)
        ptx = &tx
    with nogil:
        st = fp_spatial_pyramid_pool_backward(&p, &lv[0], nl, mode, variant, features, &tdy,
                                              ptx, &tdx)
    _check(st, name)


def yolo_spp_forward(str name, cnp.ndarray x, cnp.ndarray y, tuple kernels, int order,
                     int num_threads):
    cdef fp_pool_params p
    cdef fp_tensor tx, ty
    cdef fp_status st
    cdef int64_t[::1] ks = _np.asarray(kernels, dtype=_np.int64)
    cdef int32_t nk = <int32_t>ks.shape[0]
    _fill_spp_params(&p, num_threads)
    _fill_tensor(x, &tx)
    _fill_tensor(y, &ty)
    with nogil:
        st = fp_yolo_spp_forward(&p, &ks[0], nk, order, &tx, &ty)
    _check(st, name)


def yolo_spp_backward(str name, cnp.ndarray dy, cnp.ndarray x, cnp.ndarray dx, tuple kernels,
                      int order, int num_threads):
    cdef fp_pool_params p
    cdef fp_tensor tdy, tx, tdx
    cdef fp_status st
    cdef int64_t[::1] ks = _np.asarray(kernels, dtype=_np.int64)
    cdef int32_t nk = <int32_t>ks.shape[0]
    _fill_spp_params(&p, num_threads)
    _fill_tensor(dy, &tdy)
    _fill_tensor(x, &tx)
    _fill_tensor(dx, &tdx)
    with nogil:
        st = fp_yolo_spp_backward(&p, &ks[0], nk, order, &tdy, &tx, &tdx)
    _check(st, name)



# ---- special poolings: bilinear_pool, netvlad ----
# Each call asks the C core for its workspace size, allocates it as a NumPy
# byte buffer (freed with the call) and runs the kernel without the GIL.

BILINEAR_AVERAGE = FP_BILINEAR_AVERAGE
BILINEAR_SIGNED_SQRT = FP_BILINEAR_SIGNED_SQRT
BILINEAR_L2_NORMALIZE = FP_BILINEAR_L2_NORMALIZE
NETVLAD_NORMALIZE_INPUT = FP_NETVLAD_NORMALIZE_INPUT


cdef cnp.ndarray _workspace(size_t nbytes, str name):
    try:
        return cnp.PyArray_EMPTY(1, [<cnp.npy_intp>max(nbytes, 1)], cnp.NPY_UINT8, 0)
    except MemoryError:
        raise MemoryError(f"{name}: not enough memory for a {nbytes}-byte workspace") from None


def bilinear_pool(str name, cnp.ndarray x, object y, cnp.ndarray out, unsigned int flags,
                  double eps, int num_threads):
    cdef fp_bilinear_params p
    cdef fp_tensor tx, ty, to
    cdef fp_tensor *pty = NULL
    cdef size_t nbytes = 0
    cdef cnp.ndarray ws
    cdef void *wsp
    cdef fp_status st
    fp_bilinear_params_init(&p)
    p.flags = flags
    p.eps = eps
    p.num_threads = num_threads
    _fill_tensor(x, &tx)
    if y is not None:
        _fill_tensor(<cnp.ndarray>y, &ty)
        pty = &ty
    _fill_tensor(out, &to)
    _check(fp_bilinear_pool_workspace_size(&p, &tx, pty, 0, &nbytes), name)
    ws = _workspace(nbytes, name)
    wsp = cnp.PyArray_DATA(ws)
    with nogil:
        st = fp_bilinear_pool_forward(&p, &tx, pty, &to, wsp, nbytes)
    _check(st, name)


def bilinear_pool_backward(str name, cnp.ndarray g, cnp.ndarray x, object y, cnp.ndarray dx,
                           object dy, unsigned int flags, double eps, int num_threads):
    cdef fp_bilinear_params p
    cdef fp_tensor tg, tx, ty, tdx, tdy
    cdef fp_tensor *pty = NULL
    cdef fp_tensor *ptdy = NULL
    cdef size_t nbytes = 0
    cdef cnp.ndarray ws
    cdef void *wsp
    cdef fp_status st
    fp_bilinear_params_init(&p)
    p.flags = flags
    p.eps = eps
    p.num_threads = num_threads
    _fill_tensor(g, &tg)
    _fill_tensor(x, &tx)
    _fill_tensor(dx, &tdx)
    if y is not None:
        _fill_tensor(<cnp.ndarray>y, &ty)
        pty = &ty
    if dy is not None:
        _fill_tensor(<cnp.ndarray>dy, &tdy)
        ptdy = &tdy
    _check(fp_bilinear_pool_workspace_size(&p, &tx, pty, 1, &nbytes), name)
    ws = _workspace(nbytes, name)
    wsp = cnp.PyArray_DATA(ws)
    with nogil:
        st = fp_bilinear_pool_backward(&p, &tg, &tx, pty, &tdx, ptdy, wsp, nbytes)
    _check(st, name)


def netvlad_workspace_size(cnp.ndarray x, int64_t num_clusters, bint backward,
                           unsigned int flags, int num_threads):
    """Bytes of workspace the C core asks for (for tests of the memory bound)."""
    cdef fp_netvlad_params p
    cdef fp_tensor tx
    cdef size_t nbytes = 0
    fp_netvlad_params_init(&p)
    p.flags = flags
    p.num_threads = num_threads
    _fill_tensor(x, &tx)
    _check(fp_netvlad_workspace_size(&p, &tx, num_clusters, backward, &nbytes), "netvlad")
    return nbytes


def netvlad(str name, cnp.ndarray x, cnp.ndarray w, cnp.ndarray b, cnp.ndarray c,
            cnp.ndarray out, unsigned int flags, double eps, int num_threads):
    cdef fp_netvlad_params p
    cdef fp_tensor tx, tw, tb, tc, to
    cdef size_t nbytes = 0
    cdef cnp.ndarray ws
    cdef void *wsp
    cdef fp_status st
    fp_netvlad_params_init(&p)
    p.flags = flags
    p.eps = eps
    p.num_threads = num_threads
    _fill_tensor(x, &tx)
    _fill_tensor(w, &tw)
    _fill_tensor(b, &tb)
    _fill_tensor(c, &tc)
    _fill_tensor(out, &to)
    _check(fp_netvlad_workspace_size(&p, &tx, tw.shape[0], 0, &nbytes), name)
    ws = _workspace(nbytes, name)
    wsp = cnp.PyArray_DATA(ws)
    with nogil:
        st = fp_netvlad_forward(&p, &tx, &tw, &tb, &tc, &to, wsp, nbytes)
    _check(st, name)


def netvlad_backward(str name, cnp.ndarray g, cnp.ndarray x, cnp.ndarray w, cnp.ndarray b,
                     cnp.ndarray c, cnp.ndarray dx, cnp.ndarray dw, cnp.ndarray db,
                     cnp.ndarray dc, unsigned int flags, double eps, int num_threads):
    cdef fp_netvlad_params p
    cdef fp_tensor tg, tx, tw, tb, tc, tdx, tdw, tdb, tdc
    cdef size_t nbytes = 0
    cdef cnp.ndarray ws
    cdef void *wsp
    cdef fp_status st
    fp_netvlad_params_init(&p)
    p.flags = flags
    p.eps = eps
    p.num_threads = num_threads
    _fill_tensor(g, &tg)
    _fill_tensor(x, &tx)
    _fill_tensor(w, &tw)
    _fill_tensor(b, &tb)
    _fill_tensor(c, &tc)
    _fill_tensor(dx, &tdx)
    _fill_tensor(dw, &tdw)
    _fill_tensor(db, &tdb)
    _fill_tensor(dc, &tdc)
    _check(fp_netvlad_workspace_size(&p, &tx, tw.shape[0], 1, &nbytes), name)
    ws = _workspace(nbytes, name)
    wsp = cnp.PyArray_DATA(ws)
    with nogil:
        st = fp_netvlad_backward(&p, &tg, &tx, &tw, &tb, &tc, &tdx, &tdw, &tdb, &tdc, wsp,
                                 nbytes)
    _check(st, name)
