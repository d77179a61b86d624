/* Blocked GEMM for the special poolings: axes, microkernel dispatch, the
 * driver per dtype (gemm_impl.h) and the kernels per instruction set
 * (gemm_kernel_impl.h). */
#include "gemm.h"

#include <string.h>

/* Blocking: the packed A block is at most MC_MAX x KC_MAX, the packed B
 * block KC_MAX x NC_MAX (both in L2); a B micro-panel (KC x NR) stays in L1
 * while the MR-row panels of A stream past it. */
#define FP_GEMM_MC_MAX 256
#define FP_GEMM_NC_MAX 512
#define FP_GEMM_KC_MAX 256
#define FP_GEMM_MR_MAX 8
#define FP_GEMM_NR_MAX 32
/* Square tiles of symmetric products (X X^T): small enough that the skipped
 * lower triangle is most of the saving. */
#ifndef FP_GEMM_SYM_TILE
#  define FP_GEMM_SYM_TILE 192
#endif

typedef struct fp__gemm_kernel {
  void (*fn)(int64_t, const void *, const void *, void *);
  int mr, nr;
  int64_t kc;         /* terms per block sum */
  int64_t sym_quantum;/* tile size step of symmetric products: lcm(mr, nr) */
} fp__gemm_kernel;

fp__axis fp__axis_make(int n, const int64_t *ext, const int64_t *str) {
  fp__axis a;
  int m = 0;
  int64_t e[3], s[3];
  for (int i = 0; i < n; i++) {
    if (ext[i] == 1) continue;
    e[m] = ext[i];
    s[m] = str[i];
    m++;
  }
  /* merge an outer sub-axis into the next inner one when it steps by the
   * inner one's whole extent */
  int w = 0;
  for (int i = 0; i < m; i++) {
    if (w > 0 && e[i] != 0 && s[w - 1] == e[i] * s[i]) {
      e[w - 1] *= e[i];
      s[w - 1] = s[i];
    } else {
      e[w] = e[i];
      s[w] = s[i];
      w++;
    }
  }
  if (w == 0) return fp__axis_simple(1, 0);
  /* a zero extent anywhere makes the axis empty */
  for (int i = 0; i < w; i++)
    if (e[i] == 0) return fp__axis_simple(0, 0);
  a.n = w;
  for (int i = 0; i < 3; i++) {
    a.ext[i] = i < w ? e[i] : 1;
    a.str[i] = i < w ? s[i] : 0;
  }
  return a;
}

void fp__axis_offsets(const fp__axis *a, int64_t start, int64_t count, int64_t *out) {
  if (a->n == 1) {
    const int64_t s = a->str[0];
    for (int64_t i = 0; i < count; i++) out[i] = (start + i) * s;
    return;
  }
  /* digits of start, then increment with carries */
  int64_t d[3] = {0, 0, 0}, t = start;
  for (int j = a->n - 1; j >= 0; j--) {
    d[j] = t % a->ext[j];
    t /= a->ext[j];
  }
  int64_t off = 0;
  for (int j = 0; j < a->n; j++) off += d[j] * a->str[j];
  const int in = a->n - 1;
  for (int64_t i = 0; i < count; i++) {
    out[i] = off;
    for (int j = in;; j--) {
      if (++d[j] < a->ext[j]) {
        off += a->str[j];
        break;
      }
      off -= (a->ext[j] - 1) * a->str[j];
      d[j] = 0;
      if (j == 0) break;
    }
  }
}

/* ---- microkernels ---- */

#ifdef FP_X86_DISPATCH
#  define FP_GEMM_X86 1
#endif

typedef float fp__v4sf __attribute__((vector_size(16)));
typedef double fp__v2df __attribute__((vector_size(16)));
#ifdef FP_GEMM_X86
typedef float fp__v8sf __attribute__((vector_size(32)));
typedef float fp__v16sf __attribute__((vector_size(64)));
typedef double fp__v4df __attribute__((vector_size(32)));
typedef double fp__v8df __attribute__((vector_size(64)));
#endif

