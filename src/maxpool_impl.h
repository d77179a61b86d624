/* Max-pooling microkernels for one (value dtype, index dtype) pair.
 *
 * Included by maxpool.c once per pair with:
 *   FP_T       value type (float, double)
 *   FP_SFX     value suffix (f32, f64)
 *   FP_IDX_T   index type (int64_t, int32_t), ignored when FP_WITH_IDX is 0
 *   FP_ISFX    index suffix (i64, i32, x)
 *   FP_WITH_IDX 1 to write indices
 * and defines
 *   fp__<SFX>_maxpool_<ISFX>__rows    W innermost (NCHW and any strides)
 *   fp__<SFX>_maxpool_<ISFX>__cinner  C innermost (NHWC memory)
 *   fp__<SFX>_maxpool_<ISFX>__bwd_rows / __bwd_cinner  (index variants only)
 *
 * Every output is computed by one thread in the fixed row-major tap order
 * of fastpool.h, so results do not depend on the thread count.
 */
#define KN(name) FP__CAT(FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), FP__CAT(_maxpool_, FP_ISFX)), __), name)
#define WIN KN(window)
#define ROWUPD KN(row_update)

#if FP_WITH_IDX
#  define FP_IDX_STORE(p, v) (*(p) = (FP_IDX_T)(v))
#else
#  define FP_IDX_STORE(p, v) ((void)0)
#endif

/* One output, scanned tap by tap: the definition the fast paths must match. */
FP_ALWAYS_INLINE void WIN(const FP_T *xp, const fp__strides *xs, const fp__geom *g, int64_t od,
                       int64_t oh, int64_t ow, int omit, FP_T *yv, int64_t *yi) {
  int64_t t0, t1, b0[3], cnt[3];
  const int64_t o[3] = {od, oh, ow};
  for (int a = 0; a < 3; a++) {
    const int64_t st = o[a] * g->s[a] - g->pb[a];
    fp__tap_range(st, g->k[a], g->d[a], g->in[a], &t0, &t1);
    if (t0 >= t1) {
      *yv = FP_LOWEST;
      *yi = -1;
      return;
    }
    b0[a] = st + t0 * g->d[a];
    cnt[a] = t1 - t0;
  }
  FP__CAT(FP__CAT(fp__, FP_SFX), _maxscan)(xp, xs, g->in[1], g->in[2], b0, g->d, cnt, omit, yv, yi);
}

/* The interior outputs [lo, hi) of one output row whose window rows are the
 * nr input rows xr[] (flat row bases fb[]) and whose W taps all lie inside
 * the input.  Taps are visited in row-major window order, so ties and NaN
 * follow the scan rule.  Inlined with constant nr/s/kw/dw for the common
 * windows so the compiler vectorises across outputs. */
FP_ALWAYS_INLINE void ROWUPD(FP_T *restrict yr, FP_IDX_T *restrict ir, const FP_T *const *xr,
                          const int64_t *fb, int64_t nr, int64_t lo, int64_t hi, int64_t s,
                          int64_t kw, int64_t dw, int64_t pw) {
  (void)ir;
  (void)fb;
#if FP_WITH_IDX
  if (nr == 1) {
    /* one window row: the winning tap kept as a small integer of the value
     * width, so the loop vectorises; the first tap starts the scan (it
     * replaces -inf exactly when the scan would take it) */
    typedef __typeof__(_Generic((FP_T)0, float: (int32_t)0, default: (int64_t)0)) tap_t;
    const FP_T *xrow = xr[0];
    const int64_t f0 = fb[0];
    for (int64_t ow = lo; ow < hi; ow++) {
      const int64_t base = ow * s - pw;
      FP_T m = xrow[base];
      tap_t t = 0;
      for (int64_t tw = 1; tw < kw; tw++) {
        const FP_T v = xrow[base + tw * dw];
        const int take = (v > m) | FP_ISNAN(v);
        m = take ? v : m;
        t = take ? (tap_t)tw : t;
      }
      yr[ow] = m;
      ir[ow] = (FP_IDX_T)(f0 + base + (int64_t)t * dw);
    }
    return;
  }
#endif
  for (int64_t ow = lo; ow < hi; ow++) {
    const int64_t base = ow * s - pw;
    FP_T m = FP_LOWEST;
#if FP_WITH_IDX
    FP_IDX_T cur = (FP_IDX_T)(fb[0] + base);
#endif
    for (int64_t r = 0; r < nr; r++) {
      const FP_T *xrow = xr[r];
      for (int64_t tw = 0; tw < kw; tw++) {
        const FP_T v = xrow[base + tw * dw];
        const int take = (v > m) | FP_ISNAN(v);
        m = take ? v : m;
#if FP_WITH_IDX
        cur = take ? (FP_IDX_T)(fb[r] + base + tw * dw) : cur;
#endif
      }
    }
    yr[ow] = m;
#if FP_WITH_IDX
    ir[ow] = cur;
#endif
  }
}

/* Rows with more window rows than ROWUPD takes at once, or with strided
 * memory: one pass per window row over the running maximum in y. */
FP_ALWAYS_INLINE void KN(row_passes)(FP_T *yr, int64_t ysw, FP_IDX_T *ir, int64_t isw,
                                  const FP_T *const *xr, const int64_t *fb, int64_t nr,
                                  int64_t xsw, int64_t lo, int64_t hi, int64_t s, int64_t kw,
                                  int64_t dw, int64_t pw) {
  (void)ir;
  (void)isw;
  (void)fb;
  for (int64_t ow = lo; ow < hi; ow++) {
    yr[ow * ysw] = FP_LOWEST;
    FP_IDX_STORE(ir + ow * isw, fb[0] + ow * s - pw);
  }
  for (int64_t r = 0; r < nr; r++)
    for (int64_t ow = lo; ow < hi; ow++) {
      const int64_t base = ow * s - pw;
      FP_T m = yr[ow * ysw];
#if FP_WITH_IDX
      FP_IDX_T cur = ir[ow * isw];
#endif
      for (int64_t tw = 0; tw < kw; tw++) {
        const FP_T v = xr[r][(base + tw * dw) * xsw];
        const int take = (v > m) | FP_ISNAN(v);
        m = take ? v : m;
#if FP_WITH_IDX
        cur = take ? (FP_IDX_T)(fb[r] + base + tw * dw) : cur;
#endif
      }
      yr[ow * ysw] = m;
#if FP_WITH_IDX
      ir[ow * isw] = cur;
#endif
    }
}

