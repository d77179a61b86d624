/* Average-pooling microkernels for one value dtype.
 *
 * Included by avgpool_variants.h with FP_T (input type), FP_SFX, FP_ACC,
 * FP_TY (output type), FP_YSFX (its tag: same, f64), FP_YSTORE(v) (FP_ACC
 * to FP_TY) and FP_WITH_BWD (floating types).  Formerly: FP_T, FP_SFX
 * (f32, f64) and FP_ACC (accumulator type); defines
 *   fp__<SFX>_avgpool__rows / __cinner         forward
 *   fp__<SFX>_avgpool__bwd_rows / __bwd_cinner backward (scatter per plane)
 * Each output (forward) and each plane or input row (backward) is owned by
 * one chunk of the parallel driver and visited in a fixed order, so results
 * do not depend on threads.
 */
#define KN(name) \
  FP__CAT(FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), _avgpool_), FP_YSFX), FP__CAT(__, name))

/* Row tile of the forward accumulators, kept on the stack. */
#define FP_AVG_TILE 256

/* The divisor of one window (fp__avg_divisor: the rule shared with every
 * averaging operator). */
static inline FP_ACC KN(divisor)(const fp__geom *g, const int64_t st[3], int64_t valid,
                                 int64_t divisor_override, int count_include_pad) {
  return (FP_ACC)fp__avg_divisor(g, st, valid, divisor_override, count_include_pad);
}

/* 1 if div is a power of two: then x * (1/div) is x / div exactly (both
 * are the correctly rounded value of the same quotient), so the kernels
 * multiply (a divide costs several cycles per vector). */
static inline int KN(pow2)(FP_ACC div) {
  const int64_t d = (int64_t)div;
  return d > 0 && (FP_ACC)d == div && (d & (d - 1)) == 0;
}

/* One output from its definition: the sum of the valid taps over the divisor. */
static inline FP_TY KN(window)(const FP_T *xp, const fp__strides *xs, const fp__geom *g,
                              const int64_t o[3], int64_t dov, int cip) {
  int64_t t0[3], t1[3], st[3], valid = 1;
  for (int a = 0; a < 3; a++) {
    st[a] = o[a] * g->s[a] - g->pb[a];
    fp__tap_range(st[a], g->k[a], g->d[a], g->in[a], &t0[a], &t1[a]);
    if (t0[a] >= t1[a]) return (FP_TY)0;
    valid *= t1[a] - t0[a];
  }
  FP_ACC sum = 0;
  for (int64_t td = t0[0]; td < t1[0]; td++)
    for (int64_t th = t0[1]; th < t1[1]; th++) {
      const FP_T *xr =
          xp + (st[0] + td * g->d[0]) * xs->a[0] + (st[1] + th * g->d[1]) * xs->a[1];
      for (int64_t tw = t0[2]; tw < t1[2]; tw++) sum += (FP_ACC)xr[(st[2] + tw * g->d[2]) * xs->a[2]];
    }
  return FP_YSTORE(sum / KN(divisor)(g, st, valid, dov, cip));
}

/* Interior outputs [lo, hi) of a row from the nr window rows xr[]: the sum of
 * the taps in window order, in FP_ACC, over div.  Inlined with constant
 * nr/s/kw/dw for the common windows so it vectorises across outputs. */
FP_ALWAYS_INLINE void KN(fused)(FP_TY *restrict yr, const FP_T *const *xr, int64_t nr, int64_t lo,
                             int64_t hi, int64_t s, int64_t kw, int64_t dw, int64_t pw,
                             FP_ACC div) {
  if (KN(pow2)(div)) {
    const FP_ACC inv = (FP_ACC)1 / div;
    for (int64_t ow = lo; ow < hi; ow++) {
      const int64_t base = ow * s - pw;
      FP_ACC acc = 0;
      for (int64_t r = 0; r < nr; r++)
        for (int64_t tw = 0; tw < kw; tw++) acc += (FP_ACC)xr[r][base + tw * dw];
      yr[ow] = FP_YSTORE(acc * inv);
    }
    return;
  }
  for (int64_t ow = lo; ow < hi; ow++) {
    const int64_t base = ow * s - pw;
    FP_ACC acc = 0;
    for (int64_t r = 0; r < nr; r++)
      for (int64_t tw = 0; tw < kw; tw++) acc += (FP_ACC)xr[r][base + tw * dw];
    yr[ow] = FP_YSTORE(acc / div);
  }
}

/* A 2x2/s2 output row from input rows a and b (every tap inside): 8
 * outputs per step from 16 cells of each row, the lanes (2i, 2i+1) of a
 * then of b added in window order after a zero start, which is the fused
 * loop's sum bit for bit (-0.0 windows included); the tail by the loop. */
