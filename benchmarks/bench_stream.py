"""Benchmark: `facepipe stream` frame-in -> packet-out latency and CPU use, on a 720p video, 1 thread.

Latency: a decoded 720p frame is handed to the stream loop (tracking, shaping,
VMC + Live Link + OSC encoding, three UDP sends to local receivers); the clock
stops after the last send. Median and p99 over the frames after the first
(the first runs face detection and warms the models). Reference: the official
Tasks FaceLandmarker (mediapipe, VIDEO mode, blendshapes + matrices, 1 XNNPACK
thread) on the same frames, in the same run, when --reference-python is given.

Where the time goes: each part timed alone on the same frames.

CPU at 30 fps: the real Streamer fed the frames at 30 fps for --cpu-seconds;
process CPU time / wall time (1.0 = one core busy).

    python benchmarks/bench_stream.py [--reference-python /path/to/mp-venv/bin/python]

The machine may be shared: `uptime` is printed before and after.
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time

import _harness as harness
import numpy as np

VIDEO = "videos/lp_s18_woman_indoor.mp4"  # 1280x720, 30 fps, one face

_REFERENCE_SCRIPT = r"""
import mediapipe as mp
from mediapipe.tasks.python import BaseOptions, vision
frames = video_frames(cfg["video"], cfg["frames"])
opts = vision.FaceLandmarkerOptions(
    base_options=BaseOptions(model_asset_path=cfg["task"]), running_mode=vision.RunningMode.VIDEO,
    num_faces=1, output_face_blendshapes=True, output_facial_transformation_matrixes=True)
ts = []
with vision.FaceLandmarker.create_from_options(opts) as lm:
    for i, f in enumerate(frames):
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=f)
        t0 = time.perf_counter()
        lm.detect_for_video(image, int(i * 1000 / 30))
        ts.append((time.perf_counter() - t0) * 1000)
