/* Lp-pooling microkernels for one value dtype: y = (sum |x|^p)^(1/p) over the
 * valid cells of each window (padding contributes 0), p = inf: max |x|.
 * Included by lppool.c through fp_each_dtype.h (float32, float64), and
 * again with FP_TABLE for the dtype's row of its kernel table.  The power is
 * chosen once per call (p = 1, 2, inf, other) so the inner loops do not
 * branch on it. */
#define KN(name) FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), _lppool__), name)
#ifdef FP_TABLE
[FP_SLOT] = {KN(fwd), KN(bwd)},
#else

/* Window taps along each axis: starts st[], valid tap ranges [t0, t1). */
static inline int KN(taps)(const fp__geom *g, const int64_t o[3], int64_t st[3], int64_t t0[3],
                           int64_t t1[3]) {
  for (int a = 0; a < 3; a++) {
    st[a] = o[a] * g->s[a] - g->pb[a];
    fp__tap_range(st[a], g->k[a], g->d[a], g->in[a], &t0[a], &t1[a]);
    if (t0[a] >= t1[a]) return 0;
  }
  return 1;
}

/* One term of the window's accumulation, in the order of the definition
 * (window rows, then taps): p = 1 |x|, p = 2 |x|*|x|, integer p in [3, 16]
 * p-1 products (no pow per cell), inf the running max of |x| (NaN sticks),
 * other p pow(|x|, p).  All in double. */
FP_ALWAYS_INLINE double KN(step)(double acc, double v, const int kind, const int ip, double p) {
  switch (kind) {
    case FP_LP_ONE: return acc + v;
    case FP_LP_TWO: return acc + v * v;
    case FP_LP_INF: return (v > acc || v != v) ? v : acc;
    case FP_LP_INT: {
      double r = v;
      for (int i = 1; i < ip; i++) r *= v;
      return acc + r;
    }
    default: return acc + pow(v, p);
  }
}

FP_ALWAYS_INLINE double KN(finish)(double acc, const int kind, double p) {
  switch (kind) {
    case FP_LP_ONE: case FP_LP_INF: return acc;
    case FP_LP_TWO: return sqrt(acc);
    default: return pow(acc, 1.0 / p);
  }
}

/* One output from the definition (the border outputs of a row). */
FP_ALWAYS_INLINE double KN(window)(const fp__geom *g, const FP_T *xp, const fp__strides *xs,
                                   const int64_t o[3], const int kind, const int ip, double p) {
  int64_t st[3], t0[3], t1[3];
  double acc = 0;
  if (KN(taps)(g, o, st, t0, t1)) {
    for (int64_t td = t0[0]; td < t1[0]; td++)
      for (int64_t th = t0[1]; th < t1[1]; th++) {
        const FP_T *xr = xp + (st[0] + td * g->d[0]) * xs->a[0] + (st[1] + th * g->d[1]) * xs->a[1];
        for (int64_t tw = t0[2]; tw < t1[2]; tw++)
          acc = KN(step)(acc, fabs((double)xr[(st[2] + tw * g->d[2]) * xs->a[2]]), kind, ip, p);
      }
  }
  return KN(finish)(acc, kind, p);
}

#define FP_LP_TILE 256

/* One output row (n, c, od, oh): border outputs one by one, the interior
 * [lo, hi) (every W tap inside the input) in tiles of outputs whose
 * accumulators advance together tap by tap, so the loop over outputs
 * vectorises; each output still sees its terms in the definition's order,
 * so the bits are those of the per-output loop. */
