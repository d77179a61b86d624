"""Type checkers and IDEs see every public function.

The per-rank functions of ``fastpool`` and ``fastpool.dask`` are made at import
time from one template each, so the package ships stubs
(``fastpool/__init__.pyi``, ``fastpool/dask.pyi``) written by
``scripts/stubs.py``.  These tests check that the installed stubs are the ones
the installed package's signatures and docstrings give, and that mypy, run on
a user's script against the installed package, accepts correct calls with the
right result types and reports wrong ones.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

fastpool = pytest.importorskip("fastpool")

ROOT = Path(__file__).resolve().parents[1]


def _stubs_module():
    spec = importlib.util.spec_from_file_location("_fastpool_stubs", ROOT / "scripts" / "stubs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("module", ["fastpool", "fastpool.dask"])
def test_shipped_stubs_are_current(module):
    if module == "fastpool.dask":
        pytest.importorskip("dask")
    stubs = _stubs_module()
    rel = stubs.TARGETS[module]
    installed = Path(fastpool.__file__).parent / Path(rel).name
    assert installed.exists(), f"the installed package has no {installed.name}"
    want = stubs.render(module)
    assert installed.read_text() == want, (
        f"{installed} is out of date with the package's signatures: run python scripts/stubs.py")
    assert (ROOT / rel).read_text() == want, f"{rel} in the source tree is out of date"


def test_public_names_are_listed_once_each_with_a_numpy_style_docstring():
    names = fastpool.__all__
    assert len(names) == len(set(names)), sorted(n for n in set(names) if names.count(n) > 1)
    for name in names:
        fn = getattr(fastpool, name)
        if not callable(fn):
            continue
        doc = inspect.getdoc(fn) or ""
        params = [p for p in inspect.signature(fn).parameters if p not in ("args", "kwargs")]
        assert doc, f"{name} has no docstring"
        if params:
            assert "Parameters\n----------" in doc, f"{name}: no Parameters section"
        assert "Returns\n-------" in doc, f"{name}: no Returns section"


USER_SCRIPT = """\
import numpy as np
import fastpool

x = np.zeros((1, 1, 4, 4), np.float32)
y = fastpool.max_pool2d(x, 2)
reveal_type(y)
y2, i2 = fastpool.max_pool2d(x, 2, return_indices=True)
reveal_type(i2)
y3, i3 = fastpool.max_pool2d(x, 2, 2, 0, 1, False, True)
a = fastpool.avg_pool2d(x, (2, 2), padding="same", channels_last=False, num_threads=2)
d = fastpool.max_pool2d_backward(y, i2, x.shape)
shape = fastpool.pool_output_shape((1, 1, 4, 4), 2)
reveal_type(shape)
g, gi = fastpool.global_max_pool(x, return_indices=True)
s = fastpool.stochastic_pool2d(x, 2, seed=np.random.default_rng(0))
print(y.shape, y3.shape, i3.dtype, a.mean(), d.sum(), g.shape, gi.shape, s.shape)
"""

WRONG_SCRIPT = """\
import numpy as np
import fastpool

x = np.zeros((1, 1, 4, 4), np.float32)
fastpool.max_pool2d(x, "2")
fastpool.avg_pool2d(x, 2, kernel=3)
n: int = fastpool.max_pool2d(x, 2)
fastpool.max_pool3d_bakward
"""


def test_mypy_checks_user_code_against_the_installed_stubs(tmp_path):
    pytest.importorskip("mypy")
    (tmp_path / "user.py").write_text(USER_SCRIPT)
    (tmp_path / "wrong.py").write_text(WRONG_SCRIPT)
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--no-error-summary",
         "--python-executable", sys.executable, "user.py", "wrong.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    out = run.stdout + run.stderr
    user = [ln for ln in out.splitlines() if ln.startswith("user.py")]
    errors = [ln for ln in user if ": error:" in ln]
    assert not errors, textwrap.indent("\n".join(errors), "  ")
    revealed = [re.sub(r".*Revealed type is ", "", ln) for ln in user if "Revealed type" in ln]
    assert len(revealed) == 3, out
    assert all("numpy.ndarray" in r for r in revealed[:2]), revealed
    assert re.fullmatch(r'"(builtins\.)?tuple\[(builtins\.)?int, \.\.\.\]"', revealed[2]), revealed
    wrong = {int(m.group(1)) for m in re.finditer(r"^wrong\.py:(\d+): error:", out, re.M)}
    assert wrong == {5, 6, 7, 8}, out
