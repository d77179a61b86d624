"""Every Hypothesis strategy of the test suite, and the helpers that go with them.

A drawn :class:`PoolCase` holds one complete pooling problem: rank, batch,
geometry (kernel, stride, padding in every accepted form, dilation, ceil mode),
average options, the dtype, the values (random floats, small integers that
force ties, NaN and ±inf sprinkled in), the layout the fast function sees
(NCHW or channels-last, contiguous or not) and a thread count.  The logical
``(N, C, *spatial)`` array is kept next to the array in the user's layout, so
tests can run :mod:`fastpool.reference` on the former and fastpool on the latter.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import pathlib
from typing import Any

import numpy as np
from hypothesis import strategies as st

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load_reference():
    """fastpool.reference, from the installed package or, failing that, the source tree.

    The reference needs only NumPy, so its own tests run even when the
    compiled core is missing.
    """
    try:
        from fastpool import reference
    except ImportError:
        path = ROOT / "fastpool" / "reference.py"
        spec = importlib.util.spec_from_file_location("fastpool_reference", path)
        reference = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(reference)
    return reference


reference = _load_reference()

DTYPES = (np.float32, np.float64)
PADDING_FORMS = ("int", "tuple", "pairs", "same", "same_lower", "valid")
# Memory arrangements of the array handed to fastpool (in the user's logical order):
#   contiguous  C-contiguous
#   swapped     the other layout's memory (NHWC memory behind an NCHW view, and back)
#   step2       every other element of a larger buffer along two axes
#   negative    reversed spatial axes of a buffer (negative strides)
MEMORY = ("contiguous", "swapped", "step2", "negative")
# Largest spatial size and kernel per rank, to keep arrays (and the reference) small.
_MAX_SIZE = {1: 37, 2: 19, 3: 9}
# ... and with big=True, for a few larger examples (more vector blocks per row).
_BIG_SIZE = {1: 300, 2: 70, 3: 20}
_MAX_KERNEL = {1: 5, 2: 4, 3: 3}
_MAX_DILATION = {1: 3, 2: 3, 3: 2}


# --------------------------------------------------------------------------
# Layouts


def user_view(logical: np.ndarray, batched: bool, channels_last: bool) -> np.ndarray:
    """View of a logical array in the user's axis order (NCHW or NHWC)."""
    if not channels_last:
        return logical
    caxis = 1 if batched else 0
    return np.moveaxis(logical, caxis, -1)


def logical_view(user: np.ndarray, batched: bool, channels_last: bool) -> np.ndarray:
    """Inverse of :func:`user_view`."""
    if not channels_last:
        return user
    caxis = 1 if batched else 0
    return np.moveaxis(user, -1, caxis)


def arrange(a: np.ndarray, memory: str, batched: bool, channels_last: bool) -> np.ndarray:
    """An array equal to ``a`` (user order) stored in the given memory arrangement."""
    if memory == "contiguous":
        return np.ascontiguousarray(a)
    if memory == "swapped":
        # Store in the other layout's memory order, then view back.
        caxis = 1 if batched else 0
        if channels_last:
            # user order (.., *sp, C): store as (.., C, *sp)
            store = np.ascontiguousarray(np.moveaxis(a, -1, caxis))
            return np.moveaxis(store, caxis, -1)
        store = np.ascontiguousarray(np.moveaxis(a, caxis, -1))
        return np.moveaxis(store, -1, caxis)
    if memory == "step2":
        # Every other element along the last axis and along axis 0.
        shape = list(a.shape)
        shape[-1] *= 2
        shape[0] *= 2
        buf = np.full(shape, np.nan if a.dtype.kind == "f" else -7, dtype=a.dtype)
        view = buf[::2, ..., ::2]
        view[...] = a
        return view
    if memory == "negative":
        axes = tuple(range(a.ndim))[-2:]  # the last two axes, whatever they hold
        buf = np.ascontiguousarray(np.flip(a, axis=axes))
        return np.flip(buf, axis=axes)
    raise ValueError(memory)


# --------------------------------------------------------------------------
# Values


