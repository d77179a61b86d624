/* Median-pooling microkernels for one value dtype (included by median.c
 * through fp_each_dtype.h):
 *   fp__<SFX>_median__rows     forward, W innermost (any strides)
 *   fp__<SFX>_median__cinner   forward, channels innermost
 *   fp__<SFX>_median__bwd      gradient by recomputation (floating dtypes)
 *
 * One window is selected by
 *   - a sorting network across up to FP_MED_TILE neighbouring outputs of a
 *     row (or channels of a position), for windows wholly inside the input
 *     with net->m cells: elementwise min/max over tiles, so it vectorises;
 *   - else a copy of its valid cells into a stack buffer and a quickselect
 *     (insertion sort below 16 cells), up to FP_MED_STACK cells;
 *   - else a radix selection over order-preserving integer keys, one pass
 *     per byte, reading the window in place (no buffer).
 * Whatever the path, the result is the VALUE of the k-th smallest cell; the
 * index is then the first cell of the window (row-major) equal to it and y
 * that cell's value, so every path gives the same bits.
 */
#define KN(name) FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), _median__), name)
#define FP_MED_BITS (8 * (int)sizeof(FP_T))

/* Order-preserving unsigned key of a value (not NaN): a < b iff key(a) <
 * key(b), except that -0.0 sorts just below +0.0. */
static inline uint64_t KN(key)(FP_T v) {
  const uint64_t sign = (uint64_t)1 << (FP_MED_BITS - 1);
  const uint64_t mask = ~(uint64_t)0 >> (64 - FP_MED_BITS);
#if FP_IS_FLOAT
  uint64_t u;
  if (sizeof(FP_T) == 8) {
    uint64_t b;
    memcpy(&b, &v, 8);
    u = b;
  } else if (sizeof(FP_T) == 4) {
    uint32_t b;
    memcpy(&b, &v, 4);
    u = b;
  } else {
    uint16_t b;
    memcpy(&b, &v, 2);
    u = b;
  }
  return (u & sign) ? (~u & mask) : (u | sign);
#else
  if ((FP_T)-1 < (FP_T)0) return ((uint64_t)(int64_t)v & mask) ^ sign;
  return (uint64_t)v;
#endif
}

static inline FP_T KN(from_key)(uint64_t key) {
  const uint64_t sign = (uint64_t)1 << (FP_MED_BITS - 1);
  const uint64_t mask = ~(uint64_t)0 >> (64 - FP_MED_BITS);
#if FP_IS_FLOAT
  const uint64_t u = (key & sign) ? (key & ~sign) : (~key & mask);
  FP_T v;
  if (sizeof(FP_T) == 8) {
    const uint64_t b = u;
    memcpy(&v, &b, 8);
  } else if (sizeof(FP_T) == 4) {
    const uint32_t b = (uint32_t)u;
    memcpy(&v, &b, 4);
  } else {
    const uint16_t b = (uint16_t)u;
    memcpy(&v, &b, 2);
  }
  return v;
#else
  if ((FP_T)-1 < (FP_T)0) {
    uint64_t b = key ^ sign;
    if (b & sign) b |= ~mask; /* sign-extend */
    return (FP_T)(int64_t)b;
  }
  return (FP_T)key;
#endif
}

/* The k-th smallest of a[0 .. n) (no NaN), partially reordering a so that
 * a[i] <= a[k] for i < k and a[i] >= a[k] for i > k (nth_element). */
static FP_T KN(kth)(FP_T *a, int64_t n, int64_t k) {
  int64_t lo = 0, hi = n - 1;
  while (hi - lo >= 16) {
    const int64_t mid = lo + ((hi - lo) >> 1);
    FP_T t;
#define FP_MED_SWAP(i, j) (t = a[i], a[i] = a[j], a[j] = t)
    if (a[mid] < a[lo]) FP_MED_SWAP(mid, lo);
    if (a[hi] < a[lo]) FP_MED_SWAP(hi, lo);
    if (a[hi] < a[mid]) FP_MED_SWAP(hi, mid);
    const FP_T p = a[mid];
    int64_t i = lo, j = hi;
    while (i <= j) {
      while (a[i] < p) i++;
      while (p < a[j]) j--;
      if (i <= j) {
        FP_MED_SWAP(i, j);
        i++;
        j--;
      }
    }
#undef FP_MED_SWAP
    /* a[lo..j] <= p <= a[i..hi], and a[j+1 .. i-1] == p */
    if (k <= j)
      hi = j;
    else if (k >= i)
      lo = i;
    else
      return a[k];
  }
  for (int64_t i = lo + 1; i <= hi; i++) {
    const FP_T v = a[i];
    int64_t j = i - 1;
    while (j >= lo && v < a[j]) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = v;
  }
  return a[k];
}

