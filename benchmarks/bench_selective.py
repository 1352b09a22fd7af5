"""`facepipe anonymize --only/--except`: who is masked, against hand-checked labels, and what it costs.

Accuracy: on ../shared/testdata/videos/fr_short_hamilton_clip.mp4 with its ground truth
(tests/goldens/hamilton_identities.json: YuNet boxes per frame, identities named by eye with
tools/label_faces.py), the chosen person given by ONE photo (--photo, default Barack Obama's
official portrait from ../shared/testdata/identities). A labelled face counts as masked in a frame
when at least half of its box changed (the leak test's rule: any channel moved by more than 6
levels). Printed per run (plain anonymize, --only, --only --only-strict, --except):

* target masked: share of the target's labelled frames where they are masked (--only goal >= 99 %);
* others visible: share of the other labelled faces left visible (--only goal >= 95 %);
* target visible (--except goal >= 95 %), others masked (--except goal 100 %);
* leaks: the leak test's count (benchmarks/leak_test.py: YuNet >= 0.8 faces not covered), the
  target's own boxes excluded (--except goal 0).

False matches (--false-matches): strangers taken for a chosen person. Each shared video without any
of the shared identities/ people (and the hamilton clip, for everyone but Barack Obama) is surveyed
once (--fm-frames of it), then decided with each of the 30 identities/ photos as the one chosen
photo (`rematch_survey`: the kept embeddings matched again, nothing decoded twice); every segment
decided "chosen" is a false match (--only: a stranger masked; --except: a stranger shown).

Speed: the same runs on a 720p clip (default lp_s18_woman_indoor.mp4, --speed-frames of it), each
as a command line (start-up and model loading included), alternating, --repeat times; median
wall time and the CPU time of the process (user + system, steadier on a shared machine), and the
ratio to plain anonymize measured in the same run (goal <= 1.3x).

    python benchmarks/bench_selective.py
    python benchmarks/bench_selective.py --photo ../shared/testdata/identities/barack_obama/obama1_knn.jpg
    python benchmarks/bench_selective.py --no-speed        # accuracy only
    python benchmarks/bench_selective.py --no-speed --no-accuracy --false-matches
    # Lin-Manuel Miranda, chosen by a still of the clip itself (frame 150; the README's example)
    python benchmarks/bench_selective.py --photo frame:150 --person lin_manuel_miranda --no-speed
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from leak_test import SHARED, changed_fraction, read_frames, yunet_faces  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CLIP = SHARED / "testdata" / "videos" / "fr_short_hamilton_clip.mp4"
LABELS = REPO / "tests" / "goldens" / "hamilton_identities.json"
PHOTO = SHARED / "testdata" / "identities" / "barack_obama" / "obama.jpg"
SPEED_VIDEO = SHARED / "testdata" / "videos" / "lp_s18_woman_indoor.mp4"
COVERED = 0.5


def facepipe(args: list[str]) -> tuple[float, float]:
    """Run `facepipe -q ...`; (wall seconds, CPU seconds of the child)."""
    env = dict(os.environ)
    env.setdefault("FACEPIPE_MODEL_PATH", str(SHARED / "models"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "facepipe", "-q", *args, "--no-progress"], check=True, env=env, cwd=REPO,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def score(inputs: list[np.ndarray], outputs: list[np.ndarray], labels: dict, person: str,
          leak_faces: list[np.ndarray]) -> dict:
    """Masked/visible shares of the target's and the others' labelled boxes, and leaks."""
    if len(outputs) != len(inputs):
        raise SystemExit(f"output has {len(outputs)} frames, input {len(inputs)}")
    target, others = [], []
    leaks = 0
    for f in labels["frames_faces"]:
        i = f["frame"]
        target_boxes = []
        for face in f["faces"]:
            box = np.array(face["box"], np.float32)
            masked = changed_fraction(inputs[i], outputs[i], box) >= COVERED
            (target if face["identity"] == person else others).append(masked)
            if face["identity"] == person:
                target_boxes.append(box)
        for box in leak_faces[i][:, :4]:
            if any(iou(box, t) > 0.3 for t in target_boxes):
                continue  # the target: judged by the target columns, not as a leak
            leaks += changed_fraction(inputs[i], outputs[i], box) < COVERED
    t, o = np.array(target, bool), np.array(others, bool)
    return {"target_faces": len(t), "other_faces": len(o), "target_masked": float(t.mean()) if len(t) else None,
            "others_masked": float(o.mean()) if len(o) else None, "leaks": int(leaks)}


def pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f} %"


RUNS = ("plain", "only", "strict", "except")


def accuracy(photo: Path, person: str, work: Path, which: tuple[str, ...] = RUNS) -> list[tuple[str, dict]]:
    labels = json.loads(LABELS.read_text())
    inputs, _ = read_frames(CLIP)
    import hashlib

    leak_faces = yunet_faces(inputs, hashlib.sha1(CLIP.read_bytes()).hexdigest()[:16])
    runs = [("plain anonymize", []), ("--only", ["--only-photo", str(photo)]),
            ("--only --only-strict", ["--only-photo", str(photo), "--only-strict"]),
            ("--except", ["--except-photo", str(photo)])]
    runs = [r for r, key in zip(runs, RUNS) if key in which]
    rows = []
    for label, extra in runs:
        out = work / f"acc_{len(rows)}.mp4"
        report = work / f"acc_{len(rows)}.json"
        facepipe(["anonymize", str(CLIP), "-o", str(out), *extra, *(["--report", str(report)] if extra else [])])
        r = score(inputs, read_frames(out)[0], labels, person, leak_faces)
        if extra:
            doc = json.loads(report.read_text())
            tracks = doc["inputs"][0]["tracks"]
            r["states"] = {s: sum(t["state"] == s for t in tracks) for s in ("chosen", "undecided", "other")}
        rows.append((label, r))
        print(f"{label}: {r}", flush=True)
    return rows


FM_VIDEOS = ("facenet_pedestrians.mp4", "lp_d12_talking.mp4", "lp_d11_child.mp4", "lp_d20_talking.mp4",
             "lp_s18_woman_indoor.mp4", "sadtalker_aoc_talking.mp4", "pyfeat_wolfganglanger_pexels.mp4",
             "pyfeat_single_face.mp4", "pyfeat_face_noface.mov", "lp_s13_dance_fullbody.mp4", CLIP.name)


def false_matches(frames: int) -> tuple[dict[str, int], int, list[tuple]]:
    """({mode: false matches}, photo-video runs, the false matches: photo, video, mode, segment, distances)."""
    from facepipe.apps.selective import PeopleSelection, SelectiveAnonymizer, SelectiveOptions, TrackSampling
    from facepipe.apps.selective.decide import decide_segments
    from facepipe.apps.selective.survey import rematch_survey
    from facepipe.apps.selective.targets import load_chosen

    photos = sorted(p for p in (SHARED / "testdata" / "identities").glob("*/*") if p.suffix.lower() in
                    (".jpg", ".jpeg", ".png"))
    sampling = TrackSampling()
    with SelectiveAnonymizer(SelectiveOptions(PeopleSelection("only", photos=(photos[0],)), sampling=sampling)) as a:
        surveys = {v: a.survey_video(SHARED / "testdata" / "videos" / v, max_frames=frames) for v in FM_VIDEOS}
    counts, runs, found = {"only": 0, "except": 0}, 0, []
    for photo in photos:
        with load_chosen(PeopleSelection("only", photos=(photo,)), sampling) as chosen:
            for video, survey in surveys.items():
                if video == CLIP.name and photo.parent.name == "barack_obama":
                    continue  # he is in it: the accuracy runs judge him
                runs += 1
                matched = rematch_survey(survey, chosen, sampling)
                for mode in counts:
                    verdicts = decide_segments(matched, PeopleSelection(mode, photos=(photo,)), sampling,
                                               chosen.threshold, chosen.chosen)
                    for key, v in verdicts.items():
                        if v.state == "chosen" and v.via == key:
                            counts[mode] += 1
                            found.append((photo.name, video, mode, key, round(v.track_chosen_distance, 3),
                                          round(v.chosen_distance, 3), v.embedded))
    return counts, runs, found


def speed(photo: Path, video: Path, frames: int, repeat: int, work: Path) -> list[tuple[str, float, float]]:
    runs = [("plain anonymize", []), ("--only", ["--only-photo", str(photo)]),
            ("--except", ["--except-photo", str(photo)])]
    times: dict[str, list[tuple[float, float]]] = {k: [] for k, _ in runs}
    for _ in range(repeat):
        for label, extra in runs:
            out = work / "speed.mp4"
            out.unlink(missing_ok=True)
            times[label].append(facepipe(["anonymize", str(video), "-o", str(out), "--max-frames", str(frames),
                                          *extra]))
            print(f"{label}: wall {times[label][-1][0]:.1f} s, cpu {times[label][-1][1]:.1f} s", flush=True)
    return [(k, statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in times.items()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photo", default=str(PHOTO),
                    help="the one photo of the chosen person, or frame:N for frame N of the clip")
    ap.add_argument("--person", default="barack_obama", help="their identity in the labels")
    ap.add_argument("--speed-video", type=Path, default=SPEED_VIDEO)
    ap.add_argument("--speed-frames", type=int, default=150)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--runs", default=",".join(RUNS),
                    help=f"accuracy runs to make, comma-separated, of {','.join(RUNS)} (default all)")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--no-accuracy", action="store_true")
    ap.add_argument("--false-matches", action="store_true", help="also count strangers taken for a chosen person")
    ap.add_argument("--fm-frames", type=int, default=100, help="frames of each video for --false-matches")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.photo.startswith("frame:"):
            from facepipe.io.image import write_image
            from facepipe.io.video import VideoReader

            n = int(args.photo.split(":")[1])
            with VideoReader(CLIP) as r:
                args.photo = work / f"{CLIP.stem}_frame{n}.png"
                write_image(args.photo, next(f.image for f in r if f.index == n))
        args.photo = Path(args.photo)
        which = tuple(r.strip() for r in args.runs.split(","))
        if not set(which) <= set(RUNS):
            ap.error(f"--runs: choose from {','.join(RUNS)}")
        acc = [] if args.no_accuracy else accuracy(args.photo, args.person, work, which)
        fm = false_matches(args.fm_frames) if args.false_matches else None
        spd = [] if args.no_speed else speed(args.photo, args.speed_video, args.speed_frames, args.repeat, work)
    if acc:
        print(f"\nAccuracy on {CLIP.name}, chosen: {args.person} by {args.photo.name} (labels: {LABELS.name})\n")
        print("| run | target masked | others masked | target visible | others visible | leaks (target excluded)"
              " | tracks chosen/undecided/other |")
        print("|---|---|---|---|---|---|---|")
        for label, r in acc:
            tv = None if r["target_masked"] is None else 1 - r["target_masked"]
            ov = None if r["others_masked"] is None else 1 - r["others_masked"]
            st = r.get("states")
            print(f"| {label} | {pct(r['target_masked'])} of {r['target_faces']} | {pct(r['others_masked'])} of"
                  f" {r['other_faces']} | {pct(tv)} | {pct(ov)} | {r['leaks']} |"
                  f" {'/'.join(str(v) for v in st.values()) if st else '-'} |")
    if fm:
        counts, runs, found = fm
        print(f"\nFalse matches: {len(FM_VIDEOS)} videos ({args.fm_frames} frames each) x the identities/ photos,"
              f" {runs} photo-video runs: --only {counts['only']}, --except {counts['except']}")
        for row in found:
            print("  ", row)
    if spd:
        base_w, base_c = spd[0][1], spd[0][2]
        print(f"\nSpeed on {args.speed_video.name} ({args.speed_frames} frames), median of {args.repeat}\n")
        print("| run | wall s | cpu s | wall ratio | cpu ratio |")
        print("|---|---|---|---|---|")
        for label, w, c in spd:
            print(f"| {label} | {w:.1f} | {c:.1f} | {w / base_w:.2f}x | {c / base_c:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
