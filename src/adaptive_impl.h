/* Adaptive pooling microkernels for one value dtype (and, for max, one index
 * kind).  Included by adaptive.c with FP_T, FP_SFX, FP_IDX_T, FP_ISFX and
 * FP_WITH_IDX like maxpool_impl.h; FP_WITH_AVG 1 adds the average kernels.
 *
 * Windows per axis: start(o) = floor(o*I/O), end(o) = ceil((o+1)*I/O)
 * (fp__adaptive_bounds); every cell of a window is inside the input.
 * Each output (forward) or plane (backward) is owned by one chunk of the
 * parallel driver.
 */
#define KN(name) FP__CAT(FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), FP__CAT(_adaptive_, FP_ISFX)), __), name)

/* Decomposes row r of the (N, C, OD, OH) row space. */
#define FP_ROW_COORDS(r, g, n, c, od, oh)  \
  do {                                     \
    int64_t t_ = (r);                      \
    oh = t_ % (g)->out[1];                 \
    t_ /= (g)->out[1];                     \
    od = t_ % (g)->out[0];                 \
    t_ /= (g)->out[0];                     \
    c = t_ % (g)->c;                       \
    n = t_ / (g)->c;                       \
  } while (0)



/* Output rows [b, e) of the (N, C, OD, OH) row space. */
static void KN(max_rows_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const fp__pool_args *k = (const fp__pool_args *)ctx;
  const fp__geom *g = k->g;
  const FP_T *x = k->x;
  FP_T *y = k->y;
  FP_IDX_T *ix = k->ix;
  const fp__strides *xs = k->xs, *ys = k->ys, *is = k->is;
  const int omit = k->omit;
  (void)ix;
  (void)is;
  (void)slot;
  const int64_t H = g->in[1], W = g->in[2];
  for (int64_t r = b; r < e; r++) {
    int64_t n, c, od, oh, d0, d1, h0, h1;
    FP_ROW_COORDS(r, g, n, c, od, oh);
    fp__adaptive_bounds(g->in[0], g->out[0], od, &d0, &d1);
    fp__adaptive_bounds(g->in[1], g->out[1], oh, &h0, &h1);
    const FP_T *xp = x + n * xs->n + c * xs->c;
    FP_T *yr = y + n * ys->n + c * ys->c + od * ys->a[0] + oh * ys->a[1];
#if FP_WITH_IDX
    FP_IDX_T *ir = ix + n * is->n + c * is->c + od * is->a[0] + oh * is->a[1];
#endif
    for (int64_t ow = 0; ow < g->out[2]; ow++) {
      int64_t w0, w1;
      fp__adaptive_bounds(W, g->out[2], ow, &w0, &w1);
      const int64_t b0[3] = {d0, h0, w0}, cnt[3] = {d1 - d0, h1 - h0, w1 - w0};
      FP_T best;
      int64_t bi;
      FP__CAT(FP__CAT(fp__, FP_SFX), _maxscan)(xp, xs, H, W, b0, fp__unit_steps, cnt, omit, &best, &bi);
      yr[ow * ys->a[2]] = best;
#if FP_WITH_IDX
      ir[ow * is->a[2]] = (FP_IDX_T)bi;
#endif
      (void)bi;
    }
  }
}

void KN(max_rows)(const fp__geom *g, const void *xv, const fp__strides *xs, void *yv,
                  const fp__strides *ys, void *ixv, const fp__strides *is, int omit, int nt) {
  fp__pool_args ctx = {.g = g, .x = xv, .xs = xs, .y = yv, .ys = ys, .ix = ixv, .is = is,
                       .omit = omit};
  fp__parallel(nt, g->n * g->c * g->out[0] * g->out[1], KN(max_rows_chunk), &ctx);
}

#if FP_WITH_AVG && defined(FP_HAVE_VEC) && FP_SLOT <= 1
#  if FP_SLOT == 0
typedef fp__v8f KN(vec);
typedef fp__v8i KN(msk);
#  else
typedef fp__v8d KN(vec);
typedef fp__v8l KN(msk);
#  endif
/* m = m then v in scan order: v replaces m if v > m or v is NaN (first
 * maximum, last NaN), lane-wise. */
#  define FP_AMAX_COMB(m, v)                                          \
    do {                                                              \
      const KN(msk) k_ = ((v) > (m)) | ((v) != (v));                  \
      (m) = (KN(vec))(((KN(msk))(v) & k_) | ((KN(msk))(m) & ~k_));    \
    } while (0)

