"""What the benchmark tests share: running a command, reading its Markdown tables, and
the peer columns a run should show given what is installed."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

from fastpool_bench import suite

#: The repository root (bench/tests/ is two levels below it).
ROOT = Path(__file__).resolve().parents[2]
NAMES = [w.name for w in suite.WORKLOADS]
MAIN = [w.name for w in suite.WORKLOADS if w.group in ("issue", "nhwc")]
EXTRA = [w.name for w in suite.WORKLOADS if w.group == "extra"]
SPECIAL = [w.name for w in suite.WORKLOADS if w.group == "special"]
DTYPES = [w.name for w in suite.WORKLOADS if w.group == "dtype"]


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
COLUMNS = [label for key, label in suite.PEERS.items()
           if key in suite._FRAMEWORK_PEERS and installed(*_NEEDS[key])]
ALL_COLUMNS = [label for key, label in suite.PEERS.items() if installed(*_NEEDS[key])]


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
    """The rows of the results tables (the main workloads' and the others), as dicts keyed
    by header."""
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
