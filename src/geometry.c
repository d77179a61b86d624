/* Output size, padding resolution and the ceil-mode drop rule: the one place
 * where pooling geometry is computed (see fastpool.h for the rules). */
#include "fp_internal.h"

#define FP_KNOWN_FLAGS (FP_FLAG_CEIL_MODE | FP_FLAG_COUNT_INCLUDE_PAD | FP_FLAG_NAN_OMIT)

static int mul_ok(int64_t a, int64_t b, int64_t *r) { return !__builtin_mul_overflow(a, b, r); }
static int add_ok(int64_t a, int64_t b, int64_t *r) { return !__builtin_add_overflow(a, b, r); }

/* One axis: resolves the pads (for SAME modes) and computes the output
 * size, or returns the status that explains why there is none. */
static fp_status axis_geometry(int64_t in, int64_t k, int64_t s, int64_t d, int pad_mode,
                               int ceil_mode, int64_t *pb, int64_t *pe, int64_t *out) {
  int64_t ek, span, o;
  if (!mul_ok(d, k - 1, &ek) || !add_ok(ek, 1, &ek)) return FP_ERR_OVERFLOW;
  if (pad_mode != FP_PAD_EXPLICIT) {
    int64_t o_same = in / s + (in % s != 0), total;
    if (o_same < 1) o_same = 1;
    if (!mul_ok(o_same - 1, s, &total) || !add_ok(total, ek, &total)) return FP_ERR_OVERFLOW;
    total -= in;
    if (total < 0) total = 0;
    if (pad_mode == FP_PAD_SAME_UPPER) {
      *pb = total / 2;
    } else {
      *pb = total - total / 2;
    }
    *pe = total - *pb;
  }
  if (!add_ok(in, *pb, &span) || !add_ok(span, *pe, &span)) return FP_ERR_OVERFLOW;
  span -= ek;
  if (ceil_mode && !add_ok(span, s - 1, &span)) return FP_ERR_OVERFLOW;
  if (span < 0) return FP_ERR_OUTPUT_SIZE;
  o = span / s + 1;
  if (ceil_mode && (o - 1) * s >= in + *pb) o -= 1;
  if (o < 1) return FP_ERR_OUTPUT_SIZE;
  *out = o;
  return FP_OK;
}

fp_status fp__geom_init(const fp_pool_params *p, const int64_t *in_shape, fp__geom *g) {
  if (!p || !in_shape || !g) return FP_ERR_NULL_POINTER;
  if (p->struct_size != sizeof(fp_pool_params)) return FP_ERR_STRUCT_SIZE;
  if (p->rank < 1 || p->rank > FP_MAX_SPATIAL) return FP_ERR_INVALID_ARGUMENT;
  if (p->flags & ~FP_KNOWN_FLAGS) return FP_ERR_INVALID_ARGUMENT;
  if (p->pad_mode != FP_PAD_EXPLICIT && p->pad_mode != FP_PAD_SAME_UPPER &&
      p->pad_mode != FP_PAD_SAME_LOWER)
    return FP_ERR_INVALID_ARGUMENT;
  if (fp__bad_threads(p->num_threads) || p->divisor_override < 0) return FP_ERR_INVALID_ARGUMENT;
  const int r = p->rank;
  for (int i = 0; i < r + 2; i++)
    if (in_shape[i] < 0) return FP_ERR_BAD_SHAPE;
  g->rank = r;
  g->n = in_shape[0];
  g->c = in_shape[1];
  const int lead = FP_MAX_SPATIAL - r;
  fp_status worst = FP_OK;
  for (int a = 0; a < FP_MAX_SPATIAL; a++) {
    if (a < lead) {
      g->in[a] = g->out[a] = g->k[a] = g->s[a] = g->d[a] = 1;
      g->pb[a] = g->pe[a] = 0;
      continue;
    }
    const int i = a - lead;
    if (p->kernel[i] < 1 || p->stride[i] < 1 || p->dilation[i] < 1) return FP_ERR_INVALID_ARGUMENT;
    if (p->pad_mode == FP_PAD_EXPLICIT && (p->pad_begin[i] < 0 || p->pad_end[i] < 0))
      return FP_ERR_INVALID_ARGUMENT;
    g->in[a] = in_shape[2 + i];
    g->k[a] = p->kernel[i];
    g->s[a] = p->stride[i];
    g->d[a] = p->dilation[i];
    g->pb[a] = p->pad_begin[i];
    g->pe[a] = p->pad_end[i];
    fp_status st = axis_geometry(g->in[a], g->k[a], g->s[a], g->d[a], p->pad_mode,
                                 (p->flags & FP_FLAG_CEIL_MODE) != 0, &g->pb[a], &g->pe[a],
                                 &g->out[a]);
    /* Argument errors win over size errors, whichever axis shows them. */
    if (st != FP_OK && worst == FP_OK) worst = st;
  }
  if (worst != FP_OK) return worst;
  int64_t inp = 1, outp = 1, t;
  for (int a = 0; a < FP_MAX_SPATIAL; a++) {
    if (!mul_ok(inp, g->in[a], &inp) || !mul_ok(outp, g->out[a], &outp)) return FP_ERR_OVERFLOW;
  }
  if (!mul_ok(g->n, g->c, &t) || !mul_ok(t, inp, &t) || !mul_ok(g->n * g->c, outp, &t))
    return FP_ERR_OVERFLOW;
  g->in_plane = inp;
  g->out_plane = outp;
  return FP_OK;
}

