"""Landmark features for a blendshape regressor, independent of head pose and silhouette stretching.

The same pure-numpy function runs when a dataset is turned into training
samples and when a trained model runs live, so a model never sees features
computed differently from the ones it learnt on.

Steps, per face:

1. Object space: a weighted similarity Procrustes fit of the canonical face model
   (the face-geometry model, cm; its rigid, weighted points only) onto the
   landmarks in pixels (x W, -y H, -z W: +Y up, +Z toward the camera), inverted
   and applied to all 478 landmarks (iris included). Head rotation, position and
   size are gone; what is left is the face's own shape, in cm.
2. Three patches, mouth, left eye and right eye, each re-oriented towards the
   camera: a basis is built from a quad of nearly rigid points (an x edge, e.g.
   the two eye corners, and a y edge, e.g. cheek -> forehead), the patch's points
   are expressed in it and projected onto its XY plane. The face is curved: a
   patch seen in its own plane is not foreshortened by the curvature, nor by the
   landmark model's depth errors at large yaw, where the far side of the
   silhouette is stretched.
3. Each patch is divided by its x edge's length and mapped so that the canonical
   face's patch spans [0, 1] on both axes.

Step 3's projection is invariant to a similarity transform of its input, so
`PatchFeaturizer.__call__` (the per-face hot path) projects the landmarks in
pixels directly and uses step 1's fit only to tell which faces cannot be fitted
(NaN); `_reference` computes steps 1-3 literally, and the tests hold the two
equal to 1e-6 for turned, scaled and shifted faces.

A regressor is trained on `features(face) - features(neutral face of the same
person)`: offsets from the neutral pose remove most of what identifies a face.

`raw_features` is the ablation baseline: the same points, only centred and scaled
in the image, with nothing undone of the head pose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepipe.stages.procrustes import WeightedProcrustes

__all__ = ["FEATURE_SETS", "PATCHES", "Patch", "PatchFeaturizer", "num_features", "raw_features"]

NUM_LANDMARKS = 478
_EPS = 1e-9


@dataclass(frozen=True)
class Patch:
    """A face region: `points` (landmark indices) seen in the plane of the quad
    x_edge (from, to) and y_edge (from, to); a y_edge index pair may be a tuple of
    indices whose mean is used."""

    name: str
    points: tuple[int, ...]
    x_edge: tuple[int, int]
    y_edge: tuple[tuple[int, ...], tuple[int, ...]]


# fmt: off
_LIPS = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185,
         78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
_CHIN_JAW = (152, 148, 377, 176, 400, 199, 175, 18, 200, 172, 397, 136, 365, 150, 379, 149, 378)
_NOSE_CHEEKS_LOW = (98, 327, 129, 358, 2, 164, 167, 393, 92, 322, 186, 410, 216, 436, 206, 426, 57, 287,
                    43, 273, 204, 424, 32, 262, 211, 431, 210, 430, 212, 432, 202, 422)
_RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246,
              468, 469, 470, 471, 472,
              70, 63, 105, 66, 107, 55, 65, 52, 53, 46,
              111, 117, 118, 119, 120, 121, 47, 100, 101, 50, 36,
              27, 28, 29, 30, 56, 190, 247, 113, 225, 224, 223, 222, 221,
              114, 217, 126, 142, 209)
_LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466,
             473, 474, 475, 476, 477,
             300, 293, 334, 296, 336, 285, 295, 282, 283, 276,
             340, 346, 347, 348, 349, 350, 277, 329, 330, 280, 266,
             257, 258, 259, 260, 286, 414, 467, 342, 445, 444, 443, 442, 441,
             343, 437, 355, 371, 429)
# fmt: on

# Quads from points the face-geometry model weights as rigid (eye corners, cheeks, forehead, nose bridge).
PATCHES: tuple[Patch, ...] = (
    Patch("mouth", _LIPS + _CHIN_JAW + _NOSE_CHEEKS_LOW, (205, 425), ((205, 425), (6,))),
    Patch("right_eye", _RIGHT_EYE, (33, 133), ((119,), (67,))),
    Patch("left_eye", _LEFT_EYE, (362, 263), ((348,), (297,))),
)

FEATURE_SETS = ("normalized", "raw")


def num_features(patches: tuple[Patch, ...] = PATCHES) -> int:
    return 2 * sum(len(p.points) for p in patches)


def _mean_of(pts: np.ndarray, idx: tuple[int, ...]) -> np.ndarray:
    return pts[:, list(idx)].mean(axis=1)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), _EPS)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.cross over the last axis without its moveaxis overhead (a hot path for one face at a time)."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def _patch_xy(pts: np.ndarray, patch: Patch) -> np.ndarray:
    """(N,P,2) patch points in the plane of its quad, in units of the x edge's length."""
    a, b = pts[:, patch.x_edge[0]], pts[:, patch.x_edge[1]]
    ex = _unit(b - a)
    ey_raw = _mean_of(pts, patch.y_edge[1]) - _mean_of(pts, patch.y_edge[0])
    ez = _unit(np.cross(ex, ey_raw))
    ey = np.cross(ez, ex)
    scale = np.maximum(np.linalg.norm(b - a, axis=-1), _EPS)[:, None]
    rel = pts[:, list(patch.points)] - (0.5 * (a + b))[:, None]
    return np.stack([np.einsum("npk,nk->np", rel, ex), np.einsum("npk,nk->np", rel, ey)], axis=-1) / scale[..., None]