FP_ALWAYS_INLINE void KN(row_k)(const fp__geom *g, const FP_T *xp, const fp__strides *xs,
                                FP_T *yr, int64_t ysw, int64_t od, int64_t oh, int64_t lo,
                                int64_t hi, const int kind, const int ip, double p,
                                const int64_t xsw, const int64_t sw) {
  const int64_t OW = g->out[2], kw = g->k[2], dw = g->d[2], pw = g->pb[2];
  int64_t st0 = od * g->s[0] - g->pb[0], st1 = oh * g->s[1] - g->pb[1], td0, td1, th0, th1;
  fp__tap_range(st0, g->k[0], g->d[0], g->in[0], &td0, &td1);
  fp__tap_range(st1, g->k[1], g->d[1], g->in[1], &th0, &th1);
  if (td0 >= td1 || th0 >= th1) {
    const FP_T z = (FP_T)KN(finish)(0.0, kind, p);
    for (int64_t ow = 0; ow < OW; ow++) yr[ow * ysw] = z;
    return;
  }
  for (int64_t ow = 0; ow < OW; ow++) {
    if (ow == lo) ow = hi;
    if (ow >= OW) break;
    const int64_t o[3] = {od, oh, ow};
    yr[ow * ysw] = (FP_T)KN(window)(g, xp, xs, o, kind, ip, p);
  }
  for (int64_t j0 = lo; j0 < hi; j0 += FP_LP_TILE) {
    const int64_t m = j0 + FP_LP_TILE < hi ? FP_LP_TILE : hi - j0;
    double acc[FP_LP_TILE];
    for (int64_t j = 0; j < m; j++) acc[j] = 0;
    for (int64_t td = td0; td < td1; td++)
      for (int64_t th = th0; th < th1; th++) {
        const FP_T *xr = xp + (st0 + td * g->d[0]) * xs->a[0] + (st1 + th * g->d[1]) * xs->a[1] +
                         (j0 * sw - pw) * xsw;
        for (int64_t tw = 0; tw < kw; tw++) {
          const FP_T *restrict xt = xr + tw * dw * xsw;
          for (int64_t j = 0; j < m; j++)
            acc[j] = KN(step)(acc[j], fabs((double)xt[j * sw * xsw]), kind, ip, p);
        }
      }
    FP_T *yt = yr + j0 * ysw;
    for (int64_t j = 0; j < m; j++) yt[j * ysw] = (FP_T)KN(finish)(acc[j], kind, p);
  }
}

/* Output rows [r0, r1) of the (N, C, OD, OH) row space; one per-ISA
 * dispatch per chunk.  The power, unit W stride and stride 1 / 2 are
 * made constants of the inner loops. */
FP_SIMD_CLONES static void KN(rows)(const fp__geom *g, const int kind, const int ip, double p,
                                    const FP_T *x, const fp__strides *xs, FP_T *y,
                                    const fp__strides *ys, int64_t r0, int64_t r1) {
  int64_t lo, hi;
  fp__interior_cols(g, &lo, &hi);
  fp__rowpos pos;
  fp__rowpos_set(&pos, r0, g->c, g->out[0], g->out[1]);
  const int unit = xs->a[2] == 1, s2 = g->s[2];
  for (int64_t r = r0; r < r1; r++, fp__rowpos_next(&pos, g->c, g->out[0], g->out[1])) {
    const FP_T *xp = x + pos.n * xs->n + pos.c * xs->c;
    FP_T *yr = y + pos.n * ys->n + pos.c * ys->c + pos.od * ys->a[0] + pos.oh * ys->a[1];
    const int64_t ysw = ys->a[2], od = pos.od, oh = pos.oh;
#define FP_LP_ROW(K, XSW, SW) KN(row_k)(g, xp, xs, yr, ysw, od, oh, lo, hi, K, ip, p, XSW, SW)
#define FP_LP_ROWS(K)                                \
  do {                                               \
    if (unit && s2 == 2) FP_LP_ROW(K, 1, 2);         \
    else if (unit && s2 == 1) FP_LP_ROW(K, 1, 1);    \
    else if (unit) FP_LP_ROW(K, 1, s2);              \
    else FP_LP_ROW(K, xs->a[2], s2);                 \
  } while (0)
    switch (kind) {
      case FP_LP_ONE: FP_LP_ROWS(FP_LP_ONE); break;
      case FP_LP_TWO: FP_LP_ROWS(FP_LP_TWO); break;
      case FP_LP_INF: FP_LP_ROWS(FP_LP_INF); break;
      case FP_LP_INT: FP_LP_ROWS(FP_LP_INT); break;
      default: FP_LP_ROWS(FP_LP_GENERAL); break;
    }
#undef FP_LP_ROWS
#undef FP_LP_ROW
  }
}

typedef struct {
  const fp__geom *g;
  int kind, ip;
  double p;
  const FP_T *x;
  const fp__strides *xs;
  FP_T *y;
  const fp__strides *ys;
} KN(fwd_ctx);

/* Output rows [b, e). */
static void KN(fwd_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(fwd_ctx) *k = (const KN(fwd_ctx) *)ctx;
  (void)slot;
  KN(rows)(k->g, k->kind, k->ip, k->p, k->x, k->xs, k->y, k->ys, b, e);
}

void KN(fwd)(const fp__geom *g, double p, const void *xv, const fp__strides *xs, void *yv,
             const fp__strides *ys, int nt) {
  const int kind = p == 1.0   ? FP_LP_ONE
                   : p == 2.0 ? FP_LP_TWO
                   : isinf(p) ? FP_LP_INF
                   : (p == floor(p) && p >= 3 && p <= 16) ? FP_LP_INT
                                                         : FP_LP_GENERAL;
  const int ip = kind == FP_LP_INT ? (int)p : 0;
  KN(fwd_ctx) ctx = {.g = g, .kind = kind, .ip = ip, .p = p, .x = (const FP_T *)xv, .xs = xs,
                     .y = (FP_T *)yv, .ys = ys};
  fp__parallel(nt, g->n * g->c * g->out[0] * g->out[1], KN(fwd_chunk), &ctx);
}