def make_values(rng: np.random.Generator, shape: tuple[int, ...], dtype, kind: str,
                special_rate: float) -> np.ndarray:
    """Random values of one kind, with NaN and ±inf sprinkled in at ``special_rate``."""
    if kind == "normal":
        a = rng.standard_normal(shape) * 10.0
    elif kind == "ties":
        a = rng.integers(-3, 4, size=shape).astype(np.float64)
    elif kind == "constant":
        a = np.full(shape, -2.5)
    else:  # "wide": a few decades of magnitude and both signs
        a = rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4, size=shape)
    a = a.astype(dtype)
    if special_rate > 0:
        u = rng.random(shape)
        a[u < special_rate / 3] = np.nan
        a[(u >= special_rate / 3) & (u < 2 * special_rate / 3)] = np.inf
        a[(u >= 2 * special_rate / 3) & (u < special_rate)] = -np.inf
    return a


VALUE_KINDS = ("normal", "ties", "constant", "wide")


@st.composite
def values_spec(draw, allow_special: bool = True):
    """(seed, kind, special_rate): everything :func:`make_values` needs."""
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(VALUE_KINDS))
    rate = 0.0
    if allow_special:
        rate = draw(st.sampled_from((0.0, 0.0, 0.0, 0.02, 0.1, 0.5)))
    return seed, kind, rate


# --------------------------------------------------------------------------
# Pooling cases


@dataclasses.dataclass
class PoolCase:
    """One pooling problem; see the module docstring."""

    rank: int
    batched: bool
    logical: np.ndarray          # (N, C, *sp) or (C, *sp), C-contiguous
    x: np.ndarray                # the same values in the user's layout and memory
    channels_last: bool
    memory: str
    kernel_size: Any
    stride: Any
    padding: Any
    dilation: Any
    ceil_mode: bool
    count_include_pad: bool
    divisor_override: int | None
    nan_policy: str
    num_threads: int | None
    seed: int
    values: str = ""             # how the values were made: kind and special rate

    def __repr__(self) -> str:
        return f"PoolCase({self.describe()})"

    def _repr_pretty_(self, p, cycle) -> None:  # Hypothesis' pretty-printer
        p.text(repr(self))

    @property
    def dtype(self):
        return self.logical.dtype

    @property
    def geometry(self):
        """The reference's normalised geometry for this case."""
        return reference.pool_geometry(self.logical.shape, self.kernel_size, self.stride,
                                       self.padding, self.dilation, self.ceil_mode,
                                       rank=self.rank)

    def to_user(self, logical: np.ndarray) -> np.ndarray:
        """A logical result in the user's axis order (what fastpool should return)."""
        return user_view(logical, self.batched, self.channels_last)

    def to_logical(self, user: np.ndarray) -> np.ndarray:
        return logical_view(user, self.batched, self.channels_last)

    def grad(self, shape_logical: tuple[int, ...], integer: bool = False) -> np.ndarray:
        """A logical gradient of the given shape, deterministic in the case's seed."""
        rng = np.random.default_rng(self.seed ^ 0x5EED)
        if integer:
            g = rng.integers(-4, 5, size=shape_logical).astype(np.float64)
        else:
            g = rng.standard_normal(shape_logical)
        return g.astype(self.dtype)

    def fast_kwargs(self, kind: str) -> dict:
        """Keyword arguments for the fastpool function of ``kind`` ("max" or "avg")."""
        kw = {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                  "dilation": self.dilation, "ceil_mode": self.ceil_mode,
                  "channels_last": self.channels_last, "num_threads": self.num_threads}
        if kind == "max":
            kw["nan_policy"] = self.nan_policy
        else:
            kw["count_include_pad"] = self.count_include_pad
            kw["divisor_override"] = self.divisor_override
        return kw

    def ref_kwargs(self, kind: str) -> dict:
        """Keyword arguments for the reference function of ``kind``."""
        kw = {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                  "dilation": self.dilation, "ceil_mode": self.ceil_mode, "rank": self.rank}
        if kind == "max":
            kw["nan_policy"] = self.nan_policy
        else:
            kw["count_include_pad"] = self.count_include_pad
            kw["divisor_override"] = self.divisor_override
        return kw

    def describe(self) -> str:
        return (f"rank={self.rank} shape={self.logical.shape} dtype={self.dtype} "
                f"batched={self.batched} channels_last={self.channels_last} "
                f"memory={self.memory} kernel_size={self.kernel_size!r} "
                f"stride={self.stride!r} padding={self.padding!r} "
                f"dilation={self.dilation!r} ceil_mode={self.ceil_mode} "
                f"count_include_pad={self.count_include_pad} "
                f"divisor_override={self.divisor_override} nan_policy={self.nan_policy} "
                f"num_threads={self.num_threads} seed={self.seed} values={self.values}")


