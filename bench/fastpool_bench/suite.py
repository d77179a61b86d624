"""fastpool's benchmark suite: fastpool against every installed peer, on synthetic workloads.

One table of workloads (:data:`WORKLOADS`) drives everything: the main workloads w1..w12
(max, average, global and adaptive pooling, forward and backward, 1-D to 3-D, float32
and float64) and the "seed" case (a small forward + backward loop), the NHWC variants
where the memory layout changes the kernel, and one extra line for each other operator
family.  Each workload runs through fastpool, the NumPy reference
(:mod:`fastpool.reference`) and every optional peer that is installed and can express it
(:data:`PEERS`): PyTorch in NCHW and in channels_last memory, ONNX Runtime (one-node
models), JAX (``lax.reduce_window``) and TensorFlow.  Two more groups have tables of
their own: the special poolings (median, mixed, stochastic, spatial pyramid, YOLO SPP,
bilinear, NetVLAD; forward and backward) against the obvious PyTorch and NumPy
compositions and fastpool's own operators composed, with NetVLAD's peak memory per
implementation; and uint8 and float16 inputs.  The thread scenarios
(:mod:`fastpool_bench.thread_scenarios`, rows ``mt_*``) follow the suite.

For each thread count the suite starts one worker process (JAX and TensorFlow fix
their thread pools when they are imported, so a process per thread count is the only
honest way to run them at that count) and, in it,

1. measures the copy bandwidth (``np.copyto`` of ~100 MB, in as many threads);
2. per workload, checks every peer's output against fastpool's (exactly for max
   pooling and indices, ``allclose`` for averages) and reports any mismatch loudly
   (that peer is then not timed);
3. warms every implementation up, picks how many calls make one sample, and times
   them round-robin, ``repeat`` rounds, keeping the median time per call.

The report adds the speed-up over each peer and over the fastest one, effective GB/s
against the copy bandwidth, the 2-thread scaling, and a verdict per performance target
(:func:`_targets`).  Importing this module imports no peer (nor matplotlib).
"""
from __future__ import annotations

import argparse
import datetime
import fnmatch
import gc
import hashlib
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TextIO

import numpy as np

import fastpool
from fastpool import _core, reference
from fastpool_bench import thread_scenarios

__all__ = ["PEERS", "WORKLOADS", "Workload", "add_arguments", "format_markdown", "main", "run",
           "run_command"]

#: A NumPy reference call estimated to take longer than this (s) is not timed, per mode.
REFERENCE_BUDGET_S = {"full": 2.0, "quick": 0.1, "smoke": 2.0}

#: Bytes copied by the copy-bandwidth measurement, per mode.
_COPY_BYTES = {"full": 100_000_000, "quick": 100_000_000, "smoke": 8_000_000}

#: Default number of round-robin rounds, per mode.
_REPEAT = {"full": 7, "quick": 5, "smoke": 3}

#: Each timed sample repeats the call until it lasts at least this long (s).
_MIN_SAMPLE_S = {"full": 0.02, "quick": 0.005, "smoke": 0.002}

_MAX_CALLS_PER_SAMPLE = 10_000

#: The seed case's loop: iterations per run, runs (the median is reported), and the
#: seconds all runs may take: a slower loop runs fewer iterations (and says so).
_SEED_ITERATIONS = {"full": 5000, "quick": 1000, "smoke": 100}
_SEED_RUNS = {"full": 7, "quick": 3, "smoke": 2}
_SEED_BUDGET_S = {"full": 30.0, "quick": 3.0, "smoke": 1.0}

#: Other processes' use of the CPU (in cores) above which the table carries a warning.
_BUSY_WARNING = 0.3

#: The peers, in column order: key -> column label.  The last two appear only in the
#: special-pooling and dtype tables: a second PyTorch composition, and a NumPy one.
PEERS = {"torch": "torch NCHW", "torch_cl": "torch CL", "ort": "ORT", "jax": "JAX", "tf": "TF",
         "torch_alt": "torch alt", "numpy": "NumPy comp.", "fastpool_comp": "fastpool comp."}

#: Columns that are no contender: fastpool's own simpler operators composed (does the
#: fused operator beat them?); never the "fastest peer".
_NOT_CONTENDERS = ("fastpool_comp",)

#: The columns of the tables of the main workloads and the extra operator families.
_FRAMEWORK_PEERS = ("torch", "torch_cl", "ort", "jax", "tf")

#: ``--peers`` names families; a family loads one library and gives one or more columns.
_FAMILIES = ("torch", "ort", "jax", "tf", "numpy")
_FAMILY_OF = {"torch": "torch", "torch_cl": "torch", "ort": "ort", "jax": "jax", "tf": "tf",
              "torch_alt": "torch", "numpy": "numpy", "fastpool_comp": "fastpool"}
_FAMILY_NAMES = {"torch": "PyTorch", "ort": "ONNX Runtime", "jax": "JAX", "tf": "TensorFlow",
                 "numpy": "NumPy compositions"}

#: The table of each group, in order: group -> heading.
_GROUP_TABLES = {
    "extra": "Extra: the other operator families (not in the targets or the geomean)",
    "special": "Special poolings: fastpool against the obvious compositions",
    "dtype": "Other dtypes: uint8 and float16",
}

#: The groups judged by the per-workload targets.
_JUDGED = ("issue", "nhwc")

#: XLA's CPU client reads this when jax is imported: one thread for the t=1 worker.
_XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

_ONNX_OPSET = 18
_ONNX_IR_VERSION = 9  # the newest onnx writes a newer IR than some ONNX Runtimes read

#: The performance targets (see :func:`_targets`).
_T_GEOMEAN_FASTEST = 2.0
_T_GEOMEAN_TORCH = 8.0
_T_COPY_FRACTION = 0.8
_T_W5_K_RATIO = 1.5
_T_W5_FASTEST = 3.0
_T_SEED_TORCH = 10.0
_T_SEED_LOOP_S = 0.5
_T_SEED_ITERATIONS = 5000
_T_SCALING = 1.6

#: Prefix of the worker's event lines on its standard output.
_MARK = "@@fastpool-bench@@ "


class _NotApplicable(Exception):
    """A peer has no equivalent of a workload; the message says why (shown as "—")."""


class SuiteError(RuntimeError):
    """The suite itself could not run (a worker process failed)."""


# --------------------------------------------------------------------------
# Cases: one workload built at one shape and thread count, ready to run


@dataclass
class _Impl:
    """One implementation of a case: ``run()`` makes one call, ``result`` views its output.

    ``result`` turns what ``run`` returned into a tuple of NumPy arrays in fastpool's
    layout, so that implementations can be compared.
    """

    run: Callable[[], Any]
    result: Callable[[Any], tuple[np.ndarray, ...]]


@dataclass
class _Case:
    fastpool: _Impl
    reference: _Impl | None
    exact: bool  # compare exactly (max, indices) or with allclose (averages)
    nbytes: int  # bytes read + bytes written by one call, each array once
    dtype: np.dtype
    peers: dict[str, _Impl] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)  # peer -> why "—"
    #: (rtol, atol as a fraction of the largest |expected|) for allclose, else per dtype.
    tol: tuple[float, float] | None = None
    #: Peers timed without comparing their output (no equivalent computation).
    unchecked: set[str] = field(default_factory=set)
    #: Peer -> what it runs (the special poolings' compositions).
    labels: dict[str, str] = field(default_factory=dict)
    #: NetVLAD: measure each implementation's peak memory (see :func:`_netvlad_memory`).
    memory: dict[str, Any] | None = None


@dataclass
class _Ctx:
    """What a builder needs: the thread count, out= buffers or not, the loaded peers."""

    threads: int
    use_out: bool
    mods: dict[str, Any]  # family -> module (ort: (onnxruntime, onnx))


def _random(rng: np.random.Generator, shape: Sequence[int], dtype: np.dtype) -> np.ndarray:
    """Uniform [0, 1) floats (float16: rounded from float32), or integers over the
    dtype's whole range."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=tuple(shape), dtype=dtype, endpoint=True)
    if dtype == np.float16:
        return rng.random(tuple(shape), dtype=np.float32).astype(np.float16)
    return rng.random(tuple(shape), dtype=dtype)


def _rng(name: str) -> np.random.Generator:
    """The same inputs for a workload whatever else runs, in every worker."""
    return np.random.default_rng(zlib.crc32(name.encode()))


def _as_tuple(value: Any) -> tuple[np.ndarray, ...]:
    items = value if isinstance(value, tuple) else (value,)
    return tuple(np.asarray(v) for v in items)


def _nc(a: np.ndarray, cl: bool) -> np.ndarray:
    """The logical (N, C, *spatial) view of an array in the workload's layout."""
    return np.moveaxis(a, -1, 1) if cl else a


def _user(a: np.ndarray, cl: bool) -> np.ndarray:
    """A logical (N, C, *spatial) array back in the workload's layout."""
    return np.moveaxis(a, 1, -1) if cl else a


def _from_cl(a: np.ndarray, cl: bool) -> np.ndarray:
    """A channels-last (N, *spatial, C) array in the workload's layout."""
    return a if cl else np.moveaxis(a, -1, 1)


def _cl_array(a: np.ndarray, cl: bool) -> np.ndarray:
    """A contiguous channels-last copy of ``a`` (``a`` itself when it already is one)."""
    return np.ascontiguousarray(a if cl else np.moveaxis(a, 1, -1))


def _nc_array(a: np.ndarray, cl: bool) -> np.ndarray:
    """A contiguous (N, C, *spatial) copy of ``a`` (``a`` itself when it already is one)."""
    return np.ascontiguousarray(_nc(a, cl))


def _peer(case: _Case, key: str, ctx: _Ctx, factory: Callable[[], _Impl]) -> None:
    """Add peer ``key`` to ``case`` if its library is loaded; "—" with a reason if it can't."""
    if _FAMILY_OF[key] not in ctx.mods:
        return
    try:
        case.peers[key] = factory()
    except _NotApplicable as exc:
        case.unavailable[key] = str(exc)
    except Exception as exc:  # noqa: BLE001 - a peer's failure is reported, not fatal
        case.unavailable[key] = f"could not be built: {type(exc).__name__}: {exc}"


def _not_applicable(case: _Case, ctx: _Ctx, keys: Sequence[str], reason: str) -> None:
    for key in keys:
        if _FAMILY_OF[key] in ctx.mods:
            case.unavailable[key] = reason


# PyTorch ----------------------------------------------------------------


def _torch_tensor(torch: Any, a: np.ndarray, cl: bool, memory: str) -> Any:
    """A logical (N, C, ...) tensor of ``a`` in NCHW (``memory="nc"``) or channels_last
    memory (``"cl"``); a view when ``a`` already has that memory layout, else a copy."""
    rank = a.ndim - 2
    t = torch.from_numpy(a)
    if cl:
        t = t.permute(0, rank + 1, *range(1, rank + 1))
    if memory == "cl":
        if rank not in (2, 3):
            raise _NotApplicable("PyTorch has no channels-last memory format for 1-D pooling")
        fmt = torch.channels_last if rank == 2 else torch.channels_last_3d
        return t.contiguous(memory_format=fmt)
    return t.contiguous()


def _torch_result(cl: bool) -> Callable[[Any], tuple[np.ndarray, ...]]:
    def result(value: Any) -> tuple[np.ndarray, ...]:
        items = value if isinstance(value, (tuple, list)) else (value,)
        return tuple(_user(t.numpy(), cl) for t in items)

    return result


def _torch_peers(case: _Case, ctx: _Ctx, cl: bool, arrays: Sequence[np.ndarray],
                 call: Callable[..., Any]) -> None:
    """Both PyTorch columns: ``call(torch, *tensors)`` on NCHW, then channels_last memory."""
    for key, memory in (("torch", "nc"), ("torch_cl", "cl")):
        def factory(memory: str = memory) -> _Impl:
            torch = ctx.mods["torch"]
            tensors = [_torch_tensor(torch, a, cl, memory) for a in arrays]
            return _Impl(lambda: call(torch, *tensors), _torch_result(cl))

        _peer(case, key, ctx, factory)


# ONNX Runtime -----------------------------------------------------------


def _ort_impl(ctx: _Ctx, op_type: str, attrs: dict[str, Any], inputs: dict[str, np.ndarray],
              out_shape: Sequence[int], out_dtype: np.dtype, cl: bool) -> _Impl:
    """A one-node ONNX model run through an IO binding: inputs read in place, the output
    written into a buffer allocated once (ONNX Runtime's fastest way to be called)."""
    ort, onnx = ctx.mods["ort"]
    helper = onnx.helper

    def info(name: str, dtype: np.dtype, shape: Sequence[int]) -> Any:
        return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(dtype),
                                             list(shape))

    node = helper.make_node(op_type, list(inputs), ["y"], **attrs)
    graph = helper.make_graph([node], f"fastpool_bench_{op_type}",
                              [info(n, a.dtype, a.shape) for n, a in inputs.items()],
                              [info("y", np.dtype(out_dtype), out_shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _ONNX_OPSET)],
                              producer_name="fastpool bench")
    model.ir_version = min(model.ir_version, _ONNX_IR_VERSION)
    options = ort.SessionOptions()
    options.intra_op_num_threads = ctx.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    y = np.empty(tuple(out_shape), dtype=out_dtype)
    binding = session.io_binding()
    for name, a in inputs.items():
        binding.bind_input(name, "cpu", 0, a.dtype, a.shape, a.ctypes.data)
    binding.bind_output("y", "cpu", 0, y.dtype, y.shape, y.ctypes.data)
    keep = (inputs, y)  # the bound buffers must outlive the session's calls

    def run() -> np.ndarray:
        session.run_with_iobinding(binding)
        return keep[1]

    return _Impl(run, lambda v: (_user(v, cl),))


_ORT_NO_BACKWARD = "ONNX has no pooling-gradient operator"


# JAX --------------------------------------------------------------------


def _jax_window(ctx: _Ctx, op: str, kernel: Sequence[int], stride: Sequence[int],
                pads: Sequence[int], dtype: np.dtype, norm: float | None = None
                ) -> Callable[[Any], Any]:
    """Window pooling on a channels-last array with ``lax.reduce_window``."""
    jax = ctx.mods["jax"]
    lax, jnp = jax.lax, jax.numpy
    window = (1, *kernel, 1)
    strides = (1, *stride, 1)
    padding = ((0, 0), *((int(p), int(p)) for p in pads), (0, 0))
    if op == "max":
        low = (np.array(-np.inf, dtype) if np.issubdtype(dtype, np.floating)
               else np.array(np.iinfo(dtype).min, dtype))
        return lambda a: lax.reduce_window(a, low, lax.max, window, strides, padding)
    zero = np.array(0, dtype)
    if op == "avg":  # count_include_pad: every window divides by the kernel size
        count = np.array(math.prod(kernel), dtype)
        return lambda a: lax.reduce_window(a, zero, lax.add, window, strides, padding) / count
    if op == "lp" and norm == 2:
        return lambda a: jnp.sqrt(lax.reduce_window(a * a, zero, lax.add, window, strides,
                                                    padding))
    if op == "lp":
        p = np.array(norm, dtype)
        inv = np.array(1.0 / norm, dtype)
        return lambda a: lax.reduce_window(jnp.abs(a) ** p, zero, lax.add, window, strides,
                                           padding) ** inv
    raise ValueError(op)


def _jax_impl(ctx: _Ctx, fn: Callable[..., Any], arrays: Sequence[np.ndarray],
              cl: bool) -> _Impl:
    """``jax.jit(fn)`` on channels-last inputs already on the device; waits for the result."""
    jax = ctx.mods["jax"]
    jitted = jax.jit(fn)
    args = [jax.device_put(a) for a in arrays]

    def run() -> Any:
        out = jitted(*args)
        jax.block_until_ready(out)
        return out

    def result(value: Any) -> tuple[np.ndarray, ...]:
        items = value if isinstance(value, (tuple, list)) else (value,)
        return tuple(_from_cl(np.asarray(v), cl) for v in items)

    return _Impl(run, result)


def _jax_backward(pool: Callable[[Any], Any], ctx: _Ctx) -> Callable[[Any, Any], Any]:
    """The gradient of ``sum(pool(x) * g)`` with respect to ``x``."""
    jax = ctx.mods["jax"]
    return lambda a, g: jax.vjp(pool, a)[1](g)[0]


# TensorFlow -------------------------------------------------------------