#define FP_MAX_FUSED_ROWS 4

/* Output rows [0, nrows) of a segment in which every window lies wholly
 * inside the input (no padding reached, rank <= 2): only pointer steps per
 * row, and ROWUPD inlined with the caller's constant window shape. */
FP_ALWAYS_INLINE void KN(rows_inside)(FP_T *yr, int64_t ystep, FP_IDX_T *ir, int64_t istep,
                                   const FP_T *x0, int64_t xstep, int64_t xrow, int64_t fb0,
                                   int64_t fbstep, int64_t fbrow, int64_t nrows, int64_t nr,
                                   int64_t ow_n, int64_t s, int64_t kw, int64_t dw) {
  (void)ir;
  (void)istep;
  for (int64_t r = 0; r < nrows; r++) {
    const FP_T *xr[4];
    int64_t fb[4];
    for (int64_t j = 0; j < nr; j++) {
      xr[j] = x0 + r * xstep + j * xrow;
      fb[j] = fb0 + r * fbstep + j * fbrow;
    }
    ROWUPD(yr + r * ystep, FP_WITH_IDX ? ir + r * istep : ir, xr, fb, nr, 0, ow_n, s, kw, dw, 0);
  }
}



/* Output rows oh0..oh1-1 of one (n, c, od): borders by the scan definition,
 * interiors by ROWUPD.  One call per segment of rows, so the per-ISA clone
 * is dispatched once per segment, not per row. */
FP_SIMD_CLONES static void KN(segment)(const fp__geom *g, const FP_T *xp, const fp__strides *xs,
                                       FP_T *yp, const fp__strides *ys, FP_IDX_T *ip,
                                       const fp__strides *is, int64_t od, int64_t oh0,
                                       int64_t oh1, int64_t ow_lo, int64_t ow_hi, int omit) {
  const int64_t OW = g->out[2], H = g->in[1], W = g->in[2];
  const int64_t kw = g->k[2], sw = g->s[2], dw = g->d[2], pw = g->pb[2];
  const int64_t ysw = ys->a[2];
#if FP_WITH_IDX
  const int64_t isw = is->a[2];
#else
  const int64_t isw = 0;
  (void)is;
#endif
  const int contig = xs->a[2] == 1 && ysw == 1 && (!FP_WITH_IDX || isw == 1);
  int64_t td0, td1;
  const int64_t sd = od * g->s[0] - g->pb[0];
  fp__tap_range(sd, g->k[0], g->d[0], g->in[0], &td0, &td1);
  const int64_t kh = g->k[1], sh = g->s[1], dh = g->d[1], ph = g->pb[1];
  if (contig && !omit && g->k[0] == 1 && ow_lo == 0 && ow_hi == OW && kh <= 4 &&
      oh0 * sh - ph >= 0 && (oh1 - 1) * sh - ph + (kh - 1) * dh < H && td0 < td1) {
    /* every window of the segment inside the input */
    const int64_t id = sd + td0 * g->d[0];
    const FP_T *x0 = xp + id * xs->a[0] + (oh0 * sh - ph) * xs->a[1];
    const int64_t fb0 = (id * H + oh0 * sh - ph) * W;
    FP_T *y0 = yp + oh0 * ys->a[1];
    FP_IDX_T *i0 = ip;
#if FP_WITH_IDX
    i0 = ip + oh0 * is->a[1];
    const int64_t istep = is->a[1];
#else
    const int64_t istep = 0;
#endif
    const int64_t n = oh1 - oh0, xstep = sh * xs->a[1], xrow = dh * xs->a[1];
    const int64_t fbstep = sh * W, fbrow = dh * W;
    if (dw == 1 && sw == 2 && kw == 2 && kh == 2)
      KN(rows_inside)(y0, ys->a[1], i0, istep, x0, xstep, xrow, fb0, fbstep, fbrow, n, 2, OW, 2,
                      2, 1);
    else if (dw == 1 && sw == 2 && kw == 3 && kh == 3)
      KN(rows_inside)(y0, ys->a[1], i0, istep, x0, xstep, xrow, fb0, fbstep, fbrow, n, 3, OW, 2,
                      3, 1);
    else if (dw == 1 && sw == 1 && kw == 3 && kh == 3)
      KN(rows_inside)(y0, ys->a[1], i0, istep, x0, xstep, xrow, fb0, fbstep, fbrow, n, 3, OW, 1,
                      3, 1);
    else if (dw == 1 && sw == 2 && kw == 3 && kh == 1) /* 1-D k3/s2 */
      KN(rows_inside)(y0, ys->a[1], i0, istep, x0, xstep, xrow, fb0, fbstep, fbrow, n, 1, OW, 2,
                      3, 1);
    else if (dw == 1 && sw == 2 && kw == 2 && kh == 1)
      KN(rows_inside)(y0, ys->a[1], i0, istep, x0, xstep, xrow, fb0, fbstep, fbrow, n, 1, OW, 2,
                      2, 1);
    else
      KN(rows_inside)(y0, ys->a[1], i0, istep, x0, xstep, xrow, fb0, fbstep, fbrow, n, kh, OW,
                      sw, kw, dw);
    return;
  }
  for (int64_t oh = oh0; oh < oh1; oh++) {
    FP_T *yr = yp + oh * ys->a[1];
    FP_IDX_T *ir = ip;
#if FP_WITH_IDX
    ir = ip + oh * is->a[1];
#endif
    int64_t th0, th1;
    const int64_t sh = oh * g->s[1] - g->pb[1];
    fp__tap_range(sh, g->k[1], g->d[1], g->in[1], &th0, &th1);
    const int empty = td0 >= td1 || th0 >= th1;
    const int64_t lo = (omit || empty) ? OW : ow_lo, hi = (omit || empty) ? OW : ow_hi;
    for (int64_t ow = 0; ow < OW; ow++) {
      if (ow == lo) ow = hi;
      if (ow >= OW) break;
      FP_T v;
      int64_t bi;
      WIN(xp, xs, g, od, oh, ow, omit, &v, &bi);
      yr[ow * ysw] = v;
      FP_IDX_STORE(ir + ow * isw, bi);
      (void)bi;
    }
    if (lo >= hi) continue;
    const int64_t nr = (td1 - td0) * (th1 - th0);
    const FP_T *xr[FP_MAX_FUSED_ROWS];
    int64_t fb[FP_MAX_FUSED_ROWS];
    if (!contig || nr > FP_MAX_FUSED_ROWS) {
      for (int64_t td = td0; td < td1; td++) {
        const int64_t id = sd + td * g->d[0];
        for (int64_t th = th0; th < th1; th++) {
          const int64_t ih = sh + th * g->d[1];
          xr[0] = xp + id * xs->a[0] + ih * xs->a[1];
          fb[0] = (id * H + ih) * W;
          if (td == td0 && th == th0) {
            KN(row_passes)(yr, ysw, ir, isw, xr, fb, 1, xs->a[2], lo, hi, sw, kw, dw, pw);
          } else {
            /* later window rows update the running maximum in place */
            for (int64_t ow = lo; ow < hi; ow++) {
              const int64_t base = ow * sw - pw;
              FP_T m = yr[ow * ysw];
#if FP_WITH_IDX
              FP_IDX_T cur = ir[ow * isw];
#endif
              for (int64_t tw = 0; tw < kw; tw++) {
                const FP_T v = xr[0][(base + tw * dw) * xs->a[2]];
                const int take = (v > m) | FP_ISNAN(v);
                m = take ? v : m;
#if FP_WITH_IDX
                cur = take ? (FP_IDX_T)(fb[0] + base + tw * dw) : cur;
#endif
              }
              yr[ow * ysw] = m;
#if FP_WITH_IDX
              ir[ow * isw] = cur;
#endif
            }
          }
        }
      }
      continue;
    }
    int64_t j = 0;
    for (int64_t td = td0; td < td1; td++) {
      const int64_t id = sd + td * g->d[0];
      for (int64_t th = th0; th < th1; th++, j++) {
        const int64_t ih = sh + th * g->d[1];
        xr[j] = xp + id * xs->a[0] + ih * xs->a[1];
        fb[j] = (id * H + ih) * W;
      }
    }
    /* constant shapes for the windows networks use most */
    if (dw == 1 && sw == 2 && kw == 2 && nr == 2)
      ROWUPD(yr, ir, xr, fb, 2, lo, hi, 2, 2, 1, pw);
    else if (dw == 1 && sw == 2 && kw == 3 && nr == 3)
      ROWUPD(yr, ir, xr, fb, 3, lo, hi, 2, 3, 1, pw);
    else if (dw == 1 && sw == 2 && kw == 3 && nr == 2)
      ROWUPD(yr, ir, xr, fb, 2, lo, hi, 2, 3, 1, pw);
    else if (dw == 1 && sw == 2 && kw == 2 && nr == 4)
      ROWUPD(yr, ir, xr, fb, 4, lo, hi, 2, 2, 1, pw);
    else if (dw == 1 && sw == 2 && kw == 3 && nr == 1)
      ROWUPD(yr, ir, xr, fb, 1, lo, hi, 2, 3, 1, pw);
    else if (dw == 1 && sw == 1 && kw == 3 && nr == 3)
      ROWUPD(yr, ir, xr, fb, 3, lo, hi, 1, 3, 1, pw);
    else
      ROWUPD(yr, ir, xr, fb, nr, lo, hi, sw, kw, dw, pw);
  }
}

