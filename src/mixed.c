/* Mixed max-average pooling operator (Lee et al. 2016): the pair (concat)
 * and the blend, forward and backward (rules in fastpool.h).  Built with
 * -ffp-contract=off (src/CMakeLists.txt) so that the blend is the two
 * products and one sum it is documented to be. */
#include "fp_internal.h"

/* Where a forward writes: the pair (ymax, yavg) or the blend y with alpha
 * (alpha_step 0: one alpha for every channel). */
typedef struct fp__mixed_out {
  void *ymax, *yavg, *y;
  const fp__strides *smax, *savg, *sy;
  const double *alpha;
  int64_t alpha_step;
} fp__mixed_out;

#define FP_IMPL "mixed_impl.h"
#include "fp_each_dtype.h"
#undef FP_IMPL


typedef void (*fp__mix_fwd_fn)(const fp__geom *, const void *, const fp__strides *,
                               const fp__mixed_out *, int64_t, int, int);
typedef void (*fp__mix_pair_bwd_fn)(const fp__geom *, const void *, const fp__strides *,
                                    const void *, const fp__strides *, const void *,
                                    const fp__strides *, void *, const fp__strides *, int64_t,
                                    int, int);
typedef void (*fp__mix_blend_bwd_fn)(const fp__geom *, const double *, int64_t, const void *,
                                     const fp__strides *, const void *, const fp__strides *,
                                     void *, const fp__strides *, double *, int64_t, int64_t,
                                     int, int);

/* By value dtype slot; floating dtypes only. */
static const struct {
  fp__mix_fwd_fn rows, cinner;
  fp__mix_pair_bwd_fn pair_bwd;
  fp__mix_blend_bwd_fn blend_bwd;
} mix_kernels[FP_NSLOTS] = {
#define FP_IMPL "mixed_table.h"
#define FP_TABLE 1 /* an initializer: no target pragmas (fp_each_dtype.h) */
#include "fp_each_dtype.h"
#undef FP_IMPL
};

static fp_status prepare(const fp_pool_params *params, const fp_tensor *x, fp__geom *g,
                         fp__strides *xs, int64_t *out_shape) {
  const fp_status st = fp__special_window_prepare(params, 0, x, g, xs, out_shape);
  if (st != FP_OK) return st;
  const int vs = fp__dtype_slot(x->dtype);
  if (vs < 0 || !mix_kernels[vs].rows) return FP_ERR_UNSUPPORTED_DTYPE;
  return FP_OK;
}

/* alpha: FP_FLOAT64, shape (1) or (C); *step is its element stride, 0 for one. */
static fp_status check_alpha(const fp_tensor *alpha, int64_t C, int64_t *step) {
  fp_status st;
  if (!alpha) return FP_ERR_NULL_POINTER;
  if ((st = fp__check_tensor(alpha, 1, NULL, 0, NULL)) != FP_OK) return st;
  if (alpha->dtype != FP_FLOAT64) return FP_ERR_DTYPE_MISMATCH;
  if (alpha->shape[0] != 1 && alpha->shape[0] != C) return FP_ERR_SHAPE_MISMATCH;
  *step = alpha->shape[0] == 1 ? 0 : alpha->strides[0];
  return FP_OK;
}

static int64_t window_work(const fp__geom *g) {
  const int64_t taps = fp__window_taps(g, 1024);
  return g->n * g->c * g->out_plane * (taps < 1024 ? taps : 1024);
}

static void run_forward(const fp_pool_params *params, const fp__geom *g, const fp_tensor *x,
                        const fp__strides *xs, const fp__mixed_out *out, int cinner) {
  const int vs = fp__dtype_slot(x->dtype);
  const int cip = (params->flags & FP_FLAG_COUNT_INCLUDE_PAD) != 0;
  if (cinner) {
    const int nt = fp__threads(params->num_threads, window_work(g), g->n * g->out_plane);
    mix_kernels[vs].cinner(g, x->data, xs, out, params->divisor_override, cip, nt);
  } else {
    const int nt = fp__threads(params->num_threads, window_work(g),
                               g->n * g->c * g->out[0] * g->out[1]);
    mix_kernels[vs].rows(g, x->data, xs, out, params->divisor_override, cip, nt);
  }
}

