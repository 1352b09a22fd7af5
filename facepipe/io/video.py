"""Video files in and out with PyAV: decoded RGB frames with their timestamps, and
an encoder that keeps timing and audio untouched.

Reading (`VideoReader`) yields `Frame`s in presentation order: an RGB uint8
image turned upright according to the stream's display matrix (phone videos),
the frame's own pts (so variable-frame-rate files keep their timing) and its
index. Damage is an error, never a silent short read: a file that cannot be
opened, a packet cut off by truncation, a frame the decoder marks corrupt, or
fewer frames than the container's index promises all raise `InputError`
naming the file.

Writing (`VideoWriter`) encodes RGB frames (H.264 with a CRF quality by
default; any codec/container FFmpeg knows can be chosen) at the pts given, and
can copy the audio streams of a `VideoReader` packet by packet — no
re-encoding, so the audio is bit-identical. Output goes to a temporary file
in the destination folder that replaces the destination only when `close()`
succeeds; on an exception inside `with VideoWriter(...)` (or `abort()`), the
temporary file is deleted and nothing is left behind.

    with VideoReader(src) as reader, VideoWriter.like(reader, dst) as writer:
        for frame in reader:
            writer.write(process(frame.image), frame)
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facepipe.errors import InputError, ProcessingError

log = logging.getLogger(__name__)

__all__ = [
    "AudioStreamInfo",
    "Frame",
    "VideoEncodeOptions",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "is_video_file",
    "probe_video",
    "VIDEO_EXTENSIONS",
]

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


@dataclass(frozen=True)
class VideoEncodeOptions:
    """How `VideoWriter` encodes.

    codec: FFmpeg encoder name ("libx264", "libx265", "libvpx-vp9", "mpeg4", ...).
    crf: constant-rate-factor quality for encoders that have one (x264/x265/vpx: lower is better;
        18 is visually lossless for x264). Ignored when `bitrate` is set.
    preset: encoder speed preset (x264/x265), e.g. "veryfast", "medium".
    pix_fmt: output pixel format; yuv420p plays everywhere.
    bitrate: bits per second instead of CRF.
    container_format: FFmpeg muxer name; None picks it from the file extension.
    codec_options: extra encoder options passed verbatim (e.g. {"tune": "film"}).
    """

    codec: str = "libx264"
    crf: int | None = 18
    preset: str | None = "veryfast"
    pix_fmt: str = "yuv420p"
    bitrate: int | None = None
    container_format: str | None = None
    codec_options: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Checked here, once: a bad value would otherwise surface as an FFmpeg error at the first
        # packet written (for a video with audio: "cannot write audio").
        if self.crf is not None and self.codec in _CRF_CODECS:
            top = 51 if self.codec in ("libx264", "libx265") else 63
            if not 0 <= self.crf <= top:
                raise ValueError(f"crf must be in 0..{top} for {self.codec}, got {self.crf}")
        presets = _PRESETS.get(self.codec)
        if self.preset and presets is not None and self.preset not in presets:
            raise ValueError(f"preset must be one of {', '.join(presets)} for {self.codec}, got {self.preset!r}")
        if self.bitrate is not None and self.bitrate <= 0:
            raise ValueError(f"bitrate must be > 0, got {self.bitrate}")
        with contextlib.suppress(InputError):  # without PyAV there is nothing to encode with anyway
            av = _av()
            try:
                av.VideoFormat(self.pix_fmt)
            except (ValueError, TypeError):
                raise ValueError(f"pix_fmt {self.pix_fmt!r} is not a pixel format FFmpeg knows"
                                 " (e.g. yuv420p, yuv444p, rgb24)") from None


_X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                 "placebo")
_PRESETS = {"libx264": _X26X_PRESETS, "libx265": _X26X_PRESETS}


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


def _why(exc: BaseException) -> str:
    msg = getattr(exc, "strerror", None) or str(exc)
    return msg.strip() or type(exc).__name__


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Read a video's header (and the first frame, for its display matrix)."""
    with VideoReader(path) as reader:
        return reader.info


