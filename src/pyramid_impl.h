/* Spatial-pyramid and YOLO-SPP kernels for one value dtype (included by
 * pyramid.c through fp_each_dtype.h):
 *   fp__<SFX>_yspp__fwd    YOLO SPP forward, tiled cascade (every dtype)
 *   fp__<SFX>_yspp__bwd    YOLO SPP backward, the cascade carrying positions
 *   fp__<SFX>_yspp__bwd_direct  its fallback: one window scan per output
 *   fp__<SFX>_spp__bwd     spatial pyramid backward (floating dtypes)
 *
 * Max rule throughout (fastpool.h): a value v replaces the running maximum
 * m when v > m or v is NaN, scanning in row-major order from (lowest, first
 * valid cell).  Every output is computed by one thread, so results do not
 * depend on the thread count.
 */
#define KN(name) FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), _yspp__), name)
#define SN(name) FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), _spp__), name)

/* a followed by b in scan order: b wins if greater or NaN (so ties keep a,
 * the first maximum, and of two NaN the later one wins). */
FP_ALWAYS_INLINE FP_T KN(vmax)(FP_T a, FP_T b) { return (b > a || FP_ISNAN(b)) ? b : a; }

/* dst[j] = the max over src[j + t*step], t in [0, m), for j in [0, n), in
 * tap order, the running maximum kept in registers.  Inlined with constant
 * m for the common windows so the taps unroll and the loop over j
 * vectorises. */
FP_ALWAYS_INLINE void KN(window)(FP_T *restrict dst, const FP_T *restrict src, int64_t n,
                              int64_t m, int64_t step) {
  for (int64_t j = 0; j < n; j++) {
    FP_T a = src[j];
    for (int64_t t = 1; t < m; t++) a = KN(vmax)(a, src[j + t * step]);
    dst[j] = a;
  }
}

FP_ALWAYS_INLINE void KN(window_any)(FP_T *restrict dst, const FP_T *restrict src, int64_t n,
                                  int64_t m, int64_t step) {
  switch (m) {
    case 1: KN(window)(dst, src, n, 1, step); break;
    case 3: KN(window)(dst, src, n, 3, step); break;
    case 5: KN(window)(dst, src, n, 5, step); break;
    case 7: KN(window)(dst, src, n, 7, step); break;
    default: KN(window)(dst, src, n, m, step); break;
  }
}

/* The same for any window: up to 8 taps scanned; longer ones the max over
 * power-of-two spans by doubling in `scratch` (n + (m-1)*step elements),
 * then over two overlapping spans, which selects the element the scan
 * selects. */
FP_ALWAYS_INLINE void KN(hpass)(FP_T *restrict dst, const FP_T *restrict src, FP_T *restrict scratch,
                             int64_t n, int64_t m, int64_t cb) {
  if (m <= 8) {
    KN(window_any)(dst, src, n, m, cb);
    return;
  }
  const int64_t len = n + (m - 1) * cb;
  for (int64_t j = 0; j + cb < len; j++) scratch[j] = KN(vmax)(src[j], src[j + cb]);
  int64_t span = 2;
  for (; 2 * span <= m; span *= 2) {
    const int64_t off = span * cb;
    for (int64_t j = 0; j + off < len; j++) scratch[j] = KN(vmax)(scratch[j], scratch[j + off]);
  }
  const int64_t off = (m - span) * cb;
  for (int64_t j = 0; j < n; j++) dst[j] = KN(vmax)(scratch[j], scratch[j + off]);
}

/* Fill n elements with the padding value. */
FP_ALWAYS_INLINE void KN(fill_lowest)(FP_T *p, int64_t n) {
  for (int64_t j = 0; j < n; j++) p[j] = FP_LOWEST;
}

/* Input row ih, columns [c0 - ex, c1 + ex) of channels [cb0, cb0 + ncb),
 * into row[] (pixel-major, ncb per pixel), padding outside [0, W). */
