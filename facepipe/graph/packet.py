"""Packets and timestamps.

A timestamp is a plain int of microseconds. Streams carry packets in strictly
increasing timestamp order; a few values at the ends of the range have special
meanings, like MediaPipe's:

- ``UNSTARTED``: the bound of a stream nothing has been said about yet.
- ``PRE_STREAM``: a packet before all data (e.g. a header a calculator emits in open()).
- ``MIN`` .. ``MAX``: ordinary data timestamps (graph inputs must be in this range).
- ``POST_STREAM``: a packet after all data (e.g. a summary a calculator emits in close()).
- ``DONE``: the bound of a stream that is closed: no packet can follow.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["Timestamp", "Packet", "format_timestamp"]

T = TypeVar("T")


class Timestamp:
    """Namespace of the special timestamp values (all plain ints)."""

    UNSTARTED = -(2**62) - 2
    PRE_STREAM = -(2**62) - 1
    MIN = -(2**62)
    MAX = 2**62
    POST_STREAM = 2**62 + 1
    DONE = 2**62 + 2

    def __init__(self) -> None:  # pragma: no cover - namespace only
        raise TypeError("Timestamp is a namespace of int constants; timestamps are ints (microseconds)")

    @staticmethod
    def is_data(ts: int) -> bool:
        """True for an ordinary data timestamp (MIN..MAX)."""
        return Timestamp.MIN <= ts <= Timestamp.MAX


_SPECIAL_NAMES = {
    Timestamp.UNSTARTED: "UNSTARTED",
    Timestamp.PRE_STREAM: "PRE_STREAM",
    Timestamp.POST_STREAM: "POST_STREAM",
    Timestamp.DONE: "DONE",
}


def format_timestamp(ts: int | None) -> str:
    """Human form: the special value's name, else the int in microseconds."""
    if ts is None:
        return "none"
    return _SPECIAL_NAMES.get(ts, str(ts))


@dataclass(frozen=True, slots=True)
class Packet(Generic[T]):
    """An immutable (payload, timestamp) pair.

    Immutability is of the pair; payloads are shared between every consumer of
    a stream without copying, so calculators must not mutate arrays they receive.
    """

    payload: T
    timestamp: int

    def __post_init__(self) -> None:
        ts = self.timestamp
        if type(ts) is not int:  # fast path for the common case
            if isinstance(ts, bool):
                raise TypeError(f"packet timestamp must be an int (microseconds), got {ts!r}")
            try:
                object.__setattr__(self, "timestamp", operator.index(ts))  # numpy ints
            except TypeError:
                raise TypeError(f"packet timestamp must be an int (microseconds), got {ts!r}") from None

    def at(self, timestamp: int) -> Packet[T]:
        """The same payload at another timestamp."""
        return Packet(self.payload, timestamp)

    def __repr__(self) -> str:
        return f"Packet({_short(self.payload)}, ts={format_timestamp(self.timestamp)})"


def _short(payload: Any) -> str:
    shape = getattr(payload, "shape", None)
    if shape is not None and hasattr(payload, "dtype"):
        return f"<{type(payload).__name__} {tuple(shape)} {payload.dtype}>"
    text = repr(payload)
    return text if len(text) <= 60 else text[:57] + "..."