def _compact(values: list[int], as_int: bool) -> Any:
    """An int when every axis agrees and ``as_int``, else a tuple."""
    if as_int and len(set(values)) == 1:
        return values[0]
    return tuple(values)


@st.composite
def axis_geometry(draw, rank: int, form: str, big_pad: bool = True, dilation: bool = True,
                  big: bool = False):
    """Per-axis kernel, stride, dilation, pads and input size with at least one output.

    Returns lists ``k, s, d, pb, pe, I``; for the "same"/"valid" forms ``pb``
    and ``pe`` are zeros (the form resolves them).  With ``big_pad`` the pads
    go up to ``ek + 1`` (windows wholly in padding), else up to ``k // 2``
    (PyTorch's limit).
    """
    kmax, dmax = _MAX_KERNEL[rank], _MAX_DILATION[rank]
    imax = (_BIG_SIZE if big else _MAX_SIZE)[rank]
    k = [draw(st.integers(1, kmax)) for _ in range(rank)]
    d = [draw(st.integers(1, dmax)) if dilation and ki > 1 else 1 for ki in k]
    s = [draw(st.integers(1, 4)) for _ in range(rank)]
    ek = [di * (ki - 1) + 1 for ki, di in zip(k, d)]
    tops = [e + 1 if big_pad else ki // 2 for e, ki in zip(ek, k)]
    if form == "int":
        p = draw(st.integers(0, min(tops)))
        pb, pe = [p] * rank, [p] * rank
    elif form == "tuple":
        pb = [draw(st.integers(0, t)) for t in tops]
        pe = list(pb)
    elif form == "pairs":
        pb = [draw(st.integers(0, t)) for t in tops]
        pe = [draw(st.integers(0, t)) for t in tops]
    else:
        pb, pe = [0] * rank, [0] * rank
    sizes = []
    for e, b, en in zip(ek, pb, pe):
        low = e if form == "valid" else max(1, e - b - en)
        sizes.append(draw(st.integers(low, max(low, imax))))
    return k, s, d, pb, pe, sizes


def _padding_arg(form: str, pb: list[int], pe: list[int], draw) -> Any:
    if form in ("same", "same_lower", "valid"):
        return form
    if form == "int":
        return pb[0]
    if form == "tuple":
        return tuple(pb)
    # pairs: each axis a (begin, end) pair, or an int where begin == end (mixing is allowed)
    items = []
    for b, e in zip(pb, pe):
        if b == e and draw(st.booleans()):
            items.append(b)
        else:
            items.append((b, e))
    return tuple(items)


@st.composite
def pool_cases(draw, kind: str = "max", *, ranks=(1, 2, 3), dtypes=DTYPES,
               layouts: bool = True, specials: bool = True, threads=(None, 1, 2),
               forms=PADDING_FORMS, big_pad: bool = True, dilation: bool = True,
               nan_policies=("propagate", "omit"), ceil_modes=(False, True),
               count_include_pads=(False, True), divisor_override_ok: bool = True,
               big: bool = False):
    """A :class:`PoolCase` for max (``kind="max"``) or average (``kind="avg"``) pooling."""
    rank = draw(st.sampled_from(ranks))
    form = draw(st.sampled_from(forms))
    k, s, d, pb, pe, sizes = draw(axis_geometry(rank, form, big_pad, dilation, big))
    ceil_mode = draw(st.sampled_from(ceil_modes))
    batched = draw(st.booleans())
    n = draw(st.integers(1, 3)) if batched else 1
    c = draw(st.integers(1, (19 if rank < 3 else 9) * (3 if big else 1)))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    seed, vkind, rate = draw(values_spec(allow_special=specials))

    as_int = draw(st.booleans())
    kernel_size = _compact(k, as_int)
    if s == k and draw(st.booleans()):
        stride = None
    else:
        stride = _compact(s, as_int)
    dilation = _compact(d, as_int)
    padding = _padding_arg(form, pb, pe, draw)

    count_include_pad = draw(st.sampled_from(count_include_pads))
    divisor_override = None
    if kind == "avg" and divisor_override_ok and draw(st.integers(0, 3)) == 0:
        divisor_override = draw(st.integers(1, 30))
    nan_policy = draw(st.sampled_from(nan_policies)) if kind == "max" else "propagate"

    shape = ((n,) if batched else ()) + (c,) + tuple(sizes)
    rng = np.random.default_rng(seed)
    logical = make_values(rng, shape, dtype, vkind, rate)

    if layouts:
        channels_last = draw(st.booleans())
        memory = draw(st.sampled_from(MEMORY))
    else:
        channels_last, memory = False, "contiguous"
    x = arrange(user_view(logical, batched, channels_last), memory, batched, channels_last)
    num_threads = draw(st.sampled_from(threads))

    case = PoolCase(rank=rank, batched=batched, logical=logical, x=x,
                    channels_last=channels_last, memory=memory, kernel_size=kernel_size,
                    stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode,
                    count_include_pad=count_include_pad, divisor_override=divisor_override,
                    nan_policy=nan_policy, num_threads=num_threads, seed=seed,
                    values=f"{vkind}/{rate}")
    # The draws above always give at least one output; this raises if they do not.
    assert all(o >= 1 for o in case.geometry.out)
    return case


@st.composite
def torch_cases(draw, kind: str = "max", ranks=(1, 2, 3)):
    """Cases inside what PyTorch defines: symmetric padding <= kernel/2, NCHW,
    no dilation for average, no NaN/inf for average."""
    return draw(pool_cases(kind, ranks=ranks, layouts=False, specials=(kind == "max"),
                           threads=(None,), forms=("int", "tuple"), big_pad=False,
                           dilation=(kind == "max"), nan_policies=("propagate",)))


# --------------------------------------------------------------------------
# Tolerances


def eps(dtype) -> float:
    return float(np.finfo(dtype).eps)


def finite_max_abs(a: np.ndarray) -> float:
    f = np.abs(a[np.isfinite(a)])
    return float(f.max()) if f.size else 0.0


def assert_close_sum(actual: np.ndarray, expected: np.ndarray, terms: int, scale: float,
                     msg: str = "") -> None:
    """Equality up to rounding for results that are sums of ``terms`` values of size
    up to ``scale``: NaN and ±inf positions must agree exactly, finite values within
    ``atol = 4*eps*terms*scale`` and ``rtol = 4*eps`` of the dtype."""
    assert actual.shape == expected.shape, (actual.shape, expected.shape, msg)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype, msg)
    e = eps(expected.dtype)
    nan_a, nan_e = np.isnan(actual), np.isnan(expected)
    assert np.array_equal(nan_a, nan_e), f"NaN positions differ {msg}"
    inf_a, inf_e = np.isinf(actual), np.isinf(expected)
    assert np.array_equal(inf_a, inf_e), f"inf positions differ {msg}"
    assert np.array_equal(actual[inf_a], expected[inf_e]), f"inf signs differ {msg}"
    fin = np.isfinite(expected)
    atol = 4 * e * max(terms, 1) * scale
    diff = np.abs(actual[fin].astype(np.float64) - expected[fin].astype(np.float64))
    bound = atol + 4 * e * np.abs(expected[fin].astype(np.float64))
    if diff.size and not np.all(diff <= bound):
        worst = int(np.argmax(diff - bound))
        raise AssertionError(
            f"values differ beyond tolerance {msg}: max excess {float((diff - bound)[worst])}, "
            f"diff {float(diff[worst])}, atol {atol}"
        )



