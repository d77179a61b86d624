/* The one ISA detection.  Every run-time dispatch asks it: fp_simd_level(),
 * the float16 F16C slot (fp__dtype_slot), the GEMM kernel table.  The
 * compiler's target_clones resolvers (FP_SIMD_CLONES) make the same tests
 * in the same order ("avx512f", then "avx2", then the default), so a clone
 * and the level reported here always agree. */
#include "fp_internal.h"

#ifdef FP_X86_DISPATCH
#  include <stdatomic.h>

/* Bits of the detected features; 0 until the first query.  Detection is
 * idempotent, so two threads that race to it store the same value. */
#  define FP__CPU_KNOWN 1u
static _Atomic unsigned cpu_bits;

static unsigned detect(void) {
  __builtin_cpu_init();
  unsigned b = FP__CPU_KNOWN;
  if (__builtin_cpu_supports("avx2")) b |= FP_CPU_AVX2;
  if (__builtin_cpu_supports("fma")) b |= FP_CPU_FMA;
  if (__builtin_cpu_supports("f16c")) b |= FP_CPU_F16C;
  if (__builtin_cpu_supports("avx512f")) b |= FP_CPU_AVX512F;
  return b;
}

unsigned fp__cpu_features(void) {
  unsigned b = atomic_load_explicit(&cpu_bits, memory_order_relaxed);
  if (!b) {
    b = detect();
    atomic_store_explicit(&cpu_bits, b, memory_order_relaxed);
  }
  return b;
}
#else
unsigned fp__cpu_features(void) { return 0; }
#endif

int fp__cpu_level(void) {
  const unsigned f = fp__cpu_features();
  if (f & FP_CPU_AVX512F) return FP_ISA_AVX512;
  if (f & FP_CPU_AVX2) return FP_ISA_AVX2;
  return FP_ISA_BASELINE;
}

const char *fp_simd_level(void) {
  switch (fp__cpu_level()) {
    case FP_ISA_AVX512: return "avx512f";
    case FP_ISA_AVX2: return "avx2";
    default: return "baseline";
  }
}