FP_ALWAYS_INLINE void KN(load_row)(FP_T *restrict row, const FP_T *restrict xp,
                                const fp__strides *xs, int64_t W, int64_t ih, int64_t c0,
                                int64_t c1, int64_t ex, int64_t ncb) {
  const FP_T *xr = xp + ih * xs->a[1];
  const int64_t lo = c0 - ex, hi = c1 + ex;
  const int64_t v0 = lo < 0 ? 0 : lo, v1 = hi > W ? W : hi;
  KN(fill_lowest)(row, (v0 - lo) * ncb);
  FP_T *r = row + (v0 - lo) * ncb;
  if (ncb == 1) {
    if (xs->a[2] == 1) {
      for (int64_t w = v0; w < v1; w++) *r++ = xr[w];
    } else {
      for (int64_t w = v0; w < v1; w++) *r++ = xr[w * xs->a[2]];
    }
  } else if (xs->c == 1) {
    for (int64_t w = v0; w < v1; w++) {
      const FP_T *px = xr + w * xs->a[2];
      for (int64_t c = 0; c < ncb; c++) *r++ = px[c];
    }
  } else {
    for (int64_t w = v0; w < v1; w++) {
      const FP_T *px = xr + w * xs->a[2];
      for (int64_t c = 0; c < ncb; c++) *r++ = px[c * xs->c];
    }
  }
  KN(fill_lowest)(r, (hi - v1) * ncb);
}

/* Store a row of tw pixels (ncb channels each) to an output row whose
 * first channel is at yp, pixels ys->a[2] apart, channels ys->c apart. */
FP_ALWAYS_INLINE void KN(store_row)(FP_T *restrict yp, const fp__strides *ys,
                                 const FP_T *restrict row, int64_t tw, int64_t ncb) {
  if (ncb == 1) {
    if (ys->a[2] == 1) {
      for (int64_t w = 0; w < tw; w++) yp[w] = row[w];
    } else {
      for (int64_t w = 0; w < tw; w++) yp[w * ys->a[2]] = row[w];
    }
  } else if (ys->c == 1) {
    for (int64_t w = 0; w < tw; w++)
      for (int64_t c = 0; c < ncb; c++) yp[w * ys->a[2] + c] = row[w * ncb + c];
  } else {
    for (int64_t w = 0; w < tw; w++)
      for (int64_t c = 0; c < ncb; c++) yp[w * ys->a[2] + c * ys->c] = row[w * ncb + c];
  }
}

/* One tile: output rows [r0, r1), columns [c0, c1), channels [cb0, cb0+ncb)
 * of sample n.  Every buffer holds the rows [r0 - PH, r1 + PH) (PH = the
 * largest vertical half width) with one row stride S = (tw + 2*ex)*ncb, so
 * each pass is one flat loop over the whole tile.  In the input buffer X,
 * pixel t of a row is column c0 - ex + t, cells outside the input hold the
 * padding value; in level i's buffer pixel t is column c0 - ew[i] + t (valid
 * for t < tw + 2*ew[i]; the rest of a row is never read).  A level's value
 * at a column outside the input is the max over the part of its window
 * inside: the windows a later level combines still have non-decreasing
 * starts and ends, which is all the first-max / last-NaN rule needs. */
