"""The benchmark suite in process: its workloads, its checks, its summary and targets.

In-process runs use tiny ``--smoke`` shapes; the summary and the targets are computed
from made-up timings.  Nothing here asserts anything about speed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from bench_helpers import DTYPES, SPECIAL, installed
from fastpool_bench import suite

import fastpool


def test_main_workloads():
    by_name = {w.name: w for w in suite.WORKLOADS}
    issue = [w.name for w in suite.WORKLOADS if w.group == "issue"]
    assert issue == ["w1", "w2", "w3", "w4",
                     "w5_20_k5", "w5_20_k9", "w5_20_k13", "w5_80_k5", "w5_80_k9", "w5_80_k13",
                     "w6", "w7_14", "w7_15", "w8", "w9", "w10", "w11", "w12", "seed"]
    assert [w.name for w in suite.WORKLOADS if w.group == "nhwc"] == [
        "w2_nhwc", "w3_nhwc", "w8_nhwc", "w9_nhwc"]
    assert sorted(w.kind for w in suite.WORKLOADS if w.group == "extra") == [
        "adaptive", "fractional", "lp", "unpool"]
    # The full shapes, dtypes and layouts.
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
    assert {w.name for w in suite.WORKLOADS if w.memory_bound} == {
        "w1", "w3", "w3_nhwc", "w4", "w10", "w12"}
    for w in suite.WORKLOADS:  # every mode has a shape of the same rank
        assert len(w.full) == len(w.quick) == len(w.smoke)


def test_first_workload_is_the_headline_case():
    w = suite.WORKLOADS[0]
    assert (w.name, w.full, w.dtype, w.layout) == ("w1", (32, 64, 112, 112), "float32", "NCHW")


def test_adaptive_windows_as_plain_pooling():
    # 14 -> 7 is 2x2/s2, and 15 -> 7 is 3x3/s2 (windows [2o, 2o + 3)): ONNX Runtime, JAX
    # and TensorFlow can run both; 10 -> 4 has windows of two sizes.
    assert suite._adaptive_as_window((14, 14), (7, 7)) == ((2, 2), (2, 2))
    assert suite._adaptive_as_window((15, 15), (7, 7)) == ((3, 3), (2, 2))
    assert suite._adaptive_as_window((10,), (4,)) is None



def test_bench_plot_without_matplotlib(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(suite, "_matplotlib_available", lambda: False)
    with pytest.raises(SystemExit) as exc:
        suite.main(["--smoke", "--plot", str(tmp_path / "x.png")])
    assert exc.value.code == 2
    assert "matplotlib" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()



# In-process: outputs that disagree must be reported loudly, and not timed.


def _broken_build(w, shape, rng, ctx):
    x = rng.random(shape, dtype=np.float32)

    def fast():
        return fastpool.max_pool2d(x, 2, num_threads=ctx.threads)

    def wrong():
        return fastpool.max_pool2d(x, 2, num_threads=ctx.threads) + 1

    case = suite._Case(
        fastpool=suite._Impl(fast, suite._as_tuple),
        reference=suite._Impl(wrong, suite._as_tuple),
        exact=True,
        nbytes=x.nbytes,
        dtype=np.dtype(np.float32),
    )
    case.peers["jax"] = suite._Impl(wrong, suite._as_tuple)
    case.peers["ort"] = suite._Impl(fast, suite._as_tuple)
    return case


def test_mismatch_is_reported(monkeypatch, capsys, tmp_path):
    broken = suite.Workload("broken", "issue", "max_pool2d 2×2 (wrong peers)", "pool",
                             (2, 3, 8, 8), (2, 3, 8, 8), (2, 3, 8, 8), builder=_broken_build)
    monkeypatch.setattr(suite, "WORKLOADS", (broken,))
    out = tmp_path / "broken.json"
    status = suite.main(["--smoke", "--threads", "1", "--repeat", "1", "--peers", "none",
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
    monkeypatch.setattr(suite, "_WORKER_CODE", "import sys; print('boom', file=sys.stderr); "
                                                "sys.exit(5)")
    status = suite.main(["--smoke", "--only", "w1", "--threads", "1", "--peers", "none", "-q"])
    assert status == 3
    err = capsys.readouterr().err
    assert "worker process for threads=1 failed (exit status 5)" in err and "boom" in err


def test_mismatch_helper():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert suite._mismatch((a,), (a.copy(),), True, a.dtype) is None
    assert suite._mismatch((a,), (a + 1e-7,), False, a.dtype) is None
    assert "differ" in suite._mismatch((a,), (a + 1e-7,), True, a.dtype)
    assert "shape" in suite._mismatch((a,), (a.T,), True, a.dtype)
    nan = np.array([np.nan, 1.0])
    assert suite._mismatch((nan,), (nan.copy(),), True, nan.dtype) is None
    # A case's own tolerance: atol is a fraction of the largest |expected| value.
    big = np.array([1000.0, 0.0], dtype=np.float32)
    off = big + np.array([0.0, 5e-3], dtype=np.float32)
    assert "differ" in suite._mismatch((big,), (off,), False, big.dtype)
    assert suite._mismatch((big,), (off,), False, big.dtype, (1e-5, 1e-5)) is None
    assert "differ" in suite._mismatch((big,), (off,), False, big.dtype, (1e-5, 1e-6))
    # float16: one unit in the last place of a value near 1 passes, two percent do not.
    h = np.array([1.0, 0.5], dtype=np.float16)
    assert suite._mismatch((h,), (np.nextafter(h, np.float16(2)),), False, h.dtype) is None
    assert "differ" in suite._mismatch((h,), (h * np.float16(1.02),), False, h.dtype)


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
        suite._derive(r, copy_gbs[r["threads"]])
    report = {"threads": threads, "results": rows,
              "copy_bandwidth": [{"threads": t, "gb_per_s": copy_gbs[t]} for t in threads],
              "seed_loop": [{"threads": t, "iterations": 5000, "per_5000_s": seed_loop_s[t]}
                            for t in threads]}
    report["summary"] = suite._summarize(report)
    report["targets"] = suite._targets(report)
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
    text = suite._targets_lines(report)
    assert any("**not met**" in line for line in text) and any("met:" in line for line in text)


# The special poolings and the other dtypes.


def test_special_and_dtype_rows():
    by_name = {w.name: w for w in suite.WORKLOADS}
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



def test_netvlad_memory_in_process():
    # fastpool and NumPy by tracemalloc: fastpool's peak is about its workspace plus the
    # output, far below the residual tensor the common formulation makes.
    spec = {"shape": [1, 64, 16, 16], "clusters": 32, "dtype": "float32", "backward": False}
    m = suite._netvlad_memory(spec, ["fastpool", "numpy"], "smoke")
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
    m = suite._netvlad_memory(spec, ["torch", "torch_alt"], "full")
    residual = m["residual_tensor_mib"]  # 32 MiB
    assert m["peaks"]["torch"]["rss_mib"] >= 0.9 * residual
    assert 0 <= m["peaks"]["torch_alt"]["rss_mib"] < residual / 4

