"""Face-leak test of anonymizers: an independent detector looks for faces the output still shows.

For every INPUT frame (each video frame of ../shared/testdata/videos, and the
group photos), YuNet (OpenCV FaceDetectorYN, face_detection_yunet_2023mar,
score >= 0.8) finds the faces. Each face box is then compared between the
input frame and the same frame of the output:

    a pixel is "changed" when max over R,G,B of |output - input| > DIFF_THRESHOLD (6),
    a face is "covered" when at least half of the pixels of its box are changed,
    otherwise it is a LEAK.

The price of recall is shown too: "frame changed" is the mean share of each
frame's pixels that the tool changed (faces and whatever else it blurred;
with redaction off, re-encoding alone changes about 1 % of tfjs_pose_1: --calibrate).

The price of recall in false positives is counted too: "false regions" are the changed
areas away from every face (see RegionJudge: connected changed areas of at least 100 px
outside the zones of YuNet's faces at the low score 0.3, that the face mesh does not take
for a face either), summed over frames, and "false %" is their mean share of the frame.
Changes are taken against the tool's own output with redaction off (cached), so that
re-encoding noise does not count.

The threshold is the smallest that re-encoding noise alone never crosses for
half a face box (measured with --calibrate, which runs both tools with
redaction turned off: the median face has 2-5 % of its pixels above 6, none
reaches 50 %); a larger one would count a blurred but dark, flat face (where
blurring moves pixels little) as a leak. Frame i of the output is compared with frame i of the input;
an output with a different frame count or size is reported (and resized /
truncated for the comparison).

Tools: facepipe (this checkout, defaults) and deface (side venv, defaults:
`deface IN -o OUT`). Leaks are reported per 1000 YuNet faces' frames, i.e. per
1000 frames, and crops of each leak can be saved (--crops DIR) to look at.

    python benchmarks/leak_test.py                    # both tools, all videos + group photos
    python benchmarks/leak_test.py --tools facepipe --videos lp_d12_talking.mp4
    python benchmarks/leak_test.py --tools facepipe --in-memory --max-frames 60   # quick, while iterating

`--in-memory` runs facepipe in this process on the decoded frames (its default video and photo
options: the same FaceFinder, tracker, backfill and redaction as the command, frames not
encoded, so no re-encoding noise counts); `--max-frames N` keeps each video's first N frames.

It ends with one table: per video and photo, each tool's leaks, least covered face (the smallest
share of a YuNet face's box changed: the margin above 50 %), false regions, false % and frame
changed, side by side, and totals for videos and photos.

`--identity` adds a second criterion beside the pixel one (see IdentityCheck): faces YuNet finds
again in the output ("redetected"), and faces whose dlib embedding in the output stays within 0.6
of the input's ("recognisable", among the faces dlib tells from a flat chip). On small faces the
dlib part is weak: a content-free patch (blur 4, the region's mean plus the fixed grain) "matches"
65 of facenet_pedestrians' 588 comparable faces (benchmarks/RESULTS.md, "Grain").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEPIPE_SHARED", REPO.parent / "shared")).resolve()
VIDEOS = SHARED / "testdata" / "videos"
GROUPS = SHARED / "testdata" / "groups"
YUNET = SHARED / "models" / "face_detection_yunet_2023mar.onnx"
# deface lives in the reference venv (tools/setup_reference_venv.sh) unless DEFACE names it.
_REF_PY = os.environ.get("FACEPIPE_REFERENCE_PYTHON")
DEFACE = Path(os.environ.get("DEFACE") or (Path(_REF_PY).parent / "deface" if _REF_PY else "deface"))
DIFF_THRESHOLD = 6
COVERED_FRACTION = 0.5
BORDERLINE = 0.6  # covered faces changed less than this are counted apart: the margin of a 0 leaks
YUNET_SCORE = 0.8
CACHE = Path(tempfile.gettempdir()) / "facepipe_leak_cache"


def _yunet(frames: list[np.ndarray], path: Path, score: float, columns: list[int]) -> list[np.ndarray]:
    """YuNet's faces of each frame (score >= `score`) as rows of `columns` of its output, with the
    box's x,y,w,h made x0,y0,x1,y1; cached in `path`."""
    CACHE.mkdir(exist_ok=True)
    if path.exists():
        data = np.load(path)
        return [data[f"f{i}"] for i in range(len(frames))]
    det = cv2.FaceDetectorYN.create(str(YUNET), "", (320, 320), score, 0.3, 5000)
    out = []
    for rgb in frames:
        det.setInputSize((rgb.shape[1], rgb.shape[0]))
        _, faces = det.detect(np.ascontiguousarray(rgb[..., ::-1]))
        if faces is None:
            out.append(np.zeros((0, len(columns)), np.float32))
            continue
        b = faces[:, columns].astype(np.float32)
        b[:, 2:4] += b[:, :2]
        out.append(b)
    np.savez(path, **{f"f{i}": a for i, a in enumerate(out)})
    return out