FP_SIMD_CLONES static void KN(fwd_tile)(const fp__yspp_plan *P, FP_T *buf, const FP_T *xp,
                                        const fp__strides *xs, FP_T *yn, const fp__strides *ys,
                                        int64_t cb0, int64_t ncb, int64_t r0, int64_t r1,
                                        int64_t c0, int64_t c1) {
  const int u = P->u;
  const int64_t H = P->h, W = P->w, PH = P->ph[u - 1], ex = P->ex;
  const int64_t tw = c1 - c0, th = r1 - r0, R = th + 2 * PH, S = (tw + 2 * ex) * ncb;
  const int64_t RS = R * S;
  FP_T *X = buf;
  FP_T *lev[FP_YOLO_SPP_MAX_KERNELS];
  for (int i = 0; i < u; i++) lev[i] = buf + (1 + i) * RS;
  FP_T *scratch = buf + (1 + u) * RS; /* only when a window needs doubling */
  for (int64_t j = 0; j < R; j++) {
    const int64_t ih = r0 - PH + j;
    if (ih < 0 || ih >= H) {
      KN(fill_lowest)(X + j * S, S);
      continue;
    }
    KN(load_row)(X + j * S, xp, xs, W, ih, c0, c1, ex, ncb);
    if (ih >= r0 && ih < r1 && P->first_pass)
      for (int s = 0; s < P->nslots; s++)
        if (P->slot_level[s] == -1)
          KN(store_row)(yn + (s * P->c + cb0) * ys->c + ih * ys->a[1] + c0 * ys->a[2], ys,
                        X + j * S + ex * ncb, tw, ncb);
  }
  /* Horizontal cascade: level i = window of 2q+1 pixels over level i-1. */
  const FP_T *src = X;
  int64_t prev = 0;
  for (int i = 0; i < u; i++) {
    const int64_t q = P->pw[i] - prev;
    KN(hpass)(lev[i], src, scratch, RS - 2 * q * ncb, 2 * q + 1, ncb);
    KN(fill_lowest)(lev[i] + RS - 2 * q * ncb, 2 * q * ncb); /* the last row's unused tail */
    src = lev[i];
    prev = P->pw[i];
  }
  /* Vertical pass per level into X (free now), then the stores. */
  const int64_t out = th * S;
  for (int i = 0; i < u; i++) {
    const int64_t ph = P->ph[i], m = 2 * ph + 1;
    FP_T *L = lev[i];
    if (m > 8) {
      /* rows [PH - ph, R - PH + ph) take part; doubling in place */
      const int64_t lo = (PH - ph) * S, hi = (R - PH + ph) * S;
      int64_t span = 1;
      for (; 2 * span <= m; span *= 2) {
        const int64_t off = span * S;
        for (int64_t z = lo; z + off < hi; z++) L[z] = KN(vmax)(L[z], L[z + off]);
      }
      const FP_T *restrict a = L + (PH - ph) * S, *restrict b = L + (PH + ph - span + 1) * S;
      for (int64_t z = 0; z < out; z++) X[z] = KN(vmax)(a[z], b[z]);
    } else {
      KN(window_any)(X, L + (PH - ph) * S, out, m, S);
    }
    const int64_t off = P->ew[i] * ncb;
    for (int s = 0; s < P->nslots; s++)
      if (P->slot_level[s] == i)
        for (int64_t r = r0; r < r1; r++)
          KN(store_row)(yn + (s * P->c + cb0) * ys->c + r * ys->a[1] + c0 * ys->a[2], ys,
                        X + (r - r0) * S + off, tw, ncb);
  }
}

static void KN(fwd_task)(const fp__yspp_plan *P, const FP_T *xn,
                                        const fp__strides *xs, FP_T *yn, const fp__strides *ys,
                                        int64_t cb0, int64_t ncb) {
  /* the tile buffers, aligned for the vector loads */
  double storage[FP_YSPP_SCRATCH_BYTES / sizeof(double)];
  FP_T *buf = (FP_T *)(void *)storage;
  const FP_T *xp = xn + cb0 * xs->c;
  for (int64_t r0 = 0; r0 < P->h; r0 += P->th) {
    const int64_t r1 = r0 + P->th < P->h ? r0 + P->th : P->h;
    for (int64_t c0 = 0; c0 < P->w; c0 += P->tw) {
      const int64_t c1 = c0 + P->tw < P->w ? c0 + P->tw : P->w;
      KN(fwd_tile)(P, buf, xp, xs, yn, ys, cb0, ncb, r0, r1, c0, c1);
    }
  }
}

typedef struct {
  const fp__yspp_plan *P;
  const FP_T *x;
  const fp__strides *xs;
  FP_T *y;
  const fp__strides *ys;
  int64_t blocks;
} KN(fwd_ctx);