#undef FP_LP_TILE

typedef struct {
  const fp__geom *g;
  int kind;
  double p;
  const FP_T *dy, *x, *y;
  const fp__strides *dys, *xs, *ys, *dxs;
  FP_T *dx;
} KN(bwd_ctx);

/* dx_i = dy * sign(x_i) * (|x_i| / y)^(p-1) over each window's valid cells;
 * 0 where x_i = 0, and where y = 0 (unless p = 1); NaN where x_i is NaN.  p = inf
 * routes dy (times sign) to the first cell whose |x| equals y.  One plane per task, outputs in order. */
static void KN(bwd_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(bwd_ctx) *k = (const KN(bwd_ctx) *)ctx;
  const fp__geom *g = k->g;
  const int kind = k->kind;
  const double p = k->p;
  const FP_T *dy = k->dy, *x = k->x, *y = k->y;
  const fp__strides *dys = k->dys, *xs = k->xs, *ys = k->ys, *dxs = k->dxs;
  FP_T *dx = k->dx;
  (void)slot;
  for (int64_t pl = b; pl < e; pl++) {
    const int64_t c = pl % g->c, n = pl / g->c;
    const FP_T *xp = x + n * xs->n + c * xs->c;
    FP_T *dxp = dx + n * dxs->n + c * dxs->c;
    fp__zero_plane(g, dxp, dxs->a, sizeof(FP_T));
    for (int64_t od = 0; od < g->out[0]; od++)
      for (int64_t oh = 0; oh < g->out[1]; oh++)
        for (int64_t ow = 0; ow < g->out[2]; ow++) {
          const int64_t o[3] = {od, oh, ow};
          int64_t st[3], t0[3], t1[3];
          if (!KN(taps)(g, o, st, t0, t1)) continue;
          const double gy = (double)dy[n * dys->n + c * dys->c + od * dys->a[0] + oh * dys->a[1] + ow * dys->a[2]];
          const double yo = (double)y[n * ys->n + c * ys->c + od * ys->a[0] + oh * ys->a[1] + ow * ys->a[2]];
          if (yo == 0 && kind != FP_LP_ONE) continue;
          int done = 0;
          for (int64_t td = t0[0]; td < t1[0] && !done; td++)
            for (int64_t th = t0[1]; th < t1[1] && !done; th++) {
              const int64_t off = (st[0] + td * g->d[0]) * xs->a[0] + (st[1] + th * g->d[1]) * xs->a[1];
              const int64_t doff = (st[0] + td * g->d[0]) * dxs->a[0] + (st[1] + th * g->d[1]) * dxs->a[1];
              for (int64_t tw = t0[2]; tw < t1[2]; tw++) {
                const int64_t iw = st[2] + tw * g->d[2];
                const double xv_ = (double)xp[off + iw * xs->a[2]];
                if (xv_ == 0) continue;
                const double sg = xv_ > 0 ? 1.0 : xv_ < 0 ? -1.0 : xv_ /* NaN */, ax = fabs(xv_);
                double gr;
                switch (kind) {
                  case FP_LP_ONE: gr = gy * sg; break;
                  case FP_LP_TWO: gr = gy * xv_ / yo; break;
                  case FP_LP_INF:
                    if (ax != yo) continue;
                    gr = gy * sg;
                    done = 1;
                    break;
                  default: gr = gy * sg * pow(ax / yo, p - 1.0); break;
                }
                dxp[doff + iw * dxs->a[2]] += (FP_T)gr;
                if (done) break;
              }
            }
        }
  }
}

void KN(bwd)(const fp__geom *g, double p, const void *dyv, const fp__strides *dys,
             const void *xv, const fp__strides *xs, const void *yv, const fp__strides *ys,
             void *dxv, const fp__strides *dxs, int nt) {
  const int kind = p == 1.0 ? FP_LP_ONE : p == 2.0 ? FP_LP_TWO : isinf(p) ? FP_LP_INF : FP_LP_GENERAL;
  KN(bwd_ctx) ctx = {.g = g, .kind = kind, .p = p, .dy = (const FP_T *)dyv, .x = (const FP_T *)xv,
                     .y = (const FP_T *)yv, .dys = dys, .xs = xs, .ys = ys, .dxs = dxs,
                     .dx = (FP_T *)dxv};
  fp__parallel(nt, g->n * g->c, KN(bwd_chunk), &ctx);
}

#endif /* FP_TABLE */
#undef KN
