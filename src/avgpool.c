/* Average pooling operator: argument checks, kernel choice, threading. */
#include "fp_internal.h"
#include "avgpool_simd.h"

#define FP_IMPL "avgpool_variants.h"
#include "fp_each_dtype.h"
#undef FP_IMPL

typedef void (*fp__avg_fn)(const fp__geom *, const void *, const fp__strides *, void *,
                           const fp__strides *, int64_t, int, int);
typedef int (*fp__avg_disjoint_fn)(const fp__geom *);

/* The kernel table by input dtype slot: forward [output: same dtype,
 * float64 (integer inputs)], backward (floating dtypes). */
static const struct {
  struct {
    fp__avg_fn rows, cinner;
  } fwd[2];
  struct {
    fp__avg_fn rows, cinner, gather;
    fp__avg_disjoint_fn disjoint;
  } bwd;
} avg_kernels[FP_NSLOTS] = {
#define FP_IMPL "avgpool_table.h"
#define FP_TABLE 1 /* an initializer: no target pragmas (fp_each_dtype.h) */
#include "fp_each_dtype.h"
#undef FP_IMPL
};

/* Forward output kind for input dtype `in` written as `out`: 0 same dtype,
 * 1 float64 from an integer input, -1 unsupported. */
static int output_kind(fp_dtype in, fp_dtype out) {
  const int slot = fp__dtype_slot(in);
  if (slot < 0) return -1;
  if (out == in && avg_kernels[slot].fwd[0].rows) return 0;
  if (out == FP_FLOAT64 && avg_kernels[slot].fwd[1].rows) return 1;
  return -1;
}

static int channels_inner(const fp__geom *g, const fp__strides *a, const fp__strides *b) {
  return g->c > 1 && a->c == 1 && b->c == 1 && a->a[2] != 1;
}

/* Shared checks of forward (a = x, b = y) and backward (a = dx, b = dy):
 * a has the pooling input's shape and b the pooled shape. */
static fp_status prepare(const fp_pool_params *params, const fp_tensor *in, const fp_tensor *out,
                         int in_writable, fp__geom *g, fp__strides *is, fp__strides *os) {
  int64_t out_shape[FP_MAX_DIMS];
  fp_status st;
  if (!params || !in || !out) return FP_ERR_NULL_POINTER;
  if (params->struct_size != sizeof(fp_pool_params)) return FP_ERR_STRUCT_SIZE;
  if (in->ndim != params->rank + 2) return FP_ERR_BAD_NDIM;
  if ((st = fp__check_tensor(in, in->ndim, NULL, in_writable, is)) != FP_OK) return st;
  if ((st = fp__geom_init(params, in->shape, g)) != FP_OK) return st;
  fp__geom_out_shape(g, out_shape);
  if ((st = fp__check_tensor(out, in->ndim, out_shape, !in_writable, os)) != FP_OK) return st;
  if (fp__dtype_slot(in->dtype) < 0) return FP_ERR_UNSUPPORTED_DTYPE;
  if (in_writable) { /* backward: floating dtypes, dy of dx's dtype */
    if (!avg_kernels[fp__dtype_slot(in->dtype)].bwd.rows) return FP_ERR_UNSUPPORTED_DTYPE;
    if (out->dtype != in->dtype) return FP_ERR_DTYPE_MISMATCH;
  } else if (output_kind(in->dtype, out->dtype) < 0) {
    return fp_dtype_size(out->dtype) ? FP_ERR_DTYPE_MISMATCH : FP_ERR_UNSUPPORTED_DTYPE;
  }
  if (fp__tensors_overlap(in, out)) return FP_ERR_ALIASING;
  return FP_OK;
}

fp_status fp_avg_pool_forward(const fp_pool_params *params, const fp_tensor *x, fp_tensor *y) {
  fp__geom g;
  fp__strides xs, ys;
  fp_status st = prepare(params, x, y, 0, &g, &xs, &ys);
  if (st != FP_OK) return st;
  const int64_t outputs = g.n * g.c * g.out_plane;
  if (outputs == 0) return FP_OK;
  const int64_t taps = fp__window_taps(&g, 1024);
  const int64_t work = outputs * (taps < 1024 ? taps : 1024);
  const int vs = fp__dtype_slot(x->dtype), ok = output_kind(x->dtype, y->dtype);
  const int cip = (params->flags & FP_FLAG_COUNT_INCLUDE_PAD) != 0;
  if (channels_inner(&g, &xs, &ys)) {
    const int nt = fp__threads(params->num_threads, work, g.n * g.out[0] * g.out[1]);
    avg_kernels[vs].fwd[ok].cinner(&g, x->data, &xs, y->data, &ys, params->divisor_override, cip, nt);
  } else {
    const int nt = fp__threads(params->num_threads, work, g.n * g.c * g.out[0] * g.out[1]);
    avg_kernels[vs].fwd[ok].rows(&g, x->data, &xs, y->data, &ys, params->divisor_override, cip,
                                 nt);
  }
  return FP_OK;
}

fp_status fp_avg_pool_backward(const fp_pool_params *params, const fp_tensor *dy, fp_tensor *dx) {
  fp__geom g;
  fp__strides xs, ys;
  fp_status st = prepare(params, dx, dy, 1, &g, &xs, &ys);
  if (st != FP_OK) return st;
  if (g.n * g.c * g.in_plane == 0) return FP_OK;
  const int64_t taps = fp__window_taps(&g, 1024);
  const int64_t work = g.n * g.c * (g.in_plane + g.out_plane * (taps < 1024 ? taps : 1024));
  const int vs = fp__dtype_slot(dx->dtype);
  const int cip = (params->flags & FP_FLAG_COUNT_INCLUDE_PAD) != 0;
  if (!channels_inner(&g, &xs, &ys) && avg_kernels[vs].bwd.disjoint(&g)) {
    const int nt = fp__threads(params->num_threads, work, g.n * g.c * g.in[0] * g.in[1]);
    avg_kernels[vs].bwd.gather(&g, dy->data, &ys, dx->data, &xs, params->divisor_override, cip,
                               nt);
    return FP_OK;
  }
  if (channels_inner(&g, &xs, &ys)) {
    const int nt = fp__threads(params->num_threads, work, g.n);
    avg_kernels[vs].bwd.cinner(&g, dy->data, &ys, dx->data, &xs, params->divisor_override, cip, nt);
  } else {
    const int nt = fp__threads(params->num_threads, work, g.n * g.c);
    avg_kernels[vs].bwd.rows(&g, dy->data, &ys, dx->data, &xs, params->divisor_override, cip, nt);
  }
  return FP_OK;
}