#define FP_KTARGET
#define FP_T float
#define FP_VT fp__v4sf
#define FP_VL 4
#define FP_MR 4
#define FP_NV 2
#define FP_KNAME fp__f32_gemm_kernel_base
#include "gemm_kernel_impl.h"
#undef FP_T
#undef FP_VT
#undef FP_VL
#undef FP_MR
#undef FP_KNAME
#define FP_T double
#define FP_VT fp__v2df
#define FP_VL 2
#define FP_MR 4
#define FP_KNAME fp__f64_gemm_kernel_base
#include "gemm_kernel_impl.h"
#undef FP_T
#undef FP_VT
#undef FP_VL
#undef FP_MR
#undef FP_KNAME
#undef FP_KTARGET

#ifdef FP_GEMM_X86
#  define FP_KTARGET __attribute__((target("avx2,fma")))
#  define FP_T float
#  define FP_VT fp__v8sf
#  define FP_VL 8
#  define FP_MR 6
#  define FP_KNAME fp__f32_gemm_kernel_avx2
#  include "gemm_kernel_impl.h"
#  undef FP_T
#  undef FP_VT
#  undef FP_VL
#  undef FP_MR
#  undef FP_KNAME
#  define FP_T double
#  define FP_VT fp__v4df
#  define FP_VL 4
#  define FP_MR 6
#  define FP_KNAME fp__f64_gemm_kernel_avx2
#  include "gemm_kernel_impl.h"
#  undef FP_T
#  undef FP_VT
#  undef FP_VL
#  undef FP_MR
#  undef FP_KNAME
#  undef FP_KTARGET
#  define FP_KTARGET __attribute__((target("avx512f,fma")))
#  define FP_T float
#  define FP_VT fp__v16sf
#  define FP_VL 16
#  define FP_MR 8
#  define FP_KNAME fp__f32_gemm_kernel_avx512
#  include "gemm_kernel_impl.h"
#  undef FP_T
#  undef FP_VT
#  undef FP_VL
#  undef FP_MR
#  undef FP_KNAME
#  define FP_T double
#  define FP_VT fp__v8df
#  define FP_VL 8
#  define FP_MR 8
#  define FP_KNAME fp__f64_gemm_kernel_avx512
#  include "gemm_kernel_impl.h"
#  undef FP_T
#  undef FP_VT
#  undef FP_VL
#  undef FP_MR
#  undef FP_KNAME
#  undef FP_KTARGET
#endif
#undef FP_NV


/* [instruction set: baseline, avx2, avx512][dtype: f32, f64] */
static const fp__gemm_kernel gemm_kernels[3][2] = {
  {{fp__f32_gemm_kernel_base, 4, 8, 256, 8},
   {fp__f64_gemm_kernel_base, 4, 4, 256, 4}},
#ifdef FP_GEMM_X86
  {{fp__f32_gemm_kernel_avx2, 6, 16, 256, 48},
   {fp__f64_gemm_kernel_avx2, 6, 8, 256, 24}},
  {{fp__f32_gemm_kernel_avx512, 8, 32, 128, 32},
   {fp__f64_gemm_kernel_avx512, 8, 16, 128, 16}},
#endif
};

static const fp__gemm_kernel *gemm_kernel(fp_dtype dt) {
  const int d = dt == FP_FLOAT64;
#ifdef FP_GEMM_X86
  const unsigned f = fp__cpu_features();
  if (fp__cpu_level() == FP_ISA_AVX512) return &gemm_kernels[2][d];
  if (fp__cpu_level() == FP_ISA_AVX2 && (f & FP_CPU_FMA)) return &gemm_kernels[1][d];
#endif
  return &gemm_kernels[0][d];
}

/* ---- the driver, per dtype ---- */

/* In-register transposes for the packing of operands whose k axis is
 * unit-stride: 8 x 8 floats, 4 x 4 doubles (unpack, shuffle, lane swap). */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#  define FP_SHUF8(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#  define FP_SHUF4(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
typedef int32_t fp__v8si __attribute__((vector_size(32)));
typedef int64_t fp__v4di __attribute__((vector_size(32)));
#  define FP_SHUF8(a, b, ...) __builtin_shuffle(a, b, (fp__v8si){__VA_ARGS__})
#  define FP_SHUF4(a, b, ...) __builtin_shuffle(a, b, (fp__v4di){__VA_ARGS__})
#endif
typedef float fp__t8sf __attribute__((vector_size(32)));
typedef double fp__t4df __attribute__((vector_size(32)));

