"""Atomic file writes: a reader never sees a half-written file.

Everything is written to a temporary file in the destination's own directory
(so the final `os.replace` is a rename on one filesystem, hence atomic) and
renamed over the destination only once complete. On any error the temporary
file is removed and the destination is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write", "atomic_write_bytes", "refuse_overwrite"]


@contextlib.contextmanager
def atomic_write(dest: str | os.PathLike[str], mode: int = 0o644) -> Iterator[BinaryIO]:
    """Open a temporary file next to `dest` for binary writing; rename it onto `dest` on success,
    with permissions `mode` (0o600 for private data such as face embeddings)."""
    dest = Path(dest)
    # The suffix is kept so that tools keyed on extensions still recognise the temp file.
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600; model files and images are meant to be readable by others.
        # (Reading the umask would mean setting it, which is not thread-safe.)
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(dest: str | os.PathLike[str], data: bytes) -> None:
    with atomic_write(dest) as fh:
        fh.write(data)


def refuse_overwrite(output: str | os.PathLike[str], *inputs: str | os.PathLike[str]) -> None:
    """InputError if `output` is one of the existing `inputs`: no command ever writes over its input."""
    from facepipe.errors import InputError

    out = Path(output).resolve()
    for src in inputs:
        if Path(src).exists() and Path(src).resolve() == out:
            raise InputError(f"{output}: refusing to overwrite the input file {src}")
