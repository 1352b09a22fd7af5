"""The VMC protocol (Virtual Motion Capture, https://protocol.vmc.info): OSC messages, one bundle per frame.

Per frame, in this order:
  /VMC/Ext/OK        i loaded=1, i calibration state=3 (calibrated), i calibration mode=0 (normal),
                     i tracking status (1 face tracked, 0 lost)
  /VMC/Ext/T         f time (s)
  /VMC/Ext/Root/Pos  s "root", f px py pz (m), f qx qy qz qw: position = head offset from the calibrated
                     neutral position (zeros without a calibration), identity rotation
  /VMC/Ext/Bone/Pos  s "Head" | "LeftEye" | "RightEye", f 0 0 0, f qx qy qz qw: local rotations
  /VMC/Ext/Blend/Val s name, f value    (52 times, ARKit names and order)
  /VMC/Ext/Blend/Apply

Rotations and positions are in Unity's left-handed frame (+X right, +Y up, +Z
forward) for an avatar facing the viewer, moving as the person does (not as a
mirror image); see `pose.to_unity_quaternion`. Bone positions are zeros:
receivers apply the bones' rotations to their own model.
"""

from __future__ import annotations

import numpy as np

from facepipe.apps.stream.frame import FaceFrame
from facepipe.apps.stream.pose import quaternion_from_matrix, rotation_from_euler, to_unity_quaternion
from facepipe.apps.stream.protocols._oscutil import check_python_osc, osc_bundle
from facepipe.solutions.blendshapes import ARKIT_NAMES

__all__ = ["VmcEncoder", "unity_quaternions"]


def unity_quaternions(frame: FaceFrame) -> dict[str, np.ndarray]:
    """(x, y, z, w) Unity-frame rotations of the "Head", "LeftEye" and "RightEye" bones."""
    out = {"Head": to_unity_quaternion(quaternion_from_matrix(frame.head_rotation))}
    for bone, (yaw, pitch) in zip(("LeftEye", "RightEye"), frame.gaze_deg):
        out[bone] = to_unity_quaternion(quaternion_from_matrix(rotation_from_euler(yaw, pitch, 0.0)))
    return out


class VmcEncoder:
    name = "vmc"

    def __init__(self, *, capitalize_names: bool = False) -> None:
        check_python_osc()
        # Some VRM "perfect sync" avatars name their clips with a capital first letter.
        self.names = tuple(n[0].upper() + n[1:] for n in ARKIT_NAMES) if capitalize_names else ARKIT_NAMES

    def encode(self, frame: FaceFrame) -> bytes:
        # Camera frame (cm) -> Unity (m): x mirrored to the avatar's side, as for the rotations.
        tx, ty, tz = frame.translation_cm / 100.0
        messages: list[tuple[str, list]] = [
            ("/VMC/Ext/OK", [1, 3, 0, int(frame.tracked)]),
            ("/VMC/Ext/T", [float(frame.time_s)]),
            ("/VMC/Ext/Root/Pos", ["root", float(-tx), float(ty), float(tz), 0.0, 0.0, 0.0, 1.0]),
        ]
        for bone, q in unity_quaternions(frame).items():
            messages.append(("/VMC/Ext/Bone/Pos", [bone, 0.0, 0.0, 0.0, *(float(v) for v in q)]))
        messages += [("/VMC/Ext/Blend/Val", [name, float(v)]) for name, v in zip(self.names, frame.blendshapes)]
        messages.append(("/VMC/Ext/Blend/Apply", []))
        return osc_bundle(messages)
