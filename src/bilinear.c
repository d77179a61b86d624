/* Bilinear pooling (Lin et al., B-CNN): per sample B = scale * X Y^T over
 * the spatial positions, signed square root, L2 normalisation.  Argument
 * checks, workspace layout and the phases; the products run in gemm.c, the
 * element-wise passes in bilinear_impl.h. */
#include "gemm.h"

#define FP_T float
#define FP_SFX f32
#define FP_SQRT sqrtf
#define FP_FABS fabsf
#define FP_COPYSIGN copysignf
#include "bilinear_impl.h"
#undef FP_T
#undef FP_SFX
#undef FP_SQRT
#undef FP_FABS
#undef FP_COPYSIGN
#define FP_T double
#define FP_SFX f64
#define FP_SQRT sqrt
#define FP_FABS fabs
#define FP_COPYSIGN copysign
#include "bilinear_impl.h"
#undef FP_T
#undef FP_SFX
#undef FP_SQRT
#undef FP_FABS
#undef FP_COPYSIGN

#define FP_BILINEAR_FLAGS (FP_BILINEAR_AVERAGE | FP_BILINEAR_SIGNED_SQRT | FP_BILINEAR_L2_NORMALIZE)

fp_status fp_bilinear_params_init(fp_bilinear_params *params) {
  if (!params) return FP_ERR_NULL_POINTER;
  memset(params, 0, sizeof(*params));
  params->struct_size = sizeof(*params);
  params->flags = FP_BILINEAR_FLAGS;
  params->eps = 1e-12;
  return FP_OK;
}

/* One call's shapes, resolved. */
typedef struct bl_call {
  fp_dtype dt;
  size_t el;
  int64_t n, cx, cy, p, features;
  int64_t rb, nb; /* rows per post-processing block, blocks per sample */
  fp__axis xpos, ypos;
} bl_call;

static fp_status check_params(const fp_bilinear_params *p) {
  if (!p) return FP_ERR_NULL_POINTER;
  if (p->struct_size != sizeof(fp_bilinear_params)) return FP_ERR_STRUCT_SIZE;
  if ((p->flags & ~FP_BILINEAR_FLAGS) || fp__bad_threads(p->num_threads)) return FP_ERR_INVALID_ARGUMENT;
  if (!(p->eps >= 0) || isinf(p->eps)) return FP_ERR_INVALID_ARGUMENT;
  return FP_OK;
}

static fp_status check_inputs(const fp_tensor *x, const fp_tensor *y, bl_call *c) {
  fp_status st;
  if (!x) return FP_ERR_NULL_POINTER;
  if (x->ndim < 3 || x->ndim > FP_MAX_DIMS) return FP_ERR_BAD_NDIM;
  if ((st = fp__check_tensor(x, x->ndim, NULL, 0, NULL)) != FP_OK) return st;
  if (x->dtype != FP_FLOAT32 && x->dtype != FP_FLOAT64) return FP_ERR_UNSUPPORTED_DTYPE;
  if (y) {
    if (y->ndim != x->ndim) return FP_ERR_BAD_NDIM;
    if ((st = fp__check_tensor(y, y->ndim, NULL, 0, NULL)) != FP_OK) return st;
    if (y->dtype != x->dtype) return FP_ERR_DTYPE_MISMATCH;
    if (y->shape[0] != x->shape[0]) return FP_ERR_SHAPE_MISMATCH;
    for (int i = 2; i < x->ndim; i++)
      if (y->shape[i] != x->shape[i]) return FP_ERR_SHAPE_MISMATCH;
  }
  c->dt = x->dtype;
  c->el = fp_dtype_size(x->dtype);
  c->n = x->shape[0];
  c->cx = x->shape[1];
  c->cy = y ? y->shape[1] : x->shape[1];
  c->p = 1;
  for (int i = 2; i < x->ndim; i++) c->p *= x->shape[i]; /* checked by fp__check_tensor */
  if (__builtin_mul_overflow(c->cx, c->cy, &c->features)) return FP_ERR_OVERFLOW;
  c->xpos = fp__axis_make(x->ndim - 2, x->shape + 2, x->strides + 2);
  c->ypos = fp__axis_make(x->ndim - 2, (y ? y : x)->shape + 2, (y ? y : x)->strides + 2);
  /* post-processing blocks of about 16K elements: a fixed split (it fixes
   * the order of the norm's partial sums) */
  c->rb = c->cy > 0 ? 16384 / c->cy : 1;
  if (c->rb < 1) c->rb = 1;
  c->nb = c->cx > 0 ? (c->cx + c->rb - 1) / c->rb : 0;
  return FP_OK;
}

