/* Max-unpooling operator (PyTorch max_unpool semantics, validated first). */
#include "fp_internal.h"

#include <stdatomic.h>

#define FP_IMPL "unpool_variants.h"
#include "fp_each_dtype.h"
#undef FP_IMPL

typedef int (*fp__unpool_bad_fn)(const fp__geom *, const void *, const fp__strides *, int64_t, int);
typedef void (*fp__unpool_fn)(const fp__geom *, const void *, const fp__strides *, const void *,
                              const fp__strides *, void *, const fp__strides *, int);

/* [value dtype slot][index dtype: int32, int64] */
static const struct {
  fp__unpool_bad_fn bad;
  fp__unpool_fn fwd, bwd;
} unpool_kernels[FP_NSLOTS][2] = {
#define FP_IMPL "unpool_table.h"
#define FP_TABLE 1 /* an initializer: no target pragmas (fp_each_dtype.h) */
#include "fp_each_dtype.h"
#undef FP_IMPL
};

/* small: x or dx (shape of indices), big: y or dy. */
static fp_status run(const fp_pool_params *params, const fp_tensor *small, int small_writable,
                     const fp_tensor *indices, const fp_tensor *big, int forward) {
  fp__geom g;
  fp__strides ss, is, bs;
  fp_status st;
  if (!params || !small || !indices || !big) return FP_ERR_NULL_POINTER;
  if (params->struct_size != sizeof(fp_pool_params)) return FP_ERR_STRUCT_SIZE;
  if (fp__bad_threads(params->num_threads)) return FP_ERR_INVALID_ARGUMENT;
  const int nd = small->ndim;
  if (nd < 3 || nd > FP_MAX_DIMS || big->ndim != nd) return FP_ERR_BAD_NDIM;
  if ((st = fp__check_tensor(small, nd, NULL, small_writable, &ss)) != FP_OK) return st;
  if ((st = fp__check_tensor(big, nd, NULL, !small_writable, &bs)) != FP_OK) return st;
  if ((st = fp__check_tensor(indices, nd, small->shape, 0, &is)) != FP_OK) return st;
  if ((st = fp__geom_from_shapes(nd - 2, small->shape, big->shape, &g)) != FP_OK) return st;
  const int vs = fp__dtype_slot(small->dtype);
  const int islot = indices->dtype == FP_INT32 ? 0 : indices->dtype == FP_INT64 ? 1 : -1;
  if (vs < 0 || islot < 0 || !unpool_kernels[vs][islot].fwd) return FP_ERR_UNSUPPORTED_DTYPE;
  if (big->dtype != small->dtype) return FP_ERR_DTYPE_MISMATCH;
  const fp_tensor *out = small_writable ? small : big;
  if (fp__tensors_overlap(out, small_writable ? big : small) || fp__tensors_overlap(out, indices))
    return FP_ERR_ALIASING;
  const int64_t n_small = g.n * g.c * g.in_plane, n_big = g.n * g.c * g.out_plane;
  const int nt_check = fp__threads(params->num_threads, n_small, g.n * g.c * g.in[0] * g.in[1]);
  if (n_small > 0 && unpool_kernels[vs][islot].bad(&g, indices->data, &is, g.out_plane, nt_check))
    return FP_ERR_INDEX_OUT_OF_RANGE;
  if (forward) {
    if (n_big == 0) return FP_OK;
    const int nt = fp__threads(params->num_threads, n_small + n_big, g.n * g.c);
    unpool_kernels[vs][islot].fwd(&g, small->data, &ss, indices->data, &is, big->data, &bs, nt);
  } else {
    if (n_small == 0) return FP_OK;
    const int nt = fp__threads(params->num_threads, 2 * n_small, g.n * g.c * g.in[0] * g.in[1]);
    unpool_kernels[vs][islot].bwd(&g, big->data, &bs, indices->data, &is, small->data, &ss, nt);
  }
  return FP_OK;
}

fp_status fp_max_unpool_forward(const fp_pool_params *params, const fp_tensor *x,
                                const fp_tensor *indices, fp_tensor *y) {
  return run(params, x, 0, indices, y, 1);
}

fp_status fp_max_unpool_backward(const fp_pool_params *params, const fp_tensor *dy,
                                 const fp_tensor *indices, fp_tensor *dx) {
  return run(params, dx, 1, indices, dy, 0);
}