/* Tasks [b, e): (sample, channel block) pairs. */
static void KN(fwd_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(fwd_ctx) *cx = (const KN(fwd_ctx) *)ctx;
  const fp__yspp_plan *P = cx->P;
  const fp__strides *xs = cx->xs, *ys = cx->ys;
  const int64_t blocks = cx->blocks;
  (void)slot;
  for (int64_t t = b; t < e; t++) {
    const int64_t n = t / blocks, cb0 = (t % blocks) * P->cb;
    const int64_t ncb = cb0 + P->cb <= P->c ? P->cb : P->c - cb0;
    KN(fwd_task)(P, cx->x + n * xs->n, xs, cx->y + n * ys->n, ys, cb0, ncb);
  }
}

void KN(fwd)(const fp__yspp_plan *P, const void *xv, const fp__strides *xs, void *yv,
             const fp__strides *ys, int nt) {
  const int64_t blocks = (P->c + P->cb - 1) / P->cb, tasks = P->n * blocks;
  KN(fwd_ctx) ctx = {P, (const FP_T *)xv, xs, (FP_T *)yv, ys, blocks};
  fp__parallel(nt, tasks, KN(fwd_chunk), &ctx);
}

typedef struct {
  const fp__yspp_plan *P;
  const FP_T *x;
  const fp__strides *xs;
  FP_T *y;
  const fp__strides *ys;
} KN(copy_ctx);

/* Planes [b, e) of the copy. */
static void KN(copy_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(copy_ctx) *cx = (const KN(copy_ctx) *)ctx;
  const fp__yspp_plan *P = cx->P;
  const FP_T *x = cx->x;
  FP_T *y = cx->y;
  const fp__strides *xs = cx->xs, *ys = cx->ys;
  (void)slot;
  for (int64_t pl = b; pl < e; pl++) {
    const int64_t n = pl / P->c, c = pl % P->c;
    const FP_T *xp = x + n * xs->n + c * xs->c;
    for (int s = 0; s < P->nslots; s++) {
      if (P->slot_level[s] != -1) continue;
      FP_T *yp = y + n * ys->n + (s * P->c + c) * ys->c;
      for (int64_t h = 0; h < P->h; h++)
        for (int64_t w = 0; w < P->w; w++)
          yp[h * ys->a[1] + w * ys->a[2]] = xp[h * xs->a[1] + w * xs->a[2]];
    }
  }
}

/* Copy of the x block of y (the fallback path's share of the work). */
void KN(copy_block)(const fp__yspp_plan *P, const void *xv, const fp__strides *xs, void *yv,
                    const fp__strides *ys, int nt) {
  KN(copy_ctx) ctx = {P, (const FP_T *)xv, xs, (FP_T *)yv, ys};
  fp__parallel(nt, P->n * P->c, KN(copy_chunk), &ctx);
}

#if FP_IS_FLOAT
/* ---- backward: the same cascade carrying positions ---- */

/* The forward's tile carrying positions: next to each level's values, the
 * input column each one came from (int32: tiles are narrower than the
 * scratch); the vertical scan then records which row won.  Windows start
 * from (lowest, their first valid cell), as the max-pooling scan does. */