/* The key of the k-th smallest valid cell of a window, by radix selection
 * over its keys, most significant byte first: no buffer. */
static uint64_t KN(radix_kth)(const FP_T *xp, const fp__strides *xs, const fp__geom *g,
                              const int64_t b0[3], const int64_t cnt[3], int64_t k) {
  uint64_t prefix = 0;
  for (int shift = FP_MED_BITS - 8; shift >= 0; shift -= 8) {
    int64_t hist[256];
    memset(hist, 0, sizeof(hist));
    /* only keys that agree with the prefix above this byte take part */
    const uint64_t high = shift + 8 >= FP_MED_BITS ? 0 : ~(uint64_t)0 << (shift + 8);
    for (int64_t j0 = 0; j0 < cnt[0]; j0++)
      for (int64_t j1 = 0; j1 < cnt[1]; j1++) {
        const FP_T *xr =
            xp + (b0[0] + j0 * g->d[0]) * xs->a[0] + (b0[1] + j1 * g->d[1]) * xs->a[1];
        for (int64_t j2 = 0; j2 < cnt[2]; j2++) {
          const uint64_t key = KN(key)(xr[(b0[2] + j2 * g->d[2]) * xs->a[2]]);
          if (((key ^ prefix) & high) == 0) hist[(key >> shift) & 255]++;
        }
      }
    int b = 0;
    while (k >= hist[b]) {
      k -= hist[b];
      b++;
    }
    prefix |= (uint64_t)b << shift;
  }
  return prefix;
}

/* Selection of the window of output o.  need: FP_MED_NEED_LO and/or
 * FP_MED_NEED_HI.  Returns 0 for a window wholly in padding; else the
 * first cells holding the lower / upper middle value (flat indices *ilo,
 * *ihi, their values *vlo, *vhi; a window holding NaN gives its first NaN
 * for both).  buf: FP_MED_STACK elements of scratch. */
static int KN(window)(const FP_T *xp, const fp__strides *xs, const fp__geom *g, const int64_t o[3],
                      int need, FP_T *buf, FP_T *vlo, int64_t *ilo, FP_T *vhi, int64_t *ihi) {
  int64_t st[3], b0[3], cnt[3];
  if (!fp__window_box(g, o, st, b0, cnt)) return 0;
  const int64_t H = g->in[1], W = g->in[2];
  const int64_t m = cnt[0] * cnt[1] * cnt[2];
  const int64_t klo = (m - 1) / 2, khi = m / 2;
  FP_T tlo = (FP_T)0, thi = (FP_T)0;
  /* NaN first (it decides alone), then the values */
  int64_t n = 0;
  for (int64_t j0 = 0; j0 < cnt[0]; j0++) {
    const int64_t id = b0[0] + j0 * g->d[0];
    for (int64_t j1 = 0; j1 < cnt[1]; j1++) {
      const int64_t ih = b0[1] + j1 * g->d[1];
      const FP_T *xr = xp + id * xs->a[0] + ih * xs->a[1];
      for (int64_t j2 = 0; j2 < cnt[2]; j2++) {
        const int64_t iw = b0[2] + j2 * g->d[2];
        const FP_T v = xr[iw * xs->a[2]];
        if (FP_ISNAN(v)) {
          *vlo = *vhi = v;
          *ilo = *ihi = (id * H + ih) * W + iw;
          return 1;
        }
        if (m <= FP_MED_STACK) buf[n++] = v;
      }
    }
  }
  if (m <= FP_MED_STACK) {
    if (need & FP_MED_NEED_LO) {
      tlo = KN(kth)(buf, m, klo);
      if (need & FP_MED_NEED_HI) {
        thi = tlo;
        if (khi != klo) {
          thi = buf[klo + 1];
          for (int64_t i = klo + 2; i < m; i++) thi = buf[i] < thi ? buf[i] : thi;
        }
      }
    } else {
      thi = KN(kth)(buf, m, khi);
    }
  } else {
    if (need & FP_MED_NEED_LO) tlo = KN(from_key)(KN(radix_kth)(xp, xs, g, b0, cnt, klo));
    if (need & FP_MED_NEED_HI) thi = KN(from_key)(KN(radix_kth)(xp, xs, g, b0, cnt, khi));
  }
  /* the first cells holding those values */
  int found = (need & FP_MED_NEED_LO ? 0 : 1) | (need & FP_MED_NEED_HI ? 0 : 2);
  for (int64_t j0 = 0; j0 < cnt[0] && found != 3; j0++) {
    const int64_t id = b0[0] + j0 * g->d[0];
    for (int64_t j1 = 0; j1 < cnt[1] && found != 3; j1++) {
      const int64_t ih = b0[1] + j1 * g->d[1];
      const FP_T *xr = xp + id * xs->a[0] + ih * xs->a[1];
      for (int64_t j2 = 0; j2 < cnt[2]; j2++) {
        const int64_t iw = b0[2] + j2 * g->d[2];
        const FP_T v = xr[iw * xs->a[2]];
        if (!(found & 1) && v == tlo) {
          *vlo = v;
          *ilo = (id * H + ih) * W + iw;
          found |= 1;
        }
        if (!(found & 2) && v == thi) {
          *vhi = v;
          *ihi = (id * H + ih) * W + iw;
          found |= 2;
        }
        if (found == 3) break;
      }
    }
  }
  return 1;
}

