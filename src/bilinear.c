/* Bilinear pooling (Lin et al., B-CNN): per sample B = scale * X Y^T over
 * the spatial positions, signed square root, L2 normalisation.  Argument
 * checks, workspace layout and the phases; the products run in gemm.c, the
 * element-wise passes in bilinear_impl.h. */
#include "fp_workspace.h"

#define FP_IMPL "bilinear_impl.h"
#define FP_EACH_FLOAT 1
#define FP_EACH_NO_F16 1 /* float32, float64 (fp_each_dtype.h) */
#include "fp_each_dtype.h"
#undef FP_IMPL

/* By value dtype slot; float32 and float64 only. */
typedef struct bl_kernels {
  double (*fwd_block)(void *, int64_t, int64_t, int64_t, int64_t, int64_t, int, int);
  void (*scale_block)(void *, int64_t, int64_t, int64_t, int64_t, int64_t, double, int);
  void (*mirror_block)(void *, int64_t, int64_t, int64_t, int64_t, fp_dtype);
  void (*bwd_sums)(const void *, const void *, int64_t, int64_t, int64_t, int64_t, int64_t, int,
                   double *, double *);
  void (*bwd_block)(void *, const void *, int64_t, int64_t, const void *, int64_t, int64_t,
                    int64_t, int, int, int, double, double, double, double);
} bl_kernels;
static const bl_kernels bl_table[FP_NSLOTS] = {
#define FP_IMPL "bilinear_impl.h"
#define FP_TABLE 1 /* the rows of this table (bilinear_impl.h) */
#define FP_EACH_FLOAT 1
#define FP_EACH_NO_F16 1
#include "fp_each_dtype.h"
#undef FP_IMPL
};

#define FP_BILINEAR_FLAGS (FP_BILINEAR_AVERAGE | FP_BILINEAR_SIGNED_SQRT | FP_BILINEAR_L2_NORMALIZE)

fp_status fp_bilinear_params_init(fp_bilinear_params *params) {
  if (!params) return FP_ERR_NULL_POINTER;
  memset(params, 0, sizeof(*params));
  params->struct_size = sizeof(*params);
  params->flags = FP_BILINEAR_FLAGS;
  params->eps = 1e-12;
  return FP_OK;
}

/* One call's shapes and kernels, resolved. */
typedef struct bl_call {
  fp_dtype dt;
  size_t el;
  const bl_kernels *kn;
  int64_t n, cx, cy, p, features;
  int64_t rb, nb; /* rows per post-processing block, blocks per sample */
  fp__axis xpos, ypos;
} bl_call;

static fp_status check_params(const fp_bilinear_params *p) {
  if (!p) return FP_ERR_NULL_POINTER;
  if (p->struct_size != sizeof(fp_bilinear_params)) return FP_ERR_STRUCT_SIZE;
  return fp__check_ws_options(p->flags, FP_BILINEAR_FLAGS, p->num_threads, p->eps);
}

static fp_status check_inputs(const fp_tensor *x, const fp_tensor *y, bl_call *c) {
  fp_status st;
  if (!x) return FP_ERR_NULL_POINTER;
  if (x->ndim < 3 || x->ndim > FP_MAX_DIMS) return FP_ERR_BAD_NDIM;
  if ((st = fp__check_tensor(x, x->ndim, NULL, 0, NULL)) != FP_OK) return st;
  const int vs = fp__dtype_slot(x->dtype);
  if (vs < 0 || !bl_table[vs].fwd_block) return FP_ERR_UNSUPPORTED_DTYPE;
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
  c->kn = &bl_table[vs];
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

/* A call's workspace layout (an fp__ws_layout_fn ctx). */
typedef struct bl_layout {
  const bl_call *c;
  int backward;
  size_t off[4];
} bl_layout;

/* Workspace for t threads: the packing buffers, then (forward) one partial
 * sum per block of every sample or (backward) for a chunk of min(N, t)
 * samples two partial sums per block and a Cx x Cy matrix each, and per
 * thread a transposed block of the output gradient (for y = x).  Offsets of
 * the parts in off[0..3]; 0 on overflow. */
static int ws_layout(void *ctx, int64_t t, size_t *total) {
  bl_layout *l = (bl_layout *)ctx;
  const bl_call *c = l->c;
  const int backward = l->backward;
  size_t *off = l->off;
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
  if (nothing_to_do(&c)) {
    *bytes = 0;
    return FP_OK;
  }
  bl_layout l = {&c, backward != 0, {0}};
  if (!ws_layout(&l, fp__threads_requested(params->num_threads), bytes)) return FP_ERR_OVERFLOW;
  return FP_OK;
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
    x->part[task] = c->kn->fwd_block(base, x->rs, x->cs, i0, i1, c->cy, x->ssqrt, x->sym);
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
    c->kn->scale_block(base, x->rs, x->cs, i0, i1, c->cy, 1.0 / den, x->sym);
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
    c->kn->mirror_block(base, x->rs, x->cs, i0, i1, c->dt);
  }
}