FP_SIMD_CLONES static void KN(bwd_tile)(const fp__yspp_plan *P, unsigned char *buf,
                                        const FP_T *xp, const fp__strides *xs, const FP_T *dyn,
                                        const fp__strides *dys, FP_T *dxp,
                                        const fp__strides *dxs, int64_t cb0, int64_t ncb,
                                        int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  const int u = P->u;
  const int64_t H = P->h, W = P->w, PH = P->ph[u - 1], ex = P->ex;
  const int64_t tw = c1 - c0, th = r1 - r0, R = th + 2 * PH, S = (tw + 2 * ex) * ncb;
  const int64_t RS = R * S, out = th * S;
  FP_T *X = (FP_T *)(void *)buf;
  FP_T *lev[FP_YOLO_SPP_MAX_KERNELS];
  for (int i = 0; i < u; i++) lev[i] = X + (1 + i) * RS;
  const size_t used = (size_t)((1 + u) * RS) * sizeof(FP_T);
  int32_t *XC = (int32_t *)(void *)(buf + ((used + 63) & ~(size_t)63));
  int32_t *col[FP_YOLO_SPP_MAX_KERNELS];
  for (int i = 0; i < u; i++) col[i] = XC + (1 + i) * RS;
  int32_t *trow = XC + (1 + u) * RS; /* winning rows, R*S */
  for (int64_t j = 0; j < R; j++) {
    const int64_t ih = r0 - PH + j;
    if (ih < 0 || ih >= H) {
      KN(fill_lowest)(X + j * S, S);
    } else {
      KN(load_row)(X + j * S, xp, xs, W, ih, c0, c1, ex, ncb);
    }
  }
  /* the input column of every element of X */
  for (int64_t t = 0; t < S; t++) XC[t] = (int32_t)(c0 - ex + t / ncb);
  for (int64_t j = 1; j < R; j++) memcpy(XC + j * S, XC, (size_t)S * sizeof(int32_t));
  const FP_T *src = X;
  const int32_t *scol = XC;
  int64_t prev = 0;
  for (int i = 0; i < u; i++) {
    const int64_t q = P->pw[i] - prev, e = P->ew[i], n = RS - 2 * q * ncb;
    FP_T *restrict dst = lev[i];
    int32_t *restrict dcol = col[i];
    /* start: (lowest, first column of the window inside the input) */
    for (int64_t t = 0; t < S; t++) {
      const int64_t cc = c0 - e + t / ncb - P->pw[i];
      dcol[t] = (int32_t)(cc < 0 ? 0 : cc);
    }
    for (int64_t j = 1; j < R; j++) memcpy(dcol + j * S, dcol, (size_t)S * sizeof(int32_t));
    KN(fill_lowest)(dst, RS);
    for (int64_t t = 0; t <= 2 * q; t++) {
      const FP_T *restrict sv = src + t * ncb;
      const int32_t *restrict sc = scol + t * ncb;
      for (int64_t z = 0; z < n; z++) {
        const FP_T v = sv[z];
        const int take = (v > dst[z]) | FP_ISNAN(v);
        dst[z] = take ? v : dst[z];
        dcol[z] = take ? sc[z] : dcol[z];
      }
    }
    src = dst;
    scol = dcol;
    prev = P->pw[i];
  }
  /* Vertical pass per level with the winning row: the max over
   * power-of-two spans of rows by doubling in place (rows above the input
   * start as row 0, their first valid row; padding never wins), then over
   * two overlapping spans; then the scatter of each output's gradient. */
  for (int i = 0; i < u; i++) {
    const int64_t ph = P->ph[i], m = 2 * ph + 1;
    FP_T *L = lev[i];
    const int64_t lo = PH - ph, hi = R - PH + ph; /* the rows that take part */
    for (int64_t j = lo; j < hi; j++) {
      const int64_t ih = r0 - PH + j;
      const int32_t v = (int32_t)(ih < 0 ? 0 : ih);
      for (int64_t z = 0; z < S; z++) trow[j * S + z] = v;
    }
    int64_t span = 1;
    for (; 2 * span <= m; span *= 2) {
      const int64_t off = span * S;
      for (int64_t z = lo * S; z + off < hi * S; z++) {
        const FP_T v = L[z + off];
        const int take = (v > L[z]) | FP_ISNAN(v);
        L[z] = take ? v : L[z];
        trow[z] = take ? trow[z + off] : trow[z];
      }
    }
    const int64_t bo = (m - span) * S;
    FP_T *restrict a = L + lo * S;
    int32_t *restrict ta = trow + lo * S;
    for (int64_t z = 0; z < out; z++) {
      const FP_T v = a[z + bo];
      const int take = (v > a[z]) | FP_ISNAN(v);
      ta[z] = take ? ta[z + bo] : ta[z];
    }
    /* The adds: neighbouring windows mostly share their maximum, so each
     * run of outputs with one target (within a row a target never comes
     * back once left) is summed before it is added to dx. */
    const int64_t off = P->ew[i] * ncb, a1 = dxs->a[1], a2 = dxs->a[2], dc = dxs->c;
    const int64_t g2 = dys->a[2], gc = dys->c;
    const int32_t *restrict cl = col[i] + off;
    const int64_t rb = PH - r0; /* buffer row of input row `row`: row + rb */
    for (int s = 0; s < P->nslots; s++) {
      if (P->slot_level[s] != i) continue;
      for (int64_t r = r0; r < r1; r++) {
        const FP_T *restrict dyr = dyn + (s * P->c + cb0) * gc + r * dys->a[1] + c0 * g2;
        const int32_t *restrict hr = ta + (r - r0) * S + off;
        if (ncb == 1 && a2 == 1 && g2 == 1) {
          int64_t at = hr[0] * a1 + cl[(hr[0] + rb) * S];
          FP_ACC run = (FP_ACC)dyr[0];
          for (int64_t k = 1; k < tw; k++) {
            const int64_t row = hr[k], tg = row * a1 + cl[(row + rb) * S + k];
            if (tg == at) {
              run += (FP_ACC)dyr[k];
              continue;
            }
            dxp[at] = (FP_T)((FP_ACC)dxp[at] + run);
            at = tg;
            run = (FP_ACC)dyr[k];
          }
          dxp[at] = (FP_T)((FP_ACC)dxp[at] + run);
          continue;
        }
        for (int64_t c = 0; c < ncb; c++) {
          int64_t at = 0;
          FP_ACC run = 0;
          for (int64_t t = 0; t < tw; t++) {
            const int64_t k = t * ncb + c, row = hr[k];
            const int64_t tg = c * dc + row * a1 + (int64_t)cl[(row + rb) * S + k] * a2;
            const FP_ACC g = (FP_ACC)dyr[t * g2 + c * gc];
            if (t > 0 && tg == at) {
              run += g;
              continue;
            }
            if (t > 0) dxp[at] = (FP_T)((FP_ACC)dxp[at] + run);
            at = tg;
            run = g;
          }
          dxp[at] = (FP_T)((FP_ACC)dxp[at] + run);
        }
      }
    }
  }
}