void fp__geom_out_shape(const fp__geom *g, int64_t *out_shape) {
  const int lead = FP_MAX_SPATIAL - g->rank;
  out_shape[0] = g->n;
  out_shape[1] = g->c;
  for (int i = 0; i < g->rank; i++) out_shape[2 + i] = g->out[lead + i];
}

fp_status fp_pool_output_shape(const fp_pool_params *params, const int64_t *in_shape,
                               int64_t *out_shape, int64_t *pad_begin, int64_t *pad_end) {
  fp__geom g;
  if (!out_shape) return FP_ERR_NULL_POINTER;
  fp_status st = fp__geom_init(params, in_shape, &g);
  if (st != FP_OK) return st;
  fp__geom_out_shape(&g, out_shape);
  const int lead = FP_MAX_SPATIAL - g.rank;
  for (int i = 0; i < g.rank; i++) {
    if (pad_begin) pad_begin[i] = g.pb[lead + i];
    if (pad_end) pad_end[i] = g.pe[lead + i];
  }
  return FP_OK;
}

fp_status fp__geom_from_shapes(int rank, const int64_t *in_shape, const int64_t *out_shape,
                               fp__geom *g) {
  if (rank < 1 || rank > FP_MAX_SPATIAL) return FP_ERR_BAD_NDIM;
  if (in_shape[0] != out_shape[0] || in_shape[1] != out_shape[1]) return FP_ERR_SHAPE_MISMATCH;
  g->rank = rank;
  g->n = in_shape[0];
  g->c = in_shape[1];
  const int lead = FP_MAX_SPATIAL - rank;
  int64_t inp = 1, outp = 1, t;
  for (int a = 0; a < FP_MAX_SPATIAL; a++) {
    g->in[a] = a < lead ? 1 : in_shape[2 + a - lead];
    g->out[a] = a < lead ? 1 : out_shape[2 + a - lead];
    if (g->in[a] < 0 || g->out[a] < 0) return FP_ERR_BAD_SHAPE;
    g->k[a] = g->s[a] = g->d[a] = 1;
    g->pb[a] = g->pe[a] = 0;
    if (!mul_ok(inp, g->in[a], &inp) || !mul_ok(outp, g->out[a], &outp)) return FP_ERR_OVERFLOW;
  }
  if (!mul_ok(g->n, g->c, &t) || !mul_ok(t, inp, &t) || !mul_ok(g->n * g->c, outp, &t))
    return FP_ERR_OVERFLOW;
  g->in_plane = inp;
  g->out_plane = outp;
  return FP_OK;
}

fp_status fp_adaptive_window(int64_t in_size, int64_t out_size, int64_t o, int64_t *start,
                             int64_t *end) {
  if (!start || !end) return FP_ERR_NULL_POINTER;
  if (in_size < 0 || out_size < 1 || o < 0 || o >= out_size) return FP_ERR_INVALID_ARGUMENT;
  fp__adaptive_bounds(in_size, out_size, o, start, end);
  return FP_OK;
}

/* Parameters both output-shape functions below read: struct, rank, kernel. */
static fp_status shape_params(const fp_pool_params *p, const int64_t *in_shape,
                              const int64_t *out_shape) {
  if (!p || !in_shape || !out_shape) return FP_ERR_NULL_POINTER;
  if (p->struct_size != sizeof(fp_pool_params)) return FP_ERR_STRUCT_SIZE;
  if (p->rank < 1 || p->rank > FP_MAX_SPATIAL) return FP_ERR_INVALID_ARGUMENT;
  for (int i = 0; i < p->rank + 2; i++)
    if (in_shape[i] < 0) return FP_ERR_BAD_SHAPE;
  for (int i = 0; i < p->rank; i++)
    if (p->kernel[i] < 1) return FP_ERR_INVALID_ARGUMENT;
  return FP_OK;
}

