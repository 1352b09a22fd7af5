"""Anonymizing a video as a pipelined graph vs the same stages one after another.

    FACEPIPE_MODEL_PATH=... python benchmarks/bench_graph.py [--video clip.mp4] [--frames 48] [--repeat 3]

Rows (same input, options and machine, measured in this run, median of --repeat):
  one thread   the same stages (decode, find, track, backfill, redact, encode) one after
               another in one thread: FFmpeg's decoder and x264 on one thread each, OpenCV's
               thread pool off. This is the issue's baseline: what the graph adds is the use
               of the second core.
  app seq.     facepipe.apps.anonymize.files.anonymize_video_file, options.execution.workers=1:
               the app without the graph: track, redact, encode one frame after another, with decoding and
               detection one frame ahead in a second thread and FFmpeg's codec threads as usual
               (already about 1.4 cores busy)
  graph x1     the anonymize graph on one worker thread (codec threads as usual)
  graph        the anonymize graph on --workers threads (default: all cores), the finder
               and the redaction running --detect-in-flight frames at once (what
               `facepipe anonymize` runs by default, with in-flight = workers)
CPU s is the process's CPU time (all its threads, FFmpeg's included); CPU/wall is how many
cores it kept busy on average.
The ratio columns are throughput relative to `one thread` (median, and best of --repeat: on a
machine shared with other work, the best run is the least disturbed one). The redacted regions
of every frame must be identical in all rows; the decoded pixels are compared too (x264's
output depends on its thread count). The profile of the last graph run shows where the time goes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = REPO.parent / "shared" / "testdata" / "videos" / "facenet_pedestrians.mp4"  # 1920x1080, 25 fps


def run_one_thread(src: Path, dst: Path, frames: int, options):
    """Decode, find, track, backfill, redact and encode one frame after another in this thread:
    FFmpeg's decoder and x264 on one thread each, OpenCV's pool off, no prefetch."""
    import cv2

    from facepipe.apps.anonymize.pipeline import OfflineAnonymizer
    from facepipe.io.video import VideoReader, VideoWriter

    video = replace(options.video, codec_options={**options.video.codec_options, "threads": "1"})
    cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    regions = []
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        off = OfflineAnonymizer(options)
        with VideoReader(src, threads=1) as reader, VideoWriter.like(reader, dst, video) as writer:
            def write(released):
                for result, frame in released:
                    writer.write(result.image, frame)
                    regions.append(result.regions)
            for frame in reader:
                if frame.index >= frames:
                    break
                write(off.push(frame.image, frame))
            write(off.flush())
        return (time.perf_counter() - t0, time.process_time() - c0), regions
    finally:
        cv2.setNumThreads(cv_threads)


def run_sequential(src: Path, dst: Path, frames: int, options) -> float:
    from facepipe.apps.anonymize.files import anonymize_video_file
    from facepipe.jobs import ExecutionOptions

    t0, c0 = time.perf_counter(), time.process_time()
    anonymize_video_file(src, dst, replace(options, execution=ExecutionOptions(1)), progress=False, max_frames=frames)
    return time.perf_counter() - t0, time.process_time() - c0


def run_graph(src: Path, dst: Path, frames: int, options, workers: int, detect_in_flight: int):
    from facepipe.apps.anonymize.calculators import anonymize_video_config
    from facepipe.graph import Graph

    graph = Graph(anonymize_video_config(options, detect_in_flight=detect_in_flight, redact_in_flight=detect_in_flight,
                                         max_frames=frames), num_workers=workers)
    t0, c0 = time.perf_counter(), time.process_time()
    out = graph.run(side_packets={"input_path": str(src), "output_path": str(dst)}, collect=["regions"])
    return (time.perf_counter() - t0, time.process_time() - c0), graph, [p.payload for p in out["regions"]]


def frames_of(path: Path) -> list[np.ndarray]:
    from facepipe.io.video import VideoReader

    with VideoReader(path) as reader:
        return [f.image for f in reader]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--frames", type=int, default=48, help="frames to process per run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--detect-in-flight", type=int, default=2)
    args = parser.parse_args(argv)
    if not args.video.is_file():
        print(f"{args.video}: not found", file=sys.stderr)
        return 2

    from facepipe.apps.anonymize.options import AnonymizeOptions
    from facepipe.io.video import probe_video

    info = probe_video(args.video)
    options = AnonymizeOptions()
    print(f"{args.video.name}: {info.width}x{info.height}, {args.frames} frames, {os.cpu_count()} cores,"
          f" FACEPIPE_NUM_THREADS={os.environ.get('FACEPIPE_NUM_THREADS', '1 (default)')},"
          f" load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        out = {name: Path(tmp) / f"{name}.mp4" for name in ("one_thread", "sequential", "graph1", "graph")}
        times: dict[str, list[float]] = {name: [] for name in out}
        cpu: dict[str, list[float]] = {name: [] for name in out}
        graph = None
        regions: dict[str, list] = {}
        for _ in range(args.repeat):  # interleaved, so that machine load affects all rows alike
            (t, c), regions["one_thread"] = run_one_thread(args.video, out["one_thread"], args.frames, options)
            times["one_thread"].append(t)
            cpu["one_thread"].append(c)
            (t, c) = run_sequential(args.video, out["sequential"], args.frames, options)
            times["sequential"].append(t)
            cpu["sequential"].append(c)
            (t, c), _, regions["graph1"] = run_graph(args.video, out["graph1"], args.frames, options, 1, 1)
            times["graph1"].append(t)
            cpu["graph1"].append(c)
            (t, c), graph, regions["graph"] = run_graph(args.video, out["graph"], args.frames, options,
                                                        args.workers, args.detect_in_flight)
            times["graph"].append(t)
            cpu["graph"].append(c)
        reference = frames_of(out["one_thread"])
        diff = {name: _difference(reference, frames_of(path)) for name, path in out.items()}
    same_regions = (_same_regions(regions["one_thread"], regions["graph"])
                    and _same_regions(regions["graph1"], regions["graph"]))

    base = statistics.median(times["one_thread"])
    labels = {"one_thread": "sequential, one thread", "sequential": "app sequential path (ExecutionOptions(workers=1))",
              "graph1": "graph, 1 worker",
              "graph": f"graph, {args.workers} workers (x{args.detect_in_flight} in flight)"}
    best_base = min(times["one_thread"])
    print(f"\n{'run':<40} {'median s':>9} {'frames/s':>9} {'ratio':>6} {'best s':>7} {'ratio':>6}"
          f" {'CPU s':>6} {'CPU/wall':>8}  output vs one thread (mean/max |diff|)")
    for name, label in labels.items():
        med, best = statistics.median(times[name]), min(times[name])
        cpu_s = statistics.median(cpu[name])
        mean, peak = diff[name]
        print(f"{label:<40} {med:>9.2f} {args.frames / med:>9.2f} {base / med:>5.2f}x {best:>7.2f}"
              f" {best_base / best:>5.2f}x {cpu_s:>6.2f} {cpu_s / med:>8.2f}  {mean:.4f} / {peak}")
    app = statistics.median(times["sequential"])
    print(f"graph, {args.workers} workers vs the app's sequential path: {app / statistics.median(times['graph']):.2f}x"
          f" (that path already overlaps decoding and detection with the rest in a second thread)")
    print(f"redacted regions of every frame, one thread vs graph 1 worker vs {args.workers} workers:"
          f" {'identical' if same_regions else 'DIFFERENT'}")
    print("(x264 on one thread encodes differently from x264 on several, so the one-thread row's pixels differ"
          " by the codec's rounding; the regions must not.)")
    print(f"load average after: {os.getloadavg()[0]:.2f} (other processes on the machine skew all rows)")
    if graph is not None:
        print("\nprofile of the last pipelined run:")
        print(graph.profile_table())
    ok = same_regions and all(len(frames) == args.frames for frames in regions.values())
    return 0 if ok else 1


def _difference(a: list[np.ndarray], b: list[np.ndarray]) -> tuple[float, int]:
    if len(a) != len(b):
        return float("inf"), 255
    d = [np.abs(x.astype(np.int16) - y) for x, y in zip(a, b, strict=True)]
    return float(np.mean([x.mean() for x in d])), int(max(x.max() for x in d))


def _same_regions(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(x.xyxy, y.xyxy) and np.array_equal(x.track_ids, y.track_ids) for x, y in zip(a, b, strict=True)
    )


if __name__ == "__main__":
    sys.exit(main())