/* Workspace for t threads: the packing buffers, then (forward) one partial
 * sum per block of every sample or (backward) for a chunk of min(N, t)
 * samples two partial sums per block and a Cx x Cy matrix each, and per
 * thread a transposed block of the output gradient (for y = x).  Offsets of
 * the parts in off[0..3]; 0 on overflow. */
static int ws_layout(const bl_call *c, int backward, int64_t t, size_t *total, size_t off[4]) {
  size_t used = 0, pack, part, mats = 0, gt = 0;
  const int64_t chunk = backward ? (c->n < t ? c->n : t) : c->n;
  if ((size_t)c->nb > SIZE_MAX / 16 || (size_t)c->features > SIZE_MAX / 8) return 0;
  if (__builtin_mul_overflow((size_t)t, fp__gemm_pack_bytes(c->dt), &pack)) return 0;
  if (__builtin_mul_overflow((size_t)chunk, (size_t)c->nb * (backward ? 2 : 1) * sizeof(double), &part))
    return 0;
  if (backward) {
    if (__builtin_mul_overflow((size_t)chunk, (size_t)c->features * c->el, &mats)) return 0;
    if (__builtin_mul_overflow((size_t)t, (size_t)c->rb * (size_t)c->cy * c->el, &gt)) return 0;
  }
  if (!fp__ws_take(&used, pack, &off[0]) || !fp__ws_take(&used, part, &off[1]) ||
      !fp__ws_take(&used, mats, &off[2]) || !fp__ws_take(&used, gt, &off[3]))
    return 0;
  *total = used + FP__WS_SLACK;
  return 1;
}

/* Nothing to compute: no sample, or no output feature and nothing to zero. */
static int nothing_to_do(const bl_call *c) { return c->n == 0 || c->features == 0; }

fp_status fp_bilinear_pool_workspace_size(const fp_bilinear_params *params, const fp_tensor *x,
                                          const fp_tensor *y, int backward, size_t *bytes) {
  bl_call c;
  fp_status st;
  if ((st = check_params(params)) != FP_OK) return st;
  if (!bytes) return FP_ERR_NULL_POINTER;
  if ((st = check_inputs(x, y, &c)) != FP_OK) return st;
  size_t off[4];
  if (nothing_to_do(&c)) {
    *bytes = 0;
    return FP_OK;
  }
  if (!ws_layout(&c, backward != 0, fp__threads_requested(params->num_threads), bytes, off))
    return FP_ERR_OVERFLOW;
  return FP_OK;
}

/* The largest thread count <= want whose workspace fits in have bytes (0 if
 * not even one does). */
static int64_t ws_threads(const bl_call *c, int backward, int64_t want, size_t have, size_t off[4]) {
  size_t need;
  for (int64_t t = want; t >= 1; t--)
    if (ws_layout(c, backward, t, &need, off) && need - FP__WS_SLACK <= have) return t;
  return 0;
}

static int ws_overlaps(const void *ws, size_t bytes, const fp_tensor *t) {
  if (!t || !ws || bytes == 0) return 0;
  fp_tensor w;
  memset(&w, 0, sizeof(w));
  w.dtype = FP_INT8;
  w.ndim = 1;
  w.shape[0] = (int64_t)bytes;
  w.strides[0] = 1;
  w.data = (void *)ws;
  return fp__tensors_overlap(&w, t);
}

/* The (N, C, positions) matrix view of an input tensor: rows channels,
 * columns positions, batch stride N. */
