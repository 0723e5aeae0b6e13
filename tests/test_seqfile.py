"""The stream-sequence sidecar of a day's journal (vega._seqfile, docs/FORMATS.md section 5 "Stream sequence
sidecar"): its layout pinned byte for byte, the round trip, and damage refused with a reason."""
import datetime as dt
import os
import struct
import zlib

import pytest

from vega import _seqfile
from vega._seqfile import SEQ_FILE_SIZE, SeqFile, SeqFileError

SAMPLE = SeqFile("NSE_EQ", dt.date(2026, 11, 20), 1_763_600_000_123_456_789, 12_345, 1_763_611_111_000_000_000,
                 True, {0: 7, 1: 373_063, 255: 2**31 - 1})


def test_layout_is_pinned_byte_for_byte():
    b = _seqfile.pack(SAMPLE)
    assert len(b) == SEQ_FILE_SIZE == 64 + 256 * 4
    assert b[0:8] == b"VEGASEQS"
    assert struct.unpack_from("<HHBBHII", b, 8) == (1, 64, 1, 1, 0, 20261120, 0)   # version .. reserved2
    assert struct.unpack_from("<qQq", b, 24) == (SAMPLE.journal_created_ns, 12_345, SAMPLE.written_ns)
    assert b[48:60] == bytes(12)
    assert struct.unpack_from("<I", b, 60)[0] == zlib.crc32(b[64:], zlib.crc32(b[:60]))
    table = struct.unpack_from("<256i", b, 64)
    assert {i: q for i, q in enumerate(table) if q} == SAMPLE.last


def test_round_trip_through_a_file(tmp_path):
    path = tmp_path / "20261120.seq"
    assert _seqfile.seq_path(tmp_path / "20261120.bin") == path
    for s in (SAMPLE, SeqFile("NSE_FO", dt.date(2026, 1, 2), 0, 0, 0, False, {})):
        _seqfile.write(path, s, fsync=s.sealed)
        assert _seqfile.read(path) == s
        assert os.listdir(tmp_path) == [path.name]          # the temporary file was renamed, none left
        assert oct(os.stat(path).st_mode & 0o777) == "0o600"


def test_a_temporary_file_left_by_a_killed_writer_is_written_over(tmp_path):
    """A writer killed between making its temporary file and renaming it left it, named by its pid, and no
    later write removed it: one per kill piled up beside the journal.  The name is fixed now."""
    path = tmp_path / "20261120.seq"
    _seqfile.write(path, SAMPLE)
    (tmp_path / ".20261120.seq.tmp").write_bytes(b"half a sidecar")     # as a kill mid-write leaves it
    _seqfile.write(path, SAMPLE)
    assert os.listdir(tmp_path) == [path.name] and _seqfile.read(path) == SAMPLE


@pytest.mark.parametrize("offset", [0, 8, 10, 12, 13, 16, 24, 32, 60, 64, 64 + 4 * 200 + 3])
def test_a_damaged_byte_is_refused(offset):
    b = bytearray(_seqfile.pack(SAMPLE))
    b[offset] ^= 0x40
    with pytest.raises(SeqFileError):
        _seqfile.unpack(bytes(b))


def test_a_file_of_another_size_or_kind_is_refused(tmp_path):
    path = tmp_path / "x.seq"
    path.write_bytes(_seqfile.pack(SAMPLE)[:-1])
    with pytest.raises(SeqFileError, match="1087 bytes, not 1088"):
        _seqfile.read(path)
    with pytest.raises(SeqFileError, match="a directory"):
        _seqfile.read(tmp_path)
    with pytest.raises(FileNotFoundError):
        _seqfile.read(tmp_path / "none.seq")
