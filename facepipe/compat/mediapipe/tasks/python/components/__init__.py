"""mediapipe.tasks.python.components (containers only)."""

from facepipe.compat.mediapipe.tasks.python.components import containers  # noqa: F401
