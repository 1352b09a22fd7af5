"""mediapipe.framework: only the result message types (framework.formats.*_pb2), without protobuf."""

from facepipe.compat.mediapipe.framework import formats  # noqa: F401
