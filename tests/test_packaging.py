"""The source distribution builds VEGA on its own: every file the extensions compile from is in it (the
.pyx sources setup.py globs, the .pxi / .pxd / .h they include), and so are the typing stubs, py.typed
and what the tests need; Cython's generated C and in-place builds are not.  setup.py refuses to build
a package with no extension rather than install one whose ``import vega`` fails."""
import os
import re
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
    if not os.path.exists(os.path.join(ROOT, ".git")):     # a directory, or the file of a git worktree
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


def _cython_sources():
    for name in sorted(os.listdir(os.path.join(ROOT, "vega"))):
        if name.endswith((".pyx", ".pxd", ".pxi")):
            with open(os.path.join(ROOT, "vega", name)) as f:
                yield f"vega/{name}", f.read().splitlines()


def test_the_sources_avoid_what_the_oldest_cython_we_allow_cannot_compile():
    """pyproject promises a build with Cython>=3.0.10, but CI builds with the newest Cython, and 3.0.10 failed
    on two constructs 3.1 accepts (found by building with it; re-check there when raising or lowering the
    floor):

    * a member of a *named* enum as an array dimension (``uint64_t errors[VG_N_ERR]`` with VG_N_ERR in
      ``cdef enum vg_err``): "Array dimension not integer".  An anonymous ``cdef enum:`` constant is fine.
    * a generator expression whose outermost iterable is a display of displays naming a variable of the
      enclosing function (``(.. for k, v in (("ring", self._ring), ..))``): the generated C reads
      ``__pyx_outer_scope``, which 3.0 left out of the generator's scope struct (cython/cython#5601); gcc
      fails.  A flat tuple, a list comprehension or a name bound first compile."""
    enum_head = re.compile(r"^(\s*)c(?:p|type)?def\s+enum\s+\w+\s*:")
    member = re.compile(r"^\s+([A-Za-z_]\w*)\s*(?:=|$)")
    array_decl = re.compile(r"^\s*(?:cdef\s+)?(?:const\s+)?[A-Za-z_]\w*\s+\**\s*\w+\s*\[\s*([A-Za-z_]\w*)\s*\]")
    nested_display_iterable = re.compile(r"\bfor\s+[\w\s,()]+?\s+in\s+[(\[]\s*[(\[]")
    sources = [(p, [line.split("#")[0].rstrip() for line in lines]) for p, lines in _cython_sources()]
    named_members = set()
    for _, lines in sources:
        head = None
        for line in lines:
            if head is not None and line and len(line) - len(line.lstrip()) <= head:
                head = None
            m = enum_head.match(line)
            if m:
                head = len(m.group(1))
            elif head is not None and member.match(line):
                named_members.add(member.match(line).group(1))
    assert {"VG_E_LZO", "VG_E_SEGMENT"} <= named_members         # the parse found vg_err's members
    bad = []
    for path, lines in sources:
        for n, line in enumerate(lines, 1):
            m = array_decl.match(line)
            if m and m.group(1) in named_members:
                bad.append(f"{path}:{n}: array dimension {m.group(1)} is a named enum's member: {line.strip()}")
            if nested_display_iterable.search(line) and not line.lstrip().startswith("for "):
                bad.append(f"{path}:{n}: a comprehension iterates a display of displays: {line.strip()}")
    assert bad == []


def test_readme_names_the_user_extras_and_build_jobs_as_pyproject_and_setup_define_them():
    """README said nothing of the export and watch extras nor of VEGA_BUILD_JOBS; what it names must exist."""
    import tomllib
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        extras = set(tomllib.load(fh)["project"]["optional-dependencies"])
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        readme = fh.read()
    named = {x for group in re.findall(r"(?:vega|\.)\[([\w,]+)\]", readme) for x in group.split(",")}
    assert named <= extras
    assert {"export", "watch", "zstd", "test", "bench"} <= named
    with open(os.path.join(ROOT, "setup.py"), encoding="utf-8") as fh:
        assert "VEGA_BUILD_JOBS" in fh.read() and "VEGA_BUILD_JOBS" in readme
