"""Head rotation and eye gaze for streaming, from the Face Landmarker's outputs.

Head: the facial transformation matrix maps the canonical face (cm, +X toward
the image's right = the subject's left, +Y up, +Z out of the face toward the
camera) into the right-handed camera frame. Its rotation, decomposed as in
`facepipe.solutions.face_geometry.head_pose` (R = Ry(yaw) Rx(-pitch) Rz(roll),
degrees: yaw > 0 turning toward the image's right, pitch > 0 chin up, roll > 0
counter-clockwise in the image), is what every protocol sends, each in its own
convention.

Gaze: where each iris centre sits between its eye corners, as a fraction of
the half eye width (image plane, so head rotation mostly cancels), turned into
eyeball angles with an eyeball radius of ~0.8 half eye widths. It is an
estimate; a neutral calibration removes a person's resting offset.
"""

from __future__ import annotations

import numpy as np

from facepipe.solutions.face_geometry import head_pose

__all__ = [
    "eye_gaze",
    "head_euler",
    "quaternion_from_matrix",
    "rotation_from_euler",
    "to_unity_quaternion",
]

# Landmark indices (Face Landmarker, 478 points). "Left"/"right" are the subject's own.
# Per eye: iris centre, the image-left corner, the image-right corner (for an un-mirrored image).
_LEFT_EYE = (473, 362, 263)
_RIGHT_EYE = (468, 33, 133)
# Iris displacement / half eye width at 90 degrees: an eyeball radius of ~12 mm and an eye
# ~30 mm wide give 12 / 15.
_EYEBALL_RADIUS_HALF_WIDTHS = 0.8


def head_euler(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(yaw, pitch, roll) degrees and translation (cm) of one (4,4) facial transformation matrix."""
    pose = head_pose(matrix)
    euler = np.array([pose.yaw[0], pose.pitch[0], pose.roll[0]], np.float64)
    return euler, pose.translation_cm[0].astype(np.float64)


def rotation_from_euler(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """(3,3) R = Ry(yaw) Rx(-pitch) Rz(roll): the inverse of `head_euler`'s decomposition."""
    a, b, c = np.radians([yaw_deg, -pitch_deg, roll_deg])
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return ry @ rx @ rz


def quaternion_from_matrix(r: np.ndarray) -> np.ndarray:
    """(x, y, z, w) unit quaternion of a (3,3) rotation matrix, w >= 0."""
    m = np.asarray(r, np.float64)
    # The largest of the four candidate components is computed first (numerically stable for any angle).
    diag = np.array([m[0, 0] - m[1, 1] - m[2, 2], m[1, 1] - m[0, 0] - m[2, 2], m[2, 2] - m[0, 0] - m[1, 1],
                     m[0, 0] + m[1, 1] + m[2, 2]])
    k = int(np.argmax(diag))
    s = 2.0 * np.sqrt(max(1.0 + diag[k], 1e-12))
    if k == 3:
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, s / 4]
    elif k == 0:
        q = [s / 4, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif k == 1:
        q = [(m[0, 1] + m[1, 0]) / s, s / 4, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, s / 4, (m[1, 0] - m[0, 1]) / s]
    out = np.array(q, np.float64)
    out /= np.linalg.norm(out)
    return -out if out[3] < 0 else out


def to_unity_quaternion(q_camera: np.ndarray) -> np.ndarray:
    """A rotation of the subject's head (camera frame) as the same motion of an avatar facing the viewer in
    Unity's left-handed frame (+X right, +Y up, +Z forward; an avatar looks along +Z, its left is -X).

    The subject's left (+X camera) becomes the avatar's left (-X Unity): the reflection diag(-1, 1, 1) on
    both sides of R, which negates the quaternion's y and z. The avatar then moves like the person, not like
    their mirror image (turning to one's own left turns the avatar to its own left)."""
    x, y, z, w = np.asarray(q_camera, np.float64)
    return np.array([x, -y, -z, w], np.float64)


def eye_gaze(landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(2,2) degrees [[left yaw, left pitch], [right yaw, right pitch]] of one face's (478,3) normalized
    landmarks. Yaw > 0: the eye looks toward the image's right (as head yaw); pitch > 0: looks up."""
    lm = np.asarray(landmarks, np.float64)
    if lm.shape[0] < 478:
        return np.zeros((2, 2))
    px = lm[:, :2] * np.asarray(image_size, np.float64)
    out = np.zeros((2, 2))
    for row, (iris, corner_a, corner_b) in enumerate((_LEFT_EYE, _RIGHT_EYE)):
        a, b = px[corner_a], px[corner_b]
        axis = b - a
        half = np.linalg.norm(axis) / 2.0
        if half < 1e-6:
            continue
        u = axis / (2.0 * half)
        down = np.array([-u[1], u[0]])  # image y grows downward
        d = px[iris] - (a + b) / 2.0
        sx = np.clip(d @ u / half / _EYEBALL_RADIUS_HALF_WIDTHS, -1.0, 1.0)
        sy = np.clip(d @ down / half / _EYEBALL_RADIUS_HALF_WIDTHS, -1.0, 1.0)
        out[row] = np.degrees(np.arcsin(sx)), -np.degrees(np.arcsin(sy))
    return out
