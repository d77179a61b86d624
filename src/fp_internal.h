/* Internal declarations shared by the operator files.  Nothing here is
 * exported: every symbol is static or fp__-prefixed with hidden visibility. */
#ifndef FP_INTERNAL_H
#define FP_INTERNAL_H

#include "fastpool.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#  define FP_INTERNAL __attribute__((visibility("hidden")))
/* Kernel building blocks must inline into their per-ISA clone (and see its
 * constant window sizes), or they run as baseline code. */
#  define FP_ALWAYS_INLINE static inline __attribute__((always_inline))
#  define FP_LIKELY(x) __builtin_expect(!!(x), 1)
#  define FP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#  define FP_INTERNAL
#  define FP_ALWAYS_INLINE static inline
#  define FP_LIKELY(x) (x)
#  define FP_UNLIKELY(x) (x)
#endif

/* Run-time ISA dispatch on x86-64 with GCC and glibc (ifunc): the one set
 * of guards.  FP_NO_TARGET_CLONES (sanitized builds) turns it off. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) && \
    !defined(FP_NO_TARGET_CLONES)
#  define FP_X86_DISPATCH 1
#endif

/* Per-ISA clones of a hot function, chosen once at load time (glibc ifunc),
 * so one wheel runs on any x86-64 and uses AVX2 / AVX-512 where present.
 * The resolvers test "avx512f", then "avx2": fp__cpu_level()'s order. */
#ifdef FP_X86_DISPATCH
#  define FP_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#  define FP_SIMD_CLONES
#endif

/* ---- ISA detection (cpu.c): the one place the CPU is asked ---- */
#define FP_CPU_AVX2 2u
#define FP_CPU_FMA 4u
#define FP_CPU_F16C 8u
#define FP_CPU_AVX512F 16u
#define FP_ISA_BASELINE 0
#define FP_ISA_AVX2 1
#define FP_ISA_AVX512 2
/* FP_CPU_* bits of this CPU (0 without run-time dispatch). */
FP_INTERNAL unsigned fp__cpu_features(void);
/* FP_ISA_*: the level the SIMD clones run at on this CPU. */
FP_INTERNAL int fp__cpu_level(void);

/* ---- the parallel driver (parallel.c) ----
 * Every operator's parallel work goes through fp__parallel(): it hands over
 * `items` independent work items and a chunk function that runs items
 * [begin, end) on one thread.  `slot` (0 <= slot < nt) names the thread
 * slot running the chunk: two chunks that run at the same time never share
 * a slot, so per-slot workspaces sized for nt are safe.  A chunk's result
 * must depend on its items only, never on its slot or on the chunking: the
 * result is then bit-identical for any thread count. */
typedef void (*fp__chunk_fn)(void *ctx, int64_t begin, int64_t end, int slot);

/* Chunks per thread a range is cut into (many more chunks than threads, so
 * a descheduled thread's share is taken over), and the most chunks a call
 * is ever cut into. */
#define FP_CHUNKS_PER_THREAD 16
#define FP_MAX_CHUNKS 65535

/* The ctx of the max-type kernels whose chunks need only these (input,
 * output, optional indices, the NaN rule); the chunk casts the pointers to
 * its dtype. */
typedef struct fp__pool_args {
  const struct fp__geom *g;
  const void *x;
  const struct fp__strides *xs;
  void *y;
  const struct fp__strides *ys;
  void *ix;
  const struct fp__strides *is;
  int omit;
} fp__pool_args;

/* Runs fn over [0, items) on up to nt threads (nt from fp__threads). */
FP_INTERNAL void fp__parallel(int nt, int64_t items, fp__chunk_fn fn, void *ctx);

/* Threads for a call with `work` elementary operations over `tasks`
 * independent tasks: 1 below the driver's work threshold, never more than
 * tasks, `requested` (0: the default) capped as fp__threads_requested. */
FP_INTERNAL int fp__threads(int32_t requested, int64_t work, int64_t tasks);

/* The thread count a request means: requested > 0 as given, 0 the default
 * (fp__threads_default), capped at FP_THREADS_PER_PROC per processor; 1
 * without OpenMP.  The one place "0 means default" is decided. */
