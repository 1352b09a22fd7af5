"""User-facing errors. Each message names the file or model and the problem."""

from __future__ import annotations

__all__ = ["CancelledError", "FacepipeError", "InputError", "ModelError", "ProcessingError", "UsageError"]


class FacepipeError(Exception):
    """Base class for errors that are reported to the user without a traceback."""

    exit_code = 1


class UsageError(FacepipeError):
    """An option or argument is out of its range or contradicts another (exit status 2, as argparse)."""

    exit_code = 2


class InputError(FacepipeError):
    """An input file is missing, unreadable, empty or of an unsupported kind."""


class ModelError(FacepipeError):
    """A model is missing, fails its sha256 check, or cannot be loaded."""


class ProcessingError(FacepipeError):
    """Processing failed part-way; nothing partial was written."""


class CancelledError(FacepipeError):
    """The user stopped a job (Ctrl-C, a Cancel button); nothing partial was written."""

    exit_code = 130
