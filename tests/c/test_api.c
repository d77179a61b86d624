/* C-level checks of the public API: a small computed case per operator and
 * the status code of each kind of bad argument.  Exits non-zero on failure. */
#include <fastpool.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                     \
    }                                                                 \
  } while (0)

static fp_tensor nchw(fp_dtype dt, void *data, int64_t n, int64_t c, int64_t h, int64_t w) {
  fp_tensor t;
  memset(&t, 0, sizeof(t));
  t.dtype = dt;
  t.ndim = 4;
  t.shape[0] = n; t.shape[1] = c; t.shape[2] = h; t.shape[3] = w;
  t.strides[3] = 1; t.strides[2] = w; t.strides[1] = h * w; t.strides[0] = c * h * w;
  t.data = data;
  return t;
}

static void test_max_forward_backward(void) {
  /* 4x4 input 0..15, 2x2/s2: maxima 5, 7, 13, 15 at the same flat indices. */
  float x[16], y[4], dx[16], dy[4] = {1, 2, 3, 4};
  int64_t idx[4];
  for (int i = 0; i < 16; i++) x[i] = (float)i;
  fp_pool_params p;
  CHECK(fp_pool_params_init(&p, 2) == FP_OK);
  p.kernel[0] = p.kernel[1] = 2;
  p.stride[0] = p.stride[1] = 2;
  fp_tensor tx = nchw(FP_FLOAT32, x, 1, 1, 4, 4), ty = nchw(FP_FLOAT32, y, 1, 1, 2, 2);
  fp_tensor ti = nchw(FP_INT64, idx, 1, 1, 2, 2);
  CHECK(fp_max_pool_forward(&p, &tx, &ty, &ti) == FP_OK);
  CHECK(y[0] == 5 && y[1] == 7 && y[2] == 13 && y[3] == 15);
  CHECK(idx[0] == 5 && idx[1] == 7 && idx[2] == 13 && idx[3] == 15);
  fp_tensor tdy = nchw(FP_FLOAT32, dy, 1, 1, 2, 2), tdx = nchw(FP_FLOAT32, dx, 1, 1, 4, 4);
  CHECK(fp_max_pool_backward(&p, &tdy, &ti, &tdx) == FP_OK);
  CHECK(dx[5] == 1 && dx[7] == 2 && dx[13] == 3 && dx[15] == 4 && dx[0] == 0);
  /* An index outside the plane is refused and dx is left untouched. */
  idx[2] = 16;
  dx[0] = 42;
  CHECK(fp_max_pool_backward(&p, &tdy, &ti, &tdx) == FP_ERR_INDEX_OUT_OF_RANGE);
  CHECK(dx[0] == 42);
  idx[2] = -2;
  CHECK(fp_max_pool_backward(&p, &tdy, &ti, &tdx) == FP_ERR_INDEX_OUT_OF_RANGE);
}

static void test_avg_forward(void) {
  double x[9], y[4];
  for (int i = 0; i < 9; i++) x[i] = (double)(i + 1);
  fp_pool_params p;
  fp_pool_params_init(&p, 2);
  p.kernel[0] = p.kernel[1] = 2;
  p.stride[0] = p.stride[1] = 2;
  p.flags |= FP_FLAG_CEIL_MODE;
  fp_tensor tx = nchw(FP_FLOAT64, x, 1, 1, 3, 3), ty = nchw(FP_FLOAT64, y, 1, 1, 2, 2);
  CHECK(fp_avg_pool_forward(&p, &tx, &ty) == FP_OK);
  /* windows {1,2,4,5}, {3,6} (divisor 2: clipped at I+pad), {7,8}, {9}. */
  CHECK(y[0] == 3.0 && y[1] == 4.5 && y[2] == 7.5 && y[3] == 9.0);
}

static void test_output_shape_and_errors(void) {
  fp_pool_params p;
  int64_t in[4] = {2, 3, 32, 9}, out[4], pb[2], pe[2];
  fp_pool_params_init(&p, 2);
  p.kernel[0] = 1; p.stride[0] = 2; p.flags |= FP_FLAG_CEIL_MODE;
  p.kernel[1] = 4; p.stride[1] = 4; p.pad_begin[1] = p.pad_end[1] = 2;
  CHECK(fp_pool_output_shape(&p, in, out, pb, pe) == FP_OK);
  CHECK(out[0] == 2 && out[1] == 3 && out[2] == 16 && out[3] == 3);
  p.pad_mode = FP_PAD_SAME_UPPER;
  p.kernel[1] = 3; p.stride[1] = 2; p.dilation[1] = 2;
  CHECK(fp_pool_output_shape(&p, in, out, pb, pe) == FP_OK);
  /* O = ceil(9/2) = 5, total = 4*2 + 5 - 9 = 4 -> 2 and 2 */
  CHECK(out[3] == 5 && pb[1] == 2 && pe[1] == 2);

  fp_pool_params_init(&p, 2);
  p.kernel[0] = 0;
  CHECK(fp_pool_output_shape(&p, in, out, NULL, NULL) == FP_ERR_INVALID_ARGUMENT);
  fp_pool_params_init(&p, 2);
  p.pad_begin[0] = -1;
  CHECK(fp_pool_output_shape(&p, in, out, NULL, NULL) == FP_ERR_INVALID_ARGUMENT);
  fp_pool_params_init(&p, 2);
  p.kernel[0] = 40;
  CHECK(fp_pool_output_shape(&p, in, out, NULL, NULL) == FP_ERR_OUTPUT_SIZE);
  fp_pool_params_init(&p, 2);
  p.struct_size = 3;
  CHECK(fp_pool_output_shape(&p, in, out, NULL, NULL) == FP_ERR_STRUCT_SIZE);
  CHECK(fp_pool_output_shape(NULL, in, out, NULL, NULL) == FP_ERR_NULL_POINTER);
  fp_pool_params_init(&p, 2);
  p.kernel[1] = INT64_MAX / 2;
  p.dilation[1] = 4;
  CHECK(fp_pool_output_shape(&p, in, out, NULL, NULL) == FP_ERR_OVERFLOW);
  CHECK(fp_pool_params_init(&p, 4) == FP_ERR_INVALID_ARGUMENT);

  float x[16] = {0}, y[4];
  int32_t iy[4];
  fp_pool_params_init(&p, 2);
  p.kernel[0] = p.kernel[1] = 2;
  p.stride[0] = p.stride[1] = 2;
  fp_tensor tx = nchw(FP_FLOAT32, x, 1, 1, 4, 4), ty = nchw(FP_FLOAT32, y, 1, 1, 2, 2);
  fp_tensor bad = nchw(FP_FLOAT32, y, 1, 1, 2, 3);
  CHECK(fp_max_pool_forward(&p, &tx, &bad, NULL) == FP_ERR_SHAPE_MISMATCH);
  fp_tensor ti32 = nchw(FP_INT32, iy, 1, 1, 2, 2);
  CHECK(fp_max_pool_forward(&p, &tx, &ty, &ti32) == FP_OK);
  fp_tensor t64 = nchw(FP_FLOAT64, y, 1, 1, 2, 2);
  CHECK(fp_max_pool_forward(&p, &tx, &t64, NULL) == FP_ERR_DTYPE_MISMATCH);
  fp_tensor ix = nchw(FP_INT32, x, 1, 1, 4, 4);
  CHECK(fp_max_pool_forward(&p, &ix, &ty, NULL) == FP_ERR_DTYPE_MISMATCH);
  ix.dtype = (fp_dtype)99;
  CHECK(fp_max_pool_forward(&p, &ix, &ty, NULL) == FP_ERR_UNSUPPORTED_DTYPE);
  fp_tensor alias = nchw(FP_FLOAT32, x, 1, 1, 2, 2);
  CHECK(fp_max_pool_forward(&p, &tx, &alias, NULL) == FP_ERR_ALIASING);
  fp_tensor self = ty;
  self.strides[3] = 0;
  CHECK(fp_max_pool_forward(&p, &tx, &self, NULL) == FP_ERR_ALIASING);
  fp_tensor t3 = tx;
  t3.ndim = 3;
  CHECK(fp_max_pool_forward(&p, &t3, &ty, NULL) == FP_ERR_BAD_NDIM);
  fp_tensor huge = tx;
  huge.shape[2] = INT64_MAX / 2;
  huge.strides[2] = 4;
  CHECK(fp_max_pool_forward(&p, &huge, &ty, NULL) == FP_ERR_OVERFLOW);
  fp_tensor nul = tx;
  nul.data = NULL;
  CHECK(fp_avg_pool_forward(&p, &nul, &ty) == FP_ERR_NULL_POINTER);
}

