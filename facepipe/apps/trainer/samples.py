"""Dataset folders -> training samples: feature offsets from each person's neutral, labels, head yaw."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from facepipe.apps.trainer.dataset import DatasetFolder, FolderLandmarks, folder_landmarks
from facepipe.errors import InputError
from facepipe.jobs import Progress

log = logging.getLogger(__name__)

__all__ = ["Samples", "image_landmarker", "load_samples"]


def image_landmarker():
    """RGB image -> (478,3) landmarks of its most confident face, or None (Tasks FaceLandmarker, IMAGE mode)."""
    from facepipe.solutions.face_landmarker import FaceLandmarker, FaceLandmarkerOptions

    lm = FaceLandmarker(FaceLandmarkerOptions(num_faces=1))

    def one(image: np.ndarray) -> np.ndarray | None:
        r = lm.detect(image)
        return r.landmarks[0] if len(r) else None

    return one


@dataclass(frozen=True, eq=False)
class Samples:
    """features: (N,2F) float32 network inputs (regressor_input: offsets from the folder's neutral, then
    the features); labels (N,52); group (N,) folder index; yaw (N,) head yaw in degrees; neutral_mean (F,)
    mean neutral features over the folders; skipped[name]: images of that folder without a face (left
    out); landmarks: each folder's FolderLandmarks."""

    features: np.ndarray
    labels: np.ndarray
    group: np.ndarray
    yaw: np.ndarray
    folders: tuple[str, ...]
    neutral_mean: np.ndarray
    skipped: dict[str, int] = field(default_factory=dict)
    landmarks: tuple[FolderLandmarks, ...] = ()

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, mask: np.ndarray) -> Samples:
        return Samples(self.features[mask], self.labels[mask], self.group[mask], self.yaw[mask], self.folders,
                       self.neutral_mean, self.skipped, self.landmarks)


def _yaw(lms: FolderLandmarks, found: np.ndarray) -> np.ndarray:
    from facepipe.solutions.face_geometry import FaceGeometryEstimator, head_pose

    est = FaceGeometryEstimator()
    yaw = np.full(int(found.sum()), np.nan, np.float32)
    sizes = lms.sizes[found]
    pts = lms.landmarks[found]
    for size in np.unique(sizes, axis=0):
        sel = (sizes == size).all(axis=1)
        yaw[sel] = head_pose(est.estimate(pts[sel], (int(size[0]), int(size[1]))).matrices).yaw
    return yaw


def load_samples(folders: Sequence[DatasetFolder], feature_set: str = "normalized", *,
                 progress: bool = False) -> Samples:
    """Samples of every folder (landmarks from the cache or computed); images without a face are
    skipped and counted (logged per folder), never dropped silently."""
    from facepipe.solutions.blendshape_regressor import featurizer, regressor_input

    feat = featurizer(feature_set)
    xs, ys, gs, yaws, neutrals, all_lms = [], [], [], [], [], []
    skipped: dict[str, int] = {}
    made = None

    def landmarker():
        nonlocal made
        made = made or image_landmarker()
        return made

    total = sum(len(f.images) + 1 for f in folders)
    with Progress(total, "landmarks", enabled=progress, unit="image") as bar:
        for gi, folder in enumerate(folders):
            lms = folder_landmarks(folder, landmarker, progress=bar.update)
            all_lms.append(lms)
            found = lms.found
            if not found.all():
                skipped[folder.name] = int((~found).sum())
                log.warning("%s: %d of %d images without a face, skipped", folder.path, skipped[folder.name],
                            len(found))
            if not found.any():
                raise InputError(f"{folder.path}: no face found in any image")
            neutral = feat(lms.neutral[None], lms.neutral_size)[0]
            f = np.empty((int(found.sum()), len(neutral)), np.float32)
            idx = np.flatnonzero(found)
            for size in np.unique(lms.sizes[found], axis=0):
                sel = (lms.sizes[idx] == size).all(axis=1)
                f[sel] = feat(lms.landmarks[idx[sel]], (int(size[0]), int(size[1])))
            xs.append(regressor_input(f, neutral))
            ys.append(folder.labels[found])
            gs.append(np.full(len(f), gi, np.int32))
            yaws.append(_yaw(lms, found))
            neutrals.append(neutral)
    x = np.concatenate(xs)
    good = np.isfinite(x).all(axis=1)
    if not good.all():
        log.warning("%d samples whose landmarks could not be put in object space, skipped", int((~good).sum()))
    return Samples(x[good], np.concatenate(ys)[good], np.concatenate(gs)[good], np.concatenate(yaws)[good],
                   tuple(f.name for f in folders), np.mean(neutrals, axis=0).astype(np.float32), skipped,
                   tuple(all_lms))
