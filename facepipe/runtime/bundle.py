"""Verified extraction of one member from an archive: a zip (.task bundles and .whl wheels are both zips)
or a .tar.gz (a source distribution)."""

from __future__ import annotations

import hashlib
import os
import tarfile
import zipfile
from pathlib import Path

from facepipe._fsutil import atomic_write
from facepipe.errors import ModelError

__all__ = ["extract_member", "extract_tar_member", "list_members"]

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


def extract_tar_member(
    archive: str | os.PathLike[str], member: str, dest: str | os.PathLike[str], *, sha256: str, size: int | None
) -> Path:
    """`extract_member` for a .tar.gz: only the regular file `member` is read, nothing else is unpacked."""
    dest = Path(dest)
    try:
        with tarfile.open(archive, "r:gz") as tf:
            try:
                info = tf.getmember(member)
            except KeyError:
                raise ModelError(f"{archive}: has no member {member!r}") from None
            if not info.isfile():
                raise ModelError(f"{archive}: member {member} is not a regular file; refusing it")
            if size is not None and info.size != size:
                raise ModelError(f"{archive}: member {member} is {info.size} bytes, expected {size}; refusing it")
            src = tf.extractfile(info)
            assert src is not None  # a regular file always has a stream
            dest.parent.mkdir(parents=True, exist_ok=True)
            h = hashlib.sha256()
            with src, atomic_write(dest) as out:
                for chunk in iter(lambda: src.read(_CHUNK), b""):
                    h.update(chunk)
                    out.write(chunk)
                got = h.hexdigest()
                if got != sha256:
                    raise ModelError(
                        f"{archive}: member {member} fails its sha256 check (expected {sha256}, got {got});"
                        " refusing it"
                    )
    except (tarfile.TarError, EOFError) as exc:
        raise ModelError(f"{archive}: not a readable .tar.gz archive ({exc})") from exc
    return dest
