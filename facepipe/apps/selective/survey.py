"""Pass 1: find and track every face as plain anonymize does, and gather evidence per track.

The frames go through the anonymizer's own stages (FaceFinder, FaceTracker, BackfillBuffer), so
every frame ends up with exactly the regions plain `anonymize` would redact, each with its track.
A track is split at scene cuts (the tracker may link a face before a cut to another after it); a
(track, scene) pair is a *segment*, the unit that is decided. While frames are released, a few
detections of each segment are embedded: its first usable detection, then every `embed_every`
frames, at most `max_embeddings` (faces narrower than `min_face` are not embedded). Alignment
points come from the face mesh run in the detection's ROI; chips are queued and embedded many
at a time (one network run per `batch` chips) and matched against the gallery. When all frames are
in (`finish`), each segment's embeddings are averaged into its *track embedding* (weighted by the
mesh's presence score), which is matched against the gallery too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from facepipe.apps.anonymize.regions import Source, region_sources
from facepipe.apps.selective.options import TrackSampling
from facepipe.apps.selective.targets import ChosenPeople
from facepipe.results import Detections

__all__ = ["Segment", "Survey", "TrackSurveyor", "rematch_survey", "track_embedding"]

SegmentKey = tuple[int, int]  # (track id, scene)

THUMB_SIZE = 64
MAX_THUMBS = 8


@dataclass
class Segment:
    """What pass 1 learnt about one track within one scene.

    frames: frames with a region of it; detected: frames where the detector itself found it.
    names/distances: the gallery's vote per embedded frame; chosen_distances/nearest_chosen: the
    distance of that embedding to the nearest chosen person. thumbs: small crops for the report.
    embeddings/weights: the embedded frames' vectors and the mesh presence score of each.
    track_name/track_distance: the gallery's vote for the track embedding (the weighted mean of
    `embeddings`; "" when none); track_chosen: its distance to each chosen person.
    """

    track_id: int
    scene: int
    first: int
    last: int
    frames: int = 0
    detected: int = 0
    embedded_frames: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    distances: list[float] = field(default_factory=list)
    chosen_distances: list[float] = field(default_factory=list)
    nearest_chosen: list[str] = field(default_factory=list)
    thumbs: list[np.ndarray] = field(default_factory=list)
    thumb_frames: list[int] = field(default_factory=list)
    pending: int = 0  # chips queued, not yet embedded
    embeddings: list[np.ndarray] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    track_name: str = ""
    track_distance: float = float("inf")
    track_chosen: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> SegmentKey:
        return (self.track_id, self.scene)


@dataclass
class Survey:
    """Pass 1's result: each frame's regions (as plain anonymize redacts them), its scene, and the
    segments by (track id, scene)."""

    regions: list[Detections]
    scenes: list[int]
    segments: dict[SegmentKey, Segment]


def _crop_thumb(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = max(box[2] - box[0], box[3] - box[1], 4.0) * 0.6
    x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
    x1, y1 = int(min(w, cx + half)), int(min(h, cy + half))
    if x1 <= x0 or y1 <= y0:
        return np.zeros((THUMB_SIZE, THUMB_SIZE, 3), np.uint8)
    return cv2.resize(image[y0:y1, x0:x1], (THUMB_SIZE, THUMB_SIZE), interpolation=cv2.INTER_AREA)


class TrackSurveyor:
    """Takes released frames in order (`add`) and builds the `Survey` (`finish`). One stream at a time."""

    def __init__(self, chosen: ChosenPeople, sampling: TrackSampling | None = None, *, batch: int = 32) -> None:
        from facepipe.solutions.face_mesh import FaceMesh, FaceMeshOptions

        self.chosen = chosen
        self.sampling = sampling or TrackSampling()
        self.batch = batch
        self._embedder = chosen.recognizer.embedder
        # Only its landmark model runs, in the detections' ROIs; presence 0 keeps every ROI (a face
        # seen from the side scores low and is still recognisable; a non-face is matched to no one).
        self._mesh = FaceMesh(FaceMeshOptions(static_image_mode=True, min_tracking_confidence=0.0,
                                              runtime=chosen.recognizer.options.spotter.runtime))
        self._regions: list[Detections] = []
        self._scenes: list[int] = []
        self._segments: dict[SegmentKey, Segment] = {}
        self._chips: list[np.ndarray] = []
        self._chip_owner: list[SegmentKey] = []  # the segment of each queued chip
        self._chip_weight: list[float] = []  # the mesh's presence score of each queued chip

    def add(self, index: int, image: np.ndarray, regions: Detections, scene: int) -> None:
        """Frame `index` (frames come in order, from 0) with all its regions and its scene number."""
        if index != len(self._regions):
            raise ValueError(f"frames must come in order: got frame {index}, expected {len(self._regions)}")
        self._regions.append(regions)
        self._scenes.append(scene)
        s = self.sampling
        due: list[int] = []
        for i, (tid, src, box) in enumerate(zip(regions.track_ids.tolist(), region_sources(regions).tolist(),
                                                    regions.xyxy)):
            key = (int(tid), scene)
            seg = self._segments.get(key)
            if seg is None:
                seg = self._segments[key] = Segment(key[0], scene, index, index)
            seg.last = index
            seg.frames += 1
            if src != Source.DETECTED:
                if not seg.thumbs:  # held or backfilled only so far: show where, until a detection comes
                    seg.thumbs.append(_crop_thumb(image, box))
                    seg.thumb_frames.append(index)
                continue
            if seg.detected == 0:  # the first detection replaces a held/backfilled view
                seg.thumbs, seg.thumb_frames = [], []
            seg.detected += 1
            if len(seg.thumbs) < MAX_THUMBS and (not seg.thumb_frames or index - seg.thumb_frames[-1] >= 8):
                seg.thumbs.append(_crop_thumb(image, box))
                seg.thumb_frames.append(index)
            last = seg.embedded_frames[-1] if seg.embedded_frames else None
            if (box[2] - box[0] >= s.min_face and len(seg.embedded_frames) < s.max_embeddings
                    and (last is None or index - last >= s.embed_every)):
                seg.embedded_frames.append(index)
                due.append(i)
        if due:
            self._queue(image, regions[np.asarray(due)], scene)

    def _queue(self, image: np.ndarray, faces: Detections, scene: int) -> None:
        from facepipe.solutions.face_embedder import five_point_landmarks
        from facepipe.solutions.face_mesh import detection_rois

        size = faces.image_size
        dets = Detections(faces.xyxy, faces.keypoints, faces.scores, size)
        meshes, presence, kept = self._mesh.landmarks_in_rois(image, detection_rois(dets))
        kept_ids = faces.track_ids[kept]
        for tid in faces.track_ids[~kept].tolist():  # no mesh at all: not embedded after all
            self._segments[(int(tid), scene)].embedded_frames.pop()
        if len(kept_ids) == 0:
            return
        points = five_point_landmarks(meshes * np.array([size[0], size[1], size[0]], np.float32))
        chips = self._embedder.align(image, points)
        for chip, tid, score in zip(chips, kept_ids.tolist(), presence[kept].tolist()):
            seg = self._segments[(int(tid), scene)]
            self._chips.append(chip)
            self._chip_owner.append(seg.key)
            self._chip_weight.append(float(score))
            seg.pending += 1
        if len(self._chips) >= self.batch:
            self._embed_queued()

    def _embed_queued(self) -> None:
        if not self._chips:
            return
        vectors = self._embedder.embed_chips(np.stack(self._chips))
        found = self.chosen.match(vectors)
        m = found.matches
        for j, key in enumerate(self._chip_owner):
            seg = self._segments[key]
            seg.embeddings.append(vectors[j])
            seg.weights.append(self._chip_weight[j])
            seg.names.append(str(m.names[j]))
            seg.distances.append(float(m.distances[j]))
            seg.chosen_distances.append(float(found.chosen_distance[j]))
            seg.nearest_chosen.append(str(found.nearest_chosen[j]))
            seg.pending -= 1
        self._chips, self._chip_owner, self._chip_weight = [], [], []

    def _match_tracks(self) -> None:
        segs = [seg for seg in self._segments.values() if seg.embeddings]
        if not self.sampling.track_level or not segs:
            return
        tracks = np.stack([track_embedding(seg.embeddings, seg.weights, self._embedder.metric) for seg in segs])
        m = self.chosen.match(tracks).matches
        per_person = self.chosen.person_distances(tracks)
        for j, seg in enumerate(segs):
            seg.track_name, seg.track_distance = str(m.names[j]), float(m.distances[j])
            seg.track_chosen = {n: float(d[j]) for n, d in per_person.items()}

    def finish(self) -> Survey:
        """Embed what is still queued, match the track embeddings; the survey of all frames added."""
        self._embed_queued()
        self._match_tracks()
        return Survey(self._regions, self._scenes, self._segments)


MIN_WEIGHT = 0.05  # a frame the mesh gives up on still counts a little: a track of only such frames has a mean


def track_embedding(embeddings: list[np.ndarray], weights: list[float], metric: str) -> np.ndarray:
    """The weighted mean of a segment's embeddings (weights: the mesh's presence scores, at least
    MIN_WEIGHT), re-normalised for a cosine model."""
    e = np.asarray(embeddings, np.float32)
    w = np.maximum(np.asarray(weights, np.float32), MIN_WEIGHT)
    mean = (e * w[:, None]).sum(axis=0) / w.sum()
    if metric == "cosine":
        mean = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return mean.astype(np.float32)


def rematch_survey(survey: Survey, chosen: ChosenPeople, sampling: TrackSampling | None = None) -> Survey:
    """The same survey matched against other chosen people (or another gallery) from the embeddings it
    kept: no decoding, detection or embedding again. The chosen people must use the same model."""
    import copy

    sampling = sampling or TrackSampling()
    segments: dict[SegmentKey, Segment] = {}
    for key, seg in survey.segments.items():
        new = copy.copy(seg)
        new.names, new.distances, new.chosen_distances, new.nearest_chosen = [], [], [], []
        new.track_name, new.track_distance, new.track_chosen = "", float("inf"), {}
        if seg.embeddings:
            vectors = np.stack(seg.embeddings)
            found = chosen.match(vectors)
            new.names = [str(n) for n in found.matches.names]
            new.distances = [float(d) for d in found.matches.distances]
            new.chosen_distances = [float(d) for d in found.chosen_distance]
            new.nearest_chosen = [str(n) for n in found.nearest_chosen]
            if sampling.track_level:
                track = track_embedding(seg.embeddings, seg.weights, chosen.recognizer.info.metric)[None]
                m = chosen.match(track).matches
                new.track_name, new.track_distance = str(m.names[0]), float(m.distances[0])
                new.track_chosen = {n: float(d[0]) for n, d in chosen.person_distances(track).items()}
        segments[key] = new
    return Survey(survey.regions, survey.scenes, segments)
