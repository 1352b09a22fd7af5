"""The layers of dlib's face recognition ResNet, read from its `.dat` file.

`dlib_face_recognition_resnet_model_v1.dat` is the serialized `anet_type` of
dlib's examples/dnn_face_recognition_ex.cpp: a 29-layer ResNet on 150x150 RGB
chips with a 128-d metric-learning output. Its C++ type fixes the layer order
and which tagged output each skip/add_prev layer refers to (the file does
not record that); `face_recognition_resnet_spec()` writes that type down,
outermost layer first, as dlib nests it, and `read_network` walks the file
against it, checking every layer's kind, kernel, stride and padding.

Residual blocks (as in the example):
- ``ares<N>``: relu(add_prev1(block(N, stride 1, x)))  with tag1 = x
- ``ares_down<N>``: relu(add_prev2(avg_pool2x2s2(skip1(tag2(block(N, stride 2, tag1(x)))))))
  i.e. avg_pool(x) + block(x); when the two differ in channels or size dlib adds
  them zero-padded to the larger shape (cpu_dlib.cpp `add`).
- ``block(N, s)``: affine(con3x3s1(relu(affine(con3x3 stride s(x)))))
`affine` layers may be stored as the batch-norm layers they were trained as
(``bn_con2``); dlib turns those into affine ones on load, and so do we.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepipe.runtime.dlib_format import DlibFormatError, DlibReader

__all__ = [
    "Affine",
    "AddPrev",
    "Conv",
    "Fc",
    "InputRGB",
    "Pool",
    "Relu",
    "Skip",
    "Tag",
    "DlibFormatError",
    "face_recognition_resnet_spec",
    "read_network",
]


# ---------------------------------------------------------------- parsed layers (input first)


@dataclass(frozen=True)
class InputRGB:
    size: int
    mean_rgb: tuple[float, float, float]  # subtracted from 0..255 pixels, then divided by 256


@dataclass(frozen=True)
class Conv:
    weight: np.ndarray  # (out, in, kh, kw) float32, cross-correlation like ONNX Conv
    bias: np.ndarray | None  # (out,)
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class Affine:
    scale: np.ndarray  # (C,)
    shift: np.ndarray  # (C,)


@dataclass(frozen=True)
class Relu:
    pass


@dataclass(frozen=True)
class Pool:
    kind: str  # "max" | "avg"
    window: tuple[int, int]  # (0, 0): the whole input (avg_pool_everything)
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class Fc:
    weight: np.ndarray  # (in, out): output = flatten(input) @ weight (+ bias)
    bias: np.ndarray | None


@dataclass(frozen=True)
class Tag:
    id: int


@dataclass(frozen=True)
class Skip:
    id: int  # the output of the nearest Tag(id) below becomes the current value


@dataclass(frozen=True)
class AddPrev:
    id: int  # current value + output of the nearest Tag(id) below, zero-padded to the larger shape


Layer = InputRGB | Conv | Affine | Relu | Pool | Fc | Tag | Skip | AddPrev


# ---------------------------------------------------------------- the C++ type, outermost first


@dataclass(frozen=True)
class _Want:
    kind: str  # loss | fc | avg_pool | max_pool | relu | affine | con | tag | skip | add_prev | input
    args: tuple[int, ...] = ()


def _block(n: int, stride: int) -> list[_Want]:
    return [
        _Want("affine"),
        _Want("con", (n, 3, 3, 1, 1)),
        _Want("relu"),
        _Want("affine"),
        _Want("con", (n, 3, 3, stride, stride)),
    ]


def _ares(n: int) -> list[_Want]:
    return [_Want("relu"), _Want("add_prev", (1,)), *_block(n, 1), _Want("tag", (1,))]


def _ares_down(n: int) -> list[_Want]:
    return [
        _Want("relu"),
        _Want("add_prev", (2,)),
        _Want("avg_pool", (2, 2, 2, 2)),
        _Want("skip", (1,)),
        _Want("tag", (2,)),
        *_block(n, 2),
        _Want("tag", (1,)),
    ]


def face_recognition_resnet_spec() -> list[_Want]:
    """dnn_face_recognition_ex.cpp's anet_type, outermost layer first."""
    levels: list[_Want] = [*_ares_down(256)]  # alevel0
    levels += [*_ares(256), *_ares(256), *_ares_down(256)]  # alevel1
    levels += [*_ares(128), *_ares(128), *_ares_down(128)]  # alevel2
    levels += [*_ares(64), *_ares(64), *_ares(64), *_ares_down(64)]  # alevel3
    levels += [*_ares(32), *_ares(32), *_ares(32)]  # alevel4
    return [
        _Want("loss"),
        _Want("fc", (128, 1)),  # fc_no_bias<128> (bias mode FC_NO_BIAS = 1)
        _Want("avg_pool", (0, 0, 1, 1)),  # avg_pool_everything
        *levels,
        _Want("max_pool", (3, 3, 2, 2)),
        _Want("relu"),
        _Want("affine"),
        _Want("con", (32, 7, 7, 2, 2)),
        _Want("input", (150,)),
    ]


