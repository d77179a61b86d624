"""Where this installation keeps fastpool's C library, for C, C++ and Cython users.

A wheel installs the C artefacts inside the package, next to the compiled
modules::

    fastpool/include/fastpool.h
    fastpool/lib/libfastpool.so                        (the core; the compiled modules link it)
    fastpool/lib/cmake/fastpool/fastpoolConfig.cmake   (find_package(fastpool))
    fastpool/lib/pkgconfig/fastpool.pc                  (relocatable)

Everything is found relative to the compiled ``fastpool._core`` module, which
scikit-build-core installs into that same directory in a wheel and in either
kind of editable install (in-place rebuilds put it in the build tree's
install directory, together with the C artefacts).
"""

from __future__ import annotations

import os
import sys

__all__ = ["get_cmake_dir", "get_include", "get_library_dir", "get_pkgconfig_dir"]


def _artefact_root() -> str:
    from fastpool import _core

    return os.path.dirname(os.path.abspath(_core.__file__))


def _existing(rel_dir: str, marker: str) -> str:
    path = os.path.join(_artefact_root(), rel_dir)
    if not os.path.isfile(os.path.join(path, marker)):
        raise FileNotFoundError(
            f"fastpool: {marker} is not in {path}; this installation does not carry the C "
            "library (reinstall fastpool from a wheel or with pip install .)"
        )
    return path


def get_include() -> str:
    """Directory that holds ``fastpool.h``, the C API's one header.

    Put it on the include path of C code, and of Cython code that cimports
    :mod:`fastpool.cython_api` (which needs no library).

    Returns
    -------
    str
        An absolute path.

    Raises
    ------
    FileNotFoundError
        If this installation lacks the header.
    """
    return _existing("include", "fastpool.h")


def get_library_dir() -> str:
    """Directory that holds the shared library ``libfastpool.so``.

    Link with ``-L<dir> -lfastpool`` and add ``-Wl,-rpath,<dir>`` (or use
    :func:`get_cmake_dir` or the pkg-config file in ``<dir>/pkgconfig``).

    Returns
    -------
    str
        An absolute path.

    Raises
    ------
    FileNotFoundError
        If this installation lacks the library.
    """
    name = {"win32": "fastpool.dll", "darwin": "libfastpool.dylib"}.get(
        sys.platform, "libfastpool.so"
    )
    return _existing("lib", name)


def get_cmake_dir() -> str:
    """Directory of the CMake package: pass it as ``-Dfastpool_DIR=<dir>``.

    ``find_package(fastpool CONFIG REQUIRED)`` then defines the imported target
    ``fastpool::fastpool`` (the shared library, with its include directory).
    scikit-build-core builds find it without help, through fastpool's
    ``cmake.prefix`` entry point.

    Returns
    -------
    str
        An absolute path.

    Raises
    ------
    FileNotFoundError
        If this installation lacks the CMake package.
    """
    return _existing(os.path.join("lib", "cmake", "fastpool"), "fastpoolConfig.cmake")


def get_pkgconfig_dir() -> str:
    """Directory of ``fastpool.pc``: add it to ``PKG_CONFIG_PATH``.

    The file locates the header and library relative to itself, so it is
    right wherever fastpool is installed.

    Returns
    -------
    str
        An absolute path.

    Raises
    ------
    FileNotFoundError
        If this installation lacks the pkg-config file.
    """
    return _existing(os.path.join("lib", "pkgconfig"), "fastpool.pc")


def openmp_library() -> str | None:
    """Path of the OpenMP runtime that fastpool's compiled core runs with.

    None when fastpool was built without OpenMP or the runtime cannot be
    located.  On glibc the dynamic linker is asked which library provides
    ``omp_get_max_threads`` to ``fastpool._core`` and the ``libfastpool.so``
    it links (the library that calls it); elsewhere the first OpenMP runtime
    mapped into the process is reported.
    """
    from fastpool import _core

    if not _core.build_info()["openmp"]:
        return None
    try:
        return _openmp_library_dladdr(_core.__file__)
    except (OSError, AttributeError, ValueError):
        pass
    return next(iter(loaded_openmp_libraries()), None)


def _openmp_library_dladdr(module_path: str) -> str:
    import ctypes

    class _DlInfo(ctypes.Structure):
        _fields_ = [
            ("dli_fname", ctypes.c_char_p),
            ("dli_fbase", ctypes.c_void_p),
            ("dli_sname", ctypes.c_char_p),
            ("dli_saddr", ctypes.c_void_p),
        ]

    # The module is already loaded: RTLD_NOLOAD returns its handle, and a
    # symbol looked up through it is searched in the module and then its
    # dependencies (libfastpool.so, then the OpenMP runtime that one needs).
    core = ctypes.CDLL(module_path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
    address = ctypes.cast(core.omp_get_max_threads, ctypes.c_void_p)
    dladdr = ctypes.CDLL(None).dladdr
    dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    dladdr.restype = ctypes.c_int
    info = _DlInfo()
    if not dladdr(address, ctypes.byref(info)) or not info.dli_fname:
        raise ValueError("dladdr found no library")
    return os.path.normpath(os.fsdecode(info.dli_fname))


def loaded_openmp_libraries() -> list[str]:
    """Paths of the OpenMP runtimes (libgomp, libomp, libiomp) mapped into this process."""
    found: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rstrip("\n").split(maxsplit=5)[-1]
                name = os.path.basename(path)
                runtime = name.startswith(("libgomp", "libomp", "libiomp")) and ".so" in name
                if runtime and path.startswith("/") and path not in found:
                    found.append(path)
    except OSError:
        pass
    return found
