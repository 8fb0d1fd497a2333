"""The hand-written values (Message, Entry, HardState, Ready...): immutable, with the equality,
hashing, repr and pickling of attrs values."""

from __future__ import annotations

import pickle

import pytest

import raftkv
from raftkv.raft.messages import Entry, EntryKind, HardState, Message, MessageType
from raftkv.raft.ready import PendingRead, Ready, Role, SoftState
from raftkv.raft.value import Value

MT = MessageType


def _append() -> Message:
    return Message(type=MT.APPEND, src="n1", dst="n2", term=3, log_term=2, index=7,
                   entries=(Entry(term=3, index=8, data=b"x"),), commit=6)


def test_repr_is_the_attrs_one_traces_are_made_of() -> None:
    assert repr(Message(type=MT.HEARTBEAT, src="n1", dst="n2", term=4, commit=9, context=5)) == (
        "Message(type=<MessageType.HEARTBEAT: 'heartbeat'>, src='n1', dst='n2', term=4, log_term=0, "
        "index=0, entries=(), commit=9, reject=False, reject_hint=0, snapshot=None, context=5)")


def test_equal_values_are_equal_and_hash_alike() -> None:
    a, b = _append(), _append()
    assert a == b and not a != b and hash(a) == hash(b)
    other = Message(type=MT.APPEND, src="n1", dst="n3", term=3)
    assert a != other and not a == other
    assert a != ("n1", "n2") and a.__eq__(object()) is NotImplemented


def test_routed_changes_only_the_route() -> None:
    m = _append().routed(src="n4", dst="n5")
    assert (m.src, m.dst) == ("n4", "n5")
    assert m == Message(type=MT.APPEND, src="n4", dst="n5", term=3, log_term=2, index=7,
                        entries=_append().entries, commit=6)


VALUES: list[Value] = [
    _append(),
    Entry(term=2, index=5, kind=EntryKind.NOOP),
    HardState(term=4, vote="n2", commit=3),
    SoftState(role=Role.LEADER, leader="n1", term=4),
    PendingRead(seq=1, index=9, requester="n3", context=7),
    Ready(soft_state=None, hard_state=HardState(term=1), entries=(), snapshot=None,
          messages=(_append(),), committed_entries=(), read_states=(), must_sync=True),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_values_pickle_and_compare_by_fields(value: Value) -> None:
    again = pickle.loads(pickle.dumps(value))
    assert type(again) is type(value) and again == value and hash(again) == hash(value)
    assert value._fields() == tuple(getattr(value, name) for name in value.FIELDS)
    assert repr(value).startswith(f"{type(value).__name__}({value.FIELDS[0]}=")


def test_entry_and_hard_state_reprs_are_the_attrs_ones() -> None:
    assert repr(Entry(term=2, index=5)) == (
        "Entry(term=2, index=5, kind=<EntryKind.NORMAL: 'normal'>, data=None, origin='', seq=0)")
    assert repr(HardState()) == "HardState(term=0, vote=None, commit=0)"
    assert Entry(term=2, index=5) != HardState(term=2)


def test_fields_are_read_only_in_the_compiled_build() -> None:
    """mypy rejects assignments everywhere (the fields are Final); compiled, so does Python."""
    m = _append()
    if not raftkv.is_compiled():
        pytest.skip(f"running {raftkv.build_info()}: immutability is enforced by mypy only")
    with pytest.raises(AttributeError):
        m.term = 9  # type: ignore[misc]
    assert m.term == 3
    entry = Entry(term=1, index=1)
    with pytest.raises(AttributeError):
        entry.index = 2  # type: ignore[misc]
