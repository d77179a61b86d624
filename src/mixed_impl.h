/* Mixed max-average pooling microkernels for one floating value dtype
 * (included by mixed.c through fp_each_dtype.h; integer dtypes get none):
 *   fp__<SFX>_mixed__fwd_rows / __fwd_cinner  max and average in one pass,
 *                                              written as the pair or the blend
 *   fp__<SFX>_mixed__pair_bwd                 gradient of the pair
 *   fp__<SFX>_mixed__blend_bwd                gradient of the blend and of alpha
 * The max is max pooling's scan (a value replaces the running maximum when
 * v > max or v is NaN, starting from -inf at the first valid cell); the sum
 * is that of average pooling, in FP_ACC in tap order, over fp__avg_divisor,
 * rounded to FP_T: the same operations as maxpool_impl.h / avgpool_impl.h,
 * so the pair equals their outputs bit for bit.
 */
#if FP_IS_FLOAT
#  define KN(name) FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), _mixed__), name)
#  define FP_MIX_TILE 256
#  define FP_MIX_BLOCK 16

/* One window from its definition: 0 if it holds no input cell (max -inf at
 * index -1, average 0). */
static inline int KN(window)(const FP_T *xp, const fp__strides *xs, const fp__geom *g,
                             const int64_t o[3], int64_t dov, int cip, FP_T *mx, int64_t *mi,
                             FP_T *avg, int64_t b0[3], int64_t cnt[3], FP_ACC *divp) {
  int64_t st[3];
  if (!fp__window_box(g, o, st, b0, cnt)) {
    *mx = FP_LOWEST;
    *mi = -1;
    *avg = (FP_T)0;
    return 0;
  }
  const int64_t H = g->in[1], W = g->in[2];
  FP_T best = FP_LOWEST;
  int64_t bi = (b0[0] * H + b0[1]) * W + b0[2];
  FP_ACC acc = 0;
  for (int64_t j0 = 0; j0 < cnt[0]; j0++) {
    const int64_t id = b0[0] + j0 * g->d[0];
    for (int64_t j1 = 0; j1 < cnt[1]; j1++) {
      const int64_t ih = b0[1] + j1 * g->d[1];
      const FP_T *xr = xp + id * xs->a[0] + ih * xs->a[1];
      for (int64_t j2 = 0; j2 < cnt[2]; j2++) {
        const int64_t iw = b0[2] + j2 * g->d[2];
        const FP_T v = xr[iw * xs->a[2]];
        if (v > best || FP_ISNAN(v)) {
          best = v;
          bi = (id * H + ih) * W + iw;
        }
        acc += (FP_ACC)v;
      }
    }
  }
  const FP_ACC div = (FP_ACC)fp__avg_divisor(g, st, cnt[0] * cnt[1] * cnt[2], dov, cip);
  *mx = best;
  *mi = bi;
  *avg = (FP_T)(acc / div);
  *divp = div;
  return 1;
}

/* The blend of one output: alpha*max + (1 - alpha)*avg, in double (mixed.c
 * is compiled without floating-point contraction). */
static inline FP_T KN(blend)(double a, FP_T mx, FP_T avg) {
  const double p = a * (double)mx, q = (1.0 - a) * (double)avg;
  return (FP_T)(p + q);
}

/* Interior outputs: max and average of n <= FP_MIX_BLOCK consecutive windows
 * of the nr rows xr[] times kw taps (window j starts at (lo + j)*s - pw),
 * into tm / ta.  Taps outer: each tap's values are first copied into a
 * contiguous block, then max and sum update over the whole constant-width
 * block (lanes past n compute on zeros and are not stored), so the update
 * vectorises with no remainder; each output still sees its taps in
 * row-major order. */
