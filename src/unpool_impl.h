/* Max-unpooling microkernels for one (value dtype, index dtype) pair.
 * Included by unpool.c with FP_T, FP_SFX, FP_IDX_T, FP_ISFX.
 * Forward: y = 0, then y[n, c].flat[idx] = x in C order (duplicates: the
 * last one wins).  Backward: the gather dx = dy[n, c].flat[idx] (0 for -1).
 * Indices index the plane of the larger tensor (y / dy); the index tensor
 * has the shape of the smaller (x / dx).  One plane per task. */
#define KN(name) FP__CAT(FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), FP__CAT(_unpool_, FP_ISFX)), __), name)

/* Element offset of flat index i within one plane of a tensor with spatial
 * extents ext[3] and strides a[3]. */
static inline int64_t KN(offset)(const int64_t ext[3], const int64_t a[3], int64_t i, int linear) {
  if (linear) return i * a[2];
  const int64_t w = i % ext[2], t = i / ext[2];
  return (t / ext[1]) * a[0] + (t % ext[1]) * a[1] + w * a[2];
}

/* The kernels' arguments: x / dx the small tensor, y / dy the big one. */
typedef struct {
  const fp__geom *g;
  const FP_T *small;
  const fp__strides *ss;
  const FP_IDX_T *ix;
  const fp__strides *is;
  FP_T *out; /* y (fwd) or dx (bwd) */
  const FP_T *big;
  const fp__strides *bs;
  int64_t big_plane;
  int lin;
  _Atomic int bad; /* set by a chunk that finds a bad index */
} KN(ctx);

/* Index rows [r0, r1) of the (N, C, D, H) row space of the small tensor. */
static void KN(bad_chunk)(void *ctx, int64_t r0, int64_t r1, int slot) {
  KN(ctx) *cx = (KN(ctx) *)ctx;
  const fp__geom *g = cx->g;
  const FP_IDX_T *ix = cx->ix;
  const fp__strides *is = cx->is;
  const int64_t big_plane = cx->big_plane;
  (void)slot;
  if (atomic_load_explicit(&cx->bad, memory_order_relaxed)) return;
  int bad = 0;
  for (int64_t r = r0; r < r1; r++) {
    int64_t t = r;
    const int64_t h = t % g->in[1];
    t /= g->in[1];
    const int64_t d = t % g->in[0];
    t /= g->in[0];
    const int64_t c = t % g->c, n = t / g->c;
    const FP_IDX_T *ir = ix + n * is->n + c * is->c + d * is->a[0] + h * is->a[1];
    int b = 0;
    for (int64_t w = 0; w < g->in[2]; w++) {
      const int64_t i = (int64_t)ir[w * is->a[2]];
      b |= (i < -1) | (i >= big_plane);
    }
    bad |= b;
  }
  if (bad) atomic_store_explicit(&cx->bad, 1, memory_order_relaxed);
}

/* 1 if some index lies outside [-1, big_plane). */
int KN(bad)(const fp__geom *g, const void *ixv, const fp__strides *is, int64_t big_plane, int nt) {
  const int64_t rows = g->n * g->c * g->in[0] * g->in[1];
  KN(ctx) ctx = {.g = g, .ix = (const FP_IDX_T *)ixv, .is = is, .big_plane = big_plane};
  fp__parallel(nt, rows, KN(bad_chunk), &ctx);
  return atomic_load_explicit(&ctx.bad, memory_order_relaxed);
}