FP_INTERNAL int fp__threads_requested(int32_t requested);

/* 1 if num_threads is outside [0, FP_MAX_THREADS]: the one validity rule. */
static inline int fp__bad_threads(int32_t num_threads) {
  return num_threads < 0 || num_threads > FP_MAX_THREADS;
}

/* The default thread count: OpenMP's (OMP_NUM_THREADS, omp_set_num_threads,
 * threadpoolctl), 1 without OpenMP. */
FP_INTERNAL int fp__threads_default(void);

/* Row coordinates (n, c, od, oh) of the (N, C, OD, OH) row space, stepped
 * in row-major order. */
typedef struct fp__rowpos {
  int64_t n, c, od, oh;
} fp__rowpos;

static inline void fp__rowpos_set(fp__rowpos *p, int64_t r, int64_t C, int64_t OD, int64_t OH) {
  p->oh = r % OH;
  r /= OH;
  p->od = r % OD;
  r /= OD;
  p->c = r % C;
  p->n = r / C;
}

static inline void fp__rowpos_next(fp__rowpos *p, int64_t C, int64_t OD, int64_t OH) {
  if (++p->oh < OH) return;
  p->oh = 0;
  if (++p->od < OD) return;
  p->od = 0;
  if (++p->c < C) return;
  p->c = 0;
  p->n++;
}

/* _Float16 is IEEE binary16, NumPy's float16. */
#if defined(__FLT16_MAX__) && !defined(FP_NO_FLOAT16)
#  define FP_HAVE_FLOAT16 1
#endif

/* Integer bounds by dtype suffix (fp_each_dtype.h), for saturating stores. */
#define i8_MAX INT8_MAX
#define u8_MAX UINT8_MAX
#define i16_MAX INT16_MAX
#define u16_MAX UINT16_MAX
#define i32_MAX INT32_MAX
#define i64_MAX INT64_MAX

/* float16 kernels built a second time for AVX2 + F16C (fp_each_dtype.h),
 * with GCC on x86-64 (Clang has no GCC target pragmas). */
#if defined(FP_HAVE_FLOAT16) && defined(FP_X86_DISPATCH)
#  define FP_HAVE_F16C_SLOT 1
#endif
#define FP_SLOT_F16C 9

/* Whether this CPU runs the F16C slot. */
static inline int fp__use_f16c(void) {
#ifdef FP_HAVE_F16C_SLOT
  const unsigned need = FP_CPU_AVX2 | FP_CPU_F16C | FP_CPU_FMA;
  return (fp__cpu_features() & need) == need;
#else
  return 0;
#endif
}

/* Value dtypes in table order (fp_each_dtype.h). */
#define FP_NSLOTS 10
static inline int fp__dtype_slot(fp_dtype dt) {
  switch (dt) {
    case FP_FLOAT32: return 0;
    case FP_FLOAT64: return 1;
#ifdef FP_HAVE_FLOAT16
    case FP_FLOAT16: return fp__use_f16c() ? FP_SLOT_F16C : 2;
#endif
    case FP_INT8: return 3;
    case FP_UINT8: return 4;
    case FP_INT16: return 5;
    case FP_UINT16: return 6;
    case FP_INT32: return 7;
    case FP_INT64: return 8;
    default: return -1;
  }
}

#define FP__CAT2(a, b) a##b
#define FP__CAT(a, b) FP__CAT2(a, b)

/* Geometry of one pooling call, always in 3 spatial axes: a rank-r call
 * puts its axes last and the leading 3-r axes are dummies of size 1
 * (kernel 1, stride 1, no padding, dilation 1). */
typedef struct fp__geom {
  int rank;
  int64_t n, c;
  int64_t in[3], out[3];
  int64_t k[3], s[3], pb[3], pe[3], d[3];
  int64_t in_plane;  /* in[0]*in[1]*in[2] */
  int64_t out_plane; /* out[0]*out[1]*out[2] */
} fp__geom;

