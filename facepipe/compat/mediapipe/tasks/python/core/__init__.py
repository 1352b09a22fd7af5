from facepipe.compat.mediapipe.tasks.python.core import base_options  # noqa: F401
