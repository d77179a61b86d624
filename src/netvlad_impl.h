/* NetVLAD, the element-wise passes for one dtype (included by netvlad.c
 * through fp_each_dtype.h: float32, float64; with FP_TABLE, the dtype's row
 * of its kernel table); the matrix products are in gemm.c.  Per-position
 * passes take a block of positions [p0, p0 + pn) of one sample and loop
 * over the clusters or channels outside, the positions inside (unit stride
 * in the scratch, and in the input when its positions are).  Sums are in
 * double. */
#define KN(name) FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), _netvlad__), name)
#ifdef FP_TABLE
[FP_SLOT] = {KN(norms), KN(softmax), KN(vlad_row), KN(scale_row), KN(dot_row), KN(bwd_row),
             KN(softmax_bwd), KN(norm_bwd), KN(reduce_row)},
#else

/* nu[p] = ||x_p|| over the D channels (channel stride cs; position p at
 * offset poff[p], or poff[0] + p when punit). */
FP_SIMD_CLONES static void KN(norms)(const void *xv, int64_t cs, int64_t d, const int64_t *poff, int64_t pn,
                      int punit, double *nu) {
  const FP_T *x = (const FP_T *)xv;
  for (int64_t p = 0; p < pn; p++) nu[p] = 0;
  for (int64_t c = 0; c < d; c++) {
    const FP_T *row = x + c * cs;
    if (punit) {
      const FP_T *r = row + poff[0];
      for (int64_t p = 0; p < pn; p++) nu[p] += (double)r[p] * (double)r[p];
    } else {
      for (int64_t p = 0; p < pn; p++) nu[p] += (double)row[poff[p]] * (double)row[poff[p]];
    }
  }
  for (int64_t p = 0; p < pn; p++) nu[p] = sqrt(nu[p]);
}

/* The soft assignment of a block of positions.  In: l[k*ld + p] = w_k . x_p
 * (x unnormalised), m[p] the input norm floor max(nu_p, eps) (1 without
 * input normalisation).  Out: l[k*ld + p] = a_kp / m_p, and
 * spart[k] = sum over the block of a_kp. */
FP_SIMD_CLONES static void KN(softmax)(void *lv, int64_t ld, int64_t k, const void *biasv, int64_t bstr,
                        const double *m, int64_t pn, double *spart, double *mx, double *sum) {
  FP_T *l = (FP_T *)lv;
  const FP_T *bias = (const FP_T *)biasv;
  for (int64_t p = 0; p < pn; p++) {
    mx[p] = -INFINITY;
    sum[p] = 0;
  }
  for (int64_t c = 0; c < k; c++) {
    FP_T *row = l + c * ld;
    const double b = (double)bias[c * bstr];
    for (int64_t p = 0; p < pn; p++) {
      const double v = (double)row[p] / m[p] + b;
      row[p] = (FP_T)v;
      mx[p] = v > mx[p] ? v : mx[p];
    }
  }
  for (int64_t c = 0; c < k; c++) {
    FP_T *row = l + c * ld;
    for (int64_t p = 0; p < pn; p++) {
      const double e = fp__exp_nonpos((double)row[p] - mx[p]);
      row[p] = (FP_T)e;
      sum[p] += e;
    }
  }
  for (int64_t p = 0; p < pn; p++) sum[p] = 1.0 / sum[p];
  for (int64_t c = 0; c < k; c++) {
    FP_T *row = l + c * ld;
    double lane[FP__LANES] = {0};
    int64_t p = 0;
    for (; p + FP__LANES <= pn; p += FP__LANES)
      for (int q = 0; q < FP__LANES; q++) {
        const double a = (double)row[p + q] * sum[p + q];
        lane[q] += a;
        row[p + q] = (FP_T)(a / m[p + q]);
      }
    for (; p < pn; p++) {
      const double a = (double)row[p] * sum[p];
      lane[0] += a;
      row[p] = (FP_T)(a / m[p]);
    }
    spart[c] = fp__lanes_sum(lane);
  }
}

/* sum_j a[j] * b[j*bs] over d terms, in FP__LANES lanes. */
static inline double KN(dot)(const FP_T *a, int64_t as, const FP_T *b, int64_t bs, int64_t d) {
  double lane[FP__LANES] = {0};
  int64_t j = 0;
  if (as == 1 && bs == 1)
    for (; j + FP__LANES <= d; j += FP__LANES)
      for (int q = 0; q < FP__LANES; q++) lane[q] += (double)a[j + q] * (double)b[j + q];
  for (; j < d; j++) lane[0] += (double)a[j * as] * (double)b[j * bs];
  return fp__lanes_sum(lane);
}

