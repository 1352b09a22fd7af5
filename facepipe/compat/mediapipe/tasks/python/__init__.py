"""mediapipe.tasks.python: BaseOptions, vision, components."""

from facepipe.compat.mediapipe.tasks.python import components, core, vision  # noqa: F401
from facepipe.compat.mediapipe.tasks.python.core.base_options import BaseOptions  # noqa: F401


def __getattr__(name: str):
    from facepipe.compat.mediapipe.python.solutions._common import unimplemented

    raise unimplemented(__name__, name, "Only the vision tasks are provided (no audio, text or genai).")
