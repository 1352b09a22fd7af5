"""`facepipe analyze IMAGE|VIDEO|DIR ...`: annotated copies, JSON results and blendshape charts."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from facepipe.cli._batch import add_batch_arguments, check_camera_run, run_batch_command, wants_batch
from facepipe.cli._help import HelpFormatter
from facepipe.cli._options import (
    add_camera,
    add_max_frames,
    add_max_num_faces,
    add_num_threads,
    add_progress,
    add_workers,
    execution_options,
    int_range,
    runtime_options,
    show_progress,
)
from facepipe.errors import InputError, UsageError
from facepipe.io.video import VideoEncodeOptions

if TYPE_CHECKING:
    from facepipe.apps.analyze import FileReport

log = logging.getLogger("facepipe")

_EPILOG = """\
outputs (per input NAME.EXT):
  NAME.annotated.EXT     the image/video with face mesh, head axes (and hands/pose) drawn
  NAME.json              every result (per frame for videos)
  NAME.blendshapes.png   blendshape bar chart (images) or timeline (videos) of the first face

Without -o, outputs of a file go next to it and outputs of a folder DIR go to DIR_analysis/.
Videos keep their frame size, frame rate, frame count and audio track.

exit status: 0 all inputs done, 1 at least one input failed (the others are still done), 2 usage error.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="annotate photos/videos with face mesh, blendshapes, head pose (and hands/pose)",
        description="Run the face landmarker (and optionally hands, pose or holistic) on images, videos or "
        "folders of them; write annotated copies, a JSON of all results and blendshape charts.",
        epilog=_EPILOG,
        formatter_class=HelpFormatter,
    )
    p.add_argument("inputs", nargs="*", metavar="IMAGE|VIDEO|DIR",
                   help="files or folders (searched recursively)")
    add_camera(p)
    add_max_frames(p)
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="output folder (created); default: next to each file, DIR_analysis/ for a folder")
    add_max_num_faces(p, 4, "most faces per image/frame (landmark smoothing in videos needs 1)", old=("--num-faces",))
    p.add_argument("--hands", action="store_true", help="also detect and draw hands")
    p.add_argument("--pose", action="store_true", help="also detect and draw the body pose")
    p.add_argument("--holistic", action="store_true", help="pose, face and hands from the holistic pipeline")
    p.add_argument("--mirrored", action="store_true",
                   help="input is a mirrored selfie view: keep MediaPipe's handedness labels unflipped")
    p.add_argument("--mediapipe-style", action="store_true",
                   help="draw exactly like MediaPipe's drawing_utils (hard-edged, fixed widths)")
    p.add_argument("--no-head-pose", dest="head_pose", action="store_false", help="no head-pose axes")
    p.add_argument("--no-charts", dest="charts", action="store_false", help="no blendshape chart PNGs")
    p.add_argument("--blendshapes", type=Path, default=None, metavar="MODEL.onnx",
                   help="blendshapes from this regressor (facepipe train blendshapes) instead of the Tasks model")
    p.add_argument("--crf", type=int_range(0, 51), default=18, help="video quality (x264 CRF; lower is better)")
    add_workers(p)
    add_progress(p)
    add_num_threads(p)
    add_batch_arguments(p)
    p.set_defaults(func=run)


def _default_out_root(args: argparse.Namespace) -> Path | None:
    if args.output is not None:
        return args.output
    dirs = [Path(p) for p in args.inputs if Path(p).is_dir()]
    if len(dirs) == 1 and len(args.inputs) == 1:
        d = dirs[0].resolve()
        return d.parent / f"{d.name}_analysis"
    if dirs:
        raise InputError("several inputs including a folder: choose an output folder with -o")
    return None


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: every facepipe command builds this command's parser, and the
    # analyze application (drawing, charts) is a tenth of a second of imports the others do not need.
    from facepipe.apps.analyze import AnalyzeOptions, analyze_camera, analyze_inputs, collect_inputs

    options = AnalyzeOptions(
        num_faces=args.max_num_faces, hands=args.hands, pose=args.pose, holistic=args.holistic,
        mirrored=args.mirrored, mediapipe_style=args.mediapipe_style, head_pose=args.head_pose,
        charts=args.charts, video=VideoEncodeOptions(crf=args.crf), execution=execution_options(args),
        runtime=runtime_options(args),
        blendshapes_model=args.blendshapes,
    )
    if args.camera is not None:
        check_camera_run(args, args.inputs)
        report = analyze_camera(args.camera, args.output or Path("."), options, args.max_frames)
        log.warning("camera %d: %d frames -> %s", args.camera, report.frames, ", ".join(map(str, report.outputs)))
        return 0
    if not args.inputs:
        raise UsageError("no input: give images, videos or folders, or --camera N")
    if args.max_frames is not None:
        raise UsageError("--max-frames applies to --camera (a file is analyzed whole)")
    out_root = _default_out_root(args)
    items = collect_inputs(args.inputs, out_root)
    if not items:
        raise InputError(f"no images or videos found in {', '.join(args.inputs)}")
    if wants_batch(args):
        from facepipe.apps.batch import AnalyzeTask, plan_analyze

        return run_batch_command(args, AnalyzeTask(options), plan_analyze(items, out_root))

    def done(report: FileReport) -> None:
        if report.ok:
            what = f"{report.faces} face(s)" + (f", {report.frames} frames" if report.kind == "video" else "")
            log.info("%s: %s -> %s", report.input, what, ", ".join(str(p) for p in report.outputs))

    progress = show_progress(args)
    reports = analyze_inputs(items, out_root, options, progress, on_done=done)
    failed = [r for r in reports if not r.ok]
    ok = len(reports) - len(failed)
    summary = f"analyzed {ok} of {len(reports)} input(s)"
    if failed:
        log.error("%s; failed: %s", summary, ", ".join(str(r.input) for r in failed))
        return 1
    log.warning("%s", summary) if len(reports) > 1 else log.info("%s", summary)
    return 0
