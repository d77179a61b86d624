/*
 * fastpool.h -- the one public header of the fastpool C library.
 *
 * fastpool computes CNN pooling (max, average, ...) forward and backward on the
 * CPU.  Conventions shared by every entry point:
 *
 *  - Tensors are described by fp_tensor: dtype, ndim, the LOGICAL shape in
 *    PyTorch order (N, C, *spatial) and strides counted in ELEMENTS (not
 *    bytes).  Any strides are accepted, negative included; contiguous NCHW
 *    (strides ..., W, 1) and contiguous NHWC / channels-last memory
 *    (C stride 1) each get a fast path chosen from the strides.  An unbatched
 *    tensor is passed with N = 1.
 *  - Parameters travel in fp_pool_params, a size-tagged struct passed by
 *    pointer: initialise it with fp_pool_params_init() and then set fields,
 *    so that fields added in later versions get their defaults.
 *  - Every function returns an fp_status.  Nothing is printed, the caller
 *    owns every buffer, and nothing is read or written outside the buffers
 *    described.  On any error status, no output has been written.
 *  - num_threads = 0 uses OpenMP's current default (honours OMP_NUM_THREADS
 *    and threadpoolctl); a positive value runs that many threads for this
 *    call only, but never more than 4 per processor available to the process
 *    (omp_get_num_procs()): more only oversubscribes the cores.  A value
 *    below 0 or above FP_MAX_THREADS is FP_ERR_INVALID_ARGUMENT.  Small calls
 *    run on one thread.  Results are bit-identical for every thread count.
 *  - Threads: the work runs on a thread pool of the library's own (its one
 *    piece of global state), not in OpenMP regions.  The first call that
 *    runs on n threads creates the n-1 helper threads it lacks; they stay,
 *    spin 20 us after their last chunk, then sleep.  The work is cut into
 *    16 chunks per thread, handed out one at a time, so a thread whose core
 *    is taken by another process holds back one chunk, not a share, and the
 *    calling thread never waits for a helper to start.  Calls from several
 *    threads at once are safe: one uses the pool, the others run on their
 *    own thread.  A thread the system refuses only means fewer threads.  The
 *    pool is fork-safe: a child made by fork() creates its own helpers.
 *    The helpers live until the process ends: a program that dlopen()s
 *    libfastpool.so must not dlclose() it after a multi-threaded call.
 *    fastpool's Python extensions link the package's libfastpool.so (and are
 *    never unloaded): in a Python process they and C code that loads that
 *    file share one library, so one pool.
 *    (With OpenMP off the library runs everything on the calling thread.)
 *
 * Geometry (per spatial axis, PyTorch's rule):
 *    ek = dilation*(kernel-1) + 1
 *    O  = floor((I + pad_begin + pad_end - ek + (ceil_mode ? stride-1 : 0)) / stride) + 1
 *    in ceil mode, if (O-1)*stride >= I + pad_begin then O -= 1
 *       (no window may start in the end padding);  O < 1 is an error.
 *    FP_PAD_SAME_UPPER / FP_PAD_SAME_LOWER: O = ceil(I/stride), total pad
 *    max(0, (O-1)*stride + ek - I), begin = total/2 (upper) or total - total/2
 *    (lower); the general rule above is then applied to the resolved pads.
 *    PyTorch's "pad <= kernel/2" limit is not imposed: a window lying wholly
 *    in padding gives -inf with index -1 (max) or 0 (average).
 *
 * Max pooling: padding is -inf; each window is scanned in row-major tap
 * order starting from (-inf, index of the window's first valid cell) and a
 * value v replaces the running maximum when v > max or v is NaN.  Ties give
 * the FIRST maximum, any NaN gives NaN with the index of the LAST NaN
 * (PyTorch).  With FP_FLAG_NAN_OMIT, NaN is skipped (a window whose valid
 * cells are all NaN gives NaN and the index of its first valid cell).
 * Indices are flat within the (n, c) plane: w, h*W + w, (d*H + h)*W + w.
 *
 * Average pooling, per axis: h0 = o*stride - pad_begin,
 * h1 = min(h0 + ek, I + pad_end); "pool" counts the taps h0 + t*dilation
 * below h1 and "valid" the taps inside [0, I) (products over axes).  The
 * divisor is divisor_override if non-zero, else pool (FP_FLAG_COUNT_INCLUDE_PAD)
 * or valid; a window without valid cells gives 0.  Sums are accumulated in
 * double (float for FP_FLOAT16 input).
 *
 * Dtypes.  Max-type operators (max, adaptive max, unpooling): FP_FLOAT16,
 * FP_FLOAT32, FP_FLOAT64, FP_INT8, FP_UINT8, FP_INT16, FP_UINT16, FP_INT32,
 * FP_INT64, with y of x's dtype (integer padding is the type's minimum).
 * Average pooling (and adaptive average): the same inputs; y is of x's dtype
 * for floating x, and FP_FLOAT64 or x's own integer dtype for integer x (the
 * mean rounded half to even and saturated).  Lp and fractional pooling:
 * FP_FLOAT32, FP_FLOAT64.  Gradients: FP_FLOAT16, FP_FLOAT32, FP_FLOAT64.
 * Any other dtype gives FP_ERR_UNSUPPORTED_DTYPE.
 */
#ifndef FASTPOOL_H
#define FASTPOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version is written here once; CMake and pyproject.toml read it. */
#define FP_VERSION_MAJOR 0
#define FP_VERSION_MINOR 1
#define FP_VERSION_PATCH 0
#define FP_VERSION_NUMBER (FP_VERSION_MAJOR * 10000 + FP_VERSION_MINOR * 100 + FP_VERSION_PATCH)
#define FP__STR2(x) #x
#define FP__STR(x) FP__STR2(x)
#define FP_VERSION_STRING \
  FP__STR(FP_VERSION_MAJOR) "." FP__STR(FP_VERSION_MINOR) "." FP__STR(FP_VERSION_PATCH)

