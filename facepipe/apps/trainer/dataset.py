"""The seed dataset layout: reading and checking it, and the landmark cache beside it.

    ROOT/sets.txt             one dataset folder name per line ('#' comments, blank lines ignored)
    ROOT/NAME/neutral.jpg     the person's neutral expression (calibration)
    ROOT/NAME/NAME.csv        header: the 52 ARKit names in Live Link Face order; one row per image, 0..1
    ROOT/NAME/NAME_000000.jpg images in CSV row order
    ROOT/NAME/landmarks.npz   facepipe's cache of the images' landmarks (rebuilt when an image changes)

Every problem is an InputError naming the file and what is wrong.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facepipe._fsutil import atomic_write, atomic_write_bytes
from facepipe.errors import InputError
from facepipe.solutions.blendshape_regressor import LIVE_LINK_NAMES

log = logging.getLogger(__name__)

__all__ = ["CACHE_NAME", "DatasetFolder", "FolderLandmarks", "add_to_sets", "csv_text", "folder_landmarks",
           "read_folder", "read_root", "read_sets", "write_cache"]

CACHE_NAME = "landmarks.npz"
NEUTRAL_NAME = "neutral.jpg"
_CACHE_VERSION = 1
# Labels slightly outside [0, 1] (rounding in other tools' CSVs) are clipped; beyond this they are an error.
_LABEL_SLACK = 1e-3


@dataclass(frozen=True)
class DatasetFolder:
    """One dataset folder: images in CSV row order, their (N,52) labels (LIVE_LINK_NAMES order), neutral."""

    path: Path
    images: tuple[Path, ...]
    labels: np.ndarray
    neutral: Path

    @property
    def name(self) -> str:
        return self.path.name


def read_sets(root: str | os.PathLike[str]) -> list[str]:
    """Folder names listed in ROOT/sets.txt, in order."""
    sets = Path(root) / "sets.txt"
    if not Path(root).is_dir():
        raise InputError(f"{root}: no such dataset folder")
    try:
        lines = sets.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"{sets}: missing (a dataset root lists its folders in sets.txt)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{sets}: cannot read ({exc})") from exc
    names = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    if not names:
        raise InputError(f"{sets}: lists no dataset folders")
    return names


def read_root(root: str | os.PathLike[str]) -> list[DatasetFolder]:
    """Every folder named in ROOT/sets.txt, checked."""
    root = Path(root)
    folders = []
    for name in read_sets(root):
        path = root / name
        if not path.is_dir():
            raise InputError(f"{root / 'sets.txt'}: names folder {name!r}, which does not exist ({path})")
        folders.append(read_folder(path))
    return folders


def read_folder(path: str | os.PathLike[str]) -> DatasetFolder:
    """One dataset folder, checked: CSV header, values, row count against the images, neutral.jpg."""
    path = Path(path)
    name = path.name
    table = path / f"{name}.csv"
    neutral = path / NEUTRAL_NAME
    if not neutral.is_file():
        raise InputError(f"{neutral}: missing (each dataset folder needs a neutral-expression image)")
    try:
        text = table.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{table}: missing (the labels of folder {name})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{table}: cannot read ({exc})") from exc
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise InputError(f"{table}: empty (expected a header of the 52 ARKit names)")
    header = [h.strip() for h in rows[0]]
    if len(header) != len(LIVE_LINK_NAMES):
        raise InputError(f"{table}: header has {len(header)} columns, expected the {len(LIVE_LINK_NAMES)} ARKit "
                         f"names in Live Link Face order ({LIVE_LINK_NAMES[0]}, ..., {LIVE_LINK_NAMES[-1]})")
    for i, (got, want) in enumerate(zip(header, LIVE_LINK_NAMES)):
        if got != want:
            raise InputError(f"{table}: column {i + 1} is {got!r}, expected {want!r} (Live Link Face order)")
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    labels = np.zeros((len(body), len(LIVE_LINK_NAMES)), np.float32)
    for i, row in enumerate(body):
        if len(row) != len(LIVE_LINK_NAMES):
            raise InputError(f"{table}: row {i + 2} has {len(row)} values, expected {len(LIVE_LINK_NAMES)}")
        try:
            labels[i] = [float(c) for c in row]
        except ValueError:
            raise InputError(f"{table}: row {i + 2} has a value that is not a number") from None
    bad = ~np.isfinite(labels) | (labels < -_LABEL_SLACK) | (labels > 1 + _LABEL_SLACK)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputError(f"{table}: row {r + 2}, {LIVE_LINK_NAMES[c]} = {labels[r, c]}: values must be in [0, 1]")
    images = tuple(sorted(p for p in path.glob(f"{name}_*.jpg") if p.name[len(name) + 1 : -4].isdigit()))
    expected = [path / f"{name}_{i:06d}.jpg" for i in range(len(images))]
    if list(images) != expected:
        missing = next(e for e, got in zip(expected, images) if e != got)
        raise InputError(f"{missing}: missing (images must be numbered {name}_000000.jpg, ... without gaps)")
    if len(images) != len(labels):
        raise InputError(f"{table}: {len(labels)} label rows but {len(images)} images {name}_NNNNNN.jpg in {path}")
    if not images:
        raise InputError(f"{path}: no images")
    return DatasetFolder(path, images, np.clip(labels, 0.0, 1.0), neutral)


def csv_text(labels: np.ndarray) -> str:
    """A dataset CSV: the Live Link header and one row of (52) labels per image."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(LIVE_LINK_NAMES)
    for row in np.asarray(labels, np.float64):
        w.writerow([f"{v:.6f}" for v in row])
    return buf.getvalue()


