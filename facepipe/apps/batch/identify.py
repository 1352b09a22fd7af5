"""`faces identify` as a batch run: each worker names the faces of its files against the gallery.

A worker writes, per input, the annotated copy (OUT/NAME_faces.EXT, as the plain run) and that
input's JSON document (OUT/.facepipe-identify/NAME_faces.EXT.json); both are outputs in the
manifest, so a rerun skips the file and still has its document. At the end the driver writes
OUT/faces.json from the documents of every input not failed, in the order of the inputs: the
file the plain run writes.

The gallery's contents are part of the settings: after enrolling or removing someone, a rerun
identifies every file again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from facepipe.apps.batch.manifest import settings_sha256
from facepipe.apps.batch.tasks import Processed, WorkItem

__all__ = ["DOCS_DIR", "IdentifyTask", "gallery_sha256", "write_identify_report"]

DOCS_DIR = ".facepipe-identify"  # per-input JSON documents, below the output folder


def gallery_sha256(store: Any) -> str:
    """A digest of who is enrolled with which embeddings (thumbnails and sources left out)."""
    h = hashlib.sha256(f"{store.info.model_id}|{store.info.dim}|{store.info.metric}".encode())
    for rec in sorted(store.records(), key=lambda r: (r.name, r.embedding.tobytes())):
        h.update(rec.name.encode("utf-8") + b"\0")
        h.update(rec.embedding.astype("<f4").tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class IdentifyTask:
    """options: RecognizerOptions; gallery: its file or URL, resolved (every worker opens the same);
    votes: TrackVoteOptions for videos; gallery_sha256: its contents when the run was planned."""

    options: Any
    gallery: str
    votes: Any
    max_frames: int | None = None
    gallery_sha256: str = ""
    command: str = "faces identify"

    def with_threads(self, threads: int | None) -> IdentifyTask:
        spotter = self.options.spotter
        spotter = replace(spotter, runtime=replace(spotter.runtime, num_threads=threads))
        return replace(self, options=replace(self.options, spotter=spotter))

    def settings(self) -> str:
        # threads are left out: results are bit-identical for any count (RuntimeOptions)
        return settings_sha256(self.with_threads(None))

    def processor(self) -> _Identify:
        return _Identify(self)


def doc_path(annotated: Path) -> Path:
    return annotated.parent / DOCS_DIR / f"{annotated.name}.json"


class _Identify:
    def __init__(self, task: IdentifyTask) -> None:
        from facepipe.apps.recognition.recognizer import FaceRecognizer

        self.task = task
        self.recognizer = FaceRecognizer(task.gallery, task.options)

    def __call__(self, item: WorkItem) -> Processed:
        from facepipe._fsutil import atomic_write
        from facepipe.apps.recognition.files import identify_image_file, identify_video_file

        if item.kind == "video":
            doc = identify_video_file(self.recognizer, item.input, item.target, self.task.votes,
                                      max_frames=self.task.max_frames)
        else:
            doc = identify_image_file(self.recognizer, item.input, item.target)
        dest = item.outputs[-1]
        dest.parent.mkdir(exist_ok=True)
        with atomic_write(dest, mode=0o600) as fh:  # last: a document exists only beside its annotated copy
            fh.write(json.dumps(doc).encode("utf-8"))
        return Processed(len(doc["frames"]), sum(len(f["faces"]) for f in doc["frames"]))

    def close(self) -> None:
        self.recognizer.close()


def write_identify_report(items: list[WorkItem], failed: set[Path], output: Path, head: dict[str, Any]) -> int:
    """OUT/faces.json: `head` (identify_report's model_id, threshold, gallery) and the documents of
    `items` not in `failed`, in order; returns how many."""
    from facepipe._fsutil import atomic_write
    from facepipe.apps.recognition.files import identify_report

    docs = [json.loads(item.outputs[-1].read_text(encoding="utf-8")) for item in items if item.input not in failed]
    with atomic_write(output / "faces.json", mode=0o600) as fh:
        fh.write((json.dumps(identify_report(**head, inputs=docs)) + "\n").encode("utf-8"))
    return len(docs)