# --------------------------------------------------------------------------
# Tolerances for results that are not plain sums


def assert_close_bound(actual: np.ndarray, expected: np.ndarray, bound: Any,
                       msg: str = "") -> None:
    """Equality up to a per-element bound: shapes and dtypes equal, NaN and ±inf
    positions (and signs) equal, and ``|actual - expected| <= bound`` at the
    finite positions (``bound`` broadcasts against ``expected``)."""
    assert actual.shape == expected.shape, (actual.shape, expected.shape, msg)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype, msg)
    assert np.array_equal(np.isnan(actual), np.isnan(expected)), f"NaN positions differ {msg}"
    inf = np.isinf(expected)
    assert np.array_equal(np.isinf(actual), inf), f"inf positions differ {msg}"
    assert np.array_equal(actual[inf], expected[inf]), f"inf signs differ {msg}"
    fin = np.isfinite(expected)
    bound = np.broadcast_to(np.asarray(bound, dtype=np.float64), expected.shape)[fin]
    diff = np.abs(actual[fin].astype(np.float64) - expected[fin].astype(np.float64))
    if diff.size and not np.all(diff <= bound):
        worst = int(np.argmax(diff - bound))
        raise AssertionError(f"values differ beyond tolerance {msg}: diff {float(diff[worst])}, "
                             f"bound {float(bound[worst])}")


