"""The ``fastpool`` command line: ``info``, ``--version``, parsing, and ``bench`` as an entry point.

The commands run in a subprocess from a temporary directory, so that
``python -m fastpool`` imports the installed package and not the source tree.
The benchmark suite itself is the ``fastpool_bench`` package, with its own tests in
bench/tests; here ``fastpool bench`` is checked without it (made unimportable) and,
in process, with a stand-in, so these tests pass whether it is installed or not.
"""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

import fastpool
from fastpool import _cli


def run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          encoding="utf-8", timeout=timeout, check=False)


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
    proc = run(["-m", "fastpool", "--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: python -m fastpool ")
    assert "info" in proc.stdout and "bench" in proc.stdout
    assert "pip install ./bench" in proc.stdout


def test_no_command_is_a_usage_error(tmp_path):
    proc = run(["-m", "fastpool"], tmp_path)
    assert proc.returncode == 2
    assert "info" in proc.stderr and "bench" in proc.stderr


def test_unknown_arguments_of_info_are_a_usage_error(tmp_path):
    proc = run(["-m", "fastpool", "info", "--quick"], tmp_path)
    assert proc.returncode == 2
    assert "unrecognized arguments: --quick" in proc.stderr


def test_importing_fastpool_loads_no_peer_and_no_bench(tmp_path):
    code = ("import sys, fastpool, fastpool._cli; fastpool._cli.build_parser(); "
            "print(sorted(m for m in ('torch', 'jax', 'onnxruntime', 'onnx', 'tensorflow', "
            "'matplotlib', 'fastpool_bench') if m in sys.modules))")
    proc = run(["-c", code], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


# Without the suite: python -m fastpool bench, with fastpool_bench made unimportable
# (None in sys.modules), whatever the options, even --help.


@pytest.mark.parametrize("args", [[], ["--help"], ["--quick", "--threads", "1"]])
def test_bench_without_the_suite_says_how_to_install_it(tmp_path, args):
    code = ("import runpy, sys; sys.modules['fastpool_bench'] = None; "
            f"sys.argv = ['__main__.py', 'bench', *{args!r}]; "
            "runpy.run_module('fastpool', run_name='__main__', alter_sys=True)")
    proc = run(["-c", code], tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("python -m fastpool bench: ")
    assert "fastpool-bench" in lines[0] and "pip install ./bench" in lines[0]


def test_bench_without_the_suite_in_process(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "fastpool_bench", None)
    assert _cli.main(["bench", "--quick"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("fastpool bench: ") and "pip install ./bench" in captured.err


def test_bench_with_a_broken_suite_shows_the_error(monkeypatch):
    # The suite is there, but something it imports is not: that error, not the hint.
    def missing_dependency(name, *args, **kwargs):
        raise ModuleNotFoundError("No module named 'numpy_x'", name="numpy_x")

    monkeypatch.delitem(sys.modules, "fastpool_bench", raising=False)
    monkeypatch.setattr(_cli.importlib, "import_module", missing_dependency)
    with pytest.raises(ModuleNotFoundError, match="numpy_x"):
        _cli.main(["bench"])


def test_bench_hands_every_argument_to_the_suite(monkeypatch):
    calls = []
    stand_in = types.ModuleType("fastpool_bench")

    def main(argv, *, prog):
        calls.append((list(argv), prog))
        return 7

    stand_in.main = main
    monkeypatch.setitem(sys.modules, "fastpool_bench", stand_in)
    assert _cli.main(["bench"]) == 7
    assert _cli.main(["bench", "--help"]) == 7
    assert _cli.main(["bench", "--quick", "--only", "w1,w5_*", "-q", "--version", "x"]) == 7
    assert calls == [
        ([], "fastpool bench"),
        (["--help"], "fastpool bench"),
        (["--quick", "--only", "w1,w5_*", "-q", "--version", "x"], "fastpool bench"),
    ]
