"""fastpool as a dependency: C programs built with find_package(fastpool) and with
pkg-config against this installation, Cython packages that cimport
fastpool.cython_api without linking, the cmake.prefix entry point, the paths
helpers, show_config() and threadpoolctl.

Each build runs in a temporary directory against the installed fastpool (an
editable install included) and skips, saying why, only when a tool is absent.
"""

import importlib.metadata
import importlib.resources
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from pathlib import Path

import pytest

import fastpool

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples"
CC = shutil.which("cc") or shutil.which("gcc")
CMAKE = shutil.which("cmake")
PKG_CONFIG = shutil.which("pkg-config") or shutil.which("pkgconf")
NM = shutil.which("nm")
READELF = shutil.which("readelf")

needs_cc = pytest.mark.skipif(CC is None, reason="needs a C compiler (cc)")
needs_cmake = pytest.mark.skipif(CMAKE is None, reason="needs cmake")
needs_pkg_config = pytest.mark.skipif(PKG_CONFIG is None, reason="needs pkg-config")
needs_example = pytest.mark.skipif(
    not (EXAMPLE / "pool_example.c").is_file(), reason="needs the source tree's examples/"
)
openmp_only = pytest.mark.skipif(
    not fastpool._core.build_info()["openmp"], reason="fastpool was built without OpenMP"
)


def _has_module(name):
    return importlib.util.find_spec(name) is not None


def _run(*cmd, cwd=None, env=None, with_stderr=False):
    res = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, (
        f"{' '.join(map(str, cmd))} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
    )
    return res.stdout + res.stderr if with_stderr else res.stdout


def _python(code, cwd, env=None):
    return _run(sys.executable, "-c", textwrap.dedent(code), cwd=cwd, env=env)


def _assert_not_linked_to_fastpool(module):
    """A module that uses the cimport table needs no fastpool symbol or library."""
    if NM:
        undefined = _run(NM, "-D", "--undefined-only", module).split()
        assert not [s for s in undefined if s.startswith("fp_")], undefined
    if READELF:
        assert "libfastpool" not in _run(READELF, "-d", module)


# ---- where the C artefacts are ---------------------------------------------------------------


def test_paths_point_at_the_installed_c_artefacts():
    include, libdir = Path(fastpool.get_include()), Path(fastpool.get_library_dir())
    cmake_dir, pc_dir = Path(fastpool.get_cmake_dir()), Path(fastpool.get_pkgconfig_dir())
    assert (include / "fastpool.h").is_file()
    assert (libdir / "libfastpool.so").is_file()
    assert (cmake_dir / "fastpoolConfig.cmake").is_file()
    assert (cmake_dir / "fastpoolTargets.cmake").is_file()
    assert (pc_dir / "fastpool.pc").is_file()
    # All of them beside the compiled core, in this installation (not the source tree).
    package = Path(fastpool._core.__file__).resolve().parent
    for path in (include, libdir, cmake_dir, pc_dir):
        assert path.resolve().is_relative_to(package)
    for name in ("get_include", "get_library_dir", "get_cmake_dir", "get_pkgconfig_dir"):
        assert name in fastpool.__all__


def test_installed_header_is_the_one_the_core_was_built_from():
    text = (Path(fastpool.get_include()) / "fastpool.h").read_text()
    version = ".".join(
        re.search(rf"#define FP_VERSION_{part} (\d+)", text).group(1)
        for part in ("MAJOR", "MINOR", "PATCH")
    )
    assert version == fastpool.__version__


ONE_CORE_CHECK = """
import json, fastpool, fastpool.cython_api
maps = [line.split()[-1] for line in open("/proc/self/maps") if "libfastpool" in line]
print(json.dumps({"mapped": sorted(set(maps)), "lib": fastpool.get_library_dir()}))
"""


