"""``fastpool bench`` (tiny ``--smoke`` shapes), ``python -m fastpool_bench`` and bench/run.py.

The commands run in a subprocess from a temporary directory, so that ``python -m
fastpool`` imports the installed packages and not the source tree.  Nothing here
asserts anything about speed: only that the runs succeed, check what they should and
report it.  The peers (PyTorch, ONNX Runtime, JAX, TensorFlow, matplotlib) are optional:
every test passes with or without them, and asserts their columns exactly when they are
installed.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from bench_helpers import (
    ALL_COLUMNS,
    COLUMNS,
    DTYPES,
    EXTRA,
    MAIN,
    NAMES,
    ROOT,
    SPECIAL,
    installed,
    is_number,
    result_rows,
    run,
    tables,
)
from fastpool_bench import suite

import fastpool


@pytest.mark.parametrize("command, prog", [
    (["-m", "fastpool", "bench"], "python -m fastpool bench"),
    (["-m", "fastpool_bench"], "python -m fastpool_bench"),
])
def test_help_is_the_suites(tmp_path, command, prog):
    proc = run([*command, "--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: {prog} ")
    for option in ("--quick", "--threads", "--json", "--repeat", "--only", "--plot", "--peers",
                   "--in-process", "--list", "--alloc", "--no-torch", "--quiet"):
        assert option in proc.stdout
    assert "issue" not in proc.stdout.lower()


def test_importing_the_suite_loads_no_peer(tmp_path):
    code = ("import sys, fastpool_bench, fastpool_bench.suite, fastpool_bench.record; "
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



def test_bench_smoke_table_and_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = run(["-m", "fastpool", "bench", "--smoke", "--threads", "1", "--repeat", "2",
                "--json", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "MISMATCH" not in proc.stdout
    assert "bench [" in proc.stderr  # the progress bar

    head = next(h for h, _ in tables(proc.stdout) if "fastpool ms" in h)
    assert [h[:-3] for h in head if h.endswith(" ms") and h[:-3] in suite.PEERS.values()] \
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
    assert [suite.PEERS[k] for k in report["peer_columns"]] == ALL_COLUMNS
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
            k for k, v in r["checks"].items() if k in suite.PEERS and v == "ok"} | set(
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
    assert not any(label + " ms" in head for label in suite.PEERS.values())
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
    assert "#### Special poolings: fastpool against the obvious compositions" in proc.stdout
    assert "#### Other dtypes: uint8 and float16" in proc.stdout
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



def test_bench_thread_scenarios_section(tmp_path):
    """``--only 'mt_*'`` runs the thread scenarios alone: one row per call and
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


def test_record_module_needs_a_readme(tmp_path):
    proc = run(["-m", "fastpool_bench.record", "--smoke", "--only", "w1"], tmp_path)
    assert proc.returncode == 2
    assert "--readme" in proc.stderr
