# cython: language_level=3
"""fastpool's C API as a table of function pointers for other Cython packages.

A downstream ``.pyx`` writes ``from fastpool.cython_api cimport ...`` (see
``cython_api.pxd``) and compiles with ``fastpool.get_include()`` on its include
path; it links nothing.  When it is imported, Cython looks the functions up in
this module's ``__pyx_capi__`` and calls through those pointers, which lead
here and straight on to the C core in ``fastpool/lib/libfastpool.so``, the one
copy that ``fastpool._core`` and C programs use too.

Each function below forwards to the function of the same name in
``fastpool.h``, reached as ``c.<name>`` (``fastpool/_fastpool.pxd``), since the
plain names are taken by the table entries.
"""

from libc.stdint cimport int32_t, int64_t, uint64_t

cimport fastpool._fastpool as c


cdef const char *fp_status_string(fp_status status) noexcept nogil:
    return c.fp_status_string(status)


cdef int fp_version_number() noexcept nogil:
    return c.fp_version_number()


cdef const char *fp_version_string() noexcept nogil:
    return c.fp_version_string()


cdef size_t fp_dtype_size(fp_dtype dtype) noexcept nogil:
    return c.fp_dtype_size(dtype)


cdef int fp_has_openmp() noexcept nogil:
    return c.fp_has_openmp()


cdef const char *fp_simd_level() noexcept nogil:
    return c.fp_simd_level()


cdef int fp_default_num_threads() noexcept nogil:
    return c.fp_default_num_threads()


cdef fp_status fp_pool_params_init(fp_pool_params *params, int32_t rank) noexcept nogil:
    return c.fp_pool_params_init(params, rank)


cdef fp_status fp_pool_output_shape(const fp_pool_params *params, const int64_t *in_shape,
                                    int64_t *out_shape, int64_t *pad_begin,
                                    int64_t *pad_end) noexcept nogil:
    return c.fp_pool_output_shape(params, in_shape, out_shape, pad_begin, pad_end)


cdef fp_status fp_pool_window(const fp_pool_params *params, const int64_t *in_shape,
                              int32_t axis, int64_t o, int64_t *start,
                              int64_t *end) noexcept nogil:
    return c.fp_pool_window(params, in_shape, axis, o, start, end)


cdef fp_status fp_pool_first_window(const fp_pool_params *params, const int64_t *in_shape,
                                    int32_t axis, int64_t pos, int64_t *o) noexcept nogil:
    return c.fp_pool_first_window(params, in_shape, axis, pos, o)


cdef fp_status fp_adaptive_window(int64_t in_size, int64_t out_size, int64_t o,
                                  int64_t *start, int64_t *end) noexcept nogil:
    return c.fp_adaptive_window(in_size, out_size, o, start, end)


cdef fp_status fp_max_pool_forward(const fp_pool_params *params, const fp_tensor *x,
                                   fp_tensor *y, fp_tensor *indices) noexcept nogil:
    return c.fp_max_pool_forward(params, x, y, indices)


cdef fp_status fp_max_pool_backward(const fp_pool_params *params, const fp_tensor *dy,
                                    const fp_tensor *indices, fp_tensor *dx) noexcept nogil:
    return c.fp_max_pool_backward(params, dy, indices, dx)


cdef fp_status fp_avg_pool_forward(const fp_pool_params *params, const fp_tensor *x,
                                   fp_tensor *y) noexcept nogil:
    return c.fp_avg_pool_forward(params, x, y)


cdef fp_status fp_avg_pool_backward(const fp_pool_params *params, const fp_tensor *dy,
                                    fp_tensor *dx) noexcept nogil:
    return c.fp_avg_pool_backward(params, dy, dx)


cdef fp_status fp_lp_pool_forward(const fp_pool_params *params, double p, const fp_tensor *x,
                                  fp_tensor *y) noexcept nogil:
    return c.fp_lp_pool_forward(params, p, x, y)


cdef fp_status fp_lp_pool_backward(const fp_pool_params *params, double p,
                                   const fp_tensor *dy, const fp_tensor *x,
                                   const fp_tensor *y, fp_tensor *dx) noexcept nogil:
    return c.fp_lp_pool_backward(params, p, dy, x, y, dx)


cdef fp_status fp_adaptive_max_pool_forward(const fp_pool_params *params, const fp_tensor *x,
                                            fp_tensor *y, fp_tensor *indices) noexcept nogil:
    return c.fp_adaptive_max_pool_forward(params, x, y, indices)


cdef fp_status fp_adaptive_avg_pool_forward(const fp_pool_params *params, const fp_tensor *x,
                                            fp_tensor *y) noexcept nogil:
    return c.fp_adaptive_avg_pool_forward(params, x, y)