def test_extensions_link_the_installed_shared_library(tmp_path):
    """_core and cython_api carry no copy of the core: they need libfastpool.so,
    found beside them through RUNPATH $ORIGIN/lib, and export no fp_ symbol; a
    process that imports both maps one libfastpool.so, get_library_dir()'s."""
    from fastpool import cython_api

    for module in (fastpool._core.__file__, cython_api.__file__):
        if READELF:
            dynamic = _run(READELF, "-d", module)
            assert re.search(r"\(NEEDED\).*\[libfastpool\.so\]", dynamic), dynamic
            runpath = re.search(r"\((?:RUNPATH|RPATH)\).*\[(.*)\]", dynamic)
            assert runpath and "$ORIGIN/lib" in runpath[1].split(":"), dynamic
        if NM:
            exported = _run(NM, "-D", "--defined-only", module).split()
            assert not [s for s in exported if s.startswith("fp_")]
            assert "fp_version_number" in _run(NM, "-D", "--undefined-only", module).split()
    if Path("/proc/self/maps").is_file():
        report = json.loads(_python(ONE_CORE_CHECK, cwd=tmp_path).strip().splitlines()[-1])
        lib = (Path(report["lib"]) / "libfastpool.so").resolve()
        assert [Path(p).resolve() for p in report["mapped"]] == [lib], report


def test_pkg_config_file_is_relocatable():
    text = (Path(fastpool.get_pkgconfig_dir()) / "fastpool.pc").read_text()
    assert f"Version: {fastpool.__version__}" in text
    variables = dict(re.findall(r"^(\w+)=(.*)$", text, re.MULTILINE))
    assert variables["prefix"].startswith("${pcfiledir}/")
    # Every directory is derived from the file's own location, none from the build machine.
    assert all(value.startswith("${") for value in variables.values()), variables


NO_ENTRY_POINT = (
    "the installed fastpool's metadata has no cmake.prefix entry point; an install made "
    "before pyproject.toml declared it must be redone (pip install . or pip install -e .)"
)


def _cmake_prefix_entry_points():
    group = importlib.metadata.entry_points(group="cmake.prefix")
    return [ep for ep in group if ep.name == "fastpool"]