FP_ALWAYS_INLINE void KN(row22)(FP_TY *restrict yr, const FP_T *a, const FP_T *b, int64_t OW,
                                FP_ACC div) {
  int64_t ow = 0;
#if defined(FP_HAVE_VEC) && FP_SLOT <= 1 && FP_IS_FLOAT
  const int mul = KN(pow2)(div);
  const FP_ACC inv = (FP_ACC)1 / div;
  const fp__v8l ev = {0, 2, 4, 6, 8, 10, 12, 14}, od = {1, 3, 5, 7, 9, 11, 13, 15};
  for (; ow + 8 <= OW; ow += 8) {
    fp__v8d a0, a1, b0, b1;
    FP__CAT(FP_LOAD8D_, FP_SFX)(a0, a + 2 * ow);
    FP__CAT(FP_LOAD8D_, FP_SFX)(a1, a + 2 * ow + 8);
    FP__CAT(FP_LOAD8D_, FP_SFX)(b0, b + 2 * ow);
    FP__CAT(FP_LOAD8D_, FP_SFX)(b1, b + 2 * ow + 8);
    fp__v8d acc = {0, 0, 0, 0, 0, 0, 0, 0};
    acc += __builtin_shuffle(a0, a1, ev);
    acc += __builtin_shuffle(a0, a1, od);
    acc += __builtin_shuffle(b0, b1, ev);
    acc += __builtin_shuffle(b0, b1, od);
    if (mul) acc *= inv;
    else acc /= div;
#  if FP_SLOT == 0
    const fp__v8f r = __builtin_convertvector(acc, fp__v8f);
    memcpy(yr + ow, &r, sizeof r);
#  else
    memcpy(yr + ow, &acc, sizeof acc);
#  endif
  }
#endif
  const FP_T *xr[2] = {a, b};
  KN(fused)(yr, xr, 2, ow, OW, 2, 2, 1, 0, div);
}

/* The interior of one output row (every W tap inside the input, so one
 * divisor for the whole row). */
FP_ALWAYS_INLINE void KN(row_interior)(const fp__geom *g, const FP_T *xp,
                                            const fp__strides *xs, FP_TY *yr, int64_t ysw,
                                            int64_t lo, int64_t hi, int64_t st[3], int64_t td0,
                                            int64_t td1, int64_t th0, int64_t th1, int64_t dov,
                                            int cip) {
  const int64_t kw = g->k[2], sw = g->s[2], dw = g->d[2], pw = g->pb[2], xsw = xs->a[2];
  st[2] = lo * sw - pw;
  const FP_ACC div = KN(divisor)(g, st, (td1 - td0) * (th1 - th0) * kw, dov, cip);
  const int64_t nr = (td1 - td0) * (th1 - th0);
  if (xsw == 1 && ysw == 1 && nr <= 4) {
    const FP_T *xr[4];
    int64_t j = 0;
    for (int64_t td = td0; td < td1; td++)
      for (int64_t th = th0; th < th1; th++, j++)
        xr[j] = xp + (st[0] + td * g->d[0]) * xs->a[0] + (st[1] + th * g->d[1]) * xs->a[1];
    if (dw == 1 && sw == 2 && kw == 2 && nr == 2)
      KN(fused)(yr, xr, 2, lo, hi, 2, 2, 1, pw, div);
    else if (dw == 1 && sw == 2 && kw == 3 && nr == 3)
      KN(fused)(yr, xr, 3, lo, hi, 2, 3, 1, pw, div);
    else if (dw == 1 && sw == 1 && kw == 3 && nr == 3)
      KN(fused)(yr, xr, 3, lo, hi, 1, 3, 1, pw, div);
    else
      KN(fused)(yr, xr, nr, lo, hi, sw, kw, dw, pw, div);
    return;
  }
  for (int64_t t0 = lo; t0 < hi; t0 += FP_AVG_TILE) {
    const int64_t t1 = t0 + FP_AVG_TILE < hi ? t0 + FP_AVG_TILE : hi, m = t1 - t0;
    FP_ACC acc[FP_AVG_TILE];
    for (int64_t j = 0; j < m; j++) acc[j] = 0;
    for (int64_t td = td0; td < td1; td++)
      for (int64_t th = th0; th < th1; th++) {
        const FP_T *xr = xp + (st[0] + td * g->d[0]) * xs->a[0] +
                         (st[1] + th * g->d[1]) * xs->a[1] + (t0 * sw - pw) * xsw;
        for (int64_t tw = 0; tw < kw; tw++) {
          const FP_T *xt = xr + tw * dw * xsw;
          for (int64_t j = 0; j < m; j++) acc[j] += (FP_ACC)xt[j * sw * xsw];
        }
      }
    FP_TY *yt = yr + t0 * ysw;
    for (int64_t j = 0; j < m; j++) yt[j * ysw] = FP_YSTORE(acc[j] / div);
  }
}

/* Output rows [oh0, oh1) of one (n, c, od): borders from the definition,
 * interiors fused; a segment whose windows all lie inside the input (rank
 * <= 2) steps pointers only and divides by one constant.  One per-ISA
 * dispatch per segment. */
