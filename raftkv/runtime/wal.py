"""Record files: ``length + CRC32C + payload`` framing, torn-tail detection, atomic rewrites.

A record is ``u32 length | u32 crc32c(payload) | payload`` (big-endian).  Reading a file
(:func:`read_records`) stops at the first record that does not check out:

* at the *tail* -- a header or payload cut short by the end of the file, or a bad
  checksum on the last record (nothing but zeros after it) -- the file was torn by a
  crash mid-write: the caller truncates it there (:attr:`RecordFile.torn_at`);
* anywhere else -- a bad record followed by more data -- the file is corrupt:
  :class:`WALCorruptError` names the file and offset, and the member refuses to start.

:func:`write_atomically` writes a whole file the safe way: a temporary file, fsync,
rename over the old one, fsync of the directory.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable

import attrs
import crc32c as _crc32c

__all__ = ["HEADER", "RecordFile", "WALCorruptError", "crc32c", "frame", "fsync_dir",
           "read_records", "truncate_file", "write_atomically"]

HEADER = struct.Struct(">II")
MAX_RECORD_BYTES = 1 << 30


def crc32c(data: bytes) -> int:
    return _crc32c.crc32c(data)


class WALCorruptError(RuntimeError):
    """A record before the tail of a file fails its checksum: the data cannot be trusted."""


def frame(payload: bytes) -> bytes:
    assert len(payload) < MAX_RECORD_BYTES, f"record of {len(payload)} bytes is too large"
    return HEADER.pack(len(payload), crc32c(payload)) + payload


@attrs.frozen(kw_only=True)
class RecordFile:
    """What :func:`read_records` found: the payloads, and where a torn tail starts (if any)."""

    payloads: tuple[bytes, ...]
    torn_at: int | None  # byte offset of the torn tail; None when the file is clean
    size: int


def read_records(path: str, *, last: bool) -> RecordFile:
    """The records of ``path``.  ``last``: this is the file being appended to, the only
    one whose tail may be torn; in an earlier file any bad record is corruption."""
    with open(path, "rb") as f:
        data = f.read()
    size = len(data)
    out: list[bytes] = []
    pos = 0
    while pos < size:
        why = ""
        end = pos
        if size - pos < HEADER.size:
            why = "header cut short"
        else:
            length, crc = HEADER.unpack_from(data, pos)
            end = pos + HEADER.size + length
            if length >= MAX_RECORD_BYTES or end > size:
                why = "record cut short"
            else:
                payload = data[pos + HEADER.size:end]
                if crc32c(payload) == crc:
                    out.append(payload)
                    pos = end
                    continue
                why = "checksum mismatch"
        rest = data[end:] if why == "checksum mismatch" else b""
        if last and (why != "checksum mismatch" or not rest.strip(b"\0")):
            return RecordFile(payloads=tuple(out), torn_at=pos, size=size)
        raise WALCorruptError(
            f"{path}: corrupt record at byte {pos} ({why}) with {size - pos} bytes after it; "
            f"refusing to start from a damaged log (restore this member from its peers: "
            f"remove it from the cluster and add it back with an empty data directory)")
    return RecordFile(payloads=tuple(out), torn_at=None, size=size)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: str, payloads: Iterable[bytes]) -> None:
    """Replace ``path`` with these records: temporary file, fsync, rename, directory fsync."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"".join(frame(p) for p in payloads))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path) or ".")


def truncate_file(path: str, size: int) -> None:
    """Cut ``path`` to ``size`` bytes, durably."""
    with open(path, "r+b") as f:
        f.truncate(size)
        f.flush()
        os.fsync(f.fileno())