/* (a + b) / 2 in double, a/2 + b/2 where the sum alone overflows. */
static inline double KN(mean2)(FP_T a, FP_T b) {
  const double da = (double)a, db = (double)b, s = da + db;
  if (isinf(s) && isfinite(da) && isfinite(db)) return 0.5 * da + 0.5 * db;
  return 0.5 * s;
}

static inline int KN(need)(int even) {
  return even == FP_MEDIAN_LOWER ? FP_MED_NEED_LO
         : even == FP_MEDIAN_UPPER ? FP_MED_NEED_HI
                                   : FP_MED_NEED_LO | FP_MED_NEED_HI;
}

/* Stores one output: y (x's dtype, or double when ydbl) and its index. */
static inline void KN(store)(void *y, int64_t yo, int ydbl, void *ix, int ikind, int64_t io,
                             int even, int ok, FP_T vlo, int64_t ilo, FP_T vhi, int64_t ihi) {
  if (!ok) {
    if (ydbl)
      ((double *)y)[yo] = NAN;
    else
      ((FP_T *)y)[yo] = FP_QNAN;
    ilo = ihi = -1;
  } else if (even == FP_MEDIAN_MEAN) {
    const double v = KN(mean2)(vlo, vhi);
    if (ydbl)
      ((double *)y)[yo] = v;
    else
      ((FP_T *)y)[yo] = (FP_T)v;
  } else {
    ((FP_T *)y)[yo] = even == FP_MEDIAN_LOWER ? vlo : vhi;
  }
  const int64_t idx = even == FP_MEDIAN_UPPER ? ihi : ilo;
  if (ikind == 1)
    ((int32_t *)ix)[io] = (int32_t)idx;
  else if (ikind == 2)
    ((int64_t *)ix)[io] = idx;
}

/* Sorting network over a tile of FP_MED_TILE windows of net->m cells each
 * (cell t of window j is orig[t][j]; unused lanes hold any number): fills
 * sel_lo / sel_hi, the tap of the first cell holding each needed middle
 * value.  Every loop has the constant tile width, so it vectorises whole. */
