# fastpool's C API for other Cython packages, without a link step.
#
#     from fastpool.cython_api cimport (fp_tensor, fp_pool_params, fp_status, FP_OK,
#                                       fp_pool_params_init, fp_max_pool_forward)
#
# The types and constants are those of fastpool.h, declared once for Cython in
# fastpool/_fastpool.pxd and re-exported here, so the downstream extension
# compiles with fastpool.get_include() on its include path.  The functions are
# not linked: they are `noexcept nogil` Cython functions of the module
# fastpool.cython_api, whose C pointers Cython fetches from that module's
# __pyx_capi__ table when the downstream module is imported (the design of
# scipy.linalg.cython_blas).  Each one calls the function of the same name in
# fastpool.h, with the same arguments, result and semantics; see the header for
# the contract.  Like the C API they never raise, never take the GIL and report
# errors through fp_status.
#
# FP_VERSION_NUMBER is the header the downstream module was compiled against;
# fp_version_number() is the fastpool it runs with.

from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

# Every type and constant of fastpool.h (not its functions: the table's take
# their names).
from fastpool._fastpool cimport (
    FP_VERSION_MAJOR, FP_VERSION_MINOR, FP_VERSION_PATCH, FP_VERSION_NUMBER, FP_VERSION_STRING,
    FP_MAX_DIMS, FP_MAX_SPATIAL, FP_MAX_THREADS,
    fp_status, FP_OK, FP_ERR_NULL_POINTER, FP_ERR_STRUCT_SIZE, FP_ERR_INVALID_ARGUMENT,
    FP_ERR_BAD_NDIM, FP_ERR_SHAPE_MISMATCH, FP_ERR_OUTPUT_SIZE, FP_ERR_UNSUPPORTED_DTYPE,
    FP_ERR_DTYPE_MISMATCH, FP_ERR_OVERFLOW, FP_ERR_INDEX_OUT_OF_RANGE, FP_ERR_ALIASING,
    FP_ERR_BAD_SHAPE,
    fp_dtype, FP_FLOAT32, FP_FLOAT64, FP_INT32, FP_INT64, FP_FLOAT16, FP_INT8, FP_UINT8,
    FP_INT16, FP_UINT16,
    fp_tensor,
    fp_pad_mode, FP_PAD_EXPLICIT, FP_PAD_SAME_UPPER, FP_PAD_SAME_LOWER,
    FP_FLAG_CEIL_MODE, FP_FLAG_COUNT_INCLUDE_PAD, FP_FLAG_NAN_OMIT,
    fp_pool_params,
    fp_median_even, FP_MEDIAN_LOWER, FP_MEDIAN_UPPER, FP_MEDIAN_MEAN,
    fp_spp_mode, FP_SPP_MAX, FP_SPP_AVG,
    fp_spp_variant, FP_SPP_ADAPTIVE, FP_SPP_SPPNET, FP_SPP_CAFFE,
    fp_spp_features, FP_SPP_FEATURES_CHW, FP_SPP_FEATURES_HWC,
    FP_YOLO_SPP_MAX_KERNELS,
    fp_yolo_spp_order, FP_YOLO_SPP_ULTRALYTICS, FP_YOLO_SPP_DARKNET,
    FP_BILINEAR_AVERAGE, FP_BILINEAR_SIGNED_SQRT, FP_BILINEAR_L2_NORMALIZE,
    fp_bilinear_params,
    FP_NETVLAD_NORMALIZE_INPUT,
    fp_netvlad_params,
)

# Status, version and build queries.
cdef const char *fp_status_string(fp_status status) noexcept nogil
cdef int fp_version_number() noexcept nogil
cdef const char *fp_version_string() noexcept nogil
cdef size_t fp_dtype_size(fp_dtype dtype) noexcept nogil
cdef int fp_has_openmp() noexcept nogil
cdef const char *fp_simd_level() noexcept nogil
cdef int fp_default_num_threads() noexcept nogil

# Parameters and geometry.
cdef fp_status fp_pool_params_init(fp_pool_params *params, int32_t rank) noexcept nogil
cdef fp_status fp_pool_output_shape(const fp_pool_params *params, const int64_t *in_shape,
                                    int64_t *out_shape, int64_t *pad_begin,
                                    int64_t *pad_end) noexcept nogil
cdef fp_status fp_pool_window(const fp_pool_params *params, const int64_t *in_shape,
                              int32_t axis, int64_t o, int64_t *start,
                              int64_t *end) noexcept nogil
