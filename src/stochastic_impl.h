/* Stochastic-pooling microkernels for one floating value dtype (included by
 * stochastic.c through fp_each_dtype.h; integer dtypes get no kernels):
 *   fp__<SFX>_stochastic__bad            1 if x holds a value that is not finite and >= 0
 *   fp__<SFX>_stochastic__forward        training forward (sampled cell, indices)
 *                                        or inference forward, sum a^2 / sum a
 *   fp__<SFX>_stochastic__weighted_bwd   its gradient
 * The rules are those of fastpool.h; every output is computed by one thread
 * from its own window in tap order, so nothing depends on the thread count.
 */
#if FP_IS_FLOAT
#  define KN(name) FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), _stochastic__), name)
#  define FP_ST_TILE 32
#  define FP_ST_TAPS 32

typedef struct {
  const fp__geom *g;
  const FP_T *x;
  const fp__strides *xs;
  _Atomic int bad;
} KN(bad_ctx);

/* Planes [begin, end); a chunk that starts once a bad value is known stops. */
static void KN(bad_chunk)(void *ctx, int64_t begin, int64_t end, int slot) {
  KN(bad_ctx) *cx = (KN(bad_ctx) *)ctx;
  const fp__geom *g = cx->g;
  const FP_T *x = cx->x;
  const fp__strides *xs = cx->xs;
  (void)slot;
  if (atomic_load_explicit(&cx->bad, memory_order_relaxed)) return;
  int bad = 0;
  for (int64_t p = begin; p < end; p++) {
    const FP_T *xp = x + (p / g->c) * xs->n + (p % g->c) * xs->c;
    int b = 0;
    for (int64_t d = 0; d < g->in[0]; d++)
      for (int64_t h = 0; h < g->in[1]; h++) {
        const FP_T *xr = xp + d * xs->a[0] + h * xs->a[1];
        for (int64_t w = 0; w < g->in[2]; w++) {
          const double v = (double)xr[w * xs->a[2]];
          b |= !(v >= 0 && v <= DBL_MAX); /* NaN fails both */
        }
      }
    bad |= b;
  }
  if (bad) atomic_store_explicit(&cx->bad, 1, memory_order_relaxed);
}

int KN(bad)(const fp__geom *g, const void *xv, const fp__strides *xs, int nt) {
  KN(bad_ctx) ctx = {g, (const FP_T *)xv, xs, 0};
  fp__parallel(nt, g->n * g->c, KN(bad_chunk), &ctx);
  return atomic_load_explicit(&ctx.bad, memory_order_relaxed);
}

/* The chosen cell of one window for the uniform u (fastpool.h's rule):
 * 0 and index -1 for a window wholly in padding. */
static inline void KN(sample_window)(const FP_T *xp, const fp__strides *xs, const fp__geom *g,
                                     const int64_t o[3], double u, FP_T *yv, int64_t *yi) {
  int64_t st[3], b0[3], cnt[3];
  if (!fp__window_box(g, o, st, b0, cnt)) {
    *yv = (FP_T)0;
    *yi = -1;
    return;
  }
  const int64_t H = g->in[1], W = g->in[2];
  double sum = 0;
  for (int64_t j0 = 0; j0 < cnt[0]; j0++)
    for (int64_t j1 = 0; j1 < cnt[1]; j1++) {
      const FP_T *xr = xp + (b0[0] + j0 * g->d[0]) * xs->a[0] + (b0[1] + j1 * g->d[1]) * xs->a[1];
      for (int64_t j2 = 0; j2 < cnt[2]; j2++) sum += (double)xr[(b0[2] + j2 * g->d[2]) * xs->a[2]];
    }
  const double thr = u * sum;
  double run = 0;
  FP_T v = (FP_T)0;
  int64_t flat = -1;
  for (int64_t j0 = 0; j0 < cnt[0]; j0++) {
    const int64_t id = b0[0] + j0 * g->d[0];
    for (int64_t j1 = 0; j1 < cnt[1]; j1++) {
      const int64_t ih = b0[1] + j1 * g->d[1];
      const FP_T *xr = xp + id * xs->a[0] + ih * xs->a[1];
      for (int64_t j2 = 0; j2 < cnt[2]; j2++) {
        const int64_t iw = b0[2] + j2 * g->d[2];
        v = xr[iw * xs->a[2]];
        flat = (id * H + ih) * W + iw;
        run += (double)v;
        if (run >= thr) goto chosen;
      }
    }
  }
  /* not reached: the last running sum is the sum itself, and u < 1 */
chosen:
  *yv = v;
  *yi = flat;
}

static inline void KN(store_index)(void *ix, int ikind, int64_t off, int64_t v) {
  if (ikind == 1)
    ((int32_t *)ix)[off] = (int32_t)v;
  else if (ikind == 2)
    ((int64_t *)ix)[off] = v;
}

