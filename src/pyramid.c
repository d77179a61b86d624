/* Special poolings built on the core: spatial pyramid pooling (each level a
 * max / average / adaptive pooling written into a strided view of the one
 * output) and YOLO SPP (stride-1 max pools sharing one horizontal cascade).
 * Argument checks, plans and threading here; kernels in pyramid_impl.h. */
#include "fp_internal.h"
#include "maxscan.h"

/* Stack scratch of one YOLO-SPP task (per thread). */
#define FP_YSPP_SCRATCH_BYTES (128 * 1024)

/* The plan of one YOLO-SPP call, shared by its kernels. */
typedef struct fp__yspp_plan {
  int64_t n, c, h, w;
  int u;                                  /* distinct kernel sizes ("levels") */
  int nslots;                             /* 1 + num_kernels output blocks */
  int64_t ph[FP_YOLO_SPP_MAX_KERNELS];    /* half widths along H, ascending, <= H-1 */
  int64_t pw[FP_YOLO_SPP_MAX_KERNELS];    /* ... along W, <= W-1 */
  int64_t ew[FP_YOLO_SPP_MAX_KERNELS];    /* column halo of level i's row buffers */
  int64_t ex;                             /* column halo of the input row (= pw[u-1]) */
  int slot_level[1 + FP_YOLO_SPP_MAX_KERNELS]; /* output block -> level; -1: x itself,
                                                 -2: a level of another pass */
  int first_pass;                         /* copy x's block (forward), set dx (backward) */
  int64_t cb, th, tw;                     /* channels per task, tile rows and columns */
} fp__yspp_plan;

/* The plan of one spatial-pyramid backward call. */
typedef struct fp__spp_plan {
  int64_t n, c, h, w;
  const int64_t *levels;
  int32_t num_levels, mode, variant, features;
} fp__spp_plan;

/* Strides of an (N, F) feature tensor. */
typedef struct fp__strides2 {
  int64_t n, f;
} fp__strides2;

/* The bins of one pyramid level along one axis: the variant's kernel,
 * stride and padding for a cells and l bins (SPPNet: window ceil(a/l),
 * stride floor(a/l); Caffe: kernel = stride = ceil(a/l), pad
 * (kernel*l - a + 1)/2).  Computed, not checked: see spp_check_axis. */
typedef struct fp__spp_axis {
  int32_t variant;
  int64_t a, l, k, s, pad;
} fp__spp_axis;

static inline void fp__spp_axis_set(fp__spp_axis *ax, int32_t variant, int64_t a, int64_t l) {
  ax->variant = variant;
  ax->a = a;
  ax->l = l;
  ax->k = a / l + (a % l != 0);
  ax->s = variant == FP_SPP_SPPNET ? a / l : ax->k;
  ax->pad = variant == FP_SPP_CAFFE ? (ax->k * l - a + 1) / 2 : 0;
}

/* Bin o: cells [*start, *end) and the divisor factor *pool (Caffe: the
 * window clipped to the padded axis [-pad, a + pad), as its AVE pooling and
 * fastpool's count_include_pad divide; otherwise the cell count). */
static inline void fp__spp_bin(const fp__spp_axis *ax, int64_t o, int64_t *start, int64_t *end,
                               int64_t *pool) {
  if (ax->variant == FP_SPP_ADAPTIVE) {
    fp__adaptive_bounds(ax->a, ax->l, o, start, end);
    *pool = *end - *start;
    return;
  }
  const int64_t h0 = o * ax->s - ax->pad;
  int64_t t0, t1;
  fp__tap_range(h0, ax->k, 1, ax->a, &t0, &t1);
  *start = h0 + t0;
  *end = h0 + t1;
  if (ax->variant == FP_SPP_CAFFE) {
    const int64_t h1 = h0 + ax->k < ax->a + ax->pad ? h0 + ax->k : ax->a + ax->pad;
    *pool = h1 - h0;
  } else {
    *pool = ax->k;
  }
}

