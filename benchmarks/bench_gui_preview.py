"""Preview latency of `facepipe gui` after a settings change, on a 720p frame (issue target: <= 150 ms).

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui_preview.py [--video V] [--repeats 7]

Latency = from the control's change in the UI thread to the redacted frame arriving back in it
(the window's real path: ControlsPanel -> PreviewWorker thread -> PreviewEngine -> ready signal),
median and max over repeats, after one warm-up (models loaded, frame decoded). The reference,
measured in the same run, is what a preview without the engine's caches costs: the frame decoded
from the file and anonymized from scratch (`Anonymizer` built, faces detected, redacted) for
each change. Ratio = preview / reference. The machine's load (`uptime`) is printed with it.

Seeking: to frames not seen yet (forward by 7-70 frames, and jumps anywhere in the file), two latencies
per seek: to the raw picture (`PreviewWorker.raw`, shown while faces are found) and to the
redacted one; then back to frames seen before (faces known: a redraw). Stepping one frame: at
once, and after a pause in which the worker finds the next frame's faces ahead. The breakdown line splits
a seek into decoding (the engine's `FrameSeeker`, and a fresh seeker as the pre-cache preview
had, decoding from the key frame) and detection (`FaceFinder.detect` on that frame).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
TARGET_MS = 150.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=None, help="720p clip (default: shared lp_s18_woman_indoor.mp4)")
    ap.add_argument("--frame", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--no-detect-ahead", action="store_true", help="the worker does not find faces ahead when idle")
    args = ap.parse_args()
    shared = Path(os.environ.get("FACEPIPE_SHARED", REPO.parent / "shared"))
    video = Path(args.video or shared / "testdata/videos/lp_s18_woman_indoor.mp4")

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from facepipe.apps.anonymize import Anonymizer
    from facepipe.apps.anonymize.regions import detected_regions
    from facepipe.gui.settings import anonymize_options
    from facepipe.gui.window import MainWindow
    from facepipe.io.video_seek import FrameSeeker

    if args.no_detect_ahead:
        import facepipe.gui.preview as preview

        preview.DETECT_AHEAD = False
    app = QApplication.instance() or QApplication([])
    ini = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_gui_{os.getpid()}.ini"
    window = MainWindow(QSettings(str(ini), QSettings.Format.IniFormat))
    window.show()
    c = window.controls

    def wait_preview(timeout: float = 120.0) -> None:
        end = time.perf_counter() + timeout
        while not (window.last_frame is not None and window.last_frame.serial == window.serial
                   and not window.waiting):
            app.processEvents()
            if time.perf_counter() > end:
                raise RuntimeError(f"no preview in {timeout} s ({window.last_error})")
            time.sleep(0.0005)

    window.open_path(str(video))
    wait_preview()
    window.slider.setValue(args.frame)
    wait_preview()
    h, w = window.last_frame.original.shape[:2]

    # Each case flips one control between two values (the threshold: a value not seen before, so the
    # frame is detected again); each change is one latency sample.
    cases = {
        "method blur <-> mosaic": lambda k: c.method.setCurrentText(("mosaic", "blur")[k % 2]),
        "mosaic level": lambda k: (c.method.setCurrentText("mosaic"), c.mosaic.setValue(10 + 5 * (k % 2))),
        "shape ellipse <-> box": lambda k: c.shape.setCurrentText(("box", "ellipse")[k % 2]),
        "mask scale 1.5 <-> 2.0": lambda k: c.mask_scale.setValue((2.0, 1.5)[k % 2]),
        "threshold, a new value each time (finder re-runs, model outputs memoized)":
            lambda k: c.threshold.setValue(0.31 + 0.02 * k),
        "shape hull (face mesh)": lambda k: c.shape.setCurrentText(("hull", "box")[k % 2]),
    }
    rows = []
    for name, change in cases.items():
        change(0)  # warm-up: builds the anonymizer of each value once
        wait_preview()
        change(1)
        wait_preview()
        times = []
        for k in range(args.repeats):
            t0 = time.perf_counter()
            change(k)
            wait_preview()
            times.append((time.perf_counter() - t0) * 1000)
        rows.append((name, statistics.median(times), max(times)))
    c.shape.setCurrentText("ellipse")
    c.method.setCurrentText("blur")
    c.threshold.setValue(0.0)  # the anonymizer's default threshold
    wait_preview()

    def wait_raw(serial: int, timeout: float = 120.0) -> None:
        end = time.perf_counter() + timeout
        while not ((window.last_raw is not None and window.last_raw.serial == serial)
                   or (window.last_frame is not None and window.last_frame.serial == serial)):
            app.processEvents()
            if time.perf_counter() > end:
                raise RuntimeError(f"no picture in {timeout} s ({window.last_error})")
            time.sleep(0.0005)

    def seek_times(targets: list[int]) -> tuple[list[float], list[float]]:
        raw_ms, done_ms = [], []
        for target in targets:
            t0 = time.perf_counter()
            window.slider.setValue(target)
            wait_raw(window.serial)
            raw_ms.append((time.perf_counter() - t0) * 1000)
            wait_preview()
            done_ms.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.2)  # a user's pause between seeks: the worker decodes ahead meanwhile
            app.processEvents()
        return raw_ms, done_ms

    n = window.engine.frame_count
    forward = [min(n - 1, args.frame + 7 + k * 9) for k in range(args.repeats)]
    # Jumps across the whole file to frames not seen yet (this clip has one key frame: a jump back
    # decodes from frame 0 unless the frame was kept on the way).
    rng = random.Random(0)
    jumps = rng.sample([i for i in range(n) if i not in forward and abs(i - args.frame) > 2], args.repeats)
    seek_rows = []
    for name, targets in (("seek forward to a new frame", forward), ("jump to a new frame anywhere", jumps),
                          ("seek to a frame seen before", forward[: args.repeats])):
        raw_ms, done_ms = seek_times(targets)
        seek_rows.append((name + ": picture shown (raw)", statistics.median(raw_ms), max(raw_ms)))
        seek_rows.append((name + ": redacted", statistics.median(done_ms), max(done_ms)))
    rows += seek_rows

    # Stepping one frame (the -> key) from frames not seen yet: at once, and after a pause in which the
    # worker finds the next frame's faces ahead (given up to 10 s; the time it took is printed).
    def step_times(start: int, pause: bool) -> tuple[list[float], list[float]]:
        took, ahead = [], []
        window.slider.setValue(start)
        wait_preview()
        for _ in range(args.repeats):
            if pause:
                t0 = time.perf_counter()
                settings = c.settings()
                limit = 1.0 if args.no_detect_ahead else 10.0
                while (not window.engine.has_regions(window.index + 1, settings)
                       and time.perf_counter() - t0 < limit):
                    app.processEvents()
                    time.sleep(0.002)
                ahead.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            window.step(1)
            wait_preview()
            took.append((time.perf_counter() - t0) * 1000)
        return took, ahead

    seen = {args.frame, *forward, *jumps}
    fresh = next(f for f in range(n - args.repeats - 2, 0, -1) if not seen & set(range(f, f + args.repeats + 2)))
    took, _ = step_times(fresh, pause=False)
    rows.append(("step to the next frame at once: redacted", statistics.median(took), max(took)))
    took, ahead = step_times(max(forward) + 1, pause=True)
    rows.append(("step to the next frame after a pause: redacted", statistics.median(took), max(took)))
    settings = c.settings()
    window.close()

    # Reference: the same change without the engine: decode the frame, build an Anonymizer, detect, redact.
    ref = []
    options = anonymize_options(settings)
    for _ in range(3):
        t0 = time.perf_counter()
        with FrameSeeker(video) as seeker:
            rgb = seeker.frame(args.frame)
        a = Anonymizer(options)
        a.redact(rgb, detected_regions(a.detector.detect(rgb)))
        ref.append((time.perf_counter() - t0) * 1000)
    ref_ms = statistics.median(ref)
    ini.unlink(missing_ok=True)

    # Where a seek's time goes: decoding (a seeker as the engine keeps it vs a fresh one, which decodes from
    # the key frame as the preview did before) and detection, over the same forward seeks and jumps.
    engine_seeker = FrameSeeker(video, keep=32)
    engine_seeker.frame(args.frame)
    dec_new, dec_fresh, det = [], [], []
    finder = Anonymizer(options).detector
    for k, target in enumerate([*forward, *jumps]):
        t0 = time.perf_counter()
        rgb = engine_seeker.frame(target)
        dec_new.append((time.perf_counter() - t0) * 1000)
        with FrameSeeker(video) as fresh:
            t0 = time.perf_counter()
            fresh.frame(target)
            dec_fresh.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        finder.detect(rgb)
        if k:  # the first run loads the models
            det.append((time.perf_counter() - t0) * 1000)
    engine_seeker.close()

    print(f"facepipe gui preview latency, {video.name} frame {args.frame} ({w}x{h}), {args.repeats} repeats,"
          f" finding faces ahead {'off' if args.no_detect_ahead else 'on'};"
          f" {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print(f"reference (decode + new Anonymizer + detect + redact per change): {ref_ms:.0f} ms")
    print(f"step after a pause: the worker had found the next frame's faces {statistics.median(ahead):.0f} ms"
          " (median) after the previous frame was shown")
    print(f"seek breakdown, forward seeks and jumps (median ms): decode {statistics.median(dec_new):.1f} (seeker kept"
          f" open, decoding on, frames kept) vs {statistics.median(dec_fresh):.1f} (from the key frame, as before);"
          f" detect {statistics.median(det):.1f}")
    print(f"| change | median ms | max ms | target {TARGET_MS:.0f} ms | ratio to reference |")
    print("|---|---:|---:|---|---:|")
    for name, med, worst in rows:
        ok = "ok" if med <= TARGET_MS else "OVER"
        print(f"| {name} | {med:.1f} | {worst:.1f} | {ok} | {med / ref_ms:.2f} |")


if __name__ == "__main__":
    main()
