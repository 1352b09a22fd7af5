"""Drawing and plotting of facepipe results (MediaPipe's drawing_utils, with better defaults).

Images are RGB unless a function is given color_order="bgr"; style colours are RGB.
Plots (facepipe.draw.plots) need matplotlib (`pip install 'facepipe[plot]'`), imported on first use.
"""

from facepipe.draw import connections, plots, styles
from facepipe.draw.annotate import AnnotatedImage, annotate, show
from facepipe.draw.drawing import (
    draw_detections,
    draw_face_mesh,
    draw_hands,
    draw_head_pose,
    draw_landmarks,
    draw_pose,
    draw_segmentation,
    project_points,
)
from facepipe.draw.styles import ConnectionStyle, DrawingSpec, LandmarkStyle

__all__ = [
    "connections", "styles", "plots", "annotate", "show", "AnnotatedImage", "draw_landmarks",
    "draw_detections", "draw_face_mesh", "draw_hands", "draw_pose", "draw_segmentation", "draw_head_pose",
    "project_points", "DrawingSpec", "ConnectionStyle", "LandmarkStyle",
]
