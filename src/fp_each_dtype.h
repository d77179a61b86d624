/* The one list of value dtypes.  A .c file defines FP_IMPL (a header name)
 * and includes this file: FP_IMPL is then included once per dtype with
 *   FP_T        the C type          FP_SFX    its suffix (f32, u8, ...)
 *   FP_SLOT     its table slot      FP_IS_FLOAT  1 for floating types
 *   FP_LOWEST   max-pooling padding: -inf, or the integer type's minimum
 *   FP_QNAN     a quiet NaN (floating types; the lowest value otherwise)
 *   FP_ACC      the accumulator of sums: float for float16, else double
 *   FP_ISNAN(v) NaN test (constant 0 for integers)
 *   FP_LIBM(f)  the libm function f for FP_T (floating types; float16 uses
 *               float's): FP_LIBM(sqrt) is sqrtf for float32, sqrt for float64
 * Slots follow fp__dtype_slot() in fp_internal.h.  float16 needs a compiler
 * with _Float16 (GCC >= 12, Clang); without it its slot stays empty.
 * Options, defined before the include (and undefined by it, as FP_TABLE):
 *   FP_EACH_FLOAT   the floating types only (no integer kernels)
 *   FP_EACH_NO_F16  no float16 (neither of its slots)
 * A slot left out stays empty in the tables. */
#ifndef FP_IMPL
#  error "define FP_IMPL before including fp_each_dtype.h"
#endif

#define FP_ISNAN(v) ((v) != (v))
#define FP_T float
#define FP_SFX f32
#define FP_SLOT 0
#define FP_IS_FLOAT 1
#define FP_LOWEST ((FP_T)-INFINITY)
#define FP_QNAN ((FP_T)NAN)
#define FP_ACC double
#define FP_LIBM(fn) fn##f
#include FP_IMPL
#undef FP_T
#undef FP_SFX
#undef FP_SLOT
#undef FP_LOWEST
#undef FP_QNAN
#undef FP_ACC
#undef FP_LIBM

#define FP_T double
#define FP_SFX f64
#define FP_SLOT 1
#define FP_LOWEST ((FP_T)-INFINITY)
#define FP_QNAN ((FP_T)NAN)
#define FP_ACC double
#define FP_LIBM(fn) fn
#include FP_IMPL
#undef FP_T
#undef FP_SFX
#undef FP_SLOT
#undef FP_LOWEST
#undef FP_QNAN
#undef FP_ACC
#undef FP_LIBM

#define FP_LIBM(fn) fn##f /* float16: float's functions */
#if defined(FP_HAVE_FLOAT16) && !defined(FP_EACH_NO_F16)
#  define FP_T _Float16
#  define FP_SFX f16
#  define FP_SLOT 2
#  define FP_LOWEST ((FP_T)-INFINITY)
#  define FP_QNAN ((FP_T)NAN)
#  define FP_ACC float
#  include FP_IMPL
#  undef FP_T
#  undef FP_SFX
#  undef FP_SLOT
#  undef FP_LOWEST
#  undef FP_QNAN
#  undef FP_ACC
#endif
#if defined(FP_HAVE_F16C_SLOT) && !defined(FP_EACH_NO_F16)
/* float16 again, compiled for AVX2 + F16C + FMA (slot FP_SLOT_F16C): each
 * _Float16 <-> float conversion is then one vcvtph2ps / vcvtps2ph instead of
 * a libgcc call per element, 10-60x faster.  fp__dtype_slot() picks this
 * slot only on CPUs that have those instructions, so the baseline slot 2
 * keeps the wheel running everywhere.  Kernels here are not target_clones
 * (they already have their target). */
#  ifndef FP_TABLE
#    pragma GCC push_options
#    pragma GCC target("avx2,f16c,fma")
#  endif
#  pragma push_macro("FP_SIMD_CLONES")
#  undef FP_SIMD_CLONES
#  define FP_SIMD_CLONES
#  define FP_T _Float16
#  define FP_SFX f16c
#  define FP_SLOT FP_SLOT_F16C
#  define FP_LOWEST ((FP_T)-INFINITY)
#  define FP_QNAN ((FP_T)NAN)
#  define FP_ACC float
#  include FP_IMPL
#  undef FP_T
#  undef FP_SFX
#  undef FP_SLOT
#  undef FP_LOWEST
#  undef FP_QNAN
#  undef FP_ACC
#  pragma pop_macro("FP_SIMD_CLONES")
#  ifndef FP_TABLE
#    pragma GCC pop_options
#  endif
#endif
#undef FP_LIBM
#undef FP_IS_FLOAT
#undef FP_ISNAN

#ifndef FP_EACH_FLOAT
#define FP_IS_FLOAT 0
#define FP_ISNAN(v) 0
#define FP_ACC double
#define FP_T int8_t
#define FP_SFX i8
#define FP_SLOT 3
#define FP_LOWEST ((FP_T)INT8_MIN)
#define FP_QNAN FP_LOWEST
#include FP_IMPL
#undef FP_T
#undef FP_SFX
#undef FP_SLOT
#undef FP_LOWEST

#define FP_T uint8_t
#define FP_SFX u8
#define FP_SLOT 4
#define FP_LOWEST ((FP_T)0)
#include FP_IMPL
#undef FP_T
#undef FP_SFX
#undef FP_SLOT
#undef FP_LOWEST

#define FP_T int16_t
#define FP_SFX i16
#define FP_SLOT 5
#define FP_LOWEST ((FP_T)INT16_MIN)
#include FP_IMPL
#undef FP_T
#undef FP_SFX
#undef FP_SLOT
#undef FP_LOWEST

#define FP_T uint16_t
#define FP_SFX u16
#define FP_SLOT 6
#define FP_LOWEST ((FP_T)0)
#include FP_IMPL
#undef FP_T
#undef FP_SFX
#undef FP_SLOT
#undef FP_LOWEST

#define FP_T int32_t
#define FP_SFX i32
#define FP_SLOT 7
#define FP_LOWEST ((FP_T)INT32_MIN)
#include FP_IMPL
#undef FP_T
#undef FP_SFX
#undef FP_SLOT
#undef FP_LOWEST

#define FP_T int64_t
#define FP_SFX i64
#define FP_SLOT 8
#define FP_LOWEST ((FP_T)INT64_MIN)
#include FP_IMPL
#undef FP_T
#undef FP_SFX
#undef FP_SLOT
#undef FP_LOWEST
#undef FP_QNAN
#undef FP_ACC
#undef FP_IS_FLOAT
#undef FP_ISNAN
#endif /* FP_EACH_FLOAT */
#undef FP_TABLE
#undef FP_EACH_FLOAT
#undef FP_EACH_NO_F16
