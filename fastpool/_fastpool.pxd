# Declarations of the public C API (src/include/fastpool.h) for Cython.
from libc.stdint cimport int32_t, int64_t, uint32_t

cdef extern from "fastpool.h" nogil:
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

    int FP_MAX_DIMS
    int FP_MAX_SPATIAL
    int FP_MAX_THREADS
    int FP_PAD_EXPLICIT
    int FP_PAD_SAME_UPPER
    int FP_PAD_SAME_LOWER
    unsigned int FP_FLAG_CEIL_MODE
    unsigned int FP_FLAG_COUNT_INCLUDE_PAD
    unsigned int FP_FLAG_NAN_OMIT
    const char *FP_VERSION_STRING

    ctypedef struct fp_tensor:
        fp_dtype dtype
        int32_t ndim
        int64_t shape[5]
        int64_t strides[5]
        void *data

    ctypedef struct fp_pool_params:
        size_t struct_size
        int32_t rank
        int32_t pad_mode
        int64_t kernel[3]
        int64_t stride[3]
        int64_t pad_begin[3]
        int64_t pad_end[3]
        int64_t dilation[3]
        uint32_t flags
        int32_t num_threads
        int64_t divisor_override

    const char *fp_status_string(fp_status status)
    int fp_version_number()
    const char *fp_version_string()
    fp_status fp_pool_params_init(fp_pool_params *params, int32_t rank)
    fp_status fp_pool_output_shape(const fp_pool_params *params, const int64_t *in_shape,
                                   int64_t *out_shape, int64_t *pad_begin, int64_t *pad_end)
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
    fp_status fp_fractional_max_pool_forward(const fp_pool_params *params,
                                             const fp_tensor *samples, const fp_tensor *x,
                                             fp_tensor *y, fp_tensor *indices)
    const char *fp_simd_level()
    int fp_has_openmp()
    int fp_default_num_threads()

# ---- special poolings: stochastic, median, mixed ----
from libc.stdint cimport uint64_t

cdef extern from "fastpool.h" nogil:
    int FP_MEDIAN_LOWER
    int FP_MEDIAN_UPPER
    int FP_MEDIAN_MEAN

    fp_status fp_stochastic_pool_forward(const fp_pool_params *params, uint64_t seed,
                                         const fp_tensor *x, fp_tensor *y, fp_tensor *indices)
    fp_status fp_stochastic_pool_weighted_forward(const fp_pool_params *params,
                                                  const fp_tensor *x, fp_tensor *y)
    fp_status fp_stochastic_pool_weighted_backward(const fp_pool_params *params,
                                                   const fp_tensor *dy, const fp_tensor *x,
                                                   fp_tensor *dx)
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


    # ---- special poolings: spatial_pyramid_pool, yolo_spp ----
    int FP_SPP_MAX
    int FP_SPP_AVG
    int FP_SPP_ADAPTIVE
    int FP_SPP_SPPNET
    int FP_SPP_CAFFE
    int FP_SPP_FEATURES_CHW
    int FP_SPP_FEATURES_HWC
    int FP_YOLO_SPP_MAX_KERNELS
    int FP_YOLO_SPP_ULTRALYTICS
    int FP_YOLO_SPP_DARKNET
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
    fp_status fp_yolo_spp_output_shape(const int64_t *kernel_sizes, int32_t num_kernels,
                                       const int64_t *in_shape, int64_t *out_shape)
    fp_status fp_yolo_spp_forward(const fp_pool_params *params, const int64_t *kernel_sizes,
                                  int32_t num_kernels, int32_t order, const fp_tensor *x,
                                  fp_tensor *y)
    fp_status fp_yolo_spp_backward(const fp_pool_params *params, const int64_t *kernel_sizes,
                                   int32_t num_kernels, int32_t order, const fp_tensor *dy,
                                   const fp_tensor *x, fp_tensor *dx)


# ---- special poolings: bilinear_pool, netvlad ----
cdef extern from "fastpool.h" nogil:
    unsigned int FP_BILINEAR_AVERAGE
    unsigned int FP_BILINEAR_SIGNED_SQRT
    unsigned int FP_BILINEAR_L2_NORMALIZE
    unsigned int FP_NETVLAD_NORMALIZE_INPUT

    ctypedef struct fp_bilinear_params:
        size_t struct_size
        uint32_t flags
        int32_t num_threads
        double eps

    ctypedef struct fp_netvlad_params:
        size_t struct_size
        uint32_t flags
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