#if defined(FP_STATIC_DEFINE)
#  define FP_API
#elif defined(_WIN32)
#  ifdef FP_BUILDING_LIBRARY
#    define FP_API __declspec(dllexport)
#  else
#    define FP_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define FP_API __attribute__((visibility("default")))
#else
#  define FP_API
#endif

/* Largest tensor rank: (N, C, D, H, W). */
#define FP_MAX_DIMS 5
/* Largest spatial rank. */
#define FP_MAX_SPATIAL 3
/* Largest num_threads a call accepts (what runs is capped lower: 4 threads
 * per processor available to the process). */
#define FP_MAX_THREADS 4096

typedef enum fp_status {
  FP_OK = 0,
  FP_ERR_NULL_POINTER = 1,     /* a required pointer was NULL */
  FP_ERR_STRUCT_SIZE = 2,      /* params->struct_size is not one this library knows */
  FP_ERR_INVALID_ARGUMENT = 3, /* kernel/stride/dilation < 1, negative padding, bad flag or mode */
  FP_ERR_BAD_NDIM = 4,         /* tensor rank does not match the operator */
  FP_ERR_SHAPE_MISMATCH = 5,   /* an output or companion tensor has the wrong shape */
  FP_ERR_OUTPUT_SIZE = 6,      /* the pooling output would have an axis of size < 1 */
  FP_ERR_UNSUPPORTED_DTYPE = 7,/* dtype not supported by this operator */
  FP_ERR_DTYPE_MISMATCH = 8,   /* tensors that must share a dtype do not */
  FP_ERR_OVERFLOW = 9,         /* a size or offset computation would overflow int64 */
  FP_ERR_INDEX_OUT_OF_RANGE = 10, /* an index lies outside [-1, plane size) */
  FP_ERR_ALIASING = 11,        /* an output overlaps an input or itself */
  FP_ERR_BAD_SHAPE = 12        /* a negative extent */
} fp_status;

/* A static, never-NULL English description of a status code. */
FP_API const char *fp_status_string(fp_status status);

/* FP_VERSION_NUMBER of the library actually linked. */
FP_API int fp_version_number(void);
/* FP_VERSION_STRING of the library actually linked. */
FP_API const char *fp_version_string(void);

typedef enum fp_dtype {
  FP_FLOAT32 = 1,
  FP_FLOAT64 = 2,
  FP_INT32 = 3,
  FP_INT64 = 4,
  FP_FLOAT16 = 5, /* IEEE binary16 */
  FP_INT8 = 6,
  FP_UINT8 = 7,
  FP_INT16 = 8,
  FP_UINT16 = 9
} fp_dtype;

/* Size of one element of dtype in bytes, 0 for an unknown dtype. */
FP_API size_t fp_dtype_size(fp_dtype dtype);

/* A strided view of caller-owned memory.  shape is logical (N, C, *spatial);
 * strides are in elements and may be negative or zero (zero only for inputs). */
typedef struct fp_tensor {
  fp_dtype dtype;
  int32_t ndim;
  int64_t shape[FP_MAX_DIMS];
  int64_t strides[FP_MAX_DIMS];
  void *data;
} fp_tensor;

typedef enum fp_pad_mode {
  FP_PAD_EXPLICIT = 0,   /* use pad_begin / pad_end */
  FP_PAD_SAME_UPPER = 1, /* ONNX SAME_UPPER, TensorFlow SAME: the extra pad at the end */
  FP_PAD_SAME_LOWER = 2  /* ONNX SAME_LOWER: the extra pad at the beginning */
} fp_pad_mode;

/* fp_pool_params.flags */
#define FP_FLAG_CEIL_MODE 0x1u
#define FP_FLAG_COUNT_INCLUDE_PAD 0x2u
#define FP_FLAG_NAN_OMIT 0x4u

typedef struct fp_pool_params {
  size_t struct_size;      /* sizeof(fp_pool_params); set by fp_pool_params_init */
  int32_t rank;            /* spatial rank 1..3 */
  int32_t pad_mode;        /* fp_pad_mode */
  int64_t kernel[FP_MAX_SPATIAL];
  int64_t stride[FP_MAX_SPATIAL];
  int64_t pad_begin[FP_MAX_SPATIAL];
  int64_t pad_end[FP_MAX_SPATIAL];
  int64_t dilation[FP_MAX_SPATIAL];
  uint32_t flags;          /* FP_FLAG_* */
  int32_t num_threads;     /* 0: OpenMP default; at most FP_MAX_THREADS */
  int64_t divisor_override;/* average only; 0: none */
} fp_pool_params;

/* Defaults: the given rank, kernel 1, stride 1, no padding, dilation 1,
 * count_include_pad on (PyTorch), no flags otherwise, default threads. */
FP_API fp_status fp_pool_params_init(fp_pool_params *params, int32_t rank);

/* Output shape of max/average pooling for an input of logical shape
 * in_shape[0 .. rank+1] = (N, C, *spatial).  Writes rank+2 extents to
 * out_shape and, when pad_begin/pad_end are not NULL, the resolved pads
 * (rank values each; useful with the SAME modes). */
FP_API fp_status fp_pool_output_shape(const fp_pool_params *params, const int64_t *in_shape,
                                      int64_t *out_shape, int64_t *pad_begin, int64_t *pad_end);

