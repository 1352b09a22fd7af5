"""Ground-truth identities for a video: YuNet boxes linked into tracks, a person named per track by eye.

Three steps (run with facepipe's venv; the boxes come from YuNet, a detector independent of
facepipe's BlazeFace, at score >= --score):

    # 1. propose tracks: boxes per frame linked by IoU, cut at scene cuts; a contact sheet of every
    #    track (8 crops across its frames, its number on the first) to look at
    python tools/label_faces.py propose VIDEO --sheet tracks.png --draft draft.json
    # 2. name the tracks you recognise (everyone else is "other"), write the labels
    python tools/label_faces.py name draft.json -o labels.json --person barack_obama=7,12 --drop 2,9
    # 3. check: frames with the boxes coloured by identity (red: named people), every N frames
    python tools/label_faces.py check VIDEO labels.json --sheet check.png --every 6

labels.json: {"video": file name, "video_sha256", "frames": N, "detector", "people": [names],
"frames_faces": [{"frame": i, "faces": [{"box": [x1,y1,x2,y2], "identity": name|"other",
"track": t, "score": s}]}]}; a frame with no face has "faces": [].
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from leak_test import yunet_faces  # noqa: E402 - the leak test's YuNet run (and its cache)

from facepipe.apps.recognition.video import SceneCuts  # noqa: E402
from facepipe.io.video import VideoReader  # noqa: E402
from facepipe.results import box_iou  # noqa: E402


def link(boxes: list[np.ndarray], scenes: list[int], min_iou: float = 0.3, max_gap: int = 5) -> list[np.ndarray]:
    """Track id per box: greedy IoU with each track's last box, within a scene, gaps up to max_gap."""
    tracks: list[dict] = []
    ids = []
    for f, (b, sc) in enumerate(zip(boxes, scenes)):
        live = [t for t in tracks if t["scene"] == sc and f - t["last"] <= max_gap]
        tid = np.full(len(b), -1, np.int64)
        if live and len(b):
            iou = box_iou(b[:, :4], np.stack([t["box"] for t in live]))
            for flat in np.argsort(-iou, axis=None):
                d, j = divmod(int(flat), iou.shape[1])
                if iou[d, j] < min_iou:
                    break
                if tid[d] >= 0 or live[j]["last"] == f:
                    continue
                tid[d] = live[j]["id"]
                live[j].update(box=b[d, :4], last=f)
        for d in np.flatnonzero(tid < 0):
            tracks.append({"id": len(tracks), "box": b[d, :4], "last": f, "scene": sc})
            tid[d] = len(tracks) - 1
        ids.append(tid)
    return ids


def read_video(path: Path) -> list[np.ndarray]:
    with VideoReader(path) as r:
        return [f.image for f in r]


