/* A C program using fastpool: max pooling with indices, average pooling on
 * channels-last (NHWC) memory, and the error path.  Exits 0 when every result
 * is the expected one.
 *
 * Build it against an installed fastpool with CMake (CMakeLists.txt beside
 * this file) or with pkg-config:
 *     cc pool_example.c $(pkg-config --cflags --libs fastpool) -o pool_example
 */
#include <fastpool.h>

#include <stdio.h>
#include <stdlib.h>

/* Report a failed call with its status string and leave main(). */
#define TRY(call)                                                              \
  do {                                                                         \
    fp_status st_ = (call);                                                    \
    if (st_ != FP_OK) {                                                        \
      fprintf(stderr, "%s failed: %s (%d)\n", #call, fp_status_string(st_), (int)st_); \
      return 1;                                                                \
    }                                                                          \
  } while (0)

/* Describe a contiguous tensor of logical shape (N, C, H, W); channels_last
 * memory is (N, H, W, C).  Strides count elements, not bytes. */
static fp_tensor tensor4d(fp_dtype dtype, void *data, const int64_t shape[4], int channels_last) {
  fp_tensor t = {0};
  const int64_t c = shape[1], h = shape[2], w = shape[3];
  t.dtype = dtype;
  t.ndim = 4;
  for (int i = 0; i < 4; i++) t.shape[i] = shape[i];
  if (channels_last) {
    t.strides[1] = 1; t.strides[3] = c; t.strides[2] = w * c; t.strides[0] = h * w * c;
  } else {
    t.strides[3] = 1; t.strides[2] = w; t.strides[1] = h * w; t.strides[0] = c * h * w;
  }
  t.data = data;
  return t;
}

int main(void) {
  printf("fastpool %s (compiled against %s), SIMD %s, OpenMP %s\n", fp_version_string(),
         FP_VERSION_STRING, fp_simd_level(), fp_has_openmp() ? "on" : "off");
  if (fp_version_number() / 100 != FP_VERSION_NUMBER / 100) {
    fprintf(stderr, "header and library versions differ\n");
    return 1;
  }

  /* One 4x5 plane holding 0..19: 3x3 max pooling, stride 2, padding 1. */
  const int64_t in_shape[4] = {1, 1, 4, 5};
  float x[20];
  for (int i = 0; i < 20; i++) x[i] = (float)i;

  fp_pool_params p;
  TRY(fp_pool_params_init(&p, 2));
  for (int a = 0; a < 2; a++) {
    p.kernel[a] = 3;
    p.stride[a] = 2;
    p.pad_begin[a] = p.pad_end[a] = 1;
  }
  int64_t out_shape[4];
  TRY(fp_pool_output_shape(&p, in_shape, out_shape, NULL, NULL));
  const size_t count = (size_t)(out_shape[0] * out_shape[1] * out_shape[2] * out_shape[3]);
  float *y = malloc(count * sizeof *y); /* the caller owns every buffer */
  int64_t *idx = malloc(count * sizeof *idx);
  if (!y || !idx) return 1;

  fp_tensor tx = tensor4d(FP_FLOAT32, x, in_shape, 0);
  fp_tensor ty = tensor4d(FP_FLOAT32, y, out_shape, 0);
  fp_tensor ti = tensor4d(FP_INT64, idx, out_shape, 0);
  TRY(fp_max_pool_forward(&p, &tx, &ty, &ti));
  printf("max_pool 3x3/2 pad 1 -> %lld x %lld:", (long long)out_shape[2], (long long)out_shape[3]);
  for (size_t i = 0; i < count; i++) printf(" %g@%lld", y[i], (long long)idx[i]);
  printf("\n");
  /* Outputs (2, 3): each window's bottom-right valid cell is its maximum. */
  const float want_max[6] = {6, 8, 9, 16, 18, 19};
  int bad = out_shape[2] != 2 || out_shape[3] != 3;
  for (size_t i = 0; !bad && i < count; i++) bad |= y[i] != want_max[i] || idx[i] != (int64_t)want_max[i];

  /* The same numbers as two channels in NHWC memory: average 2x2, stride 2. */
  const int64_t nhwc_shape[4] = {1, 2, 2, 2}, pooled_shape[4] = {1, 2, 1, 1};
  double xh[8] = {1, 10, 2, 20, 3, 30, 4, 40}; /* (h, w, c) order */
  double yh[2];
  TRY(fp_pool_params_init(&p, 2));
  p.kernel[0] = p.kernel[1] = 2;
  p.stride[0] = p.stride[1] = 2;
  fp_tensor txh = tensor4d(FP_FLOAT64, xh, nhwc_shape, 1);
  fp_tensor tyh = tensor4d(FP_FLOAT64, yh, pooled_shape, 0);
  TRY(fp_avg_pool_forward(&p, &txh, &tyh));
  printf("avg_pool 2x2 over NHWC channels: %g %g\n", yh[0], yh[1]);
  bad |= yh[0] != 2.5 || yh[1] != 25.0;

  /* Errors come back as status codes; nothing is written. */
  p.kernel[0] = 0;
  fp_status st = fp_avg_pool_forward(&p, &txh, &tyh);
  printf("kernel 0 -> %s\n", fp_status_string(st));
  bad |= st != FP_ERR_INVALID_ARGUMENT;

  free(y);
  free(idx);
  printf(bad ? "unexpected results\n" : "ok\n");
  return bad;
}
