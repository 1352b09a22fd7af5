"""sha256 of files, remembered per file identity so a model is hashed once per process.

The key is (path, inode, size, mtime_ns, ctime_ns): any rewrite or replacement
of the file changes at least one of these, so a changed file is hashed again,
while repeated `resolve_model` calls on an unchanged 3 MB model cost one stat.
File timestamps are coarse (a kernel tick), so a file modified within the
same tick as it was hashed would keep its key; as git does for its index, a
digest is therefore only remembered once the file's ctime is a couple of
seconds old ("racy" files are simply hashed again).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path
from typing import BinaryIO

__all__ = ["DigestCache", "sha256_file", "sha256_stream", "DIGESTS"]

_CHUNK = 1 << 20
_RACY_NS = 2_000_000_000


def sha256_stream(fh: BinaryIO) -> str:
    h = hashlib.sha256()
    for chunk in iter(lambda: fh.read(_CHUNK), b""):
        h.update(chunk)
    return h.hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as fh:
        return sha256_stream(fh)


class DigestCache:
    """Thread-safe memo of file sha256 keyed by the file's identity; counts hits for tests/diagnostics."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._digests: dict[tuple[str, int, int, int, int], str] = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _key(path: Path) -> tuple[str, int, int, int, int]:
        st = path.stat()
        return (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def sha256(self, path: str | os.PathLike[str]) -> str:
        path = Path(path)
        key = self._key(path)
        with self._lock:
            digest = self._digests.get(key)
            if digest is not None:
                self.hits += 1
                return digest
            self.misses += 1
        # Hash outside the lock: two threads may hash the same file once each, which is harmless.
        digest = sha256_file(path)
        if time.time_ns() - key[4] > _RACY_NS:
            with self._lock:
                self._digests[key] = digest
        return digest

    def clear(self) -> None:
        with self._lock:
            self._digests.clear()
            self.hits = self.misses = 0


# One per process: the memo only ever holds facts about files (their content hash), so sharing is safe.
DIGESTS = DigestCache()
