/* The blocked GEMM for one dtype, included by gemm.c through
 * fp_each_dtype.h (float32, float64): the microkernels, one per instruction
 * set (gemm_kernel_impl.h), and the driver: packing, tile stores and the
 * threaded tile loop.  With FP_TABLE, the dtype's row of gemm.c's table.
 * See gemm.h for the contract. */
#define KN(name) FP__CAT(FP__CAT(FP__CAT(fp__, FP_SFX), _gemm__), name)

#ifdef FP_TABLE
[FP_SLOT] = {KN(run), KN(transpose), {
#endif
/* The instruction sets: baseline (16-byte vectors), AVX2 + FMA (32),
 * AVX-512 (64, with shorter block sums). */
#define FP_KISA base
#define FP_KTARGET
#define FP_VBYTES 16
#define FP_MR 4
#define FP_KC 256
#include "gemm_kernel_impl.h"
#undef FP_KISA
#undef FP_KTARGET
#undef FP_VBYTES
#undef FP_MR
#undef FP_KC
#ifdef FP_GEMM_X86
#  define FP_KISA avx2
#  define FP_KTARGET __attribute__((target("avx2,fma")))
#  define FP_VBYTES 32
#  define FP_MR 6
#  define FP_KC 256
#  include "gemm_kernel_impl.h"
#  undef FP_KISA
#  undef FP_KTARGET
#  undef FP_VBYTES
#  undef FP_MR
#  undef FP_KC
#  define FP_KISA avx512
#  define FP_KTARGET __attribute__((target("avx512f,fma")))
#  define FP_VBYTES 64
#  define FP_MR 8
#  define FP_KC 128
#  include "gemm_kernel_impl.h"
#  undef FP_KISA
#  undef FP_KTARGET
#  undef FP_VBYTES
#  undef FP_MR
#  undef FP_KC
#endif
#ifdef FP_TABLE
}},
#else

/* The in-register transpose blocks (gemm.c): FP_TB x FP_TB elements. */
#define FP_TVT FP__CAT(fp__tvec_, FP_SFX)
#define FP_TB ((int)(sizeof(FP_TVT) / sizeof(FP_T)))
#define FP_TRANSPOSE FP__CAT(fp__transpose_block_, FP_SFX)

/* Transposing copy: dst[k*w + j] = src_j[k] for j < jn (a multiple of
 * FP_TB) and k < kc, where row j starts at base + off[j] and steps by one
 * element along k.  Blocks of FP_TB x FP_TB go through vector shuffles. */
FP_SIMD_CLONES static void KN(pack_t)(const FP_T *base, const int64_t *off, int64_t jn,
                                       int64_t kc, int64_t w, FP_T *dst) {
  for (int64_t j0 = 0; j0 < jn; j0 += FP_TB) {
    const FP_T *src[FP_TB];
    for (int r = 0; r < FP_TB; r++) src[r] = base + off[j0 + r];
    int64_t k = 0;
    for (; k + FP_TB <= kc; k += FP_TB) {
      FP_TVT v[FP_TB];
      for (int r = 0; r < FP_TB; r++) memcpy(&v[r], src[r] + k, sizeof(FP_TVT));
      FP_TRANSPOSE(v);
      for (int r = 0; r < FP_TB; r++) memcpy(dst + (k + r) * w + j0, &v[r], sizeof(FP_TVT));
    }
    for (; k < kc; k++)
      for (int r = 0; r < FP_TB; r++) dst[k * w + j0 + r] = src[r][k];
  }
}

/* dst[c*drs + r] = src[r*srs + c] for r < rows, c < cols (both unit along
 * the inner index): FP_TB x FP_TB blocks through vector shuffles. */
FP_SIMD_CLONES static void KN(transpose)(const void *srcv, int64_t srs, void *dstv, int64_t drs,
                                         int64_t rows, int64_t cols) {
  const FP_T *src = (const FP_T *)srcv;
  FP_T *dst = (FP_T *)dstv;
  int64_t r = 0;
  for (; r + FP_TB <= rows; r += FP_TB) {
    int64_t c = 0;
    for (; c + FP_TB <= cols; c += FP_TB) {
      FP_TVT v[FP_TB];
      for (int i = 0; i < FP_TB; i++) memcpy(&v[i], src + (r + i) * srs + c, sizeof(FP_TVT));
      FP_TRANSPOSE(v);
      for (int i = 0; i < FP_TB; i++) memcpy(dst + (c + i) * drs + r, &v[i], sizeof(FP_TVT));
    }
    for (; c < cols; c++)
      for (int i = 0; i < FP_TB; i++) dst[c * drs + r + i] = src[(r + i) * srs + c];
  }
  for (; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) dst[c * drs + r] = src[r * srs + c];
}

