"""The distinct people of a video: its face tracks grouped by identity, each with a thumbnail.

For a people picker (the desktop app's panel): a track named by the gallery joins the other
tracks of that person; an unknown track is a person of its own (tracks of one unknown person on
both sides of a scene cut stay apart: nothing links them). Each person keeps the embeddings of
its tracks, so it can be enrolled into the gallery from the video.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from facepipe.apps.recognition.recognizer import FaceRecognizer
from facepipe.apps.recognition.store import UNKNOWN
from facepipe.apps.recognition.video import TrackIdentifier, TrackVoteOptions, video_frames

__all__ = ["VideoPerson", "video_people"]


@dataclass(frozen=True, eq=False)
class VideoPerson:
    """name: the gallery's name, or "unknown". track_ids: its tracks. frames: frames it is in.
    thumbnail: RGB crop of its most confident face (a little wider than the face box).
    embeddings: (N, dim) embeddings of its faces (for enrolling it). first: first frame."""

    name: str
    track_ids: tuple[int, ...]
    frames: int
    first: int
    thumbnail: np.ndarray
    embeddings: np.ndarray

    @property
    def known(self) -> bool:
        return self.name != UNKNOWN


@dataclass
class _Track:
    frames: int = 0
    best_score: float = -1.0
    thumbnail: np.ndarray | None = None
    embeddings: list[np.ndarray] | None = None


def _crop(image: np.ndarray, box: np.ndarray, margin: float = 0.25) -> np.ndarray:
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    h, w = image.shape[:2]
    a, b = int(max(0, x1 - dx)), int(max(0, y1 - dy))
    c, d = int(min(w, x2 + dx)), int(min(h, y2 + dy))
    return image[b:max(d, b + 1), a:max(c, a + 1)].copy()


def video_people(recognizer: FaceRecognizer, path: str | os.PathLike[str], options: TrackVoteOptions | None = None,
                 *, min_frames: int = 5, max_frames: int | None = None,
                 on_frame: Callable[[int], None] | None = None) -> list[VideoPerson]:
    """The people in a video, most frames first. Tracks shorter than `min_frames` frames are left
    out (a passing false detection); on_frame(index) after each frame (progress, cancel by raising)."""
    ident = TrackIdentifier(recognizer, options)
    tracks: dict[int, _Track] = {}
    for index, (image, _t_ms) in enumerate(video_frames(path, max_frames)):
        ids = ident.update(image, index)
        embedded = np.any(ids.embeddings != 0, axis=1) if len(ids) else np.zeros(0, bool)
        for i, tid in enumerate(ids.track_ids.tolist()):
            t = tracks.setdefault(int(tid), _Track(embeddings=[]))
            t.frames += 1
            if ids.scores[i] > t.best_score:
                t.best_score = float(ids.scores[i])
                t.thumbnail = _crop(image, ids.xyxy[i])
            if embedded[i]:
                t.embeddings.append(ids.embeddings[i])
        if on_frame is not None:
            on_frame(index)
    decisions = ident.decisions()
    groups: dict[str, list[int]] = {}
    for tid, track in tracks.items():
        if track.frames < min_frames or tid not in decisions:
            continue
        name = decisions[tid].name
        groups.setdefault(name if name != UNKNOWN else f"{UNKNOWN}#{tid}", []).append(tid)
    dim = recognizer.info.dim
    people = []
    for key, tids in groups.items():
        best = max(tids, key=lambda t: tracks[t].best_score)
        emb = [e for t in tids for e in tracks[t].embeddings]
        people.append(VideoPerson(key.split("#")[0], tuple(sorted(tids)), sum(tracks[t].frames for t in tids),
                                  min(decisions[t].first for t in tids), tracks[best].thumbnail,
                                  np.stack(emb) if emb else np.zeros((0, dim), np.float32)))
    return sorted(people, key=lambda p: (-p.frames, p.first))