#define FP_IMPL "pyramid_impl.h"
#include "fp_each_dtype.h"
#undef FP_IMPL

typedef void (*fp__yspp_fwd_fn)(const fp__yspp_plan *, const void *, const fp__strides *, void *,
                                const fp__strides *, int);
typedef void (*fp__yspp_bwd_fn)(const fp__yspp_plan *, const void *, const fp__strides *,
                                const void *, const fp__strides *, void *, const fp__strides *,
                                int);
typedef void (*fp__spp_bwd_fn)(const fp__spp_plan *, const void *, const fp__strides2 *,
                               const void *, const fp__strides *, void *, const fp__strides *,
                               int);

/* The kernel table by value dtype slot (backward: floating dtypes only). */
static const struct {
  fp__yspp_fwd_fn yspp_fwd, yspp_copy;
  fp__yspp_bwd_fn yspp_bwd, yspp_bwd_direct;
  fp__spp_bwd_fn spp_bwd;
} pyramid_kernels[FP_NSLOTS] = {
#define FP_IMPL "pyramid_table.h"
#define FP_TABLE 1 /* an initializer: no target pragmas (fp_each_dtype.h) */
#include "fp_each_dtype.h"
#undef FP_IMPL
};

/* params of a special pooling: 2-D, no flags; only num_threads is used. */
static fp_status check_params(const fp_pool_params *params) {
  if (!params) return FP_ERR_NULL_POINTER;
  if (params->struct_size != sizeof(fp_pool_params)) return FP_ERR_STRUCT_SIZE;
  if (params->rank != 2 || params->flags != 0 || fp__bad_threads(params->num_threads))
    return FP_ERR_INVALID_ARGUMENT;
  return FP_OK;
}

/* ------------------------------------------------------------------------
 * Spatial pyramid pooling */

/* Whether `variant` makes exactly l bins of a cells: the count is the
 * pooling output size of the variant's kernel, stride and padding (Caffe:
 * in ceil mode, geometry.c's rule, which is Caffe's own). */
static fp_status spp_check_axis(int32_t variant, int64_t a, int64_t l) {
  if (l < 1) return FP_ERR_INVALID_ARGUMENT;
  if (a < 1) return FP_ERR_BAD_SHAPE;
  if (variant == FP_SPP_ADAPTIVE) return FP_OK;
  if (a < l) return FP_ERR_OUTPUT_SIZE; /* stride floor(a/l) = 0; Caffe: pad >= kernel 1 */
  fp__spp_axis ax;
  fp__spp_axis_set(&ax, variant, a, l);
  if (variant == FP_SPP_CAFFE && ax.pad >= ax.k) return FP_ERR_OUTPUT_SIZE;
  fp_pool_params p;
  fp_pool_params_init(&p, 1);
  p.kernel[0] = ax.k;
  p.stride[0] = ax.s;
  p.pad_begin[0] = p.pad_end[0] = ax.pad;
  p.flags = variant == FP_SPP_CAFFE ? FP_FLAG_CEIL_MODE : 0;
  /* SPPNet: the first l windows, those inside (l-1)*s + k cells */
  const int64_t in[3] = {1, 1, variant == FP_SPP_SPPNET ? (l - 1) * ax.s + ax.k : a};
  int64_t out[3];
  fp_status st = fp_pool_output_shape(&p, in, out, NULL, NULL);
  if (st != FP_OK) return st;
  return out[2] == l ? FP_OK : FP_ERR_OUTPUT_SIZE;
}

fp_status fp_spp_window(int32_t variant, int64_t in_size, int64_t level, int64_t o,
                        int64_t *start, int64_t *end, int64_t *pool) {
  if (!start || !end || !pool) return FP_ERR_NULL_POINTER;
  if (variant < FP_SPP_ADAPTIVE || variant > FP_SPP_CAFFE || level < 1 || o < 0 || o >= level)
    return FP_ERR_INVALID_ARGUMENT;
  fp_status st = spp_check_axis(variant, in_size, level);
  if (st != FP_OK) return st;
  fp__spp_axis ax;
  fp__spp_axis_set(&ax, variant, in_size, level);
  fp__spp_bin(&ax, o, start, end, pool);
  return FP_OK;
}