static fp__mat chan_pos(const fp_tensor *t, const fp__axis *pos) {
  fp__mat m;
  m.data = t->data;
  m.r = fp__axis_simple(t->shape[1], t->strides[1]);
  m.c = *pos;
  m.bs = t->strides[0];
  return m;
}

/* The (N, Cx*Cy) output or gradient as Cx x Cy matrices. */
static fp__mat feat_mat(const fp_tensor *t, int64_t cx, int64_t cy) {
  fp__mat m;
  m.data = t->data;
  m.r = fp__axis_simple(cx, cy * t->strides[1]);
  m.c = fp__axis_simple(cy, t->strides[1]);
  m.bs = t->strides[0];
  return m;
}

static void zero_tensor(const fp_tensor *t) {
  int64_t ext[FP_MAX_DIMS] = {1, 1, 1, 1, 1}, str[FP_MAX_DIMS] = {0, 0, 0, 0, 0};
  const size_t el = fp_dtype_size(t->dtype);
  for (int i = 0; i < t->ndim; i++) {
    ext[FP_MAX_DIMS - t->ndim + i] = t->shape[i];
    str[FP_MAX_DIMS - t->ndim + i] = t->strides[i];
  }
  for (int64_t a = 0; a < ext[0]; a++)
    for (int64_t b = 0; b < ext[1]; b++)
      for (int64_t c = 0; c < ext[2]; c++)
        for (int64_t d = 0; d < ext[3]; d++)
          for (int64_t e = 0; e < ext[4]; e++)
            memset((char *)t->data +
                       (a * str[0] + b * str[1] + c * str[2] + d * str[3] + e * str[4]) * (int64_t)el,
                   0, el);
}

/* One call's tensors and scratch.  pack and gt hold nt thread slots; part
 * (forward) one partial sum per block of every sample, (backward) and mats
 * per-sample slots, slot s for the s-th sample a phase function is given. */
typedef struct bl_work {
  const bl_call *c;
  const fp_bilinear_params *prm;
  const fp_tensor *x, *y, *out, *g;
  fp_tensor *dx, *dy;
  char *pack, *mats, *gt;
  double *part;
  int nt;
} bl_work;

static void init_work(bl_work *w, const bl_call *c, const fp_bilinear_params *params,
                      const fp_tensor *x, const fp_tensor *y, char *ws, const size_t off[4],
                      int64_t t) {
  memset(w, 0, sizeof(*w));
  w->c = c;
  w->prm = params;
  w->x = x;
  w->y = y;
  w->pack = ws + off[0];
  w->part = (double *)(ws + off[1]);
  w->mats = ws + off[2];
  w->gt = ws + off[3];
  w->nt = (int)t;
}

/* The scratch of thread (and sample) slot i alone, for one thread running
 * its samples serially. */
static bl_work slot_work(const bl_work *w, int64_t i, int backward) {
  const bl_call *c = w->c;
  bl_work s = *w;
  s.pack = w->pack + (size_t)i * fp__gemm_pack_bytes(c->dt);
  s.gt = w->gt + (size_t)i * (size_t)(c->rb * c->cy) * c->el;
  if (backward) {
    s.mats = w->mats + (size_t)i * (size_t)c->features * c->el;
    s.part = w->part + i * 2 * c->nb;
  }
  s.nt = 1;
  return s;
}

/* Threads that each take whole samples (one fp__parallel call over the
 * samples): when there are at least two samples to share and enough work;
 * otherwise 1, and the phases share each sample's work instead.  Both ways
 * every sample is computed the same, bit for bit. */
static int sample_threads(int64_t t, int64_t samples, int64_t work) {
  if (samples < 2 || t < 2) return 1;
  return fp__threads((int32_t)t, work, samples);
}

/* Multiply-adds of one sample's forward. */
static int64_t sample_work(const bl_call *c) { return c->features * (c->p + 4); }

/* The forward's element-wise passes over tasks (sample n0 + task / nb, row
 * block task % nb). */
typedef struct bl_fwd_ctx {
  const bl_work *w;
  int64_t n0, rs, cs;
  double *part;
  int ssqrt, sym;
} bl_fwd_ctx;