/* dx of one task's channels = their x block of dy. */
static void KN(bwd_init)(const fp__yspp_plan *P, const FP_T *dyn, const fp__strides *dys,
                         FP_T *dxn, const fp__strides *dxs, int64_t cb0, int64_t ncb) {
  int xs_slot = 0;
  for (int s = 0; s < P->nslots; s++)
    if (P->slot_level[s] == -1) xs_slot = s;
  for (int64_t c = cb0; c < cb0 + ncb; c++) {
    const FP_T *g = dyn + (xs_slot * P->c + c) * dys->c;
    FP_T *d = dxn + c * dxs->c;
    for (int64_t h = 0; h < P->h; h++)
      for (int64_t w = 0; w < P->w; w++)
        d[h * dxs->a[1] + w * dxs->a[2]] = g[h * dys->a[1] + w * dys->a[2]];
  }
}

static void KN(bwd_task)(const fp__yspp_plan *P, const FP_T *xn,
                                        const fp__strides *xs, const FP_T *dyn,
                                        const fp__strides *dys, FP_T *dxn,
                                        const fp__strides *dxs, int64_t cb0, int64_t ncb) {
  double storage[FP_YSPP_SCRATCH_BYTES / sizeof(double)];
  if (P->first_pass) KN(bwd_init)(P, dyn, dys, dxn, dxs, cb0, ncb);
  for (int64_t r0 = 0; r0 < P->h; r0 += P->th) {
    const int64_t r1 = r0 + P->th < P->h ? r0 + P->th : P->h;
    for (int64_t c0 = 0; c0 < P->w; c0 += P->tw) {
      const int64_t c1 = c0 + P->tw < P->w ? c0 + P->tw : P->w;
      KN(bwd_tile)(P, (unsigned char *)storage, xn + cb0 * xs->c, xs, dyn, dys,
                   dxn + cb0 * dxs->c, dxs, cb0, ncb, r0, r1, c0, c1);
    }
  }
}