/* Checks everything but the tensors; *features = C * sum(l^2). */
static fp_status spp_check(const int64_t *levels, int32_t num_levels, int32_t mode,
                           int32_t variant, const int64_t *in_shape, int64_t *features) {
  if (!levels || !in_shape || !features) return FP_ERR_NULL_POINTER;
  if (num_levels < 1 || (mode != FP_SPP_MAX && mode != FP_SPP_AVG) ||
      variant < FP_SPP_ADAPTIVE || variant > FP_SPP_CAFFE)
    return FP_ERR_INVALID_ARGUMENT;
  for (int i = 0; i < 4; i++)
    if (in_shape[i] < 0) return FP_ERR_BAD_SHAPE;
  int64_t sum = 0;
  fp_status worst = FP_OK;
  for (int32_t L = 0; L < num_levels; L++) {
    const int64_t l = levels[L];
    int64_t sq;
    if (l < 1) return FP_ERR_INVALID_ARGUMENT;
    if (__builtin_mul_overflow(l, l, &sq) || __builtin_add_overflow(sum, sq, &sum))
      return FP_ERR_OVERFLOW;
    for (int a = 2; a < 4 && worst == FP_OK; a++) worst = spp_check_axis(variant, in_shape[a], l);
  }
  if (worst != FP_OK) return worst;
  if (__builtin_mul_overflow(in_shape[1], sum, features)) return FP_ERR_OVERFLOW;
  int64_t total;
  if (__builtin_mul_overflow(in_shape[0], *features, &total)) return FP_ERR_OVERFLOW;
  return FP_OK;
}

fp_status fp_spatial_pyramid_pool_output_shape(const int64_t *levels, int32_t num_levels,
                                               int32_t mode, int32_t variant,
                                               const int64_t *in_shape, int64_t *out_shape) {
  int64_t f;
  if (!out_shape) return FP_ERR_NULL_POINTER;
  fp_status st = spp_check(levels, num_levels, mode, variant, in_shape, &f);
  if (st != FP_OK) return st;
  out_shape[0] = in_shape[0];
  out_shape[1] = f;
  return FP_OK;
}

/* The (N, C, l, l) view of level L's features in y (N, F). */
static fp_tensor level_view(const fp_tensor *y, int64_t c, int64_t off, int64_t l,
                            int32_t features) {
  fp_tensor v;
  memset(&v, 0, sizeof(v));
  v.dtype = y->dtype;
  v.ndim = 4;
  v.shape[0] = y->shape[0];
  v.shape[1] = c;
  v.shape[2] = v.shape[3] = l;
  const int64_t sf = y->strides[1];
  v.strides[0] = y->strides[0];
  if (features == FP_SPP_FEATURES_CHW) {
    v.strides[1] = l * l * sf;
    v.strides[2] = l * sf;
    v.strides[3] = sf;
  } else {
    v.strides[1] = sf;
    v.strides[2] = l * c * sf;
    v.strides[3] = c * sf;
  }
  v.data = (char *)y->data + off * sf * (int64_t)fp_dtype_size(y->dtype);
  return v;
}

