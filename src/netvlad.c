/* NetVLAD (Arandjelovic et al. 2016) forward and backward: argument checks,
 * workspace layout and the phases of a chunk of samples.  The products run
 * in gemm.c, the element-wise passes in netvlad_impl.h.  Per sample, with
 * X the D x P input, m_p the input norm floor and A the K x P soft
 * assignment, only K x P and K x D matrices are formed:
 *    T = W X;  a = softmax_k(T / m + b);  Ah = A / m (column-wise)
 *    V = Ah X^T - (A 1) C^T;  intra- and global normalisation
 * and backward, with dV from the two normalisations:
 *    dA = (dV X) / m - <dV_k, c_k>;  dL = softmax backward;  dLh = dL / m
 *    dW += dLh X^T;  db += dL 1;  dC -= (A 1) dV;  dx = dV^T Ah + W^T dLh,
 *    then back through the input normalisation. */
#include "fp_workspace.h"

/* exp(x) for x <= 0 (the softmax's shifted logits), vectorisable: x = n ln2
 * + r with |r| <= ln2/2 (Cody-Waite), exp(r) by its Taylor polynomial of
 * degree 13 (truncation below 1e-17 relative), times 2^n built from the
 * exponent bits.  Within 2 ulp of exp; below -708.39 (where exp is
 * subnormal) it returns 0, and NaN stays NaN. */
