"""MediaPipe's attention face mesh (face_landmark_with_attention.tflite), the model behind refine_landmarks=True.

The model predicts the 468-point mesh, then crops lips and eyes out of its own
48x48 feature map and refines them, with three custom operators LiteRT lacks.
Here the model file is cut at those operators (facepipe.runtime.tflite_split):
the builtin parts run on LiteRT as sub-models of the unchanged file, the custom
operators run in numpy (facepipe.stages.attention_ops), in the file's order.

The outputs are then merged as MediaPipe's LandmarksRefinementCalculator does
(tensors_to_face_landmarks_with_attention.pbtxt): lips and eyes replace the
mesh's x/y, each iris's z is the mean z of its eye's 16 contour points.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from flatbuffers import flexbuffers

from facepipe.runtime.model import Model
from facepipe.runtime.options import RuntimeOptions
from facepipe.runtime.tflite_split import OpInfo, TfliteGraph, read_graph, submodel
from facepipe.solutions.iris import LEFT_EYE_INDICES, LEFT_IRIS_INDICES, RIGHT_EYE_INDICES, RIGHT_IRIS_INDICES
from facepipe.stages.attention_ops import landmarks_to_transform_matrix, transform_landmarks, transform_tensor_bilinear

__all__ = ["AttentionMeshModel", "LIPS_INDICES", "refine_attention_outputs"]

MODEL_NAME = "face_landmark_with_attention"
_INPUT_SIZE = 192

# Mesh indices of the 80 lip points (lower/upper outer, inner, semi-outer, semi-inner), in the model's order.
LIPS_INDICES = np.array([
    61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 39, 37, 0, 267, 269, 270, 409,
    78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 191, 80, 81, 82, 13, 312, 311, 310, 415,
    76, 77, 90, 180, 85, 16, 315, 404, 320, 307, 306, 184, 74, 73, 72, 11, 302, 303, 304, 408,
    62, 96, 89, 179, 86, 15, 316, 403, 319, 325, 292, 183, 42, 41, 38, 12, 268, 271, 272, 407,
], np.intp)
_EYE_CONTOUR = 16  # each eye's first 16 points are its lower and upper contour (the iris z average)
# Model outputs in MediaPipe's order (SplitTensorVector ranges 0..5, then the face flag).
_OUTPUTS = ("output_mesh_identity", "output_lips", "output_left_eye", "output_right_eye", "output_left_iris",
            "output_right_iris", "conv_faceflag")


@dataclass(frozen=True)
class _Segment:
    model: Model
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def _plan(buf: bytes, graph: TfliteGraph, folder: Path, num_threads: int | None) -> list[_Segment | OpInfo]:
    """Runs of builtin operators become sub-models; custom operators stay as they are."""
    steps: list[list[int] | OpInfo] = []
    for op in graph.ops:
        if op.custom_code:
            steps.append(op)
        elif steps and isinstance(steps[-1], list):
            steps[-1].append(op.index)
        else:
            steps.append([op.index])
    consumed_after: list[set[int]] = []
    later: set[int] = set(graph.outputs)
    for step in reversed(steps):
        consumed_after.append(set(later))
        ops = [graph.ops[i] for i in step] if isinstance(step, list) else [step]
        for op in ops:
            later.update(op.inputs)
    consumed_after.reverse()
    static_ops = [op for op in graph.ops
                  if not op.custom_code and all(t < 0 or graph.tensors[t].constant for t in op.inputs)]
    static_tensors = {t for op in static_ops for t in op.outputs}
    out: list[_Segment | OpInfo] = []
    for k, (step, needed) in enumerate(zip(steps, consumed_after)):
        if not isinstance(step, list):
            out.append(step)
            continue
        # A tensor computed from weights only (DEQUANTIZE of fp16 weights) is recomputed here rather
        # than passed in: XNNPACK folds such ops into their users and cannot take them as inputs.
        used = {t for i in step for t in graph.ops[i].inputs}
        step = [op.index for op in static_ops if op.index < step[0] and used & set(op.outputs)] + step
        produced = [t for i in step for t in graph.ops[i].outputs]
        inputs = [t for i in step for t in graph.ops[i].inputs
                  if t >= 0 and t not in produced and not graph.tensors[t].constant]
        inputs = list(dict.fromkeys(inputs))
        outputs = [t for t in produced if t in needed and (t not in static_tensors or t in graph.outputs)]
        path = folder / f"segment{k}.tflite"
        path.write_bytes(submodel(buf, graph, step, inputs, outputs))
        out.append(_Segment(Model(path, num_threads=num_threads), tuple(inputs), tuple(outputs)))
    return out


class AttentionMeshModel:
    """face_landmark_with_attention.tflite on 192x192 crops; thread-safe per segment (each Model has a lock)."""

    def __init__(self, *, runtime: RuntimeOptions | None = None) -> None:
        runtime = runtime or RuntimeOptions()
        buf = Path(runtime.model_path(MODEL_NAME)).read_bytes()
        graph = read_graph(buf)
        # The sub-model files live as long as this object (LiteRT maps them).
        self._folder = tempfile.TemporaryDirectory(prefix="facepipe-attention-")
        self._steps = _plan(buf, graph, Path(self._folder.name), runtime.num_threads)
        self._options = {op.index: flexbuffers.Loads(op.custom_options) if op.custom_options else {}
                         for op in graph.ops if op.custom_code}
        self._shapes = {t: graph.tensors[t].shape for op in graph.ops if op.custom_code for t in op.outputs}
        self._input = graph.inputs[0]
        self._outputs = tuple(graph.tensor_index(name) for name in _OUTPUTS)

    @property
    def segment_models(self) -> list[Model]:
        """The LiteRT sub-models, in running order (the custom operators run between them)."""
        return [s.model for s in self._steps if isinstance(s, _Segment)]

    def run_filled(self, batch: int, fill) -> list[np.ndarray]:  # noqa: ANN001 - fill(inputs) as Model.run_filled
        """The model's outputs (mesh, lips, left eye, right eye, left iris, right iris, face flag), batch-first."""
        values: dict[int, np.ndarray] = {}
        for step in self._steps:
            if isinstance(step, _Segment):
                if not values:  # the first segment reads the image: warp the crops straight into it
                    outs = step.model.run_filled(batch, fill)
                else:
                    outs = step.model.run(*(values[t] for t in step.inputs))
                values.update(zip(step.outputs, outs))
            else:
                values[step.outputs[0]] = self._custom(step, [values[t] for t in step.inputs])
        return [values[t].reshape(batch, -1) for t in self._outputs]

    def _custom(self, op: OpInfo, args: list[np.ndarray]) -> np.ndarray:
        opts: dict[str, Any] = self._options[op.index]
        n = len(args[0])
        if op.custom_code == "Landmarks2TransformMatrix":
            return np.stack([landmarks_to_transform_matrix(args[0][i], opts) for i in range(n)])
        if op.custom_code == "TransformTensorBilinear":
            h, w = int(opts["output_height"]), int(opts["output_width"])
            return np.stack([transform_tensor_bilinear(args[0][i], args[1][i], h, w) for i in range(n)])
        if op.custom_code == "TransformLandmarks":
            shape = self._shapes[op.outputs[0]]
            return np.stack([transform_landmarks(args[0][i], args[1][i]).reshape(shape[1:]) for i in range(n)])
        raise NotImplementedError(f"{MODEL_NAME}: custom operator {op.custom_code!r} is not implemented")