def lp_rtol(dtype, taps: int, p: float) -> float:
    """Relative tolerance of an Lp result over ``taps`` cells: the float64 sum of
    ``taps`` powers, then the ``1/p`` root, which scales a relative error by
    ``1/p`` (so a small ``p`` is looser); at least a few ulps of ``dtype``."""
    return 4 * eps(dtype) * (taps + 2) / min(p, 1.0)


def lp_grad_rtol(dtype, terms: int, p: float) -> float:
    """Tolerance of an Lp gradient relative to the sum of its terms' absolute values:
    ``terms`` roundings of the sum, and ``(|x|/y)^(p-1)``, whose relative error
    grows with ``|p - 1|`` (p = inf selects and needs none)."""
    power = 0.0 if math.isinf(p) else abs(p - 1)
    return 4 * eps(dtype) * (terms + 2 + power)


def adaptive_cover(in_size: int, out_size: int) -> int:
    """The most adaptive windows along one axis that share one input cell."""
    start, end = reference.adaptive_windows(in_size, out_size)
    cover = np.zeros(in_size, dtype=np.int64)
    for s, e in zip(start, end):
        cover[s:e] += 1
    return int(cover.max())


# --------------------------------------------------------------------------
# Cases for the other operators: Lp, adaptive, global, unpooling, fractional


@dataclasses.dataclass
class OpCase:
    """One problem for an operator other than plain max/avg pooling.

    Like :class:`PoolCase`: the input in logical order (``logical``) and in
    the user's layout and memory (``x``); the operator's own arguments are
    in ``params`` (see each strategy).
    """

    op: str
    rank: int
    batched: bool
    logical: np.ndarray
    x: np.ndarray
    channels_last: bool
    memory: str
    num_threads: int | None
    seed: int
    params: dict
    values: str = ""

    def __repr__(self) -> str:
        return f"OpCase({self.describe()})"

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(repr(self))

    @property
    def dtype(self):
        return self.logical.dtype

    def to_user(self, logical: np.ndarray) -> np.ndarray:
        return user_view(logical, self.batched, self.channels_last)

    def to_logical(self, user: np.ndarray) -> np.ndarray:
        return logical_view(user, self.batched, self.channels_last)

    def arranged(self, logical: np.ndarray, memory: str | None = None) -> np.ndarray:
        """A logical array in the user's layout, stored like ``x`` (or as ``memory``)."""
        return arrange(self.to_user(logical), memory or self.memory, self.batched,
                       self.channels_last)

    def user_shape(self, logical_shape: tuple[int, ...]) -> tuple[int, ...]:
        return self.to_user(np.empty(logical_shape, dtype=np.int8)).shape

    def grad(self, shape_logical: tuple[int, ...], integer: bool = False) -> np.ndarray:
        """A logical gradient of the given shape, deterministic in the case's seed."""
        rng = np.random.default_rng(self.seed ^ 0x5EED)
        if integer:
            g = rng.integers(-4, 5, size=shape_logical).astype(np.float64)
        else:
            g = rng.standard_normal(shape_logical)
        return g.astype(self.dtype)

    def common(self) -> dict:
        """Layout and thread keywords every fastpool function takes."""
        return {"channels_last": self.channels_last, "num_threads": self.num_threads}

    def describe(self) -> str:
        params = " ".join(f"{k}={v!r}" for k, v in self.params.items()
                          if not isinstance(v, np.ndarray) or v.size <= 12)
        return (f"op={self.op} rank={self.rank} shape={self.logical.shape} dtype={self.dtype} "
                f"batched={self.batched} channels_last={self.channels_last} "
                f"memory={self.memory} num_threads={self.num_threads} seed={self.seed} "
                f"values={self.values} {params}")


@st.composite
def _layout(draw, layouts: bool, threads):
    if layouts:
        channels_last = draw(st.booleans())
        memory = draw(st.sampled_from(MEMORY))
    else:
        channels_last, memory = False, "contiguous"
    return channels_last, memory, draw(st.sampled_from(threads))


