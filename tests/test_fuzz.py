"""Fuzz every public function with arbitrary arguments, valid and invalid (issue #7).

Hypothesis draws a function from ``fastpool.__all__`` and a call to it: mostly a
coherent, valid call (shapes, layouts, dtypes, geometry, indices that fit), with
zero to three arguments replaced by junk — arrays of 0 to 6 dimensions, any
dtype (int, unsigned, bool, complex, object, float16, strings), any memory
(byte-swapped, misaligned, read-only, negative or zero strides, huge zero-stride
views), ints from -2**63 to 10**30, NaN, inf, floats, bools, strings, None,
tuples of the wrong length — and sometimes an ``out=`` of any shape and dtype.
Every call must either

- raise ValueError, TypeError, IndexError, OverflowError or MemoryError with a
  message that starts with ``"<function>: "``, leaving ``out=`` untouched, or
- return arrays equal to :mod:`fastpool.reference` (bit for bit where the
  operator selects, to a dtype-aware tolerance where it sums), bit-identical for
  another thread count, written into ``out=`` when one was given, with the
  inputs unmodified.

The fuzzing runs in a child process (this file run as a script), under an
address-space limit so that absurd sizes fail fast with MemoryError: a segfault
or abort fails the pytest test with the child's output and the call it was
running, instead of killing pytest.

Run longer locally::

    FASTPOOL_FUZZ_EXAMPLES=20000 FASTPOOL_FUZZ_SEED=1 pytest tests/test_fuzz.py -s

(``FASTPOOL_FUZZ_SEED`` unset: derandomized, the same examples on every run.)
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
CI_EXAMPLES = 2500  # about 30-60 s on 2 shared cores
CLEAN = (ValueError, TypeError, IndexError, OverflowError, MemoryError)
ADDRESS_SPACE = 3 << 30  # bytes the child may map: a few GB, so 2**40-byte outputs fail



# ==========================================================================
# The pytest side: run the fuzzer in a child process


def test_fuzz_every_public_function(tmp_path, capsys):
    examples = int(os.environ.get("FASTPOOL_FUZZ_EXAMPLES", CI_EXAMPLES))
    seed = os.environ.get("FASTPOOL_FUZZ_SEED", "")
    trace = tmp_path / "last_call.txt"
    summary = tmp_path / "summary.json"
    cmd = [sys.executable, str(HERE), "--examples", str(examples), "--trace", str(trace),
           "--summary", str(summary)] + (["--seed", seed] if seed else [])
    timeout = 300 + examples * 0.2
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              cwd=HERE.parent)
    except subprocess.TimeoutExpired as e:
        last = trace.read_text() if trace.exists() else "(none)"
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) \
            else (e.stdout or "")
        raise AssertionError(f"the fuzzer did not finish in {timeout:.0f} s; last call:\n"
                             f"{last}\n--- output ---\n{out[-5000:]}") from None
    elapsed = time.perf_counter() - t0
    if proc.returncode < 0 or proc.returncode > 1:
        last = trace.read_text() if trace.exists() else "(none)"
        raise AssertionError(
            f"the fuzzer's process died (exit status {proc.returncode}) during:\n{last}\n"
            f"--- stderr ---\n{proc.stderr[-6000:]}\n--- stdout ---\n{proc.stdout[-3000:]}")
    if proc.returncode == 1:
        raise AssertionError(f"the fuzzer found a failure:\n{proc.stdout[-12000:]}\n"
                             f"--- stderr ---\n{proc.stderr[-3000:]}")
    stats = json.loads(summary.read_text())
    with capsys.disabled():
        print(f"\n[fuzz] {stats['examples']} examples in {stats['seconds']:.1f} s "
              f"(child process {elapsed:.1f} s): {stats['results']} results "
              f"({stats['compared']} compared with the reference, {stats['identity']} by "
              f"thread-count identity), {stats['errors']} clean errors, "
              f"{stats['out_checks']} out= checks")
    assert stats["examples"] >= min(examples, 200)
    # The fuzzer must reach the kernels, not only the argument checks.
    assert stats["compared"] >= stats["examples"] // 10, stats
    assert len(stats["functions"]) >= len(set(_public_functions())), stats["functions"]


# Argument-less functions that return a directory of the installed package.
PATH_GETTERS = ("get_include", "get_library_dir", "get_cmake_dir", "get_pkgconfig_dir")


def _public_functions() -> list[str]:
    import fastpool
    return sorted({n for n in fastpool.__all__ if callable(getattr(fastpool, n))})


# ==========================================================================
# The child side: the fuzzer


def _child(argv: list[str]) -> int:
    import argparse
    import faulthandler
    import resource
    import warnings

    p = argparse.ArgumentParser()
    p.add_argument("--examples", type=int, required=True)
    p.add_argument("--trace", required=True)
    p.add_argument("--summary", required=True)
    p.add_argument("--seed", type=int)
    args = p.parse_args(argv)

    faulthandler.enable()
    import fastpool  # noqa: F401 - import (and any editable rebuild) before the limit

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = ADDRESS_SPACE if hard == resource.RLIM_INFINITY else min(ADDRESS_SPACE, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    warnings.simplefilter("ignore")

    from hypothesis import HealthCheck, given, seed, settings
    from hypothesis import strategies as st

    fuzzer = Fuzzer(args.trace)
    kw = {"max_examples": args.examples, "deadline": None, "database": None,
          "derandomize": args.seed is None, "suppress_health_check": list(HealthCheck),
          "print_blob": True}

    @settings(**kw)
    @given(st.data())
    def fuzz(data):
        fuzzer.one(data.draw)

    if args.seed is not None:
        fuzz = seed(args.seed)(fuzz)
    t0 = time.perf_counter()
    status = 0
    try:
        fuzz()
    except Exception:  # noqa: BLE001 - Hypothesis' falsifying example, printed below
        import traceback
        traceback.print_exc(file=sys.stdout)
        status = 1
    stats = fuzzer.stats
    stats["seconds"] = time.perf_counter() - t0
    stats["functions"] = sorted(stats["functions"])
    Path(args.summary).write_text(json.dumps(stats))
    print(json.dumps(stats))
    return status


# --------------------------------------------------------------------------
# Values and arrays


INT_DTYPES = ("int8", "uint8", "int16", "uint16", "int32", "int64")
FLOAT_DTYPES = ("float32", "float64")
ODD_DTYPES = ("float16", "bool", "complex64", "complex128", "object", "U2", "uint64",
              "longdouble", "M8[s]")
HUGE_INTS = (2**33, 2**40, 2**62, 2**63 - 1, 2**63, 2**64, 10**30, -(2**63), -(2**40))


def _values(rng: np.random.Generator, shape, dtype, kind: str) -> np.ndarray:
    """Values of ``kind`` ("small": integers in [-4, 4], "normal", "special": small with
    NaN, ±inf and -0.0 sprinkled) in ``dtype`` (any NumPy dtype)."""
    dt = np.dtype(dtype)
    n = math.prod(shape)
    if kind == "normal":
        v = rng.standard_normal(n) * 10
    else:
        v = rng.integers(-4, 5, size=n).astype(np.float64)
        if kind == "special" and n:
            k = rng.integers(0, n + 1)
            v[rng.integers(0, n, size=k)] = rng.choice([np.nan, np.inf, -np.inf, -0.0], size=k)
    v = v.reshape(shape)
    if dt.kind in "iu":
        v = np.nan_to_num(v, nan=0, posinf=7, neginf=-7)
        v = np.abs(v) if dt.kind == "u" else v
        return np.round(v).astype(dt)
    if dt.kind == "b":
        return v > 0
    if dt.kind in "fc":
        return v.astype(dt)
    if dt.kind == "O":
        return v.astype(object)
    if dt.kind == "U":
        return v.astype(dt)
    return np.zeros(shape, dt)


MEMORY = ("contiguous",) * 6 + ("byte-swapped", "misaligned", "read-only", "negative",
                                 "strided", "list")


def _arrange(a: np.ndarray, memory: str):
    """``a``'s values in another memory arrangement (the same values, except ``list``)."""
    numeric = a.dtype.kind in "biufc"
    if memory == "contiguous" or not numeric or a.ndim == 0:
        return a
    if memory == "byte-swapped":
        return a.astype(a.dtype.newbyteorder()) if a.dtype.itemsize > 1 else a
    if memory == "misaligned":
        buf = np.zeros(a.nbytes + 1, np.uint8)
        m = buf[1:].view(a.dtype).reshape(a.shape)
        m[...] = a
        return m
    if memory == "read-only":
        b = a.copy()
        b.flags.writeable = False
        return b
    if memory == "negative":
        axes = tuple(range(a.ndim))
        return np.flip(np.ascontiguousarray(np.flip(a, axes)), axes)
    if memory == "strided":
        big = np.zeros(tuple(2 * n for n in a.shape), a.dtype)
        v = big[tuple(slice(None, None, 2) for _ in a.shape)]
        v[...] = a
        return v
    if memory == "list":
        return a.tolist() if a.size <= 200 else a
    raise AssertionError(memory)


