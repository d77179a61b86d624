/* Status strings, version queries, parameter defaults and the parameter
 * checks the special window poolings share.  The thread policy is
 * parallel.c's, the ISA detection cpu.c's. */
#include "fp_internal.h"

#include <string.h>


const char *fp_status_string(fp_status status) {
  switch (status) {
    case FP_OK: return "success";
    case FP_ERR_NULL_POINTER: return "a required pointer is NULL";
    case FP_ERR_STRUCT_SIZE: return "params->struct_size is not supported by this library version";
    case FP_ERR_INVALID_ARGUMENT: return "invalid pooling parameter (kernel, stride, padding, dilation, flags or mode)";
    case FP_ERR_BAD_NDIM: return "tensor rank does not match the operator";
    case FP_ERR_SHAPE_MISMATCH: return "tensor shape does not match the expected shape";
    case FP_ERR_OUTPUT_SIZE: return "output size would be smaller than 1";
    case FP_ERR_UNSUPPORTED_DTYPE: return "dtype not supported by this operator";
    case FP_ERR_DTYPE_MISMATCH: return "tensors that must share a dtype do not";
    case FP_ERR_OVERFLOW: return "size or offset computation overflows int64";
    case FP_ERR_INDEX_OUT_OF_RANGE: return "index out of range [-1, plane size)";
    case FP_ERR_ALIASING: return "an output overlaps an input or itself";
    case FP_ERR_BAD_SHAPE: return "negative tensor extent";
  }
  return "unknown fp_status";
}

int fp_version_number(void) { return FP_VERSION_NUMBER; }

const char *fp_version_string(void) { return FP_VERSION_STRING; }

size_t fp_dtype_size(fp_dtype dtype) {
  switch (dtype) {
    case FP_FLOAT32: return 4;
    case FP_FLOAT64: return 8;
    case FP_INT32: return 4;
    case FP_INT64: return 8;
    case FP_FLOAT16: return 2;
    case FP_INT8: return 1;
    case FP_UINT8: return 1;
    case FP_INT16: return 2;
    case FP_UINT16: return 2;
  }
  return 0;
}

fp_status fp_pool_params_init(fp_pool_params *params, int32_t rank) {
  if (!params) return FP_ERR_NULL_POINTER;
  if (rank < 1 || rank > FP_MAX_SPATIAL) return FP_ERR_INVALID_ARGUMENT;
  memset(params, 0, sizeof(*params));
  params->struct_size = sizeof(*params);
  params->rank = rank;
  params->pad_mode = FP_PAD_EXPLICIT;
  for (int i = 0; i < FP_MAX_SPATIAL; i++) {
    params->kernel[i] = 1;
    params->stride[i] = 1;
    params->dilation[i] = 1;
  }
  params->flags = FP_FLAG_COUNT_INCLUDE_PAD;
  return FP_OK;
}

fp_status fp__special_window_prepare(const fp_pool_params *params, int bad_option,
                                     const fp_tensor *x, fp__geom *g, fp__strides *xs,
                                     int64_t *out_shape) {
  fp_status st;
  if (!params || !x) return FP_ERR_NULL_POINTER;
  if (params->struct_size != sizeof(fp_pool_params)) return FP_ERR_STRUCT_SIZE;
  if (params->flags & ~(uint32_t)(FP_FLAG_CEIL_MODE | FP_FLAG_COUNT_INCLUDE_PAD))
    return FP_ERR_INVALID_ARGUMENT;
  if (bad_option) return FP_ERR_INVALID_ARGUMENT;
  if (x->ndim != params->rank + 2) return FP_ERR_BAD_NDIM;
  if ((st = fp__check_tensor(x, x->ndim, NULL, 0, xs)) != FP_OK) return st;
  if ((st = fp__geom_init(params, x->shape, g)) != FP_OK) return st;
  fp__geom_out_shape(g, out_shape);
  return FP_OK;
}

int fp_has_openmp(void) {
#ifdef FP_WITH_OPENMP
  return 1;
#else
  return 0;
#endif
}

int fp_default_num_threads(void) { return fp__threads_default(); }