FP_SIMD_CLONES static void KN(segment)(const fp__geom *g, const FP_T *xp, const fp__strides *xs,
                                       FP_TY *yp, const fp__strides *ys, int64_t od, int64_t oh0,
                                       int64_t oh1, int64_t ow_lo, int64_t ow_hi, int64_t dov,
                                       int cip) {
  const int64_t OW = g->out[2], H = g->in[1];
  const int64_t kh = g->k[1], sh = g->s[1], dh = g->d[1], ph = g->pb[1];
  const int64_t kw = g->k[2], sw = g->s[2], dw = g->d[2];
  const int64_t ysw = ys->a[2];
  int64_t st[3], td0, td1;
  st[0] = od * g->s[0] - g->pb[0];
  fp__tap_range(st[0], g->k[0], g->d[0], g->in[0], &td0, &td1);
  if (xs->a[2] == 1 && ysw == 1 && g->k[0] == 1 && td0 < td1 && ow_lo == 0 && ow_hi == OW &&
      kh <= 4 && oh0 * sh - ph >= 0 && (oh1 - 1) * sh - ph + (kh - 1) * dh < H) {
    const FP_ACC div = dov ? (FP_ACC)dov : (FP_ACC)(kh * kw);
    const FP_T *x0 = xp + st[0] * xs->a[0] + (oh0 * sh - ph) * xs->a[1];
    const int64_t xstep = sh * xs->a[1], xrow = dh * xs->a[1];
    for (int64_t r = 0; r < oh1 - oh0; r++) {
      const FP_T *xr[4];
      for (int64_t j = 0; j < kh; j++) xr[j] = x0 + r * xstep + j * xrow;
      FP_TY *yr = yp + (oh0 + r) * ys->a[1];
      if (dw == 1 && sw == 2 && kw == 2 && kh == 2)
        KN(row22)(yr, xr[0], xr[1], OW, div);
      else if (dw == 1 && sw == 2 && kw == 3 && kh == 3)
        KN(fused)(yr, xr, 3, 0, OW, 2, 3, 1, 0, div);
      else
        KN(fused)(yr, xr, kh, 0, OW, sw, kw, dw, 0, div);
    }
    return;
  }
  const int empty_d = td0 >= td1;
  for (int64_t oh = oh0; oh < oh1; oh++) {
    FP_TY *yr = yp + oh * ys->a[1];
    int64_t th0, th1;
    st[1] = oh * sh - ph;
    fp__tap_range(st[1], kh, dh, H, &th0, &th1);
    const int empty = empty_d || th0 >= th1;
    const int64_t lo = empty ? OW : ow_lo, hi = empty ? OW : ow_hi;
    for (int64_t ow = 0; ow < OW; ow++) {
      if (ow == lo) ow = hi;
      if (ow >= OW) break;
      const int64_t o[3] = {od, oh, ow};
      yr[ow * ysw] = KN(window)(xp, xs, g, o, dov, cip);
    }
    if (lo < hi) KN(row_interior)(g, xp, xs, yr, ysw, lo, hi, st, td0, td1, th0, th1, dov, cip);
  }
}

#if defined(FP_HAVE_VEC) && FP_SLOT <= 1 && FP_IS_FLOAT
/* Short rows (the 14x14 and 15x15 maps of adaptive pooling to 7x7): NCHW
 * input and output both flat (planes back to back), no padding, every
 * window inside, W-span (OW-1)*sw + kw <= 16, sw in {1, 2}, kw <= 3, dw = 1.
 * One output row is 16 input cells per window row, loaded as two 8-lane
 * double vectors, and each tap (th, tw) in window order adds the lanes
 * (ow*sw + tw) of its row to the output lanes: the same sums in the same
 * order as the per-output loop (fused), so the same bits, for a handful
 * of vector operations per row instead of a scalar loop of OW outputs.
 * Loads may run past a row into the next (never past the input's end: a
 * row there is copied first), and stores of 8 or 16 lanes past the row end
 * only when rows later in [r0, r1), written afterwards, cover them. */
