/* Instantiated by maxscan.h once per dtype: fp__<SFX>_maxscan. */
FP_ALWAYS_INLINE void FP__CAT(FP__CAT(fp__, FP_SFX), _maxscan)(
    const FP_T *xp, const fp__strides *xs, int64_t H, int64_t W, const int64_t b0[3],
    const int64_t step[3], const int64_t cnt[3], int omit, FP_T *yv, int64_t *yi) {
  const int64_t first = (b0[0] * H + b0[1]) * W + b0[2];
  FP_T best = FP_LOWEST;
  int64_t bi = first;
  int seen = 0;
  for (int64_t j0 = 0; j0 < cnt[0]; j0++) {
    const int64_t id = b0[0] + j0 * step[0];
    for (int64_t j1 = 0; j1 < cnt[1]; j1++) {
      const int64_t ih = b0[1] + j1 * step[1];
      const FP_T *xr = xp + id * xs->a[0] + ih * xs->a[1];
      const int64_t fr = (id * H + ih) * W;
      for (int64_t j2 = 0; j2 < cnt[2]; j2++) {
        const int64_t iw = b0[2] + j2 * step[2];
        const FP_T v = xr[iw * xs->a[2]];
        if (omit) {
          if (FP_ISNAN(v)) continue;
          if (!seen || v > best) {
            best = v;
            bi = fr + iw;
            seen = 1;
          }
        } else if (v > best || FP_ISNAN(v)) {
          best = v;
          bi = fr + iw;
        }
      }
    }
  }
  if (omit && !seen) {
    best = FP_QNAN;
    bi = first;
  }
  *yv = best;
  *yi = bi;
}
