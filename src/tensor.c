/* Validation of caller-supplied tensor descriptors, and zeroing of one. */
#include "fp_internal.h"

#include <stdlib.h>

static int64_t abs64(int64_t v) { return v < 0 ? -v : v; }

fp_status fp__check_tensor(const fp_tensor *t, int ndim, const int64_t *shape, int writable,
                           fp__strides *st) {
  if (!t) return FP_ERR_NULL_POINTER;
  if (fp_dtype_size(t->dtype) == 0) return FP_ERR_UNSUPPORTED_DTYPE;
  if (t->ndim != ndim || ndim < 1 || ndim > FP_MAX_DIMS) return FP_ERR_BAD_NDIM;
  int64_t numel = 1, span = 0;
  for (int i = 0; i < ndim; i++) {
    if (t->shape[i] < 0) return FP_ERR_BAD_SHAPE;
    if (shape && t->shape[i] != shape[i]) return FP_ERR_SHAPE_MISMATCH;
    if (__builtin_mul_overflow(numel, t->shape[i], &numel)) return FP_ERR_OVERFLOW;
  }
  if (numel > 0) {
    /* The largest element offset, and its byte offset, must fit in int64. */
    for (int i = 0; i < ndim; i++) {
      int64_t ext;
      if (t->strides[i] == INT64_MIN) return FP_ERR_OVERFLOW;
      if (__builtin_mul_overflow(t->shape[i] - 1, abs64(t->strides[i]), &ext) ||
          __builtin_add_overflow(span, ext, &span))
        return FP_ERR_OVERFLOW;
    }
    int64_t bytes;
    if (__builtin_mul_overflow(span + 1, (int64_t)fp_dtype_size(t->dtype), &bytes))
      return FP_ERR_OVERFLOW;
    if (!t->data) return FP_ERR_NULL_POINTER;
    if (writable) {
      /* No self-overlap: sorted by |stride|, each stride must step past the
       * whole extent of the axes with smaller strides. */
      int order[FP_MAX_DIMS], m = 0;
      for (int i = 0; i < ndim; i++)
        if (t->shape[i] > 1) order[m++] = i;
      for (int i = 1; i < m; i++)
        for (int j = i; j > 0 && abs64(t->strides[order[j]]) < abs64(t->strides[order[j - 1]]); j--) {
          int tmp = order[j];
          order[j] = order[j - 1];
          order[j - 1] = tmp;
        }
      int64_t reach = 0; /* max offset covered by the smaller axes */
      for (int i = 0; i < m; i++) {
        int64_t s = abs64(t->strides[order[i]]);
        if (s <= reach) return FP_ERR_ALIASING;
        reach += (t->shape[order[i]] - 1) * s;
      }
    }
  }
  if (st) {
    /* Expand to (N, C, D, H, W); a tensor of rank r+2 has r spatial axes. */
    st->n = t->strides[0];
    st->c = ndim > 1 ? t->strides[1] : 0;
    const int spatial = ndim - 2;
    for (int a = 0; a < 3; a++) {
      int i = a - (3 - spatial);
      st->a[a] = i >= 0 ? t->strides[2 + i] : 0;
    }
  }
  return FP_OK;
}

/* First and last byte addresses touched by a tensor (numel > 0). */
static void byte_span(const fp_tensor *t, uintptr_t *lo, uintptr_t *hi) {
  int64_t neg = 0, pos = 0;
  for (int i = 0; i < t->ndim; i++) {
    int64_t ext = (t->shape[i] - 1) * t->strides[i];
    if (ext < 0) neg += ext; else pos += ext;
  }
  const int64_t es = (int64_t)fp_dtype_size(t->dtype);
  *lo = (uintptr_t)t->data + (uintptr_t)(neg * es);
  *hi = (uintptr_t)t->data + (uintptr_t)(pos * es + es - 1);
}

static int64_t numel_of(const fp_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
  return n;
}

int fp__tensors_overlap(const fp_tensor *a, const fp_tensor *b) {
  if (!a || !b || numel_of(a) == 0 || numel_of(b) == 0) return 0;
  uintptr_t alo, ahi, blo, bhi;
  byte_span(a, &alo, &ahi);
  byte_span(b, &blo, &bhi);
  return alo <= bhi && blo <= ahi;
}

void fp__zero_tensor(const fp_tensor *t) {
  if (!t) return;
  const size_t el = fp_dtype_size(t->dtype);
  int64_t ext[FP_MAX_DIMS] = {1, 1, 1, 1, 1}, str[FP_MAX_DIMS] = {0, 0, 0, 0, 0};
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