typedef struct {
  const fp__geom *g;
  const FP_T *x;
  const fp__strides *xs;
  FP_T *y;
  const fp__strides *ys;
  FP_IDX_T *ix;
  const fp__strides *is;
  int64_t ow_lo, ow_hi;
  int omit;
} KN(rows_ctx);

/* Output rows [r0, r1) of the (N, C, OD, OH) row space, one segment per
 * (n, c, od) they touch. */
static void KN(rows_chunk)(void *ctx, int64_t r0, int64_t r1, int slot) {
  const KN(rows_ctx) *cx = (const KN(rows_ctx) *)ctx;
  const fp__geom *g = cx->g;
  const FP_T *x = cx->x;
  FP_T *y = cx->y;
  FP_IDX_T *ix = cx->ix;
  const fp__strides *xs = cx->xs, *ys = cx->ys, *is = cx->is;
  const int64_t ow_lo = cx->ow_lo, ow_hi = cx->ow_hi;
  const int omit = cx->omit;
  const int64_t OD = g->out[0], OH = g->out[1];
  (void)ix;
  (void)slot;
  fp__rowpos pos;
  fp__rowpos_set(&pos, r0, g->c, OD, OH);
  int64_t r = r0;
  while (r < r1) {
    /* the rest of this (n, c, od) within the chunk */
    int64_t len = OH - pos.oh;
    if (len > r1 - r) len = r1 - r;
    FP_IDX_T *ip = NULL;
#if FP_WITH_IDX
    ip = ix + pos.n * is->n + pos.c * is->c + pos.od * is->a[0];
#endif
    KN(segment)(g, x + pos.n * xs->n + pos.c * xs->c, xs,
                y + pos.n * ys->n + pos.c * ys->c + pos.od * ys->a[0], ys, ip, is, pos.od,
                pos.oh, pos.oh + len, ow_lo, ow_hi, omit);
    r += len;
    pos.oh += len - 1;
    fp__rowpos_next(&pos, g->c, OD, OH);
  }
}

void KN(rows)(const fp__geom *g, const void *xv, const fp__strides *xs, void *yv,
              const fp__strides *ys, void *ixv, const fp__strides *is, int omit, int nt) {
  const int64_t rows = g->n * g->c * g->out[0] * g->out[1];
  /* Interior columns: every W tap inside the input. */
  int64_t ow_lo, ow_hi;
  fp__interior_cols(g, &ow_lo, &ow_hi);
  KN(rows_ctx) ctx = {g, (const FP_T *)xv, xs, (FP_T *)yv, ys, (FP_IDX_T *)ixv, is,
                      ow_lo, ow_hi, omit};
  fp__parallel(nt, rows, KN(rows_chunk), &ctx);
}