/* The windows of max/average pooling (and of everything sharing its
 * geometry) along spatial axis `axis` (0 .. rank-1) of an input of logical
 * shape in_shape: output o reads the input positions
 *    [start, end) = [o*stride - pad_begin, o*stride - pad_begin + (kernel-1)*dilation + 1),
 * with the pads resolved as fp_pool_output_shape resolves them; the range
 * may reach into the padding (start < 0, end > I).  fp_pool_window gives the
 * range of output o (0 <= o < O, else FP_ERR_INVALID_ARGUMENT);
 * fp_pool_first_window the first output whose window starts at or after
 * input position pos (any int64; O when no window does): the outputs before
 * it are exactly those whose windows start before pos (fastpool.dask cuts
 * its output blocks there). */
FP_API fp_status fp_pool_window(const fp_pool_params *params, const int64_t *in_shape,
                                int32_t axis, int64_t o, int64_t *start, int64_t *end);
FP_API fp_status fp_pool_first_window(const fp_pool_params *params, const int64_t *in_shape,
                                      int32_t axis, int64_t pos, int64_t *o);

/* y = max_pool(x).  indices may be NULL; otherwise an FP_INT64 or FP_INT32
 * tensor of y's shape.  x, y: one max-type dtype (see Dtypes above). */
FP_API fp_status fp_max_pool_forward(const fp_pool_params *params, const fp_tensor *x,
                                     fp_tensor *y, fp_tensor *indices);

/* dx = 0; dx[n, c].flat[indices] += dy for each output, -1 skipped.
 * Only params->num_threads is read.  Every index is checked before dx is
 * touched (FP_ERR_INDEX_OUT_OF_RANGE).  Deterministic for any thread count. */
FP_API fp_status fp_max_pool_backward(const fp_pool_params *params, const fp_tensor *dy,
                                      const fp_tensor *indices, fp_tensor *dx);

/* y = avg_pool(x). */
FP_API fp_status fp_avg_pool_forward(const fp_pool_params *params, const fp_tensor *x,
                                     fp_tensor *y);

/* dx = gradient of avg_pool for output gradient dy (dx's shape is the input's). */
FP_API fp_status fp_avg_pool_backward(const fp_pool_params *params, const fp_tensor *dy,
                                      fp_tensor *dx);

/* y = Lp pooling of x with norm p > 0 (p may be INFINITY): per window
 * (sum over its valid cells of |x|^p)^(1/p), padding contributing 0 (ONNX
 * LpPool; PyTorch lp_pool where that is defined); p = inf gives max |x|.
 * Geometry as for average pooling (count_include_pad and the divisor unused). */
FP_API fp_status fp_lp_pool_forward(const fp_pool_params *params, double p, const fp_tensor *x,
                                    fp_tensor *y);

/* dx for Lp pooling, from dy, the forward input x and output y:
 * dx_i += dy * sign(x_i) * (|x_i| / y)^(p-1) over each window's valid cells;
 * the gradient is 0 at x_i = 0 and, unless p = 1, in windows where y = 0;
 * it is NaN at x_i = NaN.
 * p = inf routes dy * sign(x) to the first cell whose |x| equals y. */
FP_API fp_status fp_lp_pool_backward(const fp_pool_params *params, double p,
                                     const fp_tensor *dy, const fp_tensor *x,
                                     const fp_tensor *y, fp_tensor *dx);

/* Adaptive window of output o along an axis: [*start, *end) with
 * start = floor(o*in/out), end = ceil((o+1)*in/out), exact for any sizes. */
FP_API fp_status fp_adaptive_window(int64_t in_size, int64_t out_size, int64_t o,
                                    int64_t *start, int64_t *end);

/* Adaptive max / average pooling: the output size is y's shape (every
 * extent >= 1; the input's spatial extents must be >= 1).  Only
 * params->num_threads and FP_FLAG_NAN_OMIT (max) are read.  Max uses the
 * max-pooling scan rule; indices as for fp_max_pool_forward, whose backward
 * also serves adaptive max. */
FP_API fp_status fp_adaptive_max_pool_forward(const fp_pool_params *params, const fp_tensor *x,
                                              fp_tensor *y, fp_tensor *indices);
FP_API fp_status fp_adaptive_avg_pool_forward(const fp_pool_params *params, const fp_tensor *x,
                                              fp_tensor *y);
FP_API fp_status fp_adaptive_avg_pool_backward(const fp_pool_params *params,
                                               const fp_tensor *dy, fp_tensor *dx);

/* Max unpooling: y = 0, then y[n, c].flat[indices] = x (indices has x's
 * shape, values in [-1, plane size of y); -1 is skipped).  Every index is
 * checked before y is touched.  Duplicates: the last in C order wins.
 * Only params->num_threads is read. */
FP_API fp_status fp_max_unpool_forward(const fp_pool_params *params, const fp_tensor *x,
                                       const fp_tensor *indices, fp_tensor *y);
/* Its gradient, a gather: dx = dy[n, c].flat[indices] (0 where -1). */
FP_API fp_status fp_max_unpool_backward(const fp_pool_params *params, const fp_tensor *dy,
                                        const fp_tensor *indices, fp_tensor *dx);

/* Output shape of max unpooling (PyTorch max_unpool) for an input of logical
 * shape in_shape[0 .. rank+1]: (N, C, *O) with, per axis, the default
 *    O = (I - 1) * stride - pad_begin - pad_end + kernel
 * from params->kernel, stride, pad_begin and pad_end (explicit pads; dilation
 * is not read), or output_size[0 .. rank-1] when that is not NULL, which must
 * then lie strictly between default - stride and default + stride per axis
 * (the sizes a max pooling with these arguments maps to the input's).
 * FP_ERR_OVERFLOW when a default + stride does not fit in int64;
 * FP_ERR_OUTPUT_SIZE when a requested size is out of that range or an output
 * extent would be < 1.  out_shape holds the checked sizes with
 * FP_ERR_OUTPUT_SIZE too, for the caller's message. */
FP_API fp_status fp_max_unpool_output_shape(const fp_pool_params *params, const int64_t *in_shape,
                                            const int64_t *output_size, int64_t *out_shape);

