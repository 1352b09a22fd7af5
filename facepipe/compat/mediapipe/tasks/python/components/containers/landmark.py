from facepipe.compat.mediapipe.tasks.python.components.containers import Landmark, NormalizedLandmark  # noqa: F401
