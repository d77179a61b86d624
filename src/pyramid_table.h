/* One value dtype's row of pyramid.c's kernel table. */
#define FP_K(name) FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), _yspp__), name)
[FP_SLOT] = {
  FP_K(fwd), FP_K(copy_block),
#if FP_IS_FLOAT
  FP_K(bwd), FP_K(bwd_direct), FP__CAT(FP__CAT(fp__, FP_SFX), _spp__bwd),
#else
  0, 0, 0,
#endif
},
#undef FP_K
