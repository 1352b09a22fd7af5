"""mediapipe.python.solutions (also `mp.solutions`): the legacy solutions on facepipe."""

from facepipe.compat.mediapipe.python.solutions import (  # noqa: F401 - MediaPipe imports them all here too
    drawing_styles,
    drawing_utils,
    face_detection,
    face_mesh,
    face_mesh_connections,
    hands,
    hands_connections,
    holistic,
    pose,
    pose_connections,
    selfie_segmentation,
)


def __getattr__(name: str):
    from facepipe.compat.mediapipe.python.solutions._common import unimplemented

    raise unimplemented(__name__, name, "facepipe.compat covers face_detection, face_mesh, hands, pose, holistic, "
                                        "selfie_segmentation, drawing_utils and drawing_styles (objectron is not "
                                        "available in facepipe).")