/* First pass: signed square root, the blocks' sums of squares. */
static void fwd_sums_chunk(void *ctx, int64_t begin, int64_t end, int slot) {
  const bl_fwd_ctx *x = (const bl_fwd_ctx *)ctx;
  const bl_call *c = x->w->c;
  const fp_tensor *out = x->w->out;
  const int64_t el = (int64_t)c->el;
  (void)slot;
  for (int64_t task = begin; task < end; task++) {
    const int64_t n = x->n0 + task / c->nb, i0 = (task % c->nb) * c->rb;
    const int64_t i1 = i0 + c->rb < c->cx ? i0 + c->rb : c->cx;
    void *base = (char *)out->data + n * out->strides[0] * el;
    x->part[task] = c->dt == FP_FLOAT64
                        ? fp__f64_bilinear__fwd_block((double *)base, x->rs, x->cs, i0, i1, c->cy,
                                                      x->ssqrt, x->sym)
                        : fp__f32_bilinear__fwd_block((float *)base, x->rs, x->cs, i0, i1, c->cy,
                                                      x->ssqrt, x->sym);
  }
}

/* Second pass: the L2 normalisation. */
static void fwd_scale_chunk(void *ctx, int64_t begin, int64_t end, int slot) {
  const bl_fwd_ctx *x = (const bl_fwd_ctx *)ctx;
  const bl_call *c = x->w->c;
  const fp_tensor *out = x->w->out;
  const int64_t el = (int64_t)c->el;
  (void)slot;
  for (int64_t task = begin; task < end; task++) {
    const int64_t s = task / c->nb, i0 = (task % c->nb) * c->rb;
    const int64_t i1 = i0 + c->rb < c->cx ? i0 + c->rb : c->cx;
    double ss = 0;
    for (int64_t b = 0; b < c->nb; b++) ss += x->part[s * c->nb + b];
    const double den = fp__norm_floor(sqrt(ss), x->w->prm->eps);
    void *base = (char *)out->data + (x->n0 + s) * out->strides[0] * el;
    if (c->dt == FP_FLOAT64)
      fp__f64_bilinear__scale_block((double *)base, x->rs, x->cs, i0, i1, c->cy, 1.0 / den, x->sym);
    else
      fp__f32_bilinear__scale_block((float *)base, x->rs, x->cs, i0, i1, c->cy, (float)(1.0 / den),
                                    x->sym);
  }
}

/* Last pass of a symmetric product: the lower triangle. */
static void fwd_mirror_chunk(void *ctx, int64_t begin, int64_t end, int slot) {
  const bl_fwd_ctx *x = (const bl_fwd_ctx *)ctx;
  const bl_call *c = x->w->c;
  const fp_tensor *out = x->w->out;
  const int64_t el = (int64_t)c->el;
  (void)slot;
  for (int64_t task = begin; task < end; task++) {
    const int64_t n = x->n0 + task / c->nb, i0 = (task % c->nb) * c->rb;
    const int64_t i1 = i0 + c->rb < c->cx ? i0 + c->rb : c->cx;
    void *base = (char *)out->data + n * out->strides[0] * el;
    if (c->dt == FP_FLOAT64) fp__f64_bilinear__mirror_block((double *)base, x->rs, x->cs, i0, i1, c->dt);
    else fp__f32_bilinear__mirror_block((float *)base, x->rs, x->cs, i0, i1, c->dt);
  }
}

