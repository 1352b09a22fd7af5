"""A trained landmarks -> 52 ARKit blendshapes regressor (facepipe train blendshapes) on onnxruntime.

The model file is an ONNX network from `facepipe train blendshapes`: input
`features` (N,2F) = `regressor_input`: the patch features of a face
(facepipe.stages.blendshape_features) minus those of the same person's neutral
face, then the features themselves; output `blendshapes` (N,52) in
`LIVE_LINK_NAMES` order. Its metadata_props carry what the runtime needs to
compute the same input: the feature set, the names, and a default neutral (the
mean neutral of the training set) used until `calibrate` is given this person's
neutral face. No PyTorch at run time.

Blendshapes the landmarks cannot signal are forced to 0 (`DEFAULT_FORCED_ZERO`,
configurable).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from facepipe.errors import ModelError
from facepipe.runtime.model import Model, ModelLoadError
from facepipe.runtime.options import RuntimeOptions
from facepipe.runtime.protowire import ProtoDecodeError, parse_message
from facepipe.solutions.blendshapes import ARKIT_NAMES, BLENDSHAPE_NAMES
from facepipe.stages.blendshape_features import FEATURE_SETS, PatchFeaturizer, raw_features

__all__ = ["DEFAULT_FORCED_ZERO", "LIVE_LINK_NAMES", "METADATA_KEY", "BlendshapeRegressor", "featurizer",
           "regressor_input", "teacher_labels", "to_tasks_order"]

# Live Link Face's column order (the seed dataset's CSV header): ARKit's list with Right before Left.
LIVE_LINK_NAMES: tuple[str, ...] = tuple(
    n.replace("Left", "\0").replace("Right", "Left").replace("\0", "Right") for n in ARKIT_NAMES
)
DEFAULT_FORCED_ZERO: tuple[str, ...] = ("jawForward", "jawRight", "jawLeft", "mouthDimpleRight", "mouthDimpleLeft",
                                        "cheekPuff", "tongueOut")
METADATA_KEY = "facepipe.blendshape_regressor"
_FORMAT_VERSION = 1
_TASKS_FROM_LIVE_LINK = np.array([LIVE_LINK_NAMES.index(n) if n in LIVE_LINK_NAMES else -1
                                  for n in BLENDSHAPE_NAMES], np.intp)


def featurizer(kind: str = "normalized") -> Callable[[np.ndarray, tuple[int, int]], np.ndarray]:
    """The feature function `kind` ("normalized": pose-free patches; "raw": the ablation baseline) as
    f((N,478,3) landmarks, (W,H)) -> (N,F) float32."""
    if kind == "normalized":
        from facepipe.solutions.face_geometry import load_geometry_metadata

        meta = load_geometry_metadata()
        return PatchFeaturizer(meta.vertices, meta.weights)
    if kind == "raw":
        return raw_features
    raise ValueError(f"unknown feature set {kind!r}; use one of {list(FEATURE_SETS)}")


def regressor_input(features: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """(N,2F) network input: offsets from the neutral face's (F,) or (N,F) features, then the features.

    The offsets are the seed's input (expression without identity); the features themselves are there
    because a teacher's labels of a neutral face are not 0 and differ between people (the Tasks model
    rates some faces as always a little squinting), which only the face's own shape can tell."""
    f = np.asarray(features, np.float32)
    return np.concatenate([f - np.asarray(neutral, np.float32), f], axis=-1)


def teacher_labels(landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(N,52) the Tasks blendshape model's scores for (N,478,3) landmarks, in LIVE_LINK_NAMES order: the
    labels `make-dataset` writes, and what `BlendshapeRegressor.calibrate(..., labels=)` can take."""
    from facepipe.solutions.blendshapes import BlendshapeModel, to_arkit

    order = [ARKIT_NAMES.index(n) for n in LIVE_LINK_NAMES]
    return to_arkit(BlendshapeModel()(np.asarray(landmarks, np.float32), image_size))[:, order]


def to_tasks_order(scores: np.ndarray) -> np.ndarray:
    """(N,52) Live Link order -> the Tasks model's order (BLENDSHAPE_NAMES); `_neutral` is 0 (a regressor
    has no such output) and `tongueOut` is dropped."""
    s = np.asarray(scores, np.float32)
    out = s[:, np.maximum(_TASKS_FROM_LIVE_LINK, 0)]
    out[:, _TASKS_FROM_LIVE_LINK < 0] = 0.0
    return out


def read_metadata(path: Path) -> dict:
    """The regressor metadata stored in an ONNX file's metadata_props (ModelError if absent or bad)."""
    try:
        top = parse_message(path.read_bytes())
        for entry in top.get(14, []):
            kv = parse_message(bytes(entry.value))  # type: ignore[arg-type]
            key = bytes(kv[1][0].value).decode("utf-8") if 1 in kv else ""  # type: ignore[arg-type]
            if key == METADATA_KEY:
                return json.loads(bytes(kv[2][0].value).decode("utf-8"))  # type: ignore[arg-type]
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except (ProtoDecodeError, KeyError, IndexError, TypeError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"{path}: not a facepipe blendshape regressor ({exc})") from exc
    raise ModelError(f"{path}: not a facepipe blendshape regressor (no {METADATA_KEY} metadata; "
                     "make one with `facepipe train blendshapes`)")