/* (n, c) planes [p0, p1) of fwd. */
static void KN(fwd_chunk)(void *ctx, int64_t p0, int64_t p1, int slot) {
  const KN(ctx) *cx = (const KN(ctx) *)ctx;
  const fp__geom *g = cx->g;
  const FP_T *x = cx->small;
  const FP_IDX_T *ix = cx->ix;
  FP_T *y = cx->out;
  const fp__strides *xs = cx->ss, *is = cx->is, *ys = cx->bs;
  const int lin = cx->lin;
  (void)slot;
  for (int64_t p = p0; p < p1; p++) {
    const int64_t c = p % g->c, n = p / g->c;
    FP_T *yp = y + n * ys->n + c * ys->c;
    const FP_T *xp = x + n * xs->n + c * xs->c;
    const FP_IDX_T *ip = ix + n * is->n + c * is->c;
    for (int64_t d = 0; d < g->out[0]; d++)
      for (int64_t h = 0; h < g->out[1]; h++) {
        FP_T *r = yp + d * ys->a[0] + h * ys->a[1];
        for (int64_t w = 0; w < g->out[2]; w++) r[w * ys->a[2]] = 0;
      }
    for (int64_t d = 0; d < g->in[0]; d++)
      for (int64_t h = 0; h < g->in[1]; h++)
        for (int64_t w = 0; w < g->in[2]; w++) {
          const int64_t i = (int64_t)ip[d * is->a[0] + h * is->a[1] + w * is->a[2]];
          if (i < 0) continue;
          yp[KN(offset)(g->out, ys->a, i, lin)] = xp[d * xs->a[0] + h * xs->a[1] + w * xs->a[2]];
        }
  }
}

/* g->in: the small (x) spatial extents, g->out: the large (y) ones. */
void KN(fwd)(const fp__geom *g, const void *xv, const fp__strides *xs, const void *ixv,
             const fp__strides *is, void *yv, const fp__strides *ys, int nt) {
  KN(ctx) ctx = {.g = g,
                 .small = (const FP_T *)xv,
                 .ss = xs,
                 .ix = (const FP_IDX_T *)ixv,
                 .is = is,
                 .out = (FP_T *)yv,
                 .bs = ys,
                 .lin = fp__plane_linear(g->out, ys->a)};
  fp__parallel(nt, g->n * g->c, KN(fwd_chunk), &ctx);
}

/* Rows [r0, r1) of the (N, C, D, H) row space of dx. */
static void KN(bwd_chunk)(void *ctx, int64_t r0, int64_t r1, int slot) {
  const KN(ctx) *cx = (const KN(ctx) *)ctx;
  const fp__geom *g = cx->g;
  const FP_T *dy = cx->big;
  const FP_IDX_T *ix = cx->ix;
  FP_T *dx = cx->out;
  const fp__strides *dys = cx->bs, *is = cx->is, *dxs = cx->ss;
  const int lin = cx->lin;
  (void)slot;
  for (int64_t r = r0; r < r1; r++) {
    int64_t t = r;
    const int64_t h = t % g->in[1];
    t /= g->in[1];
    const int64_t d = t % g->in[0];
    t /= g->in[0];
    const int64_t c = t % g->c, n = t / g->c;
    const FP_T *dyp = dy + n * dys->n + c * dys->c;
    const FP_IDX_T *ir = ix + n * is->n + c * is->c + d * is->a[0] + h * is->a[1];
    FP_T *dr = dx + n * dxs->n + c * dxs->c + d * dxs->a[0] + h * dxs->a[1];
    for (int64_t w = 0; w < g->in[2]; w++) {
      const int64_t i = (int64_t)ir[w * is->a[2]];
      dr[w * dxs->a[2]] = i < 0 ? (FP_T)0 : dyp[KN(offset)(g->out, dys->a, i, lin)];
    }
  }
}

void KN(bwd)(const fp__geom *g, const void *dyv, const fp__strides *dys, const void *ixv,
             const fp__strides *is, void *dxv, const fp__strides *dxs, int nt) {
  KN(ctx) ctx = {.g = g,
                 .ss = dxs,
                 .ix = (const FP_IDX_T *)ixv,
                 .is = is,
                 .out = (FP_T *)dxv,
                 .big = (const FP_T *)dyv,
                 .bs = dys,
                 .lin = fp__plane_linear(g->out, dys->a)};
  fp__parallel(nt, g->n * g->c * g->in[0] * g->in[1], KN(bwd_chunk), &ctx);
}

#undef KN
