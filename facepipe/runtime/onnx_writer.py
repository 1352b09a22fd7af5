"""A small, deterministic ONNX model writer (protobuf wire format, no `onnx` package).

Why not the `onnx` package: it is a 15+ MB wheel with a protobuf dependency,
and the converters need only a handful of message types. Writing them here
keeps the default install light and makes the output byte-for-byte
reproducible (fields in field-number order, no maps, no timestamps), which the
model store relies on: a converted model is verified by its sha256.

Only what a converter needs is covered: ModelProto, GraphProto, NodeProto,
AttributeProto (int, float, ints, floats, string), TensorProto (raw_data) and
ValueInfoProto with fixed or symbolic dimensions, and string metadata_props. Field numbers follow onnx.proto.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["OnnxGraph", "ONNX_DTYPES"]

# TensorProto.DataType
ONNX_DTYPES = {np.dtype(np.float32): 1, np.dtype(np.uint8): 2, np.dtype(np.int64): 7}

_VARINT, _FIXED32, _LEN = 0, 5, 2


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 fields: two's complement, 10 bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _int(number: int, value: int) -> bytes:
    return _key(number, _VARINT) + _varint(value)


def _float(number: int, value: float) -> bytes:
    return _key(number, _FIXED32) + struct.pack("<f", value)


def _bytes(number: int, payload: bytes) -> bytes:
    return _key(number, _LEN) + _varint(len(payload)) + payload


def _str(number: int, text: str) -> bytes:
    return _bytes(number, text.encode("utf-8"))


def _tensor(name: str, array: np.ndarray) -> bytes:
    dtype = ONNX_DTYPES[array.dtype]
    dims = b"".join(_int(1, d) for d in array.shape)
    raw = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
    return dims + _int(2, dtype) + _str(8, name) + _bytes(9, raw)


def _attribute(name: str, value: int | float | str | Sequence[int] | Sequence[float]) -> bytes:
    # AttributeProto: name 1, f 2, i 3, s 4, floats 7, ints 8, type 20 (FLOAT 1, INT 2, STRING 3, FLOATS 6, INTS 7)
    head = _str(1, name)
    if isinstance(value, bool | int | np.integer):
        return head + _int(3, int(value)) + _int(20, 2)
    if isinstance(value, float | np.floating):
        return head + _float(2, float(value)) + _int(20, 1)
    if isinstance(value, str):
        return head + _bytes(4, value.encode("utf-8")) + _int(20, 3)
    items = list(value)
    if items and all(isinstance(v, float | np.floating) for v in items):
        return head + b"".join(_float(7, float(v)) for v in items) + _int(20, 6)
    return head + b"".join(_int(8, int(v)) for v in items) + _int(20, 7)


def _value_info(name: str, elem_type: int, shape: Sequence[int | str]) -> bytes:
    dims = b"".join(_bytes(1, _str(2, d) if isinstance(d, str) else _int(1, d)) for d in shape)
    tensor_type = _int(1, elem_type) + _bytes(2, dims)
    return _str(1, name) + _bytes(2, _bytes(1, tensor_type))


@dataclass
class OnnxGraph:
    """Collects nodes and initializers in insertion order; `to_bytes` serializes the model."""

    name: str
    _nodes: list[bytes] = field(default_factory=list)
    _initializers: list[bytes] = field(default_factory=list)
    _inputs: list[bytes] = field(default_factory=list)
    _outputs: list[bytes] = field(default_factory=list)
    _names: set[str] = field(default_factory=set)
    _counter: int = 0

    def fresh(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_{self._counter}"

    def input(self, name: str, dtype: type, shape: Sequence[int | str]) -> str:
        self._inputs.append(_value_info(name, ONNX_DTYPES[np.dtype(dtype)], shape))
        self._names.add(name)
        return name

    def output(self, name: str, dtype: type, shape: Sequence[int | str]) -> None:
        if name not in self._names:
            raise ValueError(f"graph output {name!r} is not produced by any node")
        self._outputs.append(_value_info(name, ONNX_DTYPES[np.dtype(dtype)], shape))

    def constant(self, prefix: str, array: np.ndarray) -> str:
        name = self.fresh(prefix)
        self._initializers.append(_tensor(name, np.asarray(array)))
        self._names.add(name)
        return name

    def node(self, op_type: str, inputs: Sequence[str], *, out: str | None = None, **attrs: object) -> str:
        missing = [i for i in inputs if i and i not in self._names]
        if missing:
            raise ValueError(f"{op_type}: inputs {missing} are not defined yet")
        out = out or self.fresh(op_type.lower())
        body = b"".join(_str(1, i) for i in inputs) + _str(2, out) + _str(3, out) + _str(4, op_type)
        body += b"".join(_bytes(5, _attribute(k, v)) for k, v in sorted(attrs.items()))  # type: ignore[arg-type]
        self._nodes.append(body)
        self._names.add(out)
        return out

    def to_bytes(self, *, opset: int = 13, ir_version: int = 7, producer: str = "facepipe", doc: str = "",
                 metadata: dict[str, str] | None = None) -> bytes:
        """metadata: ModelProto.metadata_props (onnxruntime: get_modelmeta().custom_metadata_map), in key order."""
        graph = b"".join(_bytes(1, n) for n in self._nodes) + _str(2, self.name)
        graph += b"".join(_bytes(5, t) for t in self._initializers)
        if doc:
            graph += _str(10, doc)
        graph += b"".join(_bytes(11, i) for i in self._inputs) + b"".join(_bytes(12, o) for o in self._outputs)
        opset_import = _str(1, "") + _int(2, opset)
        props = b"".join(_bytes(14, _str(1, k) + _str(2, v)) for k, v in sorted((metadata or {}).items()))
        return _int(1, ir_version) + _str(2, producer) + _bytes(7, graph) + _bytes(8, opset_import) + props
