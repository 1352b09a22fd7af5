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
YUNET_SCORE = 0.8
CACHE = Path(tempfile.gettempdir()) / "facepipe_leak_cache"


def yunet_faces(frames: list[np.ndarray], key: str) -> list[np.ndarray]:
    """(N,5) x0,y0,x1,y1,score per frame, score >= YUNET_SCORE; cached by content key."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"yunet_{key}.npz"
    if path.exists():
        data = np.load(path)
        return [data[f"f{i}"] for i in range(len(frames))]
    det = cv2.FaceDetectorYN.create(str(YUNET), "", (320, 320), YUNET_SCORE, 0.3, 5000)
    out = []
    for rgb in frames:
        h, w = rgb.shape[:2]
        det.setInputSize((w, h))
        _, faces = det.detect(np.ascontiguousarray(rgb[..., ::-1]))
        if faces is None:
            out.append(np.zeros((0, 5), np.float32))
            continue
        b = faces[:, [0, 1, 2, 3, 14]].astype(np.float32)
        b[:, 2:4] += b[:, :2]
        out.append(b)
    np.savez(path, **{f"f{i}": a for i, a in enumerate(out)})
    return out


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


def compare(inputs: list[np.ndarray], outputs: list[np.ndarray], faces: list[np.ndarray], name: str,
            crops_dir: Path | None, match: np.ndarray | None = None) -> dict:
    """match[i]: output frame index for input frame i (-1 none); default frame i."""
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
    areas: list[float] = []
    missing = 0
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
        for box in faces[i]:
            total += 1
            f = changed_fraction(inputs[i], out, box)
            fracs.append(f)
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
            "changed_area": float(np.mean(areas)) if areas else None, "notes": notes}


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
    ap.add_argument("--json", type=Path, default=None, help="write the results as JSON")
    args = ap.parse_args(argv)
    tools = [t for t in args.tools.split(",") if t]
    extra = {"facepipe": args.facepipe_args.split(), "deface": args.deface_args.split()}
    if args.calibrate:
        extra = {"facepipe": [*extra["facepipe"], "--method", "none"],
                 "deface": [*extra["deface"], "--replacewith", "none"]}
    videos = [] if args.no_videos else sorted(VIDEOS.glob("*.*"))
    if args.videos:
        videos = [VIDEOS / v for v in args.videos]
    images = [] if args.no_images else sorted(GROUPS.glob("*.jpg"))
    results: dict[str, dict[str, dict]] = {t: {} for t in tools}
    work = Path(tempfile.mkdtemp(prefix="leaktest_"))
    try:
        for src in [*videos, *images]:
            is_video = src in videos
            inputs, in_times = read_frames(src) if is_video else ([cv2.imread(str(src))[..., ::-1].copy()], None)
            key = hashlib.sha1(src.read_bytes()).hexdigest()[:16]
            faces = yunet_faces(inputs, key)
            for tool in tools:
                dst = work / f"{tool}_{src.stem}{src.suffix if not is_video else '.mp4'}"
                try:
                    secs = TOOLS[tool](src, dst, extra[tool])
                except subprocess.CalledProcessError as exc:
                    results[tool][src.name] = {"error": str(exc), "frames": len(inputs),
                                               "faces": int(sum(len(f) for f in faces)),
                                               "leaks": int(sum(len(f) for f in faces))}
                    print(f"{tool:9s} {src.name:34s} FAILED: {exc}", flush=True)
                    continue
                if is_video:
                    outputs, out_times = read_frames(dst)
                    match = align(in_times, out_times)
                else:
                    outputs, match = [cv2.imread(str(dst))[..., ::-1].copy()], None
                r = compare(inputs, outputs, faces, f"{tool}_{src.stem}",
                            args.crops / tool if args.crops else None, match)
                r["seconds"] = secs
                results[tool][src.name] = r
                med = r["median_changed"]
                print(f"{tool:9s} {src.name:34s} frames {r['frames']:4d} faces {r['faces']:5d} leaks {r['leaks']:4d}"
                      f" median-changed {med if med is None else round(med, 3)}"
                      f" frame-changed {100 * (r['changed_area'] or 0):.1f}%"
                      f" {' '.join(r['notes'])} frames-leaked {r['leak_frames'][:12]}", flush=True)
                dst.unlink(missing_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n| tool | inputs | frames | YuNet faces | leaks | leaks / 1000 frames | leaks / 1000 faces"
          " | frame changed (mean) |")
    print("|---|---|---|---|---|---|---|---|")
    for tool in tools:
        for label, names in (("videos", [v.name for v in videos]), ("photos", [i.name for i in images])):
            rs = [results[tool][n] for n in names if n in results[tool]]
            if not rs:
                continue
            frames = sum(r["frames"] for r in rs)
            faces = sum(r["faces"] for r in rs)
            leaks = sum(r["leaks"] for r in rs)
            area = [r["changed_area"] for r in rs if r.get("changed_area") is not None]
            print(f"| {tool} | {label} ({len(rs)}) | {frames} | {faces} | {leaks} | {1000 * leaks / max(frames, 1):.2f}"
                  f" | {1000 * leaks / max(faces, 1):.2f} | {100 * np.mean(area) if area else float('nan'):.1f} % |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
