/* One value dtype's row of median.c's kernel table. */
#define FP_K(name) FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), _median__), name)
#if FP_IS_FLOAT
[FP_SLOT] = {FP_K(rows), FP_K(cinner), FP_K(bwd)},
#else
[FP_SLOT] = {FP_K(rows), FP_K(cinner), 0},
#endif
#undef FP_K