def _huge_view(draw, dtype):
    """A zero-stride view that no call can turn into an output the child can allocate:
    its first two and its last extents are each >= 2**17, so whichever two of them are
    N and C (NCHW or channels-last), every output keeps >= 2**34 elements.  (A view
    whose output did fit would be a valid call with about 2**50 elements to read.)"""
    g = draw(_st().sampled_from([2**17, 2**18, 2**19]))
    ndim = draw(_st().integers(3, 5))
    shape = (g, g) + (1,) * (ndim - 3) + (g,)
    return np.lib.stride_tricks.as_strided(np.zeros(1, np.dtype(dtype)), shape=shape,
                                           strides=(0,) * len(shape))


def _st():
    from hypothesis import strategies as st
    return st


# --------------------------------------------------------------------------
# Junk


def junk_int(draw) -> int:
    st = _st()
    return draw(st.one_of(st.integers(-3, 7), st.sampled_from(HUGE_INTS)))


def junk_scalar(draw):
    """Anything a parameter might wrongly be given."""
    st = _st()
    kind = draw(st.integers(0, 13))
    if kind <= 2:
        return junk_int(draw)
    if kind == 3:
        return draw(st.sampled_from([2.5, 1.0, -0.0, 0.5, 1e308, float("nan"), float("inf"),
                                     float("-inf")]))
    if kind == 4:
        return draw(st.booleans())
    if kind == 5:
        return None
    if kind == 6:
        return draw(st.sampled_from(["", "same", "valid", "same_lower", "SAME", "2", "abc",
                                     "omit", "torch", "onnx", "tf", "max", "adaptive"]))
    if kind == 7:
        return draw(st.sampled_from([np.int64(2), np.int32(3), np.float32(2.0), np.bool_(True),
                                     np.uint64(2**63), np.array(2), np.array([2, 2]),
                                     1 + 2j]))
    if kind == 8:
        n = draw(st.integers(0, 5))
        return tuple(junk_int(draw) for _ in range(n))
    if kind == 9:
        n = draw(st.integers(1, 4))
        return tuple((junk_int(draw), junk_int(draw)) if draw(st.booleans())
                     else junk_int(draw) for _ in range(n))
    if kind == 10:
        return draw(st.sampled_from([(2, None), (None,), [2.5, 2], ((1, 2, 3),), {}, set(),
                                     object(), [[1, 2], [3]], (float("nan"),) * 2]))
    if kind == 11:
        return [junk_int(draw) for _ in range(draw(st.integers(0, 3)))]
    return junk_array(draw)


def junk_array(draw):
    """An array of 0 to 6 dimensions, extents 0 to 9, any dtype, any memory; sometimes a
    huge zero-stride view or a ragged list."""
    st = _st()
    kind = draw(st.integers(0, 19))
    dtype = draw(st.sampled_from(FLOAT_DTYPES * 3 + INT_DTYPES + ODD_DTYPES))
    if kind == 0:
        return _huge_view(draw, "float32" if dtype in ODD_DTYPES else dtype)
    if kind == 1:
        return draw(st.sampled_from([[[1.0, 2.0], [3.0]], [[[1, 2]], [[3, 4], [5, 6]]]]))
    ndim = draw(st.integers(0, 6))
    cap = 9 if ndim <= 3 else (5 if ndim == 4 else 3)
    shape = tuple(draw(st.integers(0, cap)) for _ in range(ndim))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a = _values(rng, shape, dtype, draw(st.sampled_from(["small", "normal", "special"])))
    return _arrange(a, draw(st.sampled_from(MEMORY)))


# --------------------------------------------------------------------------
# Layouts


def _to_user(a: np.ndarray, batched: bool, channels_last: bool) -> np.ndarray:
    """A logical (N, C, *spatial) array in the caller's layout."""
    if channels_last:
        a = np.moveaxis(a, 1, -1)
    return a if batched else a[0]


def _to_logical(a, batched: bool, channels_last: bool) -> np.ndarray:
    a = np.asarray(a)
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    if not batched:
        a = a[np.newaxis]
    return np.moveaxis(a, -1, 1) if channels_last else a


def _shape_to_user(shape, batched, channels_last) -> tuple[int, ...]:
    shape = tuple(shape)
    if channels_last:
        shape = (shape[0],) + shape[2:] + (shape[1],)
    return shape if batched else shape[1:]


def _shape_to_logical(shape, batched, channels_last) -> tuple[int, ...]:
    shape = tuple(int(v) for v in shape)
    if not batched:
        shape = (1,) + shape
    if channels_last:
        shape = (shape[0], shape[-1]) + shape[1:-1]
    return shape


_NAME = re.compile(
    r"^(?:(?P<fam>max|avg|lp|adaptive_max|adaptive_avg|fractional_max)_pool(?P<r>[123])d"
    r"|max_unpool(?P<ur>[123])d|global_(?P<g>max|avg|lp)_pool)(?P<bwd>_backward)?$")


def _parse(name: str):
    """(family, rank or None, backward) of a pooling function's name, or None."""
    m = _NAME.match(name)
    if not m:
        return None
    if m["g"]:
        return "global_" + m["g"], None, bool(m["bwd"])
    if m["ur"]:
        return "unpool", int(m["ur"]), bool(m["bwd"])
    fam = "fractional" if m["fam"] == "fractional_max" else m["fam"]
    return fam, int(m["r"]), bool(m["bwd"])


MAX_TYPE = ("max", "adaptive_max", "global_max", "unpool", "fractional")

# The special poolings (issue #5), drawn by Fuzzer._build_special.
SPECIAL = {f"{base}{suffix}" for base in (
    "stochastic_pool2d", "median_pool2d", "mixed_pool2d", "spatial_pyramid_pool", "yolo_spp",
    "bilinear_pool", "netvlad") for suffix in ("", "_backward")}


def _special_exact(name: str, kw: dict) -> bool:
    """Special poolings whose output selects input values (compared bit for bit)."""
    if name in ("stochastic_pool2d", "yolo_spp"):
        return kw.get("training", True) is True or name == "yolo_spp"
    if name == "median_pool2d":
        return kw.get("even", "lower") != "mean"
    if name == "spatial_pyramid_pool":
        return kw.get("mode", "max") == "max"
    return False