typedef struct {
  const fp__yspp_plan *P;
  const FP_T *x, *dy;
  FP_T *dx;
  const fp__strides *xs, *dys, *dxs;
  int64_t blocks;
} KN(bwd_ctx);

/* Tasks [b, e): (sample, channel block) pairs; a task alone writes its
 * channels of dx. */
static void KN(bwd_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(bwd_ctx) *cx = (const KN(bwd_ctx) *)ctx;
  const fp__yspp_plan *P = cx->P;
  const fp__strides *xs = cx->xs, *dys = cx->dys, *dxs = cx->dxs;
  const int64_t blocks = cx->blocks;
  (void)slot;
  for (int64_t t = b; t < e; t++) {
    const int64_t n = t / blocks, cb0 = (t % blocks) * P->cb;
    const int64_t ncb = cb0 + P->cb <= P->c ? P->cb : P->c - cb0;
    KN(bwd_task)(P, cx->x + n * xs->n, xs, cx->dy + n * dys->n, dys, cx->dx + n * dxs->n, dxs,
                 cb0, ncb);
  }
}

void KN(bwd)(const fp__yspp_plan *P, const void *xv, const fp__strides *xs, const void *dyv,
             const fp__strides *dys, void *dxv, const fp__strides *dxs, int nt) {
  const int64_t blocks = (P->c + P->cb - 1) / P->cb, tasks = P->n * blocks;
  KN(bwd_ctx) ctx = {P, (const FP_T *)xv, (const FP_T *)dyv, (FP_T *)dxv, xs, dys, dxs, blocks};
  fp__parallel(nt, tasks, KN(bwd_chunk), &ctx);
}

/* Planes [b, e) of bwd_direct (its ctx's blocks unused). */
static void KN(bwd_direct_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(bwd_ctx) *cx = (const KN(bwd_ctx) *)ctx;
  const fp__yspp_plan *P = cx->P;
  const FP_T *x = cx->x, *dy = cx->dy;
  FP_T *dx = cx->dx;
  const fp__strides *xs = cx->xs, *dys = cx->dys, *dxs = cx->dxs;
  const int64_t H = P->h, W = P->w;
  const int64_t unit[3] = {1, 1, 1};
  (void)slot;
  for (int64_t pl = b; pl < e; pl++) {
    const int64_t n = pl / P->c, c = pl % P->c;
    const FP_T *xp = x + n * xs->n + c * xs->c;
    const FP_T *dyn = dy + n * dys->n;
    FP_T *dxp = dx + n * dxs->n + c * dxs->c;
    KN(bwd_init)(P, dyn, dys, dx + n * dxs->n, dxs, c, 1);
    for (int i = 0; i < P->u; i++) {
      const int64_t ph = P->ph[i], pw = P->pw[i];
      for (int64_t h = 0; h < H; h++)
        for (int64_t w = 0; w < W; w++) {
          const int64_t h0 = h - ph < 0 ? 0 : h - ph, h1 = h + ph >= H ? H - 1 : h + ph;
          const int64_t w0 = w - pw < 0 ? 0 : w - pw, w1 = w + pw >= W ? W - 1 : w + pw;
          const int64_t b0[3] = {0, h0, w0}, cnt[3] = {1, h1 - h0 + 1, w1 - w0 + 1};
          FP_T v;
          int64_t bi;
          FP__CAT(FP__CAT(fp__, FP_SFX), _maxscan)(xp, xs, H, W, b0, unit, cnt, 0, &v, &bi);
          const int64_t hr = bi / W, wr = bi % W;
          for (int s = 0; s < P->nslots; s++)
            if (P->slot_level[s] == i)
              dxp[hr * dxs->a[1] + wr * dxs->a[2]] +=
                  dyn[(s * P->c + c) * dys->c + h * dys->a[1] + w * dys->a[2]];
        }
    }
  }
}

/* Fallback backward for geometries whose tiles do not fit the scratch: each
 * output's window scanned with the max-pooling scan. */
