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

/* 1 if some index lies outside [-1, big_plane). */
int KN(bad)(const fp__geom *g, const void *ixv, const fp__strides *is, int64_t big_plane, int nt) {
  const FP_IDX_T *ix = (const FP_IDX_T *)ixv;
  const int64_t rows = g->n * g->c * g->in[0] * g->in[1];
  int bad = 0;
#ifdef FP_WITH_OPENMP
#  pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1) reduction(| : bad)
#else
  (void)nt;
#endif
  for (int64_t r = 0; r < rows; r++) {
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
  return bad;
}

/* g->in: the small (x) spatial extents, g->out: the large (y) ones. */
void KN(fwd)(const fp__geom *g, const void *xv, const fp__strides *xs, const void *ixv,
             const fp__strides *is, void *yv, const fp__strides *ys, int nt) {
  const FP_T *x = (const FP_T *)xv;
  const FP_IDX_T *ix = (const FP_IDX_T *)ixv;
  FP_T *y = (FP_T *)yv;
  const int64_t planes = g->n * g->c;
  const int lin = fp__plane_linear(g->out, ys->a);
#ifdef FP_WITH_OPENMP
#  pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
#else
  (void)nt;
#endif
  for (int64_t p = 0; p < planes; p++) {
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

void KN(bwd)(const fp__geom *g, const void *dyv, const fp__strides *dys, const void *ixv,
             const fp__strides *is, void *dxv, const fp__strides *dxs, int nt) {
  const FP_T *dy = (const FP_T *)dyv;
  const FP_IDX_T *ix = (const FP_IDX_T *)ixv;
  FP_T *dx = (FP_T *)dxv;
  const int64_t rows = g->n * g->c * g->in[0] * g->in[1];
  const int lin = fp__plane_linear(g->out, dys->a);
#ifdef FP_WITH_OPENMP
#  pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
#else
  (void)nt;
#endif
  for (int64_t r = 0; r < rows; r++) {
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

#undef KN
