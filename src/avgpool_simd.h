/* Small fixed-width vectors for the averaging kernels (avgpool, adaptive,
 * lppool): GCC/Clang vector extensions, lowered by each target clone to one
 * zmm, two ymm or four xmm registers.  Macros, not functions, so no vector
 * crosses a call boundary (whose ABI would depend on the clone). */
#ifndef FP_AVGPOOL_SIMD_H
#define FP_AVGPOOL_SIMD_H

#include <string.h>

#if defined(__GNUC__) && !defined(FP_NO_VECTOR_EXT)
#  define FP_HAVE_VEC 1
typedef double fp__v8d __attribute__((vector_size(64)));
typedef float fp__v8f __attribute__((vector_size(32)));
typedef long long fp__v8l __attribute__((vector_size(64)));

/* dst (fp__v8d) = eight consecutive float / double values from p. */
#  define FP_LOAD8D_f32(dst, p)            \
    do {                                   \
      fp__v8f v_;                          \
      memcpy(&v_, (p), sizeof v_);         \
      (dst) = __builtin_convertvector(v_, fp__v8d); \
    } while (0)
#  define FP_LOAD8D_f64(dst, p) memcpy(&(dst), (p), sizeof(fp__v8d))
#endif

#endif /* FP_AVGPOOL_SIMD_H */

#if defined(FP_HAVE_VEC) && !defined(FP_AVGPOOL_SIMD_VEC2)
#  define FP_AVGPOOL_SIMD_VEC2
typedef float fp__v16f __attribute__((vector_size(64)));
typedef int fp__v8i __attribute__((vector_size(32)));

/* Lane i of the horizontal gather for output lanes [8h, 8h + 8): input lane
 * (8h + i)*sw + t of the 16 loaded ones, clamped (lanes past the row's
 * outputs are computed and never stored). */
#  define FP_HL(sw, t, h, i) \
    ((((h) * 8 + (i)) * (sw) + (t)) > 15 ? 15 : (((h) * 8 + (i)) * (sw) + (t)))
#  define FP_HMASK(T, sw, t, h)                                                         \
    ((T){FP_HL(sw, t, h, 0), FP_HL(sw, t, h, 1), FP_HL(sw, t, h, 2), FP_HL(sw, t, h, 3), \
         FP_HL(sw, t, h, 4), FP_HL(sw, t, h, 5), FP_HL(sw, t, h, 6), FP_HL(sw, t, h, 7)})
#endif