/* 1 if a and b are the channels [0, C) and [C, 2C) (either way round) of
 * one tensor of 2C channels whose elements are all distinct. */
static int halves_of_one(const fp_tensor *a, const fp_tensor *b, int64_t C) {
  const int64_t es = (int64_t)fp_dtype_size(a->dtype);
  for (int i = 0; i < a->ndim; i++)
    if (a->strides[i] != b->strides[i] || a->shape[i] != b->shape[i]) return 0;
  const int64_t block = C * a->strides[1];
  const int64_t bytes = (int64_t)((uintptr_t)b->data - (uintptr_t)a->data);
  if (C < 1 || block == 0 || bytes % es != 0) return 0;
  const int64_t gap = bytes / es;
  if (gap != block && gap != -block) return 0;
  fp_tensor whole = gap == block ? *a : *b;
  whole.shape[1] = 2 * C;
  return fp__check_tensor(&whole, whole.ndim, NULL, 1, NULL) == FP_OK;
}

fp_status fp_mixed_pool_pair_forward(const fp_pool_params *params, const fp_tensor *x,
                                     fp_tensor *ymax, fp_tensor *yavg) {
  fp__geom g;
  fp__strides xs, sm, sa;
  int64_t out_shape[FP_MAX_DIMS];
  fp_status st = prepare(params, x, &g, &xs, out_shape);
  if (st != FP_OK) return st;
  if (!ymax || !yavg) return FP_ERR_NULL_POINTER;
  if ((st = fp__check_tensor(ymax, x->ndim, out_shape, 1, &sm)) != FP_OK) return st;
  if ((st = fp__check_tensor(yavg, x->ndim, out_shape, 1, &sa)) != FP_OK) return st;
  if (ymax->dtype != x->dtype || yavg->dtype != x->dtype) return FP_ERR_DTYPE_MISMATCH;
  if (fp__tensors_overlap(ymax, x) || fp__tensors_overlap(yavg, x)) return FP_ERR_ALIASING;
  if (g.n * g.c * g.out_plane == 0) return FP_OK;
  /* The channel halves of one buffer have interleaved spans: they may meet
   * only as the two blocks of one non-overlapping 2C-channel tensor. */
  if (fp__tensors_overlap(ymax, yavg) && !halves_of_one(ymax, yavg, g.c)) return FP_ERR_ALIASING;
  const fp__mixed_out out = {ymax->data, yavg->data, NULL, &sm, &sa, NULL, NULL, 0};
  run_forward(params, &g, x, &xs, &out,
              g.c > 1 && xs.c == 1 && sm.c == 1 && sa.c == 1 && xs.a[2] != 1);
  return FP_OK;
}

fp_status fp_mixed_pool_forward(const fp_pool_params *params, const fp_tensor *alpha,
                                const fp_tensor *x, fp_tensor *y) {
  fp__geom g;
  fp__strides xs, ys;
  int64_t out_shape[FP_MAX_DIMS], step;
  fp_status st = prepare(params, x, &g, &xs, out_shape);
  if (st != FP_OK) return st;
  if ((st = check_alpha(alpha, g.c, &step)) != FP_OK) return st;
  if (!y) return FP_ERR_NULL_POINTER;
  if ((st = fp__check_tensor(y, x->ndim, out_shape, 1, &ys)) != FP_OK) return st;
  if (y->dtype != x->dtype) return FP_ERR_DTYPE_MISMATCH;
  if (fp__tensors_overlap(y, x) || fp__tensors_overlap(y, alpha)) return FP_ERR_ALIASING;
  if (g.n * g.c * g.out_plane == 0) return FP_OK;
  const fp__mixed_out out = {NULL, NULL, y->data, NULL, NULL, &ys, (const double *)alpha->data,
                             step};
  run_forward(params, &g, x, &xs, &out, g.c > 1 && xs.c == 1 && ys.c == 1 && xs.a[2] != 1);
  return FP_OK;
}

