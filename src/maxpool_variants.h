/* One value dtype's max-pooling kernels: without indices, with int32 and
 * with int64 indices (included by maxpool.c through fp_each_dtype.h). */
#define FP_IDX_T int64_t
#define FP_ISFX x
#define FP_WITH_IDX 0
#include "maxpool_impl.h"
#undef FP_IDX_T
#undef FP_ISFX
#undef FP_WITH_IDX
#define FP_WITH_IDX 1
#define FP_IDX_T int32_t
#define FP_ISFX i32
#include "maxpool_impl.h"
#undef FP_IDX_T
#undef FP_ISFX
#define FP_IDX_T int64_t
#define FP_ISFX i64
#include "maxpool_impl.h"
#undef FP_IDX_T
#undef FP_ISFX
#undef FP_WITH_IDX