FP_ALWAYS_INLINE void KN(short_body)(const fp__geom *g, const FP_T *x, FP_T *y, int64_t r0,
                                     int64_t r1, FP_ACC div, const int64_t sw,
                                     const int64_t kw) {
  const int64_t H = g->in[1], W = g->in[2], OH = g->out[1], OW = g->out[2];
  const int64_t kh = g->k[1], sh = g->s[1], dh = g->d[1];
  const int64_t xlen = g->n * g->c * H * W, span = (OW - 1) * sw + kw;
  const int two = OW > 8, mul = KN(pow2)(div);
  const FP_ACC inv = (FP_ACC)1 / div;
  int64_t p = r0 / OH, oh = r0 % OH;
  for (int64_t r = r0; r < r1; r++) {
    fp__v8d lo = {0, 0, 0, 0, 0, 0, 0, 0}, hi = lo;
    const int64_t xrow = p * H * W + oh * sh * W;
    for (int64_t th = 0; th < kh; th++) {
      const int64_t off = xrow + th * dh * W;
      const FP_T *q = x + off;
      FP_T tmp[16];
      if (off + 16 > xlen) {
        for (int j = 0; j < 16; j++) tmp[j] = 0;
        memcpy(tmp, q, (size_t)span * sizeof(FP_T));
        q = tmp;
      }
      fp__v8d a, b;
      FP__CAT(FP_LOAD8D_, FP_SFX)(a, q);
      FP__CAT(FP_LOAD8D_, FP_SFX)(b, q + 8);
      for (int64_t t = 0; t < kw; t++) {
        lo += __builtin_shuffle(a, b, FP_HMASK(fp__v8l, sw, t, 0));
        if (two) hi += __builtin_shuffle(a, b, FP_HMASK(fp__v8l, sw, t, 1));
      }
    }
    if (mul) {
      lo *= inv;
      hi *= inv;
    } else {
      lo /= div;
      hi /= div;
    }
    FP_T *yr = y + r * OW;
    const int64_t lanes = two ? 16 : 8;
    FP_T out[16];
#  if FP_SLOT == 0
    const fp__v8f flo = __builtin_convertvector(lo, fp__v8f);
    const fp__v8f fhi = __builtin_convertvector(hi, fp__v8f);
#  else
    const fp__v8d flo = lo, fhi = hi;
#  endif
    if ((r + 1) * OW + (lanes - OW) <= r1 * OW) {
      memcpy(yr, &flo, sizeof flo);
      if (two) memcpy(yr + 8, &fhi, sizeof fhi);
    } else {
      memcpy(out, &flo, sizeof flo);
      memcpy(out + 8, &fhi, sizeof fhi);
      for (int64_t j = 0; j < OW; j++) yr[j] = out[j];
    }
    if (++oh == OH) {
      oh = 0;
      p++;
    }
  }
}

FP_SIMD_CLONES static void KN(short_rows)(const fp__geom *g, const FP_T *x, FP_T *y,
                                          int64_t r0, int64_t r1, FP_ACC div) {
  const int64_t sw = g->s[2], kw = g->k[2];
  if (sw == 2 && kw == 2) KN(short_body)(g, x, y, r0, r1, div, 2, 2);
  else if (sw == 2 && kw == 3) KN(short_body)(g, x, y, r0, r1, div, 2, 3);
  else if (sw == 1 && kw == 2) KN(short_body)(g, x, y, r0, r1, div, 1, 2);
  else if (sw == 1 && kw == 3) KN(short_body)(g, x, y, r0, r1, div, 1, 3);
  else if (sw == 2) KN(short_body)(g, x, y, r0, r1, div, 2, 1);
  else KN(short_body)(g, x, y, r0, r1, div, 1, 1);
}

/* 1 if KN(short_rows) serves this call (see there). */
static int KN(short_ok)(const fp__geom *g, const fp__strides *xs, const fp__strides *ys) {
  const int64_t H = g->in[1], W = g->in[2], OH = g->out[1], OW = g->out[2];
  if (g->in[0] != 1 || g->out[0] != 1 || g->k[0] != 1) return 0;
  if (g->pb[1] || g->pe[1] || g->pb[2] || g->pe[2] || g->d[2] != 1) return 0;
  const int64_t span = (OW - 1) * g->s[2] + g->k[2];
  if (g->s[2] > 2 || g->k[2] > 3 || span > 16 || span > W) return 0;
  if (g->k[1] > 16 || (OH - 1) * g->s[1] + (g->k[1] - 1) * g->d[1] >= H) return 0;
  if (xs->a[2] != 1 || xs->a[1] != W || (g->c > 1 && xs->c != H * W) ||
      (g->n > 1 && xs->n != g->c * H * W))
    return 0;
  if (ys->a[2] != 1 || ys->a[1] != OW || (g->c > 1 && ys->c != OH * OW) ||
      (g->n > 1 && ys->n != g->c * OH * OW))
    return 0;
  return 1;
}
#endif

typedef struct {
  const fp__geom *g;
  const FP_T *x;
  const fp__strides *xs;
  FP_TY *y;
  const fp__strides *ys;
  int64_t dov, ow_lo, ow_hi;
  int cip;
#if defined(FP_HAVE_VEC) && FP_SLOT <= 1 && FP_IS_FLOAT
  int short_rows;
  FP_ACC short_div;
#endif
} KN(rows_ctx);

