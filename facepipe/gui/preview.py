"""The preview: one frame of the open file with the redaction applied, computed off the UI thread.

`PreviewEngine` (no Qt) does the work through the anonymizer's own API: the frame from a
`FrameSeeker` (video) or the image file (photo), faces from the anonymizer's `FaceFinder` (all
tiles of the frame, as for a still), the redaction from `Anonymizer.redact`. Faces found in a
frame are kept per (frame, detection options), so a change of method, shape or mask scale only
redraws; a new threshold detects again. `PreviewWorker` runs the engine in a QThread and drops
stale requests: while a frame is being computed only the newest request waits, and the older
ones are never computed.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal, Slot

from facepipe.errors import FacepipeError, InputError
from facepipe.gui.settings import GuiSettings, anonymize_options
from facepipe.gui.worker import ThreadWorker

__all__ = ["PreviewEngine", "PreviewFrame", "PreviewRequest", "PreviewWorker"]


@dataclass(frozen=True)
class PreviewRequest:
    index: int
    settings: GuiSettings
    serial: int = 0


@dataclass(frozen=True, eq=False)
class PreviewFrame:
    """original / redacted: RGB images; faces: regions redacted; seconds: time to compute."""

    index: int
    original: np.ndarray
    redacted: np.ndarray
    faces: int
    seconds: float
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

            self._seeker = FrameSeeker(self.path)
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
            while len(self._frames) > 8:  # a few frames: settings changes redraw without decoding
                self._frames.popitem(last=False)
        else:
            self._frames.move_to_end(index)
        return image

    def _finder(self, options):
        """One FaceFinder per detection options: models load once, not at every change."""
        from facepipe.apps.anonymize import FaceFinder

        key = repr(options)
        if key not in self._finders:
            self._finders[key] = FaceFinder(options)
        return self._finders[key]

    def _anonymizer(self, settings: GuiSettings):
        from facepipe.apps.anonymize import Anonymizer

        options = anonymize_options(settings)
        key = repr(options)
        anonymizer = self._anonymizers.get(key)
        if anonymizer is None:
            anonymizer = Anonymizer(options, detector=self._finder(options.detect),
                                    image_detector=self._finder(options.image_detect))
            if len(self._anonymizers) > 8:
                self._anonymizers.pop(next(iter(self._anonymizers)))
            self._anonymizers[key] = anonymizer
        return anonymizer

    def render(self, index: int, settings: GuiSettings) -> PreviewFrame:
        from facepipe.apps.anonymize.regions import detected_regions

        t0 = time.perf_counter()
        index = min(max(0, index), max(self.frame_count - 1, 0))
        rgb = self.frame(index)
        anonymizer = self._anonymizer(settings)
        finder = anonymizer.detector if self.is_video else anonymizer.image_detector
        key = (index, repr(finder.options))
        regions = None if self.is_camera else self._regions.get(key)
        if regions is None:
            regions = detected_regions(finder.detect(rgb))
            if not self.is_camera:
                self._regions[key] = regions
            while len(self._regions) > 256:
                self._regions.popitem(last=False)
        redacted = anonymizer.redact(rgb, regions)
        return PreviewFrame(index, rgb, redacted, len(regions), time.perf_counter() - t0)

    def close(self) -> None:
        if self._seeker is not None:
            self._seeker.close()
        if self._camera is not None:
            self._camera.close()


class PreviewWorker(ThreadWorker):
    """Owns a PreviewEngine in a thread of its own. `submit` from the UI thread; `ready` or
    `failed` come back (queued to the UI thread). Only the newest pending request is computed."""

    ready = Signal(object)  # PreviewFrame
    failed = Signal(str)
    opened = Signal(object)  # PreviewEngine (frame_count, fps, is_video)
    _wake = Signal()
    _open = Signal(str)

    def __init__(self) -> None:
        super().__init__("facepipe-preview")
        self._wake.connect(self._work)
        self._open.connect(self._do_open)
        self._lock = threading.Lock()
        self._pending: PreviewRequest | None = None
        self._serial = 0
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
        try:
            frame = self.engine.render(request.index, request.settings)
        except FacepipeError as exc:
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - shown in a dialog
            self.failed.emit(f"{self.engine.path}: preview failed at frame {request.index}"
                             f" ({type(exc).__name__}: {exc})")
            return
        self.ready.emit(PreviewFrame(frame.index, frame.original, frame.redacted, frame.faces, frame.seconds,
                                     request.serial))

    def stop(self) -> None:
        """Finish the current frame and end the thread (call before the app quits)."""
        with self._lock:
            self._pending = None
        super().stop()
        if self.engine is not None:
            self.engine.close()
            self.engine = None