def _vlad_cancels(x, weight, bias, centroids, normalize_input) -> bool:
    """True when some cluster's VLAD vector V[k] = sum_p a_kp (x_p - c_k) is so small that
    fastpool's A X^T - (A 1) C form (issue #5, fastpool.h) computes it only to rounding
    noise, which the intra-normalisation then blows up to unit length (the residual form
    the reference uses keeps it exact): those calls are compared by thread-count identity
    instead.  The bound is that form's absolute error, a few eps * (sum_p a_kp) *
    (|c_k| + max_p |x_p|) per element."""
    x = np.asarray(x, np.float64)
    w, b, c = (np.asarray(v, np.float64) for v in (weight, bias, centroids))
    if x.size == 0 or not (np.isfinite(x).all() and np.isfinite(w).all() and
                           np.isfinite(b).all() and np.isfinite(c).all()):
        return False
    n, d = x.shape[:2]
    xs = x.reshape(n, d, -1)
    if normalize_input is True or normalize_input is None:
        xs = xs / np.maximum(np.linalg.norm(xs, axis=1, keepdims=True), 1e-12)
    logits = np.einsum("kd,ndp->nkp", w, xs) + b[None, :, None]
    a = np.exp(logits - logits.max(axis=1, keepdims=True))
    a /= a.sum(axis=1, keepdims=True)
    s = a.sum(axis=2)
    v = np.einsum("nkp,ndp->nkd", a, xs) - s[..., None] * c[None]
    scale = s * (np.abs(c).max(axis=1)[None] + np.abs(xs).max(axis=(1, 2))[:, None])
    eps = float(np.finfo(np.asarray(weight).dtype).eps)
    return bool((np.linalg.norm(v, axis=2) <= 64 * eps * (xs.shape[2] + 1) * scale).any())


def _tuple_out(name: str, kw: dict) -> bool:
    """Calls whose out= is a tuple of arrays, one per output (their own tests pin it)."""
    return name == "netvlad_backward" or (name == "bilinear_pool_backward" and
                                          kw.get("y") is not None)


def _unseeded(name: str, kw: dict) -> bool:
    """A call that draws fresh random numbers (stochastic training without a seed)."""
    return name == "stochastic_pool2d" and kw.get("seed") is None and \
        kw.get("training", True) is not False
SELECTING = MAX_TYPE  # exact comparisons (their backward sums; unpool's is a gather)


# --------------------------------------------------------------------------
# Valid-leaning calls


