"""A second opinion on weak face detections, from two models that are not BlazeFace.

BlazeFace, run at the low thresholds and fine tile scales that recall needs, also
fires on shirts, hands, hair and walls; in a crowd it scores many real faces as low
as those textures, so its score alone cannot tell them apart. A weak detection is
therefore kept only if one of two other models agrees that a face is there:

* the face mesh's face-presence output (the landmark model was trained to fit 468
  points to a face crop and says separately whether the crop holds a face; about a
  millisecond per crop), on the mesh's own ROI for the detection (the box squared and
  scaled 1.5x, turned upright by the eye keypoints);
* YuNet (OpenCV Zoo, MIT), a detector with another architecture and training set, on
  a crop around the detection enlarged so that the face is about `YUNET_FACE` px.

The mesh accepts about four in five real faces of 24 px and more, YuNet most crowd
faces the mesh does not (small, turned, half hidden); together they reject about three
in four of the textures BlazeFace likes (on the shared group photos). YuNet's crop
often shows a real face next to a rejected detection (BlazeFace, in a crowd, puts a
weak box on the hair or the neck of a face it does not otherwise find): those faces
are returned too, so that rejecting the box does not uncover the face. Measured
numbers: benchmarks/RESULTS.md.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import cv2
import numpy as np

from facepipe.results import Detections
from facepipe.runtime.memo import active_memo
from facepipe.runtime.options import RuntimeOptions

__all__ = ["FaceVerifier", "Verdicts", "VerifyOptions", "apply_verdicts"]

YUNET_FACE = 48.0  # face size (px) YuNet sees in its crop
_CROP = 3.0  # crop side, in face sizes


@dataclass(frozen=True)
class VerifyOptions:
    """below: detections scoring below this are verified (0: none are).
    min_presence: face-mesh presence that confirms a face.
    yunet_score: YuNet score that confirms a face (0: YuNet is not asked).
    mark_only: keep the unconfirmed detections, marked False in `extras["verified"]` (True for
        the others), for the tracker to decide: there, one that continues a tracked face stays
        (in a dark or blurred frame the second opinion can miss a face the track already knows),
        one that continues nothing is dropped. For streams; still images drop them at once.
    reuse_frames, reuse_iou: in the anonymizer's streams, a weak detection whose box has
        IoU >= `reuse_iou` with a box that a real check confirmed in one of the last `reuse_frames`
        frames, with YuNet finding no other face in its crop, is confirmed again without a check
        (`StreamVerifier`, stream_verify.py). Only confirmations are reused (a reused rejection could
        uncover a face); a reused verdict is not remembered itself, so a face is really checked at
        least every `reuse_frames + 1` frames; memory ends at a scene cut and at `reset`. There the
        finder, which runs frames in parallel, only marks the detections to check
        (`FaceFinder.detect_frame(check=False)`, `extras["unchecked"]`) and the sequential
        `StreamVerifier` checks them; any other call checks at once. 0: off (the finder checks every
        weak detection itself, every frame). Streams default to 2 and 0.5 (measured:
        benchmarks/RESULTS.md, "Verdicts reused"); still images never reuse.
    """

    below: float = 0.0
    min_presence: float = 0.5
    yunet_score: float = 0.5
    mark_only: bool = False
    reuse_frames: int = 0
    reuse_iou: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.below <= 1.0:
            raise ValueError(f"verify below must be in [0, 1], got {self.below}")
        if not 0.0 < self.min_presence <= 1.0 or not 0.0 <= self.yunet_score < 1.0:
            raise ValueError(f"min_presence must be in (0, 1] and yunet_score in [0, 1), got {self.min_presence},"
                             f" {self.yunet_score}")
        if self.reuse_frames < 0 or not 0.0 < self.reuse_iou <= 1.0:
            raise ValueError(f"reuse_frames must be >= 0 and reuse_iou in (0, 1], got {self.reuse_frames},"
                             f" {self.reuse_iou}")


def apply_verdicts(dets: Detections, ok: np.ndarray, found: Detections, *, mark_only: bool,
                   nms_iou: float) -> Detections:
    """`dets` without the ones not `ok` (or with all marked in `extras["verified"]`, `mark_only`),
    plus the faces the verifier found beside them (merged with any detection of the same face)."""
    if mark_only:
        dets = replace(dets, extras={**dets.extras, "verified": np.asarray(ok, bool)})
        found = replace(found, extras={**found.extras, "verified": np.ones(len(found), bool)})
    else:
        dets = dets[np.asarray(ok, bool)]
    if len(found) == 0:
        return dets
    return Detections.merge([dets, found], image_size=dets.image_size).with_nms(nms_iou)


@dataclass(frozen=True, eq=False)
class Verdicts:
    """ok: (N,) whether another model confirms each detection. found: the faces YuNet saw beside the
    ones the mesh did not confirm. beside: (N,) how many of `found` YuNet saw beside each (0 where it
    did not run: the face mesh confirmed it)."""

    ok: np.ndarray
    found: Detections
    beside: np.ndarray


class FaceVerifier:
    """Callable (rgb, detections) -> ((N,) bool: whether another model confirms each face, and the
    Detections YuNet found beside the unconfirmed ones). Thread-safe."""

    def __init__(self, options: VerifyOptions | None = None, *, runtime: RuntimeOptions | None = None) -> None:
        from facepipe.solutions.face_mesh import FaceMesh, FaceMeshOptions

        runtime = runtime or RuntimeOptions()
        self.options = options or VerifyOptions()
        self._mesh = FaceMesh(FaceMeshOptions(static_image_mode=True, runtime=runtime))
        self._yunet = None
        if self.options.yunet_score > 0:
            path = runtime.model_path("face_detection_yunet_2023mar")
            self._yunet = cv2.FaceDetectorYN.create(str(path), "", (64, 64), self.options.yunet_score, 0.3, 50)
            self._yunet_id = f"yunet:{path}:{self.options.yunet_score}"  # its memo key (runtime/memo.py)
        self._lock = threading.Lock()

    def __call__(self, rgb: np.ndarray, dets: Detections) -> tuple[np.ndarray, Detections]:
        verdicts = self.check(rgb, dets)
        return verdicts.ok, verdicts.found

    def check(self, rgb: np.ndarray, dets: Detections) -> Verdicts:
        """The verdicts on `dets`, with how many faces YuNet saw beside each."""
        from facepipe.solutions.face_mesh import detection_rois

        H, W = rgb.shape[:2]
        found = Detections.empty(6, (W, H))
        if len(dets) == 0:
            return Verdicts(np.zeros(0, bool), found, np.zeros(0, np.int64))
        with self._lock:
            # One ROI per call: the number of weak boxes changes from frame to frame, and LiteRT
            # reallocates the interpreter for every new batch size (~20 ms at 1080p crowds, more
            # than the mesh itself), where a batch of one stays allocated.
            rois = detection_rois(dets)
            presence = np.concatenate([self._mesh.landmarks_in_rois(rgb, roi[None])[1] for roi in rois])
            ok = presence >= self.options.min_presence
            n_beside = np.zeros(len(dets), np.int64)
            if self._yunet is not None:
                beside = []
                for i in np.flatnonzero(~ok):
                    ok[i], faces = self._yunet_faces(rgb, dets.xyxy[i])
                    n_beside[i] = len(faces)
                    beside.append(faces)
                if beside:
                    found = Detections.merge(beside, image_size=(W, H))
        return Verdicts(ok, found, n_beside)

    def _yunet_faces(self, rgb: np.ndarray, box: np.ndarray) -> tuple[bool, Detections]:
        """Whether YuNet finds a face whose centre lies in `box`, in a crop around it; and the
        faces it finds there that are not in `box`."""
        H, W = rgb.shape[:2]
        none = Detections.empty(6, (W, H))
        side = float(max(box[2] - box[0], box[3] - box[1], 1.0))
        c = (box[:2] + box[2:]) / 2
        half = _CROP * side / 2
        x0, y0 = int(max(0, c[0] - half)), int(max(0, c[1] - half))
        x1, y1 = int(min(W, c[0] + half)), int(min(H, c[1] + half))
        if x1 - x0 < 4 or y1 - y0 < 4:
            return False, none
        k = YUNET_FACE / side
        w, h = max(8, round((x1 - x0) * k)), max(8, round((y1 - y0) * k))
        # Resized where it lies, then turned BGR: the same pixels as resizing a BGR copy (channels are
        # resized independently), without copying the full-resolution crop channel-reversed (a strided
        # numpy copy: about half of this function's time on 1080p crowds).
        crop = cv2.cvtColor(cv2.resize(rgb[y0:y1, x0:x1], (w, h), interpolation=cv2.INTER_AREA if k < 1
                                       else cv2.INTER_LINEAR), cv2.COLOR_RGB2BGR)
        faces = self._run_yunet(crop)
        if faces is None:
            return False, none
        scale = np.array([(x1 - x0) / w, (y1 - y0) / h], np.float32)
        xy = faces[:, :2] * scale + (x0, y0)
        wh = faces[:, 2:4] * scale
        xyxy = np.concatenate([xy, xy + wh], 1)
        centres = xy + wh / 2
        inside = ((centres >= box[:2]) & (centres <= box[2:])).all(1)
        # YuNet's five points (eyes, nose tip, mouth corners) as BlazeFace's six (eyes, nose,
        # mouth centre, ears): the ears at the box's sides, level with the eyes.
        pts = faces[:, 4:14].reshape(-1, 5, 2) * scale + (x0, y0)
        eyes_y = pts[:, :2, 1].mean(1)
        kps = np.stack([pts[:, 0], pts[:, 1], pts[:, 2], pts[:, 3:5].mean(1),
                        np.stack([xyxy[:, 0], eyes_y], 1), np.stack([xyxy[:, 2], eyes_y], 1)], 1)
        other = ~inside
        return bool(inside.any()), Detections(xyxy[other], kps[other], faces[other, 14], (W, H))

    def _run_yunet(self, crop: np.ndarray) -> np.ndarray | None:
        """YuNet's faces in a BGR crop (None: none), through the active inference memo if any: YuNet
        runs in OpenCV, not through `Model`, so it looks its input up itself."""
        memo = active_memo()
        key = memo.key(self._yunet_id, [crop]) if memo is not None else None
        hit = memo.get(key) if memo is not None else None
        if hit is not None:
            return hit[0] if len(hit[0]) else None
        self._yunet.setInputSize((crop.shape[1], crop.shape[0]))
        _, faces = self._yunet.detect(crop)
        if memo is not None:
            memo.put(key, [np.zeros((0, 15), np.float32) if faces is None else faces])
        return faces