fp_status fp_spatial_pyramid_pool_forward(const fp_pool_params *params, const int64_t *levels,
                                          int32_t num_levels, int32_t mode, int32_t variant,
                                          int32_t features, const fp_tensor *x, fp_tensor *y) {
  fp__strides xs;
  fp_status st;
  int64_t f;
  if (!x || !y) return FP_ERR_NULL_POINTER;
  if ((st = check_params(params)) != FP_OK) return st;
  if (features != FP_SPP_FEATURES_CHW && features != FP_SPP_FEATURES_HWC)
    return FP_ERR_INVALID_ARGUMENT;
  if ((st = fp__check_tensor(x, 4, NULL, 0, &xs)) != FP_OK) return st;
  if ((st = spp_check(levels, num_levels, mode, variant, x->shape, &f)) != FP_OK) return st;
  const int64_t yshape[2] = {x->shape[0], f};
  if ((st = fp__check_tensor(y, 2, yshape, 1, NULL)) != FP_OK) return st;
  const int vs = fp__dtype_slot(x->dtype);
  if (vs < 0) return FP_ERR_UNSUPPORTED_DTYPE;
  if (y->dtype != x->dtype && !(mode == FP_SPP_AVG && y->dtype == FP_FLOAT64 &&
                                 !pyramid_kernels[vs].spp_bwd))
    return FP_ERR_DTYPE_MISMATCH;
  if (fp__tensors_overlap(x, y)) return FP_ERR_ALIASING;
  if (x->shape[0] * f == 0) return FP_OK;
  fp_pool_params p;
  fp_pool_params_init(&p, 2);
  p.num_threads = params->num_threads;
  int64_t off = 0;
  for (int32_t L = 0; L < num_levels; L++) {
    const int64_t l = levels[L];
    fp_tensor yv = level_view(y, x->shape[1], off, l, features);
    if (variant == FP_SPP_ADAPTIVE) {
      p.flags = 0;
      st = mode == FP_SPP_MAX ? fp_adaptive_max_pool_forward(&p, x, &yv, NULL)
                              : fp_adaptive_avg_pool_forward(&p, x, &yv);
    } else {
      fp_tensor xv = *x;
      p.flags = variant == FP_SPP_CAFFE ? FP_FLAG_CEIL_MODE | FP_FLAG_COUNT_INCLUDE_PAD : 0;
      for (int a = 0; a < 2; a++) {
        fp__spp_axis ax;
        fp__spp_axis_set(&ax, variant, x->shape[2 + a], l);
        p.kernel[a] = ax.k;
        p.stride[a] = ax.s;
        p.pad_begin[a] = p.pad_end[a] = ax.pad;
        if (variant == FP_SPP_SPPNET) xv.shape[2 + a] = (l - 1) * ax.s + ax.k;
      }
      st = mode == FP_SPP_MAX ? fp_max_pool_forward(&p, &xv, &yv, NULL)
                              : fp_avg_pool_forward(&p, &xv, &yv);
    }
    /* Every level was checked above; a failure here would be a bug. */
    if (st != FP_OK) return st;
    off += x->shape[1] * l * l;
  }
  return FP_OK;
}

fp_status fp_spatial_pyramid_pool_backward(const fp_pool_params *params, const int64_t *levels,
                                           int32_t num_levels, int32_t mode, int32_t variant,
                                           int32_t features, const fp_tensor *dy,
                                           const fp_tensor *x, fp_tensor *dx) {
  fp__strides xs, dxs;
  fp_status st;
  int64_t f;
  if (!dy || !dx || (mode == FP_SPP_MAX && !x)) return FP_ERR_NULL_POINTER;
  if ((st = check_params(params)) != FP_OK) return st;
  if (features != FP_SPP_FEATURES_CHW && features != FP_SPP_FEATURES_HWC)
    return FP_ERR_INVALID_ARGUMENT;
  if ((st = fp__check_tensor(dx, 4, NULL, 1, &dxs)) != FP_OK) return st;
  if ((st = spp_check(levels, num_levels, mode, variant, dx->shape, &f)) != FP_OK) return st;
  const int64_t yshape[2] = {dx->shape[0], f};
  fp__strides2 dys;
  if ((st = fp__check_tensor(dy, 2, yshape, 0, NULL)) != FP_OK) return st;
  dys.n = dy->strides[0];
  dys.f = dy->strides[1];
  if (x && (st = fp__check_tensor(x, 4, dx->shape, 0, &xs)) != FP_OK) return st;
  const int vs = fp__dtype_slot(dx->dtype);
  if (vs < 0 || !pyramid_kernels[vs].spp_bwd) return FP_ERR_UNSUPPORTED_DTYPE;
  if (dy->dtype != dx->dtype || (x && x->dtype != dx->dtype)) return FP_ERR_DTYPE_MISMATCH;
  if (fp__tensors_overlap(dx, dy) || (x && fp__tensors_overlap(dx, x))) return FP_ERR_ALIASING;
  const int64_t planes = dx->shape[0] * dx->shape[1], plane = dx->shape[2] * dx->shape[3];
  if (planes == 0) return FP_OK;
  if (!x) memset(&xs, 0, sizeof(xs));
  fp__spp_plan S = {dx->shape[0], dx->shape[1], dx->shape[2], dx->shape[3], levels,
                    num_levels, mode, variant, features};
  int64_t work;
  if (__builtin_mul_overflow(planes, plane, &work) ||
      __builtin_mul_overflow(work, (int64_t)num_levels + 1, &work))
    work = INT64_MAX;
  const int nt = fp__threads(params->num_threads, work, planes);
  pyramid_kernels[vs].spp_bwd(&S, dy->data, &dys, x ? x->data : NULL, &xs, dx->data, &dxs, nt);
  return FP_OK;
}

