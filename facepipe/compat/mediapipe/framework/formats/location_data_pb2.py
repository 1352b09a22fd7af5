"""LocationData messages (light stand-ins for mediapipe/framework/formats/location_data_pb2)."""

from facepipe.compat.mediapipe._messages import LocationData  # noqa: F401