static fp_tensor plane(fp_dtype dt, void *data, int64_t h, int64_t w) {
  return nchw(dt, data, 1, 1, h, w);
}

static void test_other_operators(void) {
  fp_pool_params p;
  /* Lp, p = 2: sqrt(3^2 + 4^2) = 5 over one 2x2 window. */
  double lx[4] = {3, -4, 0, 0}, ly[1];
  fp_pool_params_init(&p, 2);
  p.kernel[0] = p.kernel[1] = 2;
  p.stride[0] = p.stride[1] = 2;
  fp_tensor tlx = plane(FP_FLOAT64, lx, 2, 2), tly = plane(FP_FLOAT64, ly, 1, 1);
  CHECK(fp_lp_pool_forward(&p, 2.0, &tlx, &tly) == FP_OK);
  CHECK(ly[0] == 5.0);

  /* Adaptive 3x3 -> 1x1: mean 5, max 9 at flat index 8. */
  double ax[9], amean[1], amax[1];
  int64_t aidx[1];
  for (int i = 0; i < 9; i++) ax[i] = (double)(i + 1);
  fp_pool_params_init(&p, 2);
  p.flags = 0; /* adaptive and fractional pooling accept FP_FLAG_NAN_OMIT only */
  fp_tensor tax = plane(FP_FLOAT64, ax, 3, 3);
  fp_tensor tmean = plane(FP_FLOAT64, amean, 1, 1), tmax = plane(FP_FLOAT64, amax, 1, 1);
  fp_tensor taidx = plane(FP_INT64, aidx, 1, 1);
  CHECK(fp_adaptive_avg_pool_forward(&p, &tax, &tmean) == FP_OK && amean[0] == 5.0);
  CHECK(fp_adaptive_max_pool_forward(&p, &tax, &tmax, &taidx) == FP_OK);
  CHECK(amax[0] == 9.0 && aidx[0] == 8);
  int64_t start = -1, end = -1;
  CHECK(fp_adaptive_window(5, 3, 1, &start, &end) == FP_OK && start == 1 && end == 4);

  /* Unpooling scatters to the indices and its backward gathers them back. */
  float ux[2] = {7, 9}, uy[8], udx[2];
  int64_t uidx[2] = {3, 2}; /* per (n, c) plane */
  fp_pool_params_init(&p, 2);
  fp_tensor tux = nchw(FP_FLOAT32, ux, 1, 2, 1, 1), tuidx = nchw(FP_INT64, uidx, 1, 2, 1, 1);
  fp_tensor tuy = nchw(FP_FLOAT32, uy, 1, 2, 2, 2), tudx = nchw(FP_FLOAT32, udx, 1, 2, 1, 1);
  CHECK(fp_max_unpool_forward(&p, &tux, &tuidx, &tuy) == FP_OK);
  CHECK(uy[3] == 7 && uy[4 + 2] == 9 && uy[0] == 0 && uy[4] == 0);
  CHECK(fp_max_unpool_backward(&p, &tuy, &tuidx, &tudx) == FP_OK);
  CHECK(udx[0] == 7 && udx[1] == 9);

  /* Fractional 4x4 -> 2x2 with kernel 2: alpha = 2, windows start at 0 and 2. */
  float fx[16], fy[4], fs[2] = {0.5f, 0.5f};
  for (int i = 0; i < 16; i++) fx[i] = (float)i;
  fp_pool_params_init(&p, 2);
  p.flags = 0;
  p.kernel[0] = p.kernel[1] = 2;
  fp_tensor tfs;
  memset(&tfs, 0, sizeof(tfs));
  tfs.dtype = FP_FLOAT32;
  tfs.ndim = 3;
  tfs.shape[0] = 1; tfs.shape[1] = 1; tfs.shape[2] = 2;
  tfs.strides[0] = 2; tfs.strides[1] = 2; tfs.strides[2] = 1;
  tfs.data = fs;
  fp_tensor tfx = plane(FP_FLOAT32, fx, 4, 4), tfy = plane(FP_FLOAT32, fy, 2, 2);
  CHECK(fp_fractional_max_pool_forward(&p, &tfs, &tfx, &tfy, NULL) == FP_OK);
  CHECK(fy[0] == 5 && fy[1] == 7 && fy[2] == 13 && fy[3] == 15);

  /* Build facts. */
  CHECK(fp_dtype_size(FP_FLOAT32) == 4 && fp_dtype_size(FP_INT64) == 8);
  CHECK(fp_dtype_size((fp_dtype)99) == 0);
  CHECK(fp_has_openmp() == 0 || fp_has_openmp() == 1);
  CHECK(fp_default_num_threads() >= 1);
  const char *simd = fp_simd_level();
  CHECK(simd != NULL && (strcmp(simd, "avx512f") == 0 || strcmp(simd, "avx2") == 0 ||
                         strcmp(simd, "baseline") == 0));
}

/* Every fp_status code, each from a call that must return it; on every
 * error the output keeps its previous contents. */
#define N_STATUS 13
static int seen_status[N_STATUS];