/* ------------------------------------------------------------------------
 * YOLO SPP */

static fp_status yspp_check(const int64_t *kernel_sizes, int32_t num_kernels,
                            const int64_t *in_shape, int64_t *out_shape) {
  if (!kernel_sizes || !in_shape || !out_shape) return FP_ERR_NULL_POINTER;
  if (num_kernels < 1 || num_kernels > FP_YOLO_SPP_MAX_KERNELS) return FP_ERR_INVALID_ARGUMENT;
  for (int32_t i = 0; i < num_kernels; i++)
    if (kernel_sizes[i] < 1 || kernel_sizes[i] % 2 == 0) return FP_ERR_INVALID_ARGUMENT;
  for (int i = 0; i < 4; i++)
    if (in_shape[i] < 0) return FP_ERR_BAD_SHAPE;
  out_shape[0] = in_shape[0];
  if (__builtin_mul_overflow(in_shape[1], (int64_t)num_kernels + 1, &out_shape[1]))
    return FP_ERR_OVERFLOW;
  out_shape[2] = in_shape[2];
  out_shape[3] = in_shape[3];
  int64_t t;
  if (__builtin_mul_overflow(out_shape[0], out_shape[1], &t) ||
      __builtin_mul_overflow(t, out_shape[2], &t) || __builtin_mul_overflow(t, out_shape[3], &t))
    return FP_ERR_OVERFLOW;
  return FP_OK;
}

fp_status fp_yolo_spp_output_shape(const int64_t *kernel_sizes, int32_t num_kernels,
                                   const int64_t *in_shape, int64_t *out_shape) {
  return yspp_check(kernel_sizes, num_kernels, in_shape, out_shape);
}

/* Scratch bytes of one tile (forward: values; backward: values and int32
 * positions): rows th + 2*PH of stride (tw + 2*ex)*cb, for the input and
 * each level (and a doubling scratch in the forward); in double, clear of
 * overflow. */
static double yspp_tile_bytes(const fp__yspp_plan *P, double th, double tw, double cb,
                              double es, int backward) {
  const double R = th + 2.0 * (double)P->ph[P->u - 1];
  const double S = (tw + 2.0 * (double)P->ex) * cb;
  if (!backward) {
    int doubling = 0;
    int64_t prev = 0;
    for (int i = 0; i < P->u; i++) {
      doubling |= 2 * (P->pw[i] - prev) + 1 > 8;
      prev = P->pw[i];
    }
    return es * R * S * (P->u + 1 + doubling);
  }
  return es * R * S * (P->u + 1) + 4 * R * S * (P->u + 2) + 64;
}

/* Chooses channels per task and the tile (rows, columns) that fit the
 * scratch with the least recomputed halo; 0 if none fits. */