#if !FP_WITH_IDX
/* NaN-propagating maximum (either NaN gives NaN). */
static inline FP_T KN(vmax)(FP_T a, FP_T b) { return (b > a || FP_ISNAN(b)) ? b : a; }

/* Stack budgets of the stride-1 kernel (elements). */
#define FP_S1_ROW 4096
#define FP_S1_TILE 16384

/* 1 if the stride-1 kernel takes this geometry (values only, rank <= 2,
 * stride 1, dilation 1, rows that fit its stack buffers). */
int KN(stride1_fits)(const fp__geom *g) {
  if (g->rank > 2 || g->s[1] != 1 || g->s[2] != 1 || g->d[1] != 1 || g->d[2] != 1) return 0;
  if (g->k[1] < 4 && g->k[2] < 4) return 0;
  const int64_t L = g->in[2] + g->pb[2] + g->pe[2];
  return L <= FP_S1_ROW && (g->out[2] + 0) * g->k[1] <= FP_S1_TILE;
}

/* One plane of stride-1 max pooling in O(log k) per output, independent of
 * the window size: separable passes, each the max over a power-of-two span
 * by doubling (span 1, 2, 4, ... P <= k) and then the window as the max of
 * two overlapping spans, max(M_P[i], M_P[i + k - P]).  Values only. */
FP_SIMD_CLONES static void KN(stride1_plane)(const fp__geom *g, const FP_T *xp,
                                             const fp__strides *xs, FP_T *yp,
                                             const fp__strides *ys) {
  const int64_t H = g->in[1], W = g->in[2], OH = g->out[1], OW = g->out[2];
  const int64_t kh = g->k[1], kw = g->k[2], ph = g->pb[1], pw = g->pb[2];
  const int64_t L = W + pw + g->pe[2];
  FP_T row[FP_S1_ROW];
  FP_T tile[FP_S1_TILE];
  int64_t Pw = 1, Ph = 1;
  while (2 * Pw <= kw) Pw *= 2;
  while (2 * Ph <= kh) Ph *= 2;
  int64_t strip = FP_S1_TILE / OW - (kh - 1);
  if (strip > OH) strip = OH;
  for (int64_t oh0 = 0; oh0 < OH; oh0 += strip) {
    const int64_t oh1 = oh0 + strip < OH ? oh0 + strip : OH;
    const int64_t nrow = oh1 - oh0 + kh - 1;
    /* horizontal pass: tile row j = window rows of padded input row oh0 + j */
    for (int64_t j = 0; j < nrow; j++) {
      FP_T *t = tile + j * OW;
      const int64_t ih = oh0 + j - ph;
      if (ih < 0 || ih >= H) {
        for (int64_t i = 0; i < OW; i++) t[i] = FP_LOWEST;
        continue;
      }
      const FP_T *xr = xp + ih * xs->a[1];
      for (int64_t i = 0; i < pw && i < L; i++) row[i] = FP_LOWEST;
      if (xs->a[2] == 1) {
        for (int64_t i = 0; i < W; i++) row[pw + i] = xr[i];
      } else {
        for (int64_t i = 0; i < W; i++) row[pw + i] = xr[i * xs->a[2]];
      }
      for (int64_t i = pw + W; i < L; i++) row[i] = FP_LOWEST;
      for (int64_t span = 1; span < Pw; span *= 2)
        for (int64_t i = 0; i + span < L; i++) row[i] = KN(vmax)(row[i], row[i + span]);
      for (int64_t i = 0; i < OW; i++) t[i] = KN(vmax)(row[i], row[i + kw - Pw]);
    }
    /* vertical pass over whole tile rows */
    for (int64_t span = 1; span < Ph; span *= 2)
      for (int64_t j = 0; j + span < nrow; j++) {
        FP_T *a = tile + j * OW;
        const FP_T *b = a + span * OW;
        for (int64_t i = 0; i < OW; i++) a[i] = KN(vmax)(a[i], b[i]);
      }
    for (int64_t oh = oh0; oh < oh1; oh++) {
      const FP_T *a = tile + (oh - oh0) * OW, *b = a + (kh - Ph) * OW;
      FP_T *yr = yp + oh * ys->a[1];
      if (ys->a[2] == 1) {
        for (int64_t i = 0; i < OW; i++) yr[i] = KN(vmax)(a[i], b[i]);
      } else {
        for (int64_t i = 0; i < OW; i++) yr[i * ys->a[2]] = KN(vmax)(a[i], b[i]);
      }
    }
  }
}

/* Small planes (both buffers below FP_S1_SMALL elements): the same doubling,
 * but every pass runs over a whole buffer as one flat loop instead of row
 * by row, so short rows (20 x 20 feature maps) cost long vector loops.
 * A holds the input rows with -inf pad columns (row length L = W + pads);
 * the horizontal spans are formed in place in A and written into B (row
 * length OW, -inf rows above and below), the vertical spans in place in B.
 * Horizontal first, as in stride1_plane: of equal maxima (+0 and -0) the
 * first in row-major order comes out.  A flat pass also combines cells
 * across a row end; those are never read: the span at i is used only where
 * it stays inside its row. */
#  define FP_S1_SMALL 4096
static int KN(stride1_small_fits)(const fp__geom *g) {
  const int64_t Hp = g->in[1] + g->pb[1] + g->pe[1], L = g->in[2] + g->pb[2] + g->pe[2];
  return g->in[1] * L <= FP_S1_SMALL && Hp * g->out[2] <= FP_S1_SMALL;
}

