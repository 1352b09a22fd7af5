"""Cut a .tflite model into sub-models at operators LiteRT cannot run (MediaPipe's custom ops).

A sub-model is the original file's bytes, unchanged, behind a new root: a
small Model table placed in front of the old bytes that points at the old
tensors, buffers, operator codes and a chosen run of the old operators, with
new graph inputs and outputs. FlatBuffers offsets only point forward, so
prepending keeps every old offset valid; the old block stays 16-byte aligned,
so the weights are read exactly where they were.

Field slots follow TensorFlow Lite's schema.fbs (Model, SubGraph, Operator,
OperatorCode, Tensor, Buffer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flatbuffers import Builder, encode
from flatbuffers import number_types as nt
from flatbuffers.table import Table

__all__ = ["TfliteGraph", "OpInfo", "TensorInfo", "read_graph", "spatially_resized", "submodel"]

# schema.fbs vtable slots
_MODEL_VERSION, _MODEL_OPCODES, _MODEL_SUBGRAPHS, _MODEL_BUFFERS = 0, 1, 2, 4
_SG_TENSORS, _SG_INPUTS, _SG_OUTPUTS, _SG_OPERATORS = 0, 1, 2, 3
_OP_OPCODE, _OP_INPUTS, _OP_OUTPUTS, _OP_CUSTOM_OPTIONS = 0, 1, 2, 5
_CODE_DEPRECATED_BUILTIN, _CODE_CUSTOM, _CODE_BUILTIN = 0, 1, 3
_TENSOR_SHAPE, _TENSOR_BUFFER, _TENSOR_NAME = 0, 2, 3
_BUFFER_DATA = 0
_CUSTOM_CODE = 32  # BuiltinOperator.CUSTOM
_RESHAPE, _RESIZE_BILINEAR, _RESIZE_NEAREST = 22, 23, 97  # BuiltinOperator


def _off(t: Table, slot: int) -> int:
    return t.Offset(4 + 2 * slot)


def _tables(t: Table, slot: int) -> list[Table]:
    o = _off(t, slot)
    if not o:
        return []
    start = t.Vector(o)
    return [Table(t.Bytes, t.Indirect(start + 4 * i)) for i in range(t.VectorLen(o))]


def _ints(t: Table, slot: int) -> list[int]:
    o = _off(t, slot)
    if not o:
        return []
    start = t.Vector(o)
    return [encode.Get(nt.Int32Flags.packer_type, t.Bytes, start + 4 * i) for i in range(t.VectorLen(o))]


def _bytes(t: Table, slot: int) -> bytes:
    o = _off(t, slot)
    return bytes(t.Bytes[t.Vector(o):t.Vector(o) + t.VectorLen(o)]) if o else b""


def _string(t: Table, slot: int) -> str:
    o = _off(t, slot)
    return t.String(o + t.Pos).decode() if o else ""


def _scalar(t: Table, slot: int, flags, default: int = 0) -> int:  # noqa: ANN001 - a flatbuffers flags type
    o = _off(t, slot)
    return t.Get(flags, o + t.Pos) if o else default


def _vector_pos(t: Table, slot: int) -> int:
    """Position of a vector field's length prefix."""
    return t.Indirect(t.Pos + _off(t, slot))


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    constant: bool  # has data in the file (weights)


@dataclass(frozen=True)
class OpInfo:
    index: int
    custom_code: str  # "" for builtin operators
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    custom_options: bytes
    position: int  # byte position of the operator table in the file
    builtin: int = 0  # BuiltinOperator code (32: custom)


