"""`facepipe stream`: live face tracking sent to avatar apps over VMC (OSC), Live Link Face UDP or plain OSC.

Pieces: `tracker` (Face Landmarker + blendshape source -> RawFace), `shaping`
(calibration, gain/curves, forced zeros, One-Euro -> FaceFrame), `protocols`
(FaceFrame -> one datagram), `targets` (UDP sockets), `sources` (video/camera
with frame dropping), `runner` (the loop and its statistics).
"""

from facepipe.apps.stream.config import Calibration, StreamConfig, load_config
from facepipe.apps.stream.frame import FaceFrame
from facepipe.apps.stream.runner import CalibrationPlan, Streamer, StreamStats
from facepipe.apps.stream.shaping import RawFace, Shaper
from facepipe.apps.stream.targets import Address, UdpTarget, parse_address
from facepipe.apps.stream.tracker import BlendshapeRegressor, FaceTracker, TrackerOptions

__all__ = [
    "Address",
    "BlendshapeRegressor",
    "Calibration",
    "CalibrationPlan",
    "FaceFrame",
    "FaceTracker",
    "RawFace",
    "Shaper",
    "StreamConfig",
    "StreamStats",
    "Streamer",
    "TrackerOptions",
    "UdpTarget",
    "load_config",
    "parse_address",
]
