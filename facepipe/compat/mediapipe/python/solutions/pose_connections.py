"""MediaPipe's pose connection set (mediapipe.python.solutions.pose_connections)."""

from facepipe.compat.mediapipe.python.solutions._common import edge_set

POSE_CONNECTIONS = edge_set("POSE_CONNECTIONS")
