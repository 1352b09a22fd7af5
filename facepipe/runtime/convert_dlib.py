"""Convert dlib's face recognition ResNet (`.dat`) into an ONNX model facepipe runs with onnxruntime.

The ONNX model takes the aligned chips exactly as dlib's input layer does:

- in ``chips``: (N, 150, 150, 3) uint8 RGB (N free: one run embeds N faces);
- out ``descriptor``: (N, 128) float32, dlib's raw (not normalised) face descriptor.

The graph: Cast, NHWC->NCHW, (x - mean_rgb) / 256 (dlib's input_rgb_image),
then the layers in order. Each ``affine`` layer directly after a ``con`` is
folded into that convolution's weights and bias (scale * (W x + b) + shift ==
(scale W) x + (scale b + shift)); the residual adds zero-pad the smaller operand
to the larger shape as dlib does. The output is deterministic: the same
`.dat` bytes always give the same ONNX bytes (checked by sha256 in the store).
"""

from __future__ import annotations

import numpy as np

from facepipe.runtime.dlib_resnet import (
    AddPrev,
    Affine,
    Conv,
    Fc,
    InputRGB,
    Layer,
    Pool,
    Relu,
    Skip,
    Tag,
    read_network,
)
from facepipe.runtime.onnx_writer import OnnxGraph

__all__ = ["convert_dlib_face_recognition", "CONVERTER_VERSION"]

CONVERTER_VERSION = 1  # bump when the produced ONNX bytes change (and re-pin the sha256 in the registry)


def _out_size(size: int, window: int, stride: int, pad: int) -> int:
    # dlib's and ONNX's (floor mode) output size for convolution and pooling alike.
    return (size + 2 * pad - window) // stride + 1


def _padded_to(g: OnnxGraph, value: str, shape: tuple[int, int, int], target: tuple[int, int, int]) -> str:
    if shape == target:
        return value
    pads = np.array([0, 0, 0, 0, 0, *(t - s for t, s in zip(target, shape))], np.int64)
    return g.node("Pad", [value, g.constant("pads", pads)])


def _build(layers: list[Layer]) -> OnnxGraph:
    if not layers or not isinstance(layers[0], InputRGB):
        raise ValueError("the network must start with its input layer")
    inp = layers[0]
    g = OnnxGraph("dlib_face_recognition_resnet_model_v1")
    x = g.input("chips", np.uint8, ["N", inp.size, inp.size, 3])
    x = g.node("Transpose", [g.node("Cast", [x], to=1)], perm=[0, 3, 1, 2])
    mean = np.array(inp.mean_rgb, np.float32).reshape(1, 3, 1, 1)
    x = g.node("Sub", [x, g.constant("mean_rgb", mean)])
    x = g.node("Mul", [x, g.constant("inv256", np.array(1 / 256, np.float32))])
    shape = (3, inp.size, inp.size)  # (C, H, W) of the current value
    tags: dict[int, tuple[str, tuple[int, int, int]]] = {}
    i = 1
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, Conv):
            weight, bias = layer.weight, layer.bias
            if i + 1 < len(layers) and isinstance(layers[i + 1], Affine):
                aff = layers[i + 1]
                assert isinstance(aff, Affine)
                weight = (weight * aff.scale[:, None, None, None]).astype(np.float32)
                bias = (aff.shift if bias is None else bias * aff.scale + aff.shift).astype(np.float32)
                i += 1
            kh, kw = weight.shape[2:]
            (sy, sx), (py, px) = layer.stride, layer.padding
            ins = [x, g.constant("conv_w", weight)] + ([g.constant("conv_b", bias)] if bias is not None else [])
            x = g.node("Conv", ins, kernel_shape=[kh, kw], strides=[sy, sx], pads=[py, px, py, px])
            shape = (weight.shape[0], _out_size(shape[1], kh, sy, py), _out_size(shape[2], kw, sx, px))
        elif isinstance(layer, Affine):
            c = layer.scale.size
            x = g.node("Mul", [x, g.constant("scale", layer.scale.reshape(1, c, 1, 1))])
            x = g.node("Add", [x, g.constant("shift", layer.shift.reshape(1, c, 1, 1))])
        elif isinstance(layer, Relu):
            x = g.node("Relu", [x])
        elif isinstance(layer, Pool):
            if layer.window == (0, 0):
                x = g.node("GlobalAveragePool" if layer.kind == "avg" else "GlobalMaxPool", [x])
                shape = (shape[0], 1, 1)
            else:
                (kh, kw), (sy, sx), (py, px) = layer.window, layer.stride, layer.padding
                op = "MaxPool" if layer.kind == "max" else "AveragePool"
                x = g.node(op, [x], kernel_shape=[kh, kw], strides=[sy, sx], pads=[py, px, py, px])
                shape = (shape[0], _out_size(shape[1], kh, sy, py), _out_size(shape[2], kw, sx, px))
        elif isinstance(layer, Tag):
            tags[layer.id] = (x, shape)
        elif isinstance(layer, Skip):
            x, shape = tags[layer.id]
        elif isinstance(layer, AddPrev):
            other, other_shape = tags[layer.id]
            target = tuple(max(a, b) for a, b in zip(shape, other_shape))
            x = g.node(
                "Add", [_padded_to(g, x, shape, target), _padded_to(g, other, other_shape, target)]  # type: ignore[arg-type]
            )
            shape = target  # type: ignore[assignment]
        elif isinstance(layer, Fc):
            n_in, n_out = layer.weight.shape
            if n_in != int(np.prod(shape)):
                raise ValueError(f"fc layer takes {n_in} inputs but gets {shape}")
            x = g.node("MatMul", [g.node("Flatten", [x], axis=1), g.constant("fc_w", layer.weight)])
            if layer.bias is not None:
                x = g.node("Add", [x, g.constant("fc_b", layer.bias)])
            shape = (n_out, 1, 1)
        else:  # pragma: no cover - read_network only yields the kinds above
            raise ValueError(f"unsupported layer {layer!r}")
        i += 1
    x = g.node("Identity", [x], out="descriptor")
    g.output(x, np.float32, ["N", shape[0]])
    return g


def convert_dlib_face_recognition(dat: bytes) -> bytes:
    """ONNX bytes for the dlib face recognition ResNet serialized in `dat` (raises DlibFormatError)."""
    g = _build(read_network(dat))
    doc = f"converted from dlib_face_recognition_resnet_model_v1.dat by facepipe (v{CONVERTER_VERSION})"
    return g.to_bytes(doc=doc)
