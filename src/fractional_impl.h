/* Fractional max-pooling microkernels for one value dtype, included by
 * fractional.c through fp_each_dtype.h (float32, float64): the kernels
 * below once per index kind (none, int32, int64: this file includes itself
 * with FP_IDX_T, FP_ISFX, FP_WITH_IDX), or with FP_TABLE the dtype's row of
 * the kernel table.
 * Window starts follow PyTorch exactly, computed in the value dtype:
 *   alpha = (I - k) / (O - 1); start[i] = int((i + u) * alpha) - int(u * alpha);
 *   start[O - 1] = I - k
 * with u the plane's sample for that axis (samples in logical axis order). */
#if defined(FP_TABLE)
#  define FP_K(isfx, name) \
    FP__CAT(FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), _fractional_), isfx), FP__CAT(__, name))
[FP_SLOT] = {{FP_K(x, fwd), FP_K(i32, fwd), FP_K(i64, fwd)}, FP_K(x, bad_samples)},
#  undef FP_K
#elif !defined(FP_ISFX)
#  define FP_IDX_T int64_t
#  define FP_ISFX x
#  define FP_WITH_IDX 0
#  include "fractional_impl.h"
#  undef FP_IDX_T
#  undef FP_ISFX
#  undef FP_WITH_IDX
#  define FP_WITH_IDX 1
#  define FP_IDX_T int32_t
#  define FP_ISFX i32
#  include "fractional_impl.h"
#  undef FP_IDX_T
#  undef FP_ISFX
#  define FP_IDX_T int64_t
#  define FP_ISFX i64
#  include "fractional_impl.h"
#  undef FP_IDX_T
#  undef FP_ISFX
#  undef FP_WITH_IDX
#else
#define KN(name) FP__CAT(FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), FP__CAT(_fractional_, FP_ISFX)), __), name)

static inline int64_t KN(start)(FP_T u, int64_t in, int64_t out, int64_t k, int64_t i) {
  if (i == out - 1) return in - k;
  const FP_T alpha = (FP_T)(in - k) / (FP_T)(out - 1);
  return (int64_t)(int)(((FP_T)i + u) * alpha) - (int64_t)(int)(u * alpha);
}

typedef struct {
  const fp__geom *g;
  const FP_T *smp;
  const fp__strides *ss;
  int64_t ss_axis;
  const FP_T *x;
  const fp__strides *xs;
  FP_T *y;
  const fp__strides *ys;
  FP_IDX_T *ix;
  const fp__strides *is;
  int omit;
} KN(fwd_ctx);

/* Output rows [r0, r1) of the (N, C, OD, OH) row space. */
static void KN(fwd_chunk)(void *ctx, int64_t r0, int64_t r1, int slot) {
  const KN(fwd_ctx) *cx = (const KN(fwd_ctx) *)ctx;
  const fp__geom *g = cx->g;
  const FP_T *smp = cx->smp, *x = cx->x;
  const fp__strides *ss = cx->ss, *xs = cx->xs, *ys = cx->ys, *is = cx->is;
  const int64_t ss_axis = cx->ss_axis;
  FP_T *y = cx->y;
  FP_IDX_T *ix = cx->ix;
  const int omit = cx->omit;
  (void)ix;
  (void)is;
  (void)slot;
  const int lead = FP_MAX_SPATIAL - g->rank;
  static const int64_t steps[3] = {1, 1, 1};
  for (int64_t r = r0; r < r1; r++) {
    int64_t t = r;
    const int64_t oh = t % g->out[1];
    t /= g->out[1];
    const int64_t od = t % g->out[0];
    t /= g->out[0];
    const int64_t c = t % g->c, n = t / g->c;
    FP_T u[3] = {0, 0, 0};
    const FP_T *sp = smp + n * ss->n + c * ss->c;
    for (int a = lead; a < 3; a++) u[a] = sp[(a - lead) * ss_axis];
    int64_t b0[3];
    b0[0] = KN(start)(u[0], g->in[0], g->out[0], g->k[0], od);
    b0[1] = KN(start)(u[1], g->in[1], g->out[1], g->k[1], oh);
    const FP_T *xp = x + n * xs->n + c * xs->c;
    FP_T *yr = y + n * ys->n + c * ys->c + od * ys->a[0] + oh * ys->a[1];
#if FP_WITH_IDX
    FP_IDX_T *ir = ix + n * is->n + c * is->c + od * is->a[0] + oh * is->a[1];
#endif
    for (int64_t ow = 0; ow < g->out[2]; ow++) {
      b0[2] = KN(start)(u[2], g->in[2], g->out[2], g->k[2], ow);
      FP_T v;
      int64_t bi;
      FP__CAT(FP__CAT(fp__, FP_SFX), _maxscan)(xp, xs, g->in[1], g->in[2], b0, steps, g->k, omit,
                                                &v, &bi);
      yr[ow * ys->a[2]] = v;
#if FP_WITH_IDX
      ir[ow * is->a[2]] = (FP_IDX_T)bi;
#endif
      (void)bi;
    }
  }
}

/* samples: (N, C, 3) view in logical D, H, W order (dummy axes unused). */
void KN(fwd)(const fp__geom *g, const void *sv, const fp__strides *ss, int64_t ss_axis,
             const void *xv, const fp__strides *xs, void *yv, const fp__strides *ys, void *ixv,
             const fp__strides *is, int omit, int nt) {
  const int64_t rows = g->n * g->c * g->out[0] * g->out[1];
  KN(fwd_ctx) ctx = {g, (const FP_T *)sv, ss, ss_axis, (const FP_T *)xv, xs, (FP_T *)yv, ys,
                     (FP_IDX_T *)ixv, is, omit};
  fp__parallel(nt, rows, KN(fwd_chunk), &ctx);
}

#if !FP_WITH_IDX
/* 1 if any sample is outside [0, 1) (or NaN); once per value dtype. */
int KN(bad_samples)(const fp__geom *g, const void *sv, const fp__strides *ss, int64_t ss_axis) {
  const FP_T *smp = (const FP_T *)sv;
  for (int64_t n = 0; n < g->n; n++)
    for (int64_t c = 0; c < g->c; c++)
      for (int a = 0; a < g->rank; a++) {
        const FP_T u = smp[n * ss->n + c * ss->c + a * ss_axis];
        if (!(u >= 0 && u < 1)) return 1;
      }
  return 0;
}
#endif

#undef KN
#endif /* FP_TABLE, FP_ISFX */
