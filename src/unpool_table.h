/* One value dtype's row of unpool.c's kernel table. */
#define FP_K(isfx, name) FP__CAT(FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), _unpool_), isfx), FP__CAT(__, name))
[FP_SLOT] = {{FP_K(i32, bad), FP_K(i32, fwd), FP_K(i32, bwd)},
             {FP_K(i64, bad), FP_K(i64, fwd), FP_K(i64, bwd)}},
#undef FP_K
