"""``vega verify``: check journal files (header, torn tail, index, checkpoints), optionally repair them."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vega.commands import CliError
from vega.commands._ops import refuse_special_file

if TYPE_CHECKING:
    from vega.commands import _Subparsers

HELP = ("check journal files and report per file; --repair fixes a torn tail, a damaged index, a cut update "
        "or a cut header")


def register(sub: _Subparsers) -> None:
    p = sub.add_parser("verify", help=HELP, description=(
        "Check journal files: header, torn tail, index and checkpoint table against the records. A "
        "directory is searched for */YYYYMMDD.bin. Exit status 0 when every file is sound (or was "
        "repaired), 1 when a file is damaged."))
    p.add_argument("paths", nargs="+", help="journal files or journal root directories")
    p.add_argument("--repair", action="store_true",
                   help="repair damaged files in place (cut a torn tail, rebuild the index, seal; a file cut "
                        "inside its header is written again as the empty day its path names); "
                        "every whole record is kept; never touches a file its writer holds")
    p.add_argument("--quiet", "-q", action="store_true", help="print only files with problems")
    p.set_defaults(func=run)


def _files(paths: list[str]) -> list[Path]:
    files = []
    for text in paths:
        p = Path(text)
        if p.is_dir():
            found = sorted(p.rglob("*.bin"))        # a FIFO or directory of that name too: reported, not skipped
            if not found:
                raise CliError(f"{p}: no journal files (*.bin) under this directory")
            files.extend(found)
        elif p.exists():
            refuse_special_file(p)
            files.append(p)
        else:
            raise CliError(f"{p}: no such journal file or directory")
    return files


def _kind(p: Path) -> str:
    """What ``p`` is, when it is no regular file: "a directory", "a FIFO", ... (a link: what it points at)."""
    from vega._files import file_kind
    try:
        return file_kind(p.stat().st_mode)
    except FileNotFoundError:
        return file_kind(p.lstat().st_mode)        # a link to nothing
    except OSError as e:
        return f"unreadable ({e.strerror or e})"


def run(args: argparse.Namespace) -> int:
    """Verify (and repair) each file; print one report per file; exit 1 if any is left damaged."""
    from vega.journal import JournalError, verify
    files = _files(args.paths)
    damaged = repaired = fixable = abandoned = 0
    for f in files:
        if not f.is_file():                             # found under a directory: a journal's name, no journal
            damaged += 1
            print(f"{f}: DAMAGED: {_kind(f)}, not a regular file, where a journal file is expected", file=sys.stdout)
            continue
        try:
            rep = verify(f, repair=args.repair)
        except PermissionError:
            raise CliError(f"{f}: permission denied") from None
        except OSError as e:    # a repair that cannot write its seal (a full disk), a read error: the file named
            raise CliError(f"{f}: {'cannot repair' if args.repair else 'cannot read'}: {e.strerror or e}") from None
        except JournalError as e:  # e.g. locked by its running writer (its message names the file)
            raise CliError(str(e) if str(e).startswith(str(f)) else f"{f}: {e}") from None
        if not rep.ok:
            damaged += 1
            fixable += rep.repairable
        if rep.repaired:
            repaired += 1
        abandoned += rep.ok and rep.abandoned
        if not (args.quiet and rep.ok and not rep.repaired and not rep.abandoned):
            print(rep, file=sys.stdout)
    summary = f"{len(files)} file(s): {len(files) - damaged} sound, {damaged} damaged" + \
              (f", {repaired} repaired" if args.repair else "") + \
              (f"; {abandoned} not sealed with no writer (vega verify --repair seals them)" if abandoned else "")
    if damaged:
        sys.stdout.flush()
        if args.repair or not fixable:                  # a bad header: --repair leaves the file alone
            hint = ""
        elif fixable == damaged:
            hint = " (vega verify --repair to fix)"
        else:
            hint = f" (vega verify --repair fixes {fixable} of them)"
        print(f"vega verify: {damaged} of {len(files)} journal file(s) damaged{hint}", file=sys.stderr)
        return 1
    print(summary, file=sys.stdout)
    return 0