/* Interior outputs [lo, hi) of one output row whose windows are the nr
 * window rows xr[] (flat row bases fb[]) times kw taps, FP_ST_TILE at a
 * time with the constant tile width: the running sums of every tap in
 * double, then (training) the chosen tap is the number of running sums below
 * u * S, the first one reaching it being the rule's; (inference) S2 / S1.
 * The sums are those of the per-window definition, in the same order. */
FP_SIMD_CLONES static void KN(row_tile)(int training, uint64_t key, int64_t obase,
                                        const FP_T *const *xr, const int64_t *fb, int64_t nr,
                                        int64_t lo, int64_t hi, int64_t sw, int64_t kw,
                                        int64_t dw, int64_t pw, int64_t xsw, FP_T *yr,
                                        int64_t ysw, void *ix, int ikind, int64_t irow,
                                        int64_t isw) {
  double run[FP_ST_TAPS][FP_ST_TILE], acc[FP_ST_TILE], acc2[FP_ST_TILE], v[FP_ST_TILE];
  int cnt[FP_ST_TILE];
  const int m = (int)(nr * kw);
  for (int64_t j0 = lo; j0 < hi; j0 += FP_ST_TILE) {
    const int64_t nj = hi - j0 < FP_ST_TILE ? hi - j0 : FP_ST_TILE;
    for (int j = 0; j < FP_ST_TILE; j++) acc[j] = acc2[j] = 0;
    for (int t = 0; t < m; t++) {
      const FP_T *src = xr[t / kw] + ((t % kw) * dw - pw + j0 * sw) * xsw;
      for (int64_t j = 0; j < nj; j++) v[j] = (double)src[j * sw * xsw];
      for (int64_t j = nj; j < FP_ST_TILE; j++) v[j] = 0;
      for (int j = 0; j < FP_ST_TILE; j++) {
        acc[j] += v[j];
        acc2[j] += v[j] * v[j];
        run[t][j] = acc[j];
      }
    }
    if (!training) {
      for (int64_t j = 0; j < nj; j++)
        yr[(j0 + j) * ysw] = (FP_T)(acc[j] > 0 ? acc2[j] / acc[j] : 0.0);
      continue;
    }
    double thr[FP_ST_TILE];
    for (int j = 0; j < FP_ST_TILE; j++) {
      thr[j] = j < nj ? fp__unit_uniform(key, obase + j0 + j) * acc[j] : 0.0;
      cnt[j] = 0;
    }
    for (int t = 0; t < m; t++)
      for (int j = 0; j < FP_ST_TILE; j++) cnt[j] += run[t][j] < thr[j];
    for (int64_t j = 0; j < nj; j++) {
      const int t = cnt[j];
      const int64_t pos = (j0 + j) * sw - pw + (t % kw) * dw;
      yr[(j0 + j) * ysw] = xr[t / kw][pos * xsw];
      KN(store_index)(ix, ikind, irow + (j0 + j) * isw, fb[t / kw] + pos);
    }
  }
}

static void KN(weighted_window)(const FP_T *xp, const fp__strides *xs, const fp__geom *g,
                                const int64_t o[3], FP_T *yv);

typedef struct {
  const fp__geom *g;
  int training;
  uint64_t kseed;
  const FP_T *x;
  const fp__strides *xs;
  FP_T *y;
  const fp__strides *ys;
  void *ix;
  const fp__strides *is;
  int ikind;
  int64_t ow_lo, ow_hi; /* rows only */
} KN(fwd_ctx);