/* One cluster row of the VLAD matrix (d elements at stride vs): subtract
 * s * centroid, intra-normalise in place; returns ||row||^2 of the result
 * and the norm before normalisation in *rho. */
FP_SIMD_CLONES static double KN(vlad_row)(void *vv, int64_t vs, int64_t d, const void *cv,
                                          int64_t cstr, double s, double eps, double *rho) {
  FP_T *v = (FP_T *)vv;
  const FP_T *c = (const FP_T *)cv;
  for (int64_t j = 0; j < d; j++) v[j * vs] = (FP_T)((double)v[j * vs] - s * (double)c[j * cstr]);
  const double n = sqrt(KN(dot)(v, vs, v, vs, d)), den = fp__norm_floor(n, eps), f = 1.0 / den;
  for (int64_t j = 0; j < d; j++) v[j * vs] = (FP_T)((double)v[j * vs] * f);
  *rho = n;
  return KN(dot)(v, vs, v, vs, d);
}

FP_SIMD_CLONES static void KN(scale_row)(void *vv, int64_t vs, int64_t d, double f) {
  FP_T *v = (FP_T *)vv;
  for (int64_t j = 0; j < d; j++) v[j * vs] = (FP_T)((double)v[j * vs] * f);
}

FP_SIMD_CLONES static double KN(dot_row)(const void *a, const void *b, int64_t bs, int64_t d) {
  return KN(dot)((const FP_T *)a, 1, (const FP_T *)b, bs, d);
}

/* Backward through both normalisations of one cluster row, in place: u
 * holds U_k (intra-normalised row, contiguous), g the output gradient row
 * (stride gs).  dU = (g - u*cg1) * cg2 (the global step, chosen by the
 * caller), then dV = (dU - u <u, dU>) / rho when rho >= eps, else dU / eps.
 * Returns <dV, centroid_k>. */
FP_SIMD_CLONES static double KN(bwd_row)(void *uv, const void *gv, int64_t gs, int64_t d,
                                         double cg1, double cg2, double rho, double eps,
                                         const void *cv, int64_t cstr) {
  FP_T *u = (FP_T *)uv;
  const FP_T *g = (const FP_T *)gv, *c = (const FP_T *)cv;
  /* <u, dU> = (<u, g> - <u, u> cg1) cg2 */
  const double ud = (KN(dot)(u, 1, g, gs, d) - KN(dot)(u, 1, u, 1, d) * cg1) * cg2;
  const int through = fp__norm_through(rho, eps);
  const double inv = through ? 1.0 / rho : 1.0 / eps;
  for (int64_t j = 0; j < d; j++) {
    const double du = ((double)g[j * gs] - (double)u[j] * cg1) * cg2;
    u[j] = (FP_T)((through ? du - (double)u[j] * ud : du) * inv);
  }
  return KN(dot)(u, 1, c, cstr, d);
}

/* Backward through the soft assignment for a block of positions.  In:
 * ah[k*ld + p] = a_kp / m_p, g[k*ld + p] = (dV X)_kp (unnormalised x),
 * r[k] = <dV_k, centroid_k>.  With dA_kp = g_kp / m_p - r_k and
 * dL_kp = a_kp (dA_kp - sum_k' a_k'p dA_k'p), out: g[k*ld + p] = dL_kp / m_p
 * and dbpart[k] = sum over the block of dL_kp. */
