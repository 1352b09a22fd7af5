"""Live Link Face's UDP packet (the iOS app's stream to Unreal Engine's Live Link, default port 11111).

Layout (big-endian throughout), packet version 6:
  u8   version = 6
  i32  n, then n bytes UTF-8   device id (a UUID string)
  i32  n, then n bytes UTF-8   subject name
  i32  frame number            \\
  f32  sub-frame (0..1)         | frame time as Unreal's FQualifiedFrameTime
  i32  frame rate numerator     |
  i32  frame rate denominator  /
  u8   count = 61
  61 x f32: the 52 ARKit blendshapes in ARKit order, then HeadYaw, HeadPitch, HeadRoll,
            LeftEyeYaw, LeftEyePitch, LeftEyeRoll, RightEyeYaw, RightEyePitch, RightEyeRoll

Angles are sent in radians with facepipe's signs (yaw > 0: turned/looking toward the image's right,
pitch > 0: up, roll > 0: counter-clockwise in the image); eye roll is 0.
Layout learned from public readers/writers of the format (see docs/streaming.md); no official spec exists.
"""

from __future__ import annotations

import math
import struct
import uuid

import numpy as np

from facepipe.apps.stream.frame import FaceFrame
from facepipe.solutions.blendshapes import ARKIT_NAMES

__all__ = ["LIVELINK_CURVES", "LiveLinkEncoder", "decode_livelink"]

PACKET_VERSION = 6
LIVELINK_CURVES: tuple[str, ...] = (
    *(n[0].upper() + n[1:] for n in ARKIT_NAMES),
    "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)
_VALUES = struct.Struct(f">B{len(LIVELINK_CURVES)}f")
_FRAME_TIME = struct.Struct(">ifii")


def _string(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack(">i", len(b)) + b


class LiveLinkEncoder:
    name = "livelink"

    def __init__(self, *, subject: str = "facepipe", device_id: str | None = None) -> None:
        # Unreal keys a source by its device id: one per run, so two facepipe streams show up separately.
        self._head = bytes([PACKET_VERSION]) + _string(device_id or str(uuid.uuid4()).upper()) + _string(subject)

    def encode(self, frame: FaceFrame) -> bytes:
        fps = max(1, round(frame.fps))
        t = frame.time_s * fps
        number = math.floor(t)
        values = np.empty(len(LIVELINK_CURVES), np.float64)
        values[:52] = frame.blendshapes
        values[52:55] = np.radians(frame.head_euler_deg)
        values[55:57] = np.radians(frame.gaze_deg[0])
        values[58:60] = np.radians(frame.gaze_deg[1])
        values[57] = values[60] = 0.0
        return (self._head + _FRAME_TIME.pack(int(number), float(t - number), fps, 1)
                + _VALUES.pack(len(LIVELINK_CURVES), *values))


def decode_livelink(packet: bytes) -> dict:
    """Parse one packet (for tests and debugging): version, device_id, subject, frame, sub_frame, fps,
    and values {curve name: value}. ValueError if it is not a version-6 Live Link Face packet."""
    try:
        version = packet[0]
        if version != PACKET_VERSION:
            raise ValueError(f"packet version {version}, expected {PACKET_VERSION}")
        pos = 1
        strings = []
        for _ in range(2):
            (n,) = struct.unpack_from(">i", packet, pos)
            strings.append(packet[pos + 4 : pos + 4 + n].decode("utf-8"))
            pos += 4 + n
        number, sub, num, den = _FRAME_TIME.unpack_from(packet, pos)
        pos += _FRAME_TIME.size
        count, *values = _VALUES.unpack_from(packet, pos)
        pos += _VALUES.size
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise ValueError(f"not a Live Link Face packet ({exc})") from exc
    if count != len(LIVELINK_CURVES) or pos != len(packet):
        raise ValueError(f"not a Live Link Face packet ({count} values, {len(packet) - pos} bytes left over)")
    return {"version": version, "device_id": strings[0], "subject": strings[1], "frame": number,
            "sub_frame": sub, "fps": (num, den), "values": dict(zip(LIVELINK_CURVES, values))}
