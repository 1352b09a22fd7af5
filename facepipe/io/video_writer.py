"""`VideoWriter`: RGB frames encoded at the timestamps given, audio copied packet for packet,
written atomically (temp file + rename on success); `VideoEncodeOptions`, checked once."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import tempfile
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facepipe.errors import InputError, ProcessingError
from facepipe.io.video_container import _MOV_FORMATS, Frame, _av, _ffmpeg_error_types, _fraction, _why
from facepipe.io.video_reader import VideoReader

log = logging.getLogger("facepipe.io.video")

__all__ = ["VideoEncodeOptions", "VideoWriter"]


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
    subme: x264's sub-pixel motion refinement (0-11: lower is faster, higher compresses a little
        better), instead of the preset's; None: the preset's (veryfast: 2). Ignored by other codecs.
    """

    codec: str = "libx264"
    crf: int | None = 18
    preset: str | None = "veryfast"
    pix_fmt: str = "yuv420p"
    bitrate: int | None = None
    container_format: str | None = None
    codec_options: dict[str, str] = field(default_factory=dict)
    subme: int | None = None

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
        if self.subme is not None and not 0 <= self.subme <= 11:
            raise ValueError(f"subme must be in 0..11, got {self.subme}")
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
        self._video_end: Fraction | None = None  # end time (s) of the last frame written
        # Audio that starts after the video written so far waits here: a run that stops early
        # (--max-frames) ends its copy with its last frame, whatever the reader had read ahead.
        self._held_audio: list[tuple[Fraction | None, Any]] = []
        self._audio_source = audio_from
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
            if opts.subme is not None:
                params = codec_opts.get("x264-params", "")
                codec_opts["x264-params"] = f"{params}:subme={opts.subme}" if params else f"subme={opts.subme}"
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
        t = packet.pts if packet.pts is not None else packet.dts
        start = Fraction(t) * Fraction(packet.time_base) if t is not None and packet.time_base else None
        # Now, not when muxed: the input's streams are freed when its reader closes.
        packet.stream = out
        with self._mux_lock:  # the reader may hand audio over from another thread
            if self._closed:
                return
            if start is None or (self._video_end is not None and start < self._video_end):
                self._mux_audio(packet)
            else:
                self._held_audio.append((start, packet))

    def _mux_audio(self, packet: Any) -> None:
        try:
            self._out.mux(packet)
        except _ffmpeg_error_types() as exc:
            raise ProcessingError(f"{self.path}: cannot write audio ({_why(exc)})") from exc

    def _release_audio(self, until: Fraction | None) -> None:
        """Mux the held audio that starts before `until` (all of it for None), in file order."""
        keep = []
        for start, packet in self._held_audio:
            if until is None or start is None or start < until:
                self._mux_audio(packet)
            else:
                keep.append((start, packet))
        self._held_audio = keep

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
            frame = _yuv420p_frame(av, yuv)
        else:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts = pts
        frame.time_base = self.time_base
        duration = at.duration if isinstance(at, Frame) and at.duration else None
        if duration:
            frame.duration = duration  # lets the muxer keep the last frame's length
        with self._mux_lock:
            try:
                for packet in self._stream.encode(frame):
                    self._out.mux(packet)
            except _ffmpeg_error_types() as exc:
                raise ProcessingError(f"{self.path}: encoding failed at frame {self.frames_written}"
                                      f" ({_why(exc)})") from exc
            self._video_end = (pts + (duration or self._step)) * Fraction(self.time_base)
            if self._held_audio:
                self._release_audio(self._video_end)
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
                source = self._audio_source
                if source is not None and not source.audio_complete(self.frames_written):
                    if self._video_end is not None:
                        source.drain_audio(self._video_end)
                    self._release_audio(self._video_end or Fraction(0))
                    if self._held_audio:
                        log.debug("%s: %d audio packets after the last frame left out", self.path,
                                  len(self._held_audio))
                else:
                    self._release_audio(None)
                self._held_audio = []
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


def _yuv420p_frame(av: Any, yuv: np.ndarray) -> Any:
    """A yuv420p VideoFrame on OpenCV's I420 array itself, not a copy (the encoder copies the picture
    into its own buffers when it is handed over; 0.17 ms a 720p frame); PyAV versions without
    `from_numpy_buffer` for yuv420p copy it."""
    try:
        return av.VideoFrame.from_numpy_buffer(yuv, format="yuv420p")
    except (AttributeError, ValueError, TypeError):
        return av.VideoFrame.from_ndarray(yuv, format="yuv420p")


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
