"""`facepipe stream`: send live face tracking to avatar apps (VMC protocol, Live Link Face, plain OSC).

Input: a camera (--camera N) or a video file (paced at its frame rate unless
--no-realtime). Targets: --vmc HOST:PORT (VSeeFace, VNyan, Warudo, Unity/Unreal
VMC receivers; VMC's usual port is 39539), --livelink HOST:PORT (Unreal Engine
Live Link, port 11111), --osc HOST:PORT (facepipe's plain OSC layout); each may be
repeated and all run at once. One UDP datagram per target per processed frame.

Frames are dropped, never queued, when processing is slower than the source.
Ctrl-C stops (exit 130) after closing the sockets. See docs/streaming.md.
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import threading
from contextlib import ExitStack, contextmanager
from pathlib import Path

from facepipe.cli._help import HelpFormatter

log = logging.getLogger(__name__)

_PREVIEW_WINDOW = "facepipe stream (q to quit)"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("stream", help="stream live face tracking to avatar apps (VMC, Live Link Face, OSC)",
                              description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("input", nargs="?", type=Path, default=None, help="video file (or use --camera N)")
    p.add_argument("--camera", type=int, default=None, metavar="N", help="camera device number")
    t = p.add_argument_group("targets (each repeatable)")
    t.add_argument("--vmc", action="append", default=[], metavar="HOST:PORT", help="VMC protocol receiver")
    t.add_argument("--livelink", action="append", default=[], metavar="HOST:PORT",
                   help="Unreal Live Link (Live Link Face UDP format)")
    t.add_argument("--osc", action="append", default=[], metavar="HOST:PORT", help="plain OSC receiver")
    t.add_argument("--subject", default="facepipe", help="Live Link subject name")
    s = p.add_argument_group("blendshapes and tuning")
    s.add_argument("--blendshapes", type=Path, default=None, metavar="MODEL.onnx",
                   help="landmarks -> 52 ARKit blendshapes regressor instead of the Tasks model")
    s.add_argument("--blendshapes-sha256", default=None, metavar="HEX", help="expected sha256 of --blendshapes")
    s.add_argument("--config", type=Path, default=None, metavar="FILE.toml|FILE.json",
                   help="per-shape gain/curves, forced-zero list, smoothing, VMC names")
    s.add_argument("--calibration", type=Path, default=None, metavar="FILE",
                   help="neutral-face calibration to apply (written by --calibrate)")
    s.add_argument("--calibrate", action="store_true",
                   help="hold a neutral face for --calibrate-seconds at the start; saved to --calibration "
                        "(default facepipe-neutral.json) and applied from then on")
    s.add_argument("--calibrate-seconds", type=float, default=2.0, help="length of the calibration")
    s.add_argument("--no-smoothing", action="store_true", help="no One-Euro smoothing of the sent values")
    r = p.add_argument_group("running")
    r.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=True,
                   help="video: pace frames at the video's frame rate (--no-realtime: as fast as possible)")
    r.add_argument("--max-frames", type=int, default=None, help="stop after N input frames")
    r.add_argument("--loop", action="store_true", help="video: start again at the end (until Ctrl-C/--max-frames)")
    r.add_argument("--preview", action=argparse.BooleanOptionalAction, default=None,
                   help="preview window (default: when a display and OpenCV GUI support exist)")
    r.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="fps/latency status line on stderr (default: when stderr is a terminal)")
    r.add_argument("--num-threads", type=int, default=1, help="inference threads per model")
    r.add_argument("--min-detection-confidence", type=float, default=0.5, help="face detector score threshold")
    r.add_argument("--min-tracking-confidence", type=float, default=0.5,
                   help="IoU above which a new detection replaces the tracked face")
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    from facepipe.apps.stream.targets import UsageError

    if (args.input is None) == (args.camera is None):
        raise UsageError("give either a VIDEO file or --camera N (exactly one input)")
    if args.camera is not None and args.camera < 0:
        raise UsageError(f"--camera must be >= 0, got {args.camera}")
    if not (args.vmc or args.livelink or args.osc):
        raise UsageError("no target: give at least one of --vmc HOST:PORT, --livelink HOST:PORT, --osc HOST:PORT")
    if args.loop and args.camera is not None:
        raise UsageError("--loop is for a video file, not --camera")
    if args.max_frames is not None and args.max_frames < 1:
        raise UsageError(f"--max-frames must be >= 1, got {args.max_frames}")
    if args.num_threads < 1:
        raise UsageError(f"--num-threads must be >= 1, got {args.num_threads}")
    for name in ("min_detection_confidence", "min_tracking_confidence"):
        v = getattr(args, name)
        if not 0.0 <= v <= 1.0:
            raise UsageError(f"--{name.replace('_', '-')} must be in [0, 1], got {v}")
    if not (math.isfinite(args.calibrate_seconds) and 0.1 <= args.calibrate_seconds <= 60):
        raise UsageError(f"--calibrate-seconds must be in [0.1, 60], got {args.calibrate_seconds}")
    if args.blendshapes_sha256 is not None and args.blendshapes is None:
        raise UsageError("--blendshapes-sha256 needs --blendshapes MODEL.onnx")
    if not args.subject:
        raise UsageError("--subject must not be empty")


def run(args: argparse.Namespace) -> int:
    from facepipe._fsutil import refuse_overwrite
    from facepipe.apps.stream import (
        Calibration,
        CalibrationPlan,
        FaceTracker,
        Shaper,
        Streamer,
        TrackerOptions,
        UdpTarget,
        load_config,
        parse_address,
    )
    from facepipe.apps.stream.config import SmoothingOptions, StreamConfig
    from facepipe.apps.stream.protocols import make_encoder
    from facepipe.apps.stream.sources import CameraSource, VideoSource
    from facepipe.errors import InputError

    _check_args(args)
    addresses = [(proto, parse_address(text, f"--{proto}"))
                 for proto in ("vmc", "livelink", "osc") for text in getattr(args, proto)]
    config = load_config(args.config)
    if args.no_smoothing:
        config = StreamConfig(config.shapes, SmoothingOptions(enabled=False), config.vmc_capitalize_names)
    plan = None
    calibration = None
    if args.calibrate:
        path = args.calibration or Path("facepipe-neutral.json")
        if args.input is not None:
            refuse_overwrite(path, args.input)
        if not path.parent.is_dir():
            raise InputError(f"{path}: folder {path.parent} does not exist")
        plan = CalibrationPlan(args.calibrate_seconds, path)
    elif args.calibration is not None:
        calibration = Calibration.load(args.calibration)

    with ExitStack() as stack:
        targets = []
        for proto, address in addresses:
            encoder = make_encoder(proto, capitalize_names=config.vmc_capitalize_names, subject=args.subject)
            targets.append(stack.enter_context(UdpTarget(address, encoder, f"--{proto}")))
        tracker = FaceTracker(TrackerOptions(
            min_detection_confidence=args.min_detection_confidence,
            min_tracking_confidence=args.min_tracking_confidence,
            num_threads=args.num_threads,
            blendshapes_model=args.blendshapes,
            blendshapes_sha256=args.blendshapes_sha256,
        ))
        if args.camera is not None:
            source = CameraSource(args.camera, max_frames=args.max_frames)
        else:
            source = VideoSource(args.input, realtime=args.realtime, max_frames=args.max_frames, loop=args.loop)
        stack.callback(source.close)
        progress = sys.stderr.isatty() if args.progress is None else args.progress
        on_frame = _preview(args, stack)
        streamer = Streamer(tracker, Shaper(config, calibration), targets, calibration=plan,
                            status=_status_line if progress else _status_log, on_frame=on_frame)
        log.info("streaming %s to %s", source.label, ", ".join(t.label for t in targets))
        try:
            with _ctrl_c_stops(streamer):
                stats = streamer.run(source)
        except KeyboardInterrupt:
            _finish(args, streamer.stats, progress, interrupted=True)
            raise
        if streamer.stopped:
            _finish(args, stats, progress, interrupted=True)
            raise KeyboardInterrupt
        _finish(args, stats, progress)
    return 0


@contextmanager
def _ctrl_c_stops(streamer):
    """The first Ctrl-C asks the loop to stop after its frame (every datagram sent is counted, and no
    library code can swallow it); a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum, frame):
        if streamer.stopped:
            raise KeyboardInterrupt
        streamer.stop()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _status_line(stats) -> None:
    sys.stderr.write(f"\r{stats.fps:5.1f} fps  latency {stats.latency(50):5.1f} ms (p99 {stats.latency(99):5.1f})"
                     f"  dropped {stats.dropped}  face {stats.tracked}/{stats.processed}   ")
    sys.stderr.flush()