fp_status fp_mixed_pool_pair_backward(const fp_pool_params *params, const fp_tensor *dymax,
                                      const fp_tensor *dyavg, const fp_tensor *x, fp_tensor *dx) {
  fp__geom g;
  fp__strides xs, sm, sa, dxs;
  int64_t out_shape[FP_MAX_DIMS];
  fp_status st = prepare(params, x, &g, &xs, out_shape);
  if (st != FP_OK) return st;
  if (!dymax || !dyavg || !dx) return FP_ERR_NULL_POINTER;
  if ((st = fp__check_tensor(dymax, x->ndim, out_shape, 0, &sm)) != FP_OK) return st;
  if ((st = fp__check_tensor(dyavg, x->ndim, out_shape, 0, &sa)) != FP_OK) return st;
  if ((st = fp__check_tensor(dx, x->ndim, x->shape, 1, &dxs)) != FP_OK) return st;
  if (dymax->dtype != x->dtype || dyavg->dtype != x->dtype || dx->dtype != x->dtype)
    return FP_ERR_DTYPE_MISMATCH;
  if (fp__tensors_overlap(dx, x) || fp__tensors_overlap(dx, dymax) ||
      fp__tensors_overlap(dx, dyavg))
    return FP_ERR_ALIASING;
  if (g.n * g.c * g.in_plane == 0) return FP_OK;
  const int nt = fp__threads(params->num_threads, g.n * g.c * g.in_plane + 2 * window_work(&g),
                             g.n * g.c);
  mix_kernels[fp__dtype_slot(x->dtype)].pair_bwd(
      &g, dymax->data, &sm, dyavg->data, &sa, x->data, &xs, dx->data, &dxs,
      params->divisor_override, (params->flags & FP_FLAG_COUNT_INCLUDE_PAD) != 0, nt);
  return FP_OK;
}

fp_status fp_mixed_pool_backward(const fp_pool_params *params, const fp_tensor *alpha,
                                 const fp_tensor *dy, const fp_tensor *x, fp_tensor *dx,
                                 fp_tensor *dalpha) {
  fp__geom g;
  fp__strides xs, dys, dxs;
  int64_t out_shape[FP_MAX_DIMS], step, dstep = 0;
  fp_status st = prepare(params, x, &g, &xs, out_shape);
  if (st != FP_OK) return st;
  if ((st = check_alpha(alpha, g.c, &step)) != FP_OK) return st;
  if (!dy || !dx) return FP_ERR_NULL_POINTER;
  if ((st = fp__check_tensor(dy, x->ndim, out_shape, 0, &dys)) != FP_OK) return st;
  if ((st = fp__check_tensor(dx, x->ndim, x->shape, 1, &dxs)) != FP_OK) return st;
  if (dy->dtype != x->dtype || dx->dtype != x->dtype) return FP_ERR_DTYPE_MISMATCH;
  if (fp__tensors_overlap(dx, x) || fp__tensors_overlap(dx, dy) || fp__tensors_overlap(dx, alpha))
    return FP_ERR_ALIASING;
  if (dalpha) {
    const int64_t cshape[1] = {g.c};
    if ((st = fp__check_tensor(dalpha, 1, cshape, 1, NULL)) != FP_OK) return st;
    if (dalpha->dtype != FP_FLOAT64) return FP_ERR_DTYPE_MISMATCH;
    if (fp__tensors_overlap(dalpha, x) || fp__tensors_overlap(dalpha, dy) ||
        fp__tensors_overlap(dalpha, dx) || fp__tensors_overlap(dalpha, alpha))
      return FP_ERR_ALIASING;
    dstep = dalpha->strides[0];
  }
  if (g.c == 0) return FP_OK;
  const int nt = fp__threads(params->num_threads, g.n * g.c * g.in_plane + 2 * window_work(&g),
                             g.c);
  mix_kernels[fp__dtype_slot(x->dtype)].blend_bwd(
      &g, (const double *)alpha->data, step, dy->data, &dys, x->data, &xs, dx->data, &dxs,
      dalpha ? (double *)dalpha->data : NULL, dstep, params->divisor_override,
      (params->flags & FP_FLAG_COUNT_INCLUDE_PAD) != 0, nt);
  return FP_OK;
}