/* Output rows [b, e) of the (N, C, OD, OH) row space. */
static void KN(rows_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(rows_ctx) *k = (const KN(rows_ctx) *)ctx;
  const fp__geom *g = k->g;
  const FP_T *x = k->x;
  FP_TY *y = k->y;
  const fp__strides *xs = k->xs, *ys = k->ys;
  const int64_t OD = g->out[0], OH = g->out[1];
  (void)slot;
#if defined(FP_HAVE_VEC) && FP_SLOT <= 1 && FP_IS_FLOAT
  if (k->short_rows) {
    KN(short_rows)(g, x, y, b, e, k->short_div);
    return;
  }
#endif
  fp__rowpos pos;
  fp__rowpos_set(&pos, b, g->c, OD, OH);
  int64_t r = b;
  while (r < e) {
    int64_t len = OH - pos.oh;
    if (len > e - r) len = e - r;
    KN(segment)(g, x + pos.n * xs->n + pos.c * xs->c, xs,
                y + pos.n * ys->n + pos.c * ys->c + pos.od * ys->a[0], ys, pos.od, pos.oh,
                pos.oh + len, k->ow_lo, k->ow_hi, k->dov, k->cip);
    r += len;
    pos.oh += len - 1;
    fp__rowpos_next(&pos, g->c, OD, OH);
  }
}

void KN(rows)(const fp__geom *g, const void *xv, const fp__strides *xs, void *yv,
              const fp__strides *ys, int64_t dov, int cip, int nt) {
  KN(rows_ctx) ctx = {.g = g, .x = (const FP_T *)xv, .xs = xs, .y = (FP_TY *)yv, .ys = ys,
                      .dov = dov, .cip = cip};
  const int64_t rows = g->n * g->c * g->out[0] * g->out[1];
  fp__interior_cols(g, &ctx.ow_lo, &ctx.ow_hi);
#if defined(FP_HAVE_VEC) && FP_SLOT <= 1 && FP_IS_FLOAT
  ctx.short_rows = KN(short_ok)(g, xs, ys);
  /* in FP_ACC: exact for the small windows of short rows, no overflow for others */
  ctx.short_div = dov ? (FP_ACC)dov : (FP_ACC)g->k[1] * (FP_ACC)g->k[2];
#endif
  fp__parallel(nt, rows, KN(rows_chunk), &ctx);
}

/* Channels-inner (NHWC) outputs (n, od, oh, ow) for ow in [0, OW): per
 * output the valid taps in window order, each adding a tile of C to FP_ACC
 * accumulators, then one divide per channel: the same order as before, in
 * a per-ISA clone (one dispatch per output row) so the channel loops run on
 * full vectors. */
FP_SIMD_CLONES static void KN(cinner_row)(const fp__geom *g, const FP_T *xn,
                                          const fp__strides *xs, FP_TY *yrow, int64_t ysw,
                                          int64_t od, int64_t oh, int64_t dov, int cip) {
  const int64_t OW = g->out[2], C = g->c;
  int64_t t0[3], t1[3], st[3];
  int empty = 0;
  const int64_t o01[2] = {od, oh};
  for (int a = 0; a < 2; a++) {
    st[a] = o01[a] * g->s[a] - g->pb[a];
    fp__tap_range(st[a], g->k[a], g->d[a], g->in[a], &t0[a], &t1[a]);
    empty |= t0[a] >= t1[a];
  }
  for (int64_t ow = 0; ow < OW; ow++) {
    FP_TY *restrict yp = yrow + ow * ysw;
    st[2] = ow * g->s[2] - g->pb[2];
    fp__tap_range(st[2], g->k[2], g->d[2], g->in[2], &t0[2], &t1[2]);
    if (empty || t0[2] >= t1[2]) {
      for (int64_t c = 0; c < C; c++) yp[c] = (FP_TY)0;
      continue;
    }
    const int64_t valid = (t1[0] - t0[0]) * (t1[1] - t0[1]) * (t1[2] - t0[2]);
    const FP_ACC div = KN(divisor)(g, st, valid, dov, cip);
#if defined(FP_HAVE_VEC) && FP_SLOT <= 1 && FP_IS_FLOAT
    /* up to 32 taps: their row pointers once, then 8 channels at a time
     * with the accumulator in a register, taps in window order */
    if (valid <= 32) {
      const FP_T *tp[32];
      int nt = 0;
      const int mul = KN(pow2)(div);
      const FP_ACC inv = (FP_ACC)1 / div;
      for (int64_t td = t0[0]; td < t1[0]; td++)
        for (int64_t th = t0[1]; th < t1[1]; th++)
          for (int64_t tw = t0[2]; tw < t1[2]; tw++)
            tp[nt++] = xn + (st[0] + td * g->d[0]) * xs->a[0] +
                       (st[1] + th * g->d[1]) * xs->a[1] + (st[2] + tw * g->d[2]) * xs->a[2];
      int64_t c = 0;
      for (; c + 8 <= C; c += 8) {
        fp__v8d acc = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int t = 0; t < nt; t++) {
          fp__v8d v;
          FP__CAT(FP_LOAD8D_, FP_SFX)(v, tp[t] + c);
          acc += v;
        }
        if (mul) acc *= inv;
        else acc /= div;
#  if FP_SLOT == 0
        const fp__v8f r = __builtin_convertvector(acc, fp__v8f);
        memcpy(yp + c, &r, sizeof r);
#  else
        memcpy(yp + c, &acc, sizeof acc);
#  endif
      }
      for (; c < C; c++) {
        FP_ACC a = 0;
        for (int t = 0; t < nt; t++) a += (FP_ACC)tp[t][c];
        yp[c] = FP_YSTORE(a / div);
      }
      continue;
    }
#endif
    for (int64_t c0 = 0; c0 < C; c0 += FP_AVG_TILE) {
      const int64_t m = c0 + FP_AVG_TILE < C ? FP_AVG_TILE : C - c0;
      FP_ACC acc[FP_AVG_TILE];
      for (int64_t j = 0; j < m; j++) acc[j] = 0;
      for (int64_t td = t0[0]; td < t1[0]; td++)
        for (int64_t th = t0[1]; th < t1[1]; th++) {
          const FP_T *xr = xn + (st[0] + td * g->d[0]) * xs->a[0] +
                           (st[1] + th * g->d[1]) * xs->a[1] + c0;
          for (int64_t tw = t0[2]; tw < t1[2]; tw++) {
            const FP_T *restrict xt = xr + (st[2] + tw * g->d[2]) * xs->a[2];
            for (int64_t j = 0; j < m; j++) acc[j] += (FP_ACC)xt[j];
          }
        }
      for (int64_t j = 0; j < m; j++) yp[c0 + j] = FP_YSTORE(acc[j] / div);
    }
  }
}

