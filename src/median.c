/* Median pooling operator: argument checks, the sorting network of a call,
 * kernel choice and threading (rules in fastpool.h). */
#include "fp_internal.h"

/* Windows with more valid cells than this are selected without a copy. */
#define FP_MED_STACK 4096
/* The sorting-network path: windows of up to this many cells, this many
 * outputs (or channels) at a time. */
#define FP_MED_NET_MAX 32
#define FP_MED_TILE 32
#define FP_MED_NET_CMP 256
#define FP_MED_NEED_LO 1
#define FP_MED_NEED_HI 2

/* Compare-exchange pairs (a[c] < b[c]) that leave the klo-th / khi-th
 * smallest of m cells at positions klo / khi. */
typedef struct fp__median_net {
  int m, ncmp, klo, khi;
  uint8_t a[FP_MED_NET_CMP], b[FP_MED_NET_CMP];
} fp__median_net;

/* Batcher's odd-even merge sort for the next power of two >= m, with the
 * comparators that touch a position >= m dropped (those positions hold
 * +inf, so the dropped pairs never swap), then pruned backwards to the ones
 * the needed positions depend on. */
static void build_net(fp__median_net *net, int m, int need) {
  int n = 1, nc = 0;
  int ca[FP_MED_NET_CMP], cb[FP_MED_NET_CMP];
  while (n < m) n <<= 1;
  for (int p = 1; p < n; p <<= 1)
    for (int k = p; k >= 1; k >>= 1)
      for (int j = k % p; j + k < n; j += 2 * k)
        for (int i = 0; i < k && i + j + k < n; i++)
          if ((i + j) / (2 * p) == (i + j + k) / (2 * p) && i + j + k < m) {
            ca[nc] = i + j;
            cb[nc] = i + j + k;
            nc++;
          }
  net->m = m;
  net->klo = (m - 1) / 2;
  net->khi = m / 2;
  int live[FP_MED_NET_MAX] = {0}, keep[FP_MED_NET_CMP];
  if (need & FP_MED_NEED_LO) live[net->klo] = 1;
  if (need & FP_MED_NEED_HI) live[net->khi] = 1;
  for (int c = nc - 1; c >= 0; c--) {
    keep[c] = live[ca[c]] | live[cb[c]];
    if (keep[c]) live[ca[c]] = live[cb[c]] = 1;
  }
  net->ncmp = 0;
  for (int c = 0; c < nc; c++)
    if (keep[c]) {
      net->a[net->ncmp] = (uint8_t)ca[c];
      net->b[net->ncmp] = (uint8_t)cb[c];
      net->ncmp++;
    }
}

#define FP_IMPL "median_impl.h"
#include "fp_each_dtype.h"
#undef FP_IMPL

typedef void (*fp__med_fwd_fn)(const fp__geom *, const fp__median_net *, int, const void *,
                               const fp__strides *, void *, const fp__strides *, int, void *,
                               const fp__strides *, int, int);
typedef void (*fp__med_bwd_fn)(const fp__geom *, const fp__median_net *, int, const void *,
                               const fp__strides *, const void *, const fp__strides *, void *,
                               const fp__strides *, int);

/* By value dtype slot: forward for every dtype, backward for floating ones. */
static const struct {
  fp__med_fwd_fn rows, cinner;
  fp__med_bwd_fn bwd;
} med_kernels[FP_NSLOTS] = {
#define FP_IMPL "median_table.h"
#define FP_TABLE 1 /* an initializer: no target pragmas (fp_each_dtype.h) */
#include "fp_each_dtype.h"
#undef FP_IMPL
};

static int is_integer(fp_dtype dt) { return dt != FP_FLOAT16 && dt != FP_FLOAT32 && dt != FP_FLOAT64; }

static fp_status prepare(const fp_pool_params *params, int32_t even, const fp_tensor *x,
                         fp__geom *g, fp__strides *xs, int64_t *out_shape) {
  const int bad_even = even != FP_MEDIAN_LOWER && even != FP_MEDIAN_UPPER && even != FP_MEDIAN_MEAN;
  const fp_status st = fp__special_window_prepare(params, bad_even, x, g, xs, out_shape);
  if (st != FP_OK) return st;
  const int vs = fp__dtype_slot(x->dtype);
  if (vs < 0 || !med_kernels[vs].rows) return FP_ERR_UNSUPPORTED_DTYPE;
  return FP_OK;
}

/* The network for windows wholly inside the input, or NULL when they are
 * too large for one (or the call has no such windows worth it). */
