/* Fractional max pooling operator (PyTorch fractional_max_pool2d/3d). */
#include "fp_internal.h"
#include "maxscan.h"

#define FP_IMPL "fractional_impl.h"
#define FP_EACH_FLOAT 1
#define FP_EACH_NO_F16 1 /* float32, float64 (fp_each_dtype.h) */
#include "fp_each_dtype.h"
#undef FP_IMPL

typedef void (*fp__frac_fn)(const fp__geom *, const void *, const fp__strides *, int64_t,
                            const void *, const fp__strides *, void *, const fp__strides *, void *,
                            const fp__strides *, int, int);
typedef int (*fp__frac_bad_fn)(const fp__geom *, const void *, const fp__strides *, int64_t);

/* By value dtype slot (float32, float64): forward [index kind: none, int32,
 * int64], and the samples check. */
static const struct {
  fp__frac_fn fwd[3];
  fp__frac_bad_fn bad;
} frac_kernels[FP_NSLOTS] = {
#define FP_IMPL "fractional_impl.h"
#define FP_TABLE 1 /* the rows of this table (fractional_impl.h) */
#define FP_EACH_FLOAT 1
#define FP_EACH_NO_F16 1
#include "fp_each_dtype.h"
#undef FP_IMPL
};

fp_status fp_fractional_max_pool_forward(const fp_pool_params *params, const fp_tensor *samples,
                                         const fp_tensor *x, fp_tensor *y, fp_tensor *indices) {
  fp__geom g;
  fp__strides xs, ys, is, ss;
  fp_status st;
  if (!params || !samples || !x || !y) return FP_ERR_NULL_POINTER;
  if (params->struct_size != sizeof(fp_pool_params)) return FP_ERR_STRUCT_SIZE;
  if (fp__bad_threads(params->num_threads) || (params->flags & ~(uint32_t)FP_FLAG_NAN_OMIT))
    return FP_ERR_INVALID_ARGUMENT;
  const int nd = x->ndim, rank = nd - 2;
  if (nd < 3 || nd > FP_MAX_DIMS || y->ndim != nd || rank != params->rank) return FP_ERR_BAD_NDIM;
  if ((st = fp__check_tensor(x, nd, NULL, 0, &xs)) != FP_OK) return st;
  if ((st = fp__check_tensor(y, nd, NULL, 1, &ys)) != FP_OK) return st;
  const int64_t sshape[3] = {x->shape[0], x->shape[1], rank};
  if ((st = fp__check_tensor(samples, 3, sshape, 0, NULL)) != FP_OK) return st;
  if ((st = fp__geom_from_shapes(rank, x->shape, y->shape, &g)) != FP_OK) return st;
  const int lead = FP_MAX_SPATIAL - rank;
  for (int i = 0; i < rank; i++) {
    const int64_t k = params->kernel[i], in = x->shape[2 + i], out = y->shape[2 + i];
    if (k < 1) return FP_ERR_INVALID_ARGUMENT;
    if (out < 1) return FP_ERR_OUTPUT_SIZE;
    if (k > in || out + k - 1 > in) return FP_ERR_SHAPE_MISMATCH;
    g.k[lead + i] = k;
  }
  const int vs = fp__dtype_slot(x->dtype);
  if (vs < 0 || !frac_kernels[vs].bad) return FP_ERR_UNSUPPORTED_DTYPE;
  if (y->dtype != x->dtype || samples->dtype != x->dtype) return FP_ERR_DTYPE_MISMATCH;
  int islot = 0;
  if (indices) {
    if ((st = fp__check_tensor(indices, nd, y->shape, 1, &is)) != FP_OK) return st;
    islot = indices->dtype == FP_INT32 ? 1 : indices->dtype == FP_INT64 ? 2 : -1;
    if (islot < 0) return FP_ERR_UNSUPPORTED_DTYPE;
    if (islot == 1 && g.in_plane - 1 > INT32_MAX) return FP_ERR_OVERFLOW;
    if (fp__tensors_overlap(indices, x) || fp__tensors_overlap(indices, y)) return FP_ERR_ALIASING;
  }
  if (fp__tensors_overlap(x, y)) return FP_ERR_ALIASING;
  ss.n = samples->strides[0];
  ss.c = samples->strides[1];
  const int64_t s_axis = samples->strides[2];
  if (g.n * g.c > 0 && frac_kernels[vs].bad(&g, samples->data, &ss, s_axis))
    return FP_ERR_INVALID_ARGUMENT;
  const int64_t outputs = g.n * g.c * g.out_plane;
  if (outputs == 0) return FP_OK;
  const int64_t taps = fp__window_taps(&g, 1024);
  const int nt = fp__threads(params->num_threads, outputs * (taps < 1024 ? taps : 1024),
                             g.n * g.c * g.out[0] * g.out[1]);
  frac_kernels[vs].fwd[islot](&g, samples->data, &ss, s_axis, x->data, &xs, y->data, &ys,
                              indices ? indices->data : NULL, &is,
                              (params->flags & FP_FLAG_NAN_OMIT) != 0, nt);
  return FP_OK;
}
