"""What every compat vision task shares: options -> model files, running modes, timestamps, live stream."""

from __future__ import annotations

import contextlib
import os
import queue
import tempfile
import threading
import zipfile
from collections.abc import Callable
from typing import Any

from facepipe.compat.mediapipe._image import Image
from facepipe.compat.mediapipe.tasks.python.vision.core.vision_task_running_mode import (
    VisionTaskRunningMode as RunningMode,
)


class ModelFiles:
    """The .tflite members of a .task bundle (or a single .tflite), as files for facepipe's models.

    A bundle is unpacked into a private temporary folder that lives as long as this object.
    """

    def __init__(self, base_options: Any) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.files: dict[str, str] = {}
        path = getattr(base_options, "model_asset_path", None)
        buffer = getattr(base_options, "model_asset_buffer", None)
        if path is None and buffer is None:
            self.single = None  # facepipe's model store supplies the default models
            return
        if buffer is not None:
            self._tmp = tempfile.TemporaryDirectory(prefix="facepipe-compat-")
            path = os.path.join(self._tmp.name, "model.task" if buffer[:2] == b"PK" else "model.tflite")
            with open(path, "wb") as f:
                f.write(buffer)
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise RuntimeError(f"Unable to open file at {path}")
        if zipfile.is_zipfile(path) and not path.endswith(".tflite"):
            if self._tmp is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="facepipe-compat-")
            with zipfile.ZipFile(path) as z:
                for name in z.namelist():
                    if "/" not in name and ".." not in name:
                        self.files[name] = z.extract(name, self._tmp.name)
            self.single = None
        else:
            self.single = path

    def member(self, name: str) -> str | None:
        return self.files.get(name)

    def runtime(self, members: dict[str, str], single: str) -> Any:
        """facepipe RuntimeOptions using these files: `members` maps registered model name -> bundle
        member; a lone .tflite stands for the registered model `single`. Unnamed models come from the store."""
        from facepipe import RuntimeOptions

        paths = {name: self.files[m] for name, m in members.items() if m in self.files}
        if self.single is not None:
            paths[single] = self.single
        return RuntimeOptions(model_paths=paths)


class _LiveStream:
    """Runs frames on a worker thread and hands results to the user's callback; a frame still
    waiting when the next arrives is dropped (MediaPipe's flow limiter does the same)."""

    def __init__(self, run: Callable[[Image, int], Any], callback: Callable[[Any, Image, int], None]) -> None:
        self._run, self._callback = run, callback
        self._queue: queue.Queue[tuple[Image, int] | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="facepipe-compat-live", daemon=True)
        self._thread.start()

    def submit(self, image: Image, timestamp_ms: int) -> None:
        if self._error is not None:
            raise self._error
        try:
            self._queue.put_nowait((image, timestamp_ms))
        except queue.Full:
            with contextlib.suppress(queue.Empty):
                self._queue.get_nowait()  # drop the stale frame
            self._queue.put_nowait((image, timestamp_ms))

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            image, ts = item
            try:
                self._callback(self._run(image, ts), image, ts)
            except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's next call
                self._error = exc

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()


class VisionTask:
    """Base of FaceDetector, FaceLandmarker, HandLandmarker and PoseLandmarker."""

    _OPTIONS: type

    def __init__(self, options: Any) -> None:
        mode = options.running_mode
        callback = getattr(options, "result_callback", None)
        if mode is RunningMode.LIVE_STREAM and callback is None:
            raise ValueError("The vision task is in live stream mode, a user-defined result callback must be "
                             "provided.")
        if mode is not RunningMode.LIVE_STREAM and callback is not None:
            raise ValueError("The vision task is in image or video mode, a user-defined result callback should "
                             "not be provided.")
        self._mode = mode
        self._last_ts: int | None = None
        self._models = ModelFiles(options.base_options)
        self._impl = self._create(options, self._models)
        self._live = _LiveStream(self._run_video, callback) if mode is RunningMode.LIVE_STREAM else None

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def create_from_model_path(cls, model_path: str):
        from facepipe.compat.mediapipe.tasks.python.core.base_options import BaseOptions

        return cls(cls._OPTIONS(base_options=BaseOptions(model_asset_path=model_path),
                                running_mode=RunningMode.IMAGE))

    @classmethod
    def create_from_options(cls, options: Any):
        return cls(options)

    def _create(self, options: Any, models: ModelFiles) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- running -----------------------------------------------------------------------------------

    def _require(self, mode: RunningMode) -> None:
        if self._impl is None:
            raise ValueError("Task runner is currently not running.")
        if self._mode is not mode:
            raise ValueError(f"Task is not initialized with the {mode.name.lower().replace('_', ' ')} mode. "
                             f"Current running mode:{self._mode.name}")

    def _timestamp(self, timestamp_ms: int) -> int:
        ts = int(timestamp_ms)
        if self._last_ts is not None and ts <= self._last_ts:
            raise ValueError(f"Input timestamp must be monotonically increasing: {ts} ms after {self._last_ts} ms")
        self._last_ts = ts
        return ts

    def detect(self, image: Image, image_processing_options: Any = None) -> Any:
        """Results for one image (IMAGE mode)."""
        self._require(RunningMode.IMAGE)
        _no_roi(image_processing_options)
        return self._run(image, None)

    def detect_for_video(self, image: Image, timestamp_ms: int, image_processing_options: Any = None) -> Any:
        """Results for one video frame (VIDEO mode); timestamps must increase."""
        self._require(RunningMode.VIDEO)
        _no_roi(image_processing_options)
        return self._run_video(image, self._timestamp(timestamp_ms))

    def detect_async(self, image: Image, timestamp_ms: int, image_processing_options: Any = None) -> None:
        """Queue a frame (LIVE_STREAM mode); its results go to the options' result_callback."""
        self._require(RunningMode.LIVE_STREAM)
        _no_roi(image_processing_options)
        self._live.submit(image, self._timestamp(timestamp_ms))  # type: ignore[union-attr]

    def _run_video(self, image: Image, timestamp_ms: int) -> Any:
        return self._run(image, timestamp_ms)

    def _run(self, image: Image, timestamp_ms: int | None) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        if self._live is not None:
            self._live.close()
            self._live = None
        impl, self._impl = self._impl, None
        if impl is not None and hasattr(impl, "close"):
            impl.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _no_roi(image_processing_options: Any) -> None:
    if image_processing_options is None:
        return
    roi = getattr(image_processing_options, "region_of_interest", None)
    rot = getattr(image_processing_options, "rotation_degrees", 0)
    if roi is not None or rot:
        raise NotImplementedError("image_processing_options (region of interest, rotation) is not implemented in "
                                  "facepipe.compat; rotate or crop the image first (numpy / cv2.rotate)")


def pixels(image: Any):  # noqa: ANN201
    """RGB uint8 pixels of an mp.Image (MediaPipe takes only its Image type)."""
    if not isinstance(image, Image):
        raise TypeError(f"the Tasks API takes an mp.Image, got {type(image).__name__} "
                        "(wrap arrays: mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))")
    return image._rgb()
