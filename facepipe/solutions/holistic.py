"""Holistic: pose + face mesh + both hands from one person (MediaPipe's `mp.solutions.holistic`).

Reference section 7. The pose pipeline (`Pose`, filters included) runs first;
the face and each hand get their ROI from the (filtered) pose landmarks:

* hand: wrist/index/pinky -> a rough hand ROI -> the hand_recrop model refines
  it -> `select_tracking_roi` keeps last frame's landmark ROI while it still
  agrees -> hand_landmark_full (presence > 0.5). Skipped when the wrist's
  visibility is <= 0.1.
* face: pose points 0-10 -> a ROI three times their box -> face detection
  inside it -> ROI from the detection's keypoints -> tracking as for hands ->
  face landmark model (presence > 0.5).

As in MediaPipe, the face/hand tracking loops reuse the previous call's
landmarks even in static mode (they only win when the new ROI agrees with
them). Face and hand landmarks are not smoothed; the pose is (6.7).
`refine_face_landmarks` runs MediaPipe's attention mesh for the face (478
points with irises), as FaceMesh(refine_landmarks=True) does.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from facepipe.io.image import check_rgb_image
from facepipe.results import ImageSize, Landmarks
from facepipe.runtime.options import RuntimeOptions, fold_legacy_options
from facepipe.solutions.face_mesh import FaceMesh, FaceMeshOptions, landmark_rois
from facepipe.solutions.hand_landmark import NUM_HAND_LANDMARKS, HandLandmarkModel, hand_rects_for_next_frame
from facepipe.solutions.pose import POSE_LANDMARK_MODELS, Pose, PoseLandmark, PoseOptions, PoseResult
from facepipe.stages.image_to_tensor import BORDER_REPLICATE, crops_to_tensor
from facepipe.stages.projection import project_landmarks, remove_letterbox_points
from facepipe.stages.rects import (
    hand_rects_from_pose_points,
    rects_from_alignment_points,
    rects_from_keypoints,
    rects_from_landmarks,
    transform_rects,
)
from facepipe.stages.roi_tracking import FACE_TRACKING, HAND_TRACKING, select_tracking_roi

__all__ = ["Holistic", "HolisticOptions", "HolisticResult", "HandRecropModel", "hand_rois_from_pose"]

_WRIST_VISIBILITY = 0.1
_HAND_PRESENCE = 0.5
_RECROP_INPUT = 256
# (wrist, index, pinky) pose landmarks of each hand, subject's sides.
_HAND_POINTS = {
    "left": (PoseLandmark.LEFT_WRIST, PoseLandmark.LEFT_INDEX, PoseLandmark.LEFT_PINKY),
    "right": (PoseLandmark.RIGHT_WRIST, PoseLandmark.RIGHT_INDEX, PoseLandmark.RIGHT_PINKY),
}


def _empty(num_points: int, size: ImageSize) -> Landmarks:
    return Landmarks.empty(num_points, size)


@dataclass(frozen=True, eq=False)
class HolisticResult:
    """One person: pose (PoseResult, with world landmarks and mask), face and hands.

    face / left_hand / right_hand: Landmarks with N = 0 or 1 (468 or 478 face points,
    21 hand points), each with its presence and the ROI it was read from. Sides are
    the subject's own (pose convention), not mirrored.
    """

    pose: PoseResult
    face: Landmarks = field(default_factory=lambda: _empty(468, (0, 0)))
    left_hand: Landmarks = field(default_factory=lambda: _empty(NUM_HAND_LANDMARKS, (0, 0)))
    right_hand: Landmarks = field(default_factory=lambda: _empty(NUM_HAND_LANDMARKS, (0, 0)))

    @property
    def image_size(self) -> ImageSize:
        return self.pose.image_size

    def to_dict(self) -> dict:
        def part(lm: Landmarks) -> dict | None:
            if len(lm) == 0:
                return None
            return {"presence": float(lm.presence[0]), "roi": lm.rois[0].tolist(),
                    "landmarks": lm.landmarks[0].tolist()}

        pose = self.pose.to_dict()["poses"]
        return {
            "image_size": list(self.image_size),
            "pose": pose[0] if pose else None,
            "face": part(self.face),
            "left_hand": part(self.left_hand),
            "right_hand": part(self.right_hand),
        }


_POSE_FIELDS = frozenset(f.name for f in fields(PoseOptions))


@dataclass(frozen=True, init=False)
class HolisticOptions:
    """MediaPipe's Holistic options: the pose's (`PoseOptions`, which it is built on) plus its own.

    pose: the pose options; their confidences apply to the pose only (face and hand thresholds
        are fixed at 0.5, as in MediaPipe) and their `runtime` to every model of the pipeline.
        Each PoseOptions field can also be given and read directly, as MediaPipe's flat
        arguments: HolisticOptions(static_image_mode=True).model_complexity.
    refine_face_landmarks: 478 face points (irises) instead of 468.
    parallel_branches: run the face branch on a second thread while the hands run, as
        MediaPipe's graph runs its branches concurrently (the models release the GIL). Same
        results either way.
    """

    pose: PoseOptions
    refine_face_landmarks: bool
    parallel_branches: bool

    def __init__(self, pose: PoseOptions | None = None, *, refine_face_landmarks: bool = False,
                 parallel_branches: bool = True, **pose_fields: Any) -> None:
        unknown = sorted(set(pose_fields) - _POSE_FIELDS)
        if unknown:
            raise TypeError(f"HolisticOptions got unexpected arguments {', '.join(unknown)}")
        pose = PoseOptions(**pose_fields) if pose is None else replace(pose, **pose_fields)
        object.__setattr__(self, "pose", pose)
        object.__setattr__(self, "refine_face_landmarks", refine_face_landmarks)
        object.__setattr__(self, "parallel_branches", parallel_branches)

    def __getattr__(self, name: str) -> Any:
        if name in _POSE_FIELDS:  # only reached for names the instance does not hold itself
            return getattr(self.pose, name)
        raise AttributeError(f"'HolisticOptions' object has no attribute {name!r}")

    def pose_options(self) -> PoseOptions:
        return self.pose


def hand_rois_from_pose(points: np.ndarray, image_size: ImageSize) -> np.ndarray:
    """(N,5) rough hand ROIs from (N,3,2) normalized (wrist, index, pinky) pose points:
    centred on the estimated middle finger, side 2x its distance to the wrist, pointing
    wrist -> middle finger, x2.7, shifted 0.1 towards the fingers, square."""
    p = np.asarray(points, np.float32).reshape(-1, 3, 2)
    rects = hand_rects_from_pose_points(p[:, 0], p[:, 1], p[:, 2], image_size, target_deg=90.0)
    return transform_rects(rects, image_size, scale_x=2.7, scale_y=2.7, shift_y=-0.1, square_long=True)


class HandRecropModel:
    """hand_recrop.tflite: refines a rough hand ROI into the hand landmark model's ROI."""

    def __init__(self, *, runtime: RuntimeOptions | None = None, model_path: str | None = None,
                 num_threads: int | None = None) -> None:
        runtime = fold_legacy_options("HandRecropModel", runtime or RuntimeOptions(), num_threads, _stacklevel=3,
                                      hand_recrop=model_path)
        self.model = runtime.load("hand_recrop")

    def run(self, image: np.ndarray, rois: np.ndarray) -> np.ndarray:
        """(N,5) re-crop ROIs for (N,5) rough ROIs."""
        rois = np.asarray(rois, np.float32).reshape(-1, 5)
        size = (image.shape[1], image.shape[0])
        if len(rois) == 0:
            return rois
        batch, crops = crops_to_tensor(image, rois, _RECROP_INPUT, _RECROP_INPUT, keep_aspect=True,
                                       border=BORDER_REPLICATE)
        # One ROI per call: this model's graph hard-codes batch 1 (a resized batch runs but gives
        # wrong results for every item after the first).
        raw = np.concatenate([self.model.run(batch[i : i + 1])[0] for i in range(len(rois))])
        pts = raw.reshape(-1, 2, 2) / np.float32(_RECROP_INPUT)
        padding = np.stack([c.padding for c in crops])
        pts = project_landmarks(remove_letterbox_points(pts, padding), rois)
        rects = rects_from_alignment_points(pts[:, 0], pts[:, 1], size, target_deg=-90.0)
        return transform_rects(rects, size, shift_y=-0.1, square_long=True)