@dataclass(frozen=True)
class TfliteGraph:
    tensors: tuple[TensorInfo, ...]
    ops: tuple[OpInfo, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def tensor_index(self, name: str) -> int:
        for i, t in enumerate(self.tensors):
            if t.name == name:
                return i
        raise KeyError(f"no tensor named {name!r}")


def _root(buf: bytes) -> Table:
    data = bytearray(buf)
    return Table(data, encode.Get(nt.UOffsetTFlags.packer_type, data, 0))


def read_graph(buf: bytes) -> TfliteGraph:
    """Tensors and operators of the first subgraph of a .tflite file."""
    model = _root(buf)
    codes, builtins = [], []
    for c in _tables(model, _MODEL_OPCODES):
        builtin = max(_scalar(c, _CODE_BUILTIN, nt.Int32Flags), _scalar(c, _CODE_DEPRECATED_BUILTIN, nt.Int8Flags))
        codes.append(_string(c, _CODE_CUSTOM) if builtin == _CUSTOM_CODE else "")
        builtins.append(builtin)
    buffers = _tables(model, _MODEL_BUFFERS)
    graph = _tables(model, _MODEL_SUBGRAPHS)[0]
    tensors = []
    for t in _tables(graph, _SG_TENSORS):
        b = _scalar(t, _TENSOR_BUFFER, nt.Uint32Flags)
        has_data = 0 < b < len(buffers) and bool(_off(buffers[b], _BUFFER_DATA))
        tensors.append(TensorInfo(_string(t, _TENSOR_NAME), tuple(_ints(t, _TENSOR_SHAPE)), has_data))
    ops = tuple(
        OpInfo(i, codes[_scalar(op, _OP_OPCODE, nt.Uint32Flags)], tuple(_ints(op, _OP_INPUTS)),
               tuple(_ints(op, _OP_OUTPUTS)), _bytes(op, _OP_CUSTOM_OPTIONS), op.Pos,
               builtins[_scalar(op, _OP_OPCODE, nt.Uint32Flags)])
        for i, op in enumerate(_tables(graph, _SG_OPERATORS))
    )
    return TfliteGraph(tuple(tensors), ops, tuple(_ints(graph, _SG_INPUTS)), tuple(_ints(graph, _SG_OUTPUTS)))


def submodel(buf: bytes, graph: TfliteGraph, op_indices: Sequence[int], inputs: Sequence[int],
             outputs: Sequence[int]) -> bytes:
    """A model running `op_indices` (in that order) from `inputs` to `outputs` (tensor indices)."""
    model = _root(buf)
    old_graph = _tables(model, _MODEL_SUBGRAPHS)[0]
    b = Builder(len(buf) + 1024)
    b.StartVector(1, len(buf), 16)  # the old file, 16-byte aligned in the new one
    b.head -= len(buf)
    b.Bytes[b.head:b.head + len(buf)] = buf
    old = b.EndVector() - 4  # builder offset of the old file's first byte

    def at(pos: int) -> int:  # builder offset of an object at `pos` in the old file
        return old - pos

    def int_vector(values: Sequence[int]) -> int:
        b.StartVector(4, len(values), 4)
        for v in reversed(values):
            b.PrependInt32(int(v))
        return b.EndVector()

    ins, outs = int_vector(inputs), int_vector(outputs)
    b.StartVector(4, len(op_indices), 4)
    for i in reversed(op_indices):
        b.PrependUOffsetTRelative(at(graph.ops[i].position))
    ops = b.EndVector()
    b.StartObject(6)
    b.PrependUOffsetTRelativeSlot(_SG_TENSORS, at(_vector_pos(old_graph, _SG_TENSORS)), 0)
    b.PrependUOffsetTRelativeSlot(_SG_INPUTS, ins, 0)
    b.PrependUOffsetTRelativeSlot(_SG_OUTPUTS, outs, 0)
    b.PrependUOffsetTRelativeSlot(_SG_OPERATORS, ops, 0)
    subgraph = b.EndObject()
    b.StartVector(4, 1, 4)
    b.PrependUOffsetTRelative(subgraph)
    subgraphs = b.EndVector()
    b.StartObject(8)
    b.PrependUint32Slot(_MODEL_VERSION, _scalar(model, _MODEL_VERSION, nt.Uint32Flags, 3), 0)
    b.PrependUOffsetTRelativeSlot(_MODEL_OPCODES, at(_vector_pos(model, _MODEL_OPCODES)), 0)
    b.PrependUOffsetTRelativeSlot(_MODEL_SUBGRAPHS, subgraphs, 0)
    b.PrependUOffsetTRelativeSlot(_MODEL_BUFFERS, at(_vector_pos(model, _MODEL_BUFFERS)), 0)
    root = b.EndObject()
    b.Finish(root, file_identifier=b"TFL3")
    return bytes(b.Output())


def spatially_resized(buf: bytes, height: int, width: int) -> bytes:
    """A fully convolutional image model (NHWC input, batch 1) for an input of height x width.

    LiteRT's XNNPACK refuses to resize such a model when it has RESIZE ops with constant output
    sizes (feature-pyramid upsampling) or a final RESHAPE of its feature maps to a fixed anchor
    count (BlazeFace). Here the input's shape is written into the file, each RESIZE's size is
    scaled by the input's (so height and width must keep every feature map's size whole: multiples
    of the model's largest stride), and RESHAPEs producing graph outputs are cut off: the model
    outputs their 4-D inputs (1, h, w, C), whose cells are the reshaped rows in order.
    """
    data = bytearray(buf)
    model = _root(buf)
    buffers = _tables(model, _MODEL_BUFFERS)
    tensors = _tables(_tables(model, _MODEL_SUBGRAPHS)[0], _SG_TENSORS)
    graph = read_graph(buf)
    old = graph.tensors[graph.inputs[0]].shape
    if len(old) != 4 or old[0] != 1:
        raise ValueError(f"expected one (1, H, W, C) input, got {old}")

    def put(pos: int, values: Sequence[int]) -> None:
        for i, v in enumerate(values):
            encode.Write(nt.Int32Flags.packer_type, data, pos + 4 * i, int(v))

    put(_vector_pos(tensors[graph.inputs[0]], _TENSOR_SHAPE) + 4, (1, height, width, old[3]))
    for op in graph.ops:
        if op.builtin not in (_RESIZE_BILINEAR, _RESIZE_NEAREST):
            continue
        t = tensors[op.inputs[1]]
        b = buffers[_scalar(t, _TENSOR_BUFFER, nt.Uint32Flags)]
        pos = b.Vector(_off(b, _BUFFER_DATA))
        h, w = (encode.Get(nt.Int32Flags.packer_type, buf, pos + 4 * i) for i in range(2))
        if (h * height) % old[1] or (w * width) % old[2]:
            raise ValueError(f"{height}x{width} does not scale a {h}x{w} feature map of a {old[1]}x{old[2]} input"
                             " to whole pixels")
        put(pos, (h * height // old[1], w * width // old[2]))
    resized = bytes(data)
    cut = {op.outputs[0]: op.inputs[0] for op in graph.ops
           if op.builtin == _RESHAPE and op.outputs[0] in graph.outputs}
    keep = [op.index for op in graph.ops if op.outputs[0] not in cut]
    outputs = [cut.get(t, t) for t in graph.outputs]
    return submodel(resized, read_graph(resized), keep, graph.inputs, outputs)
