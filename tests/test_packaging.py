"""The source distribution builds VEGA on its own: every file the extensions compile from is in it (the
.pyx sources setup.py globs, the .pxi / .pxd / .h they include), and so are the typing stubs, py.typed
and what the tests need; Cython's generated C and in-place builds are not.  setup.py refuses to build
a package with no extension rather than install one whose ``import vega`` fails."""
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tracked(*prefixes):
    out = subprocess.run(["git", "ls-files", *prefixes], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.fixture(scope="module")
def sdist_members(tmp_path_factory):
    if not os.path.isdir(os.path.join(ROOT, ".git")):
        pytest.skip("needs the git checkout (the file list is git's)")
    out = tmp_path_factory.mktemp("sdist")
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", str(out)], cwd=ROOT, check=True,
                   capture_output=True, env={**os.environ, "VEGA_BUILD_JOBS": "1"})
    (path,) = out.iterdir()
    with tarfile.open(path) as tar:
        names = tar.getnames()
    top = names[0].split("/")[0]
    return {n[len(top) + 1:] for n in names if n.startswith(top + "/")}


def test_the_sdist_holds_every_source_the_extensions_build_from(sdist_members):
    sources = {p for p in tracked("vega") if p.endswith((".pyx", ".pxi", ".pxd", ".h", ".pyi", ".py"))}
    assert any(p.endswith(".pyx") for p in sources)
    assert sources - sdist_members == set()
    assert "vega/py.typed" in sdist_members


def test_the_sdist_holds_what_the_tests_import(sdist_members):
    assert tracked("tests") - sdist_members == set()
    assert {"bench/baseline_decode.py", "docs/FORMATS.md", "vega/capture.example.toml"} <= sdist_members


def test_the_sdist_leaves_out_generated_and_built_files(sdist_members):
    assert not [p for p in sdist_members if p.endswith((".c", ".so", ".html", ".pyc"))]


def test_setup_refuses_to_build_without_extension_sources(tmp_path):
    shutil.copy(os.path.join(ROOT, "setup.py"), tmp_path)
    (tmp_path / "vega").mkdir()
    r = subprocess.run([sys.executable, "setup.py", "build_ext"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode != 0
    assert "no extension to build" in r.stderr


def test_the_installed_package_has_stubs_and_c_headers_but_no_sources(tmp_path):
    """What build_py puts in a wheel beside the compiled modules: the typing stubs, py.typed and the C-level
    headers (.pxd / .pxi / .h, for code that cimports VEGA), not the .pyx nor generated C."""
    subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path)], cwd=ROOT,
                   check=True, capture_output=True, env={**os.environ, "VEGA_BUILD_JOBS": "1"})
    shipped = {p.name for p in (tmp_path / "vega").iterdir()}
    wanted = {os.path.basename(p) for p in tracked("vega/*.pyi", "vega/*.pxd", "vega/*.pxi", "vega/*.h")}
    assert wanted - shipped == set() and "py.typed" in shipped
    assert "capture.example.toml" in shipped             # vega capture --example-config prints it
    assert not [n for n in shipped if n.endswith((".pyx", ".c"))]


def test_the_project_metadata_builds_without_deprecation_warnings():
    """The license was a TOML table, which setuptools warns of on every build and stops accepting in 2027."""
    r = subprocess.run([sys.executable, "setup.py", "--name"], cwd=ROOT, capture_output=True, text=True, check=True,
                       env={**os.environ, "VEGA_BUILD_JOBS": "1"})
    assert r.stdout.split()[-1] == "vega"
    assert "Deprecat" not in r.stderr, r.stderr
