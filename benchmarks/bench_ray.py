"""Batch throughput: `facepipe anonymize` on a folder in this process vs on Ray with 1 and 2 workers,
the per-file overhead of the Ray path, and the per-stage costs (graph profiler) that docs/scaling.md
feeds into its N-node calculation.

    python benchmarks/bench_ray.py [--max-frames 24] [--shared DIR]
    python benchmarks/bench_ray.py --command identify|index    # the same rows for `faces identify`
                                                               # (shared identity photos and a video)
                                                               # and `search index` (photos)

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
    ap.add_argument("--command", choices=("anonymize", "identify", "index"), default="anonymize")
    args = ap.parse_args(argv)
    if args.command != "anonymize":
        return bench_photos_command(args)

    import ray

    from facepipe.apps.anonymize.files import anonymize_paths
    from facepipe.apps.anonymize.options import AnonymizeOptions
    from facepipe.apps.batch import AnonymizeTask, BatchOptions, plan_anonymize, run_batch
    from facepipe.jobs import ExecutionOptions

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
            s = anonymize_paths([folder], AnonymizeOptions(execution=ExecutionOptions(threads)),
                                output=Path(tmp) / f"local{threads}", progress=False, max_frames=args.max_frames)
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

    print(f"\n{files} files ({len(VIDEOS)} videos x {args.max_frames} frames, {len(PHOTOS)} photos);"
          f" local Ray cluster start: {cluster_start:.1f} s (not in the rows)\n")
    print_rows(rows, files, "local --workers 1")
    print(f"\nper-stage cost, {VIDEOS[1]} (480x480), ms per frame, 1 thread (graph profiler):")
    print("| " + " | ".join(costs) + " |\n|" + " ---: |" * len(costs))
    print("| " + " | ".join(f"{v:.1f}" for v in costs.values()) + " |")
    print(f"bytes per frame: read {bytes_in / 1e3:.1f} kB, written {bytes_out / 1e3:.1f} kB;"
          f" driver's own time per file (actor call round trip + manifest line): {1000 * driver:.1f} ms")
    simulate(costs, bytes_in + bytes_out, driver, args)
    return 0


def print_rows(rows: list[tuple[str, float, float, int, int]], files: int, base_name: str) -> None:
    base = rows[0][1]
    print(f"| run | wall s | frames/s | vs {base_name} | in-worker s | overhead per file s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, wall, inside, frames, workers in rows:
        over = f"{(wall * workers - inside) / files:.2f}" if label.startswith("Ray") else "-"
        print(f"| {label} | {wall:.1f} | {frames / wall:.1f} | {base / wall:.2f}x | {inside:.1f} | {over} |")


def bench_photos_command(args: argparse.Namespace) -> int:
    """`faces identify` (the 30 shared identity photos and one video cut to --max-frames, against a
    gallery of one photo per person) or `search index` (the identity and expression photos): the
    plain run in this process (after an untimed one), then Ray with 1 and 2 workers of 1 CPU. Every row's
    wall time includes loading its models (the Ray rows also the actors' start)."""
    import ray

    from facepipe.apps.batch import BatchOptions, run_batch

    data = args.shared / "testdata"
    photos = sorted(p for p in (data / "identities").rglob("*") if p.is_file())
    if args.command == "index":
        photos += sorted(p for p in (data / "expressions").rglob("*") if p.is_file())
    files = photos + ([data / "videos" / "fr_short_hamilton_clip.mp4"] if args.command == "identify" else [])
    rows: list[tuple[str, float, float, int, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        make_task, plain_run, plan_for, record_for = _photos_command(args, Path(tmp), photos, files)
        plain_run(Path(tmp) / "warm-up")  # not timed: first reads of the files, models and lazy imports
        print(f"load before: {uptime()}")
        t0 = time.perf_counter()
        frames = plain_run(Path(tmp) / "local")
        wall = time.perf_counter() - t0
        rows.append(("local (plain run)", wall, wall, frames, 1))
        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
        cluster_start = time.perf_counter() - t0
        try:
            for workers in (1, 2):
                dest = Path(tmp) / f"ray{workers}"
                s = run_batch(make_task(), plan_for(dest), record_for(dest),
                              BatchOptions(ray="local", workers=workers, threads=1))
                assert s.ok and len(s.done) == len(files), s.describe()
                rows.append((f"Ray, {workers} worker(s) x 1 CPU", s.seconds, sum(r.seconds for r in s.done),
                             s.frames, workers))
        finally:
            ray.shutdown()
        print(f"load after:  {uptime()}")
    print(f"\n`{args.command}`: {len(files)} files ({len(photos)} photos"
          + (f", 1 video x {args.max_frames} frames" if len(files) > len(photos) else "")
          + f"); local Ray cluster start: {cluster_start:.1f} s (not in the rows)\n")
    print_rows(rows, len(files), "local")
    return 0


def _photos_command(args: argparse.Namespace, tmp: Path, photos: list[Path], files: list[Path]) -> tuple:
    """(task factory, plain run -> frames, plan items for an output, ledger or manifest folder for it)."""
    if args.command == "index":
        from facepipe.apps.batch import IndexLedger, IndexTask, plan_index
        from facepipe.apps.expression_search.indexer import EmbedOptions, FaceEmbedder, index_paths

        def plain_index(dest: Path) -> int:
            embedder = FaceEmbedder(EmbedOptions(num_threads=1))
            try:
                with embedder.open_index(dest) as index:
                    report = index_paths(index, files, embedder)
            finally:
                embedder.close()
            assert not report.with_status("unreadable")
            return len(files)

        def index_ledger(dest: Path) -> IndexLedger:
            probe = FaceEmbedder(EmbedOptions(num_threads=1))
            probe.close()
            return IndexLedger(probe.open_index(dest))

        return (lambda: IndexTask(EmbedOptions()), plain_index, lambda dest: plan_index(files, dest).items,
                index_ledger)

    from facepipe.apps.batch import IdentifyTask, plan_identify
    from facepipe.apps.recognition import FaceRecognizer
    from facepipe.apps.recognition.enroll import enroll
    from facepipe.apps.recognition.files import identify_image_file, identify_video_file
    from facepipe.apps.recognition.recognizer import RecognizerOptions
    from facepipe.apps.recognition.video import TrackVoteOptions

    gallery = tmp / "gallery.sqlite3"
    with FaceRecognizer(gallery) as rec:
        enroll(rec, {p.parent.name: [p] for p in photos}, skip_bad=True)  # the last photo of each person

    def plain_identify(dest: Path) -> int:
        dest.mkdir()
        frames = 0
        with FaceRecognizer(gallery) as rec:
            for path in files:
                if path.suffix == ".mp4":
                    doc = identify_video_file(rec, path, dest, TrackVoteOptions(), max_frames=args.max_frames)
                else:
                    doc = identify_image_file(rec, path, dest)
                frames += len(doc["frames"])
        return frames

    def plan(dest: Path) -> list:
        dest.mkdir()
        return plan_identify(files, dest).items

    task = IdentifyTask(RecognizerOptions(), str(gallery), TrackVoteOptions(), args.max_frames)
    return (lambda: task, plain_identify, plan, lambda dest: dest)


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