FP_ALWAYS_INLINE void KN(fused)(FP_T *restrict tm, FP_T *restrict ta, const FP_T *const *xr,
                                int64_t nr, int64_t lo, int64_t n, int64_t s, int64_t kw,
                                int64_t dw, int64_t pw, FP_ACC div) {
  FP_ACC acc[FP_MIX_BLOCK];
  FP_T v[FP_MIX_BLOCK];
  for (int j = 0; j < FP_MIX_BLOCK; j++) {
    tm[j] = FP_LOWEST;
    acc[j] = 0;
    v[j] = 0;
  }
  for (int64_t r = 0; r < nr; r++)
    for (int64_t tw = 0; tw < kw; tw++) {
      const FP_T *restrict src = xr[r] + lo * s - pw + tw * dw;
      for (int64_t j = 0; j < n; j++) v[j] = src[j * s];
      /* a loop for the vectoriser, not FP_MIX_BLOCK scalar copies */
#  pragma GCC unroll 1
      for (int j = 0; j < FP_MIX_BLOCK; j++) {
        const int take = (v[j] > tm[j]) | FP_ISNAN(v[j]);
        tm[j] = take ? v[j] : tm[j];
        acc[j] += (FP_ACC)v[j];
      }
    }
#  pragma GCC unroll 1
  for (int j = 0; j < FP_MIX_BLOCK; j++) ta[j] = (FP_T)(acc[j] / div);
}

static inline void KN(write)(const fp__mixed_out *out, int64_t c, int64_t om, int64_t oa,
                             int64_t oy, FP_T mx, FP_T avg) {
  if (out->y) {
    ((FP_T *)out->y)[oy] = KN(blend)(out->alpha[c * out->alpha_step], mx, avg);
  } else {
    ((FP_T *)out->ymax)[om] = mx;
    ((FP_T *)out->yavg)[oa] = avg;
  }
}

/* The interior [lo, hi) of one output row with unit-stride W, whose
 * windows hold the nr rows xr[] (each with every W tap inside the input).
 * Blocks of the constant FP_MIX_BLOCK outputs, so the loops vectorise with
 * no scalar remainder; the last block moves back to end at hi (recomputing
 * a few outputs with the same result) when the row has room for one. */
FP_SIMD_CLONES static void KN(row_interior)(const fp__mixed_out *out, int64_t c, int64_t rm,
                                            int64_t ra, int64_t ry, const FP_T *const *xr,
                                            int64_t nr, int64_t lo, int64_t hi, int64_t sw,
                                            int64_t kw, int64_t dw, int64_t pw, FP_ACC div) {
  FP_T tm[FP_MIX_BLOCK], ta[FP_MIX_BLOCK];
  for (int64_t j0 = lo; j0 < hi; j0 += FP_MIX_BLOCK) {
    int64_t n = hi - j0;
    if (n >= FP_MIX_BLOCK) {
      n = FP_MIX_BLOCK;
    } else if (hi - lo >= FP_MIX_BLOCK) {
      j0 = hi - FP_MIX_BLOCK;
      n = FP_MIX_BLOCK;
    }
    if (n < FP_MIX_BLOCK)
      KN(fused)(tm, ta, xr, nr, j0, n, sw, kw, dw, pw, div);
    else if (dw == 1 && sw == 2 && kw == 3 && nr == 3)
      KN(fused)(tm, ta, xr, 3, j0, FP_MIX_BLOCK, 2, 3, 1, pw, div);
    else if (dw == 1 && sw == 2 && kw == 2 && nr == 2)
      KN(fused)(tm, ta, xr, 2, j0, FP_MIX_BLOCK, 2, 2, 1, pw, div);
    else if (dw == 1 && sw == 1 && kw == 3 && nr == 3)
      KN(fused)(tm, ta, xr, 3, j0, FP_MIX_BLOCK, 1, 3, 1, pw, div);
    else if (dw == 1 && sw == 2 && kw == 3 && nr == 2)
      KN(fused)(tm, ta, xr, 2, j0, FP_MIX_BLOCK, 2, 3, 1, pw, div);
    else
      KN(fused)(tm, ta, xr, nr, j0, FP_MIX_BLOCK, sw, kw, dw, pw, div);
    if (out->y) {
      const double a = out->alpha[c * out->alpha_step];
      FP_T *yr = (FP_T *)out->y + ry + j0 * out->sy->a[2];
      for (int64_t j = 0; j < n; j++) yr[j * out->sy->a[2]] = KN(blend)(a, tm[j], ta[j]);
    } else {
      FP_T *mr = (FP_T *)out->ymax + rm + j0 * out->smax->a[2];
      FP_T *ar = (FP_T *)out->yavg + ra + j0 * out->savg->a[2];
      for (int64_t j = 0; j < n; j++) {
        mr[j * out->smax->a[2]] = tm[j];
        ar[j * out->savg->a[2]] = ta[j];
      }
    }
  }
}