FP_ALWAYS_INLINE void KN(net_tile)(const fp__median_net *net, FP_T (*orig)[FP_MED_TILE],
                                   FP_T (*w)[FP_MED_TILE], int need, int *restrict sel_lo,
                                   int *restrict sel_hi) {
  const int m = net->m;
  for (int t = 0; t < m; t++)
    for (int j = 0; j < FP_MED_TILE; j++) w[t][j] = orig[t][j];
  for (int c = 0; c < net->ncmp; c++) {
    FP_T *restrict a = w[net->a[c]];
    FP_T *restrict b = w[net->b[c]];
    for (int j = 0; j < FP_MED_TILE; j++) {
      const FP_T u = a[j], v = b[j];
      a[j] = v < u ? v : u;
      b[j] = v < u ? u : v;
    }
  }
  FP_T val[FP_MED_TILE];
  int nan[FP_MED_TILE];
  for (int j = 0; j < FP_MED_TILE; j++) nan[j] = 0;
#if FP_IS_FLOAT
  for (int t = 0; t < m; t++)
    for (int j = 0; j < FP_MED_TILE; j++) nan[j] |= FP_ISNAN(orig[t][j]);
#endif
  for (int pass = 0; pass < 2; pass++) {
    if (!(need & (pass ? FP_MED_NEED_HI : FP_MED_NEED_LO))) continue;
    int *restrict sel = pass ? sel_hi : sel_lo;
    const int k = pass ? net->khi : net->klo;
    for (int j = 0; j < FP_MED_TILE; j++) {
      val[j] = nan[j] ? FP_QNAN : w[k][j];
      sel[j] = 0;
    }
    for (int t = m - 1; t >= 0; t--)
      for (int j = 0; j < FP_MED_TILE; j++) {
        const FP_T v = orig[t][j];
        const int hit = (v == val[j]) | (FP_ISNAN(v) & nan[j]);
        sel[j] = hit ? t : sel[j];
      }
  }
}

/* The interior outputs [lo, hi) of one output row whose windows hold the
 * nr window rows xr[] (flat row bases fb[]) times all kw taps: the network
 * path, FP_MED_TILE outputs at a time. */
FP_SIMD_CLONES static void KN(row_net)(const fp__median_net *net, const FP_T *const *xr,
                                       const int64_t *fb, int64_t lo, int64_t hi, int64_t sw,
                                       int64_t kw, int64_t dw, int64_t pw, int64_t xsw,
                                       int even, void *y, int64_t yrow, int64_t ysw, int ydbl,
                                       void *ix, int ikind, int64_t irow, int64_t isw) {
  FP_T orig[FP_MED_NET_MAX][FP_MED_TILE], w[FP_MED_NET_MAX][FP_MED_TILE];
  int sel_lo[FP_MED_TILE], sel_hi[FP_MED_TILE];
  const int need = KN(need)(even), m = net->m;
  for (int64_t j0 = lo; j0 < hi; j0 += FP_MED_TILE) {
    const int64_t nj = hi - j0 < FP_MED_TILE ? hi - j0 : FP_MED_TILE;
    for (int t = 0; t < m; t++) {
      const FP_T *src = xr[t / kw] + ((t % kw) * dw - pw + j0 * sw) * xsw;
      if (sw * xsw == 1) {
        for (int64_t j = 0; j < nj; j++) orig[t][j] = src[j];
      } else {
        for (int64_t j = 0; j < nj; j++) orig[t][j] = src[j * sw * xsw];
      }
      for (int64_t j = nj; j < FP_MED_TILE; j++) orig[t][j] = (FP_T)0;
    }
    KN(net_tile)(net, orig, w, need, sel_lo, sel_hi);
    for (int64_t j = 0; j < nj; j++) {
      const int tl = need & FP_MED_NEED_LO ? sel_lo[j] : 0;
      const int th = need & FP_MED_NEED_HI ? sel_hi[j] : 0;
      const int64_t base = (j0 + j) * sw - pw;
      KN(store)(y, yrow + (j0 + j) * ysw, ydbl, ix, ikind, irow + (j0 + j) * isw, even, 1,
                orig[tl][j], fb[tl / kw] + base + (tl % kw) * dw, orig[th][j],
                fb[th / kw] + base + (th % kw) * dw);
    }
  }
}

/* What the forward chunks read. */
typedef struct {
  const fp__geom *g;
  const fp__median_net *net;
  int even, ydbl, ikind;
  const FP_T *x;
  const fp__strides *xs, *ys, *is;
  void *y, *ix;
  int64_t ow_lo, ow_hi; /* rows only */
} KN(fwd_ctx);

