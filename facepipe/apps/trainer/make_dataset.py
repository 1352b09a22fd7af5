"""`facepipe train make-dataset`: footage -> one seed-layout dataset folder.

Every frame (or every n-th) is JPEG-encoded and decoded again before the face
landmarker sees it, so the labels belong to exactly the pixels that are stored,
and the landmark cache written beside them is what reading the folder back
would compute. Labels come from the Tasks blendshape model (the teacher), or
from a Live Link Face CSV recorded with the video, matched by timecode.

The folder is built under a temporary name in the dataset root and renamed
into place when complete; sets.txt is updated last. A failure leaves neither.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facepipe.apps.trainer.dataset import NEUTRAL_NAME, add_to_sets, csv_text, write_cache
from facepipe.errors import InputError, UsageError
from facepipe.jobs import Progress, media_kind, open_media
from facepipe.solutions.blendshape_regressor import LIVE_LINK_NAMES

log = logging.getLogger(__name__)

__all__ = ["DatasetReport", "MakeDatasetOptions", "LiveLinkTrack", "make_dataset", "read_live_link"]

@dataclass(frozen=True)
class MakeDatasetOptions:
    """every: keep every n-th frame; max_frames: stop after this many frames of the input.
    neutral: an image of the neutral face (default: the most neutral, most frontal kept frame).
    live_link: a Live Link Face CSV whose rows label the frames (default: the Tasks blendshape model).
    live_link_offset_s: video time of the CSV's first row; timecode_fps: frame rate of its timecodes.
    jpeg_quality: of the stored images."""

    every: int = 1
    max_frames: int | None = None
    neutral: Path | None = None
    live_link: Path | None = None
    live_link_offset_s: float = 0.0
    timecode_fps: float = 60.0
    jpeg_quality: int = 95
    progress: bool = False

    def __post_init__(self) -> None:
        if self.every < 1:
            raise UsageError(f"every must be >= 1, got {self.every}")
        if self.max_frames is not None and self.max_frames < 1:
            raise UsageError(f"max_frames must be >= 1, got {self.max_frames}")
        if not 0 < self.timecode_fps <= 1000:
            raise UsageError(f"timecode fps must be in (0, 1000], got {self.timecode_fps}")
        if not 1 <= self.jpeg_quality <= 100:
            raise UsageError(f"jpeg quality must be in [1, 100], got {self.jpeg_quality}")


@dataclass
class DatasetReport:
    folder: Path
    images: int = 0
    frames: int = 0
    no_face: int = 0
    unlabelled: int = 0  # frames without a Live Link row near them
    neutral_from: str = ""
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- Live Link Face CSV

@dataclass(frozen=True, eq=False)
class LiveLinkTrack:
    """Rows of a Live Link Face CSV: times (R,) seconds from the first row, labels (R,52) LIVE_LINK order."""

    times: np.ndarray
    labels: np.ndarray

    def at(self, t: float, tolerance: float) -> np.ndarray | None:
        i = int(np.argmin(np.abs(self.times - t)))
        return self.labels[i] if abs(self.times[i] - t) <= tolerance else None


def _timecode_seconds(text: str, fps: float) -> float:
    # HH:MM:SS:FF or HH:MM:SS:FF.fff (frames, with a fraction of a frame)
    parts = text.strip().split(":")
    if len(parts) != 4:
        raise ValueError(text)
    h, m, s = (int(p) for p in parts[:3])
    return h * 3600 + m * 60 + s + float(parts[3]) / fps


def read_live_link(path: Path, timecode_fps: float = 60.0) -> LiveLinkTrack:
    """A Live Link Face CSV (Timecode, BlendshapeCount, the 52 names, head/eye rotations); names are
    matched case-insensitively, the extra columns ignored."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from exc
    if len(rows) < 2:
        raise InputError(f"{path}: no rows (expected a Live Link Face CSV)")
    header = [h.strip().lower() for h in rows[0]]
    wanted = ["timecode", *(n.lower() for n in LIVE_LINK_NAMES)]
    missing = [w for w in wanted if w not in header]
    if missing:
        raise InputError(f"{path}: not a Live Link Face CSV: no column {missing[0]!r}"
                         + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    cols = [header.index(w) for w in wanted]
    times, labels = [], []
    for i, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        try:
            times.append(_timecode_seconds(row[cols[0]], timecode_fps))
            labels.append([float(row[c]) for c in cols[1:]])
        except (ValueError, IndexError):
            raise InputError(f"{path}: row {i} has a bad timecode or value") from None
    t = np.asarray(times, np.float64)
    if np.any(np.diff(t) < 0):
        raise InputError(f"{path}: timecodes go backwards (row {int(np.argmax(np.diff(t) < 0)) + 3})")
    return LiveLinkTrack(t - t[0], np.clip(np.asarray(labels, np.float32), 0.0, 1.0))


# --------------------------------------------------------------------------- frames -> folder

def _frames(source: Path, options: MakeDatasetOptions) -> Iterator[tuple[float, np.ndarray]]:
    """(time s, RGB image) of the kept frames of a video, or of a folder's images in name order."""
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.is_file() and media_kind(p) == "image")
        if not files:
            raise InputError(f"{source}: no images in this folder")
        from facepipe.io.image import read_image

        for i, p in enumerate(files[: options.max_frames]):
            if i % options.every == 0:
                yield float(i), read_image(p)
        return
    with open_media(source, max_frames=options.max_frames) as media:
        for f in media:
            if f.index % options.every == 0:
                yield f.timestamp_ms / 1000.0, f.image


