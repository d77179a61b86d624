/* One value dtype's adaptive kernels (included by adaptive.c through
 * fp_each_dtype.h): max without / with int32 / with int64 indices, and the
 * average kernels for floating dtypes. */
#define FP_IDX_T int64_t
#define FP_ISFX x
#define FP_WITH_IDX 0
#define FP_WITH_AVG 1
/* average output: the input's type if floating, else float64 */
#if FP_IS_FLOAT
#  define FP_AY FP_T
#else
#  define FP_AY double
#endif
#include "adaptive_impl.h"
#undef FP_IDX_T
#undef FP_ISFX
#undef FP_WITH_IDX
#undef FP_WITH_AVG
#undef FP_AY
#define FP_WITH_AVG 0
#define FP_WITH_IDX 1
#define FP_IDX_T int32_t
#define FP_ISFX i32
#include "adaptive_impl.h"
#undef FP_IDX_T
#undef FP_ISFX
#define FP_IDX_T int64_t
#define FP_ISFX i64
#include "adaptive_impl.h"
#undef FP_IDX_T
#undef FP_ISFX
#undef FP_WITH_IDX
#undef FP_WITH_AVG
