"""Drop-in for programs written against MediaPipe's Python API.

    import facepipe.compat.mediapipe as mp     # instead of: import mediapipe as mp

or run a program unchanged (its `import mediapipe` resolves here, nothing named
mediapipe needs to be installed):

    python -m facepipe.compat script.py [args]

See docs/migrating-from-mediapipe.md. Nothing in facepipe itself imports this package.
"""

from facepipe.compat._alias import install_mediapipe_alias, uninstall_mediapipe_alias

__all__ = ["install_mediapipe_alias", "uninstall_mediapipe_alias"]
