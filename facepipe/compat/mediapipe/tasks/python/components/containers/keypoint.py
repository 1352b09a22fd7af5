from facepipe.compat.mediapipe.tasks.python.components.containers import NormalizedKeypoint  # noqa: F401
