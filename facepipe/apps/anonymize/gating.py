"""Which of `FaceFinder`'s raw detections are faces: the rules that gate weak, crowd-only
and oversized detections, from where they lie and which views found them.

BlazeFace at the low thresholds and fine scales that recall needs also fires on
textures. A weak detection counts when several views (models, scales) agree, or
when confident faces of its size are near (in a crowd, BlazeFace scores many real
faces low); the short-range model on tiles counts only in crowds and never on the
body below a confident face; a large detection seen by one view must be found again
in a crop around it. The verifier (verify.py) is the second opinion after these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from facepipe.results import Detections, box_iou
from facepipe.stages.nms import intersection_areas

if TYPE_CHECKING:
    from facepipe.apps.anonymize.detect import FaceFinderOptions

__all__ = ["around_confident", "around_several", "confident_faces", "family", "in_crowd", "inside_larger",
           "near_similar", "on_body", "plausible"]


def plausible(raw: Detections, views_of: np.ndarray, crowd_only: np.ndarray, image_hw: tuple[int, int],
              o: FaceFinderOptions, found_in_crop: Callable[[int], bool]) -> np.ndarray:
    """Mask of the detections `raw` (found by views `views_of`; `crowd_only`: by the crowd-only
    tile models) to keep under the rules of options `o` (see the module doc). Large ones seen
    by a single view only, with a modest score, must be found again in a crop centred on
    them (`found_in_crop(i)`).

    A false positive the size of a third of the frame would blur a third of the
    frame; real large faces are seen by several views (both models, both framings),
    and when one is not, the crop re-detection finds it.
    """
    H, W = image_hw
    keep = np.ones(len(raw), bool)
    side = raw.wh.max(1)
    big = (side >= o.verify_size * min(W, H)) & (raw.scores < o.verify_below)
    need_views = o.min_views > 1 and len(raw) > 0
    if not big.any() and not need_views and not crowd_only.any():
        return keep
    # Crowd-only detections lend no support: their false positives cluster on the same texture.
    overlap = (box_iou(raw.xyxy, raw.xyxy) > 0.3) & ~crowd_only[None, :]
    if need_views:
        # Detections scoring below `confident` must be seen by `min_views` views (models or
        # scales): chance texture responses rarely repeat across them, faces do.
        support = np.array([len(np.unique(views_of[overlap[i]])) for i in range(len(raw))])
        sure = (raw.scores >= o.confident) & ~crowd_only
        keep &= (support >= o.min_views) | sure | near_similar(raw.xyxy, sure, o.crowd_radius)
    if crowd_only.any():
        anchors = keep & ~crowd_only & (raw.scores >= o.confident)
        keep &= ~crowd_only
        keep |= crowd_only & in_crowd(raw, anchors, o.crowd_faces, o.crowd_tile_radius, o.nms_iou)
        if o.crowd_body_depth > 0:
            keep &= ~(crowd_only & on_body(raw.xyxy, raw.xyxy[anchors], raw.keypoints[anchors],
                                           o.crowd_body_depth))
    for i in np.flatnonzero(big & keep):
        if len(np.unique(views_of[overlap[i]])) >= 2:
            continue
        keep[i] = found_in_crop(int(i))
    return keep


def family(model: str) -> str:
    """"short"/"short_tasks" are one model family, "full"/"full_dense" the other."""
    return model.split("_")[0]


def near_similar(boxes: np.ndarray, sure: np.ndarray, radius: float) -> np.ndarray:
    """Mask of boxes with a `sure` box of 0.5-2x their size within `radius` of their size."""
    if not sure.any():
        return np.zeros(len(boxes), bool)
    side = (boxes[:, 2:] - boxes[:, :2]).max(1)
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    s_side, s_c = side[sure], c[sure]
    dist = np.linalg.norm(c[:, None] - s_c[None], axis=-1)
    ratio = s_side[None, :] / np.maximum(side[:, None], 1e-6)
    return ((dist <= radius * side[:, None]) & (ratio >= 0.5) & (ratio <= 2.0) & (dist > 0)).any(1)


def confident_faces(parts: Sequence[Detections], confident: float, nms_iou: float) -> np.ndarray:
    """(N,4) boxes of the distinct faces scoring >= `confident` in `parts` (views merged)."""
    merged = Detections.merge(parts)
    return merged[merged.scores >= confident].with_nms(nms_iou).xyxy



def on_body(boxes: np.ndarray, faces: np.ndarray, face_kps: np.ndarray, depth: float, width: float = 1.0,
             ratio: float = 0.7) -> np.ndarray:
    """Mask of boxes centred on the body of one of `faces`: within `width` face widths of the
    line through its centre pointing down the face (eyes to mouth, so a photo on its side or a
    tilted head is handled), at most `depth` face heights beyond its chin, and not much bigger
    than it (`ratio`: a face in the row in front of it is usually bigger)."""
    if len(faces) == 0 or len(boxes) == 0:
        return np.zeros(len(boxes), bool)
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    side = (boxes[:, 2:] - boxes[:, :2]).max(1)
    fc = (faces[:, :2] + faces[:, 2:]) / 2
    fs = (faces[:, 2:] - faces[:, :2]).max(1)
    down = face_kps[:, 3] - (face_kps[:, 0] + face_kps[:, 1]) / 2  # eyes' midpoint -> mouth
    norm = np.linalg.norm(down, axis=1, keepdims=True)
    down = np.where(norm > 1e-3, down / np.maximum(norm, 1e-6), np.array([0.0, 1.0], np.float32))
    rel = c[:, None] - fc[None]  # (N, F, 2)
    along = (rel * down[None]).sum(-1) - fs[None] / 2  # beyond the chin
    across = np.abs(rel[..., 0] * down[None, :, 1] - rel[..., 1] * down[None, :, 0])
    on = (across <= width * fs[None]) & (along > 0) & (along <= depth * fs[None]) & (fs[None] >= ratio * side[:, None])
    return on.any(1)


def in_crowd(raw: Detections, anchors: np.ndarray, min_faces: int, radius: float, nms_iou: float) -> np.ndarray:
    """Mask of detections with at least `min_faces` distinct `anchors` faces (merged, as one face
    is found by several views) of 0.5-2x their size within `radius` of their size, not on them."""
    if anchors.sum() < min_faces:
        return np.zeros(len(raw), bool)
    faces = raw[anchors].with_nms(nms_iou).xyxy
    f_side = (faces[:, 2:] - faces[:, :2]).max(1)
    side = raw.wh.max(1)
    c = (raw.xyxy[:, :2] + raw.xyxy[:, 2:]) / 2
    dist = np.linalg.norm(c[:, None] - ((faces[:, :2] + faces[:, 2:]) / 2)[None], axis=-1)
    ratio = f_side[None, :] / np.maximum(side[:, None], 1e-6)
    near = (dist <= radius * side[:, None]) & (dist > 0.5 * side[:, None]) & (ratio >= 0.5) & (ratio <= 2.0)
    return near.sum(1) >= min_faces


def around_confident(boxes: np.ndarray, scores: np.ndarray, confident: float = 0.8, margin: float = 0.3,
                     ratio: tuple[float, float] = (1.4, 2.4)) -> np.ndarray:
    """Mask of weak boxes drawn around a confident face at the wrong scale: each holds (90 % of its
    area) a box scoring at least `confident` and `margin` more than itself, `ratio` times narrower.

    Zoomed-out views, meant for faces that fill the frame, see a large face with its hair and
    shoulders as one bigger, weak "face" (lp_s18: 0.4 for a 465 px box around the 0.95 one of
    250 px); the verifier confirms it, as its crop holds a face, and its region, scaled for hair and
    chin like any face's, blurred most of the frame. The face itself stays covered by its own
    region. The narrower box must be the much more confident one: a part of a large face (an eye,
    a mouth) that a fine scale finds is weak and narrower than this (`inside_larger` drops those).
    """
    n = len(boxes)
    if n < 2:
        return np.zeros(n, bool)
    width = boxes[:, 2] - boxes[:, 0]
    area = np.maximum((boxes[:, 2:] - boxes[:, :2]).prod(-1), 1e-6)
    holds = intersection_areas(boxes, boxes) / area[None, :] >= 0.9  # [outer, inner]
    wider = (width[:, None] >= ratio[0] * width[None, :]) & (width[:, None] <= ratio[1] * width[None, :])
    stronger = (scores[None, :] >= confident) & (scores[None, :] >= scores[:, None] + margin)
    return (holds & wider & stronger).any(1)


def around_several(boxes: np.ndarray, scores: np.ndarray, outer: np.ndarray | None = None,
                   outer_scores: np.ndarray | None = None, *, min_faces: int = 2, floor: float = 0.5,
                   margin: float = 0.2, ratio: float = 2.0, grow: float = 1.2, similar: float = 1.6,
                   apart: float = 0.1) -> np.ndarray:
    """Mask of the `outer` boxes (default: `boxes` themselves) that hold `min_faces` or more separate
    faces of `boxes`: a weak box drawn around a group of faces, not a face.

    A face of `boxes` is held where `inside_larger` would take it for a part of the outer box
    (90 % inside it scaled by `grow`, `ratio` times narrower). It counts when it scores at least
    `floor` and `margin` more than the outer box; two of them must be apart (IoU <= `apart`) and of
    a face's size relative to each other (within `similar` times), as the faces of a row of people
    are. Hamilton's audience: a 0.37-0.38 box 215 px wide over three faces of 64-80 px scoring
    0.70-0.82, which the nesting rule then dropped as its "parts" (its region covered them, and the
    seats and shoulders between them). Safe where parts of a face score low (the video finder: no
    change on the 13 other shared videos); not on photos, where the finder's fine and crowd tiles
    score parts of faces and tiny crowd faces up to 0.87 inside a real face's box (lz_17: a face
    uncovered), so `FaceFinderOptions.group_boxes` is off there.
    """
    if outer is None:
        outer, outer_scores = boxes, scores
    n, m = len(outer), len(boxes)
    if n == 0 or m < min_faces:
        return np.zeros(n, bool)
    side = (boxes[:, 2:] - boxes[:, :2]).max(1)
    o_side = (outer[:, 2:] - outer[:, :2]).max(1)
    c = (outer[:, :2] + outer[:, 2:]) / 2
    half = (outer[:, 2:] - outer[:, :2]) / 2 * grow
    grown = np.concatenate([c - half, c + half], 1)
    area = np.maximum((boxes[:, 2:] - boxes[:, :2]).prod(-1), 1e-6)
    held = ((intersection_areas(grown, boxes) / area[None, :] >= 0.9)  # [outer, face]
            & (o_side[:, None] >= ratio * side[None, :])
            & (scores[None, :] >= np.maximum(outer_scores[:, None] + margin, floor)))
    if held.sum(1).max() < min_faces:
        return np.zeros(n, bool)
    # Pairs of faces that are two people: apart, and of similar size.
    pair = ((box_iou(boxes, boxes) <= apart)
            & (np.maximum(side[:, None], side[None, :]) <= similar * np.minimum(side[:, None], side[None, :])))
    np.fill_diagonal(pair, min_faces <= 1)
    h = held.astype(np.float32)
    partners = (h @ pair.astype(np.float32)) * h  # [outer, face]: held faces apart from this held face
    return (partners >= min_faces - 1).sum(1) >= min_faces


def inside_larger(boxes: np.ndarray, ratio: float = 2.0, grow: float = 1.2) -> np.ndarray:
    """Mask of boxes lying (90 %) inside a box at least `ratio` times larger (scaled by `grow`).

    Tiles at fine scales respond to parts of a large face (an eye, a nostril); those
    areas are redacted with the large face anyway, so such detections only add clutter.
    """
    n = len(boxes)
    if n < 2:
        return np.zeros(n, bool)
    side = (boxes[:, 2:] - boxes[:, :2]).max(1)
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) / 2 * grow
    big = np.concatenate([c - half, c + half], 1)
    area = np.maximum((boxes[:, 2:] - boxes[:, :2]).prod(-1), 1e-6)
    inside = (intersection_areas(boxes, big) / area[:, None] >= 0.9) & (side[None, :] >= ratio * side[:, None])
    return inside.any(1)