def _status_log(stats) -> None:
    log.info("%.1f fps, latency median %.1f ms, dropped %d", stats.fps, stats.latency(50), stats.dropped)


def _finish(args: argparse.Namespace, stats, progress: bool, interrupted: bool = False) -> None:
    if progress:
        sys.stderr.write("\n")
    if not args.quiet:
        packets = ", ".join(f"{label} {n} packets" for label, n in stats.packets.items())
        sys.stderr.write(f"{'stopped: ' if interrupted else ''}{stats.summary()}; {packets}\n")


def _preview(args: argparse.Namespace, stack: ExitStack):
    """on_frame callback showing the frame with the stream's numbers, or None without a window."""
    if args.preview is False:
        return None
    import cv2

    from facepipe.jobs import gui_available

    if not gui_available():
        why = "no preview window: no display, or OpenCV without GUI support (opencv-python-headless)"
        if args.preview:
            log.warning("%s", why)
        else:
            log.info("%s", why)
        return None
    stack.callback(cv2.destroyAllWindows)

    def show(item, frame, stats) -> bool:
        bgr = cv2.cvtColor(item.image, cv2.COLOR_RGB2BGR)
        yaw, pitch, roll = frame.head_euler_deg
        lines = [f"{stats.fps:.1f} fps  {stats.latency(50):.1f} ms  dropped {stats.dropped}",
                 f"yaw {yaw:+.0f} pitch {pitch:+.0f} roll {roll:+.0f}" if frame.tracked else "no face"]
        for i, text in enumerate(lines):
            cv2.putText(bgr, text, (10, 30 + 30 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 255, 0), 2)
        cv2.imshow(_PREVIEW_WINDOW, bgr)
        return (cv2.waitKey(1) & 0xFF) not in (ord("q"), 27)

    return show