def test_cmake_prefix_entry_point_leads_to_the_cmake_package():
    """What scikit-build-core does with the cmake.prefix entry point (builder.py): load
    it, take importlib.resources.files() of the module, add it to CMAKE_PREFIX_PATH."""
    eps = _cmake_prefix_entry_points()
    assert len(eps) == 1 and eps[0].value == "_fastpool_cmake", NO_ENTRY_POINT
    module = eps[0].load()
    # loading it must not import fastpool's compiled code (scikit-build-core loads it
    # inside other builds, and inside fastpool's own editable reinstall)
    code = ("import importlib, sys; importlib.import_module('_fastpool_cmake'); "
            "sys.exit(any(m.startswith('fastpool') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], cwd=tempfile.gettempdir()).returncode == 0
    files = importlib.resources.files(module)
    # Editable installs give a multiplexed path over the build tree and the sources.
    prefixes = [Path(os.fspath(p)) for p in getattr(files, "_paths", [files])]
    found = [p for p in prefixes if (p / "fastpoolConfig.cmake").is_file()]
    assert found, prefixes
    # the forwarding config includes the real package's config
    text = (found[0] / "fastpoolConfig.cmake").read_text()
    target = Path(re.search(r'include\("\$\{CMAKE_CURRENT_LIST_DIR\}/(.*?)"\)', text)[1])
    assert (found[0] / target).resolve() == (
        Path(fastpool.get_cmake_dir()) / "fastpoolConfig.cmake").resolve()


# ---- C consumers ----------------------------------------------------------------------------


@needs_example
@needs_cmake
@needs_cc
def test_c_consumer_with_find_package(tmp_path):
    build = tmp_path / "build"
    out = _run(
        CMAKE,
        "-S",
        EXAMPLE,
        "-B",
        build,
        "-DCMAKE_BUILD_TYPE=Release",
        f"-Dfastpool_DIR={fastpool.get_cmake_dir()}",
    )
    assert f"fastpool {fastpool.__version__} from" in out
    _run(CMAKE, "--build", build)
    exe = build / "pool_example"
    assert _run(exe).strip().endswith("ok")
    if READELF:
        dynamic = _run(READELF, "-d", exe)
        assert "libfastpool.so" in dynamic
        assert fastpool.get_library_dir() in dynamic  # CMake's rpath to the imported library


@needs_example
@needs_pkg_config
@needs_cc
def test_c_consumer_with_pkg_config(tmp_path):
    env = {**os.environ, "PKG_CONFIG_PATH": fastpool.get_pkgconfig_dir()}
    assert _run(PKG_CONFIG, "--modversion", "fastpool", env=env).strip() == fastpool.__version__
    flags = _run(PKG_CONFIG, "--cflags", "--libs", "fastpool", env=env).split()
    libdir = _run(PKG_CONFIG, "--variable=libdir", "fastpool", env=env).strip()
    assert Path(libdir).resolve() == Path(fastpool.get_library_dir()).resolve()
    assert f"-I{Path(fastpool.get_include())}" in [
        f"-I{Path(f[2:]).resolve()}" for f in flags if f.startswith("-I")
    ]
    exe = tmp_path / "pool_example"
    _run(CC, EXAMPLE / "pool_example.c", *flags, f"-Wl,-rpath,{libdir}", "-o", exe)
    assert _run(exe).strip().endswith("ok")


# ---- Cython consumers: cimport fastpool.cython_api, no link step -------------------------------

DOWNSTREAM_PYX = '''\
# cython: language_level=3
"""A downstream package's max pooling through fastpool's cimport table."""
import numpy as np

from libc.stdint cimport int64_t, intptr_t
from fastpool.cython_api cimport (
    FP_FLOAT64, FP_INT64, FP_OK, FP_VERSION_NUMBER, fp_dtype, fp_max_pool_forward,
    fp_pool_output_shape, fp_pool_params, fp_pool_params_init, fp_status, fp_status_string,
    fp_tensor, fp_version_number,
)


cdef fp_tensor describe(fp_dtype dtype, a):
    """fastpool's view of a 4-D NumPy array of 8-byte elements (strides in elements)."""
    cdef fp_tensor t
    t.dtype = dtype
    t.ndim = 4
    for i in range(4):
        t.shape[i] = a.shape[i]
        t.strides[i] = a.strides[i] // 8
    t.data = <void *><intptr_t>a.__array_interface__["data"][0]
    return t


def versions():
    """(header compiled against, library running)."""
    return FP_VERSION_NUMBER, fp_version_number()


def max_pool2d(x, int kernel, int stride, int padding=0):
    cdef fp_pool_params p
    cdef int64_t in_shape[4]
    cdef int64_t out_shape[4]
    cdef fp_status st = fp_pool_params_init(&p, 2)
    for a in range(2):
        p.kernel[a] = kernel
        p.stride[a] = stride
        p.pad_begin[a] = p.pad_end[a] = padding
    x = np.asarray(x, np.float64)
    for a in range(4):
        in_shape[a] = x.shape[a]
    st = fp_pool_output_shape(&p, in_shape, out_shape, NULL, NULL)
    if st != FP_OK:
        raise ValueError(fp_status_string(st).decode())
    y = np.empty([out_shape[a] for a in range(4)], np.float64)
    idx = np.empty(y.shape, np.int64)
    cdef fp_tensor tx = describe(FP_FLOAT64, x)
    cdef fp_tensor ty = describe(FP_FLOAT64, y)
    cdef fp_tensor ti = describe(FP_INT64, idx)
    with nogil:
        st = fp_max_pool_forward(&p, &tx, &ty, &ti)
    if st != FP_OK:
        raise ValueError(fp_status_string(st).decode())
    return y, idx


def bad_kernel_status():
    """The C API's status string for a zero kernel, through the table."""
    cdef fp_pool_params p
    cdef int64_t in_shape[4]
    cdef int64_t out_shape[4]
    fp_pool_params_init(&p, 2)
    p.kernel[0] = 0
    in_shape[0] = in_shape[1] = in_shape[2] = in_shape[3] = 4
    return fp_status_string(fp_pool_output_shape(&p, in_shape, out_shape, NULL, NULL)).decode()
'''

CHECK_DOWNSTREAM = """
import json
import numpy as np
import fastpool
import fp_downstream

x = np.random.default_rng(1).standard_normal((2, 3, 9, 7))[:, :, ::-1, 1:]  # strided view
y, idx = fp_downstream.max_pool2d(x, 3, 2, 1)
want_y, want_idx = fastpool.max_pool2d(x, 3, 2, 1, return_indices=True)
assert np.array_equal(y, want_y) and np.array_equal(idx, want_idx)
print(json.dumps({"file": fp_downstream.__file__, "versions": fp_downstream.versions(),
                  "bad": fp_downstream.bad_kernel_status()}))
"""


def _cython_include_dir():
    """Directory holding fastpool/cython_api.pxd: site-packages for a wheel, the
    source tree for an editable install (Cython does not follow import hooks)."""
    return str(Path(fastpool.__file__).resolve().parents[1])


def _check_downstream(site):
    report = json.loads(_python(CHECK_DOWNSTREAM, cwd=site).strip().splitlines()[-1])
    header, library = report["versions"]
    assert header == library == fastpool._core.build_info()["version_number"]
    assert "invalid" in report["bad"]
    _assert_not_linked_to_fastpool(report["file"])


@needs_cc
@pytest.mark.skipif(not _has_module("Cython"), reason="needs Cython")
@pytest.mark.skipif(not _has_module("setuptools"), reason="needs setuptools")
def test_cython_downstream_with_setuptools(tmp_path):
    """cythonize + setuptools, fastpool.get_include() on the include path, nothing linked."""
    (tmp_path / "fp_downstream.pyx").write_text(DOWNSTREAM_PYX)
    (tmp_path / "setup.py").write_text(
        textwrap.dedent(f"""\
        from Cython.Build import cythonize
        from setuptools import Extension, setup

        import fastpool

        ext = Extension("fp_downstream", ["fp_downstream.pyx"],
                        include_dirs=[fastpool.get_include()])
        setup(name="fp-downstream", ext_modules=cythonize(
            [ext], include_path=[{_cython_include_dir()!r}], quiet=True))
        """)
    )
    _run(sys.executable, "setup.py", "-q", "build_ext", "--inplace", cwd=tmp_path)
    _check_downstream(tmp_path)


@needs_cc
@needs_cmake
@pytest.mark.skipif(
    not all(map(_has_module, ("scikit_build_core", "Cython", "cython_cmake"))),
    reason="needs scikit-build-core, Cython and cython-cmake to build without isolation",
)
def test_cython_downstream_with_scikit_build_core(tmp_path):
    """A scikit-build-core package finds fastpool with find_package() through the
    cmake.prefix entry point alone (its site-packages search is turned off), takes
    the header from fastpool::headers and the .pxd from fastpool_CYTHON_INCLUDE_DIR."""
    assert _cmake_prefix_entry_points(), NO_ENTRY_POINT
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "fp_downstream.pyx").write_text(DOWNSTREAM_PYX)
    (proj / "pyproject.toml").write_text(
        textwrap.dedent("""\
        [build-system]
        requires = ["scikit-build-core", "cython", "cython-cmake"]
        build-backend = "scikit_build_core.build"

        [project]
        name = "fp-downstream"
        version = "0.1"

        [tool.scikit-build]
        wheel.packages = []
        search.site-packages = false
        """)
    )
    (proj / "CMakeLists.txt").write_text(
        textwrap.dedent("""\
        cmake_minimum_required(VERSION 3.21)
        project(fp_downstream LANGUAGES C)
        find_package(Python COMPONENTS Interpreter Development.Module REQUIRED)
        find_package(Cython MODULE REQUIRED VERSION 3.0)
        include(UseCython)
        find_package(fastpool CONFIG REQUIRED)
        message(STATUS "fastpool ${fastpool_VERSION} at ${fastpool_DIR}")
        cython_transpile(fp_downstream.pyx LANGUAGE C
          INCLUDE_DIRECTORIES ${fastpool_CYTHON_INCLUDE_DIR} OUTPUT_VARIABLE c_file)
        python_add_library(fp_downstream MODULE WITH_SOABI ${c_file})
        target_link_libraries(fp_downstream PRIVATE fastpool::headers)
        install(TARGETS fp_downstream DESTINATION .)
        """)
    )
    dist = tmp_path / "dist"
    out = _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-build-isolation",
        "--no-deps",
        "--no-index",
        "-v",
        "-w",
        dist,
        proj,
        f"-Cbuild-dir={tmp_path / 'build'}",
        with_stderr=True,
    )
    match = re.search(r"fastpool (\S+) at (\S+)", out)
    assert match and match.group(1) == fastpool.__version__, out[-3000:]
    # found through the entry point's forwarding package, which includes get_cmake_dir()'s
    found = Path(match.group(2))
    assert found.name == "_fastpool_cmake", found
    assert (found / "fastpoolConfig.cmake").is_file()
    site = tmp_path / "site"
    (wheel,) = dist.glob("fp_downstream-*.whl")
    zipfile.ZipFile(wheel).extractall(site)
    _check_downstream(site)


