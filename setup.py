"""Build VEGA's Cython extensions.

Every ``vega/*.pyx`` is an extension module.  Release builds are optimised but keep symbols and frame
pointers so ``perf record -g`` shows Cython function names.  Switches (environment):

* ``VEGA_DEBUG=1``    -O0 -g, line tracing, C asserts, Cython bounds checks on.
* ``VEGA_ANNOTATE=1`` writes the annotated ``vega/*.html`` beside the sources.
* ``VEGA_ONLY=_ring,_core``  build only these modules (handy while iterating on one of them).
* ``VEGA_BUILD_JOBS=N``  cythonize and compile N modules at a time (default: one per CPU; on 2 cores the
  build takes ~100 s instead of ~175 s one after another, as ``pip install .`` did).
"""
import glob
import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("VEGA_DEBUG") == "1"
ANNOTATE = os.environ.get("VEGA_ANNOTATE") == "1"
ONLY = {m for m in os.environ.get("VEGA_ONLY", "").split(",") if m}
JOBS = int(os.environ.get("VEGA_BUILD_JOBS", "0")) or os.cpu_count() or 1


class ParallelBuildExt(build_ext):
    """build_ext compiling JOBS extensions at a time (``pip install .`` too), unless ``-j`` says otherwise."""

    def finalize_options(self):
        super().finalize_options()
        if not self.parallel:
            self.parallel = JOBS

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": False,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
    "linetrace": DEBUG,
}
if DEBUG:
    cflags = ["-O0", "-g", "-fno-omit-frame-pointer", "-UNDEBUG"]
    macros = [("CYTHON_TRACE_NOGIL", "1")]
else:
    cflags = ["-O3", "-g", "-fno-omit-frame-pointer", "-DNDEBUG"]
    macros = []
macros.append(("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"))

extensions = []
for path in sorted(glob.glob(os.path.join("vega", "*.pyx"))):
    mod = os.path.splitext(os.path.basename(path))[0]
    if ONLY and mod not in ONLY:
        continue
    extensions.append(
        Extension(
            f"vega.{mod}",
            [path],
            include_dirs=[numpy.get_include(), "vega"],
            extra_compile_args=cflags + ["-Wno-unused-function", "-Wno-unreachable-code"],
            define_macros=macros,
        )
    )

if not extensions:   # e.g. an sdist without its .pyx: a package whose `import vega` fails would install
    raise SystemExit(f"setup.py: no extension to build (no vega/*.pyx{' named by VEGA_ONLY' if ONLY else ''} "
                     f"in {os.path.abspath('vega')})")

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        annotate=ANNOTATE,
        nthreads=JOBS if JOBS > 1 else None,
    ),
    cmdclass={"build_ext": ParallelBuildExt},
)
