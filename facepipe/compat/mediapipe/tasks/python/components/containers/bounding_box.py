from facepipe.compat.mediapipe.tasks.python.components.containers import BoundingBox  # noqa: F401
