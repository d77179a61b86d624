/* Max pooling operator: argument checks, kernel choice, threading. */
#include "fp_internal.h"
#include "maxscan.h"

#include <stdatomic.h>
#include <string.h>

/* The microkernels: every value dtype x (no index, int32, int64). */
#define FP_IMPL "maxpool_variants.h"
#include "fp_each_dtype.h"
#undef FP_IMPL

typedef void (*fp__max_fwd_fn)(const fp__geom *, const void *, const fp__strides *, void *,
                               const fp__strides *, void *, const fp__strides *, int, int);
typedef int (*fp__max_check_fn)(const fp__geom *, const void *, const fp__strides *, int);
typedef void (*fp__max_bwd_fn)(const fp__geom *, const void *, const fp__strides *, const void *,
                               const fp__strides *, void *, const fp__strides *, int);
typedef int (*fp__max_fits_fn)(const fp__geom *);
typedef void (*fp__max_s1_fn)(const fp__geom *, const void *, const fp__strides *, void *,
                              const fp__strides *, int);

/* The kernel tables, by value dtype slot; tests and dispatch share them.
 * [slot][index kind: none, int32, int64] */
typedef struct {
  fp__max_fwd_fn rows, cinner;
} fp__max_fwd_pair;
typedef struct {
  fp__max_check_fn check;
  fp__max_bwd_fn rows, cinner;
} fp__max_bwd_set;

static const struct {
  fp__max_fwd_pair fwd[3];
  fp__max_fits_fn stride1_fits;
  fp__max_s1_fn stride1;
  fp__max_bwd_set bwd[2]; /* floating dtypes only: [int32, int64] */
} max_kernels[FP_NSLOTS] = {
#define FP_IMPL "maxpool_table.h"
#define FP_TABLE 1 /* an initializer: no target pragmas (fp_each_dtype.h) */
#include "fp_each_dtype.h"
#undef FP_IMPL
};


static int index_slot(fp_dtype dt) { return dt == FP_INT32 ? 1 : dt == FP_INT64 ? 2 : -1; }

/* The C-innermost kernel pays off when channels are the unit-stride axis. */
static int channels_inner(const fp__geom *g, const fp__strides *a, const fp__strides *b,
                          const fp__strides *c) {
  return g->c > 1 && a->c == 1 && b->c == 1 && (!c || c->c == 1) && a->a[2] != 1;
}

fp_status fp_max_pool_forward(const fp_pool_params *params, const fp_tensor *x, fp_tensor *y,
                              fp_tensor *indices) {
  fp__geom g;
  fp__strides xs, ys, is;
  int64_t out_shape[FP_MAX_DIMS];
  fp_status st;
  if (!params || !x || !y) return FP_ERR_NULL_POINTER;
  if (params->struct_size != sizeof(fp_pool_params)) return FP_ERR_STRUCT_SIZE;
  if (x->ndim != params->rank + 2) return FP_ERR_BAD_NDIM;
  if ((st = fp__check_tensor(x, x->ndim, NULL, 0, &xs)) != FP_OK) return st;
  if ((st = fp__geom_init(params, x->shape, &g)) != FP_OK) return st;
  fp__geom_out_shape(&g, out_shape);
  if ((st = fp__check_tensor(y, x->ndim, out_shape, 1, &ys)) != FP_OK) return st;
  const int vs = fp__dtype_slot(x->dtype);
  if (vs < 0 || !max_kernels[vs].fwd[0].rows) return FP_ERR_UNSUPPORTED_DTYPE;
  if (y->dtype != x->dtype) return FP_ERR_DTYPE_MISMATCH;
  int islot = 0;
  if (indices) {
    if ((st = fp__check_tensor(indices, x->ndim, out_shape, 1, &is)) != FP_OK) return st;
    islot = index_slot(indices->dtype);
    if (islot < 0) return FP_ERR_UNSUPPORTED_DTYPE;
    if (islot == 1 && g.in_plane - 1 > INT32_MAX) return FP_ERR_OVERFLOW;
    if (fp__tensors_overlap(indices, x) || fp__tensors_overlap(indices, y)) return FP_ERR_ALIASING;
  }
  if (fp__tensors_overlap(y, x)) return FP_ERR_ALIASING;
  const int64_t outputs = g.n * g.c * g.out_plane;
  if (outputs == 0) return FP_OK;
  const int64_t taps = fp__window_taps(&g, 1024);
  const int64_t work = outputs * (taps < 1024 ? taps : 1024);
  const int omit = (params->flags & FP_FLAG_NAN_OMIT) != 0;
  if (!indices && !omit && !channels_inner(&g, &xs, &ys, NULL) &&
      max_kernels[vs].stride1_fits(&g)) {
    /* stride-1 windows: cost independent of the window size */
    const int nt = fp__threads(params->num_threads, work, g.n * g.c);
    max_kernels[vs].stride1(&g, x->data, &xs, y->data, &ys, nt);
    return FP_OK;
  }
  if (channels_inner(&g, &xs, &ys, indices ? &is : NULL)) {
    const int nt = fp__threads(params->num_threads, work, g.n * g.out_plane);
    max_kernels[vs].fwd[islot].cinner(&g, x->data, &xs, y->data, &ys, indices ? indices->data : NULL,
                                  &is, omit, nt);
  } else {
    const int nt = fp__threads(params->num_threads, work, g.n * g.c * g.out[0] * g.out[1]);
    max_kernels[vs].fwd[islot].rows(&g, x->data, &xs, y->data, &ys, indices ? indices->data : NULL,
                                &is, omit, nt);
  }
  return FP_OK;
}