FP_SIMD_CLONES static void KN(stride1_small)(const fp__geom *g, const FP_T *x,
                                             const fp__strides *xs, FP_T *y,
                                             const fp__strides *ys, int64_t p0, int64_t p1) {
  const int64_t H = g->in[1], W = g->in[2], OH = g->out[1], OW = g->out[2];
  const int64_t kh = g->k[1], kw = g->k[2], ph = g->pb[1], pw = g->pb[2];
  const int64_t Hp = H + ph + g->pe[1], L = W + pw + g->pe[2];
  FP_T A[FP_S1_SMALL], B[FP_S1_SMALL];
  int64_t Pw = 1, Ph = 1;
  while (2 * Pw <= kw) Pw *= 2;
  while (2 * Ph <= kh) Ph *= 2;
  const int flat_out = ys->a[2] == 1 && (OH == 1 || ys->a[1] == OW);
  for (int64_t p = p0; p < p1; p++) {
    const int64_t c = p % g->c, n = p / g->c;
    const FP_T *xp = x + n * xs->n + c * xs->c;
    FP_T *yp = y + n * ys->n + c * ys->c;
    /* the passes overwrite pad cells: set them for every plane */
    for (int64_t h = 0; h < H; h++) {
      const FP_T *xr = xp + h * xs->a[1];
      FP_T *a = A + h * L;
      for (int64_t i = 0; i < pw; i++) a[i] = FP_LOWEST;
      if (xs->a[2] == 1) {
        for (int64_t i = 0; i < W; i++) a[pw + i] = xr[i];
      } else {
        for (int64_t i = 0; i < W; i++) a[pw + i] = xr[i * xs->a[2]];
      }
      for (int64_t i = pw + W; i < L; i++) a[i] = FP_LOWEST;
    }
    for (int64_t span = 1; span < Pw; span *= 2) {
      const int64_t m = H * L - span;
      for (int64_t i = 0; i < m; i++) A[i] = KN(vmax)(A[i], A[i + span]);
    }
    for (int64_t i = 0; i < ph * OW; i++) B[i] = FP_LOWEST;
    for (int64_t i = (ph + H) * OW; i < Hp * OW; i++) B[i] = FP_LOWEST;
    const int64_t dh = kw - Pw;
    for (int64_t h = 0; h < H; h++) {
      const FP_T *a = A + h * L;
      FP_T *b = B + (ph + h) * OW;
      for (int64_t i = 0; i < OW; i++) b[i] = KN(vmax)(a[i], a[i + dh]);
    }
    for (int64_t span = 1; span < Ph; span *= 2) {
      const int64_t d = span * OW, m = (Hp - span) * OW;
      for (int64_t i = 0; i < m; i++) B[i] = KN(vmax)(B[i], B[i + d]);
    }
    const int64_t dv = (kh - Ph) * OW;
    if (flat_out) {
      for (int64_t i = 0; i < OH * OW; i++) yp[i] = KN(vmax)(B[i], B[i + dv]);
      continue;
    }
    for (int64_t oh = 0; oh < OH; oh++) {
      const FP_T *b = B + oh * OW;
      FP_T *yr = yp + oh * ys->a[1];
      for (int64_t i = 0; i < OW; i++) yr[i * ys->a[2]] = KN(vmax)(b[i], b[i + dv]);
    }
  }
}
#  undef FP_S1_SMALL

typedef struct {
  const fp__geom *g;
  const FP_T *x;
  const fp__strides *xs;
  FP_T *y;
  const fp__strides *ys;
} KN(stride1_ctx);

/* Planes [p0, p1) of small planes. */
static void KN(stride1_small_chunk)(void *ctx, int64_t p0, int64_t p1, int slot) {
  const KN(stride1_ctx) *cx = (const KN(stride1_ctx) *)ctx;
  (void)slot;
  KN(stride1_small)(cx->g, cx->x, cx->xs, cx->y, cx->ys, p0, p1);
}

/* Planes [p0, p1), one stride1_plane call each. */
static void KN(stride1_plane_chunk)(void *ctx, int64_t p0, int64_t p1, int slot) {
  const KN(stride1_ctx) *cx = (const KN(stride1_ctx) *)ctx;
  const fp__geom *g = cx->g;
  const FP_T *x = cx->x;
  FP_T *y = cx->y;
  const fp__strides *xs = cx->xs, *ys = cx->ys;
  (void)slot;
  for (int64_t p = p0; p < p1; p++) {
    const int64_t c = p % g->c, n = p / g->c;
    KN(stride1_plane)(g, x + n * xs->n + c * xs->c, xs, y + n * ys->n + c * ys->c, ys);
  }
}

void KN(stride1)(const fp__geom *g, const void *xv, const fp__strides *xs, void *yv,
                 const fp__strides *ys, int nt) {
  const int64_t planes = g->n * g->c;
  KN(stride1_ctx) ctx = {g, (const FP_T *)xv, xs, (FP_T *)yv, ys};
  if (KN(stride1_small_fits)(g)) {
    fp__parallel(nt, planes, KN(stride1_small_chunk), &ctx);
    return;
  }
  fp__parallel(nt, planes, KN(stride1_plane_chunk), &ctx);
}
#  undef FP_S1_ROW
#  undef FP_S1_TILE
#endif /* !FP_WITH_IDX */

/* Output positions [r0, r1) of cinner, compiled per ISA (the channel loops
 * are the vector loops). */
FP_SIMD_CLONES static void KN(cinner_range)(const fp__geom *g, const FP_T *x,
                                            const fp__strides *xs, FP_T *y,
                                            const fp__strides *ys, FP_IDX_T *ix,
                                            const fp__strides *is, int omit, int64_t r0,
                                            int64_t r1) {
  (void)ix;
  (void)is;
  const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2], C = g->c;
  const int64_t H = g->in[1], W = g->in[2];
  for (int64_t r = r0; r < r1; r++) {
    int64_t t = r;
    const int64_t ow = t % OW;
    t /= OW;
    const int64_t oh = t % OH;
    t /= OH;
    const int64_t od = t % OD, n = t / OD;
    const FP_T *xn = x + n * xs->n;
    FP_T *restrict yp = y + n * ys->n + od * ys->a[0] + oh * ys->a[1] + ow * ys->a[2];
#if FP_WITH_IDX
    FP_IDX_T *ip = ix + n * is->n + od * is->a[0] + oh * is->a[1] + ow * is->a[2];
#endif
    int64_t t0[3], t1[3], st[3];
    const int64_t o[3] = {od, oh, ow};
    int empty = 0;
    for (int a = 0; a < 3; a++) {
      st[a] = o[a] * g->s[a] - g->pb[a];
      fp__tap_range(st[a], g->k[a], g->d[a], g->in[a], &t0[a], &t1[a]);
      empty |= t0[a] >= t1[a];
    }
    if (omit || empty) {
      for (int64_t c = 0; c < C; c++) {
        FP_T v;
        int64_t bi;
        WIN(xn + c * xs->c, xs, g, od, oh, ow, omit, &v, &bi);
        yp[c] = v;
        FP_IDX_STORE(ip + c, bi);
        (void)bi;
      }
      continue;
    }
    const int64_t first = ((st[0] + t0[0] * g->d[0]) * H + st[1] + t0[1] * g->d[1]) * W + st[2] +
                          t0[2] * g->d[2];
    (void)first;
    for (int64_t c = 0; c < C; c++) {
      yp[c] = FP_LOWEST;
      FP_IDX_STORE(ip + c, first);
    }
    for (int64_t td = t0[0]; td < t1[0]; td++) {
      const int64_t id = st[0] + td * g->d[0];
      for (int64_t th = t0[1]; th < t1[1]; th++) {
        const int64_t ih = st[1] + th * g->d[1];
        for (int64_t tw = t0[2]; tw < t1[2]; tw++) {
          const int64_t iw = st[2] + tw * g->d[2];
          const FP_T *restrict xr = xn + id * xs->a[0] + ih * xs->a[1] + iw * xs->a[2];
          const int64_t flat = (id * H + ih) * W + iw;
          (void)flat;
          for (int64_t c = 0; c < C; c++) {
            const FP_T v = xr[c];
            const FP_T m = yp[c];
            const int take = (v > m) | FP_ISNAN(v);
            yp[c] = take ? v : m;
#if FP_WITH_IDX
            const FP_IDX_T cur = ip[c];
            ip[c] = take ? (FP_IDX_T)flat : cur;
#endif
          }
        }
      }
    }
  }
}

