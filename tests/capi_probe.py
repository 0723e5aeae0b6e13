"""Compile a small Cython module that cimports one of VEGA's C contracts (a .pxd), as another extension
would, and import it: the tests of the ring's, the journal's and the IV kernel's C APIs share this."""
import importlib
import os
import subprocess
import sys

import numpy as np

import vega

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(vega.__file__)))

_SETUP = '''
from setuptools import setup, Extension
from Cython.Build import cythonize
setup(ext_modules=cythonize([Extension({name!r}, [{name!r} + ".pyx"], include_dirs=[{vega!r}, {numpy!r}])],
                            include_path=[{root!r}], quiet=True))
'''


def build_probe(directory, name, source):
    """Build ``source`` as extension ``name`` in ``directory`` (a separate setup.py run, against this
    checkout's vega/*.pxd) and return the imported module."""
    directory = str(directory)
    with open(os.path.join(directory, name + ".pyx"), "w") as f:
        f.write(source)
    with open(os.path.join(directory, "setup.py"), "w") as f:
        f.write(_SETUP.format(name=name, vega=os.path.join(ROOT, "vega"), numpy=np.get_include(), root=ROOT))
    subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", "-q"], cwd=directory,
                   env=dict(os.environ, PYTHONPATH=ROOT), check=True, capture_output=True, timeout=300)
    sys.path.insert(0, directory)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(directory)