cdef fp_status fp_adaptive_avg_pool_backward(const fp_pool_params *params,
                                             const fp_tensor *dy, fp_tensor *dx) noexcept nogil:
    return c.fp_adaptive_avg_pool_backward(params, dy, dx)


cdef fp_status fp_max_unpool_forward(const fp_pool_params *params, const fp_tensor *x,
                                     const fp_tensor *indices, fp_tensor *y) noexcept nogil:
    return c.fp_max_unpool_forward(params, x, indices, y)


cdef fp_status fp_max_unpool_backward(const fp_pool_params *params, const fp_tensor *dy,
                                      const fp_tensor *indices, fp_tensor *dx) noexcept nogil:
    return c.fp_max_unpool_backward(params, dy, indices, dx)


cdef fp_status fp_max_unpool_output_shape(const fp_pool_params *params,
                                          const int64_t *in_shape, const int64_t *output_size,
                                          int64_t *out_shape) noexcept nogil:
    return c.fp_max_unpool_output_shape(params, in_shape, output_size, out_shape)


cdef fp_status fp_fractional_max_pool_forward(const fp_pool_params *params,
                                              const fp_tensor *samples, const fp_tensor *x,
                                              fp_tensor *y, fp_tensor *indices) noexcept nogil:
    return c.fp_fractional_max_pool_forward(params, samples, x, y, indices)


cdef fp_status fp_fractional_output_shape(const fp_pool_params *params,
                                          const int64_t *in_shape, const int64_t *output_size,
                                          const double *output_ratio,
                                          int64_t *out_shape) noexcept nogil:
    return c.fp_fractional_output_shape(params, in_shape, output_size, output_ratio, out_shape)


# ---- special poolings: spatial_pyramid_pool, yolo_spp ----
cdef fp_status fp_spp_window(int32_t variant, int64_t in_size, int64_t level, int64_t o,
                             int64_t *start, int64_t *end, int64_t *pool) noexcept nogil:
    return c.fp_spp_window(variant, in_size, level, o, start, end, pool)


cdef fp_status fp_spatial_pyramid_pool_output_shape(const int64_t *levels, int32_t num_levels,
                                                    int32_t mode, int32_t variant,
                                                    const int64_t *in_shape,
                                                    int64_t *out_shape) noexcept nogil:
    return c.fp_spatial_pyramid_pool_output_shape(levels, num_levels, mode, variant, in_shape,
                                                  out_shape)


cdef fp_status fp_spatial_pyramid_pool_forward(const fp_pool_params *params,
                                               const int64_t *levels, int32_t num_levels,
                                               int32_t mode, int32_t variant, int32_t features,
                                               const fp_tensor *x, fp_tensor *y) noexcept nogil:
    return c.fp_spatial_pyramid_pool_forward(params, levels, num_levels, mode, variant, features,
                                             x, y)


cdef fp_status fp_spatial_pyramid_pool_backward(const fp_pool_params *params,
                                                const int64_t *levels, int32_t num_levels,
                                                int32_t mode, int32_t variant,
                                                int32_t features, const fp_tensor *dy,
                                                const fp_tensor *x,
                                                fp_tensor *dx) noexcept nogil:
    return c.fp_spatial_pyramid_pool_backward(params, levels, num_levels, mode, variant, features,
                                              dy, x, dx)


cdef fp_status fp_yolo_spp_output_shape(const int64_t *kernel_sizes, int32_t num_kernels,
                                        const int64_t *in_shape,
                                        int64_t *out_shape) noexcept nogil:
    return c.fp_yolo_spp_output_shape(kernel_sizes, num_kernels, in_shape, out_shape)


cdef fp_status fp_yolo_spp_forward(const fp_pool_params *params, const int64_t *kernel_sizes,
                                   int32_t num_kernels, int32_t order, const fp_tensor *x,
                                   fp_tensor *y) noexcept nogil:
    return c.fp_yolo_spp_forward(params, kernel_sizes, num_kernels, order, x, y)


cdef fp_status fp_yolo_spp_backward(const fp_pool_params *params, const int64_t *kernel_sizes,
                                    int32_t num_kernels, int32_t order, const fp_tensor *dy,
                                    const fp_tensor *x, fp_tensor *dx) noexcept nogil:
    return c.fp_yolo_spp_backward(params, kernel_sizes, num_kernels, order, dy, x, dx)


# ---- special poolings: bilinear_pool, netvlad ----
cdef fp_status fp_bilinear_params_init(fp_bilinear_params *params) noexcept nogil:
    return c.fp_bilinear_params_init(params)


cdef fp_status fp_bilinear_pool_workspace_size(const fp_bilinear_params *params,
                                               const fp_tensor *x, const fp_tensor *y,
                                               int backward, size_t *bytes) noexcept nogil:
    return c.fp_bilinear_pool_workspace_size(params, x, y, backward, bytes)