def refine_attention_outputs(outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(N,478,3) crop-normalized landmarks and (N,) raw face-flag logits from the model's outputs."""
    mesh, lips, left_eye, right_eye, left_iris, right_iris, flag = outputs
    s = np.float32(_INPUT_SIZE)
    n = len(mesh)
    out = np.zeros((n, 478, 3), np.float32)
    out[:, :468] = mesh.reshape(n, 468, 3) / s
    for idx, part in ((LIPS_INDICES, lips), (LEFT_EYE_INDICES, left_eye), (RIGHT_EYE_INDICES, right_eye),
                      (LEFT_IRIS_INDICES, left_iris), (RIGHT_IRIS_INDICES, right_iris)):
        out[:, idx, :2] = part.reshape(n, -1, 2) / s
    for iris, eye in ((LEFT_IRIS_INDICES, LEFT_EYE_INDICES), (RIGHT_IRIS_INDICES, RIGHT_EYE_INDICES)):
        for k in range(n):
            z_sum = 0.0  # a double sum in the contour's order, divided in double, stored as float
            for j in eye[:_EYE_CONTOUR].tolist():
                z_sum += float(out[k, j, 2])
            out[k, iris, 2] = np.float32(z_sum / _EYE_CONTOUR)
    return out, flag.reshape(n)
