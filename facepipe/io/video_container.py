"""What a video file holds and how one is opened: `VideoInfo`, `Frame`, the checks that refuse
a damaged container, and the display matrix that turns stored frames upright."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from facepipe.errors import InputError

__all__ = ["AudioStreamInfo", "Frame", "VIDEO_EXTENSIONS", "VideoInfo", "is_video_file"]

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".wmv", ".flv",
     ".3gp", ".ogv", ".mxf"}
)

# Containers whose movie header keeps edit lists in its own timescale: a coarse default
# (1/1000 s) rounds the start offset of audio that begins late, shifting it by up to 1 ms.
_MOV_FORMATS = frozenset({"mp4", "mov", "ipod", "3gp", "3g2", "psp", "ismv", "f4v"})


def _av():
    try:
        import av
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise InputError("video support needs PyAV: pip install 'facepipe[video]' (or pip install av)") from exc
    return av


def is_video_file(path: str | os.PathLike[str]) -> bool:
    """True when the file name has a known video extension (content is checked on open)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


@dataclass(frozen=True)
class AudioStreamInfo:
    index: int
    codec: str
    sample_rate: int
    channels: int
    time_base: Fraction
    language: str | None = None


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, as seen after turning frames upright.

    width/height: size of the frames `VideoReader` yields (display orientation).
    rotation: counter-clockwise degrees the stored frames are turned to display them (0/90/180/270).
    fps: average frame rate (None if the container does not say).
    frame_count: frames according to the container's index (None if it has none, e.g. Matroska).
    duration: seconds (container's figure; None if unknown).
    """

    path: Path
    width: int
    height: int
    coded_width: int
    coded_height: int
    rotation: int
    fps: Fraction | None
    time_base: Fraction
    frame_count: int | None
    duration: float | None
    codec: str
    pix_fmt: str | None
    container_format: str
    audio: tuple[AudioStreamInfo, ...] = ()
    color: dict[str, int] = field(default_factory=dict)

    @property
    def has_audio(self) -> bool:
        return bool(self.audio)


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded frame. image: (H, W, 3) uint8 RGB, upright; pts in `time_base` units."""

    index: int
    image: np.ndarray
    pts: int
    time_base: Fraction
    duration: int | None = None

    @property
    def time(self) -> float:
        """Presentation time in seconds."""
        return float(self.pts * self.time_base)


def _fraction(x: Any) -> Fraction | None:
    if x is None:
        return None
    # A float rate (a camera's 29.97002997...) as an exact Fraction has a 2**52 denominator, which FFmpeg's
    # 32-bit rationals cannot hold; the nearest small fraction recovers 30000/1001 and the like.
    f = Fraction(x).limit_denominator(100_000) if isinstance(x, float) else Fraction(x)
    return f if f > 0 else None


def _ffmpeg_error_types() -> tuple[type[BaseException], ...]:
    av = _av()
    return (av.FFmpegError, OSError)


def _check_isobmff_boxes(path: Path) -> None:
    """Refuse an MP4/MOV whose top-level boxes run past the end of the file.

    FFmpeg opens such files when only the tail of the `moov` index is cut off
    and then silently drops the tracks it could not parse (often the audio);
    the box sizes say exactly how long the file must be.
    """
    size = path.stat().st_size
    with path.open("rb") as f:
        pos = 0
        while pos + 8 <= size:
            f.seek(pos)
            head = f.read(16)
            box_size = int.from_bytes(head[:4], "big")
            box_type = head[4:8].decode("latin-1")
            if box_size == 1 and len(head) >= 16:
                box_size = int.from_bytes(head[8:16], "big")
            elif box_size == 0:  # "extends to the end of the file"
                return
            if box_size < 8:
                return  # not a box structure we understand; leave it to FFmpeg
            if pos + box_size > size:
                raise InputError(f"{path}: the file is truncated ({box_type!r} box needs {pos + box_size} bytes,"
                                 f" the file has {size})")
            pos += box_size


def _display_transform(matrix_bytes: bytes | None) -> tuple[bool, bool, bool]:
    """(transpose, flip_x, flip_y) that turn stored pixels into display orientation.

    FFmpeg's display matrix maps a source point (p, q) to (a·p + c·q, b·p + d·q)
    (libavutil/display.h: [p' q' 1] = [p q 1]·M, M = [[a b u] [c d v] [x y w]]).
    Applied as: transpose first, then flip the display x axis, then the display y axis.
    """
    if not matrix_bytes or len(matrix_bytes) < 36:
        return False, False, False
    m = np.frombuffer(matrix_bytes[:36], dtype="<i4").astype(np.float64)
    a, b, c, d = m[0], m[1], m[3], m[4]
    if abs(a) + abs(d) >= abs(b) + abs(c):  # x stays x (0° or 180°, maybe mirrored)
        return False, a < 0, d < 0
    # x' depends on q (source y) and y' on p (source x): a quarter turn.
    return True, c < 0, b < 0


def _rotation_degrees(transpose: bool, flip_x: bool, flip_y: bool) -> int:
    """Counter-clockwise display rotation of a pure rotation transform (mirrors report their rotation part)."""
    if not transpose:
        return 180 if (flip_x and flip_y) else 0
    return 90 if flip_y and not flip_x else 270 if flip_x and not flip_y else 0


def _open_input(path: Path):
    av = _av()
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a video file")
    try:
        container = av.open(str(path), mode="r")
    except _ffmpeg_error_types() as exc:
        raise InputError(f"{path}: cannot open as a video ({_why(exc)})") from exc
    if not container.streams.video:
        container.close()
        raise InputError(f"{path}: has no video stream")
    return container


class _RGBConverter:
    """Decoded frames -> RGB uint8 arrays through one swscale context, in the calling thread.

    `av_frame.to_ndarray(format="rgb24")` gives each frame a reformatter of its own, and PyAV 14+
    asks swscale for "automatic" slice threads: every frame then builds a new scaling context and
    starts and joins a pool of threads (two a frame on a 2-core machine) for a conversion of about
    a millisecond (benchmarks/RESULTS.md, "Speed, fourth pass"). One context, converting in the
    decoding thread, gives the same pixels. Not thread-safe: one per reader.
    """

    def __init__(self) -> None:
        from av.video.reformatter import VideoReformatter

        self._reformatter = VideoReformatter()
        self._threads: bool = True  # PyAV < 14 has no `threads` argument (and no slice threads)

    def __call__(self, av_frame: Any) -> np.ndarray:
        if self._threads:
            try:
                return self._reformatter.reformat(av_frame, format="rgb24", threads=1).to_ndarray()
            except TypeError:
                self._threads = False
        return self._reformatter.reformat(av_frame, format="rgb24").to_ndarray()


def _why(exc: BaseException) -> str:
    msg = getattr(exc, "strerror", None) or str(exc)
    return msg.strip() or type(exc).__name__