/* Fractional max pooling (PyTorch): params->kernel per axis, the output size
 * from y's shape (O + k - 1 <= I), samples an (N, C, rank) tensor of x's
 * dtype in [0, 1) giving each plane's u per axis in logical (D, H, W) order.
 * Window starts: alpha = (I-k)/(O-1) computed in x's dtype,
 * start[i] = (int)((i+u)*alpha) - (int)(u*alpha), start[O-1] = I-k.
 * Windows hold no padding; the max-pooling scan rule applies. */
FP_API fp_status fp_fractional_max_pool_forward(const fp_pool_params *params,
                                                const fp_tensor *samples, const fp_tensor *x,
                                                fp_tensor *y, fp_tensor *indices);

/* Output shape of fractional max pooling for an input of logical shape
 * in_shape[0 .. rank+1]: (N, C, *O).  Exactly one of output_size (rank sizes)
 * and output_ratio (rank ratios, each in (0, 1)) is not NULL; a ratio r gives
 * O = floor(I * r), the product taken in double (PyTorch's rule).  Then every
 * axis needs O >= 1 and O + kernel - 1 <= I (params->kernel; nothing else of
 * params is read but rank): FP_ERR_OUTPUT_SIZE otherwise;
 * FP_ERR_INVALID_ARGUMENT for both or neither pointer, or a ratio outside
 * (0, 1).  out_shape holds the sizes with FP_ERR_OUTPUT_SIZE too. */
FP_API fp_status fp_fractional_output_shape(const fp_pool_params *params, const int64_t *in_shape,
                                            const int64_t *output_size, const double *output_ratio,
                                            int64_t *out_shape);

/* ---- special poolings: stochastic, median, mixed ---- */
/*
 * Shared by the functions of this block: the pooling geometry comes from
 * fp_pool_params exactly as for max/average pooling (kernel, stride, pads or
 * FP_PAD_SAME_*, dilation, FP_FLAG_CEIL_MODE; fp_pool_output_shape gives the
 * output shape) and a window's "valid cells" are its taps inside the input,
 * visited in row-major tap order; padding cells never take part.  Indices
 * (where an operator returns them) are flat within the (n, c) plane as for
 * max pooling, FP_INT64 or FP_INT32, -1 for a window wholly in padding, and
 * fp_max_pool_backward is their gradient.  Operator-specific inputs (seed,
 * even-count rule, alpha) are explicit arguments.  Every output (forward) and
 * every plane or channel (backward) is computed by one thread in a fixed
 * order, so results are bit-identical for any thread count.
 */

/* Stochastic pooling (Zeiler & Fergus 2013), training mode.  x: FP_FLOAT16,
 * FP_FLOAT32 or FP_FLOAT64 whose every element is finite and >= 0 (checked
 * before anything is written: FP_ERR_INVALID_ARGUMENT otherwise).  Per window
 * with valid cells a_0 .. a_{m-1}:
 *    P_i = a_0 + ... + a_i (running sums in double, tap order), S = P_{m-1};
 *    the chosen cell is the first i with P_i >= u * S (in double),
 * so cell i is chosen with probability a_i / S, and a cell holding 0 never is
 * unless every cell does: an all-zero window chooses its first valid cell.
 * y = x at the chosen cell (exact); indices (may be NULL) its flat index.  A
 * window wholly in padding gives y = 0, index -1.
 * u in (0, 1) is drawn by a counter-based generator, SplitMix64's finalizer
 *    F(z): z += 0x9E3779B97F4A7C15; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
 *          z = (z ^ (z >> 27)) * 0x94D049BB133111EB; return z ^ (z >> 31)
 * (all mod 2^64), keyed by the seed, the sample n, the channel c and the flat
 * output index o = (od*OH + oh)*OW + ow within the (n, c) plane:
 *    h = F(F(F(F(seed) ^ n) ^ c) ^ o),   u = ((h >> 12) + 0.5) / 2^52.
 * Results depend on (seed, n, c, o) only, never on threads or strides.
 * params->flags: FP_FLAG_CEIL_MODE (FP_FLAG_COUNT_INCLUDE_PAD, which
 * fp_pool_params_init sets, is ignored; divisor_override is unused). */
FP_API fp_status fp_stochastic_pool_forward(const fp_pool_params *params, uint64_t seed,
                                            const fp_tensor *x, fp_tensor *y,
                                            fp_tensor *indices);

/* Stochastic pooling at inference ("probabilistic weighting"):
 * y = S2 / S1 with S1 = sum a_i, S2 = sum a_i^2 over the valid cells (in
 * double), 0 where S1 = 0 (all-zero windows, windows wholly in padding).
 * Same dtypes, x check and flags as fp_stochastic_pool_forward. */
FP_API fp_status fp_stochastic_pool_weighted_forward(const fp_pool_params *params,
                                                     const fp_tensor *x, fp_tensor *y);

/* Its exact gradient: dx_j = sum over the windows holding cell j of
 * dy * (2 a_j S1 - S2) / S1^2 (in double); windows with S1 = 0 contribute 0.
 * dy, x and dx share the dtype; x is checked as above. */
FP_API fp_status fp_stochastic_pool_weighted_backward(const fp_pool_params *params,
                                                      const fp_tensor *dy, const fp_tensor *x,
                                                      fp_tensor *dx);

/* fp_median_pool_*: which middle of an even number of valid cells. */
typedef enum fp_median_even {
  FP_MEDIAN_LOWER = 0, /* the lower middle (PyTorch median) */
  FP_MEDIAN_UPPER = 1, /* the upper middle (SciPy rank filter) */
  FP_MEDIAN_MEAN = 2   /* the mean of the two (NumPy median) */
} fp_median_even;