/* Max pooling values (no indices) of short rows, the max twin of avgpool's
 * short_rows: adaptive windows that are a plain k/s pooling (I a multiple
 * of O, or 15 -> 7), NCHW input and output flat, no padding, W-span
 * (OW-1)*sw + kw <= 16, sw in {1, 2}, kw <= 3.  Per output row: each window
 * row's 16 cells as two 8-lane vectors, its kw taps combined in order, then
 * the window rows in order: the row-major scan of the definition, regrouped
 * (the first-maximum / last-NaN rule is associative), so the same values.
 * Loads past a row stay inside the input, stores past a row end only where
 * later rows of [r0, r1) overwrite them. */
FP_ALWAYS_INLINE void KN(amax_body)(const fp__geom *g, const FP_T *x, FP_T *y, int64_t r0,
                                    int64_t r1, const int64_t sw, const int64_t kw) {
  const int64_t H = g->in[1], W = g->in[2], OH = g->out[1], OW = g->out[2];
  const int64_t kh = g->k[1], sh = g->s[1];
  const int64_t xlen = g->n * g->c * H * W, span = (OW - 1) * sw + kw;
  const int two = OW > 8;
  int64_t p = r0 / OH, oh = r0 % OH;
  for (int64_t r = r0; r < r1; r++) {
    KN(vec) mlo = {0}, mhi = {0};
    const int64_t xrow = p * H * W + oh * sh * W;
    for (int64_t th = 0; th < kh; th++) {
      const int64_t off = xrow + th * W;
      const FP_T *q = x + off;
      FP_T tmp[16];
      if (off + 16 > xlen) {
        for (int j = 0; j < 16; j++) tmp[j] = 0;
        memcpy(tmp, q, (size_t)span * sizeof(FP_T));
        q = tmp;
      }
      KN(vec) a, b;
      memcpy(&a, q, sizeof a);
      memcpy(&b, q + 8, sizeof b);
      KN(vec) hlo = __builtin_shuffle(a, b, FP_HMASK(KN(msk), sw, 0, 0)), hhi = hlo;
      if (two) hhi = __builtin_shuffle(a, b, FP_HMASK(KN(msk), sw, 0, 1));
      for (int64_t t = 1; t < kw; t++) {
        const KN(vec) vlo = __builtin_shuffle(a, b, FP_HMASK(KN(msk), sw, t, 0));
        FP_AMAX_COMB(hlo, vlo);
        if (two) {
          const KN(vec) vhi = __builtin_shuffle(a, b, FP_HMASK(KN(msk), sw, t, 1));
          FP_AMAX_COMB(hhi, vhi);
        }
      }
      if (th == 0) {
        mlo = hlo;
        mhi = hhi;
      } else {
        FP_AMAX_COMB(mlo, hlo);
        if (two) FP_AMAX_COMB(mhi, hhi);
      }
    }
    FP_T *yr = y + r * OW;
    const int64_t lanes = two ? 16 : 8;
    if (r * OW + lanes <= r1 * OW) {
      memcpy(yr, &mlo, sizeof mlo);
      if (two) memcpy(yr + 8, &mhi, sizeof mhi);
    } else {
      FP_T out[16];
      memcpy(out, &mlo, sizeof mlo);
      memcpy(out + 8, &mhi, sizeof mhi);
      for (int64_t j = 0; j < OW; j++) yr[j] = out[j];
    }
    if (++oh == OH) {
      oh = 0;
      p++;
    }
  }
}
#  undef FP_AMAX_COMB

FP_SIMD_CLONES static void KN(amax_short_rows)(const fp__geom *g, const FP_T *x, FP_T *y,
                                               int64_t r0, int64_t r1) {
  const int64_t sw = g->s[2], kw = g->k[2];
  if (sw == 2 && kw == 2) KN(amax_body)(g, x, y, r0, r1, 2, 2);
  else if (sw == 2 && kw == 3) KN(amax_body)(g, x, y, r0, r1, 2, 3);
  else if (sw == 1 && kw == 2) KN(amax_body)(g, x, y, r0, r1, 1, 2);
  else if (sw == 1 && kw == 3) KN(amax_body)(g, x, y, r0, r1, 1, 3);
  else if (sw == 2) KN(amax_body)(g, x, y, r0, r1, 2, 1);
  else KN(amax_body)(g, x, y, r0, r1, 1, 1);
}

typedef struct {
  const fp__geom *g;
  const FP_T *x;
  FP_T *y;
} KN(amax_short_ctx);