/* What the forward chunks read: sm / sa / sy are the output strides, zero
 * for the outputs not written. */
typedef struct {
  const fp__geom *g;
  const FP_T *x;
  const fp__strides *xs;
  const fp__mixed_out *out;
  const fp__strides *sm, *sa, *sy;
  int64_t dov;
  int cip;
  int64_t ow_lo, ow_hi; /* rows only */
} KN(fwd_ctx);

/* (n, c, od, oh) rows [b, e) of the forward. */
static void KN(fwd_rows_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(fwd_ctx) *cx = (const KN(fwd_ctx) *)ctx;
  const fp__geom *g = cx->g;
  const FP_T *x = cx->x;
  const fp__strides *xs = cx->xs, *sm = cx->sm, *sa = cx->sa, *sy = cx->sy;
  const fp__mixed_out *out = cx->out;
  const int64_t dov = cx->dov;
  const int cip = cx->cip;
  const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2], C = g->c;
  const int64_t ow_lo = cx->ow_lo, ow_hi = cx->ow_hi;
  (void)slot;
  for (int64_t r = b; r < e; r++) {
    const int64_t oh = r % OH, od = (r / OH) % OD, c = (r / (OH * OD)) % C, n = r / (OH * OD * C);
    const FP_T *xp = x + n * xs->n + c * xs->c;
    const int64_t rm = n * sm->n + c * sm->c + od * sm->a[0] + oh * sm->a[1];
    const int64_t ra = n * sa->n + c * sa->c + od * sa->a[0] + oh * sa->a[1];
    const int64_t ry = n * sy->n + c * sy->c + od * sy->a[0] + oh * sy->a[1];
    int64_t st[3], td0, td1, th0, th1;
    st[0] = od * g->s[0] - g->pb[0];
    st[1] = oh * g->s[1] - g->pb[1];
    fp__tap_range(st[0], g->k[0], g->d[0], g->in[0], &td0, &td1);
    fp__tap_range(st[1], g->k[1], g->d[1], g->in[1], &th0, &th1);
    const int64_t nr = (td1 - td0) * (th1 - th0);
    const int fast = xs->a[2] == 1 && td0 < td1 && th0 < th1 && ow_lo < ow_hi && nr <= 64;
    for (int64_t ow = 0; ow < OW; ow++) {
      if (fast && ow == ow_lo) ow = ow_hi;
      if (ow >= OW) break;
      const int64_t o[3] = {od, oh, ow};
      FP_T mx, avg;
      int64_t mi, b0[3], cnt[3];
      FP_ACC div;
      KN(window)(xp, xs, g, o, dov, cip, &mx, &mi, &avg, b0, cnt, &div);
      KN(write)(out, c, rm + ow * sm->a[2], ra + ow * sa->a[2], ry + ow * sy->a[2], mx, avg);
    }
    if (!fast) continue;
    const FP_T *xr[64];
    int64_t j = 0;
    for (int64_t td = td0; td < td1; td++)
      for (int64_t th = th0; th < th1; th++, j++)
        xr[j] = xp + (st[0] + td * g->d[0]) * xs->a[0] + (st[1] + th * g->d[1]) * xs->a[1];
    st[2] = ow_lo * g->s[2] - g->pb[2];
    const FP_ACC div = (FP_ACC)fp__avg_divisor(g, st, nr * g->k[2], dov, cip);
    KN(row_interior)(out, c, rm, ra, ry, xr, nr, ow_lo, ow_hi, g->s[2], g->k[2], g->d[2], g->pb[2],
                     div);
  }
}

