# The one Cython declaration of the public C API (src/include/fastpool.h): its
# types, constants and functions, in the header's order.  fastpool._core
# cimports it whole; fastpool.cython_api re-exports its types and constants
# and wraps its functions.  Macros are `enum` (usable as array sizes) or
# typed `const` like the header's literals (FP_FLAG_* are unsigned).
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

cdef extern from "fastpool.h" nogil:
    enum:
        FP_VERSION_MAJOR
        FP_VERSION_MINOR
        FP_VERSION_PATCH
        FP_VERSION_NUMBER
    const char *FP_VERSION_STRING

    enum:
        FP_MAX_DIMS
        FP_MAX_SPATIAL
        FP_MAX_THREADS

    ctypedef enum fp_status:
        FP_OK
        FP_ERR_NULL_POINTER
        FP_ERR_STRUCT_SIZE
        FP_ERR_INVALID_ARGUMENT
        FP_ERR_BAD_NDIM
        FP_ERR_SHAPE_MISMATCH
        FP_ERR_OUTPUT_SIZE
        FP_ERR_UNSUPPORTED_DTYPE
        FP_ERR_DTYPE_MISMATCH
        FP_ERR_OVERFLOW
        FP_ERR_INDEX_OUT_OF_RANGE
        FP_ERR_ALIASING
        FP_ERR_BAD_SHAPE

    const char *fp_status_string(fp_status status)
    int fp_version_number()
    const char *fp_version_string()

    ctypedef enum fp_dtype:
        FP_FLOAT32
        FP_FLOAT64
        FP_INT32
        FP_INT64
        FP_FLOAT16
        FP_INT8
        FP_UINT8
        FP_INT16
        FP_UINT16

    size_t fp_dtype_size(fp_dtype dtype)

    ctypedef struct fp_tensor:
        fp_dtype dtype
        int32_t ndim
        int64_t shape[FP_MAX_DIMS]
        int64_t strides[FP_MAX_DIMS]   # in elements, not bytes
        void *data

    ctypedef enum fp_pad_mode:
        FP_PAD_EXPLICIT
        FP_PAD_SAME_UPPER
        FP_PAD_SAME_LOWER

    # fp_pool_params.flags
    const unsigned int FP_FLAG_CEIL_MODE
    const unsigned int FP_FLAG_COUNT_INCLUDE_PAD
    const unsigned int FP_FLAG_NAN_OMIT

    ctypedef struct fp_pool_params:
        size_t struct_size
        int32_t rank
        int32_t pad_mode             # fp_pad_mode
        int64_t kernel[FP_MAX_SPATIAL]
        int64_t stride[FP_MAX_SPATIAL]
        int64_t pad_begin[FP_MAX_SPATIAL]
        int64_t pad_end[FP_MAX_SPATIAL]
        int64_t dilation[FP_MAX_SPATIAL]
        uint32_t flags               # FP_FLAG_*
        int32_t num_threads
        int64_t divisor_override

    fp_status fp_pool_params_init(fp_pool_params *params, int32_t rank)
    fp_status fp_pool_output_shape(const fp_pool_params *params, const int64_t *in_shape,
                                   int64_t *out_shape, int64_t *pad_begin, int64_t *pad_end)
    fp_status fp_pool_window(const fp_pool_params *params, const int64_t *in_shape,
                             int32_t axis, int64_t o, int64_t *start, int64_t *end)
    fp_status fp_pool_first_window(const fp_pool_params *params, const int64_t *in_shape,
                                   int32_t axis, int64_t pos, int64_t *o)
    fp_status fp_max_pool_forward(const fp_pool_params *params, const fp_tensor *x,
                                  fp_tensor *y, fp_tensor *indices)
    fp_status fp_max_pool_backward(const fp_pool_params *params, const fp_tensor *dy,
                                   const fp_tensor *indices, fp_tensor *dx)
    fp_status fp_avg_pool_forward(const fp_pool_params *params, const fp_tensor *x,
                                  fp_tensor *y)
    fp_status fp_avg_pool_backward(const fp_pool_params *params, const fp_tensor *dy,
                                   fp_tensor *dx)
    fp_status fp_lp_pool_forward(const fp_pool_params *params, double p, const fp_tensor *x,
                                 fp_tensor *y)
    fp_status fp_lp_pool_backward(const fp_pool_params *params, double p, const fp_tensor *dy,
                                  const fp_tensor *x, const fp_tensor *y, fp_tensor *dx)
    fp_status fp_adaptive_window(int64_t in_size, int64_t out_size, int64_t o, int64_t *start,
                                 int64_t *end)
    fp_status fp_adaptive_max_pool_forward(const fp_pool_params *params, const fp_tensor *x,
                                           fp_tensor *y, fp_tensor *indices)
    fp_status fp_adaptive_avg_pool_forward(const fp_pool_params *params, const fp_tensor *x,
                                           fp_tensor *y)
    fp_status fp_adaptive_avg_pool_backward(const fp_pool_params *params, const fp_tensor *dy,
                                            fp_tensor *dx)
    fp_status fp_max_unpool_forward(const fp_pool_params *params, const fp_tensor *x,
                                    const fp_tensor *indices, fp_tensor *y)
    fp_status fp_max_unpool_backward(const fp_pool_params *params, const fp_tensor *dy,
                                     const fp_tensor *indices, fp_tensor *dx)
    fp_status fp_max_unpool_output_shape(const fp_pool_params *params, const int64_t *in_shape,
                                         const int64_t *output_size, int64_t *out_shape)
    fp_status fp_fractional_max_pool_forward(const fp_pool_params *params,
                                             const fp_tensor *samples, const fp_tensor *x,
                                             fp_tensor *y, fp_tensor *indices)
    fp_status fp_fractional_output_shape(const fp_pool_params *params, const int64_t *in_shape,
                                         const int64_t *output_size, const double *output_ratio,
                                         int64_t *out_shape)

    # ---- special poolings: stochastic, median, mixed ----
    fp_status fp_stochastic_pool_forward(const fp_pool_params *params, uint64_t seed,
                                         const fp_tensor *x, fp_tensor *y, fp_tensor *indices)
    fp_status fp_stochastic_pool_weighted_forward(const fp_pool_params *params,
                                                  const fp_tensor *x, fp_tensor *y)
    fp_status fp_stochastic_pool_weighted_backward(const fp_pool_params *params,
                                                   const fp_tensor *dy, const fp_tensor *x,
                                                   fp_tensor *dx)

    ctypedef enum fp_median_even:
        FP_MEDIAN_LOWER
        FP_MEDIAN_UPPER
        FP_MEDIAN_MEAN

    fp_status fp_median_pool_forward(const fp_pool_params *params, int32_t even,
                                     const fp_tensor *x, fp_tensor *y, fp_tensor *indices)
    fp_status fp_median_pool_backward(const fp_pool_params *params, int32_t even,
                                      const fp_tensor *dy, const fp_tensor *x, fp_tensor *dx)
    fp_status fp_mixed_pool_pair_forward(const fp_pool_params *params, const fp_tensor *x,
                                         fp_tensor *ymax, fp_tensor *yavg)
    fp_status fp_mixed_pool_forward(const fp_pool_params *params, const fp_tensor *alpha,
                                    const fp_tensor *x, fp_tensor *y)
    fp_status fp_mixed_pool_pair_backward(const fp_pool_params *params, const fp_tensor *dymax,
                                          const fp_tensor *dyavg, const fp_tensor *x,
                                          fp_tensor *dx)
    fp_status fp_mixed_pool_backward(const fp_pool_params *params, const fp_tensor *alpha,
                                     const fp_tensor *dy, const fp_tensor *x, fp_tensor *dx,
                                     fp_tensor *dalpha)

    # ---- special poolings: spatial pyramid, YOLO-SPP ----
    ctypedef enum fp_spp_mode:
        FP_SPP_MAX
        FP_SPP_AVG
    ctypedef enum fp_spp_variant:
        FP_SPP_ADAPTIVE
        FP_SPP_SPPNET
        FP_SPP_CAFFE
    ctypedef enum fp_spp_features:
        FP_SPP_FEATURES_CHW
        FP_SPP_FEATURES_HWC

    fp_status fp_spp_window(int32_t variant, int64_t in_size, int64_t level, int64_t o,
                            int64_t *start, int64_t *end, int64_t *pool)
    fp_status fp_spatial_pyramid_pool_output_shape(const int64_t *levels, int32_t num_levels,
                                                   int32_t mode, int32_t variant,
                                                   const int64_t *in_shape, int64_t *out_shape)
    fp_status fp_spatial_pyramid_pool_forward(const fp_pool_params *params,
                                              const int64_t *levels, int32_t num_levels,
                                              int32_t mode, int32_t variant, int32_t features,
                                              const fp_tensor *x, fp_tensor *y)
    fp_status fp_spatial_pyramid_pool_backward(const fp_pool_params *params,
                                               const int64_t *levels, int32_t num_levels,
                                               int32_t mode, int32_t variant, int32_t features,
                                               const fp_tensor *dy, const fp_tensor *x,
                                               fp_tensor *dx)

    enum:
        FP_YOLO_SPP_MAX_KERNELS
    ctypedef enum fp_yolo_spp_order:
        FP_YOLO_SPP_ULTRALYTICS
        FP_YOLO_SPP_DARKNET

    fp_status fp_yolo_spp_output_shape(const int64_t *kernel_sizes, int32_t num_kernels,
                                       const int64_t *in_shape, int64_t *out_shape)
    fp_status fp_yolo_spp_forward(const fp_pool_params *params, const int64_t *kernel_sizes,
                                  int32_t num_kernels, int32_t order, const fp_tensor *x,
                                  fp_tensor *y)
    fp_status fp_yolo_spp_backward(const fp_pool_params *params, const int64_t *kernel_sizes,
                                   int32_t num_kernels, int32_t order, const fp_tensor *dy,
                                   const fp_tensor *x, fp_tensor *dx)

    # ---- special poolings: bilinear, NetVLAD ----
    # fp_bilinear_params.flags
    const unsigned int FP_BILINEAR_AVERAGE
    const unsigned int FP_BILINEAR_SIGNED_SQRT
    const unsigned int FP_BILINEAR_L2_NORMALIZE

    ctypedef struct fp_bilinear_params:
        size_t struct_size
        uint32_t flags               # FP_BILINEAR_*
        int32_t num_threads
        double eps

    fp_status fp_bilinear_params_init(fp_bilinear_params *params)
    fp_status fp_bilinear_pool_workspace_size(const fp_bilinear_params *params,
                                              const fp_tensor *x, const fp_tensor *y,
                                              int backward, size_t *bytes)
    fp_status fp_bilinear_pool_forward(const fp_bilinear_params *params, const fp_tensor *x,
                                       const fp_tensor *y, fp_tensor *out, void *workspace,
                                       size_t workspace_size)
    fp_status fp_bilinear_pool_backward(const fp_bilinear_params *params,
                                        const fp_tensor *grad_out, const fp_tensor *x,
                                        const fp_tensor *y, fp_tensor *dx, fp_tensor *dy,
                                        void *workspace, size_t workspace_size)

    # fp_netvlad_params.flags
    const unsigned int FP_NETVLAD_NORMALIZE_INPUT

    ctypedef struct fp_netvlad_params:
        size_t struct_size
        uint32_t flags               # FP_NETVLAD_*
        int32_t num_threads
        double eps

    fp_status fp_netvlad_params_init(fp_netvlad_params *params)
    fp_status fp_netvlad_workspace_size(const fp_netvlad_params *params, const fp_tensor *x,
                                        int64_t num_clusters, int backward, size_t *bytes)
    fp_status fp_netvlad_forward(const fp_netvlad_params *params, const fp_tensor *x,
                                 const fp_tensor *weight, const fp_tensor *bias,
                                 const fp_tensor *centroids, fp_tensor *out, void *workspace,
                                 size_t workspace_size)
    fp_status fp_netvlad_backward(const fp_netvlad_params *params, const fp_tensor *grad_out,
                                  const fp_tensor *x, const fp_tensor *weight,
                                  const fp_tensor *bias, const fp_tensor *centroids,
                                  fp_tensor *dx, fp_tensor *dweight, fp_tensor *dbias,
                                  fp_tensor *dcentroids, void *workspace, size_t workspace_size)

    # Build facts, for show_config().
    int fp_has_openmp()
    const char *fp_simd_level()
    int fp_default_num_threads()
