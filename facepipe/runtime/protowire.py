"""A minimal protocol-buffers wire-format reader (no protobuf package needed).

Enough to read small binary protos such as the face-geometry metadata in
``face_landmarker.task``: it splits a message into (field number, wire type,
value) records and decodes repeated scalars in both the packed and the
unpacked encoding (proto2 writers emit ``repeated float`` unpacked unless the
field says ``[packed = true]``; a conforming reader must accept both).

Wire types: 0 varint, 1 fixed 64-bit, 2 length-delimited, 5 fixed 32-bit.
Groups (3, 4) are obsolete and rejected.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ProtoDecodeError",
    "WireField",
    "iter_fields",
    "parse_message",
    "repeated_floats",
    "repeated_varints",
    "single_float",
    "single_varint",
]

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5


class ProtoDecodeError(ValueError):
    """The bytes are not a well-formed protobuf message."""


@dataclass(frozen=True)
class WireField:
    number: int
    wire_type: int
    value: int | bytes  # int for varint/fixed types (raw bits for fixed), bytes for length-delimited


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtoDecodeError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtoDecodeError("varint longer than 10 bytes")


def iter_fields(buf: bytes) -> Iterator[WireField]:
    """Yield the top-level fields of one serialized message, in wire order."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _read_varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise ProtoDecodeError("field number 0")
        if wire_type == VARINT:
            value, pos = _read_varint(buf, pos)
            yield WireField(number, wire_type, value)
        elif wire_type == FIXED64:
            if pos + 8 > end:
                raise ProtoDecodeError("truncated fixed64")
            yield WireField(number, wire_type, int.from_bytes(buf[pos : pos + 8], "little"))
            pos += 8
        elif wire_type == FIXED32:
            if pos + 4 > end:
                raise ProtoDecodeError("truncated fixed32")
            yield WireField(number, wire_type, int.from_bytes(buf[pos : pos + 4], "little"))
            pos += 4
        elif wire_type == LENGTH_DELIMITED:
            n, pos = _read_varint(buf, pos)
            if pos + n > end:
                raise ProtoDecodeError(f"field {number}: length {n} runs past the end of the message")
            yield WireField(number, wire_type, bytes(buf[pos : pos + n]))
            pos += n
        else:
            raise ProtoDecodeError(f"field {number}: unsupported wire type {wire_type}")


def parse_message(buf: bytes) -> dict[int, list[WireField]]:
    """Fields of one message grouped by field number (order within a number kept)."""
    out: dict[int, list[WireField]] = {}
    for f in iter_fields(buf):
        out.setdefault(f.number, []).append(f)
    return out


def _payload(f: WireField) -> bytes:
    if not isinstance(f.value, bytes):
        raise ProtoDecodeError(f"field {f.number}: expected a length-delimited payload")
    return f.value


def repeated_floats(fields: list[WireField]) -> np.ndarray:
    """float32 values of a `repeated float` field, packed and/or unpacked records, in order."""
    out = bytearray()
    for f in fields:
        if f.wire_type == FIXED32:
            out += int(f.value).to_bytes(4, "little")  # the raw IEEE-754 bits
        elif f.wire_type == LENGTH_DELIMITED:
            data = _payload(f)
            if len(data) % 4:
                raise ProtoDecodeError(f"field {f.number}: packed floats of {len(data)} bytes")
            out += data
        else:
            raise ProtoDecodeError(f"field {f.number}: wire type {f.wire_type} is not a float")
    return np.frombuffer(bytes(out), "<f4").astype(np.float32)


def single_float(fields: list[WireField] | None, default: float) -> float:
    """Last value of an optional float field (proto semantics: the last record wins)."""
    if not fields:
        return default
    return float(repeated_floats(fields[-1:])[-1])


def single_varint(fields: list[WireField] | None, default: int) -> int:
    """Last value of an optional varint field (uint32/int32/enum/bool)."""
    if not fields:
        return default
    return int(repeated_varints(fields[-1:])[-1])


def repeated_varints(fields: list[WireField]) -> np.ndarray:
    """int64 values of a repeated varint field (uint32/int32/enum), packed and/or unpacked."""
    values: list[int] = []
    for f in fields:
        if f.wire_type == VARINT:
            values.append(int(f.value))
        elif f.wire_type == LENGTH_DELIMITED:
            data = _payload(f)
            pos = 0
            while pos < len(data):
                v, pos = _read_varint(data, pos)
                values.append(v)
        else:
            raise ProtoDecodeError(f"field {f.number}: wire type {f.wire_type} is not a varint")
    return np.array(values, np.int64)
