"""The ``fastpool`` command line: ``info``, ``bench`` (tiny ``--smoke`` shapes) and bench/run.py.

The commands run in a subprocess from a temporary directory, so that
``python -m fastpool`` imports the installed package and not the source tree.
Nothing here asserts anything about speed: only that the runs succeed, check what
they should and report it.  The peers (PyTorch, ONNX Runtime, JAX, TensorFlow,
matplotlib) are optional: every test passes with or without them, and asserts
their columns exactly when they are installed.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastpool
from fastpool import _bench

ROOT = Path(__file__).resolve().parents[1]
NAMES = [w.name for w in _bench.WORKLOADS]
MAIN = [w.name for w in _bench.WORKLOADS if w.group in ("issue", "nhwc")]
EXTRA = [w.name for w in _bench.WORKLOADS if w.group == "extra"]
SPECIAL = [w.name for w in _bench.WORKLOADS if w.group == "special"]
DTYPES = [w.name for w in _bench.WORKLOADS if w.group == "dtype"]


def installed(*modules: str) -> bool:
    try:
        return all(importlib.util.find_spec(m) is not None for m in modules)
    except (ImportError, ValueError):
        return False


_NEEDS = {"torch": ("torch",), "torch_cl": ("torch",), "ort": ("onnxruntime", "onnx"),
          "jax": ("jax",), "tf": ("tensorflow",), "torch_alt": ("torch",), "numpy": ("numpy",),
          "fastpool_comp": ("fastpool",)}

#: The peer columns of the main tables a run with every peer should show, from what is
#: installed; and every peer column of the run (the special and dtype tables add some).
COLUMNS = [label for key, label in _bench.PEERS.items()
           if key in _bench._FRAMEWORK_PEERS and installed(*_NEEDS[key])]
ALL_COLUMNS = [label for key, label in _bench.PEERS.items() if installed(*_NEEDS[key])]


def run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          encoding="utf-8", timeout=timeout, check=False)


def tables(markdown: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every Markdown table: its header cells and the cells of each data row."""
    found, block = [], []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif block:
            found.append((block[0], block[2:]))
            block = []
    return found


def result_rows(markdown: str) -> list[dict[str, str]]:
    """The rows of the results tables (issue's and extra), as dicts keyed by header."""
    rows = []
    for head, body in tables(markdown):
        if "fastpool ms" in head:
            rows += [dict(zip(head, cells)) for cells in body]
    return rows


def is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text.rstrip("×%† ").strip()))
    except ValueError:
        return False