/* (n, c, od, oh) rows [b, e) of the forward. */
static void KN(rows_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(fwd_ctx) *cx = (const KN(fwd_ctx) *)ctx;
  const fp__geom *g = cx->g;
  const fp__median_net *net = cx->net;
  const int even = cx->even, ydbl = cx->ydbl, ikind = cx->ikind;
  const FP_T *x = cx->x;
  const fp__strides *xs = cx->xs, *ys = cx->ys, *is = cx->is;
  void *y = cx->y, *ix = cx->ix;
  const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2], C = g->c;
  const int64_t H = g->in[1], W = g->in[2];
  const int need = KN(need)(even);
  const int64_t ow_lo = cx->ow_lo, ow_hi = cx->ow_hi;
  (void)slot;
  for (int64_t r = b; r < e; r++) {
    FP_T buf[FP_MED_STACK];
    const int64_t oh = r % OH, od = (r / OH) % OD, c = (r / (OH * OD)) % C, n = r / (OH * OD * C);
    const FP_T *xp = x + n * xs->n + c * xs->c;
    const int64_t yrow = n * ys->n + c * ys->c + od * ys->a[0] + oh * ys->a[1];
    const int64_t irow = n * is->n + c * is->c + od * is->a[0] + oh * is->a[1];
    int64_t td0, td1, th0, th1;
    const int64_t sd = od * g->s[0] - g->pb[0], sh = oh * g->s[1] - g->pb[1];
    fp__tap_range(sd, g->k[0], g->d[0], g->in[0], &td0, &td1);
    fp__tap_range(sh, g->k[1], g->d[1], H, &th0, &th1);
    const int64_t nr = (td1 - td0) * (th1 - th0);
    const int use_net = net && td0 < td1 && th0 < th1 && nr * g->k[2] == net->m && ow_lo < ow_hi;
    for (int64_t ow = 0; ow < OW; ow++) {
      if (use_net && ow == ow_lo) ow = ow_hi;
      if (ow >= OW) break;
      const int64_t o[3] = {od, oh, ow};
      FP_T vlo = 0, vhi = 0;
      int64_t ilo = -1, ihi = -1;
      const int ok = KN(window)(xp, xs, g, o, need, buf, &vlo, &ilo, &vhi, &ihi);
      KN(store)(y, yrow + ow * ys->a[2], ydbl, ix, ikind, irow + ow * is->a[2], even, ok, vlo, ilo,
                vhi, ihi);
    }
    if (!use_net) continue;
    const FP_T *xr[FP_MED_NET_MAX];
    int64_t fb[FP_MED_NET_MAX], j = 0;
    for (int64_t td = td0; td < td1; td++)
      for (int64_t th = th0; th < th1; th++, j++) {
        const int64_t id = sd + td * g->d[0], ih = sh + th * g->d[1];
        xr[j] = xp + id * xs->a[0] + ih * xs->a[1];
        fb[j] = (id * H + ih) * W;
      }
    KN(row_net)(net, xr, fb, ow_lo, ow_hi, g->s[2], g->k[2], g->d[2], g->pb[2], xs->a[2], even, y,
                yrow, ys->a[2], ydbl, ix, ikind, irow, is->a[2]);
  }
}

void KN(rows)(const fp__geom *g, const fp__median_net *net, int even, const void *xv,
              const fp__strides *xs, void *y, const fp__strides *ys, int ydbl, void *ix,
              const fp__strides *is, int ikind, int nt) {
  KN(fwd_ctx) ctx = {g, net, even, ydbl, ikind, (const FP_T *)xv, xs, ys, is, y, ix, 0, 0};
  fp__interior_cols(g, &ctx.ow_lo, &ctx.ow_hi);
  fp__parallel(nt, g->n * g->c * g->out[0] * g->out[1], KN(rows_chunk), &ctx);
}

/* Channels innermost (NHWC memory): per output position, the network runs
 * across FP_MED_TILE channels at a time when the window lies inside the
 * input with net->m cells; otherwise channel by channel. */
