"""The index feed NFO_IDX: index names, their stable tokens, and the index record's view.

NSE's index broadcasts (CM 7207 BCAST_INDICES, 7216 India VIX, 8207 indicative close) carry an index *name*
and no token.  VEGA merges them into the index feed's store (``FeedHandler("IDX", store)``) under a token per
name that is the same every day and in every process (docs/FORMATS.md "Index tokens"):

* the names of ``DEFAULT_INDEX_TOKENS`` (and any ``index_tokens=`` given to the handler, e.g. read with
  :func:`load_index_master`) get the configured token: the asset tokens of the index derivatives in
  contract.txt, so that an index option's spot is found in the index store;
* any other name gets ``0x40000000 | (FNV-1a-32(key) & 0x3FFFFFFF)`` of its key (upper case, blanks trimmed,
  runs of blanks as one space), which :func:`index_token` computes without a table.

``INDEX_DTYPE`` views the store records of an index feed with the index meaning of their fields.
"""
from __future__ import annotations

import contextlib
import csv
import os
import re
from collections.abc import Generator, Mapping
from pathlib import Path

import numpy as np

from vega._files import open_regular, quote
from vega.store import INDEX_FIELDS, INDEX_LINE5_NAMES, INDEX_UNION_FIELDS, STORE_DTYPE

__all__ = ["DEFAULT_INDEX_TOKENS", "HASH_TOKEN_BASE", "INDEX_DTYPE", "INDEX_SYMBOLS", "IndexMasterError", "index_key",
           "index_token", "check_index_tokens", "index_table", "load_index_master"]

#: configured tokens of well-known indices: the asset tokens their derivatives carry (the simulator's
#: contract.txt uses the same); override or extend with ``FeedHandler("IDX", ..., index_tokens=...)``
DEFAULT_INDEX_TOKENS = {"Nifty 50": 26000, "Nifty Bank": 26009, "Nifty Fin Service": 26037}

#: the derivatives' symbols (contract.txt) of the indices of DEFAULT_INDEX_TOKENS -> the name the exchange
#: broadcasts the index under: ``index_token("NIFTY")`` is a ValueError pointing at "Nifty 50"
INDEX_SYMBOLS = {"NIFTY": "Nifty 50", "BANKNIFTY": "Nifty Bank", "FINNIFTY": "Nifty Fin Service"}

#: tokens of names that are not configured: HASH_TOKEN_BASE | (FNV-1a-32(key) & 0x3FFFFFFF)
HASH_TOKEN_BASE = 0x40000000
_KEY_MAX = 23                                    # the C table's key holds 23 characters (the wire sends 21)


class IndexMasterError(ValueError):
    """An index master file (name,token lines) is malformed."""


def index_key(name: str | bytes) -> bytes:
    """The key an index name is matched by: up to the first NUL, blanks trimmed, runs of blanks (space, tab)
    as one space, ASCII letters upper-cased (``"Nifty  50 "`` and ``"NIFTY 50"`` are one index).  Empty for a
    blank name, and for one with a character other than printable ASCII or a tab: no exchange index name has
    one, and the index handler counts such a name as ``bad_index_name`` (damaged), not as a new index."""
    raw = name.encode("latin-1") if isinstance(name, str) else bytes(name)
    raw = raw.split(b"\0", 1)[0].strip(b" \t")[:_KEY_MAX]
    if _NOT_PRINTABLE.search(raw):
        return b""
    return re.sub(rb"[ \t]+", b" ", raw).upper()


#: a byte no index name has (index_key): not printable ASCII, not a tab
_NOT_PRINTABLE = re.compile(rb"[^\t\x20-\x7e]")