class VideoReader:
    """Decodes a video file's first video stream into upright RGB `Frame`s.

    Iterate once. `rotate=False` yields frames as stored (ignoring the display
    matrix). Audio packets are demuxed only when a sink is attached (see
    `VideoWriter.like`), and handed over in file order as they are read.
    """

    def __init__(self, path: str | os.PathLike[str], *, rotate: bool = True, threads: int = 0) -> None:
        self.path = Path(path)
        av = _av()
        self._container = _open_input(self.path)
        self._errors = (av.FFmpegError, OSError)
        if self._container.format.name.split(",")[0] in _MOV_FORMATS:
            try:
                _check_isobmff_boxes(self.path)
            except InputError:
                self._container.close()
                raise
        self._vstream = self._container.streams.video[0]
        # Frame-threaded decoding: several times faster on HD H.264/HEVC, same output.
        self._vstream.thread_type = "AUTO"
        if threads:
            self._vstream.codec_context.thread_count = threads
        self._audio_streams = list(self._container.streams.audio)
        self._sink: Callable[[Any], None] | None = None
        self._pending_audio: list[Any] = []
        self._started = False
        self._closed = False
        self._rotate = rotate
        self._transform = (False, False, False)
        self._first: Any = None  # first decoded av.VideoFrame, read ahead to learn the orientation
        self._packets = self._demux_iter()
        self._decoded = self._decode_iter()
        self._frames_seen = 0
        try:
            self._first = next(self._decoded, None)
        except InputError:
            self.close()
            raise
        if self._first is None:
            self.close()
            raise InputError(f"{self.path}: the video stream has no decodable frames")
        if rotate:
            sd = None
            try:
                sd = self._first.side_data.get(av.sidedata.sidedata.Type.DISPLAYMATRIX)
            except (AttributeError, KeyError, ValueError):  # pragma: no cover - older PyAV
                sd = None
            self._transform = _display_transform(bytes(sd) if sd is not None else None)
        self.info = self._make_info()

    # -- header -------------------------------------------------------------------------------
    def _make_info(self) -> VideoInfo:
        v = self._vstream
        cc = v.codec_context
        w, h = int(self._first.width), int(self._first.height)
        transpose = self._transform[0]
        frames = int(v.frames or 0) or None
        dur = None
        if self._container.duration:
            dur = self._container.duration / 1_000_000
        elif v.duration and v.time_base:
            dur = float(v.duration * v.time_base)
        audio = tuple(
            AudioStreamInfo(
                index=a.index,
                codec=a.codec_context.name,
                sample_rate=int(a.codec_context.sample_rate or 0),
                channels=int(a.codec_context.channels or 0),
                time_base=Fraction(a.time_base) if a.time_base else Fraction(1, 1),
                language=a.language,
            )
            for a in self._audio_streams
        )
        color = {k: int(getattr(cc, k)) for k in ("colorspace", "color_range", "color_primaries", "color_trc")
                 if getattr(cc, k, None) is not None}
        return VideoInfo(
            path=self.path,
            width=h if transpose else w,
            height=w if transpose else h,
            coded_width=w,
            coded_height=h,
            rotation=_rotation_degrees(*self._transform),
            fps=_fraction(v.average_rate) or _fraction(v.guessed_rate) or _fraction(v.base_rate),
            time_base=Fraction(v.time_base) if v.time_base else Fraction(1, 90000),
            frame_count=frames,
            duration=dur,
            codec=cc.name,
            pix_fmt=cc.pix_fmt,
            container_format=self._container.format.name,
            audio=audio,
            color=color,
        )

    # -- passthrough --------------------------------------------------------------------------
    @property
    def audio_streams(self) -> list[Any]:
        """The input's PyAV audio streams (for building copy streams in a writer)."""
        return list(self._audio_streams)

    def set_packet_sink(self, sink: Callable[[Any], None] | None) -> None:
        """Hand every audio packet (PyAV `Packet`, in file order) to `sink` while frames are read.

        Must be set before iteration starts (the first frame is read ahead at
        open, but no audio is lost: demuxing audio begins only with a sink).
        """
        if self._started:
            raise RuntimeError("set_packet_sink must be called before reading frames")
        self._sink = sink
        if sink is not None:
            pending, self._pending_audio = self._pending_audio, []
            for packet in pending:
                sink(packet)

    # -- decoding -----------------------------------------------------------------------------
    def _demux_iter(self) -> Iterator[Any]:
        """Video packets (and audio packets, which go to the sink) in file order."""
        try:
            for packet in self._container.demux(self._vstream, *self._audio_streams):
                if packet.stream.type == "video":
                    yield packet
                elif packet.size and packet.dts is not None:
                    if packet.is_corrupt:
                        raise InputError(f"{self.path}: audio packet at {self._pkt_time(packet)} is damaged"
                                         " (file truncated or corrupt)")
                    if self._sink is not None:
                        self._sink(packet)
                    elif not self._started:
                        # Read while decoding the first frame at open, before a writer could attach.
                        self._pending_audio.append(packet)
        except self._errors as exc:
            raise InputError(f"{self.path}: read error after {self._frames_seen} frames ({_why(exc)});"
                             " the file is corrupt or truncated") from exc

    @staticmethod
    def _pkt_time(packet: Any) -> str:
        t = packet.pts if packet.pts is not None else packet.dts
        return f"{float(t * packet.time_base):.3f} s" if t is not None and packet.time_base else "unknown time"

    def _decode_iter(self) -> Iterator[Any]:
        for packet in self._packets:
            if packet.size and packet.is_corrupt:
                raise InputError(f"{self.path}: video packet at {self._pkt_time(packet)} is damaged"
                                 f" after {self._frames_seen} frames (file truncated or corrupt)")
            try:
                frames = packet.decode()
            except self._errors as exc:
                raise InputError(f"{self.path}: cannot decode the frame after {self._frames_seen}"
                                 f" ({_why(exc)}); the file is corrupt") from exc
            for frame in frames:
                if frame.is_corrupt:
                    raise InputError(f"{self.path}: frame {self._frames_seen} decodes as corrupt; the file is damaged")
                self._frames_seen += 1
                yield frame

    def _to_upright(self, image: np.ndarray) -> np.ndarray:
        transpose, flip_x, flip_y = self._transform
        if transpose:
            image = image.transpose(1, 0, 2)
        if flip_x:
            image = image[:, ::-1]
        if flip_y:
            image = image[::-1]
        return np.ascontiguousarray(image) if (transpose or flip_x or flip_y) else image

    def __iter__(self) -> Iterator[Frame]:
        if self._started:
            raise RuntimeError(f"{self.path}: a VideoReader can be iterated only once")
        self._started = True
        self._pending_audio = []
        tb = self.info.time_base
        step = _nominal_step(self.info)
        last_pts: int | None = None
        index = 0
        av_frame = self._first
        self._first = None
        while av_frame is not None:
            pts = av_frame.pts
            if pts is None:
                pts = av_frame.dts
            if pts is None or (last_pts is not None and pts <= last_pts):
                # Missing or repeated timestamps (raw streams, broken muxers): continue the
                # nominal cadence so the encoder still gets strictly increasing times.
                pts = 0 if last_pts is None else last_pts + step
            image = self._to_upright(av_frame.to_ndarray(format="rgb24"))
            duration = int(av_frame.duration) if getattr(av_frame, "duration", None) else None
            yield Frame(index, image, int(pts), tb, duration)
            last_pts = int(pts)
            index += 1
            av_frame = next(self._decoded, None)
        expected = self.info.frame_count
        if expected is not None and index < expected:
            raise InputError(f"{self.path}: only {index} of the {expected} frames in its index could be decoded;"
                             " the file is truncated or corrupt")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._decoded.close()
            self._packets.close()
            self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _nominal_step(info: VideoInfo) -> int:
    if info.fps:
        return max(1, round(1 / (info.fps * info.time_base)))
    return 1


