/* Shared by the operators that take a caller's workspace and run their
 * products through gemm.c (bilinear, NetVLAD): the workspace layout and the
 * thread count it allows, matrix views of their tensors, and the checks of
 * their params (fp_bilinear_params and fp_netvlad_params share a layout). */
#ifndef FP_WORKSPACE_H
#define FP_WORKSPACE_H

#include "gemm.h"

/* Workspaces may start at any address: the size queries add FP__WS_SLACK
 * bytes, and the parts are laid out from the first 64-byte boundary. */
#define FP__WS_SLACK 64u
static inline char *fp__ws_align(void *ws, size_t *bytes) {
  const uintptr_t a = (uintptr_t)ws, b = (a + 63u) & ~(uintptr_t)63u;
  *bytes = *bytes > (size_t)(b - a) ? *bytes - (size_t)(b - a) : 0;
  return (char *)ws + (b - a);
}

/* Workspace layout helper: offset (rounded up to 64 bytes) of the next
 * block of `bytes` bytes, overflow-checked.  Returns 0 on overflow. */
static inline int fp__ws_take(size_t *used, size_t bytes, size_t *offset) {
  size_t o = (*used + 63u) & ~(size_t)63u;
  if (o < *used || o + bytes < o) return 0;
  *offset = o;
  *used = o + bytes;
  return 1;
}

/* An operator's workspace layout for t threads: its bytes in *total
 * (FP__WS_SLACK included) and the parts in the operator's ctx; 0 on
 * overflow. */
typedef int (*fp__ws_layout_fn)(void *ctx, int64_t t, size_t *total);

/* The workspace's first 64-byte boundary in *ws (fp__ws_align), and the
 * largest thread count, at most num_threads' (fp__threads_requested), whose
 * layout fits after it; 0 if not even one thread's does.  ctx is left with
 * the layout of the count returned. */
static inline int64_t fp__ws_threads(void *workspace, size_t workspace_size, int32_t num_threads,
                                     fp__ws_layout_fn layout, void *ctx, char **ws) {
  size_t have = workspace_size, need;
  *ws = fp__ws_align(workspace, &have);
  for (int64_t t = fp__threads_requested(num_threads); t >= 1; t--)
    if (layout(ctx, t, &need) && need - FP__WS_SLACK <= have) return t;
  return 0;
}

/* 1 if the workspace of `bytes` bytes at ws overlaps tensor t (NULL: no). */
static inline int fp__ws_overlaps(const void *ws, size_t bytes, const fp_tensor *t) {
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

/* Threads that each take whole samples (one fp__parallel call over the
 * samples): when there are at least two samples to share and enough work;
 * otherwise 1, and the phases share each sample's work instead.  Both ways
 * every sample is computed the same, bit for bit. */
static inline int fp__sample_threads(int64_t t, int64_t samples, int64_t work) {
  if (samples < 2 || t < 2) return 1;
  return fp__threads((int32_t)t, work, samples);
}

/* An (N, C, *S) tensor of element size el from sample n0 on, as C x P
 * matrices (rows channels, columns the positions pos), batch stride N. */
static inline fp__mat fp__mat_chan_pos(const fp_tensor *t, const fp__axis *pos, int64_t n0,
                                       size_t el) {
  fp__mat m;
  m.data = (char *)t->data + n0 * t->strides[0] * (int64_t)el;
  m.r = fp__axis_simple(t->shape[1], t->strides[1]);
  m.c = *pos;
  m.bs = t->strides[0];
  return m;
}

/* An (N, rows*cols) tensor of element size el from sample n0 on, as
 * rows x cols matrices (row-major), batch stride N. */
static inline fp__mat fp__mat_rows(const fp_tensor *t, int64_t rows, int64_t cols, int64_t n0,
                                   size_t el) {
  fp__mat m;
  m.data = (char *)t->data + n0 * t->strides[0] * (int64_t)el;
  m.r = fp__axis_simple(rows, cols * t->strides[1]);
  m.c = fp__axis_simple(cols, t->strides[1]);
  m.bs = t->strides[0];
  return m;
}

/* Contiguous rows x cols scratch matrices, one after another. */
static inline fp__mat fp__mat_dense(void *data, int64_t rows, int64_t cols) {
  fp__mat m;
  m.data = data;
  m.r = fp__axis_simple(rows, cols);
  m.c = fp__axis_simple(cols, 1);
  m.bs = rows * cols;
  return m;
}

/* The params checks after struct_size: flags within `allowed`, a valid
 * thread count, eps finite and >= 0. */
static inline fp_status fp__check_ws_options(uint32_t flags, uint32_t allowed, int32_t num_threads,
                                             double eps) {
  if ((flags & ~allowed) || fp__bad_threads(num_threads)) return FP_ERR_INVALID_ARGUMENT;
  if (!(eps >= 0) || isinf(eps)) return FP_ERR_INVALID_ARGUMENT;
  return FP_OK;
}

#endif /* FP_WORKSPACE_H */