/* Forward of samples n0 .. n0+ns. */
static void forward_samples(const bl_work *w, int64_t n0, int64_t ns) {
  const bl_call *c = w->c;
  const fp_tensor *x = w->x, *y = w->y, *out = w->out;
  const uint32_t fl = w->prm->flags;
  const int ssqrt = (fl & FP_BILINEAR_SIGNED_SQRT) != 0, l2 = (fl & FP_BILINEAR_L2_NORMALIZE) != 0;
  const double scale = (fl & FP_BILINEAR_AVERAGE) ? (c->p > 0 ? 1.0 / (double)c->p : 0.0) : 1.0;
  const int64_t el = (int64_t)c->el;
  fp__gemm g;
  memset(&g, 0, sizeof(g));
  g.m = c->cx;
  g.n = c->cy;
  g.k = c->p;
  g.batch = ns;
  g.a = chan_pos(x, &c->xpos);
  g.a.data = (char *)x->data + n0 * x->strides[0] * el;
  g.b = fp__mat_t(chan_pos(y ? y : x, &c->ypos));
  g.b.data = (char *)(y ? y : x)->data + n0 * (y ? y : x)->strides[0] * el;
  g.c = feat_mat(out, c->cx, c->cy);
  g.c.data = (char *)out->data + n0 * out->strides[0] * el;
  g.alpha = scale;
  g.symmetric = y == NULL ? FP__GEMM_SYM_UPPER : 0;
  fp__gemm_run(c->dt, &g, w->pack, fp__threads(w->nt, fp__gemm_work(&g), ns * 64));
  const int sym = y == NULL;
  const int64_t tasks = ns * c->nb;
  const int nt = fp__threads(w->nt, ns * c->features * 4, tasks);
  bl_fwd_ctx ctx;
  ctx.w = w;
  ctx.n0 = n0;
  ctx.rs = c->cy * out->strides[1];
  ctx.cs = out->strides[1];
  ctx.part = w->part + n0 * c->nb;
  ctx.ssqrt = ssqrt;
  ctx.sym = sym;
  if (ssqrt || l2) fp__parallel(nt, tasks, fwd_sums_chunk, &ctx);
  if (l2) fp__parallel(nt, tasks, fwd_scale_chunk, &ctx);
  if (sym) fp__parallel(nt, tasks, fwd_mirror_chunk, &ctx);
}

/* The backward's element-wise passes over tasks (sample slot task / nb,
 * row block task % nb). */
typedef struct bl_bwd_ctx {
  const bl_work *w;
  const bl_call *c;
  int64_t n0, grs, gcs;
  const fp__mat *gm;
  int ssqrt, l2, sym, have_b;
  double eps, scale;
} bl_bwd_ctx;

/* First pass (with L2): the blocks' partial sums. */
static void bwd_sums_chunk(void *ctx, int64_t begin, int64_t end, int slot) {
  const bl_bwd_ctx *x = (const bl_bwd_ctx *)ctx;
  const bl_call c = *x->c;
  double *part = x->w->part;
  const char *mats = x->w->mats;
  (void)slot;
  for (int64_t task = begin; task < end; task++) {
    const int64_t s = task / c.nb, i0 = (task % c.nb) * c.rb;
    const int64_t i1 = i0 + c.rb < c.cx ? i0 + c.rb : c.cx;
    const char *bm = mats + s * c.features * (int64_t)c.el;
    const char *gp = (const char *)x->gm->data + (x->n0 + s) * x->gm->bs * (int64_t)c.el;
    if (c.dt == FP_FLOAT64)
      fp__f64_bilinear__bwd_sums((const double *)bm, (const double *)gp, x->grs, x->gcs, i0, i1,
                                 c.cy, x->ssqrt, &part[2 * task], &part[2 * task + 1]);
    else
      fp__f32_bilinear__bwd_sums((const float *)bm, (const float *)gp, x->grs, x->gcs, i0, i1,
                                 c.cy, x->ssqrt, &part[2 * task], &part[2 * task + 1]);
  }
}

