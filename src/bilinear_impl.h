/* Bilinear pooling, the element-wise passes for one dtype (included by
 * bilinear.c through fp_each_dtype.h: float32, float64; with FP_TABLE, the
 * dtype's row of its kernel table).  The matrix products are in gemm.c.
 * Every pass works on a block of rows [i0, i1) of one sample's Cx x Cy
 * matrix; sums are taken in double, in row-major order within the block. */
#define KN(name) FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), _bilinear__), name)
#ifdef FP_TABLE
[FP_SLOT] = {KN(fwd_block), KN(scale_block), KN(mirror_block), KN(bwd_sums), KN(bwd_block)},
#else
#define FP_SQRT FP_LIBM(sqrt)
#define FP_FABS FP_LIBM(fabs)
#define FP_COPYSIGN FP_LIBM(copysign)

/* Forward, first pass over rows [i0, i1) of one sample (row i at b + i*rs,
 * columns stepping by cs): the signed square root in place (when ssqrt) of
 * the columns j >= i when sym (the upper triangle, which is all a symmetric
 * product has written), else of every column; returns the sum of squares
 * of the elements of the full matrix they stand for (off-diagonal ones
 * twice when sym). */
FP_SIMD_CLONES static double KN(fwd_block)(void *bv, int64_t rs, int64_t cs, int64_t i0,
                                           int64_t i1, int64_t cy, int ssqrt, int sym) {
  FP_T *b = (FP_T *)bv;
  double acc = 0;
  for (int64_t i = i0; i < i1; i++) {
    const int64_t j0 = sym ? i : 0;
    FP_T *row = b + i * rs;
    double lane[FP__LANES] = {0};
    if (cs == 1) {
      int64_t j = j0;
      if (ssqrt) {
        for (; j + FP__LANES <= cy; j += FP__LANES)
          for (int l = 0; l < FP__LANES; l++) {
            const FP_T s = FP_COPYSIGN(FP_SQRT(FP_FABS(row[j + l])), row[j + l]);
            row[j + l] = s;
            lane[l] += (double)s * (double)s;
          }
        for (; j < cy; j++) {
          const FP_T s = FP_COPYSIGN(FP_SQRT(FP_FABS(row[j])), row[j]);
          row[j] = s;
          lane[0] += (double)s * (double)s;
        }
      } else {
        for (; j + FP__LANES <= cy; j += FP__LANES)
          for (int l = 0; l < FP__LANES; l++) lane[l] += (double)row[j + l] * (double)row[j + l];
        for (; j < cy; j++) lane[0] += (double)row[j] * (double)row[j];
      }
    } else {
      for (int64_t j = j0; j < cy; j++) {
        FP_T s = row[j * cs];
        if (ssqrt) {
          s = FP_COPYSIGN(FP_SQRT(FP_FABS(s)), s);
          row[j * cs] = s;
        }
        lane[0] += (double)s * (double)s;
      }
    }
    double racc = fp__lanes_sum(lane);
    if (sym && i < cy) {
      const double dg = (double)row[i * cs];
      racc = 2 * racc - dg * dg;
    }
    acc += racc;
  }
  return acc;
}

/* Forward: multiply rows [i0, i1) by f, rounded to FP_T (the columns
 * j >= i when sym). */
FP_SIMD_CLONES static void KN(scale_block)(void *bv, int64_t rs, int64_t cs, int64_t i0,
                                           int64_t i1, int64_t cy, double fd, int sym) {
  FP_T *b = (FP_T *)bv;
  const FP_T f = (FP_T)fd;
  for (int64_t i = i0; i < i1; i++) {
    FP_T *row = b + i * rs;
    const int64_t j0 = sym ? i : 0;
    if (cs == 1)
      for (int64_t j = j0; j < cy; j++) row[j] *= f;
    else
      for (int64_t j = j0; j < cy; j++) row[j * cs] *= f;
  }
}

/* Forward of a symmetric product: rows [i0, i1) below the diagonal copied
 * from the upper triangle, b(i, j) = b(j, i) for j < i.  Reads only the
 * upper triangle, writes only these rows' lower part: blocks run in
 * parallel.  With unit column stride the block left of the diagonal is one
 * transposed copy of the upper block above it. */
static void KN(mirror_block)(void *bv, int64_t rs, int64_t cs, int64_t i0, int64_t i1,
                             fp_dtype dt) {
  FP_T *b = (FP_T *)bv;
  if (cs == 1 && i0 > 0) fp__transpose(dt, b + i0, rs, b + i0 * rs, rs, i0, i1 - i0);
  const int64_t jend = cs == 1 ? i0 : 0;
  for (int64_t i = i0; i < i1; i++)
    for (int64_t j = jend; j < i; j++) b[i * rs + j * cs] = b[j * rs + i * cs];
}

/* Backward, first pass: sum of s^2 and of s*g over the block, where s is the
 * signed square root of the (averaged) product u held in the contiguous
 * Cx x Cy scratch b, and g is the output gradient (row stride grs, column
 * stride gcs). */
