"""Collecting the input files of a job: files named on the command line and the images and videos
inside named folders.

    for item in collect_inputs(["photos/", "clip.mp4"], recursive=True, skip=is_my_output):
        item.path, item.kind, item.folder   # folder: where it was found (None for a named file)

A named file is always taken (its content is checked when opened). Inside folders, files are
taken by extension, hidden files and `skip(path)` are left out, and a symbolic link that leads
back into a folder already walked (a loop) is walked once. A missing path is an InputError.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from facepipe.errors import InputError
from facepipe.io.image import READABLE_EXTENSIONS
from facepipe.io.video import VIDEO_EXTENSIONS

log = logging.getLogger(__name__)

__all__ = ["InputFile", "collect_inputs", "media_kind"]


def media_kind(path: Path) -> str | None:
    """"image" or "video" by extension; None for anything else."""
    ext = path.suffix.lower()
    if ext in READABLE_EXTENSIONS:
        return "image"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    return None


@dataclass(frozen=True)
class InputFile:
    """path: the file. kind: "image", "video" or None (a named file of unknown type).
    folder: the named folder it was found in, None for a file named directly."""

    path: Path
    kind: str | None
    folder: Path | None = None

    @property
    def relative_folder(self) -> Path:
        """Its folder below the named folder (Path() for a named file): where outputs mirror it."""
        return self.path.parent.relative_to(self.folder) if self.folder is not None else Path()


def collect_inputs(paths: Iterable[str | os.PathLike[str]], *, recursive: bool = False,
                   skip: Callable[[Path], bool] | None = None) -> list[InputFile]:
    found: list[InputFile] = []
    for p in map(Path, paths):
        if p.is_dir():
            files = sorted(_walk(p, recursive))
            taken = [f for f in files if media_kind(f) is not None and not (skip and skip(f))]
            if not taken:
                hint = "" if recursive else " (use --recursive for subfolders)"
                log.warning("%s: no images or videos found%s", p, hint)
            found += [InputFile(f, media_kind(f), p) for f in taken]
        elif p.exists() or p.is_symlink():
            found.append(InputFile(p, media_kind(p)))
        else:
            raise InputError(f"{p}: no such file or folder")
    return found


def _walk(root: Path, recursive: bool) -> Iterator[Path]:
    """Visible files below `root`, each real folder walked once (symlink loops end)."""
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
            entries = list(os.scandir(folder))
        except OSError as exc:  # unreadable folder, or a link loop the OS refuses to follow
            log.warning("%s: skipped (%s)", folder, exc.strerror or exc)
            continue
        if (st.st_dev, st.st_ino) in seen:
            log.warning("%s: skipped, a link back to a folder already searched", folder)
            continue
        seen.add((st.st_dev, st.st_ino))
        for e in entries:
            if e.name.startswith("."):
                continue
            path = Path(e.path)
            try:
                if e.is_dir():
                    if recursive:
                        stack.append(path)
                elif e.is_file():
                    yield path
            except OSError:  # a dangling or looping link
                log.warning("%s: skipped, a broken link", path)
