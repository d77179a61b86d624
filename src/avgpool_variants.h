/* One input dtype's average-pooling kernels (included by avgpool.c through
 * fp_each_dtype.h): floating types average into their own type and have a
 * backward; integer types average into float64, or into their own type
 * rounded half to even and saturated. */
#if FP_IS_FLOAT
#  define FP_TY FP_T
#  define FP_YSFX same
#  define FP_YSTORE(v) ((FP_T)(v))
#  define FP_WITH_BWD 1
#  include "avgpool_impl.h"
#  undef FP_TY
#  undef FP_YSFX
#  undef FP_YSTORE
#  undef FP_WITH_BWD
#else
#  define FP_WITH_BWD 0
#  define FP_TY double
#  define FP_YSFX f64
#  define FP_YSTORE(v) ((double)(v))
#  include "avgpool_impl.h"
#  undef FP_TY
#  undef FP_YSFX
#  undef FP_YSTORE
#  define FP_TY FP_T
#  define FP_YSFX same
/* round half to even (the default rounding mode), saturate to the type */
#  define FP_YSTORE(v)                                                             \
    ((v) <= (double)FP_LOWEST ? FP_LOWEST                                          \
     : (v) >= (double)FP__CAT(FP_SFX, _MAX) ? (FP_T)FP__CAT(FP_SFX, _MAX)          \
                                            : (FP_T)nearbyint(v))
#  include "avgpool_impl.h"
#  undef FP_TY
#  undef FP_YSFX
#  undef FP_YSTORE
#  undef FP_WITH_BWD
#endif
