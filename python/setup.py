"""Build step of the RewardFlow Python package: ships librewardflow.so inside `rewardflow_engine`.

The shared library comes from, in this order:

1. ``REWARDFLOW_LIBRARY``: a path to an already built ``librewardflow.so`` (copied as is);
2. the CMake project one folder up (this repository): ``cmake -G Ninja`` (Release) and a build
   of the ``RewardFlowShared`` target in ``REWARDFLOW_CMAKE_BUILD_DIR`` (default
   ``python/build/cmake``, so a second ``pip install`` rebuilds incrementally).

Everything else is declared in pyproject.toml.
"""
import os
import shutil
import subprocess
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LIBRARY = "librewardflow.so"


def built_library() -> Path:
    """The librewardflow.so to package: REWARDFLOW_LIBRARY, or a CMake build of the repository."""
    given = os.environ.get("REWARDFLOW_LIBRARY")
    if given:
        path = Path(given)
        if not path.is_file():
            raise RuntimeError(f"REWARDFLOW_LIBRARY={given} is not a file")
        return path
    if not (REPO / "CMakeLists.txt").is_file():
        raise RuntimeError(
            "librewardflow.so: no CMake project at ../ (building outside the repository?); "
            "build it with CMake and set REWARDFLOW_LIBRARY to its path")
    build = Path(os.environ.get("REWARDFLOW_CMAKE_BUILD_DIR") or HERE / "build" / "cmake").resolve()
    subprocess.check_call([
        "cmake", "-G", "Ninja", "-S", str(REPO), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release"])
    subprocess.check_call(["cmake", "--build", str(build), "--target", "RewardFlowShared"])
    return build / LIBRARY


class BuildWithLibrary(build_py):
    """`build_py` that also puts librewardflow.so into the package."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "rewardflow_engine" / LIBRARY
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built_library(), target)  # follows the .so → .so.0 → .so.0.1.0 links


class BinaryDistribution(Distribution):
    """The package holds a native library, so its wheel is platform-specific."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildWithLibrary}, distclass=BinaryDistribution)