static void KN(cinner_chunk)(void *ctx, int64_t r0, int64_t r1, int slot) {
  const fp__pool_args *cx = (const fp__pool_args *)ctx;
  (void)slot;
  KN(cinner_range)(cx->g, cx->x, cx->xs, cx->y, cx->ys, cx->ix, cx->is, cx->omit, r0, r1);
}

void KN(cinner)(const fp__geom *g, const void *xv, const fp__strides *xs, void *yv,
                const fp__strides *ys, void *ixv, const fp__strides *is, int omit, int nt) {
  const int64_t pos = g->n * g->out[0] * g->out[1] * g->out[2];
  fp__pool_args ctx = {g, xv, xs, yv, ys, ixv, is, omit};
  fp__parallel(nt, pos, KN(cinner_chunk), &ctx);
}

#if FP_WITH_IDX && FP_IS_FLOAT
typedef struct {
  const fp__geom *g;
  const FP_IDX_T *ix;
  const fp__strides *is;
  _Atomic int bad; /* set by a chunk that finds a bad index */
} KN(bad_index_ctx);

/* Elements [lo, hi) of a contiguous index tensor. */
static void KN(bad_index_flat_chunk)(void *ctx, int64_t lo, int64_t hi, int slot) {
  KN(bad_index_ctx) *cx = (KN(bad_index_ctx) *)ctx;
  const FP_IDX_T *ix = cx->ix;
  const int64_t plane = cx->g->in_plane;
  (void)slot;
  if (atomic_load_explicit(&cx->bad, memory_order_relaxed)) return;
  int b = 0;
  for (int64_t e = lo; e < hi; e++) {
    const int64_t i = (int64_t)ix[e];
    b |= (i < -1) | (i >= plane);
  }
  if (b) atomic_store_explicit(&cx->bad, 1, memory_order_relaxed);
}

/* Index rows [r0, r1) of the (N, C, OD, OH) row space, any strides. */
static void KN(bad_index_rows_chunk)(void *ctx, int64_t r0, int64_t r1, int slot) {
  KN(bad_index_ctx) *cx = (KN(bad_index_ctx) *)ctx;
  const fp__geom *g = cx->g;
  const FP_IDX_T *ix = cx->ix;
  const fp__strides *is = cx->is;
  const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2], plane = g->in_plane;
  (void)slot;
  if (atomic_load_explicit(&cx->bad, memory_order_relaxed)) return;
  int b = 0;
  fp__rowpos pos;
  fp__rowpos_set(&pos, r0, g->c, OD, OH);
  for (int64_t r = r0; r < r1; r++, fp__rowpos_next(&pos, g->c, OD, OH)) {
    const FP_IDX_T *ir = ix + pos.n * is->n + pos.c * is->c + pos.od * is->a[0] + pos.oh * is->a[1];
    for (int64_t ow = 0; ow < OW; ow++) {
      const int64_t i = (int64_t)ir[ow * is->a[2]];
      b |= (i < -1) | (i >= plane);
    }
  }
  if (b) atomic_store_explicit(&cx->bad, 1, memory_order_relaxed);
}

/* 1 if some index lies outside [-1, plane): checked before any write. */
int KN(bad_index)(const fp__geom *g, const void *ixv, const fp__strides *is, int nt) {
  const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2];
  const int64_t rows = g->n * g->c * OD * OH;
  /* one flat pass when the index tensor is contiguous NCHW */
  const int flat = (is->a[2] == 1 && fp__plane_linear(g->out, is->a) &&
                    (g->c == 1 || is->c == g->out_plane) &&
                    (g->n == 1 || is->n == g->c * g->out_plane)) ||
                   /* or dense channels-last (N, D, H, W, C) */
                   ((g->c == 1 || is->c == 1) && (OW == 1 || is->a[2] == g->c) &&
                    (OH == 1 || is->a[1] == OW * g->c) && (OD == 1 || is->a[0] == OH * OW * g->c) &&
                    (g->n == 1 || is->n == g->c * g->out_plane));
  KN(bad_index_ctx) ctx = {g, (const FP_IDX_T *)ixv, is, 0};
  if (flat)
    fp__parallel(nt, rows * OW, KN(bad_index_flat_chunk), &ctx);
  else
    fp__parallel(nt, rows, KN(bad_index_rows_chunk), &ctx);
  return atomic_load_explicit(&ctx.bad, memory_order_relaxed);
}

/* Element offset of flat plane index i in a tensor with spatial strides a. */
static inline int64_t KN(plane_offset)(const fp__geom *g, const fp__strides *xs, int64_t i,
                                       int linear) {
  if (linear) return i * xs->a[2];
  const int64_t w = i % g->in[2], t = i / g->in[2];
  return (t / g->in[1]) * xs->a[0] + (t % g->in[1]) * xs->a[1] + w * xs->a[2];
}