static int yspp_tiles(fp__yspp_plan *P, double es, int backward, int channels_inner) {
  const double budget = FP_YSPP_SCRATCH_BYTES;
  int64_t cb = 1;
  if (channels_inner) {
    cb = (int64_t)(64 / es);
    if (cb < 1) cb = 1;
    if (cb > P->c) cb = P->c;
  }
  for (; cb >= 1; cb = cb > 1 ? (cb + 1) / 2 : 0) {
    double best = 0;
    for (int64_t tw = P->w;; tw = (tw + 1) / 2) {
      /* the most rows that fit with this width */
      const double one = yspp_tile_bytes(P, 1, (double)tw, (double)cb, es, backward);
      const double more = yspp_tile_bytes(P, 2, (double)tw, (double)cb, es, backward) - one;
      if (one <= budget) {
        double th = 1 + floor((budget - one) / more);
        if (th > (double)P->h) th = (double)P->h;
        /* work per output: horizontal passes over the rows read, vertical
         * ones over the rows written, both over the whole row stride */
        double rows = th + 2.0 * (double)P->ph[P->u - 1];
        if (rows > (double)P->h) rows = (double)P->h;
        const double cost = (rows + th) * ((double)tw + 2.0 * (double)P->ex) /
                            (2.0 * th * (double)tw);
        if (best == 0 || cost < best) {
          best = cost;
          P->th = (int64_t)th;
          P->tw = tw;
        }
      }
      if (tw == 1) break;
    }
    /* wider channel blocks read whole cache lines: keep them unless the
     * halo would cost more than half again */
    if (best > 0 && (best <= 1.5 || cb == 1)) {
      P->cb = cb;
      return 1;
    }
  }
  return 0;
}

/* The full plan: distinct sorted kernels, half widths clamped to the input
 * (a window wider than an axis covers all of it), halos, output blocks. */
static void yspp_plan(fp__yspp_plan *P, const int64_t *kernel_sizes, int32_t num_kernels,
                      int32_t order, const int64_t *shape) {
  memset(P, 0, sizeof(*P));
  P->n = shape[0];
  P->c = shape[1];
  P->h = shape[2];
  P->w = shape[3];
  int64_t uniq[FP_YOLO_SPP_MAX_KERNELS];
  int u = 0;
  for (int32_t i = 0; i < num_kernels; i++) {
    int j = 0;
    while (j < u && uniq[j] < kernel_sizes[i]) j++;
    if (j < u && uniq[j] == kernel_sizes[i]) continue;
    for (int t = u; t > j; t--) uniq[t] = uniq[t - 1];
    uniq[j] = kernel_sizes[i];
    u++;
  }
  P->u = u;
  for (int i = 0; i < u; i++) {
    const int64_t p = uniq[i] / 2;
    P->ph[i] = p < P->h - 1 ? p : (P->h > 0 ? P->h - 1 : 0);
    P->pw[i] = p < P->w - 1 ? p : (P->w > 0 ? P->w - 1 : 0);
  }
  P->ew[u - 1] = 0;
  for (int i = u - 1; i > 0; i--) P->ew[i - 1] = P->ew[i] + (P->pw[i] - P->pw[i - 1]);
  P->ex = P->pw[u - 1];
  P->nslots = num_kernels + 1;
  for (int32_t j = 0; j < num_kernels; j++) {
    int lv = 0;
    while (uniq[lv] != kernel_sizes[j]) lv++;
    const int slot = order == FP_YOLO_SPP_ULTRALYTICS ? 1 + j : num_kernels - 1 - j;
    P->slot_level[slot] = lv;
  }
  P->slot_level[order == FP_YOLO_SPP_ULTRALYTICS ? 0 : num_kernels] = -1;
  P->first_pass = 1;
}

/* The plan of level i of the full plan F alone (no shared cascade): the
 * fallback when the full tiles do not fit, as one level's always narrower. */
static void yspp_single(fp__yspp_plan *P, const fp__yspp_plan *F, int i) {
  *P = *F;
  P->u = 1;
  P->ph[0] = F->ph[i];
  P->pw[0] = F->pw[i];
  P->ew[0] = 0;
  P->ex = F->pw[i];
  for (int s = 0; s < F->nslots; s++)
    P->slot_level[s] = F->slot_level[s] == i ? 0 : F->slot_level[s] == -1 ? -1 : -2;
  P->first_pass = i == 0;
}