class _Teacher:
    """JPEG round trip + Tasks FaceLandmarker (IMAGE mode) with blendshapes and head pose."""

    def __init__(self, quality: int) -> None:
        from facepipe.solutions.face_landmarker import FaceLandmarker, FaceLandmarkerOptions

        self.quality = quality
        self.landmarker = FaceLandmarker(FaceLandmarkerOptions(
            num_faces=1, output_face_blendshapes=True, output_facial_transformation_matrixes=True))

    def encode(self, image: np.ndarray) -> tuple[bytes, np.ndarray]:
        import cv2

        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY,
                                                                                 self.quality])
        if not ok:
            raise InputError("cannot encode a frame as JPEG")
        return buf.tobytes(), cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]

    def __call__(self, image: np.ndarray):
        """(jpeg bytes, decoded size, landmarks (478,3), labels (52) LIVE_LINK order, |yaw|+|pitch|) or
        (jpeg, size, None, None, None) without a face."""
        from facepipe.solutions.blendshapes import ARKIT_NAMES, to_arkit

        jpeg, decoded = self.encode(image)
        size = (decoded.shape[1], decoded.shape[0])
        r = self.landmarker.detect(np.ascontiguousarray(decoded))
        if len(r) == 0:
            return jpeg, size, None, None, None
        arkit = to_arkit(r.blendshapes[:1])[0]
        labels = arkit[[ARKIT_NAMES.index(n) for n in LIVE_LINK_NAMES]]
        pose = r.head_pose()
        turn = float(abs(pose.yaw[0]) + abs(pose.pitch[0]))
        return jpeg, size, r.landmarks[0], labels, turn if np.isfinite(turn) else 180.0


def _neutral_score(labels: np.ndarray, turn: float) -> float:
    # Least expression first; among near ties the most frontal (1 degree ~ 0.01 of summed scores).
    return float(labels.sum()) + 0.01 * turn


def make_dataset(source: str | Path, output: str | Path, options: MakeDatasetOptions | None = None
                 ) -> DatasetReport:
    """Write the dataset folder OUTPUT (= ROOT/NAME) from a video or a folder of images and list it
    in ROOT/sets.txt. Refuses an existing OUTPUT."""
    o = options or MakeDatasetOptions()
    source, out = Path(source), Path(output)
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    name = out.name
    if not name or name.startswith(".") or any(c in name for c in "/\\"):
        raise UsageError(f"{out}: give the output as ROOT/NAME with a plain folder name")
    if out.exists():
        raise InputError(f"{out}: already exists; choose a new dataset name (nothing is overwritten)")
    track = read_live_link(o.live_link, o.timecode_fps) if o.live_link is not None else None
    root = out.parent
    root.mkdir(parents=True, exist_ok=True)
    teacher = _Teacher(o.jpeg_quality)
    report = DatasetReport(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=root))
    try:
        lms, sizes, labels, scores = [], [], [], []
        tolerance = 1.0 / o.timecode_fps  # a frame without a CSV row within one timecode frame is left out
        with Progress(None, f"make-dataset {source.name}", enabled=o.progress) as bar:
            for t, image in _frames(source, o):
                report.frames += 1
                bar.update()
                jpeg, size, lm, teacher_labels, turn = teacher(image)
                if lm is None:
                    report.no_face += 1
                    continue
                if track is not None:
                    row = track.at(t - o.live_link_offset_s, tolerance)
                    if row is None:
                        report.unlabelled += 1
                        continue
                    teacher_labels = row
                (tmp / f"{name}_{len(labels):06d}.jpg").write_bytes(jpeg)
                lms.append(lm)
                sizes.append(size)
                labels.append(teacher_labels)
                scores.append(_neutral_score(teacher_labels, turn))
        if not labels:
            why = "no face found in any frame" if not report.unlabelled else "no frame has a Live Link row"
            raise InputError(f"{source}: {why}; nothing written")
        if o.neutral is not None:
            from facepipe.io.image import read_image

            n_jpeg, n_size, n_lm, _, _ = teacher(read_image(o.neutral))
            if n_lm is None:
                raise InputError(f"{o.neutral}: no face found in the neutral image")
            report.neutral_from = str(o.neutral)
        else:
            best = int(np.argmin(scores))
            n_jpeg, n_size, n_lm = (tmp / f"{name}_{best:06d}.jpg").read_bytes(), sizes[best], lms[best]
            report.neutral_from = f"{name}_{best:06d}.jpg"
        (tmp / NEUTRAL_NAME).write_bytes(n_jpeg)
        (tmp / f"{name}.csv").write_text(csv_text(np.asarray(labels)), encoding="utf-8")
        files = [tmp / f"{name}_{i:06d}.jpg" for i in range(len(labels))] + [tmp / NEUTRAL_NAME]
        write_cache(tmp, files, np.stack([*lms, n_lm]), np.array([*sizes, n_size]))
        tmp.chmod(0o755)
        tmp.rename(out)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise
    add_to_sets(root, name)
    report.images = len(labels)
    return report