def yunet_faces(frames: list[np.ndarray], key: str, score: float = YUNET_SCORE) -> list[np.ndarray]:
    """(N,5) x0,y0,x1,y1,score per frame, score >= `score`; cached by content key."""
    path = CACHE / f"yunet_{key}{'' if score == YUNET_SCORE else f'_{score}'}.npz"
    return _yunet(frames, path, score, [0, 1, 2, 3, 14])


def yunet_landmarks(frames: list[np.ndarray], key: str) -> list[np.ndarray]:
    """(N,15) per frame: x0,y0,x1,y1,score and YuNet's 5 landmarks (x,y: right eye, left eye, nose,
    right and left mouth corner), score >= YUNET_SCORE; the same faces as `yunet_faces`; cached."""
    return _yunet(frames, CACHE / f"yunet15_{key}.npz", YUNET_SCORE, [0, 1, 2, 3, 14, *range(4, 14)])


def read_frames(path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames (upright RGB) and their presentation times in seconds."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        frames, times = [], []
        for f in c.decode(s):
            img = f.to_ndarray(format="rgb24")
            rot = f.rotation if hasattr(f, "rotation") else 0
            if rot:
                img = np.ascontiguousarray(np.rot90(img, k=int(round(rot / 90))))
            frames.append(img)
            times.append(float(f.pts * s.time_base) if f.pts is not None else np.nan)
        return frames, np.asarray(times)


def align(in_times: np.ndarray, out_times: np.ndarray) -> np.ndarray:
    """For each input frame, the output frame shown at the same time (-1: none within half a frame).

    Tools that rewrite timestamps (constant-rate output, dropped start offset) are matched by
    time; where times are missing, by index.
    """
    n_in, n_out = len(in_times), len(out_times)
    if n_out == 0:
        return np.full(n_in, -1)
    if np.isnan(in_times).any() or np.isnan(out_times).any():
        idx = np.arange(n_in)
        return np.where(idx < n_out, idx, -1)
    step = np.median(np.diff(in_times)) if n_in > 1 else 1.0
    j = np.clip(np.searchsorted(out_times, in_times), 1, n_out - 1) if n_out > 1 else np.zeros(n_in, int)
    if n_out > 1:
        j = np.where(np.abs(out_times[j - 1] - in_times) <= np.abs(out_times[j] - in_times), j - 1, j)
    return np.where(np.abs(out_times[j] - in_times) <= step / 2 + 1e-6, j, -1)


def changed_fraction(a: np.ndarray, b: np.ndarray, box: np.ndarray) -> float:
    h, w = a.shape[:2]
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    if x1 <= x0 or y1 <= y0:
        return 1.0
    d = np.abs(a[y0:y1, x0:x1].astype(np.int16) - b[y0:y1, x0:x1].astype(np.int16)).max(-1)
    return float((d > DIFF_THRESHOLD).mean())


# False-positive regions: changed areas away from every face. The pixels that differ between the
# tool's output and its own output with redaction off (so that re-encoding noise does not count)
# are closed (a blur leaves flat parts of its region unchanged) and opened (thin edges); the zone
# of each YuNet face at the low threshold WEAK_YUNET_SCORE (its box scaled by FACE_ZONE, room for
# hair, ears and a mask margin) is taken out, so that redactions of neighbouring faces do not
# merge with the blobs between them. Each connected part left of at least REGION_MIN_AREA pixels
# is a region; it is a face after all when the face mesh, run on the square around it, says a
# face is there (presence >= MESH_PRESENCE: faces YuNet misses, profiles, tiny or blurred faces),
# else a false positive.
WEAK_YUNET_SCORE = 0.3
FACE_ZONE = 2.0
REGION_MIN_AREA = 100
MESH_PRESENCE = 0.5


def changed_mask(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """uint8 mask of the areas that differ between frames `a` and `b` (closed, then opened)."""
    changed = (np.abs(a.astype(np.int16) - b.astype(np.int16)).max(-1) > DIFF_THRESHOLD).astype(np.uint8)
    changed = cv2.morphologyEx(changed, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
    return cv2.morphologyEx(changed, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))


class RegionJudge:
    """Finds the changed regions of an output frame that hold no face (see WEAK_YUNET_SCORE)."""

    def __init__(self) -> None:
        from facepipe.solutions.face_mesh import FaceMesh, FaceMeshOptions

        self._mesh = FaceMesh(FaceMeshOptions(static_image_mode=True))

    def false_regions(self, rgb: np.ndarray, changed: np.ndarray, weak_faces: np.ndarray) -> tuple[int, float]:
        """(number of false-positive regions, their share of the frame) in the `changed` mask of
        input frame `rgb`, whose faces are `weak_faces` (YuNet, low threshold)."""
        H, W = changed.shape
        off = changed.copy()
        for x0, y0, x1, y1 in weak_faces[:, :4]:
            cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * FACE_ZONE / 2, (y1 - y0) * FACE_ZONE / 2
            off[max(0, int(cy - hh)):max(0, int(cy + hh) + 1), max(0, int(cx - hw)):max(0, int(cx + hw) + 1)] = 0
        off = cv2.morphologyEx(off, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
        n, labels, st, _ = cv2.connectedComponentsWithStats(off, connectivity=8)
        big = np.flatnonzero(st[1:, cv2.CC_STAT_AREA] >= REGION_MIN_AREA) + 1
        if len(big) == 0:
            return 0, 0.0
        x, y, w, h = (st[big, i].astype(np.float32) for i in range(4))
        side = np.maximum(w, h)
        rois = np.stack([(x + w / 2) / W, (y + h / 2) / H, side / W, side / H, np.zeros(len(big))], 1)
        _, presence, _ = self._mesh.landmarks_in_rois(rgb, rois.astype(np.float32))
        false = big[presence < MESH_PRESENCE]
        return len(false), float(st[false, cv2.CC_STAT_AREA].sum()) / (H * W)


# The identity criterion (`--identity`), reported beside the pixel one, never instead of it. A face
# is still RECOGNISABLE when dlib's face embedding (DlibFaceEmbedder, aligned on the input face's
# YuNet landmarks) of the output at the face's place lies within IDENTITY_DISTANCE of the input's
# (0.6: dlib's same-person line), counted only for faces dlib can tell from a blank: a chip of one
# flat colour (the face chip's mean) lies at least IDENTITY_DISTANCE from the input face (small, dark
# faces often do not: any blob then "matches" them, and they are reported as not comparable). A face
# is still DETECTABLE when YuNet, run on the output frame, finds a face there again
# (IoU >= REDETECT_IOU) with score >= YUNET_SCORE.
IDENTITY_DISTANCE = 0.6
REDETECT_IOU = 0.5


class IdentityCheck:
    """Is a redacted face still recognisable (dlib) or detectable (YuNet) in the output?"""

    def __init__(self) -> None:
        from facepipe.solutions.face_embedder import DlibFaceEmbedder

        self._embedder = DlibFaceEmbedder()
        self._yunet = cv2.FaceDetectorYN.create(str(YUNET), "", (320, 320), YUNET_SCORE, 0.3, 5000)

    def check(self, rgb: np.ndarray, out: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per face of `faces` ((N,15), `yunet_landmarks`): the embedding distance between input
        and output (NaN for a face dlib does not tell from a flat chip), and the score of the face
        YuNet finds again in the output at its place (0: none)."""
        if len(faces) == 0:
            return np.zeros(0), np.zeros(0)
        kps = faces[:, 5:15].reshape(-1, 5, 2)
        chips = self._embedder.align(rgb, kps)
        flat = np.broadcast_to(chips.mean((1, 2), keepdims=True).round().astype(np.uint8), chips.shape)
        a = self._embedder.embed_chips(chips)
        b = self._embedder.embed(out, kps)
        c = self._embedder.embed_chips(np.ascontiguousarray(flat))
        dist = np.linalg.norm(a - b, axis=1)
        # Faces dlib cannot tell from a flat chip: no distance to judge them by (NaN).
        dist = np.where(np.linalg.norm(a - c, axis=1) >= IDENTITY_DISTANCE, dist, np.nan)
        self._yunet.setInputSize((out.shape[1], out.shape[0]))
        _, found = self._yunet.detect(np.ascontiguousarray(out[..., ::-1]))
        score = np.zeros(len(faces))
        if found is not None and len(found):
            fb = found[:, :4].copy()
            fb[:, 2:] += fb[:, :2]
            lo = np.maximum(faces[:, None, :2], fb[None, :, :2])
            hi = np.minimum(faces[:, None, 2:4], fb[None, :, 2:])
            inter = np.clip(hi - lo, 0, None).prod(-1)
            area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
            iou = inter / (area(faces)[:, None] + area(fb)[None] - inter + 1e-9)
            hit = iou >= REDETECT_IOU
            score = np.where(hit, found[None, :, 14], 0).max(1)
        return dist, score


def compare(inputs: list[np.ndarray], outputs: list[np.ndarray], faces: list[np.ndarray], name: str,
            crops_dir: Path | None, match: np.ndarray | None = None, weak_faces: list[np.ndarray] | None = None,
            judge: RegionJudge | None = None, plain: list[np.ndarray] | None = None,
            identity: IdentityCheck | None = None, landmarks: list[np.ndarray] | None = None) -> dict:
    """match[i]: output frame index for input frame i (-1 none); default frame i. With `judge`,
    `weak_faces` (YuNet at WEAK_YUNET_SCORE) and `plain` (the tool's output with redaction off,
    frame for frame like `outputs`), the changed regions holding no face are counted. With
    `identity` and `landmarks` (`yunet_landmarks`, the same faces as `faces`), the identity
    criterion too."""
    if match is None:
        match = np.where(np.arange(len(inputs)) < len(outputs), np.arange(len(inputs)), -1)
    notes = []
    if len(outputs) != len(inputs):
        notes.append(f"frame count {len(outputs)} != input {len(inputs)}")
    if outputs and outputs[0].shape != inputs[0].shape:
        notes.append(f"frame size {outputs[0].shape[1]}x{outputs[0].shape[0]} != input"
                     f" {inputs[0].shape[1]}x{inputs[0].shape[0]}")
    leaks, total, fracs = 0, 0, []
    leak_frames = []
    least: list[tuple[float, int]] = []  # (changed fraction, frame) of every face
    areas: list[float] = []
    false_regions, false_area = 0, []
    missing = 0
    dists: list[float] = []
    redetected: list[float] = []
    id_frames = []
    for i in range(len(inputs)):
        if match[i] < 0:
            # An input frame with no output frame at its time: its faces are not shown redacted.
            missing += 1
            total += len(faces[i])
            leaks += len(faces[i])
            continue
        out = outputs[match[i]]
        if out.shape != inputs[i].shape:
            out = cv2.resize(out, (inputs[i].shape[1], inputs[i].shape[0]), interpolation=cv2.INTER_AREA)
        # The share of the frame the tool changed: what it hides beyond the faces (precision).
        areas.append(changed_fraction(inputs[i], out, np.array([0, 0, out.shape[1], out.shape[0]])))
        if judge is not None and weak_faces is not None and plain is not None and match[i] < len(plain):
            ref = plain[match[i]]
            if ref.shape != out.shape:
                ref = cv2.resize(ref, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_AREA)
            n, share = judge.false_regions(inputs[i], changed_mask(ref, out), weak_faces[i])
            false_regions += n
            false_area.append(share)
        if identity is not None and landmarks is not None and len(landmarks[i]):
            d, sc = identity.check(inputs[i], out, landmarks[i])
            dists += d.tolist()
            redetected += sc.tolist()
            if ((np.nan_to_num(d, nan=1.0) < IDENTITY_DISTANCE) | (sc >= YUNET_SCORE)).any():
                id_frames.append(i)
        for box in faces[i]:
            total += 1
            f = changed_fraction(inputs[i], out, box)
            fracs.append(f)
            least.append((f, i))
            if f < COVERED_FRACTION:
                leaks += 1
                leak_frames.append(i)
                if crops_dir is not None:
                    x0, y0, x1, y1 = (int(v) for v in box[:4])
                    pad = (x1 - x0) // 2
                    y0, x0 = max(0, y0 - pad), max(0, x0 - pad)
                    crop = np.concatenate([inputs[i][y0:y1 + pad, x0:x1 + pad], out[y0:y1 + pad, x0:x1 + pad]], 1)
                    crops_dir.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(crops_dir / f"{name}_{i:05d}_{x0}_{y0}.png"), crop[..., ::-1])
    if missing:
        notes.append(f"{missing} input frames have no output frame at their time")
    return {"frames": len(inputs), "faces": total, "leaks": leaks, "leak_frames": sorted(set(leak_frames)),
            "median_changed": float(np.median(fracs)) if fracs else None,
            "min_changed": float(np.min(fracs)) if fracs else None,
            "borderline": int(sum(COVERED_FRACTION <= f < BORDERLINE for f in fracs)),
            "least_changed_faces": [[round(f, 3), i] for f, i in sorted(least)[:5]],
            "changed_area": float(np.mean(areas)) if areas else None, "notes": notes,
            "false_regions": false_regions, "false_area": float(np.mean(false_area)) if false_area else None,
            **({} if identity is None or landmarks is None else {
                "recognisable": int(sum(d < IDENTITY_DISTANCE for d in dists if d == d)),
                "comparable": int(sum(d == d for d in dists)),
                "min_distance": float(np.nanmin(dists)) if any(d == d for d in dists) else None,
                "redetected": int(sum(s >= YUNET_SCORE for s in redetected)),
                "max_redetect_score": float(max(redetected)) if redetected else None,
                "identity_frames": id_frames[:20]})}


def run_facepipe(src: Path, dst: Path, extra: list[str]) -> float:
    env = dict(os.environ)
    env.setdefault("FACEPIPE_MODEL_PATH", str(SHARED / "models"))  # legacy models: the store's cache
    cmd = [sys.executable, "-m", "facepipe", "-q", "anonymize", str(src), "-o", str(dst), "--no-progress", *extra]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=REPO)
    return time.perf_counter() - t0


def run_deface(src: Path, dst: Path, extra: list[str]) -> float:
    cmd = [str(DEFACE), str(src), "-o", str(dst), *extra]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


TOOLS = {"facepipe": run_facepipe, "deface": run_deface}


def facepipe_in_memory(frames: list[np.ndarray], is_video: bool) -> list[np.ndarray]:
    """facepipe at its defaults on decoded RGB frames, in this process (nothing encoded): the video
    path's detection, tracking, backfill and redaction frame by frame, or the photo path."""
    from facepipe.apps.anonymize.options import AnonymizeOptions
    from facepipe.apps.anonymize.pipeline import Anonymizer, OfflineAnonymizer

    if not is_video:
        return [Anonymizer(AnonymizeOptions()).process_image(f).image for f in frames]
    off = OfflineAnonymizer(AnonymizeOptions())
    out: dict[int, np.ndarray] = {}
    for f in frames:
        for result, _ in off.push(f.copy()):
            out[result.index] = result.image
    for result, _ in off.flush():
        out[result.index] = result.image
    return [out[i] for i in range(len(frames))]
# Each tool's arguments that turn redaction off (its output then differs from the input by
# re-encoding alone).
PLAIN_ARGS = {"facepipe": ["--method", "none"], "deface": ["--replacewith", "none"]}


def plain_output(tool: str, src: Path, key: str, extra: list[str]) -> Path:
    """The tool's output of `src` with redaction off, cached (it depends on the input and the
    tool's encoder only)."""
    suffix = ".mp4" if src.suffix.lower() in (".mp4", ".mov", ".mkv", ".avi", ".webm") else src.suffix
    args_key = hashlib.sha1(" ".join(extra).encode()).hexdigest()[:8]
    path = CACHE / f"plain_{tool}_{key}_{args_key}{suffix}"
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        tmp = path.with_name(f"tmp_{os.getpid()}_{path.name}")
        TOOLS[tool](src, tmp, [*extra, *PLAIN_ARGS[tool]])
        tmp.replace(path)
    return path


def report(tool: str, name: str, r: dict) -> None:
    """One progress line per tool and input."""
    def rounded(v):
        return v if v is None else round(v, 3)

    identity = ""
    if "recognisable" in r:
        identity = (f" recognisable {r['recognisable']} of {r['comparable']} comparable"
                    f" (least distance {rounded(r['min_distance'])})"
                    f" redetected {r['redetected']} (top score {rounded(r['max_redetect_score'])})")
    print(f"{tool:9s} {name:34s} frames {r['frames']:4d} faces {r['faces']:5d} leaks {r['leaks']:4d}"
          f" median-changed {rounded(r['median_changed'])} least-changed {rounded(r['min_changed'])}"
          f" borderline {r['borderline']} least-changed (share, frame) {r['least_changed_faces'][:3]}"
          f" frame-changed {100 * (r['changed_area'] or 0):.1f}% false-regions {r['false_regions']}"
          f"{identity} {' '.join(r['notes'])} frames-leaked {r['leak_frames'][:12]}", flush=True)


def print_tables(results: dict[str, dict[str, dict]], tools: list[str], videos: list[str], images: list[str]) -> None:
    """One row per input with every tool side by side (leaks, false-positive regions summed over
    frames, mean share of the frame changed), then totals for videos and photos."""
    cols = [("leaks", "leaks"), ("least covered %", "min_changed"), ("false regions", "false_regions"),
            ("false %", "false_area"), ("changed %", "changed_area")]
    if any("recognisable" in r for t in tools for r in results[t].values()):
        cols += [("recognisable / comparable", "recognisable"), ("least distance", "min_distance"),
                 ("redetected", "redetected")]
    percent = ("false_area", "changed_area", "min_changed")

    def cell(r: dict | None, key: str) -> str:
        if r is None or r.get(key) is None:
            return "-"
        if key == "min_distance":
            return f"{r[key]:.3f}"
        if key == "recognisable":
            return f"{r[key]} / {r['comparable']}"
        return f"{100 * r[key]:.1f}" if key in percent else str(r[key])

    ratio = "facepipe" in tools and "deface" in tools

    def ratio_cell(a: float | None, b: float | None) -> list[str]:
        if not ratio:
            return []
        return [f"{a / b:.2f}" if a is not None and b else "-"]

    head = [f"{t} {c}" for c, _ in cols for t in tools] + (["changed facepipe / deface"] if ratio else [])
    print("\n| input | frames | YuNet faces | " + " | ".join(head) + " |")
    print("|---" * (3 + len(head)) + "|")
    for label, names in (("videos", videos), ("photos", images)):
        for n in names:
            rs = {t: results[t].get(n) for t in tools}
            any_r = next((r for r in rs.values() if r), None)
            if any_r is None:
                continue
            ratios = ratio_cell(*((rs[t] or {}).get("changed_area") for t in ("facepipe", "deface"))) if ratio else []
            print(f"| {n} | {any_r['frames']} | {any_r['faces']} | "
                  + " | ".join([*(cell(rs[t], k) for _, k in cols for t in tools), *ratios]) + " |")
        total = []
        for _, k in cols:
            for t in tools:
                rs = [results[t][n] for n in names if n in results[t] and results[t][n].get(k) is not None]
                if not rs:
                    total.append("-")
                elif k == "min_changed":
                    total.append(f"{100 * min(r[k] for r in rs):.1f} (least)")
                elif k == "min_distance":
                    total.append(f"{min(r[k] for r in rs):.3f} (least)")
                elif k == "recognisable":
                    total.append(f"{sum(r[k] for r in rs)} / {sum(r['comparable'] for r in rs)}")
                elif k in percent:
                    total.append(f"{100 * np.mean([r[k] for r in rs]):.1f} (mean)")
                else:
                    total.append(str(sum(r[k] for r in rs)))
        if ratio:
            means = [np.mean([results[t][n]["changed_area"] for n in names
                              if results[t].get(n, {}).get("changed_area") is not None] or [np.nan])
                     for t in ("facepipe", "deface")]
            total += ratio_cell(*(None if np.isnan(m) else float(m) for m in means))
        frames = [results[t][n]["frames"] for n in names for t in tools[:1] if n in results[t]]
        faces = [results[t][n]["faces"] for n in names for t in tools[:1] if n in results[t]]
        if frames:
            print(f"| **{label} ({len(frames)})** | {sum(frames)} | {sum(faces)} | " + " | ".join(total) + " |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tools", default="facepipe,deface")
    ap.add_argument("--videos", nargs="*", default=None, help="video file names (default: all)")
    ap.add_argument("--no-images", action="store_true", help="skip the group photos")
    ap.add_argument("--no-videos", action="store_true")
    ap.add_argument("--facepipe-args", default="", help="extra facepipe anonymize arguments")
    ap.add_argument("--deface-args", default="", help="extra deface arguments")
    ap.add_argument("--calibrate", action="store_true",
                    help="run both tools with redaction off, to measure re-encoding noise")
    ap.add_argument("--crops", type=Path, default=None, help="save input|output crops of each leak here")
    ap.add_argument("--no-regions", action="store_true", help="skip the false-positive region count (faster)")
    ap.add_argument("--identity", action="store_true",
                    help="the identity criterion too (dlib distance, YuNet re-detection on the output)")
    ap.add_argument("--json", type=Path, default=None, help="write the results as JSON")
    ap.add_argument("--in-memory", action="store_true",
                    help="facepipe in this process on the decoded frames, not encoded (see the module doc)")
    ap.add_argument("--max-frames", type=int, default=None, help="only the first N frames of each video")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="JSON of an earlier run (--json): its tools not run now join the table (e.g. deface,"
                         " whose output does not change between facepipe versions)")
    args = ap.parse_args(argv)
    tools = [t for t in args.tools.split(",") if t]
    extra = {"facepipe": args.facepipe_args.split(), "deface": args.deface_args.split()}
    user_extra = dict(extra)
    if args.calibrate:
        extra = {t: [*extra[t], *PLAIN_ARGS[t]] for t in extra}
    videos = [] if args.no_videos else sorted(VIDEOS.glob("*.*"))
    if args.videos:
        videos = [VIDEOS / v for v in args.videos]
    images = [] if args.no_images else sorted(GROUPS.glob("*.jpg"))
    results: dict[str, dict[str, dict]] = {t: {} for t in tools}
    judge = None if args.no_regions else RegionJudge()
    identity = IdentityCheck() if args.identity else None
    work = Path(tempfile.mkdtemp(prefix="leaktest_"))
    try:
        for src in [*videos, *images]:
            is_video = src in videos
            inputs, in_times = read_frames(src) if is_video else ([cv2.imread(str(src))[..., ::-1].copy()], None)
            key = hashlib.sha1(src.read_bytes()).hexdigest()[:16]
            faces = yunet_faces(inputs, key)  # of every frame: the cache holds the whole video's
            weak = yunet_faces(inputs, key, WEAK_YUNET_SCORE) if judge is not None else None
            marks = yunet_landmarks(inputs, key) if identity is not None else None
            if is_video and args.max_frames:
                inputs, in_times, faces = inputs[:args.max_frames], in_times[:args.max_frames], faces[:args.max_frames]
                weak = None if weak is None else weak[:args.max_frames]
                marks = None if marks is None else marks[:args.max_frames]
            for tool in tools:
                if tool == "facepipe" and args.in_memory:
                    t0 = time.perf_counter()
                    outputs = facepipe_in_memory(inputs, is_video)
                    r = compare(inputs, outputs, faces, f"{tool}_{src.stem}",
                                args.crops / tool if args.crops else None, None, weak, judge, inputs,
                                identity, marks)
                    r["seconds"] = time.perf_counter() - t0
                    results[tool][src.name] = r
                    report(tool, src.name, r)
                    continue
                dst = work / f"{tool}_{src.stem}{src.suffix if not is_video else '.mp4'}"
                try:
                    secs = TOOLS[tool](src, dst, extra[tool])
                except subprocess.CalledProcessError as exc:
                    results[tool][src.name] = {"error": str(exc), "frames": len(inputs),
                                               "faces": int(sum(len(f) for f in faces)),
                                               "leaks": int(sum(len(f) for f in faces))}
                    print(f"{tool:9s} {src.name:34s} FAILED: {exc}", flush=True)
                    continue
                read = (lambda p: read_frames(p)[0]) if is_video else (lambda p: [cv2.imread(str(p))[..., ::-1].copy()])
                if is_video:
                    outputs, out_times = read_frames(dst)
                    match = align(in_times, out_times)
                else:
                    outputs, match = read(dst), None
                plain = None
                if judge is not None:
                    plain = read(plain_output(tool, src, key, user_extra[tool]))
                r = compare(inputs, outputs, faces, f"{tool}_{src.stem}",
                            args.crops / tool if args.crops else None, match, weak, judge, plain,
                            identity, marks)
                r["seconds"] = secs
                results[tool][src.name] = r
                report(tool, src.name, r)
                dst.unlink(missing_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    shown = list(tools)
    if args.baseline:
        for tool, rows in json.loads(args.baseline.read_text()).items():
            if tool not in results:
                results[tool] = rows
                shown.append(tool)
    print_tables(results, shown, [v.name for v in videos], [i.name for i in images])
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
