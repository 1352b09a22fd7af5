"""Deciding each segment (a track within one scene) and which regions to redact.

A segment's embedded frames vote (recognition's `TrackVotes`): the person named in the most of
them wins if named in at least `min_share` of them and more often than anyone else. Then:

* "chosen": it won for a chosen person;
* "undecided": it did not, but one of its embeddings came within threshold + `near_margin` of a
  chosen person, or it was never embedded (too small, turned away, never detected clearly) and
  it passes close to a chosen or such a near segment (within `NEAR_FRAMES` frames and two face
  widths: most likely the same face, its track broken);
* "other": everyone else.

--only masks "chosen" segments (and "undecided" ones with `strict`); --except masks everything
but "chosen" segments, with the stricter `except_min_share` (fail-closed: unknown, too small,
ambiguous or never-embedded faces are masked). The decision applies to every frame of the
segment, the ones before the deciding embeddings included. A segment with no detection of its own
(only regions the tracker held over a cut, or backfilled before one) follows the same track's
segment in the neighbouring scene. A segment whose every detection lies on the face of a chosen
segment (a second box on the same face: around its eyes, or a wider box around the head)
follows that segment: masking it under --except would blur the excepted face itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepipe.apps.anonymize.regions import Source, region_sources
from facepipe.apps.recognition.video import TrackVotes
from facepipe.apps.selective.options import PeopleSelection, TrackSampling
from facepipe.apps.selective.survey import Segment, SegmentKey, Survey
from facepipe.results import Detections

__all__ = ["STATES", "Verdict", "decide_segments", "masked_regions"]

STATES = ("chosen", "undecided", "other")


@dataclass(frozen=True)
class Verdict:
    """The decision on one segment. name: the gallery's vote winner (or unknown); distance: the
    median distance of its votes (nearest of all if unknown); votes: per name over the `embedded`
    frames; chosen_distance/nearest_chosen: nearest any embedding came to a chosen person;
    state: see STATES; masked: whether its regions are redacted; via: the segment whose
    decision it follows (itself, or the track's segment in the neighbouring scene)."""

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

    @property
    def key(self) -> SegmentKey:
        return (self.track_id, self.scene)


def _judge(seg: Segment, selection: PeopleSelection, sampling: TrackSampling, threshold: float,
           chosen: tuple[str, ...]) -> tuple[str, str, float, dict[str, int], float, str]:
    share = sampling.only_min_share if selection.mode == "only" else sampling.except_min_share
    votes = TrackVotes(seg.first, seg.last, names=list(seg.names), distances=list(seg.distances))
    decision = votes.decide(seg.track_id, share)
    near = float(min(seg.chosen_distances)) if seg.chosen_distances else float("inf")
    nearest = seg.nearest_chosen[int(np.argmin(seg.chosen_distances))] if seg.chosen_distances else ""
    if decision.name in chosen:
        state = "chosen"
    elif not seg.names or near <= threshold + sampling.near_margin:
        state = "undecided"
    else:
        state = "other"
    return state, decision.name, decision.distance, decision.votes, near, nearest


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
    people's faces do not lie one inside the other."""
    if not chosen:
        return {}
    inside: dict[SegmentKey, int] = {}
    host: dict[SegmentKey, SegmentKey] = {}
    for regions, scene in zip(survey.regions, survey.scenes):
        det = regions[region_sources(regions) == Source.DETECTED]
        keys = [(int(t), scene) for t in det.track_ids.tolist()]
        on = np.array([k in chosen for k in keys], bool)
        if not on.any() or on.all():
            continue
        a, b = det.xyxy[~on][:, None, :], det.xyxy[on][None, :, :]
        overlap = np.clip(np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2]), 0, None)
        inter = overlap[..., 0] * overlap[..., 1]
        a, b = a[:, 0], b[0]
        wa, wb = a[:, 2] - a[:, 0], b[:, 2] - b[:, 0]
        smaller = np.maximum(np.minimum((wa * (a[:, 3] - a[:, 1]))[:, None], (wb * (b[:, 3] - b[:, 1]))[None, :]),
                             1e-6)
        ratio = wa[:, None] / np.maximum(wb[None, :], 1e-6)
        lies_on = (inter / smaller >= 0.6) & (ratio >= 0.4) & (ratio <= 2.5)
        others = [k for k, o in zip(keys, on) if not o]
        hosts = [k for k, o in zip(keys, on) if o]
        for r in np.flatnonzero(lies_on.any(1)):
            inside[others[r]] = inside.get(others[r], 0) + 1
            host[others[r]] = hosts[int(np.argmax(lies_on[r]))]
    return {k: host[k] for k, n in inside.items() if n == survey.segments[k].detected}


def decide_segments(survey: Survey, selection: PeopleSelection, sampling: TrackSampling, threshold: float,
                    chosen: tuple[str, ...]) -> dict[SegmentKey, Verdict]:
    """A verdict for every segment of the survey (see the module doc)."""
    judged = {k: _judge(s, selection, sampling, threshold, chosen) for k, s in survey.segments.items()}
    blind = [k for k, j in judged.items() if j[0] == "undecided" and not survey.segments[k].names]
    if blind:
        # A segment never embedded is undecided only near a chosen or near-chosen one (see the module doc).
        paths = _paths(survey)
        anchors = [k for k, j in judged.items() if j[0] in ("chosen", "undecided") and survey.segments[k].names]
        for k in blind:
            if not any(a[1] == k[1] and _passes_close(paths[k], paths[a]) for a in anchors if k in paths):
                judged[k] = ("other", *judged[k][1:])
    on_chosen = _on_chosen_faces(survey, {k for k, j in judged.items() if j[0] == "chosen"})
    out: dict[SegmentKey, Verdict] = {}
    for key, seg in survey.segments.items():
        via = on_chosen.get(key, key)
        if seg.detected == 0:
            # Held over a cut or backfilled before one: the same face as the neighbouring scene's.
            around = [(survey.segments[k].detected, k) for k in ((key[0], key[1] - 1), (key[0], key[1] + 1))
                      if k in survey.segments and survey.segments[k].detected > 0]
            if around:
                via = max(around)[1]
        state, name, dist, votes, near, nearest = judged[via]
        if selection.mode == "only":
            masked = state == "chosen" or (selection.strict and state == "undecided")
        else:
            masked = state != "chosen"
        out[key] = Verdict(seg.track_id, seg.scene, seg.first, seg.last, seg.frames, seg.detected, name, dist,
                           votes, len(survey.segments[via].names), near, nearest, state, masked, via)
    return out


def masked_regions(survey: Survey, verdicts: dict[SegmentKey, Verdict], index: int) -> Detections:
    """The regions of frame `index` to redact. A region of no known segment is redacted (fail closed)."""
    regions = survey.regions[index]
    scene = survey.scenes[index]
    keep = np.array([verdicts[(t, scene)].masked if (t, scene) in verdicts else True
                     for t in regions.track_ids.tolist()], bool)
    return regions[keep] if len(regions) else regions
