/* One value dtype's row of stochastic.c's kernel table (floating dtypes). */
#if FP_IS_FLOAT
#  define FP_K(name) FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), _stochastic__), name)
[FP_SLOT] = {FP_K(bad), FP_K(forward), FP_K(weighted_bwd)},
#  undef FP_K
#endif
