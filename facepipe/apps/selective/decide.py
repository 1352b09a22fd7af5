"""Deciding each segment (a track within one scene) and which regions to redact.

A segment is named by two pieces of evidence (see `TrackSampling`): its embedded frames vote
(recognition's `TrackVotes`: the person named in the most of them wins if named in at least
`min_share` of them and more often than anyone else), and its *track embedding* (the mean of its
embeddings) is matched against the gallery. Then:

* "chosen": the votes or the track embedding name a chosen person, the other does not name someone
  else, and no other face seen in the same frames is within `rival_margin` as near that person
  (one person is one face at a time); with --except, on at least `except_min_embedded` embedded
  frames (or all its detections, if fewer);
* "undecided": it is not chosen, but one of its embeddings or its track embedding came within
  threshold + `near_margin` of a chosen person, the evidence conflicts (votes and track embedding
  name different people, or a rival face is as near) or is too thin, or it was never embedded (too small, turned
  away, never detected clearly) and it passes close to a chosen or such a near segment (within
  `NEAR_FRAMES` frames and two face widths: most likely the same face, its track broken);
* "other": everyone else.

--only masks "chosen" segments (and "undecided" ones with `strict`); --except masks everything
but "chosen" segments, with the stricter `except_min_share` (fail-closed: unknown, too small,
ambiguous or never-embedded faces are masked). The decision applies to every frame of the
segment, the ones before the deciding embeddings included. A segment with no detection of its own
(only regions the tracker held over a cut, or backfilled before one) follows the same track's
segment in the neighbouring scene. A segment whose every detection lies on the face of a chosen
segment (a second box on the same face: around its eyes, or a wider box around the head)
follows that segment: masking it under --except would blur the excepted face itself.

A masked region much larger than a visible chosen face that holds that face (a recall-first box
around a whole group, or a face-like pattern around it) is still redacted, except on the chosen
face's own box (`uncovered_chosen`, `redact_selected`): a face seen and recognised there cannot be
covered by another face. Regions of other faces overlapping it stay redacted where they cover it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepipe.apps.anonymize.redact import mask_boxes
from facepipe.apps.anonymize.regions import Source, region_sources
from facepipe.apps.recognition.store import UNKNOWN
from facepipe.apps.recognition.video import TrackVotes
from facepipe.apps.selective.options import PeopleSelection, TrackSampling
from facepipe.apps.selective.survey import Segment, SegmentKey, Survey, track_embedding
from facepipe.results import Detections
from facepipe.stages.nms import intersection_areas

__all__ = ["STATES", "Verdict", "decide_segments", "masked_regions", "redact_selected", "uncovered_chosen"]

STATES = ("chosen", "undecided", "other")


@dataclass(frozen=True)
class Verdict:
    """The decision on one segment. name: the gallery's vote winner (or unknown); distance: the
    median distance of its votes (nearest of all if unknown); votes: per name over the `embedded`
    frames; chosen_distance/nearest_chosen: nearest any embedding came to a chosen person;
    state: see STATES; masked: whether its regions are redacted; via: the segment whose
    decision it follows (itself, or the track's segment in the neighbouring scene).
    track_name/track_distance: the gallery's vote for its track embedding ("" when not embedded);
    track_chosen_distance: the track embedding's distance to the nearest chosen person;
    rival_distance: for a segment named a chosen person, the nearest any other face seen in the
    same frames came to that person (track embeddings; inf: no such face).
    shown: with --except, (first, last, chosen segment) for a masked segment part of which is the same
    face as a chosen segment (`_same_face_spans`): its regions of frames first..last are left visible."""

    track_id: int
    scene: int
    first: int
    last: int
    frames: int
    detected: int
    name: str
    distance: float
    votes: dict[str, int]
    embedded: int
    chosen_distance: float
    nearest_chosen: str
    state: str
    masked: bool
    via: SegmentKey
    track_name: str = ""
    track_distance: float = float("inf")
    track_chosen_distance: float = float("inf")
    rival_distance: float = float("inf")
    shown: tuple[int, int, SegmentKey] | None = None

    @property
    def key(self) -> SegmentKey:
        return (self.track_id, self.scene)

    def visible_at(self, index: int) -> bool:
        """Whether its region of frame `index` is left as it is: a chosen segment not masked, or the
        frames `shown` (first, last, the chosen segment it is the same face as) of a masked one."""
        if not self.masked:
            return True
        return self.shown is not None and self.shown[0] <= index <= self.shown[1]


@dataclass(frozen=True)
class _Judgement:
    state: str
    name: str  # the vote winner, or the track embedding's name when that decided it
    distance: float
    votes: dict[str, int]
    near: float  # nearest any embedding (or the track embedding) came to a chosen person
    nearest: str
    person: str  # the chosen person it is named ("" if none)


def _judge(seg: Segment, selection: PeopleSelection, sampling: TrackSampling, threshold: float,
           chosen: tuple[str, ...]) -> _Judgement:
    share = sampling.only_min_share if selection.mode == "only" else sampling.except_min_share
    votes = TrackVotes(seg.first, seg.last, names=list(seg.names), distances=list(seg.distances))
    decision = votes.decide(seg.track_id, share)
    near = float(min(seg.chosen_distances)) if seg.chosen_distances else float("inf")
    nearest = seg.nearest_chosen[int(np.argmin(seg.chosen_distances))] if seg.chosen_distances else ""
    track = seg.track_name if sampling.track_level else ""
    if sampling.track_level and seg.track_chosen:
        t_nearest = min(seg.track_chosen, key=seg.track_chosen.__getitem__)
        if seg.track_chosen[t_nearest] < near:
            near, nearest = seg.track_chosen[t_nearest], t_nearest
    named = {n for n in (decision.name, track) if n and n != UNKNOWN}
    name, dist = decision.name, decision.distance
    enough = selection.mode == "only" or len(seg.names) >= min(sampling.except_min_embedded, seg.detected)
    if len(named) == 1 and named <= set(chosen) and enough:
        person = named.pop()
        if decision.name != person:  # the track embedding decided it
            name, dist = track, seg.track_distance
        return _Judgement("chosen", name, dist, decision.votes, near, nearest, person)
    # undecided: votes and track embedding disagree, or near a chosen person, or never embedded
    unsure = bool(named & set(chosen)) or not seg.names or near <= threshold + sampling.near_margin
    return _Judgement("undecided" if unsure else "other", name, dist, decision.votes, near, nearest, "")


NEAR_FRAMES = 15  # the anonymizer's default hold: how far apart in time a broken track's pieces may lie


def _paths(survey: Survey) -> dict[SegmentKey, np.ndarray]:
    """Per segment, (F,4) rows of frame, centre x, centre y, width of its regions."""
    rows: dict[SegmentKey, list[np.ndarray]] = {}
    for i, (regions, scene) in enumerate(zip(survey.regions, survey.scenes)):
        if not len(regions):
            continue
        c = (regions.xyxy[:, :2] + regions.xyxy[:, 2:]) / 2
        data = np.column_stack([np.full(len(regions), i, np.float32), c, regions.wh[:, 0]])
        for t, row in zip(regions.track_ids.tolist(), data):
            rows.setdefault((int(t), scene), []).append(row)
    return {k: np.stack(v) for k, v in rows.items()}


def _passes_close(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two segments' paths come within NEAR_FRAMES frames and two face widths of each other."""
    dt = np.abs(a[:, None, 0] - b[None, :, 0])
    dist = np.hypot(a[:, None, 1] - b[None, :, 1], a[:, None, 2] - b[None, :, 2])
    reach = 2.0 * np.maximum(a[:, None, 3], b[None, :, 3])
    return bool(np.any((dt <= NEAR_FRAMES) & (dist <= reach)))


def _on_chosen_faces(survey: Survey, chosen: set[SegmentKey]) -> dict[SegmentKey, SegmentKey]:
    """{segment: the chosen segment it lies on}, for the segments every detection of which is a second
    box on a chosen face of the same frame: one box at least 60 % inside the other, and widths within
    a factor 2.5 (a small face of someone behind is not taken for part of the chosen one). Two
    people's faces do not lie one inside the other. The chosen face's region counts wherever the
    anonymizer has one (detected, or held/backfilled in a frame where its detector missed it and
    only the second box was found)."""
    if not chosen:
        return {}
    inside: dict[SegmentKey, int] = {}
    host: dict[SegmentKey, SegmentKey] = {}
    for regions, scene in zip(survey.regions, survey.scenes):
        if not len(regions):
            continue
        keys = [(int(t), scene) for t in regions.track_ids.tolist()]
        on = np.array([k in chosen for k in keys], bool)
        off = ~on & (region_sources(regions) == Source.DETECTED)
        if not on.any() or not off.any():
            continue
        lies_on, _ = _box_relations(regions.xyxy[off], regions.xyxy[on])
        others = [k for k, o in zip(keys, off) if o]
        hosts = [k for k, o in zip(keys, on) if o]
        for r in np.flatnonzero(lies_on.any(1)):
            inside[others[r]] = inside.get(others[r], 0) + 1
            host[others[r]] = hosts[int(np.argmax(lies_on[r]))]
    return {k: host[k] for k, n in inside.items() if n == survey.segments[k].detected}


def _box_relations(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A,B) masks for boxes a (A,4) and b (B,4): `on`, one box at least 60 % inside the other with
    widths within a factor 2.5 (a second box on one face); `apart`, overlapping by at most 10 % of
    the smaller (two different faces)."""
    inter = intersection_areas(a, b)
    wa, wb = a[:, 2] - a[:, 0], b[:, 2] - b[:, 0]
    smaller = np.maximum(np.minimum((wa * (a[:, 3] - a[:, 1]))[:, None], (wb * (b[:, 3] - b[:, 1]))[None, :]), 1e-6)
    ratio = wa[:, None] / np.maximum(wb[None, :], 1e-6)
    return (inter / smaller >= 0.6) & (ratio >= 0.4) & (ratio <= 2.5), inter <= 0.1 * smaller


def _distance(e: np.ndarray, ref: np.ndarray, metric: str) -> np.ndarray:
    if metric == "cosine":
        n = np.linalg.norm(e, axis=1) * max(float(np.linalg.norm(ref)), 1e-12)
        return 1.0 - (e @ ref) / np.maximum(n, 1e-12)
    return np.linalg.norm(e - ref[None, :], axis=1)


def _same_face_spans(survey: Survey, judged: dict[SegmentKey, _Judgement], threshold: float, min_embedded: int,
                     metric: str) -> dict[SegmentKey, tuple[int, int, SegmentKey]]:
    """{segment: (first, last, chosen segment)} for the segments not chosen a stretch of which is the
    face of a chosen segment C of the same scene (with --except: shown there, as C is). The tracker
    may follow a face with two tracks, or let a track jump from one face to another; so a stretch is
    taken only where all of these hold:

    * its consecutive embedded frames (at least `min_embedded`) are each within `threshold` of C's
      track embedding (the matcher would name them C's person if C's face were the gallery photo),
      and none of them named someone else in the gallery;
    * in at least one frame of the stretch it was detected as a second box on C's face (one box at
      least 60 % inside the other), and in no frame of it detected apart from C (two faces);
    * the stretch covers the frames from its first embedded frame to its last (and the segment's
      first or last frames only where it begins or ends with the segment's first or last
      embedding): the frames between its last "same" embedding and a following one that is not
      the same face stay masked (fail-closed: where the track left the face is unknown)."""
    chosen = {k for k, j in judged.items() if j.state == "chosen" and survey.segments[k].embeddings}
    if not chosen:
        return {}
    on: dict[tuple[SegmentKey, SegmentKey], list[int]] = {}
    apart: dict[tuple[SegmentKey, SegmentKey], list[int]] = {}
    for i, (regions, scene) in enumerate(zip(survey.regions, survey.scenes)):
        if len(regions) < 2:
            continue
        keys = [(int(t), scene) for t in regions.track_ids.tolist()]
        det = region_sources(regions) == Source.DETECTED
        is_c = np.array([k in chosen for k in keys], bool)
        cand = ~is_c & det & np.array([k in judged and judged[k].state != "chosen" for k in keys], bool)
        if not is_c.any() or not cand.any():
            continue
        lies, sep = _box_relations(regions.xyxy[cand], regions.xyxy[is_c])
        sep &= det[is_c][None, :]
        ck = [k for k, c in zip(keys, is_c) if c]
        sk = [k for k, c in zip(keys, cand) if c]
        for r, c in zip(*np.nonzero(lies)):
            on.setdefault((sk[r], ck[c]), []).append(i)
        for r, c in zip(*np.nonzero(sep)):
            apart.setdefault((sk[r], ck[c]), []).append(i)
    refs = {c: track_embedding(survey.segments[c].embeddings, survey.segments[c].weights, metric) for c in chosen}
    out: dict[SegmentKey, tuple[int, int, SegmentKey]] = {}
    for (k, c), frames_on in sorted(on.items()):
        seg = survey.segments[k]
        if k in out or not seg.embeddings or len(seg.embeddings) != len(seg.embedded_frames):
            continue
        person = judged[c].person
        order = np.argsort(seg.embedded_frames, kind="stable")
        at = np.asarray(seg.embedded_frames)[order]
        e = np.asarray(seg.embeddings, np.float32)[order]
        names = [seg.names[i] if i < len(seg.names) else UNKNOWN for i in order]
        same = (_distance(e, refs[c], metric) <= threshold) & np.array([n in (UNKNOWN, person) for n in names])
        edges = np.flatnonzero(np.diff(np.concatenate([[0], same.astype(np.int8), [0]])))
        for a, b in zip(edges[::2], edges[1::2] - 1):
            if b - a + 1 < min_embedded:
                continue
            first = seg.first if a == 0 else int(at[a])
            last = seg.last if b == len(at) - 1 else int(at[b])
            if not any(first <= f <= last for f in frames_on):
                continue
            if any(first <= f <= last for f in apart.get((k, c), [])):
                continue
            out[k] = (first, last, c)
            break
    return out


def _distinct_pairs(survey: Survey) -> set[tuple[SegmentKey, SegmentKey]]:
    """Pairs of segments detected in the same frame as two different faces: boxes that (nearly) do
    not overlap, in at least one frame (a second box on one face always overlaps it)."""
    pairs: set[tuple[SegmentKey, SegmentKey]] = set()
    for regions, scene in zip(survey.regions, survey.scenes):
        det = regions[region_sources(regions) == Source.DETECTED] if len(regions) else regions
        if len(det) < 2:
            continue
        _, apart = _box_relations(det.xyxy, det.xyxy)
        keys = [(int(t), scene) for t in det.track_ids.tolist()]
        for r, c in zip(*np.nonzero(np.triu(apart, 1))):
            if keys[r] != keys[c]:
                pairs.add((keys[r], keys[c]))
                pairs.add((keys[c], keys[r]))
    return pairs


def _rival_check(survey: Survey, judged: dict[SegmentKey, _Judgement], margin: float
                 ) -> tuple[dict[SegmentKey, _Judgement], dict[SegmentKey, float]]:
    """One person, one face at a time: a chosen segment whose person another face of the same frames
    comes within `margin` of (track embeddings) becomes undecided. Also {segment: rival distance}."""
    chosen = [k for k, j in judged.items() if j.state == "chosen" and survey.segments[k].track_chosen]
    if not chosen:
        return judged, {}
    pairs = _distinct_pairs(survey)
    rivals: dict[SegmentKey, float] = {}
    out = dict(judged)
    for k in chosen:
        person = judged[k].person
        mine = survey.segments[k].track_chosen.get(person, float("inf"))
        theirs = [survey.segments[o].track_chosen.get(person, float("inf")) for a, o in pairs
                  if a == k and survey.segments[o].track_chosen]
        rivals[k] = min(theirs, default=float("inf"))
        if margin > 0 and rivals[k] < mine + margin:
            j = judged[k]
            out[k] = _Judgement("undecided", j.name, j.distance, j.votes, j.near, j.nearest, "")
    return out, rivals


def decide_segments(survey: Survey, selection: PeopleSelection, sampling: TrackSampling, threshold: float,
                    chosen: tuple[str, ...], metric: str = "euclidean") -> dict[SegmentKey, Verdict]:
    """A verdict for every segment of the survey (see the module doc). metric: the embedder's
    ("euclidean" or "cosine"), for comparing a segment's embeddings with a chosen one's."""
    judged = {k: _judge(s, selection, sampling, threshold, chosen) for k, s in survey.segments.items()}
    judged, rivals = _rival_check(survey, judged, sampling.rival_margin)
    blind = [k for k, j in judged.items() if j.state == "undecided" and not survey.segments[k].names]
    if blind:
        # A segment never embedded is undecided only near a chosen or near-chosen one (see the module doc).
        paths = _paths(survey)
        anchors = [k for k, j in judged.items() if j.state in ("chosen", "undecided") and survey.segments[k].names]
        for k in blind:
            if not any(a[1] == k[1] and _passes_close(paths[k], paths[a]) for a in anchors if k in paths):
                j = judged[k]
                judged[k] = _Judgement("other", j.name, j.distance, j.votes, j.near, j.nearest, "")
    on_chosen = _on_chosen_faces(survey, {k for k, j in judged.items() if j.state == "chosen"})
    spans = (_same_face_spans(survey, judged, threshold, sampling.except_min_embedded, metric)
             if selection.mode == "except" else {})
    out: dict[SegmentKey, Verdict] = {}
    for key, seg in survey.segments.items():
        via = on_chosen.get(key, key)
        if seg.detected == 0:
            # Held over a cut or backfilled before one: the same face as the neighbouring scene's.
            around = [(survey.segments[k].detected, k) for k in ((key[0], key[1] - 1), (key[0], key[1] + 1))
                      if k in survey.segments and survey.segments[k].detected > 0]
            if around:
                via = max(around)[1]
        j = judged[via]
        if selection.mode == "only":
            masked = j.state == "chosen" or (selection.strict and j.state == "undecided")
        else:
            masked = j.state != "chosen"
        src = survey.segments[via]
        track_near = min(src.track_chosen.values(), default=float("inf"))
        out[key] = Verdict(seg.track_id, seg.scene, seg.first, seg.last, seg.frames, seg.detected, j.name,
                           j.distance, j.votes, len(src.names), j.near, j.nearest, j.state, masked, via,
                           src.track_name, src.track_distance, track_near, rivals.get(via, float("inf")),
                           spans.get(key) if masked and via == key else None)
    return out


def masked_regions(survey: Survey, verdicts: dict[SegmentKey, Verdict], index: int) -> Detections:
    """The regions of frame `index` to redact. A region of no known segment is redacted (fail closed)."""
    regions = survey.regions[index]
    scene = survey.scenes[index]
    keep = np.array([not verdicts[(t, scene)].visible_at(index) if (t, scene) in verdicts else True
                     for t in regions.track_ids.tolist()], bool)
    return regions[keep] if len(regions) else regions


CONTAINER_RATIO = 2.5  # a masked region this many times wider than a chosen face it holds does not hide it


def uncovered_chosen(survey: Survey, verdicts: dict[SegmentKey, Verdict], index: int
                     ) -> tuple[np.ndarray, np.ndarray] | None:
    """Where frame `index` is shown as it is although masked regions reach there: ((K,4) boxes of its
    visible chosen faces, (M,4) boxes of the masked regions that still count on them). A masked region
    counts unless it is much larger than a chosen face it holds (at least 60 % of the face inside it,
    `CONTAINER_RATIO` times wider: a recall-first box around a group, or a face-like pattern around
    the face), or a second box on a chosen face (at least 60 % of it inside the face's box, widths
    within a factor 2.5, each box holding the other's centre: a duplicate detection, or a track
    that has left the face or not yet reached it). None when the frame has no visible chosen face or
    no masked region."""
    regions = survey.regions[index]
    if len(regions) < 2:
        return None
    scene = survey.scenes[index]
    keys = [(int(t), scene) for t in regions.track_ids.tolist()]
    masked = np.array([not verdicts[k].visible_at(index) if k in verdicts else True for k in keys], bool)
    shown = np.array([k in verdicts and ((verdicts[k].state == "chosen" and not verdicts[k].masked)
                                         or (verdicts[k].masked and verdicts[k].visible_at(index))) for k in keys],
                     bool)
    if not shown.any() or not masked.any():
        return None
    a, b = regions.xyxy[shown][:, None, :], regions.xyxy[masked][None, :, :]
    overlap = np.clip(np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2]), 0, None)
    inter = overlap[..., 0] * overlap[..., 1]
    wa, wb = a[..., 2] - a[..., 0], b[..., 2] - b[..., 0]
    area_a = np.maximum(wa * (a[..., 3] - a[..., 1]), 1e-6)
    holds = (inter / area_a >= 0.6) & (wb >= CONTAINER_RATIO * wa)  # (shown, masked)
    # A second box on the chosen face (a duplicate detection, or a track that left or has not yet
    # reached it): mostly inside it (60 % of its own area), of a like width, and each box holding the
    # other's centre. Two people's faces do not lie so.
    area_b = np.maximum(wb * (b[..., 3] - b[..., 1]), 1e-6)
    ca, cb = (a[..., :2] + a[..., 2:]) / 2, (b[..., :2] + b[..., 2:]) / 2
    centres = (np.all((cb >= a[..., :2]) & (cb <= a[..., 2:]), axis=-1)
               & np.all((ca >= b[..., :2]) & (ca <= b[..., 2:]), axis=-1))
    ratio = wb / np.maximum(wa, 1e-6)
    second = (inter / area_b >= 0.6) & (ratio >= 0.4) & (ratio <= 2.5) & centres
    return regions.xyxy[shown], regions.xyxy[masked][~(holds | second).any(0)]


def _detected_on_chosen(survey: Survey, verdicts: dict[SegmentKey, Verdict], index: int, shown: np.ndarray,
                        covering: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of `uncovered_chosen`'s boxes: the visible chosen faces detected in frame `index`, and the
    covering regions detected there too (a held, backfilled or interpolated region is where a face
    is guessed to be: on a chosen face's box that the detector found in this very frame, the pixels
    are that face's)."""
    regions = survey.regions[index]
    det = region_sources(regions) == Source.DETECTED
    boxes = regions.xyxy

    def pick(rows: np.ndarray) -> np.ndarray:
        if not len(rows):
            return rows
        same = np.all(boxes[None, :, :] == rows[:, None, :], axis=-1) & det[None, :]
        return rows[same.any(1)]

    return pick(shown), pick(covering)


