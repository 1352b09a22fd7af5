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

from facepipe.apps.anonymize.regions import Source, region_sources
from facepipe.apps.recognition.store import UNKNOWN
from facepipe.apps.recognition.video import TrackVotes
from facepipe.apps.selective.options import PeopleSelection, TrackSampling
from facepipe.apps.selective.survey import Segment, SegmentKey, Survey
from facepipe.results import Detections

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
    same frames came to that person (track embeddings; inf: no such face)."""

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

    @property
    def key(self) -> SegmentKey:
        return (self.track_id, self.scene)


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
        a, b = regions.xyxy[off][:, None, :], regions.xyxy[on][None, :, :]
        overlap = np.clip(np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2]), 0, None)
        inter = overlap[..., 0] * overlap[..., 1]
        a, b = a[:, 0], b[0]
        wa, wb = a[:, 2] - a[:, 0], b[:, 2] - b[:, 0]
        smaller = np.maximum(np.minimum((wa * (a[:, 3] - a[:, 1]))[:, None], (wb * (b[:, 3] - b[:, 1]))[None, :]),
                             1e-6)
        ratio = wa[:, None] / np.maximum(wb[None, :], 1e-6)
        lies_on = (inter / smaller >= 0.6) & (ratio >= 0.4) & (ratio <= 2.5)
        others = [k for k, o in zip(keys, off) if o]
        hosts = [k for k, o in zip(keys, on) if o]
        for r in np.flatnonzero(lies_on.any(1)):
            inside[others[r]] = inside.get(others[r], 0) + 1
            host[others[r]] = hosts[int(np.argmax(lies_on[r]))]
    return {k: host[k] for k, n in inside.items() if n == survey.segments[k].detected}


def _distinct_pairs(survey: Survey) -> set[tuple[SegmentKey, SegmentKey]]:
    """Pairs of segments detected in the same frame as two different faces: boxes that (nearly) do
    not overlap, in at least one frame (a second box on one face always overlaps it)."""
    pairs: set[tuple[SegmentKey, SegmentKey]] = set()
    for regions, scene in zip(survey.regions, survey.scenes):
        det = regions[region_sources(regions) == Source.DETECTED] if len(regions) else regions
        if len(det) < 2:
            continue
        b = det.xyxy
        overlap = np.clip(np.minimum(b[:, None, 2:], b[None, :, 2:]) - np.maximum(b[:, None, :2], b[None, :, :2]),
                          0, None)
        inter = overlap[..., 0] * overlap[..., 1]
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        apart = inter <= 0.1 * np.maximum(np.minimum(area[:, None], area[None, :]), 1e-6)
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
                    chosen: tuple[str, ...]) -> dict[SegmentKey, Verdict]:
    """A verdict for every segment of the survey (see the module doc)."""
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
                           src.track_name, src.track_distance, track_near, rivals.get(via, float("inf")))
    return out


def masked_regions(survey: Survey, verdicts: dict[SegmentKey, Verdict], index: int) -> Detections:
    """The regions of frame `index` to redact. A region of no known segment is redacted (fail closed)."""
    regions = survey.regions[index]
    scene = survey.scenes[index]
    keep = np.array([verdicts[(t, scene)].masked if (t, scene) in verdicts else True
                     for t in regions.track_ids.tolist()], bool)
    return regions[keep] if len(regions) else regions


CONTAINER_RATIO = 2.5  # a masked region this many times wider than a chosen face it holds does not hide it


def uncovered_chosen(survey: Survey, verdicts: dict[SegmentKey, Verdict], index: int
                     ) -> tuple[np.ndarray, np.ndarray] | None:
    """Where frame `index` is shown as it is although masked regions reach there: ((K,4) boxes of its
    visible chosen faces, (M,4) boxes of the masked regions that still count on them). A masked region
    counts unless it is much larger than a chosen face it holds (at least 60 % of the face inside it,
    `CONTAINER_RATIO` times wider: a recall-first box around a group, or a face-like pattern around
    the face). None when the frame has no visible chosen face or no masked region."""
    regions = survey.regions[index]
    if len(regions) < 2:
        return None
    scene = survey.scenes[index]
    keys = [(int(t), scene) for t in regions.track_ids.tolist()]
    masked = np.array([verdicts[k].masked if k in verdicts else True for k in keys], bool)
    shown = np.array([k in verdicts and verdicts[k].state == "chosen" and not verdicts[k].masked for k in keys], bool)
    if not shown.any() or not masked.any():
        return None
    a, b = regions.xyxy[shown][:, None, :], regions.xyxy[masked][None, :, :]
    overlap = np.clip(np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2]), 0, None)
    inter = overlap[..., 0] * overlap[..., 1]
    wa, wb = a[..., 2] - a[..., 0], b[..., 2] - b[..., 0]
    area_a = np.maximum(wa * (a[..., 3] - a[..., 1]), 1e-6)
    holds = (inter / area_a >= 0.6) & (wb >= CONTAINER_RATIO * wa)  # (shown, masked)
    return regions.xyxy[shown], regions.xyxy[masked][~holds.any(0)]


def redact_selected(redact, image: np.ndarray, survey: Survey, verdicts: dict[SegmentKey, Verdict],
                    index: int) -> np.ndarray:
    """Frame `index` redacted with `redact(image, regions)` (a new image), then the visible chosen faces'
    boxes shown as they are wherever no other masked region's box covers them (`uncovered_chosen`).

    The redaction reaches beyond a region's box (an ellipse around it, scaled up for safety), and
    recall-first boxes around a group hold faces: on an excepted face's own box those pixels are
    the excepted face. Other faces stay redacted on their whole boxes, overlaps included."""
    out = redact(image, masked_regions(survey, verdicts, index))
    found = uncovered_chosen(survey, verdicts, index)
    if found is None:
        return out
    shown, covering = found
    keep = np.zeros(image.shape[:2], bool)
    inward = np.concatenate([np.ceil(shown[:, :2]), np.floor(shown[:, 2:])], axis=1)
    outward = np.concatenate([np.floor(covering[:, :2]), np.ceil(covering[:, 2:])], axis=1)
    for (x0, y0, x1, y1), value in [(b, True) for b in inward] + [(b, False) for b in outward]:
        x0, y0, x1, y1 = (max(0, int(v)) for v in (x0, y0, x1, y1))
        keep[y0:y1, x0:x1] = value
    out[keep] = image[keep]
    return out
