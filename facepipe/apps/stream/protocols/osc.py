"""facepipe's plain OSC layout: one bundle per frame, for any OSC-capable tool (TouchDesigner, Max, Pure Data,
Blender add-ons, your own script).

  /facepipe/frame              i frame number, f time (s), i tracked (1/0)
  /facepipe/blendshapes        52 x f, ARKit order (names in /facepipe/blendshape_names)
  /facepipe/head               f yaw, f pitch, f roll (degrees), f x, f y, f z (cm, from the calibrated
                               neutral; zeros without a calibration)
  /facepipe/head/quaternion    f x, f y, f z, f w: head rotation in the right-handed camera frame
                               (+X image right, +Y up, +Z toward the viewer)
  /facepipe/eyes               f left yaw, f left pitch, f right yaw, f right pitch (degrees)
  /facepipe/blendshape_names   52 x s, ARKit names in the order of /facepipe/blendshapes; sent with the
                               first frame and then every NAMES_EVERY frames (receivers started late learn them)
Angle signs: yaw > 0 turned/looking toward the image's right, pitch > 0 up, roll > 0 counter-clockwise in
the image. "Left"/"right" in names are the subject's own.
"""

from __future__ import annotations

from facepipe.apps.stream.frame import FaceFrame
from facepipe.apps.stream.pose import quaternion_from_matrix
from facepipe.apps.stream.protocols._oscutil import check_python_osc, osc_bundle
from facepipe.solutions.blendshapes import ARKIT_NAMES

__all__ = ["NAMES_EVERY", "PlainOscEncoder"]

NAMES_EVERY = 30


class PlainOscEncoder:
    name = "osc"

    def __init__(self) -> None:
        check_python_osc()
        self._sent = 0

    def encode(self, frame: FaceFrame) -> bytes:
        messages: list[tuple[str, list]] = [
            ("/facepipe/frame", [int(frame.index), float(frame.time_s), int(frame.tracked)]),
            ("/facepipe/blendshapes", [float(v) for v in frame.blendshapes]),
            ("/facepipe/head", [float(v) for v in (*frame.head_euler_deg, *frame.translation_cm)]),
            ("/facepipe/head/quaternion", [float(v) for v in quaternion_from_matrix(frame.head_rotation)]),
            ("/facepipe/eyes", [float(v) for v in frame.gaze_deg.reshape(-1)]),
        ]
        if self._sent % NAMES_EVERY == 0:
            messages.append(("/facepipe/blendshape_names", list(ARKIT_NAMES)))
        self._sent += 1
        return osc_bundle(messages)