class BlendshapeRegressor:
    """Runs a trained regressor on landmarks of many faces; thread-safe.

    path: the .onnx written by `facepipe train blendshapes`.
    forced_zero: names always reported as 0 (default DEFAULT_FORCED_ZERO; () for none).
    `calibrate(landmarks, image_size)` sets the neutral face (the mean of the faces given); until then
    the training set's mean neutral is used.
    """

    def __init__(self, path: str | os.PathLike[str], *, forced_zero: Iterable[str] = DEFAULT_FORCED_ZERO,
                 runtime: RuntimeOptions | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"{self.path}: blendshape regressor not found")
        meta = read_metadata(self.path)
        try:
            self.names: tuple[str, ...] = tuple(meta["names"])
            self.feature_set: str = meta["features"]
            self.default_neutral = np.asarray(meta["neutral"], np.float32)
            self.label_mean = np.asarray(meta.get("label_mean", [0.0] * len(self.names)), np.float32)
            version = int(meta.get("version", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{self.path}: regressor metadata is incomplete ({exc})") from exc
        if version != _FORMAT_VERSION or self.names != LIVE_LINK_NAMES or self.feature_set not in FEATURE_SETS:
            raise ModelError(f"{self.path}: unsupported regressor (format {version}, features {self.feature_set!r})")
        unknown = sorted(set(forced_zero) - set(self.names))
        if unknown:
            raise ValueError(f"forced_zero names unknown blendshapes: {', '.join(unknown)}")
        self.forced_zero = tuple(forced_zero)
        self._zero = np.isin(np.array(self.names), np.array(self.forced_zero, dtype=str))
        try:
            self._model = Model(self.path, num_threads=(runtime or RuntimeOptions()).num_threads)
        except ModelLoadError as exc:
            raise ModelError(str(exc)) from exc
        width = self._model.inputs[0].shape[-1]
        self._features = featurizer(self.feature_set)
        if width != 2 * len(self.default_neutral):
            raise ModelError(f"{self.path}: network takes {width} inputs, metadata has a neutral of "
                             f"{len(self.default_neutral)} features")
        self._lock = threading.Lock()
        self._neutral = self.default_neutral
        self._shift: np.ndarray | None = None

    @property
    def num_inputs(self) -> int:
        return 2 * len(self.default_neutral)

    def features(self, landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        """(N,F) features of (N,478,3) normalized landmarks (before the neutral is subtracted)."""
        return self._features(landmarks, image_size)

    def calibrate(self, landmarks: np.ndarray, image_size: tuple[int, int], labels: np.ndarray | None = None) -> None:
        """Use these (N>=1,478,3) landmarks of a neutral face (their mean) as the neutral pose.

        labels: optional (52,) or (N,52) blendshapes of that neutral face in LIVE_LINK_NAMES order, e.g.
        `teacher_labels(landmarks, image_size)` (one run of the Tasks blendshape model at calibration
        time). Every later output is then shifted by labels minus the model's own output for the
        neutral face (and clipped to [0, 1]): a person's resting levels (how squinting or raised their
        eyes and brows look at rest) that the regressor cannot tell from a face it never saw."""
        f = self.features(landmarks, image_size)
        if len(f) == 0 or not np.isfinite(f).all():
            raise ValueError("calibration needs at least one face with valid landmarks")
        neutral = f.mean(0).astype(np.float32)
        shift = None
        if labels is not None:
            lab = np.asarray(labels, np.float32).reshape(-1, len(self.names))
            if not np.isfinite(lab).all():
                raise ValueError("calibration labels must be finite")
            shift = lab.mean(0) - self.predict(regressor_input(f, neutral)).mean(0)
            shift[self._zero] = 0.0
        with self._lock:
            self._neutral = neutral
            self._shift = shift

    def reset_calibration(self) -> None:
        with self._lock:
            self._neutral = self.default_neutral
            self._shift = None

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """(N,52) scores in [0,1] from (N,2F) network inputs (`regressor_input`)."""
        x = np.asarray(inputs, np.float32)
        if x.ndim != 2 or x.shape[1] != self.num_inputs:
            raise ValueError(f"expected (N, {self.num_inputs}) regressor inputs, got {x.shape}")
        if len(x) == 0:
            return np.zeros((0, len(self.names)), np.float32)
        out = self._model.run(x)[0]
        np.minimum(np.maximum(out, 0.0, out=out), 1.0, out=out)  # np.clip's wrapper costs more than the two
        out[:, self._zero] = 0.0
        return out

    def __call__(self, landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        """(N,52) scores, LIVE_LINK_NAMES order, for (N,478,3) normalized landmarks; NaN rows for faces
        whose landmarks could not be put in object space."""
        f = self.features(landmarks, image_size)
        with self._lock:
            neutral, shift = self._neutral, self._shift
        good = np.isfinite(f).all(axis=1)
        if good.all():
            out = self.predict(regressor_input(f, neutral))
        else:
            out = np.full((len(f), len(self.names)), np.nan, np.float32)
            out[good] = self.predict(regressor_input(f[good], neutral))
        if shift is not None:
            out += shift
            np.minimum(np.maximum(out, 0.0, out=out), 1.0, out=out)
        return out

    def tasks_order(self, landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        """Like calling it, in the Tasks blendshape model's order (drop-in for FaceLandmarker)."""
        return to_tasks_order(self(landmarks, image_size))