FP_SIMD_CLONES static void KN(position_net)(const fp__median_net *net, const FP_T *xn,
                                            const fp__strides *xs, const int64_t *toff,
                                            const int64_t *tflat, int64_t C, int even, void *y,
                                            int64_t yo, int64_t ysc, int ydbl, void *ix,
                                            int ikind, int64_t io, int64_t isc) {
  FP_T orig[FP_MED_NET_MAX][FP_MED_TILE], w[FP_MED_NET_MAX][FP_MED_TILE];
  int sel_lo[FP_MED_TILE], sel_hi[FP_MED_TILE];
  const int need = KN(need)(even), m = net->m;
  for (int64_t c0 = 0; c0 < C; c0 += FP_MED_TILE) {
    const int64_t nj = C - c0 < FP_MED_TILE ? C - c0 : FP_MED_TILE;
    for (int t = 0; t < m; t++) {
      const FP_T *src = xn + toff[t] + c0 * xs->c;
      for (int64_t j = 0; j < nj; j++) orig[t][j] = src[j * xs->c];
      for (int64_t j = nj; j < FP_MED_TILE; j++) orig[t][j] = (FP_T)0;
    }
    KN(net_tile)(net, orig, w, need, sel_lo, sel_hi);
    for (int64_t j = 0; j < nj; j++) {
      const int tl = need & FP_MED_NEED_LO ? sel_lo[j] : 0;
      const int th = need & FP_MED_NEED_HI ? sel_hi[j] : 0;
      KN(store)(y, yo + (c0 + j) * ysc, ydbl, ix, ikind, io + (c0 + j) * isc, even, 1, orig[tl][j],
                tflat[tl], orig[th][j], tflat[th]);
    }
  }
}

/* (n, od, oh, ow) positions [b, e) of the forward, channels innermost. */
static void KN(cinner_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(fwd_ctx) *cx = (const KN(fwd_ctx) *)ctx;
  const fp__geom *g = cx->g;
  const fp__median_net *net = cx->net;
  const int even = cx->even, ydbl = cx->ydbl, ikind = cx->ikind;
  const FP_T *x = cx->x;
  const fp__strides *xs = cx->xs, *ys = cx->ys, *is = cx->is;
  void *y = cx->y, *ix = cx->ix;
  const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2], C = g->c;
  const int64_t H = g->in[1], W = g->in[2];
  const int need = KN(need)(even);
  (void)slot;
  for (int64_t r = b; r < e; r++) {
    FP_T buf[FP_MED_STACK];
    const int64_t ow = r % OW, oh = (r / OW) % OH, od = (r / (OW * OH)) % OD, n = r / (OW * OH * OD);
    const int64_t o[3] = {od, oh, ow};
    const int64_t yo = n * ys->n + od * ys->a[0] + oh * ys->a[1] + ow * ys->a[2];
    const int64_t io = n * is->n + od * is->a[0] + oh * is->a[1] + ow * is->a[2];
    const FP_T *xn = x + n * xs->n;
    int64_t st[3], b0[3], cnt[3];
    const int ok = fp__window_box(g, o, st, b0, cnt);
    if (net && ok && cnt[0] * cnt[1] * cnt[2] == net->m) {
      int64_t toff[FP_MED_NET_MAX], tflat[FP_MED_NET_MAX];
      int t = 0;
      for (int64_t j0 = 0; j0 < cnt[0]; j0++)
        for (int64_t j1 = 0; j1 < cnt[1]; j1++)
          for (int64_t j2 = 0; j2 < cnt[2]; j2++, t++) {
            const int64_t id = b0[0] + j0 * g->d[0], ih = b0[1] + j1 * g->d[1],
                          iw = b0[2] + j2 * g->d[2];
            toff[t] = id * xs->a[0] + ih * xs->a[1] + iw * xs->a[2];
            tflat[t] = (id * H + ih) * W + iw;
          }
      KN(position_net)(net, xn, xs, toff, tflat, C, even, y, yo, ys->c, ydbl, ix, ikind, io,
                       is->c);
      continue;
    }
    for (int64_t c = 0; c < C; c++) {
      FP_T vlo = 0, vhi = 0;
      int64_t ilo = -1, ihi = -1;
      const int okc = ok && KN(window)(xn + c * xs->c, xs, g, o, need, buf, &vlo, &ilo, &vhi, &ihi);
      KN(store)(y, yo + c * ys->c, ydbl, ix, ikind, io + c * is->c, even, okc, vlo, ilo, vhi, ihi);
    }
  }
}

