"""fastpool: fast, exact CPU pooling for CNNs, forward and backward.

Every function takes NumPy-compatible arrays in PyTorch's layout
``(N, C, *spatial)`` (or ``channels_last=True`` for ``(N, *spatial, C)``)
and runs OpenMP-parallel C kernels with the GIL released.  See the README
for the semantics; :mod:`fastpool.reference` holds slow NumPy definitions of
every operator.
"""

from __future__ import annotations

import sys as _sys

try:
    from fastpool import _core
except ImportError as _exc:  # pragma: no cover - only on a broken install
    raise ImportError(
        "fastpool's compiled core could not be imported. If you are running from the "
        "source tree, install the package first (pip install .) and run from another "
        f"directory. Original error: {_exc}"
    ) from _exc

from fastpool import _api, _args, _bilinear, _ops, _pyramid, _special_window
from fastpool._api import *  # noqa: F401,F403
from fastpool._bilinear import *  # noqa: F401,F403
from fastpool._ops import *  # noqa: F401,F403
from fastpool._pyramid import *  # noqa: F401,F403
from fastpool._paths import get_cmake_dir, get_include, get_library_dir, get_pkgconfig_dir
from fastpool._special_window import *  # noqa: F401,F403

__version__: str = _core.build_info()["version"]

__all__ = [
    "__version__",
    "show_config",
    "get_include",
    "get_library_dir",
    "get_cmake_dir",
    "get_pkgconfig_dir",
    *_api.__all__,
    *_ops.__all__,
    *_bilinear.__all__,
    *_pyramid.__all__,
    *_special_window.__all__,
]


def _name_call_errors() -> None:
    """Every public function's call errors (a missing or unexpected argument) start
    with its name, as all its other errors do."""
    namespace = globals()
    for name in __all__:
        fn = namespace.get(name)
        if callable(fn) and not hasattr(fn, "__wrapped__"):
            wrapper = _args._named_call_errors(fn)
            # pickled by reference as fastpool.<name> (the wrapper), e.g. for dask tasks
            wrapper.__module__ = "fastpool"
            namespace[name] = wrapper


def show_config(file=None) -> None:
    """Print the version, the build and the threading fastpool runs with.

    The OpenMP lines give the OpenMP version the kernels were compiled for,
    the runtime library they run with (found through the dynamic linker, and
    described by threadpoolctl when it is installed) and any other OpenMP
    runtime loaded in the process, since two runtimes compete for the cores.

    Parameters
    ----------
    file : file-like, optional
        Where to print; standard output by default.

    Returns
    -------
    None
        The report is printed to ``file``, not returned.
    """
    info = _core.build_info()
    out = file if file is not None else _sys.stdout
    lines = [
        f"fastpool {info['version']}",
        f"  build type:      {info['build_type']}",
        f"  compiler:        {info['compiler']}",
        f"  C flags:         {info['c_flags'] or '(none)'}",
        f"  SIMD level:      {info['simd']}",
        f"  OpenMP:          {_openmp_build_line(info['openmp'])}",
    ]
    if info["openmp"]:
        runtime, others = _openmp_runtime_lines()
        lines.append(f"  OpenMP runtime:  {runtime}")
        lines.extend(f"  other OpenMP:    {other}" for other in others)
    lines.append(f"  default threads: {info['max_threads']}")
    print("\n".join(lines), file=out)


def _openmp_build_line(openmp: bool) -> str:
    if not openmp:
        return "off"
    try:
        from fastpool import _build_config
    except ImportError:  # pragma: no cover - a build from before _build_config existed
        return "on"
    facts = [f"OpenMP {_build_config.openmp_version}"] if _build_config.openmp_version else []
    if _build_config.openmp_spec_date:
        facts.append(f"_OPENMP {_build_config.openmp_spec_date}")
    return f"on ({', '.join(facts)})" if facts else "on"


def _openmp_runtime_lines() -> tuple[str, list[str]]:
    """fastpool's OpenMP runtime, and the paths of any other one loaded."""
    import os

    from fastpool import _paths

    path = _paths.openmp_library()
    if path is None:
        return "not found", []
    real = os.path.realpath(path)
    described = path
    try:
        import threadpoolctl
    except ImportError:
        pass
    else:
        for lib in threadpoolctl.threadpool_info():
            if lib.get("user_api") == "openmp" and os.path.realpath(lib["filepath"]) == real:
                version = f" {lib['version']}" if lib.get("version") else ""
                threads = f"threadpoolctl: {lib['num_threads']} threads"
                described = f"{lib['prefix']}{version} {path} ({threads})"
                break
    others = [p for p in _paths.loaded_openmp_libraries() if os.path.realpath(p) != real]
    return described, others


_name_call_errors()
