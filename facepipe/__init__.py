"""facepipe: MediaPipe-class perception in plain Python on the official models."""

from facepipe._version import __version__

__all__ = ["__version__"]
