"""Video file decoding and encoding as graph nodes (PyAV, through facepipe.io.video).

    - calculator: VideoDecoderCalculator
      side_packets: {PATH: input_path}
      outputs: {IMAGE: image, FRAME: frame, VIDEO: video}
    - ...                                   # process `image` into `redacted`
    - calculator: VideoEncoderCalculator
      inputs: {IMAGE: redacted, FRAME: frame, VIDEO: video}
      side_packets: {PATH: output_path}

Packet timestamps are the frames' presentation times in microseconds. The
encoder takes each frame's exact pts from FRAME, and the size, timing, colour
tags and audio from the VIDEO header (a PRE_STREAM packet), so the output keeps
the input's timestamps and a bit-identical copy of its audio. Decoding and
encoding run on different worker threads; the audio packets the decoder reads
are muxed under the same lock as the encoder's video packets.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from facepipe.errors import ProcessingError
from facepipe.graph import STOP, Calculator, CalculatorContext, Timestamp, register_calculator
from facepipe.io.video import Frame, VideoEncodeOptions, VideoInfo, VideoReader, VideoWriter

log = logging.getLogger(__name__)

__all__ = [
    "AudioTap",
    "VideoDecoderCalculator",
    "VideoDecoderOptions",
    "VideoEncoderCalculator",
    "VideoEncoderOptions",
    "VideoSource",
    "frame_timestamp_us",
]

_MICROSECONDS = Fraction(1, 1_000_000)
_MAX_HELD_AUDIO = 4096  # audio packets kept for an encoder that has not started yet (~90 s of AAC)


def frame_timestamp_us(frame: Frame) -> int:
    """A frame's presentation time in whole microseconds (the graph's timestamp unit)."""
    return round(frame.pts * frame.time_base / _MICROSECONDS)


class AudioTap:
    """Hands a reader's audio packets to a writer that is created later, on another thread.

    Looks like a `VideoReader` to `VideoWriter(audio_from=...)` (path, audio_streams,
    set_packet_sink, audio_complete, drain_audio). Packets read before the writer exists are
    held; `lock` is held while a packet is muxed, and the encoder holds it while it writes video,
    so the two threads never write to the output container at once.
    """

    def __init__(self, reader: VideoReader) -> None:
        self.path = reader.path
        self.audio_streams = reader.audio_streams
        # Re-entrant: the encoder holds it while its writer adds the audio streams and attaches.
        self.lock = threading.RLock()
        self._reader = reader
        self._sink: Callable[[Any], None] | None = None
        self._held: list[Any] = []
        self._dropping = False
        self._close_pending = False
        reader.set_packet_sink(self._push)

    @property
    def dropped(self) -> bool:
        return self._dropping

    def close_reader(self) -> None:
        """The decoder is done with the reader. Its audio streams die with it (PyAV crashes with a
        segfault copying a closed container's stream), and an encoder may not have copied them yet
        (a 1-frame video is decoded before the encoder starts): then closing waits until one has
        attached or nobody will (`drop`)."""
        with self.lock:
            if self._sink is not None or self._dropping:
                self._reader.close()
            else:
                self._close_pending = True

    def _push(self, packet: Any) -> None:
        with self.lock:
            if self._sink is not None:
                self._sink(packet)
            elif not self._dropping:
                self._held.append(packet)
                if len(self._held) > _MAX_HELD_AUDIO:
                    # An encoder attaches within a few frames; this many means none will.
                    log.warning("%s: no video encoder took the audio; dropping it", self.path)
                    self._dropping = True
                    self._held.clear()

    def set_packet_sink(self, sink: Callable[[Any], None] | None) -> None:
        with self.lock:
            self._sink = sink
            held, self._held = self._held, []
            if sink is not None:
                for packet in held:
                    sink(packet)
            if self._close_pending:
                self._reader.close()

    def audio_complete(self, frames_written: int) -> bool:
        return self._reader.audio_complete(frames_written)

    def drain_audio(self, until: Fraction) -> None:
        with self.lock:  # the reader drains itself on closing, to its last frame, under this lock
            self._reader.drain_audio(until)

    def drop(self) -> None:
        """Nobody will take the audio: stop holding packets."""
        with self.lock:
            self._dropping = True
            self._sink = None
            self._held.clear()
            if self._close_pending:
                self._reader.close()


@dataclass(frozen=True)
class VideoSource:
    """The decoder's VIDEO header: what the file holds, and its audio (None when not copied)."""

    info: VideoInfo
    audio: AudioTap | None


@dataclass(frozen=True)
class VideoDecoderOptions:
    """rotate: turn frames upright per the display matrix. threads: decoder threads (0: FFmpeg's choice).
    max_frames: stop after this many frames (None: all). copy_audio: pass the audio to an encoder
    through the VIDEO header."""

    rotate: bool = True
    threads: int = 0
    max_frames: int | None = None
    copy_audio: bool = True

    def __post_init__(self) -> None:
        if self.max_frames is not None and self.max_frames < 0:
            raise ValueError(f"max_frames must be >= 0, got {self.max_frames}")


@register_calculator
class VideoDecoderCalculator(Calculator):
    """Source node: the frames of a video file.

    Side packet PATH: the file. Outputs: IMAGE (RGB uint8 (H, W, 3), upright), FRAME (the
    `facepipe.io.video.Frame`: index, pts, time_base), VIDEO (one PRE_STREAM `VideoSource`).
    """

    outputs = ("IMAGE", "FRAME", "VIDEO")
    side_packets = ("PATH",)
    Options = VideoDecoderOptions

    def open(self, ctx: CalculatorContext) -> None:
        opts = ctx.options
        self._reader = VideoReader(ctx.side_packets["PATH"], rotate=opts.rotate, threads=opts.threads)
        self._frames = iter(self._reader)
        self._count = 0
        self._last_ts = Timestamp.MIN - 1
        self._tap: AudioTap | None = None
        if "VIDEO" in ctx.outputs.tags:
            info = self._reader.info
            self._tap = AudioTap(self._reader) if opts.copy_audio and info.has_audio else None
            ctx.outputs.add("VIDEO", VideoSource(info, self._tap), Timestamp.PRE_STREAM)
            ctx.outputs.close("VIDEO")  # the header is all: nodes joining it must not wait for more
        # Frames start at MIN or later: nodes waiting on these streams may handle the header now.
        ctx.outputs.set_bound("IMAGE", Timestamp.MIN)
        ctx.outputs.set_bound("FRAME", Timestamp.MIN)

    def process(self, ctx: CalculatorContext) -> Any:
        limit = ctx.options.max_frames
        if limit is not None and self._count >= limit:
            return STOP
        frame = next(self._frames, None)
        if frame is None:
            return STOP
        # Rounding to microseconds must not merge two frames (time bases finer than 1 µs).
        ts = max(frame_timestamp_us(frame), self._last_ts + 1)
        self._last_ts = ts
        self._count += 1
        ctx.outputs.add("IMAGE", frame.image, ts)
        ctx.outputs.add("FRAME", frame, ts)
        return None

    def close(self, ctx: CalculatorContext) -> None:
        if self._tap is None:
            self._reader.close()
            return
        if ctx.graph_error is not None:
            self._tap.drop()  # no encoder will finish: release the held audio
        self._tap.close_reader()


@dataclass(frozen=True)
class VideoEncoderOptions:
    """encode: codec settings (facepipe.io.video.VideoEncodeOptions).
    copy_audio: copy the audio of the VIDEO header's file. fps: frame rate to declare when there is
    no VIDEO header (frames are then placed at their packet timestamps)."""

    encode: VideoEncodeOptions = field(default_factory=VideoEncodeOptions)
    copy_audio: bool = True
    fps: float = 30.0


@register_calculator
class VideoEncoderCalculator(Calculator):
    """Sink node: encodes IMAGE frames to the file at side packet PATH, atomically.

    Optional inputs: FRAME (the decoder's Frame of the same timestamp: exact pts), VIDEO (the
    decoder's header: size, timing, colour, audio). Without them the writer takes its size from
    the first image and its time base is 1 µs. Nothing is left at PATH if the run fails.
    """

    inputs = ("IMAGE",)
    optional_inputs = ("FRAME", "VIDEO")
    side_packets = ("PATH",)
    Options = VideoEncoderOptions

    def open(self, ctx: CalculatorContext) -> None:
        self._path = Path(ctx.side_packets["PATH"])
        self._writer: VideoWriter | None = None
        self._source: VideoSource | None = None
        self._lock = threading.Lock()

    def _start(self, ctx: CalculatorContext, image: np.ndarray | None) -> VideoWriter:
        opts = ctx.options
        src = self._source
        if src is not None:
            info = src.info
            audio = src.audio if opts.copy_audio else None
            if src.audio is not None and audio is None:
                src.audio.drop()
            if audio is None:
                return VideoWriter(self._path, width=info.width, height=info.height, fps=info.fps,
                                   time_base=info.time_base, options=opts.encode, color=info.color)
            self._lock = audio.lock
            with audio.lock:  # the decoder may not close its reader while its streams are copied
                if audio.dropped:
                    raise ProcessingError(f"{self._path}: the decoder stopped before its audio could be copied")
                return VideoWriter(self._path, width=info.width, height=info.height, fps=info.fps,
                                   time_base=info.time_base, options=opts.encode,
                                   audio_from=audio, color=info.color)  # type: ignore[arg-type]
        if image is None:
            raise ProcessingError(f"{self._path}: no frame to take the video size from")
        return VideoWriter(self._path, width=image.shape[1], height=image.shape[0], fps=opts.fps,
                           time_base=_MICROSECONDS, options=opts.encode)

    def process(self, ctx: CalculatorContext) -> None:
        header = ctx.input("VIDEO")
        if header is not None:
            self._source = header
            self._writer = self._start(ctx, None)
        image = ctx.input("IMAGE")
        if image is None:
            return
        if self._writer is None:
            self._writer = self._start(ctx, image)
        frame = ctx.input("FRAME")
        if frame is None:
            at: Frame | int = round(ctx.timestamp * _MICROSECONDS / self._writer.time_base)
        else:
            at = frame
        with self._lock:
            self._writer.write(image, at)

    def close(self, ctx: CalculatorContext) -> None:
        writer = self._writer
        if self._source is not None and self._source.audio is not None and writer is None:
            self._source.audio.drop()
        if writer is None:
            return
        with self._lock:
            if ctx.graph_error is not None:
                writer.abort()  # leave nothing half-written
            else:
                writer.close()
