"""Classification messages (light stand-ins for mediapipe/framework/formats/classification_pb2)."""

from facepipe.compat.mediapipe._messages import (  # noqa: F401
    Classification,
    ClassificationList,
    ClassificationListCollection,
)
