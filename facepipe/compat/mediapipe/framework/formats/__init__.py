from facepipe.compat.mediapipe.framework.formats import (  # noqa: F401
    classification_pb2,
    detection_pb2,
    landmark_pb2,
    location_data_pb2,
)