typedef struct {
  const fp__geom *g;
  const FP_T *x;
  const fp__strides *xs;
  FP_TY *y;
  const fp__strides *ys;
  int64_t dov;
  int cip;
} KN(cinner_ctx);

/* Output rows [b, e) of the (N, OD, OH) row space. */
static void KN(cinner_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(cinner_ctx) *k = (const KN(cinner_ctx) *)ctx;
  const fp__geom *g = k->g;
  const FP_T *x = k->x;
  FP_TY *y = k->y;
  const fp__strides *xs = k->xs, *ys = k->ys;
  const int64_t OD = g->out[0], OH = g->out[1];
  (void)slot;
  for (int64_t r = b; r < e; r++) {
    const int64_t oh = r % OH, od = (r / OH) % OD, n = r / (OH * OD);
    KN(cinner_row)(g, x + n * xs->n, xs, y + n * ys->n + od * ys->a[0] + oh * ys->a[1],
                   ys->a[2], od, oh, k->dov, k->cip);
  }
}

void KN(cinner)(const fp__geom *g, const void *xv, const fp__strides *xs, void *yv,
                const fp__strides *ys, int64_t dov, int cip, int nt) {
  KN(cinner_ctx) ctx = {.g = g, .x = (const FP_T *)xv, .xs = xs, .y = (FP_TY *)yv, .ys = ys,
                        .dov = dov, .cip = cip};
  fp__parallel(nt, g->n * g->out[0] * g->out[1], KN(cinner_chunk), &ctx);
}

/* Adds dy/divisor of output o to each valid cell of its window in one plane. */
#if FP_WITH_BWD
static inline void KN(spread)(FP_T *dxp, const fp__strides *xs, const fp__geom *g,
                              const int64_t o[3], FP_T gy, int64_t dov, int cip) {
  int64_t t0[3], t1[3], st[3], valid = 1;
  for (int a = 0; a < 3; a++) {
    st[a] = o[a] * g->s[a] - g->pb[a];
    fp__tap_range(st[a], g->k[a], g->d[a], g->in[a], &t0[a], &t1[a]);
    if (t0[a] >= t1[a]) return;
    valid *= t1[a] - t0[a];
  }
  const FP_T v = (FP_T)(gy / (FP_T)KN(divisor)(g, st, valid, dov, cip));
  for (int64_t td = t0[0]; td < t1[0]; td++)
    for (int64_t th = t0[1]; th < t1[1]; th++) {
      FP_T *xr = dxp + (st[0] + td * g->d[0]) * xs->a[0] + (st[1] + th * g->d[1]) * xs->a[1];
      for (int64_t tw = t0[2]; tw < t1[2]; tw++) xr[(st[2] + tw * g->d[2]) * xs->a[2]] += v;
    }
}

/* The backward kernels' captures (dy, its strides ys; dx, its strides xs). */
typedef struct {
  const fp__geom *g;
  const FP_T *dy;
  const fp__strides *ys;
  FP_T *dx;
  const fp__strides *xs;
  int64_t dov, ow_lo, ow_hi;
  int cip;
} KN(bwd_ctx);