/* (n, c, od, oh) rows [b, e) of the forward. */
static void KN(fwd_rows_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(fwd_ctx) *cx = (const KN(fwd_ctx) *)ctx;
  const fp__geom *g = cx->g;
  const int training = cx->training, ikind = cx->ikind;
  const uint64_t kseed = cx->kseed;
  const FP_T *x = cx->x;
  FP_T *y = cx->y;
  const fp__strides *xs = cx->xs, *ys = cx->ys, *is = cx->is;
  void *ix = cx->ix;
  const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2], C = g->c;
  const int64_t H = g->in[1], W = g->in[2];
  const int64_t ow_lo = cx->ow_lo, ow_hi = cx->ow_hi;
  (void)slot;
  for (int64_t r = b; r < e; r++) {
    const int64_t oh = r % OH, od = (r / OH) % OD, c = (r / (OH * OD)) % C, n = r / (OH * OD * C);
    const uint64_t key = fp__splitmix(fp__splitmix(kseed ^ (uint64_t)n) ^ (uint64_t)c);
    const FP_T *xp = x + n * xs->n + c * xs->c;
    FP_T *yr = y + n * ys->n + c * ys->c + od * ys->a[0] + oh * ys->a[1];
    const int64_t ir = n * is->n + c * is->c + od * is->a[0] + oh * is->a[1];
    int64_t td0, td1, th0, th1;
    const int64_t sd = od * g->s[0] - g->pb[0], sh = oh * g->s[1] - g->pb[1];
    fp__tap_range(sd, g->k[0], g->d[0], g->in[0], &td0, &td1);
    fp__tap_range(sh, g->k[1], g->d[1], H, &th0, &th1);
    const int64_t nr = (td1 - td0) * (th1 - th0);
    const int tile = td0 < td1 && th0 < th1 && ow_lo < ow_hi && nr * g->k[2] <= FP_ST_TAPS;
    for (int64_t ow = 0; ow < OW; ow++) {
      if (tile && ow == ow_lo) ow = ow_hi;
      if (ow >= OW) break;
      const int64_t o[3] = {od, oh, ow};
      if (!training) {
        KN(weighted_window)(xp, xs, g, o, &yr[ow * ys->a[2]]);
        continue;
      }
      FP_T v;
      int64_t bi;
      KN(sample_window)(xp, xs, g, o, fp__unit_uniform(key, (od * OH + oh) * OW + ow), &v, &bi);
      yr[ow * ys->a[2]] = v;
      KN(store_index)(ix, ikind, ir + ow * is->a[2], bi);
    }
    if (!tile) continue;
    const FP_T *xr[FP_ST_TAPS];
    int64_t fb[FP_ST_TAPS], j = 0;
    for (int64_t td = td0; td < td1; td++)
      for (int64_t th = th0; th < th1; th++, j++) {
        const int64_t id = sd + td * g->d[0], ih = sh + th * g->d[1];
        xr[j] = xp + id * xs->a[0] + ih * xs->a[1];
        fb[j] = (id * H + ih) * W;
      }
    KN(row_tile)(training, key, (od * OH + oh) * OW, xr, fb, nr, ow_lo, ow_hi, g->s[2],
                 g->k[2], g->d[2], g->pb[2], xs->a[2], yr, ys->a[2], ix, ikind, ir, is->a[2]);
  }
}

/* (n, od, oh, ow) positions [b, e) of the forward, channels innermost. */
static void KN(fwd_cinner_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(fwd_ctx) *cx = (const KN(fwd_ctx) *)ctx;
  const fp__geom *g = cx->g;
  const int training = cx->training, ikind = cx->ikind;
  const uint64_t kseed = cx->kseed;
  const FP_T *x = cx->x;
  FP_T *y = cx->y;
  const fp__strides *xs = cx->xs, *ys = cx->ys, *is = cx->is;
  void *ix = cx->ix;
  const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2], C = g->c;
  (void)slot;
  for (int64_t r = b; r < e; r++) {
    const int64_t ow = r % OW, oh = (r / OW) % OH, od = (r / (OW * OH)) % OD, n = r / (OW * OH * OD);
    const int64_t o[3] = {od, oh, ow}, flat_o = (od * OH + oh) * OW + ow;
    const uint64_t kn = fp__splitmix(kseed ^ (uint64_t)n);
    const int64_t yo = n * ys->n + od * ys->a[0] + oh * ys->a[1] + ow * ys->a[2];
    const int64_t io = n * is->n + od * is->a[0] + oh * is->a[1] + ow * is->a[2];
    for (int64_t c = 0; c < C; c++) {
      const FP_T *xp = x + n * xs->n + c * xs->c;
      if (!training) {
        KN(weighted_window)(xp, xs, g, o, &y[yo + c * ys->c]);
        continue;
      }
      const uint64_t key = fp__splitmix(kn ^ (uint64_t)c);
      FP_T v;
      int64_t bi;
      KN(sample_window)(xp, xs, g, o, fp__unit_uniform(key, flat_o), &v, &bi);
      y[yo + c * ys->c] = v;
      KN(store_index)(ix, ikind, io + c * is->c, bi);
    }
  }
}

/* Training (sampled, with indices) or inference forward over every output:
 * (n, c, od, oh) rows in parallel when the channels are not the unit-stride
 * axis, else (n, position) with channels innermost; one thread per output. */
void KN(forward)(const fp__geom *g, int training, uint64_t seed, const void *xv,
                 const fp__strides *xs, void *yv, const fp__strides *ys, void *ix,
                 const fp__strides *is, int ikind, int cinner, int nt) {
  KN(fwd_ctx) ctx = {g, training, fp__splitmix(seed), (const FP_T *)xv, xs, (FP_T *)yv, ys, ix,
                     is, ikind, 0, 0};
  if (!cinner) {
    fp__interior_cols(g, &ctx.ow_lo, &ctx.ow_hi);
    fp__parallel(nt, g->n * g->c * g->out[0] * g->out[1], KN(fwd_rows_chunk), &ctx);
    return;
  }
  fp__parallel(nt, g->n * g->out[0] * g->out[1] * g->out[2], KN(fwd_cinner_chunk), &ctx);
}