/* Second pass: dB in place of B, with slot `slot`'s transposed gradient block. */
static void bwd_block_chunk(void *ctx, int64_t begin, int64_t end, int slot) {
  const bl_bwd_ctx *x = (const bl_bwd_ctx *)ctx;
  const bl_call c = *x->c;
  const double *part = x->w->part;
  char *mats = x->w->mats;
  const int l2 = x->l2, sym = x->sym;
  const int64_t grs = x->grs, gcs = x->gcs;
  const double eps = x->eps;
  for (int64_t task = begin; task < end; task++) {
    const int64_t s = task / c.nb, i0 = (task % c.nb) * c.rb;
    const int64_t i1 = i0 + c.rb < c.cx ? i0 + c.rb : c.cx;
    /* d(s / max(r, eps)) / ds applied to g: (g - s <s,g>/r^2) / r when
     * r >= eps (F.normalize's clamp passes the gradient), else g / eps */
    double c1 = 0, c2 = 1;
    if (l2) {
      double ss = 0, sg = 0;
      for (int64_t b = 0; b < c.nb; b++) {
        ss += part[2 * (s * c.nb + b)];
        sg += part[2 * (s * c.nb + b) + 1];
      }
      const double r = sqrt(ss);
      if (fp__norm_through(r, eps)) {
        c1 = sg / (r * r);
        c2 = 1.0 / r;
      } else {
        c2 = 1.0 / eps;
      }
    }
    char *bm = mats + s * c.features * (int64_t)c.el;
    const char *gp = (const char *)x->gm->data + (x->n0 + s) * x->gm->bs * (int64_t)c.el;
    /* with y = x the pass reads g(j, i) along j: a transposed copy of the
     * gradient's columns i0..i1 makes that a row */
    void *gt = NULL;
    if (sym && gcs == 1) {
      gt = x->w->gt + (size_t)slot * (size_t)(c.rb * c.cy) * c.el;
      fp__transpose(c.dt, gp + i0 * (int64_t)c.el, grs, gt, c.cy, c.cy, i1 - i0);
    }
    if (c.dt == FP_FLOAT64)
      fp__f64_bilinear__bwd_block((double *)bm, (const double *)gp, grs, gcs, (const double *)gt,
                                  i0, i1, c.cy, sym, x->ssqrt, x->have_b, c1, c2, eps, x->scale);
    else
      fp__f32_bilinear__bwd_block((float *)bm, (const float *)gp, grs, gcs, (const float *)gt,
                                  i0, i1, c.cy, sym, x->ssqrt, x->have_b, c1, c2, eps, x->scale);
  }
}

