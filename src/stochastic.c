/* Stochastic pooling operator (Zeiler & Fergus 2013): training (sampled) and
 * inference (probabilistic weighting) forward, and the inference gradient.
 * The training gradient is fp_max_pool_backward on the returned indices. */
#include "fp_internal.h"

#include <float.h>
#include <stdatomic.h>

/* SplitMix64's output function F (fastpool.h): a bijection of 64-bit words. */
static inline uint64_t fp__splitmix(uint64_t z) {
  z += UINT64_C(0x9E3779B97F4A7C15);
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

/* u in (0, 1) for the flat output index o of the plane whose key is
 * F(F(F(seed) ^ n) ^ c): ((h >> 12) + 0.5) / 2^52, exact in double. */
static inline double fp__unit_uniform(uint64_t plane_key, int64_t o) {
  const uint64_t h = fp__splitmix(plane_key ^ (uint64_t)o);
  return ((double)(h >> 12) + 0.5) * 0x1p-52;
}

#define FP_IMPL "stochastic_impl.h"
#include "fp_each_dtype.h"
#undef FP_IMPL

typedef int (*fp__st_bad_fn)(const fp__geom *, const void *, const fp__strides *, int);
typedef void (*fp__st_forward_fn)(const fp__geom *, int, uint64_t, const void *,
                                  const fp__strides *, void *, const fp__strides *, void *,
                                  const fp__strides *, int, int, int);
typedef void (*fp__st_weighted_bwd_fn)(const fp__geom *, const void *, const fp__strides *,
                                       const void *, const fp__strides *, void *,
                                       const fp__strides *, int);

/* By value dtype slot; floating dtypes only. */
static const struct {
  fp__st_bad_fn bad;
  fp__st_forward_fn forward;
  fp__st_weighted_bwd_fn weighted_bwd;
} st_kernels[FP_NSLOTS] = {
#define FP_IMPL "stochastic_table.h"
#define FP_TABLE 1 /* an initializer: no target pragmas (fp_each_dtype.h) */
#include "fp_each_dtype.h"
#undef FP_IMPL
};

/* Checks shared by the three entry points: fp__special_window_prepare's,
 * then x's dtype; fills the geometry and y's shape. */
static fp_status prepare(const fp_pool_params *params, const fp_tensor *x, fp__geom *g,
                         fp__strides *xs, int64_t *out_shape) {
  const fp_status st = fp__special_window_prepare(params, 0, x, g, xs, out_shape);
  if (st != FP_OK) return st;
  const int vs = fp__dtype_slot(x->dtype);
  if (vs < 0 || !st_kernels[vs].forward) return FP_ERR_UNSUPPORTED_DTYPE;
  return FP_OK;
}

/* The value check comes last, once every descriptor is known to be good. */
static fp_status check_values(const fp_pool_params *params, const fp__geom *g,
                              const fp_tensor *x, const fp__strides *xs) {
  const int64_t cells = g->n * g->c * g->in_plane;
  if (cells == 0) return FP_OK;
  const int nt = fp__threads(params->num_threads, cells, g->n * g->c);
  return st_kernels[fp__dtype_slot(x->dtype)].bad(g, x->data, xs, nt) ? FP_ERR_INVALID_ARGUMENT
                                                                     : FP_OK;
}

static int64_t window_work(const fp__geom *g) {
  const int64_t taps = fp__window_taps(g, 1024);
  return g->n * g->c * g->out_plane * (taps < 1024 ? taps : 1024);
}

fp_status fp_stochastic_pool_forward(const fp_pool_params *params, uint64_t seed,
                                     const fp_tensor *x, fp_tensor *y, fp_tensor *indices) {
  fp__geom g;
  fp__strides xs, ys, is;
  int64_t out_shape[FP_MAX_DIMS];
  fp_status st = prepare(params, x, &g, &xs, out_shape);
  if (st != FP_OK) return st;
  if (!y) return FP_ERR_NULL_POINTER;
  if ((st = fp__check_tensor(y, x->ndim, out_shape, 1, &ys)) != FP_OK) return st;
  if (y->dtype != x->dtype) return FP_ERR_DTYPE_MISMATCH;
  int ikind = 0;
  memset(&is, 0, sizeof(is));
  if (indices) {
    if ((st = fp__check_tensor(indices, x->ndim, out_shape, 1, &is)) != FP_OK) return st;
    ikind = indices->dtype == FP_INT32 ? 1 : indices->dtype == FP_INT64 ? 2 : 0;
    if (!ikind) return FP_ERR_UNSUPPORTED_DTYPE;
    if (ikind == 1 && g.in_plane - 1 > INT32_MAX) return FP_ERR_OVERFLOW;
    if (fp__tensors_overlap(indices, x) || fp__tensors_overlap(indices, y)) return FP_ERR_ALIASING;
  }
  if (fp__tensors_overlap(y, x)) return FP_ERR_ALIASING;
  if ((st = check_values(params, &g, x, &xs)) != FP_OK) return st;
  if (g.n * g.c * g.out_plane == 0) return FP_OK;
  const int cinner = g.c > 1 && xs.c == 1 && ys.c == 1 && xs.a[2] != 1;
  const int nt = fp__threads(params->num_threads, 2 * window_work(&g),
                             cinner ? g.n * g.out_plane : g.n * g.c * g.out[0] * g.out[1]);
  st_kernels[fp__dtype_slot(x->dtype)].forward(&g, 1, seed, x->data, &xs, y->data, &ys,
                                               indices ? indices->data : NULL, &is, ikind,
                                               cinner, nt);
  return FP_OK;
}

fp_status fp_stochastic_pool_weighted_forward(const fp_pool_params *params, const fp_tensor *x,
                                              fp_tensor *y) {
  fp__geom g;
  fp__strides xs, ys;
  int64_t out_shape[FP_MAX_DIMS];
  fp_status st = prepare(params, x, &g, &xs, out_shape);
  if (st != FP_OK) return st;
  if (!y) return FP_ERR_NULL_POINTER;
  if ((st = fp__check_tensor(y, x->ndim, out_shape, 1, &ys)) != FP_OK) return st;
  if (y->dtype != x->dtype) return FP_ERR_DTYPE_MISMATCH;
  if (fp__tensors_overlap(y, x)) return FP_ERR_ALIASING;
  if ((st = check_values(params, &g, x, &xs)) != FP_OK) return st;
  if (g.n * g.c * g.out_plane == 0) return FP_OK;
  fp__strides none;
  memset(&none, 0, sizeof(none));
  const int cinner = g.c > 1 && xs.c == 1 && ys.c == 1 && xs.a[2] != 1;
  const int nt = fp__threads(params->num_threads, 2 * window_work(&g),
                             cinner ? g.n * g.out_plane : g.n * g.c * g.out[0] * g.out[1]);
  st_kernels[fp__dtype_slot(x->dtype)].forward(&g, 0, 0, x->data, &xs, y->data, &ys, NULL, &none,
                                               0, cinner, nt);
  return FP_OK;
}

fp_status fp_stochastic_pool_weighted_backward(const fp_pool_params *params, const fp_tensor *dy,
                                               const fp_tensor *x, fp_tensor *dx) {
  fp__geom g;
  fp__strides xs, dys, dxs;
  int64_t out_shape[FP_MAX_DIMS];
  fp_status st = prepare(params, x, &g, &xs, out_shape);
  if (st != FP_OK) return st;
  if (!dy || !dx) return FP_ERR_NULL_POINTER;
  if ((st = fp__check_tensor(dy, x->ndim, out_shape, 0, &dys)) != FP_OK) return st;
  if ((st = fp__check_tensor(dx, x->ndim, x->shape, 1, &dxs)) != FP_OK) return st;
  if (dy->dtype != x->dtype || dx->dtype != x->dtype) return FP_ERR_DTYPE_MISMATCH;
  if (fp__tensors_overlap(dx, x) || fp__tensors_overlap(dx, dy)) return FP_ERR_ALIASING;
  if ((st = check_values(params, &g, x, &xs)) != FP_OK) return st;
  if (g.n * g.c * g.in_plane == 0) return FP_OK;
  const int nt = fp__threads(params->num_threads, g.n * g.c * g.in_plane + 3 * window_work(&g),
                             g.n * g.c);
  st_kernels[fp__dtype_slot(x->dtype)].weighted_bwd(&g, dy->data, &dys, x->data, &xs, dx->data,
                                                    &dxs, nt);
  return FP_OK;
}