/* A block of A (rows roff[0..mcc), columns koff[0..kc)) into MR-row panels:
 * panel p holds dst[k*mr + r] = A(p*mr + r, k), rows past mcc as 0. */
FP_SIMD_CLONES static void KN(pack_a)(const FP_T *a, const int64_t *roff, int64_t mcc, int rows_unit,
                       const int64_t *koff, int64_t kc, int k_unit, int mr, FP_T *dst) {
  for (int64_t p = 0; p < mcc; p += mr, dst += kc * mr) {
    const int64_t rr = mcc - p < mr ? mcc - p : mr;
    if (rows_unit && rr == mr) {
      /* the MR rows sit side by side: one short copy per k */
      const FP_T *src = a + roff[p];
      for (int64_t k = 0; k < kc; k++)
        for (int r = 0; r < mr; r++) dst[k * mr + r] = src[koff[k] + r];
      continue;
    }
    if (k_unit && rr == mr && mr % FP_TB == 0) {
      KN(pack_t)(a + koff[0], roff + p, mr, kc, mr, dst);
      continue;
    }
    for (int64_t r = 0; r < mr; r++) {
      FP_T *d = dst + r;
      if (r < rr) {
        const FP_T *src = a + roff[p + r];
        for (int64_t k = 0; k < kc; k++) d[k * mr] = src[koff[k]];
      } else {
        for (int64_t k = 0; k < kc; k++) d[k * mr] = 0;
      }
    }
  }
}

/* A block of B (rows koff[0..kc), columns coff[0..ncc)) into NR-column
 * panels: panel q holds dst[k*nr + j] = B(k, q*nr + j), columns past ncc 0. */
FP_SIMD_CLONES static void KN(pack_b)(const FP_T *b, const int64_t *koff, int64_t kc, int k_unit,
                       const int64_t *coff, int64_t ncc, int cols_unit, int nr, FP_T *dst) {
  for (int64_t q = 0; q < ncc; q += nr, dst += kc * nr) {
    const int64_t cc = ncc - q < nr ? ncc - q : nr;
    if (cols_unit && cc == nr) {
      const FP_T *src = b + coff[q];
      for (int64_t k = 0; k < kc; k++)
        for (int j = 0; j < nr; j++) dst[k * nr + j] = src[koff[k] + j];
      continue;
    }
    if (k_unit && cc == nr && nr % FP_TB == 0) {
      KN(pack_t)(b + koff[0], coff + q, nr, kc, nr, dst);
      continue;
    }
    for (int64_t j = 0; j < nr; j++) {
      FP_T *d = dst + j;
      if (j < cc) {
        const FP_T *src = b + coff[q + j];
        for (int64_t k = 0; k < kc; k++) d[k * nr] = src[koff[k]];
      } else {
        for (int64_t k = 0; k < kc; k++) d[k * nr] = 0;
      }
    }
  }
}

/* acc (rr x cc of an mr x nr block) into C at row offsets ro[], column
 * offsets co[]: C = alpha*acc when first, else C += alpha*acc. */
static void KN(store)(FP_T *c, const int64_t *ro, const int64_t *co, int64_t rr, int64_t cc,
                      const FP_T *acc, int nr, FP_T alpha, int first, int cols_unit) {
  if (cols_unit) {
    /* unit column stride: contiguous row segments, vectorisable */
    for (int64_t i = 0; i < rr; i++) {
      FP_T *row = c + ro[i] + co[0];
      const FP_T *s = acc + i * nr;
      if (first)
        for (int64_t j = 0; j < cc; j++) row[j] = alpha * s[j];
      else
        for (int64_t j = 0; j < cc; j++) row[j] += alpha * s[j];
    }
    return;
  }
  for (int64_t i = 0; i < rr; i++) {
    FP_T *row = c + ro[i];
    const FP_T *s = acc + i * nr;
    if (first)
      for (int64_t j = 0; j < cc; j++) row[co[j]] = alpha * s[j];
    else
      for (int64_t j = 0; j < cc; j++) row[co[j]] += alpha * s[j];
  }
}

/* The same block written transposed: C(j, i) for the block's (i, j). */
static void KN(store_t)(FP_T *c, const int64_t *ro_of_cols, const int64_t *co_of_rows, int64_t rr,
                        int64_t cc, const FP_T *acc, int nr, FP_T alpha, int first) {
  for (int64_t j = 0; j < cc; j++) {
    FP_T *row = c + ro_of_cols[j];
    if (first)
      for (int64_t i = 0; i < rr; i++) row[co_of_rows[i]] = alpha * acc[i * nr + j];
    else
      for (int64_t i = 0; i < rr; i++) row[co_of_rows[i]] += alpha * acc[i * nr + j];
  }
}

