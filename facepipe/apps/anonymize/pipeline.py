"""The per-frame chain detect -> track -> redact, for live use and for offline files.

Each stage is its own object (`FaceFinder`, `FaceTracker`, `Redactor`), so a
graph can run them as separate calculators; `Anonymizer` just wires them.

Live (`Anonymizer.process_frame`): a frame goes out as soon as it is
processed, so only forward holding protects it. Offline (`OfflineAnonymizer`):
frames are released `hold` frames late, which lets a face found at frame t
also be redacted in the frames before it was first detected, and gaps
between detections be filled in.

Both end every track at a scene cut (`SceneCutDetector`, options `AnonymizeOptions.cuts`).
A cut is confirmed `cuts.confirm` frames after it (a flash is not a cut), so offline the
tracker runs that many frames behind the finder and knows each cut in time; live, held
regions of the shot before a cut last those few frames into the new shot, and then end.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from facepipe.apps.anonymize.detect import FaceFinder
from facepipe.apps.anonymize.options import AnonymizeOptions
from facepipe.apps.anonymize.redact import RedactOptions, Redactor
from facepipe.apps.anonymize.regions import detected_regions, merge_regions
from facepipe.apps.anonymize.stream_verify import StreamVerifier
from facepipe.apps.anonymize.track import FaceTracker, TrackStep
from facepipe.results import Detections
from facepipe.stages.scene_cuts import CutDecision, SceneCutDetector

__all__ = ["Anonymizer", "BackfillBuffer", "FrameResult", "OfflineAnonymizer", "RegionBuffer", "RegionRedactor"]

Detect = Callable[[np.ndarray], Detections]


@dataclass(frozen=True, eq=False)
class FrameResult:
    """image: the redacted RGB frame. regions: what was redacted. index: frame number."""

    image: np.ndarray
    regions: Detections
    index: int


class RegionRedactor:
    """Redacts a frame's regions: the `Redactor`, plus the face-mesh outlines shape "hull" needs.

    The anonymizer and the graph's RedactCalculator both redact through this, so they cannot differ.
    """

    def __init__(self, options: RedactOptions | None = None, *, outlines: bool = True) -> None:
        """outlines: run the face mesh for shape "hull" (False: the caller always passes polygons)."""
        self.redactor = Redactor(options)
        self.hulls = None
        if outlines and self.redactor.options.shape == "hull":
            from facepipe.apps.anonymize.hull import FaceHulls

            self.hulls = FaceHulls(runtime=self.redactor.options.runtime)

    def __call__(self, rgb: np.ndarray, regions: Detections, polygons: Sequence[np.ndarray | None] | None = None, *,
                 inplace: bool = False) -> np.ndarray:
        """polygons: outlines per region (None: from the face mesh for shape "hull")."""
        if polygons is None and self.hulls is not None:
            polygons = self.hulls(rgb, regions)
        return self.redactor(rgb, regions, polygons, inplace=inplace)


class Anonymizer:
    """Frame-by-frame anonymizer (live video, cameras, single images).

    detector: replaces the stream `FaceFinder` (any callable RGB -> Detections).
    image_detector: replaces the still-image `FaceFinder` (built on first use otherwise).
    """

    def __init__(self, options: AnonymizeOptions | None = None, *, detector: Detect | None = None,
                 image_detector: Detect | None = None) -> None:
        self.options = options or AnonymizeOptions()
        self._detector = detector
        self._image_detector = image_detector
        self.tracker = FaceTracker(self.options.track)
        self.cuts = SceneCutDetector(self.options.cuts) if self.options.cuts is not None else None
        self._redact = RegionRedactor(self.options.redact)
        self.redactor, self.hulls = self._redact.redactor, self._redact.hulls
        self._verifier: StreamVerifier | None = None
        self._index = 0

    def redact(self, rgb: np.ndarray, regions: Detections, *, inplace: bool = False) -> np.ndarray:
        """Apply the redaction (with face-mesh outlines for shape "hull")."""
        return self._redact(rgb, regions, inplace=inplace)

    @property
    def detector(self) -> Detect:
        """The stream detector, built on first use (photo-only and graph runs never need it)."""
        if self._detector is None:
            self._detector = FaceFinder(self.options.detect)
        return self._detector

    @property
    def verifier(self) -> StreamVerifier:
        """The stream's second opinion, in frame order (stream_verify.py): it checks the weak
        detections a FaceFinder with `verify.reuse_frames` leaves unchecked, with that finder's
        options (models loaded on first use)."""
        if self._verifier is None:
            d = self._detector  # not built here: a FaceFinder built later has options.detect
            self._verifier = StreamVerifier(d.options if isinstance(d, FaceFinder) else self.options.detect)
        return self._verifier

    @property
    def image_detector(self) -> Detect:
        if self._image_detector is None:
            self._image_detector = FaceFinder(self.options.image_detect)
        return self._image_detector

    def reset(self) -> None:
        """Forget tracked faces (call between unrelated videos)."""
        self.tracker.reset()
        if self.cuts is not None:
            self.cuts.reset()
        if self._verifier is not None:
            self._verifier.reset()
        self._index = 0

    def detect(self, rgb: np.ndarray, index: int | None = None) -> Detections:
        """Faces in frame `index` of the current stream (None: the detector's own next frame), every
        weak one checked by the verifier.

        With the index, a FaceFinder scans that frame's turn of its tiles, so a video's
        detections do not depend on what the detector saw before it (other videos, say).
        """
        detector = self.detector
        if index is not None and isinstance(detector, FaceFinder):
            return detector.detect_frame(rgb, index)
        return detector(rgb)

    def stream_detect(self, rgb: np.ndarray, index: int) -> Detections:
        """`detect` for this anonymizer's own stream stages: a FaceFinder with `verify.reuse_frames`
        leaves the weak detections unchecked for `verifier`, which must see them next, in frame
        order (`process_frame` and `RegionBuffer` do)."""
        detector = self.detector
        if isinstance(detector, FaceFinder):
            return detector.detect_frame(rgb, index, check=False)
        return detector(rgb)

    def process_frame(self, rgb: np.ndarray) -> FrameResult:
        """Detect, track (holding lost faces forward) and redact one RGB uint8 frame."""
        cut = None
        if self.cuts is not None:
            # Confirmed `confirm` frames late: the tracks of the old shot end then.
            cut = max((d.index for d in self.cuts.push(rgb) if d.cut), default=None)
        dets = self.verifier(rgb, self.stream_detect(rgb, self._index), self._index, new_shot=cut)
        step = self.tracker.update(dets, self._index, new_shot=cut)
        result = FrameResult(self.redact(rgb, step.current), step.current, self._index)
        self._index += 1
        return result

    def process_image(self, rgb: np.ndarray) -> FrameResult:
        """A still image: detection and redaction only (no tracking state is touched)."""
        detector = self.image_detector
        # A FaceFinder scans all its tiles for a still image; a plain callable is just called.
        detect_all = detector.detect if isinstance(detector, FaceFinder) else detector
        regions = detected_regions(detect_all(rgb))
        return FrameResult(self.redact(rgb, regions), regions, 0)


class BackfillBuffer:
    """Holds frames until no later frame can add regions to them (`delay` frames).

    push() returns the frames that became final, oldest first, with all their regions.
    """

    def __init__(self, delay: int) -> None:
        self.delay = max(0, int(delay))
        self._items: deque[tuple[int, Any, list[Detections]]] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, retro: dict[int, Detections]) -> None:
        """Add regions to frames still held (ones already released are past saving: ignored)."""
        if not retro:
            return
        for index, _payload, regions in self._items:
            extra = retro.get(index)
            if extra is not None and len(extra):
                regions.append(extra)

    def push(self, index: int, payload: Any, regions: Detections) -> list[tuple[int, Any, Detections]]:
        self._items.append((index, payload, [regions]))
        out = []
        while self._items and self._items[0][0] <= index - self.delay:
            out.append(self._pop())
        return out

    def flush(self) -> list[tuple[int, Any, Detections]]:
        out = []
        while self._items:
            out.append(self._pop())
        return out

    def _pop(self) -> tuple[int, Any, Detections]:
        index, payload, parts = self._items.popleft()
        size = parts[0].image_size
        return index, payload, merge_regions(parts, size)


class RegionBuffer:
    """Frames in, frames with their final regions out: the stream verifier, the tracker, the scene-cut
    detector and the backfill buffer of an offline run, in frame order.

    push() takes a frame's detections and returns the frames now final, oldest first, as
    (index, payload, regions). With a cut detector the verifier and the tracker run `confirm` frames
    behind, so that each frame's cut is known when it is checked and tracked; frames come out
    `hold + confirm` frames late. verifier: checks the detections a stream FaceFinder left unchecked
    (`VerifyOptions.reuse_frames`; reset here: one RegionBuffer per stream); None: they pass
    unchecked (the tracker takes them as rejected).
    """

    def __init__(self, tracker: FaceTracker, cuts: SceneCutDetector | None,
                 verifier: StreamVerifier | None = None) -> None:
        self.tracker = tracker
        self.cuts = cuts
        self.verifier = verifier
        if verifier is not None:
            verifier.reset()
        self.buffer = BackfillBuffer(tracker.options.hold)
        # Frames the cut detector holds, with the frame itself for the verifier.
        self._waiting: deque[tuple[int, np.ndarray, Any, Detections]] = deque()
        self._tracked = 0

    def push(self, index: int, rgb: np.ndarray, payload: Any, detections: Detections
             ) -> list[tuple[int, Any, Detections]]:
        """Frame `index` (consecutive), read by the cut detector now, with its detections. The frame
        must stay unchanged until it is released (the verifier may read it until then)."""
        self._waiting.append((index, rgb, payload, detections))
        return self._track(self.cuts.push(rgb) if self.cuts is not None else [CutDecision(self._tracked, False)])

    def flush(self) -> list[tuple[int, Any, Detections]]:
        """Every frame still held (the end of the stream)."""
        done = self._track(self.cuts.flush()) if self.cuts is not None else []
        return done + self.buffer.flush()

    def _track(self, decided: list[CutDecision]) -> list[tuple[int, Any, Detections]]:
        released = []
        for d in decided:
            index, rgb, payload, dets = self._waiting.popleft()
            if d.index != self._tracked:  # the detector counts the frames it was given, from 0
                raise RuntimeError(f"scene-cut decision for frame {d.index} arrived for frame {self._tracked}")
            self._tracked += 1
            new_shot = index if d.cut else None
            if self.verifier is not None:
                dets = self.verifier(rgb, dets, index, new_shot)
            step: TrackStep = self.tracker.update(dets, index, new_shot=new_shot)
            self.buffer.add(step.retro)
            released += self.buffer.push(index, payload, step.current)
        return released


class OfflineAnonymizer:
    """Anonymizes a stream of frames whose end result may be `hold` frames late.

        off = OfflineAnonymizer(options)
        for frame in frames:
            for result, frame_then in off.push(frame.image, payload=frame):
                write(result.image, frame_then)
        for result, frame_then in off.flush():
            write(result.image, frame_then)

    or, for a whole stream, `for result, frame_then in off.run((f.image, f) for f in frames)`.

    Each released `FrameResult` comes with the payload given with its frame
    (its timestamp, say). Frames are redacted in place. With scene cuts on, the tracker
    runs `cuts.confirm` frames behind the finder, so that it knows each cut in time.
    """

    def __init__(self, options: AnonymizeOptions | None = None, *, detector: Detect | None = None) -> None:
        self.anonymizer = Anonymizer(options, detector=detector)
        self.options = self.anonymizer.options
        self.regions = RegionBuffer(self.anonymizer.tracker, self.anonymizer.cuts, self.anonymizer.verifier)
        self._index = 0

    def push(self, rgb: np.ndarray, payload: Any = None, detections: Detections | None = None
             ) -> list[tuple[FrameResult, Any]]:
        """Process the next frame (redacted in place later); returns the frames now final.

        detections: the frame's detections if already computed (e.g. by a detection thread, with
            `anonymizer.stream_detect`: weak ones may be unchecked, the buffer's verifier checks them).
        """
        dets = self.anonymizer.stream_detect(rgb, self._index) if detections is None else detections
        released = self.regions.push(self._index, rgb, (rgb, payload), dets)
        self._index += 1
        return self._redact(released)

    def flush(self) -> list[tuple[FrameResult, Any]]:
        """All frames still held (at the end of the stream)."""
        return self._redact(self.regions.flush())

    def run(self, frames: Iterable[tuple[np.ndarray, Any]]) -> Iterator[tuple[FrameResult, Any]]:
        """Every (frame, payload) of a whole stream: `push` each, then `flush`; the results in frame order."""
        for rgb, payload in frames:
            yield from self.push(rgb, payload)
        yield from self.flush()

    def _redact(self, released: list[tuple[int, Any, Detections]]) -> list[tuple[FrameResult, Any]]:
        redact = self.anonymizer.redact
        return [(FrameResult(redact(rgb, regions, inplace=True), regions, index), payload)
                for index, (rgb, payload), regions in released]
