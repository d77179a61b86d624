/* One value dtype's unpooling kernels, for int32 and int64 indices. */
#define FP_IDX_T int32_t
#define FP_ISFX i32
#include "unpool_impl.h"
#undef FP_IDX_T
#undef FP_ISFX
#define FP_IDX_T int64_t
#define FP_ISFX i64
#include "unpool_impl.h"
#undef FP_IDX_T
#undef FP_ISFX