void KN(fwd_rows)(const fp__geom *g, const void *xv, const fp__strides *xs,
                  const fp__mixed_out *out, int64_t dov, int cip, int nt) {
  const fp__strides zero = {0, 0, {0, 0, 0}};
  KN(fwd_ctx) ctx = {g, (const FP_T *)xv, xs, out, out->y ? &zero : out->smax,
                     out->y ? &zero : out->savg, out->y ? out->sy : &zero, dov, cip, 0, 0};
  fp__interior_cols(g, &ctx.ow_lo, &ctx.ow_hi);
  fp__parallel(nt, g->n * g->c * g->out[0] * g->out[1], KN(fwd_rows_chunk), &ctx);
}

/* Channels innermost: per output position, FP_MIX_TILE channels at a time,
 * taps in row-major order (the order of the per-channel definition):
 * (n, od, oh, ow) positions [b, e). */
static void KN(fwd_cinner_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(fwd_ctx) *cx = (const KN(fwd_ctx) *)ctx;
  const fp__geom *g = cx->g;
  const FP_T *x = cx->x;
  const fp__strides *xs = cx->xs, *sm = cx->sm, *sa = cx->sa, *sy = cx->sy;
  const fp__mixed_out *out = cx->out;
  const int64_t dov = cx->dov;
  const int cip = cx->cip;
  const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2], C = g->c;
  (void)slot;
  for (int64_t r = b; r < e; r++) {
    const int64_t ow = r % OW, oh = (r / OW) % OH, od = (r / (OW * OH)) % OD, n = r / (OW * OH * OD);
    const int64_t o[3] = {od, oh, ow};
    const int64_t pm = n * sm->n + od * sm->a[0] + oh * sm->a[1] + ow * sm->a[2];
    const int64_t pa = n * sa->n + od * sa->a[0] + oh * sa->a[1] + ow * sa->a[2];
    const int64_t py = n * sy->n + od * sy->a[0] + oh * sy->a[1] + ow * sy->a[2];
    const FP_T *xn = x + n * xs->n;
    int64_t st[3], b0[3], cnt[3];
    if (!fp__window_box(g, o, st, b0, cnt)) {
      for (int64_t c = 0; c < C; c++)
        KN(write)(out, c, pm + c * sm->c, pa + c * sa->c, py + c * sy->c, FP_LOWEST, (FP_T)0);
      continue;
    }
    const FP_ACC div = (FP_ACC)fp__avg_divisor(g, st, cnt[0] * cnt[1] * cnt[2], dov, cip);
    for (int64_t c0 = 0; c0 < C; c0 += FP_MIX_TILE) {
      const int64_t m = C - c0 < FP_MIX_TILE ? C - c0 : FP_MIX_TILE;
      FP_T tm[FP_MIX_TILE];
      FP_ACC acc[FP_MIX_TILE];
      for (int64_t j = 0; j < m; j++) {
        tm[j] = FP_LOWEST;
        acc[j] = 0;
      }
      for (int64_t j0 = 0; j0 < cnt[0]; j0++)
        for (int64_t j1 = 0; j1 < cnt[1]; j1++)
          for (int64_t j2 = 0; j2 < cnt[2]; j2++) {
            const FP_T *restrict xr = xn + (b0[0] + j0 * g->d[0]) * xs->a[0] +
                                      (b0[1] + j1 * g->d[1]) * xs->a[1] +
                                      (b0[2] + j2 * g->d[2]) * xs->a[2] + c0;
            for (int64_t j = 0; j < m; j++) {
              const FP_T v = xr[j];
              const int take = (v > tm[j]) | FP_ISNAN(v);
              tm[j] = take ? v : tm[j];
              acc[j] += (FP_ACC)v;
            }
          }
      for (int64_t j = 0; j < m; j++) {
        const int64_t c = c0 + j;
        KN(write)(out, c, pm + c * sm->c, pa + c * sa->c, py + c * sy->c, tm[j],
                  (FP_T)(acc[j] / div));
      }
    }
  }
}