cdef fp_status fp_bilinear_pool_forward(const fp_bilinear_params *params, const fp_tensor *x,
                                        const fp_tensor *y, fp_tensor *out, void *workspace,
                                        size_t workspace_size) noexcept nogil:
    return c.fp_bilinear_pool_forward(params, x, y, out, workspace, workspace_size)


cdef fp_status fp_bilinear_pool_backward(const fp_bilinear_params *params,
                                         const fp_tensor *grad_out, const fp_tensor *x,
                                         const fp_tensor *y, fp_tensor *dx, fp_tensor *dy,
                                         void *workspace, size_t workspace_size) noexcept nogil:
    return c.fp_bilinear_pool_backward(params, grad_out, x, y, dx, dy, workspace, workspace_size)


cdef fp_status fp_netvlad_params_init(fp_netvlad_params *params) noexcept nogil:
    return c.fp_netvlad_params_init(params)


cdef fp_status fp_netvlad_workspace_size(const fp_netvlad_params *params, const fp_tensor *x,
                                         int64_t num_clusters, int backward,
                                         size_t *bytes) noexcept nogil:
    return c.fp_netvlad_workspace_size(params, x, num_clusters, backward, bytes)


cdef fp_status fp_netvlad_forward(const fp_netvlad_params *params, const fp_tensor *x,
                                  const fp_tensor *weight, const fp_tensor *bias,
                                  const fp_tensor *centroids, fp_tensor *out, void *workspace,
                                  size_t workspace_size) noexcept nogil:
    return c.fp_netvlad_forward(params, x, weight, bias, centroids, out, workspace, workspace_size)


cdef fp_status fp_netvlad_backward(const fp_netvlad_params *params, const fp_tensor *grad_out,
                                   const fp_tensor *x, const fp_tensor *weight,
                                   const fp_tensor *bias, const fp_tensor *centroids,
                                   fp_tensor *dx, fp_tensor *dweight, fp_tensor *dbias,
                                   fp_tensor *dcentroids, void *workspace,
                                   size_t workspace_size) noexcept nogil:
    return c.fp_netvlad_backward(params, grad_out, x, weight, bias, centroids, dx, dweight, dbias,
                                 dcentroids, workspace, workspace_size)


# ---- special poolings: stochastic, median, mixed ----
cdef fp_status fp_stochastic_pool_forward(const fp_pool_params *params, uint64_t seed,
                                          const fp_tensor *x, fp_tensor *y,
                                          fp_tensor *indices) noexcept nogil:
    return c.fp_stochastic_pool_forward(params, seed, x, y, indices)


cdef fp_status fp_stochastic_pool_weighted_forward(const fp_pool_params *params,
                                                   const fp_tensor *x,
                                                   fp_tensor *y) noexcept nogil:
    return c.fp_stochastic_pool_weighted_forward(params, x, y)


cdef fp_status fp_stochastic_pool_weighted_backward(const fp_pool_params *params,
                                                    const fp_tensor *dy, const fp_tensor *x,
                                                    fp_tensor *dx) noexcept nogil:
    return c.fp_stochastic_pool_weighted_backward(params, dy, x, dx)


cdef fp_status fp_median_pool_forward(const fp_pool_params *params, int32_t even,
                                      const fp_tensor *x, fp_tensor *y,
                                      fp_tensor *indices) noexcept nogil:
    return c.fp_median_pool_forward(params, even, x, y, indices)


cdef fp_status fp_median_pool_backward(const fp_pool_params *params, int32_t even,
                                       const fp_tensor *dy, const fp_tensor *x,
                                       fp_tensor *dx) noexcept nogil:
    return c.fp_median_pool_backward(params, even, dy, x, dx)


cdef fp_status fp_mixed_pool_pair_forward(const fp_pool_params *params, const fp_tensor *x,
                                          fp_tensor *ymax, fp_tensor *yavg) noexcept nogil:
    return c.fp_mixed_pool_pair_forward(params, x, ymax, yavg)


cdef fp_status fp_mixed_pool_forward(const fp_pool_params *params, const fp_tensor *alpha,
                                     const fp_tensor *x, fp_tensor *y) noexcept nogil:
    return c.fp_mixed_pool_forward(params, alpha, x, y)


cdef fp_status fp_mixed_pool_pair_backward(const fp_pool_params *params,
                                           const fp_tensor *dymax, const fp_tensor *dyavg,
                                           const fp_tensor *x, fp_tensor *dx) noexcept nogil:
    return c.fp_mixed_pool_pair_backward(params, dymax, dyavg, x, dx)


cdef fp_status fp_mixed_pool_backward(const fp_pool_params *params, const fp_tensor *alpha,
                                      const fp_tensor *dy, const fp_tensor *x, fp_tensor *dx,
                                      fp_tensor *dalpha) noexcept nogil:
    return c.fp_mixed_pool_backward(params, alpha, dy, x, dx, dalpha)
