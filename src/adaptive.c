/* Adaptive (and so global) max and average pooling operators. */
#include "fp_internal.h"
#include "maxscan.h"
#include "avgpool_simd.h"

static const int64_t fp__unit_steps[3] = {1, 1, 1};

#define FP_IMPL "adaptive_variants.h"
#include "fp_each_dtype.h"
#undef FP_IMPL

/* If adaptive windows along every axis are those of a plain pooling with
 * some kernel k and stride s (always so when I is a multiple of O, and for
 * O = 1), fills params for it and returns 1: the regular kernels then serve,
 * with the same windows, order and results. */
static int uniform_windows(const fp__geom *g, const fp_pool_params *src, fp_pool_params *p) {
  fp_pool_params_init(p, g->rank);
  p->num_threads = src->num_threads;
  p->flags = src->flags & FP_FLAG_NAN_OMIT;
  const int lead = FP_MAX_SPATIAL - g->rank;
  for (int i = 0; i < g->rank; i++) {
    const int64_t I = g->in[lead + i], O = g->out[lead + i];
    int64_t s0, e0, s1, e1;
    fp__adaptive_bounds(I, O, 0, &s0, &e0);
    const int64_t k = e0 - s0;
    int64_t st = k;
    if (O > 1) {
      fp__adaptive_bounds(I, O, 1, &s1, &e1);
      st = s1 - s0;
      if (st < 1) return 0;
    }
    if (O > 4096) return 0; /* not worth the check */
    for (int64_t o = 0; o < O; o++) {
      fp__adaptive_bounds(I, O, o, &s1, &e1);
      if (s1 != o * st || e1 != o * st + k) return 0;
    }
    p->kernel[i] = k;
    p->stride[i] = st;
  }
  return 1;
}

typedef void (*fp__amax_fn)(const fp__geom *, const void *, const fp__strides *, void *,
                            const fp__strides *, void *, const fp__strides *, int, int);
typedef void (*fp__aavg_fn)(const fp__geom *, const void *, const fp__strides *, void *,
                            const fp__strides *, int);

/* By value dtype slot: max [index kind: none, int32, int64]; average for
 * floating dtypes only. */
typedef void (*fp__amax_short_fn)(const fp__geom *, const void *, void *, int);

static const struct {
  fp__amax_fn max[3];
  fp__amax_short_fn max_short;
  fp__aavg_fn fwd, bwd, global;
} adaptive_kernels[FP_NSLOTS] = {
#define FP_IMPL "adaptive_table.h"
#define FP_TABLE 1 /* an initializer: no target pragmas (fp_each_dtype.h) */
#include "fp_each_dtype.h"
#undef FP_IMPL
};

/* Checks shared by every adaptive call: `in` has the pooling input's shape
 * (every spatial extent >= 1), `out` the pooled shape (every extent >= 1). */
static fp_status prepare(const fp_pool_params *params, const fp_tensor *in, int in_writable,
                         const fp_tensor *out, int avg_output, fp__geom *g, fp__strides *is,
                         fp__strides *os) {
  fp_status st;
  if (!params || !in || !out) return FP_ERR_NULL_POINTER;
  if (params->struct_size != sizeof(fp_pool_params)) return FP_ERR_STRUCT_SIZE;
  if (fp__bad_threads(params->num_threads)) return FP_ERR_INVALID_ARGUMENT;
  if (params->flags & ~(uint32_t)FP_FLAG_NAN_OMIT) return FP_ERR_INVALID_ARGUMENT;
  const int nd = in->ndim;
  if (nd < 3 || nd > FP_MAX_DIMS || out->ndim != nd) return FP_ERR_BAD_NDIM;
  if ((st = fp__check_tensor(in, nd, NULL, in_writable, is)) != FP_OK) return st;
  if ((st = fp__check_tensor(out, nd, NULL, !in_writable, os)) != FP_OK) return st;
  if ((st = fp__geom_from_shapes(nd - 2, in->shape, out->shape, g)) != FP_OK) return st;
  for (int i = 2; i < nd; i++) {
    if (out->shape[i] < 1) return FP_ERR_OUTPUT_SIZE;
    if (in->shape[i] < 1) return FP_ERR_BAD_SHAPE;
  }
  if (fp__dtype_slot(in->dtype) < 0 || !adaptive_kernels[fp__dtype_slot(in->dtype)].max[0])
    return FP_ERR_UNSUPPORTED_DTYPE;
  if (out->dtype != in->dtype && !(avg_output && out->dtype == FP_FLOAT64 &&
                                     !adaptive_kernels[fp__dtype_slot(in->dtype)].bwd))
    return FP_ERR_DTYPE_MISMATCH;
  if (fp__tensors_overlap(in, out)) return FP_ERR_ALIASING;
  return FP_OK;
}