void KN(cinner)(const fp__geom *g, const fp__median_net *net, int even, const void *xv,
                const fp__strides *xs, void *y, const fp__strides *ys, int ydbl, void *ix,
                const fp__strides *is, int ikind, int nt) {
  KN(fwd_ctx) ctx = {g, net, even, ydbl, ikind, (const FP_T *)xv, xs, ys, is, y, ix, 0, 0};
  fp__parallel(nt, g->n * g->out[0] * g->out[1] * g->out[2], KN(cinner_chunk), &ctx);
}

#if FP_IS_FLOAT
/* Element offset of flat plane index i in a tensor with spatial strides a. */
static inline int64_t KN(offset)(const fp__geom *g, const fp__strides *s, int64_t i) {
  const int64_t w = i % g->in[2], t = i / g->in[2];
  return (t / g->in[1]) * s->a[0] + (t % g->in[1]) * s->a[1] + w * s->a[2];
}

/* Adds the gradient gy of one output to dx, given the element offsets of
 * its lo and hi cells: all of it at the selected cell (lower / upper, or
 * when lo and hi are one cell), else half at each. */
static inline void KN(route)(FP_T *dxp, int even, FP_T gy, int64_t olo, int64_t ohi) {
  if (even == FP_MEDIAN_LOWER) {
    dxp[olo] += gy;
  } else if (even == FP_MEDIAN_UPPER || olo == ohi) {
    dxp[ohi] += gy;
  } else {
    const FP_T half = (FP_T)(gy * (FP_T)0.5);
    dxp[olo] += half;
    dxp[ohi] += half;
  }
}

/* The interior [lo, hi) of one row of the gradient through the network,
 * FP_MED_TILE outputs at a time, in order: dy[j] routed into the plane dxp
 * whose window rows start at element offsets drow[]. */
FP_SIMD_CLONES static void KN(row_net_bwd)(const fp__median_net *net, const FP_T *const *xr,
                                           const int64_t *drow, int64_t lo, int64_t hi,
                                           int64_t sw, int64_t kw, int64_t dw, int64_t pw,
                                           int64_t xsw, int even, const FP_T *dyr,
                                           int64_t dysw, FP_T *dxp, int64_t dxsw) {
  FP_T orig[FP_MED_NET_MAX][FP_MED_TILE], w[FP_MED_NET_MAX][FP_MED_TILE];
  int sel_lo[FP_MED_TILE], sel_hi[FP_MED_TILE];
  const int need = KN(need)(even);
  for (int64_t j0 = lo; j0 < hi; j0 += FP_MED_TILE) {
    const int64_t nj = hi - j0 < FP_MED_TILE ? hi - j0 : FP_MED_TILE;
    for (int t = 0; t < net->m; t++) {
      const FP_T *src = xr[t / kw] + ((t % kw) * dw - pw + j0 * sw) * xsw;
      for (int64_t j = 0; j < nj; j++) orig[t][j] = src[j * sw * xsw];
      for (int64_t j = nj; j < FP_MED_TILE; j++) orig[t][j] = (FP_T)0;
    }
    KN(net_tile)(net, orig, w, need, sel_lo, sel_hi);
    for (int64_t j = 0; j < nj; j++) {
      const int tl = need & FP_MED_NEED_LO ? sel_lo[j] : 0;
      const int th = need & FP_MED_NEED_HI ? sel_hi[j] : 0;
      const int64_t base = (j0 + j) * sw - pw;
      KN(route)(dxp, even, dyr[(j0 + j) * dysw], drow[tl / kw] + (base + (tl % kw) * dw) * dxsw,
                drow[th / kw] + (base + (th % kw) * dw) * dxsw);
    }
  }
}

typedef struct {
  const fp__geom *g;
  const fp__median_net *net;
  int even;
  const FP_T *dy, *x;
  FP_T *dx;
  const fp__strides *dys, *xs, *dxs;
  int64_t ow_lo, ow_hi;
} KN(bwd_ctx);

