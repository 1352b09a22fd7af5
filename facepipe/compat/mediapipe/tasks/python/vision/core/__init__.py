from facepipe.compat.mediapipe.tasks.python.vision.core import vision_task_running_mode  # noqa: F401
