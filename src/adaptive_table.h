/* One value dtype's row of adaptive.c's kernel table. */
#define FP_K(isfx, name) FP__CAT(FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), _adaptive_), isfx), FP__CAT(__, name))
[FP_SLOT] = {
  {FP_K(x, max_rows), FP_K(i32, max_rows), FP_K(i64, max_rows)},
#if defined(FP_HAVE_VEC) && FP_SLOT <= 1
  FP_K(x, amax_short),
#else
  0,
#endif
#if FP_IS_FLOAT
  FP_K(x, avg_rows), FP_K(x, avg_bwd_rows), FP_K(x, global_avg),
#else
  FP_K(x, avg_rows), 0, FP_K(x, global_avg),
#endif
},
#undef FP_K
