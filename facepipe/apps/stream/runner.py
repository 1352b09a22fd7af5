"""The streaming loop: frames in, face tracked and shaped, one datagram per target per frame out.

Runs on the calling thread (a camera's grabber is the only other thread).
`Streamer.stop()` (from a signal handler or another thread) ends the loop after the frame it is
on, so every datagram sent is counted; a KeyboardInterrupt also ends it, wherever it lands. The
caller closes targets and source (the CLI does, with `with` blocks).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from facepipe.apps.stream.config import Calibration
from facepipe.apps.stream.frame import FaceFrame
from facepipe.apps.stream.shaping import RawFace, Shaper
from facepipe.apps.stream.sources import SourceFrame
from facepipe.apps.stream.targets import UdpTarget
from facepipe.apps.stream.tracker import FaceTracker
from facepipe.errors import ProcessingError

log = logging.getLogger(__name__)

__all__ = ["CalibrationPlan", "StreamStats", "Streamer"]

_MIN_CALIBRATION_FRAMES = 5


class Source(Protocol):
    fps: float
    dropped: int
    label: str

    def __iter__(self): ...


@dataclass(frozen=True)
class CalibrationPlan:
    """Measure the neutral face over the first `seconds` of the stream and save it to `path`."""

    seconds: float
    path: Path


@dataclass
class StreamStats:
    """Counters of one run; latencies are frame-in -> last packet out, ms, one per processed frame."""

    processed: int = 0
    tracked: int = 0
    dropped: int = 0
    packets: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    def latency(self, q: float, skip_first: bool = True) -> float:
        """Latency percentile q (0-100), ms; the first frame (model warm-up, face detection) left out."""
        lat = self.latencies_ms[1:] if skip_first and len(self.latencies_ms) > 1 else self.latencies_ms
        return float(np.percentile(lat, q)) if lat else float("nan")

    def summary(self) -> str:
        return (f"{self.processed} frames in {self.seconds:.1f} s ({self.fps:.1f} fps), face in {self.tracked},"
                f" dropped {self.dropped}, latency median {self.latency(50):.1f} ms p99 {self.latency(99):.1f} ms")


class Streamer:
    """Tracks the face in each frame of a source and sends it to every target."""

    def __init__(self, tracker: FaceTracker, shaper: Shaper, targets: Sequence[UdpTarget], *,
                 calibration: CalibrationPlan | None = None,
                 status: Callable[[StreamStats], None] | None = None, status_every_s: float = 1.0,
                 on_frame: Callable[[SourceFrame, FaceFrame, StreamStats], bool] | None = None) -> None:
        self.tracker, self.shaper, self.targets = tracker, shaper, list(targets)
        self.calibration = calibration
        self.status, self.status_every_s, self.on_frame = status, status_every_s, on_frame
        self.stats = StreamStats(packets={t.label: 0 for t in self.targets})
        self._samples: list[RawFace] = []
        self._calibrating = calibration is not None
        self._calibration_start: float | None = None
        self._stop = threading.Event()

    def stop(self) -> None:
        """End `run` after the frame it is on (safe from a signal handler or another thread)."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        """Whether `stop` was called."""
        return self._stop.is_set()

    def run(self, source: Source) -> StreamStats:
        stats = self.stats
        start = time.perf_counter()
        next_status = start + self.status_every_s
        last_ms = -1
        try:
            for item in source:
                if self._stop.is_set():
                    break
                # Landmarker timestamps must increase strictly, even for >1000 fps or repeated pts.
                ms = max(int(round(item.time_s * 1000.0)), last_ms + 1)
                last_ms = ms
                raw = self.tracker.track(item.image, ms)
                self._calibrate(raw, item.time_s)
                frame = self.shaper(raw, item.index, item.time_s, source.fps)
                for target in self.targets:
                    if target.send(frame):
                        stats.packets[target.label] += 1
                now = time.perf_counter()
                stats.latencies_ms.append((now - item.arrived) * 1000.0)
                stats.processed += 1
                stats.tracked += int(frame.tracked)
                stats.dropped = source.dropped
                stats.seconds = now - start
                if self.on_frame is not None and not self.on_frame(item, frame, stats):
                    break
                if self._stop.is_set():
                    break
                if self.status is not None and now >= next_status:
                    self.status(stats)
                    next_status = now + self.status_every_s
        finally:
            stats.dropped = source.dropped
            stats.seconds = time.perf_counter() - start
        if self._calibrating:
            self._finish_calibration()
        return stats

    def _calibrate(self, raw: RawFace, time_s: float) -> None:
        plan = self.calibration
        if not self._calibrating or plan is None:
            return
        if self._calibration_start is None:
            self._calibration_start = time_s
        if raw.found:
            self._samples.append(raw)
        if time_s - self._calibration_start >= plan.seconds:
            self._finish_calibration()

    def _finish_calibration(self) -> None:
        plan = self.calibration
        self._calibrating = False
        if plan is None:
            return
        samples = self._samples
        if len(samples) < _MIN_CALIBRATION_FRAMES:
            raise ProcessingError(f"calibration needs a face held still in view: only {len(samples)} of the frames"
                                  f" had one (at least {_MIN_CALIBRATION_FRAMES} needed); nothing saved")
        cal = Calibration.from_samples(np.stack([s.blendshapes for s in samples]),
                                       np.stack([s.head_euler_deg for s in samples]),
                                       np.stack([s.translation_cm for s in samples]),
                                       np.stack([s.gaze_deg for s in samples]))
        cal.save(plan.path)
        self.shaper.set_calibration(cal)
        log.warning("calibrated the neutral face on %d frames; saved %s", cal.frames, plan.path)
