"""Thread scenarios of ``fastpool bench``: 2-thread calls when a core is not free.

A backend library rarely has the machine to itself.  This section times a few
2-thread calls, for fastpool and for PyTorch's own operator, in three scenarios:

``alone``
    nothing else runs;
``busy core``
    another process spins on one core (a data loader, a second job);
``shared process``
    each timed call (fastpool's or PyTorch's) follows, untimed, one ONNX Runtime run
    and one PyTorch op, each with its default thread pool: what a backend lives next
    to.  (Both pools spin after they ran: ONNX Runtime's for tens of ms, PyTorch's
    OpenMP threads for milliseconds.)

Each scenario times the implementations in alternating blocks of calls, with a
pause between blocks, and keeps the median of ``calls`` timed calls; the slowdown is
the scenario's median over the alone median, measured in the same worker process.  Everything runs in one spawned worker, so the
peers start with their default pools and nothing of the parent process is shared.

The section alone, without the rest of the suite (MODE: full, quick or smoke; ROWS:
comma-separated row names or patterns, all rows by default)::

    python -m fastpool_bench.thread_scenarios [MODE [ROWS]]
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import statistics
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["ROWS", "format_markdown", "run", "select"]

#: name, description, shape per mode.  The first four are the rows of the busy-core target.
ROWS: tuple[tuple[str, str, dict[str, tuple[int, ...]]], ...] = (
    ("mt_max5", "max_pool2d 5×5/s1/p2",
     {"full": (8, 512, 20, 20), "quick": (8, 512, 20, 20), "smoke": (1, 8, 20, 20)}),
    ("mt_adaptive", "adaptive_avg_pool2d 14→7",
     {"full": (32, 512, 14, 14), "quick": (32, 512, 14, 14), "smoke": (1, 8, 14, 14)}),
    ("mt_max2", "max_pool2d 2×2/s2",
     {"full": (32, 64, 112, 112), "quick": (8, 64, 112, 112), "smoke": (1, 4, 16, 16)}),
    ("mt_max2_bwd", "max_pool2d backward 2×2/s2 (from indices)",
     {"full": (32, 64, 112, 112), "quick": (8, 64, 112, 112), "smoke": (1, 4, 16, 16)}),
    ("mt_max1d", "max_pool1d k3/s2",
     {"full": (64, 256, 4096), "quick": (16, 256, 4096), "smoke": (1, 4, 64)}),
)
#: The rows the busy-core geometric mean (the target) is taken over.
TARGET_ROWS = ("mt_max5", "mt_adaptive", "mt_max2", "mt_max2_bwd")
SCENARIOS = ("alone", "busy core", "shared process")
THREADS = 2
_CALLS = {"full": 25, "quick": 15, "smoke": 3}
_WARMUP = {"full": 5, "quick": 3, "smoke": 1}
_ROUNDS = 5
#: Between blocks of calls: longer than the spinning of PyTorch's and ONNX Runtime's pools.
_PAUSE_S = 0.1
#: The spinning process stops by itself after this long, whatever happens here.
_SPIN_LIMIT_S = 600.0


def _spin(ready: Any, limit: float) -> None:
    """Keep one core busy until terminated (or ``limit`` seconds have passed)."""
    ready.set()
    end = time.monotonic() + limit
    x = 0
    while time.monotonic() < end:
        for _ in range(10000):
            x += 1


def _ort_neighbour() -> Callable[[], Any] | None:
    """One small ONNX Runtime model with its default session options, or None."""
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper
    except ImportError:
        return None
    shape = [8, 64, 56, 56]
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2],
                            pads=[1, 1, 1, 1])
    graph = helper.make_graph([node], "neighbour",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).random(shape, dtype=np.float32)
    return lambda: sess.run(None, {"x": x})


def _cases(mode: str, torch: Any) -> list[dict[str, Any]]:
    import fastpool

    rng = np.random.default_rng(12)
    cases = []
    for name, what, shapes in ROWS:
        shape = shapes[mode]
        x = rng.standard_normal(shape, dtype=np.float32)
        impls: dict[str, Callable[[], Any]] = {}
        check: Callable[[], str] | None = None
        t = torch.from_numpy(x) if torch is not None else None
        if name == "mt_max5":
            impls["fastpool"] = lambda x=x: fastpool.max_pool2d(x, 5, 1, 2, num_threads=THREADS)
            if torch is not None:
                impls["torch"] = lambda t=t: torch.nn.functional.max_pool2d(t, 5, 1, 2)
        elif name == "mt_adaptive":
            impls["fastpool"] = lambda x=x: fastpool.adaptive_avg_pool2d(x, 7,
                                                                         num_threads=THREADS)
            if torch is not None:
                impls["torch"] = lambda t=t: torch.nn.functional.adaptive_avg_pool2d(t, 7)
        elif name == "mt_max2":
            impls["fastpool"] = lambda x=x: fastpool.max_pool2d(x, 2, num_threads=THREADS)
            if torch is not None:
                impls["torch"] = lambda t=t: torch.nn.functional.max_pool2d(t, 2)
        elif name == "mt_max2_bwd":
            y, idx = fastpool.max_pool2d(x, 2, return_indices=True)
            gy = rng.standard_normal(y.shape, dtype=np.float32)
            impls["fastpool"] = lambda gy=gy, idx=idx, s=x.shape: fastpool.max_pool2d_backward(
                gy, idx, s, num_threads=THREADS)
            if torch is not None:
                tgy, tidx = torch.from_numpy(gy), torch.from_numpy(idx)
                aten = torch.ops.aten.max_pool2d_with_indices_backward
                impls["torch"] = lambda tgy=tgy, t=t, tidx=tidx: aten(
                    tgy, t, [2, 2], [2, 2], [0, 0], [1, 1], False, tidx)
        elif name == "mt_max1d":
            impls["fastpool"] = lambda x=x: fastpool.max_pool1d(x, 3, 2, num_threads=THREADS)
            if torch is not None:
                impls["torch"] = lambda t=t: torch.nn.functional.max_pool1d(t, 3, 2)
        if "torch" in impls:
            def check(impls=impls) -> str:
                a = np.asarray(impls["fastpool"]())
                b = impls["torch"]().numpy()
                return "ok" if np.allclose(a, b, rtol=1e-5, atol=1e-6) else "MISMATCH"
        cases.append({"name": name, "what": f"{what} · {'×'.join(map(str, shape))} f32",
                      "impls": impls, "check": check})
    return cases


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def _measure(case: dict[str, Any], calls: int, warmup: int,
             before: dict[str, Callable[[], None]] | None) -> dict[str, float]:
    """Median ms per implementation; ``before[impl]`` runs untimed before each call.

    The implementations take turns in blocks of calls (``_ROUNDS`` rounds), with a
    pause between blocks so that one library's spinning pool (PyTorch's OpenMP threads
    spin for milliseconds after an op) does not run into the other's calls, except
    where a scenario puts it there on purpose (``before``)."""
    impls = case["impls"]
    samples: dict[str, list[float]] = {k: [] for k in impls}
    per_round = max(1, -(-calls // _ROUNDS))
    for key, fn in impls.items():
        for _ in range(warmup):
            if before is not None:
                before[key]()
            fn()
    for _ in range(_ROUNDS):
        for key, fn in impls.items():
            time.sleep(_PAUSE_S)
            for _ in range(per_round):
                if before is not None:
                    before[key]()
                t0 = time.perf_counter()
                fn()
                samples[key].append(time.perf_counter() - t0)
    return {k: _median_ms(v) for k, v in samples.items()}


def _worker(mode: str, names: list[str] | None, queue: Any) -> None:
    try:
        queue.put(("ok", _run_here(mode, names)))
    except BaseException:  # noqa: BLE001 - reported to the parent
        queue.put(("error", traceback.format_exc()))


def _run_here(mode: str, names: list[str] | None = None) -> dict[str, Any]:
    import fastpool

    try:
        import torch
        torch.set_num_threads(THREADS)
    except ImportError:
        torch = None
    ort_run = _ort_neighbour()
    calls, warmup = _CALLS[mode], _WARMUP[mode]
    cases = [c for c in _cases(mode, torch) if names is None or c["name"] in names]
    rows = []
    # shared process: the untimed neighbours of each timed call
    neighbours: list[str] = []
    torch_op = None
    if torch is not None:
        a = torch.rand(2_000_000)
        b = torch.rand(2_000_000)
        c = torch.empty(2_000_000)

        def torch_op() -> None:
            torch.add(a, b, out=c)

        neighbours.append("torch.add of 2M floats")
    if ort_run is not None:
        neighbours.insert(0, "ONNX Runtime MaxPool 3×3/s2 of 8×64×56×56")

    def run_neighbours() -> None:
        if ort_run is not None:
            ort_run()
        if torch_op is not None:
            torch_op()

    ctx = mp.get_context("spawn")
    for case in cases:
        row: dict[str, Any] = {"name": case["name"], "what": case["what"],
                               "check": case["check"]() if case["check"] else "—"}
        row["alone"] = _measure(case, calls, warmup, None)
        ready = ctx.Event()
        spinner = ctx.Process(target=_spin, args=(ready, _SPIN_LIMIT_S), daemon=True)
        spinner.start()
        try:
            ready.wait(30)
            time.sleep(0.2)
            row["busy core"] = _measure(case, calls, warmup, None)
        finally:
            spinner.terminate()
            spinner.join()
        before = {k: run_neighbours for k in case["impls"]}  # the same for every impl
        row["shared process"] = _measure(case, calls, warmup, before)
        rows.append(row)
    return {
        "threads": THREADS,
        "calls": calls,
        "rows": rows,
        "neighbours": neighbours,
        "torch": None if torch is None else torch.__version__,
        "ort": ort_run is not None,
        "fastpool": fastpool.__version__,
    }


def select(patterns: list[str] | None) -> list[str]:
    """The row names matched by shell patterns (all rows for None)."""
    import fnmatch

    names = [r[0] for r in ROWS]
    if patterns is None:
        return names
    return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]


def run(mode: str = "full", names: list[str] | None = None) -> dict[str, Any]:
    """Run the scenarios (``names``: some rows) in a spawned worker; returns the report."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_worker, args=(mode, names, queue))
    proc.start()
    try:
        status, payload = queue.get()
    finally:
        proc.join()
    if status != "ok":
        raise RuntimeError(f"thread scenarios failed in the worker:\n{payload}")
    report = payload
    report["mode"] = mode
    report["load_average"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return report


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def format_markdown(report: dict[str, Any]) -> str:
    """The section's Markdown: one row per call and implementation, then the summary."""
    lines = [f"#### Thread scenarios: {report['threads']}-thread calls when a core is not free",
             "",
             "| workload | call | impl | alone ms | busy core ms | × alone | shared process ms "
             "| × alone | check |",
             "|---|---|---|--:|--:|--:|--:|--:|---|"]
    slow: dict[str, dict[str, list[float]]] = {}
    for row in report["rows"]:
        for impl, alone in row["alone"].items():
            busy, shared = row["busy core"][impl], row["shared process"][impl]
            lines.append(f"| `{row['name']}` | {row['what']} | {impl} | {alone:.3g} | "
                         f"{busy:.3g} | {busy / alone:.2f}× | {shared:.3g} | "
                         f"{shared / alone:.2f}× | {row['check']} |")
            s = slow.setdefault(impl, {"busy": [], "shared": [], "busy_target": []})
            s["busy"].append(busy / alone)
            s["shared"].append(shared / alone)
            if row["name"] in TARGET_ROWS:
                s["busy_target"].append(busy / alone)
    lines.append("")
    for impl, s in slow.items():
        lines.append(
            f"- {impl}: busy core, geometric-mean slowdown over {', '.join(TARGET_ROWS)}: "
            f"{_geomean(s['busy_target']):.2f}× (worst row {max(s['busy']):.2f}×); shared "
            f"process, worst row {max(s['shared']):.2f}×")
    nb = report["neighbours"]
    lines += [
        "",
        f"Medians of {report['calls']} calls per cell (blocks of calls, implementations "
        f"alternating, 0.1 s apart); fastpool with `num_threads={report['threads']}`, PyTorch "
        f"{report['torch']} with `torch.set_num_threads({report['threads']})`. Busy core: a "
        "spawned process spins in a Python loop. Shared process: before each timed call, "
        f"untimed: {', then '.join(nb) or 'nothing'} (ONNX Runtime with its default session "
        "options: one intra-op thread per core, spinning). Load average after the section: "
        f"{', '.join(f'{v:.2f}' for v in report['load_average'] or [])}.",
        ""]
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    m = sys.argv[1] if len(sys.argv) > 1 else "full"
    print(format_markdown(run(m, select(sys.argv[2].split(",")) if len(sys.argv) > 2 else None)))
