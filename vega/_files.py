"""Files that are not regular files, for the readers of user-named paths (masters, configs, journals): what
such a path is, for a message, and an open that refuses one instead of blocking on it."""
from __future__ import annotations

import errno
import io
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TypeAlias

#: a path argument: a str or an os.PathLike (a pathlib.Path)
StrPath: TypeAlias = str | os.PathLike[str]


def file_kind(mode: int) -> str:
    """What a stat mode that is not a regular file is, for a message ("a directory", "a FIFO", ...)."""
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISLNK, "a dangling symbolic link")):      # (an lstat mode: os.stat follows links)
        if test(mode):
            return kind
    return "a special file"


def open_regular(path: StrPath, error: type[Exception], what: str,
                 newline: str | None = None) -> io.TextIOWrapper:
    """``path`` opened for reading as latin-1 text, or ``error`` when it is not a regular file: a FIFO would block
    the open for ever (no writer) or the read (an idle one), a device would never end.  Opened without blocking
    and checked on the open file (no window for another file to take the name in between)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise error(f"{path}: is {file_kind(mode)}, not a regular file: not {what}")
        os.set_blocking(fd, True)
        return open(fd, "r", encoding="latin-1", newline=newline)
    except BaseException:
        os.close(fd)
        raise


def quote(text: str, limit: int = 40) -> str:
    """``repr(text)`` in at most ``limit`` characters, cut (and `` ...`` added) when longer: what a message quotes
    of a file's content (a binary file's bytes are up to four characters each in a repr)."""
    r = repr(text)
    if len(r) <= limit:
        return r
    k = min(len(text), limit)
    while k > 0 and len(repr(text[:k])) > limit:
        k -= 1
    return repr(text[:k]) + " ..."


def reserve(fd: int, size: int, path: StrPath, what: str, smaller: str = "") -> None:
    """Give the file ``fd`` (at ``path``, ``size`` bytes, to be mapped shared) all its pages now.  A sparse file in
    a tmpfs (/dev/shm) that finds the filesystem full when a page is first written kills the writer with SIGBUS,
    mid-day, in the merge (a container's /dev/shm is 64 MiB unless sized); reserved here, a lack of room is an
    OSError at creation instead, naming the room ``what`` needs and the room there is (and ``smaller``: how to
    ask for less).  A filesystem without fallocate keeps the file sparse, as before."""
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as e:
        if e.errno in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            return
        if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise
        where = os.path.dirname(os.path.abspath(path))
        try:
            st = os.statvfs(where)
            free = f"{st.f_bavail * st.f_frsize / 2**20:,.1f} MiB free"
        except OSError:
            free = "its free room unknown"
        raise OSError(e.errno, f"{path}: no room for the {what} ({size / 2**20:,.1f} MiB) in {where} ({free}): "
                               f"make room there{', ' + smaller if smaller else ''} or give it more (a "
                               f"container's --shm-size)") from None


def missing_dirs(paths: Iterable[StrPath]) -> list[Path]:
    """The directories among ``paths`` and their parents that do not exist yet, deepest first: what a command
    about to make them may remove again if they stay empty (:func:`remove_empty`), never one that was there."""
    out: set[Path] = set()
    for p in paths:
        p = Path(p)
        out.update(d for d in (p, *p.parents) if not d.exists())
    return sorted(out, key=lambda d: len(d.parts), reverse=True)


def remove_empty(dirs: Iterable[Path]) -> None:
    """Remove each of ``dirs`` (deepest first, as :func:`missing_dirs` lists them) that is empty; leave the rest."""
    for d in dirs:
        try:
            d.rmdir()
        except OSError:
            pass
