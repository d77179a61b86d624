/* One value dtype's row of maxpool.c's kernel table. */
#define FP_K(isfx, name) FP__CAT(FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), _maxpool_), isfx), FP__CAT(__, name))
[FP_SLOT] = {
  {{FP_K(x, rows), FP_K(x, cinner)},
   {FP_K(i32, rows), FP_K(i32, cinner)},
   {FP_K(i64, rows), FP_K(i64, cinner)}},
  FP_K(x, stride1_fits),
  FP_K(x, stride1),
#if FP_IS_FLOAT
  {{FP_K(i32, bad_index), FP_K(i32, bwd_rows), FP_K(i32, bwd_cinner)},
   {FP_K(i64, bad_index), FP_K(i64, bwd_rows), FP_K(i64, bwd_cinner)}},
#else
  {{0, 0, 0}, {0, 0, 0}},
#endif
},
#undef FP_K