/* Backward of samples n0 .. n0+ns (sample slots 0 .. ns-1). */
static void backward_samples(const bl_work *w, int64_t n0, int64_t ns) {
  const bl_call *cp = w->c;
  const bl_call c = *cp;
  const fp_tensor *x = w->x, *y = w->y, *grad_out = w->g;
  fp_tensor *dx = w->dx, *dy = w->dy;
  const int64_t t = w->nt;
  const uint32_t fl = w->prm->flags;
  const int ssqrt = (fl & FP_BILINEAR_SIGNED_SQRT) != 0, l2 = (fl & FP_BILINEAR_L2_NORMALIZE) != 0;
  const int sym = y == NULL, have_b = ssqrt || l2;
  const double eps = w->prm->eps;
  const double scale = (fl & FP_BILINEAR_AVERAGE) ? (c.p > 0 ? 1.0 / (double)c.p : 0.0) : 1.0;
  void *pack = w->pack;
  char *mats = w->mats;
  const fp__mat gm = feat_mat(grad_out, c.cx, c.cy);
  const int64_t grs = c.cy * grad_out->strides[1], gcs = grad_out->strides[1];

  /* the products B of these samples, into the scratch matrices */
  fp__mat sm;
  sm.data = mats;
  sm.r = fp__axis_simple(c.cx, c.cy);
  sm.c = fp__axis_simple(c.cy, 1);
  sm.bs = c.features;
  fp__gemm g;
  if (have_b) {
    memset(&g, 0, sizeof(g));
    g.m = c.cx;
    g.n = c.cy;
    g.k = c.p;
    g.batch = ns;
    g.a = chan_pos(x, &c.xpos);
    g.a.data = (char *)x->data + n0 * x->strides[0] * (int64_t)c.el;
    g.b = fp__mat_t(chan_pos(y ? y : x, &c.ypos));
    g.b.data = (char *)(y ? y : x)->data + n0 * (y ? y : x)->strides[0] * (int64_t)c.el;
    g.c = sm;
    g.alpha = scale;
    g.symmetric = sym ? FP__GEMM_SYM_MIRROR : 0;
    fp__gemm_run(c.dt, &g, pack, fp__threads((int32_t)t, fp__gemm_work(&g), ns * 64));
  }
  const int64_t tasks = ns * c.nb;
  const int nt = fp__threads((int32_t)t, ns * c.features * 16, tasks);
  bl_bwd_ctx ctx;
  ctx.w = w;
  ctx.c = &c;
  ctx.n0 = n0;
  ctx.grs = grs;
  ctx.gcs = gcs;
  ctx.gm = &gm;
  ctx.ssqrt = ssqrt;
  ctx.l2 = l2;
  ctx.sym = sym;
  ctx.have_b = have_b;
  ctx.eps = eps;
  ctx.scale = scale;
  if (l2) fp__parallel(nt, tasks, bwd_sums_chunk, &ctx);
  fp__parallel(nt, tasks, bwd_block_chunk, &ctx);
  /* dx = dB y (or (dB + dB^T) x), dy = dB^T x */
  memset(&g, 0, sizeof(g));
  g.m = c.cx;
  g.n = c.p;
  g.k = c.cy;
  g.batch = ns;
  g.a = sm;
  g.b = chan_pos(y ? y : x, &c.ypos);
  g.b.data = (char *)(y ? y : x)->data + n0 * (y ? y : x)->strides[0] * (int64_t)c.el;
  g.c = chan_pos(dx, &c.xpos);
  g.c.c = fp__axis_make(dx->ndim - 2, dx->shape + 2, dx->strides + 2);
  g.c.data = (char *)dx->data + n0 * dx->strides[0] * (int64_t)c.el;
  g.alpha = 1.0;
  fp__gemm_run(c.dt, &g, pack, fp__threads((int32_t)t, fp__gemm_work(&g), ns * 64));
  if (dy) {
    g.m = c.cy;
    g.k = c.cx;
    g.a = fp__mat_t(sm);
    g.b = chan_pos(x, &c.xpos);
    g.b.data = (char *)x->data + n0 * x->strides[0] * (int64_t)c.el;
    g.c = chan_pos(dy, &c.ypos);
    g.c.c = fp__axis_make(dy->ndim - 2, dy->shape + 2, dy->strides + 2);
    g.c.data = (char *)dy->data + n0 * dy->strides[0] * (int64_t)c.el;
    fp__gemm_run(c.dt, &g, pack, fp__threads((int32_t)t, fp__gemm_work(&g), ns * 64));
  }
}

/* Whole samples [begin, end), each in the scratch of slot `slot` alone. */
static void fwd_samples_chunk(void *ctx, int64_t begin, int64_t end, int slot) {
  const bl_work mine = slot_work((const bl_work *)ctx, slot, 0);
  for (int64_t n = begin; n < end; n++) forward_samples(&mine, n, 1);
}

static void bwd_samples_chunk(void *ctx, int64_t begin, int64_t end, int slot) {
  const bl_work mine = slot_work((const bl_work *)ctx, slot, 1);
  for (int64_t n = begin; n < end; n++) backward_samples(&mine, n, 1);
}

fp_status fp_bilinear_pool_forward(const fp_bilinear_params *params, const fp_tensor *x,
                                   const fp_tensor *y, fp_tensor *out, void *workspace,
                                   size_t workspace_size) {
  bl_call c;
  fp_status st;
  if ((st = check_params(params)) != FP_OK) return st;
  if ((st = check_inputs(x, y, &c)) != FP_OK) return st;
  if (!out) return FP_ERR_NULL_POINTER;
  const int64_t oshape[2] = {c.n, c.features};
  if ((st = fp__check_tensor(out, 2, oshape, 1, NULL)) != FP_OK) return st;
  if (out->dtype != c.dt) return FP_ERR_DTYPE_MISMATCH;
  if (fp__tensors_overlap(out, x) || (y && fp__tensors_overlap(out, y))) return FP_ERR_ALIASING;
  if (nothing_to_do(&c)) return FP_OK;
  if (!workspace) return FP_ERR_NULL_POINTER;
  size_t off[4];
  size_t ws_bytes = workspace_size;
  char *ws = fp__ws_align(workspace, &ws_bytes);
  const int64_t t = ws_threads(&c, 0, fp__threads_requested(params->num_threads), ws_bytes, off);
  if (t < 1) return FP_ERR_SHAPE_MISMATCH;
  if (ws_overlaps(workspace, workspace_size, out) || ws_overlaps(workspace, workspace_size, x) ||
      ws_overlaps(workspace, workspace_size, y))
    return FP_ERR_ALIASING;

  bl_work w;
  init_work(&w, &c, params, x, y, ws, off, t);
  w.out = out;
  const int st_ = sample_threads(t < c.n ? t : c.n, c.n, c.n * sample_work(&c));
  if (st_ > 1) {
    fp__parallel(st_, c.n, fwd_samples_chunk, &w);
  } else {
    forward_samples(&w, 0, c.n);
  }
  return FP_OK;
}

