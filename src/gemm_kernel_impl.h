/* One register-blocked GEMM microkernel, included by gemm_impl.h once per
 * instruction set for its dtype (FP_T, FP_SFX) with
 *   FP_KISA    the set's name        FP_KTARGET  its target attribute (or nothing)
 *   FP_VBYTES  vector bytes          FP_MR       rows of the block
 *   FP_KC      terms per block sum
 * and FP_GEMM_NV vectors per row (NR = FP_GEMM_NV * VL, VL elements per
 * vector); with FP_TABLE, its entry in the dtype's kernel list.
 *
 * out[i][j] = sum over k < kc, in order, of pa[k*MR + i] * pb[k*NR + j]: a
 * sequential multiply-add chain per element (fused where the instruction
 * set has FMA), held in MR * FP_GEMM_NV vector registers.  pa and pb are
 * packed panels (gemm_impl.h); out is MR x NR row-major. */
#define FP_KNAME FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), _gemm_kernel_), FP_KISA)
#define FP_VL ((int)(FP_VBYTES / sizeof(FP_T)))
#define FP_NV FP_GEMM_NV
#ifdef FP_TABLE
{FP_KNAME, FP_MR, FP_NV * FP_VL, FP_KC},
#else
typedef FP_T FP__CAT(FP_KNAME, _vt) __attribute__((vector_size(FP_VBYTES)));
#  define FP_VT FP__CAT(FP_KNAME, _vt)
FP_KTARGET static void FP_KNAME(int64_t kc, const void *pav, const void *pbv, void *outv) {
  const FP_T *restrict pa = (const FP_T *)pav;
  const FP_T *restrict pb = (const FP_T *)pbv;
  FP_T *restrict out = (FP_T *)outv;
  FP_VT c[FP_MR][FP_NV];
#pragma GCC unroll 16
  for (int i = 0; i < FP_MR; i++)
#pragma GCC unroll 4
    for (int j = 0; j < FP_NV; j++) c[i][j] = (FP_VT){0};
  for (int64_t k = 0; k < kc; k++) {
    FP_VT b[FP_NV];
#pragma GCC unroll 4
    for (int j = 0; j < FP_NV; j++) memcpy(&b[j], pb + j * FP_VL, sizeof(FP_VT));
#pragma GCC unroll 16
    for (int i = 0; i < FP_MR; i++) {
      const FP_T a = pa[i];
#pragma GCC unroll 4
      for (int j = 0; j < FP_NV; j++) c[i][j] += a * b[j];
    }
    pa += FP_MR;
    pb += FP_NV * FP_VL;
  }
#pragma GCC unroll 16
  for (int i = 0; i < FP_MR; i++)
#pragma GCC unroll 4
    for (int j = 0; j < FP_NV; j++) memcpy(out + (i * FP_NV + j) * FP_VL, &c[i][j], sizeof(FP_VT));
}
#  undef FP_VT
#endif
#undef FP_NV
#undef FP_VL
#undef FP_KNAME