@dataclass
class _PartState:
    """Previous frame's landmarks and the ROI built from them (RoiTracking's loopback)."""

    landmarks: np.ndarray | None = None
    roi: np.ndarray | None = None

    def clear(self) -> None:
        self.landmarks = self.roi = None


class Holistic:
    """Pose, face and hands of one person per image; one instance per stream (it tracks)."""

    def __init__(
        self,
        options: HolisticOptions | None = None,
        *,
        pose_detector_model_path: str | None = None,
        pose_landmark_model_path: str | None = None,
        hand_landmark_model_path: str | None = None,
        hand_recrop_model_path: str | None = None,
        face_detector_model_path: str | None = None,
        face_landmark_model_path: str | None = None,
        iris_model_path: str | None = None,
    ) -> None:
        self.options = o = options or HolisticOptions()
        runtime = fold_legacy_options(
            "Holistic", o.pose.runtime, _stacklevel=3, pose_detection=pose_detector_model_path,
            **{POSE_LANDMARK_MODELS[o.pose.model_complexity]: pose_landmark_model_path},
            hand_landmark_full=hand_landmark_model_path, hand_recrop=hand_recrop_model_path,
            face_detection_short_range=face_detector_model_path, face_landmark=face_landmark_model_path,
            iris_landmark=iris_model_path,
        )
        self.pose = Pose(replace(o.pose, runtime=runtime))
        # One hand and recrop model per side, so that the two hands can run at the same time
        # (MediaPipe's graph runs its left/right hand and face branches concurrently).
        # MediaPipe's holistic always uses the full hand model (its complexity input is unconnected).
        self._hand_models = {
            side: (HandRecropModel(runtime=runtime), HandLandmarkModel(1, runtime=runtime))
            for side in _HAND_POINTS
        }
        self.face_mesh = FaceMesh(
            FaceMeshOptions(static_image_mode=True, refine_landmarks=o.refine_face_landmarks, runtime=runtime)
        )
        self._hands = {side: _PartState() for side in _HAND_POINTS}
        self._face = _PartState()
        self._lock = threading.Lock()
        # Workers for the face and right-hand branches; their threads exit with the instance.
        self._branch_pool = ThreadPoolExecutor(2, "holistic-branch") if o.parallel_branches else None

    def close(self) -> None:
        """Stop the branch worker threads (also done when the instance is collected)."""
        if self._branch_pool is not None:
            self._branch_pool.shutdown(wait=True)
            self._branch_pool = None

    def __enter__(self) -> Holistic:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self) -> None:
        with self._lock:
            self.pose.reset()
            for s in (*self._hands.values(), self._face):
                s.clear()

    def process(self, image: np.ndarray, timestamp_ms: float | None = None) -> HolisticResult:
        image = check_rgb_image(image)
        size = (image.shape[1], image.shape[0])
        n_face = 478 if self.options.refine_face_landmarks else 468
        with self._lock:
            pose = self.pose.process(image, timestamp_ms)
            if len(pose) == 0:
                for s in (*self._hands.values(), self._face):
                    s.clear()
                return HolisticResult(pose, _empty(n_face, size), _empty(21, size), _empty(21, size))
            lm, vis = pose.landmarks[0], pose.visibility[0]
            if self._branch_pool is None:
                left = self._hand_from_pose("left", image, size, lm, vis)
                right = self._hand_from_pose("right", image, size, lm, vis)
                face = self._face_from_pose(image, size, pose, n_face)
            else:
                # The three branches share no state or model: two on workers, one here.
                jobs = [self._branch_pool.submit(self._face_from_pose, image, size, pose, n_face),
                        self._branch_pool.submit(self._hand_from_pose, "right", image, size, lm, vis)]
                try:
                    left = self._hand_from_pose("left", image, size, lm, vis)
                finally:
                    face, right = (j.result() for j in jobs)  # always waits; re-raises a branch's error
            return HolisticResult(pose, face, left, right)

    # -- hands ----------------------------------------------------------------

    def _hand_from_pose(self, side: str, image: np.ndarray, size: ImageSize, lm: np.ndarray,
                        vis: np.ndarray) -> Landmarks:
        """One hand: re-crop ROI from the pose (if its wrist is visible), tracking choice, landmarks."""
        recrop_model, hand_model = self._hand_models[side]
        state = self._hands[side]
        points = _HAND_POINTS[side]
        recrop = None
        if vis[points[0]] > _WRIST_VISIBILITY:
            recrop = recrop_model.run(image, hand_rois_from_pose(lm[list(points), :2][None], size))[0]
        roi = select_tracking_roi(recrop, state.roi, state.landmarks, size, HAND_TRACKING)
        if roi is None:
            state.clear()
            return _empty(NUM_HAND_LANDMARKS, size)
        res = hand_model.run(image, roi[None])
        if not res.presence[0] > _HAND_PRESENCE:
            state.clear()
            return _empty(NUM_HAND_LANDMARKS, size)
        hand = res.landmarks[:1]
        state.landmarks = hand[0]
        state.roi = hand_rects_for_next_frame(hand, size)[0]
        return Landmarks(hand, res.presence[:1], roi[None], size)

    # -- face -----------------------------------------------------------------

    def _face_recrop_roi(self, image: np.ndarray, size: ImageSize, pose_lm: np.ndarray) -> np.ndarray | None:
        rough = rects_from_landmarks(pose_lm[None, : PoseLandmark.MOUTH_RIGHT + 1, :2], size,
                                     start=PoseLandmark.RIGHT_EYE, end=PoseLandmark.LEFT_EYE, target_deg=0.0)
        rough = transform_rects(rough, size, scale_x=3.0, scale_y=3.0, square_long=True)
        # facepipe's face detector inside the ROI, normalized (no pixel round trip, as in MediaPipe)
        dets = self.face_mesh.detector.detect_normalized(image, rough[0])
        if len(dets) == 0:
            return None
        rect = rects_from_keypoints(dets.keypoints[:1], size, start=0, end=1, target_deg=0.0)
        return transform_rects(rect, size, scale_x=2.0, scale_y=2.0, shift_y=-0.1, square_long=True)[0]

    def _face_from_pose(self, image: np.ndarray, size: ImageSize, pose: PoseResult, n_face: int) -> Landmarks:
        state = self._face
        recrop = self._face_recrop_roi(image, size, pose.landmarks[0])
        roi = select_tracking_roi(recrop, state.roi, state.landmarks, size, FACE_TRACKING)
        if roi is None:
            state.clear()
            return _empty(n_face, size)
        mesh, presence, keep = self.face_mesh.landmarks_in_rois(image, roi[None])
        if not keep[0]:
            state.clear()
            return _empty(n_face, size)
        state.landmarks = mesh[0]
        state.roi = landmark_rois(mesh, size)[0]
        mesh = self.face_mesh.refine_eyes(image, mesh)
        return Landmarks(mesh, presence[:1], roi[None], size)
