"""`VideoReader`: a video file's frames, upright RGB with their own timestamps; damage is an
error naming the file, never a silent short read. Audio packets go to a sink (a writer copying them)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from facepipe.errors import InputError
from facepipe.io.video_container import (
    _MOV_FORMATS,
    AudioStreamInfo,
    Frame,
    VideoInfo,
    _av,
    _check_isobmff_boxes,
    _display_transform,
    _fraction,
    _open_input,
    _RGBConverter,
    _rotation_degrees,
    _why,
)

__all__ = ["VideoReader", "probe_video"]

log = logging.getLogger("facepipe.io.video")


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
        self._exhausted = False  # iteration ran to the end of the video
        self._yielded_end: Fraction | None = None  # end time (s) of the last frame yielded
        self._audio_reached: dict[int, Fraction] = {}  # per audio stream: start time (s) of its last packet
        self._rotate = rotate
        self._rgb = _RGBConverter()
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
                    t = packet.pts if packet.pts is not None else packet.dts
                    if packet.time_base:
                        self._audio_reached[packet.stream.index] = Fraction(t) * Fraction(packet.time_base)
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
            image = self._to_upright(self._rgb(av_frame))
            duration = int(av_frame.duration) if getattr(av_frame, "duration", None) else None
            self._yielded_end = (int(pts) + (duration or step)) * Fraction(tb)
            yield Frame(index, image, int(pts), tb, duration)
            last_pts = int(pts)
            index += 1
            av_frame = next(self._decoded, None)
        self._exhausted = True
        expected = self.info.frame_count
        if expected is not None and index < expected:
            raise InputError(f"{self.path}: only {index} of the {expected} frames in its index could be decoded;"
                             " the file is truncated or corrupt")

    def audio_complete(self, frames_written: int) -> bool:
        """Whether a copy whose video has `frames_written` frames should take all the audio: the
        frames were read to the end, or the index says there are no more. Otherwise the run stopped
        early (e.g. `--max-frames`) and the copy ends with its video."""
        count = self.info.frame_count
        return self._exhausted or (count is not None and frames_written >= count)

    def drain_audio(self, until: Fraction) -> None:
        """Hand the sink every audio packet that starts before `until` (seconds), reading on past
        the frames already read. A run that stops early thereby gets the audio up to its last
        frame however far the demuxer had read ahead (graph and sequential runs read ahead
        differently). Video packets read on the way are dropped: call it only once the frames
        are no longer needed."""
        if self._closed or self._exhausted or self._sink is None or not self._audio_streams:
            return

        def reached() -> bool:
            return all(self._audio_reached.get(a.index, Fraction(-1)) >= until for a in self._audio_streams)

        try:
            while not reached() and next(self._packets, None) is not None:
                pass
        except ValueError:  # the generator is running in another thread: it delivers the audio itself
            log.debug("%s: audio not drained (reader busy)", self.path)
        except InputError as exc:
            log.warning("%s: the audio after the last frame could not be read (%s)", self.path, exc)

    def close(self) -> None:
        if not self._closed:
            if self._started and self._yielded_end is not None:
                self.drain_audio(self._yielded_end)
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
