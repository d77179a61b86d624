/* One input dtype's row of avgpool.c's kernel table: [same-type output,
 * float64 output] forward kernels, and the backward kernels. */
#define FP_K(ysfx, name) FP__CAT(FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), _avgpool_), ysfx), FP__CAT(__, name))
[FP_SLOT] = {
  {{FP_K(same, rows), FP_K(same, cinner)},
#if FP_IS_FLOAT
   {0, 0}},
  {FP_K(same, bwd_rows), FP_K(same, bwd_cinner), FP_K(same, bwd_gather),
   FP_K(same, windows_disjoint)},
#else
   {FP_K(f64, rows), FP_K(f64, cinner)}},
  {0, 0, 0, 0},
#endif
},
#undef FP_K