print(json.dumps({"ms": ts}))
"""


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "uptime unavailable"


def _stats(ms: list[float]) -> tuple[float, float]:
    tail = ms[1:]
    return statistics.median(tail), float(np.percentile(tail, 99))


def _per_frame(fn, frames, cpu: list[float] | None = None) -> list[float]:
    """Wall ms per frame; with `cpu`, this thread's CPU ms per frame appended to it (on a shared machine the
    wall time includes waiting for a core, the CPU time does not)."""
    out = []
    for i, (image, _) in enumerate(frames):
        c0, t0 = time.thread_time(), time.perf_counter()
        fn(image, i)
        out.append((time.perf_counter() - t0) * 1000)
        if cpu is not None:
            cpu.append((time.thread_time() - c0) * 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = harness.benchmark_parser(__doc__, repeats=1, warmup=0, frames=150)
    parser.add_argument("--cpu-seconds", type=float, default=5.0, help="length of the 30 fps CPU measurement")
    args = harness.parse_benchmark_args(parser, argv)
    threads = args.threads or 1

    from facepipe.apps.stream import FaceTracker, Shaper, TrackerOptions, UdpTarget, parse_address
    from facepipe.apps.stream.protocols import make_encoder
    from facepipe.apps.stream.runner import Streamer
    from facepipe.apps.stream.sources import SourceFrame
    from facepipe.runtime.options import RuntimeOptions
    from facepipe.solutions.face_landmarker import FaceLandmarker, FaceLandmarkerOptions

    print(f"uptime before: {_uptime()}")
    video = args.shared / "testdata" / VIDEO
    frames = [(img, t) for img, t in harness.video_frames(video, args.frames)]
    h, w = frames[0][0].shape[:2]
    print(f"{len(frames)} frames of {video.name} ({w}x{h}), {threads} thread(s)")

    sinks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
    for s in sinks:
        s.bind(("127.0.0.1", 0))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    targets = [UdpTarget(parse_address(f"127.0.0.1:{s.getsockname()[1]}"), make_encoder(p), p)
               for s, p in zip(sinks, ("vmc", "livelink", "osc"))]

    def drain() -> None:
        for s in sinks:
            s.setblocking(False)
            try:
                while s.recv(65536):
                    pass
            except BlockingIOError:
                pass

    # 1. Frame-in -> packet-out.
    tracker = FaceTracker(TrackerOptions(num_threads=threads))
    shaper = Shaper()

    def one_frame(image, i) -> None:
        frame = shaper(tracker.track(image, int(i * 1000 / 30)), i, i / 30)
        for t in targets:
            t.send(frame)

    latency_cpu: list[float] = []
    latency = []
    for i, item in enumerate(frames):  # drain the receivers between frames, outside the timed part
        latency += _per_frame(lambda im, _k, i=i: one_frame(im, i), [item], latency_cpu)
        drain()

    # 2. Where the time goes.
    def landmarker(**kw) -> FaceLandmarker:
        runtime = RuntimeOptions(num_threads=threads)
        return FaceLandmarker(FaceLandmarkerOptions(running_mode="video", runtime=runtime, **kw))

    parts: dict[str, tuple[list[float], list[float]]] = {}  # name -> (wall ms, CPU ms) per frame

    def part(name: str, fn) -> None:
        cpu: list[float] = []
        parts[name] = (_per_frame(fn, frames, cpu), cpu)

    def in_video(lm):
        return lambda im, i: lm.detect_for_video(im, int(i * 1000 / 30))

    part("landmarks only (tracking)", in_video(landmarker()))
    part("+ blendshapes", in_video(landmarker(output_face_blendshapes=True)))
    part("+ blendshapes + matrix (Tasks outputs)",
         in_video(landmarker(output_face_blendshapes=True, output_facial_transformation_matrixes=True)))
    tracker2 = FaceTracker(TrackerOptions(num_threads=threads))
    raws = []
    part("tracker (+ head pose, gaze)", lambda im, i: raws.append(tracker2.track(im, int(i * 1000 / 30))))
    image_mode = FaceLandmarker(FaceLandmarkerOptions(output_face_blendshapes=True,
                                                      output_facial_transformation_matrixes=True,
                                                      runtime=RuntimeOptions(num_threads=threads)))
    part("IMAGE mode (detector every frame)", lambda im, i: image_mode.detect(im))
    shaper2 = Shaper()
    shaped = []
    part("shaping (One-Euro etc.)", lambda im, i: shaped.append(shaper2(raws[i], i, i / 30)))
    for t in targets:
        part(f"encode {t.encoder.name}", lambda im, i, e=t.encoder: e.encode(shaped[i]))
    part("3 x send", lambda im, i: [t.send(shaped[i]) for t in targets])
    drain()

    # 3. CPU at 30 fps with the real loop.
    class Paced:
        fps, dropped, label = 30.0, 0, "frames in memory at 30 fps"

        def __iter__(self):
            start = time.perf_counter()
            n = int(args.cpu_seconds * 30)
            for i in range(n):
                due = start + i / 30
                now = time.perf_counter()
                if now < due:
                    time.sleep(due - now)
                elif now > due + 1 / 30:
                    self.dropped += 1
                    continue
                yield SourceFrame(i, frames[i % len(frames)][0], i / 30, max(now, due))
            drain()

    streamer = Streamer(FaceTracker(TrackerOptions(num_threads=threads)), Shaper(), targets)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    stats = streamer.run(Paced())
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0

    reference = None
    if args.reference_python:
        cfg = {"task": str(args.shared / "models" / "face_landmarker.task"), "video": str(video),
               "frames": args.frames}
        reference = harness.run_reference(args.reference_python, _REFERENCE_SCRIPT, cfg)["ms"]

    med, p99 = _stats(latency)
    print()
    print(f"{'frame-in -> packet-out (3 targets)':<42} {'median ms':>9} {'p99 ms':>8} {'ratio':>6} {'CPU ms':>7}")
    ref_med = _stats(reference)[0] if reference else None
    print(f"{'facepipe stream':<42} {med:9.2f} {p99:9.2f} {med / ref_med if ref_med else float('nan'):6.2f}"
          f" {_stats(latency_cpu)[0]:7.2f}")
    if reference:
        rm, rp = _stats(reference)
        print(f"{'reference: MediaPipe Tasks landmarker only':<42} {rm:9.2f} {rp:9.2f} {1.0:6.2f}")
    print(f"target: median <= 15 ms -> {'met' if med <= 15 else 'NOT met'}")
    print()
    print(f"{'where the time goes (each alone)':<42} {'median ms':>9} {'p99 ms':>8} {'CPU ms':>7}")
    for name, (ms, cpu_ms) in parts.items():
        m, p = _stats(ms)
        print(f"{name:<42} {m:9.3f} {p:9.3f} {_stats(cpu_ms)[0]:7.3f}")
    print()
    print(f"30 fps for {wall:.1f} s: {stats.processed} frames sent, {stats.dropped} dropped, "
          f"CPU {cpu / wall:.2f} cores (process CPU {cpu:.2f} s / wall {wall:.2f} s; "
          f"{cpu / max(stats.processed, 1) * 1000:.1f} ms CPU per frame = {cpu / max(stats.processed, 1) * 30:.2f}"
          f" cores at a full 30 fps), "
          f"latency median {stats.latency(50):.2f} ms p99 {stats.latency(99):.2f} ms")
    print(f"uptime after: {_uptime()}")
    for t in targets:
        t.close()
    for s in sinks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