def _normalise_prototype(text):
    text = re.sub(r"\s+", " ", text).strip().replace("( ", "(").replace(" )", ")")
    return text.replace("(void)", "()")


def _public_header():
    """fastpool.h's FP_API prototypes by name, and the names of its types and of its
    constants (enum members and valued #defines)."""
    header = (Path(fastpool.get_include()) / "fastpool.h").read_text()
    header = re.sub(r"/\*.*?\*/", "", header, flags=re.DOTALL)
    prototypes = {
        m[2]: _normalise_prototype(m[1])
        for m in re.finditer(r"FP_API\s+([^;]*?\b(fp_\w+)\s*\([^)]*\))\s*;", header)
    }
    types = set(re.findall(r"typedef (?:enum|struct) (fp_\w+)", header))
    constants = set(re.findall(r"^#define (FP_[A-Z0-9_]+)\s", header, re.MULTILINE))
    for block in re.findall(r"typedef enum fp_\w+ \{(.*?)\}", header, re.DOTALL):
        constants |= set(re.findall(r"\b(FP_[A-Z0-9_]+)\b", block))
    assert "fp_max_pool_forward" in prototypes and "fp_tensor" in types and "FP_OK" in constants
    return prototypes, types, constants


def test_fastpool_pxd_declares_the_public_header():
    """_fastpool.pxd, the one Cython declaration of fastpool.h, declares every FP_API
    function with the header's prototype, every type and every constant."""
    prototypes, types, constants = _public_header()
    pxd = (Path(fastpool.__file__).parent / "_fastpool.pxd").read_text()
    pxd = re.sub(r"#.*", "", pxd)
    declared = {
        m[2]: _normalise_prototype(m[1])
        for m in re.finditer(r"^\s+((?:const )?[\w ]*?\*?\b(fp_\w+)\([^)]*\))", pxd, re.MULTILINE)
    }
    assert declared == prototypes
    assert types == set(re.findall(r"ctypedef (?:enum|struct) (fp_\w+)", pxd))
    missing = sorted(c for c in constants if not re.search(rf"^\s+(?:[\w ]+ )?\*?{c}$", pxd,
                                                            re.MULTILINE))
    assert not missing, f"_fastpool.pxd lacks {missing}"