def _fnv1a(data: bytes) -> int:
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def index_token(name: str | bytes, tokens: Mapping[str, int] | None = None) -> int:
    """The NFO_IDX token an index handler merges ``name`` under: the configured one (``tokens``, default
    ``DEFAULT_INDEX_TOKENS``) or the hashed one.  (The handler moves a hashed token on by one in the ~1 in
    2**30 case that two names collide; ``FeedHandler.index_names()`` shows what it used.)  A derivatives' symbol
    of ``INDEX_SYMBOLS`` ("NIFTY", any case) that ``tokens`` does not name is a ValueError naming the index's name
    and token: the exchange broadcasts no index under it, and its hashed token would match no record."""
    if not isinstance(name, (str, bytes)):      # bytes(5) is five NULs: "5 is not an index name" named no type
        raise TypeError(f"index_token: name must be a str (or bytes), not {type(name).__name__}: {name!r}")
    key = index_key(name)
    if not key:
        raise ValueError(f"{name!r} is not an index name (blank, or a character other than printable ASCII)")
    for n, tok in (DEFAULT_INDEX_TOKENS if tokens is None else tokens).items():
        if index_key(n) == key:
            return int(tok)
    index = _symbol_index(key)
    if index is not None:
        raise _symbol_error(name, index, index_token(index, tokens))
    return HASH_TOKEN_BASE | (_fnv1a(key) & 0x3FFFFFFF)


def _symbol_index(key: bytes) -> str | None:
    """The index name ``INDEX_SYMBOLS`` gives the derivatives' symbol of key ``key`` (``index_key``), else None."""
    return next((n for sym, n in INDEX_SYMBOLS.items() if index_key(sym) == key), None)


def _symbol_error(name: str | bytes, index: str, token: int) -> ValueError:
    """The error for a derivatives' symbol asked for as an index name: it names the index and its token."""
    return ValueError(f"index_token: {name!r} is the derivatives' symbol of the index {index!r}, which the "
                      f"exchange broadcasts under that name: index_token({index!r}) is {token}")


def check_index_tokens(tokens: Mapping[str, int]) -> dict[str, int]:
    """Validate a name -> token mapping: non-blank names, tokens in 1 .. 2**31 - 1, no token twice, no name
    twice (by key).  Returns it as a plain dict."""
    try:
        items = list(dict(tokens).items())
    except (TypeError, ValueError):
        raise TypeError("index_tokens must be a mapping of index name -> token") from None
    out: dict[str, int] = {}
    by_key: dict[bytes, str] = {}                # key -> the name that has it
    by_token: dict[int, str] = {}                # token -> the name that has it
    for name, tok in items:
        if not isinstance(name, str) or not index_key(name):
            raise ValueError(f"index_tokens: {name!r} is not an index name")
        if isinstance(tok, bool) or not isinstance(tok, (int, np.integer)) or not 0 < int(tok) < 2 ** 31:
            raise ValueError(f"index_tokens: token {tok!r} of {name!r} is not in 1 .. 2**31 - 1")
        key = index_key(name)
        if key in by_key:
            raise ValueError(f"index_tokens: {name!r} and {by_key[key]!r} are the same index")
        if int(tok) in by_token:
            raise ValueError(f"index_tokens: token {int(tok)} is given to {by_token[int(tok)]!r} and {name!r}")
        by_key[key] = name
        by_token[int(tok)] = name
        out[name] = int(tok)
    return out


def index_table(tokens: Mapping[str, int] | None = None) -> dict[str, int]:
    """The name -> token table an index handler starts with: ``DEFAULT_INDEX_TOKENS`` updated by ``tokens``
    (checked by :func:`check_index_tokens`).  A name of ``tokens`` replaces the default of the same index,
    however spelt (by key); a token of ``tokens`` that a default holds for another index is a ValueError, since
    two indices would then merge into one record (give that index a token of its own in ``tokens`` too)."""
    user = check_index_tokens(tokens) if tokens is not None else {}
    keys = {index_key(n) for n in user}
    names = {tok: n for n, tok in user.items()}
    out: dict[str, int] = {}
    for name, tok in DEFAULT_INDEX_TOKENS.items():
        if index_key(name) in keys:
            continue
        if tok in names:
            raise ValueError(f"index_tokens: token {tok} of {names[tok]!r} is the default token of {name!r} "
                             f"(vega.indices.DEFAULT_INDEX_TOKENS); give {name!r} another token in index_tokens "
                             f"too")
        out[name] = tok
    out.update(user)
    return out