/* (S1, S2) = (sum a, sum a^2) over the window's valid cells; 0 if empty. */
static inline int KN(sums)(const FP_T *xp, const fp__strides *xs, const fp__geom *g,
                           const int64_t o[3], int64_t b0[3], int64_t cnt[3], double *s1,
                           double *s2) {
  int64_t st[3];
  double a1 = 0, a2 = 0;
  if (!fp__window_box(g, o, st, b0, cnt)) {
    *s1 = *s2 = 0;
    return 0;
  }
  for (int64_t j0 = 0; j0 < cnt[0]; j0++)
    for (int64_t j1 = 0; j1 < cnt[1]; j1++) {
      const FP_T *xr = xp + (b0[0] + j0 * g->d[0]) * xs->a[0] + (b0[1] + j1 * g->d[1]) * xs->a[1];
      for (int64_t j2 = 0; j2 < cnt[2]; j2++) {
        const double v = (double)xr[(b0[2] + j2 * g->d[2]) * xs->a[2]];
        a1 += v;
        a2 += v * v;
      }
    }
  *s1 = a1;
  *s2 = a2;
  return 1;
}

static void KN(weighted_window)(const FP_T *xp, const fp__strides *xs, const fp__geom *g,
                                const int64_t o[3], FP_T *yv) {
  int64_t b0[3], cnt[3];
  double s1, s2;
  KN(sums)(xp, xs, g, o, b0, cnt, &s1, &s2);
  *yv = (FP_T)(s1 > 0 ? s2 / s1 : 0.0);
}

typedef struct {
  const fp__geom *g;
  const FP_T *dy, *x;
  FP_T *dx;
  const fp__strides *dys, *xs, *dxs;
} KN(wbwd_ctx);

/* dx_j += dy * (2 a_j - y) / S1 with y = S2 / S1, which is the exact
 * (2 a_j S1 - S2) / S1^2 of fastpool.h; one plane per task: planes [b, e). */
static void KN(wbwd_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(wbwd_ctx) *cx = (const KN(wbwd_ctx) *)ctx;
  const fp__geom *g = cx->g;
  const FP_T *dy = cx->dy, *x = cx->x;
  FP_T *dx = cx->dx;
  const fp__strides *dys = cx->dys, *xs = cx->xs, *dxs = cx->dxs;
  (void)slot;
  for (int64_t p = b; p < e; p++) {
    const int64_t c = p % g->c, n = p / g->c;
    const FP_T *xp = x + n * xs->n + c * xs->c;
    const FP_T *dyp = dy + n * dys->n + c * dys->c;
    FP_T *dxp = dx + n * dxs->n + c * dxs->c;
    fp__zero_plane(g, dxp, dxs->a, sizeof(FP_T));
    for (int64_t od = 0; od < g->out[0]; od++)
      for (int64_t oh = 0; oh < g->out[1]; oh++)
        for (int64_t ow = 0; ow < g->out[2]; ow++) {
          const int64_t o[3] = {od, oh, ow};
          int64_t b0[3], cnt[3];
          double s1, s2;
          if (!KN(sums)(xp, xs, g, o, b0, cnt, &s1, &s2) || !(s1 > 0)) continue;
          const double gy = (double)dyp[od * dys->a[0] + oh * dys->a[1] + ow * dys->a[2]];
          const double yo = s2 / s1, scale = gy / s1;
          for (int64_t j0 = 0; j0 < cnt[0]; j0++)
            for (int64_t j1 = 0; j1 < cnt[1]; j1++) {
              const int64_t id = b0[0] + j0 * g->d[0], ih = b0[1] + j1 * g->d[1];
              const FP_T *xr = xp + id * xs->a[0] + ih * xs->a[1];
              FP_T *dr = dxp + id * dxs->a[0] + ih * dxs->a[1];
              for (int64_t j2 = 0; j2 < cnt[2]; j2++) {
                const int64_t iw = b0[2] + j2 * g->d[2];
                dr[iw * dxs->a[2]] += (FP_T)(scale * (2.0 * (double)xr[iw * xs->a[2]] - yo));
              }
            }
        }
  }
}

void KN(weighted_bwd)(const fp__geom *g, const void *dyv, const fp__strides *dys, const void *xv,
                      const fp__strides *xs, void *dxv, const fp__strides *dxs, int nt) {
  KN(wbwd_ctx) ctx = {g, (const FP_T *)dyv, (const FP_T *)xv, (FP_T *)dxv, dys, xs, dxs};
  fp__parallel(nt, g->n * g->c, KN(wbwd_chunk), &ctx);
}

#  undef FP_ST_TILE
#  undef FP_ST_TAPS
#  undef KN
#endif /* FP_IS_FLOAT */