static void KN(zero)(const fp__gemm *g, int nt) {
  const int64_t nb = g->reduce ? 1 : g->batch;
  (void)nt;
  for (int64_t b = 0; b < nb; b++) {
    FP_T *c = (FP_T *)g->c.data + b * g->c.bs;
    int64_t ro, co;
    for (int64_t i = 0; i < g->m; i++) {
      fp__axis_offsets(&g->c.r, i, 1, &ro);
      for (int64_t j = 0; j < g->n; j++) {
        fp__axis_offsets(&g->c.c, j, 1, &co);
        c[ro + co] = 0;
      }
    }
  }
}

/* Row index ti of the upper-triangle tile number t (tiles (ti, tj), ti <= tj,
 * row-major over a mt x mt grid). */
static inline void KN(upper_tile)(int64_t t, int64_t mt, int64_t *ti, int64_t *tj) {
  int64_t i = 0;
  while (t >= mt - i) {
    t -= mt - i;
    i++;
  }
  *ti = i;
  *tj = i + t;
}

/* One call's tiling, for the tile chunks. */
typedef struct KN(tiles_ctx) {
  const fp__gemm *g;
  void *pack;
  size_t pack_bytes;
  const fp__gemm_kernel *uk;
  int64_t mc, nc, mt, ntl, tiles;
  FP_T alpha;
  int a_rows_unit, b_cols_unit, c_cols_unit, a_k_unit, b_k_unit;
} KN(tiles_ctx);

/* Tasks [begin, end) (tile tl of batch entry bt for task bt * tiles + tl),
 * with the packing buffers of slot `slot`.  Every output element belongs to
 * one tile: tasks write disjoint elements. */
static void KN(tiles_chunk)(void *ctx, int64_t begin, int64_t end, int slot) {
  const KN(tiles_ctx) *x = (const KN(tiles_ctx) *)ctx;
  const fp__gemm *g = x->g;
  const fp__gemm_kernel *uk = x->uk;
  const int64_t m = g->m, n = g->n, k = g->k;
  const int mr = uk->mr, nr = uk->nr;
  const int64_t kcmax = uk->kc;
  const int64_t mc = x->mc, nc = x->nc, mt = x->mt, ntl = x->ntl, tiles = x->tiles;
  const FP_T alpha = x->alpha;
  const int a_rows_unit = x->a_rows_unit, b_cols_unit = x->b_cols_unit;
  const int c_cols_unit = x->c_cols_unit, a_k_unit = x->a_k_unit, b_k_unit = x->b_k_unit;
  FP_T *pa = (FP_T *)((char *)x->pack + (size_t)slot * x->pack_bytes);
  FP_T *pb = pa + FP_GEMM_MC_MAX * FP_GEMM_KC_MAX;
  int64_t aro[FP_GEMM_MC_MAX], bco[FP_GEMM_NC_MAX], ko_a[FP_GEMM_KC_MAX], ko_b[FP_GEMM_KC_MAX];
  int64_t cro[FP_GEMM_MC_MAX], cco[FP_GEMM_NC_MAX], mro[FP_GEMM_NC_MAX], mco[FP_GEMM_MC_MAX];
  FP_T acc[FP_GEMM_MR_MAX * FP_GEMM_NR_MAX];
  for (int64_t t = begin; t < end; t++) {
    const int64_t bt = t / tiles, tl = t % tiles;
    int64_t ti, tj;
    if (g->symmetric) KN(upper_tile)(tl, mt, &ti, &tj);
    else {
      ti = tl / ntl;
      tj = tl % ntl;
    }
    const int64_t i0 = ti * mc, j0 = tj * nc;
    const int64_t mcc = m - i0 < mc ? m - i0 : mc, ncc = n - j0 < nc ? n - j0 : nc;
    const int mirror = g->symmetric == FP__GEMM_SYM_MIRROR && ti != tj;
    fp__axis_offsets(&g->a.r, i0, mcc, aro);
    fp__axis_offsets(&g->b.c, j0, ncc, bco);
    fp__axis_offsets(&g->c.r, i0, mcc, cro);
    fp__axis_offsets(&g->c.c, j0, ncc, cco);
    if (mirror) {
      fp__axis_offsets(&g->c.r, j0, ncc, mro);
      fp__axis_offsets(&g->c.c, i0, mcc, mco);
    }
    const int64_t b0 = g->reduce ? 0 : bt, b1 = g->reduce ? g->batch : bt + 1;
    FP_T *cdata = (FP_T *)g->c.data + (g->reduce ? 0 : bt * g->c.bs);
    for (int64_t b = b0; b < b1; b++) {
      const FP_T *adata = (const FP_T *)g->a.data + b * g->a.bs;
      const FP_T *bdata = (const FP_T *)g->b.data + b * g->b.bs;
      for (int64_t k0 = 0; k0 < k; k0 += kcmax) {
        const int64_t kc = k - k0 < kcmax ? k - k0 : kcmax;
        const int first = !g->accumulate && b == b0 && k0 == 0;
        fp__axis_offsets(&g->a.c, k0, kc, ko_a);
        fp__axis_offsets(&g->b.r, k0, kc, ko_b);
        KN(pack_a)(adata, aro, mcc, a_rows_unit, ko_a, kc, a_k_unit, mr, pa);
        KN(pack_b)(bdata, ko_b, kc, b_k_unit, bco, ncc, b_cols_unit, nr, pb);
        for (int64_t jr = 0; jr < ncc; jr += nr) {
          const int64_t cc = ncc - jr < nr ? ncc - jr : nr;
          const FP_T *pbj = pb + jr * kc;
          for (int64_t ir = 0; ir < mcc; ir += mr) {
            const int64_t rr = mcc - ir < mr ? mcc - ir : mr;
            uk->fn(kc, pa + ir * kc, pbj, acc);
            KN(store)(cdata, cro + ir, cco + jr, rr, cc, acc, nr, alpha, first, c_cols_unit);
            if (mirror) KN(store_t)(cdata, mro + jr, mco + ir, rr, cc, acc, nr, alpha, first);
          }
        }
      }
    }
  }
}