static inline void fp__transpose8f(fp__t8sf *v) {
  fp__t8sf t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = FP_SHUF8(v[i], v[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[i + 1] = FP_SHUF8(v[i], v[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = FP_SHUF8(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
    u[i + 1] = FP_SHUF8(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    u[i + 2] = FP_SHUF8(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
    u[i + 3] = FP_SHUF8(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
  }
  for (int i = 0; i < 4; i++) {
    v[i] = FP_SHUF8(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    v[i + 4] = FP_SHUF8(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
}

static inline void fp__transpose4d(fp__t4df *v) {
  const fp__t4df t0 = FP_SHUF4(v[0], v[1], 0, 4, 2, 6), t1 = FP_SHUF4(v[0], v[1], 1, 5, 3, 7);
  const fp__t4df t2 = FP_SHUF4(v[2], v[3], 0, 4, 2, 6), t3 = FP_SHUF4(v[2], v[3], 1, 5, 3, 7);
  v[0] = FP_SHUF4(t0, t2, 0, 1, 4, 5);
  v[1] = FP_SHUF4(t1, t3, 0, 1, 4, 5);
  v[2] = FP_SHUF4(t0, t2, 2, 3, 6, 7);
  v[3] = FP_SHUF4(t1, t3, 2, 3, 6, 7);
}

#define FP_T float
#define FP_SFX f32
#define FP_TB 8
#define FP_TVT fp__t8sf
#define FP_TRANSPOSE fp__transpose8f
#include "gemm_impl.h"
#undef FP_T
#undef FP_SFX
#undef FP_TB
#undef FP_TVT
#undef FP_TRANSPOSE
#define FP_T double
#define FP_SFX f64
#define FP_TB 4
#define FP_TVT fp__t4df
#define FP_TRANSPOSE fp__transpose4d
#include "gemm_impl.h"
#undef FP_T
#undef FP_SFX
#undef FP_TB
#undef FP_TVT
#undef FP_TRANSPOSE

size_t fp__gemm_pack_bytes(fp_dtype dt) {
  const size_t el = dt == FP_FLOAT64 ? sizeof(double) : sizeof(float);
  const size_t b = (size_t)(FP_GEMM_MC_MAX + FP_GEMM_NC_MAX) * FP_GEMM_KC_MAX * el;
  return (b + 63u) & ~(size_t)63u;
}

void fp__transpose(fp_dtype dt, const void *src, int64_t srs, void *dst, int64_t drs,
                   int64_t rows, int64_t cols) {
  if (dt == FP_FLOAT64)
    fp__f64_gemm__transpose((const double *)src, srs, (double *)dst, drs, rows, cols);
  else
    fp__f32_gemm__transpose((const float *)src, srs, (float *)dst, drs, rows, cols);
}

void fp__gemm_run(fp_dtype dt, const fp__gemm *gin, void *pack, int nt) {
  const fp__gemm_kernel *uk = gemm_kernel(dt);
  fp__gemm t = *gin;
  const fp__gemm *g = gin;
  if (nt < 1) nt = 1;
  /* Stores are fast along a unit-stride output row: when only C's columns
   * are unit-stride, compute C^T = B^T A^T instead.  Every element is the
   * same chain of products in the same order, so the result is identical. */
  const int c_cols_unit = gin->c.c.n == 1 && gin->c.c.str[0] == 1;
  const int c_rows_unit = gin->c.r.n == 1 && gin->c.r.str[0] == 1;
  if (!c_cols_unit && c_rows_unit && gin->symmetric != FP__GEMM_SYM_UPPER) {
    t.m = gin->n;
    t.n = gin->m;
    t.a = fp__mat_t(gin->b);
    t.b = fp__mat_t(gin->a);
    t.c = fp__mat_t(gin->c);
    g = &t;
  }
  if (dt == FP_FLOAT64)
    fp__f64_gemm__run(g, pack, fp__gemm_pack_bytes(dt), nt, uk);
  else
    fp__f32_gemm__run(g, pack, fp__gemm_pack_bytes(dt), nt, uk);
}