def test_info(tmp_path):
    proc = run(["-m", "fastpool", "info"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"fastpool {fastpool.__version__}" in proc.stdout
    assert "OpenMP" in proc.stdout
    assert "default threads" in proc.stdout


def test_version_and_help(tmp_path):
    proc = run(["-m", "fastpool", "--version"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert fastpool.__version__ in proc.stdout
    proc = run(["-m", "fastpool", "bench", "--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    for option in ("--quick", "--threads", "--json", "--repeat", "--only", "--plot", "--peers",
                   "--in-process"):
        assert option in proc.stdout


def test_no_command_is_a_usage_error(tmp_path):
    proc = run(["-m", "fastpool"], tmp_path)
    assert proc.returncode == 2
    assert "info" in proc.stderr and "bench" in proc.stderr


def test_importing_fastpool_loads_no_peer(tmp_path):
    code = ("import sys, fastpool, fastpool._bench, fastpool._cli; fastpool._cli.build_parser(); "
            "print(sorted(m for m in ('torch', 'jax', 'onnxruntime', 'onnx', 'tensorflow', "
            "'matplotlib') if m in sys.modules))")
    proc = run(["-c", code], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_list(tmp_path):
    proc = run(["-m", "fastpool", "bench", "--list", "--quick"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name in NAMES:
        assert name in proc.stdout


def test_workloads_are_issue_4s_suite():
    by_name = {w.name: w for w in _bench.WORKLOADS}
    issue = [w.name for w in _bench.WORKLOADS if w.group == "issue"]
    assert issue == ["w1", "w2", "w3", "w4",
                     "w5_20_k5", "w5_20_k9", "w5_20_k13", "w5_80_k5", "w5_80_k9", "w5_80_k13",
                     "w6", "w7_14", "w7_15", "w8", "w9", "w10", "w11", "w12", "seed"]
    assert [w.name for w in _bench.WORKLOADS if w.group == "nhwc"] == [
        "w2_nhwc", "w3_nhwc", "w8_nhwc", "w9_nhwc"]
    assert sorted(w.kind for w in _bench.WORKLOADS if w.group == "extra") == [
        "adaptive", "fractional", "lp", "unpool"]
    # The issue's full shapes, dtypes and layouts.
    w1 = (32, 64, 112, 112)
    for name in ("w1", "w2", "w3", "w8", "w9"):
        assert by_name[name].full == w1 and by_name[name].layout == "NCHW"
    for name in ("w4", "w2_nhwc", "w3_nhwc", "w8_nhwc", "w9_nhwc"):
        assert by_name[name].full == (32, 112, 112, 64) and by_name[name].channels_last
    assert by_name["w12"].full == w1 and by_name["w12"].dtype == "float64"
    assert by_name["w5_20_k13"].full == (8, 512, 20, 20)
    assert by_name["w5_80_k5"].full == (1, 256, 80, 80)
    assert by_name["w5_80_k9"].params["padding"] == 4
    assert by_name["w6"].full == (64, 2048, 7, 7)
    assert by_name["w7_15"].full == (32, 512, 15, 15)
    assert by_name["w10"].full == (4, 32, 32, 64, 64)
    assert by_name["w11"].full == (64, 256, 4096)
    assert (by_name["seed"].full, by_name["seed"].dtype) == ((64, 3, 28, 28), "float64")
    assert {w.name for w in _bench.WORKLOADS if w.memory_bound} == {
        "w1", "w3", "w3_nhwc", "w4", "w10", "w12"}
    for w in _bench.WORKLOADS:  # every mode has a shape of the same rank
        assert len(w.full) == len(w.quick) == len(w.smoke)


def test_first_workload_is_the_headline_case():
    w = _bench.WORKLOADS[0]
    assert (w.name, w.full, w.dtype, w.layout) == ("w1", (32, 64, 112, 112), "float32", "NCHW")


def test_adaptive_windows_as_plain_pooling():
    # 14 -> 7 is 2x2/s2, and 15 -> 7 is 3x3/s2 (windows [2o, 2o + 3)): ONNX Runtime, JAX
    # and TensorFlow can run both; 10 -> 4 has windows of two sizes.
    assert _bench._adaptive_as_window((14, 14), (7, 7)) == ((2, 2), (2, 2))
    assert _bench._adaptive_as_window((15, 15), (7, 7)) == ((3, 3), (2, 2))
    assert _bench._adaptive_as_window((10,), (4,)) is None


def test_bench_smoke_table_and_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = run(["-m", "fastpool", "bench", "--smoke", "--threads", "1", "--repeat", "2",
                "--json", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "MISMATCH" not in proc.stdout
    assert "bench [" in proc.stderr  # the progress bar

    head = next(h for h, _ in tables(proc.stdout) if "fastpool ms" in h)
    assert [h[:-3] for h in head if h.endswith(" ms") and h[:-3] in _bench.PEERS.values()] \
        == COLUMNS
    rows = result_rows(proc.stdout)
    assert [r["workload"].strip("`") for r in rows] == MAIN + EXTRA + SPECIAL + DTYPES
    by_name = {r["workload"].strip("`"): r for r in rows}
    for r in rows:
        assert r["threads"] == "1"
        assert is_number(r["fastpool ms"]) and float(r["fastpool ms"]) > 0
        assert is_number(r["NumPy ref ms"])  # the reference runs on tiny shapes
        assert is_number(r["GB/s"]) and is_number(r["% of copy"])
        assert r["check"].startswith("ok")
        if r["workload"].strip("`") in MAIN + EXTRA:
            assert is_number(r["vs fastest"]) == bool(COLUMNS)
    for label in COLUMNS:  # every peer runs the headline case; nobody has ONNX gradients
        assert is_number(by_name["w1"][f"{label} ms"])
    if "ORT" in COLUMNS:
        assert by_name["w8"]["ORT ms"] == "—" and is_number(by_name["w7_15"]["ORT ms"])
    if "torch CL" in COLUMNS:
        assert by_name["w11"]["torch CL ms"] == "—"
    if "JAX" in COLUMNS:
        assert is_number(by_name["w8"]["JAX ms"]) and is_number(by_name["seed"]["JAX ms"])
    assert "#### Summary" in proc.stdout and "#### Targets" in proc.stdout

    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["mode"] == "smoke" and report["threads"] == [1] and report["repeat"] == 2
    assert report["date"][:4].isdigit()
    machine = report["machine"]
    assert machine["numpy"] == np.__version__
    assert machine["fastpool"]["version"] == fastpool.__version__
    assert isinstance(machine["logical_cores"], int)
    assert [_bench.PEERS[k] for k in report["peer_columns"]] == ALL_COLUMNS
    assert report["copy_bandwidth"][0]["gb_per_s"] > 0
    assert report["mismatches"] == []
    assert [r["workload"] for r in report["results"]] == NAMES
    for r in report["results"]:
        fast = r["timings"]["fastpool"]
        assert fast["median_ms"] > 0 and len(fast["samples_ms"]) == 2
        assert r["speedup"]["reference"] > 0
        assert r["gb_per_s"] > 0 and r["fraction_of_copy"] > 0
        assert r["checks"]["reference"] == "ok"
        assert all(v == "ok" for v in r["checks"].values())
        assert set(r["timings"]) - {"fastpool", "reference"} == {
            k for k, v in r["checks"].items() if k in _bench.PEERS and v == "ok"} | set(
            r["not_compared"])
    assert report["seed_loop"][0]["iterations"] > 0
    summary = report["summary"]["per_threads"]["1"]
    assert summary["geomean_rows"] == 18
    assert set(summary["w5"]) == {"1×4×20×20", "1×2×24×24"}
    assert [t["id"] for t in report["targets"]] == [
        "every_workload", "geomean_fastest", "geomean_torch", "bandwidth", "w5_ratio",
        "w5_fastest", "seed_torch", "seed_loop", "scaling"]


def test_bench_without_peers_two_thread_counts(tmp_path):
    proc = run(["-m", "fastpool", "bench", "--smoke", "--only", "w1,w3*,w9", "--threads", "1,2",
                "--repeat", "1", "--peers", "none", "--alloc", "-q"], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "bench [" not in proc.stderr  # --quiet
    head = next(h for h, _ in tables(proc.stdout) if "fastpool ms" in h)
    assert not any(label + " ms" in head for label in _bench.PEERS.values())
    rows = result_rows(proc.stdout)
    assert [(r["workload"].strip("`"), r["threads"]) for r in rows] == [
        ("w1", "1"), ("w1", "2"), ("w3", "1"), ("w3", "2"), ("w3_nhwc", "1"), ("w3_nhwc", "2"),
        ("w9", "1"), ("w9", "2"),
    ]
    assert all(r["fastest peer"] == "—" and r["vs torch"] == "—" for r in rows)
    assert all(("= t=1" in r["check"]) == (r["threads"] == "2") for r in rows)
    assert all(is_number(r["NumPy ref ms"]) for r in rows)  # timed once, shown on both rows
    assert "not evaluated (no peer timed)" in proc.stdout
    assert "#### 2 threads vs 1 thread" in proc.stdout
    assert "allocates its outputs on every call (`--alloc`)" in proc.stdout
    assert "Each thread count runs in its own process" in proc.stdout


@pytest.mark.parametrize("args, message", [
    (["--only", "nosuch"], "w5_20_k13"),  # lists the known workloads
    (["--threads", "0"], "--threads"),
    (["--threads", "one"], "--threads"),
    (["--repeat", "0"], "--repeat"),
    (["--peers", "torch,caffe"], "--peers"),
])
def test_bench_bad_options(tmp_path, args, message):
    proc = run(["-m", "fastpool", "bench", "--smoke", *args], tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr


@pytest.mark.skipif(not installed("matplotlib"), reason="matplotlib is not installed")
def test_bench_plot(tmp_path):
    png = tmp_path / "speedup.png"
    proc = run(["-m", "fastpool", "bench", "--smoke", "--only", "w1,w6", "--threads", "1",
                "--repeat", "1", "-q", "--plot", str(png)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_plot_without_matplotlib(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(_bench, "_matplotlib_available", lambda: False)
    with pytest.raises(SystemExit) as exc:
        _bench.main(["--smoke", "--plot", str(tmp_path / "x.png")])
    assert exc.value.code == 2
    assert "matplotlib" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_bench_run_script_writes_readme(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "bench" / "README.md").read_text(encoding="utf-8"),
                      encoding="utf-8")
    args = [str(ROOT / "bench" / "run.py"), "--smoke", "--only", "w1", "--threads", "1",
            "--repeat", "1", "-q", "--peers", "none", "--in-process", "--readme", str(readme)]
    for _ in range(2):  # the second run replaces the first one's section
        proc = run(args, tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# fastpool benchmarks")
    assert text.count("### Results, ") == 1
    section = text[text.index("### Results, "):text.index("<!-- results:end -->")]
    assert "(smoke run)" in section
    assert [r["workload"] for r in result_rows(section)] == ["`w1`"]
    assert "load average" in section


def test_bench_readme_describes_every_workload():
    text = (ROOT / "bench" / "README.md").read_text(encoding="utf-8")
    for name in NAMES:
        assert f"`{name}`" in text


# In-process: outputs that disagree must be reported loudly, and not timed.


def _broken_build(w, shape, rng, ctx):
    x = rng.random(shape, dtype=np.float32)

    def fast():
        return fastpool.max_pool2d(x, 2, num_threads=ctx.threads)

    def wrong():
        return fastpool.max_pool2d(x, 2, num_threads=ctx.threads) + 1

    case = _bench._Case(
        fastpool=_bench._Impl(fast, _bench._as_tuple),
        reference=_bench._Impl(wrong, _bench._as_tuple),
        exact=True,
        nbytes=x.nbytes,
        dtype=np.dtype(np.float32),
    )
    case.peers["jax"] = _bench._Impl(wrong, _bench._as_tuple)
    case.peers["ort"] = _bench._Impl(fast, _bench._as_tuple)
    return case


def test_mismatch_is_reported(monkeypatch, capsys, tmp_path):
    broken = _bench.Workload("broken", "issue", "max_pool2d 2×2 (wrong peers)", "pool",
                             (2, 3, 8, 8), (2, 3, 8, 8), (2, 3, 8, 8), builder=_broken_build)
    monkeypatch.setattr(_bench, "WORKLOADS", (broken,))
    out = tmp_path / "broken.json"
    status = _bench.main(["--smoke", "--threads", "1", "--repeat", "1", "--peers", "none",
                          "--in-process", "-q", "--json", str(out)])
    captured = capsys.readouterr()
    assert status == 1
    assert "**MISMATCH: ref, JAX**" in captured.out
    assert "MISMATCH" in captured.err
    report = json.loads(out.read_text(encoding="utf-8"))
    assert {(m["workload"], m["peer"]) for m in report["mismatches"]} == {
        ("broken", "reference"), ("broken", "jax")}
    row = report["results"][0]
    assert row["checks"] == {"reference": "mismatch", "jax": "mismatch", "ort": "ok"}
    assert set(row["timings"]) == {"fastpool", "ort"}  # what differs is not timed


def test_failed_worker_is_reported(monkeypatch, capsys):
    monkeypatch.setattr(_bench, "_WORKER_CODE", "import sys; print('boom', file=sys.stderr); "
                                                "sys.exit(5)")
    status = _bench.main(["--smoke", "--only", "w1", "--threads", "1", "--peers", "none", "-q"])
    assert status == 3
    err = capsys.readouterr().err
    assert "worker process for threads=1 failed (exit status 5)" in err and "boom" in err


def test_mismatch_helper():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert _bench._mismatch((a,), (a.copy(),), True, a.dtype) is None
    assert _bench._mismatch((a,), (a + 1e-7,), False, a.dtype) is None
    assert "differ" in _bench._mismatch((a,), (a + 1e-7,), True, a.dtype)
    assert "shape" in _bench._mismatch((a,), (a.T,), True, a.dtype)
    nan = np.array([np.nan, 1.0])
    assert _bench._mismatch((nan,), (nan.copy(),), True, nan.dtype) is None
    # A case's own tolerance: atol is a fraction of the largest |expected| value.
    big = np.array([1000.0, 0.0], dtype=np.float32)
    off = big + np.array([0.0, 5e-3], dtype=np.float32)
    assert "differ" in _bench._mismatch((big,), (off,), False, big.dtype)
    assert _bench._mismatch((big,), (off,), False, big.dtype, (1e-5, 1e-5)) is None
    assert "differ" in _bench._mismatch((big,), (off,), False, big.dtype, (1e-5, 1e-6))
    # float16: one unit in the last place of a value near 1 passes, two percent do not.
    h = np.array([1.0, 0.5], dtype=np.float16)
    assert _bench._mismatch((h,), (np.nextafter(h, np.float16(2)),), False, h.dtype) is None
    assert "differ" in _bench._mismatch((h,), (h * np.float16(1.02),), False, h.dtype)


# The summary and the targets, from made-up timings.


def _row(name, t, fast_ms, peers, *, group="issue", kind="pool", memory_bound=False,
         params=None, channels_last=False, nbytes=10**8):
    timings = {"fastpool": {"median_ms": fast_ms}}
    timings.update({k: {"median_ms": v} for k, v in peers.items()})
    return {"workload": name, "group": group, "kind": kind, "threads": t, "bytes": nbytes,
            "memory_bound": memory_bound, "channels_last": channels_last,
            "params": params or {}, "shape": [8, 512, 20, 20], "timings": timings}


def _report(rows, threads, copy_gbs, seed_loop_s):
    for r in rows:
        _bench._derive(r, copy_gbs[r["threads"]])
    report = {"threads": threads, "results": rows,
              "copy_bandwidth": [{"threads": t, "gb_per_s": copy_gbs[t]} for t in threads],
              "seed_loop": [{"threads": t, "iterations": 5000, "per_5000_s": seed_loop_s[t]}
                            for t in threads]}
    report["summary"] = _bench._summarize(report)
    report["targets"] = _bench._targets(report)
    return report


def test_summary_and_targets():
    rows = []
    for t, scale in ((1, 1.0), (2, 0.5)):
        rows += [
            # 100 MB in 10 ms = 10 GB/s: 100 % of a 10 GB/s copy at t=1, 50 % of 20 at t=2.
            _row("w1", t, 10.0, {"torch": 100.0, "ort": 40.0}, memory_bound=True),
            _row("w4", t, 10.0 * scale, {"torch": 30.0, "torch_cl": 20.0},
                 channels_last=True, nbytes=10**6),
            _row("w5_20_k5", t, 1.0 * scale, {"jax": 4.0},
                 params={"series": "w5", "kernel": [5, 5]}, nbytes=10**6),
            _row("w5_20_k13", t, 2.0 * scale, {"jax": 4.0},
                 params={"series": "w5", "kernel": [13, 13]}, nbytes=10**6),
            _row("seed", t, 0.1 * scale, {"torch": 1.5}, kind="seed", nbytes=10**6),
            _row("lp2d", t, 50.0, {"torch": 1.0}, group="extra", kind="lp", nbytes=10**6),
            _row("sp_median", t, 50.0, {"torch": 1.0}, group="special", kind="sp_median",
                 nbytes=10**6),
            _row("f16_max2d", t, 50.0, {"torch": 1.0}, group="dtype", kind="dtype_pool",
                 nbytes=10**6),
        ]
    report = _report(rows, [1, 2], {1: 10.0, 2: 20.0}, {1: 0.4, 2: 0.6})
    s1 = report["summary"]["per_threads"]["1"]
    # w1: 4x ORT, 10x torch; w4: 2x torch CL, and "vs torch" is channels_last for NHWC;
    # w5: 4x and 2x JAX.
    assert s1["geomean_rows"] == 4
    assert s1["geomean_vs_fastest"] == pytest.approx((4 * 2 * 4 * 2) ** 0.25)
    assert s1["geomean_vs_torch"] == pytest.approx((10 * 2) ** 0.5)
    assert s1["w5"]["8×512×20×20"]["k13_over_k5"] == pytest.approx(2.0)
    assert s1["seed_speedup_torch"] == pytest.approx(15.0)
    targets = {t["id"]: t["by_threads"] for t in report["targets"]}
    # The extra, special and dtype rows (slower than torch here) do not count.
    assert targets["every_workload"]["1"]["met"] is True
    assert targets["geomean_fastest"]["1"]["met"] is True
    assert targets["geomean_torch"]["1"]["met"] is False
    assert targets["bandwidth"]["1"]["met"] is True and targets["bandwidth"]["2"]["met"] is False
    assert targets["w5_ratio"]["1"]["met"] is False
    assert targets["w5_fastest"]["1"]["met"] is False  # k13 is only 2x
    assert targets["seed_torch"]["1"]["met"] is True
    assert targets["seed_loop"]["1"]["met"] is True and targets["seed_loop"]["2"]["met"] is False
    # Scaling: w1 reaches 10 GB/s, below 80 % of the 2-thread copy (16 GB/s): it is not
    # at the bandwidth limit, so it must scale, and does not; the others run twice as fast.
    scaling = {s["workload"]: s for s in report["summary"]["scaling"]}
    assert scaling["w1"]["speedup"] == pytest.approx(1.0)
    assert not scaling["w1"]["bandwidth_limited"] and not scaling["w1"]["met"]
    assert scaling["w4"]["met"] and scaling["seed"]["met"]
    assert targets["scaling"]["2"]["met"] is False and "`w1`" in targets["scaling"]["2"]["value"]
    text = _bench._targets_lines(report)
    assert any("**not met**" in line for line in text) and any("met:" in line for line in text)


# Issue #5's special poolings and issue #6's dtypes.


def test_special_and_dtype_rows():
    by_name = {w.name: w for w in _bench.WORKLOADS}
    kinds = {by_name[n].kind for n in SPECIAL}
    assert kinds == {"sp_median", "sp_mixed", "sp_stochastic", "sp_yolo", "sp_spp",
                     "sp_bilinear", "sp_netvlad"}
    # Forward and backward of each (stochastic: inference and training instead).
    for base in ("sp_median", "sp_mixed_blend", "sp_yolo_spp_20", "sp_yolo_spp_80", "sp_spp",
                 "sp_bilinear", "sp_netvlad"):
        assert base in SPECIAL and f"{base}_bwd" in SPECIAL
    assert {"sp_mixed_concat", "sp_stochastic_inf", "sp_stochastic_train"} <= set(SPECIAL)
    assert by_name["sp_yolo_spp_20"].full == (8, 512, 20, 20)
    assert by_name["sp_netvlad"].full == (8, 512, 30, 40)
    assert by_name["sp_netvlad"].params["clusters"] == 64
    assert {(by_name[n].dtype, by_name[n].params["op"]) for n in DTYPES} == {
        ("uint8", "max"), ("uint8", "avg"), ("float16", "max"), ("float16", "avg")}


def test_list_shows_the_special_and_dtype_rows(tmp_path):
    proc = run(["-m", "fastpool", "bench", "--list", "--quick"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.strip()}
    for name in SPECIAL:
        assert " special " in lines[name]
    for name in DTYPES:
        assert " dtype " in lines[name]
    assert "uint8" in lines["u8_avg2d"] and "float16" in lines["f16_max2d"]


def test_bench_special_and_dtype_rows_check_ok(tmp_path):
    out = tmp_path / "special.json"
    proc = run(["-m", "fastpool", "bench", "--quick", "--only", "sp_median,u8_avg2d",
                "--threads", "1", "--repeat", "1", "--in-process", "-q", "--json", str(out)],
               tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "#### Special poolings (issue #5)" in proc.stdout
    assert "#### Other dtypes (issue #6)" in proc.stdout
    rows = {r["workload"].strip("`"): r for r in result_rows(proc.stdout)}
    assert list(rows) == ["sp_median", "u8_avg2d"]
    for r in rows.values():
        assert r["check"].startswith("ok"), r
        assert "not compared" not in r["check"]
    report = json.loads(out.read_text(encoding="utf-8"))
    results = {r["workload"]: r for r in report["results"]}
    median, u8 = results["sp_median"], results["u8_avg2d"]
    assert median["checks"]["numpy"] == "ok" and "numpy" in median["timings"]
    assert u8["checks"]["numpy"] == "ok"
    assert "sliding_window_view" in median["peer_labels"]["numpy"]
    if installed("torch"):
        assert median["checks"]["torch"] == median["checks"]["torch_alt"] == "ok"
        assert is_number(rows["sp_median"]["torch NCHW ms"])
        assert is_number(rows["sp_median"]["torch alt ms"])
        # No uint8 avg_pool2d in PyTorch: "—" with the reason; the float route matches.
        assert rows["u8_avg2d"]["torch NCHW ms"] == "—"
        assert "no avg_pool2d for uint8" in u8["unavailable"]["torch"]
        assert u8["checks"]["torch_alt"] == "ok"
        assert "no avg_pool2d for uint8" in proc.stdout  # in the notes


@pytest.mark.skipif(not installed("torch"), reason="PyTorch is not installed")
def test_bench_stochastic_training_is_not_compared(tmp_path):
    out = tmp_path / "train.json"
    proc = run(["-m", "fastpool", "bench", "--smoke", "--only", "sp_stochastic_train",
                "--threads", "1", "--repeat", "1", "--in-process", "-q", "--json", str(out)],
               tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (row,) = result_rows(proc.stdout)
    assert row["check"].startswith("ok") and "not compared" in row["check"]
    assert row["fastest peer"] == "—" and row["vs torch"] == "—"
    assert is_number(row["torch NCHW ms"])  # timed all the same, as a reference point
    result = json.loads(out.read_text(encoding="utf-8"))["results"][0]
    assert result["checks"]["reference"] == "ok"  # fastpool's draws, checked exactly
    assert set(result["not_compared"]) == {"torch", "numpy"}
    assert "torch" not in result["checks"] and "numpy" not in result["checks"]


def test_netvlad_memory_in_process():
    # fastpool and NumPy by tracemalloc: fastpool's peak is about its workspace plus the
    # output, far below the residual tensor the common formulation makes.
    spec = {"shape": [1, 64, 16, 16], "clusters": 32, "dtype": "float32", "backward": False}
    m = _bench._netvlad_memory(spec, ["fastpool", "numpy"], "smoke")
    assert m["residual_tensor_mib"] == pytest.approx(32 * 64 * 256 * 4 / 2**20)
    fast = m["peaks"]["fastpool"]["tracemalloc_mib"]
    output = 32 * 64 * 4 / 2**20
    assert output <= fast <= m["fastpool_workspace_mib"] + output + 0.05
    assert fast < m["residual_tensor_mib"]
    assert m["peaks"]["numpy"]["tracemalloc_mib"] > 0
    assert "torch" not in m["peaks"]  # no PyTorch process in smoke mode


@pytest.mark.skipif(not installed("torch"), reason="PyTorch is not installed")
def test_netvlad_memory_of_torch_in_a_fresh_process():
    # The residual formulation's peak RSS grows by at least its N×K×D×HW tensor.
    spec = {"shape": [1, 128, 32, 32], "clusters": 64, "dtype": "float32", "backward": False}
    m = _bench._netvlad_memory(spec, ["torch", "torch_alt"], "full")
    residual = m["residual_tensor_mib"]  # 32 MiB
    assert m["peaks"]["torch"]["rss_mib"] >= 0.9 * residual
    assert 0 <= m["peaks"]["torch_alt"]["rss_mib"] < residual / 4


def test_bench_thread_scenarios_section(tmp_path):
    """``--only 'mt_*'`` runs the thread scenarios alone (issue #12): one row per call and
    implementation with the alone, busy-core and shared-process medians and their ratios,
    fastpool's output checked against PyTorch's where PyTorch is installed."""
    proc = run(["-m", "fastpool", "bench", "--smoke", "--only", "mt_max2,mt_adaptive", "-q"],
               tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    [(header, rows)] = [t for t in tables(proc.stdout) if "busy core ms" in t[0]]
    assert header[:4] == ["workload", "call", "impl", "alone ms"]
    names = {(r[0], r[2]) for r in rows}
    assert ("`mt_max2`", "fastpool") in names and ("`mt_adaptive`", "fastpool") in names
    for r in rows:
        alone, busy, shared = float(r[3]), float(r[4]), float(r[6])
        assert alone > 0 and busy > 0 and shared > 0
        # the ratios are of the unrounded medians; the cells show 3 significant digits
        assert math.isclose(float(r[5].rstrip("×")), busy / alone, rel_tol=0.02, abs_tol=0.011)
        assert math.isclose(float(r[7].rstrip("×")), shared / alone, rel_tol=0.02,
                            abs_tol=0.011)
        assert r[8] in ("ok", "—"), r
    assert "geometric-mean slowdown" in proc.stdout
