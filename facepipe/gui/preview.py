"""The preview: one frame of the open file with the redaction applied, computed off the UI thread.

`PreviewEngine` (no Qt) does the work through the anonymizer's own API: the frame from a
`FrameSeeker` (video) or the image file (photo), faces from the anonymizer's `FaceFinder` (all
tiles of the frame, as for a still), the redaction from `Anonymizer.redact`. Faces found in a
frame are kept per (frame, detection options), so a change of method, shape or mask scale only
redraws.

A new threshold runs the finder again, but not its models: the engine's finders run inside
`memoized_inference` (runtime/memo.py), so a model run on an input tensor it saw before (the
whole frame, the zoomed-out frame, every tile: their inputs do not depend on the threshold)
returns the stored outputs, and the finder's own logic (score cut, weighted NMS, gating,
verification) runs on them as in a fresh run. The regions are therefore exactly a fresh run's
(tests/test_gui_preview_cache.py checks it on real frames); only crops that depend on what was
kept (the verifier's, `_found_in_crop`'s) can be new and run their model. Filtering the regions
of one run at the lowest threshold would not be exact: BlazeFace's weighted NMS blends every
candidate above the threshold into the boxes, and gating counts views per candidate. The models
themselves load once per engine (`shared_models`), not once per threshold.

Seeking: the `FrameSeeker` stays open and keeps the last frames it decoded, a frame ahead is
decoded on from where the decoder is, and in idle time the worker decodes a few frames ahead
of the last one shown and finds the faces of the next one (step, play), giving way to any request
within one model run (`InferenceStopped`; the runs done stay in the memo). `PreviewWorker`
sends the raw frame (`raw`) as soon as it is decoded when the redaction still has to detect
faces, so a seek shows the picture at once and the redacted one when ready. It drops stale
requests: while a frame is being computed only the newest request waits, and the older ones are
never computed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal, Slot

from facepipe.errors import FacepipeError, InputError
from facepipe.gui.settings import GuiSettings, anonymize_options
from facepipe.gui.worker import ThreadWorker
from facepipe.runtime.memo import InferenceMemo, InferenceStopped, memoized_inference, shared_models

log = logging.getLogger(__name__)

__all__ = ["PreviewEngine", "PreviewFrame", "PreviewRequest", "PreviewWorker", "RawFrame"]

FRAMES_KEPT = 8  # RGB frames kept by the engine (settings changes redraw without decoding)
DECODED_KEPT = 32  # decoded frames the seeker keeps (scrubbing back and forth a little)
AHEAD = 4  # frames decoded ahead in idle time
DETECT_AHEAD = True  # find the next frame's faces in idle time (bench_gui_preview.py --no-detect-ahead)
MEMO_BYTES = 192 << 20  # model outputs kept for re-detection (about 5 MB per 720p frame)


@dataclass(frozen=True)
class PreviewRequest:
    index: int
    settings: GuiSettings
    serial: int = 0


@dataclass(frozen=True, eq=False)
class PreviewFrame:
    """original / redacted: RGB images; faces: regions redacted; seconds: time to compute;
    model_runs / reused: model runs this frame's detection made / took from the memo (0 / 0: its
    faces were known)."""

    index: int
    original: np.ndarray
    redacted: np.ndarray
    faces: int
    seconds: float
    serial: int = 0
    model_runs: int = 0
    reused: int = 0


@dataclass(frozen=True, eq=False)
class RawFrame:
    """The frame of a request, before its faces are found (sent only when that takes a while)."""

    index: int
    original: np.ndarray
    serial: int = 0


class PreviewEngine:
    """Frames of one photo or video, redacted with the given settings. One caller at a time."""

    def __init__(self, path: str | Path) -> None:
        """path: a photo, a video, or "camera:N" (camera N: frame() reads its next frame)."""
        from facepipe.io.video import is_video_file

        self.path = Path(path)
        self.is_camera = str(path).startswith("camera:")
        self.is_video = self.is_camera or is_video_file(self.path)
        self._seeker = self._camera = None
        self._photo: np.ndarray | None = None
        if self.is_camera:
            from facepipe.jobs import open_camera

            self._camera = open_camera(int(str(path).split(":", 1)[1]))
            self._camera_frames = iter(self._camera)
            self.frame_count, self.fps = 0, float(self._camera.fps or 30.0)
        elif self.is_video:
            from facepipe.io.video_seek import FrameSeeker

            self._seeker = FrameSeeker(self.path, keep=DECODED_KEPT)
            self.frame_count = len(self._seeker)
            fps = self._seeker.info.fps
            self.fps = float(fps) if fps else 25.0
        else:
            from facepipe.io.image import read_image_file

            self._photo = read_image_file(self.path).rgb
            self.frame_count, self.fps = 1, 0.0
        self._anonymizers: dict[str, object] = {}  # by options (the redactor's models load once)
        self._finders: dict[str, object] = {}
        self._regions: OrderedDict[tuple[int, str], object] = OrderedDict()
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self.memo = InferenceMemo(MEMO_BYTES)
        self._models: dict = {}  # shared_models pool: every model loads once per engine

    def frame(self, index: int) -> np.ndarray:
        if self._camera is not None:
            got = next(self._camera_frames, None)
            if got is None:
                raise InputError(f"{self.path}: the camera stopped delivering frames")
            return got.image
        if self._seeker is None:
            return self._photo
        image = self._frames.get(index)
        if image is None:
            image = self._seeker.frame(index)
            self._frames[index] = image
            while len(self._frames) > FRAMES_KEPT:
                self._frames.popitem(last=False)
        else:
            self._frames.move_to_end(index)
        return image

    def has_frame(self, index: int) -> bool:
        return index in self._frames

    def has_regions(self, index: int, settings: GuiSettings) -> bool:
        """Whether `render(index, settings)` needs no detection (its faces are known)."""
        if self.is_camera:
            return False
        options = anonymize_options(settings)
        return (index, repr(options.detect if self.is_video else options.image_detect)) in self._regions

    def _finder(self, options):
        """One FaceFinder per detection options: models load once, not at every change."""
        from facepipe.apps.anonymize import FaceFinder

        key = repr(options)
        if key not in self._finders:
            with shared_models(self._models):
                self._finders[key] = FaceFinder(options)
            if len(self._finders) > 16:
                self._finders.pop(next(iter(self._finders)))
        return self._finders[key]

    def _anonymizer(self, settings: GuiSettings):
        from facepipe.apps.anonymize import Anonymizer

        options = anonymize_options(settings)
        key = repr(options)
        anonymizer = self._anonymizers.get(key)
        if anonymizer is None:
            # Only the finder this file needs (the other one would load its models for nothing).
            finder = self._finder(options.detect if self.is_video else options.image_detect)
            with shared_models(self._models):
                anonymizer = Anonymizer(options, **{"detector" if self.is_video else "image_detector": finder})
            if len(self._anonymizers) > 8:
                self._anonymizers.pop(next(iter(self._anonymizers)))
            self._anonymizers[key] = anonymizer
        return anonymizer

    def regions(self, index: int, settings: GuiSettings, *, stop=None):
        """The regions redacted in frame `index` under `settings` (the faces found in it).
        stop: see `memoized_inference` (InferenceStopped when it says so before a model run)."""
        from facepipe.apps.anonymize.regions import detected_regions

        index = min(max(0, index), max(self.frame_count - 1, 0))
        rgb = self.frame(index)
        anonymizer = self._anonymizer(settings)
        finder = anonymizer.detector if self.is_video else anonymizer.image_detector
        key = (index, repr(finder.options))
        regions = None if self.is_camera else self._regions.get(key)
        if regions is None:
            with shared_models(self._models), \
                    memoized_inference(None if self.is_camera else self.memo, stop=stop):
                regions = detected_regions(finder.detect(rgb))
            if not self.is_camera:
                self._regions[key] = regions
            while len(self._regions) > 256:
                self._regions.popitem(last=False)
        else:
            self._regions.move_to_end(key)
        return regions

    def render(self, index: int, settings: GuiSettings) -> PreviewFrame:
        t0 = time.perf_counter()
        hits, misses = self.memo.hits, self.memo.misses
        index = min(max(0, index), max(self.frame_count - 1, 0))
        regions = self.regions(index, settings)
        rgb = self.frame(index)
        anonymizer = self._anonymizer(settings)
        with shared_models(self._models):  # the face mesh of shape "hull" loads once too
            redacted = anonymizer.redact(rgb, regions)
        return PreviewFrame(index, rgb, redacted, len(regions), time.perf_counter() - t0,
                            model_runs=self.memo.misses - misses, reused=self.memo.hits - hits)

    def close(self) -> None:
        self.memo.clear()
        if self._seeker is not None:
            self._seeker.close()
        if self._camera is not None:
            self._camera.close()


class PreviewWorker(ThreadWorker):
    """Owns a PreviewEngine in a thread of its own. `submit` from the UI thread; `ready` or
    `failed` come back (queued to the UI thread). Only the newest pending request is computed."""

    ready = Signal(object)  # PreviewFrame
    raw = Signal(object)  # RawFrame: the picture of a request whose faces are still being found
    failed = Signal(str)
    opened = Signal(object)  # PreviewEngine (frame_count, fps, is_video)
    _wake = Signal()
    _open = Signal(str)
    _ahead = Signal(int)

    def __init__(self) -> None:
        super().__init__("facepipe-preview")
        self._wake.connect(self._work)
        self._open.connect(self._do_open)
        self._ahead.connect(self._decode_ahead)
        self._lock = threading.Lock()
        self._pending: PreviewRequest | None = None
        self._serial = 0
        self._shown_index: int | None = None
        self._shown_settings: GuiSettings | None = None
        self.engine: PreviewEngine | None = None

    def open(self, path: str) -> None:
        with self._lock:
            self._pending = None
        self._open.emit(path)

    def submit(self, index: int, settings: GuiSettings) -> int:
        """Ask for frame `index` with `settings`; returns the request's serial number."""
        with self._lock:
            self._serial += 1
            self._pending = PreviewRequest(index, settings, self._serial)
            serial = self._serial
        self._wake.emit()
        return serial

    @Slot(str)
    def _do_open(self, path: str) -> None:
        try:
            engine = PreviewEngine(path)
        except FacepipeError as exc:
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - shown in a dialog, as the CLI would print it
            self.failed.emit(f"{path}: {type(exc).__name__}: {exc}")
            return
        if self.engine is not None:
            self.engine.close()
        self.engine = engine
        self.opened.emit(engine)

    @Slot()
    def _work(self) -> None:
        with self._lock:
            request, self._pending = self._pending, None
        if request is None or self.engine is None:
            return  # an older wake-up whose request a newer one replaced (already computed)
        self._shown_index, self._shown_settings = request.index, request.settings
        try:
            engine = self.engine
            if engine.is_video and not engine.is_camera and not engine.has_regions(request.index, request.settings):
                # Faces to find: show the picture first (a seek is decoded in milliseconds, found in more).
                index = min(max(0, request.index), max(engine.frame_count - 1, 0))
                self.raw.emit(RawFrame(index, engine.frame(index), request.serial))
            frame = engine.render(request.index, request.settings)
        except FacepipeError as exc:
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - shown in a dialog
            self.failed.emit(f"{self.engine.path}: preview failed at frame {request.index}"
                             f" ({type(exc).__name__}: {exc})")
            return
        self.ready.emit(replace(frame, serial=request.serial))
        if self.engine.is_video and not self.engine.is_camera:
            self._ahead.emit(frame.index + 1)

    def _waiting(self) -> bool:
        """Whether a request waits (or the worker stops): speculative work gives way to it."""
        with self._lock:
            return self._pending is not None or self.cancel_event.is_set()

    @Slot(int)
    def _decode_ahead(self, index: int) -> None:
        """Idle time: decode frame `index` into the engine's frames, then the next one (up to AHEAD
        past the frame shown), then find the faces of the frame after the one shown (step, play).
        A request that comes in waits for one frame's decoding or one model run at most: the
        detection stops there (`InferenceStopped`), keeping the model runs it did in the memo."""
        engine = self.engine
        if self._waiting() or engine is None or index >= engine.frame_count:
            return
        shown = self._shown_index if self._shown_index is not None else index - 1
        if index > shown + AHEAD:
            if DETECT_AHEAD and self._shown_settings is not None and shown + 1 < engine.frame_count:
                self._detect_ahead(shown + 1, self._shown_settings)
            return
        try:
            if not engine.has_frame(index):
                engine.frame(index)
        except Exception:  # noqa: BLE001 - a frame that cannot be decoded fails when it is asked for
            log.debug("decoding ahead stopped at frame %d", index, exc_info=True)
            return
        self._ahead.emit(index + 1)

    def _detect_ahead(self, index: int, settings: GuiSettings) -> None:
        engine = self.engine
        if engine.has_regions(index, settings):
            return
        try:
            engine.regions(index, settings, stop=self._waiting)
        except InferenceStopped:
            log.debug("finding faces ahead in frame %d gave way to a request", index)
        except Exception:  # noqa: BLE001 - the request for that frame reports it
            log.debug("finding faces ahead in frame %d failed", index, exc_info=True)

    def stop(self) -> None:
        """Finish the current frame and end the thread (call before the app quits)."""
        with self._lock:
            self._pending = None
        super().stop()
        if self.engine is not None:
            self.engine.close()
            self.engine = None