def _tf_window(ctx: _Ctx, op: str, kernel: Sequence[int], stride: Sequence[int],
               pads: Sequence[int], x_cl: np.ndarray, cl: bool) -> _Impl:
    """``tf.nn.max_pool`` / ``avg_pool`` on channels-last data (TensorFlow's CPU layout)."""
    tf = ctx.mods["tf"]
    rank = len(kernel)
    fmt = {1: "NWC", 2: "NHWC", 3: "NDHWC"}[rank]
    padding: Any
    if not any(pads):
        padding = "VALID"
    elif (op == "max" and all(s == 1 for s in stride)
          and all(k % 2 == 1 and p == k // 2 for k, p in zip(kernel, pads))):
        padding = "SAME"  # the same windows as p = k // 2 at stride 1, for an odd kernel
    elif op == "max" and rank == 2:
        padding = [[0, 0], *([int(p), int(p)] for p in pads), [0, 0]]
    else:
        raise _NotApplicable("TensorFlow has no pooling with this explicit padding")
    if op == "max":
        fn = tf.nn.max_pool2d if rank == 2 else tf.nn.max_pool
    elif op == "avg":
        fn = tf.nn.avg_pool
    else:
        raise _NotApplicable("TensorFlow has no power-average pooling")
    xt = tf.constant(x_cl)
    ksize, strides = list(kernel), list(stride)
    return _Impl(lambda: fn(xt, ksize=ksize, strides=strides, padding=padding, data_format=fmt),
                 lambda v: (_from_cl(v.numpy(), cl),))


_TF_FORWARD_ONLY = "not measured: TensorFlow runs the forward workloads only"


# Peers of window pooling (max, avg, lp) ----------------------------------


def _window_peers(case: _Case, ctx: _Ctx, op: str, kernel: Sequence[int],
                  stride: Sequence[int], pads: Sequence[int], x: np.ndarray,
                  y_nc_shape: Sequence[int], cl: bool, norm: float | None = None) -> None:
    """ONNX Runtime, JAX and TensorFlow for a window pooling with symmetric padding."""
    dtype = x.dtype

    def ort_factory() -> _Impl:
        node = {"max": "MaxPool", "avg": "AveragePool", "lp": "LpPool"}[op]
        attrs: dict[str, Any] = {"kernel_shape": list(kernel), "strides": list(stride),
                                 "pads": [int(p) for p in pads] * 2}
        if op == "avg":
            attrs["count_include_pad"] = 1
        if op == "lp":
            if norm != int(norm):
                raise _NotApplicable("ONNX LpPool takes an integer p")
            attrs["p"] = int(norm)
        return _ort_impl(ctx, node, attrs, {"x": _nc_array(x, cl)}, y_nc_shape, dtype, cl)

    _peer(case, "ort", ctx, ort_factory)
    _peer(case, "jax", ctx, lambda: _jax_impl(
        ctx, _jax_window(ctx, op, kernel, stride, pads, dtype, norm), [_cl_array(x, cl)], cl))
    _peer(case, "tf", ctx, lambda: _tf_window(ctx, op, kernel, stride, pads,
                                              _cl_array(x, cl), cl))


# --------------------------------------------------------------------------
# Builders, one per kind of workload: (workload, shape, rng, ctx) -> _Case


def _build_pool(w: Workload, shape: Sequence[int], rng: np.random.Generator,
                ctx: _Ctx) -> _Case:
    """Forward max or average pooling, without indices."""
    op, k, s, pad = (w.params[n] for n in ("op", "kernel", "stride", "padding"))
    cl, dtype, rank, t = w.channels_last, np.dtype(w.dtype), len(k), ctx.threads
    x = _random(rng, shape, dtype)
    fp = getattr(fastpool, f"{op}_pool{rank}d")
    y = fp(x, k, s, pad, channels_last=cl)
    out = y if ctx.use_out else None
    fast = _Impl(lambda: fp(x, k, s, pad, channels_last=cl, out=out, num_threads=t),
                 _as_tuple)
    xn = _nc(x, cl)
    if op == "max":
        ref = _Impl(lambda: reference.max_pool(xn, k, s, pad)[0], lambda v: (_user(v, cl),))
    else:
        ref = _Impl(lambda: reference.avg_pool(xn, k, s, pad), lambda v: (_user(v, cl),))
    case = _Case(fast, ref, exact=(op == "max"), nbytes=x.nbytes + y.nbytes, dtype=dtype)

    def call(torch: Any, xt: Any) -> Any:
        return getattr(torch.nn.functional, f"{op}_pool{rank}d")(xt, k, s, pad)

    _torch_peers(case, ctx, cl, [x], call)
    _window_peers(case, ctx, op, k, s, (pad,) * rank, x, _nc(y, cl).shape, cl)
    return case


def _build_global(w: Workload, shape: Sequence[int], rng: np.random.Generator,
                  ctx: _Ctx) -> _Case:
    """Global average pooling: one mean per (n, c) plane."""
    cl, dtype, t = w.channels_last, np.dtype(w.dtype), ctx.threads
    rank = len(shape) - 2
    x = _random(rng, shape, dtype)
    y = fastpool.global_avg_pool(x, channels_last=cl)
    out = y if ctx.use_out else None
    fast = _Impl(lambda: fastpool.global_avg_pool(x, channels_last=cl, out=out, num_threads=t),
                 _as_tuple)
    xn = _nc(x, cl)
    ref = _Impl(lambda: reference.global_avg_pool(xn), lambda v: (_user(v, cl),))
    case = _Case(fast, ref, exact=False, nbytes=x.nbytes + y.nbytes, dtype=dtype)
    _torch_peers(case, ctx, cl, [x], lambda torch, xt: getattr(
        torch.nn.functional, f"adaptive_avg_pool{rank}d")(xt, 1))
    y_nc_shape = _nc(y, cl).shape
    _peer(case, "ort", ctx, lambda: _ort_impl(ctx, "GlobalAveragePool", {},
                                              {"x": _nc_array(x, cl)}, y_nc_shape, dtype, cl))
    axes = tuple(range(1, rank + 1))

    def jax_factory() -> _Impl:
        jnp = ctx.mods["jax"].numpy
        return _jax_impl(ctx, lambda a: jnp.mean(a, axis=axes, keepdims=True),
                         [_cl_array(x, cl)], cl)

    def tf_factory() -> _Impl:
        tf = ctx.mods["tf"]
        xt = tf.constant(_cl_array(x, cl))
        return _Impl(lambda: tf.reduce_mean(xt, axis=list(axes), keepdims=True),
                     lambda v: (_from_cl(v.numpy(), cl),))

    _peer(case, "jax", ctx, jax_factory)
    _peer(case, "tf", ctx, tf_factory)
    return case


def _adaptive_as_window(spatial: Sequence[int], out: Sequence[int]
                        ) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(kernel, stride) of a plain pooling with exactly the adaptive windows, or None."""
    kernel, stride = [], []
    for size, o in zip(spatial, out):
        starts, ends = fastpool.adaptive_windows(size, o)
        lengths = ends - starts
        step = int(starts[1] - starts[0]) if o > 1 else 1
        if (starts[0] != 0 or np.any(lengths != lengths[0])
                or np.any(starts != step * np.arange(o))):
            return None
        kernel.append(int(lengths[0]))
        stride.append(step)
    return tuple(kernel), tuple(stride)


def _build_adaptive(w: Workload, shape: Sequence[int], rng: np.random.Generator,
                    ctx: _Ctx) -> _Case:
    """Adaptive average or max pooling (PyTorch's windows)."""
    op, osz = w.params["op"], w.params["output"]
    cl, dtype, t = w.channels_last, np.dtype(w.dtype), ctx.threads
    rank = len(osz)
    x = _random(rng, shape, dtype)
    fp = getattr(fastpool, f"adaptive_{op}_pool{rank}d")
    y = fp(x, osz, channels_last=cl)
    out = y if ctx.use_out else None
    fast = _Impl(lambda: fp(x, osz, channels_last=cl, out=out, num_threads=t), _as_tuple)
    xn = _nc(x, cl)
    if op == "max":
        ref = _Impl(lambda: reference.adaptive_max_pool(xn, osz)[0], lambda v: (_user(v, cl),))
    else:
        ref = _Impl(lambda: reference.adaptive_avg_pool(xn, osz), lambda v: (_user(v, cl),))
    case = _Case(fast, ref, exact=(op == "max"), nbytes=x.nbytes + y.nbytes, dtype=dtype)
    _torch_peers(case, ctx, cl, [x], lambda torch, xt: getattr(
        torch.nn.functional, f"adaptive_{op}_pool{rank}d")(xt, osz))
    window = _adaptive_as_window(xn.shape[2:], osz)
    if window is None:
        _not_applicable(case, ctx, ("ort", "jax", "tf"),
                        "these adaptive windows are no fixed kernel and stride")
    else:
        k, s = window
        _window_peers(case, ctx, op, k, s, (0,) * rank, x, _nc(y, cl).shape, cl)
    return case


def _build_backward(w: Workload, shape: Sequence[int], rng: np.random.Generator,
                    ctx: _Ctx) -> _Case:
    """Backward of max pooling (from the forward's indices) or of average pooling."""
    op, k, s, pad = (w.params[n] for n in ("op", "kernel", "stride", "padding"))
    cl, dtype, rank, t = w.channels_last, np.dtype(w.dtype), len(k), ctx.threads
    name = f"{op}_pool{rank}d"
    fp_forward = getattr(fastpool, name)
    fp_backward = getattr(fastpool, f"{name}_backward")
    x = _random(rng, shape, dtype)
    out = np.empty_like(x) if ctx.use_out else None
    pads, xn_shape = [pad] * rank, _nc(x, cl).shape
    if op == "max":
        y, idx = fp_forward(x, k, s, pad, return_indices=True, channels_last=cl)
        g = _random(rng, y.shape, dtype)
        gn, idxn = _nc(g, cl), _nc(idx, cl)
        fast = _Impl(lambda: fp_backward(g, idx, x.shape, channels_last=cl, out=out,
                                         num_threads=t), _as_tuple)
        ref = _Impl(lambda: reference.max_pool_backward(gn, idxn, xn_shape),
                    lambda v: (_user(v, cl),))
        nbytes = g.nbytes + idx.nbytes + x.nbytes

        def call(torch: Any, gt: Any, xt: Any, it: Any) -> Any:
            aten = getattr(torch.ops.aten, f"{name}_with_indices_backward")
            return aten(gt, xt, k, s, pads, [1] * rank, False, it)

        arrays = [g, x, idx]
    else:
        y = fp_forward(x, k, s, pad, channels_last=cl)
        g = _random(rng, y.shape, dtype)
        gn = _nc(g, cl)
        fast = _Impl(lambda: fp_backward(g, x.shape, k, s, pad, channels_last=cl, out=out,
                                         num_threads=t), _as_tuple)
        ref = _Impl(lambda: reference.avg_pool_backward(gn, xn_shape, k, s, pad),
                    lambda v: (_user(v, cl),))
        nbytes = g.nbytes + x.nbytes

        def call(torch: Any, gt: Any, xt: Any) -> Any:  # type: ignore[misc]
            aten = getattr(torch.ops.aten, f"{name}_backward")
            return aten(gt, xt, k, s, pads, False, True, None)

        arrays = [g, x]
    case = _Case(fast, ref, exact=(op == "max"), nbytes=nbytes, dtype=dtype)
    _torch_peers(case, ctx, cl, arrays, call)
    _not_applicable(case, ctx, ("ort",), _ORT_NO_BACKWARD)
    _not_applicable(case, ctx, ("tf",), _TF_FORWARD_ONLY)

    def jax_factory() -> _Impl:
        pool = _jax_window(ctx, op, k, s, pads, dtype)
        return _jax_impl(ctx, _jax_backward(pool, ctx), [_cl_array(x, cl), _cl_array(g, cl)],
                         cl)

    _peer(case, "jax", ctx, jax_factory)
    return case


def _build_seed(w: Workload, shape: Sequence[int], rng: np.random.Generator,
                ctx: _Ctx) -> _Case:
    """Max pooling forward with indices, then its backward: one training step's pooling."""
    k, s = w.params["kernel"], w.params["stride"]
    cl, dtype, rank, t = w.channels_last, np.dtype(w.dtype), len(k), ctx.threads
    name = f"max_pool{rank}d"
    fp_forward = getattr(fastpool, name)
    fp_backward = getattr(fastpool, f"{name}_backward")
    x = _random(rng, shape, dtype)
    y, idx = fp_forward(x, k, s, 0, return_indices=True, channels_last=cl)
    g = _random(rng, y.shape, dtype)
    y_out, idx_out, dx_out = ((y, idx, np.empty_like(x)) if ctx.use_out
                              else (None, None, None))

    def fast_run() -> tuple[np.ndarray, np.ndarray]:
        yy, ii = fp_forward(x, k, s, 0, return_indices=True, channels_last=cl, out=y_out,
                            indices_out=idx_out, num_threads=t)
        return yy, fp_backward(g, ii, x.shape, channels_last=cl, out=dx_out, num_threads=t)

    xn, gn = _nc(x, cl), _nc(g, cl)

    def ref_run() -> tuple[np.ndarray, np.ndarray]:
        yy, ii = reference.max_pool(xn, k, s, 0)
        return yy, reference.max_pool_backward(gn, ii, xn.shape)

    # x read, y and indices written, grad and indices read, dx written.
    nbytes = 2 * x.nbytes + 2 * y.nbytes + 2 * idx.nbytes
    case = _Case(_Impl(fast_run, _as_tuple),
                 _Impl(ref_run, lambda v: tuple(_user(a, cl) for a in v)),
                 exact=True, nbytes=nbytes, dtype=dtype)
    pads, dils = [0] * rank, [1] * rank

    def call(torch: Any, xt: Any, gt: Any) -> Any:
        yy, ii = getattr(torch.nn.functional, name)(xt, k, s, 0, return_indices=True)
        aten = getattr(torch.ops.aten, f"{name}_with_indices_backward")
        return yy, aten(gt, xt, k, s, pads, dils, False, ii)

    _torch_peers(case, ctx, cl, [x, g], call)
    _not_applicable(case, ctx, ("ort",), _ORT_NO_BACKWARD)
    _not_applicable(case, ctx, ("tf",), _TF_FORWARD_ONLY)

    def jax_factory() -> _Impl:
        jax = ctx.mods["jax"]
        pool = _jax_window(ctx, "max", k, s, pads, dtype)

        def step(a: Any, gg: Any) -> Any:
            yy, vjp = jax.vjp(pool, a)
            return yy, vjp(gg)[0]

        return _jax_impl(ctx, step, [_cl_array(x, cl), _cl_array(g, cl)], cl)

    _peer(case, "jax", ctx, jax_factory)
    return case


def _build_lp(w: Workload, shape: Sequence[int], rng: np.random.Generator,
              ctx: _Ctx) -> _Case:
    """Power-average (Lp) pooling."""
    p, k, s = w.params["p"], w.params["kernel"], w.params["stride"]
    cl, dtype, rank, t = w.channels_last, np.dtype(w.dtype), len(k), ctx.threads
    fp = getattr(fastpool, f"lp_pool{rank}d")
    x = _random(rng, shape, dtype)
    y = fp(x, p, k, s, channels_last=cl)
    out = y if ctx.use_out else None
    fast = _Impl(lambda: fp(x, p, k, s, channels_last=cl, out=out, num_threads=t), _as_tuple)
    xn = _nc(x, cl)
    ref = _Impl(lambda: reference.lp_pool(xn, p, k, s), lambda v: (_user(v, cl),))
    case = _Case(fast, ref, exact=False, nbytes=x.nbytes + y.nbytes, dtype=dtype)
    _torch_peers(case, ctx, cl, [x], lambda torch, xt: getattr(
        torch.nn.functional, f"lp_pool{rank}d")(xt, p, k, s))
    _window_peers(case, ctx, "lp", k, s, (0,) * rank, x, _nc(y, cl).shape, cl, norm=p)
    return case


def _build_unpool(w: Workload, shape: Sequence[int], rng: np.random.Generator,
                  ctx: _Ctx) -> _Case:
    """Max unpooling of ``shape`` (the pooled values) with the indices of a real pooling."""
    k = w.params["kernel"]
    cl, dtype, rank, t = w.channels_last, np.dtype(w.dtype), len(k), ctx.threads
    spatial = (1, rank + 1) if cl else (2, rank + 2)
    src_shape = list(shape)
    for axis, kk in zip(range(*spatial), k):
        src_shape[axis] *= kk
    src = _random(rng, src_shape, dtype)
    v, idx = getattr(fastpool, f"max_pool{rank}d")(src, k, k, 0, return_indices=True,
                                                   channels_last=cl)
    fp = getattr(fastpool, f"max_unpool{rank}d")
    y = fp(v, idx, k, channels_last=cl)
    out = y if ctx.use_out else None
    fast = _Impl(lambda: fp(v, idx, k, channels_last=cl, out=out, num_threads=t), _as_tuple)
    vn, idxn = _nc(v, cl), _nc(idx, cl)
    ref = _Impl(lambda: reference.max_unpool(vn, idxn, k), lambda r: (_user(r, cl),))
    case = _Case(fast, ref, exact=True, nbytes=v.nbytes + idx.nbytes + y.nbytes, dtype=dtype)
    _torch_peers(case, ctx, cl, [v, idx], lambda torch, vt, it: getattr(
        torch.nn.functional, f"max_unpool{rank}d")(vt, it, k))

    def ort_factory() -> _Impl:
        onnx_idx = fastpool.convert_indices(np.ascontiguousarray(idxn), _nc(src, cl).shape,
                                            "torch", "onnx")
        attrs = {"kernel_shape": list(k), "strides": list(k)}
        return _ort_impl(ctx, "MaxUnpool", attrs,
                         {"x": _nc_array(v, cl), "i": np.ascontiguousarray(onnx_idx)},
                         _nc(y, cl).shape, dtype, cl)

    _peer(case, "ort", ctx, ort_factory)
    _not_applicable(case, ctx, ("jax",), "JAX has no unpooling operator")
    _not_applicable(case, ctx, ("tf",), "TensorFlow has no unpooling operator")
    return case


def _build_fractional(w: Workload, shape: Sequence[int], rng: np.random.Generator,
                      ctx: _Ctx) -> _Case:
    """Fractional max pooling with fixed samples (PyTorch's ``_random_samples``)."""
    k, ratio = w.params["kernel"], w.params["ratio"]
    cl, dtype, rank, t = w.channels_last, np.dtype(w.dtype), len(k), ctx.threads
    fp = getattr(fastpool, f"fractional_max_pool{rank}d")
    x = _random(rng, shape, dtype)
    xn = _nc(x, cl)
    samples = _random(rng, (*xn.shape[:2], rank), dtype)
    y = fp(x, k, output_ratio=ratio, samples=samples, channels_last=cl)
    out = y if ctx.use_out else None
    fast = _Impl(lambda: fp(x, k, output_ratio=ratio, samples=samples, channels_last=cl,
                            out=out, num_threads=t), _as_tuple)
    ref = _Impl(lambda: reference.fractional_max_pool(xn, k, output_ratio=ratio,
                                                      samples=samples)[0],
                lambda v: (_user(v, cl),))
    case = _Case(fast, ref, exact=True, nbytes=x.nbytes + y.nbytes, dtype=dtype)

    def call(torch: Any, xt: Any) -> Any:
        st = torch.from_numpy(samples)
        return getattr(torch.nn.functional, f"fractional_max_pool{rank}d")(
            xt, k, output_ratio=(ratio,) * rank, _random_samples=st)

    _torch_peers(case, ctx, cl, [x], call)
    _not_applicable(case, ctx, ("ort", "jax", "tf"), "no fractional max pooling operator")
    return case


# --------------------------------------------------------------------------
# Special poolings: fastpool against the obvious compositions
#
# Each builder gives the NCHW composition in PyTorch ("torch"; "torch_alt" where there
# is a second obvious one) and in NumPy ("numpy", where there is an obvious one), and
# says in ``case.labels`` what each of them runs.


def _tnp(value: Any) -> tuple[np.ndarray, ...]:
    """Tensors (or arrays), one or a tuple, as a tuple of NumPy arrays."""
    items = value if isinstance(value, (tuple, list)) else (value,)
    return tuple(np.asarray(v.detach().numpy() if hasattr(v, "detach") else v) for v in items)


def _first(value: Any) -> tuple[np.ndarray, ...]:
    """The first output only (a reference that also returns the indices)."""
    return (np.asarray(value[0] if isinstance(value, tuple) else value),)


def _comp(case: _Case, ctx: _Ctx, key: str, label: str, factory: Callable[[], _Impl],
          *, compare: bool = True) -> None:
    """Add the composition ``label`` as peer ``key`` (if its library is loaded)."""
    if _FAMILY_OF[key] not in ctx.mods:
        return
    case.labels[key] = label
    _peer(case, key, ctx, factory)
    if not compare and key in case.peers:
        case.unchecked.add(key)


def _torch_grad(torch: Any, forward: Callable[..., Any], arrays: Sequence[np.ndarray],
                grad: np.ndarray) -> _Impl:
    """The backward pass of ``forward(*leaves)`` by autograd: the graph is built once,
    each call runs ``torch.autograd.grad`` on it (``retain_graph=True``)."""
    leaves = [torch.from_numpy(a).clone().requires_grad_(True) for a in arrays]
    y = forward(*leaves)
    g = torch.from_numpy(grad)
    return _Impl(lambda: torch.autograd.grad(y, leaves, g, retain_graph=True), _tnp)


def _np_windows(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """(N, C, OH, OW, k·k): the k×k/s windows, by ``sliding_window_view`` (a copy)."""
    from numpy.lib.stride_tricks import sliding_window_view

    v = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]
    return v.reshape(*v.shape[:4], k * k)


_NO_NUMPY = "no NumPy composition simpler than the NumPy reference's"


def _build_sp_median(w: Workload, shape: Sequence[int], rng: np.random.Generator,
                     ctx: _Ctx) -> _Case:
    """Median pooling, forward (values) or backward (from the forward's indices)."""
    k, s, t = w.params["kernel"], w.params["stride"], ctx.threads
    x = _random(rng, shape, np.dtype(w.dtype))
    n, c = x.shape[:2]
    y, idx = fastpool.median_pool2d(x, k, s, return_indices=True)
    oh, ow = y.shape[2:]

    def unfold_median(torch: Any, xt: Any) -> Any:
        cols = torch.nn.functional.unfold(xt, k, stride=s)  # (N, C·k·k, L)
        return cols.view(n, c, k * k, -1).median(dim=2).values.view(n, c, oh, ow)

    def tensor_unfold_median(torch: Any, xt: Any) -> Any:
        return xt.unfold(2, k, s).unfold(3, k, s).reshape(n, c, oh, ow, k * k).median(-1).values

    if not w.params.get("backward"):
        out = y if ctx.use_out else None
        fast = _Impl(lambda: fastpool.median_pool2d(x, k, s, out=out, num_threads=t), _as_tuple)
        ref = _Impl(lambda: reference.median_pool(x, k, s), _first)
        case = _Case(fast, ref, exact=True, nbytes=x.nbytes + y.nbytes, dtype=x.dtype)
        torch = ctx.mods.get("torch")
        xt = torch.from_numpy(x) if torch is not None else None
        _comp(case, ctx, "torch", "`F.unfold` + `median(dim)`",
              lambda: _Impl(lambda: unfold_median(torch, xt), _tnp))
        _comp(case, ctx, "torch_alt", "`Tensor.unfold` ×2 + `median(-1)`",
              lambda: _Impl(lambda: tensor_unfold_median(torch, xt), _tnp))
        _comp(case, ctx, "numpy", "`sliding_window_view` + `np.median`",
              lambda: _Impl(lambda: np.median(_np_windows(x, k, s), axis=-1), _as_tuple))
        return case
    g = _random(rng, y.shape, x.dtype)
    dx_out = np.empty_like(x) if ctx.use_out else None
    fast = _Impl(lambda: fastpool.median_pool2d_backward(g, idx, x.shape, out=dx_out,
                                                         num_threads=t), _as_tuple)
    ref = _Impl(lambda: reference.median_pool_backward(g, x, k, s), _as_tuple)
    case = _Case(fast, ref, exact=False, nbytes=g.nbytes + idx.nbytes + x.nbytes,
                 dtype=x.dtype)
    _comp(case, ctx, "torch", "autograd of `F.unfold` + `median(dim)`",
          lambda: _torch_grad(ctx.mods["torch"], partial(unfold_median, ctx.mods["torch"]),
                              [x], g))
    _comp(case, ctx, "torch_alt", "autograd of `Tensor.unfold` ×2 + `median(-1)`",
          lambda: _torch_grad(ctx.mods["torch"],
                              partial(tensor_unfold_median, ctx.mods["torch"]), [x], g))
    _not_applicable(case, ctx, ("numpy",), "no NumPy composition of the backward")
    return case


def _build_sp_mixed(w: Workload, shape: Sequence[int], rng: np.random.Generator,
                    ctx: _Ctx) -> _Case:
    """Mixed pooling: blend ``α·max + (1-α)·avg`` (SPEC §4.10) or concat ``[avg, max]``."""
    k, s, mode, a = (w.params[n] for n in ("kernel", "stride", "mode", "alpha"))
    t = ctx.threads
    x = _random(rng, shape, np.dtype(w.dtype))
    y = fastpool.mixed_pool2d(x, k, s, alpha=a, mode=mode)
    torch = ctx.mods.get("torch")
    F = torch.nn.functional if torch is not None else None
    if not w.params.get("backward"):
        out = y if ctx.use_out else None
        fast = _Impl(lambda: fastpool.mixed_pool2d(x, k, s, alpha=a, mode=mode, out=out,
                                                   num_threads=t), _as_tuple)
        ref = _Impl(lambda: reference.mixed_pool(x, k, s, alpha=a, mode=mode), _as_tuple)
        case = _Case(fast, ref, exact=False, nbytes=x.nbytes + y.nbytes, dtype=x.dtype)
        xt = torch.from_numpy(x) if torch is not None else None
        if mode == "blend":
            _comp(case, ctx, "torch", "α·`F.max_pool2d` + (1-α)·`F.avg_pool2d`",
                  lambda: _Impl(lambda: a * F.max_pool2d(xt, k, s)
                                + (1 - a) * F.avg_pool2d(xt, k, s), _tnp))

            def np_blend() -> np.ndarray:
                v = _np_windows(x, k, s)
                return a * v.max(-1) + (1 - a) * v.mean(-1, dtype=x.dtype)

            _comp(case, ctx, "numpy", "`sliding_window_view`: α·max + (1-α)·mean",
                  lambda: _Impl(np_blend, _as_tuple))
            _comp(case, ctx, "fastpool_comp", "α·`max_pool2d` + (1-α)·`avg_pool2d`",
                  lambda: _Impl(lambda: a * fastpool.max_pool2d(x, k, s, num_threads=t)
                                + (1 - a) * fastpool.avg_pool2d(x, k, s, num_threads=t),
                                _as_tuple))
        else:
            _comp(case, ctx, "torch", "`torch.cat([F.avg_pool2d, F.max_pool2d], 1)`",
                  lambda: _Impl(lambda: torch.cat([F.avg_pool2d(xt, k, s),
                                                   F.max_pool2d(xt, k, s)], 1), _tnp))

            def np_concat() -> np.ndarray:
                v = _np_windows(x, k, s)
                return np.concatenate([v.mean(-1, dtype=x.dtype), v.max(-1)], axis=1)

            _comp(case, ctx, "numpy", "`sliding_window_view`: concatenate [mean, max]",
                  lambda: _Impl(np_concat, _as_tuple))
            _comp(case, ctx, "fastpool_comp", "`avg_pool2d`, `max_pool2d` + `np.concatenate`",
                  lambda: _Impl(lambda: np.concatenate(
                      [fastpool.avg_pool2d(x, k, s, num_threads=t),
                       fastpool.max_pool2d(x, k, s, num_threads=t)], axis=1), _as_tuple))
        return case
    g = _random(rng, y.shape, x.dtype)
    dx, dalpha = fastpool.mixed_pool2d_backward(g, x, k, s, alpha=a)
    dalpha_shape = np.shape(dalpha)
    fast = _Impl(lambda: fastpool.mixed_pool2d_backward(g, x, k, s, alpha=a, num_threads=t),
                 _as_tuple)
    ref = _Impl(lambda: reference.mixed_pool_backward(g, x, k, s, alpha=a), _as_tuple)
    case = _Case(fast, ref, exact=False, nbytes=g.nbytes + 2 * x.nbytes, dtype=x.dtype,
                 tol=(1e-4, 1e-6))

    def torch_factory() -> _Impl:
        xg = torch.from_numpy(x).clone().requires_grad_(True)
        at = torch.tensor(a, dtype=xg.dtype, requires_grad=True)
        yt = at * F.max_pool2d(xg, k, s) + (1 - at) * F.avg_pool2d(xg, k, s)
        gt = torch.from_numpy(g)

        def result(v: Any) -> tuple[np.ndarray, ...]:
            gx, ga = _tnp(v)
            return gx, ga.reshape(dalpha_shape)

        return _Impl(lambda: torch.autograd.grad(yt, (xg, at), gt, retain_graph=True), result)

    _comp(case, ctx, "torch", "autograd of α·`F.max_pool2d` + (1-α)·`F.avg_pool2d` "
                              "(dx and dα)", torch_factory)
    _not_applicable(case, ctx, ("numpy",), "no NumPy composition of the backward")
    return case


def _build_sp_stochastic(w: Workload, shape: Sequence[int], rng: np.random.Generator,
                         ctx: _Ctx) -> _Case:
    """Stochastic pooling: inference ``Σa²/Σa``, or training (a seeded draw per window)."""
    k, s, training, t = w.params["kernel"], w.params["stride"], w.params["training"], ctx.threads
    seed = 1
    x = _random(rng, shape, np.dtype(w.dtype))  # [0, 1): no all-zero window
    y = fastpool.stochastic_pool2d(x, k, s, training=training, seed=seed)
    out = y if ctx.use_out else None
    fast = _Impl(lambda: fastpool.stochastic_pool2d(x, k, s, training=training, seed=seed,
                                                    out=out, num_threads=t), _as_tuple)
    ref = _Impl(lambda: reference.stochastic_pool(x, k, s, training=training, seed=seed),
                _first)
    case = _Case(fast, ref, exact=training, nbytes=x.nbytes + y.nbytes, dtype=x.dtype)
    torch = ctx.mods.get("torch")
    xt = torch.from_numpy(x) if torch is not None else None

    def torch_inference() -> _Impl:
        F = torch.nn.functional
        return _Impl(lambda: F.avg_pool2d(xt * xt, k, s) / F.avg_pool2d(xt, k, s), _tnp)

    def np_inference() -> np.ndarray:
        v = _np_windows(x, k, s)
        return (v * v).sum(-1) / v.sum(-1)

    if not training:
        _comp(case, ctx, "torch", "`F.avg_pool2d(a²) / F.avg_pool2d(a)` (Σa²/Σa)",
              torch_inference)
        _comp(case, ctx, "numpy", "`sliding_window_view`: Σa² / Σa",
              lambda: _Impl(np_inference, _as_tuple))
        return case
    np_rng = np.random.default_rng(seed)

    def np_training() -> np.ndarray:
        v = _np_windows(x, k, s)
        run = np.cumsum(v, axis=-1)
        u = np_rng.random(run.shape[:-1], dtype=x.dtype)
        pick = np.argmax(run >= (u * run[..., -1])[..., None], axis=-1)
        return np.take_along_axis(v, pick[..., None], axis=-1)[..., 0]

    # Training draws differ from any other generator's: nothing to compare with (the
    # NumPy reference, with fastpool's counter-based draws, checks fastpool exactly).
    _comp(case, ctx, "torch", "reference point, not compared: torch's *inference* "
                              "composition Σa²/Σa (PyTorch has no stochastic pooling)",
          torch_inference, compare=False)
    _comp(case, ctx, "numpy", "not compared (its own uniforms): `sliding_window_view` + "
                              "`cumsum` + a uniform per window + `argmax`",
          lambda: _Impl(np_training, _as_tuple), compare=False)
    return case


def _build_sp_yolo(w: Workload, shape: Sequence[int], rng: np.random.Generator,
                   ctx: _Ctx) -> _Case:
    """YOLO SPP ``[x, p5, p9, p13]``, forward or backward."""
    ks, t = w.params["kernels"], ctx.threads
    x = _random(rng, shape, np.dtype(w.dtype))
    y = fastpool.yolo_spp(x, ks)
    torch = ctx.mods.get("torch")

    def spp(xt: Any) -> Any:
        F = torch.nn.functional
        return torch.cat([xt] + [F.max_pool2d(xt, k, 1, k // 2) for k in ks], 1)

    def sppf(xt: Any) -> Any:  # ultralytics' SPPF: max5 three times (= 5, 9, 13)
        F = torch.nn.functional
        y1 = F.max_pool2d(xt, 5, 1, 2)
        y2 = F.max_pool2d(y1, 5, 1, 2)
        return torch.cat([xt, y1, y2, F.max_pool2d(y2, 5, 1, 2)], 1)

    cascade = tuple(ks) == (5, 9, 13)
    if not w.params.get("backward"):
        out = y if ctx.use_out else None
        fast = _Impl(lambda: fastpool.yolo_spp(x, ks, out=out, num_threads=t), _as_tuple)
        ref = _Impl(lambda: reference.yolo_spp(x, ks), _as_tuple)
        case = _Case(fast, ref, exact=True, nbytes=x.nbytes + y.nbytes, dtype=x.dtype)
        xt = torch.from_numpy(x) if torch is not None else None
        _comp(case, ctx, "torch", "3 × `F.max_pool2d` + `torch.cat` (ultralytics SPP)",
              lambda: _Impl(lambda: spp(xt), _tnp))
        if cascade:
            _comp(case, ctx, "torch_alt", "SPPF cascade: `F.max_pool2d` k5 three times + "
                                          "`torch.cat`", lambda: _Impl(lambda: sppf(xt), _tnp))
        _not_applicable(case, ctx, ("numpy",), _NO_NUMPY)
        _comp(case, ctx, "fastpool_comp", "3 × `max_pool2d` + `np.concatenate`",
              lambda: _Impl(lambda: np.concatenate(
                  [x] + [fastpool.max_pool2d(x, kk, 1, kk // 2, num_threads=t) for kk in ks],
                  axis=1), _as_tuple))
        return case
    g = _random(rng, y.shape, x.dtype)
    dx_out = np.empty_like(x) if ctx.use_out else None
    fast = _Impl(lambda: fastpool.yolo_spp_backward(g, x, ks, out=dx_out, num_threads=t),
                 _as_tuple)
    ref = _Impl(lambda: reference.yolo_spp_backward(g, x, ks), _as_tuple)
    case = _Case(fast, ref, exact=False, nbytes=g.nbytes + 2 * x.nbytes, dtype=x.dtype)
    _comp(case, ctx, "torch", "autograd of 3 × `F.max_pool2d` + `torch.cat`",
          lambda: _torch_grad(torch, spp, [x], g))
    if cascade:
        _comp(case, ctx, "torch_alt", "autograd of the SPPF cascade",
              lambda: _torch_grad(torch, sppf, [x], g))
    _not_applicable(case, ctx, ("numpy",), "no NumPy composition of the backward")
    c = x.shape[1]

    def composed() -> np.ndarray:
        dx = g[:, :c].copy()
        for i, kk in enumerate(ks, 1):
            _, idx = fastpool.max_pool2d(x, kk, 1, kk // 2, return_indices=True, num_threads=t)
            dx += fastpool.max_pool2d_backward(g[:, i * c:(i + 1) * c], idx, x.shape,
                                               num_threads=t)
        return dx

    _comp(case, ctx, "fastpool_comp", "per kernel `max_pool2d` (indices) + "
                                      "`max_pool2d_backward`, summed",
          lambda: _Impl(composed, _as_tuple))
    return case


def _build_sp_spp(w: Workload, shape: Sequence[int], rng: np.random.Generator,
                  ctx: _Ctx) -> _Case:
    """Spatial pyramid pooling (max, adaptive bins), forward or backward."""
    levels, t = w.params["levels"], ctx.threads
    x = _random(rng, shape, np.dtype(w.dtype))
    y = fastpool.spatial_pyramid_pool(x, levels)
    torch = ctx.mods.get("torch")

    def compose(xt: Any) -> Any:
        F = torch.nn.functional
        return torch.cat([F.adaptive_max_pool2d(xt, l).flatten(1) for l in levels], 1)

    if not w.params.get("backward"):
        out = y if ctx.use_out else None
        fast = _Impl(lambda: fastpool.spatial_pyramid_pool(x, levels, out=out, num_threads=t),
                     _as_tuple)
        ref = _Impl(lambda: reference.spatial_pyramid_pool(x, levels), _as_tuple)
        case = _Case(fast, ref, exact=True, nbytes=x.nbytes + y.nbytes, dtype=x.dtype)
        xt = torch.from_numpy(x) if torch is not None else None
        _comp(case, ctx, "torch", "`F.adaptive_max_pool2d` per level + `flatten` + "
                                  "`torch.cat`", lambda: _Impl(lambda: compose(xt), _tnp))
        _not_applicable(case, ctx, ("numpy",), _NO_NUMPY)
        n = x.shape[0]
        _comp(case, ctx, "fastpool_comp", "`adaptive_max_pool2d` per level + `reshape` + "
                                          "`np.concatenate`",
              lambda: _Impl(lambda: np.concatenate(
                  [fastpool.adaptive_max_pool2d(x, lv, num_threads=t).reshape(n, -1)
                   for lv in levels], axis=1), _as_tuple))
        return case
    g = _random(rng, y.shape, x.dtype)
    dx_out = np.empty_like(x) if ctx.use_out else None
    fast = _Impl(lambda: fastpool.spatial_pyramid_pool_backward(g, x, levels, out=dx_out,
                                                                num_threads=t), _as_tuple)
    ref = _Impl(lambda: reference.spatial_pyramid_pool_backward(g, x, levels), _as_tuple)
    case = _Case(fast, ref, exact=False, nbytes=g.nbytes + 2 * x.nbytes, dtype=x.dtype)
    _comp(case, ctx, "torch", "autograd of `F.adaptive_max_pool2d` per level + `torch.cat`",
          lambda: _torch_grad(torch, compose, [x], g))
    _not_applicable(case, ctx, ("numpy",), "no NumPy composition of the backward")
    n, c = x.shape[:2]

    def composed() -> np.ndarray:
        dx, start = None, 0
        for lv in levels:
            _, idx = fastpool.adaptive_max_pool2d(x, lv, return_indices=True, num_threads=t)
            part = g[:, start:start + c * lv * lv].reshape(n, c, lv, lv)
            start += c * lv * lv
            d = fastpool.adaptive_max_pool2d_backward(part, idx, x.shape, num_threads=t)
            dx = d if dx is None else dx + d
        return dx

    _comp(case, ctx, "fastpool_comp", "per level `adaptive_max_pool2d` (indices) + its "
                                      "backward, summed", lambda: _Impl(composed, _as_tuple))
    return case


def _np_bilinear(x: np.ndarray) -> np.ndarray:
    n, c = x.shape[:2]
    xf = x.reshape(n, c, -1)
    b = (np.matmul(xf, xf.transpose(0, 2, 1)) / xf.shape[2]).reshape(n, -1)
    b = np.sign(b) * np.sqrt(np.abs(b))
    return b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)


def _build_sp_bilinear(w: Workload, shape: Sequence[int], rng: np.random.Generator,
                       ctx: _Ctx) -> _Case:
    """Bilinear pooling of x with itself (B-CNN), forward or backward."""
    t = ctx.threads
    x = _random(rng, shape, np.dtype(w.dtype))  # non-negative, like post-ReLU features
    n, c = x.shape[:2]
    y = fastpool.bilinear_pool(x)
    torch = ctx.mods.get("torch")

    def post(b: Any) -> Any:
        b = b.reshape(n, -1) / (x.size // (n * c))
        b = torch.sign(b) * torch.sqrt(torch.abs(b))
        return torch.nn.functional.normalize(b, dim=1)

    def bmm(xt: Any) -> Any:
        xf = xt.reshape(n, c, -1)
        return post(torch.bmm(xf, xf.transpose(1, 2)))

    def einsum(xt: Any) -> Any:
        xf = xt.reshape(n, c, -1)
        return post(torch.einsum("ncp,ndp->ncd", xf, xf))

    if w.params.get("product"):  # X Yᵀ alone: the GEMM against BLAS
        y2 = _random(rng, shape, x.dtype)
        flags = {"average": False, "signed_sqrt": False, "l2_normalize": False}
        yp = fastpool.bilinear_pool(x, y2, **flags)
        out = yp if ctx.use_out else None
        fast = _Impl(lambda: fastpool.bilinear_pool(x, y2, out=out, num_threads=t, **flags),
                     _as_tuple)
        ref = _Impl(lambda: reference.bilinear_pool(x, y2, **flags), _as_tuple)
        case = _Case(fast, ref, exact=False, nbytes=x.nbytes + y2.nbytes + yp.nbytes,
                     dtype=x.dtype, tol=(1e-4, 1e-5))
        xf, yf = x.reshape(n, c, -1), y2.reshape(n, c, -1)
        _comp(case, ctx, "torch", "`torch.bmm(X, Yᵀ)`", lambda: _Impl(
            lambda: torch.bmm(torch.from_numpy(xf), torch.from_numpy(yf).transpose(1, 2)),
            lambda v: (v.numpy().reshape(n, -1),)))
        _comp(case, ctx, "numpy", "`np.matmul(X, Yᵀ)` (BLAS)", lambda: _Impl(
            lambda: np.matmul(xf, yf.transpose(0, 2, 1)), lambda v: (v.reshape(n, -1),)))
        return case
    if not w.params.get("backward"):
        out = y if ctx.use_out else None
        fast = _Impl(lambda: fastpool.bilinear_pool(x, out=out, num_threads=t), _as_tuple)
        ref = _Impl(lambda: reference.bilinear_pool(x), _as_tuple)
        case = _Case(fast, ref, exact=False, nbytes=x.nbytes + y.nbytes, dtype=x.dtype,
                     tol=(1e-4, 1e-5))
        xt = torch.from_numpy(x) if torch is not None else None
        _comp(case, ctx, "torch", "`torch.bmm` + signed sqrt + `F.normalize`",
              lambda: _Impl(lambda: bmm(xt), _tnp))
        _comp(case, ctx, "torch_alt", "`torch.einsum` + signed sqrt + `F.normalize`",
              lambda: _Impl(lambda: einsum(xt), _tnp))
        _comp(case, ctx, "numpy", "`np.matmul` (BLAS) + signed sqrt + L2",
              lambda: _Impl(lambda: _np_bilinear(x), _as_tuple))
        return case
    g = _random(rng, y.shape, x.dtype) - np.asarray(0.5, x.dtype)
    dx_out = np.empty_like(x) if ctx.use_out else None
    fast = _Impl(lambda: fastpool.bilinear_pool_backward(g, x, out=dx_out, num_threads=t),
                 _as_tuple)
    ref = _Impl(lambda: reference.bilinear_pool_backward(g, x), _as_tuple)
    case = _Case(fast, ref, exact=False, nbytes=g.nbytes + 2 * x.nbytes, dtype=x.dtype,
                 tol=(1e-3, 1e-4))
    _comp(case, ctx, "torch", "autograd of `torch.bmm` + signed sqrt + `F.normalize`",
          lambda: _torch_grad(torch, bmm, [x], g))
    _comp(case, ctx, "torch_alt", "autograd of `torch.einsum` + signed sqrt + `F.normalize`",
          lambda: _torch_grad(torch, einsum, [x], g))
    _not_applicable(case, ctx, ("numpy",), "no NumPy composition of the backward")
    return case


def _netvlad_inputs(rng: np.random.Generator, shape: Sequence[int], k: int, dtype: np.dtype,
                    backward: bool) -> tuple[np.ndarray, ...]:
    x = rng.standard_normal(tuple(shape), dtype=np.float32).astype(dtype)
    d = shape[1]
    w, b, c = (rng.standard_normal(s, dtype=np.float32).astype(dtype) * dtype.type(0.1)
               for s in ((k, d), (k,), (k, d)))
    g = rng.standard_normal((shape[0], k * d), dtype=np.float32).astype(dtype)
    return x, w, b, c, g


def _np_netvlad(x: np.ndarray, w: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    n, d = x.shape[:2]
    xf = x.reshape(n, d, -1)
    xf = xf / np.maximum(np.linalg.norm(xf, axis=1, keepdims=True), 1e-12)
    logits = np.matmul(w, xf) + b[:, None]
    logits -= logits.max(axis=1, keepdims=True)
    a = np.exp(logits)
    a /= a.sum(axis=1, keepdims=True)
    v = np.matmul(a, xf.transpose(0, 2, 1)) - a.sum(axis=2)[:, :, None] * c
    v /= np.maximum(np.linalg.norm(v, axis=2, keepdims=True), 1e-12)
    v = v.reshape(n, -1)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def _torch_netvlad_residual(torch: Any, x: Any, w: Any, b: Any, c: Any) -> Any:
    """The common NetVLAD module's forward: the N×K×D×HW residual tensor."""
    F = torch.nn.functional
    n, d = x.shape[:2]
    k = w.shape[0]
    x = F.normalize(x, p=2, dim=1)
    soft = F.softmax(F.conv2d(x, w.reshape(k, d, 1, 1), b).view(n, k, -1), dim=1)
    xf = x.view(n, d, -1)
    residual = (xf.expand(k, -1, -1, -1).permute(1, 0, 2, 3)
                - c.expand(xf.size(-1), -1, -1).permute(1, 2, 0).unsqueeze(0))
    vlad = (residual * soft.unsqueeze(2)).sum(dim=-1)
    vlad = F.normalize(vlad, p=2, dim=2).view(n, -1)
    return F.normalize(vlad, p=2, dim=1)


def _torch_netvlad_bmm(torch: Any, x: Any, w: Any, b: Any, c: Any) -> Any:
    """The same algebra as fastpool's: V = AᵀX − (Σ A)·C, no residual tensor."""
    F = torch.nn.functional
    n, d = x.shape[:2]
    xf = F.normalize(x.reshape(n, d, -1), p=2, dim=1)
    a = F.softmax(torch.matmul(w, xf) + b[:, None], dim=1)
    v = torch.bmm(a, xf.transpose(1, 2)) - a.sum(dim=2, keepdim=True) * c
    v = F.normalize(v, p=2, dim=2).reshape(n, -1)
    return F.normalize(v, p=2, dim=1)


def _build_sp_netvlad(w: Workload, shape: Sequence[int], rng: np.random.Generator,
                      ctx: _Ctx) -> _Case:
    """NetVLAD forward or backward (x, weight, bias, centroids); the peak memory of each
    implementation is measured too (see :func:`_netvlad_memory`)."""
    k, backward, t = w.params["clusters"], bool(w.params.get("backward")), ctx.threads
    dtype = np.dtype(w.dtype)
    x, wt, b, c, g = _netvlad_inputs(rng, shape, k, dtype, backward)
    torch = ctx.mods.get("torch")
    memory = {"shape": list(shape), "clusters": k, "dtype": w.dtype, "backward": backward}
    if not backward:
        y = fastpool.netvlad(x, wt, b, c)
        out = y if ctx.use_out else None
        fast = _Impl(lambda: fastpool.netvlad(x, wt, b, c, out=out, num_threads=t), _as_tuple)
        ref = _Impl(lambda: reference.netvlad(x, wt, b, c), _as_tuple)
        case = _Case(fast, ref, exact=False, nbytes=x.nbytes + y.nbytes, dtype=dtype,
                     tol=(1e-3, 1e-4), memory=memory)

        def torch_factory(fn: Callable[..., Any]) -> _Impl:
            tensors = [torch.from_numpy(a) for a in (x, wt, b, c)]
            return _Impl(lambda: fn(torch, *tensors), _tnp)

        _comp(case, ctx, "torch", "the common module: `F.conv2d` 1×1 + softmax + the "
                                  "N×K×D×HW residual tensor", partial(torch_factory,
                                                                      _torch_netvlad_residual))
        _comp(case, ctx, "torch_alt", "`torch.matmul`/`torch.bmm`: AᵀX − (ΣA)·C",
              partial(torch_factory, _torch_netvlad_bmm))
        _comp(case, ctx, "numpy", "`np.matmul` (BLAS): AᵀX − (ΣA)·C",
              lambda: _Impl(lambda: _np_netvlad(x, wt, b, c), _as_tuple))
        return case
    fast = _Impl(lambda: fastpool.netvlad_backward(g, x, wt, b, c, num_threads=t), _as_tuple)
    ref = _Impl(lambda: reference.netvlad_backward(g, x, wt, b, c), _as_tuple)
    nbytes = g.nbytes + 2 * (x.nbytes + wt.nbytes + b.nbytes + c.nbytes)
    case = _Case(fast, ref, exact=False, nbytes=nbytes, dtype=dtype, tol=(1e-3, 1e-3),
                 memory=memory)
    _comp(case, ctx, "torch", "autograd of the common module (residual tensor)",
          lambda: _torch_grad(torch, partial(_torch_netvlad_residual, torch),
                              [x, wt, b, c], g))
    _comp(case, ctx, "torch_alt", "autograd of the `bmm` formulation",
          lambda: _torch_grad(torch, partial(_torch_netvlad_bmm, torch), [x, wt, b, c], g))
    _not_applicable(case, ctx, ("numpy",), "no NumPy composition of the backward")
    return case


# Peak memory of NetVLAD -----------------------------------------------------
#
# fastpool's workspace and NumPy's temporaries are NumPy arrays, which tracemalloc
# traces exactly: their peak is measured in the worker.  PyTorch's allocator is
# invisible to tracemalloc, so each PyTorch composition runs once in a fresh process
# and reports the growth of that process's peak RSS over the call.


def _reset_peak_rss() -> bool:
    """Restart the kernel's peak-RSS count (VmHWM) at the current RSS (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_bytes() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def _netvlad_call(spec: dict[str, Any], impl: str, shape: Sequence[int],
                  torch: Any = None) -> Callable[[], Any]:
    """One call of ``impl`` on fresh inputs of ``shape``: forward, or forward + backward
    (the backward's peak is a training step's: the forward's outputs live until it)."""
    k, backward, dtype = spec["clusters"], spec["backward"], np.dtype(spec["dtype"])
    x, w, b, c, g = _netvlad_inputs(np.random.default_rng(0), shape, k, dtype, backward)
    if impl == "fastpool":
        def run() -> Any:
            y = fastpool.netvlad(x, w, b, c, num_threads=1)
            if backward:
                return y, fastpool.netvlad_backward(g, x, w, b, c, num_threads=1)
            return y
        return run
    if impl == "numpy":
        return lambda: _np_netvlad(x, w, b, c)
    fn = _torch_netvlad_residual if impl == "torch" else _torch_netvlad_bmm
    leaves = [torch.from_numpy(a).clone().requires_grad_(backward) for a in (x, w, b, c)]
    gt = torch.from_numpy(g)

    def run_torch() -> Any:
        if not backward:
            with torch.no_grad():
                return fn(torch, *leaves)
        y = fn(torch, *leaves)
        return y, torch.autograd.grad(y, leaves, gt)
    return run_torch


def _traced_peak_mib(run: Callable[[], Any]) -> float:
    """tracemalloc's peak of the allocations made during ``run()``, in MiB."""
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        result = run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return peak / 2**20


def _netvlad_rss_child(spec: dict[str, Any], impls: Sequence[str], queue: Any) -> None:
    """In a fresh process: the growth of the peak RSS over one call of each of ``impls``,
    in that order (the smallest first: what an earlier one freed and the allocator kept
    could hide as much of a later one's growth)."""
    import torch

    torch.set_num_threads(1)
    peaks = {}
    for impl in impls:
        # Warm up on a tiny input (thread pools, lazy initialisation), then one real call.
        _netvlad_call(spec, impl, (1, spec["shape"][1], 2, 2), torch)()
        run = _netvlad_call(spec, impl, spec["shape"], torch)
        gc.collect()
        reset = _reset_peak_rss()
        base = _peak_rss_bytes()
        result = run()
        peak = _peak_rss_bytes()
        del result, run
        gc.collect()
        peaks[impl] = {"rss_mib": (peak - base) / 2**20 if reset and peak and base else None}
    queue.put(peaks)


def _netvlad_memory(spec: dict[str, Any], impls: Sequence[str], mode: str) -> dict[str, Any]:
    """Peak memory of one NetVLAD call per implementation, at one thread: tracemalloc in
    this process for fastpool and NumPy; for PyTorch the peak-RSS growth in a fresh
    ``spawn`` process (in full runs only)."""
    import multiprocessing as mp

    peaks: dict[str, Any] = {}
    skip_torch = mode != "full"  # a fresh process with PyTorch costs seconds
    try:
        from threadpoolctl import threadpool_limits

        limit: Any = threadpool_limits(1, user_api="blas")
    except ImportError:
        limit = None
    try:
        for impl in impls:
            if impl in ("fastpool", "numpy"):
                peaks[impl] = {"tracemalloc_mib": _traced_peak_mib(
                    _netvlad_call(spec, impl, spec["shape"]))}
    finally:
        if limit is not None:
            limit.restore_original_limits()
    # The bmm formulation (small) before the residual one (large), in one process.
    torch_impls = [] if skip_torch else [i for i in ("torch_alt", "torch") if i in impls]
    if torch_impls:
        context = mp.get_context("spawn")
        queue = context.Queue()
        proc = context.Process(target=_netvlad_rss_child, args=(spec, torch_impls, queue))
        proc.start()
        try:
            peaks.update(queue.get(timeout=600))
        except Exception as exc:  # noqa: BLE001 - reported in the row, not fatal
            peaks.update({i: {"error": f"{type(exc).__name__}: {exc}"} for i in torch_impls})
        proc.join()
    n, d = spec["shape"][:2]
    hw = math.prod(spec["shape"][2:])
    itemsize = np.dtype(spec["dtype"]).itemsize
    xl = np.empty(spec["shape"], dtype=spec["dtype"])
    workspace = _core.netvlad_workspace_size(xl, spec["clusters"], spec["backward"],
                                             _core.NETVLAD_NORMALIZE_INPUT, 1)
    return {"threads": 1, "peaks": peaks,
            "residual_tensor_mib": n * spec["clusters"] * d * hw * itemsize / 2**20,
            "fastpool_workspace_mib": workspace / 2**20,
            "input_mib": xl.nbytes / 2**20}


# --------------------------------------------------------------------------
# Other dtypes: uint8 and float16 window pooling


def _torch_dtype_probe(torch: Any, op: str, dtype: np.dtype, memory: str) -> None:
    """``_NotApplicable`` when PyTorch CPU has no ``op`` pooling kernel for ``dtype``."""
    t = torch.zeros((1, 1, 2, 2), dtype=getattr(torch, dtype.name))
    if memory == "cl":
        t = t.contiguous(memory_format=torch.channels_last)
    try:
        getattr(torch.nn.functional, f"{op}_pool2d")(t, 2, 2)
    except (NotImplementedError, RuntimeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _NotApplicable(f"PyTorch CPU has no {op}_pool2d for {dtype.name} "
                             f"({type(exc).__name__}: {first})") from None


def _build_dtype_pool(w: Workload, shape: Sequence[int], rng: np.random.Generator,
                      ctx: _Ctx) -> _Case:
    """2×2/s2 max or average pooling of a uint8 or float16 input (NCHW); an integer
    average asks for its own dtype back (``dtype=``: round half to even, SPEC §4.3)."""
    op, k = w.params["op"], w.params["kernel"]
    dtype, t = np.dtype(w.dtype), ctx.threads
    x = _random(rng, shape, dtype)
    integer = dtype.kind in "iu"
    kw: dict[str, Any] = {"dtype": dtype} if op == "avg" and integer else {}
    fp = getattr(fastpool, f"{op}_pool2d")
    y = fp(x, k, k, **kw)
    out = y if ctx.use_out else None
    fast = _Impl(lambda: fp(x, k, k, out=out, num_threads=t, **kw), _as_tuple)

    def to_y(v: np.ndarray) -> np.ndarray:  # a float64 result in the output's dtype
        return (np.rint(v) if integer else v).astype(y.dtype)

    x64 = x.astype(np.float64)
    if op == "max":
        ref = _Impl(lambda: reference.max_pool(x64, k, k)[0], lambda v: (to_y(v),))
    else:
        ref = _Impl(lambda: reference.avg_pool(x64, k, k), lambda v: (to_y(v),))
    case = _Case(fast, ref, exact=(op == "max" or integer), nbytes=x.nbytes + y.nbytes,
                 dtype=dtype)
    torch = ctx.mods.get("torch")
    for key, memory, where in (("torch", "nc", "NCHW"), ("torch_cl", "cl", "channels_last")):
        def factory(memory: str = memory, where: str = where) -> _Impl:
            _torch_dtype_probe(torch, op, dtype, memory)
            xt = _torch_tensor(torch, x, False, memory)
            pool = getattr(torch.nn.functional, f"{op}_pool2d")
            try:  # a kernel that exists may still refuse this input
                pool(xt, k, k)
            except RuntimeError as exc:
                first = str(exc).splitlines()[0].split(" (Could this")[0]
                raise _NotApplicable(f"PyTorch CPU {op}_pool2d refuses this {dtype.name} "
                                     f"input in {where} memory ({first})") from None
            return _Impl(lambda: pool(xt, k, k), _torch_result(False))

        _comp(case, ctx, key, f"`F.{op}_pool2d` on {dtype.name}, {where} memory", factory)
    if op == "avg" and integer:
        def torch_float() -> _Impl:
            xt = torch.from_numpy(x)
            tdt = getattr(torch, dtype.name)
            F = torch.nn.functional
            return _Impl(lambda: F.avg_pool2d(xt.float(), k, k).round().to(tdt), _tnp)

        _comp(case, ctx, "torch_alt", "`x.float()` → `F.avg_pool2d` → `round()` (half to "
                                      f"even) → {dtype.name}", torch_float)
    n, c, h, wd = x.shape
    oh, ow = h // k[0], wd // k[1]

    def blocks() -> np.ndarray:
        return x[:, :, :oh * k[0], :ow * k[1]].reshape(n, c, oh, k[0], ow, k[1])

    if op == "max":
        np_fn: Callable[[], np.ndarray] = lambda: blocks().max(axis=(3, 5))
        np_label = "`reshape` + `max(axis=(3, 5))`"
    elif integer:
        np_fn = lambda: np.rint(blocks().mean(axis=(3, 5))).astype(dtype)
        np_label = f"`reshape` + `mean` (float64) + `np.rint` + `astype({dtype.name})`"
    else:
        np_fn = lambda: blocks().mean(axis=(3, 5), dtype=np.float32).astype(dtype)
        np_label = f"`reshape` + `mean(dtype=float32)` + `astype({dtype.name})`"
    _comp(case, ctx, "numpy", np_label, lambda: _Impl(np_fn, _as_tuple))
    if op == "avg" and integer:
        _not_applicable(case, ctx, ("ort", "jax", "tf"),
                        f"no {dtype.name} average pooling with a {dtype.name} result")
    else:
        _window_peers(case, ctx, op, k, k, (0, 0), x, y.shape, False)
    return case


_BUILDERS: dict[str, Callable[..., _Case]] = {
    "pool": _build_pool,
    "global": _build_global,
    "adaptive": _build_adaptive,
    "backward": _build_backward,
    "seed": _build_seed,
    "lp": _build_lp,
    "unpool": _build_unpool,
    "fractional": _build_fractional,
    "sp_median": _build_sp_median,
    "sp_mixed": _build_sp_mixed,
    "sp_stochastic": _build_sp_stochastic,
    "sp_yolo": _build_sp_yolo,
    "sp_spp": _build_sp_spp,
    "sp_bilinear": _build_sp_bilinear,
    "sp_netvlad": _build_sp_netvlad,
    "dtype_pool": _build_dtype_pool,
}


# --------------------------------------------------------------------------
# The workloads


@dataclass(frozen=True, eq=False)
class Workload:
    """One benchmark: an operator, its input shape per mode, and how to build it.

    ``group`` is ``"issue"`` (the main workloads w1..w12 and seed: the targets and the
    geomean), ``"nhwc"`` (the same operator in NHWC memory: the per-workload targets),
    ``"extra"`` (another operator family: measured, not judged), ``"special"`` (the
    special poolings against their compositions) or ``"dtype"`` (the uint8 and float16
    rows); the last three are not judged.  ``builder``, when given, replaces
    the builder of ``kind``.
    """

    name: str
    group: str
    operator: str
    kind: str
    full: tuple[int, ...]
    quick: tuple[int, ...]
    smoke: tuple[int, ...]
    dtype: str = "float32"
    channels_last: bool = False
    memory_bound: bool = False  # a forward whose target is >= 80 % of the copy bandwidth
    params: dict[str, Any] = field(default_factory=dict)
    builder: Callable[..., _Case] | None = None

    @property
    def layout(self) -> str:
        rank = len(self.full) - 2
        spatial = "L" if rank == 1 else "DHW"[3 - rank:]
        return f"N{spatial}C" if self.channels_last else f"NC{spatial}"

    def shape(self, mode: str) -> tuple[int, ...]:
        return {"full": self.full, "quick": self.quick, "smoke": self.smoke}[mode]

    def build(self, shape: Sequence[int], rng: np.random.Generator, ctx: _Ctx) -> _Case:
        return (self.builder or _BUILDERS[self.kind])(self, shape, rng, ctx)


def _nhwc(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[0], *shape[2:], shape[1])


_K2, _S2 = (2, 2), (2, 2)
_F1, _Q1, _S1 = (32, 64, 112, 112), (8, 64, 56, 56), (2, 8, 16, 16)
_P1 = {"full": _F1, "quick": _Q1, "smoke": _S1}


def _w(name: str, group: str, operator: str, kind: str, shapes: dict[str, tuple[int, ...]],
       *, nhwc: bool = False, **kwargs: Any) -> Workload:
    full, quick, smoke = (shapes[m] for m in ("full", "quick", "smoke"))
    if nhwc:
        full, quick, smoke = _nhwc(full), _nhwc(quick), _nhwc(smoke)
    return Workload(name, group, operator, kind, full, quick, smoke, channels_last=nhwc,
                    **kwargs)


def _pool(op: str, k: int, s: int, p: int, rank: int = 2) -> dict[str, Any]:
    return {"op": op, "kernel": (k,) * rank, "stride": (s,) * rank, "padding": p}


def _spp(name_shape: str, k: int, shapes: dict[str, tuple[int, ...]]) -> Workload:
    return _w(f"w5_{name_shape}_k{k}", "issue", f"max {k}×{k}/s1/p{k // 2} (YOLO SPP)", "pool",
              shapes, params={**_pool("max", k, 1, k // 2), "series": "w5"})


_SPP20 = {"full": (8, 512, 20, 20), "quick": (2, 256, 20, 20), "smoke": (1, 4, 20, 20)}
_SPP80 = {"full": (1, 256, 80, 80), "quick": (1, 64, 80, 80), "smoke": (1, 2, 24, 24)}
_A14 = {"full": (32, 512, 14, 14), "quick": (8, 256, 14, 14), "smoke": (2, 8, 14, 14)}
_A15 = {"full": (32, 512, 15, 15), "quick": (8, 256, 15, 15), "smoke": (2, 8, 15, 15)}
_E56 = {"full": (8, 64, 56, 56), "quick": (2, 64, 56, 56), "smoke": (1, 4, 16, 16)}
# The special and dtype rows' --quick shapes are small: 27 more rows at two thread counts
# must keep `fastpool bench --quick` at about a minute.
_SP_WINDOW = {"kernel": 3, "stride": 2}
_SPW = {"full": (8, 64, 56, 56), "quick": (1, 32, 56, 56), "smoke": (1, 4, 16, 16)}
_SP13 = {"full": (32, 256, 13, 13), "quick": (4, 128, 13, 13), "smoke": (2, 4, 13, 13)}
_SPB = {"full": (32, 512, 14, 14), "quick": (2, 256, 14, 14), "smoke": (2, 8, 14, 14)}
_SPV = {"full": (8, 512, 30, 40), "quick": (1, 256, 20, 30), "smoke": (1, 16, 6, 8)}
_DT = {"full": _F1, "quick": (2, 64, 56, 56), "smoke": _S1}
# YOLO SPP at w5's full shapes; smaller quick ones (PyTorch's k=13 pooling is slow).
_SPY20 = {"full": (8, 512, 20, 20), "quick": (1, 64, 20, 20), "smoke": (1, 4, 20, 20)}
_SPY80 = {"full": (1, 256, 80, 80), "quick": (1, 16, 80, 80), "smoke": (1, 2, 24, 24)}

#: Every workload, in table order.  The first is the headline case.
WORKLOADS: tuple[Workload, ...] = (
    _w("w1", "issue", "max 2×2/s2", "pool", _P1, memory_bound=True,
       params=_pool("max", 2, 2, 0)),
    _w("w2", "issue", "max 3×3/s2/p1", "pool", _P1, params=_pool("max", 3, 2, 1)),
    _w("w2_nhwc", "nhwc", "max 3×3/s2/p1", "pool", _P1, nhwc=True,
       params=_pool("max", 3, 2, 1)),
    _w("w3", "issue", "avg 2×2/s2", "pool", _P1, memory_bound=True,
       params=_pool("avg", 2, 2, 0)),
    _w("w3_nhwc", "nhwc", "avg 2×2/s2", "pool", _P1, nhwc=True, memory_bound=True,
       params=_pool("avg", 2, 2, 0)),
    _w("w4", "issue", "max 2×2/s2", "pool", _P1, nhwc=True, memory_bound=True,
       params=_pool("max", 2, 2, 0)),
    _spp("20", 5, _SPP20), _spp("20", 9, _SPP20), _spp("20", 13, _SPP20),
    _spp("80", 5, _SPP80), _spp("80", 9, _SPP80), _spp("80", 13, _SPP80),
    _w("w6", "issue", "global avg", "global",
       {"full": (64, 2048, 7, 7), "quick": (16, 512, 7, 7), "smoke": (2, 8, 7, 7)},
       params={"op": "avg"}),
    _w("w7_14", "issue", "adaptive avg 14→7", "adaptive", _A14,
       params={"op": "avg", "output": (7, 7)}),
    _w("w7_15", "issue", "adaptive avg 15→7", "adaptive", _A15,
       params={"op": "avg", "output": (7, 7)}),
    _w("w8", "issue", "max 2×2/s2 backward (from indices)", "backward", _P1,
       params=_pool("max", 2, 2, 0)),
    _w("w8_nhwc", "nhwc", "max 2×2/s2 backward (from indices)", "backward", _P1, nhwc=True,
       params=_pool("max", 2, 2, 0)),
    _w("w9", "issue", "avg 2×2/s2 backward", "backward", _P1, params=_pool("avg", 2, 2, 0)),
    _w("w9_nhwc", "nhwc", "avg 2×2/s2 backward", "backward", _P1, nhwc=True,
       params=_pool("avg", 2, 2, 0)),
    _w("w10", "issue", "max3d 2×2×2/s2", "pool",
       {"full": (4, 32, 32, 64, 64), "quick": (2, 32, 16, 32, 32), "smoke": (1, 4, 8, 8, 8)},
       memory_bound=True, params=_pool("max", 2, 2, 0, rank=3)),
    _w("w11", "issue", "max1d k3/s2", "pool",
       {"full": (64, 256, 4096), "quick": (16, 256, 1024), "smoke": (2, 8, 64)},
       params=_pool("max", 3, 2, 0, rank=1)),
    _w("w12", "issue", "max 2×2/s2, float64", "pool", _P1, dtype="float64", memory_bound=True,
       params=_pool("max", 2, 2, 0)),
    _w("seed", "issue", "max 2×2/s2 forward (indices) + backward", "seed",
       {"full": (64, 3, 28, 28), "quick": (64, 3, 28, 28), "smoke": (4, 3, 28, 28)},
       dtype="float64", params={"kernel": _K2, "stride": _S2}),
    _w("lp2d", "extra", "lp_pool2d p=2 3×3/s2", "lp", _E56,
       params={"p": 2, "kernel": (3, 3), "stride": _S2}),
    _w("adaptive_max2d", "extra", "adaptive_max_pool2d 14→7", "adaptive", _A14,
       params={"op": "max", "output": (7, 7)}),
    _w("max_unpool2d", "extra", "max_unpool2d 2×2 (input: the pooled values)", "unpool",
       {"full": (8, 64, 56, 56), "quick": (2, 64, 56, 56), "smoke": (1, 4, 8, 8)},
       params={"kernel": _K2}),
    _w("fractional2d", "extra", "fractional_max_pool2d 3×3, output_ratio 0.5", "fractional",
       _E56, params={"kernel": (3, 3), "ratio": 0.5}),
    # The special poolings against their compositions.
    _w("sp_median", "special", "median_pool2d 3×3/s2", "sp_median", _SPW,
       params=_SP_WINDOW),
    _w("sp_median_bwd", "special", "median_pool2d 3×3/s2 backward (from indices)", "sp_median",
       _SPW, params={**_SP_WINDOW, "backward": True}),
    _w("sp_mixed_blend", "special", "mixed_pool2d 3×3/s2 blend α=0.5", "sp_mixed", _SPW,
       params={**_SP_WINDOW, "mode": "blend", "alpha": 0.5}),
    _w("sp_mixed_blend_bwd", "special", "mixed_pool2d 3×3/s2 blend α=0.5 backward (dx, dα)",
       "sp_mixed", _SPW,
       params={**_SP_WINDOW, "mode": "blend", "alpha": 0.5, "backward": True}),
    _w("sp_mixed_concat", "special", "mixed_pool2d 3×3/s2 concat [avg, max]", "sp_mixed",
       _SPW,
       params={**_SP_WINDOW, "mode": "concat", "alpha": 0.5}),
    _w("sp_stochastic_inf", "special", "stochastic_pool2d 3×3/s2 inference (Σa²/Σa)",
       "sp_stochastic", _SPW, params={**_SP_WINDOW, "training": False}),
    _w("sp_stochastic_train", "special", "stochastic_pool2d 3×3/s2 training (seed=1)",
       "sp_stochastic", _SPW, params={**_SP_WINDOW, "training": True}),
    _w("sp_yolo_spp_20", "special", "yolo_spp (5, 9, 13)", "sp_yolo", _SPY20,
       params={"kernels": (5, 9, 13)}),
    _w("sp_yolo_spp_20_bwd", "special", "yolo_spp (5, 9, 13) backward", "sp_yolo", _SPY20,
       params={"kernels": (5, 9, 13), "backward": True}),
    _w("sp_yolo_spp_80", "special", "yolo_spp (5, 9, 13)", "sp_yolo", _SPY80,
       params={"kernels": (5, 9, 13)}),
    _w("sp_yolo_spp_80_bwd", "special", "yolo_spp (5, 9, 13) backward", "sp_yolo", _SPY80,
       params={"kernels": (5, 9, 13), "backward": True}),
    _w("sp_spp", "special", "spatial_pyramid_pool max, levels (1, 2, 4)", "sp_spp", _SP13,
       params={"levels": (1, 2, 4)}),
    _w("sp_spp_bwd", "special", "spatial_pyramid_pool max (1, 2, 4) backward", "sp_spp", _SP13,
       params={"levels": (1, 2, 4), "backward": True}),
    _w("sp_bilinear", "special", "bilinear_pool(x) (avg, signed sqrt, L2)", "sp_bilinear",
       _SPB, params={}),
    _w("sp_bilinear_bwd", "special", "bilinear_pool(x) backward", "sp_bilinear", _SPB,
       params={"backward": True}),
    _w("sp_bilinear_xy", "special", "bilinear_pool(x, y), the product X·Yᵀ only",
       "sp_bilinear", _SPB, params={"product": True}),
    _w("sp_netvlad", "special", "netvlad K=64", "sp_netvlad", _SPV, params={"clusters": 64}),
    _w("sp_netvlad_bwd", "special", "netvlad K=64 backward (dx, dw, db, dc)", "sp_netvlad",
       _SPV, params={"clusters": 64, "backward": True}),
    # uint8 and float16.
    _w("u8_max2d", "dtype", "max 2×2/s2, uint8", "dtype_pool", _DT, dtype="uint8",
       memory_bound=False, params={"op": "max", "kernel": _K2}),
    _w("u8_avg2d", "dtype", "avg 2×2/s2, uint8 → uint8 (dtype=np.uint8)", "dtype_pool", _DT,
       dtype="uint8", params={"op": "avg", "kernel": _K2}),
    _w("f16_max2d", "dtype", "max 2×2/s2, float16", "dtype_pool", _DT, dtype="float16",
       params={"op": "max", "kernel": _K2}),
    _w("f16_avg2d", "dtype", "avg 2×2/s2, float16", "dtype_pool", _DT, dtype="float16",
       params={"op": "avg", "kernel": _K2}),
)


def _select(patterns: str | None) -> list[Workload]:
    """The workloads named by a comma-separated list of names or shell patterns."""
    if not patterns:
        return list(WORKLOADS)
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    unknown = [p for p in wanted if not any(fnmatch.fnmatchcase(w.name, p) for w in WORKLOADS)]
    if unknown:
        names = ", ".join(w.name for w in WORKLOADS)
        raise ValueError(f"--only: no workload matches {', '.join(unknown)} (known: {names})")
    return [w for w in WORKLOADS if any(fnmatch.fnmatchcase(w.name, p) for p in wanted)]


# --------------------------------------------------------------------------
# Checking and timing


#: allclose's (rtol, atol) per dtype, where a case gives no tolerance of its own.
_TOLERANCE = {"float16": (1e-3, 1e-3), "float32": (1e-5, 1e-6), "float64": (1e-12, 1e-14)}


def _mismatch(expected: tuple[np.ndarray, ...], got: tuple[np.ndarray, ...], exact: bool,
              dtype: np.dtype, tol: tuple[float, float] | None = None) -> str | None:
    """None when ``got`` equals ``expected``, else what differs.  ``tol`` is (rtol, atol
    as a fraction of the largest |expected| of each output)."""
    if len(expected) != len(got):
        return f"{len(got)} outputs, expected {len(expected)}"
    rtol, atol = _TOLERANCE.get(np.dtype(dtype).name, _TOLERANCE["float64"])
    for k, (a, b) in enumerate(zip(expected, got)):
        what = f"output {k}: " if len(expected) > 1 else ""
        if a.shape != b.shape:
            return f"{what}shape {b.shape}, expected {a.shape}"
        if tol is not None and a.size:
            with np.errstate(invalid="ignore"):
                scale = float(np.nanmax(np.abs(a.astype(np.float64))))
            rtol, atol = tol[0], tol[1] * scale
        if exact:
            ok = np.array_equal(a, b, equal_nan=True)
        else:
            with np.errstate(invalid="ignore"):
                ok = np.allclose(b, a, rtol=rtol, atol=atol, equal_nan=True)
        if not ok:
            with np.errstate(invalid="ignore"):
                diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
            bad = int(np.count_nonzero(~((diff == 0) | (np.isnan(a) & np.isnan(b)))))
            worst = float(np.nanmax(diff)) if bad else 0.0
            return f"{what}{bad} of {a.size} elements differ, max |diff| {worst:.3g}"
    return None


def _digest(arrays: tuple[np.ndarray, ...]) -> str:
    """A hash of fastpool's output, to compare it across thread counts (processes)."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _time_calls(fn: Callable[[], Any], number: int) -> float:
    """Seconds per call of ``number`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def _calibrate(fn: Callable[[], Any], min_sample: float, max_calls: int) -> int:
    """Calls per sample so that one sample lasts at least ``min_sample`` seconds."""
    once = _time_calls(fn, 1)
    if once >= min_sample:
        return 1
    return max(1, min(max_calls, math.ceil(min_sample / max(once, 1e-9))))


def _round_robin(fns: dict[str, Callable[[], Any]], numbers: dict[str, int], repeat: int,
                 on_round: Callable[[int], None]
                 ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """``repeat`` rounds over every implementation, starting one later each round.

    Returns seconds per call, one sample per round, per implementation; and the cores
    the process kept busy during each sample (CPU time over wall time).
    """
    names = list(fns)
    samples: dict[str, list[float]] = {n: [] for n in names}
    cores: dict[str, list[float]] = {n: [] for n in names}
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for r in range(repeat):
            on_round(r)
            for k in range(len(names)):
                name = names[(r + k) % len(names)]
                cpu = time.process_time()
                per_call = _time_calls(fns[name], numbers[name])
                cpu = time.process_time() - cpu
                samples[name].append(per_call)
                cores[name].append(cpu / max(per_call * numbers[name], 1e-9))
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples, cores


def _copy_bandwidth(nbytes: int, repeat: int, threads: int) -> dict[str, Any]:
    """Median ``np.copyto`` time and GB/s (bytes read + written) of a float32 array,
    split into ``threads`` chunks copied by as many threads (NumPy drops the GIL)."""
    src = np.ones(nbytes // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # fault the pages in
    pool = None
    if threads == 1:
        fn: Callable[[], Any] = partial(np.copyto, dst, src)
    else:
        pool = ThreadPoolExecutor(threads)
        pairs = list(zip(np.array_split(dst, threads), np.array_split(src, threads)))

        def fn() -> None:
            list(pool.map(lambda pair: np.copyto(*pair), pairs))

    try:
        fn()
        samples = [_time_calls(fn, 1) for _ in range(max(repeat, 5))]
    finally:
        if pool is not None:
            pool.shutdown()
    median = statistics.median(samples)
    return {
        "threads": threads,
        "bytes": int(src.nbytes),
        "median_ms": median * 1e3,
        "samples_ms": [s * 1e3 for s in samples],
        "gb_per_s": 2 * src.nbytes / median / 1e9,
    }


# --------------------------------------------------------------------------
# Progress on stderr


class _Progress:
    """A progress bar on stderr: rewritten in place on a terminal, else one line per step."""

    def __init__(self, total: int, stream: TextIO | None, enabled: bool) -> None:
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self.step_text = ""

    def event(self, kind: str, text: str) -> None:
        {"step": self.step, "detail": self.detail, "message": self.message}[kind](text)

    def step(self, text: str) -> None:
        self.done = min(self.done + 1, self.total)
        self.step_text = text
        self._show(text, new_step=True)

    def detail(self, text: str) -> None:
        if self.tty:
            self._show(f"{self.step_text}: {text}", new_step=False)

    def _show(self, text: str, new_step: bool) -> None:
        if not self.enabled or (not self.tty and not new_step):
            return
        elapsed = time.perf_counter() - self.start
        width = 24
        filled = width * self.done // max(self.total, 1)
        bar = "#" * filled + "-" * (width - filled)
        line = (f"bench [{bar}] {self.done:>{len(str(self.total))}}/{self.total} "
                f"{elapsed:4.0f}s  {text}")
        if self.tty:
            self.stream.write("\r\x1b[K" + line[:200])
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        """A line that stays (warnings), printed whatever the progress setting."""
        if self.tty:
            self.stream.write("\r\x1b[K")
        self.stream.write(text + "\n")
        self.stream.flush()
        if self.tty and self.step_text:
            self._show(self.step_text, new_step=False)

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


# --------------------------------------------------------------------------
# Machine information


_CPU_KEYS = ("model name", "Model", "Hardware", "cpu model", "cpu")


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in _CPU_KEYS and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _busy_cores(interval: float = 0.25) -> float | None:
    """Cores kept busy by other processes, from ``/proc/stat`` while this one sleeps.

    ``None`` where ``/proc/stat`` cannot be read (not Linux).
    """
    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as f:
            # cpu  user nice system idle iowait irq softirq steal ...
            ticks = [int(v) for v in f.readline().split()[1:9]]
        return sum(ticks), ticks[3] + ticks[4]

    try:
        total0, idle0 = sample()
        time.sleep(interval)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    busy = 1.0 - (idle1 - idle0) / (total1 - total0)
    return max(0.0, busy) * (os.cpu_count() or 1)


def _load_average() -> list[float] | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def _machine() -> dict[str, Any]:
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": _usable_cores(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "fastpool": _core.build_info(),
        "load_average_before": _load_average(),
        "busy_cores_before": _busy_cores(),
    }


# --------------------------------------------------------------------------
# Peers: loaded in the process that times them


def _load_peers(families: Sequence[str], threads: int
                ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Import the wanted peers' libraries: ``(modules, info)`` per family.

    ``info[family]`` has the version and how the thread count was applied, or
    ``unavailable`` with the reason (not installed, or a broken install).
    """
    mods: dict[str, Any] = {}
    info: dict[str, dict[str, Any]] = {}
    for family in families:
        try:
            if family == "torch":
                import torch

                mods[family] = torch
                info[family] = {"version": torch.__version__,
                                "threads": "torch.set_num_threads(t)"}
            elif family == "ort":
                import onnx
                import onnxruntime

                mods[family] = (onnxruntime, onnx)
                info[family] = {"version": onnxruntime.__version__, "onnx": onnx.__version__,
                                "threads": "intra_op_num_threads=t, inter_op_num_threads=1, "
                                           "sequential execution"}
            elif family == "jax":
                import jax
                import jaxlib

                jax.config.update("jax_enable_x64", True)  # the float64 workloads
                mods[family] = jax
                info[family] = {"version": jax.__version__,
                                "jaxlib": getattr(jaxlib, "__version__", None),
                                "backend": jax.default_backend(),
                                "xla_flags": os.environ.get("XLA_FLAGS", ""),
                                "threads": _jax_threads_text(threads)}
            elif family == "numpy":
                mods[family] = np
                info[family] = {"version": np.__version__, "threads": _blas_threads_text()}
            elif family == "tf":
                os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
                import tensorflow as tf

                applied = "intra_op_parallelism_threads=t, inter_op_parallelism_threads=1"
                try:
                    tf.config.threading.set_intra_op_parallelism_threads(threads)
                    tf.config.threading.set_inter_op_parallelism_threads(1)
                except RuntimeError:  # already initialised (--in-process)
                    applied = "its first thread count (already initialised in this process)"
                mods[family] = tf
                info[family] = {"version": tf.__version__, "threads": applied}
        except Exception as exc:  # noqa: BLE001 - ImportError, or a broken install
            mods.pop(family, None)
            info[family] = {"unavailable": f"{type(exc).__name__}: {exc}"}
    return mods, info


def _blas_threads_text() -> str:
    if importlib.util.find_spec("threadpoolctl") is None:
        return "its BLAS's own thread count (threadpoolctl is not installed)"
    return "threadpoolctl.threadpool_limits(t) on its BLAS"


def _limit_blas(threads: int) -> Any:
    """Hold NumPy's BLAS (the NumPy compositions' matmul) to ``threads`` until the
    returned limiter's ``restore_original_limits()``; None without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(threads, user_api="blas")


def _jax_threads_text(threads: int) -> str:
    flags = os.environ.get("XLA_FLAGS", "")
    text = "XLA's default thread pool (one thread per core it may run on)"
    if threads == 1 and "xla_cpu_multi_thread_eigen=false" in flags:
        text = f"XLA_FLAGS={flags!r} set before jax was imported"
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return text
    return f"{text}; the process may run on {cpus} CPU{'s' if cpus > 1 else ''}"


def _worker_env(threads: int) -> dict[str, str]:
    """The environment of the worker for ``threads``: XLA single-threaded at t=1."""
    env = dict(os.environ)
    if threads == 1:
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {_XLA_ONE_THREAD}".strip()
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


# --------------------------------------------------------------------------
# One thread count: everything timed in this process


def _run_threads(spec: dict[str, Any], emit: Callable[[str, str], None]) -> dict[str, Any]:
    """Run the selected workloads at one thread count in this process (a worker's job)."""
    t, mode = spec["threads"], spec["mode"]
    selected = set(spec["workloads"])
    workloads = [w for w in WORKLOADS if w.name in selected]
    mods, peer_info = _load_peers(spec["peers"], t)
    mods["fastpool"] = fastpool  # the "fastpool comp." column: always there
    peer_info["fastpool"] = {"version": fastpool.__version__, "threads": "num_threads=t"}
    torch = mods.get("torch")
    torch_threads = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(t)
    blas = _limit_blas(t) if "numpy" in mods else None
    ctx = _Ctx(t, spec["use_out"], mods)
    try:
        emit("step", f"t={t}: copy bandwidth")
        copy = _copy_bandwidth(_COPY_BYTES[mode], spec["repeat"], t)
        rows = [_run_workload(w, ctx, spec, emit) for w in workloads]
        seed_loop = None
        seeds = [w for w in workloads if w.kind == "seed"]
        if seeds:
            emit("step", f"t={t} seed: {_SEED_ITERATIONS[mode]} iterations in a loop")
            seed_loop = _seed_loop(seeds[0], mode, t, emit)
    finally:
        if torch is not None:
            torch.set_num_threads(torch_threads)
        if blas is not None:
            blas.restore_original_limits()
    return {"threads": t, "pid": os.getpid(), "cpus": spec.get("cpus"), "peers": peer_info,
            "copy_bandwidth": copy, "rows": rows, "seed_loop": seed_loop}


def _run_workload(w: Workload, ctx: _Ctx, spec: dict[str, Any],
                  emit: Callable[[str, str], None]) -> dict[str, Any]:
    mode, t, repeat = spec["mode"], ctx.threads, spec["repeat"]
    shape = w.shape(mode)
    emit("step", f"t={t} {w.name}: {'×'.join(map(str, shape))} {w.dtype}")
    case = w.build(shape, _rng(w.name), ctx)
    expected = tuple(np.array(a, copy=True)
                     for a in case.fastpool.result(case.fastpool.run()))
    problems: dict[str, str | None] = {}  # what differs from fastpool (None: equal)
    unavailable = dict(case.unavailable)
    fns: dict[str, Callable[[], Any]] = {"fastpool": case.fastpool.run}

    # The NumPy reference, at the first thread count only: timed where one call is cheap
    # (estimated from a probe on a slice of the input), else checked on that slice.
    ref: dict[str, Any] = {"checked_on": None, "estimate_s": None, "call_s": None}
    budget = REFERENCE_BUDGET_S[mode]
    if spec["reference"] and case.reference is not None:
        probe_shape, factor = _probe_shape(shape, w.channels_last)
        if factor > 1:
            probe = w.build(probe_shape, _rng(w.name + "/probe"), _Ctx(t, ctx.use_out, {}))
            assert probe.reference is not None
            start = time.perf_counter()
            probe_ref = probe.reference.result(probe.reference.run())
            ref["estimate_s"] = (time.perf_counter() - start) * factor
            if ref["estimate_s"] > budget:
                ref["checked_on"] = "×".join(map(str, probe_shape))
                got = probe.fastpool.result(probe.fastpool.run())
                # The reference is the expectation: fastpool is what is checked.
                problems["reference"] = _mismatch(probe_ref, got, probe.exact, probe.dtype,
                                                  probe.tol)
            del probe, probe_ref
        if ref["checked_on"] is None:
            emit("detail", "checking the NumPy reference")
            start = time.perf_counter()
            raw = case.reference.run()
            ref["call_s"] = time.perf_counter() - start
            ref["checked_on"] = "full"
            problems["reference"] = _mismatch(case.reference.result(raw), expected,
                                              case.exact, case.dtype, case.tol)
            del raw
            if ref["call_s"] <= budget and problems["reference"] is None:
                fns["reference"] = case.reference.run

    for key, label in PEERS.items():
        impl = case.peers.get(key)
        if impl is None:
            continue
        emit("detail", f"checking {label}")
        try:
            got = impl.result(impl.run())
        except Exception as exc:  # noqa: BLE001 - a peer's failure is reported, not fatal
            unavailable[key] = f"failed: {type(exc).__name__}: {str(exc)[:300]}"
            continue
        if key in case.unchecked:  # no equivalent computation: timed, not compared
            fns[key] = impl.run
            del got
            continue
        problems[key] = _mismatch(expected, got, case.exact, case.dtype, case.tol)
        del got
        if problems[key] is None:
            fns[key] = impl.run
    for key, problem in problems.items():
        if problem is not None:
            label = PEERS.get(key, "the NumPy reference")
            emit("message", f"fastpool bench: MISMATCH: {w.name} threads={t}: {label} vs "
                            f"fastpool: {problem} (not timed)")

    emit("detail", "warming up")
    min_sample = _MIN_SAMPLE_S[mode]
    numbers = {name: (1 if name == "reference" else _calibrate(fn, min_sample,
                                                                _MAX_CALLS_PER_SAMPLE))
               for name, fn in fns.items()}
    samples, cores = _round_robin(fns, numbers, repeat,
                                  lambda r: emit("detail", f"timing round {r + 1}/{repeat}"))
    row = {
        "workload": w.name,
        "group": w.group,
        "kind": w.kind,
        "operator": w.operator,
        "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in w.params.items()},
        "shape": list(shape),
        "layout": w.layout,
        "dtype": w.dtype,
        "channels_last": w.channels_last,
        "memory_bound": w.memory_bound,
        "threads": t,
        "bytes": int(case.nbytes),
        "timings": {name: {"median_ms": statistics.median(s) * 1e3,
                           "samples_ms": [v * 1e3 for v in s],
                           "calls_per_sample": numbers[name],
                           "cores_busy": statistics.median(cores[name]),
                           **({"measured_at_threads": t} if name == "reference" else {})}
                    for name, s in samples.items()},
        "unavailable": unavailable,
        "checks": {k: ("ok" if p is None else "mismatch") for k, p in problems.items()},
        "check_details": {k: p for k, p in problems.items() if p is not None},
        "reference_checked_on": ref["checked_on"],
        "reference_estimate_s": ref["estimate_s"],
        "reference_call_s": ref["call_s"],
        "digest": _digest(expected),
        "peer_labels": dict(case.labels),
        "not_compared": sorted(k for k in case.unchecked if k in fns),
    }
    if case.memory is not None and spec["reference"]:  # the first thread count only
        emit("detail", "peak memory")
        impls = ["fastpool", *(k for k in PEERS if k in fns)]
        row["memory"] = _netvlad_memory(case.memory, impls, mode)
    del case, expected, fns
    gc.collect()
    return row


def _probe_shape(shape: Sequence[int], cl: bool) -> tuple[tuple[int, ...], float]:
    """A slice of ``shape`` for the reference's probe, and how much smaller it is:
    one batch element, or 1/16 of the channels when the batch is already one."""
    if shape[0] > 1:
        return (1, *shape[1:]), float(shape[0])
    axis = len(shape) - 1 if cl else 1
    channels = max(1, shape[axis] // 16)
    probe = list(shape)
    probe[axis] = channels
    return tuple(probe), shape[axis] / channels


def _seed_loop(w: Workload, mode: str, t: int,
               emit: Callable[[str, str], None]) -> dict[str, Any]:
    """The seed case as a training loop would run it: N iterations of forward (with
    indices) + backward in a Python loop, into buffers allocated once; median of runs."""
    shape, dtype = w.shape(mode), np.dtype(w.dtype)
    k, s = w.params["kernel"], w.params["stride"]
    rng = _rng(w.name + "/loop")
    x = _random(rng, shape, dtype)
    forward, backward = fastpool.max_pool2d, fastpool.max_pool2d_backward
    y, idx = forward(x, k, s, 0, return_indices=True)
    g = _random(rng, y.shape, dtype)
    dx = np.empty_like(x)
    n, runs = _SEED_ITERATIONS[mode], _SEED_RUNS[mode]

    def loop(count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            forward(x, k, s, 0, return_indices=True, out=y, indices_out=idx, num_threads=t)
            backward(g, idx, shape, out=dx, num_threads=t)
        return time.perf_counter() - start

    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        warm = max(1, n // 100)
        predicted = loop(warm) * n / warm * runs  # the warm-up predicts the runs
        if predicted > _SEED_BUDGET_S[mode]:
            n = max(warm, int(n * _SEED_BUDGET_S[mode] / predicted))
        times = []
        for r in range(runs):
            emit("detail", f"run {r + 1}/{runs}")
            times.append(loop(n))
    finally:
        if gc_was_enabled:
            gc.enable()
    median = statistics.median(times)
    return {"iterations": n, "runs_s": times, "median_s": median,
            "per_5000_s": median * _T_SEED_ITERATIONS / n}


# --------------------------------------------------------------------------
# Worker processes: one per thread count


def _worker(spec: dict[str, Any]) -> int:
    """Entry point of a worker process: events on stdout, everything else on stderr."""
    events = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # libraries that print go to stderr, not into the event stream

    def emit(kind: str, text: str | None = None, **payload: Any) -> None:
        events.write(_MARK + json.dumps({"ev": kind, "text": text, **payload}) + "\n")
        events.flush()

    try:
        block = _run_threads(spec, emit)
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails loudly
        emit("error", traceback.format_exc())
        return 1
    emit("result", block=block)
    return 0


_WORKER_CODE = (
    "import json, os, sys\n"
    "spec = json.loads(sys.argv[1])\n"
    "if spec['cpus']:\n"
    "    os.sched_setaffinity(0, spec['cpus'])  # before any library sizes its thread pool\n"
    "sys.path[:] = spec['sys_path']\n"
    "from fastpool_bench.suite import _worker\n"
    "sys.exit(_worker(spec))\n"
)


def _idle_cpus(count: int) -> list[int] | None:
    """The ``count`` usable CPUs that other processes keep least busy (from
    ``/proc/stat`` over a quarter of a second), or None when there is nothing to
    choose (``count`` covers every usable CPU) or no way to (not Linux)."""
    try:
        usable = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None
    if count >= len(usable):
        return None

    def sample() -> dict[int, tuple[int, int]]:
        ticks = {}
        with open("/proc/stat", encoding="ascii") as f:
            for line in f:
                name, *values = line.split()
                if name.startswith("cpu") and name[3:].isdigit():
                    v = [int(x) for x in values[:8]]
                    ticks[int(name[3:])] = (sum(v), v[3] + v[4])
        return ticks

    try:
        before = sample()
        time.sleep(0.25)
        after = sample()
        idle = {c: (after[c][1] - before[c][1]) / max(after[c][0] - before[c][0], 1)
                for c in usable}
    except (OSError, ValueError, KeyError):
        return usable[:count]
    return sorted(sorted(usable, key=lambda c: -idle[c])[:count])


def _spawn(spec: dict[str, Any], progress: _Progress) -> dict[str, Any]:
    """Run one thread count in a fresh process (XLA and TensorFlow fix their threads at
    import); relay its progress; return its results."""
    t = spec["threads"]
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER_CODE, json.dumps(spec)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
            env=_worker_env(t), text=True, encoding="utf-8", errors="replace",
        )
        block, failure, other = None, None, []
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if not line.startswith(_MARK):
                    other.append(line)  # e.g. an editable install rebuilding
                    continue
                event = json.loads(line[len(_MARK):])
                if event["ev"] == "result":
                    block = event["block"]
                elif event["ev"] == "error":
                    failure = event["text"]
                else:
                    progress.event(event["ev"], event["text"])
            status = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if block is None or status != 0:
            err.seek(0)
            log = "".join(other[-20:]) + err.read()[-4000:]
            raise SuiteError(f"the worker process for threads={t} failed (exit status "
                             f"{status}):\n{failure or ''}{log}".rstrip())
    return block


# --------------------------------------------------------------------------
# The run


def _threads(text: str | None) -> list[int]:
    if text is None:
        return sorted({1, _usable_cores()})
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--threads: expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise ValueError(f"--threads: expected positive integers, got {text!r}")
    return list(dict.fromkeys(values))


def _peer_families(text: str | None, no_torch: bool) -> tuple[str, ...]:
    if text is None or text.strip() == "all":
        families = list(_FAMILIES)
    elif text.strip() == "none":
        families = []
    else:
        families = [v.strip() for v in text.split(",") if v.strip()]
        unknown = [f for f in families if f not in _FAMILIES]
        if unknown or not families:
            raise ValueError(f"--peers: expected 'all', 'none' or a comma-separated list of "
                             f"{', '.join(_FAMILIES)}; got {text!r}")
    if no_torch:
        families = [f for f in families if f != "torch"]
    return tuple(dict.fromkeys(families))


def _matplotlib_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


@dataclass(frozen=True)
class _Options:
    mode: str
    workloads: list[Workload]
    threads: list[int]
    repeat: int
    use_out: bool
    peers: tuple[str, ...]
    quiet: bool
    in_process: bool
    plot: str | None


def _options(args: argparse.Namespace) -> _Options:
    """Validate the parsed options; ``ValueError`` names the one at fault."""
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    repeat = args.repeat if args.repeat is not None else _REPEAT[mode]
    if repeat < 1:
        raise ValueError(f"--repeat: expected a positive integer, got {repeat}")
    plot = getattr(args, "plot", None)
    if plot and not _matplotlib_available():
        raise ValueError("--plot needs matplotlib, which is not installed: pip install "
                         "matplotlib (or pip install 'fastpool[bench]')")
    return _Options(mode, _select(args.only), _threads(args.threads), repeat,
                    use_out=not args.alloc, peers=_peer_families(args.peers, args.no_torch),
                    quiet=args.quiet, in_process=args.in_process, plot=plot)


def run(args: argparse.Namespace, *, progress_stream: TextIO | None = None) -> dict[str, Any]:
    """Run the suite with the parsed options and return the report (JSON-ready).

    Raises ``ValueError`` for an invalid option, before anything runs, and
    :class:`SuiteError` when a worker process fails.
    """
    opts = _options(args)
    machine = _machine()
    has_seed = any(w.kind == "seed" for w in opts.workloads)
    progress = _Progress(len(opts.threads) * (1 + len(opts.workloads) + has_seed),
                         progress_stream, enabled=not opts.quiet)
    blocks = []
    try:
        for t in opts.threads:
            spec = {
                "threads": t,
                # A worker for fewer threads than cores runs on that many CPUs: thread
                # settings alone do not hold every library to t threads (XLA's do not).
                "cpus": None if opts.in_process else _idle_cpus(t),
                "mode": opts.mode,
                "workloads": [w.name for w in opts.workloads],
                "repeat": opts.repeat,
                "use_out": opts.use_out,
                "peers": list(opts.peers),
                "reference": t == opts.threads[0],
                "sys_path": list(sys.path),
            }
            blocks.append(_run_threads(spec, progress.event) if opts.in_process
                          else _spawn(spec, progress))
    finally:
        progress.close()
    machine["busy_cores_after"] = _busy_cores()
    machine["load_average_after"] = _load_average()
    return _assemble(opts, machine, blocks)


def _geomean(values: Sequence[float]) -> float | None:
    return math.exp(statistics.fmean(math.log(v) for v in values)) if values else None


def _assemble(opts: _Options, machine: dict[str, Any],
              blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """The report: every row with its ratios, the peers, the summary and the targets."""
    first = blocks[0]
    first_rows = {r["workload"]: r for r in first["rows"]}
    rows: list[dict[str, Any]] = []
    mismatches: list[dict[str, Any]] = []
    for block in blocks:
        for row in block["rows"]:
            if block is not first:
                base = first_rows[row["workload"]]
                same = row["digest"] == base["digest"]
                row["checks"]["threads"] = "ok" if same else "mismatch"
                if not same:
                    row["check_details"]["threads"] = (
                        f"fastpool's output differs from its output at threads={first['threads']}")
                if same and "reference" in base["checks"]:
                    # Same bits as at the first thread count: the reference's verdict holds.
                    row["checks"]["reference"] = base["checks"]["reference"]
                    row["reference_checked_on"] = base["reference_checked_on"]
                if "reference" in base["timings"]:
                    row["timings"]["reference"] = base["timings"]["reference"]
            for peer, detail in row["check_details"].items():
                if peer != "reference" or block is first:
                    mismatches.append({"workload": row["workload"], "threads": row["threads"],
                                       "peer": peer, "detail": detail})
            rows.append(row)
    order = {w.name: i for i, w in enumerate(opts.workloads)}
    rows.sort(key=lambda r: (order.get(r["workload"], len(order)), r["threads"]))

    copy = {b["threads"]: b["copy_bandwidth"] for b in blocks}
    for row in rows:
        _derive(row, copy[row["threads"]]["gb_per_s"])

    peers_info = first["peers"]
    columns = [k for k in PEERS if "version" in peers_info.get(_FAMILY_OF[k], {})]
    report: dict[str, Any] = {
        "schema": 2,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mode": opts.mode,
        "repeat": opts.repeat,
        "threads": opts.threads,
        "out_buffers": opts.use_out,
        "in_process": opts.in_process,
        "reference_budget_s": REFERENCE_BUDGET_S[opts.mode],
        "machine": machine,
        "peers": {str(b["threads"]): b["peers"] for b in blocks},
        "cpus": {str(b["threads"]): b["cpus"] for b in blocks},
        "peer_columns": columns,
        "copy_bandwidth": [copy[t] for t in opts.threads],
        "seed_loop": [dict(b["seed_loop"], threads=b["threads"]) for b in blocks
                      if b["seed_loop"] is not None],
        "results": rows,
        "mismatches": mismatches,
        "notes": [],
    }
    report["summary"] = _summarize(report)
    report["targets"] = _targets(report)
    report["notes"] = _run_notes(report, opts)
    return report


def _derive(row: dict[str, Any], copy_gbs: float) -> None:
    """Speed-ups, the fastest peer, the PyTorch baseline, GB/s and % of copy of a row."""
    tm = row["timings"]
    fast = tm["fastpool"]["median_ms"]
    row["speedup"] = {k: v["median_ms"] / fast for k, v in tm.items() if k != "fastpool"}
    # A peer timed without a comparison (it computes something else) is no baseline.
    loose = set(row.get("not_compared", ()))
    peers = {k: tm[k]["median_ms"] for k in PEERS
             if k in tm and k not in loose and k not in _NOT_CONTENDERS}
    best = min(peers, key=peers.__getitem__) if peers else None
    row["fastest_peer"] = best
    row["speedup_fastest"] = peers[best] / fast if best else None
    # PyTorch on the workload's own memory layout: the baseline of the "vs torch" targets
    # (which, for the NHWC workload w4, is PyTorch on channels_last memory).
    base = "torch_cl" if row["channels_last"] else "torch"
    row["torch_baseline"] = base
    row["speedup_torch"] = None if base in loose else row["speedup"].get(base)
    row["gb_per_s"] = row["bytes"] / (fast * 1e-3) / 1e9
    row["fraction_of_copy"] = row["gb_per_s"] / copy_gbs if copy_gbs else None


def _geomean_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the geomean targets: w1..w12 (w5: six rows, w7: two)."""
    return [r for r in rows if r["group"] == "issue" and r["kind"] != "seed"]


def _summarize(report: dict[str, Any]) -> dict[str, Any]:
    rows, threads = report["results"], report["threads"]
    per_threads: dict[str, Any] = {}
    for t in threads:
        rs = [r for r in rows if r["threads"] == t]
        geo = _geomean_rows(rs)
        fastest = [r["speedup_fastest"] for r in geo if r["speedup_fastest"]]
        torch = [r["speedup_torch"] for r in geo if r["speedup_torch"]]
        w5: dict[str, dict[str, Any]] = {}
        for r in rs:
            if r["params"].get("series") == "w5":
                entry = w5.setdefault("×".join(map(str, r["shape"])), {})
                entry[f"k{r['params']['kernel'][0]}_ms"] = r["timings"]["fastpool"]["median_ms"]
        for entry in w5.values():
            if "k5_ms" in entry and "k13_ms" in entry:
                entry["k13_over_k5"] = entry["k13_ms"] / entry["k5_ms"]
        seed = next((r for r in rs if r["kind"] == "seed"), None)
        loop = next((s for s in report["seed_loop"] if s["threads"] == t), None)
        judged = [r for r in rs if r["group"] in _JUDGED and r["speedup_fastest"]]
        slowest = min(judged, key=lambda r: r["speedup_fastest"]) if judged else None
        per_threads[str(t)] = {
            "geomean_vs_fastest": _geomean(fastest),
            "geomean_vs_fastest_rows": len(fastest),
            "geomean_vs_torch": _geomean(torch),
            "geomean_vs_torch_rows": len(torch),
            "geomean_rows": len(geo),
            "slowest_vs_fastest": ({"workload": slowest["workload"],
                                    "speedup": slowest["speedup_fastest"],
                                    "peer": slowest["fastest_peer"]} if slowest else None),
            "w5": w5,
            "seed_speedup_torch": seed["speedup_torch"] if seed else None,
            "seed_loop_s": loop["per_5000_s"] if loop else None,
            "seed_loop_iterations": loop["iterations"] if loop else None,
            "copy_gb_per_s": next(c["gb_per_s"] for c in report["copy_bandwidth"]
                                  if c["threads"] == t),
        }
    scaling = []
    if 1 in threads and 2 in threads:
        copy2 = per_threads["2"]["copy_gb_per_s"]
        one = {r["workload"]: r for r in rows if r["threads"] == 1}
        for r in rows:
            if r["threads"] != 2 or r["workload"] not in one:
                continue
            r1 = one[r["workload"]]
            speedup = r1["timings"]["fastpool"]["median_ms"] / r["timings"]["fastpool"]["median_ms"]
            limited = max(r1["gb_per_s"], r["gb_per_s"]) >= _T_COPY_FRACTION * copy2
            scaling.append({"workload": r["workload"], "group": r["group"],
                            "t1_ms": r1["timings"]["fastpool"]["median_ms"],
                            "t2_ms": r["timings"]["fastpool"]["median_ms"],
                            "speedup": speedup, "bandwidth_limited": limited,
                            "met": limited or speedup >= _T_SCALING})
    return {"per_threads": per_threads, "scaling": scaling}


def _near(value: float, goal: float, percent: bool = False) -> str:
    """``value`` as a ratio (or a percentage), with one more digit where rounding would
    hide on which side of ``goal`` it lies."""
    scale, unit, digits = (100.0, "%", 0) if percent else (1.0, "×", 2)
    if (round(value * scale, digits) == round(goal * scale, digits)) and value != goal:
        digits += 1
    return f"{value * scale:.{digits}f}{unit}"


def _targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The performance targets, each with a verdict per thread count (None: not evaluated)."""
    rows, summary = report["results"], report["summary"]
    targets: list[dict[str, Any]] = []

    def verdict(met: bool | None, value: str) -> dict[str, Any]:
        return {"met": met, "value": value}

    def add(key: str, text: str, per_t: dict[str, dict[str, Any]]) -> None:
        targets.append({"id": key, "target": text, "by_threads": per_t})

    every, geo_f, geo_t, bw, w5_ratio, w5_fast, seed_t, seed_loop = ({} for _ in range(8))
    for t in report["threads"]:
        key = str(t)
        s = summary["per_threads"][key]
        rs = [r for r in rows if r["threads"] == t]
        judged = [r for r in rs if r["group"] in _JUDGED and r["speedup_fastest"]]
        slow = [r for r in judged if r["speedup_fastest"] < 1.0]
        every[key] = (verdict(None, "no peer timed") if not judged else verdict(
            not slow, ", ".join(f"`{r['workload']}` {_near(r['speedup_fastest'], 1.0)}"
                                for r in slow) or f"all {len(judged)} rows"))
        for store, value, goal, n_key in (
                (geo_f, s["geomean_vs_fastest"], _T_GEOMEAN_FASTEST, "geomean_vs_fastest_rows"),
                (geo_t, s["geomean_vs_torch"], _T_GEOMEAN_TORCH, "geomean_vs_torch_rows")):
            n, total = s[n_key], s["geomean_rows"]
            of = "" if n == total else f" ({n} of {total} rows have a peer)"
            store[key] = (verdict(None, "no peer timed") if value is None
                          else verdict(value >= goal and n == total, f"{_near(value, goal)}{of}"))
        mem = [r for r in rs if r["memory_bound"] and r["fraction_of_copy"] is not None]
        low = [r for r in mem if r["fraction_of_copy"] < _T_COPY_FRACTION]
        if mem:
            worst = min(mem, key=lambda r: r["fraction_of_copy"])
            frac = partial(_near, goal=_T_COPY_FRACTION, percent=True)
            bw[key] = verdict(not low, ", ".join(f"`{r['workload']}` {frac(r['fraction_of_copy'])}"
                                                 for r in low)
                              or f"lowest {frac(worst['fraction_of_copy'])} "
                                 f"(`{worst['workload']}`)")
        else:
            bw[key] = verdict(None, "no memory-bound row")
        ratios = {shape: e["k13_over_k5"] for shape, e in s["w5"].items() if "k13_over_k5" in e}
        w5_ratio[key] = (verdict(None, "w5 k5 and k13 not both run") if not ratios else verdict(
            all(v <= _T_W5_K_RATIO for v in ratios.values()),
            ", ".join(f"{shape}: {_near(v, _T_W5_K_RATIO).rstrip('×')}"
                      for shape, v in ratios.items())))
        w5_rows = [r for r in rs if r["params"].get("series") == "w5" and r["speedup_fastest"]]
        if w5_rows:
            worst = min(w5_rows, key=lambda r: r["speedup_fastest"])
            w5_fast[key] = verdict(worst["speedup_fastest"] >= _T_W5_FASTEST,
                                   f"lowest {_near(worst['speedup_fastest'], _T_W5_FASTEST)} "
                                   f"(`{worst['workload']}`)")
        else:
            w5_fast[key] = verdict(None, "no peer timed")
        st = s["seed_speedup_torch"]
        seed_t[key] = (verdict(None, "PyTorch not timed") if st is None
                       else verdict(st >= _T_SEED_TORCH, _near(st, _T_SEED_TORCH)))
        sl = s["seed_loop_s"]
        seed_loop[key] = (verdict(None, "seed not run") if sl is None else verdict(
            sl < _T_SEED_LOOP_S,
            f"{sl:.3f} s" + ("" if s["seed_loop_iterations"] == _T_SEED_ITERATIONS
                             else f" (from {s['seed_loop_iterations']} iterations)")))
    add("every_workload", "every workload at least as fast as the fastest peer", every)
    add("geomean_fastest", f"geomean over w1–w12 ≥ {_T_GEOMEAN_FASTEST:g}× the fastest peer",
        geo_f)
    add("geomean_torch", f"geomean over w1–w12 ≥ {_T_GEOMEAN_TORCH:g}× PyTorch", geo_t)
    add("bandwidth", f"memory-bound forwards ≥ {_T_COPY_FRACTION:.0%} of the copy bandwidth",
        bw)
    add("w5_ratio", f"w5: time for k=13 ≤ {_T_W5_K_RATIO:g} × time for k=5", w5_ratio)
    add("w5_fastest", f"w5: ≥ {_T_W5_FASTEST:g}× the fastest peer", w5_fast)
    add("seed_torch", f"seed: ≥ {_T_SEED_TORCH:g}× faster than PyTorch", seed_t)
    add("seed_loop", f"seed: {_T_SEED_ITERATIONS} iterations in under {_T_SEED_LOOP_S:g} s",
        seed_loop)
    scaling = [s for s in summary["scaling"] if s["group"] in _JUDGED]
    column = "2" if 2 in report["threads"] else str(report["threads"][-1])
    if scaling:
        slow = [s for s in scaling if not s["met"]]
        value = verdict(not slow, ", ".join(f"`{s['workload']}` {_near(s['speedup'], _T_SCALING)}"
                                            for s in slow) or f"all {len(scaling)} rows")
    else:
        value = verdict(None, "needs --threads 1,2")
    add("scaling", f"2 threads ≥ {_T_SCALING:g}× faster than 1 where not at the bandwidth limit",
        {column: value})
    return targets


def _run_notes(report: dict[str, Any], opts: _Options) -> list[str]:
    """Warnings and facts about this run that the table alone would hide."""
    notes = []
    info = report["machine"]["fastpool"]
    if not info["openmp"] and max(opts.threads) > 1:
        notes.append("fastpool was built without OpenMP: it runs one thread at every "
                     "thread count.")
    if max(opts.threads) > _usable_cores():
        notes.append(f"More threads than the {_usable_cores()} usable cores were asked for: "
                     "those rows measure oversubscription.")
    for t, cpus in report.get("cpus", {}).items():
        if cpus:
            notes.append(f"The threads={t} worker ran on CPU{'s' if len(cpus) > 1 else ''} "
                         f"{', '.join(map(str, cpus))} only (the least busy when it started).")
    # Why a peer shows "—", once per reason.
    reasons: dict[tuple[str, str], list[str]] = {}
    for row in report["results"]:
        if row["threads"] != opts.threads[0]:
            continue
        for peer, why in row["unavailable"].items():
            names = reasons.setdefault((peer, why), [])
            if row["workload"] not in names:
                names.append(row["workload"])
    for (peer, why), names in reasons.items():
        if peer in report["peer_columns"]:
            notes.append(f"{PEERS[peer]} — on {', '.join(f'`{n}`' for n in names)}: {why}.")
    # A peer that used more cores than it was given.
    heavy: dict[tuple[str, int], float] = {}
    for row in report["results"]:
        for name, tm in row["timings"].items():
            if name in PEERS and tm.get("cores_busy", 0) > row["threads"] + 0.5:
                k = (name, row["threads"])
                heavy[k] = max(heavy.get(k, 0.0), tm["cores_busy"])
    for (name, t), used in heavy.items():
        notes.append(f"{PEERS[name]} kept up to {used:.1f} cores busy at threads={t}: it does "
                     "not keep to the thread count it was given.")
    m = report["machine"]
    busy = max((v for v in (m["busy_cores_before"], m.get("busy_cores_after"))
                if v is not None), default=None)
    if busy is not None and busy >= _BUSY_WARNING:
        notes.append(f"Other processes kept about {busy:.1f} of {os.cpu_count()} cores busy "
                     "around the run: rows whose thread count exceeds the idle cores measure "
                     "that contention, not the kernels; rerun on an idle machine to compare "
                     "thread counts.")
    return notes


# --------------------------------------------------------------------------
# Markdown


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _ratio(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}×" if value >= 10 else f"{value:.2f}×"


def _dtype_short(dtype: str) -> str:
    return {"float16": "f16", "float32": "f32", "float64": "f64", "uint8": "u8"}.get(dtype, dtype)


def _check_cell(row: dict[str, Any]) -> str:
    checks = row["checks"]
    bad = [("ref" if k == "reference" else "t=1" if k == "threads" else PEERS[k])
           for k, v in checks.items() if v == "mismatch"]
    if bad:
        return "**MISMATCH: " + ", ".join(bad) + "**"
    ok = [k for k, v in checks.items() if v == "ok"]
    loose = ", ".join(PEERS[k] for k in row.get("not_compared", []))
    if not ok:
        return f"— ({loose} not compared)" if loose else "—"
    text = "ok"
    if "reference" in ok and row["reference_checked_on"] not in (None, "full"):
        text += f", ref on {row['reference_checked_on']}"
    if "threads" in ok:
        text += ", = t=1"
    if loose:
        text += f"; {loose} not compared"
    return text


def _table(rows: list[dict[str, Any]], columns: list[str]) -> list[str]:
    head = (["workload", "operator · input", "threads", "fastpool ms"]
            + [f"{PEERS[k]} ms" for k in columns]
            + ["NumPy ref ms", "fastest peer", "vs fastest", "vs torch", "GB/s", "% of copy",
               "check"])
    align = ["---", "---", "--:", "--:"] + ["--:"] * len(columns) + ["--:", "---", "--:", "--:",
                                                                      "--:", "--:", "---"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for row in rows:
        tm = row["timings"]
        shape = "×".join(map(str, row["shape"]))
        cells = [f"`{row['workload']}`",
                 f"{row['operator']} · {shape} {_dtype_short(row['dtype'])} {row['layout']}",
                 str(row["threads"]), _ms(tm["fastpool"]["median_ms"])]
        for key in columns:
            if key in tm:
                cells.append(_ms(tm[key]["median_ms"]))
            elif row["checks"].get(key) == "mismatch":
                cells.append("**MISMATCH**")
            else:
                cells.append("—")
        frac = row["fraction_of_copy"]
        cells += [
            _ms(tm["reference"]["median_ms"]) if "reference" in tm else "—",
            PEERS[row["fastest_peer"]] if row["fastest_peer"] else "—",
            _ratio(row["speedup_fastest"]),
            _ratio(row["speedup_torch"]),
            f"{row['gb_per_s']:.1f}",
            "—" if frac is None else f"{frac:.0%}" + (" †" if row["memory_bound"] else ""),
            _check_cell(row),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _peer_label_lines(rows: list[dict[str, Any]], first: int) -> list[str]:
    """What each peer column runs, per workload (the compositions of a group's table)."""
    lines = []
    for row in rows:
        labels = row.get("peer_labels") or {}
        if row["threads"] != first or not labels:
            continue
        parts = [f"{PEERS[k]}: {labels[k]}" for k in PEERS if k in labels]
        lines.append(f"- `{row['workload']}`: " + "; ".join(parts))
    return ["", "Columns, per row:", "", *lines] if lines else []


def _memory_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The peak-memory table of the rows that measured it (NetVLAD)."""
    measured = [r for r in rows if r.get("memory")]
    if not measured:
        return []
    names = {"fastpool": "fastpool", **PEERS}
    impls = [i for i in names if any(i in r["memory"]["peaks"] for r in measured)]
    how = {"fastpool": "tracemalloc", "numpy": "tracemalloc"}
    lines = ["", ("Peak memory of one call at one thread, MiB (the backward row's call is "
                  "forward + backward, as in a training step): fastpool (its workspace is a "
                  "NumPy array) and the NumPy composition by tracemalloc's peak over the "
                  "call, in the worker; each PyTorch composition, whose allocator "
                  "tracemalloc cannot see, by the growth of the peak RSS (`VmHWM`, reset "
                  "through `/proc/self/clear_refs`) over one call, after a warm-up on a 2×2 "
                  "input, both in one fresh process, the `bmm` one first: in full runs "
                  "only (the process costs seconds)."),
             "",
             "| workload | " + " | ".join(f"{names[i]} ({how.get(i, 'RSS')})" for i in impls)
             + " | input x | fastpool workspace | N×K×D×HW residual |",
             "|---|" + "--:|" * (len(impls) + 3)]

    def cell(entry: dict[str, Any] | None) -> str:
        if not entry:
            return "—"
        if "error" in entry:
            return f"failed ({entry['error']})"
        value = entry.get("tracemalloc_mib", entry.get("rss_mib"))
        return "—" if value is None else f"{value:.1f}"

    for r in measured:
        m = r["memory"]
        lines.append(f"| `{r['workload']}` | "
                     + " | ".join(cell(m["peaks"].get(i)) for i in impls)
                     + f" | {m['input_mib']:.1f} | {m['fastpool_workspace_mib']:.1f} | "
                       f"{m['residual_tensor_mib']:.1f} |")
    return lines


def _verdict_cell(v: dict[str, Any] | None) -> str:
    if v is None:
        return ""
    if v["met"] is None:
        return f"not evaluated ({v['value']})"
    return ("met" if v["met"] else "**not met**") + f": {v['value']}"


def _summary_lines(report: dict[str, Any]) -> list[str]:
    threads = report["threads"]
    per = report["summary"]["per_threads"]
    lines = ["| | " + " | ".join(f"threads={t}" for t in threads) + " |",
             "|---|" + "--:|" * len(threads)]

    def line(label: str, fn: Callable[[dict[str, Any]], str]) -> None:
        lines.append(f"| {label} | " + " | ".join(fn(per[str(t)]) for t in threads) + " |")

    n_rows = per[str(threads[0])]["geomean_rows"]
    rows = f"{n_rows} row{'' if n_rows == 1 else 's'}"
    line(f"geomean speed-up vs the fastest peer, w1–w12 ({rows})",
         lambda s: _ratio(s["geomean_vs_fastest"]))
    line(f"geomean speed-up vs PyTorch, w1–w12 ({rows})",
         lambda s: _ratio(s["geomean_vs_torch"]))
    line("slowest row vs its fastest peer (w*, seed)",
         lambda s: "—" if not s["slowest_vs_fastest"] else
         f"`{s['slowest_vs_fastest']['workload']}` {_ratio(s['slowest_vs_fastest']['speedup'])}"
         f" ({PEERS[s['slowest_vs_fastest']['peer']]})")
    shapes = list(dict.fromkeys(k for t in threads for k in per[str(t)]["w5"]))
    for shape in shapes:
        line(f"w5 time k=13 ÷ time k=5, {shape}",
             lambda s, shape=shape: "—" if "k13_over_k5" not in s["w5"].get(shape, {})
             else f"{s['w5'][shape]['k13_over_k5']:.2f}")
    line(f"seed: {_T_SEED_ITERATIONS} iterations (loop, median)",
         lambda s: "—" if s["seed_loop_s"] is None else f"{s['seed_loop_s']:.3f} s")
    line("seed speed-up vs PyTorch", lambda s: _ratio(s["seed_speedup_torch"]))
    line("copy bandwidth (`np.copyto`, this many threads)",
         lambda s: f"{s['copy_gb_per_s']:.1f} GB/s")
    return lines


def _targets_lines(report: dict[str, Any]) -> list[str]:
    threads = report["threads"]
    lines = ["| target | " + " | ".join(f"threads={t}" for t in threads) + " |",
             "|---|" + "---|" * len(threads)]
    for target in report["targets"]:
        cells = [_verdict_cell(target["by_threads"].get(str(t))) for t in threads]
        lines.append(f"| {target['target']} | " + " | ".join(cells) + " |")
    return lines


def _scaling_lines(report: dict[str, Any]) -> list[str]:
    lines = [("| workload | threads=1 ms | threads=2 ms | speed-up | at the bandwidth limit "
              "| ≥ 1.6× or limited |"), "|---|--:|--:|--:|---|---|"]
    for s in report["summary"]["scaling"]:
        extra = "" if s["group"] in _JUDGED else f" ({s['group']})"
        lines.append(f"| `{s['workload']}`{extra} | {_ms(s['t1_ms'])} | {_ms(s['t2_ms'])} | "
                     f"{_ratio(s['speedup'])} | {'yes' if s['bandwidth_limited'] else 'no'} | "
                     f"{'yes' if s['met'] else '**no**'} |")
    return lines


_NOTES = """\
Notes:

- Times are medians of {repeat} round-robin rounds, after a check and a warm-up; a sample \
repeats the call until it lasts at least {min_sample_ms:g} ms and is divided back to one call. \
{processes}
- vs fastest, vs torch: the peer's time over fastpool's (above 1× fastpool is faster). \
"fastest peer" is the fastest framework peer of the row (the NumPy reference excluded). \
"vs torch" is PyTorch on the workload's own memory layout: NCHW, or channels_last for the \
NHWC rows (for w4, an NHWC input, that is PyTorch on channels_last memory).
- {buffers}
- Every peer gets its input already in the layout it is fastest in (converted once, before \
timing): torch NCHW contiguous NCHW; torch CL channels_last memory (PyTorch has none for \
1-D); ONNX Runtime NCHW (its CPU pooling kernels have no NHWC variant); JAX and TensorFlow \
channels-last (N, …, C). The backward rows call ATen's backward kernels directly; JAX's \
backward is `jax.vjp` of the pooling (it recomputes the forward: JAX has no indices).
- Threads: fastpool `num_threads=t`; PyTorch `torch.set_num_threads(t)`; ONNX Runtime \
`intra_op_num_threads=t`, `inter_op_num_threads=1`, sequential; JAX at t=1 \
`XLA_FLAGS="{xla}"` set before import, at t≥2 XLA's default pool; TensorFlow \
`set_intra_op_parallelism_threads(t)`, inter-op 1. A worker for fewer threads than usable \
cores is also confined to that many CPUs (`sched_setaffinity`, the least busy ones, before \
any library starts), because thread settings alone do not hold every library to t threads: \
XLA's flags do not.
- NumPy ref: `fastpool.reference`, single-threaded, timed once per workload (at the first \
thread count; the same median on every row) where one call takes less than {budget:g} s, else \
"—"; where a probe on a slice (one batch element, or 1/16 of the channels when the batch \
is one) predicts a longer call, the reference checks fastpool on that slice only ("ref on" \
its shape).
- GB/s: the bytes of every input read once and every output written once, over fastpool's \
time; % of copy sets it against the copy bandwidth at the same thread count; † marks the \
memory-bound forwards (target ≥ 80 %).
- check: every peer's output and the reference's are compared with fastpool's before timing \
(max pooling and indices exactly; averages `allclose`, float32 rtol 1e-5 / atol 1e-6, float64 \
rtol 1e-12); a peer that differs is reported and not timed. "= t=1": fastpool's output at this \
thread count is bit-identical to its output at the first one."""

_GROUP_NOTES = {
    "special": """\
About this table: each row's columns are the obvious compositions of the operator in \
PyTorch (NCHW tensors; "torch alt" a second one) and in NumPy ("NumPy comp.", its BLAS \
held to t threads by threadpoolctl where installed), listed above; "fastest peer" and \
"vs fastest" include them all. Each is checked against fastpool before timing: exactly \
where both select (median, max, SPP, YOLO SPP, stochastic training against the NumPy \
reference, which draws the same counter-based uniforms), else `allclose` with rtol 1e-5 \
(float32) or the row's own tolerance for long sums (mixed backward rtol 1e-4; bilinear \
rtol 1e-4, backward 1e-3; NetVLAD rtol 1e-3; atol as a fraction of the largest |value|). \
Stochastic *training* has no equivalent anywhere (other generators draw other \
uniforms): its torch column is PyTorch's *inference* composition, timed only as a \
reference point, and its NumPy column draws its own uniforms: both "not compared", left \
out of "fastest peer" and "vs torch". The PyTorch backward columns are \
`torch.autograd.grad` on a graph built once (`retain_graph=True`): only the backward \
runs, from what autograd saved; fastpool's backward functions that take `x` (YOLO SPP, \
SPP, mixed, bilinear, NetVLAD) recompute what they need from it inside the timed call, \
the median backward starts from the forward's indices.""",
    "dtype": """\
About this table: fastpool's uint8 average asks for a uint8 result (`dtype=np.uint8`: \
round half to even, saturated; SPEC §4.3, §4.13), the image-pyramid case; "torch alt" is \
the PyTorch way to get the same bytes (`x.float()` → `F.avg_pool2d` → `round()` → uint8). \
PyTorch CPU has no uint8 `avg_pool2d` (so "—") and, on this version, its channels_last \
uint8 `max_pool2d` refuses inputs whose C·H·W is large (the notes give its message). \
Checks: max exactly; the uint8 average exactly; float16 averages `allclose` rtol 1e-3 / \
atol 1e-3. The NumPy reference runs in float64 and is cast back (rounded half to even \
for uint8).""",
}

_PROCESSES = {
    False: "Each thread count runs in its own process (every implementation of a row, "
           "round-robin, in that one process), because JAX and TensorFlow fix their thread "
           "pools when they are imported.",
    True: "Every thread count ran in this one process (`--in-process`): JAX and TensorFlow "
          "kept the thread pools they started with.",
}

_OUT_BUFFERS = {
    True: "fastpool writes into `out=` (and `indices_out=`) buffers allocated once per "
          "workload, as a backend reusing its activation buffers would; ONNX Runtime runs "
          "through an IO binding into a preallocated output too; PyTorch's functional API, "
          "JAX and TensorFlow allocate their outputs on every call.",
    False: "fastpool allocates its outputs on every call (`--alloc`), as PyTorch does; ONNX "
           "Runtime still writes into a preallocated output (IO binding).",
}


def _peer_line(report: dict[str, Any]) -> str:
    info = report["peers"].get(str(report["threads"][0]), {})
    parts = []
    for family in _FAMILIES:
        entry = info.get(family)
        name = _FAMILY_NAMES[family]
        if entry is None:
            parts.append(f"{name} not asked for")
        elif "version" in entry:
            extra = f" (onnx {entry['onnx']})" if family == "ort" else ""
            parts.append(f"{name} {entry['version']}{extra}")
        else:
            missing = entry["unavailable"].startswith("ModuleNotFoundError")
            parts.append(f"{name} not installed" if missing
                         else f"{name} unavailable ({entry['unavailable']})")
    return "- peers: " + "; ".join(parts)


def format_markdown(report: dict[str, Any], *, title: bool = True) -> str:
    """The report as Markdown: a title line (optional), the machine, the tables, notes."""
    m = report["machine"]
    info = m["fastpool"]
    openmp = "on" if info["openmp"] else "off"
    load = [v for v in (m.get("load_average_before"), m.get("load_average_after")) if v]
    lines = []
    if title:
        lines += [f"**fastpool {info['version']} bench ({report['mode']}), {report['date']}**",
                  ""]
    lines += [
        f"- machine: {m['cpu_model'] or 'unknown CPU'}, {m['usable_cores']} usable cores "
        + f"({m['logical_cores']} logical); Python {m['python']}, NumPy {m['numpy']}",
        f"- fastpool {info['version']}: {info['build_type']} build, {info['compiler']}, "
        + f"`{info['c_flags'] or 'no flags'}`, OpenMP {openmp}"
        + (f", SIMD {info['simd']}" if info.get("simd") else ""),
        _peer_line(report),
        "- copy bandwidth (`np.copyto`, "
        + f"{report['copy_bandwidth'][0]['bytes'] / 1e6:.0f} MB float32): "
        + ", ".join(f"{c['gb_per_s']:.1f} GB/s at {c['threads']} thread"
                    + ("s" if c["threads"] > 1 else "") for c in report["copy_bandwidth"]),
    ]
    if load:
        lines.append("- load average (1, 5, 15 min) before / after the run: "
                     + " / ".join(", ".join(f"{v:.2f}" for v in la) for la in load))
    columns = report["peer_columns"]
    main = [r for r in report["results"] if r["group"] in _JUDGED]
    if main:
        lines += ["", "#### The main workloads (w1–w12, seed) and their NHWC variants", "",
                  *_table(main, [k for k in columns if k in _FRAMEWORK_PEERS])]
    for group, heading in _GROUP_TABLES.items():
        rows = [r for r in report["results"] if r["group"] == group]
        if not rows:
            continue
        if group == "extra":
            cols = [k for k in columns if k in _FRAMEWORK_PEERS]
        else:  # the columns some row of the group has (timed, "—" with a reason, or failed)
            cols = [k for k in columns if any(k in r["timings"] or k in r["unavailable"]
                                              or k in r["checks"] for r in rows)]
        lines += ["", f"#### {heading}", "", *_table(rows, cols)]
        lines += _peer_label_lines(rows, report["threads"][0])
        lines += _memory_lines(rows)
        if group in _GROUP_NOTES:
            lines += ["", _GROUP_NOTES[group]]
    lines += ["", "#### Summary", "", *_summary_lines(report),
              "", "#### Targets", "", *_targets_lines(report)]
    if report["summary"]["scaling"]:
        lines += ["", "#### 2 threads vs 1 thread (fastpool)", "", *_scaling_lines(report),
                  "", (f"At the bandwidth limit: the row reaches {_T_COPY_FRACTION:.0%} of "
                       "the 2-thread copy bandwidth at either thread count, so a second "
                       "thread cannot make it much faster.")]
    lines += ["", _NOTES.format(repeat=report["repeat"],
                                min_sample_ms=_MIN_SAMPLE_S[report["mode"]] * 1e3,
                                buffers=_OUT_BUFFERS[report["out_buffers"]],
                                xla=_XLA_ONE_THREAD, budget=report["reference_budget_s"],
                                processes=_PROCESSES[report["in_process"]])]
    lines += [f"- {n}" for n in report["notes"]]
    if report["mismatches"]:
        lines += ["", "**MISMATCH: an output differs from fastpool's:**", ""]
        lines += [f"- `{x['workload']}` threads={x['threads']}, "
                  f"{PEERS.get(x['peer'], x['peer'])}: {x['detail']}"
                  for x in report["mismatches"]]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# The plot


def plot(report: dict[str, Any], path: str) -> None:
    """Bars of fastpool's speed-up over each peer, per workload, one panel per thread count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    threads, columns = report["threads"], report["peer_columns"]
    names = list(dict.fromkeys(r["workload"] for r in report["results"]))
    width = 0.8 / max(len(columns), 1)
    fig, axes = plt.subplots(len(threads), 1, squeeze=False,
                             figsize=(max(10.0, 0.55 * len(names)), 4.5 * len(threads)))
    for ax, t in zip(axes[:, 0], threads):
        rows = {r["workload"]: r for r in report["results"] if r["threads"] == t}
        for j, key in enumerate(columns):
            xs, heights = [], []
            for i, name in enumerate(names):
                value = rows.get(name, {}).get("speedup", {}).get(key)
                if value:
                    xs.append(i + (j - (len(columns) - 1) / 2) * width)
                    heights.append(value)
            # Bars grow from 1× (up: fastpool faster, down: the peer faster).
            ax.bar(xs, [h - 1.0 for h in heights], width, bottom=1.0, label=PEERS[key])
        ax.axhline(1.0, color="black", linewidth=1.0)
        ax.set_yscale("log")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.set_ylabel("fastpool speed-up (peer ÷ fastpool)")
        ax.set_title(f"threads={t}")
        ax.grid(axis="y", which="both", alpha=0.3)
        if columns:
            ax.legend(fontsize=8, ncol=len(columns))
    info = report["machine"]["fastpool"]
    fig.suptitle(f"fastpool {info['version']} bench ({report['mode']}), {report['date']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------
# Command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The suite's options, shared by ``fastpool bench`` and ``bench/run.py``."""
    parser.add_argument("--quick", action="store_true",
                        help="smaller shapes: the whole run takes about a minute")
    parser.add_argument("--threads", metavar="LIST",
                        help="comma-separated thread counts (default: 1 and the usable cores)")
    parser.add_argument("--repeat", type=int, metavar="N",
                        help="round-robin rounds per measurement (default: 7, 5 with --quick)")
    parser.add_argument("--json", metavar="FILE",
                        help="also write every median, sample, ratio, verdict and the machine "
                             "info here")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="also draw fastpool's speed-up per workload and peer (matplotlib)")
    parser.add_argument("--only", metavar="NAMES",
                        help="comma-separated workload names or patterns, e.g. 'w1,w5_*' "
                             "(see --list)")
    parser.add_argument("--peers", metavar="LIST",
                        help="peers to time if installed: 'all' (default), 'none', or some of "
                             "torch,ort,jax,tf")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    parser.add_argument("--alloc", action="store_true",
                        help="let fastpool allocate its outputs on every call, like torch, "
                             "instead of reusing out= buffers")
    parser.add_argument("--no-torch", action="store_true",
                        help="leave PyTorch out (the same as leaving it out of --peers)")
    parser.add_argument("--in-process", action="store_true",
                        help="run every thread count in this process (no worker processes; "
                             "JAX and TensorFlow then keep their first thread pools)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bar on stderr")
    # Tiny shapes for the test suite: checks the plumbing, measures nothing useful.
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)


def _list_workloads(quick: bool, smoke: bool, file: TextIO) -> None:
    mode = "smoke" if smoke else "quick" if quick else "full"
    for w in WORKLOADS:
        shape = "×".join(map(str, w.shape(mode)))
        print(f"{w.name:<19} {w.group:<7} {w.operator:<52} {shape} {w.dtype} {w.layout}",
              file=file)


def run_command(args: argparse.Namespace, parser: argparse.ArgumentParser, *,
                on_report: Callable[[dict[str, Any], str], None] | None = None) -> int:
    """Run ``fastpool bench`` from options parsed by ``parser``.

    Prints the Markdown on stdout, writes ``--json`` and ``--plot`` if asked, and calls
    ``on_report(report, markdown)`` when given.  Returns the exit status: 0; 1 when an
    output differed from fastpool's; 3 when the suite itself failed.  An invalid
    option exits through ``parser.error`` (status 2).
    """
    if args.list:
        _list_workloads(args.quick, args.smoke, sys.stdout)
        for name, what, shapes in thread_scenarios.ROWS:
            shape = "×".join(map(str, shapes["smoke" if args.smoke else
                                             "quick" if args.quick else "full"]))
            print(f"{name:<19} {'threads':<7} {what:<52} {shape} float32 2 threads, 3 scenarios")
        return 0
    # The thread scenarios (mt_* rows, thread_scenarios) run after the suite: in every
    # full or quick run, or when --only names some of them.
    patterns = [p.strip() for p in (args.only or "").split(",") if p.strip()]
    scenario_rows = thread_scenarios.select(patterns or None)
    suite_patterns = [p for p in patterns if not thread_scenarios.select([p])]
    run_suite = not patterns or bool(suite_patterns)
    if patterns:
        args.only = ",".join(suite_patterns)
    elif args.smoke:
        scenario_rows = []
    try:
        _options(args)
    except ValueError as exc:
        parser.error(str(exc))
    report: dict[str, Any] = {"mismatches": []}
    markdown = ""
    if run_suite:
        try:
            report = run(args)
        except SuiteError as exc:
            print(f"fastpool bench: {exc}", file=sys.stderr)
            return 3
        markdown = format_markdown(report)
    if scenario_rows:
        mode = "smoke" if args.smoke else "quick" if args.quick else "full"
        if not args.quiet:
            print(f"fastpool bench: thread scenarios ({len(scenario_rows)} rows)...",
                  file=sys.stderr)
        report["thread_scenarios"] = thread_scenarios.run(mode, scenario_rows)
        markdown += "\n" + thread_scenarios.format_markdown(report["thread_scenarios"])
        mism = [r["name"] for r in report["thread_scenarios"]["rows"] if r["check"] == "MISMATCH"]
        report["mismatches"] = list(report.get("mismatches", [])) + mism
    sys.stdout.write(markdown)
    sys.stdout.flush()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2, ensure_ascii=False)
            f.write("\n")
    if args.plot and run_suite:
        plot(report, args.plot)
        print(f"fastpool bench: plot written to {args.plot}", file=sys.stderr)
    if on_report is not None and run_suite:
        on_report(report, markdown)
    if report["mismatches"]:
        print(f"fastpool bench: {len(report['mismatches'])} MISMATCH(ES) between fastpool "
              "and a peer; see the table.", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None, *, prog: str = "fastpool bench",
         on_report: Callable[[dict[str, Any], str], None] | None = None) -> int:
    """Parse ``argv`` as ``fastpool bench`` options, run the suite, return the exit status."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_command(parser.parse_args(argv), parser, on_report=on_report)
