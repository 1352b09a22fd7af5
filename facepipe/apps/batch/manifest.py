"""The batch manifest: what is finished, so a rerun skips it and a crashed run resumes.

One JSON object per line in `<output folder>/.facepipe-manifest.jsonl`, appended by the one
process that drives the run (workers never write it) and fsync'ed per line, so a crash loses at
most the line being written (an unreadable last line is ignored). A file counts as done when its
latest record says "done" for the same input bytes (sha256), the same settings (sha256 of the
options, the command and the facepipe version) and every recorded output still has the recorded
sha256. Failures are recorded too (with the error and the attempts), and retried on a rerun.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # tasks.py imports this module
    from facepipe.apps.batch.tasks import ItemResult, WorkItem

log = logging.getLogger("facepipe.batch")

__all__ = ["MANIFEST_NAME", "Manifest", "ManifestLedger", "file_sha256", "settings_sha256"]

MANIFEST_NAME = ".facepipe-manifest.jsonl"
_CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _canonical(obj: Any) -> Any:
    """A JSON-able form of options: dataclasses by field, arrays by shape, dtype and bytes' hash."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {"__type__": type(obj).__qualname__,
                **{f.name: _canonical(getattr(obj, f.name)) for f in dataclasses.fields(obj)}}
    if isinstance(obj, np.ndarray):
        data = np.ascontiguousarray(obj)
        return {"shape": list(data.shape), "dtype": str(data.dtype),
                "sha256": hashlib.sha256(data.tobytes()).hexdigest()}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    return repr(obj)  # Fraction, Path, ...: their repr is their value


def settings_sha256(*parts: Any) -> str:
    from facepipe import __version__

    text = json.dumps([__version__, *(_canonical(p) for p in parts)], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Manifest:
    """Records of finished and failed inputs, keyed by the input's resolved path."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.path = Path(folder) / MANIFEST_NAME
        self._latest: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        if self.path.exists():
            with open(self.path, encoding="utf-8") as fh:
                for n, line in enumerate(fh, 1):
                    try:
                        rec = json.loads(line)
                        self._latest[rec["input"]] = rec
                    except (ValueError, KeyError, TypeError):
                        log.warning("%s:%d: unreadable manifest line ignored (an interrupted write?)", self.path, n)

    @staticmethod
    def key(path: str | os.PathLike[str]) -> str:
        return str(Path(path).resolve())

    def record(self, rec: dict[str, Any]) -> None:
        """Append one record (its "input" is the key) and make it durable before returning."""
        line = json.dumps(rec, sort_keys=True) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
            self._latest[rec["input"]] = rec

    def latest(self, path: str | os.PathLike[str]) -> dict[str, Any] | None:
        return self._latest.get(self.key(path))

    def is_done(self, path: str | os.PathLike[str], settings: str) -> bool:
        """Finished with these settings on these input bytes, and its outputs are still as written."""
        rec = self.latest(path)
        if rec is None or rec.get("status") != "done" or rec.get("settings_sha256") != settings:
            return False
        try:
            if file_sha256(path) != rec.get("input_sha256"):
                return False
            return all(Path(p).is_file() and file_sha256(p) == digest for p, digest in rec["outputs"].items())
        except OSError:
            return False


class ManifestLedger:
    """The runner's record of a batch whose workers write the outputs: a `Manifest` and the task's settings."""

    def __init__(self, folder: str | os.PathLike[str], settings: str) -> None:
        self.manifest = Manifest(folder)
        self.settings = settings

    def is_done(self, item: WorkItem) -> bool:
        return self.manifest.is_done(item.input, self.settings)

    def done(self, item: WorkItem, result: ItemResult) -> None:
        self.manifest.record({"input": self.manifest.key(item.input), "status": "done",
                              "settings_sha256": self.settings, "input_sha256": result.input_sha256,
                              "outputs": result.outputs, "frames": result.frames,
                              "seconds": round(result.seconds, 3), "worker": result.worker})

    def failed(self, item: WorkItem, result: ItemResult, attempts: int) -> None:
        try:
            input_sha = file_sha256(item.input)
        except OSError:
            input_sha = None
        self.manifest.record({"input": self.manifest.key(item.input), "status": "failed", "error": result.error,
                              "settings_sha256": self.settings, "input_sha256": input_sha, "attempts": attempts})