def crop(img: np.ndarray, box: np.ndarray, size: int = 80) -> np.ndarray:
    h, w = img.shape[:2]
    cx, cy, half = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, max(box[2] - box[0], box[3] - box[1]) * 0.7
    x0, y0, x1, y1 = int(max(0, cx - half)), int(max(0, cy - half)), int(min(w, cx + half)), int(min(h, cy + half))
    if x1 <= x0 or y1 <= y0:
        return np.zeros((size, size, 3), np.uint8)
    return cv2.resize(img[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)


def propose(args: argparse.Namespace) -> None:
    images = read_video(args.video)
    cuts = SceneCuts(22.0)
    scenes, sc = [], 0
    for im in images:
        sc += cuts(im)
        scenes.append(sc)
    digest = hashlib.sha256(args.video.read_bytes()).hexdigest()
    boxes = yunet_faces(images, digest[:16], args.score)
    ids = link(boxes, scenes)
    frames = [{"frame": i, "scene": scenes[i], "faces": [
        {"box": [round(float(v), 1) for v in b[:4]], "score": round(float(b[4]), 3), "track": int(t)}
        for b, t in zip(boxes[i], ids[i])]} for i in range(len(images))]
    draft = {"video": args.video.name, "video_sha256": digest,
             "frames": len(images), "detector": f"YuNet 2023mar score>={args.score}, IoU-linked",
             "frames_faces": frames}
    args.draft.write_text(json.dumps(draft))
    by_track: dict[int, list[tuple[int, np.ndarray]]] = {}
    for i, f in enumerate(frames):
        for face in f["faces"]:
            by_track.setdefault(face["track"], []).append((i, np.array(face["box"])))
    rows = []
    for t, seen in sorted(by_track.items()):
        picks = [seen[k] for k in np.linspace(0, len(seen) - 1, min(8, len(seen))).astype(int)]
        row = np.zeros((80, 8 * 80 + 160, 3), np.uint8)
        for j, (i, b) in enumerate(picks):
            row[:, 160 + j * 80:160 + (j + 1) * 80] = crop(images[i], b)
        cv2.putText(row, f"t{t} {seen[0][0]}-{seen[-1][0]}", (2, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1)
        cv2.putText(row, f"n={len(seen)}", (2, 60), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1)
        rows.append(row)
    cv2.imwrite(str(args.sheet), np.concatenate(rows, 0)[..., ::-1])
    print(f"{len(by_track)} tracks, {sum(len(f['faces']) for f in frames)} boxes; sheet {args.sheet}")


def name(args: argparse.Namespace) -> None:
    draft = json.loads(args.draft.read_text())
    who: dict[int, str] = {}
    for spec in args.person:
        person, _, tracks = spec.partition("=")
        for t in tracks.split(","):
            who[int(t)] = person
    people = sorted(set(who.values()))
    dropped = {int(t) for spec in args.drop for t in spec.split(",")}
    for f in draft["frames_faces"]:
        f["faces"] = [face for face in f["faces"] if face["track"] not in dropped]
        for face in f["faces"]:
            face["identity"] = who.get(face["track"], "other")
        f.pop("scene", None)
    draft["people"] = people
    draft["not_faces_dropped"] = sorted(dropped)
    args.output.write_text(json.dumps(draft, separators=(",", ":")) + "\n")
    counts = {p: sum(any(x["identity"] == p for x in f["faces"]) for f in draft["frames_faces"]) for p in people}
    print(f"wrote {args.output}: frames with each person {counts}")


def check(args: argparse.Namespace) -> None:
    labels = json.loads(args.labels.read_text())
    images = read_video(args.video)
    tiles = []
    for f in labels["frames_faces"][:: args.every]:
        im = np.ascontiguousarray(images[f["frame"]][..., ::-1])
        for face in f["faces"]:
            x0, y0, x1, y1 = (int(v) for v in face["box"])
            colour = (0, 0, 255) if face["identity"] != "other" else (0, 255, 0)
            cv2.rectangle(im, (x0, y0), (x1, y1), colour, 2)
            cv2.putText(im, face["identity"][:6], (x0, max(10, y0 - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1)
        cv2.putText(im, str(f["frame"]), (5, 30), cv2.FONT_HERSHEY_SIMPLEX, 1, (0, 255, 255), 2)
        tiles.append(cv2.resize(im, (320, 180)))
    while len(tiles) % 4:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i:i + 4], 1) for i in range(0, len(tiles), 4)]
    cv2.imwrite(str(args.sheet), np.concatenate(rows, 0))
    print(f"sheet {args.sheet}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("propose")
    p.add_argument("video", type=Path)
    p.add_argument("--score", type=float, default=0.6)
    p.add_argument("--sheet", type=Path, required=True)
    p.add_argument("--draft", type=Path, required=True)
    p.set_defaults(func=propose)
    p = sub.add_parser("name")
    p.add_argument("draft", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--person", action="append", default=[], help="NAME=TRACK[,TRACK...]")
    p.add_argument("--drop", action="append", default=[], help="TRACK[,TRACK...] that are not faces (hands...)")
    p.set_defaults(func=name)
    p = sub.add_parser("check")
    p.add_argument("video", type=Path)
    p.add_argument("labels", type=Path)
    p.add_argument("--sheet", type=Path, required=True)
    p.add_argument("--every", type=int, default=6)
    p.set_defaults(func=check)
    args = ap.parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
