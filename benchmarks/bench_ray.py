"""Batch throughput: `facepipe anonymize` on a folder in this process vs on Ray with 1 and 2 workers,
the per-file overhead of the Ray path, and the per-stage costs (graph profiler) that docs/scaling.md
feeds into its N-node calculation.

    python benchmarks/bench_ray.py [--max-frames 24] [--shared DIR]

Every row runs the same files with the same settings (outputs go to fresh temp folders, so nothing is
skipped). "in-worker" is the time the workers spent on the files themselves (summed over workers);
"overhead per file" is worker-seconds not spent on a file, per file: (wall x workers - in-worker) / files,
i.e. dispatch, result transfer, manifest, actor start and model loading and, with 2 workers, the idle
tail while the last file finishes. The machine's load (`uptime`) is printed beside the numbers.

Then the N-node calculation of docs/scaling.md from the measured numbers: per-frame cost of each stage
(one thread), bytes read and written per frame, the driver's cost per file, for N nodes of --cores
cores on shared storage of --storage-mb-s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

REPO = Path(__file__).resolve().parents[1]
VIDEOS = ("pyfeat_single_face.mp4", "lp_d20_talking.mp4", "lp_d12_talking.mp4", "fr_short_hamilton_clip.mp4")
PHOTOS = ("if_blur.jpg", "if_pose_left_wryneck.png", "if_attr_1423.jpg", "if_attr_1561.jpg")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def stage_costs(video: Path, max_frames: int) -> dict[str, float]:
    """Mean ms per frame of each stage, one graph thread (no stage waits on another's core)."""
    from facepipe.apps.anonymize.graph import anonymize_video_config

    from facepipe.apps.anonymize.options import AnonymizeOptions
    from facepipe.graph import Graph

    with tempfile.TemporaryDirectory() as tmp:
        graph = Graph(anonymize_video_config(AnonymizeOptions(), detect_in_flight=1, redact_in_flight=1,
                                             max_frames=max_frames), num_workers=1)
        graph.run(side_packets={"input_path": str(video), "output_path": str(Path(tmp) / video.name)})
        profile = graph.profile()
    frames = max(n.calls for n in profile.nodes if n.name == "redact")
    return {n.name: 1000 * n.total_s / frames for n in profile.nodes}


def driver_cost_per_file(tmp: Path, task: object, calls: int = 50) -> float:
    """Seconds the driver spends per file whatever the workers do: a round trip to an actor and one
    fsync'ed manifest line (the driver does these one file after another)."""
    import ray

    from facepipe.apps.batch import BatchWorker, Manifest

    actor = ray.remote(num_cpus=1)(BatchWorker).remote(task)
    ray.get(actor.pid.remote())
    t0 = time.perf_counter()
    for _ in range(calls):
        ray.get(actor.pid.remote())
    call_s = (time.perf_counter() - t0) / calls
    ray.kill(actor)
    manifest = Manifest(tmp)
    t0 = time.perf_counter()
    for i in range(calls):
        manifest.record({"input": f"/bench/{i}.mp4", "status": "done", "outputs": {}, "settings_sha256": "0" * 64})
    return call_s + (time.perf_counter() - t0) / calls


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("FACEPIPE_SHARED", REPO.parent / "shared")))
    ap.add_argument("--max-frames", type=int, default=24, help="frames per video (default 24)")
    ap.add_argument("--cores", type=int, default=16, help="calculation: cores per node (default 16)")
    ap.add_argument("--storage-mb-s", type=float, default=1000, help="calculation: shared storage MB/s (1000)")
    ap.add_argument("--frames-per-file", type=int, default=9000, help="calculation: frames per video (9000: 5 min)")
    ap.add_argument("--model-speedup", type=float, default=20, help="calculation: faster detector (20x)")
    args = ap.parse_args(argv)

    import ray

    from facepipe.apps.anonymize.files import anonymize_paths
    from facepipe.apps.anonymize.options import AnonymizeOptions
    from facepipe.apps.batch import AnonymizeTask, BatchOptions, plan_anonymize, run_batch

    data = args.shared / "testdata"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        for name in VIDEOS:
            shutil.copy(data / "videos" / name, folder / name)
        for name in PHOTOS:
            shutil.copy(data / "faces" / name, folder / name)
        files = len(VIDEOS) + len(PHOTOS)
        task = AnonymizeTask(AnonymizeOptions(), max_frames=args.max_frames)
        print(f"load before: {uptime()}")
        rows: list[tuple[str, float, float, int, int]] = []  # label, wall s, in-worker s, frames, workers

        for label, threads in (("local, --workers 1 (sequential path)", 1), ("local, all cores (graph)", None)):
            t0 = time.perf_counter()
            s = anonymize_paths([folder], AnonymizeOptions(), output=Path(tmp) / f"local{threads}", progress=False,
                                max_frames=args.max_frames, workers=threads)
            wall = time.perf_counter() - t0
            assert s.ok, s.describe()
            rows.append((label, wall, sum(r.seconds for r in s.reports), sum(r.frames for r in s.reports), 1))

        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
        cluster_start = time.perf_counter() - t0
        try:
            for workers, threads in ((1, 1), (2, 1), (1, 2)):
                plan = plan_anonymize([folder], Path(tmp) / f"ray{workers}x{threads}", recursive=False)
                s = run_batch(task, plan.items, plan.manifest_dir,
                              BatchOptions(ray="local", workers=workers, threads=threads))
                assert s.ok and len(s.done) == files, s.describe()
                rows.append((f"Ray, {workers} worker(s) x {threads} CPU", s.seconds, sum(r.seconds for r in s.done),
                             s.frames, workers))
            driver = driver_cost_per_file(Path(tmp), task)
        finally:
            ray.shutdown()
        sample = folder / VIDEOS[1]
        costs = stage_costs(sample, args.max_frames)
        out = Path(tmp) / "local1" / VIDEOS[1]
        from facepipe.io.video import probe_video

        bytes_in = sample.stat().st_size / (probe_video(sample).frame_count or 1)
        bytes_out = out.stat().st_size / args.max_frames
        print(f"load after:  {uptime()}")

    base = rows[0][1]
    print(f"\n{files} files ({len(VIDEOS)} videos x {args.max_frames} frames, {len(PHOTOS)} photos);"
          f" local Ray cluster start: {cluster_start:.1f} s (not in the rows)\n")
    print("| run | wall s | frames/s | vs local --workers 1 | in-worker s | overhead per file s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, wall, inside, frames, workers in rows:
        over = f"{(wall * workers - inside) / files:.2f}" if label.startswith("Ray") else "-"
        print(f"| {label} | {wall:.1f} | {frames / wall:.1f} | {base / wall:.2f}x | {inside:.1f} | {over} |")
    print(f"\nper-stage cost, {VIDEOS[1]} (480x480), ms per frame, 1 thread (graph profiler):")
    print("| " + " | ".join(costs) + " |\n|" + " ---: |" * len(costs))
    print("| " + " | ".join(f"{v:.1f}" for v in costs.values()) + " |")
    print(f"bytes per frame: read {bytes_in / 1e3:.1f} kB, written {bytes_out / 1e3:.1f} kB;"
          f" driver's own time per file (actor call round trip + manifest line): {1000 * driver:.1f} ms")
    simulate(costs, bytes_in + bytes_out, driver, args)
    return 0


def simulate(costs: dict[str, float], bytes_per_frame: float, driver_s: float, args: argparse.Namespace) -> None:
    """Frames/s of N nodes: the smallest of the CPU limit (cores / per-frame cost, every stage on a
    core of its own worker), the shared storage limit and the driver's files/s times frames per file."""
    model_ms = costs.get("finder", 0.0)
    fast_model_ms = model_ms / args.model_speedup
    scenarios = (("CPU model (as measured)", model_ms), (f"model {args.model_speedup:g}x faster", fast_model_ms))
    storage_fps = args.storage_mb_s * 1e6 / bytes_per_frame
    driver_fps = args.frames_per_file / max(driver_s, 1e-6)
    print(f"\nN-node throughput, frames/s ({args.cores} cores per node, storage {args.storage_mb_s:g} MB/s ->"
          f" {storage_fps:.0f} frames/s, driver {1 / max(driver_s, 1e-6):.1f} files/s x {args.frames_per_file}"
          f" frames/file -> {driver_fps:.0f} frames/s)")
    print("| nodes | " + " | ".join(f"{name}: frames/s (bottleneck)" for name, _ in scenarios) + " |")
    print("| ---: |" + " --- |" * len(scenarios))
    for nodes in (1, 2, 4, 8, 16, 32, 64, 128, 256):
        cells = []
        for _, finder_ms in scenarios:
            stages = dict(costs, finder=finder_ms)
            frame_ms = sum(stages.values())
            limits = {"CPU": nodes * args.cores * 1000 / frame_ms, "storage": storage_fps, "driver": driver_fps}
            name = min(limits, key=limits.__getitem__)
            fps = limits[name]
            if name == "CPU":  # the stage with the largest share of the CPU time
                top = max(stages, key=stages.__getitem__)
                name = f"CPU, {top} {100 * stages[top] / frame_ms:.0f}%"
            cells.append(f"{fps:.0f} ({name})")
        print(f"| {nodes} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