def test_cython_api_covers_the_public_header():
    """cython_api.pxd declares every FP_API function of fastpool.h with the header's
    arguments, re-exports (cimports from _fastpool.pxd) every type and constant, and
    the module's table has every function."""
    from fastpool import cython_api

    prototypes, types, constants = _public_header()
    pxd = (Path(fastpool.__file__).parent / "cython_api.pxd").read_text()
    declared = {
        m[2]: _normalise_prototype(m[1])
        for m in re.finditer(r"^cdef\s+([^(]*?\b(fp_\w+)\([^)]*\)) noexcept nogil$", pxd,
                             re.MULTILINE)
    }
    assert declared == prototypes
    assert set(prototypes) <= set(cython_api.__pyx_capi__)
    cimported = re.search(r"^from fastpool\._fastpool cimport \((.*?)\)", pxd,
                          re.MULTILINE | re.DOTALL)
    reexported = set(re.findall(r"\w+", cimported[1]))
    missing = sorted((types | constants) - reexported)
    assert not missing, f"cython_api.pxd does not re-export {missing}"


# ---- show_config() and threadpoolctl ---------------------------------------------------------


def test_show_config_reports_build_and_openmp_runtime(capsys):
    fastpool.show_config()
    text = capsys.readouterr().out
    info = fastpool._core.build_info()
    assert text.startswith(f"fastpool {fastpool.__version__}\n")
    for field in (
        "build type:",
        "compiler:",
        "C flags:",
        f"SIMD level:      {info['simd']}",
        f"default threads: {info['max_threads']}",
    ):
        assert field in text
    if info["openmp"]:
        assert re.search(r"OpenMP:\s+on \(OpenMP \d+\.\d+, _OPENMP \d{6}\)", text), text
        runtime = re.search(r"OpenMP runtime:\s+(.*)", text).group(1)
        assert "libgomp" in runtime or "libomp" in runtime or "libiomp" in runtime
    else:
        assert re.search(r"OpenMP:\s+off\n", text)
        assert "OpenMP runtime" not in text


