/* Blocked GEMM for the special poolings: axes, microkernel dispatch, the
 * driver per dtype (gemm_impl.h, through fp_each_dtype.h) and its kernels
 * per instruction set (gemm_kernel_impl.h). */
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
} fp__gemm_kernel;

/* One dtype's driver, transpose and microkernels [instruction set:
 * baseline, avx2, avx512] (gemm_impl.h). */
typedef struct fp__gemm_ops {
  void (*run)(const fp__gemm *, void *, size_t, int, const fp__gemm_kernel *);
  void (*transpose)(const void *, int64_t, void *, int64_t, int64_t, int64_t);
  fp__gemm_kernel uk[3];
} fp__gemm_ops;

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

/* ---- the driver and microkernels, per dtype (gemm_impl.h) ---- */

/* Microkernels for AVX2 and AVX-512 besides the baseline one. */
#ifdef FP_X86_DISPATCH
#  define FP_GEMM_X86 1
#endif
#define FP_GEMM_NV 2 /* vectors per microkernel row */

/* In-register transposes for the packing of operands whose k axis is
 * unit-stride, by dtype suffix: 8 x 8 floats, 4 x 4 doubles (unpack,
 * shuffle, lane swap). */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#  define FP_SHUF8(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#  define FP_SHUF4(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
typedef int32_t fp__v8si __attribute__((vector_size(32)));
typedef int64_t fp__v4di __attribute__((vector_size(32)));
#  define FP_SHUF8(a, b, ...) __builtin_shuffle(a, b, (fp__v8si){__VA_ARGS__})
#  define FP_SHUF4(a, b, ...) __builtin_shuffle(a, b, (fp__v4di){__VA_ARGS__})
#endif
typedef float fp__tvec_f32 __attribute__((vector_size(32)));
typedef double fp__tvec_f64 __attribute__((vector_size(32)));

static inline void fp__transpose_block_f32(fp__tvec_f32 *v) {
  fp__tvec_f32 t[8], u[8];
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

static inline void fp__transpose_block_f64(fp__tvec_f64 *v) {
  const fp__tvec_f64 t0 = FP_SHUF4(v[0], v[1], 0, 4, 2, 6), t1 = FP_SHUF4(v[0], v[1], 1, 5, 3, 7);
  const fp__tvec_f64 t2 = FP_SHUF4(v[2], v[3], 0, 4, 2, 6), t3 = FP_SHUF4(v[2], v[3], 1, 5, 3, 7);
  v[0] = FP_SHUF4(t0, t2, 0, 1, 4, 5);
  v[1] = FP_SHUF4(t1, t3, 0, 1, 4, 5);
  v[2] = FP_SHUF4(t0, t2, 2, 3, 6, 7);
  v[3] = FP_SHUF4(t1, t3, 2, 3, 6, 7);
}

#define FP_IMPL "gemm_impl.h"
#define FP_EACH_FLOAT 1
#define FP_EACH_NO_F16 1 /* float32, float64 (fp_each_dtype.h) */
#include "fp_each_dtype.h"
#undef FP_IMPL

/* By dtype slot; float32 and float64 only. */
static const fp__gemm_ops gemm_ops[FP_NSLOTS] = {
#define FP_IMPL "gemm_impl.h"
#define FP_TABLE 1 /* the rows of this table (gemm_impl.h) */
#define FP_EACH_FLOAT 1
#define FP_EACH_NO_F16 1
#include "fp_each_dtype.h"
#undef FP_IMPL
};

static const fp__gemm_kernel *gemm_kernel(const fp__gemm_ops *ops) {
#ifdef FP_GEMM_X86
  const unsigned f = fp__cpu_features();
  if (fp__cpu_level() == FP_ISA_AVX512) return &ops->uk[2];
  if (fp__cpu_level() == FP_ISA_AVX2 && (f & FP_CPU_FMA)) return &ops->uk[1];
#endif
  return &ops->uk[0];
}

size_t fp__gemm_pack_bytes(fp_dtype dt) {
  const size_t el = fp_dtype_size(dt);
  const size_t b = (size_t)(FP_GEMM_MC_MAX + FP_GEMM_NC_MAX) * FP_GEMM_KC_MAX * el;
  return (b + 63u) & ~(size_t)63u;
}

void fp__transpose(fp_dtype dt, const void *src, int64_t srs, void *dst, int64_t drs,
                   int64_t rows, int64_t cols) {
  gemm_ops[fp__dtype_slot(dt)].transpose(src, srs, dst, drs, rows, cols);
}

void fp__gemm_run(fp_dtype dt, const fp__gemm *gin, void *pack, int nt) {
  const fp__gemm_ops *ops = &gemm_ops[fp__dtype_slot(dt)];
  const fp__gemm_kernel *uk = gemm_kernel(ops);
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
  ops->run(g, pack, fp__gemm_pack_bytes(dt), nt, uk);
}
