"""Message: an immutable value with the equality, hashing, repr and pickling of an attrs value."""

from __future__ import annotations

import pickle

import pytest

import raftkv
from raftkv.raft.messages import Entry, Message, MessageType

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


def test_pickles() -> None:
    m = _append()
    assert pickle.loads(pickle.dumps(m)) == m


def test_fields_are_read_only_in_the_compiled_build() -> None:
    """mypy rejects assignments everywhere (the fields are Final); compiled, so does Python."""
    m = _append()
    if not raftkv.is_compiled():
        pytest.skip(f"running {raftkv.build_info()}: immutability is enforced by mypy only")
    with pytest.raises(AttributeError):
        m.term = 9  # type: ignore[misc]
    assert m.term == 3
