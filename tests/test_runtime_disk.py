"""The real member's disk: WAL framing, group commit, torn tails, corruption, compaction,
and recovery of Raft state through :func:`raftkv.raft.durable.recover` on real files."""

from __future__ import annotations

import os

import msgpack
import pytest

from raftkv.raft.durable import HARDSTATE_FILE, LOG_FILE, SNAP_FILE, LogBase, recover
from raftkv.raft.messages import Entry, HardState, Snapshot
from raftkv.raft.quorum import ClusterConfig
from raftkv.runtime.codec import CodecError, decode, encode
from raftkv.runtime.disk import FileDisk
from raftkv.runtime.wal import HEADER, WALCorruptError


def _disk(path: str) -> FileDisk:
    return FileDisk(path, atomic_files=(SNAP_FILE,), compact_on=(LOG_FILE,))


def _entries(first: int, n: int, term: int = 1) -> tuple[Entry, ...]:
    return tuple(Entry(term=term, index=i, data=f"v{i}".encode()) for i in range(first, first + n))


def _segments(path: str) -> list[str]:
    return sorted(os.listdir(os.path.join(path, "wal")))


def _last_segment(path: str) -> str:
    return os.path.join(path, "wal", _segments(path)[-1])


def _record_offsets(path: str) -> list[int]:
    data = open(path, "rb").read()
    out, pos = [], 0
    while pos < len(data):
        out.append(pos)
        (n, _) = HEADER.unpack_from(data, pos)
        pos += HEADER.size + n
    return out


def test_synced_records_survive_a_reopen_and_recover(tmp_path):
    d = _disk(str(tmp_path))
    d.append(LOG_FILE, _entries(1, 3))
    d.append(HARDSTATE_FILE, HardState(term=1, vote="n1", commit=2))
    d.fsync(LOG_FILE)
    d.sync()
    d.close()
    d2 = _disk(str(tmp_path))
    rec = recover(d2)
    assert rec.hard_state == HardState(term=1, vote="n1", commit=2)
    assert rec.log.last_index() == 3 and not d2.torn


def test_group_commit_writes_nothing_before_sync(tmp_path):
    d = _disk(str(tmp_path))
    d.append(LOG_FILE, _entries(1, 2))
    d.fsync(LOG_FILE)
    assert os.path.getsize(_last_segment(str(tmp_path))) == 0  # buffered until the batch syncs
    d.append(HARDSTATE_FILE, HardState(term=1, vote="n1"))
    d.fsync(HARDSTATE_FILE)
    before = d.fsync_count
    d.sync()
    assert d.fsync_count == before + 1, "one fsync for the whole batch"
    assert os.path.getsize(_last_segment(str(tmp_path))) > 0


def test_cut_last_record_is_a_torn_tail_and_is_truncated(tmp_path):
    d = _disk(str(tmp_path))
    for i in range(1, 4):
        d.append(LOG_FILE, _entries(i, 1))
        d.sync()
    d.close()
    seg = _last_segment(str(tmp_path))
    size = os.path.getsize(seg)
    os.truncate(seg, size - 3)  # the last write was cut short
    d2 = _disk(str(tmp_path))
    assert len(d2.torn) == 1 and "at byte" in d2.torn[0]
    assert recover(d2).log.last_index() == 2
    assert os.path.getsize(seg) == _record_offsets(seg)[-1] + HEADER.size + \
        HEADER.unpack_from(open(seg, "rb").read(), _record_offsets(seg)[-1])[0]
    d2.append(LOG_FILE, _entries(3, 1))  # appending after the cut works
    d2.sync()
    d2.close()
    assert recover(_disk(str(tmp_path))).log.last_index() == 3


def test_flipped_byte_in_last_record_is_torn_but_earlier_is_corruption(tmp_path):
    for where, expect_corrupt in (("last", False), ("first", True)):
        path = str(tmp_path / where)
        d = _disk(path)
        for i in range(1, 4):
            d.append(LOG_FILE, _entries(i, 1))
            d.sync()
        d.close()
        seg = _last_segment(path)
        offsets = _record_offsets(seg)
        at = (offsets[-1] if where == "last" else offsets[0]) + HEADER.size + 2
        data = bytearray(open(seg, "rb").read())
        data[at] ^= 0xFF
        open(seg, "wb").write(bytes(data))
        if expect_corrupt:
            with pytest.raises(WALCorruptError, match=r"corrupt record at byte 0 \(checksum mismatch\)"):
                _disk(path)
        else:
            d2 = _disk(path)
            assert d2.torn and recover(d2).log.last_index() == 2


def test_snapshot_compaction_removes_old_segments(tmp_path):
    d = FileDisk(str(tmp_path), atomic_files=(SNAP_FILE,), compact_on=(LOG_FILE,), segment_bytes=200)
    for i in range(1, 30):
        d.append(LOG_FILE, _entries(i, 1))
        d.append(HARDSTATE_FILE, HardState(term=1, commit=i))
        d.fsync()
        d.sync()
    assert len(_segments(str(tmp_path))) > 3, "small segments roll over"
    snap = Snapshot(index=25, term=1, conf=ClusterConfig(voters=("n1",)), data=b"state")
    d.overwrite(SNAP_FILE, [snap])
    d.overwrite(LOG_FILE, [LogBase(index=25, term=1), *_entries(26, 4)])
    segs = _segments(str(tmp_path))
    assert len(segs) == 1 and segs[0].endswith(".base.wal"), segs
    assert os.listdir(os.path.join(str(tmp_path), "snap")) == ["raft_snap"]
    d.append(LOG_FILE, _entries(30, 1))
    d.sync()
    d.close()
    rec = recover(_disk(str(tmp_path)))
    assert rec.log.snapshot == snap
    assert rec.log.base_index == 25 and rec.log.last_index() == 30
    assert rec.hard_state == HardState(term=1, commit=29)