fp_status fp_max_unpool_output_shape(const fp_pool_params *params, const int64_t *in_shape,
                                     const int64_t *output_size, int64_t *out_shape) {
  fp_status st = shape_params(params, in_shape, out_shape);
  if (st != FP_OK) return st;
  if (params->pad_mode != FP_PAD_EXPLICIT) return FP_ERR_INVALID_ARGUMENT;
  const int r = params->rank;
  __int128 def[FP_MAX_SPATIAL];
  for (int i = 0; i < r; i++) {
    const int64_t s = params->stride[i], pb = params->pad_begin[i], pe = params->pad_end[i];
    if (s < 1 || pb < 0 || pe < 0) return FP_ERR_INVALID_ARGUMENT;
    /* exact: |(I - 1) * s| < 2**126 */
    def[i] = (__int128)(in_shape[2 + i] - 1) * s - pb - pe + params->kernel[i];
    if (def[i] + s > INT64_MAX) return FP_ERR_OVERFLOW;
  }
  out_shape[0] = in_shape[0];
  out_shape[1] = in_shape[1];
  st = FP_OK;
  for (int i = 0; i < r; i++) {
    const int64_t s = params->stride[i];
    if (output_size) {
      out_shape[2 + i] = output_size[i];
      if (!(def[i] - s < output_size[i] && output_size[i] < def[i] + s)) st = FP_ERR_OUTPUT_SIZE;
    } else {
      out_shape[2 + i] = def[i] < INT64_MIN ? INT64_MIN : (int64_t)def[i];
    }
    if (out_shape[2 + i] < 1) st = FP_ERR_OUTPUT_SIZE;
  }
  return st;
}

fp_status fp_fractional_output_shape(const fp_pool_params *params, const int64_t *in_shape,
                                     const int64_t *output_size, const double *output_ratio,
                                     int64_t *out_shape) {
  fp_status st = shape_params(params, in_shape, out_shape);
  if (st != FP_OK) return st;
  if (!output_size == !output_ratio) return FP_ERR_INVALID_ARGUMENT;
  const int r = params->rank;
  if (output_ratio)
    for (int i = 0; i < r; i++)
      if (!(output_ratio[i] > 0.0 && output_ratio[i] < 1.0)) return FP_ERR_INVALID_ARGUMENT;
  out_shape[0] = in_shape[0];
  out_shape[1] = in_shape[1];
  for (int i = 0; i < r; i++) {
    const int64_t in = in_shape[2 + i], k = params->kernel[i];
    int64_t o;
    if (output_ratio) {
      const double v = (double)in * output_ratio[i]; /* < 2**63: a ratio is < 1 */
      o = v < 9223372036854775808.0 ? (int64_t)v : in;
    } else {
      o = output_size[i];
    }
    out_shape[2 + i] = o;
    if (o < 1 || k > in || o > in - k + 1) st = FP_ERR_OUTPUT_SIZE;
  }
  return st;
}

/* One axis of the geometry, for the two window queries below. */
static fp_status axis_of(const fp_pool_params *params, const int64_t *in_shape, int32_t axis,
                         fp__geom *g, int *a) {
  fp_status st = fp__geom_init(params, in_shape, g);
  if (st != FP_OK) return st;
  if (axis < 0 || axis >= g->rank) return FP_ERR_INVALID_ARGUMENT;
  *a = FP_MAX_SPATIAL - g->rank + axis;
  return FP_OK;
}

fp_status fp_pool_window(const fp_pool_params *params, const int64_t *in_shape, int32_t axis,
                         int64_t o, int64_t *start, int64_t *end) {
  fp__geom g;
  int a;
  if (!start || !end) return FP_ERR_NULL_POINTER;
  fp_status st = axis_of(params, in_shape, axis, &g, &a);
  if (st != FP_OK) return st;
  if (o < 0 || o >= g.out[a]) return FP_ERR_INVALID_ARGUMENT;
  /* fp__geom_init has checked that the last window's end fits in int64 */
  *start = o * g.s[a] - g.pb[a];
  *end = *start + g.d[a] * (g.k[a] - 1) + 1;
  return FP_OK;
}

fp_status fp_pool_first_window(const fp_pool_params *params, const int64_t *in_shape,
                               int32_t axis, int64_t pos, int64_t *o) {
  fp__geom g;
  int a;
  if (!o) return FP_ERR_NULL_POINTER;
  fp_status st = axis_of(params, in_shape, axis, &g, &a);
  if (st != FP_OK) return st;
  /* the least o >= 0 with o*s - pb >= pos, i.e. ceil((pos + pb) / s), capped at O */
  const __int128 t = (__int128)pos + g.pb[a];
  int64_t first;
  if (t <= 0) {
    first = 0;
  } else {
    const __int128 q = (t + g.s[a] - 1) / g.s[a];
    first = q < g.out[a] ? (int64_t)q : g.out[a];
  }
  *o = first;
  return FP_OK;
}
