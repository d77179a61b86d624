/* The reference scan of one max-pooling window, shared by every max-type
 * operator (max, adaptive max, fractional max) so the NaN/tie rule is
 * written once:  start from (-inf, index of the first cell); a value v
 * replaces the running maximum when v > max or v is NaN.  With `omit`, NaN
 * cells are skipped and a window of NaN only gives (NaN, first cell).
 *
 * The window holds the cells b0[a] + j*step[a], j in [0, cnt[a]) per axis
 * (cnt >= 1), in a plane of extents (.., H, W) and strides xs->a. */
#ifndef FP_MAXSCAN_H
#define FP_MAXSCAN_H

#include "fp_internal.h"

#define FP_IMPL "maxscan_impl.h"
#include "fp_each_dtype.h"
#undef FP_IMPL

#endif /* FP_MAXSCAN_H */
