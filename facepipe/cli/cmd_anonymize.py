"""`facepipe anonymize`: blur/mosaic/cover every face in images, videos, folders or a camera."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from facepipe.cli._batch import add_batch_arguments, check_camera_run, run_batch_command, wants_batch
from facepipe.cli._help import HelpFormatter
from facepipe.cli._options import (
    POSITIVE,
    PROBABILITY,
    add_camera,
    add_confidences,
    add_max_frames,
    add_num_threads,
    add_progress,
    add_recursive,
    add_workers,
    execution_options,
    float_range,
    int_range,
    runtime_options,
    show_progress,
)

log = logging.getLogger("facepipe.anonymize")


def _colour(text: str) -> tuple[int, int, int]:
    t = text.strip().lstrip("#")
    try:
        if "," in t:
            parts = tuple(int(v) for v in t.split(","))
        elif len(t) == 6:
            parts = tuple(int(t[i : i + 2], 16) for i in (0, 2, 4))
        else:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"colour must be R,G,B or #RRGGBB, got {text!r}") from None
    if len(parts) != 3 or not all(0 <= v <= 255 for v in parts):
        raise argparse.ArgumentTypeError(f"colour must be three values in 0..255, got {text!r}")
    return parts  # type: ignore[return-value]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "anonymize",
        help="hide faces in photos, videos, folders or a camera",
        description="Hide every face in images, videos, folders (add -r for subfolders) or a live camera "
                    "(--camera N). Videos keep their frames, timestamps and audio "
                    "(copied bit for bit). Output: NAME_anonymized.EXT next to each input, unless -o is given.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="image, video or folder ('cam', 'cam:N': old spelling of --camera N)")
    p.add_argument("-o", "--output", type=Path, help="output file (one input) or folder (several inputs/a folder)")
    add_recursive(p)
    add_camera(p)

    g = p.add_argument_group("redaction")
    g.add_argument("--method", choices=("blur", "mosaic", "solid", "image", "none"), default="blur",
                   help="how faces are hidden ('none' only draws outlines, for tuning)")
    g.add_argument("--shape", choices=("ellipse", "box", "hull"), default="ellipse",
                   help="region shape ('hull': outline of the face mesh; ellipse for faces under 24 px)")
    g.add_argument("--mask-scale", type=POSITIVE, default=None,
                   help="region size relative to the face (default 1.5 for box/ellipse, 1.1 for hull)")
    g.add_argument("--blur", type=POSITIVE, default=1.0,
                   help="blur strength: Gaussian sigma = 0.6 × blur × face size")
    g.add_argument("--grain", type=float, default=12.0,
                   help="levels of the fixed grain over each blurred/mosaicked face, so that dark, flat faces"
                        " change too (0: off)")
    g.add_argument("--mosaic", type=POSITIVE, default=0.15, help="mosaic block as a fraction of the face size")
    g.add_argument("--color", type=_colour, default=(0, 0, 0), help="fill colour for --method solid (R,G,B or #hex)")
    g.add_argument("--replace-with", type=Path, metavar="IMAGE", help="image pasted by --method image (PNG alpha ok)")
    g.add_argument("--draw-boxes", action="store_true", help="outline regions (green detected, yellow held, "
                   "orange backfilled, blue interpolated)")
    g.add_argument("--draw-scores", action="store_true", help="print detection scores")

    g = p.add_argument_group("detection")
    add_confidences(g, detection=None, old_detection=("--thresh",),
                    detection_help="detection score threshold (default 0.3 videos, 0.25 photos, 0.2 videos"
                                   " with --crowd: recall first)")
    g.add_argument("--min-face", type=float_range(0.0), default=None,
                   help="smallest face width in pixels to search for by tiling (0 = no tiling;"
                        " default 20 for videos, 7 or 1/320 of the long side for photos)")
    g.add_argument("--crowd", action="store_true",
                   help="videos and cameras in dense crowds: the short-range model on every tile and a lower"
                        " threshold (more faces, more false positives); photos get crowd tiles by default")
    g.add_argument("--max-face", type=POSITIVE, default=None, help="ignore detections wider than this (px)")
    g.add_argument("--scale", type=POSITIVE, default=1.0,
                   help="detect on frames resized by this factor (redaction stays at full resolution)")
    g.add_argument("--tile-period", type=int_range(1), default=None,
                   help="videos: each frame scans 1/N of the small-face tiles, so all are scanned every N"
                        " frames, never fewer than 4 per frame, all if at most 11 (default 8; 1 = all tiles every"
                        " frame)")
    g.add_argument("--confirm", type=PROBABILITY, default=None, metavar="SCORE",
                   help="videos: a face first seen scoring below SCORE is covered only 5 frames either side"
                        " until seen again and confirmed by the second opinion (less blur around false"
                        " detections; default 0.8; 0: every detection is held --hold frames)")
    g.add_argument("--hold", type=int_range(0), default=None,
                   help="frames a face stays covered after it is lost, and (files) before it is first found")
    g.add_argument("--no-scene-cuts", action="store_true",
                   help="videos: let tracks hold and backfill across hard scene cuts (by default a face's"
                        " region ends at a cut instead of lying on the other shot's picture)")

    g = p.add_argument_group("output")
    g.add_argument("--codec", default="libx264", help="video encoder (libx264, libx265, libvpx-vp9, mpeg4, ...)")
    g.add_argument("--crf", type=int_range(0, 63), default=18,
                   help="video quality (lower is better; x264/x265: 0..51, vpx/av1: 0..63)")
    g.add_argument("--preset", default=None, help="encoder speed preset (x264/x265; default veryfast)")
    g.add_argument("--subme", type=int_range(0, 11), default=None,
                   help="x264 sub-pixel motion refinement (0..11, lower is faster; default 1 with the default"
                        " preset, else the preset's own)")
    g.add_argument("--pix-fmt", default="yuv420p", help="output pixel format")
    g.add_argument("--format", dest="container", default=None, help="container (default: from the extension)")
    g.add_argument("--no-audio", action="store_true", help="drop audio (default: copy every audio stream)")
    g.add_argument("--keep-metadata", action="store_true", help="keep image EXIF/ICC (default: strip, incl. GPS)")
    g.add_argument("--quality", type=int_range(1, 100), default=95, help="JPEG/WebP quality of image outputs")
    add_max_frames(g)
    add_progress(g)
    add_num_threads(g)
    add_workers(g)
    g.add_argument("--preview", action=argparse.BooleanOptionalAction, default=None,
                   help="camera: show a live window (default: when a display is available)")
    add_batch_arguments(p)
    _add_people_arguments(p)
    p.set_defaults(func=run)


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected NAME[,NAME...], got {text!r}")
    return names


def _add_people_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "chosen people", "Mask only chosen people (--only) or everyone but them (--except), recognised in the"
        " gallery (facepipe faces enroll) or from one photo each. Videos: every track is decided by voting over"
        " its frames and the decision applies to all of them. --except fails closed: a face not confidently"
        " matched to a chosen person (unknown, too small, ambiguous) is masked. --only leaves undecided tracks"
        " near a chosen person visible and reports them; --only-strict masks them too.")
    g.add_argument("--only", type=_names, action="extend", default=[], metavar="NAME[,NAME...]",
                   help="mask only these people of the gallery")
    g.add_argument("--except", dest="except_names", type=_names, action="extend", default=[],
                   metavar="NAME[,NAME...]", help="mask every face except these people of the gallery")
    g.add_argument("--only-photo", type=Path, action="append", default=[], metavar="FILE",
                   help="mask only the person in this photo (one clear face; repeatable)")
    g.add_argument("--except-photo", type=Path, action="append", default=[], metavar="FILE",
                   help="mask every face except the person in this photo (repeatable)")
    g.add_argument("--only-strict", action="store_true",
                   help="with --only: also mask tracks that came near a chosen person but were not decided")
    g.add_argument("--gallery", default=None, metavar="PATH|URL",
                   help="gallery of --only/--except names (default: $FACEPIPE_GALLERY, else"
                        " $XDG_DATA_HOME/facepipe/gallery.sqlite3)")
    g.add_argument("--threshold", type=float_range(0.0, 4.0, above=True), default=None,
                   help="largest embedding distance that counts as the same person (default 0.57 for dlib's"
                        " mirror-averaged vectors)")
    g.add_argument("--report", type=Path, default=None, metavar="FILE",
                   help="review report: FILE.html (tracks with thumbnails, decisions, votes, distances) or"
                        " FILE.json plus FILE_tracks.png")


def selection_options(args: argparse.Namespace, anonymize):
    """SelectiveOptions from --only/--except/...; None when no one is chosen (plain anonymize)."""
    from facepipe.errors import UsageError

    only = bool(args.only or args.only_photo)
    excepted = bool(args.except_names or args.except_photo)
    if not only and not excepted:
        for flag, given in (("--only-strict", args.only_strict), ("--report", args.report is not None),
                            ("--gallery", args.gallery is not None), ("--threshold", args.threshold is not None)):
            if given:
                raise UsageError(f"{flag} needs --only/--except (or --only-photo/--except-photo)")
        return None
    if only and excepted:
        raise UsageError("--only and --except cannot be combined: choose who to mask (--only) or who to leave"
                         " visible (--except)")
    if args.only_strict and not only:
        raise UsageError("--only-strict goes with --only (--except always masks undecided faces)")
    from facepipe.apps.recognition.matching import MatchOptions
    from facepipe.apps.selective import PeopleSelection, SelectiveOptions, TrackSampling

    selection = PeopleSelection("only" if only else "except", names=tuple(args.only or args.except_names),
                                photos=tuple(args.only_photo or args.except_photo), gallery=args.gallery,
                                strict=args.only_strict)
    return SelectiveOptions(selection, anonymize, TrackSampling(match=MatchOptions(threshold=args.threshold)))


def build_options(args: argparse.Namespace):
    """AnonymizeOptions from parsed arguments (defaults of the dataclasses where not given)."""
    from dataclasses import replace

    from facepipe.apps.anonymize.detect import FaceFinderOptions
    from facepipe.apps.anonymize.options import ANONYMIZE_SUBME, AnonymizeOptions
    from facepipe.apps.anonymize.redact import RedactOptions
    from facepipe.apps.anonymize.track import TrackerOptions
    from facepipe.errors import UsageError
    from facepipe.io.image import read_image
    from facepipe.io.video import VideoEncodeOptions
    from facepipe.stages.scene_cuts import SceneCutOptions

    changes: dict = {"scale": args.scale}
    if args.min_detection_confidence is not None:
        changes["min_score"] = args.min_detection_confidence
    if args.min_face is not None:
        changes["min_face"] = args.min_face or None
        changes["min_face_relative"] = None  # an explicit size is meant literally
    if args.max_face is not None:
        changes["max_face"] = args.max_face
    stream_changes = dict(changes)
    if args.tile_period is not None:
        stream_changes["tile_period"] = args.tile_period
    replacement = None
    if args.method == "image":
        if args.replace_with is None:
            raise UsageError("--method image needs --replace-with IMAGE")
        replacement = _read_replacement(args.replace_with, read_image)
    track_changes = {k: v for k, v in (("hold", args.hold), ("confirm_score", args.confirm)) if v is not None}
    try:
        return AnonymizeOptions(
            detect=replace(FaceFinderOptions.for_crowds(tile_period=4) if args.crowd else FaceFinderOptions(),
                           **stream_changes),
            image_detect=FaceFinderOptions.for_images(**changes),
            track=TrackerOptions(**track_changes),
            cuts=None if args.no_scene_cuts else SceneCutOptions(),
            redact=RedactOptions(method=args.method, shape=args.shape, mask_scale=args.mask_scale, blur=args.blur,
                                 mosaic=args.mosaic, grain=args.grain, color=args.color, replacement=replacement,
                                 draw_boxes=args.draw_boxes, draw_scores=args.draw_scores),
            video=VideoEncodeOptions(codec=args.codec, crf=args.crf, preset=args.preset or "veryfast",
                                     pix_fmt=args.pix_fmt, container_format=args.container,
                                     subme=args.subme if args.subme is not None or args.preset else ANONYMIZE_SUBME),
            keep_audio=not args.no_audio,
            keep_metadata=args.keep_metadata,
            image_quality=args.quality,
            execution=execution_options(args),
        ).with_runtime(runtime_options(args))
    except ValueError as exc:
        raise UsageError(f"invalid option: {exc}") from exc


def _read_replacement(path: Path, read_image):
    """The replacement image, with its alpha channel if it has one."""
    import cv2
    import numpy as np

    rgb = read_image(path)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is not None and raw.ndim == 3 and raw.shape[2] == 4 and raw.shape[:2] == rgb.shape[:2]:
        alpha = raw[..., 3]
        if alpha.dtype != np.uint8:
            alpha = (alpha.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
        return np.dstack([rgb, alpha])
    return rgb


def run(args: argparse.Namespace) -> int:
    from facepipe.apps.anonymize.camera import parse_camera, run_camera
    from facepipe.apps.anonymize.files import anonymize_paths, describe
    from facepipe.errors import UsageError

    options = build_options(args)
    camera = args.camera
    old_cameras = [parse_camera(s) for s in args.inputs]
    if any(c is not None for c in old_cameras):
        if len(args.inputs) != 1 or camera is not None:
            raise UsageError("a camera must be the only input")
        camera = old_cameras[0]
        log.warning("a camera given as the input %r is deprecated and will be removed after this release;"
                    " use --camera %d", args.inputs[0], camera)
    selective = selection_options(args, options)
    if selective is not None and (camera is not None or wants_batch(args)):
        raise UsageError("--only/--except decide each track over the whole video: they take files and"
                         " folders, not a camera, --ray or --resume")
    if camera is not None:
        check_camera_run(args, args.inputs if args.camera is not None else ())  # not a 'cam:N' input
        report = run_camera(camera, options, output=args.output, preview=args.preview, max_frames=args.max_frames)
        sys.stderr.write(f"camera {camera}: {report.frames} frames in {report.seconds:.1f} s\n")
        return 0
    if not args.inputs:
        raise UsageError("no input: give images, videos or folders, or --camera N")
    progress = show_progress(args)
    if selective is not None:
        return _run_selective(args, selective, progress)
    if wants_batch(args):
        from facepipe.apps.batch import AnonymizeTask, plan_anonymize

        task = AnonymizeTask(options, max_frames=args.max_frames)
        return run_batch_command(args, task, plan_anonymize(args.inputs, args.output, args.recursive))
    summary = anonymize_paths(args.inputs, options, output=args.output, recursive=args.recursive,
                              progress=progress, max_frames=args.max_frames)
    for r in summary.reports:
        if r.ok:
            sys.stdout.write(f"{r.input} -> {r.output} ({r.frames} frames, {r.faces} faces, {r.fps:.1f} frames/s)\n")
    if not args.quiet:  # failures were logged as errors already
        sys.stderr.write(describe(summary) + "\n")
    return 0 if summary.ok else 1


def _run_selective(args: argparse.Namespace, options, progress: bool) -> int:
    from facepipe.apps.anonymize.files import describe
    from facepipe.apps.selective.files import anonymize_people_paths

    run = anonymize_people_paths(args.inputs, options, output=args.output, recursive=args.recursive,
                                 report=args.report, progress=progress, max_frames=args.max_frames)
    for r in run.summary.reports:
        if r.ok:
            sys.stdout.write(f"{r.input} -> {r.output} ({r.frames} frames, {r.faces} faces masked,"
                             f" {r.fps:.1f} frames/s)\n")
    if not args.quiet:
        for e in run.entries:
            undecided = [v for v in e.verdicts.values() if v.state == "undecided" and v.via == v.key
                         and v.embedded > 0]
            chosen = [v for v in e.verdicts.values() if v.state == "chosen" and v.via == v.key]
            sys.stderr.write(f"{e.input}: {len(chosen)} tracks decided as chosen people"
                             f" ({', '.join(sorted({v.name for v in chosen})) or 'none'}),"
                             f" {len(undecided)} near a chosen person but undecided"
                             + (" (masked: --only-strict)" if options.selection.strict else
                                " (left visible; --only-strict masks them)" if options.selection.mode == "only"
                                else " (masked)") + "\n")
            for v in sorted(undecided, key=lambda v: v.first):
                sys.stderr.write(f"  undecided: track {v.track_id}, frames {v.first}-{v.last},"
                                 f" nearest {v.nearest_chosen} at {v.chosen_distance:.3f}\n")
        for f in run.report_files:
            sys.stderr.write(f"report: {f}\n")
        sys.stderr.write(describe(run.summary) + "\n")
    return 0 if run.summary.ok else 1