class VideoWriter:
    """Encodes RGB frames to a video file, atomically (temp file + rename on success).

    width/height: frame size; frames must all have it.
    time_base: units of the pts passed to `write`; fps: nominal rate (used for
    rate control and for frames written without a pts).
    audio_from: a `VideoReader` whose audio streams are copied packet for packet.
    overwrite: replace an existing file at `path` (never allowed to be the input being read).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        width: int,
        height: int,
        fps: Fraction | float | None,
        time_base: Fraction | None = None,
        options: VideoEncodeOptions | None = None,
        audio_from: VideoReader | None = None,
        color: dict[str, int] | None = None,
        overwrite: bool = True,
    ) -> None:
        av = _av()
        self.path = Path(path)
        self.options = options or VideoEncodeOptions()
        if width <= 0 or height <= 0:
            raise ValueError(f"frame size must be positive, got {width}x{height}")
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path}: already exists")
        if audio_from is not None and self.path.resolve() == audio_from.path.resolve():
            raise InputError(f"{self.path}: output would overwrite the input")
        self.width, self.height = int(width), int(height)
        rate = _fraction(fps) or Fraction(30)
        self.time_base = time_base or (1 / rate)
        self._step = max(1, round(1 / (rate * self.time_base)))
        self._last_pts: int | None = None
        self.frames_written = 0
        self._closed = False
        self._mux_lock = threading.RLock()
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=f".part{self.path.suffix}",
                                   dir=self.path.parent if str(self.path.parent) else ".")
        os.close(fd)
        self._tmp = Path(tmp)
        try:
            fmt = self.options.container_format
            if fmt is None and not self.path.suffix:
                raise ValueError(f"{self.path}: no file extension to choose a container from; set container_format")
            fmt = fmt or _muxer_for(self.path)
            audio = audio_from.audio_streams if audio_from is not None else []
            self._out = av.open(str(self._tmp), mode="w", format=fmt,
                                container_options=_container_options(fmt, audio))
            self._stream = self._add_video_stream(rate, color)
            self._audio_map: dict[int, Any] = {}
            if audio_from is not None:
                self._add_audio_copies(audio_from)
                audio_from.set_packet_sink(self._mux_copied)
        except BaseException:
            self._discard()
            raise

    @classmethod
    def like(
        cls,
        reader: VideoReader,
        path: str | os.PathLike[str],
        options: VideoEncodeOptions | None = None,
        *,
        copy_audio: bool = True,
        overwrite: bool = True,
    ) -> VideoWriter:
        """A writer with the reader's size, timing and colour tags, copying its audio."""
        info = reader.info
        return cls(
            path,
            width=info.width,
            height=info.height,
            fps=info.fps,
            time_base=info.time_base,
            options=options,
            audio_from=reader if copy_audio else None,
            color=info.color,
            overwrite=overwrite,
        )

    def _add_video_stream(self, rate: Fraction, color: dict[str, int] | None):
        av = _av()
        opts = self.options
        codec_opts = dict(opts.codec_options)
        if opts.bitrate is None and opts.crf is not None and opts.codec in _CRF_CODECS:
            codec_opts.setdefault("crf", str(opts.crf))
            if opts.codec.startswith("libvpx"):
                codec_opts.setdefault("b", "0")  # constant-quality mode needs bitrate 0
        if opts.preset and opts.codec in ("libx264", "libx265", "libsvtav1"):
            codec_opts.setdefault("preset", opts.preset)
        if opts.codec == "libx264":
            codec_opts = _x264_repeatable(codec_opts)
        try:
            stream = self._out.add_stream(opts.codec, rate=rate, options=codec_opts)
        except (av.FFmpegError, ValueError) as exc:
            raise ProcessingError(f"{self.path}: cannot encode with {opts.codec!r} ({_why(exc)})") from exc
        pix_fmt = opts.pix_fmt
        if (self.width % 2 or self.height % 2) and pix_fmt in ("yuv420p", "nv12", "yuvj420p"):
            # 4:2:0 needs even sizes; keep every pixel rather than crop or pad.
            log.warning("%s: odd frame size %dx%d, encoding as yuv444p", self.path, self.width, self.height)
            pix_fmt = "yuv444p"
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, pix_fmt
        stream.time_base = self.time_base
        stream.codec_context.time_base = self.time_base
        if opts.bitrate:
            stream.bit_rate = int(opts.bitrate)
        for k, v in (color or {}).items():
            # Same colour tags as the source, so players convert exactly as before.
            with contextlib.suppress(AttributeError, ValueError, TypeError):
                setattr(stream.codec_context, k, v)
        try:
            # Opened now, so a bad codec option is reported as such, not at the first packet written
            # (which may be audio: "cannot write audio").
            stream.codec_context.open()
        except (av.FFmpegError, ValueError) as exc:
            raise ProcessingError(f"{self.path}: cannot encode with {opts.codec!r} and options {codec_opts}"
                                  f" ({_why(exc)})") from exc
        return stream

    def _add_audio_copies(self, reader: VideoReader) -> None:
        av = _av()
        for a in reader.audio_streams:
            try:
                self._audio_map[a.index] = self._out.add_stream_from_template(a)
            except (av.FFmpegError, ValueError) as exc:
                raise ProcessingError(
                    f"{self.path}: audio stream {a.index} ({a.codec_context.name}) cannot be stored in"
                    f" {self._out.format.name} ({_why(exc)}); choose another container, e.g. .mkv"
                ) from exc

    def _mux_copied(self, packet: Any) -> None:
        out = self._audio_map.get(packet.stream.index)
        if out is None:
            return
        packet.stream = out
        with self._mux_lock:  # the reader may hand audio over from another thread
            if self._closed:
                return
            try:
                self._out.mux(packet)
            except _ffmpeg_error_types() as exc:
                raise ProcessingError(f"{self.path}: cannot write audio ({_why(exc)})") from exc

    def write(self, image: np.ndarray, at: Frame | int | None = None) -> None:
        """Encode one RGB uint8 (H, W, 3) frame at `at` (a source Frame, a pts, or None for the next slot)."""
        av = _av()
        if self._closed:
            raise RuntimeError(f"{self.path}: writer is closed")
        if image.dtype != np.uint8 or image.shape != (self.height, self.width, 3):
            raise ValueError(f"expected a ({self.height}, {self.width}, 3) uint8 RGB frame, got {image.dtype}"
                             f" {image.shape}")
        if isinstance(at, Frame):
            pts = at.pts if at.time_base == self.time_base else round(at.pts * at.time_base / self.time_base)
        elif at is None:
            pts = 0 if self._last_pts is None else self._last_pts + self._step
        else:
            pts = int(at)
        if self._last_pts is not None and pts <= self._last_pts:
            raise ValueError(f"{self.path}: pts {pts} is not after the previous frame's {self._last_pts}")
        if self._stream.pix_fmt == "yuv420p":
            # OpenCV's BT.601 conversion (what swscale does for rgb24 -> yuv420p, within 1 level
            # of luma) runs without the GIL and several times faster; other threads of a
            # pipeline keep working meanwhile.
            yuv = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2YUV_I420)
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        else:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts = pts
        frame.time_base = self.time_base
        if isinstance(at, Frame) and at.duration:
            frame.duration = at.duration  # lets the muxer keep the last frame's length
        with self._mux_lock:
            try:
                for packet in self._stream.encode(frame):
                    self._out.mux(packet)
            except _ffmpeg_error_types() as exc:
                raise ProcessingError(f"{self.path}: encoding failed at frame {self.frames_written}"
                                      f" ({_why(exc)})") from exc
        self._last_pts = pts
        self.frames_written += 1

    @property
    def last_pts(self) -> int | None:
        """pts of the last frame written (None before the first)."""
        return self._last_pts

    def close(self) -> None:
        """Flush the encoder, finish the file and move it into place."""
        if self._closed:
            return
        try:
            with self._mux_lock:
                for packet in self._stream.encode(None):
                    self._out.mux(packet)
                self._out.close()
                self._closed = True
        except BaseException as exc:
            self._discard()
            if isinstance(exc, _ffmpeg_error_types()):
                raise ProcessingError(f"{self.path}: finishing the file failed ({_why(exc)})") from exc
            raise
        self._closed = True
        # mkstemp makes the file private (0600); a video is meant to be shared like any output.
        os.chmod(self._tmp, 0o644)
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Stop and delete everything written; the destination is left as it was."""
        self._discard()

    def _discard(self) -> None:
        with self._mux_lock:
            self._closed = True
            out = getattr(self, "_out", None)
            if out is not None:
                try:
                    out.close()
                except Exception:  # noqa: BLE001 - already failing; the temp file goes regardless
                    log.debug("closing a discarded output failed", exc_info=True)
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


_CRF_CODECS = frozenset({"libx264", "libx265", "libvpx", "libvpx-vp9", "libaom-av1", "libsvtav1"})


def _x264_repeatable(codec_opts: dict[str, str]) -> dict[str, str]:
    """x264 codec options that give the same bitstream for the same frames, every time.

    x264's AVX-512 code gives a different encode of the same frames from run to run (measured:
    PyAV 18's x264, real video frames, threads=1; about half of the runs differ, depending on
    what the process did before), which makes outputs of identical runs differ by up to ~20
    levels. Its AVX2 code is repeatable and costs little speed, so on CPUs with AVX-512 x264
    is held to AVX2, unless the caller chose x264's `asm` option.
    """
    params = codec_opts.get("x264-params", "")
    if "asm=" in params or not _cpu_has_avx512():
        return codec_opts
    return {**codec_opts, "x264-params": f"{params}:asm=AVX2" if params else "asm=AVX2"}


@functools.cache
def _cpu_has_avx512() -> bool:
    try:  # numpy's own CPU feature table (numpy 2: numpy._core; numpy 1: numpy.core)
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features
        except ImportError:
            return False
    return bool(features.get("AVX512F"))


def _container_options(fmt: str | None, audio_streams: list[Any]) -> dict[str, str]:
    """Muxer options. For MP4/MOV: make the movie timescale the audio sample clock, so
    the edit list of audio that starts late is exact (the 1/1000 s default rounds it)."""
    if fmt not in _MOV_FORMATS or not audio_streams:
        return {}
    dens = {Fraction(a.time_base).denominator for a in audio_streams if a.time_base}
    return {"movie_timescale": str(dens.pop())} if len(dens) == 1 else {}


def _muxer_for(path: Path) -> str | None:
    """FFmpeg muxer for an extension (the temp file's name ends in .partX, so say it explicitly)."""
    ext = path.suffix.lower()
    return {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi",
            ".ts": "mpegts", ".mts": "mpegts", ".m2ts": "mpegts", ".mpg": "mpeg", ".mpeg": "mpeg",
            ".flv": "flv", ".3gp": "3gp", ".ogv": "ogg", ".wmv": "asf", ".mxf": "mxf"}.get(ext)