fp_status fp_bilinear_pool_backward(const fp_bilinear_params *params, const fp_tensor *grad_out,
                                    const fp_tensor *x, const fp_tensor *y, fp_tensor *dx,
                                    fp_tensor *dy, void *workspace, size_t workspace_size) {
  bl_call c;
  fp_status st;
  if ((st = check_params(params)) != FP_OK) return st;
  if ((st = check_inputs(x, y, &c)) != FP_OK) return st;
  if (!grad_out || !dx) return FP_ERR_NULL_POINTER;
  if (dy && !y) return FP_ERR_INVALID_ARGUMENT;
  const int64_t gshape[2] = {c.n, c.features};
  if ((st = fp__check_tensor(grad_out, 2, gshape, 0, NULL)) != FP_OK) return st;
  if ((st = fp__check_tensor(dx, x->ndim, x->shape, 1, NULL)) != FP_OK) return st;
  if (dy && (st = fp__check_tensor(dy, y->ndim, y->shape, 1, NULL)) != FP_OK) return st;
  if (grad_out->dtype != c.dt || dx->dtype != c.dt || (dy && dy->dtype != c.dt))
    return FP_ERR_DTYPE_MISMATCH;
  if (fp__tensors_overlap(dx, x) || fp__tensors_overlap(dx, grad_out) ||
      (y && fp__tensors_overlap(dx, y)))
    return FP_ERR_ALIASING;
  if (dy && (fp__tensors_overlap(dy, x) || fp__tensors_overlap(dy, y) ||
             fp__tensors_overlap(dy, grad_out) || fp__tensors_overlap(dy, dx)))
    return FP_ERR_ALIASING;
  if (c.n == 0) return FP_OK;
  if (c.features == 0) {
    /* the output has no element: nothing depends on the inputs */
    zero_tensor(dx);
    if (dy) zero_tensor(dy);
    return FP_OK;
  }
  if (!workspace) return FP_ERR_NULL_POINTER;
  size_t off[4];
  size_t ws_bytes = workspace_size;
  char *ws = fp__ws_align(workspace, &ws_bytes);
  const int64_t t = ws_threads(&c, 1, fp__threads_requested(params->num_threads), ws_bytes, off);
  if (t < 1) return FP_ERR_SHAPE_MISMATCH;
  if (ws_overlaps(workspace, workspace_size, grad_out) || ws_overlaps(workspace, workspace_size, x) ||
      ws_overlaps(workspace, workspace_size, y) || ws_overlaps(workspace, workspace_size, dx) ||
      ws_overlaps(workspace, workspace_size, dy))
    return FP_ERR_ALIASING;

  bl_work w;
  init_work(&w, &c, params, x, y, ws, off, t);
  w.g = grad_out;
  w.dx = dx;
  w.dy = dy;
  const int st_ = sample_threads(t < c.n ? t : c.n, c.n, c.n * 3 * sample_work(&c));
  if (st_ > 1) {
    /* no sum over samples: every chunk takes whole samples in its slot */
    fp__parallel(st_, c.n, bwd_samples_chunk, &w);
    return FP_OK;
  }
  const int64_t chunk = c.n < t ? c.n : t;
  for (int64_t n0 = 0; n0 < c.n; n0 += chunk) backward_samples(&w, n0, c.n - n0 < chunk ? c.n - n0 : chunk);
  return FP_OK;
}