fp_status fp_max_pool_backward(const fp_pool_params *params, const fp_tensor *dy,
                               const fp_tensor *indices, fp_tensor *dx) {
  fp__geom g;
  fp__strides ys, is, xs;
  fp_status st;
  if (!params || !dy || !indices || !dx) return FP_ERR_NULL_POINTER;
  if (params->struct_size != sizeof(fp_pool_params)) return FP_ERR_STRUCT_SIZE;
  if (fp__bad_threads(params->num_threads)) return FP_ERR_INVALID_ARGUMENT;
  const int nd = dx->ndim;
  if (nd < 3 || nd > FP_MAX_DIMS || dy->ndim != nd) return FP_ERR_BAD_NDIM;
  if ((st = fp__check_tensor(dx, nd, NULL, 1, &xs)) != FP_OK) return st;
  if ((st = fp__check_tensor(dy, nd, NULL, 0, &ys)) != FP_OK) return st;
  if ((st = fp__check_tensor(indices, nd, dy->shape, 0, &is)) != FP_OK) return st;
  if (dy->shape[0] != dx->shape[0] || dy->shape[1] != dx->shape[1]) return FP_ERR_SHAPE_MISMATCH;
  const int vs = fp__dtype_slot(dx->dtype), islot = index_slot(indices->dtype);
  if (vs < 0 || islot < 0 || !max_kernels[vs].bwd[0].rows) return FP_ERR_UNSUPPORTED_DTYPE;
  if (dy->dtype != dx->dtype) return FP_ERR_DTYPE_MISMATCH;
  if (fp__tensors_overlap(dx, dy) || fp__tensors_overlap(dx, indices)) return FP_ERR_ALIASING;
  /* Geometry of the planes only: the window shape is not needed. */
  memset(&g, 0, sizeof(g));
  g.rank = nd - 2;
  g.n = dx->shape[0];
  g.c = dx->shape[1];
  const int lead = FP_MAX_SPATIAL - g.rank;
  g.in_plane = g.out_plane = 1;
  for (int a = 0; a < FP_MAX_SPATIAL; a++) {
    g.in[a] = a < lead ? 1 : dx->shape[2 + a - lead];
    g.out[a] = a < lead ? 1 : dy->shape[2 + a - lead];
    g.in_plane *= g.in[a];
    g.out_plane *= g.out[a];
  }
  const int64_t outputs = g.n * g.c * g.out_plane;
  const int nt_check = fp__threads(params->num_threads, outputs, g.n * g.c * g.out[0] * g.out[1]);
  if (outputs > 0 && max_kernels[vs].bwd[islot - 1].check(&g, indices->data, &is, nt_check))
    return FP_ERR_INDEX_OUT_OF_RANGE;
  if (g.n * g.c * g.in_plane == 0) return FP_OK;
  const int64_t work = outputs + g.n * g.c * g.in_plane;
  if (channels_inner(&g, &xs, &ys, NULL)) {
    const int nt = fp__threads(params->num_threads, work, g.n);
    max_kernels[vs].bwd[islot - 1].cinner(&g, dy->data, &ys, indices->data, &is, dx->data, &xs, nt);
  } else {
    const int nt = fp__threads(params->num_threads, work, g.n * g.c);
    max_kernels[vs].bwd[islot - 1].rows(&g, dy->data, &ys, indices->data, &is, dx->data, &xs, nt);
  }
  return FP_OK;
}