cdef fp_status fp_pool_first_window(const fp_pool_params *params, const int64_t *in_shape,
                                    int32_t axis, int64_t pos, int64_t *o) noexcept nogil
cdef fp_status fp_adaptive_window(int64_t in_size, int64_t out_size, int64_t o,
                                  int64_t *start, int64_t *end) noexcept nogil

# Max, average and Lp pooling.
cdef fp_status fp_max_pool_forward(const fp_pool_params *params, const fp_tensor *x,
                                   fp_tensor *y, fp_tensor *indices) noexcept nogil
cdef fp_status fp_max_pool_backward(const fp_pool_params *params, const fp_tensor *dy,
                                    const fp_tensor *indices, fp_tensor *dx) noexcept nogil
cdef fp_status fp_avg_pool_forward(const fp_pool_params *params, const fp_tensor *x,
                                   fp_tensor *y) noexcept nogil
cdef fp_status fp_avg_pool_backward(const fp_pool_params *params, const fp_tensor *dy,
                                    fp_tensor *dx) noexcept nogil
cdef fp_status fp_lp_pool_forward(const fp_pool_params *params, double p, const fp_tensor *x,
                                  fp_tensor *y) noexcept nogil
cdef fp_status fp_lp_pool_backward(const fp_pool_params *params, double p,
                                   const fp_tensor *dy, const fp_tensor *x,
                                   const fp_tensor *y, fp_tensor *dx) noexcept nogil

# Adaptive pooling.
cdef fp_status fp_adaptive_max_pool_forward(const fp_pool_params *params, const fp_tensor *x,
                                            fp_tensor *y, fp_tensor *indices) noexcept nogil
cdef fp_status fp_adaptive_avg_pool_forward(const fp_pool_params *params, const fp_tensor *x,
                                            fp_tensor *y) noexcept nogil
cdef fp_status fp_adaptive_avg_pool_backward(const fp_pool_params *params,
                                             const fp_tensor *dy, fp_tensor *dx) noexcept nogil

# Unpooling and fractional max pooling.
cdef fp_status fp_max_unpool_forward(const fp_pool_params *params, const fp_tensor *x,
                                     const fp_tensor *indices, fp_tensor *y) noexcept nogil
cdef fp_status fp_max_unpool_backward(const fp_pool_params *params, const fp_tensor *dy,
                                      const fp_tensor *indices, fp_tensor *dx) noexcept nogil
cdef fp_status fp_max_unpool_output_shape(const fp_pool_params *params,
                                          const int64_t *in_shape, const int64_t *output_size,
                                          int64_t *out_shape) noexcept nogil
cdef fp_status fp_fractional_max_pool_forward(const fp_pool_params *params,
                                              const fp_tensor *samples, const fp_tensor *x,
                                              fp_tensor *y, fp_tensor *indices) noexcept nogil
cdef fp_status fp_fractional_output_shape(const fp_pool_params *params,
                                          const int64_t *in_shape, const int64_t *output_size,
                                          const double *output_ratio,
                                          int64_t *out_shape) noexcept nogil

# ---- special poolings: spatial_pyramid_pool, yolo_spp ----
cdef fp_status fp_spp_window(int32_t variant, int64_t in_size, int64_t level, int64_t o,
                             int64_t *start, int64_t *end, int64_t *pool) noexcept nogil
cdef fp_status fp_spatial_pyramid_pool_output_shape(const int64_t *levels, int32_t num_levels,
                                                    int32_t mode, int32_t variant,
                                                    const int64_t *in_shape,
                                                    int64_t *out_shape) noexcept nogil
cdef fp_status fp_spatial_pyramid_pool_forward(const fp_pool_params *params,
                                               const int64_t *levels, int32_t num_levels,
                                               int32_t mode, int32_t variant, int32_t features,
                                               const fp_tensor *x, fp_tensor *y) noexcept nogil
cdef fp_status fp_spatial_pyramid_pool_backward(const fp_pool_params *params,
                                                const int64_t *levels, int32_t num_levels,
                                                int32_t mode, int32_t variant,
                                                int32_t features, const fp_tensor *dy,
                                                const fp_tensor *x,
                                                fp_tensor *dx) noexcept nogil
cdef fp_status fp_yolo_spp_output_shape(const int64_t *kernel_sizes, int32_t num_kernels,
                                        const int64_t *in_shape,
                                        int64_t *out_shape) noexcept nogil
