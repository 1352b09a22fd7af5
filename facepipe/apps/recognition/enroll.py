"""Enrolling people from photos, and moving galleries between stores (export/import).

Enrollment is all or nothing: every photo is read and embedded first, and the
gallery is written in one transaction only when all of them gave exactly one
face (or `largest` picked one), so a bad photo never leaves a half-enrolled
person behind.

The export file is JSON (biometric data: written atomically with mode 0600):
{"format": "facepipe-gallery", "version": 1, "model_id", "dim", "metric",
 "people": [{"name", "embeddings": [[dim floats]…], "sources": […],
 "thumbnails": [base64 JPEG or null…]}]}.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facepipe.apps.recognition.recognizer import FaceRecognizer
from facepipe.apps.recognition.store import GalleryError, GalleryInfo, GalleryRecord, GalleryStore, check_name
from facepipe.errors import InputError

log = logging.getLogger(__name__)

__all__ = ["Enrollment", "enroll", "export_gallery", "import_gallery", "media_files", "people_folders",
           "read_export"]

EXPORT_FORMAT = "facepipe-gallery"

# Enrollment counts only clearly visible faces (Face Mesh presence): every face of the shared
# identity photos scores >= 0.96, a building BlazeFace took for a face in one of them 0.76.
ENROLL_MIN_PRESENCE = 0.9


@dataclass(frozen=True)
class Enrollment:
    name: str
    embeddings: np.ndarray  # (N,dim)
    sources: list[str]
    thumbnails: list[bytes | None]
    skipped: list[str]


def media_files(paths: Sequence[str | os.PathLike[str]], recursive: bool = False, *,
                videos: bool = False) -> list[Path]:
    """Photos (and videos, if asked) given directly or found in the given folders (sorted), in order."""
    from facepipe.io.image import READABLE_EXTENSIONS
    from facepipe.io.video import is_video_file

    def wanted(f: Path) -> bool:
        return f.is_file() and (f.suffix.lower() in READABLE_EXTENSIONS or (videos and is_video_file(f)))

    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.glob("**/*" if recursive else "*") if wanted(f))
            if not found:
                kinds = "photos or videos" if videos else f"photos ({', '.join(sorted(READABLE_EXTENSIONS))})"
                raise InputError(f"{p}: no {kinds} in this folder")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"{p}: no such file or folder")
    return files


def people_folders(root: str | os.PathLike[str]) -> dict[str, list[Path]]:
    """{NAME: photos} of a folder with one subfolder per person (people/NAME/*.jpg)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder (expected one subfolder of photos per person)")
    out = {d.name: media_files([d]) for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")}
    if not out:
        raise InputError(f"{root}: no subfolders (expected one subfolder of photos per person, named after them)")
    return out


def _thumbnail(recognizer: FaceRecognizer, image: np.ndarray, points5: np.ndarray) -> bytes:
    chip = recognizer.embedder.align(image, points5[None])[0]
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(chip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise GalleryError("could not encode a thumbnail")
    return buf.tobytes()


def embed_photos(recognizer: FaceRecognizer, name: str, photos: Sequence[Path], *, largest: bool = False,
                 skip_bad: bool = False, keep_thumbnails: bool = False) -> Enrollment:
    """One embedding per photo; a photo with no face, or several without `largest`, is an InputError
    (or skipped with a warning under `skip_bad`)."""
    from facepipe.io.image import read_image

    name = check_name(name)
    vectors, sources, thumbs, skipped = [], [], [], []
    for path in photos:
        try:
            image = read_image(path)
            faces, emb = recognizer.embed_faces(image)
            clear = faces.presence >= ENROLL_MIN_PRESENCE
            faces, emb = faces[clear], emb[clear]  # still largest first
            if len(faces) == 0:
                raise InputError(f"{path}: no face found (enroll needs a photo with one clearly visible face)")
            if len(faces) > 1 and not largest:
                raise InputError(f"{path}: {len(faces)} faces found; use --largest to enroll the largest one,"
                                 " or crop the photo to the person")
        except InputError as exc:
            if not skip_bad:
                raise
            log.warning("skipping %s", exc)
            skipped.append(str(path))
            continue
        # Faces come largest first.
        vectors.append(emb[0])
        sources.append(path.name)
        thumbs.append(_thumbnail(recognizer, image, faces.points5[0]) if keep_thumbnails else None)
    if not vectors:
        raise InputError(f"no usable photo of {name!r} ({len(skipped)} skipped)")
    return Enrollment(name, np.stack(vectors), sources, thumbs, skipped)


def enroll(recognizer: FaceRecognizer, people: dict[str, Sequence[Path]], **kwargs: bool) -> list[Enrollment]:
    """Embed every person's photos, then write them all to the recognizer's gallery in one transaction."""
    done = [embed_photos(recognizer, name, photos, **kwargs) for name, photos in people.items()]
    recognizer.gallery.add_records([GalleryRecord(e.name, v, s, t) for e in done
                                    for v, s, t in zip(e.embeddings, e.sources, e.thumbnails)])
    return done


def export_gallery(store: GalleryStore, dest: str | os.PathLike[str]) -> int:
    """Write every embedding of `store` to a JSON file (atomically, mode 0600); returns the count."""
    from facepipe._fsutil import atomic_write

    people: dict[str, dict] = {}
    records = store.records()
    for r in records:
        p = people.setdefault(r.name, {"name": r.name, "embeddings": [], "sources": [], "thumbnails": []})
        p["embeddings"].append([float(x) for x in r.embedding])
        p["sources"].append(r.source)
        p["thumbnails"].append(base64.b64encode(r.thumbnail).decode("ascii") if r.thumbnail else None)
    doc = {"format": EXPORT_FORMAT, "version": 1, "model_id": store.info.model_id, "dim": store.info.dim,
           "metric": store.info.metric, "people": list(people.values())}
    with atomic_write(dest, mode=0o600) as fh:  # embeddings are biometric data: owner only
        fh.write(json.dumps(doc).encode("utf-8"))
    return len(records)


def read_export(src: str | os.PathLike[str]) -> tuple[GalleryInfo, list[GalleryRecord]]:
    """The model info and records of an export file; InputError naming the file if it is not one."""
    src = Path(src)
    try:
        doc = json.loads(src.read_text("utf-8"))
    except FileNotFoundError:
        raise InputError(f"{src}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{src}: not a facepipe gallery export ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
        raise InputError(f"{src}: not a facepipe gallery export (no \"format\": \"{EXPORT_FORMAT}\")")
    try:
        info = GalleryInfo(str(doc["model_id"]), int(doc["dim"]), str(doc["metric"]))
        records = []
        for p in doc["people"]:
            thumbs = p.get("thumbnails") or [None] * len(p["embeddings"])
            for vec, source, th in zip(p["embeddings"], p.get("sources") or [""] * len(p["embeddings"]), thumbs):
                v = np.asarray(vec, np.float32)
                if v.shape != (info.dim,):
                    raise ValueError(f"an embedding of {p['name']!r} has {v.size} values, not {info.dim}")
                records.append(GalleryRecord(str(p["name"]), v, str(source),
                                             base64.b64decode(th) if th else None))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{src}: damaged gallery export ({exc})") from exc
    return info, records


def import_gallery(store: GalleryStore, src: str | os.PathLike[str]) -> int:
    """Add every embedding of an export file to `store` (one transaction); refuses another model's file."""
    info, records = read_export(src)
    store.info.check_compatible(info, f"{src} -> {store.location}", "the file holds")
    return store.add_records(records)