void KN(fwd_cinner)(const fp__geom *g, const void *xv, const fp__strides *xs,
                    const fp__mixed_out *out, int64_t dov, int cip, int nt) {
  const fp__strides zero = {0, 0, {0, 0, 0}};
  KN(fwd_ctx) ctx = {g, (const FP_T *)xv, xs, out, out->y ? &zero : out->smax,
                     out->y ? &zero : out->savg, out->y ? out->sy : &zero, dov, cip, 0, 0};
  fp__parallel(nt, g->n * g->out[0] * g->out[1] * g->out[2], KN(fwd_cinner_chunk), &ctx);
}

/* Adds v to every valid cell of the window box (b0, cnt) of one plane. */
static inline void KN(spread)(FP_T *dxp, const fp__strides *dxs, const fp__geom *g,
                              const int64_t b0[3], const int64_t cnt[3], FP_T v) {
  for (int64_t j0 = 0; j0 < cnt[0]; j0++)
    for (int64_t j1 = 0; j1 < cnt[1]; j1++) {
      FP_T *dr = dxp + (b0[0] + j0 * g->d[0]) * dxs->a[0] + (b0[1] + j1 * g->d[1]) * dxs->a[1];
      for (int64_t j2 = 0; j2 < cnt[2]; j2++) dr[(b0[2] + j2 * g->d[2]) * dxs->a[2]] += v;
    }
}

/* The gradient of one (n, c) plane, outputs in row-major order; *da (when
 * not NULL) gets the plane's sum of dy * (max - avg).  Row by row: the
 * window rows, their dx offsets and (for columns whose W taps are all
 * inside the input) the divisor are found once per output row, and the max
 * cell is kept as (window row, tap), so no output needs a division. */