def _default_padding(window: int, stride: int) -> int:
    # dlib's template default for con_/max_pool_/avg_pool_: no padding when strided, else "same".
    return 0 if stride != 1 else window // 2


_COMPUTATIONAL = ("fc", "avg_pool", "max_pool", "relu", "affine", "con", "add_prev")


# ---------------------------------------------------------------- details of each layer kind


def _read_input(r: DlibReader, want: _Want) -> InputRGB:
    r.expect_string(("input_rgb_image_sized",), "the input layer")
    mean = (r.real("avg_red"), r.real("avg_green"), r.real("avg_blue"))
    nr, nc = r.integer("input rows"), r.integer("input columns")
    if (nr, nc) != (want.args[0], want.args[0]):
        raise DlibFormatError(f"input layer is {nr}x{nc}, this network takes {want.args[0]}x{want.args[0]}")
    return InputRGB(want.args[0], mean)


def _slice(params: np.ndarray, offset: int, shape: tuple[int, ...], what: str) -> np.ndarray:
    n = int(np.prod(shape))
    if offset + n > params.size:
        raise DlibFormatError(f"{what}: {shape} at offset {offset} runs past the {params.size} parameters")
    return params[offset : offset + n].reshape(shape).copy()


def _read_con(r: DlibReader, want: _Want) -> Conv:
    version = r.expect_string(("con_4", "con_5", "con_6"), "a con layer")
    params = r.tensor("con params").data.ravel()
    num_filters, nr, nc = r.integer(), r.integer(), r.integer()
    stride_y, stride_x, pad_y, pad_x = r.integer(), r.integer(), r.integer(), r.integer()
    filters = r.alias_tensor("con filters")
    biases = r.alias_tensor("con biases")
    for _ in range(4):  # learning-rate and weight-decay multipliers
        r.real("a con multiplier")
    use_bias = r.boolean("use_bias") if version in ("con_5", "con_6") else True
    if version == "con_6":
        r.boolean("use_relu")
    n, kh, kw, sy, sx = want.args
    pads = (_default_padding(kh, sy), _default_padding(kw, sx))
    if (num_filters, nr, nc, stride_y, stride_x, pad_y, pad_x) != (n, kh, kw, sy, sx, *pads):
        raise DlibFormatError(
            f"con layer is {num_filters} filters {nr}x{nc} stride {stride_y},{stride_x} padding {pad_y},{pad_x};"
            f" the network has {n} filters {kh}x{kw} stride {sy},{sx} padding {pads[0]},{pads[1]}"
        )
    weight = _slice(params, 0, filters, "con filters")
    bias = _slice(params, weight.size, (n,), "con biases") if use_bias and np.prod(biases) else None
    return Conv(weight, bias, (sy, sx), pads)


def _read_affine(r: DlibReader) -> Affine:
    version = r.expect_string(("affine_", "affine_2", "bn_con2"), "an affine (or batch-norm) layer")
    params = r.tensor("affine params").data.ravel()
    g_shape, b_shape = r.alias_tensor("gamma"), r.alias_tensor("beta")
    gamma = _slice(params, 0, (int(np.prod(g_shape)),), "gamma")
    beta = _slice(params, gamma.size, (int(np.prod(b_shape)),), "beta")
    if version == "bn_con2":
        r.tensor("means")
        r.tensor("invstds")
        running_mean = r.tensor("running means").data.ravel()
        running_var = r.tensor("running variances").data.ravel()
        r.integer("num_updates")
        r.integer("running_stats_window_size")
        for _ in range(4):
            r.real("a bn multiplier")
        eps = np.float32(r.real("eps"))
        # dlib's affine_(bn_): scale = gamma / sqrt(var + eps), shift = beta - scale * mean, in float32.
        scale = gamma / np.sqrt(running_var + eps)
        return Affine(scale.astype(np.float32), (beta - scale * running_mean).astype(np.float32))
    mode = r.integer("affine mode")
    if mode != 0:  # CONV_MODE: one scale/shift per channel
        raise DlibFormatError(f"affine layer in mode {mode}; this network has per-channel (conv mode) layers")
    if version == "affine_2" and r.boolean("disabled"):
        return Affine(np.ones_like(gamma), np.zeros_like(beta))
    return Affine(gamma, beta)