@st.composite
def _op_case(draw, op: str, rank: int, batched: bool, sizes, params: dict, *, dtypes=DTYPES,
             specials: bool = True, layouts: bool = True, threads=(None, 1, 2),
             max_batch: int = 3, max_channels: int | None = None, kinds=VALUE_KINDS):
    """An :class:`OpCase` with drawn batch, channels, dtype, values and layout."""
    n = draw(st.integers(1, max_batch)) if batched else 1
    cmax = max_channels if max_channels is not None else (13 if rank < 3 else 5)
    c = draw(st.integers(1, cmax))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(kinds))
    rate = draw(st.sampled_from((0.0, 0.0, 0.0, 0.02, 0.1, 0.5))) if specials else 0.0
    shape = ((n,) if batched else ()) + (c,) + tuple(sizes)
    logical = make_values(np.random.default_rng(seed), shape, dtype, kind, rate)
    channels_last, memory, num_threads = draw(_layout(layouts, threads))
    x = arrange(user_view(logical, batched, channels_last), memory, batched, channels_last)
    return OpCase(op=op, rank=rank, batched=batched, logical=logical, x=x,
                  channels_last=channels_last, memory=memory, num_threads=num_threads,
                  seed=seed, params=params, values=f"{kind}/{rate}")


NORM_TYPES = (1.0, 2.0, 3.0, 0.5, 1.5, 4.0, float("inf"))


def norm_types():
    """p for Lp pooling: the common ones (1, 2, inf) often, any in [0.25, 8] sometimes."""
    return st.one_of(st.sampled_from(NORM_TYPES),
                     st.floats(0.25, 8.0, allow_nan=False, allow_infinity=False))


@st.composite
def lp_cases(draw, *, ranks=(1, 2, 3), specials: bool = True, layouts: bool = True,
             threads=(None, 1, 2), forms=PADDING_FORMS, big_pad: bool = True,
             dilation: bool = True, ceil_modes=(False, True), kinds=VALUE_KINDS):
    """``(case, p)``: a :class:`PoolCase` with average-pooling geometry, and a norm."""
    case = draw(pool_cases("avg", ranks=ranks, specials=specials, layouts=layouts,
                           threads=threads, forms=forms, big_pad=big_pad, dilation=dilation,
                           ceil_modes=ceil_modes, count_include_pads=(True,),
                           divisor_override_ok=False))
    if tuple(kinds) != VALUE_KINDS:
        kind = draw(st.sampled_from(kinds))
        case.logical = make_values(np.random.default_rng(case.seed), case.logical.shape,
                                   case.dtype, kind, 0.0)
        case.x = arrange(case.to_user(case.logical), case.memory, case.batched,
                         case.channels_last)
        case.values = f"{kind}/0.0"
    return case, draw(norm_types())


@st.composite
def adaptive_cases(draw, kind: str = "max", *, ranks=(1, 2, 3), specials: bool = True,
                   layouts: bool = True, threads=(None, 1, 2), dtypes=DTYPES,
                   nan_policies=("propagate", "omit"), allow_none: bool = True,
                   batched=(False, True)):
    """Adaptive pooling: params ``output_size`` (int, or a tuple with None entries),
    ``out`` (the resolved sizes) and for max ``nan_policy``.  Output sizes go
    from 1 to a little past the input size (windows then repeat cells)."""
    rank = draw(st.sampled_from(ranks))
    sizes = [draw(st.integers(1, _MAX_SIZE[rank])) for _ in range(rank)]
    entries = []
    for I in sizes:
        if allow_none and draw(st.integers(0, 5)) == 0:
            entries.append(None)
        else:
            entries.append(draw(st.integers(1, I + 3)))
    out = tuple(I if e is None else e for I, e in zip(sizes, entries))
    if None not in entries and len(set(entries)) == 1 and draw(st.booleans()):
        output_size = entries[0]
    else:
        output_size = tuple(entries)
    params = {"output_size": output_size, "out": out}
    if kind == "max":
        params["nan_policy"] = draw(st.sampled_from(nan_policies))
    return draw(_op_case(f"adaptive_{kind}", rank, draw(st.sampled_from(batched)), sizes,
                         params, dtypes=dtypes, specials=specials, layouts=layouts,
                         threads=threads))


