from facepipe.compat.mediapipe.tasks.python.components.containers import Detection, DetectionResult  # noqa: F401