/* Median pooling over the valid cells of each window.  With m valid cells,
 * lo and hi are the ((m-1)/2)-th and (m/2)-th smallest (0-based; the same
 * cell for odd m); even selects lo, hi or (lo + hi)/2.
 *  - Ties: the index is that of the FIRST valid cell in row-major tap order
 *    that holds the selected value (-0.0 and +0.0 count as equal), and y is
 *    that cell's value, so the sign of a zero median is deterministic.
 *  - NaN: any NaN among the valid cells gives NaN with the index of the first
 *    NaN (PyTorch median).
 *  - A window wholly in padding gives NaN (integer dtypes: the type's
 *    minimum, as max pooling) with index -1.
 *  - FP_MEDIAN_MEAN: y = (lo + hi) / 2 formed in double from the values of
 *    the first cells holding lo and hi (lo/2 + hi/2 when that sum overflows),
 *    written in x's dtype for floating x (rounded once) and as FP_FLOAT64
 *    for integer x; indices must be NULL (the gradient recomputes them:
 *    fp_median_pool_backward).
 * x: any of the nine value dtypes; y: x's dtype (or FP_FLOAT64 as above).
 * Windows of up to 32 cells wholly inside the input take a sorting network
 * across neighbouring outputs, other windows of up to 4096 valid cells a
 * quickselect on a stack copy, larger ones a buffer-free radix selection (one
 * pass over the window per byte of the dtype).  params->flags as for
 * fp_stochastic_pool_forward. */
FP_API fp_status fp_median_pool_forward(const fp_pool_params *params, int32_t even,
                                        const fp_tensor *x, fp_tensor *y, fp_tensor *indices);

/* Gradient of median pooling, recomputing the selection from x: dy goes to
 * the cell whose index fp_median_pool_forward gives (FP_MEDIAN_LOWER/UPPER,
 * whose forward indices with fp_max_pool_backward give the same result);
 * FP_MEDIAN_MEAN gives dy/2 to the first cell holding lo and dy/2 to the
 * first cell holding hi (all of dy when that is one cell).  dy, x and dx
 * share a floating dtype. */
FP_API fp_status fp_median_pool_backward(const fp_pool_params *params, int32_t even,
                                         const fp_tensor *dy, const fp_tensor *x, fp_tensor *dx);

/* Mixed max-average pooling (Lee et al. 2016): the max and the average of
 * each window from one pass over x.  The max follows max pooling's scan rule
 * (first maximum, any NaN gives NaN), the average the average-pooling
 * divisor rule (FP_FLAG_COUNT_INCLUDE_PAD, params->divisor_override) with
 * sums in the accumulator of fp_avg_pool_forward, so ymax and yavg equal
 * fp_max_pool_forward's and fp_avg_pool_forward's outputs bit for bit.
 * A window wholly in padding gives -inf and 0.  x, ymax, yavg: FP_FLOAT16,
 * FP_FLOAT32 or FP_FLOAT64, one dtype; ymax and yavg may be the two channel
 * halves of one buffer (concat mixed pooling).  params->flags:
 * FP_FLAG_CEIL_MODE, FP_FLAG_COUNT_INCLUDE_PAD. */
FP_API fp_status fp_mixed_pool_pair_forward(const fp_pool_params *params, const fp_tensor *x,
                                            fp_tensor *ymax, fp_tensor *yavg);

/* Blend mixed pooling: y = alpha*max + (1 - alpha)*avg formed in double
 * (max and avg as above), alpha an FP_FLOAT64 tensor of shape (1) (one alpha)
 * or (C) (one per channel); any value, NaN propagates. */
FP_API fp_status fp_mixed_pool_forward(const fp_pool_params *params, const fp_tensor *alpha,
                                       const fp_tensor *x, fp_tensor *y);

/* Gradient of the pair: dx = dymax routed to each window's max cell (the
 * index max pooling would return: first maximum, last NaN) plus dyavg /
 * divisor spread over the window's valid cells. */
FP_API fp_status fp_mixed_pool_pair_backward(const fp_pool_params *params,
                                             const fp_tensor *dymax, const fp_tensor *dyavg,
                                             const fp_tensor *x, fp_tensor *dx);

/* Gradient of the blend: dx = alpha*dy routed to the max cell plus
 * (1 - alpha)*dy / divisor spread over the valid cells, and, when dalpha is
 * not NULL, dalpha[c] = sum over n and outputs of dy * (max - avg) (double,
 * fixed order; an FP_FLOAT64 tensor of shape (C) whatever alpha's shape:
 * callers with one alpha sum it).  Windows wholly in padding contribute 0. */
FP_API fp_status fp_mixed_pool_backward(const fp_pool_params *params, const fp_tensor *alpha,
                                        const fp_tensor *dy, const fp_tensor *x, fp_tensor *dx,
                                        fp_tensor *dalpha);

/* ---- special poolings: spatial pyramid, YOLO-SPP ---- */

