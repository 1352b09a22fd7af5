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


def photo_variants(src: Path, folder: Path) -> dict[str, Path]:
    """Unusual but valid photos made from `src`: 16-bit PNG, RGBA PNG, CMYK JPEG, EXIF-rotated JPEG."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        rgb = im.convert("RGB")
    a = np.asarray(rgb)
    out = {}
    import cv2

    out["16-bit PNG"] = folder / "deep.png"
    cv2.imwrite(str(out["16-bit PNG"]), a[:, :, ::-1].astype(np.uint16) * 257)
    out["RGBA PNG"] = folder / "cutout.png"
    Image.fromarray(np.dstack([a, np.full(a.shape[:2], 200, np.uint8)]), "RGBA").save(out["RGBA PNG"])
    out["CMYK JPEG"] = folder / "print.jpg"
    rgb.convert("CMYK").save(out["CMYK JPEG"], quality=90)
    out["EXIF-rotated JPEG"] = folder / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: shown rotated 90 degrees clockwise
    rgb.rotate(90, expand=True).save(out["EXIF-rotated JPEG"], exif=exif, quality=90)
    return out


def broken_files(src_photo: Path, folder: Path) -> dict[str, Path]:
    """Files no command can use: empty, cut off, text named .jpg, a video without frames, a huge PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {"zero-byte": folder / "empty.jpg", "text as .jpg": folder / "notes.jpg",
           "truncated JPEG": folder / "cut.jpg", "truncated video": folder / "cut.mp4",
           "video without frames": folder / "noframes.mp4", "huge image": folder / "huge.png"}
    out["zero-byte"].write_bytes(b"")
    out["text as .jpg"].write_text("these are my notes, not a photo\n")
    from PIL import Image

    with Image.open(src_photo) as im:
        im.convert("RGB").save(folder / "whole.jpg", quality=90)
    data = (folder / "whole.jpg").read_bytes()
    out["truncated JPEG"].write_bytes(data[: len(data) // 2])
    (folder / "whole.jpg").unlink()
    make_clip(folder / "whole.mp4", n=6, audio=True)
    data = (folder / "whole.mp4").read_bytes()
    out["truncated video"].write_bytes(data[: len(data) * 2 // 3])
    (folder / "whole.mp4").unlink()
    make_clip(out["video without frames"], n=0)
    png_claiming_size(out["huge image"], 20000, 20000)
    return out


def fake_camera(monkeypatch, bgr: np.ndarray, frames: int, fps: float = 15.0) -> None:
    """No camera on a test machine: OpenCV's VideoCapture replaced by one that gives `frames` copies
    of `bgr` on device 0 and cannot open any other device."""
    import cv2

    class FakeCapture:
        def __init__(self, device):
            self.device, self.n = device, 0

        def isOpened(self):  # noqa: N802 - OpenCV's name
            return self.device == 0

        def read(self):
            self.n += 1
            return self.n <= frames, bgr.copy()

        def get(self, prop):
            return fps

        def release(self):
            pass

    monkeypatch.setattr(cv2, "VideoCapture", FakeCapture)