def test_unfinished_atomic_rewrite_is_ignored(tmp_path):
    d = _disk(str(tmp_path))
    snap = Snapshot(index=1, term=1, conf=ClusterConfig(voters=("n1",)), data=b"s")
    d.overwrite(SNAP_FILE, [snap])
    d.close()
    open(os.path.join(str(tmp_path), "snap", "raft_snap.tmp"), "wb").write(b"half a snapsh")
    d2 = _disk(str(tmp_path))
    assert d2.read(SNAP_FILE) == [snap]
    assert not os.path.exists(os.path.join(str(tmp_path), "snap", "raft_snap.tmp"))


def test_codec_refuses_what_it_does_not_know():
    with pytest.raises(CodecError, match="not a registered type"):
        encode(object())
    with pytest.raises(CodecError):
        decode(b"\xc1garbage")
    with pytest.raises(CodecError, match="unknown value type 'Foo'"):
        decode(msgpack.packb([msgpack.ExtType(1, b""), "Foo"]))
    with pytest.raises(CodecError, match="PutRequest: 1 fields, schema has 6"):
        decode(msgpack.packb([msgpack.ExtType(1, b""), "PutRequest", b"k"]))
    with pytest.raises(CodecError, match="unknown ext type 9"):
        decode(msgpack.packb(msgpack.ExtType(9, b"")))
    assert decode(encode((1, b"x", "s", None, {"a": (True,)}))) == (1, b"x", "s", None, {"a": (True,)})


# ---------------------------------------------------------------- power cuts (lose_unsynced)
def _write_then_sigkill(path: str, lose_unsynced: bool) -> None:
    """In a child process: synced entries 1-2 and a vote, then entries 3-4 and a newer vote
    written (and synced without an fsync asked for) but never fsynced; then SIGKILL."""
    import signal

    d = FileDisk(path, atomic_files=(SNAP_FILE,), compact_on=(LOG_FILE,), lose_unsynced=lose_unsynced)
    d.append(LOG_FILE, _entries(1, 2))
    d.append(HARDSTATE_FILE, HardState(term=1, vote="n1", commit=2))
    d.fsync(HARDSTATE_FILE)
    d.sync()
    d.append(LOG_FILE, _entries(3, 2))
    d.append(HARDSTATE_FILE, HardState(term=2, vote="n2", commit=2))
    d.sync()  # the batch ends, no fsync asked for (a vote_not_persisted member)
    os.kill(os.getpid(), signal.SIGKILL)


def _killed(path: str, lose_unsynced: bool) -> FileDisk:
    import multiprocessing

    proc = multiprocessing.get_context("fork").Process(target=_write_then_sigkill, args=(path, lose_unsynced))
    proc.start()
    proc.join(30)
    assert proc.exitcode == -9, proc.exitcode
    return FileDisk(path, atomic_files=(SNAP_FILE,), compact_on=(LOG_FILE,), lose_unsynced=lose_unsynced)


def test_lose_unsynced_a_sigkill_loses_what_was_not_fsynced(tmp_path):
    rec = recover(_killed(str(tmp_path), lose_unsynced=True))
    assert rec.hard_state == HardState(term=1, vote="n1", commit=2)  # the fsynced vote, not the later one
    assert rec.log.last_index() == 2


def test_without_lose_unsynced_the_page_cache_keeps_it(tmp_path):
    # why the option exists: a plain SIGKILL loses nothing that reached the OS
    rec = recover(_killed(str(tmp_path), lose_unsynced=False))
    assert rec.hard_state == HardState(term=2, vote="n2", commit=2)
    assert rec.log.last_index() == 4


def test_lose_unsynced_writes_everything_in_order_at_the_next_fsync(tmp_path):
    d = FileDisk(str(tmp_path), atomic_files=(SNAP_FILE,), compact_on=(LOG_FILE,), lose_unsynced=True)
    d.append(LOG_FILE, _entries(1, 3))
    d.sync()
    assert not d.dirty and os.path.getsize(_last_segment(str(tmp_path))) == 0
    d.truncate(LOG_FILE, 2)
    d.append(HARDSTATE_FILE, HardState(term=3, vote="n3", commit=1))
    d.fsync(HARDSTATE_FILE)
    assert d.dirty
    d.sync()
    assert not d.dirty and d.fsync_count == 1
    d.append(LOG_FILE, _entries(3, 1, term=3))
    d.close()  # a clean shutdown writes the rest
    rec = recover(FileDisk(str(tmp_path), atomic_files=(SNAP_FILE,), compact_on=(LOG_FILE,)))
    assert rec.hard_state == HardState(term=3, vote="n3", commit=1)
    assert [(e.index, e.term) for e in rec.log.slice(1, 4)] == [(1, 1), (2, 1), (3, 3)]