/* Output rows [b, e) of the (N, C, OH) row space. */
static void KN(amax_short_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(amax_short_ctx) *k = (const KN(amax_short_ctx) *)ctx;
  (void)slot;
  KN(amax_short_rows)(k->g, k->x, k->y, b, e);
}

/* g: the regular geometry (kernel, stride) of the adaptive windows. */
void KN(amax_short)(const fp__geom *g, const void *xv, void *yv, int nt) {
  KN(amax_short_ctx) ctx = {.g = g, .x = (const FP_T *)xv, .y = (FP_T *)yv};
  fp__parallel(nt, g->n * g->c * g->out[1], KN(amax_short_chunk), &ctx);
}
#endif

#if FP_WITH_AVG
typedef struct {
  const fp__geom *g;
  const FP_T *x;
  const fp__strides *xs;
  FP_AY *y;
  const fp__strides *ys;
} KN(avg_ctx);

/* Output rows [b, e) of the (N, C, OD, OH) row space. */
static void KN(avg_rows_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(avg_ctx) *k = (const KN(avg_ctx) *)ctx;
  const fp__geom *g = k->g;
  const FP_T *x = k->x;
  FP_AY *y = k->y;
  const fp__strides *xs = k->xs, *ys = k->ys;
  (void)slot;
  for (int64_t r = b; r < e; r++) {
    int64_t n, c, od, oh, d0, d1, h0, h1;
    FP_ROW_COORDS(r, g, n, c, od, oh);
    fp__adaptive_bounds(g->in[0], g->out[0], od, &d0, &d1);
    fp__adaptive_bounds(g->in[1], g->out[1], oh, &h0, &h1);
    const FP_T *xp = x + n * xs->n + c * xs->c;
    FP_AY *yr = y + n * ys->n + c * ys->c + od * ys->a[0] + oh * ys->a[1];
    for (int64_t ow = 0; ow < g->out[2]; ow++) {
      int64_t w0, w1;
      fp__adaptive_bounds(g->in[2], g->out[2], ow, &w0, &w1);
      double sum = 0;
      for (int64_t id = d0; id < d1; id++)
        for (int64_t ih = h0; ih < h1; ih++) {
          const FP_T *xr = xp + id * xs->a[0] + ih * xs->a[1];
          if (xs->a[2] == 1) {
            for (int64_t iw = w0; iw < w1; iw++) sum += (double)xr[iw];
          } else {
            for (int64_t iw = w0; iw < w1; iw++) sum += (double)xr[iw * xs->a[2]];
          }
        }
      const double count = (double)((d1 - d0) * (h1 - h0) * (w1 - w0));
      yr[ow * ys->a[2]] = (FP_AY)(sum / count);
    }
  }
}

void KN(avg_rows)(const fp__geom *g, const void *xv, const fp__strides *xs, void *yv,
                  const fp__strides *ys, int nt) {
  KN(avg_ctx) ctx = {.g = g, .x = (const FP_T *)xv, .xs = xs, .y = (FP_AY *)yv, .ys = ys};
  fp__parallel(nt, g->n * g->c * g->out[0] * g->out[1], KN(avg_rows_chunk), &ctx);
}

/* Global average of contiguous planes (x's plane strides are H*W, W, 1):
 * planes [p0, p1).  float32 / float64 planes are summed in double by two
 * 8-lane vector accumulators (cell i into block i / 8 % 2, lane i % 8; a
 * tail of len % 8 cells added in order to a scalar), then the lanes in a
 * fixed tree: the order depends on the plane's length only, never on the
 * thread count.  A 7x7 map is 49 cells, so the per-plane reduction is kept
 * short.  Other dtypes: one FP_ACC sum of four interleaved partials. */