/* Spatial pyramid pooling (He et al. 2014) of a 2-D input x (N, C, H, W),
 * H, W >= 1: for each level l of levels[0 .. num_levels-1], in that order,
 * an l x l pooling of every (n, c) plane, all written straight into one
 * (N, F) output with F = C * sum(l^2).  Level L occupies the features
 * [off_L, off_L + C*l*l), off_L = C * sum of the squares of the levels
 * before it, flattened (C, l, l) row-major (FP_SPP_FEATURES_CHW) or
 * (l, l, C) (FP_SPP_FEATURES_HWC: Keras' Flatten of a channels-last level).
 *
 * Bin o (0 <= o < l) of an axis with a cells covers the cells [start, end):
 *  - FP_SPP_ADAPTIVE: start = floor(o*a/l), end = ceil((o+1)*a/l) (adaptive
 *    pooling, fp_adaptive_window); any a >= 1, also a < l (bins repeat cells).
 *  - FP_SPP_SPPNET: the paper's sliding window, size k = ceil(a/l) and
 *    stride s = floor(a/l), start = o*s, end = o*s + k, no padding.  Those
 *    windows always fit ((l-1)*s + k <= a), and they are the first l of the
 *    floor((a-k)/s) + 1 windows a plain pooling with that kernel and stride
 *    makes.  That count is exactly l when a % l <= a / l (every a >= l*(l-1),
 *    e.g. all levels (1, 2, 3, 4, 6) of a 13 x 13 map), and larger otherwise
 *    (a = 7, l = 4: window 2, stride 1, 6 windows): fastpool keeps the first
 *    l, so the last (a % l) - 1 cells of such an axis are not pooled at that
 *    level.  Needs a >= l (FP_ERR_OUTPUT_SIZE otherwise: stride 0).
 *  - FP_SPP_CAFFE: Caffe's SPPLayer::GetPoolingParam: k = ceil(a/l),
 *    stride k, pad p = (k*l - a + 1) / 2 at both ends, and Caffe's pooling
 *    output size ceil((a + 2p - k)/k) + 1, less one when the last window
 *    would start at or past a + p (fastpool's ceil mode, §4.1):
 *    start = o*k - p, end = o*k - p + k, clipped to [0, a).  This gives l
 *    bins exactly when p < k, which is what Caffe's PoolingLayer CHECKs
 *    (CHECK_LT(pad, kernel)); otherwise (a < l, or e.g. a = 13, l = 6:
 *    k = 3, p = 3) the call fails with FP_ERR_OUTPUT_SIZE.
 * Max mode uses fastpool's max rule (fastpool.h, "Max pooling": first
 * maximum, NaN propagates; Caffe itself skips NaN).  Average mode divides
 * by the bin's cell count, except FP_SPP_CAFFE, which divides by the window
 * clipped to the padded image [-p, a + p) (Caffe's AVE pool_size, fastpool's
 * count_include_pad).  Integer inputs average into FP_FLOAT64 outputs.
 * Only params->num_threads is read (params->rank must be 2, flags 0). */
typedef enum fp_spp_mode { FP_SPP_MAX = 0, FP_SPP_AVG = 1 } fp_spp_mode;
typedef enum fp_spp_variant {
  FP_SPP_ADAPTIVE = 0,
  FP_SPP_SPPNET = 1,
  FP_SPP_CAFFE = 2
} fp_spp_variant;
typedef enum fp_spp_features { FP_SPP_FEATURES_CHW = 0, FP_SPP_FEATURES_HWC = 1 } fp_spp_features;

/* Bin o of a level along an axis of in_size cells: the cells [*start, *end)
 * and *pool, the factor this axis contributes to the average's divisor.
 * FP_ERR_OUTPUT_SIZE when the variant cannot make `level` bins of in_size
 * cells, FP_ERR_INVALID_ARGUMENT for a bad variant, level < 1 or o outside
 * [0, level). */
FP_API fp_status fp_spp_window(int32_t variant, int64_t in_size, int64_t level, int64_t o,
                               int64_t *start, int64_t *end, int64_t *pool);

/* (N, F) for an input of logical shape in_shape (N, C, H, W): checks the
 * levels (>= 1), mode and variant and that every level fits both axes. */
FP_API fp_status fp_spatial_pyramid_pool_output_shape(const int64_t *levels, int32_t num_levels,
                                                      int32_t mode, int32_t variant,
                                                      const int64_t *in_shape,
                                                      int64_t *out_shape);

/* y = spatial pyramid pooling of x (see above); y is an (N, F) tensor with
 * any strides, of x's dtype (FP_FLOAT64 allowed for integer x with
 * FP_SPP_AVG).  Each level runs the max / average / adaptive kernels
 * directly on a strided view of y: no temporaries. */
FP_API fp_status fp_spatial_pyramid_pool_forward(const fp_pool_params *params,
                                                 const int64_t *levels, int32_t num_levels,
                                                 int32_t mode, int32_t variant,
                                                 int32_t features, const fp_tensor *x,
                                                 fp_tensor *y);

/* dx (x's shape, floating dtype) from dy (N, F) of the same dtype: every
 * level's gradient, summed over the levels into dx in a fixed order.  Max
 * mode re-finds each bin's maximum in x with the forward's rule (x must be
 * the forward input); average mode spreads dy / divisor over each bin's
 * cells and does not read x (it may then be NULL).  No workspace; one
 * (n, c) plane per task, deterministic for any thread count. */
FP_API fp_status fp_spatial_pyramid_pool_backward(const fp_pool_params *params,
                                                  const int64_t *levels, int32_t num_levels,
                                                  int32_t mode, int32_t variant,
                                                  int32_t features, const fp_tensor *dy,
                                                  const fp_tensor *x, fp_tensor *dx);

/* YOLO SPP: stride-1 max pools of x (N, C, H, W) with odd kernels k and
 * padding k/2 (so H x W out), concatenated with x along the channels in
 * one (N, C*(1 + num_kernels), H, W) output y of x's dtype:
 *  - FP_YOLO_SPP_ULTRALYTICS: [x, p(k[0]), p(k[1]), ...]  (ultralytics SPP)
 *  - FP_YOLO_SPP_DARKNET:     [p(k[n-1]), ..., p(k[0]), x] (darknet's
 *    yolov3-spp.cfg route -1,-3,-5,-6)
 * Each pooled block equals fp_max_pool_forward with that kernel, stride 1,
 * padding k/2, bit for bit (NaN payloads and signed zeros included: first
 * maximum, last NaN).  num_kernels is 1 .. FP_YOLO_SPP_MAX_KERNELS; the
 * kernels are odd and >= 1, in any order, repeats allowed.
 * The work is shared between the kernel sizes: each row is max-filtered
 * along W by a cascade over the sorted sizes (a window of k2 is a window of
 * k2 - k1 + 1 over the k1 results, exact for the first-max / last-NaN rule),
 * then each size is filtered along H; any set of odd sizes cascades (SPPF's
 * 5, 9, 13 and also 3, 7 or 5, 11).  The 2-D cascade max5(max5(x)) is NOT
 * used: it selects a different one of equal values (-0.0 vs +0.0, two NaNs)
 * than the row-major scan.  Only params->num_threads is read (params->rank
 * must be 2, flags 0).  Scratch lives on the stack (128 KiB per thread) in
 * tiles of rows x columns x channels; when the tiles of all kernels at once
 * do not fit, the kernels run one at a time, and a kernel whose own tiles
 * do not fit (half widths in the thousands on large inputs) runs as
 * fp_max_pool_forward into its block. */