/* 1 if the short-row kernels serve geometry g (a plain pooling) on these
 * strides: rank <= 2, NCHW input and output flat, no padding, W-span
 * (OW-1)*sw + kw <= 16 with sw <= 2, kw <= 3, dilation 1. */
static int short_rows_ok(const fp__geom *g, const fp__strides *xs, const fp__strides *ys) {
  const int64_t H = g->in[1], W = g->in[2], OH = g->out[1], OW = g->out[2];
  if (g->in[0] != 1 || g->out[0] != 1 || g->k[0] != 1) return 0;
  if (g->pb[1] || g->pe[1] || g->pb[2] || g->pe[2] || g->d[1] != 1 || g->d[2] != 1) return 0;
  const int64_t span = (OW - 1) * g->s[2] + g->k[2];
  if (g->s[2] > 2 || g->k[2] > 3 || span > 16 || span > W) return 0;
  if (g->k[1] > 16 || (OH - 1) * g->s[1] + g->k[1] > H) return 0;
  if (xs->a[2] != 1 || xs->a[1] != W || (g->c > 1 && xs->c != H * W) ||
      (g->n > 1 && xs->n != g->c * H * W))
    return 0;
  if (ys->a[2] != 1 || ys->a[1] != OW || (g->c > 1 && ys->c != OH * OW) ||
      (g->n > 1 && ys->n != g->c * OH * OW))
    return 0;
  return 1;
}

/* Cells read per output, an upper bound, for the threading threshold. */
static int64_t window_work(const fp__geom *g) {
  int64_t w = 1;
  for (int a = 0; a < 3; a++) {
    int64_t k = g->in[a] / g->out[a] + 2;
    w = w > INT64_MAX / k ? INT64_MAX : w * k;
  }
  return w;
}

fp_status fp_adaptive_max_pool_forward(const fp_pool_params *params, const fp_tensor *x,
                                       fp_tensor *y, fp_tensor *indices) {
  fp__geom g;
  fp__strides xs, ys, is;
  fp_status st = prepare(params, x, 0, y, 0, &g, &xs, &ys);
  if (st != FP_OK) return st;
  int islot = 0;
  if (indices) {
    if ((st = fp__check_tensor(indices, y->ndim, y->shape, 1, &is)) != FP_OK) return st;
    islot = indices->dtype == FP_INT32 ? 1 : indices->dtype == FP_INT64 ? 2 : -1;
    if (islot < 0) return FP_ERR_UNSUPPORTED_DTYPE;
    if (islot == 1 && g.in_plane - 1 > INT32_MAX) return FP_ERR_OVERFLOW;
    if (fp__tensors_overlap(indices, x) || fp__tensors_overlap(indices, y)) return FP_ERR_ALIASING;
  }
  const int64_t outputs = g.n * g.c * g.out_plane;
  if (outputs == 0) return FP_OK;
  fp_pool_params regular;
  if (uniform_windows(&g, params, &regular)) {
    fp__geom rg;
    const fp__amax_short_fn fs = adaptive_kernels[fp__dtype_slot(x->dtype)].max_short;
    if (fs && !indices && !(params->flags & FP_FLAG_NAN_OMIT) &&
        fp__geom_init(&regular, x->shape, &rg) == FP_OK && short_rows_ok(&rg, &xs, &ys)) {
      const int64_t work = outputs * rg.k[1] * rg.k[2];
      fs(&rg, x->data, y->data, fp__threads(params->num_threads, work, rg.n * rg.c * rg.out[1]));
      return FP_OK;
    }
    return fp_max_pool_forward(&regular, x, y, indices);
  }
  const int64_t ww = window_work(&g);
  const int64_t work = outputs > INT64_MAX / ww ? INT64_MAX : outputs * ww;
  const int nt = fp__threads(params->num_threads, work, g.n * g.c * g.out[0] * g.out[1]);
  adaptive_kernels[fp__dtype_slot(x->dtype)].max[islot](&g, x->data, &xs, y->data, &ys,
                                           indices ? indices->data : NULL, &is,
                                           (params->flags & FP_FLAG_NAN_OMIT) != 0, nt);
  return FP_OK;
}