/* Channels [s*C, (s+1)*C) of a (N, C*(1+K), H, W) tensor. */
static fp_tensor slot_view(const fp_tensor *t, int64_t c, int s) {
  fp_tensor v = *t;
  v.shape[1] = c;
  v.data = (char *)t->data + (int64_t)s * c * t->strides[1] * (int64_t)fp_dtype_size(t->dtype);
  return v;
}

fp_status fp_yolo_spp_forward(const fp_pool_params *params, const int64_t *kernel_sizes,
                              int32_t num_kernels, int32_t order, const fp_tensor *x,
                              fp_tensor *y) {
  fp__strides xs, ys;
  int64_t out_shape[4];
  fp_status st;
  if (!x || !y) return FP_ERR_NULL_POINTER;
  if ((st = check_params(params)) != FP_OK) return st;
  if (order != FP_YOLO_SPP_ULTRALYTICS && order != FP_YOLO_SPP_DARKNET)
    return FP_ERR_INVALID_ARGUMENT;
  if ((st = fp__check_tensor(x, 4, NULL, 0, &xs)) != FP_OK) return st;
  if ((st = yspp_check(kernel_sizes, num_kernels, x->shape, out_shape)) != FP_OK) return st;
  if ((st = fp__check_tensor(y, 4, out_shape, 1, &ys)) != FP_OK) return st;
  const int vs = fp__dtype_slot(x->dtype);
  if (vs < 0) return FP_ERR_UNSUPPORTED_DTYPE;
  if (y->dtype != x->dtype) return FP_ERR_DTYPE_MISMATCH;
  if (fp__tensors_overlap(x, y)) return FP_ERR_ALIASING;
  const int64_t in_numel = x->shape[0] * x->shape[1] * x->shape[2] * x->shape[3];
  if (in_numel == 0) return FP_OK;
  fp__yspp_plan F, P;
  yspp_plan(&F, kernel_sizes, num_kernels, order, x->shape);
  const int cinner = F.c > 1 && xs.c == 1 && xs.a[2] != 1;
  const double es = (double)fp_dtype_size(x->dtype);
  const int64_t work = in_numel > INT64_MAX / 16 ? INT64_MAX : in_numel * (4 + 4 * F.u);
  if (yspp_tiles(&F, es, 0, cinner)) {
    const int64_t tasks = F.n * ((F.c + F.cb - 1) / F.cb);
    pyramid_kernels[vs].yspp_fwd(&F, x->data, &xs, y->data, &ys,
                                 fp__threads(params->num_threads, work, tasks));
    return FP_OK;
  }
  /* Tiles of all kernels at once do not fit: one kernel at a time. */
  int copied = 0;
  for (int i = 0; i < F.u; i++) {
    yspp_single(&P, &F, i);
    P.first_pass = !copied;
    if (yspp_tiles(&P, es, 0, cinner)) {
      const int64_t tasks = P.n * ((P.c + P.cb - 1) / P.cb);
      pyramid_kernels[vs].yspp_fwd(&P, x->data, &xs, y->data, &ys,
                                   fp__threads(params->num_threads, work, tasks));
      copied = 1;
      continue;
    }
    /* ... and beyond that, the max pooling kernels, block by block */
    fp_pool_params p;
    fp_pool_params_init(&p, 2);
    p.num_threads = params->num_threads;
    for (int s = 0; s < F.nslots; s++) {
      if (F.slot_level[s] != i) continue;
      const int j = order == FP_YOLO_SPP_ULTRALYTICS ? s - 1 : num_kernels - 1 - s;
      p.kernel[0] = p.kernel[1] = kernel_sizes[j];
      p.pad_begin[0] = p.pad_begin[1] = p.pad_end[0] = p.pad_end[1] = kernel_sizes[j] / 2;
      fp_tensor yv = slot_view(y, F.c, s);
      if ((st = fp_max_pool_forward(&p, x, &yv, NULL)) != FP_OK) return st;
    }
  }
  if (!copied)
    pyramid_kernels[vs].yspp_copy(&F, x->data, &xs, y->data, &ys,
                                  fp__threads(params->num_threads, in_numel, F.n * F.c));
  return FP_OK;
}