static inline void KN(plane_bwd)(const fp__geom *g, const FP_T *xp, const fp__strides *xs,
                                 const FP_T *dmp, const fp__strides *dms, const FP_T *dap,
                                 const fp__strides *das, FP_T *dxp, const fp__strides *dxs,
                                 int64_t dov, int cip, int blend, double a, double *da) {
  fp__zero_plane(g, dxp, dxs->a, sizeof(FP_T));
  const int64_t OW = g->out[2], W = g->in[2];
  const int64_t kw = g->k[2], sw = g->s[2], dw = g->d[2], pw = g->pb[2];
  int64_t ow_lo, ow_hi;
  fp__interior_cols(g, &ow_lo, &ow_hi);
  double acc = 0;
  for (int64_t od = 0; od < g->out[0]; od++)
    for (int64_t oh = 0; oh < g->out[1]; oh++) {
      int64_t st[3], td0, td1, th0, th1;
      st[0] = od * g->s[0] - g->pb[0];
      st[1] = oh * g->s[1] - g->pb[1];
      fp__tap_range(st[0], g->k[0], g->d[0], g->in[0], &td0, &td1);
      fp__tap_range(st[1], g->k[1], g->d[1], g->in[1], &th0, &th1);
      if (td0 >= td1 || th0 >= th1) continue;
      const int64_t nr = (td1 - td0) * (th1 - th0);
      const FP_T *xr[64];
      int64_t drow[64];
      if (nr > 64) {
        /* very tall windows: one output at a time from the definition */
        for (int64_t ow = 0; ow < OW; ow++) {
          const int64_t o[3] = {od, oh, ow};
          FP_T mx, avg;
          int64_t mi, b0[3], cnt[3];
          FP_ACC div;
          if (!KN(window)(xp, xs, g, o, dov, cip, &mx, &mi, &avg, b0, cnt, &div)) continue;
          const double gm = (double)dmp[od * dms->a[0] + oh * dms->a[1] + ow * dms->a[2]];
          const int64_t mw = mi % W, mt = mi / W;
          const int64_t moff = (mt / g->in[1]) * dxs->a[0] + (mt % g->in[1]) * dxs->a[1] +
                               mw * dxs->a[2];
          if (blend) {
            dxp[moff] += (FP_T)(a * gm);
            KN(spread)(dxp, dxs, g, b0, cnt, (FP_T)((1.0 - a) * gm / (double)div));
            acc += gm * ((double)mx - (double)avg);
          } else {
            dxp[moff] += (FP_T)gm;
            const FP_T ga = dap[od * das->a[0] + oh * das->a[1] + ow * das->a[2]];
            KN(spread)(dxp, dxs, g, b0, cnt, (FP_T)(ga / (FP_T)div));
          }
        }
        continue;
      }
      int64_t j = 0;
      for (int64_t td = td0; td < td1; td++)
        for (int64_t th = th0; th < th1; th++, j++) {
          const int64_t id = st[0] + td * g->d[0], ih = st[1] + th * g->d[1];
          xr[j] = xp + id * xs->a[0] + ih * xs->a[1];
          drow[j] = id * dxs->a[0] + ih * dxs->a[1];
        }
      st[2] = ow_lo * sw - pw;
      const FP_ACC div_in = (FP_ACC)fp__avg_divisor(g, st, nr * kw, dov, cip);
      const FP_T *gmr = dmp + od * dms->a[0] + oh * dms->a[1];
      const FP_T *gar = blend ? NULL : dap + od * das->a[0] + oh * das->a[1];
      for (int64_t ow = 0; ow < OW; ow++) {
        int64_t t0 = 0, t1 = kw;
        FP_ACC div = div_in;
        st[2] = ow * sw - pw;
        if (ow < ow_lo || ow >= ow_hi) {
          fp__tap_range(st[2], kw, dw, W, &t0, &t1);
          if (t0 >= t1) continue;
          div = (FP_ACC)fp__avg_divisor(g, st, nr * (t1 - t0), dov, cip);
        }
        /* max pooling's scan and average pooling's sum, in tap order */
        FP_T best = FP_LOWEST, avg;
        int64_t br = 0, bt = t0;
        FP_ACC sum = 0;
        for (int64_t r = 0; r < nr; r++)
          for (int64_t t = t0; t < t1; t++) {
            const FP_T v = xr[r][(st[2] + t * dw) * xs->a[2]];
            if (v > best || FP_ISNAN(v)) {
              best = v;
              br = r;
              bt = t;
            }
            sum += (FP_ACC)v;
          }
        avg = (FP_T)(sum / div);
        const double gm = (double)gmr[ow * dms->a[2]];
        FP_T share;
        if (blend) {
          dxp[drow[br] + (st[2] + bt * dw) * dxs->a[2]] += (FP_T)(a * gm);
          share = (FP_T)((1.0 - a) * gm / (double)div);
          acc += gm * ((double)best - (double)avg);
        } else {
          dxp[drow[br] + (st[2] + bt * dw) * dxs->a[2]] += (FP_T)gm;
          share = (FP_T)(gar[ow * das->a[2]] / (FP_T)div);
        }
        for (int64_t r = 0; r < nr; r++) {
          FP_T *dr = dxp + drow[r];
          for (int64_t t = t0; t < t1; t++) dr[(st[2] + t * dw) * dxs->a[2]] += share;
        }
      }
    }
  if (da) *da += acc;
}

/* What the backward chunks read (dm / dms: the pair's dymax or the
 * blend's dy; da / das: the pair's dyavg). */