/* (n, c) planes [b, e) of the gradient. */
static void KN(bwd_chunk)(void *ctx, int64_t b, int64_t e, int slot) {
  const KN(bwd_ctx) *cx = (const KN(bwd_ctx) *)ctx;
  const fp__geom *g = cx->g;
  const fp__median_net *net = cx->net;
  const int even = cx->even;
  const FP_T *dy = cx->dy, *x = cx->x;
  FP_T *dx = cx->dx;
  const fp__strides *dys = cx->dys, *xs = cx->xs, *dxs = cx->dxs;
  const int64_t H = g->in[1], OW = g->out[2];
  const int64_t kw = g->k[2], sw = g->s[2], dw = g->d[2], pw = g->pb[2];
  const int need = KN(need)(even);
  const int64_t ow_lo = cx->ow_lo, ow_hi = cx->ow_hi;
  (void)slot;
  for (int64_t p = b; p < e; p++) {
    FP_T buf[FP_MED_STACK];
    const int64_t c = p % g->c, n = p / g->c;
    const FP_T *xp = x + n * xs->n + c * xs->c;
    const FP_T *dyp = dy + n * dys->n + c * dys->c;
    FP_T *dxp = dx + n * dxs->n + c * dxs->c;
    fp__zero_plane(g, dxp, dxs->a, sizeof(FP_T));
    for (int64_t od = 0; od < g->out[0]; od++)
      for (int64_t oh = 0; oh < g->out[1]; oh++) {
        const FP_T *dyr = dyp + od * dys->a[0] + oh * dys->a[1];
        int64_t td0, td1, th0, th1;
        const int64_t sd = od * g->s[0] - g->pb[0], sh = oh * g->s[1] - g->pb[1];
        fp__tap_range(sd, g->k[0], g->d[0], g->in[0], &td0, &td1);
        fp__tap_range(sh, g->k[1], g->d[1], H, &th0, &th1);
        const int64_t nr = (td1 - td0) * (th1 - th0);
        const int use_net = net && td0 < td1 && th0 < th1 && nr * kw == net->m && ow_lo < ow_hi;
        for (int64_t ow = 0; ow < OW; ow++) {
          if (use_net && ow == ow_lo) {
            const FP_T *xr[FP_MED_NET_MAX];
            int64_t drow[FP_MED_NET_MAX], j = 0;
            for (int64_t td = td0; td < td1; td++)
              for (int64_t th = th0; th < th1; th++, j++) {
                const int64_t id = sd + td * g->d[0], ih = sh + th * g->d[1];
                xr[j] = xp + id * xs->a[0] + ih * xs->a[1];
                drow[j] = id * dxs->a[0] + ih * dxs->a[1];
              }
            KN(row_net_bwd)(net, xr, drow, ow_lo, ow_hi, sw, kw, dw, pw, xs->a[2], even, dyr,
                            dys->a[2], dxp, dxs->a[2]);
            ow = ow_hi - 1;
            continue;
          }
          const int64_t o[3] = {od, oh, ow};
          FP_T vlo, vhi;
          int64_t ilo = -1, ihi = -1;
          if (!KN(window)(xp, xs, g, o, need, buf, &vlo, &ilo, &vhi, &ihi)) continue;
          KN(route)(dxp, even, dyr[ow * dys->a[2]], KN(offset)(g, dxs, ilo),
                    KN(offset)(g, dxs, ihi));
        }
      }
  }
}

/* dx by recomputing each window's selection; one (n, c) plane per task,
 * outputs in row-major order (a row's interior through the network path
 * when net is given, its borders by the definition). */
void KN(bwd)(const fp__geom *g, const fp__median_net *net, int even, const void *dyv,
             const fp__strides *dys, const void *xv, const fp__strides *xs, void *dxv,
             const fp__strides *dxs, int nt) {
  KN(bwd_ctx) ctx = {g, net, even, (const FP_T *)dyv, (const FP_T *)xv, (FP_T *)dxv,
                     dys, xs, dxs, 0, 0};
  fp__interior_cols(g, &ctx.ow_lo, &ctx.ow_hi);
  fp__parallel(nt, g->n * g->c, KN(bwd_chunk), &ctx);
}
#endif /* FP_IS_FLOAT */

#undef FP_MED_BITS
#undef KN