static const fp__median_net *call_net(const fp__geom *g, int32_t even, fp__median_net *net) {
  const int64_t m = fp__window_taps(g, (int64_t)FP_MED_NET_MAX + 1);
  if (m > FP_MED_NET_MAX) return NULL;
  build_net(net, (int)m, even == FP_MEDIAN_LOWER   ? FP_MED_NEED_LO
                         : even == FP_MEDIAN_UPPER ? FP_MED_NEED_HI
                                                   : FP_MED_NEED_LO | FP_MED_NEED_HI);
  return net;
}

static int64_t window_work(const fp__geom *g) {
  const int64_t taps = fp__window_taps(g, 1024);
  return g->n * g->c * g->out_plane * (taps < 1024 ? 4 * taps : 4096);
}

fp_status fp_median_pool_forward(const fp_pool_params *params, int32_t even, const fp_tensor *x,
                                 fp_tensor *y, fp_tensor *indices) {
  fp__geom g;
  fp__strides xs, ys, is;
  int64_t out_shape[FP_MAX_DIMS];
  fp_status st = prepare(params, even, x, &g, &xs, out_shape);
  if (st != FP_OK) return st;
  if (!y) return FP_ERR_NULL_POINTER;
  if ((st = fp__check_tensor(y, x->ndim, out_shape, 1, &ys)) != FP_OK) return st;
  const int ydbl = even == FP_MEDIAN_MEAN && is_integer(x->dtype);
  if (y->dtype != (ydbl ? FP_FLOAT64 : x->dtype)) return FP_ERR_DTYPE_MISMATCH;
  int ikind = 0;
  memset(&is, 0, sizeof(is));
  if (indices) {
    if (even == FP_MEDIAN_MEAN) return FP_ERR_INVALID_ARGUMENT;
    if ((st = fp__check_tensor(indices, x->ndim, out_shape, 1, &is)) != FP_OK) return st;
    ikind = indices->dtype == FP_INT32 ? 1 : indices->dtype == FP_INT64 ? 2 : 0;
    if (!ikind) return FP_ERR_UNSUPPORTED_DTYPE;
    if (ikind == 1 && g.in_plane - 1 > INT32_MAX) return FP_ERR_OVERFLOW;
    if (fp__tensors_overlap(indices, x) || fp__tensors_overlap(indices, y)) return FP_ERR_ALIASING;
  }
  if (fp__tensors_overlap(y, x)) return FP_ERR_ALIASING;
  if (g.n * g.c * g.out_plane == 0) return FP_OK;
  fp__median_net net;
  const fp__median_net *pn = call_net(&g, even, &net);
  const int vs = fp__dtype_slot(x->dtype);
  void *ix = indices ? indices->data : NULL;
  if (g.c > 1 && xs.c == 1 && ys.c == 1 && (!indices || is.c == 1) && xs.a[2] != 1) {
    const int nt = fp__threads(params->num_threads, window_work(&g), g.n * g.out_plane);
    med_kernels[vs].cinner(&g, pn, even, x->data, &xs, y->data, &ys, ydbl, ix, &is, ikind, nt);
  } else {
    const int nt = fp__threads(params->num_threads, window_work(&g),
                               g.n * g.c * g.out[0] * g.out[1]);
    med_kernels[vs].rows(&g, pn, even, x->data, &xs, y->data, &ys, ydbl, ix, &is, ikind, nt);
  }
  return FP_OK;
}

fp_status fp_median_pool_backward(const fp_pool_params *params, int32_t even, const fp_tensor *dy,
                                  const fp_tensor *x, fp_tensor *dx) {
  fp__geom g;
  fp__strides xs, dys, dxs;
  int64_t out_shape[FP_MAX_DIMS];
  fp_status st = prepare(params, even, x, &g, &xs, out_shape);
  if (st != FP_OK) return st;
  if (!dy || !dx) return FP_ERR_NULL_POINTER;
  if ((st = fp__check_tensor(dy, x->ndim, out_shape, 0, &dys)) != FP_OK) return st;
  if ((st = fp__check_tensor(dx, x->ndim, x->shape, 1, &dxs)) != FP_OK) return st;
  if (!med_kernels[fp__dtype_slot(x->dtype)].bwd) return FP_ERR_UNSUPPORTED_DTYPE;
  if (dy->dtype != x->dtype || dx->dtype != x->dtype) return FP_ERR_DTYPE_MISMATCH;
  if (fp__tensors_overlap(dx, x) || fp__tensors_overlap(dx, dy)) return FP_ERR_ALIASING;
  if (g.n * g.c * g.in_plane == 0) return FP_OK;
  const int nt = fp__threads(params->num_threads, g.n * g.c * g.in_plane + window_work(&g),
                             g.n * g.c);
  fp__median_net net;
  med_kernels[fp__dtype_slot(x->dtype)].bwd(&g, call_net(&g, even, &net), even, dy->data, &dys,
                                            x->data, &xs, dx->data, &dxs, nt);
  return FP_OK;
}