/* A tensor's strides expanded to (N, C, D, H, W) order; dummy axes get 0. */
typedef struct fp__strides {
  int64_t n, c, a[3];
} fp__strides;

/* Validates params (struct size, rank, kernel/stride/dilation >= 1, pads
 * >= 0, flags) and computes the geometry for in_shape (rank+2 extents).
 * Every sum and product is overflow-checked. */
FP_INTERNAL fp_status fp__geom_init(const fp_pool_params *params, const int64_t *in_shape,
                                    fp__geom *g);

/* The logical output shape (rank+2 extents) of a geometry fp__geom_init
 * made: what fp_pool_output_shape returns, without computing it again. */
FP_INTERNAL void fp__geom_out_shape(const fp__geom *g, int64_t *out_shape);

/* The taps of one window, k[0]*k[1]*k[2], saturated at cap: what the work
 * estimates count (at most cap per output); windows of 2^40 taps per axis
 * are legal, and their product must not overflow. */
static inline int64_t fp__window_taps(const fp__geom *g, int64_t cap) {
  int64_t t = 1;
  for (int a = 0; a < 3; a++) {
    t *= g->k[a] < cap ? g->k[a] : cap; /* both factors <= cap: no overflow */
    if (t > cap) t = cap;
  }
  return t;
}

/* Number of the taps t in [0, k) with 0 <= start + t*d < limit, as the
 * half-open range [*t0, *t1) (empty when *t0 >= *t1). */
static inline void fp__tap_range(int64_t start, int64_t k, int64_t d, int64_t limit, int64_t *t0,
                                 int64_t *t1) {
  int64_t lo = 0, hi = k;
  if (start < 0) lo = (-start + d - 1) / d;
  if (start + (k - 1) * d >= limit) {
    /* last tap index t with start + t*d <= limit-1 */
    int64_t room = limit - 1 - start;
    hi = room < 0 ? 0 : room / d + 1;
  }
  if (hi > k) hi = k;
  *t0 = lo;
  *t1 = hi;
}

/* The valid cells of the window of output o[3]: per axis the cells
 * b0[a] + j*g->d[a] for j in [0, cnt[a]), in row-major order.  Returns 0
 * (and leaves b0/cnt unspecified) when the window holds no input cell.
 * st[a] receives the window's start o*s - pb (padding included). */
static inline int fp__window_box(const fp__geom *g, const int64_t o[3], int64_t st[3],
                                 int64_t b0[3], int64_t cnt[3]) {
  for (int a = 0; a < 3; a++) {
    int64_t t0, t1;
    st[a] = o[a] * g->s[a] - g->pb[a];
    fp__tap_range(st[a], g->k[a], g->d[a], g->in[a], &t0, &t1);
    if (t0 >= t1) return 0;
    b0[a] = st[a] + t0 * g->d[a];
    cnt[a] = t1 - t0;
  }
  return 1;
}

/* The divisor of average pooling (fastpool.h's rule) for a window starting
 * at st[] per axis with `valid` input cells: divisor_override if non-zero,
 * else the taps below I + pad_end per axis, multiplied (count_include_pad),
 * or the valid cells.  Every operator that averages calls this one.  The
 * product is taken in double: exact below 2^53, and a window of 2^40 taps
 * per axis (2^80 in all, past int64) still gives the tiny finite mean. */
static inline double fp__avg_divisor(const fp__geom *g, const int64_t st[3], int64_t valid,
                                     int64_t divisor_override, int count_include_pad) {
  if (divisor_override) return (double)divisor_override;
  if (!count_include_pad) return (double)valid;
  double pool = 1;
  for (int a = 0; a < 3; a++) {
    const int64_t room = g->in[a] + g->pe[a] - 1 - st[a];
    int64_t n = room < 0 ? 0 : room / g->d[a] + 1;
    if (n > g->k[a]) n = g->k[a];
    pool *= (double)n;
  }
  return pool;
}

/* Adaptive window of output o along an axis of input size in and output
 * size out: [floor(o*in/out), ceil((o+1)*in/out)), in exact arithmetic. */
