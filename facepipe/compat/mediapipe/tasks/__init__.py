"""mediapipe.tasks (`mp.tasks`): BaseOptions, vision, components (same objects as mediapipe.tasks.python)."""

import sys

from facepipe.compat.mediapipe.tasks import python  # noqa: F401
from facepipe.compat.mediapipe.tasks.python import BaseOptions, components, vision  # noqa: F401

# The newer spelling `mediapipe.tasks.vision` / `mediapipe.tasks.components...`: the same modules.
sys.modules[__name__ + ".vision"] = vision
sys.modules[__name__ + ".components"] = components
sys.modules[__name__ + ".components.containers"] = components.containers


def __getattr__(name: str):
    from facepipe.compat.mediapipe.python.solutions._common import unimplemented

    raise unimplemented(__name__, name, "Only the vision tasks are provided (no audio, text or genai).")