typedef struct {
  const fp__geom *g;
  const FP_T *dm, *da, *x;
  FP_T *dx;
  const fp__strides *dms, *das, *xs, *dxs;
  int64_t dov;
  int cip;
  const double *alpha;
  int64_t alpha_step;
  double *dalpha;
  int64_t dalpha_step;
} KN(bwd_ctx);

/* The pair: one (n, c) plane per task, planes [b, e). */
static void KN(pair_bwd_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(bwd_ctx) *cx = (const KN(bwd_ctx) *)ctx;
  const fp__geom *g = cx->g;
  const FP_T *dm = cx->dm, *dav_ = cx->da, *x = cx->x;
  FP_T *dx = cx->dx;
  const fp__strides *dms = cx->dms, *das = cx->das, *xs = cx->xs, *dxs = cx->dxs;
  const int64_t dov = cx->dov;
  const int cip = cx->cip;
  (void)slot;
  for (int64_t p = b; p < e; p++) {
    const int64_t c = p % g->c, n = p / g->c;
    KN(plane_bwd)(g, x + n * xs->n + c * xs->c, xs, dm + n * dms->n + c * dms->c, dms,
                  dav_ + n * das->n + c * das->c, das, dx + n * dxs->n + c * dxs->c, dxs, dov,
                  cip, 0, 0.0, NULL);
  }
}

void KN(pair_bwd)(const fp__geom *g, const void *dmv, const fp__strides *dms, const void *dav,
                  const fp__strides *das, const void *xv, const fp__strides *xs, void *dxv,
                  const fp__strides *dxs, int64_t dov, int cip, int nt) {
  KN(bwd_ctx) ctx = {g, (const FP_T *)dmv, (const FP_T *)dav, (const FP_T *)xv, (FP_T *)dxv, dms,
                     das, xs, dxs, dov, cip, NULL, 0, NULL, 0};
  fp__parallel(nt, g->n * g->c, KN(pair_bwd_chunk), &ctx);
}

/* The blend: one channel per task (every sample of it, in order), so each
 * dalpha[c] is one thread's sum in a fixed order: channels [b, e). */
static void KN(blend_bwd_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(bwd_ctx) *cx = (const KN(bwd_ctx) *)ctx;
  const fp__geom *g = cx->g;
  const FP_T *dy = cx->dm, *x = cx->x;
  FP_T *dx = cx->dx;
  const fp__strides *dys = cx->dms, *xs = cx->xs, *dxs = cx->dxs;
  const int64_t dov = cx->dov;
  const int cip = cx->cip;
  (void)slot;
  for (int64_t c = b; c < e; c++) {
    const double a = cx->alpha[c * cx->alpha_step];
    double da = 0;
    for (int64_t n = 0; n < g->n; n++)
      KN(plane_bwd)(g, x + n * xs->n + c * xs->c, xs, dy + n * dys->n + c * dys->c, dys, NULL,
                    dys, dx + n * dxs->n + c * dxs->c, dxs, dov, cip, 1, a, &da);
    if (cx->dalpha) cx->dalpha[c * cx->dalpha_step] = da;
  }
}

void KN(blend_bwd)(const fp__geom *g, const double *alpha, int64_t alpha_step, const void *dyv,
                   const fp__strides *dys, const void *xv, const fp__strides *xs, void *dxv,
                   const fp__strides *dxs, double *dalpha, int64_t dalpha_step, int64_t dov,
                   int cip, int nt) {
  KN(bwd_ctx) ctx = {g, (const FP_T *)dyv, NULL, (const FP_T *)xv, (FP_T *)dxv, dys, NULL, xs,
                     dxs, dov, cip, alpha, alpha_step, dalpha, dalpha_step};
  fp__parallel(nt, g->c, KN(blend_bwd_chunk), &ctx);
}

#  undef FP_MIX_TILE
#  undef FP_MIX_BLOCK
#  undef KN
#endif /* FP_IS_FLOAT */