FP_SIMD_CLONES static void KN(softmax_bwd)(const void *ahv, void *gv, int64_t ld, int64_t k, const double *r,
                            const double *m, int64_t pn, double *dbpart, double *sig) {
  const FP_T *ah = (const FP_T *)ahv;
  FP_T *g = (FP_T *)gv;
  for (int64_t p = 0; p < pn; p++) sig[p] = 0;
  for (int64_t c = 0; c < k; c++) {
    const FP_T *arow = ah + c * ld, *grow = g + c * ld;
    const double rc = r[c];
    for (int64_t p = 0; p < pn; p++) {
      const double a = (double)arow[p] * m[p], da = (double)grow[p] / m[p] - rc;
      sig[p] += a * da;
    }
  }
  for (int64_t c = 0; c < k; c++) {
    const FP_T *arow = ah + c * ld;
    FP_T *grow = g + c * ld;
    const double rc = r[c];
    double lane[FP__LANES] = {0};
    int64_t p = 0;
    for (; p + FP__LANES <= pn; p += FP__LANES)
      for (int q = 0; q < FP__LANES; q++) {
        const double mp = m[p + q], a = (double)arow[p + q] * mp;
        const double dl = a * ((double)grow[p + q] / mp - rc - sig[p + q]);
        lane[q] += dl;
        grow[p + q] = (FP_T)(dl / mp);
      }
    for (; p < pn; p++) {
      const double mp = m[p], a = (double)arow[p] * mp;
      const double dl = a * ((double)grow[p] / mp - rc - sig[p]);
      lane[0] += dl;
      grow[p] = (FP_T)(dl / mp);
    }
    dbpart[c] = fp__lanes_sum(lane);
  }
}

/* Backward through the input normalisation for a block of positions, in
 * place on q = dx (channel stride qcs, positions qoff[]; unit: both
 * position axes are unit-stride, offsets xoff[0] + p): where nu_p >= eps,
 * dx_p = q_p - x_p <x_p, q_p> / nu_p^2; elsewhere dx_p = q_p. */
FP_SIMD_CLONES static void KN(norm_bwd)(const void *xv, int64_t xcs, const int64_t *xoff,
                                        void *qv, int64_t qcs, const int64_t *qoff, int unit,
                                        int64_t d, int64_t pn, const double *nu, double eps,
                                        double *dot) {
  const FP_T *x = (const FP_T *)xv;
  FP_T *q = (FP_T *)qv;
  for (int64_t p = 0; p < pn; p++) dot[p] = 0;
  for (int64_t c = 0; c < d; c++) {
    const FP_T *xr = x + c * xcs;
    const FP_T *qr = q + c * qcs;
    if (unit) {
      const FP_T *xu = xr + xoff[0], *qu = qr + qoff[0];
      for (int64_t p = 0; p < pn; p++) dot[p] += (double)xu[p] * (double)qu[p];
    } else {
      for (int64_t p = 0; p < pn; p++) dot[p] += (double)xr[xoff[p]] * (double)qr[qoff[p]];
    }
  }
  for (int64_t p = 0; p < pn; p++)
    dot[p] = fp__norm_through(nu[p], eps) ? dot[p] / (nu[p] * nu[p]) : 0.0;
  for (int64_t c = 0; c < d; c++) {
    const FP_T *xr = x + c * xcs;
    FP_T *qr = q + c * qcs;
    if (unit) {
      const FP_T *xu = xr + xoff[0];
      FP_T *qu = qr + qoff[0];
      for (int64_t p = 0; p < pn; p++) qu[p] = (FP_T)((double)qu[p] - (double)xu[p] * dot[p]);
    } else {
      for (int64_t p = 0; p < pn; p++)
        qr[qoff[p]] = (FP_T)((double)qr[qoff[p]] - (double)xr[xoff[p]] * dot[p]);
    }
  }
}

/* One sample's share of row k of the parameter gradients, added in place
 * (first: the call's first sample, which assigns): dcentroids -= s_k dV_k,
 * dweight += the sample's dW_k (dws), dbias += dbs.  NULL gradients are
 * skipped. */
static void KN(reduce_row)(const fp_tensor *dw, const fp_tensor *db, const fp_tensor *dc,
                           int64_t k, const void *dvv, const void *dwsv, double sk, double dbs,
                           int64_t d, int first) {
  const FP_T *dv = (const FP_T *)dvv, *dws = (const FP_T *)dwsv;
  if (dc) {
    FP_T *o = (FP_T *)dc->data + k * dc->strides[0];
    const int64_t os = dc->strides[1];
    for (int64_t j = 0; j < d; j++)
      o[j * os] = (FP_T)((first ? 0.0 : (double)o[j * os]) - sk * (double)dv[j]);
  }
  if (dw) {
    FP_T *o = (FP_T *)dw->data + k * dw->strides[0];
    const int64_t os = dw->strides[1];
    for (int64_t j = 0; j < d; j++) o[j * os] = first ? dws[j] : o[j * os] + dws[j];
  }
  if (db) {
    FP_T *o = (FP_T *)db->data + k * db->strides[0];
    *o = (FP_T)(first ? dbs : (double)*o + dbs);
  }
}

#endif /* FP_TABLE */
#undef KN
