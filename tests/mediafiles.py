"""Small media files made in the test itself (tmp_path), never committed: clips with and without
audio, and the damaged or unusual files of the hostile-input tests."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


def make_clip(path: Path, n: int = 6, size=(64, 32), rotation: int | None = None, audio: bool = False,
              rate: int = 10) -> np.ndarray:
    """Synthetic H.264 clip (AAC audio if asked): white square top-left, grey bar top-right;
    returns the first frame. n=0 gives a container with a video stream but no frames."""
    import av

    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    img[:8, :8] = 255
    img[:4, w - 4:] = 128
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=rate)
        s.width, s.height, s.pix_fmt = w, h, "yuv444p"
        if rotation is not None:
            s.set_display_rotation(rotation)
        a = None
        if audio:
            a = out.add_stream("aac", rate=8000)
            a.layout = "mono"
        for i in range(max(n, 1) if audio else n):
            if i < n:
                for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    out.mux(p)
            if a is not None:
                frame = av.AudioFrame.from_ndarray(
                    (np.sin(np.arange(800) / 5.0 + i)[None] * 0.3).astype(np.float32), format="fltp", layout="mono")
                frame.sample_rate = 8000
                frame.pts = i * 800
                for p in a.encode(frame):
                    out.mux(p)
        for p in s.encode(None):
            out.mux(p)
        if a is not None:
            for p in a.encode(None):
                out.mux(p)
    return img


def png_claiming_size(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims width x height (RGB, 8 bit): a decompression bomb's header,
    made without the memory."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path
