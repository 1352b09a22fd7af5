"""Random access to the frames of a video file, by frame number (for previews and scrubbing).

`VideoReader` decodes a file once, front to back. A preview needs frame N now, then N+1 (play)
or any other (a seek slider). `FrameSeeker` indexes the presentation times of the video packets
once (demuxing only, no decoding), then for frame N seeks to the key frame before it and decodes
forward to it; a frame ahead of the last one read, with no key frame in between, is reached by
decoding on from there (no seek: in a file with one key frame, a seek decodes from frame 0). With
`keep`, the last `keep` frames decoded on the way (YUV, as decoded) are kept, so going back a
few frames, or to one passed on the way, costs only its conversion to RGB. Frame N is the
N-th frame `VideoReader` yields (the same pixels, upright), for files whose packets all carry
timestamps.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from facepipe.errors import InputError
from facepipe.io.video import VideoInfo, VideoReader
from facepipe.io.video_container import _open_input, _RGBConverter

__all__ = ["FrameSeeker"]


class FrameSeeker:
    """frame(index) -> upright RGB uint8 image. Thread-safe (one decode at a time).
    keep: how many decoded frames to keep (0: none)."""

    def __init__(self, path: str | os.PathLike[str], *, keep: int = 0) -> None:
        if keep < 0:
            raise ValueError(f"keep must be >= 0, got {keep}")
        self.path = Path(path)
        self.keep = keep
        with VideoReader(self.path) as reader:  # validates the file, learns the orientation
            self.info: VideoInfo = reader.info
            self._upright = reader._to_upright
            self._container = _open_input(self.path)
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._pts, self._keys = self._index_pts()
        if not len(self._pts):
            self.close()
            raise InputError(f"{self.path}: no video frames with timestamps; cannot seek in it")
        self._lock = threading.Lock()
        self._rgb = _RGBConverter()  # used under the lock
        self._decoded: Any = None  # the decoding generator after the last frame returned
        self._next = -1  # index the generator yields next
        self._index_of = {int(p): i for i, p in enumerate(self._pts)}
        self._kept: OrderedDict[int, Any] = OrderedDict()  # index -> decoded frame (av.VideoFrame)
        self.seeks = 0  # how many times decoding restarted at a key frame (for tests and benchmarks)

    def _index_pts(self) -> tuple[np.ndarray, np.ndarray]:
        """Presentation times of all frames, in presentation order, and the indices of the key frames."""
        pts, keys = [], []
        for p in self._container.demux(self._stream):
            if p.size and p.pts is not None:
                pts.append(p.pts)
                if p.is_keyframe:
                    keys.append(p.pts)
        self._container.seek(0, stream=self._stream)
        pts = np.unique(np.asarray(pts, np.int64))  # presentation order
        return pts, np.searchsorted(pts, np.asarray(sorted(keys), np.int64))

    def __len__(self) -> int:
        return len(self._pts)

    def time_ms(self, index: int) -> float:
        return float((self._pts[index] - self._pts[0]) * self.info.time_base * 1000)

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` (0 <= index < len(self)) as an upright RGB image."""
        if not 0 <= index < len(self._pts):
            raise IndexError(f"frame {index} outside 0..{len(self._pts) - 1}")
        with self._lock:
            av_frame = self._kept.get(index)
            if av_frame is not None:
                self._kept.move_to_end(index)
            else:
                av_frame = self._decode_to(index)
            return self._upright(self._rgb(av_frame))

    def _decode_to(self, index: int) -> Any:
        target = int(self._pts[index])
        # The key frame at or before `index`: if the decoder is not past it yet, decoding on from
        # where it is reaches `index` with no more work than a seek would (usually much less).
        before = int(np.searchsorted(self._keys, index, side="right")) - 1
        k = int(self._keys[before]) if before >= 0 else 0
        if self._decoded is None or not (k <= self._next <= index):
            self._decoded = self._decode_from(target)
            self.seeks += 1
        for av_frame in self._decoded:
            got = self._index_of.get(av_frame.pts) if av_frame.pts is not None else None
            if got is None:
                continue
            self._remember(got, av_frame)  # the frames on the way too
            self._next = got + 1
            if got >= index:  # (>: the first frame after the target's timestamp, as a seek gives)
                return av_frame
        self._decoded = None
        raise InputError(f"{self.path}: frame {index} could not be decoded")

    def _remember(self, index: int, av_frame: Any) -> None:
        if self.keep:
            self._kept[index] = av_frame
            self._kept.move_to_end(index)
            while len(self._kept) > self.keep:
                self._kept.popitem(last=False)

    def _decode_from(self, target: int):
        self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        for packet in self._container.demux(self._stream):
            yield from packet.decode()

    def close(self) -> None:
        self._decoded = None
        self._kept.clear()
        self._container.close()

    def __enter__(self) -> FrameSeeker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

