"""Smoke test of an installed fastpool (a wheel in a fresh environment).

Run from any directory but the source tree:  python scripts/wheel_smoke.py
Needs only fastpool and NumPy, no compiler.  Exits non-zero on the first failure.
"""

import os
import sys

import numpy as np

import fastpool
from fastpool import cython_api

here = os.path.dirname(os.path.abspath(fastpool.__file__))
print(f"fastpool {fastpool.__version__} from {here}")
fastpool.show_config()

# 2x2 windows with stride 2 tile the plane: NumPy's reshape gives the answer.
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 3, 8, 10)).astype(np.float32)
tiles = x.reshape(2, 3, 4, 2, 5, 2)
y, idx = fastpool.max_pool2d(x, 2, return_indices=True)
assert np.array_equal(y, tiles.max(axis=(3, 5))), "max_pool2d differs from NumPy"
flat = x.reshape(2, 3, -1)
gathered = np.take_along_axis(flat, idx.reshape(2, 3, -1), axis=2).reshape(y.shape)
assert np.array_equal(gathered, y), "max_pool2d indices do not point at the maxima"
a = fastpool.avg_pool2d(x.astype(np.float64), 2)
assert np.allclose(a, tiles.astype(np.float64).mean(axis=(3, 5)), rtol=1e-12, atol=1e-15)
dx = fastpool.max_pool2d_backward(np.ones_like(y), idx, x.shape)
assert dx.sum() == y.size, "max_pool2d_backward lost gradient"
assert np.array_equal(fastpool.max_pool2d(x, 2, num_threads=1), y), "thread count changed results"

# The C artefacts the wheel carries for C, C++ and Cython users.
for name, path, marker in [
    ("include", fastpool.get_include(), "fastpool.h"),
    ("library", fastpool.get_library_dir(), "libfastpool.so"),
    ("cmake", fastpool.get_cmake_dir(), "fastpoolConfig.cmake"),
    ("pkgconfig", fastpool.get_pkgconfig_dir(), "fastpool.pc"),
]:
    assert os.path.isfile(os.path.join(path, marker)), f"{name}: no {marker} in {path}"
    assert os.path.commonpath([path, here]) == here, f"{name} dir {path} is outside {here}"

# One copy of the core: _core and cython_api both run the package's libfastpool.so.
if os.path.isfile("/proc/self/maps"):
    with open("/proc/self/maps") as maps:
        mapped = {os.path.realpath(line.split()[-1]) for line in maps if "libfastpool" in line}
    lib = os.path.realpath(os.path.join(fastpool.get_library_dir(), "libfastpool.so"))
    assert mapped == {lib}, f"libfastpool mapped from {sorted(mapped)}, not {lib}"

# The cimport table of fastpool.cython_api.
capi = cython_api.__pyx_capi__
for fn in ("fp_max_pool_forward", "fp_pool_params_init", "fp_status_string"):
    assert fn in capi, f"cython_api lacks {fn}"
print(f"cython_api exports {len(capi)} functions")
print("smoke test passed")
sys.exit(0)
