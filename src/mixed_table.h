/* One value dtype's row of mixed.c's kernel table (floating dtypes). */
#if FP_IS_FLOAT
#  define FP_K(name) FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), _mixed__), name)
[FP_SLOT] = {FP_K(fwd_rows), FP_K(fwd_cinner), FP_K(pair_bwd),
             FP_K(blend_bwd)},
#  undef FP_K
#endif