fp_status fp_adaptive_avg_pool_forward(const fp_pool_params *params, const fp_tensor *x,
                                       fp_tensor *y) {
  fp__geom g;
  fp__strides xs, ys;
  fp_status st = prepare(params, x, 0, y, 1, &g, &xs, &ys);
  if (st != FP_OK) return st;
  if (!adaptive_kernels[fp__dtype_slot(x->dtype)].fwd) return FP_ERR_UNSUPPORTED_DTYPE;
  const int64_t outputs = g.n * g.c * g.out_plane;
  if (outputs == 0) return FP_OK;
  const int64_t ww = window_work(&g);
  const int64_t work = outputs > INT64_MAX / ww ? INT64_MAX : outputs * ww;
  if (g.out_plane == 1 && xs.a[2] == 1 && (g.in[1] == 1 || xs.a[1] == g.in[2]) &&
      (g.in[0] == 1 || xs.a[0] == g.in[1] * g.in[2])) {
    const int nt = fp__threads(params->num_threads, g.n * g.c * g.in_plane, g.n * g.c);
    adaptive_kernels[fp__dtype_slot(x->dtype)].global(&g, x->data, &xs, y->data, &ys, nt);
    return FP_OK;
  }
  fp_pool_params regular;
  if (uniform_windows(&g, params, &regular)) return fp_avg_pool_forward(&regular, x, y);
  const int nt = fp__threads(params->num_threads, work, g.n * g.c * g.out[0] * g.out[1]);
  adaptive_kernels[fp__dtype_slot(x->dtype)].fwd(&g, x->data, &xs, y->data, &ys, nt);
  return FP_OK;
}

fp_status fp_adaptive_avg_pool_backward(const fp_pool_params *params, const fp_tensor *dy,
                                        fp_tensor *dx) {
  fp__geom g;
  fp__strides xs, ys;
  fp_status st = prepare(params, dx, 1, dy, 0, &g, &xs, &ys);
  if (st != FP_OK) return st;
  if (!adaptive_kernels[fp__dtype_slot(dx->dtype)].bwd) return FP_ERR_UNSUPPORTED_DTYPE;
  if (g.n * g.c * g.in_plane == 0) return FP_OK;
  fp_pool_params regular;
  if (uniform_windows(&g, params, &regular)) return fp_avg_pool_backward(&regular, dy, dx);
  const int64_t ww = window_work(&g), outputs = g.n * g.c * g.out_plane;
  const int64_t work = outputs > INT64_MAX / ww ? INT64_MAX : outputs * ww;
  const int nt = fp__threads(params->num_threads, work, g.n * g.c);
  adaptive_kernels[fp__dtype_slot(dx->dtype)].bwd(&g, dy->data, &ys, dx->data, &xs, nt);
  return FP_OK;
}