/* Forward of samples n0 .. n0+ns. */
static void forward_samples(const bl_work *w, int64_t n0, int64_t ns) {
  const bl_call *c = w->c;
  const fp_tensor *x = w->x, *y = w->y, *out = w->out, *yx = y ? y : x;
  const uint32_t fl = w->prm->flags;
  const int ssqrt = (fl & FP_BILINEAR_SIGNED_SQRT) != 0, l2 = (fl & FP_BILINEAR_L2_NORMALIZE) != 0;
  const double scale = (fl & FP_BILINEAR_AVERAGE) ? (c->p > 0 ? 1.0 / (double)c->p : 0.0) : 1.0;
  fp__gemm g;
  memset(&g, 0, sizeof(g));
  g.m = c->cx;
  g.n = c->cy;
  g.k = c->p;
  g.batch = ns;
  g.a = fp__mat_chan_pos(x, &c->xpos, n0, c->el);
  g.b = fp__mat_t(fp__mat_chan_pos(yx, &c->ypos, n0, c->el));
  g.c = fp__mat_rows(out, c->cx, c->cy, n0, c->el);
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
    c.kn->bwd_sums(bm, gp, x->grs, x->gcs, i0, i1, c.cy, x->ssqrt, &part[2 * task],
                   &part[2 * task + 1]);
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
    c.kn->bwd_block(bm, gp, grs, gcs, gt, i0, i1, c.cy, sym, x->ssqrt, x->have_b, c1, c2, eps,
                    x->scale);
  }
}

/* Backward of samples n0 .. n0+ns (sample slots 0 .. ns-1). */
static void backward_samples(const bl_work *w, int64_t n0, int64_t ns) {
  const bl_call *cp = w->c;
  const bl_call c = *cp;
  const fp_tensor *x = w->x, *y = w->y, *grad_out = w->g, *yx = y ? y : x;
  fp_tensor *dx = w->dx, *dy = w->dy;
  const int64_t t = w->nt;
  const uint32_t fl = w->prm->flags;
  const int ssqrt = (fl & FP_BILINEAR_SIGNED_SQRT) != 0, l2 = (fl & FP_BILINEAR_L2_NORMALIZE) != 0;
  const int sym = y == NULL, have_b = ssqrt || l2;
  const double eps = w->prm->eps;
  const double scale = (fl & FP_BILINEAR_AVERAGE) ? (c.p > 0 ? 1.0 / (double)c.p : 0.0) : 1.0;
  void *pack = w->pack;
  char *mats = w->mats;
  const fp__mat gm = fp__mat_rows(grad_out, c.cx, c.cy, 0, c.el);
  const int64_t grs = c.cy * grad_out->strides[1], gcs = grad_out->strides[1];

  /* the products B of these samples, into the scratch matrices */
  const fp__mat sm = fp__mat_dense(mats, c.cx, c.cy);
  fp__gemm g;
  if (have_b) {
    memset(&g, 0, sizeof(g));
    g.m = c.cx;
    g.n = c.cy;
    g.k = c.p;
    g.batch = ns;
    g.a = fp__mat_chan_pos(x, &c.xpos, n0, c.el);
    g.b = fp__mat_t(fp__mat_chan_pos(yx, &c.ypos, n0, c.el));
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
  g.b = fp__mat_chan_pos(yx, &c.ypos, n0, c.el);
  const fp__axis dxpos = fp__axis_make(dx->ndim - 2, dx->shape + 2, dx->strides + 2);
  g.c = fp__mat_chan_pos(dx, &dxpos, n0, c.el);
  g.alpha = 1.0;
  fp__gemm_run(c.dt, &g, pack, fp__threads((int32_t)t, fp__gemm_work(&g), ns * 64));
  if (dy) {
    g.m = c.cy;
    g.k = c.cx;
    g.a = fp__mat_t(sm);
    g.b = fp__mat_chan_pos(x, &c.xpos, n0, c.el);
    const fp__axis dypos = fp__axis_make(dy->ndim - 2, dy->shape + 2, dy->strides + 2);
    g.c = fp__mat_chan_pos(dy, &dypos, n0, c.el);
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
  bl_layout l = {&c, 0, {0}};
  char *ws;
  const int64_t t =
      fp__ws_threads(workspace, workspace_size, params->num_threads, ws_layout, &l, &ws);
  if (t < 1) return FP_ERR_SHAPE_MISMATCH;
  const fp_tensor *all[3] = {out, x, y};
  for (int i = 0; i < 3; i++)
    if (fp__ws_overlaps(workspace, workspace_size, all[i])) return FP_ERR_ALIASING;

  bl_work w;
  init_work(&w, &c, params, x, y, ws, l.off, t);
  w.out = out;
  const int st_ = fp__sample_threads(t < c.n ? t : c.n, c.n, c.n * sample_work(&c));
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
    fp__zero_tensor(dx);
    fp__zero_tensor(dy);
    return FP_OK;
  }
  if (!workspace) return FP_ERR_NULL_POINTER;
  bl_layout l = {&c, 1, {0}};
  char *ws;
  const int64_t t =
      fp__ws_threads(workspace, workspace_size, params->num_threads, ws_layout, &l, &ws);
  if (t < 1) return FP_ERR_SHAPE_MISMATCH;
  const fp_tensor *all[5] = {grad_out, x, y, dx, dy};
  for (int i = 0; i < 5; i++)
    if (fp__ws_overlaps(workspace, workspace_size, all[i])) return FP_ERR_ALIASING;

  bl_work w;
  init_work(&w, &c, params, x, y, ws, l.off, t);
  w.g = grad_out;
  w.dx = dx;
  w.dy = dy;
  const int st_ = fp__sample_threads(t < c.n ? t : c.n, c.n, c.n * 3 * sample_work(&c));
  if (st_ > 1) {
    /* no sum over samples: every chunk takes whole samples in its slot */
    fp__parallel(st_, c.n, bwd_samples_chunk, &w);
    return FP_OK;
  }
  const int64_t chunk = c.n < t ? c.n : t;
  for (int64_t n0 = 0; n0 < c.n; n0 += chunk) backward_samples(&w, n0, c.n - n0 < chunk ? c.n - n0 : chunk);
  return FP_OK;
}
