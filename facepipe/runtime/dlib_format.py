"""Reader for dlib's binary serialization format (the `.dat` files of dlib's DNN models).

Written from the format as dlib's serialize.h, float_details.h, cuda/tensor.h
and dnn/{core,layers,input,loss}.h define it; no dlib code is used:

- integers (any width, signed or not): one control byte whose low 4 bits are
  the number of value bytes that follow (1..8, little endian) and whose bit
  0x80 is the sign; the value is the magnitude, so -3 is ``81 03``;
- bool: the ASCII character '0' or '1';
- std::string: its length as an integer, then the bytes;
- float/double: a ``float_details`` pair, an int64 mantissa and an int16
  exponent (both as integers above), value = mantissa * 2**exponent, with
  exponents 32000/32001/32002 meaning +inf/-inf/nan;
- tensor: int version (2), then num_samples, k, nr, nc as integers, then
  num_samples*k*nr*nc little-endian IEEE float32 values (raw, NOT float_details);
- alias_tensor: int version (1) and the four dimensions, no data (it names a
  slice of a layer's `params` tensor).

A network is serialized from the outside in: each wrapper writes its version
first, then its subnetwork, then (for computational layers) its own details,
so the layer parameters appear input-first. Which tag a skip/add_prev layer
refers to is not in the file: the network's C++ type says it. The parser for a
concrete network therefore lives with that network (see dlib_resnet.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DlibFormatError", "DlibReader", "Tensor"]

_INF, _NINF, _NAN = 32000, 32001, 32002


class DlibFormatError(ValueError):
    """The bytes do not follow dlib's serialization format where the network expects it."""


@dataclass(frozen=True)
class Tensor:
    """A deserialized dlib tensor: shape (num_samples, k, nr, nc) and its float32 values."""

    shape: tuple[int, int, int, int]
    data: np.ndarray  # float32, C order, `shape`


class DlibReader:
    """Sequential reader over the bytes of one serialized dlib object; `pos` is the byte offset."""

    def __init__(self, data: bytes) -> None:
        self._buf = memoryview(data)
        self.pos = 0

    def _take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self._buf):
            raise DlibFormatError(f"offset {self.pos}: file ends inside {what}")
        out = self._buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def at_end(self) -> bool:
        return self.pos == len(self._buf)

    def integer(self, what: str = "an integer") -> int:
        start = self.pos
        control = self._take(1, what)[0]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            raise DlibFormatError(f"offset {start}: byte {control:#04x} does not start {what}")
        value = int.from_bytes(self._take(size, what), "little")
        return -value if control & 0x80 else value

    def expect_int(self, want: int | tuple[int, ...], what: str) -> int:
        start = self.pos
        got = self.integer(what)
        allowed = want if isinstance(want, tuple) else (want,)
        if got not in allowed:
            raise DlibFormatError(f"offset {start}: {what} is {got}, expected {' or '.join(map(str, allowed))}")
        return got

    def boolean(self, what: str = "a bool") -> bool:
        start = self.pos
        ch = bytes(self._take(1, what))
        if ch not in (b"0", b"1"):
            raise DlibFormatError(f"offset {start}: {ch!r} is not a serialized bool ({what})")
        return ch == b"1"

    def string(self, what: str = "a string") -> str:
        n = self.integer(f"the length of {what}")
        if n > 1 << 16:  # layer names are short; a huge length means we are misaligned
            raise DlibFormatError(f"offset {self.pos}: implausible length {n} for {what}")
        raw = bytes(self._take(n, what))
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise DlibFormatError(f"offset {self.pos - n}: {what} is not ASCII ({raw[:20]!r})") from exc

    def expect_string(self, allowed: tuple[str, ...], what: str) -> str:
        start = self.pos
        got = self.string(what)
        if got not in allowed:
            raise DlibFormatError(f"offset {start}: found {got!r} where {what} ({' or '.join(allowed)}) belongs")
        return got

    def real(self, what: str = "a float") -> float:
        mantissa = self.integer(f"the mantissa of {what}")
        exponent = self.integer(f"the exponent of {what}")
        if exponent == _INF:
            return float("inf")
        if exponent == _NINF:
            return float("-inf")
        if exponent == _NAN:
            return float("nan")
        # Exact: a Python float holds float/double mantissas (<= 53 bits) without rounding.
        return float(mantissa) * 2.0**exponent

    def tensor(self, what: str = "a tensor") -> Tensor:
        self.expect_int(2, f"the version of {what}")
        dims = tuple(self.integer(f"a dimension of {what}") for _ in range(4))
        if any(d < 0 for d in dims):
            raise DlibFormatError(f"offset {self.pos}: negative dimension {dims} in {what}")
        count = int(np.prod(dims, dtype=np.int64))
        raw = self._take(4 * count, what)
        data = np.frombuffer(raw, "<f4").astype(np.float32).reshape(dims)
        return Tensor(dims, data)  # type: ignore[arg-type]

    def alias_tensor(self, what: str = "an alias tensor") -> tuple[int, int, int, int]:
        self.expect_int(1, f"the version of {what}")
        return tuple(self.integer(f"a dimension of {what}") for _ in range(4))  # type: ignore[return-value]