def _read_rows(p: Path) -> Generator[tuple[int, list[str]], None, None]:
    """(line number, row) of every csv row of p, as they are read: a wrong file given as the master is refused
    at its first bad line, not read into memory whole first (p is a regular file: a FIFO would block the read
    for ever)."""
    with open_regular(p, IndexMasterError, "an index master file", newline="") as fh:
        try:
            yield from enumerate(csv.reader(fh), 1)
        except csv.Error as e:                           # a binary file: a field past the csv module's limit
            raise IndexMasterError(f"{p}: not a name,token text file ({e})") from None


#: a token of an index master file: ASCII decimal digits.  int() takes more ('26_000' is 26000, and non-ASCII
#: digits), which would read a damaged field as some other number.
_TOKEN = re.compile(r"[0-9]+")


def load_index_master(path: str | os.PathLike[str]) -> dict[str, int]:
    """Read an index master file: one ``name,token`` per line (a first line whose token column holds no digit
    is a header, skipped; ``#`` starts a comment line).  A token is ASCII decimal digits (blanks around them
    allowed), in 1 .. 2**31 - 1.  Returns the mapping for ``index_tokens=``.  A malformed line, a name given
    twice (as the handler matches names: :func:`index_key`), a token given twice, or a file without one
    ``name,token`` line raises IndexMasterError naming the file and the line (and the line it repeats)."""
    p = Path(path)
    out: dict[str, int] = {}
    by_key: dict[bytes, tuple[int, str]] = {}    # key -> (line, name) that has it
    by_token: dict[int, tuple[int, str]] = {}    # token -> (line, name) that has it
    with contextlib.closing(_read_rows(p)) as rows:     # (closed at the first bad line too)
        for lineno, row in rows:
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            if len(row) < 2:
                raise IndexMasterError(f"{p}:{lineno}: expected 'name,token', got {quote(','.join(row), 60)}")
            name, tok = row[0].strip(), row[1].strip()
            if _TOKEN.fullmatch(tok) is None:
                if lineno == 1 and not any(c.isdigit() for c in tok):
                    continue                                 # a header line
                raise IndexMasterError(f"{p}:{lineno}: token {quote(tok, 30)} is not an integer (ASCII digits)")
            if len(tok.lstrip("0")) > 10 or not 0 < int(tok) < 2 ** 31:     # (int() of 4,300 digits and more fails)
                raise IndexMasterError(f"{p}:{lineno}: token {quote(tok, 30)} is not in 1 .. 2**31 - 1")
            try:
                key = index_key(name)
            except UnicodeEncodeError:
                key = b""
            if not key:
                raise IndexMasterError(f"{p}:{lineno}: name {quote(row[0], 30)} is not an index name")
            token = int(tok)
            if key in by_key:
                first, was = by_key[key]
                raise IndexMasterError(f"{p}:{lineno}: index {name!r} is the index of line {first} ({was!r}): a name "
                                       f"is given once (names match as {key.decode('latin-1')!r})")
            if token in by_token:
                first, was = by_token[token]
                raise IndexMasterError(f"{p}:{lineno}: token {token} of {name!r} is given on line {first} to {was!r} "
                                       f"too: two indices would merge into one record")
            by_key[key] = by_token[token] = (lineno, name)
            out[name] = token
    if not out:
        raise IndexMasterError(f"{p}: no name,token lines")
    return out                                   # (what check_index_tokens checks, the loop has: line by line)


def _index_dtype() -> np.dtype[np.void]:
    f = STORE_DTYPE.fields
    assert f is not None                         # (a structured dtype)
    spec = [(n, f[s][0], f[s][1]) for n, s in INDEX_FIELDS.items()] + [
        (n, np.dtype(t), o) for n, (_, t, o) in zip(INDEX_LINE5_NAMES, INDEX_UNION_FIELDS)]
    return np.dtype({"names": [s[0] for s in spec], "formats": [s[1] for s in spec],
                     "offsets": [s[2] for s in spec], "itemsize": STORE_DTYPE.itemsize})


#: an index feed's store record with the index meaning of its fields (values x 100 as sent; ``market_cap``
#: the DOUBLE as sent); ``store.snapshot().view(INDEX_DTYPE)``
INDEX_DTYPE = _index_dtype()