fp_status fp_yolo_spp_backward(const fp_pool_params *params, const int64_t *kernel_sizes,
                               int32_t num_kernels, int32_t order, const fp_tensor *dy,
                               const fp_tensor *x, fp_tensor *dx) {
  fp__strides xs, dys, dxs;
  int64_t out_shape[4];
  fp_status st;
  if (!dy || !x || !dx) return FP_ERR_NULL_POINTER;
  if ((st = check_params(params)) != FP_OK) return st;
  if (order != FP_YOLO_SPP_ULTRALYTICS && order != FP_YOLO_SPP_DARKNET)
    return FP_ERR_INVALID_ARGUMENT;
  if ((st = fp__check_tensor(x, 4, NULL, 0, &xs)) != FP_OK) return st;
  if ((st = yspp_check(kernel_sizes, num_kernels, x->shape, out_shape)) != FP_OK) return st;
  if ((st = fp__check_tensor(dy, 4, out_shape, 0, &dys)) != FP_OK) return st;
  if ((st = fp__check_tensor(dx, 4, x->shape, 1, &dxs)) != FP_OK) return st;
  const int vs = fp__dtype_slot(x->dtype);
  if (vs < 0 || !pyramid_kernels[vs].yspp_bwd) return FP_ERR_UNSUPPORTED_DTYPE;
  if (dy->dtype != x->dtype || dx->dtype != x->dtype) return FP_ERR_DTYPE_MISMATCH;
  if (fp__tensors_overlap(dx, dy) || fp__tensors_overlap(dx, x)) return FP_ERR_ALIASING;
  const int64_t in_numel = x->shape[0] * x->shape[1] * x->shape[2] * x->shape[3];
  if (in_numel == 0) return FP_OK;
  fp__yspp_plan F, P;
  yspp_plan(&F, kernel_sizes, num_kernels, order, x->shape);
  const int cinner = F.c > 1 && xs.c == 1 && xs.a[2] != 1;
  const double es = (double)fp_dtype_size(x->dtype);
  const int64_t work = in_numel > INT64_MAX / 64 ? INT64_MAX : in_numel * (8 + 16 * F.u);
  /* tile positions are int32 */
  const int small = F.w <= INT32_MAX && F.h <= INT32_MAX;
  if (small && yspp_tiles(&F, es, 1, cinner)) {
    const int64_t tasks = F.n * ((F.c + F.cb - 1) / F.cb);
    pyramid_kernels[vs].yspp_bwd(&F, x->data, &xs, dy->data, &dys, dx->data, &dxs,
                                 fp__threads(params->num_threads, work, tasks));
    return FP_OK;
  }
  /* One kernel at a time; the passes add into dx in the same order. */
  int fits = small;
  for (int i = 0; i < F.u && fits; i++) {
    yspp_single(&P, &F, i);
    fits = yspp_tiles(&P, es, 1, cinner);
  }
  if (fits) {
    for (int i = 0; i < F.u; i++) {
      yspp_single(&P, &F, i);
      yspp_tiles(&P, es, 1, cinner);
      const int64_t tasks = P.n * ((P.c + P.cb - 1) / P.cb);
      pyramid_kernels[vs].yspp_bwd(&P, x->data, &xs, dy->data, &dys, dx->data, &dxs,
                                   fp__threads(params->num_threads, work, tasks));
    }
    return FP_OK;
  }
  /* windows beyond any tile: each output's window scanned */
  pyramid_kernels[vs].yspp_bwd_direct(&F, x->data, &xs, dy->data, &dys, dx->data, &dxs,
                                      fp__threads(params->num_threads, work, F.n * F.c));
  return FP_OK;
}