/* (n, c) planes [b, e) of dx. */
static void KN(bwd_rows_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(bwd_ctx) *k = (const KN(bwd_ctx) *)ctx;
  const fp__geom *g = k->g;
  const FP_T *dy = k->dy;
  FP_T *dx = k->dx;
  const fp__strides *xs = k->xs, *ys = k->ys;
  const int64_t dov = k->dov;
  const int cip = k->cip;
  (void)slot;
  for (int64_t p = b; p < e; p++) {
    const int64_t c = p % g->c, n = p / g->c;
    FP_T *dxp = dx + n * xs->n + c * xs->c;
    const FP_T *dyp = dy + n * ys->n + c * ys->c;
    fp__zero_plane(g, dxp, xs->a, sizeof(FP_T));
    for (int64_t od = 0; od < g->out[0]; od++)
      for (int64_t oh = 0; oh < g->out[1]; oh++)
        for (int64_t ow = 0; ow < g->out[2]; ow++) {
          const int64_t o[3] = {od, oh, ow};
          KN(spread)(dxp, xs, g, o, dyp[od * ys->a[0] + oh * ys->a[1] + ow * ys->a[2]], dov, cip);
        }
  }
}

void KN(bwd_rows)(const fp__geom *g, const void *dyv, const fp__strides *ys, void *dxv,
                  const fp__strides *xs, int64_t dov, int cip, int nt) {
  KN(bwd_ctx) ctx = {.g = g, .dy = (const FP_T *)dyv, .ys = ys, .dx = (FP_T *)dxv, .xs = xs,
                     .dov = dov, .cip = cip};
  fp__parallel(nt, g->n * g->c, KN(bwd_rows_chunk), &ctx);
}

/* Backward when windows do not overlap along any axis (ek <= stride): each
 * input cell takes at most one output's share, so every dx row is written
 * once, with no zero-fill pass and no accumulation.  One input row per
 * task. */
FP_SIMD_CLONES static void KN(gather_row)(const fp__geom *g, const FP_T *dyr, int64_t dysw,
                                          FP_T *dxr, int64_t dxsw, const int64_t st01[2],
                                          int64_t valid01, int64_t ow_lo, int64_t ow_hi,
                                          int64_t dov, int cip) {
  const int64_t W = g->in[2], OW = g->out[2];
  const int64_t kw = g->k[2], sw = g->s[2], dw = g->d[2], pw = g->pb[2];
  if (dxsw == 1) {
    for (int64_t w = 0; w < W; w++) dxr[w] = 0;
  } else {
    for (int64_t w = 0; w < W; w++) dxr[w * dxsw] = 0;
  }
  /* interior outputs share one divisor */
  int64_t st[3] = {st01[0], st01[1], ow_lo * sw - pw};
  const FP_T div = (FP_T)KN(divisor)(g, st, valid01 * kw, dov, cip);
  if (dxsw == 1 && dysw == 1 && dw == 1 && sw == 2 && kw == 2) {
    for (int64_t ow = ow_lo; ow < ow_hi; ow++) {
      const FP_T v = (FP_T)(dyr[ow] / div);
      dxr[2 * ow - pw] = v;
      dxr[2 * ow + 1 - pw] = v;
    }
  } else {
    for (int64_t ow = ow_lo; ow < ow_hi; ow++) {
      const FP_T v = (FP_T)(dyr[ow * dysw] / div);
      for (int64_t t = 0; t < kw; t++) dxr[(ow * sw - pw + t * dw) * dxsw] = v;
    }
  }
  for (int64_t ow = 0; ow < OW; ow++) {
    if (ow == ow_lo) ow = ow_hi;
    if (ow >= OW) break;
    int64_t t0, t1;
    st[2] = ow * sw - pw;
    fp__tap_range(st[2], kw, dw, W, &t0, &t1);
    if (t0 >= t1) continue;
    const FP_T v = (FP_T)(dyr[ow * dysw] / (FP_T)KN(divisor)(g, st, valid01 * (t1 - t0), dov, cip));
    for (int64_t t = t0; t < t1; t++) dxr[(st[2] + t * dw) * dxsw] = v;
  }
}

/* 1 if no two windows share a cell along any axis. */
int KN(windows_disjoint)(const fp__geom *g) {
  for (int a = 0; a < 3; a++)
    if (g->d[a] * (g->k[a] - 1) + 1 > g->s[a]) return 0;
  return 1;
}