FP_SIMD_CLONES static void KN(plane_means)(const fp__geom *g, const FP_T *x,
                                           const fp__strides *xs, FP_AY *y,
                                           const fp__strides *ys, int64_t p0, int64_t p1) {
  const int64_t len = g->in_plane;
  int64_t c = p0 % g->c, n = p0 / g->c;
  for (int64_t p = p0; p < p1; p++) {
    const FP_T *xp = x + n * xs->n + c * xs->c;
#  if FP_SLOT <= 1 && defined(FP_HAVE_VEC)
    fp__v8d a0 = {0, 0, 0, 0, 0, 0, 0, 0}, a1 = a0;
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
      fp__v8d v0, v1;
      FP__CAT(FP_LOAD8D_, FP_SFX)(v0, xp + i);
      FP__CAT(FP_LOAD8D_, FP_SFX)(v1, xp + i + 8);
      a0 += v0;
      a1 += v1;
    }
    if (i + 8 <= len) {
      fp__v8d v0;
      FP__CAT(FP_LOAD8D_, FP_SFX)(v0, xp + i);
      a0 += v0;
      i += 8;
    }
    double t = 0;
    for (; i < len; i++) t += (double)xp[i];
    a0 += a1;
    const double sum =
        (((a0[0] + a0[4]) + (a0[2] + a0[6])) + ((a0[1] + a0[5]) + (a0[3] + a0[7]))) + t;
#  else
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= len; i += 4) {
      s0 += (double)xp[i];
      s1 += (double)xp[i + 1];
      s2 += (double)xp[i + 2];
      s3 += (double)xp[i + 3];
    }
    for (; i < len; i++) s0 += (double)xp[i];
    const double sum = (s0 + s1) + (s2 + s3);
#  endif
    y[n * ys->n + c * ys->c] = (FP_AY)(sum / (double)len);
    if (++c == g->c) {
      c = 0;
      n++;
    }
  }
}

/* (n, c) planes [b, e). */
static void KN(global_avg_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(avg_ctx) *k = (const KN(avg_ctx) *)ctx;
  (void)slot;
  KN(plane_means)(k->g, k->x, k->xs, k->y, k->ys, b, e);
}

void KN(global_avg)(const fp__geom *g, const void *xv, const fp__strides *xs, void *yv,
                    const fp__strides *ys, int nt) {
  KN(avg_ctx) ctx = {.g = g, .x = (const FP_T *)xv, .xs = xs, .y = (FP_AY *)yv, .ys = ys};
  fp__parallel(nt, g->n * g->c, KN(global_avg_chunk), &ctx);
}

#  if FP_IS_FLOAT
typedef struct {
  const fp__geom *g;
  const FP_T *dy;
  const fp__strides *ys;
  FP_T *dx;
  const fp__strides *xs;
} KN(avg_bwd_ctx);

/* (n, c) planes [b, e) of dx. */
static void KN(avg_bwd_rows_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(avg_bwd_ctx) *k = (const KN(avg_bwd_ctx) *)ctx;
  const fp__geom *g = k->g;
  const FP_T *dy = k->dy;
  FP_T *dx = k->dx;
  const fp__strides *ys = k->ys, *xs = k->xs;
  (void)slot;
  for (int64_t p = b; p < e; p++) {
    const int64_t c = p % g->c, n = p / g->c;
    FP_T *dxp = dx + n * xs->n + c * xs->c;
    const FP_T *dyp = dy + n * ys->n + c * ys->c;
    fp__zero_plane(g, dxp, xs->a, sizeof(FP_T));
    for (int64_t od = 0; od < g->out[0]; od++) {
      int64_t d0, d1;
      fp__adaptive_bounds(g->in[0], g->out[0], od, &d0, &d1);
      for (int64_t oh = 0; oh < g->out[1]; oh++) {
        int64_t h0, h1;
        fp__adaptive_bounds(g->in[1], g->out[1], oh, &h0, &h1);
        for (int64_t ow = 0; ow < g->out[2]; ow++) {
          int64_t w0, w1;
          fp__adaptive_bounds(g->in[2], g->out[2], ow, &w0, &w1);
          const FP_T v = dyp[od * ys->a[0] + oh * ys->a[1] + ow * ys->a[2]] /
                         (FP_T)((d1 - d0) * (h1 - h0) * (w1 - w0));
          for (int64_t id = d0; id < d1; id++)
            for (int64_t ih = h0; ih < h1; ih++) {
              FP_T *xr = dxp + id * xs->a[0] + ih * xs->a[1];
              for (int64_t iw = w0; iw < w1; iw++) xr[iw * xs->a[2]] += v;
            }
        }
      }
    }
  }
}

void KN(avg_bwd_rows)(const fp__geom *g, const void *dyv, const fp__strides *ys, void *dxv,
                      const fp__strides *xs, int nt) {
  KN(avg_bwd_ctx) ctx = {.g = g, .dy = (const FP_T *)dyv, .ys = ys, .dx = (FP_T *)dxv,
                         .xs = xs};
  fp__parallel(nt, g->n * g->c, KN(avg_bwd_rows_chunk), &ctx);
}
#  endif /* FP_IS_FLOAT */
#endif /* FP_WITH_AVG */

#undef KN
#undef FP_ROW_COORDS