static void KN(run)(const fp__gemm *g, void *pack, size_t pack_bytes, int nt,
                    const fp__gemm_kernel *uk) {
  const int64_t m = g->m, n = g->n, k = g->k;
  if (m <= 0 || n <= 0 || (!g->reduce && g->batch <= 0)) return;
  if (k <= 0 || g->batch <= 0) {
    if (!g->accumulate) KN(zero)(g, nt);
    return;
  }
  const int mr = uk->mr, nr = uk->nr;
  /* Tile sizes: as large as the packing buffers allow, then halved until
   * every thread has a couple of tiles.  Tiling does not change results. */
  int64_t mc, nc, mt, ntl, tiles;
  const int64_t nbatch = g->reduce ? 1 : g->batch;
  if (g->symmetric) {
    /* tile sizes step by lcm(mr, nr) */
    int64_t q = mr, r = nr;
    while (r) {
      const int64_t t = q % r;
      q = r;
      r = t;
    }
    q = (int64_t)mr / q * nr;
    int64_t s = FP_GEMM_SYM_TILE - FP_GEMM_SYM_TILE % q;
    const int64_t need = (m + q - 1) / q * q;
    if (s > need) s = need;
    for (;;) {
      mt = (m + s - 1) / s;
      tiles = mt * (mt + 1) / 2;
      if (tiles * nbatch >= 2 * (int64_t)nt || s <= q) break;
      s = ((s / 2 + q - 1) / q) * q;
    }
    mc = nc = s;
    ntl = mt;
  } else {
    mc = FP_GEMM_MC_MAX - FP_GEMM_MC_MAX % mr;
    nc = FP_GEMM_NC_MAX - FP_GEMM_NC_MAX % nr;
    const int64_t needm = (m + mr - 1) / mr * mr, needn = (n + nr - 1) / nr * nr;
    if (mc > needm) mc = needm;
    if (nc > needn) nc = needn;
    for (;;) {
      mt = (m + mc - 1) / mc;
      ntl = (n + nc - 1) / nc;
      tiles = mt * ntl;
      if (tiles * nbatch >= 2 * (int64_t)nt) break;
      if (nc > nr && nc >= mc) nc = ((nc / 2 + nr - 1) / nr) * nr;
      else if (mc > mr) mc = ((mc / 2 + mr - 1) / mr) * mr;
      else if (nc > nr) nc = ((nc / 2 + nr - 1) / nr) * nr;
      else break;
    }
  }
  const int64_t tasks = tiles * nbatch;
  KN(tiles_ctx) ctx;
  ctx.g = g;
  ctx.pack = pack;
  ctx.pack_bytes = pack_bytes;
  ctx.uk = uk;
  ctx.mc = mc;
  ctx.nc = nc;
  ctx.mt = mt;
  ctx.ntl = ntl;
  ctx.tiles = tiles;
  ctx.alpha = (FP_T)g->alpha;
  ctx.a_rows_unit = g->a.r.n == 1 && g->a.r.str[0] == 1;
  ctx.b_cols_unit = g->b.c.n == 1 && g->b.c.str[0] == 1;
  ctx.c_cols_unit = g->c.c.n == 1 && g->c.c.str[0] == 1;
  ctx.a_k_unit = g->a.c.n == 1 && g->a.c.str[0] == 1;
  ctx.b_k_unit = g->b.r.n == 1 && g->b.r.str[0] == 1;
  if (nt > tasks) nt = (int)tasks;
  fp__parallel(nt, tasks, KN(tiles_chunk), &ctx);
}

#undef FP_TVT
#undef FP_TB
#undef FP_TRANSPOSE
#endif /* FP_TABLE */
#undef KN