@st.composite
def global_cases(draw, kind: str = "max", *, specials: bool = True, layouts: bool = True,
                 threads=(None, 1, 2), kinds=VALUE_KINDS):
    """Global pooling (batched input, rank from ndim): params ``nan_policy`` (max)
    or ``p`` (lp)."""
    rank = draw(st.sampled_from((1, 2, 3)))
    sizes = [draw(st.integers(1, _MAX_SIZE[rank])) for _ in range(rank)]
    params = {}
    if kind == "max":
        params["nan_policy"] = draw(st.sampled_from(("propagate", "omit")))
    elif kind == "lp":
        params["p"] = draw(norm_types())
    return draw(_op_case(f"global_{kind}", rank, True, sizes, params, specials=specials,
                         layouts=layouts, threads=threads, kinds=kinds))


@st.composite
def unpool_cases(draw, *, ranks=(1, 2, 3), layouts: bool = True, threads=(None, 1, 2),
                 specials: bool = True, index_modes=("random", "distinct", "pooled"),
                 forms=("int", "tuple", "pairs", "valid"), explicit_size: bool = True,
                 allow_minus_one: bool = True, batched=(False, True)):
    """Max unpooling: params ``kernel_size``, ``stride``, ``padding``,
    ``output_size`` (None, spatial or full logical shape), ``out`` (resolved
    spatial size), ``indices`` (logical, int64 or int32) and ``index_mode``:
    ``random`` (uniform in ``[-1, plane)``, many duplicates), ``distinct``
    (no duplicate within a plane) or ``pooled`` (from max pooling a random
    array of the output's size)."""
    rank = draw(st.sampled_from(ranks))
    k = [draw(st.integers(1, _MAX_KERNEL[rank])) for _ in range(rank)]
    s = [draw(st.integers(1, 4)) for _ in range(rank)]
    form = draw(st.sampled_from(forms))
    if form == "int":
        p = draw(st.integers(0, min(k) // 2))
        pb, pe = [p] * rank, [p] * rank
    elif form == "tuple":
        pb = [draw(st.integers(0, ki // 2)) for ki in k]
        pe = list(pb)
    elif form == "pairs":
        pb = [draw(st.integers(0, ki)) for ki in k]
        pe = [draw(st.integers(0, ki)) for ki in k]
    else:
        pb, pe = [0] * rank, [0] * rank
    top = {1: 9, 2: 6, 3: 4}[rank]
    sizes = []
    for ki, si, b, e in zip(k, s, pb, pe):
        low = 1
        while (low - 1) * si - b - e + ki < 1:
            low += 1
        sizes.append(draw(st.integers(low, max(low, top))))
    default = [(I - 1) * si - b - e + ki for I, si, b, e, ki in zip(sizes, s, pb, pe, k)]
    out = list(default)
    output_size = None
    if explicit_size and draw(st.booleans()):
        out = [d + draw(st.integers(max(1 - d, 1 - si), si - 1)) for d, si in zip(default, s)]
        output_size = tuple(out)
    as_int = draw(st.booleans())
    kernel_size = _compact(k, as_int)
    stride = None if s == k and draw(st.booleans()) else _compact(s, as_int)
    padding = _padding_arg(form, pb, pe, draw) if form != "valid" else draw(
        st.sampled_from(("valid", 0)))
    case = draw(_op_case("unpool", rank, draw(st.sampled_from(batched)), sizes, {},
                         specials=specials, layouts=layouts, threads=threads))
    plane = int(np.prod(out))
    count = int(np.prod(sizes))
    mode = draw(st.sampled_from(index_modes))
    if mode == "pooled" and (any(ki > o for ki, o in zip(k, out)) or output_size is not None):
        mode = "distinct" if "distinct" in index_modes else "random"
    if mode == "distinct" and count > plane:
        mode = "random"
    rng = np.random.default_rng(case.seed ^ 0x1D)
    lead = case.logical.shape[:-rank]
    low = -1 if allow_minus_one else 0
    if mode == "random":
        idx = rng.integers(low, plane, size=case.logical.shape)
    elif mode == "distinct":
        planes = int(np.prod(lead))
        idx = np.stack([rng.permutation(plane)[:count] for _ in range(planes)])
        idx = idx.reshape(case.logical.shape)
    else:
        # Indices that max pooling over an array of the output's size gives (with
        # the padding the unpooling undoes), values drawn from the pooled array.
        src = rng.standard_normal(lead + tuple(out))
        _, idx = reference.max_pool(src, k, s, tuple(zip(pb, pe)), rank=rank)
        if idx.shape != case.logical.shape:
            idx = rng.integers(low, plane, size=case.logical.shape)
            mode = "random"
    if output_size is not None and draw(st.booleans()):
        output_size = lead + output_size  # a full shape works too
    index_dtype = draw(st.sampled_from((np.int64, np.int32)))
    case.params = {"kernel_size": kernel_size, "stride": stride, "padding": padding,
                   "output_size": output_size, "out": tuple(out),
                   "indices": idx.astype(index_dtype), "index_mode": mode}
    return case


@st.composite
def fractional_cases(draw, *, ranks=(2, 3), specials: bool = True, layouts: bool = True,
                     threads=(None, 1, 2), nan_policies=("propagate", "omit"),
                     ratio: bool = True, batched=(False, True), dtypes=DTYPES):
    """Fractional max pooling: params ``kernel_size``, ``output_size`` or
    ``output_ratio``, ``out`` (resolved), ``samples`` ((N, C, rank) in x's dtype, in
    PyTorch's order, with 0 and the largest value below 1 drawn often) and
    ``nan_policy``."""
    rank = draw(st.sampled_from(ranks))
    top = {2: 17, 3: 8}[rank]
    k = [draw(st.integers(1, _MAX_KERNEL[rank] + 1)) for _ in range(rank)]
    sizes = [draw(st.integers(ki, max(ki, top))) for ki in k]
    out = [draw(st.integers(1, I - ki + 1)) for I, ki in zip(sizes, k)]
    params = {"kernel_size": _compact(k, draw(st.booleans()))}
    if ratio and min(sizes) >= 2 and draw(st.integers(0, 3)) == 0:
        # ratio = (O + 1/2) / I gives int(I * ratio) = O, inside (0, 1) for O <= I - 1.
        out = [draw(st.integers(1, min(I - ki + 1, I - 1))) for I, ki in zip(sizes, k)]
        ratios = [(o + 0.5) / I for o, I in zip(out, sizes)]
        assert [int(I * q) for I, q in zip(sizes, ratios)] == out
        params["output_ratio"] = ratios[0] if len(set(ratios)) == 1 else tuple(ratios)
    else:
        params["output_size"] = _compact(out, draw(st.booleans()))
    params["out"] = tuple(out)
    params["nan_policy"] = draw(st.sampled_from(nan_policies))
    case = draw(_op_case("fractional", rank, draw(st.sampled_from(batched)), sizes, params,
                         specials=specials, layouts=layouts, threads=threads, dtypes=dtypes))
    n = case.logical.shape[0] if case.batched else 1
    c = case.logical.shape[-rank - 1]
    rng = np.random.default_rng(case.seed ^ 0xF4)
    u = rng.random((n, c, rank)).astype(case.dtype)
    below_one = np.nextafter(case.dtype.type(1), case.dtype.type(0))
    edge = rng.random((n, c, rank))
    u[edge < 0.1] = 0
    u[edge > 0.9] = below_one
    u = np.minimum(u, below_one)  # float32 rounding can reach 1.0
    case.params["samples"] = u
    return case


@st.composite
def index_cases(draw, *, layouts: bool = True):
    """Indices in PyTorch's convention for ``convert_indices``: params ``input_shape``
    (logical, batched), ``indices`` (logical, from max pooling with -1 for windows in
    padding, or uniform in ``[-1, plane)``)."""
    rank = draw(st.sampled_from((1, 2, 3)))
    sizes = tuple(draw(st.integers(1, {1: 12, 2: 7, 3: 4}[rank])) for _ in range(rank))
    n = draw(st.integers(1, 3))
    c = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shape = (n, c) + sizes
    if draw(st.booleans()):
        x = rng.standard_normal(shape)
        k = draw(st.integers(1, 3))
        _, idx = reference.max_pool(x, k, draw(st.integers(1, 3)), ((k, k),) * rank,
                                    ceil_mode=draw(st.booleans()), rank=rank)
    else:
        out = tuple(draw(st.integers(1, 4)) for _ in range(rank))
        idx = rng.integers(-1, int(np.prod(sizes)), size=(n, c) + out)
    channels_last = draw(st.booleans()) if layouts else False
    idx = idx.astype(draw(st.sampled_from((np.int64, np.int32))))
    return OpCase(op="convert_indices", rank=rank, batched=True, logical=idx,
                  x=user_view(idx, True, channels_last), channels_last=channels_last,
                  memory="contiguous", num_threads=None, seed=seed,
                  params={"input_shape": shape})