/* Input rows [b, e) of the (N, C, D, H) row space of dx. */
static void KN(bwd_gather_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(bwd_ctx) *k = (const KN(bwd_ctx) *)ctx;
  const fp__geom *g = k->g;
  const FP_T *dy = k->dy;
  FP_T *dx = k->dx;
  const fp__strides *xs = k->xs, *ys = k->ys;
  const int64_t D = g->in[0], H = g->in[1];
  (void)slot;
  fp__rowpos pos; /* here (n, c, id, ih) over the input rows */
  fp__rowpos_set(&pos, b, g->c, D, H);
  for (int64_t r = b; r < e; r++, fp__rowpos_next(&pos, g->c, D, H)) {
    FP_T *dxr = dx + pos.n * xs->n + pos.c * xs->c + pos.od * xs->a[0] + pos.oh * xs->a[1];
    /* the output row covering this input row, if any */
    int64_t o[2] = {-1, -1}, st01[2] = {0, 0}, valid01 = 1;
    const int64_t in_pos[2] = {pos.od, pos.oh};
    for (int a = 0; a < 2; a++) {
      const int64_t q = in_pos[a] + g->pb[a], oo = q / g->s[a], rem = q % g->s[a];
      if (oo < g->out[a] && rem % g->d[a] == 0 && rem / g->d[a] < g->k[a]) {
        int64_t t0, t1;
        st01[a] = oo * g->s[a] - g->pb[a];
        fp__tap_range(st01[a], g->k[a], g->d[a], g->in[a], &t0, &t1);
        valid01 *= t1 - t0;
        o[a] = oo;
      }
    }
    if (o[0] < 0 || o[1] < 0) {
      for (int64_t w = 0; w < g->in[2]; w++) dxr[w * xs->a[2]] = 0;
      continue;
    }
    const FP_T *dyr = dy + pos.n * ys->n + pos.c * ys->c + o[0] * ys->a[0] + o[1] * ys->a[1];
    KN(gather_row)(g, dyr, ys->a[2], dxr, xs->a[2], st01, valid01, k->ow_lo, k->ow_hi, k->dov,
                   k->cip);
  }
}

void KN(bwd_gather)(const fp__geom *g, const void *dyv, const fp__strides *ys, void *dxv,
                    const fp__strides *xs, int64_t dov, int cip, int nt) {
  KN(bwd_ctx) ctx = {.g = g, .dy = (const FP_T *)dyv, .ys = ys, .dx = (FP_T *)dxv, .xs = xs,
                     .dov = dov, .cip = cip};
  fp__interior_cols(g, &ctx.ow_lo, &ctx.ow_hi);
  fp__parallel(nt, g->n * g->c * g->in[0] * g->in[1], KN(bwd_gather_chunk), &ctx);
}

/* Samples [b, e) of a channels-inner dx. */
static void KN(bwd_cinner_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(bwd_ctx) *k = (const KN(bwd_ctx) *)ctx;
  const fp__geom *g = k->g;
  const FP_T *dy = k->dy;
  FP_T *dx = k->dx;
  const fp__strides *xs = k->xs, *ys = k->ys;
  const int64_t dov = k->dov;
  const int cip = k->cip;
  const int64_t C = g->c;
  (void)slot;
  for (int64_t n = b; n < e; n++) {
    FP_T *dxn = dx + n * xs->n;
    for (int64_t d = 0; d < g->in[0]; d++)
      for (int64_t h = 0; h < g->in[1]; h++)
        for (int64_t w = 0; w < g->in[2]; w++) {
          FP_T *r = dxn + d * xs->a[0] + h * xs->a[1] + w * xs->a[2];
          for (int64_t c = 0; c < C; c++) r[c] = 0;
        }
    for (int64_t od = 0; od < g->out[0]; od++)
      for (int64_t oh = 0; oh < g->out[1]; oh++)
        for (int64_t ow = 0; ow < g->out[2]; ow++) {
          int64_t t0[3], t1[3], st[3], valid = 1;
          const int64_t o[3] = {od, oh, ow};
          int empty = 0;
          for (int a = 0; a < 3; a++) {
            st[a] = o[a] * g->s[a] - g->pb[a];
            fp__tap_range(st[a], g->k[a], g->d[a], g->in[a], &t0[a], &t1[a]);
            empty |= t0[a] >= t1[a];
            valid *= t1[a] - t0[a];
          }
          if (empty) continue;
          const FP_T div = (FP_T)KN(divisor)(g, st, valid, dov, cip);
          const FP_T *gp = dy + n * ys->n + od * ys->a[0] + oh * ys->a[1] + ow * ys->a[2];
          for (int64_t td = t0[0]; td < t1[0]; td++)
            for (int64_t th = t0[1]; th < t1[1]; th++)
              for (int64_t tw = t0[2]; tw < t1[2]; tw++) {
                FP_T *restrict xr = dxn + (st[0] + td * g->d[0]) * xs->a[0] +
                                    (st[1] + th * g->d[1]) * xs->a[1] +
                                    (st[2] + tw * g->d[2]) * xs->a[2];
                for (int64_t c = 0; c < C; c++) xr[c] += (FP_T)(gp[c] / div);
              }
        }
  }
}

void KN(bwd_cinner)(const fp__geom *g, const void *dyv, const fp__strides *ys, void *dxv,
                    const fp__strides *xs, int64_t dov, int cip, int nt) {
  KN(bwd_ctx) ctx = {.g = g, .dy = (const FP_T *)dyv, .ys = ys, .dx = (FP_T *)dxv, .xs = xs,
                     .dov = dov, .cip = cip};
  fp__parallel(nt, g->n, KN(bwd_cinner_chunk), &ctx);
}

#endif /* FP_WITH_BWD */

#undef FP_AVG_TILE
#undef KN