def _read_pool(r: DlibReader, want: _Want) -> Pool:
    kind = "max" if want.kind == "max_pool" else "avg"
    r.expect_string((f"{kind}_pool_2",), f"a {kind}_pool layer")
    got = tuple(r.integer(f"a {kind}_pool setting") for _ in range(6))
    nr, nc, sy, sx = want.args
    expected = (nr, nc, sy, sx, _default_padding(nr, sy), _default_padding(nc, sx))
    if got != expected:
        raise DlibFormatError(f"{kind}_pool layer has (nr,nc,sy,sx,py,px) {got}, the network has {expected}")
    return Pool(kind, (nr, nc), (sy, sx), expected[4:])


def _read_fc(r: DlibReader, want: _Want) -> Fc:
    version = r.expect_string(("fc_2", "fc_3"), "an fc layer")
    num_outputs, num_inputs = r.integer("fc outputs"), r.integer("fc inputs")
    params = r.tensor("fc params").data.ravel()
    w_shape = r.alias_tensor("fc weights")
    r.alias_tensor("fc biases")
    bias_mode = r.integer("fc bias mode")
    for _ in range(4):
        r.real("an fc multiplier")
    if version == "fc_3":
        r.boolean("use_bias")
    if num_outputs != want.args[0] or bias_mode != want.args[1]:
        raise DlibFormatError(
            f"fc layer has {num_outputs} outputs, bias mode {bias_mode}; the network has {want.args[0]}, mode"
            f" {want.args[1]}"
        )
    weight = _slice(params, 0, (int(np.prod(w_shape)),), "fc weights").reshape(num_inputs, num_outputs)
    return Fc(weight, None)


def _read_details(r: DlibReader, want: _Want) -> Layer:
    if want.kind == "con":
        return _read_con(r, want)
    if want.kind == "affine":
        return _read_affine(r)
    if want.kind in ("max_pool", "avg_pool"):
        return _read_pool(r, want)
    if want.kind == "fc":
        return _read_fc(r, want)
    if want.kind == "relu":
        if r.expect_string(("relu_", "relu_2"), "a relu layer") == "relu_2" and r.boolean("disabled"):
            raise DlibFormatError("a relu layer is disabled; this network does not disable any")
        return Relu()
    r.expect_string(("add_prev_",), "an add_prev layer")
    return AddPrev(want.args[0])


def _read_layer_state(r: DlibReader, version: int, on_input: bool) -> None:
    """The training state every add_layer writes after its details; read and dropped."""
    for _ in range(3):  # setup called, gradient stale, output/gradient disabled
        r.boolean("a layer flag")
    r.tensor("x_grad")
    r.tensor("cached_output")
    if on_input or version == 2:
        r.tensor("grad_final" if on_input else "params_grad")
    if on_input and version == 3:
        r.integer("sample expansion factor")


def read_network(data: bytes, spec: list[_Want] | None = None) -> list[Layer]:
    """Parse a serialized dlib network against `spec` (default: the face recognition ResNet).

    Returns the layers input first. Raises DlibFormatError naming the byte
    offset and what was expected there if the file is not that network.
    """
    spec = face_recognition_resnet_spec() if spec is None else spec
    r = DlibReader(data)
    versions: list[int] = []
    layers: list[Layer] = []
    for i, want in enumerate(spec):
        if want.kind == "loss":
            r.expect_int(1, "the loss layer version")
            if r.expect_string(("loss_metric_", "loss_metric_2"), "the loss layer") == "loss_metric_2":
                r.real("margin")
                r.real("distance threshold")
        elif want.kind in ("tag", "skip"):
            r.expect_int(1, f"the version of a {want.kind} layer")
        elif want.kind == "input":
            layers.append(_read_input(r, want))
        else:
            on_input = i + 1 < len(spec) and spec[i + 1].kind == "input"
            versions.append(r.expect_int((2, 3) if on_input else (1, 2), f"the version of a {want.kind} layer"))
    # Details come back input-first, i.e. in reverse order of the prefix.
    computational = [(i, w) for i, w in enumerate(spec) if w.kind in _COMPUTATIONAL]
    details: dict[int, Layer] = {}
    for (i, want), version in zip(reversed(computational), reversed(versions)):
        details[i] = _read_details(r, want)
        _read_layer_state(r, version, on_input=i + 1 < len(spec) and spec[i + 1].kind == "input")
    if not r.at_end():
        raise DlibFormatError(f"{len(data) - r.pos} bytes left after the network at offset {r.pos}")
    for i in range(len(spec) - 1, -1, -1):
        want = spec[i]
        if i in details:
            layers.append(details[i])
        elif want.kind == "tag":
            layers.append(Tag(want.args[0]))
        elif want.kind == "skip":
            layers.append(Skip(want.args[0]))
    return layers