cdef fp_status fp_yolo_spp_forward(const fp_pool_params *params, const int64_t *kernel_sizes,
                                   int32_t num_kernels, int32_t order, const fp_tensor *x,
                                   fp_tensor *y) noexcept nogil
cdef fp_status fp_yolo_spp_backward(const fp_pool_params *params, const int64_t *kernel_sizes,
                                    int32_t num_kernels, int32_t order, const fp_tensor *dy,
                                    const fp_tensor *x, fp_tensor *dx) noexcept nogil

# ---- special poolings: bilinear_pool, netvlad ----
cdef fp_status fp_bilinear_params_init(fp_bilinear_params *params) noexcept nogil
cdef fp_status fp_bilinear_pool_workspace_size(const fp_bilinear_params *params,
                                               const fp_tensor *x, const fp_tensor *y,
                                               int backward, size_t *bytes) noexcept nogil
cdef fp_status fp_bilinear_pool_forward(const fp_bilinear_params *params, const fp_tensor *x,
                                        const fp_tensor *y, fp_tensor *out, void *workspace,
                                        size_t workspace_size) noexcept nogil
cdef fp_status fp_bilinear_pool_backward(const fp_bilinear_params *params,
                                         const fp_tensor *grad_out, const fp_tensor *x,
                                         const fp_tensor *y, fp_tensor *dx, fp_tensor *dy,
                                         void *workspace, size_t workspace_size) noexcept nogil
cdef fp_status fp_netvlad_params_init(fp_netvlad_params *params) noexcept nogil
cdef fp_status fp_netvlad_workspace_size(const fp_netvlad_params *params, const fp_tensor *x,
                                         int64_t num_clusters, int backward,
                                         size_t *bytes) noexcept nogil
cdef fp_status fp_netvlad_forward(const fp_netvlad_params *params, const fp_tensor *x,
                                  const fp_tensor *weight, const fp_tensor *bias,
                                  const fp_tensor *centroids, fp_tensor *out, void *workspace,
                                  size_t workspace_size) noexcept nogil
cdef fp_status fp_netvlad_backward(const fp_netvlad_params *params, const fp_tensor *grad_out,
                                   const fp_tensor *x, const fp_tensor *weight,
                                   const fp_tensor *bias, const fp_tensor *centroids,
                                   fp_tensor *dx, fp_tensor *dweight, fp_tensor *dbias,
                                   fp_tensor *dcentroids, void *workspace,
                                   size_t workspace_size) noexcept nogil

# ---- special poolings: stochastic, median, mixed ----
cdef fp_status fp_stochastic_pool_forward(const fp_pool_params *params, uint64_t seed,
                                          const fp_tensor *x, fp_tensor *y,
                                          fp_tensor *indices) noexcept nogil
cdef fp_status fp_stochastic_pool_weighted_forward(const fp_pool_params *params,
                                                   const fp_tensor *x,
                                                   fp_tensor *y) noexcept nogil
cdef fp_status fp_stochastic_pool_weighted_backward(const fp_pool_params *params,
                                                    const fp_tensor *dy, const fp_tensor *x,
                                                    fp_tensor *dx) noexcept nogil
cdef fp_status fp_median_pool_forward(const fp_pool_params *params, int32_t even,
                                      const fp_tensor *x, fp_tensor *y,
                                      fp_tensor *indices) noexcept nogil
cdef fp_status fp_median_pool_backward(const fp_pool_params *params, int32_t even,
                                       const fp_tensor *dy, const fp_tensor *x,
                                       fp_tensor *dx) noexcept nogil
cdef fp_status fp_mixed_pool_pair_forward(const fp_pool_params *params, const fp_tensor *x,
                                          fp_tensor *ymax, fp_tensor *yavg) noexcept nogil
cdef fp_status fp_mixed_pool_forward(const fp_pool_params *params, const fp_tensor *alpha,
                                     const fp_tensor *x, fp_tensor *y) noexcept nogil
cdef fp_status fp_mixed_pool_pair_backward(const fp_pool_params *params,
                                           const fp_tensor *dymax, const fp_tensor *dyavg,
                                           const fp_tensor *x, fp_tensor *dx) noexcept nogil
cdef fp_status fp_mixed_pool_backward(const fp_pool_params *params, const fp_tensor *alpha,
                                      const fp_tensor *dy, const fp_tensor *x, fp_tensor *dx,
                                      fp_tensor *dalpha) noexcept nogil