#define FP_YOLO_SPP_MAX_KERNELS 16
typedef enum fp_yolo_spp_order {
  FP_YOLO_SPP_ULTRALYTICS = 0,
  FP_YOLO_SPP_DARKNET = 1
} fp_yolo_spp_order;

/* (N, C*(1 + num_kernels), H, W) for in_shape (N, C, H, W); checks the kernels. */
FP_API fp_status fp_yolo_spp_output_shape(const int64_t *kernel_sizes, int32_t num_kernels,
                                          const int64_t *in_shape, int64_t *out_shape);

FP_API fp_status fp_yolo_spp_forward(const fp_pool_params *params, const int64_t *kernel_sizes,
                                     int32_t num_kernels, int32_t order, const fp_tensor *x,
                                     fp_tensor *y);

/* dx = dy's x block + sum over the kernels of max-pool backward (each
 * output's gradient to its window's first maximum, or last NaN, in x),
 * without materialising indices: the maxima are re-found in x with the
 * forward's cascade carrying positions (geometries beyond the tiles scan
 * each window).  Gradients of neighbouring outputs with one target are
 * summed in double (float for float16) before they are added to dx.  x, dy,
 * dx floating, one dtype.  One (n, channel block) per task, in a fixed
 * order: deterministic for any thread count. */
FP_API fp_status fp_yolo_spp_backward(const fp_pool_params *params, const int64_t *kernel_sizes,
                                      int32_t num_kernels, int32_t order, const fp_tensor *dy,
                                      const fp_tensor *x, fp_tensor *dx);

/* ---- special poolings: bilinear, NetVLAD ---- */
/*
 * Both are matrix products over the spatial positions of an (N, C, *spatial)
 * tensor (1 to 3 spatial axes, any strides; the P = prod(spatial) positions
 * form one axis without a copy).  They run on a cache-blocked, register-
 * blocked GEMM of the library's own (AVX-512 / AVX2+FMA / baseline, chosen at
 * run time) that accumulates in the tensor's dtype (float32 in float32) in
 * blocks of at most 256 terms; norms, softmax and the other element-wise
 * steps are computed in double.  Every output element is computed by one
 * thread in a fixed order: results are bit-identical for any thread count.
 * dtypes: FP_FLOAT32, FP_FLOAT64 (all tensors of a call share one).
 *
 * Scratch: these operators need a caller-owned workspace.  Ask
 * fp_*_workspace_size() for its size with the same params (num_threads
 * included: the workspace holds packing buffers for that many threads) and
 * pass the buffer and its size; it must not overlap any tensor
 * (FP_ERR_ALIASING).  A workspace that fits fewer threads than requested
 * runs fewer threads (same results); one too small for a single thread gives
 * FP_ERR_SHAPE_MISMATCH, a NULL one FP_ERR_NULL_POINTER, unless the query
 * returned 0 (nothing to compute).
 *
 * L2 normalisation follows torch.nn.functional.normalize: v / max(||v||, eps)
 * and, in backward, (g - z <z, g>) / ||v|| where ||v|| >= eps (z the
 * normalised vector), g / eps where ||v|| < eps.  eps must be finite and
 * >= 0; eps = 0 gives NaN for an all-zero vector, as F.normalize does.
 */

/* fp_bilinear_params.flags */
#define FP_BILINEAR_AVERAGE 0x1u      /* divide the sum over positions by P (0 when P = 0) */
#define FP_BILINEAR_SIGNED_SQRT 0x2u  /* sign(B) * sqrt(|B|) */
#define FP_BILINEAR_L2_NORMALIZE 0x4u /* B / max(||B||, eps) over the Cx*Cy vector */

typedef struct fp_bilinear_params {
  size_t struct_size; /* sizeof(fp_bilinear_params); set by fp_bilinear_params_init */
  uint32_t flags;     /* FP_BILINEAR_* */
  int32_t num_threads;/* 0: OpenMP default */
  double eps;         /* L2 floor and signed-sqrt gradient offset, default 1e-12 */
} fp_bilinear_params;

/* Defaults: all three flags (average, signed sqrt, L2), eps 1e-12, default threads. */
FP_API fp_status fp_bilinear_params_init(fp_bilinear_params *params);

/* Bytes of workspace fp_bilinear_pool_forward (backward = 0) or
 * fp_bilinear_pool_backward (backward = 1) needs for these inputs and
 * params->num_threads.  y may be NULL (y = x). */
FP_API fp_status fp_bilinear_pool_workspace_size(const fp_bilinear_params *params,
                                                 const fp_tensor *x, const fp_tensor *y,
                                                 int backward, size_t *bytes);

