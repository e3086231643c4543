"""Build step of the RewardFlow Python package: the native module `rewardflow_engine._core`
(python/src/_core.c, CPython limited API 3.11, so one abi3 wheel serves every CPython >= 3.11)
linked against librewardflow.so, which ships inside the package as `librewardflow.so.0`
(its soname; the module finds it through RUNPATH `$ORIGIN`).

The shared library comes from, in this order:

1. ``REWARDFLOW_LIBRARY``: a path to an already built ``librewardflow.so`` (copied as is);
2. the CMake project one folder up (this repository): ``cmake -G Ninja`` (Release) and a build
   of the ``RewardFlowShared`` target in ``REWARDFLOW_CMAKE_BUILD_DIR`` (default
   ``python/build/cmake``, so a second ``pip install`` rebuilds incrementally).

The version is read from ``include/rewardflow.h`` (RF_VERSION_*), the one place it is written.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
HEADER = REPO / "include" / "rewardflow.h"
SONAME = "librewardflow.so.0"
LIMITED_API = "cp311"


def header_version() -> str:
    """MAJOR.MINOR.PATCH from the RF_VERSION_* macros of include/rewardflow.h."""
    text = HEADER.read_text(encoding="utf-8")
    parts = [re.search(rf"#define RF_VERSION_{part} (\d+)", text) for part in ("MAJOR", "MINOR", "PATCH")]
    if not all(parts):
        raise RuntimeError(f"{HEADER}: RF_VERSION_MAJOR/MINOR/PATCH not found")
    return ".".join(match.group(1) for match in parts)


def built_library() -> Path:
    """The librewardflow.so to package: REWARDFLOW_LIBRARY, or a CMake build of the repository."""
    given = os.environ.get("REWARDFLOW_LIBRARY")
    if given:
        path = Path(given)
        if not path.is_file():
            raise RuntimeError(f"REWARDFLOW_LIBRARY={given} is not a file")
        return path.resolve()
    if not (REPO / "CMakeLists.txt").is_file():
        raise RuntimeError(
            "librewardflow.so: no CMake project at ../ (building outside the repository?); "
            "build it with CMake and set REWARDFLOW_LIBRARY to its path")
    build = Path(os.environ.get("REWARDFLOW_CMAKE_BUILD_DIR") or HERE / "build" / "cmake").resolve()
    subprocess.check_call([
        "cmake", "-G", "Ninja", "-S", str(REPO), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release"])
    subprocess.check_call(["cmake", "--build", str(build), "--target", "RewardFlowShared"])
    return (build / "librewardflow.so").resolve()


class BuildWithLibrary(build_ext):
    """`build_ext` that links `_core` against librewardflow.so and puts that library beside it."""

    def run(self):
        library = built_library()
        link_dir = Path(self.build_temp) / "rewardflow-lib"
        link_dir.mkdir(parents=True, exist_ok=True)
        for name in ("librewardflow.so", SONAME):
            shutil.copyfile(library, link_dir / name)
        for extension in self.extensions:
            extension.library_dirs.append(str(link_dir))
        super().run()
        target = Path(self.build_lib) / "rewardflow_engine" / SONAME
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(library, target)
        if self.inplace:
            shutil.copyfile(library, HERE / "rewardflow_engine" / SONAME)


core = Extension(
    "rewardflow_engine._core",
    sources=["src/_core.c"],
    include_dirs=[str(REPO / "include")],
    depends=[str(HEADER)],  # rebuilt when the C API changes
    libraries=["rewardflow"],
    extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-Wno-missing-field-initializers"],
    extra_link_args=["-Wl,-rpath,$ORIGIN"],
    define_macros=[("Py_LIMITED_API", "0x030B0000")],
    py_limited_api=True,
)

setup(
    version=header_version(),
    ext_modules=[core],
    cmdclass={"build_ext": BuildWithLibrary},
    options={"bdist_wheel": {"py_limited_api": LIMITED_API}},
)
