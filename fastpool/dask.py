"""Pooling of dask arrays with fastpool's kernels: lazy, chunk by chunk, exact.

Every function here takes a :class:`dask.array.Array` laid out as fastpool's
in-memory functions expect (``(N, C, *spatial)``, unbatched ``(C, *spatial)``,
or with ``channels_last=True`` ``(N, *spatial, C)`` / ``(*spatial, C)``) and
returns a lazy dask array.  Nothing is computed until you call ``.compute()``,
``dask.compute`` or store the result (``da.to_zarr``, :func:`to_zarr`); each
task runs one in-memory fastpool call on one block, so it works the same on the
threaded scheduler, in worker processes and on a ``dask.distributed`` cluster.

How the chunks are cut, and why the result equals the in-memory one
-------------------------------------------------------------------
Along one spatial axis, output ``o`` of a windowed pooling (max, average, Lp)
reads only the taps of the window ``[o*s - pb, o*s - pb + ek)`` (``ek =
d*(k-1) + 1``, ``pb``/``pe`` the resolved begin/end pads, asked of fastpool's
own geometry code, so ``"same"`` and ``ceil_mode`` are resolved exactly as in
memory).  The outputs are split into blocks ``[o0, o1)``; a block's windows
start in roughly one input chunk (the first window starting at or after each
input chunk boundary opens a new block).  The block needs the input range
``[lo, hi) = [o0*s - pb, (o1-1)*s - pb + ek)``; its part inside the input,
``[a, b)``, is cut out of the dask array (slicing plus a rechunk, so the
piece is exactly one chunk: the halo across chunk edges is exactly what the
windows read; when the chunks already are the pieces, as for 2x2 pooling of
even chunks, they are used as they are), and fastpool is called on that piece with
explicit ``(begin, end)`` pads chosen so the local windows are the global ones
shifted by ``o0*s``:

* every block but the last along the axis: begin pad ``a - lo``, end pad
  ``hi - b``.  The local extent is then ``hi - lo = (n-1)*s + ek`` for ``n =
  o1 - o0`` outputs, which gives exactly ``n`` windows in floor and in ceil
  mode.  Boundaries are only placed where every earlier window starts inside
  the input, so the ceil-mode rule "no window may start in the end padding"
  drops nothing locally, and no window of these blocks reaches past
  ``I + pe`` (only the very last window can), so the ``count_include_pad``
  divisor is the full window there and here;
* the last block along the axis: the piece runs to the end of the input (it
  may include the fewer than ``s`` trailing cells that floor mode leaves
  unread) and the call gets the global end pad and the global ``ceil_mode``.  Its local
  geometry is the global one shifted by ``o0*s``: the same output count, the
  same ceil-mode drop rule and the same clipping of the average divisor at
  ``I + pe``;
* a block whose windows all lie in padding (huge pads) gets an empty piece
  and pads that make the same count, so fastpool itself gives -inf (max) or 0.

Each output is therefore computed by the same kernel from the same window
cells in the same order and with the same divisor as in memory: max is bit for
bit identical, and average and Lp pooling give identical floats.  Max-pooling
indices are translated from the piece to the global ``(n, c)`` plane.  The
tests compare against in-memory fastpool with exact equality for aligned,
unaligned, single and smaller-than-the-window chunkings.

Adaptive pooling: the windows ``[floor(o*I/O), ceil((o+1)*I/O))`` repeat
every ``P = O/gcd(I, O)`` outputs and ``Q = I/gcd(I, O)`` inputs, so input
chunks whose boundaries are multiples of ``Q`` hold disjoint, complete sets of
windows, and fastpool's adaptive pooling of such a chunk to ``len*P/Q`` outputs
is exactly the global result.  The input is rechunked along each axis to the
multiple of ``Q`` nearest each existing boundary (no halo).  When ``I`` and
``O`` are coprime that multiple is the whole axis, which is then one chunk.
In memory, adaptive average pooling runs one of three kernels (uniform
windows: the regular average kernel; one output per plane of a C-contiguous
array: a whole-plane mean that sums in another order; otherwise the adaptive
kernel); each block is sent to the kernel the in-memory call on a C-contiguous
array takes, so the floats are the same.

Global pooling reduces each block and combines the partials: max is the max
of the per-block maxima (identical values; when the maximum is a zero its sign
may differ from in-memory); average sums in float64 and Lp combines per-block
float64 norms, so the last bits of those may differ from in-memory fastpool.
If every ``(n, c)`` plane is one chunk, global pooling is one fastpool call
per block and is identical.

``pyramid`` builds a multi-scale pyramid by repeated pooling and
:func:`to_zarr` writes one to a Zarr group.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Sequence
from typing import Any, NamedTuple

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize

import fastpool
from fastpool import _core
from fastpool._args import _pool as _geometry  # the C core's geometry, as in memory

__all__ = [
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "global_max_pool",
    "global_avg_pool",
    "global_lp_pool",
    "pyramid",
    "to_zarr",
]


# --------------------------------------------------------------------------
# Layout


class _Layout(NamedTuple):
    batched: bool
    channels_last: bool
    spatial: tuple[int, ...]  # positions of the spatial axes in the user's layout
    logical: tuple[int, ...]  # (N, C, *spatial) shape for the geometry code


def _as_dask(name: str, x: Any) -> da.Array:
    if isinstance(x, da.Array):
        return x
    raise TypeError(f"{name}: x must be a dask.array.Array, got {type(x).__name__} (wrap "
                    "NumPy data with dask.array.from_array(x, chunks=...), or call the "
                    "in-memory fastpool function)")


def _layout(name: str, x: da.Array, rank: int, channels_last: bool) -> _Layout:
    if any(isinstance(c, float) and math.isnan(c) for c in x.shape):
        raise ValueError(f"{name}: x has unknown chunk sizes; call x.compute_chunk_sizes() first")
    if x.ndim == rank + 2:
        batched = True
    elif x.ndim == rank + 1:
        batched = False
    else:
        raise ValueError(
            f"{name}: x must have {rank + 1} (unbatched) or {rank + 2} (batched) dimensions, "
            f"got shape {x.shape}"
        )
    lead = 1 if batched else 0
    first = lead if channels_last else lead + 1
    spatial = tuple(range(first, first + rank))
    n = x.shape[0] if batched else 1
    c = x.shape[-1] if channels_last else x.shape[lead]
    logical = (n, c) + tuple(x.shape[a] for a in spatial)
    return _Layout(batched, channels_last, spatial, logical)


def _index(ndim: int, axis: int, sl: slice) -> tuple:
    idx = [slice(None)] * ndim
    idx[axis] = sl
    return tuple(idx)


# --------------------------------------------------------------------------
# Windowed pooling: the per-axis plan


class _Piece(NamedTuple):
    """One output block along one axis: outputs [o0, o1) computed from input
    [a, b) (None: no input cell, only padding) with local pads (pb, pe)."""

    o0: int
    o1: int
    a: int | None
    b: int | None
    pb: int
    pe: int


def _window_plan(chunks: Sequence[int], size: int, k: int, s: int, d: int, pb: int, pe: int,
                 flags: int, out: int) -> list[_Piece]:
    """Output blocks of one axis and the input piece and local pads of each.

    The output block boundaries are the first windows starting at or after each
    input chunk boundary, kept only where every earlier window starts inside
    the input (see the module docstring for why the local calls then equal the
    global one).  Window positions come from the C core's geometry
    (``fp_pool_window``, ``fp_pool_first_window``).
    """
    if size == 0:  # nothing to cut: one block, the global call itself
        return [_Piece(0, out, 0, 0, pb, pe)]
    axis = ((1, 1, size), (k,), (s,), (pb,), (pe,), (d,), flags, 0)

    def first(pos: int) -> int:
        return _core.pool_first_window(*axis, pos)

    def window(o: int) -> tuple[int, int]:
        return _core.pool_window(*axis, o)

    cut = first(size)  # windows o < cut start before the end of the input
    bounds = {0, out}
    pos = 0
    for c in chunks[:-1]:
        pos += c
        o = first(pos)
        if 0 < o < cut:
            bounds.add(o)
    edges = sorted(bounds)
    plan = []
    for o0, o1 in itertools.pairwise(edges):
        lo, hi = window(o0)[0], window(o1 - 1)[1]
        if o1 == out and lo < size:
            a = max(lo, 0)
            plan.append(_Piece(o0, o1, a, size, a - lo, pe))
            continue
        a, b = max(lo, 0), min(hi, size)
        if b > a:
            plan.append(_Piece(o0, o1, a, b, a - lo, hi - b))
        else:  # every window of the block lies in padding
            plan.append(_Piece(o0, o1, None, None, hi - lo, 0))
    return plan


def _gather(x: da.Array, axis: int, plan: list[_Piece]) -> da.Array:
    """x rearranged along axis so that its block j is exactly the input piece of
    output block j (an empty piece is a 1-long placeholder)."""
    ranges = [(p.a, p.b) if p.a is not None else (0, 1) for p in plan]
    edges = np.cumsum((0,) + x.chunks[axis]).tolist()
    if [r[0] for r in ranges] == edges[:-1] and [r[1] for r in ranges] == edges[1:]:
        return x  # the chunks already are the pieces
    if len(ranges) == 1 and ranges[0] == (0, x.shape[axis]):
        return x.rechunk({axis: -1})
    parts = [x[_index(x.ndim, axis, slice(a, b))].rechunk({axis: -1}) for a, b in ranges]
    return da.concatenate(parts, axis=axis)


# --------------------------------------------------------------------------
# Windowed pooling: the task


class _WindowTask:
    """Pools one gathered block with fastpool; picklable for worker processes."""

    def __init__(self, op, rank, layout, plans, kwargs, indices, geo_in):
        self.op = op  # "max", "avg" or "lp"
        self.rank = rank
        self.layout = layout
        self.plans = plans
        self.kwargs = kwargs
        self.indices = indices  # None, or the index dtype (max only)
        self.geo_in = geo_in  # global spatial sizes, for index translation

    def __call__(self, block: np.ndarray, block_id=None) -> np.ndarray:
        pads, origin = [], []
        for axis, plan in zip(self.layout.spatial, self.plans):
            piece = plan[block_id[axis]]
            if piece.a is None:
                block = block[_index(block.ndim, axis, slice(0, 0))]
            pads.append((piece.pb, piece.pe))
            origin.append(piece.a or 0)
        fn = getattr(fastpool, f"{self.op}_pool{self.rank}d")
        kw = dict(self.kwargs, padding=tuple(pads), channels_last=self.layout.channels_last)
        if self.indices is None:
            if self.op == "lp":
                return fn(block, kw.pop("norm_type"), kw.pop("kernel_size"), **kw)
            return fn(block, kw.pop("kernel_size"), **kw)
        y, idx = fn(block, kw.pop("kernel_size"), return_indices=True, **kw)
        local = tuple(block.shape[a] for a in self.layout.spatial)
        return _pack(y, _global_indices(idx, local, origin, self.geo_in, self.indices))


def _global_indices(idx: np.ndarray, local, origin, full, dtype) -> np.ndarray:
    """Flat indices within a piece's plane -> flat indices within the input's plane."""
    valid = idx >= 0
    rem = np.where(valid, idx, 0).astype(np.int64)
    coords = []
    for n in reversed(local):
        n = max(n, 1)
        coords.append(rem % n)
        rem //= n
    coords.reverse()
    flat = np.zeros(idx.shape, np.int64)
    for c, o, n in zip(coords, origin, full):
        flat *= n
        flat += c + o
    flat[~valid] = -1
    return flat.astype(dtype, copy=False)


def _record_dtype(value: np.dtype, index: np.dtype) -> np.dtype:
    return np.dtype([("value", value), ("index", index)], align=True)


def _pack(y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    r = np.empty(y.shape, _record_dtype(y.dtype, idx.dtype))
    r["value"] = y
    r["index"] = idx
    return r


def _unpack(r: da.Array) -> tuple[da.Array, da.Array]:
    return (r.map_blocks(_field, "value", dtype=r.dtype["value"]),
            r.map_blocks(_field, "index", dtype=r.dtype["index"]))


def _field(block: np.ndarray, name: str) -> np.ndarray:
    return np.ascontiguousarray(block[name])


def _probe(op: str, rank: int, dtype: np.dtype, kwargs: dict, return_indices: bool):
    """Run the in-memory function once on one window's worth of zeros: checks
    the dtype and every option with fastpool's own messages, and gives the
    output dtype."""
    shape = (1, 1) + tuple(d * (k - 1) + 1 for k, d in zip(kwargs["kernel_size"],
                                                           kwargs["dilation"]))
    kw = dict(kwargs, padding=0, ceil_mode=False)
    fn = getattr(fastpool, f"{op}_pool{rank}d")
    probe = np.zeros(shape, dtype)
    if op == "lp":
        return fn(probe, kw.pop("norm_type"), kw.pop("kernel_size"), **kw)
    if return_indices:
        return fn(probe, kw.pop("kernel_size"), return_indices=True, **kw)
    return fn(probe, kw.pop("kernel_size"), **kw)


def _windowed(op: str, rank: int, x: Any, kernel_size, stride, padding, dilation, ceil_mode,
              channels_last: bool, extra: dict, return_indices: bool = False,
              index_dtype=np.int64):
    name = f"fastpool.dask.{op}_pool{rank}d"
    x = _as_dask(name, x)
    lay = _layout(name, x, rank, channels_last)
    geo = _geometry(name, rank, lay.logical, kernel_size, stride, padding, dilation, ceil_mode)
    kwargs = dict(extra, kernel_size=geo.kernel, stride=geo.stride, dilation=geo.dilation,
                  ceil_mode=bool(ceil_mode))
    if return_indices:
        kwargs["index_dtype"] = index_dtype
    probed = _probe(op, rank, x.dtype, kwargs, return_indices)
    y_dtype = (probed[0] if return_indices else probed).dtype
    in_sp, out_sp = lay.logical[2:], geo.out_shape[2:]
    plans = [
        _window_plan(x.chunks[ax], in_sp[i], geo.kernel[i], geo.stride[i], geo.dilation[i],
                     geo.pad_begin[i], geo.pad_end[i], geo.flags, out_sp[i])
        for i, ax in enumerate(lay.spatial)
    ]
    g = x
    for ax, plan in zip(lay.spatial, plans):
        g = _gather(g, ax, plan)
    chunks = list(g.chunks)
    for ax, plan in zip(lay.spatial, plans):
        chunks[ax] = tuple(p.o1 - p.o0 for p in plan)
    idt = None
    if return_indices:
        idt = probed[1].dtype
        plane = math.prod(in_sp)
        if plane > np.iinfo(idt).max:
            raise ValueError(f"{name}: a plane of {plane} elements does not fit index_dtype {idt}")
        out_dtype = _record_dtype(y_dtype, idt)
    else:
        out_dtype = y_dtype
    task = _WindowTask(op, rank, lay, plans, kwargs, idt, in_sp)
    y = da.map_blocks(task, g, chunks=tuple(chunks), dtype=out_dtype,
                      meta=np.empty((0,) * x.ndim, out_dtype),
                      name=f"fastpool-{op}-pool{rank}d-" + tokenize(
                          g, op, rank, kwargs, plans, lay, idt))
    return _unpack(y) if return_indices else y


# --------------------------------------------------------------------------
# Adaptive pooling


def _adaptive_edges(chunks: Sequence[int], size: int, out: int) -> tuple[list[int], list[int]]:
    """(input chunk sizes, output chunk sizes) along one axis with every
    boundary on a period of the adaptive windows."""
    g = math.gcd(size, out)
    p, q = out // g, size // g
    bounds = {0, out}
    pos = 0
    for c in chunks[:-1]:
        pos += c
        o = ((2 * pos + q) // (2 * q)) * p  # the period boundary nearest pos
        if 0 < o < out:
            bounds.add(o)
    edges = sorted(bounds)
    in_edges = [o // p * q for o in edges]
    return (np.diff(in_edges).tolist(), np.diff(edges).tolist())


class _AdaptiveTask:
    """Adaptive pooling of one block whose edges lie on window periods.

    ``regular`` (average only) is the kernel size when the windows are uniform:
    in-memory fastpool then runs its regular average kernel, and so do we
    (a block with one output per axis would otherwise take fastpool's
    whole-plane mean, which sums in another order; see ``_mean_kernel``)."""

    def __init__(self, op, rank, layout, ratios, in_chunks, kwargs, indices, full, regular):
        self.op = op
        self.rank = rank
        self.layout = layout
        self.ratios = ratios  # (P, Q) per axis: P outputs per Q inputs
        self.in_chunks = in_chunks
        self.kwargs = kwargs
        self.indices = indices
        self.full = full
        self.regular = regular

    def __call__(self, block: np.ndarray, block_id=None) -> np.ndarray:
        block = np.ascontiguousarray(block)  # as in memory: a C-contiguous array
        kw = dict(self.kwargs, channels_last=self.layout.channels_last)
        if self.regular is not None:
            return getattr(fastpool, f"avg_pool{self.rank}d")(block, self.regular, **kw)
        size = tuple(block.shape[a] // q * p for a, (p, q) in zip(self.layout.spatial, self.ratios))
        fn = getattr(fastpool, f"adaptive_{self.op}_pool{self.rank}d")
        if self.indices is None:
            return fn(block, size, **kw)
        y, idx = fn(block, size, return_indices=True, **kw)
        origin = [sum(ch[: block_id[a]]) for a, ch in zip(self.layout.spatial, self.in_chunks)]
        local = tuple(block.shape[a] for a in self.layout.spatial)
        return _pack(y, _global_indices(idx, local, origin, self.full, self.indices))


def _mean_kernel(lay: _Layout, in_sp: tuple[int, ...], out_sp: tuple[int, ...]):
    """The kernel size of the regular average pooling that in-memory fastpool
    runs for this adaptive average, or None when it runs an adaptive kernel.

    In memory, adaptive average pooling to one output per plane of a
    C-contiguous plane (NCHW, or channels-last with one channel) is a
    whole-plane mean; other uniform windows (``I % O == 0`` on every axis) go to
    the regular average kernel; the rest to the adaptive kernel.  A block must
    take the same branch to give the same floats."""
    if any(i % o for i, o in zip(in_sp, out_sp)):
        return None
    if math.prod(out_sp) == 1 and (not lay.channels_last or lay.logical[1] == 1):
        return None  # whole-plane mean: the block is the whole plane too
    return tuple(i // o for i, o in zip(in_sp, out_sp))


def _adaptive(op: str, rank: int, x: Any, output_size, channels_last: bool, extra: dict,
              return_indices: bool = False, index_dtype=np.int64):
    name = f"fastpool.dask.adaptive_{op}_pool{rank}d"
    x = _as_dask(name, x)
    lay = _layout(name, x, rank, channels_last)
    in_sp = lay.logical[2:]
    if any(s < 1 for s in in_sp):
        raise ValueError(f"{name}: x must have non-empty spatial axes, got shape {x.shape}")
    user = fastpool.pool_output_shape(x.shape, op="adaptive", output_size=output_size, rank=rank,
                                      channels_last=channels_last)
    out_sp = tuple(user[a] for a in lay.spatial)
    fn = getattr(fastpool, f"adaptive_{op}_pool{rank}d")
    probe = np.zeros((1, 1) + (1,) * rank, x.dtype)
    kw = dict(extra)
    if return_indices:
        kw["index_dtype"] = index_dtype
        y0, i0 = fn(probe, 1, return_indices=True, **kw)
        idt = i0.dtype
        if math.prod(in_sp) > np.iinfo(idt).max:
            raise ValueError(f"{name}: a plane of {math.prod(in_sp)} elements does not fit "
                             f"index_dtype {idt}")
        out_dtype = _record_dtype(y0.dtype, idt)
    else:
        idt = None
        out_dtype = fn(probe, 1, **kw).dtype
    rechunk, out_chunks, ratios, in_chunks = {}, list(x.chunks), [], []
    for i, ax in enumerate(lay.spatial):
        ic, oc = _adaptive_edges(x.chunks[ax], in_sp[i], out_sp[i])
        g = math.gcd(in_sp[i], out_sp[i])
        ratios.append((out_sp[i] // g, in_sp[i] // g))
        rechunk[ax] = tuple(ic)
        in_chunks.append(tuple(ic))
        out_chunks[ax] = tuple(oc)
    xr = x.rechunk(rechunk)
    regular = _mean_kernel(lay, in_sp, out_sp) if op == "avg" else None
    task = _AdaptiveTask(op, rank, lay, ratios, in_chunks, kw, idt, in_sp, regular)
    y = da.map_blocks(task, xr, chunks=tuple(out_chunks), dtype=out_dtype,
                      meta=np.empty((0,) * x.ndim, out_dtype),
                      name=f"fastpool-adaptive-{op}-pool{rank}d-" + tokenize(
                          xr, op, rank, kw, ratios, lay, idt))
    return _unpack(y) if return_indices else y


# --------------------------------------------------------------------------
# Global pooling


def _global_layout(name: str, x: da.Array, channels_last: bool) -> _Layout:
    if x.ndim not in (3, 4, 5):
        raise ValueError(f"{name}: x must be batched (N, C, *spatial) with 1 to 3 spatial axes, "
                         f"got {x.ndim} dimensions")
    return _layout(name, x, x.ndim - 2, channels_last)


def _reduced_chunks(x: da.Array, lay: _Layout, per_block: bool) -> tuple:
    chunks = list(x.chunks)
    for ax in lay.spatial:
        chunks[ax] = (1,) * len(x.chunks[ax]) if per_block else (1,)
    return tuple(chunks)


class _GlobalTask:
    def __init__(self, fn_name, kwargs, cast=None):
        self.fn_name = fn_name
        self.kwargs = kwargs
        self.cast = cast  # dtype the block is converted to before pooling

    def __call__(self, block: np.ndarray) -> np.ndarray:
        if self.cast is not None:
            block = block.astype(self.cast, copy=False)
        return getattr(fastpool, self.fn_name)(block, **self.kwargs)


def _single_spatial_chunk(x: da.Array, lay: _Layout) -> bool:
    return all(len(x.chunks[a]) == 1 for a in lay.spatial)


def global_max_pool(x, *, channels_last=False, nan_policy="propagate", num_threads=None):
    """Max over each ``(n, c)`` plane of a batched dask array; output ``(N, C, 1, ...)``.

    Each block is pooled with :func:`fastpool.global_max_pool` and the
    per-block maxima are pooled again the same way: the values equal the
    in-memory result (NaN propagates, or is skipped with ``nan_policy="omit"``),
    except that the sign of a zero maximum may differ.

    Parameters
    ----------
    x : dask.array.Array
        Batched ``(N, C, *spatial)`` with 1 to 3 spatial axes (``(N, *spatial, C)``
        with ``channels_last``), any chunking.
    channels_last, nan_policy, num_threads
        As for :func:`fastpool.global_max_pool` (``num_threads`` applies to each
        block's call).

    Returns
    -------
    dask.array.Array
        Lazy, shape ``(N, C, 1, ...)`` with one 1 per spatial axis
        (``(N, 1, ..., C)`` with ``channels_last``), x's dtype; batch and
        channel chunks as in x.  No indices are returned.
    """
    name = "fastpool.dask.global_max_pool"
    x = _as_dask(name, x)
    lay = _global_layout(name, x, channels_last)
    kw = dict(channels_last=channels_last, nan_policy=nan_policy, num_threads=num_threads)
    dtype = fastpool.global_max_pool(np.zeros((1, 1) + (1,) * (x.ndim - 2), x.dtype), **kw).dtype
    task = _GlobalTask("global_max_pool", kw)
    single = _single_spatial_chunk(x, lay)
    y = x.map_blocks(task, chunks=_reduced_chunks(x, lay, not single), dtype=dtype,
                     meta=np.empty((0,) * x.ndim, dtype))
    if single:
        return y
    y = y.rechunk({a: -1 for a in lay.spatial})
    return y.map_blocks(task, chunks=_reduced_chunks(y, lay, False), dtype=dtype,
                        meta=np.empty((0,) * x.ndim, dtype))


def global_avg_pool(x, *, channels_last=False, num_threads=None):
    """Mean over each ``(n, c)`` plane of a batched dask array; output ``(N, C, 1, ...)``.

    When every plane is one chunk along the spatial axes this is one
    :func:`fastpool.global_avg_pool` call per block (identical to in-memory).
    Otherwise the per-block sums are taken in float64 and divided by the
    plane size, which may differ from in-memory fastpool in the last bits.

    Parameters
    ----------
    x : dask.array.Array
        Batched ``(N, C, *spatial)`` with 1 to 3 spatial axes (``(N, *spatial, C)``
        with ``channels_last``), any chunking.
    channels_last, num_threads
        As for :func:`fastpool.global_avg_pool` (``num_threads`` applies to each
        block's call).

    Returns
    -------
    dask.array.Array
        Lazy, shape ``(N, C, 1, ...)`` with one 1 per spatial axis
        (``(N, 1, ..., C)`` with ``channels_last``), of the dtype
        :func:`fastpool.global_avg_pool` gives for x's dtype (float64 for
        integer input).
    """
    name = "fastpool.dask.global_avg_pool"
    x = _as_dask(name, x)
    lay = _global_layout(name, x, channels_last)
    kw = dict(channels_last=channels_last, num_threads=num_threads)
    dtype = fastpool.global_avg_pool(np.zeros((1, 1) + (1,) * (x.ndim - 2), x.dtype), **kw).dtype
    if _single_spatial_chunk(x, lay):  # exactly what in memory does, plane by plane
        return _adaptive("avg", x.ndim - 2, x, 1, channels_last, dict(num_threads=num_threads))
    if any(s < 1 for s in lay.logical[2:]):
        raise ValueError(f"{name}: x must have non-empty spatial axes, got shape {x.shape}")
    total = da.sum(x, axis=lay.spatial, dtype=np.float64, keepdims=True)
    return (total / math.prod(lay.logical[2:])).astype(dtype)


def global_lp_pool(x, norm_type, *, channels_last=False, num_threads=None):
    """``(sum |x|^p)^(1/p)`` over each ``(n, c)`` plane of a batched dask array.

    When every plane is one chunk along the spatial axes this is one
    :func:`fastpool.global_lp_pool` call per block (identical to in-memory).
    Otherwise each block's norm is computed in float64 with fastpool and the
    norms are combined by one more ``global_lp_pool`` (``(sum r_b^p)^(1/p)``
    is the norm of the whole plane), then cast back: the last bits may differ
    from in-memory fastpool.

    Parameters
    ----------
    x : dask.array.Array
        Batched ``(N, C, *spatial)`` with 1 to 3 spatial axes (``(N, *spatial, C)``
        with ``channels_last``), any chunking.
    norm_type : float
        As for :func:`fastpool.global_lp_pool`: ``p > 0``, ``inf`` gives max ``|x|``.
    channels_last, num_threads
        As for :func:`fastpool.global_lp_pool` (``num_threads`` applies to each
        block's call).

    Returns
    -------
    dask.array.Array
        Lazy, shape ``(N, C, 1, ...)`` with one 1 per spatial axis
        (``(N, 1, ..., C)`` with ``channels_last``), x's dtype.
    """
    name = "fastpool.dask.global_lp_pool"
    x = _as_dask(name, x)
    lay = _global_layout(name, x, channels_last)
    kw = dict(norm_type=norm_type, channels_last=channels_last, num_threads=num_threads)
    dtype = fastpool.global_lp_pool(np.zeros((1, 1) + (1,) * (x.ndim - 2), x.dtype), **kw).dtype
    if _single_spatial_chunk(x, lay):
        return x.map_blocks(_GlobalTask("global_lp_pool", kw), chunks=_reduced_chunks(x, lay, False),
                            dtype=dtype, meta=np.empty((0,) * x.ndim, dtype))
    f64 = np.dtype(np.float64)
    task = _GlobalTask("global_lp_pool", kw, cast=f64)
    y = x.map_blocks(task, chunks=_reduced_chunks(x, lay, True), dtype=f64,
                     meta=np.empty((0,) * x.ndim, f64))
    y = y.rechunk({a: -1 for a in lay.spatial})
    y = y.map_blocks(task, chunks=_reduced_chunks(y, lay, False), dtype=f64,
                     meta=np.empty((0,) * x.ndim, f64))
    return y.astype(dtype)


# --------------------------------------------------------------------------
# Pyramids and Zarr


def pyramid(x, levels: int, method: str = "mean", factor=2, *, rank: int = 2,
            channels_last: bool = False, ceil_mode: bool = True, rechunk: bool = True,
            dtype=None, num_threads=None) -> list:
    """A multi-scale pyramid: ``[x, pool(x), pool(pool(x)), ...]``.

    Parameters
    ----------
    x : dask.array.Array
        ``(N, C, *spatial)`` or ``(C, *spatial)`` (``channels_last``:
        ``(N, *spatial, C)`` or ``(*spatial, C)``), any dtype the in-memory
        functions take.  For a single-channel ``(H, W)`` image pass ``x[None]``.
    levels : int
        Number of reductions; the result has ``levels + 1`` arrays.
    method : "mean" or "max"
        ``"mean"``: average pooling that counts only input cells
        (``count_include_pad=False``); ``"max"``: max pooling.
    factor : int or tuple of ``rank`` ints
        Kernel size and stride of every reduction (2: halve each axis).
    rank : int
        Number of spatial axes (1, 2 or 3).
    channels_last : bool
        Layout, as for the pooling functions.
    ceil_mode : bool
        True (default): an axis of odd length keeps its last row/column,
        reduced over the cells that exist, and an axis of length 1 stays 1.
        False: the remainder is dropped.
    rechunk : bool
        Rechunk every level to the spatial chunk shape of ``x`` (capped at the
        level's size), so deep levels are not made of tiny chunks.
    dtype : optional
        For ``"mean"``: the levels' dtype, as ``avg_pool``'s ``dtype=``.  By
        default integer images give float64 levels; ``dtype=x.dtype`` keeps
        the integer type (means rounded half to even).

    Returns
    -------
    list of dask.array.Array
        Level ``i`` equals in-memory fastpool applied ``i`` times.
    """
    name = "fastpool.dask.pyramid"
    x = _as_dask(name, x)
    if method not in ("mean", "max"):
        raise ValueError(f"{name}: method must be 'mean' or 'max', got {method!r}")
    levels = operator.index(levels)
    if levels < 0:
        raise ValueError(f"{name}: levels must be non-negative, got {levels}")
    if rank not in (1, 2, 3):
        raise ValueError(f"{name}: rank must be 1, 2 or 3, got {rank!r}")
    lay = _layout(name, x, rank, channels_last)
    target = {a: x.chunksize[a] for a in lay.spatial}
    avg = globals()[f"avg_pool{rank}d"]
    mx = globals()[f"max_pool{rank}d"]
    out = [x]
    for _ in range(levels):
        prev = out[-1]
        if method == "mean":
            y = avg(prev, factor, factor, 0, ceil_mode, False, channels_last=channels_last,
                    dtype=dtype, num_threads=num_threads)
        else:
            y = mx(prev, factor, factor, 0, ceil_mode=ceil_mode, channels_last=channels_last,
                   num_threads=num_threads)
        if rechunk:
            y = y.rechunk({a: min(max(target[a], 1), max(y.shape[a], 1)) for a in lay.spatial})
        out.append(y)
    return out


def _regular(a: da.Array) -> da.Array:
    """a with regular chunks (all equal but the last), as Zarr needs."""
    ok = all(len(set(c[:-1])) <= 1 and (len(c) < 2 or c[-1] <= c[0]) for c in a.chunks)
    return a if ok else a.rechunk(a.chunksize)


def to_zarr(levels, store, *, overwrite: bool = False, compute: bool = True, **array_kwargs):
    """Write a pyramid (a list of dask arrays) to a Zarr group, level ``i`` at path ``"i"``.

    Parameters
    ----------
    levels : list of dask.array.Array
        For example the result of :func:`pyramid`.
    store : str, pathlib.Path or a Zarr store
        Where the group is created.
    overwrite : bool
        Replace an existing group (otherwise writing into an existing one fails).
    compute : bool
        Write now (default), or return a ``dask.delayed`` object that writes
        when computed.
    **array_kwargs
        Passed to Zarr's array creation (compressors, ...).

    Returns
    -------
    zarr.Group, or a Delayed when ``compute=False``.

    The group's ``fastpool_pyramid`` attribute lists the paths and shapes
    (it is not OME-NGFF metadata: add that for your axes if you need it).  Chunks are made regular
    first, since Zarr needs regular chunks.
    """
    import zarr

    arrays = [_regular(_as_dask("fastpool.dask.to_zarr", a)) for a in levels]
    root = zarr.open_group(store, mode="w" if overwrite else "w-")
    targets = []
    for i, a in enumerate(arrays):
        kw = dict(shape=a.shape, chunks=a.chunksize, dtype=a.dtype, **array_kwargs)
        if hasattr(root, "create_array"):
            z = root.create_array(str(i), **kw)
        else:  # zarr 2
            z = root.create_dataset(str(i), **kw)
        targets.append(z)
    root.attrs["fastpool_pyramid"] = {
        "datasets": [{"path": str(i), "shape": list(a.shape)} for i, a in enumerate(arrays)],
    }
    stored = da.store(arrays, targets, lock=False, compute=False)
    if not compute:
        return stored
    dask.compute(stored)
    return root


# --------------------------------------------------------------------------
# The public rank-specific functions


def _make(rank: int) -> dict:
    def max_pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                 return_indices=False, *, channels_last=False, index_dtype=np.int64,
                 nan_policy="propagate", num_threads=None):
        return _windowed("max", rank, x, kernel_size, stride, padding, dilation, ceil_mode,
                         channels_last, dict(nan_policy=nan_policy, num_threads=num_threads),
                         return_indices, index_dtype)

    def avg_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None, *, dilation=1, channels_last=False, dtype=None,
                 num_threads=None):
        extra = dict(count_include_pad=bool(count_include_pad),
                     divisor_override=divisor_override, num_threads=num_threads)
        if dtype is not None:
            extra["dtype"] = dtype
        return _windowed("avg", rank, x, kernel_size, stride, padding, dilation, ceil_mode,
                         channels_last, extra)

    def lp_pool(x, norm_type, kernel_size, stride=None, ceil_mode=False, *, padding=0,
                dilation=1, channels_last=False, num_threads=None):
        return _windowed("lp", rank, x, kernel_size, stride, padding, dilation, ceil_mode,
                         channels_last, dict(norm_type=norm_type, num_threads=num_threads))

    def adaptive_max_pool(x, output_size, return_indices=False, *, channels_last=False,
                          index_dtype=np.int64, nan_policy="propagate", num_threads=None):
        return _adaptive("max", rank, x, output_size, channels_last,
                         dict(nan_policy=nan_policy, num_threads=num_threads), return_indices,
                         index_dtype)

    def adaptive_avg_pool(x, output_size, *, channels_last=False, num_threads=None):
        return _adaptive("avg", rank, x, output_size, channels_last,
                         dict(num_threads=num_threads))

    sig = "(N, C, {0}) or (C, {0})".format(", ".join(("D", "H", "W")[3 - rank:]))
    x_doc = f"""    x : dask.array.Array
        {sig},
        or with ``channels_last`` the channels at the end; any chunking
        (each output block is computed from one input piece)."""
    windowed_returns = """
    Returns
    -------
    y : dask.array.Array
        Lazy, of the shape and dtype of the in-memory result; batch and channel
        chunks as in x, roughly one output chunk per input chunk along each
        spatial axis."""
    adaptive_returns = """
    Returns
    -------
    y : dask.array.Array
        Lazy, of the shape and dtype of the in-memory result; along each
        spatial axis the chunks follow the input rechunked onto periods of
        the adaptive windows."""
    indices_doc = """
    indices : dask.array.Array
        Only with ``return_indices``: lazy, shaped like ``y``, of
        ``index_dtype``, each flat within the whole input's ``(n, c)`` plane
        (``-1`` for a window lying wholly in padding).  ``ValueError`` if a
        plane has more cells than ``index_dtype`` can hold."""
    adaptive_indices_doc = """
    indices : dask.array.Array
        Only with ``return_indices``: lazy, shaped like ``y``, of
        ``index_dtype``, each flat within the whole input's ``(n, c)`` plane.
        ``ValueError`` if a plane has more cells than ``index_dtype`` can hold."""
    sections = {
        f"max_pool{rank}d": f"""
    Parameters
    ----------
{x_doc}
    kernel_size, stride, padding, dilation, ceil_mode, return_indices
        As for :func:`fastpool.max_pool{rank}d`.
    channels_last, index_dtype, nan_policy, num_threads
        As for :func:`fastpool.max_pool{rank}d` (``num_threads`` applies to each
        block's call).
{windowed_returns}{indices_doc}
""",
        f"avg_pool{rank}d": f"""
    Parameters
    ----------
{x_doc}
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        As for :func:`fastpool.avg_pool{rank}d`.
    dilation, channels_last, dtype, num_threads
        As for :func:`fastpool.avg_pool{rank}d` (``num_threads`` applies to each
        block's call).
{windowed_returns}
""",
        f"lp_pool{rank}d": f"""
    Parameters
    ----------
{x_doc}
    norm_type, kernel_size, stride, ceil_mode, padding, dilation
        As for :func:`fastpool.lp_pool{rank}d`.
    channels_last, num_threads
        As for :func:`fastpool.lp_pool{rank}d` (``num_threads`` applies to each
        block's call).
{windowed_returns}
""",
        f"adaptive_max_pool{rank}d": f"""
    Parameters
    ----------
{x_doc}
        Spatial axes must be non-empty.
    output_size, return_indices
        As for :func:`fastpool.adaptive_max_pool{rank}d`.
    channels_last, index_dtype, nan_policy, num_threads
        As for :func:`fastpool.adaptive_max_pool{rank}d` (``num_threads``
        applies to each block's call).
{adaptive_returns}{adaptive_indices_doc}
""",
        f"adaptive_avg_pool{rank}d": f"""
    Parameters
    ----------
{x_doc}
        Spatial axes must be non-empty.
    output_size
        As for :func:`fastpool.adaptive_avg_pool{rank}d`.
    channels_last, num_threads
        As for :func:`fastpool.adaptive_avg_pool{rank}d` (``num_threads``
        applies to each block's call).
{adaptive_returns}
""",
    }
    fns = {
        f"max_pool{rank}d": (max_pool, "max", ("Returns ``y`` or, with ``return_indices``, "
                                               "``(y, indices)``\n    (flat within the "
                                               "input's ``(n, c)`` plane).")),
        f"avg_pool{rank}d": (avg_pool, "avg", "Returns ``y``; identical floats."),
        f"lp_pool{rank}d": (lp_pool, "lp", "Returns ``y``; identical floats."),
        f"adaptive_max_pool{rank}d": (adaptive_max_pool, "adaptive_max",
                                      "Chunks are rebuilt on periods of the windows."),
        f"adaptive_avg_pool{rank}d": (adaptive_avg_pool, "adaptive_avg",
                                      "Chunks are rebuilt on periods of the windows."),
    }
    result = {}
    for fname, (fn, _, note) in fns.items():
        fn.__name__ = fn.__qualname__ = fname
        fn.__module__ = __name__
        fn.__doc__ = (
            f"Lazy :func:`fastpool.{fname}` of a dask array {sig}.\n\n"
            "    With ``channels_last`` the channels are at the end.\n"
            f"    Same arguments and semantics as the in-memory function, without ``out=``.\n"
            f"    The result equals ``fastpool.{fname}(x.compute(), ...)`` for any chunking.\n"
            f"    {note}\n"
            + sections[fname]
        )
        result[fname] = fn
    return result


for _rank in (1, 2, 3):
    globals().update(_make(_rank))
del _rank