/* The backward kernels' arguments (bwd_tiles also reads k). */
typedef struct {
  const fp__geom *g;
  const FP_T *dy;
  const fp__strides *ys;
  const FP_IDX_T *ix;
  const fp__strides *is;
  FP_T *dx;
  const fp__strides *xs;
  const int64_t *k;
  int linear;
  _Atomic int bad; /* bwd_tiles: set by a chunk that finds an index outside its window */
} KN(bwd_ctx);

/* (n, c) planes [p0, p1) of bwd_rows. */
static void KN(bwd_rows_chunk)(void *ctx, int64_t p0, int64_t p1, int slot) {
  const KN(bwd_ctx) *cx = (const KN(bwd_ctx) *)ctx;
  const fp__geom *g = cx->g;
  const FP_T *dy = cx->dy;
  const FP_IDX_T *ix = cx->ix;
  FP_T *dx = cx->dx;
  const fp__strides *ys = cx->ys, *is = cx->is, *xs = cx->xs;
  const int linear = cx->linear;
  (void)slot;
  for (int64_t p = p0; p < p1; p++) {
    const int64_t c = p % g->c, n = p / g->c;
    FP_T *dxp = dx + n * xs->n + c * xs->c;
    const FP_T *dyp = dy + n * ys->n + c * ys->c;
    const FP_IDX_T *ip = ix + n * is->n + c * is->c;
    fp__zero_plane(g, dxp, xs->a, sizeof(FP_T));
    if (linear && xs->a[2] == 1 && fp__plane_linear(g->out, ys->a) && ys->a[2] == 1 &&
        fp__plane_linear(g->out, is->a) && is->a[2] == 1) {
      /* contiguous planes: a plain scatter-add */
      for (int64_t o = 0; o < g->out_plane; o++) {
        const int64_t i = (int64_t)ip[o];
        if (i >= 0) dxp[i] += dyp[o];
      }
      continue;
    }
    for (int64_t od = 0; od < g->out[0]; od++)
      for (int64_t oh = 0; oh < g->out[1]; oh++) {
        const FP_T *dr = dyp + od * ys->a[0] + oh * ys->a[1];
        const FP_IDX_T *irow = ip + od * is->a[0] + oh * is->a[1];
        for (int64_t ow = 0; ow < g->out[2]; ow++) {
          const int64_t i = (int64_t)irow[ow * is->a[2]];
          if (i < 0) continue;
          dxp[KN(plane_offset)(g, xs, i, linear)] += dr[ow * ys->a[2]];
        }
      }
  }
}

/* dx = scatter-add of dy at indices, one (n, c) plane per task. */
void KN(bwd_rows)(const fp__geom *g, const void *dyv, const fp__strides *ys, const void *ixv,
                  const fp__strides *is, void *dxv, const fp__strides *xs, int nt) {
  KN(bwd_ctx) ctx = {g, (const FP_T *)dyv, ys, (const FP_IDX_T *)ixv, is, (FP_T *)dxv, xs, NULL,
                     fp__plane_linear(g->in, xs->a), 0};
  fp__parallel(nt, g->n * g->c, KN(bwd_rows_chunk), &ctx);
}

/* Zero cells (id, ih, iw0..iw1-1) x C channels of one sample, channels unit-stride. */
FP_ALWAYS_INLINE void KN(zero_cells)(FP_T *dxn, const fp__strides *xs, int64_t id, int64_t ih,
                                     int64_t iw0, int64_t iw1, int64_t C) {
  for (int64_t iw = iw0; iw < iw1; iw++) {
    FP_T *d = dxn + id * xs->a[0] + ih * xs->a[1] + iw * xs->a[2];
    memset(d, 0, (size_t)C * sizeof(FP_T));
  }
}

#  define FP_BWD_CHUNK 64
/* One output row (n, od, oh) of bwd_tiles: 1 if an index lies outside its window. */
FP_SIMD_CLONES static int KN(bwd_tile_row)(const fp__geom *g, const FP_T *dy,
                                           const fp__strides *ys, const FP_IDX_T *ix,
                                           const fp__strides *is, FP_T *dx,
                                           const fp__strides *xs, const int64_t k[3], int64_t r) {
  const int64_t C = g->c, OD = g->out[0], OH = g->out[1], OW = g->out[2];
  const int64_t H = g->in[1], W = g->in[2];
  FP_IDX_T hit[FP_BWD_CHUNK];
  int b = 0;
  const int64_t oh = r % OH, od = (r / OH) % OD, n = r / (OH * OD);
  FP_T *dxn = dx + n * xs->n;
  const int64_t id0 = od * k[0], ih0 = oh * k[1];
  for (int64_t ow = 0; ow < OW; ow++) {
    const int64_t iw0 = ow * k[2];
    const FP_T *dp = dy + n * ys->n + od * ys->a[0] + oh * ys->a[1] + ow * ys->a[2];
    const FP_IDX_T *ip = ix + n * is->n + od * is->a[0] + oh * is->a[1] + ow * is->a[2];
    for (int64_t c0 = 0; c0 < C; c0 += FP_BWD_CHUNK) {
      const int64_t cn = C - c0 < FP_BWD_CHUNK ? C - c0 : FP_BWD_CHUNK;
      const FP_T *restrict dpc = dp + c0;
      const FP_IDX_T *restrict ipc = ip + c0;
      for (int64_t c = 0; c < cn; c++) hit[c] = 0;
      for (int64_t td = 0; td < k[0]; td++)
        for (int64_t th = 0; th < k[1]; th++)
          for (int64_t tw = 0; tw < k[2]; tw++) {
            const int64_t id = id0 + td, ih = ih0 + th, iw = iw0 + tw;
            const FP_IDX_T cell = (FP_IDX_T)((id * H + ih) * W + iw);
            FP_T *restrict d = dxn + id * xs->a[0] + ih * xs->a[1] + iw * xs->a[2] + c0;
            for (int64_t c = 0; c < cn; c++) {
              const FP_IDX_T m = ipc[c] == cell;
              d[c] = m ? (FP_T)0 + dpc[c] : (FP_T)0;
              hit[c] |= m;
            }
          }
      FP_IDX_T miss = 0;
      for (int64_t c = 0; c < cn; c++) miss |= (FP_IDX_T)(!hit[c] & (ipc[c] != -1));
      b |= miss != 0;
    }
  }
  /* the cells no window covers: columns right of the last window, rows
   * below the last one (by the last output row), slices after the last
   * (by the sample's last output row) */
  for (int64_t td = 0; td < k[0]; td++)
    for (int64_t th = 0; th < k[1]; th++)
      KN(zero_cells)(dxn, xs, id0 + td, ih0 + th, OW * k[2], W, C);
  if (oh == OH - 1)
    for (int64_t td = 0; td < k[0]; td++)
      for (int64_t ih = OH * k[1]; ih < H; ih++) KN(zero_cells)(dxn, xs, id0 + td, ih, 0, W, C);
  if (oh == OH - 1 && od == OD - 1)
    for (int64_t id = OD * k[0]; id < g->in[0]; id++)
      for (int64_t ih = 0; ih < H; ih++) KN(zero_cells)(dxn, xs, id, ih, 0, W, C);
  return b;
}