/* Bilinear pooling (Lin, RoyChowdhury & Maji, B-CNN).  x is (N, Cx, *S),
 * y (N, Cy, *S) with the same N and spatial extents, or NULL for y = x (the
 * symmetric product, computed once per pair of channels).  Per sample:
 *    B[i][j] = scale * sum_p x[i, p] * y[j, p],  scale = 1/P with
 *              FP_BILINEAR_AVERAGE, else 1
 *    B = sign(B) * sqrt(|B|)            with FP_BILINEAR_SIGNED_SQRT
 *    B = B / max(||B||_2, eps)           with FP_BILINEAR_L2_NORMALIZE
 * out is (N, Cx*Cy), element (n, i*Cy + j) = B[i][j] (row-major, x's
 * channel major). */
FP_API fp_status fp_bilinear_pool_forward(const fp_bilinear_params *params, const fp_tensor *x,
                                          const fp_tensor *y, fp_tensor *out, void *workspace,
                                          size_t workspace_size);

/* Gradients of fp_bilinear_pool_forward for output gradient grad_out
 * (N, Cx*Cy): dx (x's shape) and, when y is given and dy is not NULL, dy
 * (y's shape); dy must be NULL when y is.  With y = x (y NULL) dx holds both
 * paths: (dB + dB^T) x.  The signed square root's derivative, infinite at
 * B = 0, is taken as 1 / (2 sqrt(|B| + eps)) (the B-CNN rule, which Lin et
 * al. used with 1e-8): finite everywhere, 1/(2 sqrt(eps)) at 0, within a
 * relative eps/(2|B|) of the exact derivative elsewhere.  The forward is
 * recomputed, in the same order, so its values are the forward's. */
FP_API fp_status fp_bilinear_pool_backward(const fp_bilinear_params *params,
                                           const fp_tensor *grad_out, const fp_tensor *x,
                                           const fp_tensor *y, fp_tensor *dx, fp_tensor *dy,
                                           void *workspace, size_t workspace_size);

/* fp_netvlad_params.flags */
#define FP_NETVLAD_NORMALIZE_INPUT 0x1u /* x_p / max(||x_p||, eps) over channels first */

typedef struct fp_netvlad_params {
  size_t struct_size; /* sizeof(fp_netvlad_params); set by fp_netvlad_params_init */
  uint32_t flags;     /* FP_NETVLAD_* */
  int32_t num_threads;/* 0: OpenMP default */
  double eps;         /* the floor of all three L2 normalisations, default 1e-12 */
} fp_netvlad_params;

/* Defaults: FP_NETVLAD_NORMALIZE_INPUT, eps 1e-12, default threads. */
FP_API fp_status fp_netvlad_params_init(fp_netvlad_params *params);

/* Bytes of workspace fp_netvlad_forward (backward = 0) or
 * fp_netvlad_backward (backward = 1) needs for input x, num_clusters
 * clusters and params->num_threads.  It grows with K*P and K*D (one sample's
 * soft assignment and VLAD matrix per thread), never with K*D*P. */
FP_API fp_status fp_netvlad_workspace_size(const fp_netvlad_params *params, const fp_tensor *x,
                                           int64_t num_clusters, int backward, size_t *bytes);

/* NetVLAD (Arandjelovic et al.) as the standard PyTorch module computes it:
 * x (N, D, *S), weight (K, D), bias (K), centroids (K, D); per sample, with
 * x_p the D-vector at position p:
 *    x_p = x_p / max(||x_p||, eps)                with FP_NETVLAD_NORMALIZE_INPUT
 *    a[k][p] = softmax over k of (weight[k] . x_p + bias[k])   (max subtracted)
 *    V[k][d] = sum_p a[k][p] x_p[d] - (sum_p a[k][p]) centroids[k][d]
 *    V[k] = V[k] / max(||V[k]||, eps)            (intra-normalisation)
 *    V = V / max(||V||, eps)                     (over all K*D)
 * out is (N, K*D), element (n, k*D + d) (cluster major).  The K x D x P
 * residual tensor is never formed: V = A X^T - (A 1) C.
 * Precision: that difference carries an absolute error of a few ulps of
 * (sum_p a[k][p]) * (|centroids[k]| + max_p |x_p|), where the residual form
 * sum_p a[k][p] (x_p - centroids[k]) errs relative to |x_p - centroids[k]|.
 * A cluster whose assignment-weighted mean of x equals its centroid to within
 * that error (V[k] ~ 0) is therefore normalised from rounding noise: its
 * block of out is then an arbitrary unit vector where the residual form
 * would give 0 or another unit vector.  Real features are far from that
 * case; inputs built to hit it exactly (x_p == centroids[k]) show it. */
FP_API fp_status fp_netvlad_forward(const fp_netvlad_params *params, const fp_tensor *x,
                                    const fp_tensor *weight, const fp_tensor *bias,
                                    const fp_tensor *centroids, fp_tensor *out, void *workspace,
                                    size_t workspace_size);

/* Gradients of fp_netvlad_forward for grad_out (N, K*D): dx (x's shape),
 * and dweight (K, D), dbias (K), dcentroids (K, D) summed over the batch in
 * sample order.  Any of the four outputs may be NULL (not computed). */
FP_API fp_status fp_netvlad_backward(const fp_netvlad_params *params, const fp_tensor *grad_out,
                                     const fp_tensor *x, const fp_tensor *weight,
                                     const fp_tensor *bias, const fp_tensor *centroids,
                                     fp_tensor *dx, fp_tensor *dweight, fp_tensor *dbias,
                                     fp_tensor *dcentroids, void *workspace,
                                     size_t workspace_size);

/* Build facts, for show_config(): 1 if built with OpenMP. */
FP_API int fp_has_openmp(void);
/* The instruction set the kernels dispatch to on this CPU: "avx512f",
 * "avx2" or "baseline" (static string). */
FP_API const char *fp_simd_level(void);

/* Threads a num_threads = 0 call would use now. */
FP_API int fp_default_num_threads(void);

#ifdef __cplusplus
}
#endif
#endif /* FASTPOOL_H */