static inline double fp__exp_nonpos(double x) {
  const double lo = -708.39, shift = 0x1.8p52;
  const int small = x < lo;
  x = small ? 0.0 : x;
  const double t = x * 1.4426950408889634 + shift; /* n + shift, rounded to nearest */
  const double n = t - shift;
  const double r = (x - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  uint64_t tb;
  memcpy(&tb, &t, sizeof(tb));
  /* the low bits of t hold n (two's complement, |n| <= 1022) */
  const uint64_t eb = (uint64_t)((int64_t)(int32_t)(uint32_t)tb + 1023) << 52;
  double scale;
  memcpy(&scale, &eb, sizeof(scale));
  return small ? 0.0 : p * scale;
}

#define FP_IMPL "netvlad_impl.h"
#define FP_EACH_FLOAT 1
#define FP_EACH_NO_F16 1 /* float32, float64 (fp_each_dtype.h) */
#include "fp_each_dtype.h"
#undef FP_IMPL

/* By value dtype slot; float32 and float64 only. */
typedef struct nv_kernels {
  void (*norms)(const void *, int64_t, int64_t, const int64_t *, int64_t, int, double *);
  void (*softmax)(void *, int64_t, int64_t, const void *, int64_t, const double *, int64_t,
                  double *, double *, double *);
  double (*vlad_row)(void *, int64_t, int64_t, const void *, int64_t, double, double, double *);
  void (*scale_row)(void *, int64_t, int64_t, double);
  double (*dot_row)(const void *, const void *, int64_t, int64_t);
  double (*bwd_row)(void *, const void *, int64_t, int64_t, double, double, double, double,
                    const void *, int64_t);
  void (*softmax_bwd)(const void *, void *, int64_t, int64_t, const double *, const double *,
                      int64_t, double *, double *);
  void (*norm_bwd)(const void *, int64_t, const int64_t *, void *, int64_t, const int64_t *, int,
                   int64_t, int64_t, const double *, double, double *);
  void (*reduce_row)(const fp_tensor *, const fp_tensor *, const fp_tensor *, int64_t,
                     const void *, const void *, double, double, int64_t, int);
} nv_kernels;
static const nv_kernels nv_table[FP_NSLOTS] = {
#define FP_IMPL "netvlad_impl.h"
#define FP_TABLE 1 /* the rows of this table (netvlad_impl.h) */
#define FP_EACH_FLOAT 1
#define FP_EACH_NO_F16 1
#include "fp_each_dtype.h"
#undef FP_IMPL
};

/* Positions per block of the per-position passes (a fixed split: it fixes
 * the order of the partial sums over positions). */
#define NV_PB 256
/* Positions per block of the input-norm pass when positions are unit-stride. */
#define NV_NORM_PB 4096

fp_status fp_netvlad_params_init(fp_netvlad_params *params) {
  if (!params) return FP_ERR_NULL_POINTER;
  memset(params, 0, sizeof(*params));
  params->struct_size = sizeof(*params);
  params->flags = FP_NETVLAD_NORMALIZE_INPUT;
  params->eps = 1e-12;
  return FP_OK;
}

typedef struct nv_call {
  fp_dtype dt;
  size_t el;
  const nv_kernels *kn;
  int64_t n, d, k, p, features, nbp;
  fp__axis pos;
} nv_call;

/* Per-sample scratch, in elements of each part (doubles or FP_T). */
typedef struct nv_slot {
  size_t nu, l1, l2, v, spart, dbpart, kvec, dw; /* bytes */
} nv_slot;

static fp_status check_params(const fp_netvlad_params *p) {
  if (!p) return FP_ERR_NULL_POINTER;
  if (p->struct_size != sizeof(fp_netvlad_params)) return FP_ERR_STRUCT_SIZE;
  return fp__check_ws_options(p->flags, FP_NETVLAD_NORMALIZE_INPUT, p->num_threads, p->eps);
}

static fp_status check_x(const fp_tensor *x, int64_t k, nv_call *c) {
  fp_status st;
  if (!x) return FP_ERR_NULL_POINTER;
  if (k < 0) return FP_ERR_BAD_SHAPE;
  if (x->ndim < 3 || x->ndim > FP_MAX_DIMS) return FP_ERR_BAD_NDIM;
  if ((st = fp__check_tensor(x, x->ndim, NULL, 0, NULL)) != FP_OK) return st;
  const int vs = fp__dtype_slot(x->dtype);
  if (vs < 0 || !nv_table[vs].norms) return FP_ERR_UNSUPPORTED_DTYPE;
  c->dt = x->dtype;
  c->el = fp_dtype_size(x->dtype);
  c->kn = &nv_table[vs];
  c->n = x->shape[0];
  c->d = x->shape[1];
  c->k = k;
  c->p = 1;
  for (int i = 2; i < x->ndim; i++) c->p *= x->shape[i];
  if (__builtin_mul_overflow(c->k, c->d, &c->features)) return FP_ERR_OVERFLOW;
  c->nbp = (c->p + NV_PB - 1) / NV_PB;
  c->pos = fp__axis_make(x->ndim - 2, x->shape + 2, x->strides + 2);
  return FP_OK;
}

static fp_status check_params_tensors(const nv_call *c, const fp_tensor *w, const fp_tensor *b,
                                      const fp_tensor *cen) {
  fp_status st;
  const int64_t wshape[2] = {c->k, c->d}, bshape[1] = {c->k};
  if (!w || !b || !cen) return FP_ERR_NULL_POINTER;
  if ((st = fp__check_tensor(w, 2, wshape, 0, NULL)) != FP_OK) return st;
  if ((st = fp__check_tensor(b, 1, bshape, 0, NULL)) != FP_OK) return st;
  if ((st = fp__check_tensor(cen, 2, wshape, 0, NULL)) != FP_OK) return st;
  if (w->dtype != c->dt || b->dtype != c->dt || cen->dtype != c->dt) return FP_ERR_DTYPE_MISMATCH;
  return FP_OK;
}

static int slot_sizes(const nv_call *c, int backward, nv_slot *s) {
  size_t kp, kd;
  if (__builtin_mul_overflow((size_t)c->k, (size_t)c->p, &kp) ||
      __builtin_mul_overflow(kp, c->el, &kp) ||
      __builtin_mul_overflow((size_t)c->k, (size_t)c->d, &kd) ||
      __builtin_mul_overflow(kd, c->el, &kd))
    return 0;
  if ((size_t)c->p > SIZE_MAX / 16 || (size_t)c->k > SIZE_MAX / 64) return 0;
  size_t kb;
  if (__builtin_mul_overflow((size_t)c->nbp, (size_t)c->k * sizeof(double), &kb)) return 0;
  s->nu = (size_t)c->p * sizeof(double);
  s->l1 = kp;
  s->l2 = backward ? kp : 0;
  s->v = backward ? kd : 0;
  s->spart = kb;
  s->dbpart = backward ? kb : 0;
  s->kvec = (size_t)c->k * sizeof(double) * 5; /* s, rho, r, ||U_k||^2, <U_k, G_k> */
  s->dw = backward ? kd : 0;                     /* the sample's weight gradient */
  return 1;
}

/* A call's workspace layout (an fp__ws_layout_fn ctx): the parts' offsets,
 * the samples per chunk and a slot's parts. */
typedef struct nv_layout {
  const nv_call *c;
  int backward;
  size_t off[9];
  int64_t chunk;
  nv_slot s;
} nv_layout;

/* Workspace for t threads: t packing buffers, then the parts of
 * min(N, t) sample slots, each part for all slots together. */
static int ws_layout(void *ctx, int64_t t, size_t *total) {
  nv_layout *l = (nv_layout *)ctx;
  const nv_call *c = l->c;
  size_t *off = l->off;
  int64_t *chunk = &l->chunk;
  nv_slot *s = &l->s;
  size_t used = 0, bytes;
  *chunk = c->n < t ? c->n : t;
  if (!slot_sizes(c, l->backward, s)) return 0;
  const size_t parts[8] = {s->nu, s->l1, s->l2, s->v, s->spart, s->dbpart, s->kvec, s->dw};
  if (__builtin_mul_overflow((size_t)t, fp__gemm_pack_bytes(c->dt), &bytes) ||
      !fp__ws_take(&used, bytes, &off[0]))
    return 0;
  for (int i = 0; i < 8; i++)
    if (__builtin_mul_overflow((size_t)*chunk, parts[i], &bytes) ||
        !fp__ws_take(&used, bytes, &off[i + 1]))
      return 0;
  *total = used + FP__WS_SLACK;
  return 1;
}

fp_status fp_netvlad_workspace_size(const fp_netvlad_params *params, const fp_tensor *x,
                                    int64_t num_clusters, int backward, size_t *bytes) {
  nv_call c;
  fp_status st;
  if ((st = check_params(params)) != FP_OK) return st;
  if (!bytes) return FP_ERR_NULL_POINTER;
  if ((st = check_x(x, num_clusters, &c)) != FP_OK) return st;
  if (c.n == 0 || c.features == 0) {
    *bytes = 0;
    return FP_OK;
  }
  nv_layout l;
  memset(&l, 0, sizeof(l));
  l.c = &c;
  l.backward = backward != 0;
  if (!ws_layout(&l, fp__threads_requested(params->num_threads), bytes)) return FP_ERR_OVERFLOW;
  return FP_OK;
}

static fp__mat mat2(const fp_tensor *t) {
  fp__mat m;
  m.data = t->data;
  m.r = fp__axis_simple(t->shape[0], t->strides[0]);
  m.c = fp__axis_simple(t->shape[1], t->strides[1]);
  m.bs = 0;
  return m;
}

/* Everything the forward passes need, shared by forward and backward: for
 * the samples n0 .. n0+ns, the input norms (nu), the soft assignment Ah
 * (l1, K x P per slot), the partial sums of A over position blocks (spart)
 * and V = Ah X^T (into vm: the output, or the backward's scratch). */
/* One call's tensors and scratch.  pack holds packing buffers for nt
 * threads; the other scratch pointers are slot 0 of per-sample slots (slot s
 * for the s-th sample the phase functions are given). */
typedef struct nv_work {
  const nv_call *c;
  const fp_netvlad_params *prm;
  const fp_tensor *x, *w, *b, *cen;
  char *pack;
  double *nu, *spart, *dbpart, *kvec;
  char *l1, *l2, *v, *dw;
  int nt;
} nv_work;

/* The scratch of slot i alone, for one thread running its samples serially. */
static nv_work slot_work(const nv_work *wk, int64_t i) {
  const nv_call *c = wk->c;
  const int64_t el = (int64_t)c->el;
  nv_work s = *wk;
  s.pack = wk->pack + (size_t)i * fp__gemm_pack_bytes(c->dt);
  s.nu = wk->nu + i * c->p;
  s.spart = wk->spart + i * c->nbp * c->k;
  s.dbpart = wk->dbpart + i * c->nbp * c->k;
  s.kvec = wk->kvec + i * 5 * c->k;
  s.l1 = wk->l1 + i * c->k * c->p * el;
  s.l2 = wk->l2 + i * c->k * c->p * el;
  s.v = wk->v + i * c->features * el;
  s.dw = wk->dw + i * c->features * el;
  s.nt = 1;
  return s;
}

/* The input norm floors m_p = max(nu_p, eps) of a block of positions (1
 * without input normalisation). */
static void block_floors(const nv_work *wk, int64_t s, int64_t p0, int64_t pn, double *m) {
  const nv_call *c = wk->c;
  const int norm = (wk->prm->flags & FP_NETVLAD_NORMALIZE_INPUT) != 0;
  const double eps = wk->prm->eps;
  for (int64_t p = 0; p < pn; p++) {
    const double nu = norm ? wk->nu[s * c->p + p0 + p] : 1.0;
    m[p] = norm ? fp__norm_floor(nu, eps) : 1.0;
  }
}

/* The forward's per-position passes over tasks (sample slot task / nb,
 * position block task % nb of pb positions). */
typedef struct nv_fwd_ctx {
  const nv_work *wk;
  int64_t n0, pb, nb;
  int punit;
} nv_fwd_ctx;

/* The input norms. */
static void norms_chunk(void *ctx, int64_t begin, int64_t end, int slot) {
  const nv_fwd_ctx *cx = (const nv_fwd_ctx *)ctx;
  const nv_work *wk = cx->wk;
  const nv_call *c = wk->c;
  const fp_tensor *x = wk->x;
  const int64_t pb = cx->pb, nb = cx->nb;
  const int punit = cx->punit;
  (void)slot;
  for (int64_t task = begin; task < end; task++) {
    const int64_t s = task / nb, p0 = (task % nb) * pb;
    const int64_t pn = c->p - p0 < pb ? c->p - p0 : pb;
    int64_t poff[NV_PB];
    fp__axis_offsets(&c->pos, p0, punit ? 1 : pn, poff);
    const char *xs = (const char *)x->data + (cx->n0 + s) * x->strides[0] * (int64_t)c->el;
    c->kn->norms(xs, x->strides[1], c->d, poff, pn, punit, wk->nu + s * c->p + p0);
  }
}

/* The softmax over the clusters (blocks of NV_PB positions). */
static void softmax_chunk(void *ctx, int64_t begin, int64_t end, int slot) {
  const nv_fwd_ctx *cx = (const nv_fwd_ctx *)ctx;
  const nv_work *wk = cx->wk;
  const nv_call *c = wk->c;
  (void)slot;
  for (int64_t task = begin; task < end; task++) {
    const int64_t s = task / c->nbp, blk = task % c->nbp, p0 = blk * NV_PB;
    const int64_t pn = c->p - p0 < NV_PB ? c->p - p0 : NV_PB;
    double m[NV_PB], mx[NV_PB], sum[NV_PB];
    block_floors(wk, s, p0, pn, m);
    char *l = wk->l1 + (s * c->k * c->p + p0) * (int64_t)c->el;
    c->kn->softmax(l, c->p, c->k, wk->b->data, wk->b->strides[0], m, pn,
                   wk->spart + (s * c->nbp + blk) * c->k, mx, sum);
  }
}

static void forward_chunk(const nv_work *wk, int64_t n0, int64_t ns, const fp__mat *vm) {
  const nv_call *c = wk->c;
  const fp_tensor *x = wk->x;
  const int norm = (wk->prm->flags & FP_NETVLAD_NORMALIZE_INPUT) != 0;
  const int64_t tasks = ns * c->nbp;
  const int punit = c->pos.n == 1 && c->pos.str[0] == 1;
  int nt = fp__threads(wk->nt, ns * c->p * (c->d + 1), tasks);
  nv_fwd_ctx ctx;
  ctx.wk = wk;
  ctx.n0 = n0;
  ctx.punit = punit;
  if (norm) {
    /* unit-stride positions: long blocks, so that every channel row is read
     * as one long stream (the norms are per position, any split gives the
     * same values) */
    ctx.pb = punit ? NV_NORM_PB : NV_PB;
    ctx.nb = (c->p + ctx.pb - 1) / ctx.pb;
    fp__parallel(nt, ns * ctx.nb, norms_chunk, &ctx);
  }
  /* T = W X */
  fp__gemm g;
  memset(&g, 0, sizeof(g));
  g.m = c->k;
  g.n = c->p;
  g.k = c->d;
  g.batch = ns;
  g.a = mat2(wk->w);
  g.b = fp__mat_chan_pos(x, &c->pos, n0, c->el);
  g.c = fp__mat_dense(wk->l1, c->k, c->p);
  g.alpha = 1.0;
  fp__gemm_run(c->dt, &g, wk->pack, fp__threads(wk->nt, fp__gemm_work(&g), tasks * 64));
  /* softmax over the clusters, position block by block */
  nt = fp__threads(wk->nt, ns * c->p * c->k * 16, tasks);
  fp__parallel(nt, tasks, softmax_chunk, &ctx);
  /* V = Ah X^T */
  memset(&g, 0, sizeof(g));
  g.m = c->k;
  g.n = c->d;
  g.k = c->p;
  g.batch = ns;
  g.a = fp__mat_dense(wk->l1, c->k, c->p);
  g.b = fp__mat_t(fp__mat_chan_pos(x, &c->pos, n0, c->el));
  g.c = *vm;
  g.alpha = 1.0;
  fp__gemm_run(c->dt, &g, wk->pack, fp__threads(wk->nt, fp__gemm_work(&g), tasks * 64));
}

/* kvec layout per slot: [0, K) s_k, [K, 2K) rho_k, [2K, 3K) r_k,
 * [3K, 4K) ||U_k||^2, [4K, 5K) <U_k, G_k>. */

typedef struct nv_rows_ctx {
  const nv_work *wk;
  int64_t n0;
  const fp__mat *vm;
  const fp_tensor *grad;
} nv_rows_ctx;

/* Rows over tasks (sample slot task / K, cluster task % K). */
static void vlad_rows_chunk(void *ctx, int64_t begin, int64_t end, int slot) {
  const nv_rows_ctx *cx = (const nv_rows_ctx *)ctx;
  const nv_work *wk = cx->wk;
  const nv_call *c = wk->c;
  const int64_t n0 = cx->n0;
  const fp__mat *vm = cx->vm;
  const fp_tensor *grad = cx->grad;
  const double eps = wk->prm->eps;
  (void)slot;
  for (int64_t task = begin; task < end; task++) {
    const int64_t s = task / c->k, k = task % c->k;
    double *kv = wk->kvec + s * 5 * c->k;
    double sk = 0;
    for (int64_t b = 0; b < c->nbp; b++) sk += wk->spart[(s * c->nbp + b) * c->k + k];
    char *row = (char *)vm->data + (s * vm->bs + k * vm->r.str[0]) * (int64_t)c->el;
    const char *cen = (const char *)wk->cen->data + k * wk->cen->strides[0] * (int64_t)c->el;
    double rho;
    kv[k] = sk;
    kv[3 * c->k + k] =
        c->kn->vlad_row(row, vm->c.str[0], c->d, cen, wk->cen->strides[1], sk, eps, &rho);
    kv[c->k + k] = rho;
    if (grad) {
      const char *g = (const char *)grad->data +
                      ((n0 + s) * grad->strides[0] + k * c->d * grad->strides[1]) * (int64_t)c->el;
      kv[4 * c->k + k] = c->kn->dot_row(row, g, grad->strides[1], c->d);
    }
  }
}

/* The VLAD rows: subtract (A 1) C, intra-normalise; ||U_k||^2 (and, with
 * grad, <U_k, G_k>) per row. */
static void vlad_rows(const nv_work *wk, int64_t n0, int64_t ns, const fp__mat *vm,
                      const fp_tensor *grad) {
  const nv_call *c = wk->c;
  const int64_t tasks = ns * c->k;
  const int nt = fp__threads(wk->nt, ns * c->features * 4, tasks);
  nv_rows_ctx ctx;
  ctx.wk = wk;
  ctx.n0 = n0;
  ctx.vm = vm;
  ctx.grad = grad;
  fp__parallel(nt, tasks, vlad_rows_chunk, &ctx);
}

/* The global normalisation over tasks (sample slot task / K, cluster
 * task % K) of the rows of ctx, an nv_rows_ctx. */
static void global_scale_chunk(void *ctx, int64_t begin, int64_t end, int slot) {
  const nv_rows_ctx *cx = (const nv_rows_ctx *)ctx;
  const nv_work *wk = cx->wk;
  const nv_call *c = wk->c;
  const fp__mat *vm = cx->vm;
  const double eps = wk->prm->eps;
  (void)slot;
  for (int64_t task = begin; task < end; task++) {
    const int64_t s = task / c->k, k = task % c->k;
    const double *uu = wk->kvec + s * 5 * c->k + 3 * c->k;
    double ss = 0;
    for (int64_t j = 0; j < c->k; j++) ss += uu[j];
    const double den = fp__norm_floor(sqrt(ss), eps);
    char *row = (char *)vm->data + (s * vm->bs + k * vm->r.str[0]) * (int64_t)c->el;
    c->kn->scale_row(row, vm->c.str[0], c->d, 1.0 / den);
  }
}

/* Forward of samples n0 .. n0+ns (slots 0 .. ns-1) into out. */
static void forward_samples(const nv_work *wk, int64_t n0, int64_t ns, const fp_tensor *out) {
  const nv_call *c = wk->c;
  const fp__mat vm = fp__mat_rows(out, c->k, c->d, n0, c->el);
  forward_chunk(wk, n0, ns, &vm);
  vlad_rows(wk, n0, ns, &vm, NULL);
  const int64_t tasks = ns * c->k;
  const int nt = fp__threads(wk->nt, ns * c->features, tasks);
  nv_rows_ctx ctx;
  ctx.wk = wk;
  ctx.n0 = n0;
  ctx.vm = &vm;
  ctx.grad = NULL;
  fp__parallel(nt, tasks, global_scale_chunk, &ctx);
}

/* The backward's element-wise passes of the samples n0 .. (slots 0 ..). */
typedef struct nv_bwd_ctx {
  const nv_work *wk;
  int64_t n0;
  const fp_tensor *grad_out, *dx;
  const fp__axis *dxpos;
  int units;
} nv_bwd_ctx;

/* dV of tasks [begin, end) (sample slot task / K, cluster task % K). */
static void dv_rows_chunk(void *ctx, int64_t begin, int64_t end, int slot) {
  const nv_bwd_ctx *cx = (const nv_bwd_ctx *)ctx;
  const nv_work *wk = cx->wk;
  const nv_call *c = wk->c;
  const size_t el = c->el;
  const double eps = wk->prm->eps;
  const int64_t n0 = cx->n0;
  const fp_tensor *grad_out = cx->grad_out;
  (void)slot;
  for (int64_t task = begin; task < end; task++) {
    const int64_t s = task / c->k, k = task % c->k;
    double *kv = wk->kvec + s * 5 * c->k;
    double uu = 0, ug = 0;
    for (int64_t j = 0; j < c->k; j++) {
      uu += kv[3 * c->k + j];
      ug += kv[4 * c->k + j];
    }
    /* the global normalisation: Z = U / max(tau, eps) */
    const double tau = sqrt(uu);
    double cg1 = 0, cg2;
    if (fp__norm_through(tau, eps)) {
      cg1 = ug / (tau * tau);
      cg2 = 1.0 / tau;
    } else {
      cg2 = 1.0 / eps;
    }
    char *row = wk->v + (s * c->features + k * c->d) * (int64_t)el;
    const char *g = (const char *)grad_out->data +
                    ((n0 + s) * grad_out->strides[0] + k * c->d * grad_out->strides[1]) * (int64_t)el;
    const char *cen = (const char *)wk->cen->data + k * wk->cen->strides[0] * (int64_t)el;
    kv[2 * c->k + k] = c->kn->bwd_row(row, g, grad_out->strides[1], c->d, cg1, cg2, kv[c->k + k],
                                      eps, cen, wk->cen->strides[1]);
  }
}

/* The softmax backward of tasks [begin, end) (sample slot task / nbp,
 * position block task % nbp). */
static void softmax_bwd_chunk(void *ctx, int64_t begin, int64_t end, int slot) {
  const nv_bwd_ctx *cx = (const nv_bwd_ctx *)ctx;
  const nv_work *wk = cx->wk;
  const nv_call *c = wk->c;
  const size_t el = c->el;
  (void)slot;
  for (int64_t task = begin; task < end; task++) {
    const int64_t s = task / c->nbp, blk = task % c->nbp, p0 = blk * NV_PB;
    const int64_t pn = c->p - p0 < NV_PB ? c->p - p0 : NV_PB;
    double m[NV_PB], sig[NV_PB];
    block_floors(wk, s, p0, pn, m);
    const char *ah = wk->l1 + (s * c->k * c->p + p0) * (int64_t)el;
    char *gl = wk->l2 + (s * c->k * c->p + p0) * (int64_t)el;
    c->kn->softmax_bwd(ah, gl, c->p, c->k, wk->kvec + s * 5 * c->k + 2 * c->k, m, pn,
                       wk->dbpart + (s * c->nbp + blk) * c->k, sig);
  }
}

/* The input normalisation's backward of tasks [begin, end) (sample slot
 * task / nbp, position block task % nbp). */
static void norm_bwd_chunk(void *ctx, int64_t begin, int64_t end, int slot) {
  const nv_bwd_ctx *cx = (const nv_bwd_ctx *)ctx;
  const nv_work *wk = cx->wk;
  const nv_call *c = wk->c;
  const size_t el = c->el;
  const double eps = wk->prm->eps;
  const int64_t n0 = cx->n0;
  const fp_tensor *x = wk->x, *dx = cx->dx;
  const fp__axis *dxpos = cx->dxpos;
  const int units = cx->units;
  (void)slot;
  for (int64_t task = begin; task < end; task++) {
    const int64_t s = task / c->nbp, p0 = (task % c->nbp) * NV_PB;
    const int64_t pn = c->p - p0 < NV_PB ? c->p - p0 : NV_PB;
    int64_t xoff[NV_PB], qoff[NV_PB];
    double dot[NV_PB];
    fp__axis_offsets(&c->pos, p0, pn, xoff);
    fp__axis_offsets(dxpos, p0, pn, qoff);
    const char *xs = (const char *)x->data + (n0 + s) * x->strides[0] * (int64_t)el;
    char *qs = (char *)dx->data + (n0 + s) * dx->strides[0] * (int64_t)el;
    c->kn->norm_bwd(xs, x->strides[1], xoff, qs, dx->strides[1], qoff, units, c->d, pn,
                    wk->nu + s * c->p + p0, eps, dot);
  }
}

/* Backward of samples n0 .. n0+ns (slots 0 .. ns-1): dx (when not NULL),
 * and in each slot what the parameter gradients need: dV (v), the partial
 * sums of dL (dbpart), s_k (kvec) and, with want_dw, the sample's dW (dw). */
static void backward_samples(const nv_work *wk, int64_t n0, int64_t ns, const fp_tensor *grad_out,
                             fp_tensor *dx, int want_dw) {
  const nv_call *c = wk->c;
  const fp_tensor *x = wk->x;
  const size_t el = c->el;
  const int norm = (wk->prm->flags & FP_NETVLAD_NORMALIZE_INPUT) != 0;
  const fp__mat vm = fp__mat_dense(wk->v, c->k, c->d);
  forward_chunk(wk, n0, ns, &vm);
  vlad_rows(wk, n0, ns, &vm, grad_out);

  /* dV, row by row, in place of U; r_k = <dV_k, c_k> */
  int64_t tasks = ns * c->k;
  int nt = fp__threads(wk->nt, ns * c->features * 6, tasks);
  nv_bwd_ctx ctx;
  ctx.wk = wk;
  ctx.n0 = n0;
  ctx.grad_out = grad_out;
  ctx.dx = dx;
  ctx.dxpos = NULL;
  ctx.units = 0;
  fp__parallel(nt, tasks, dv_rows_chunk, &ctx);
  /* dA' = dV X, into l2 */
  fp__gemm g;
  memset(&g, 0, sizeof(g));
  g.m = c->k;
  g.n = c->p;
  g.k = c->d;
  g.batch = ns;
  g.a = fp__mat_dense(wk->v, c->k, c->d);
  g.b = fp__mat_chan_pos(x, &c->pos, n0, el);
  g.c = fp__mat_dense(wk->l2, c->k, c->p);
  g.alpha = 1.0;
  fp__gemm_run(c->dt, &g, wk->pack, fp__threads(wk->nt, fp__gemm_work(&g), ns * 64));
  /* back through the softmax: l2 = dL / m, dbpart */
  tasks = ns * c->nbp;
  nt = fp__threads(wk->nt, ns * c->p * c->k * 8, tasks);
  fp__parallel(nt, tasks, softmax_bwd_chunk, &ctx);
  /* the samples' dW = dLh X^T, each into its slot */
  if (want_dw) {
    memset(&g, 0, sizeof(g));
    g.m = c->k;
    g.n = c->d;
    g.k = c->p;
    g.batch = ns;
    g.a = fp__mat_dense(wk->l2, c->k, c->p);
    g.b = fp__mat_t(fp__mat_chan_pos(x, &c->pos, n0, el));
    g.c = fp__mat_dense(wk->dw, c->k, c->d);
    g.alpha = 1.0;
    fp__gemm_run(c->dt, &g, wk->pack, fp__threads(wk->nt, fp__gemm_work(&g), ns * 64));
  }
  if (!dx) return;
  /* q = dV^T Ah + W^T dLh, then back through the input normalisation */
  const fp__axis dxpos = fp__axis_make(dx->ndim - 2, dx->shape + 2, dx->strides + 2);
  memset(&g, 0, sizeof(g));
  g.m = c->d;
  g.n = c->p;
  g.k = c->k;
  g.batch = ns;
  g.a = fp__mat_t(fp__mat_dense(wk->v, c->k, c->d));
  g.b = fp__mat_dense(wk->l1, c->k, c->p);
  g.c = fp__mat_chan_pos(dx, &dxpos, n0, el);
  g.alpha = 1.0;
  fp__gemm_run(c->dt, &g, wk->pack, fp__threads(wk->nt, fp__gemm_work(&g), ns * 64));
  g.a = fp__mat_t(mat2(wk->w));
  g.b = fp__mat_dense(wk->l2, c->k, c->p);
  g.accumulate = 1;
  fp__gemm_run(c->dt, &g, wk->pack, fp__threads(wk->nt, fp__gemm_work(&g), ns * 64));
  if (!norm) return;
  const int units = c->pos.n == 1 && c->pos.str[0] == 1 && dxpos.n == 1 && dxpos.str[0] == 1;
  tasks = ns * c->nbp;
  nt = fp__threads(wk->nt, ns * c->p * c->d * 4, tasks);
  ctx.dxpos = &dxpos;
  ctx.units = units;
  fp__parallel(nt, tasks, norm_bwd_chunk, &ctx);
}

typedef struct nv_reduce_ctx {
  const nv_work *wk;
  int64_t n0, ns;
  fp_tensor *dw, *db, *dc;
} nv_reduce_ctx;

/* Clusters [begin, end): row k of each gradient, over the samples in order. */
static void reduce_chunk(void *ctx, int64_t begin, int64_t end, int slot) {
  const nv_reduce_ctx *cx = (const nv_reduce_ctx *)ctx;
  const nv_work *wk = cx->wk;
  const nv_call *c = wk->c;
  const int64_t el = (int64_t)c->el, n0 = cx->n0, ns = cx->ns;
  fp_tensor *dw = cx->dw, *db = cx->db, *dc = cx->dc;
  (void)slot;
  for (int64_t k = begin; k < end; k++) {
    for (int64_t s = 0; s < ns; s++) {
      const int first = n0 == 0 && s == 0;
      const double sk = wk->kvec[s * 5 * c->k + k];
      const char *dv = wk->v + (s * c->features + k * c->d) * el;
      const char *dws = wk->dw + (s * c->features + k * c->d) * el;
      double dbs = 0;
      for (int64_t b = 0; b < c->nbp; b++) dbs += wk->dbpart[(s * c->nbp + b) * c->k + k];
      c->kn->reduce_row(dw, db, dc, k, dv, dws, sk, dbs, c->d, first);
    }
  }
}

/* The parameter gradients of samples n0 .. n0+ns (slots 0 .. ns-1) added to
 * dweight, dbias and dcentroids one sample at a time, in sample order (the
 * first sample of the call assigns): the sums do not depend on how samples
 * were grouped or threaded. */
static void reduce_params(const nv_work *wk, int64_t n0, int64_t ns, fp_tensor *dw, fp_tensor *db,
                          fp_tensor *dc, int t) {
  const nv_call *c = wk->c;
  const int nt = fp__threads(t, ns * c->features * 3, c->k);
  nv_reduce_ctx ctx;
  ctx.wk = wk;
  ctx.n0 = n0;
  ctx.ns = ns;
  ctx.dw = dw;
  ctx.db = db;
  ctx.dc = dc;
  fp__parallel(nt, c->k, reduce_chunk, &ctx);
}

static void init_work(nv_work *wk, const nv_call *c, const fp_netvlad_params *params,
                      const fp_tensor *x, const fp_tensor *w, const fp_tensor *b,
                      const fp_tensor *cen, char *ws, const size_t off[9], int64_t t) {
  memset(wk, 0, sizeof(*wk));
  wk->c = c;
  wk->prm = params;
  wk->x = x;
  wk->w = w;
  wk->b = b;
  wk->cen = cen;
  wk->pack = ws + off[0];
  wk->nu = (double *)(ws + off[1]);
  wk->l1 = ws + off[2];
  wk->l2 = ws + off[3];
  wk->v = ws + off[4];
  wk->spart = (double *)(ws + off[5]);
  wk->dbpart = (double *)(ws + off[6]);
  wk->kvec = (double *)(ws + off[7]);
  wk->dw = ws + off[8];
  wk->nt = (int)t;
}

/* Multiply-adds of one sample's forward. */
static int64_t sample_work(const nv_call *c) { return 2 * c->k * c->d * (c->p + 1) + c->k * c->p * 16; }

typedef struct nv_samples_ctx {
  const nv_work *wk;
  int64_t n0;
  const fp_tensor *out, *grad_out;
  fp_tensor *dx;
  int want_dw;
} nv_samples_ctx;

/* Forward of whole samples [begin, end), in the scratch of slot `slot`. */
static void fwd_samples_chunk(void *ctx, int64_t begin, int64_t end, int slot) {
  const nv_samples_ctx *cx = (const nv_samples_ctx *)ctx;
  const nv_work mine = slot_work(cx->wk, slot);
  for (int64_t n = begin; n < end; n++) forward_samples(&mine, n, 1, cx->out);
}

/* Backward of the samples n0 + [begin, end), sample i in slot i. */
static void bwd_samples_chunk(void *ctx, int64_t begin, int64_t end, int slot) {
  const nv_samples_ctx *cx = (const nv_samples_ctx *)ctx;
  (void)slot;
  for (int64_t i = begin; i < end; i++) {
    const nv_work mine = slot_work(cx->wk, i);
    backward_samples(&mine, cx->n0 + i, 1, cx->grad_out, cx->dx, cx->want_dw);
  }
}

fp_status fp_netvlad_forward(const fp_netvlad_params *params, const fp_tensor *x,
                             const fp_tensor *weight, const fp_tensor *bias,
                             const fp_tensor *centroids, fp_tensor *out, void *workspace,
                             size_t workspace_size) {
  nv_call c;
  fp_status st;
  if ((st = check_params(params)) != FP_OK) return st;
  if (!weight) return FP_ERR_NULL_POINTER;
  if (weight->ndim != 2) return FP_ERR_BAD_NDIM;
  if ((st = check_x(x, weight->shape[0], &c)) != FP_OK) return st;
  if ((st = check_params_tensors(&c, weight, bias, centroids)) != FP_OK) return st;
  if (!out) return FP_ERR_NULL_POINTER;
  const int64_t oshape[2] = {c.n, c.features};
  if ((st = fp__check_tensor(out, 2, oshape, 1, NULL)) != FP_OK) return st;
  if (out->dtype != c.dt) return FP_ERR_DTYPE_MISMATCH;
  if (fp__tensors_overlap(out, x) || fp__tensors_overlap(out, weight) ||
      fp__tensors_overlap(out, bias) || fp__tensors_overlap(out, centroids))
    return FP_ERR_ALIASING;
  if (c.n == 0 || c.features == 0) return FP_OK;
  if (!workspace) return FP_ERR_NULL_POINTER;
  nv_layout l;
  memset(&l, 0, sizeof(l));
  l.c = &c;
  char *ws;
  const int64_t t =
      fp__ws_threads(workspace, workspace_size, params->num_threads, ws_layout, &l, &ws);
  if (t < 1) return FP_ERR_SHAPE_MISMATCH;
  const int64_t chunk = l.chunk;
  const fp_tensor *all[5] = {x, weight, bias, centroids, out};
  for (int i = 0; i < 5; i++)
    if (fp__ws_overlaps(workspace, workspace_size, all[i])) return FP_ERR_ALIASING;

  nv_work wk;
  init_work(&wk, &c, params, x, weight, bias, centroids, ws, l.off, t);
  const int st_ = fp__sample_threads(t < c.n ? t : c.n, c.n, c.n * sample_work(&c));
  if (st_ > 1) {
    nv_samples_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.wk = &wk;
    ctx.out = out;
    fp__parallel(st_, c.n, fwd_samples_chunk, &ctx);
    return FP_OK;
  }
  for (int64_t n0 = 0; n0 < c.n; n0 += chunk)
    forward_samples(&wk, n0, c.n - n0 < chunk ? c.n - n0 : chunk, out);
  return FP_OK;
}

fp_status fp_netvlad_backward(const fp_netvlad_params *params, const fp_tensor *grad_out,
                              const fp_tensor *x, const fp_tensor *weight, const fp_tensor *bias,
                              const fp_tensor *centroids, fp_tensor *dx, fp_tensor *dweight,
                              fp_tensor *dbias, fp_tensor *dcentroids, void *workspace,
                              size_t workspace_size) {
  nv_call c;
  fp_status st;
  if ((st = check_params(params)) != FP_OK) return st;
  if (!weight) return FP_ERR_NULL_POINTER;
  if (weight->ndim != 2) return FP_ERR_BAD_NDIM;
  if ((st = check_x(x, weight->shape[0], &c)) != FP_OK) return st;
  if ((st = check_params_tensors(&c, weight, bias, centroids)) != FP_OK) return st;
  if (!grad_out) return FP_ERR_NULL_POINTER;
  const int64_t gshape[2] = {c.n, c.features}, wshape[2] = {c.k, c.d}, bshape[1] = {c.k};
  if ((st = fp__check_tensor(grad_out, 2, gshape, 0, NULL)) != FP_OK) return st;
  if (dx && (st = fp__check_tensor(dx, x->ndim, x->shape, 1, NULL)) != FP_OK) return st;
  if (dweight && (st = fp__check_tensor(dweight, 2, wshape, 1, NULL)) != FP_OK) return st;
  if (dbias && (st = fp__check_tensor(dbias, 1, bshape, 1, NULL)) != FP_OK) return st;
  if (dcentroids && (st = fp__check_tensor(dcentroids, 2, wshape, 1, NULL)) != FP_OK) return st;
  fp_tensor *outs[4] = {dx, dweight, dbias, dcentroids};
  const fp_tensor *ins[5] = {grad_out, x, weight, bias, centroids};
  for (int i = 0; i < 4; i++) {
    if (!outs[i]) continue;
    if (outs[i]->dtype != c.dt) return FP_ERR_DTYPE_MISMATCH;
    for (int j = 0; j < 5; j++)
      if (fp__tensors_overlap(outs[i], ins[j])) return FP_ERR_ALIASING;
    for (int j = 0; j < i; j++)
      if (outs[j] && fp__tensors_overlap(outs[i], outs[j])) return FP_ERR_ALIASING;
  }
  if (grad_out->dtype != c.dt) return FP_ERR_DTYPE_MISMATCH;
  if (c.n == 0) {
    /* gradients summed over an empty batch */
    fp__zero_tensor(dweight);
    fp__zero_tensor(dbias);
    fp__zero_tensor(dcentroids);
    return FP_OK;
  }
  if (c.features == 0) {
    for (int i = 0; i < 4; i++) fp__zero_tensor(outs[i]);
    return FP_OK;
  }
  if (!workspace) return FP_ERR_NULL_POINTER;
  nv_layout l;
  memset(&l, 0, sizeof(l));
  l.c = &c;
  l.backward = 1;
  char *ws;
  const int64_t t =
      fp__ws_threads(workspace, workspace_size, params->num_threads, ws_layout, &l, &ws);
  if (t < 1) return FP_ERR_SHAPE_MISMATCH;
  const int64_t chunk = l.chunk;
  for (int i = 0; i < 5; i++)
    if (fp__ws_overlaps(workspace, workspace_size, ins[i])) return FP_ERR_ALIASING;
  for (int i = 0; i < 4; i++)
    if (fp__ws_overlaps(workspace, workspace_size, outs[i])) return FP_ERR_ALIASING;

  nv_work wk;
  init_work(&wk, &c, params, x, weight, bias, centroids, ws, l.off, t);
  for (int64_t n0 = 0; n0 < c.n; n0 += chunk) {
    const int64_t ns = c.n - n0 < chunk ? c.n - n0 : chunk;
    const int st_ = fp__sample_threads(ns, ns, ns * 3 * sample_work(&c));
    if (st_ > 1) {
      /* one sample per slot, the slots shared out to the threads */
      nv_samples_ctx ctx;
      memset(&ctx, 0, sizeof(ctx));
      ctx.wk = &wk;
      ctx.n0 = n0;
      ctx.grad_out = grad_out;
      ctx.dx = dx;
      ctx.want_dw = dweight != NULL;
      fp__parallel(st_, ns, bwd_samples_chunk, &ctx);
    } else {
      backward_samples(&wk, n0, ns, grad_out, dx, dweight != NULL);
    }
    if (dweight || dbias || dcentroids) reduce_params(&wk, n0, ns, dweight, dbias, dcentroids, (int)t);
  }
  return FP_OK;
}
