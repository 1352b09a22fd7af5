"""Random access to the frames of a video file, by frame number (for previews and scrubbing).

`VideoReader` decodes a file once, front to back. A preview needs frame N now, then N+1 (play)
or any other (a seek slider). `FrameSeeker` indexes the presentation times of the video packets
once (demuxing only, no decoding), then for frame N seeks to the key frame before it and decodes
forward to it; reading the next frame after the last one just goes on decoding. Frame N is the
N-th frame `VideoReader` yields (the same pixels, upright), for files whose packets all carry
timestamps.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from facepipe.errors import InputError
from facepipe.io.video import VideoInfo, VideoReader
from facepipe.io.video_container import _open_input

__all__ = ["FrameSeeker"]


class FrameSeeker:
    """frame(index) -> upright RGB uint8 image. Thread-safe (one decode at a time)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        with VideoReader(self.path) as reader:  # validates the file, learns the orientation
            self.info: VideoInfo = reader.info
            self._upright = reader._to_upright
            self._container = _open_input(self.path)
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._pts = self._index_pts()
        if not len(self._pts):
            self.close()
            raise InputError(f"{self.path}: no video frames with timestamps; cannot seek in it")
        self._lock = threading.Lock()
        self._decoded: Any = None  # the decoding generator after the last frame returned
        self._next = -1  # index the generator yields next

    def _index_pts(self) -> np.ndarray:
        pts = [p.pts for p in self._container.demux(self._stream) if p.size and p.pts is not None]
        self._container.seek(0, stream=self._stream)
        return np.unique(np.asarray(pts, np.int64))  # presentation order

    def __len__(self) -> int:
        return len(self._pts)

    def time_ms(self, index: int) -> float:
        return float((self._pts[index] - self._pts[0]) * self.info.time_base * 1000)

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` (0 <= index < len(self)) as an upright RGB image."""
        if not 0 <= index < len(self._pts):
            raise IndexError(f"frame {index} outside 0..{len(self._pts) - 1}")
        with self._lock:
            if self._decoded is None or index != self._next:
                self._decoded = self._decode_from(index)
            av_frame = next(self._decoded, None)
            if av_frame is None:
                self._decoded = None
                raise InputError(f"{self.path}: frame {index} could not be decoded")
            self._next = index + 1
            return self._upright(av_frame.to_ndarray(format="rgb24"))

    def _decode_from(self, index: int):
        target = int(self._pts[index])
        self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        for packet in self._container.demux(self._stream):
            for av_frame in packet.decode():
                if av_frame.pts is None or av_frame.pts < target:
                    continue  # decoded on the way from the key frame
                yield av_frame

    def close(self) -> None:
        self._decoded = None
        self._container.close()

    def __enter__(self) -> FrameSeeker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

