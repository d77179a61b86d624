/* Lp pooling operator (ONNX LpPool semantics; PyTorch lp_pool where defined). */
#include "fp_internal.h"

/* The power of a call, chosen once so inner loops do not branch on it. */
enum { FP_LP_ONE, FP_LP_TWO, FP_LP_INF, FP_LP_INT, FP_LP_GENERAL };

#define FP_IMPL "lppool_impl.h"
#define FP_EACH_FLOAT 1
#define FP_EACH_NO_F16 1 /* float32, float64 (fp_each_dtype.h) */
#include "fp_each_dtype.h"
#undef FP_IMPL

typedef void (*fp__lp_fwd_fn)(const fp__geom *, double, const void *, const fp__strides *, void *,
                              const fp__strides *, int);
typedef void (*fp__lp_bwd_fn)(const fp__geom *, double, const void *, const fp__strides *,
                              const void *, const fp__strides *, const void *, const fp__strides *,
                              void *, const fp__strides *, int);
/* By value dtype slot; float32 and float64 only. */
static const struct {
  fp__lp_fwd_fn fwd;
  fp__lp_bwd_fn bwd;
} lp_kernels[FP_NSLOTS] = {
#define FP_IMPL "lppool_impl.h"
#define FP_TABLE 1 /* the rows of this table (lppool_impl.h) */
#define FP_EACH_FLOAT 1
#define FP_EACH_NO_F16 1
#include "fp_each_dtype.h"
#undef FP_IMPL
};

static fp_status check_common(const fp_pool_params *params, double p, const fp_tensor *x,
                              fp__geom *g, fp__strides *xs, int64_t *out_shape) {
  fp_status st;
  if (!params || !x) return FP_ERR_NULL_POINTER;
  if (params->struct_size != sizeof(fp_pool_params)) return FP_ERR_STRUCT_SIZE;
  if (!(p > 0)) return FP_ERR_INVALID_ARGUMENT; /* also rejects NaN */
  if (x->ndim != params->rank + 2) return FP_ERR_BAD_NDIM;
  if ((st = fp__check_tensor(x, x->ndim, NULL, 0, xs)) != FP_OK) return st;
  if ((st = fp__geom_init(params, x->shape, g)) != FP_OK) return st;
  fp__geom_out_shape(g, out_shape);
  const int vs = fp__dtype_slot(x->dtype);
  if (vs < 0 || !lp_kernels[vs].fwd) return FP_ERR_UNSUPPORTED_DTYPE;
  return FP_OK;
}

fp_status fp_lp_pool_forward(const fp_pool_params *params, double p, const fp_tensor *x,
                             fp_tensor *y) {
  fp__geom g;
  fp__strides xs, ys;
  int64_t out_shape[FP_MAX_DIMS];
  fp_status st = check_common(params, p, x, &g, &xs, out_shape);
  if (st != FP_OK) return st;
  if (!y) return FP_ERR_NULL_POINTER;
  if ((st = fp__check_tensor(y, x->ndim, out_shape, 1, &ys)) != FP_OK) return st;
  if (y->dtype != x->dtype) return FP_ERR_DTYPE_MISMATCH;
  if (fp__tensors_overlap(x, y)) return FP_ERR_ALIASING;
  const int64_t outputs = g.n * g.c * g.out_plane;
  if (outputs == 0) return FP_OK;
  const int64_t taps = fp__window_taps(&g, 1024);
  const int nt = fp__threads(params->num_threads, outputs * (taps < 1024 ? taps : 1024) * 4,
                             g.n * g.c * g.out[0] * g.out[1]);
  lp_kernels[fp__dtype_slot(x->dtype)].fwd(&g, p, x->data, &xs, y->data, &ys, nt);
  return FP_OK;
}

fp_status fp_lp_pool_backward(const fp_pool_params *params, double p, const fp_tensor *dy,
                              const fp_tensor *x, const fp_tensor *y, fp_tensor *dx) {
  fp__geom g;
  fp__strides xs, ys, dys, dxs;
  int64_t out_shape[FP_MAX_DIMS];
  fp_status st = check_common(params, p, x, &g, &xs, out_shape);
  if (st != FP_OK) return st;
  if (!dy || !y || !dx) return FP_ERR_NULL_POINTER;
  if ((st = fp__check_tensor(y, x->ndim, out_shape, 0, &ys)) != FP_OK) return st;
  if ((st = fp__check_tensor(dy, x->ndim, out_shape, 0, &dys)) != FP_OK) return st;
  if ((st = fp__check_tensor(dx, x->ndim, x->shape, 1, &dxs)) != FP_OK) return st;
  if (y->dtype != x->dtype || dy->dtype != x->dtype || dx->dtype != x->dtype)
    return FP_ERR_DTYPE_MISMATCH;
  if (fp__tensors_overlap(dx, x) || fp__tensors_overlap(dx, y) || fp__tensors_overlap(dx, dy))
    return FP_ERR_ALIASING;
  if (g.n * g.c * g.in_plane == 0) return FP_OK;
  const int64_t taps = fp__window_taps(&g, 1024);
  const int64_t work = g.n * g.c * (g.in_plane + g.out_plane * (taps < 1024 ? taps : 1024) * 4);
  const int nt = fp__threads(params->num_threads, work, g.n * g.c);
  lp_kernels[fp__dtype_slot(x->dtype)].bwd(&g, p, dy->data, &dys, x->data, &xs, y->data, &ys,
                                           dx->data, &dxs, nt);
  return FP_OK;
}