THREADPOOL_CHECK = """
import json, os
import numpy as np
import threadpoolctl
import fastpool
from fastpool import _paths

def tasks():
    return len(os.listdir("/proc/self/task"))

x = np.ones((4, 16, 64, 64), np.float32)
info = [lib for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "openmp"]
before = tasks()
with threadpoolctl.threadpool_limits(1, user_api="openmp"):
    limited = fastpool._core.build_info()["max_threads"]
    fastpool.max_pool2d(x, 3, 1, 1)
    after_limited = tasks()
fastpool.max_pool2d(x, 3, 1, 1)
print(json.dumps({
    "openmp": [os.path.realpath(lib["filepath"]) for lib in info],
    "prefixes": [lib["prefix"] for lib in info],
    "fastpool_runtime": os.path.realpath(_paths.openmp_library()),
    "limited": limited,
    "restored": fastpool._core.build_info()["max_threads"],
    "tasks": [before, after_limited, tasks()],
}))
"""


@openmp_only
@pytest.mark.skipif(not _has_module("threadpoolctl"), reason="needs threadpoolctl")
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_threadpoolctl_sees_and_limits_fastpools_openmp(tmp_path):
    """In a fresh interpreter (so that no other OpenMP runtime is loaded and no worker
    thread exists yet): threadpoolctl lists the runtime fastpool's core resolves
    omp_* from, and limiting it to one thread makes num_threads=None calls serial."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "2",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    env.pop("OMP_THREAD_LIMIT", None)
    report = json.loads(_python(THREADPOOL_CHECK, cwd=tmp_path, env=env).strip().splitlines()[-1])
    assert report["fastpool_runtime"] in report["openmp"]
    assert set(report["prefixes"]) <= {"libgomp", "libomp", "libiomp"}
    assert report["limited"] == 1
    assert report["restored"] == 2
    before, after_limited, after = report["tasks"]
    assert after_limited == before  # the limited call started no OpenMP worker
    if (os.cpu_count() or 1) > 1:
        assert after > before  # an unlimited one does (OMP_NUM_THREADS=2)
