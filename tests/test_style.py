"""Source lines are at most 120 columns (the project's convention; docs/*.md and README.md are prose and not
held to it, nor is Cython's generated C).  The file list is git's when there is a checkout, so a stray
untracked file does not fail the suite; without one (an unpacked sdist) the test walks the source folders.
The docs' relative links and ../ paths name files that exist."""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_COLUMNS = 120
# The kinds of file held to the limit, as git pathspecs (root-relative; '*' crosses '/' as in git).
PATTERNS = ("vega/*.pyx", "vega/*.pxi", "vega/*.pxd", "vega/*.py", "vega/*.pyi", "vega/*.h", "vega/*.c",
            "tests/*.py", "bench/*.py", "tools/*.py", "tools/*.sh", "setup.py", ".ci/run")
WALKED = {"vega": (".pyx", ".pxi", ".pxd", ".py", ".pyi", ".h", ".c"), "tests": (".py",), "bench": (".py",),
          "tools": (".py", ".sh")}
TOP_LEVEL = ("setup.py", ".ci/run")


def _generated(path):
    """Cython writes vega/X.c beside vega/X.pyx; a .c with no .pyx of its name is hand-written."""
    stem, ext = os.path.splitext(path)
    return ext == ".c" and os.path.exists(os.path.join(ROOT, stem + ".pyx"))


def source_files():
    if os.path.isdir(os.path.join(ROOT, ".git")):
        out = subprocess.run(["git", "ls-files", "-z", "--", *PATTERNS], cwd=ROOT, capture_output=True,
                             check=True)
        paths = [p for p in out.stdout.decode().split("\0") if p]
    else:
        paths = [p for p in TOP_LEVEL if os.path.isfile(os.path.join(ROOT, p))]
        for top, exts in WALKED.items():
            for folder, dirs, files in os.walk(os.path.join(ROOT, top)):
                dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", "build") and not d.startswith("."))
                paths += [os.path.relpath(os.path.join(folder, f), ROOT) for f in sorted(files) if f.endswith(exts)]
    return sorted(p for p in paths if not _generated(p))


def test_the_file_list_covers_every_kind_of_source():
    paths = source_files()
    for wanted in ("setup.py", "vega/_core.pyx", "vega/_store.pxi", "vega/_core.pxd", "vega/store.py",
                   "vega/commands/dump.py", "vega/_core.pyi", "vega/_store.h", "tests/test_style.py",
                   "tools/profile.sh", "tools/working_set.py"):
        assert wanted in paths
    assert not [p for p in paths if p.endswith(".md") or _generated(p)]


def test_source_lines_fit_120_columns():
    long_lines = []
    for path in source_files():
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                width = len(line.rstrip("\r\n"))
                if width > MAX_COLUMNS:
                    long_lines.append(f"{path}:{n}: {width} columns")
    assert not long_lines, (f"{len(long_lines)} line(s) longer than {MAX_COLUMNS} columns:\n"
                            + "\n".join(long_lines))


def test_the_docs_relative_links_and_paths_resolve():
    """docs/FORMATS.md pointed to `../shared/nse/PROTOCOL.md`, which from docs/ (or anywhere in a checkout) is no
    file: a markdown link, or a quoted path starting with ../, names a file that exists beside the document."""
    import re
    docs = ["README.md"] + sorted(os.path.join("docs", f) for f in os.listdir(os.path.join(ROOT, "docs"))
                                  if f.endswith(".md"))
    checked = 0
    for doc in docs:
        with open(os.path.join(ROOT, doc), encoding="utf-8") as fh:
            text = fh.read()
        links = re.findall(r"\]\(([^)#\s]+)[^)]*\)", text) + re.findall(r"`(\.\./[^`\s]+)`", text)
        for target in links:
            if "://" in target:
                continue
            checked += 1
            assert os.path.exists(os.path.join(ROOT, os.path.dirname(doc), target)), f"{doc}: {target} is no file"
    assert checked            # README's link to docs/FORMATS.md at least