class Fuzzer:
    def __init__(self, trace_path: str):
        import inspect

        import fastpool
        from fastpool import reference

        self.fp = fastpool
        self.R = reference
        self.funcs = _public_functions()
        self.params = {n: set(inspect.signature(getattr(fastpool, n)).parameters)
                       for n in self.funcs}
        self.trace = os.open(trace_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self.stats = {"examples": 0, "results": 0, "compared": 0, "identity": 0,
                      "declined": 0, "errors": 0, "out_checks": 0,
                      "functions": set(), "by_function": {}}

    # ---- drawing -----------------------------------------------------------

    def _dtype(self, draw, family, backward):
        st = _st()
        if backward or family not in MAX_TYPE:
            return draw(st.sampled_from(FLOAT_DTYPES * 8 + ("float16",)))
        return draw(st.sampled_from(FLOAT_DTYPES * 6 + ("float16",) + INT_DTYPES))

    def _array(self, draw, logical_shape, dtype, batched, cl):
        st = _st()
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        kind = draw(st.sampled_from(["small", "small", "normal", "special"]))
        a = _values(rng, logical_shape, dtype, kind)
        memory = draw(st.sampled_from(MEMORY))
        return _arrange(_to_user(a, batched, cl), memory)

    def _indices(self, draw, logical_shape, plane, batched, cl, low=-1):
        st = _st()
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        i = rng.integers(low, max(plane, 0), size=logical_shape) if plane > 0 else \
            np.full(logical_shape, -1)
        i = i.astype(draw(st.sampled_from(["int64", "int64", "int32"])))
        return _arrange(_to_user(i, batched, cl),
                        draw(st.sampled_from(("contiguous",) * 4 + ("byte-swapped",
                                                                      "negative"))))

    def _geometry(self, draw, rank, spatial, padding_modes=True):
        st = _st()
        k = [draw(st.integers(1, max(1, min(3, s + 1)))) for s in spatial]
        s = [draw(st.integers(1, 3)) for _ in range(rank)]
        d = [draw(st.sampled_from([1, 1, 2])) for _ in range(rank)]
        forms = ["zero", "int", "tuple", "pairs"] + (["same", "same_lower", "valid"]
                                                    if padding_modes else ["valid"])
        form = draw(st.sampled_from(forms))
        if form == "zero":
            padding = 0
        elif form == "int":
            padding = draw(st.integers(0, 2))
        elif form == "tuple":
            padding = tuple(draw(st.integers(0, 2)) for _ in range(rank))
        elif form == "pairs":
            padding = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2)))
                            for _ in range(rank))
        else:
            padding = form

        def compact(v):
            return v[0] if len(set(v)) == 1 and draw(st.booleans()) else tuple(v)

        return {"kernel_size": compact(k),
                "stride": None if draw(st.integers(0, 3)) == 0 else compact(s),
                "padding": padding, "dilation": compact(d), "ceil_mode": draw(st.booleans())}

    def _output_shape(self, logical_in, **kw):
        """The logical output shape fastpool's helper computes (None if it raises)."""
        try:
            return self.fp.pool_output_shape(logical_in, **kw)
        except CLEAN:
            return None

    def build(self, draw, name):
        """Keyword arguments of a (mostly) valid call of ``name``."""
        st = _st()
        if name in SPECIAL:
            return self._build_special(draw, name)
        parsed = _parse(name)
        if parsed is None:
            return self._build_helper(draw, name)
        fam, rank, bwd = parsed
        glob = fam.startswith("global")
        if glob:
            rank = draw(st.integers(1, 3))
        batched = True if glob else draw(st.sampled_from([True, True, True, False]))
        cl = draw(st.booleans())
        cap = {1: 9, 2: 7, 3: 5}[rank]
        n = draw(st.integers(1, 2)) if batched else 1
        c = draw(st.integers(1, 3))
        spatial = tuple(draw(st.integers(1, cap)) for _ in range(rank))
        logical = (n, c) + spatial
        dtype = self._dtype(draw, fam, bwd)
        kw = {"channels_last": cl}
        if draw(st.integers(0, 2)) == 0:
            kw["num_threads"] = draw(st.sampled_from([1, 2, 3, 4]))
        plane = math.prod(spatial)
        user_shape = _shape_to_user(logical, batched, cl)

        def arr(shape, dt=dtype):
            return self._array(draw, shape, dt, batched, cl)

        def max_options():
            kw["nan_policy"] = draw(st.sampled_from(["propagate", "omit"]))
            if draw(st.booleans()):
                kw["return_indices"] = True
                kw["index_dtype"] = draw(st.sampled_from([np.int64, np.int32, "int32"]))

        if fam in ("max", "avg", "lp"):
            geo = self._geometry(draw, rank, spatial)
            out = self._output_shape(logical, **geo)
            if fam == "lp":
                geo.pop("ceil_mode")
                kw["ceil_mode"] = draw(st.booleans())
                kw["norm_type"] = draw(st.sampled_from([1, 2, 3, 1.5, 0.5, float("inf"), 4]))
            kw.update(geo)
            if fam == "avg":
                kw["count_include_pad"] = draw(st.booleans())
                if draw(st.integers(0, 3)) == 0:
                    kw["divisor_override"] = draw(st.integers(1, 9))
            if fam == "max" and not bwd:
                max_options()
            if not bwd:
                kw["x"] = arr(logical)
                return kw
            if fam == "max":
                o = out or logical
                kw.pop("nan_policy", None)
                for k in ("kernel_size", "stride", "padding", "dilation", "ceil_mode"):
                    kw.pop(k)
                kw["grad_output"] = arr(o)
                kw["indices"] = self._indices(draw, o, plane, batched, cl)
                kw["input_shape"] = user_shape
                return kw
            if fam == "avg":
                kw["grad_output"] = arr(out or logical)
                kw["input_shape"] = user_shape
                return kw
            x = arr(logical)
            kw["x"] = x
            try:
                y = getattr(self.fp, f"lp_pool{rank}d")(
                    x, kw["norm_type"], kw["kernel_size"], kw["stride"], kw["ceil_mode"],
                    padding=kw["padding"], dilation=kw["dilation"], channels_last=cl)
            except CLEAN:
                y = arr(out or logical)
            kw["y"] = y
            kw["grad_output"] = arr(_shape_to_logical(np.shape(y), batched, cl))
            return kw

        if fam in ("adaptive_max", "adaptive_avg"):
            o = tuple(draw(st.integers(1, cap)) for _ in range(rank))
            if bwd:
                kw["grad_output"] = arr((n, c) + o)
                kw["input_shape"] = user_shape
                if fam == "adaptive_max":
                    kw["indices"] = self._indices(draw, (n, c) + o, plane, batched, cl)
                return kw
            form = draw(st.integers(0, 2))
            kw["output_size"] = o[0] if form == 0 else (
                o if form == 1 else tuple(v if draw(st.booleans()) else None for v in o))
            if fam == "adaptive_max":
                max_options()
            kw["x"] = arr(logical)
            return kw

        if glob:
            ones = (n, c) + (1,) * rank
            if fam == "global_max":
                if bwd:
                    kw["grad_output"] = arr(ones)
                    kw["indices"] = self._indices(draw, ones, plane, batched, cl)
                    kw["input_shape"] = user_shape
                    return kw
                max_options()
            if fam == "global_avg" and bwd:
                kw["grad_output"] = arr(ones)
                kw["input_shape"] = user_shape
                return kw
            if fam == "global_lp":
                kw["norm_type"] = draw(st.sampled_from([1, 2, 3, 1.5, 0.5, float("inf")]))
            x = arr(logical)
            kw["x"] = x
            if fam == "global_lp" and bwd:
                try:
                    kw["y"] = self.fp.global_lp_pool(x, kw["norm_type"], channels_last=cl)
                except CLEAN:
                    kw["y"] = arr(ones)
                kw["grad_output"] = arr(ones)
            return kw

        if fam == "unpool":
            geo = self._geometry(draw, rank, spatial, padding_modes=False)
            for k in ("dilation", "ceil_mode"):
                geo.pop(k)
            kw.update(geo)
            try:
                out = self.fp.pool_output_shape(logical, op="unpool", **geo)
            except CLEAN:
                out = None
            if out is not None and draw(st.integers(0, 3)) == 0:
                s = geo["stride"] if geo["stride"] is not None else geo["kernel_size"]
                s = (s,) * rank if isinstance(s, int) else s
                size = tuple(max(1, o + draw(st.integers(-(si - 1), si - 1)))
                             for o, si in zip(out[2:], s))
                kw["output_size"] = size
                out = out[:2] + size
            out_plane = math.prod(out[2:]) if out else plane
            kw["indices"] = self._indices(draw, logical, out_plane, batched, cl)
            if bwd:
                kw["grad_output"] = arr(out or logical)
            else:
                kw["x"] = arr(logical)
            return kw

        if fam == "fractional":
            k = tuple(draw(st.integers(1, s)) for s in spatial)
            o = tuple(draw(st.integers(1, s - ki + 1)) for s, ki in zip(spatial, k))
            if bwd:
                kw["grad_output"] = arr((n, c) + o)
                kw["indices"] = self._indices(draw, (n, c) + o, plane, batched, cl)
                kw["input_shape"] = user_shape
                return kw
            kw["kernel_size"] = k[0] if len(set(k)) == 1 and draw(st.booleans()) else k
            if draw(st.integers(0, 3)) == 0:
                kw["output_ratio"] = tuple(draw(st.sampled_from([0.25, 0.5, 0.75, 0.9]))
                                           for _ in range(rank))
            else:
                kw["output_size"] = o
            if draw(st.integers(0, 3)) == 0:
                kw["seed"] = draw(st.integers(0, 2**32))
            else:
                rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
                smp = rng.random((n, c, rank))
                kw["samples"] = smp if batched else smp[0]
            max_options()
            kw["x"] = arr(logical)
            return kw
        raise AssertionError(name)

    def _build_special(self, draw, name):
        """Keyword arguments of a (mostly) valid call of a special pooling (issue #5)."""
        st = _st()
        bwd = name.endswith("_backward")
        base = name[:-len("_backward")] if bwd else name
        batched = draw(st.sampled_from([True, True, True, False]))
        cl = draw(st.booleans())
        n = draw(st.integers(1, 2)) if batched else 1
        c = draw(st.integers(1, 3))
        spatial = (draw(st.integers(1, 7)), draw(st.integers(1, 7)))
        logical = (n, c) + spatial
        kinds = FLOAT_DTYPES * 6 + ("float16",)
        if base in ("median_pool2d", "spatial_pyramid_pool", "yolo_spp") and not bwd:
            kinds += INT_DTYPES
        dtype = draw(st.sampled_from(kinds))
        kw = {"channels_last": cl}
        if draw(st.integers(0, 2)) == 0:
            kw["num_threads"] = draw(st.sampled_from([1, 2, 3, 4]))

        def arr(shape, dt=dtype, layout=True, nonneg=False):
            if not layout:
                rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
                return _values(rng, shape, dt, draw(st.sampled_from(["small", "normal"])))
            a = self._array(draw, shape, dt, batched, cl)
            return np.abs(a) if nonneg and isinstance(a, np.ndarray) else a

        def features(count):
            return arr((n, count), layout=False) if batched else arr((count,), layout=False)

        if base in ("stochastic_pool2d", "median_pool2d", "mixed_pool2d"):
            geo = self._geometry(draw, 2, spatial)
            out = self._output_shape(logical, **geo) or logical
            kw.update(geo)
            x = arr(logical, nonneg=base == "stochastic_pool2d")
            if base == "stochastic_pool2d":
                kw["training"] = draw(st.sampled_from([True, True, False]))
                if kw["training"] or draw(st.booleans()):
                    kw["seed"] = draw(st.integers(0, 2**64 - 1))
            if base == "median_pool2d":
                kw["even"] = draw(st.sampled_from(["lower", "upper", "mean"]))
            if base == "mixed_pool2d":
                kw["count_include_pad"] = draw(st.booleans())
                kw["mode"] = draw(st.sampled_from(["blend", "blend", "concat"]))
                kw["order"] = draw(st.sampled_from([("avg", "max"), ("max", "avg")]))
                if draw(st.booleans()):
                    kw["alpha"] = draw(st.sampled_from([0.0, 0.25, 0.5, 1.0, -1.5]))
                else:
                    kw["alpha"] = arr((c,), np.float64, layout=False)
            if not bwd:
                if base != "mixed_pool2d" and draw(st.booleans()) and \
                        kw.get("training", True) and kw.get("even") != "mean":
                    kw["return_indices"] = True
                    kw["index_dtype"] = draw(st.sampled_from([np.int64, np.int32]))
                kw["x"] = x
                return kw
            if base == "mixed_pool2d":
                if kw["mode"] == "concat":
                    out = (out[0], 2 * out[1]) + tuple(out[2:])
                kw["grad_output"] = arr(out)
                kw["x"] = x
                return kw
            selecting = kw.get("training", True) if base == "stochastic_pool2d" else \
                kw["even"] != "mean"
            if selecting and draw(st.booleans()):
                # the indices form: (grad_output, indices, input_shape)
                for k in ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "seed",
                          "even", "training"):
                    kw.pop(k, None)
                kw["grad_output"] = arr(out)
                kw["indices"] = self._indices(draw, out, math.prod(spatial), batched, cl)
                kw["input_shape"] = _shape_to_user(logical, batched, cl)
                return kw
            kw.pop("seed", None)
            if base == "stochastic_pool2d":
                kw["training"] = False
            kw["grad_output"] = arr(out)
            kw["x"] = x
            return kw

        if base == "spatial_pyramid_pool":
            levels = tuple(draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 3))))
            kw["levels"] = levels[0] if len(levels) == 1 and draw(st.booleans()) else levels
            kw["mode"] = draw(st.sampled_from(["max", "avg"]))
            kw["variant"] = draw(st.sampled_from(["adaptive", "sppnet", "caffe"]))
            kw["x"] = arr(logical)
            if bwd:
                kw["grad_output"] = features(c * sum(v * v for v in levels))
            return kw

        if base == "yolo_spp":
            ks = tuple(draw(st.sampled_from([1, 3, 5, 7])) for _ in range(draw(st.integers(1, 4))))
            kw["kernel_sizes"] = ks
            kw["order"] = draw(st.sampled_from(["ultralytics", "darknet"]))
            kw["x"] = arr(logical)
            if bwd:
                kw["grad_output"] = arr((n, (len(ks) + 1) * c) + spatial)
            return kw

        if base == "bilinear_pool":
            for flag in ("average", "signed_sqrt", "l2_normalize"):
                if draw(st.booleans()):
                    kw[flag] = draw(st.booleans())
            kw["x"] = arr(logical)
            cy = c
            if draw(st.booleans()):
                cy = draw(st.integers(1, 3))
                kw["y"] = arr((n, cy) + spatial)
            if bwd:
                kw["grad_output"] = features(c * cy)
            return kw

        if base == "netvlad":
            k = draw(st.integers(1, 4))
            kw["x"] = arr(logical)
            kw["weight"] = arr((k, c), layout=False)
            kw["bias"] = arr((k,), layout=False)
            kw["centroids"] = arr((k, c), layout=False)
            if draw(st.booleans()):
                kw["normalize_input"] = draw(st.booleans())
            if bwd:
                kw["grad_output"] = features(k * c)
            return kw
        raise AssertionError(name)

    def _build_helper(self, draw, name):
        st = _st()
        if name == "show_config":
            return {"file": io.StringIO()}
        if name in PATH_GETTERS:
            return {}
        if name == "adaptive_windows":
            return {"in_size": draw(st.integers(1, 40)), "out_size": draw(st.integers(1, 40))}
        if name == "pool_output_shape":
            rank = draw(st.integers(1, 3))
            batched = draw(st.booleans())
            cl = draw(st.booleans())
            spatial = tuple(draw(st.integers(1, 12)) for _ in range(rank))
            logical = (draw(st.integers(0, 3)), draw(st.integers(0, 3))) + spatial
            op = draw(st.sampled_from(["max", "avg", "lp", "unpool", "adaptive", "global",
                                       "fractional"]))
            kw = {"input_shape": _shape_to_user(logical, True if op == "global" else batched,
                                                cl),
                  "op": op, "channels_last": cl, "rank": rank}
            geo = self._geometry(draw, rank, spatial)
            if op in ("max", "avg", "lp"):
                kw.update(geo)
            elif op == "unpool":
                kw.update({k: geo[k] for k in ("kernel_size", "stride")})
            elif op == "adaptive":
                kw["output_size"] = tuple(draw(st.integers(1, 6)) for _ in range(rank))
            elif op == "fractional":
                k = tuple(draw(st.integers(1, s)) for s in spatial)
                kw["kernel_size"] = k
                kw["output_size"] = tuple(draw(st.integers(1, s - ki + 1))
                                          for s, ki in zip(spatial, k))
            return kw
        if name == "convert_indices":
            rank = draw(st.integers(1, 3))
            cl = draw(st.booleans())
            n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
            spatial = tuple(draw(st.integers(1, 6)) for _ in range(rank))
            o = tuple(draw(st.integers(1, 4)) for _ in range(rank))
            plane = math.prod(spatial)
            source = draw(st.sampled_from(["torch", "onnx", "tf"]))
            include_batch = draw(st.booleans())
            top = {"torch": plane, "onnx": n * c * plane,
                   "tf": (n if include_batch else 1) * plane * c}[source]
            return {"indices": self._indices(draw, (n, c) + o, top, True, cl),
                    "input_shape": _shape_to_user((n, c) + spatial, True, cl),
                    "source": source, "target": draw(st.sampled_from(["torch", "onnx", "tf"])),
                    "storage_order": draw(st.sampled_from([0, 1])), "channels_last": cl,
                    "include_batch": include_batch}
        # A public function this fuzzer does not know: junk positional arguments.
        return {"__args__": [junk_scalar(draw) for _ in range(draw(st.integers(0, 4)))]}

    # ---- one example -------------------------------------------------------

    def one(self, draw):
        st = _st()
        name = draw(st.sampled_from(self.funcs))
        fn = getattr(self.fp, name)
        self.stats["examples"] += 1
        self.stats["functions"].add(name)
        per = self.stats["by_function"].setdefault(name, [0, 0, 0])
        per[0] += 1
        kw = self.build(draw, name)
        if "__args__" in kw:
            self._generic(fn, name, kw["__args__"])
            return
        no_args = name == "show_config" or name in PATH_GETTERS
        mutated = self._mutate(draw, name, kw) if not no_args else []
        snapshot = _snapshot(kw)
        self._trace(name, kw)
        try:
            result = fn(**kw)
        except CLEAN as e:
            self._clean(name, e, kw)
            self.stats["errors"] += 1
            _unchanged(snapshot, kw, name)
            if "out" in self.params[name] and draw(st.integers(0, 5)) == 0:
                self._junk_out(draw, fn, name, kw)
            return
        except Exception as e:  # noqa: BLE001
            raise AssertionError(f"{name} raised {type(e).__name__}: {e}\n"
                                 f"call: {_describe(name, kw)}") from e
        self.stats["results"] += 1
        _unchanged(snapshot, kw, name)
        self._check_result(name, kw, result, mutated)
        if self._compare(name, kw, result):
            self.stats["compared"] += 1
            per[1] += 1
        elif self._identity(fn, name, kw, result):
            self.stats["identity"] += 1
            per[2] += 1
        else:
            self.stats["declined"] += 1
        if "out" in self.params[name] and isinstance(result, (np.ndarray, tuple)) and \
                not _unseeded(name, kw) and not _tuple_out(name, kw) and \
                draw(st.integers(0, 2)) == 0:
            self._out(draw, fn, name, kw, result)

    def _mutate(self, draw, name, kw) -> list[str]:
        """Replace 0-3 arguments by junk (and sometimes put a bad value in the indices)."""
        st = _st()
        keys = sorted(set(kw) | (self.params[name] - {"out", "indices_out"}))
        mutated = []
        for _ in range(draw(st.sampled_from([0, 0, 0, 0, 1, 1, 1, 2, 3]))):
            key = draw(st.sampled_from(keys))
            current = kw.get(key)
            if isinstance(current, (np.ndarray, list)) and draw(st.integers(0, 2)):
                kw[key] = junk_array(draw)
            else:
                kw[key] = junk_scalar(draw)
            mutated.append(key)
        idx = kw.get("indices")
        if isinstance(idx, np.ndarray) and 0 < idx.size <= 1 << 20 and idx.dtype.kind in "iu" and \
                draw(st.integers(0, 4)) == 0:
            idx = np.array(idx)
            bad = draw(st.sampled_from([-2, -(2**31), 2**31 - 1, 10**6]))
            if np.can_cast(np.min_scalar_type(bad), idx.dtype):
                idx.flat[draw(st.integers(0, idx.size - 1))] = bad
                kw["indices"] = idx
                mutated.append("indices")
        return mutated

    def _trace(self, name, kw):
        data = _describe(name, kw).encode(errors="replace")
        os.lseek(self.trace, 0, os.SEEK_SET)
        os.write(self.trace, data)
        os.ftruncate(self.trace, len(data))

    def _clean(self, name, e: BaseException, kw):
        """A clean error: a permitted type whose message starts with '<name>: '."""
        msg = str(e)
        if msg.startswith(f"{name}: "):
            return
        raise AssertionError(f"{name} raised {type(e).__name__}({msg!r}): the message does "
                             f"not name the function\ncall: {_describe(name, kw)}")

    def _generic(self, fn, name, args):
        self._trace(name, {"__args__": args})
        try:
            fn(*args)
        except CLEAN as e:
            self._clean(name, e, {"__args__": args})
        except Exception as e:  # noqa: BLE001
            raise AssertionError(f"{name}{tuple(args)!r} raised {type(e).__name__}: {e}") \
                from e

    def _check_result(self, name, kw, result, mutated):
        if name == "show_config":
            assert self.fp.__version__ in kw["file"].getvalue()
            return
        if name in PATH_GETTERS:
            assert isinstance(result, str) and os.path.isdir(result), (name, result)
            return
        if name == "pool_output_shape":
            assert isinstance(result, tuple) and all(type(v) is int and v >= 0 for v in result), \
                (result, _describe(name, kw))
            return
        arrays = result if isinstance(result, tuple) else (result,)
        for a in arrays:
            assert isinstance(a, np.ndarray), (type(a), _describe(name, kw))
            assert a.dtype.isnative, (a.dtype, _describe(name, kw))
            if kw.get("out") is None:
                assert a.flags.c_contiguous or a.size == 0 or name == "adaptive_windows", \
                    ("output not C-contiguous", _describe(name, kw))

    # ---- checks against the reference --------------------------------------

    def _compare(self, name, kw, result) -> bool:
        """True if the result equals the reference's; False if there is no reference for
        this call (the reference rejects it, or it uses a seed); AssertionError if it
        differs."""
        try:
            want = self._expected(name, kw)
        except Exception:  # noqa: BLE001 - no reference answer for this call
            return False
        got = result if isinstance(result, tuple) else (result,)
        want = want if isinstance(want, tuple) else (want,)
        parsed = _parse(name)
        exact = (parsed is None and name not in SPECIAL) or \
            (parsed is not None and parsed[0] in SELECTING and not parsed[2]) or \
            (parsed is not None and parsed[0] == "unpool") or _special_exact(name, kw)
        if name == "pool_output_shape":
            got, want = (tuple(result),), (tuple(want),)
            if got != want:
                raise AssertionError(f"{name} returned {got[0]}, the reference {want[0]}\n"
                                     f"call: {_describe(name, kw)}")
            return True
        assert len(got) == len(want), (len(got), len(want), _describe(name, kw))
        for k, (g, w) in enumerate(zip(got, want)):
            w = np.asarray(w)
            problem = _difference(g, w, exact)
            if problem:
                raise AssertionError(
                    f"{name} output {k} differs from fastpool.reference: {problem}\n"
                    f"call: {_describe(name, kw)}\ngot:  {_show(g)}\nwant: {_show(w)}")
        return True

    def _expected(self, name, kw):
        """The reference's answer for this call, in the caller's layout."""
        R = self.R
        if name == "adaptive_windows":
            return R.adaptive_windows(kw["in_size"], kw["out_size"])
        for flag in ("channels_last", "return_indices", "ceil_mode", "count_include_pad",
                     "include_batch"):
            if flag in kw and type(kw[flag]) is not bool:
                raise LookupError(f"{flag} is not a bool")
        cl = kw.get("channels_last", False)
        if name == "pool_output_shape":
            rank = kw["rank"]
            shape = tuple(kw["input_shape"])
            batched = len(shape) == rank + 2
            res = R.pool_output_shape(
                _shape_to_logical(shape, batched, cl), kw.get("kernel_size"), kw.get("stride"),
                kw.get("padding", 0), kw.get("dilation", 1), kw.get("ceil_mode", False),
                op=kw.get("op", "max"), output_size=kw.get("output_size"),
                output_ratio=kw.get("output_ratio"), rank=rank)
            return _shape_to_user(res, batched, cl)
        if name == "convert_indices":
            idx = _to_logical(kw["indices"], True, cl)
            shape = _shape_to_logical(kw["input_shape"], True, cl)
            res = R.convert_indices(idx, shape, kw.get("source", "torch"),
                                    kw.get("target", "onnx"), kw.get("storage_order", 0),
                                    include_batch=kw.get("include_batch", False))
            return _to_user(res, True, cl)
        if name in SPECIAL:
            return self._expected_special(name, kw)
        parsed = _parse(name)
        if parsed is None:
            raise LookupError(name)
        fam, rank, bwd = parsed
        prim = np.asarray(kw["indices"] if fam == "unpool" and bwd else
                          kw["grad_output"] if bwd else kw["x"])
        if fam.startswith("global"):
            rank, batched = prim.ndim - 2, True
        else:
            batched = prim.ndim == rank + 2

        def L(a):
            return _to_logical(a, batched, cl)

        def U(a):
            return _to_user(np.asarray(a), batched, cl)

        g = lambda k, d=None: kw.get(k, d)  # noqa: E731
        if bwd:
            shape = _shape_to_logical(kw["input_shape"], batched, cl) \
                if "input_shape" in kw else None
            grad = np.asarray(kw["grad_output"])
            if grad.dtype.newbyteorder("=") == np.float16:
                # float16 gradients: the float32 reference, rounded once to float16
                half = {k: (np.asarray(v).astype(np.float32)
                            if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
                        for k, v in kw.items()}
                return _caster(np.float16)(self._expected(name, half))
            if fam in ("max", "adaptive_max", "global_max", "fractional"):
                dx = R.max_pool_backward(L(kw["grad_output"]), L(kw["indices"]), shape,
                                         rank=rank)
            elif fam == "avg":
                dx = R.avg_pool_backward(L(kw["grad_output"]), shape, kw["kernel_size"],
                                         g("stride"), g("padding", 0), g("ceil_mode", False),
                                         g("count_include_pad", True), g("divisor_override"),
                                         g("dilation", 1), rank=rank)
            elif fam == "lp":
                dx = R.lp_pool_backward(L(kw["grad_output"]), L(kw["x"]), L(kw["y"]),
                                        kw["norm_type"], kw["kernel_size"], g("stride"),
                                        g("ceil_mode", False), padding=g("padding", 0),
                                        dilation=g("dilation", 1), rank=rank)
            elif fam == "adaptive_avg":
                dx = R.adaptive_avg_pool_backward(L(kw["grad_output"]), shape, rank=rank)
            elif fam == "global_avg":
                dx = R.global_avg_pool_backward(L(kw["grad_output"]), shape)
            elif fam == "global_lp":
                dx = R.global_lp_pool_backward(L(kw["grad_output"]), L(kw["x"]), L(kw["y"]),
                                               kw["norm_type"])
            elif fam == "unpool":
                dx = R.max_unpool_backward(L(kw["grad_output"]), L(kw["indices"]),
                                           kw["kernel_size"], g("stride"), g("padding", 0),
                                           g("output_size"), rank=rank)
            else:
                raise LookupError(fam)
            return U(dx)

        x = L(kw["x"])
        back = None
        if x.dtype not in (np.float32, np.float64):
            if x.dtype == np.float16:
                back, x = _caster(x.dtype), x.astype(np.float32)
            elif fam in MAX_TYPE and x.dtype.kind in "iu":
                back, x = _caster(x.dtype), x.astype(np.float64)
            else:
                raise LookupError(f"no reference for {x.dtype}")
        idx = None
        if fam == "max":
            y, idx = R.max_pool(x, kw["kernel_size"], g("stride"), g("padding", 0),
                                g("dilation", 1), g("ceil_mode", False),
                                g("nan_policy", "propagate"), rank=rank)
        elif fam == "avg":
            y = R.avg_pool(x, kw["kernel_size"], g("stride"), g("padding", 0),
                           g("ceil_mode", False), g("count_include_pad", True),
                           g("divisor_override"), g("dilation", 1), rank=rank)
        elif fam == "lp":
            y = R.lp_pool(x, kw["norm_type"], kw["kernel_size"], g("stride"),
                          g("ceil_mode", False), padding=g("padding", 0),
                          dilation=g("dilation", 1), rank=rank)
        elif fam == "adaptive_max":
            y, idx = R.adaptive_max_pool(x, kw["output_size"], g("nan_policy", "propagate"),
                                         rank=rank)
        elif fam == "adaptive_avg":
            y = R.adaptive_avg_pool(x, kw["output_size"], rank=rank)
        elif fam == "global_max":
            y, idx = R.global_max_pool(x, g("nan_policy", "propagate"))
        elif fam == "global_avg":
            y = R.global_avg_pool(x)
        elif fam == "global_lp":
            y = R.global_lp_pool(x, kw["norm_type"])
        elif fam == "unpool":
            y = R.max_unpool(x, L(kw["indices"]), kw["kernel_size"], g("stride"),
                             g("padding", 0), g("output_size"), rank=rank)
        elif fam == "fractional":
            if g("seed") is not None or g("samples") is None:
                raise LookupError("seeded: no reference samples")
            smp = np.asarray(kw["samples"])
            if not batched and smp.ndim == 2:
                smp = smp[np.newaxis]
            y, idx = R.fractional_max_pool(x, kw["kernel_size"], g("output_size"),
                                           g("output_ratio"), samples=smp,
                                           nan_policy=g("nan_policy", "propagate"), rank=rank)
        else:
            raise LookupError(fam)
        y = U(back(y) if back else y)
        if idx is not None and g("return_indices", False):
            return y, U(idx).astype(np.dtype(g("index_dtype", np.int64)))
        return y

    def _expected_special(self, name, kw):
        """The reference's answer for a special pooling's call, in the caller's layout and
        the inputs' floating dtype (the reference computes in float64)."""
        prim = np.asarray(kw["x"] if "x" in kw else kw["grad_output"])
        if prim.dtype.kind in "iu" and name in ("median_pool2d", "spatial_pyramid_pool",
                                                 "yolo_spp"):
            # integers: the float64 reference (exact for these sizes), cast back where the
            # operator selects; averages (median "mean", SPP "avg") stay float64
            want = self._special_reference(name, {**kw, "x": prim.astype(np.float64)})
            back = _caster(prim.dtype.newbyteorder("=")) if _special_exact(name, kw) \
                else np.asarray
            return tuple(back(w) if np.asarray(w).dtype.kind == "f" else w for w in want) \
                if isinstance(want, tuple) else back(want)
        want = self._special_reference(name, kw)

        def cast(w):
            w = np.asarray(w)
            return w.astype(prim.dtype.newbyteorder("=")) if w.dtype.kind == "f" else w

        return tuple(cast(w) for w in want) if isinstance(want, tuple) else cast(want)

    def _special_reference(self, name, kw):
        R = self.R
        cl = kw.get("channels_last", False)
        bwd = name.endswith("_backward")
        prim = np.asarray(kw["x"] if "x" in kw else kw["grad_output"])
        if prim.dtype.kind not in "f":
            raise LookupError("the reference takes floating inputs here")
        batched = prim.ndim == 4

        def L(a):
            return _to_logical(a, batched, cl)

        def U(a):
            return _to_user(np.asarray(a), batched, cl)

        def F(a):  # a feature output (N, F): (F,) unbatched
            a = np.asarray(a)
            return a if batched else a[0]

        def G(a):  # a feature gradient, always (N, F) for the reference
            a = np.asarray(a)
            return a if batched else a[np.newaxis]

        def plain(a):
            return np.asarray(a)

        g = lambda k, d=None: kw.get(k, d)  # noqa: E731
        geo = {k: kw[k] for k in ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
               if k in kw}
        half = prim.dtype == np.float16
        if half:
            # float16: the float32 reference, rounded once to float16
            kw = {k: (np.asarray(v).astype(np.float32) if isinstance(v, np.ndarray) and
                      v.dtype == np.float16 else v) for k, v in kw.items()}
            want = self._special_reference(name, kw)
            half = _caster(np.float16)
            return tuple(half(w) if np.asarray(w).dtype.kind == "f" else w for w in want) \
                if isinstance(want, tuple) else half(want)
        if "indices" in kw:  # the indices form of a selecting backward
            shape = _shape_to_logical(kw["input_shape"], batched, cl)
            return U(R.max_pool_backward(L(kw["grad_output"]), L(kw["indices"]), shape, rank=2))
        if name.startswith("stochastic"):
            if bwd:
                return U(R.stochastic_pool_backward(L(kw["grad_output"]), L(kw["x"]), **geo))
            training = g("training", True)
            if training and g("seed") is None:
                raise LookupError("unseeded")
            got = R.stochastic_pool(L(kw["x"]), **geo, training=training,
                                    seed=g("seed", 0) if training else 0)
            y, idx = got if isinstance(got, tuple) else (got, None)
            if g("return_indices", False):
                return U(y), U(idx).astype(np.dtype(g("index_dtype", np.int64)))
            return U(y)
        if name.startswith("median"):
            if bwd:
                return U(R.median_pool_backward(L(kw["grad_output"]), L(kw["x"]), **geo,
                                                even=g("even", "lower")))
            y, idx = R.median_pool(L(kw["x"]), **geo, even=g("even", "lower"))
            if g("return_indices", False):
                return U(y), U(idx).astype(np.dtype(g("index_dtype", np.int64)))
            return U(y)
        if name.startswith("mixed"):
            opts = {"alpha": g("alpha", 0.5), "mode": g("mode", "blend"),
                    "order": g("order", ("avg", "max")),
                    "count_include_pad": g("count_include_pad", True)}
            if bwd:
                got = R.mixed_pool_backward(L(kw["grad_output"]), L(kw["x"]), **geo, **opts)
                if isinstance(got, tuple):
                    dx, da = got
                    return U(dx), np.asarray(da).astype(prim.dtype)
                return U(got)
            return U(R.mixed_pool(L(kw["x"]), **geo, **opts))
        if name.startswith("spatial_pyramid"):
            opts = {"levels": g("levels", (1, 2, 4)), "mode": g("mode", "max"),
                    "variant": g("variant", "adaptive"), "features": "hwc" if cl else "chw"}
            if bwd:
                return U(R.spatial_pyramid_pool_backward(G(kw["grad_output"]), L(kw["x"]),
                                                         **opts))
            return F(R.spatial_pyramid_pool(L(kw["x"]), **opts))
        if name.startswith("yolo"):
            opts = {"kernel_sizes": g("kernel_sizes", (5, 9, 13)),
                    "order": g("order", "ultralytics")}
            if bwd:
                return U(R.yolo_spp_backward(L(kw["grad_output"]), L(kw["x"]), **opts))
            return U(R.yolo_spp(L(kw["x"]), **opts))
        if name.startswith("bilinear"):
            opts = {k: kw[k] for k in ("average", "signed_sqrt", "l2_normalize", "eps")
                    if k in kw}
            y = L(kw["y"]) if kw.get("y") is not None else None
            if bwd:
                got = R.bilinear_pool_backward(G(kw["grad_output"]), L(kw["x"]), y, **opts)
                return (U(got[0]), U(got[1])) if isinstance(got, tuple) else U(got)
            return F(R.bilinear_pool(L(kw["x"]), y, **opts))
        if name.startswith("netvlad"):
            opts = {k: kw[k] for k in ("normalize_input", "eps") if k in kw}
            params = [plain(kw[k]) for k in ("weight", "bias", "centroids")]
            if any(p.dtype != prim.dtype for p in params):
                raise LookupError("mixed dtypes")
            if _vlad_cancels(L(kw["x"]), *params, g("normalize_input", True)):
                raise LookupError("a cluster's V[k] is below A X^T - (A 1) C's rounding")
            if bwd and g("normalize_input", True) is not False and \
                    (np.linalg.norm(L(kw["x"]).reshape(prim.shape[0] if batched else 1,
                                                       L(kw["x"]).shape[1], -1),
                                    axis=1) < 1e-3).any():
                # x_p / max(||x_p||, eps) has slope 1/eps at x_p = 0: dx there is
                # rounding noise times 1e12 in both implementations
                raise LookupError("a zero feature vector under normalize_input")
            if bwd and prim.dtype != np.float64:
                # float32 gradients through two normalisations and a softmax lose digits
                # relative to the intermediates, not to dx: a tolerance scaled by dx's
                # magnitude does not fit them (test_bilinear.py pins their accuracy)
                raise LookupError("float32 NetVLAD gradients: compared by identity")
            if bwd:
                dx, dw, db, dc = R.netvlad_backward(G(kw["grad_output"]), L(kw["x"]), *params,
                                                    **opts)
                return U(dx), np.asarray(dw), np.asarray(db), np.asarray(dc)
            return F(R.netvlad(L(kw["x"]), *params, **opts))
        raise LookupError(name)

    def _identity(self, fn, name, kw, result) -> bool:
        """No reference: the call again with another thread count must agree bit for bit."""
        if "num_threads" not in self.params[name] or _unseeded(name, kw):
            return False
        arrays = result if isinstance(result, tuple) else (result,)
        if sum(a.size for a in arrays) > 10**6:
            return False
        alt = 1 if kw.get("num_threads") not in (None, 1) else 2
        again = fn(**{**kw, "num_threads": alt})
        again = again if isinstance(again, tuple) else (again,)
        for a, b in zip(arrays, again):
            if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
                raise AssertionError(f"{name} differs between num_threads "
                                     f"{kw.get('num_threads')} and {alt}\n"
                                     f"call: {_describe(name, kw)}")
        return True

    # ---- out= --------------------------------------------------------------

    def _out(self, draw, fn, name, kw, result):
        """The call again with an out= (and indices_out=) of some kind: a good one is
        written and returned; a bad one raises and stays untouched."""
        st = _st()
        first = result[0] if isinstance(result, tuple) else result
        kind = draw(st.sampled_from(["good", "good", "strided", "wrong dtype", "wrong shape",
                                     "read-only", "alias", "zero stride", "byte-swapped",
                                     "list"]))
        out = _make_out(kind, first, kw)
        if out is None:
            return
        extra = {}
        if isinstance(result, tuple) and kind in ("good", "strided") and \
                "indices_out" in self.params[name] and draw(st.booleans()):
            extra["indices_out"] = np.full(result[1].shape, -7, result[1].dtype)
        self.stats["out_checks"] += 1
        before = np.array(out, copy=True) if isinstance(out, np.ndarray) else None
        call = {**kw, "out": out, **extra}
        self._trace(name, call)
        try:
            again = fn(**call)
        except CLEAN as e:
            if kind in ("good", "strided"):
                raise AssertionError(f"{name} rejected a valid out= ({kind}): {e}\n"
                                     f"call: {_describe(name, call)}") from e
            self._clean(name, e, call)
            if before is not None and not _same(out, before):
                raise AssertionError(f"{name} wrote into out= ({kind}) before raising {e}\n"
                                     f"call: {_describe(name, call)}")
            return
        if kind not in ("good", "strided"):
            raise AssertionError(f"{name} accepted a bad out= ({kind})\n"
                                 f"call: {_describe(name, call)}")
        got = again[0] if isinstance(again, tuple) else again
        assert got is out, (name, kind, "the result is not out")
        assert _same(out, first), (name, kind, "out= holds a different result")
        if extra:
            assert again[1] is extra["indices_out"] and _same(again[1], result[1]), name

    def _junk_out(self, draw, fn, name, kw):
        out = junk_array(draw)
        before = np.array(out, copy=True) if isinstance(out, np.ndarray) and out.size < 10**6 \
            else None
        call = {**kw, "out": out}
        self._trace(name, call)
        self.stats["out_checks"] += 1
        try:
            got = fn(**call)
        except CLEAN as e:
            self._clean(name, e, call)
            if before is not None and not _same(out, before):
                raise AssertionError(f"{name} wrote into out= before raising {e}\n"
                                     f"call: {_describe(name, call)}") from e
            return
        got = got[0] if isinstance(got, tuple) else got
        assert got is out, (name, "accepted out= but returned another array")


# --------------------------------------------------------------------------
# Helpers of the checks


def _caster(dtype):
    """Reference output (float64) back to a max-type input dtype: -inf is the minimum."""
    dt = np.dtype(dtype)

    def back(y):
        y = np.asarray(y)
        if dt.kind in "iu":
            y = np.where(np.isneginf(y), np.iinfo(dt).min, y)
        return y.astype(dt)

    return back


def _difference(got: np.ndarray, want: np.ndarray, exact: bool) -> str:
    """'' if got equals want (exactly, or within a dtype-aware tolerance)."""
    if not isinstance(got, np.ndarray):
        return f"not an array: {type(got).__name__}"
    if got.shape != want.shape:
        return f"shape {got.shape} != {want.shape}"
    if got.dtype != want.dtype:
        return f"dtype {got.dtype} != {want.dtype}"
    if got.dtype.kind not in "fc":
        return "" if np.array_equal(got, want) else "values differ"
    if exact:
        return "" if np.array_equal(got, want, equal_nan=True) else "values differ"
    g = got.astype(np.float64)
    w = want.astype(np.float64)
    if not np.array_equal(np.isnan(g), np.isnan(w)):
        return "NaN positions differ"
    if not np.array_equal(np.isinf(g), np.isinf(w)) or \
            not np.array_equal(g[np.isinf(g)], w[np.isinf(w)]):
        return "inf positions differ"
    fin = np.isfinite(w)
    if not fin.any():
        return ""
    eps = float(np.finfo(got.dtype).eps)
    scale = max(1.0, float(np.abs(w[fin]).max()))
    err = np.abs(g[fin] - w[fin])
    bound = 64 * eps * np.abs(w[fin]) + 256 * eps * scale
    if np.all(err <= bound):
        return ""
    worst = int(np.argmax(err - bound))
    return f"max error {float(err[worst])} > {float(bound[worst])} (scale {scale})"


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and (
        np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
        or np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def _snapshot(kw) -> dict:
    snap = {}
    for k, v in kw.items():
        if isinstance(v, np.ndarray) and v.size <= 10**6 and v.dtype.kind != "O":
            snap[k] = v.copy()
    return snap


def _unchanged(snapshot, kw, name):
    for k, before in snapshot.items():
        if not _same(kw[k], before):
            raise AssertionError(f"{name} modified its input {k}\n"
                                 f"call: {_describe(name, kw)}")


def _make_out(kind, first: np.ndarray, kw):
    shape, dt = first.shape, first.dtype
    if kind == "good":
        return np.full(shape, 7, dt)
    if kind == "strided":
        if not shape:
            return None
        big = np.full(shape[:-1] + (2 * shape[-1],), 7, dt)
        return big[..., ::2]
    if kind == "wrong dtype":
        return np.full(shape, 7, np.float64 if dt != np.float64 else np.float32)
    if kind == "wrong shape":
        return np.full(shape[:-1] + (shape[-1] + 1,) if shape else (2,), 7, dt)
    if kind == "read-only":
        o = np.full(shape, 7, dt)
        o.flags.writeable = False
        return o
    if kind == "byte-swapped":
        return np.full(shape, 7, dt.newbyteorder()) if dt.itemsize > 1 else None
    if kind == "list":
        return np.full(shape, 7, dt).tolist()
    if kind == "zero stride":
        axes = [i for i, n in enumerate(shape) if n > 1]
        if not axes:
            return None
        strides = list(np.empty(shape, dt).strides)
        strides[axes[-1]] = 0
        return np.lib.stride_tricks.as_strided(np.full(math.prod(shape), 7, dt), shape,
                                               strides)
    if kind == "alias":
        for v in kw.values():
            if isinstance(v, np.ndarray) and v.dtype == dt and v.flags.c_contiguous and \
                    v.flags.writeable and v.size >= first.size and first.size > 0:
                return v.reshape(-1)[:first.size].reshape(shape)
        return None
    raise AssertionError(kind)


def _show(a, limit=400) -> str:
    a = np.asarray(a)
    text = np.array2string(a.ravel()[:64], threshold=64)
    return f"{a.dtype}{a.shape} {text}"[:limit]


def _describe_value(v) -> str:
    if isinstance(v, np.ndarray):
        flags = "".join(f for f, on in (("C", v.flags.c_contiguous),
                                        ("W", v.flags.writeable), ("A", v.flags.aligned)) if on)
        text = f"array(shape={v.shape}, dtype={v.dtype.str}, strides={v.strides}, flags={flags}"
        if v.size <= 64 and v.dtype.kind != "V":
            text += f", values={v.ravel().tolist()!r}"
        return text + ")"
    if isinstance(v, io.StringIO):
        return "StringIO()"
    text = repr(v)
    return text if len(text) < 300 else text[:300] + "..."


def _describe(name, kw) -> str:
    if "__args__" in kw:
        return f"fastpool.{name}(" + ", ".join(_describe_value(v) for v in kw["__args__"]) + ")"
    return f"fastpool.{name}(" + ", ".join(f"{k}={_describe_value(v)}"
                                          for k, v in kw.items()) + ")"


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
