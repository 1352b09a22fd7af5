from facepipe.compat.mediapipe.tasks.python.components.containers import Category  # noqa: F401
