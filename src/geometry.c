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

fp_status fp_pool_output_shape(const fp_pool_params *params, const int64_t *in_shape,
                               int64_t *out_shape, int64_t *pad_begin, int64_t *pad_end) {
  fp__geom g;
  if (!out_shape) return FP_ERR_NULL_POINTER;
  fp_status st = fp__geom_init(params, in_shape, &g);
  if (st != FP_OK) return st;
  const int lead = FP_MAX_SPATIAL - g.rank;
  out_shape[0] = g.n;
  out_shape[1] = g.c;
  for (int i = 0; i < g.rank; i++) {
    out_shape[2 + i] = g.out[lead + i];
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
