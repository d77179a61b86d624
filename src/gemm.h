/* Internal matrix products for the special poolings (bilinear, NetVLAD).
 *
 * A cache-blocked GEMM in plain C: operands are packed into per-thread-slot
 * buffers (caller-owned workspace, so compute calls never allocate) and a
 * register-blocked microkernel runs on the packed panels, compiled for
 * AVX-512, AVX2+FMA and a baseline, chosen at run time.  Accumulation is in
 * the operand dtype (float32 in float32), in blocks of FP_GEMM_KC terms:
 * each output element is the sum, in order, of its KC-term block sums, and
 * every block sum is a sequential fused multiply-add chain.  Threads take
 * whole output tiles, so every element is computed by one thread in that
 * fixed order: results are bit-identical for any thread count and tiling.
 *
 * A matrix axis is "composite": up to 3 nested sub-axes with their own
 * strides, which is how a tensor's spatial positions (D, H, W) become one
 * axis of length D*H*W without copying, whatever the strides.  Nothing here
 * is exported. */
#ifndef FP_GEMM_H
#define FP_GEMM_H

#include "fp_internal.h"

#include <stddef.h>

/* Element i of the axis lies at offset sum_j digit_j(i) * str[j], where the
 * digits are i written in the mixed radix ext[0..n-1] (ext[n-1] varies
 * fastest).  n is 1..3; product of ext is the axis length. */
typedef struct fp__axis {
  int n;
  int64_t ext[3];
  int64_t str[3];
} fp__axis;

/* A simple axis of length len and stride str. */
static inline fp__axis fp__axis_simple(int64_t len, int64_t str) {
  fp__axis a;
  a.n = 1;
  a.ext[0] = len;
  a.str[0] = str;
  a.ext[1] = a.ext[2] = 1;
  a.str[1] = a.str[2] = 0;
  return a;
}

/* The composite axis of n sub-axes (outer to inner), with sub-axes of
 * extent 1 dropped and neighbours that step linearly merged, so a
 * contiguous block of positions becomes one simple axis. */
FP_INTERNAL fp__axis fp__axis_make(int n, const int64_t *ext, const int64_t *str);

/* Offsets of the count elements start, start+1, ... of an axis. */
FP_INTERNAL void fp__axis_offsets(const fp__axis *a, int64_t start, int64_t count, int64_t *out);

/* Matrix b of a batch: element (i, j) at data + b*bs + r(i) + c(j) (in elements). */
typedef struct fp__mat {
  void *data;
  fp__axis r, c;
  int64_t bs;
} fp__mat;

/* The transpose view of a matrix (no data movement). */
static inline fp__mat fp__mat_t(fp__mat m) {
  fp__axis t = m.r;
  m.r = m.c;
  m.c = t;
  return m;
}

/* C_b (m x n) = alpha * A_b (m x k) B_b (k x n) for b < batch, or with
 * reduce = 1: C = alpha * sum_b A_b B_b (in b order).  accumulate = 1 adds to
 * C instead of overwriting it (C is never read otherwise, so it may hold
 * garbage).  symmetric declares B_b = A_b^T (m = n): only tiles on and
 * above the diagonal are computed; with FP__GEMM_SYM_UPPER the tiles below
 * it are left unwritten (every element (i, j), i <= j, is written, and
 * (j, i) too within diagonal tiles), with FP__GEMM_SYM_MIRROR each block is
 * also written to (j, i).  Either way every written element is the same as
 * the full product's, bit for bit, and (i, j) equals (j, i). */
#define FP__GEMM_SYM_UPPER 1
#define FP__GEMM_SYM_MIRROR 2
typedef struct fp__gemm {
  int64_t m, n, k, batch;
  fp__mat a, b, c;
  double alpha;
  int accumulate, reduce, symmetric;
} fp__gemm;

/* Bytes of packing buffer one thread needs (a multiple of 64). */
FP_INTERNAL size_t fp__gemm_pack_bytes(fp_dtype dt);

/* Runs g on nt threads (nt >= 1) with dtype dt (FP_FLOAT32 or FP_FLOAT64);
 * pack holds nt * fp__gemm_pack_bytes(dt) bytes, one buffer per thread
 * slot.  Runs its tiles through fp__parallel (inline within a chunk). */
FP_INTERNAL void fp__gemm_run(fp_dtype dt, const fp__gemm *g, void *pack, int nt);

/* dst[c*drs + r] = src[r*srs + c] for r < rows, c < cols (element strides;
 * unit along c in src and along r in dst), dtype FP_FLOAT32 or FP_FLOAT64. */
FP_INTERNAL void fp__transpose(fp_dtype dt, const void *src, int64_t srs, void *dst, int64_t drs,
                               int64_t rows, int64_t cols);

/* Multiply-adds of g, for thread thresholds. */
static inline int64_t fp__gemm_work(const fp__gemm *g) {
  int64_t w = g->m * g->n;
  if (g->symmetric) w = w / 2 + g->m;
  return w * (g->k > 0 ? g->k : 1) * (g->batch > 0 ? g->batch : 1);
}

/* Sums vectorise only when their order is written out: FP__LANES partial
 * sums, lane l taking terms l, l + FP__LANES, ..., added in a fixed tree. */
#define FP__LANES 8
static inline double fp__lanes_sum(const double *a) {
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* The L2 steps' floor, torch.nn.functional.normalize's clamp_min(||v||, eps):
 * NaN passes through (so a NaN input gives NaN, not v / eps). */
static inline double fp__norm_floor(double r, double eps) { return (r > eps || r != r) ? r : eps; }
/* Whether the backward of that clamp passes the gradient through the norm
 * (||v|| >= eps, and not 0 so that eps = 0 does not divide by it; NaN too). */
static inline int fp__norm_through(double r, double eps) { return (r >= eps && r > 0) || r != r; }

#endif /* FP_GEMM_H */