#define EXPECT_STATUS(want, call)                                     \
  do {                                                                \
    fp_status got_ = (call);                                          \
    if (got_ != (want))                                               \
      fprintf(stderr, "%s:%d: %s returned %d (%s), expected %s\n", __FILE__, __LINE__, #call, \
              (int)got_, fp_status_string(got_), #want);              \
    CHECK(got_ == (want));                                            \
    if (got_ == (want)) seen_status[want] = 1;                        \
  } while (0)

static void test_every_status_code(void) {
  float x[16], y[4];
  int64_t idx[4];
  for (int i = 0; i < 16; i++) x[i] = (float)i;
  for (int i = 0; i < 4; i++) y[i] = -7.0f;
  fp_pool_params p, q;
  fp_pool_params_init(&p, 2);
  p.kernel[0] = p.kernel[1] = 2;
  p.stride[0] = p.stride[1] = 2;
  fp_tensor tx = plane(FP_FLOAT32, x, 4, 4), ty = plane(FP_FLOAT32, y, 2, 2);

  fp_tensor null_data = tx;
  null_data.data = NULL;
  EXPECT_STATUS(FP_ERR_NULL_POINTER, fp_max_pool_forward(NULL, &tx, &ty, NULL));
  EXPECT_STATUS(FP_ERR_NULL_POINTER, fp_max_pool_forward(&p, &null_data, &ty, NULL));
  q = p;
  q.struct_size = sizeof(q) + 8;
  EXPECT_STATUS(FP_ERR_STRUCT_SIZE, fp_max_pool_forward(&q, &tx, &ty, NULL));
  q = p;
  q.stride[1] = 0;
  EXPECT_STATUS(FP_ERR_INVALID_ARGUMENT, fp_max_pool_forward(&q, &tx, &ty, NULL));
  q = p;
  q.num_threads = -1;
  EXPECT_STATUS(FP_ERR_INVALID_ARGUMENT, fp_avg_pool_forward(&q, &tx, &ty));
  q.num_threads = FP_MAX_THREADS + 1;
  EXPECT_STATUS(FP_ERR_INVALID_ARGUMENT, fp_max_pool_forward(&q, &tx, &ty, NULL));
  fp_tensor flat = tx;
  flat.ndim = 3;
  EXPECT_STATUS(FP_ERR_BAD_NDIM, fp_max_pool_forward(&p, &flat, &ty, NULL));
  fp_tensor wrong = plane(FP_FLOAT32, y, 2, 1);
  EXPECT_STATUS(FP_ERR_SHAPE_MISMATCH, fp_max_pool_forward(&p, &tx, &wrong, NULL));
  q = p;
  q.kernel[0] = 5;
  EXPECT_STATUS(FP_ERR_OUTPUT_SIZE, fp_max_pool_forward(&q, &tx, &ty, NULL));
  fp_tensor unknown = tx;
  unknown.dtype = (fp_dtype)99;
  EXPECT_STATUS(FP_ERR_UNSUPPORTED_DTYPE, fp_max_pool_forward(&p, &unknown, &ty, NULL));
  double y64[4];
  fp_tensor ty64 = plane(FP_FLOAT64, y64, 2, 2);
  EXPECT_STATUS(FP_ERR_DTYPE_MISMATCH, fp_max_pool_forward(&p, &tx, &ty64, NULL));
  fp_tensor huge = tx;
  huge.shape[2] = INT64_MAX / 2;
  huge.strides[2] = 4;
  EXPECT_STATUS(FP_ERR_OVERFLOW, fp_max_pool_forward(&p, &huge, &ty, NULL));
  fp_tensor inside = plane(FP_FLOAT32, x + 4, 2, 2);
  EXPECT_STATUS(FP_ERR_ALIASING, fp_max_pool_forward(&p, &tx, &inside, NULL));
  fp_tensor negative = tx;
  negative.shape[2] = -4;
  EXPECT_STATUS(FP_ERR_BAD_SHAPE, fp_max_pool_forward(&p, &negative, &ty, NULL));
  const int64_t neg_shape[4] = {1, 1, -1, 4};
  int64_t out_shape[4];
  EXPECT_STATUS(FP_ERR_BAD_SHAPE, fp_pool_output_shape(&p, neg_shape, out_shape, NULL, NULL));
  for (int i = 0; i < 4; i++) CHECK(y[i] == -7.0f); /* no error wrote anything */

  /* Indices: backward and unpooling check every one before writing. */
  float dx[16];
  for (int i = 0; i < 16; i++) dx[i] = -7.0f;
  fp_tensor tdx = plane(FP_FLOAT32, dx, 4, 4), ti = plane(FP_INT64, idx, 2, 2);
  idx[0] = 0; idx[1] = 3; idx[2] = 16; idx[3] = 5;
  EXPECT_STATUS(FP_ERR_INDEX_OUT_OF_RANGE, fp_max_pool_backward(&p, &ty, &ti, &tdx));
  EXPECT_STATUS(FP_ERR_INDEX_OUT_OF_RANGE, fp_max_unpool_forward(&p, &ty, &ti, &tdx));
  for (int i = 0; i < 16; i++) CHECK(dx[i] == -7.0f);

  EXPECT_STATUS(FP_OK, fp_max_pool_forward(&p, &tx, &ty, &ti));
  CHECK(y[0] == 5 && y[3] == 15 && idx[0] == 5 && idx[3] == 15);

  for (int s = 0; s < N_STATUS; s++) {
    if (!seen_status[s]) fprintf(stderr, "status %d (%s) was never produced\n", s,
                                 fp_status_string((fp_status)s));
    CHECK(seen_status[s]);
    /* Each code has its own description. */
    CHECK(strcmp(fp_status_string((fp_status)s), "unknown fp_status") != 0);
    for (int t = 0; t < s; t++)
      CHECK(strcmp(fp_status_string((fp_status)s), fp_status_string((fp_status)t)) != 0);
  }
}

/* ---- special poolings: spatial pyramid, YOLO-SPP ---- */

static void test_spatial_pyramid_pool(void) {
  /* 4x4 plane 0..15, levels (1, 2): [15, 5, 7, 13, 15]; avg [7.5, 2.5, 4.5, 10.5, 12.5]. */
  float x[16], y[5], dy[5] = {1, 2, 3, 4, 5}, dx[16];
  for (int i = 0; i < 16; i++) x[i] = (float)i;
  const int64_t levels[2] = {1, 2};
  fp_pool_params p;
  fp_pool_params_init(&p, 2);
  p.flags = 0;
  fp_tensor tx = nchw(FP_FLOAT32, x, 1, 1, 4, 4), ty;
  memset(&ty, 0, sizeof(ty));
  ty.dtype = FP_FLOAT32;
  ty.ndim = 2;
  ty.shape[0] = 1;
  ty.shape[1] = 5;
  ty.strides[0] = 5;
  ty.strides[1] = 1;
  ty.data = y;
  int64_t in[4] = {1, 1, 4, 4}, out[2];
  CHECK(fp_spatial_pyramid_pool_output_shape(levels, 2, FP_SPP_MAX, FP_SPP_ADAPTIVE, in, out) ==
        FP_OK);
  CHECK(out[0] == 1 && out[1] == 5);
  CHECK(fp_spatial_pyramid_pool_forward(&p, levels, 2, FP_SPP_MAX, FP_SPP_ADAPTIVE,
                                        FP_SPP_FEATURES_CHW, &tx, &ty) == FP_OK);
  CHECK(y[0] == 15 && y[1] == 5 && y[2] == 7 && y[3] == 13 && y[4] == 15);
  fp_tensor tdy = ty, tdx = nchw(FP_FLOAT32, dx, 1, 1, 4, 4);
  tdy.data = dy;
  CHECK(fp_spatial_pyramid_pool_backward(&p, levels, 2, FP_SPP_MAX, FP_SPP_ADAPTIVE,
                                         FP_SPP_FEATURES_CHW, &tdy, &tx, &tdx) == FP_OK);
  CHECK(dx[15] == 1 + 5 && dx[5] == 2 && dx[7] == 3 && dx[13] == 4 && dx[0] == 0);
  CHECK(fp_spatial_pyramid_pool_forward(&p, levels, 2, FP_SPP_AVG, FP_SPP_SPPNET,
                                        FP_SPP_FEATURES_CHW, &tx, &ty) == FP_OK);
  CHECK(y[0] == 7.5f && y[1] == 2.5f && y[2] == 4.5f && y[3] == 10.5f && y[4] == 12.5f);
  /* average backward needs no x */
  CHECK(fp_spatial_pyramid_pool_backward(&p, levels, 2, FP_SPP_AVG, FP_SPP_SPPNET,
                                         FP_SPP_FEATURES_CHW, &tdy, NULL, &tdx) == FP_OK);
  CHECK(dx[0] == 1.0f / 16 + 2.0f / 4 && dx[15] == 1.0f / 16 + 5.0f / 4);

  /* Bins: SPPNet a=7, l=4 keeps the first 4 of its 6 windows (size 2, stride 1);
   * Caffe a=13, l=4: kernel 4, pad 2, bins [-2,2) [2,6) [6,10) [10,14) clipped. */
  int64_t s0, e0, pool;
  CHECK(fp_spp_window(FP_SPP_SPPNET, 7, 4, 3, &s0, &e0, &pool) == FP_OK);
  CHECK(s0 == 3 && e0 == 5 && pool == 2);
  CHECK(fp_spp_window(FP_SPP_CAFFE, 13, 4, 0, &s0, &e0, &pool) == FP_OK);
  CHECK(s0 == 0 && e0 == 2 && pool == 4);
  CHECK(fp_spp_window(FP_SPP_CAFFE, 13, 4, 3, &s0, &e0, &pool) == FP_OK);
  CHECK(s0 == 10 && e0 == 13 && pool == 4); /* clipped to a + pad = 15: 4 taps */
  CHECK(fp_spp_window(FP_SPP_ADAPTIVE, 5, 3, 1, &s0, &e0, &pool) == FP_OK);
  CHECK(s0 == 1 && e0 == 4 && pool == 3);
  /* what the variants cannot do: Caffe pad >= kernel, SPPNet stride 0 */
  CHECK(fp_spp_window(FP_SPP_CAFFE, 13, 6, 0, &s0, &e0, &pool) == FP_ERR_OUTPUT_SIZE);
  CHECK(fp_spp_window(FP_SPP_SPPNET, 3, 4, 0, &s0, &e0, &pool) == FP_ERR_OUTPUT_SIZE);
  CHECK(fp_spp_window(FP_SPP_ADAPTIVE, 3, 4, 0, &s0, &e0, &pool) == FP_OK);
  CHECK(fp_spp_window(7, 3, 4, 0, &s0, &e0, &pool) == FP_ERR_INVALID_ARGUMENT);

  /* Errors leave y untouched. */
  for (int i = 0; i < 5; i++) y[i] = -7.0f;
  const int64_t big[1] = {6};
  fp_tensor tx13 = nchw(FP_FLOAT32, x, 1, 1, 4, 4);
  CHECK(fp_spatial_pyramid_pool_forward(&p, big, 1, FP_SPP_MAX, FP_SPP_CAFFE,
                                        FP_SPP_FEATURES_CHW, &tx13, &ty) == FP_ERR_OUTPUT_SIZE);
  CHECK(fp_spatial_pyramid_pool_forward(&p, levels, 2, 5, FP_SPP_ADAPTIVE, FP_SPP_FEATURES_CHW,
                                        &tx, &ty) == FP_ERR_INVALID_ARGUMENT);
  fp_tensor short_y = ty;
  short_y.shape[1] = 4;
  CHECK(fp_spatial_pyramid_pool_forward(&p, levels, 2, FP_SPP_MAX, FP_SPP_ADAPTIVE,
                                        FP_SPP_FEATURES_CHW, &tx, &short_y) ==
        FP_ERR_SHAPE_MISMATCH);
  const int64_t zero[2] = {1, 0};
  CHECK(fp_spatial_pyramid_pool_forward(&p, zero, 2, FP_SPP_MAX, FP_SPP_ADAPTIVE,
                                        FP_SPP_FEATURES_CHW, &tx, &ty) ==
        FP_ERR_INVALID_ARGUMENT);
  fp_pool_params q = p;
  q.flags = FP_FLAG_NAN_OMIT;
  CHECK(fp_spatial_pyramid_pool_forward(&q, levels, 2, FP_SPP_MAX, FP_SPP_ADAPTIVE,
                                        FP_SPP_FEATURES_CHW, &tx, &ty) ==
        FP_ERR_INVALID_ARGUMENT);
  for (int i = 0; i < 5; i++) CHECK(y[i] == -7.0f);
}

static void test_yolo_spp(void) {
  /* 1x1x3x3 plane 0..8, kernels (3,): [x, max3] and darknet [max3, x]. */
  double x[9], y[18], dy[18], dx[9];
  for (int i = 0; i < 9; i++) x[i] = (double)i;
  const int64_t ks[1] = {3};
  fp_pool_params p;
  fp_pool_params_init(&p, 2);
  p.flags = 0;
  fp_tensor tx = nchw(FP_FLOAT64, x, 1, 1, 3, 3), ty = nchw(FP_FLOAT64, y, 1, 2, 3, 3);
  int64_t in[4] = {1, 1, 3, 3}, out[4];
  CHECK(fp_yolo_spp_output_shape(ks, 1, in, out) == FP_OK);
  CHECK(out[0] == 1 && out[1] == 2 && out[2] == 3 && out[3] == 3);
  CHECK(fp_yolo_spp_forward(&p, ks, 1, FP_YOLO_SPP_ULTRALYTICS, &tx, &ty) == FP_OK);
  const double m3[9] = {4, 5, 5, 7, 8, 8, 7, 8, 8};
  for (int i = 0; i < 9; i++) CHECK(y[i] == x[i] && y[9 + i] == m3[i]);
  CHECK(fp_yolo_spp_forward(&p, ks, 1, FP_YOLO_SPP_DARKNET, &tx, &ty) == FP_OK);
  for (int i = 0; i < 9; i++) CHECK(y[i] == m3[i] && y[9 + i] == x[i]);
  /* backward: dx = dy's x block + max-pool gradient (8 wins 4 windows, 5 two, ...) */
  for (int i = 0; i < 18; i++) dy[i] = 1;
  fp_tensor tdy = nchw(FP_FLOAT64, dy, 1, 2, 3, 3), tdx = nchw(FP_FLOAT64, dx, 1, 1, 3, 3);
  CHECK(fp_yolo_spp_backward(&p, ks, 1, FP_YOLO_SPP_ULTRALYTICS, &tdy, &tx, &tdx) == FP_OK);
  CHECK(dx[8] == 1 + 4 && dx[5] == 1 + 2 && dx[7] == 1 + 2 && dx[4] == 1 + 1 && dx[0] == 1);
  /* even and too many kernels; nothing written on error */
  for (int i = 0; i < 18; i++) y[i] = -7;
  const int64_t even[2] = {5, 4};
  CHECK(fp_yolo_spp_forward(&p, even, 2, FP_YOLO_SPP_ULTRALYTICS, &tx, &ty) ==
        FP_ERR_INVALID_ARGUMENT);
  CHECK(fp_yolo_spp_forward(&p, ks, FP_YOLO_SPP_MAX_KERNELS + 1, FP_YOLO_SPP_ULTRALYTICS, &tx,
                            &ty) == FP_ERR_INVALID_ARGUMENT);
  CHECK(fp_yolo_spp_forward(&p, ks, 1, 9, &tx, &ty) == FP_ERR_INVALID_ARGUMENT);
  fp_tensor wrong = nchw(FP_FLOAT64, y, 1, 3, 3, 3);
  CHECK(fp_yolo_spp_forward(&p, ks, 1, FP_YOLO_SPP_ULTRALYTICS, &tx, &wrong) ==
        FP_ERR_SHAPE_MISMATCH);
  fp_tensor inside = nchw(FP_FLOAT64, x, 1, 2, 3, 3);
  inside.shape[1] = 2;
  CHECK(fp_yolo_spp_forward(&p, ks, 1, FP_YOLO_SPP_ULTRALYTICS, &tx, &inside) ==
        FP_ERR_ALIASING);
  for (int i = 0; i < 18; i++) CHECK(y[i] == -7);
  int32_t ix[9], iy[18];
  fp_tensor tix = nchw(FP_INT32, ix, 1, 1, 3, 3), tiy = nchw(FP_INT32, iy, 1, 2, 3, 3);
  for (int i = 0; i < 9; i++) ix[i] = 8 - i;
  CHECK(fp_yolo_spp_forward(&p, ks, 1, FP_YOLO_SPP_ULTRALYTICS, &tix, &tiy) == FP_OK);
  CHECK(iy[9] == 8 && iy[9 + 8] == 4);
  CHECK(fp_yolo_spp_backward(&p, ks, 1, FP_YOLO_SPP_ULTRALYTICS, &tiy, &tix, &tix) ==
        FP_ERR_UNSUPPORTED_DTYPE);
}

static void test_strings_and_version(void) {
  CHECK(fp_version_number() == FP_VERSION_NUMBER);
  CHECK(strcmp(fp_version_string(), FP_VERSION_STRING) == 0);
  for (int s = 0; s <= 12; s++) CHECK(fp_status_string((fp_status)s) != NULL);
  CHECK(strcmp(fp_status_string((fp_status)999), "unknown fp_status") == 0);
}

/* ---- special poolings: stochastic, median, mixed ---- */
static void test_special_poolings(void) {
  fp_pool_params p;
  fp_pool_params_init(&p, 2);
  p.kernel[0] = p.kernel[1] = 2;
  p.stride[0] = p.stride[1] = 2;
  /* 4x4 input 1..16 (a 0 in the last window), 2x2/s2 */
  double x[16], y[4], y2[4], dy[4] = {1, 2, 3, 4}, dx[16], dx2[16];
  int64_t idx[4], idx2[4];
  for (int i = 0; i < 16; i++) x[i] = (double)(i + 1);
  x[15] = 0;
  fp_tensor tx = nchw(FP_FLOAT64, x, 1, 1, 4, 4), ty = nchw(FP_FLOAT64, y, 1, 1, 2, 2);
  fp_tensor ty2 = nchw(FP_FLOAT64, y2, 1, 1, 2, 2), ti = nchw(FP_INT64, idx, 1, 1, 2, 2);
  fp_tensor ti2 = nchw(FP_INT64, idx2, 1, 1, 2, 2), tdy = nchw(FP_FLOAT64, dy, 1, 1, 2, 2);
  fp_tensor tdx = nchw(FP_FLOAT64, dx, 1, 1, 4, 4), tdx2 = nchw(FP_FLOAT64, dx2, 1, 1, 4, 4);

  /* stochastic: the chosen cell holds the output value, reproducibly */
  CHECK(fp_stochastic_pool_forward(&p, 42, &tx, &ty, &ti) == FP_OK);
  CHECK(fp_stochastic_pool_forward(&p, 42, &tx, &ty2, &ti2) == FP_OK);
  for (int i = 0; i < 4; i++) {
    CHECK(idx[i] == idx2[i] && y[i] == y2[i] && x[idx[i]] == y[i] && y[i] > 0);
  }
  CHECK(fp_stochastic_pool_weighted_forward(&p, &tx, &ty) == FP_OK);
  CHECK(y[0] == (1.0 + 4 + 25 + 36) / (1 + 2 + 5 + 6));
  CHECK(fp_stochastic_pool_weighted_backward(&p, &tdy, &tx, &tdx) == FP_OK);
  x[3] = -1; /* outside the domain: refused before anything is written */
  y[0] = dx[0] = 99;
  CHECK(fp_stochastic_pool_forward(&p, 42, &tx, &ty, NULL) == FP_ERR_INVALID_ARGUMENT);
  CHECK(fp_stochastic_pool_weighted_forward(&p, &tx, &ty) == FP_ERR_INVALID_ARGUMENT);
  CHECK(fp_stochastic_pool_weighted_backward(&p, &tdy, &tx, &tdx) == FP_ERR_INVALID_ARGUMENT);
  CHECK(y[0] == 99 && dx[0] == 99);
  x[3] = NAN;
  CHECK(fp_stochastic_pool_forward(&p, 42, &tx, &ty, NULL) == FP_ERR_INVALID_ARGUMENT);
  x[3] = 4;
  fp_tensor ti8 = nchw(FP_INT8, idx, 1, 1, 2, 2);
  CHECK(fp_stochastic_pool_forward(&p, 1, &tx, &ty, &ti8) == FP_ERR_UNSUPPORTED_DTYPE);
  int32_t xi[16] = {0};
  fp_tensor txi = nchw(FP_INT32, xi, 1, 1, 4, 4);
  CHECK(fp_stochastic_pool_forward(&p, 1, &txi, &ty, NULL) == FP_ERR_UNSUPPORTED_DTYPE);
  CHECK(fp_stochastic_pool_forward(&p, 1, &tx, NULL, NULL) == FP_ERR_NULL_POINTER);
  fp_pool_params q = p;
  q.flags |= FP_FLAG_NAN_OMIT;
  CHECK(fp_stochastic_pool_forward(&q, 1, &tx, &ty, NULL) == FP_ERR_INVALID_ARGUMENT);

  /* median: windows {1,2,5,6} {3,4,7,8} {9,10,13,14} {11,12,15,0} */
  CHECK(fp_median_pool_forward(&p, FP_MEDIAN_LOWER, &tx, &ty, &ti) == FP_OK);
  CHECK(y[0] == 2 && y[1] == 4 && y[3] == 11 && idx[0] == 1 && idx[3] == 10);
  CHECK(fp_median_pool_forward(&p, FP_MEDIAN_UPPER, &tx, &ty, &ti) == FP_OK);
  CHECK(y[0] == 5 && idx[0] == 4 && y[3] == 12);
  CHECK(fp_median_pool_forward(&p, FP_MEDIAN_MEAN, &tx, &ty, NULL) == FP_OK);
  CHECK(y[0] == 3.5 && y[3] == 11.5);
  CHECK(fp_median_pool_forward(&p, FP_MEDIAN_MEAN, &tx, &ty, &ti) == FP_ERR_INVALID_ARGUMENT);
  CHECK(fp_median_pool_forward(&p, 3, &tx, &ty, NULL) == FP_ERR_INVALID_ARGUMENT);
  CHECK(fp_median_pool_forward(&p, FP_MEDIAN_MEAN, &txi, &ty, NULL) == FP_OK); /* float64 out */
  CHECK(fp_median_pool_forward(&p, FP_MEDIAN_LOWER, &txi, &ty, NULL) == FP_ERR_DTYPE_MISMATCH);
  /* the recomputing backward equals the index scatter for lower and upper */
  for (int even = FP_MEDIAN_LOWER; even <= FP_MEDIAN_UPPER; even++) {
    CHECK(fp_median_pool_forward(&p, even, &tx, &ty, &ti) == FP_OK);
    CHECK(fp_max_pool_backward(&p, &tdy, &ti, &tdx) == FP_OK);
    CHECK(fp_median_pool_backward(&p, even, &tdy, &tx, &tdx2) == FP_OK);
    CHECK(memcmp(dx, dx2, sizeof(dx)) == 0);
  }
  CHECK(fp_median_pool_backward(&p, FP_MEDIAN_MEAN, &tdy, &tx, &tdx) == FP_OK);
  CHECK(dx[1] == 0.5 && dx[4] == 0.5 && dx[0] == 0);
  CHECK(fp_median_pool_backward(&p, FP_MEDIAN_MEAN, &tdy, &txi, &tdx) == FP_ERR_UNSUPPORTED_DTYPE);

  /* mixed: the pair is max and average pooling; the blend mixes them */
  double ymax[4], yavg[4], mref[4], aref[4], alpha1 = 0.25, dal[1];
  fp_tensor tm = nchw(FP_FLOAT64, ymax, 1, 1, 2, 2), ta = nchw(FP_FLOAT64, yavg, 1, 1, 2, 2);
  fp_tensor tmr = nchw(FP_FLOAT64, mref, 1, 1, 2, 2), tar = nchw(FP_FLOAT64, aref, 1, 1, 2, 2);
  fp_tensor talpha, tdal;
  memset(&talpha, 0, sizeof(talpha));
  talpha.dtype = FP_FLOAT64;
  talpha.ndim = 1;
  talpha.shape[0] = 1;
  talpha.strides[0] = 1;
  talpha.data = &alpha1;
  tdal = talpha;
  tdal.data = dal;
  CHECK(fp_mixed_pool_pair_forward(&p, &tx, &tm, &ta) == FP_OK);
  CHECK(fp_max_pool_forward(&p, &tx, &tmr, NULL) == FP_OK);
  CHECK(fp_avg_pool_forward(&p, &tx, &tar) == FP_OK);
  CHECK(memcmp(ymax, mref, sizeof(mref)) == 0 && memcmp(yavg, aref, sizeof(aref)) == 0);
  CHECK(fp_mixed_pool_forward(&p, &talpha, &tx, &ty) == FP_OK);
  CHECK(y[0] == 0.25 * 6 + 0.75 * 3.5);
  CHECK(fp_mixed_pool_backward(&p, &talpha, &tdy, &tx, &tdx, &tdal) == FP_OK);
  /* dalpha, per channel (C = 1): sum of dy * (max - avg) */
  CHECK(dal[0] == 1 * 2.5 + 2 * 2.5 + 3 * 2.5 + 4 * (15 - 9.5));
  CHECK(fp_mixed_pool_pair_backward(&p, &tdy, &tdy, &tx, &tdx) == FP_OK);
  CHECK(dx[5] == 1 + 0.25 && dx[0] == 0.25);
  CHECK(fp_mixed_pool_pair_forward(&p, &tx, &tm, &tm) == FP_ERR_ALIASING);
  talpha.shape[0] = 2;
  CHECK(fp_mixed_pool_forward(&p, &talpha, &tx, &ty) == FP_ERR_SHAPE_MISMATCH);
  talpha.shape[0] = 1;
  talpha.dtype = FP_FLOAT32;
  CHECK(fp_mixed_pool_forward(&p, &talpha, &tx, &ty) == FP_ERR_DTYPE_MISMATCH);
  CHECK(fp_mixed_pool_forward(&p, NULL, &tx, &ty) == FP_ERR_NULL_POINTER);
  CHECK(fp_mixed_pool_pair_forward(&p, &txi, &tm, &ta) == FP_ERR_UNSUPPORTED_DTYPE);
  CHECK(fp_mixed_pool_pair_forward(&q, &tx, &tm, &ta) == FP_ERR_INVALID_ARGUMENT);
}

/* ---- special poolings: bilinear, NetVLAD ---- */

static fp_tensor mat2d(fp_dtype dt, void *data, int64_t r, int64_t c) {
  fp_tensor t;
  memset(&t, 0, sizeof(t));
  t.dtype = dt;
  t.ndim = 2;
  t.shape[0] = r; t.shape[1] = c;
  t.strides[0] = c; t.strides[1] = 1;
  t.data = data;
  return t;
}

static void test_bilinear_netvlad(void) {
  /* Bilinear: x = (N=1, C=2, 1x2): channel 0 = (1, 0), channel 1 = (0, 1);
   * B = diag(1/2, 1/2); signed sqrt diag(1/sqrt2); L2: diag(1/sqrt2). */
  double x[4] = {1, 0, 0, 1}, out[4], ws_small[1];
  fp_tensor tx = nchw(FP_FLOAT64, x, 1, 2, 1, 2), to = mat2d(FP_FLOAT64, out, 1, 4);
  fp_bilinear_params bp;
  CHECK(fp_bilinear_params_init(&bp) == FP_OK);
  CHECK(bp.flags == (FP_BILINEAR_AVERAGE | FP_BILINEAR_SIGNED_SQRT | FP_BILINEAR_L2_NORMALIZE));
  CHECK(bp.eps == 1e-12 && bp.num_threads == 0);
  size_t need = 0;
  CHECK(fp_bilinear_pool_workspace_size(&bp, &tx, NULL, 0, &need) == FP_OK && need > 0);
  static char ws[8 << 20];
  CHECK(need <= sizeof(ws));
  CHECK(fp_bilinear_pool_forward(&bp, &tx, NULL, &to, ws + 1, need) == FP_OK); /* any alignment */
  const double r2 = sqrt(0.5);
  CHECK(fabs(out[0] - r2) < 1e-15 && out[1] == 0 && out[2] == 0 && fabs(out[3] - r2) < 1e-15);
  /* backward at B = 0 off the diagonal: finite, the documented slope */
  double g[4] = {1, 1, 1, 1}, dx[4];
  fp_tensor tg = mat2d(FP_FLOAT64, g, 1, 4), tdx = nchw(FP_FLOAT64, dx, 1, 2, 1, 2);
  bp.flags = FP_BILINEAR_AVERAGE | FP_BILINEAR_SIGNED_SQRT;
  CHECK(fp_bilinear_pool_workspace_size(&bp, &tx, NULL, 1, &need) == FP_OK && need <= sizeof(ws));
  CHECK(fp_bilinear_pool_backward(&bp, &tg, &tx, NULL, &tdx, NULL, ws, need) == FP_OK);
  /* dx[0][1] = 2 * (1/(2 sqrt(eps))) / P = 0.5e6 */
  CHECK(fabs(dx[1] - 0.5e6) < 1e-6 && fabs(dx[2] - 0.5e6) < 1e-6);
  fp_bilinear_params_init(&bp);

  /* errors, each before anything is written */
  for (int i = 0; i < 4; i++) out[i] = -7;
  CHECK(fp_bilinear_pool_forward(&bp, &tx, NULL, &to, NULL, 0) == FP_ERR_NULL_POINTER);
  CHECK(fp_bilinear_pool_forward(&bp, &tx, NULL, &to, ws_small, sizeof(ws_small)) ==
        FP_ERR_SHAPE_MISMATCH);
  fp_bilinear_params bq = bp;
  bq.eps = -1;
  CHECK(fp_bilinear_pool_forward(&bq, &tx, NULL, &to, ws, sizeof(ws)) == FP_ERR_INVALID_ARGUMENT);
  bq = bp;
  bq.flags = 0x80;
  CHECK(fp_bilinear_pool_forward(&bq, &tx, NULL, &to, ws, sizeof(ws)) == FP_ERR_INVALID_ARGUMENT);
  bq = bp;
  bq.struct_size = 3;
  CHECK(fp_bilinear_pool_forward(&bq, &tx, NULL, &to, ws, sizeof(ws)) == FP_ERR_STRUCT_SIZE);
  double y3[6];
  fp_tensor ty3 = nchw(FP_FLOAT64, y3, 1, 2, 1, 3); /* other spatial extent */
  CHECK(fp_bilinear_pool_forward(&bp, &tx, &ty3, &to, ws, sizeof(ws)) == FP_ERR_SHAPE_MISMATCH);
  float yf[4];
  fp_tensor tyf = nchw(FP_FLOAT32, yf, 1, 2, 1, 2);
  CHECK(fp_bilinear_pool_forward(&bp, &tx, &tyf, &to, ws, sizeof(ws)) == FP_ERR_DTYPE_MISMATCH);
  fp_tensor tsmall = mat2d(FP_FLOAT64, out, 1, 3);
  CHECK(fp_bilinear_pool_forward(&bp, &tx, NULL, &tsmall, ws, sizeof(ws)) == FP_ERR_SHAPE_MISMATCH);
  fp_tensor tover = mat2d(FP_FLOAT64, x, 1, 4); /* the output is the input */
  CHECK(fp_bilinear_pool_forward(&bp, &tx, NULL, &tover, ws, sizeof(ws)) == FP_ERR_ALIASING);
  fp_tensor tinws = mat2d(FP_FLOAT64, ws + 4096, 1, 4); /* the output inside the workspace */
  CHECK(fp_bilinear_pool_forward(&bp, &tx, NULL, &tinws, ws, sizeof(ws)) == FP_ERR_ALIASING);
  for (int i = 0; i < 4; i++) CHECK(out[i] == -7);
  double dy[4];
  fp_tensor tdy = nchw(FP_FLOAT64, dy, 1, 2, 1, 2);
  CHECK(fp_bilinear_pool_backward(&bp, &tg, &tx, NULL, &tdx, &tdy, ws, sizeof(ws)) ==
        FP_ERR_INVALID_ARGUMENT); /* dy without y */

  /* NetVLAD, one cluster, no input normalisation: V = sum_p x_p - P c. */
  double nx[4] = {1, 2, 3, 5}; /* (1, D=2, P=2): x_0 = (1, 3), x_1 = (2, 5) */
  double w[2] = {0.3, -0.2}, b[1] = {0.1}, c[2] = {1, 1}, v[2];
  fp_tensor tnx = nchw(FP_FLOAT64, nx, 1, 2, 1, 2), tw = mat2d(FP_FLOAT64, w, 1, 2);
  fp_tensor tc = mat2d(FP_FLOAT64, c, 1, 2), tv = mat2d(FP_FLOAT64, v, 1, 2);
  fp_tensor tb;
  memset(&tb, 0, sizeof(tb));
  tb.dtype = FP_FLOAT64;
  tb.ndim = 1;
  tb.shape[0] = 1;
  tb.strides[0] = 1;
  tb.data = b;
  fp_netvlad_params np_;
  CHECK(fp_netvlad_params_init(&np_) == FP_OK && np_.flags == FP_NETVLAD_NORMALIZE_INPUT);
  np_.flags = 0;
  CHECK(fp_netvlad_workspace_size(&np_, &tnx, 1, 0, &need) == FP_OK && need <= sizeof(ws));
  CHECK(fp_netvlad_forward(&np_, &tnx, &tw, &tb, &tc, &tv, ws, need) == FP_OK);
  /* V = (3 - 2, 8 - 2) = (1, 6), normalised */
  CHECK(fabs(v[0] - 1 / sqrt(37.0)) < 1e-15 && fabs(v[1] - 6 / sqrt(37.0)) < 1e-15);
  double ndx[4], ndw[2], ndb[1], ndc[2], ng[2] = {1, -1};
  fp_tensor tng = mat2d(FP_FLOAT64, ng, 1, 2), tndx = nchw(FP_FLOAT64, ndx, 1, 2, 1, 2);
  fp_tensor tndw = mat2d(FP_FLOAT64, ndw, 1, 2), tndc = mat2d(FP_FLOAT64, ndc, 1, 2);
  fp_tensor tndb = tb;
  tndb.data = ndb;
  CHECK(fp_netvlad_workspace_size(&np_, &tnx, 1, 1, &need) == FP_OK && need <= sizeof(ws));
  CHECK(fp_netvlad_backward(&np_, &tng, &tnx, &tw, &tb, &tc, &tndx, &tndw, &tndb, &tndc, ws,
                            need) == FP_OK);
  /* one cluster: the assignment does not depend on weight or bias */
  CHECK(fabs(ndw[0]) < 1e-15 && fabs(ndw[1]) < 1e-15 && fabs(ndb[0]) < 1e-15);
  /* dV = (g - u <u, g>) / |V|; dx_p = dV, dc = -P dV */
  const double n37 = sqrt(37.0), u0 = 1 / n37, u1 = 6 / n37, ug = u0 - u1;
  const double dv0 = (1 - u0 * ug) / n37, dv1 = (-1 - u1 * ug) / n37;
  CHECK(fabs(ndx[0] - dv0) < 1e-15 && fabs(ndx[1] - dv0) < 1e-15);
  CHECK(fabs(ndx[2] - dv1) < 1e-15 && fabs(ndx[3] - dv1) < 1e-15);
  CHECK(fabs(ndc[0] + 2 * dv0) < 1e-15 && fabs(ndc[1] + 2 * dv1) < 1e-15);
  /* the parameter gradients are optional */
  CHECK(fp_netvlad_backward(&np_, &tng, &tnx, &tw, &tb, &tc, &tndx, NULL, NULL, NULL, ws, need) ==
        FP_OK);
  /* mismatched parameter shapes and a short workspace */
  fp_tensor tw3 = mat2d(FP_FLOAT64, w, 1, 1);
  CHECK(fp_netvlad_forward(&np_, &tnx, &tw3, &tb, &tc, &tv, ws, sizeof(ws)) ==
        FP_ERR_SHAPE_MISMATCH);
  fp_tensor tb2 = tb;
  tb2.shape[0] = 2;
  CHECK(fp_netvlad_forward(&np_, &tnx, &tw, &tb2, &tc, &tv, ws, sizeof(ws)) ==
        FP_ERR_SHAPE_MISMATCH);
  CHECK(fp_netvlad_forward(&np_, &tnx, &tw, &tb, &tc, &tv, ws, 8) == FP_ERR_SHAPE_MISMATCH);
  fp_tensor tw1 = tw;
  tw1.ndim = 1;
  CHECK(fp_netvlad_forward(&np_, &tnx, &tw1, &tb, &tc, &tv, ws, sizeof(ws)) == FP_ERR_BAD_NDIM);
  fp_netvlad_params nq = np_;
  nq.eps = NAN;
  CHECK(fp_netvlad_forward(&nq, &tnx, &tw, &tb, &tc, &tv, ws, sizeof(ws)) ==
        FP_ERR_INVALID_ARGUMENT);
}

/* The two output-shape rules that used to live only in the Python layer. */
static void test_unpool_and_fractional_shapes(void) {
  fp_pool_params p;
  int64_t in[4] = {2, 3, 5, 7}, out[4], want[2];
  fp_pool_params_init(&p, 2);
  p.kernel[0] = p.kernel[1] = 3;
  p.stride[0] = p.stride[1] = 2;
  p.pad_begin[1] = p.pad_end[1] = 1;
  /* (5-1)*2 + 3 = 11; (7-1)*2 - 2 + 3 = 13 */
  CHECK(fp_max_unpool_output_shape(&p, in, NULL, out) == FP_OK);
  CHECK(out[0] == 2 && out[1] == 3 && out[2] == 11 && out[3] == 13);
  want[0] = 12; want[1] = 12; /* inside (9, 13) and (11, 15) */
  CHECK(fp_max_unpool_output_shape(&p, in, want, out) == FP_OK);
  CHECK(out[2] == 12 && out[3] == 12);
  want[0] = 13; /* default + stride is out */
  CHECK(fp_max_unpool_output_shape(&p, in, want, out) == FP_ERR_OUTPUT_SIZE);
  CHECK(out[2] == 13);
  p.pad_begin[0] = p.pad_end[0] = 8; /* 8 - 16 + 3 < 1 */
  CHECK(fp_max_unpool_output_shape(&p, in, NULL, out) == FP_ERR_OUTPUT_SIZE);
  p.pad_begin[0] = p.pad_end[0] = 0;
  p.stride[0] = INT64_MAX / 2;
  CHECK(fp_max_unpool_output_shape(&p, in, NULL, out) == FP_ERR_OVERFLOW);
  p.stride[0] = 2;
  p.pad_mode = FP_PAD_SAME_UPPER;
  CHECK(fp_max_unpool_output_shape(&p, in, NULL, out) == FP_ERR_INVALID_ARGUMENT);
  CHECK(fp_max_unpool_output_shape(NULL, in, NULL, out) == FP_ERR_NULL_POINTER);

  double ratio[2] = {0.5, 0.75};
  int64_t fin[4] = {1, 2, 9, 10};
  fp_pool_params_init(&p, 2);
  p.kernel[0] = p.kernel[1] = 2;
  CHECK(fp_fractional_output_shape(&p, fin, NULL, ratio, out) == FP_OK);
  CHECK(out[0] == 1 && out[1] == 2 && out[2] == 4 && out[3] == 7); /* floor(4.5), floor(7.5) */
  want[0] = 8; want[1] = 9; /* O + k - 1 <= I */
  CHECK(fp_fractional_output_shape(&p, fin, want, NULL, out) == FP_OK);
  want[1] = 10;
  CHECK(fp_fractional_output_shape(&p, fin, want, NULL, out) == FP_ERR_OUTPUT_SIZE);
  CHECK(out[3] == 10);
  ratio[0] = 0.05; /* floor(0.45) = 0 */
  CHECK(fp_fractional_output_shape(&p, fin, NULL, ratio, out) == FP_ERR_OUTPUT_SIZE);
  ratio[0] = 1.0;
  CHECK(fp_fractional_output_shape(&p, fin, NULL, ratio, out) == FP_ERR_INVALID_ARGUMENT);
  CHECK(fp_fractional_output_shape(&p, fin, want, ratio, out) == FP_ERR_INVALID_ARGUMENT);
  CHECK(fp_fractional_output_shape(&p, fin, NULL, NULL, out) == FP_ERR_INVALID_ARGUMENT);
}

static void test_pool_windows(void) {
  fp_pool_params p;
  int64_t in[3] = {1, 1, 10}, start, end, o;
  fp_pool_params_init(&p, 1);
  p.kernel[0] = 3; p.stride[0] = 2; p.dilation[0] = 2; p.pad_begin[0] = p.pad_end[0] = 1;
  /* span 5; O = (10 + 2 - 5) / 2 + 1 = 4; window o: [2o - 1, 2o + 4) */
  CHECK(fp_pool_window(&p, in, 0, 0, &start, &end) == FP_OK && start == -1 && end == 4);
  CHECK(fp_pool_window(&p, in, 0, 3, &start, &end) == FP_OK && start == 5 && end == 10);
  CHECK(fp_pool_window(&p, in, 0, 4, &start, &end) == FP_ERR_INVALID_ARGUMENT);
  CHECK(fp_pool_window(&p, in, 1, 0, &start, &end) == FP_ERR_INVALID_ARGUMENT);
  CHECK(fp_pool_first_window(&p, in, 0, -5, &o) == FP_OK && o == 0);
  CHECK(fp_pool_first_window(&p, in, 0, 2, &o) == FP_OK && o == 2); /* starts -1, 1, 3 */
  CHECK(fp_pool_first_window(&p, in, 0, 3, &o) == FP_OK && o == 2);
  CHECK(fp_pool_first_window(&p, in, 0, 4, &o) == FP_OK && o == 3);
  CHECK(fp_pool_first_window(&p, in, 0, INT64_MAX, &o) == FP_OK && o == 4);
  p.pad_mode = FP_PAD_SAME_LOWER; /* O = 5, total pad = 4*2 + 5 - 10 = 3, 2 at the start */
  CHECK(fp_pool_window(&p, in, 0, 0, &start, &end) == FP_OK && start == -2 && end == 3);
  CHECK(fp_pool_first_window(&p, in, 0, 10, &o) == FP_OK && o == 5);
}

int main(void) {
  test_max_forward_backward();
  test_avg_forward();
  test_output_shape_and_errors();
  test_unpool_and_fractional_shapes();
  test_pool_windows();
  test_strings_and_version();
  test_other_operators();
  test_every_status_code();
  test_special_poolings();
  test_bilinear_netvlad();
  test_spatial_pyramid_pool();
  test_yolo_spp();
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("all C API checks passed\n");
  return 0;
}