FP_SIMD_CLONES static void KN(bwd_sums)(const void *bv, const void *gv, int64_t grs,
                                        int64_t gcs, int64_t i0, int64_t i1, int64_t cy,
                                        int ssqrt, double *ss, double *sg) {
  const FP_T *b = (const FP_T *)bv, *g = (const FP_T *)gv;
  double a2 = 0, ag = 0;
  for (int64_t i = i0; i < i1; i++) {
    const FP_T *brow = b + i * cy, *grow = g + i * grs;
    double l2[FP__LANES] = {0}, lg[FP__LANES] = {0};
    int64_t j = 0;
    if (gcs == 1)
      for (; j + FP__LANES <= cy; j += FP__LANES)
        for (int l = 0; l < FP__LANES; l++) {
          const FP_T u = brow[j + l];
          const double s = ssqrt ? (double)FP_COPYSIGN(FP_SQRT(FP_FABS(u)), u) : (double)u;
          l2[l] += s * s;
          lg[l] += s * (double)grow[j + l];
        }
    for (; j < cy; j++) {
      const FP_T u = brow[j];
      const double s = ssqrt ? (double)FP_COPYSIGN(FP_SQRT(FP_FABS(u)), u) : (double)u;
      l2[0] += s * s;
      lg[0] += s * (double)grow[j * gcs];
    }
    a2 += fp__lanes_sum(l2);
    ag += fp__lanes_sum(lg);
  }
  *ss = a2;
  *sg = ag;
}

/* Backward, second pass, in place on the scratch b: dB = scale * f(u) * ds
 * with ds = (g - s*c1) * c2 (the L2 step; c1, c2 chosen by the caller) and
 * f(u) = 1 / (2 sqrt(|u| + eps)) when ssqrt, else 1.  With sym (y = x) the
 * result is dB + dB^T, from g(i, j) + g(j, i): element (i, j) only reads
 * b(i, j) = b(j, i), so the update is safe in place; gt, when not NULL,
 * holds g(j, i) at gt[(i - i0)*cy + j].  With have_b = 0 (no signed sqrt,
 * no L2) b is not read. */
/* One element of the second pass: gij (+ gji when sym) through the L2 and
 * signed-square-root steps at the product value ut. */
FP_ALWAYS_INLINE FP_T KN(bwd_elem)(FP_T ut, double gij, double gji, int sym, int ssqrt,
                                   double c1, double c2, double eps, double scale) {
  const double u = (double)ut;
  const double s = ssqrt ? (double)FP_COPYSIGN(FP_SQRT(FP_FABS(ut)), ut) : u;
  /* c1 = 0 (no L2 step) must not turn an infinite s into NaN: dB is then g * f(u),
   * 0 where u is infinite, as the chain rule of the unfused steps gives */
  const double sc = c1 != 0.0 ? s * c1 : 0.0;
  double d = (gij - sc) * c2;
  if (sym) d += (gji - sc) * c2;
  const double f = ssqrt ? 0.5 / sqrt(fabs(u) + eps) : 1.0;
  return (FP_T)(d * f * scale);
}

FP_SIMD_CLONES static void KN(bwd_block)(void *bv, const void *gv, int64_t grs, int64_t gcs,
                                         const void *gtv, int64_t i0, int64_t i1, int64_t cy,
                                         int sym, int ssqrt, int have_b, double c1, double c2,
                                         double eps, double scale) {
  FP_T *b = (FP_T *)bv;
  const FP_T *g = (const FP_T *)gv, *gt = (const FP_T *)gtv;
  for (int64_t i = i0; i < i1; i++) {
    FP_T *brow = b + i * cy;
    const FP_T *grow = g + i * grs;
    if (!have_b) {
      /* no signed sqrt and no L2: dB = scale * g (+ g^T) */
      for (int64_t j = 0; j < cy; j++)
        brow[j] = KN(bwd_elem)(0, (double)grow[j * gcs],
                               sym ? (double)(gt ? gt[(i - i0) * cy + j] : g[j * grs + i * gcs]) : 0.0,
                               sym, 0, 0.0, 1.0, eps, scale);
    } else if (sym && gt && gcs == 1) {
      const FP_T *gtr = gt + (i - i0) * cy;
      for (int64_t j = 0; j < cy; j++)
        brow[j] = KN(bwd_elem)(brow[j], (double)grow[j], (double)gtr[j], 1, ssqrt, c1, c2, eps,
                               scale);
    } else if (!sym && gcs == 1) {
      for (int64_t j = 0; j < cy; j++)
        brow[j] = KN(bwd_elem)(brow[j], (double)grow[j], 0.0, 0, ssqrt, c1, c2, eps, scale);
    } else {
      for (int64_t j = 0; j < cy; j++)
        brow[j] = KN(bwd_elem)(brow[j], (double)grow[j * gcs],
                               sym ? (double)g[j * grs + i * gcs] : 0.0, sym, ssqrt, c1, c2, eps,
                               scale);
    }
  }
}

#undef FP_SQRT
#undef FP_FABS
#undef FP_COPYSIGN
#endif /* FP_TABLE */
#undef KN
