"""Identities in video decided per track, so names do not flicker.

Faces are linked across frames by the anonymizer's `FaceTracker` (IoU and
motion). Each track is embedded on its first frame and then every
`embed_every` frames (all faces due in a frame go to the embedder in one
batch); every embedding's k-NN vote names the track in that frame. The track's
identity is the person named in the most of its frames, if at least
`min_share` of them and more than any other person; its distance is the median
of that person's distances. Offline (`identify_video`), the final decision of a
track applies to all its frames, the first ones included; live
(`TrackIdentifier.update`), each frame shows the decision so far.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from facepipe.apps.anonymize.track import FaceTracker, TrackerOptions
from facepipe.apps.recognition.matching import Matches
from facepipe.apps.recognition.recognizer import FaceRecognizer, Identities
from facepipe.apps.recognition.store import UNKNOWN
from facepipe.results import Detections
from facepipe.stages.scene_cuts import SceneCutDetector, SceneCutOptions, check_live_cuts

__all__ = ["TrackDecision", "TrackIdentifier", "TrackVoteOptions", "TrackVotes", "VideoIdentities",
           "identify_video"]


@dataclass(frozen=True)
class TrackVoteOptions:
    """embed_every: frames between two embeddings of one track (1: every frame).
    min_share: least share of a track's embedded frames that must name the winner.
    tracker: how faces are linked over frames (the anonymizer's tracker; a short hold, since a
        held box is not drawn, only used to re-link a face found again).
    cuts: the scene-cut detector (`facepipe.stages.scene_cuts`, the anonymizer's) that ends every
        track at a hard cut, so a face after a cut is never counted as the person before it; it
        decides each frame as it comes (`confirm` must be 0: a flash may cut a track in two, which
        only splits its votes). None: off.
    """

    embed_every: int = 3
    min_share: float = 0.25
    cuts: SceneCutOptions | None = field(default_factory=lambda: SceneCutOptions(confirm=0))
    tracker: TrackerOptions = field(default_factory=lambda: TrackerOptions(hold=10))

    def __post_init__(self) -> None:
        if not isinstance(self.embed_every, int) or self.embed_every < 1:
            raise ValueError(f"embed_every must be an integer >= 1, got {self.embed_every!r}")
        if not 0.0 <= self.min_share <= 1.0:
            raise ValueError(f"min_share must be in [0, 1], got {self.min_share}")
        check_live_cuts(self.cuts)


@dataclass(frozen=True)
class TrackDecision:
    """Who a track is: name (or "unknown"), median distance of the winner's votes, the votes per name
    (unknown included) over the `embedded` frames, first/last frame index."""

    track_id: int
    name: str
    distance: float
    votes: dict[str, int]
    embedded: int
    first: int
    last: int


@dataclass
class TrackVotes:
    """One track's votes so far: the name each embedded frame was matched to, and its distance."""

    first: int
    last: int
    last_embedded: int = -(10**9)
    names: list[str] = field(default_factory=list)
    distances: list[float] = field(default_factory=list)

    def decide(self, track_id: int, min_share: float) -> TrackDecision:
        counts: dict[str, int] = {}
        for n in self.names:
            counts[n] = counts.get(n, 0) + 1
        known = sorted(((c, n) for n, c in counts.items() if n != UNKNOWN), reverse=True)
        name, dist = UNKNOWN, float("inf")
        if known:
            best_count, best = known[0]
            runner_up = known[1][0] if len(known) > 1 else 0
            if best_count > runner_up and best_count >= min_share * len(self.names):
                name = best
        pick = [d for n, d in zip(self.names, self.distances) if n == name] if name != UNKNOWN else self.distances
        if pick:
            dist = float(np.median(pick)) if name != UNKNOWN else float(min(pick))
        return TrackDecision(track_id, name, dist, counts, len(self.names), self.first, self.last)


class TrackIdentifier:
    """Tracks faces over the frames of one stream and votes per track. Not thread-safe (one stream)."""

    def __init__(self, recognizer: FaceRecognizer, options: TrackVoteOptions | None = None) -> None:
        self.recognizer = recognizer
        self.options = options or TrackVoteOptions()
        self._tracker = FaceTracker(self.options.tracker)
        self._votes: dict[int, TrackVotes] = {}
        self._frame = -1
        self._cuts = SceneCutDetector(self.options.cuts) if self.options.cuts is not None else None

    def update(self, image: np.ndarray, frame: int | None = None) -> Identities:
        """The faces of the next frame, named by their track's decision so far. Embeddings are those
        computed in this frame (tracks due, see `embed_every`); zeros for the faces not embedded."""
        self._frame = frame = self._frame + 1 if frame is None else frame
        if self._cuts is not None and self._cuts.starts_shot(image):
            self._tracker.reset()  # track ids keep counting up: new tracks after the cut
        faces = self.recognizer.spotter.spot(image)
        dets = Detections(faces.xyxy, faces.points5, faces.scores, faces.image_size)
        ids = self._tracker.update(dets, frame).current.track_ids[: len(faces)]
        due = []
        for i, tid in enumerate(ids):
            v = self._votes.setdefault(int(tid), TrackVotes(frame, frame))
            v.last = frame
            if frame - v.last_embedded >= self.options.embed_every:
                due.append(i)
        dim = self.recognizer.info.dim
        emb = np.zeros((len(faces), dim), np.float32)
        if due:
            idx = np.array(due)
            emb[idx] = self.recognizer.embedder.embed(image, faces.points5[idx])
            m = self.recognizer.match(emb[idx])
            for j, i in enumerate(due):
                v = self._votes[int(ids[i])]
                v.last_embedded = frame
                v.names.append(str(m.names[j]))
                v.distances.append(float(m.distances[j]))
        decisions = [self.decision(int(t)) for t in ids]
        matches = Matches(np.array([d.name for d in decisions], dtype=object),
                          np.array([d.distance for d in decisions], np.float32),
                          np.array([_share(d) for d in decisions], np.float32))
        return Identities.of(faces, emb, matches, ids)

    def decision(self, track_id: int) -> TrackDecision:
        return self._votes[track_id].decide(track_id, self.options.min_share)

    def decisions(self) -> dict[int, TrackDecision]:
        """Every track seen so far, decided on all its votes."""
        return {t: self.decision(t) for t in sorted(self._votes)}


def _share(d: TrackDecision) -> float:
    return d.votes.get(d.name, 0) / d.embedded if d.embedded and d.name != UNKNOWN else 0.0


@dataclass(frozen=True)
class VideoIdentities:
    """Per frame (index, timestamp ms, Identities with the tracks' final decisions) and per track."""

    frames: list[tuple[int, float, Identities]]
    tracks: dict[int, TrackDecision]

    def people(self) -> dict[str, int]:
        """Frames in which each known person appears."""
        seen: dict[str, set[int]] = {}
        for i, _, ids in self.frames:
            for n in ids.names[ids.known]:
                seen.setdefault(str(n), set()).add(i)
        return {n: len(f) for n, f in sorted(seen.items())}


def apply_decisions(per_frame: list[tuple[int, float, Identities]],
                    tracks: dict[int, TrackDecision]) -> list[tuple[int, float, Identities]]:
    """Each face named by its track's final decision (offline: a late decision reaches the first frames)."""
    out = []
    for i, t, ids in per_frame:
        dec = [tracks[int(tid)] for tid in ids.track_ids]
        named = Identities(ids.xyxy, ids.scores, np.array([d.name for d in dec], dtype=object),
                           np.array([d.distance for d in dec], np.float32),
                           np.array([_share(d) for d in dec], np.float32), ids.track_ids, ids.points5,
                           ids.embeddings, ids.image_size)
        out.append((i, t, named))
    return out


def identify_frames(recognizer: FaceRecognizer, frames: Iterable[tuple[np.ndarray, float]],
                    options: TrackVoteOptions | None = None) -> VideoIdentities:
    """Offline identification of (RGB frame, timestamp ms) pairs; embeddings are not kept per frame."""
    ident = TrackIdentifier(recognizer, options)
    per_frame = []
    for i, (image, t_ms) in enumerate(frames):
        ids = ident.update(image, i)
        per_frame.append((i, t_ms, replace(ids, embeddings=np.zeros((len(ids), 0), np.float32))))
    tracks = ident.decisions()
    return VideoIdentities(apply_decisions(per_frame, tracks), tracks)


def video_frames(path: str | os.PathLike[str], max_frames: int | None = None) -> Iterator[tuple[np.ndarray, float]]:
    from facepipe.io.video import VideoReader

    with VideoReader(path) as reader:
        for k, frame in enumerate(reader):
            if max_frames is not None and k >= max_frames:
                break
            yield frame.image, frame.time * 1000.0


def identify_video(recognizer: FaceRecognizer, path: str | os.PathLike[str], options: TrackVoteOptions | None = None,
                   *, max_frames: int | None = None) -> VideoIdentities:
    """Who is in a video file, decided per track over all its frames."""
    return identify_frames(recognizer, video_frames(path, max_frames), options)