def redact_selected(redact, image: np.ndarray, survey: Survey, verdicts: dict[SegmentKey, Verdict],
                    index: int, mask_scale: float = 1.0) -> np.ndarray:
    """Frame `index` redacted with `redact(image, regions)` (a new image), then the visible chosen faces'
    boxes shown as they are wherever no other masked region's box covers them (`uncovered_chosen`).

    The redaction reaches beyond a region's box (an ellipse around it, scaled up for safety), and
    recall-first boxes around a group hold faces: on an excepted face's own box those pixels are
    the excepted face. Other faces stay redacted on their whole boxes, overlaps included.
    mask_scale: the redaction's (`RedactOptions.effective_mask_scale`): a visible chosen face is its
    box and the ellipse of its box scaled by it (the hair, ears and chin the anonymizer would redact
    as that face's), less the other masked regions' boxes."""
    out = redact(image, masked_regions(survey, verdicts, index))
    found = uncovered_chosen(survey, verdicts, index)
    if found is None:
        return out
    shown, covering = found
    keep = np.zeros(image.shape[:2], bool)
    if mask_scale > 1.0:
        H, W = keep.shape
        for x0, y0, x1, y1 in mask_boxes(shown, mask_scale):
            c0, r0, c1, r1 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0))), min(W, int(np.ceil(x1))), \
                min(H, int(np.ceil(y1)))
            if c1 <= c0 or r1 <= r0:
                continue
            yy, xx = np.ogrid[r0:r1, c0:c1]
            rx, ry = max((x1 - x0) / 2, 1e-6), max((y1 - y0) / 2, 1e-6)
            inside = ((xx + 0.5 - (x0 + x1) / 2) / rx) ** 2 + ((yy + 0.5 - (y0 + y1) / 2) / ry) ** 2 <= 1.0
            keep[r0:r1, c0:c1] |= inside
    inward = np.concatenate([np.ceil(shown[:, :2]), np.floor(shown[:, 2:])], axis=1)
    outward = np.concatenate([np.floor(covering[:, :2]), np.ceil(covering[:, 2:])], axis=1)
    seen, seen_covering = _detected_on_chosen(survey, verdicts, index, shown, covering)
    seen = np.concatenate([np.ceil(seen[:, :2]), np.floor(seen[:, 2:])], axis=1)
    seen_covering = np.concatenate([np.floor(seen_covering[:, :2]), np.ceil(seen_covering[:, 2:])], axis=1)
    for (x0, y0, x1, y1), value in ([(b, True) for b in inward] + [(b, False) for b in outward]
                                    + [(b, True) for b in seen] + [(b, False) for b in seen_covering]):
        x0, y0, x1, y1 = (max(0, int(v)) for v in (x0, y0, x1, y1))
        keep[y0:y1, x0:x1] = value
    out[keep] = image[keep]
    return out
