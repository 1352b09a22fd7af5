"""More faces for a teacher-labelled dataset: people mixed in object space, labelled by the teacher again.

A handful of recorded people teach a regressor little about faces it has not
seen. Two frames of different people are blended in the canonical face's frame
(shape and expression both), put back where the first face was in its image,
and the Tasks blendshape model labels the blend exactly as it would label such
a face. Their neutral faces are blended with the same weight. Only for datasets
whose labels came from that teacher: a Live Link Face dataset's labels are not
the teacher's, and blending them would mix two labellers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from facepipe.apps.trainer.dataset import FolderLandmarks
from facepipe.errors import UsageError
from facepipe.solutions.blendshape_regressor import LIVE_LINK_NAMES
from facepipe.solutions.face_geometry import load_geometry_metadata
from facepipe.stages.blendshape_features import PatchFeaturizer
from facepipe.stages.face_mirror import mirror_order, mirrored_landmarks

__all__ = ["MIX_MODES", "Mixes", "expression_lenders", "mirrored_folder", "mixed_inputs", "teacher_mixes"]


@dataclass(frozen=True, eq=False)
class Mixes:
    """Blended faces: (K,478,3) normalized landmarks in (K,2) image sizes, their blended neutral faces placed
    the same way, and the teacher's (K,52) labels in LIVE_LINK_NAMES order."""

    landmarks: np.ndarray
    neutral: np.ndarray
    sizes: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


MIX_MODES = ("blend", "transfer", "transfer-all")


def teacher_mixes(folders: Sequence[FolderLandmarks], count: int, featurizer: PatchFeaturizer, seed: int = 0,
                  mix_range: tuple[float, float] = (0.0, 1.0), batch: int = 512, mode: str = "blend",
                  mirror: bool = False) -> Mixes:
    """`count` blended faces from pairs of frames of different folders, the weight of the second drawn
    uniformly from `mix_range`. `featurizer` supplies the object space (its features are not used).

    mode "blend": the two frames are blended (shape and expression). "transfer": the two people's
    neutral faces are blended (a new person) and a third frame's expression, its offset from its own
    person's neutral, drawn from any folder, is put on that face: every expression on every face.
    "transfer-all": like transfer, the new person blended from every folder's neutral face with random
    weights (flat Dirichlet) instead of two: people inside the recorded ones' span, not only between pairs.

    In the transfer modes the expression comes from a folder that has one (`expression_lenders`): a single
    portrait, its own neutral face, would lend only a zero offset, and with many such people most
    mixes would carry no expression at all (RESULTS.md: held-out MAE 0.0291 -> 0.0252 with 34 portraits).

    mirror: the folders' mirror images (every face flipped left-right, `mirrored_folder`) are mixed too, as
    people of their own: twice the faces to build people from, and every lopsided expression (a one-sided
    smile, a wink) on both sides (docs/training.md: held-out MAE 0.0252 -> 0.0242, every fold better)."""
    from facepipe.solutions.blendshapes import ARKIT_NAMES, BlendshapeModel, to_arkit

    if mode not in MIX_MODES:
        raise UsageError(f"unknown teacher mix mode {mode!r}; use one of {', '.join(MIX_MODES)}")
    if len(folders) < 2:
        raise UsageError(f"blending people (teacher mix) needs at least 2 training folders, got {len(folders)}")
    rng = np.random.default_rng(seed)
    if mirror:
        order = mirror_order(load_geometry_metadata().vertices)
        folders = [*folders, *(mirrored_folder(f, order) for f in folders)]
    teacher = BlendshapeModel()
    live_link = [ARKIT_NAMES.index(n) for n in LIVE_LINK_NAMES]
    objs, poses, sizes, neutrals = [], [], [], []
    for f in folders:
        lm, size = f.landmarks[f.found], f.sizes[f.found]
        o = np.empty((len(lm), 478, 3))
        m = np.empty((len(lm), 4, 4))
        for s in np.unique(size, axis=0):
            sel = (size == s).all(axis=1)
            o[sel], m[sel] = featurizer.object_space_and_pose(lm[sel], (int(s[0]), int(s[1])))
        objs.append(o)
        poses.append(m)
        sizes.append(size)
        neutrals.append(featurizer.object_space(f.neutral[None], f.neutral_size)[0])
    lenders = expression_lenders(objs, neutrals)
    out_lm, out_neutral, out_size, out_labels = [], [], [], []
    for start in range(0, count, batch):
        k = min(batch, count - start)
        fa = rng.integers(0, len(folders), k)
        fb = (fa + rng.integers(1, len(folders), k)) % len(folders)  # always another folder
        ia = np.array([rng.integers(0, len(objs[a])) for a in fa])
        ib = np.array([rng.integers(0, len(objs[b])) for b in fb])
        lam = rng.uniform(mix_range[0], mix_range[1], k)[:, None, None]
        if mode == "transfer-all":
            neutral = np.einsum("kf,fpc->kpc", rng.dirichlet(np.ones(len(folders)), k), np.stack(neutrals))
        else:
            neutral = (1 - lam) * np.stack([neutrals[a] for a in fa]) + lam * np.stack([neutrals[b] for b in fb])
        if mode == "blend":
            mixed = (1 - lam) * np.stack([objs[a][i] for a, i in zip(fa, ia)]) + lam * np.stack(
                [objs[b][i] for b, i in zip(fb, ib)])
        else:
            fc = lenders[rng.integers(0, len(lenders), k)]
            ic = np.array([rng.integers(0, len(objs[c])) for c in fc])
            mixed = neutral + np.stack([objs[c][i] - neutrals[c] for c, i in zip(fc, ic)])
        m = np.stack([poses[a][i] for a, i in zip(fa, ia)])
        size = np.stack([sizes[a][i] for a, i in zip(fa, ia)])
        # Back where the first face was in its image: canonical frame -> pixels -> normalized.
        scale = np.stack([size[:, 0], -size[:, 1], -size[:, 0]], axis=1).astype(np.float64)[:, None]
        lm = ((np.einsum("nij,npj->npi", m[:, :3, :3], mixed) + m[:, None, :3, 3]) / scale).astype(np.float32)
        nlm = ((np.einsum("nij,npj->npi", m[:, :3, :3], neutral) + m[:, None, :3, 3]) / scale).astype(np.float32)
        labels = np.empty((k, len(LIVE_LINK_NAMES)), np.float32)
        for s in np.unique(size, axis=0):  # the teacher reads pixels: one call per image size
            sel = (size == s).all(axis=1)
            labels[sel] = to_arkit(teacher(lm[sel], (int(s[0]), int(s[1]))))[:, live_link]
        out_lm.append(lm)
        out_neutral.append(nlm)
        out_size.append(size)
        out_labels.append(labels)
    if not out_lm:
        return Mixes(np.zeros((0, 478, 3), np.float32), np.zeros((0, 478, 3), np.float32), np.zeros((0, 2), np.int64),
                     np.zeros((0, len(LIVE_LINK_NAMES)), np.float32))
    return Mixes(np.concatenate(out_lm), np.concatenate(out_neutral), np.concatenate(out_size),
                 np.concatenate(out_labels))


