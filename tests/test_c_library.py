"""The C library builds with plain CMake (no Python) and passes its C tests,
with OpenMP and without it."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    shutil.which("cmake") is None or not (ROOT / "CMakeLists.txt").exists(),
    reason="needs cmake and the source tree",
)


def _run(*cmd, cwd=None):
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert res.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{res.stdout}\n{res.stderr}"
    return res.stdout


# The OpenMP-on build is the configuration users get (Release, -O3, where
# -Werror also sees the optimiser's warnings).  The OpenMP-off build only has to
# show that the option turns OpenMP off and the C tests pass without it: a Debug
# build does that in seconds instead of minutes (the Release compile without
# OpenMP is already CI's .ci/no_openmp.sh job).
BUILD_TYPE = {"ON": "Release", "OFF": "Debug"}


def _build(build: Path, openmp: str, prefix: Path) -> Path:
    out = _run("cmake", "-S", str(ROOT), "-B", str(build),
               f"-DCMAKE_BUILD_TYPE={BUILD_TYPE[openmp]}", f"-DFASTPOOL_OPENMP={openmp}",
               "-DCMAKE_C_FLAGS=-Werror", f"-DCMAKE_INSTALL_PREFIX={prefix}")
    if openmp == "OFF":
        assert "fastpool: OpenMP OFF" in out, out
    _run("cmake", "--build", str(build), "--parallel", "2")
    return build


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """One build per OpenMP setting, made on first use and shared by the tests
    (a Release build of every kernel takes minutes on 2 cores)."""
    made = {}

    def get(openmp: str) -> tuple[Path, Path]:
        if openmp not in made:
            root = tmp_path_factory.mktemp(f"c_openmp_{openmp}")
            made[openmp] = (_build(root / "build", openmp, root / "prefix"), root / "prefix")
        return made[openmp]

    return get


@pytest.mark.parametrize("openmp", ["ON", "OFF"])
def test_c_library_builds_and_passes_ctest(builds, openmp):
    build, _ = builds(openmp)
    out = _run("ctest", "--test-dir", str(build), "--output-on-failure")
    assert "100% tests passed" in out


def test_c_library_installs_header_libraries_and_cmake_package(builds):
    build, prefix = builds("ON")
    _run("cmake", "--install", str(build))
    assert (prefix / "include" / "fastpool.h").is_file()
    libs = {p.name for p in prefix.rglob("libfastpool*")}
    assert "libfastpool.a" in libs and any(n.startswith("libfastpool.so") for n in libs)
    assert list(prefix.rglob("fastpoolConfig.cmake"))
    targets = next(prefix.rglob("fastpoolTargets.cmake")).read_text()
    for target in ("fastpool::fastpool", "fastpool::fastpool_static", "fastpool::headers"):
        assert f"add_library({target} " in targets
    # A pkg-config file that finds the tree relative to itself.
    pc = next(prefix.rglob("fastpool.pc"))
    assert pc.parent.name == "pkgconfig" and "prefix=${pcfiledir}/" in pc.read_text()
    # The usual chain libfastpool.so -> .so.MAJOR -> .so.MAJOR.MINOR.PATCH.
    chain = sorted(p.name for p in prefix.rglob("libfastpool.so*"))
    assert len(chain) == 3 and sum(p.is_symlink() for p in prefix.rglob("libfastpool.so*")) == 2
    # The shared library exports only the public fp_ API.
    so = next(p for p in prefix.rglob("libfastpool.so*") if not p.is_symlink())
    if shutil.which("nm"):
        lines = _run("nm", "-D", "--defined-only", str(so)).splitlines()
        syms = [line.split()[-1] for line in lines if line.strip()]
        linker = {"_init", "_fini", "__bss_start", "_edata", "_end"}
        exported = [s for s in syms if s not in linker]
        assert exported and all(s.startswith("fp_") for s in exported), exported
        assert not any(s.startswith("fp__") for s in syms)