/* Output rows (n, od, oh) [r0, r1) of bwd_tiles. */
static void KN(bwd_tiles_chunk)(void *ctx, int64_t r0, int64_t r1, int slot) {
  KN(bwd_ctx) *cx = (KN(bwd_ctx) *)ctx;
  (void)slot;
  /* once some chunk has failed, the caller redoes everything */
  if (atomic_load_explicit(&cx->bad, memory_order_relaxed)) return;
  int b = 0;
  for (int64_t r = r0; r < r1 && !b; r++)
    b = KN(bwd_tile_row)(cx->g, cx->dy, cx->ys, cx->ix, cx->is, cx->dx, cx->xs, cx->k, r);
  if (b) atomic_store_explicit(&cx->bad, 1, memory_order_relaxed);
}

/* The backward of non-overlapping windows in C-innermost memory, as a
 * gather: when the output tiles the input with windows of k[a] = in[a] /
 * out[a] cells (2x2/s2 and the like) and every index lies in its own
 * window (or is -1), each input cell receives at most one gradient, the one
 * of its window's output if the index names it, else 0.  Every dx cell is
 * written once, by one thread, with 0 + dy (the scatter's sum from zero);
 * no separate zero-fill pass.  Returns 1 if some index lies outside its
 * window: the caller then runs the scatter over the whole tensor. */
static int KN(bwd_tiles)(const fp__geom *g, const FP_T *dy, const fp__strides *ys,
                         const FP_IDX_T *ix, const fp__strides *is, FP_T *dx,
                         const fp__strides *xs, const int64_t k[3], int nt) {
  const int64_t rows = g->n * g->out[0] * g->out[1];
  KN(bwd_ctx) ctx = {g, dy, ys, ix, is, dx, xs, k, 0, 0};
  fp__parallel(nt, rows, KN(bwd_tiles_chunk), &ctx);
  return atomic_load_explicit(&ctx.bad, memory_order_relaxed);
}
#  undef FP_BWD_CHUNK

/* Samples [n0, n1) of bwd_cinner's scatter. */
static void KN(bwd_cinner_chunk)(void *ctx, int64_t n0, int64_t n1, int slot) {
  const KN(bwd_ctx) *cx = (const KN(bwd_ctx) *)ctx;
  const fp__geom *g = cx->g;
  const FP_T *dy = cx->dy;
  const FP_IDX_T *ix = cx->ix;
  FP_T *dx = cx->dx;
  const fp__strides *ys = cx->ys, *is = cx->is, *xs = cx->xs;
  const int64_t C = g->c;
  const int linear = cx->linear;
  (void)slot;
  for (int64_t n = n0; n < n1; n++) {
    FP_T *dxn = dx + n * xs->n;
    if (xs->c == 1) {
      /* channels unit-stride: one run of C per cell */
      for (int64_t d = 0; d < g->in[0]; d++)
        for (int64_t h = 0; h < g->in[1]; h++) KN(zero_cells)(dxn, xs, d, h, 0, g->in[2], C);
    } else {
      for (int64_t c = 0; c < C; c++) fp__zero_plane(g, dxn + c * xs->c, xs->a, sizeof(FP_T));
    }
    for (int64_t od = 0; od < g->out[0]; od++)
      for (int64_t oh = 0; oh < g->out[1]; oh++)
        for (int64_t ow = 0; ow < g->out[2]; ow++) {
          const FP_T *dp = dy + n * ys->n + od * ys->a[0] + oh * ys->a[1] + ow * ys->a[2];
          const FP_IDX_T *ip = ix + n * is->n + od * is->a[0] + oh * is->a[1] + ow * is->a[2];
          for (int64_t c = 0; c < C; c++) {
            const int64_t i = (int64_t)ip[c * is->c];
            if (i < 0) continue;
            dxn[KN(plane_offset)(g, xs, i, linear) + c * xs->c] += dp[c * ys->c];
          }
        }
  }
}

/* The same for C-innermost memory: one sample per task, channels inner. */
void KN(bwd_cinner)(const fp__geom *g, const void *dyv, const fp__strides *ys, const void *ixv,
                    const fp__strides *is, void *dxv, const fp__strides *xs, int nt) {
  const FP_T *dy = (const FP_T *)dyv;
  const FP_IDX_T *ix = (const FP_IDX_T *)ixv;
  FP_T *dx = (FP_T *)dxv;
  if (xs->c == 1 && ys->c == 1 && is->c == 1 &&
      (sizeof(FP_IDX_T) == 8 || g->in_plane - 1 <= INT32_MAX)) {
    int64_t k[3];
    int tiles = 1;
    for (int a = 0; a < 3; a++) {
      k[a] = g->out[a] > 0 ? g->in[a] / g->out[a] : 0;
      tiles &= k[a] >= 1;
    }
    if (tiles && !KN(bwd_tiles)(g, dy, ys, ix, is, dx, xs, k, nt)) return;
  }
  KN(bwd_ctx) ctx = {g, dy, ys, ix, is, dx, xs, NULL, fp__plane_linear(g->in, xs->a), 0};
  fp__parallel(nt, g->n, KN(bwd_cinner_chunk), &ctx);
}
#endif /* FP_WITH_IDX && FP_IS_FLOAT */

#undef FP_IDX_STORE
#undef ROWUPD
#undef FP_MAX_FUSED_ROWS
#undef WIN
#undef KN