def mirrored_folder(folder: FolderLandmarks, order: np.ndarray) -> FolderLandmarks:
    """`folder`'s faces as they would be found in its images flipped left-right (`mirror_order`'s `order`)."""
    return replace(folder, landmarks=mirrored_landmarks(folder.landmarks, order),
                   neutral=mirrored_landmarks(folder.neutral, order))


def expression_lenders(objs: Sequence[np.ndarray], neutrals: Sequence[np.ndarray], tol: float = 1e-4) -> np.ndarray:
    """Indices of the folders with at least one face that is not their neutral face ((F_i,478,3) faces and
    (478,3) neutral faces in object space, cm); every folder if none has one."""
    moved = np.array([len(o) > 0 and float(np.abs(o - n).max()) > tol for o, n in zip(objs, neutrals)])
    return np.flatnonzero(moved) if moved.any() else np.arange(len(objs))


def mixed_inputs(mixes: Mixes, features) -> np.ndarray:
    """(K,2F) network inputs (regressor_input) of blended faces with the feature function `features`."""
    from facepipe.solutions.blendshape_regressor import regressor_input

    out = None
    for s in np.unique(mixes.sizes, axis=0):
        sel = (mixes.sizes == s).all(axis=1)
        size = (int(s[0]), int(s[1]))
        x = regressor_input(features(mixes.landmarks[sel], size), features(mixes.neutral[sel], size))
        out = np.empty((len(mixes), x.shape[1]), np.float32) if out is None else out
        out[sel] = x
    return out if out is not None else np.zeros((0, 0), np.float32)