class PatchFeaturizer:
    """(N,478,3) normalized landmarks -> (N,F) float32 patch features (see the module doc); stateless.

    canonical: (468,3) canonical face model vertices (cm), weights: (468,) its Procrustes weights
    (FaceGeometryEstimator's metadata). The [0, 1] mapping of every patch is fixed from the canonical
    face once, here.
    """

    def __init__(self, canonical: np.ndarray, weights: np.ndarray, patches: tuple[Patch, ...] = PATCHES) -> None:
        canon = np.asarray(canonical, np.float64)
        if canon.ndim != 2 or canon.shape[1] != 3 or canon.shape[0] < 468:
            raise ValueError(f"canonical face model must be (468, 3), got {canon.shape}")
        for p in patches:
            if max(p.points) >= NUM_LANDMARKS:
                raise ValueError(f"patch {p.name} names a landmark >= {NUM_LANDMARKS}")
        self.patches = patches
        self._procrustes = WeightedProcrustes(canon[:468], np.asarray(weights, np.float64)[:468])
        # The canonical model has no iris points: stand in the eye-ring centres for them.
        full = np.zeros((NUM_LANDMARKS, 3))
        full[:468] = canon[:468]
        full[468:473] = canon[[33, 133, 159, 145]].mean(0)
        full[473:478] = canon[[263, 362, 386, 374]].mean(0)
        lows, spans = [], []
        for p in patches:
            xy = _patch_xy(full[None], p)[0]
            lo, hi = xy.min(0), xy.max(0)
            lows.append(np.repeat(lo[None], len(p.points), 0))
            spans.append(np.repeat(np.maximum(hi - lo, _EPS)[None], len(p.points), 0))
        self._low = np.concatenate(lows).reshape(-1)
        self._span = np.concatenate(spans).reshape(-1)
        # All patches at once (the per-patch loop of _patch_xy, vectorised): edge indices, y-edge averaging
        # weights (K,478), every patch point and the patch it belongs to.
        k = len(patches)
        self._xa = np.array([p.x_edge[0] for p in patches], np.intp)
        self._xb = np.array([p.x_edge[1] for p in patches], np.intp)
        self._yw = np.zeros((k, NUM_LANDMARKS))
        for i, p in enumerate(patches):
            self._yw[i, list(p.y_edge[1])] += 1.0 / len(p.y_edge[1])
            self._yw[i, list(p.y_edge[0])] -= 1.0 / len(p.y_edge[0])
        points = np.array([i for p in patches for i in p.points], np.intp)
        self._owner = np.repeat(np.arange(k), [len(p.points) for p in patches])
        # Only these landmarks are needed: __call__ puts just them in object space (indices below are into them).
        self._need = np.unique(np.concatenate([points, self._xa, self._xb, np.flatnonzero(self._yw.any(0))]))
        self._xa, self._xb, self._points = (np.searchsorted(self._need, v) for v in (self._xa, self._xb, points))
        self._yw = self._yw[:, self._need]
        self._init_fast_path(points)

    def _init_fast_path(self, points: np.ndarray) -> None:
        """The per-face path of __call__, precomputed from the canonical model and the indices.

        The patch projection is invariant to a similarity transform of its input (the bases come from the
        points themselves; lengths are divided by the x edge's), so projecting the landmarks in pixels gives
        the object-space features (to rounding, ~1e-13). The Procrustes fit only decides which faces fail
        (NaN); its design matrix tells that without the SVD (see __call__). One (12, U) matrix over the U
        landmarks used gives, per patch, the x edge, the y edge, the x edge's midpoint, and the fit's design
        matrix (transposed); the scale to [0, 1] is folded into the projection vectors."""
        k = len(self.patches)
        proc = self._procrustes
        self._union = np.union1d(self._need, proc.selected)
        at = np.searchsorted(self._union, self._need)
        xa, xb = at[self._xa], at[self._xb]
        g = np.zeros((3 * k + 3, len(self._union)))
        rows = np.arange(k)
        np.add.at(g, (rows, xb), 1.0)
        np.add.at(g, (rows, xa), -1.0)
        g[k:2 * k, at] = self._yw
        np.add.at(g, (2 * k + rows, xb), 0.5)
        np.add.at(g, (2 * k + rows, xa), 0.5)
        g[3 * k:, np.searchsorted(self._union, proc.selected)] = proc.design_rows.T
        self._gather = g
        first = np.r_[0, np.cumsum([len(p.points) for p in self.patches])[:-1]]  # each patch's first point
        span = self._span.reshape(-1, 2)[first]  # (K, 2): every point of a patch shares its patch's span/low
        self._inv_span = (1.0 / span)[..., None]  # (K, 2, 1)
        self._low_scaled = (self._low.reshape(-1, 2)[first] / span).reshape(-1)  # (2K,)
        axis = np.arange(2)
        rows_u = np.searchsorted(self._union, points)
        self._flat = (rows_u[:, None] * 2 * k + 2 * self._owner[:, None] + axis).reshape(-1)
        self._col = (2 * self._owner[:, None] + axis).reshape(-1)
        # The fit fails (NaN) when |design| <= eps or its scale sum(singular values, last one signed) / den
        # <= eps; that scale is at least the largest singular value / den >= |design|_F / (sqrt(3) den).
        # Faces clearly above both bounds are fine; the others take the reference path (the fit itself).
        self._design_ok = 2.0 * max(_EPS, np.sqrt(3.0) * proc.spread * _EPS)

    @property
    def num_features(self) -> int:
        return num_features(self.patches)

    def object_space(self, landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        """(N,478,3) landmarks in the canonical face's frame (cm); NaN rows where the fit failed."""
        return self.object_space_and_pose(landmarks, image_size)[0]

    def object_space_and_pose(self, landmarks: np.ndarray, image_size: tuple[int, int]
                              ) -> tuple[np.ndarray, np.ndarray]:
        """object_space, and the (N,4,4) similarity transforms canonical frame -> pixels (x, -y, -z)."""
        lm = _check_landmarks(landmarks)
        w, h = _check_size(image_size)
        px = lm * np.array([w, -h, -w], np.float64)  # +Y up, +Z toward the camera, like the canonical model
        m = self._procrustes(px[:, :468])  # canonical -> pixels
        good = np.isfinite(m).all(axis=(1, 2))
        inv = np.linalg.inv(np.where(good[:, None, None], m, np.eye(4)))
        out = np.einsum("nij,npj->npi", inv[:, :3, :3], px) + inv[:, None, :3, 3]
        out[~good] = np.nan
        return out, m

    def patches_xy(self, obj: np.ndarray) -> np.ndarray:
        """(N,P,2) every patch's points in the plane of its quad, from (N,478,3) object-space landmarks."""
        return self._patches_xy(obj[:, self._need])

    def _patches_xy(self, obj: np.ndarray) -> np.ndarray:
        a, b = obj[:, self._xa], obj[:, self._xb]
        edge = b - a
        length = np.maximum(np.sqrt((edge * edge).sum(-1)), _EPS)  # (N,K)
        ex = edge / length[..., None]
        ez = _cross(ex, np.matmul(self._yw, obj))
        ez /= np.maximum(np.sqrt((ez * ez).sum(-1)), _EPS)[..., None]
        ey = _cross(ez, ex)
        rel = obj[:, self._points] - (0.5 * (a + b))[:, self._owner]
        owner_ex, owner_ey = ex[:, self._owner], ey[:, self._owner]
        xy = np.stack([(rel * owner_ex).sum(-1), (rel * owner_ey).sum(-1)], axis=-1)
        return xy / length[:, self._owner, None]

    def __call__(self, landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        lm = np.asarray(landmarks)
        if lm.ndim != 3 or lm.shape[1] != NUM_LANDMARKS or lm.shape[2] != 3:
            raise ValueError(f"expected (N, {NUM_LANDMARKS}, 3) landmarks, got {lm.shape}")
        w, h = _check_size(image_size)
        n, k = len(lm), len(self.patches)
        px = lm[:, self._union].astype(np.float64) * np.array([w, -h, -w], np.float64)
        e = np.matmul(self._gather, px)  # (N, 3K+3, 3): x edges, y edges, x-edge midpoints, design matrix
        edge, y_edge, mid = e[:, :k], e[:, k:2 * k], e[:, 2 * k:3 * k]
        length = np.maximum(np.sqrt((edge * edge).sum(-1)), _EPS)[..., None]  # (N,K,1)
        ex = edge / length
        ey = y_edge - (y_edge * ex).sum(-1)[..., None] * ex  # = cross(unit(cross(ex, y)), ex)
        ey /= np.maximum(np.sqrt((ey * ey).sum(-1)), _EPS)[..., None]
        basis = (np.stack([ex, ey], axis=2) * (self._inv_span / length[..., None])).reshape(n, 2 * k, 3)
        proj = np.matmul(px, basis.transpose(0, 2, 1)).reshape(n, -1)
        offset = (basis * np.repeat(mid, 2, axis=1)).sum(-1) + self._low_scaled
        out = (proj[:, self._flat] - offset[:, self._col]).astype(np.float32)
        design = e[:, 3 * k:].reshape(n, -1)
        norm = np.sqrt((design * design).sum(-1))
        unsure = ~(norm > self._design_ok)
        if unsure.any():  # NaN in a fitted landmark: no fit (NaN row; the SVD would raise)
            finite = np.isfinite(norm)
            out[~finite] = np.nan
            if (redo := unsure & finite).any():
                out[redo] = self._reference(lm[redo], (w, h))
        return out

    def _reference(self, landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        """The features computed as the module doc describes them: the Procrustes fit, object space, patches
        (NaN where the fit fails). __call__ gives the same features (to ~1e-7) faster."""
        lm = _check_landmarks(landmarks)
        w, h = _check_size(image_size)
        scale = np.array([w, -h, -w], np.float64)
        m = self._procrustes.fit_selected(lm[:, self._procrustes.selected] * scale)  # canonical -> pixels
        good = np.isfinite(m).all(axis=(1, 2))
        inv = np.linalg.inv(np.where(good[:, None, None], m, np.eye(4)))
        obj = np.matmul(lm[:, self._need] * scale, inv[:, :3, :3].transpose(0, 2, 1)) + inv[:, None, :3, 3]
        obj[~good] = np.nan
        xy = self._patches_xy(obj).reshape(len(obj), -1)
        return ((xy - self._low) / self._span).astype(np.float32)


def raw_features(landmarks: np.ndarray, image_size: tuple[int, int], patches: tuple[Patch, ...] = PATCHES
                 ) -> np.ndarray:
    """(N,F) ablation features: the same points in pixels, centred on their mean and divided by the
    distance between the outer eye corners; nothing of the head pose is undone."""
    lm = _check_landmarks(landmarks)
    w, h = _check_size(image_size)
    px = lm[..., :2] * np.array([w, h], np.float64)
    idx = [i for p in patches for i in p.points]
    pts = px[:, idx]
    eyes = np.maximum(np.linalg.norm(px[:, 263] - px[:, 33], axis=-1), _EPS)
    return ((pts - pts.mean(1, keepdims=True)) / eyes[:, None, None]).reshape(len(lm), -1).astype(np.float32)


def _check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    lm = np.asarray(landmarks, np.float64)
    if lm.ndim != 3 or lm.shape[1] != NUM_LANDMARKS or lm.shape[2] != 3:
        raise ValueError(f"expected (N, {NUM_LANDMARKS}, 3) landmarks, got {lm.shape}")
    return lm


def _check_size(image_size: tuple[int, int]) -> tuple[int, int]:
    w, h = image_size
    if w <= 0 or h <= 0:
        raise ValueError(f"image size must be positive, got {image_size}")
    return int(w), int(h)
