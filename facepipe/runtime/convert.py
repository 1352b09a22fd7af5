"""Model converters the store can run: registered name -> function(source bytes) -> converted bytes.

A converted model is registered with the sha256 of the converter's output, so
a conversion is only accepted if it reproduces exactly the pinned bytes (the
converters are deterministic); a changed converter must re-pin that hash.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from facepipe._fsutil import atomic_write_bytes
from facepipe.errors import ModelError

__all__ = ["CONVERTERS", "convert_verified"]


def _dlib_face_recognition(data: bytes) -> bytes:
    from facepipe.runtime.convert_dlib import convert_dlib_face_recognition
    from facepipe.runtime.dlib_format import DlibFormatError

    try:
        return convert_dlib_face_recognition(data)
    except DlibFormatError as exc:
        raise ModelError(f"not dlib's face recognition network: {exc}") from exc


CONVERTERS: dict[str, Callable[[bytes], bytes]] = {"dlib_face_recognition": _dlib_face_recognition}


def convert_verified(converter: str, source: Path, dest: Path, *, sha256: str) -> Path:
    """Convert `source` with `converter` and write it to `dest` only if the result has `sha256`."""
    import hashlib

    try:
        func = CONVERTERS[converter]
    except KeyError:
        raise ModelError(f"unknown converter {converter!r}") from None
    try:
        out = func(source.read_bytes())
    except ModelError as exc:
        raise ModelError(f"{source}: {exc}") from exc
    got = hashlib.sha256(out).hexdigest()
    if got != sha256:
        raise ModelError(
            f"converting {source} with the {converter} converter gave sha256 {got}, expected {sha256};"
            " refusing the result (converter and registry disagree)"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(dest, out)
    return dest