void KN(bwd_direct)(const fp__yspp_plan *P, const void *xv, const fp__strides *xs,
                    const void *dyv, const fp__strides *dys, void *dxv, const fp__strides *dxs,
                    int nt) {
  KN(bwd_ctx) ctx = {P, (const FP_T *)xv, (const FP_T *)dyv, (FP_T *)dxv, xs, dys, dxs, 0};
  fp__parallel(nt, P->n * P->c, KN(bwd_direct_chunk), &ctx);
}

/* ---- spatial pyramid backward: one (n, c) plane per task ---- */

typedef struct {
  const fp__spp_plan *S;
  const FP_T *dy, *x;
  FP_T *dx;
  const fp__strides2 *dys;
  const fp__strides *xs, *dxs;
} SN(bwd_ctx);

/* Planes [b, e). */
static void SN(bwd_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const SN(bwd_ctx) *cx = (const SN(bwd_ctx) *)ctx;
  const fp__spp_plan *S = cx->S;
  const FP_T *dy = cx->dy, *x = cx->x;
  FP_T *dx = cx->dx;
  const fp__strides2 *dys = cx->dys;
  const fp__strides *xs = cx->xs, *dxs = cx->dxs;
  const int64_t C = S->c, H = S->h, W = S->w;
  const int64_t unit[3] = {1, 1, 1};
  (void)slot;
  for (int64_t pl = b; pl < e; pl++) {
    const int64_t n = pl / C, c = pl % C;
    FP_T *dxp = dx + n * dxs->n + c * dxs->c;
    const FP_T *xp = x ? x + n * xs->n + c * xs->c : NULL;
    const FP_T *dyn = dy + n * dys->n;
    for (int64_t h = 0; h < H; h++)
      for (int64_t w = 0; w < W; w++) dxp[h * dxs->a[1] + w * dxs->a[2]] = 0;
    int64_t off = 0; /* features before this level */
    for (int32_t L = 0; L < S->num_levels; L++) {
      const int64_t l = S->levels[L];
      fp__spp_axis axh, axw;
      fp__spp_axis_set(&axh, S->variant, H, l);
      fp__spp_axis_set(&axw, S->variant, W, l);
      for (int64_t i = 0; i < l; i++) {
        int64_t hs, he, hp;
        fp__spp_bin(&axh, i, &hs, &he, &hp);
        for (int64_t j = 0; j < l; j++) {
          int64_t ws, we, wp;
          fp__spp_bin(&axw, j, &ws, &we, &wp);
          const int64_t f = S->features == FP_SPP_FEATURES_CHW ? off + (c * l + i) * l + j
                                                               : off + (i * l + j) * C + c;
          const FP_T g = dyn[f * dys->f];
          if (S->mode == FP_SPP_MAX) {
            const int64_t b0[3] = {0, hs, ws}, cnt[3] = {1, he - hs, we - ws};
            FP_T v;
            int64_t bi;
            FP__CAT(FP__CAT(fp__, FP_SFX), _maxscan)(xp, xs, H, W, b0, unit, cnt, 0, &v, &bi);
            dxp[(bi / W) * dxs->a[1] + (bi % W) * dxs->a[2]] += g;
          } else {
            const FP_ACC share = (FP_ACC)g / (FP_ACC)(hp * wp);
            for (int64_t h = hs; h < he; h++)
              for (int64_t w = ws; w < we; w++) {
                FP_T *d = dxp + h * dxs->a[1] + w * dxs->a[2];
                *d = (FP_T)((FP_ACC)*d + share);
              }
          }
        }
      }
      off += C * l * l;
    }
  }
}

void SN(bwd)(const fp__spp_plan *S, const void *dyv, const fp__strides2 *dys, const void *xv,
             const fp__strides *xs, void *dxv, const fp__strides *dxs, int nt) {
  SN(bwd_ctx) ctx = {S, (const FP_T *)dyv, (const FP_T *)xv, (FP_T *)dxv, dys, xs, dxs};
  fp__parallel(nt, S->n * S->c, SN(bwd_chunk), &ctx);
}
#endif /* FP_IS_FLOAT */

#undef KN
#undef SN