def add_to_sets(root: Path, name: str) -> None:
    """Append `name` to ROOT/sets.txt (created if missing) unless it is listed; rewritten atomically."""
    sets = root / "sets.txt"
    lines = sets.read_text(encoding="utf-8").splitlines() if sets.is_file() else []
    if name in (ln.strip() for ln in lines):
        return
    atomic_write_bytes(sets, ("\n".join([*lines, name]) + "\n").encode("utf-8"))


# --------------------------------------------------------------------------- landmark cache

@dataclass(frozen=True, eq=False)
class FolderLandmarks:
    """Landmarks of a folder's images: (N,478,3) (NaN where no face was found), `found` (N,), (N,2) image
    sizes, and the neutral image's (478,3) landmarks and size."""

    landmarks: np.ndarray
    found: np.ndarray
    sizes: np.ndarray
    neutral: np.ndarray
    neutral_size: tuple[int, int]


Landmarker = Callable[[np.ndarray], np.ndarray | None]  # RGB image -> (478,3) landmarks of one face, or None


def _stamp(p: Path) -> tuple[int, int]:
    st = p.stat()
    return st.st_size, st.st_mtime_ns


def write_cache(folder: Path, files: Sequence[Path], landmarks: np.ndarray, sizes: np.ndarray) -> None:
    """Write FOLDER/landmarks.npz for `files` (names and size/mtime stamps) atomically."""
    stamps = np.array([_stamp(p) for p in files], np.int64).reshape(-1, 2)
    with atomic_write(folder / CACHE_NAME) as fh:
        np.savez(fh, version=np.int64(_CACHE_VERSION), names=np.array([p.name for p in files]), stamps=stamps,
                 landmarks=np.asarray(landmarks, np.float32), sizes=np.asarray(sizes, np.int64))


def folder_landmarks(folder: DatasetFolder, landmarker: Callable[[], Landmarker], *,
                     progress: Callable[[int], None] | None = None) -> FolderLandmarks:
    """The folder's landmarks from its cache, computing (with `landmarker()`, made only if needed) those
    of images that are new or changed since; the cache is rewritten atomically when anything changed."""
    from facepipe.io.image import read_image

    files = [*folder.images, folder.neutral]
    stamps = np.array([_stamp(p) for p in files], np.int64)
    cache = folder.path / CACHE_NAME
    old: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as z:
                if int(z["version"]) == _CACHE_VERSION:
                    for n, s, lm, size in zip(z["names"], z["stamps"], z["landmarks"], z["sizes"]):
                        old[str(n)] = (s, lm, size)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("%s: unreadable landmark cache, recomputing (%s)", cache, exc)
    lms = np.full((len(files), 478, 3), np.nan, np.float32)
    sizes = np.zeros((len(files), 2), np.int64)
    fresh = 0
    made: Landmarker | None = None
    for i, p in enumerate(files):
        hit = old.get(p.name)
        if hit is not None and np.array_equal(hit[0], stamps[i]):
            lms[i], sizes[i] = hit[1], hit[2]
        else:
            made = made or landmarker()
            image = read_image(p)
            sizes[i] = (image.shape[1], image.shape[0])
            face = made(image)
            if face is not None:
                lms[i] = face
            fresh += 1
        if progress is not None:
            progress(1)
    if fresh:
        write_cache(folder.path, files, lms, sizes)
    found = np.isfinite(lms).all(axis=(1, 2))
    if not found[-1]:
        raise InputError(f"{folder.neutral}: no face found in the neutral image")
    return FolderLandmarks(lms[:-1], found[:-1], sizes[:-1], lms[-1], (int(sizes[-1, 0]), int(sizes[-1, 1])))