static inline void fp__adaptive_bounds(int64_t in, int64_t out, int64_t o, int64_t *start,
                                       int64_t *end) {
  const __int128 a = (__int128)o * in, b = (__int128)(o + 1) * in;
  *start = (int64_t)(a / out);
  *end = (int64_t)((b + out - 1) / out);
}

/* The checks the special window poolings (stochastic, median, mixed) share,
 * in this order: params (flags FP_FLAG_CEIL_MODE and FP_FLAG_COUNT_INCLUDE_PAD,
 * which fp_pool_params_init sets and they ignore, only), bad_option (1: an
 * invalid option of the operator's own, FP_ERR_INVALID_ARGUMENT), x's rank
 * and descriptor, the geometry (into g) and the output shape (into
 * out_shape, rank + 2 extents); xs gets x's strides.  The dtype is the
 * operator's to check. */
FP_INTERNAL fp_status fp__special_window_prepare(const fp_pool_params *params, int bad_option,
                                                 const fp_tensor *x, fp__geom *g,
                                                 fp__strides *xs, int64_t *out_shape);

/* Geometry of a call whose output shape is given (adaptive, unpool,
 * fractional): in from in_shape, out from out_shape (rank + 2 extents each),
 * window fields set to 1 / 0. */
FP_INTERNAL fp_status fp__geom_from_shapes(int rank, const int64_t *in_shape,
                                           const int64_t *out_shape, fp__geom *g);

/* 1 if a plane of extents ext[3] (D, H, W) with strides a[3] is laid out
 * linearly, so flat index i sits at element offset i * a[2].  Axes of
 * extent 1 (the dummies of rank < 3 among them) do not matter. */
static inline int fp__plane_linear(const int64_t ext[3], const int64_t a[3]) {
  const int64_t h = ext[2] * a[2], d = ext[1] * h;
  return (ext[1] == 1 || a[1] == h) && (ext[0] == 1 || a[0] == d);
}

/* The output columns [*lo, *hi) whose every W tap lies inside the input:
 * the "interior" the row kernels handle without clipping. */
static inline void fp__interior_cols(const fp__geom *g, int64_t *lo, int64_t *hi) {
  const int64_t kw = g->k[2], sw = g->s[2], dw = g->d[2], pw = g->pb[2], OW = g->out[2];
  const int64_t room = g->in[2] - 1 - (kw - 1) * dw + pw; /* ow*sw <= room */
  int64_t a = (pw + sw - 1) / sw, b = room < 0 ? 0 : room / sw + 1;
  if (b > OW) b = OW;
  if (a > b) a = b;
  *lo = a;
  *hi = b;
}

/* Zero one (n, c) plane of extents g->in with element strides a[3]. */
static inline void fp__zero_plane(const fp__geom *g, void *plane, const int64_t a[3],
                                  size_t elsize) {
  char *p = (char *)plane;
  for (int64_t d = 0; d < g->in[0]; d++)
    for (int64_t h = 0; h < g->in[1]; h++) {
      char *r = p + (d * a[0] + h * a[1]) * (int64_t)elsize;
      if (a[2] == 1) {
        memset(r, 0, (size_t)g->in[2] * elsize);
      } else {
        for (int64_t w = 0; w < g->in[2]; w++) memset(r + w * a[2] * (int64_t)elsize, 0, elsize);
      }
    }
}

/* Checks that t is a valid descriptor of dtype/ndim with exactly the given
 * shape (ndim extents), that its addressed span fits in int64, and fills
 * the 5-axis strides.  When writable, also checks that no two elements
 * share memory (no zero or interleaved strides). */
FP_INTERNAL fp_status fp__check_tensor(const fp_tensor *t, int ndim, const int64_t *shape,
                                       int writable, fp__strides *st);

/* 1 if the memory spans of a and b (as addresses of their first and last
 * bytes) intersect.  Conservative: interleaved views count as overlapping. */
FP_INTERNAL int fp__tensors_overlap(const fp_tensor *a, const fp_tensor *b);

/* Zeroes every element of a checked tensor (any strides); NULL: nothing. */
FP_INTERNAL void fp__zero_tensor(const fp_tensor *t);


#endif /* FP_INTERNAL_H */
