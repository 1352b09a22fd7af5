"""MediaPipe's face mesh connection sets (mediapipe.python.solutions.face_mesh_connections)."""

from facepipe.compat.mediapipe.python.solutions._common import edge_set

FACEMESH_LIPS = edge_set("FACEMESH_LIPS")
FACEMESH_LEFT_EYE = edge_set("FACEMESH_LEFT_EYE")
FACEMESH_LEFT_IRIS = edge_set("FACEMESH_LEFT_IRIS")
FACEMESH_LEFT_EYEBROW = edge_set("FACEMESH_LEFT_EYEBROW")
FACEMESH_RIGHT_EYE = edge_set("FACEMESH_RIGHT_EYE")
FACEMESH_RIGHT_EYEBROW = edge_set("FACEMESH_RIGHT_EYEBROW")
FACEMESH_RIGHT_IRIS = edge_set("FACEMESH_RIGHT_IRIS")
FACEMESH_FACE_OVAL = edge_set("FACEMESH_FACE_OVAL")
FACEMESH_NOSE = edge_set("FACEMESH_NOSE")
FACEMESH_CONTOURS = edge_set("FACEMESH_CONTOURS")
FACEMESH_IRISES = edge_set("FACEMESH_IRISES")
FACEMESH_TESSELATION = edge_set("FACEMESH_TESSELATION")
