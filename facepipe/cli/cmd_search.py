"""`facepipe search`: facial-expression similarity search. Make a face, find the pictures that match it.

  facepipe search index DIR... -o INDEX      add every face of the photos to INDEX (a single SQLite file);
                                            run it again to add new or changed photos only
  facepipe search query INDEX PHOTO|VIDEO    the k indexed faces whose expression is nearest to each face
  facepipe search query INDEX --camera N     live: matches update as you pull faces (preview window when
                                            there is a display and an OpenCV with GUI support)

The query runs the graph shipped as facepipe/apps/expression_search/search.yaml. Distances are Euclidean
between expression vectors (see docs/expression-search.md). An index only answers queries made with the
descriptor that built it (--descriptor / --model); another one is refused.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from facepipe._fsutil import refuse_overwrite
from facepipe.cli._batch import add_batch_arguments, run_batch_with_progress
from facepipe.cli._help import HelpFormatter
from facepipe.cli._options import (
    add_camera,
    add_confidences,
    add_max_frames,
    add_max_num_faces,
    add_num_threads,
    add_progress,
    add_recursive,
    int_range,
)
from facepipe.cli._output import json_text, write_output
from facepipe.errors import InputError, UsageError

log = logging.getLogger(__name__)

_LIVE_PRINT_INTERVAL_S = 0.5  # camera: print matches at most this often, and only when they change


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("search", help="facial-expression similarity search over photos (index, query)",
                              description=__doc__, formatter_class=HelpFormatter)
    sub = p.add_subparsers(dest="search_command", metavar="{index,query}")
    sub.required = True

    ix = sub.add_parser("index", help="add the faces of photos to an index", formatter_class=HelpFormatter,
                        description="Add every face (or the largest) of the photos in DIR... to INDEX.")
    ix.add_argument("inputs", type=Path, nargs="+", metavar="DIR", help="folders (or image files) to index")
    ix.add_argument("-o", "--output", type=Path, required=True, metavar="INDEX", help="index file to create/update")
    add_recursive(ix)
    ix.add_argument("--largest", action="store_true", help="only the largest face of each photo")
    ix.add_argument("--prune", action="store_true", help="forget indexed files that no longer exist")
    ix.add_argument("--no-identity", dest="identity", action="store_false",
                    help="do not store recognition embeddings: the index is searched without identity"
                         " normalisation (faster indexing, worse matches across people)")
    add_progress(ix)
    _common(ix, max_faces=4)
    add_batch_arguments(ix, resume=False)  # the index is its own record of what is done
    ix.set_defaults(func=run_index)

    q = sub.add_parser("query", help="find the indexed faces with the nearest expression",
                       formatter_class=HelpFormatter,
                       description="Top-k matches of each face of a photo, of every frame of a video, or live"
                                   " from a camera. Text on standard output, or JSON with -o FILE.json / -f json.")
    q.add_argument("index", type=Path, metavar="INDEX", help="index made by `facepipe search index`")
    q.add_argument("input", type=Path, nargs="?", metavar="PHOTO|VIDEO", help="query photo or video")
    add_camera(q)
    q.add_argument("-k", type=int_range(1), default=3, help="matches per face")
    q.add_argument("-o", "--output", type=Path, default=None, help="write the matches here (JSON)")
    q.add_argument("-f", "--format", choices=("text", "json"), default=None,
                   help="output format (default: json for -o, else text)")
    q.add_argument("--render", type=Path, default=None, metavar="PICTURE",
                   help="write the picture of the query face beside its matches (video: the best-matching frame;"
                        " camera: the last one)")
    add_max_frames(q)
    q.add_argument("--preview", action=argparse.BooleanOptionalAction, default=None,
                   help="camera: preview window (default: when a display is available)")
    _common(q, max_faces=1)
    q.set_defaults(func=run_query)


def _common(p: argparse.ArgumentParser, max_faces: int) -> None:
    add_max_num_faces(p, max_faces, "faces read per image/frame")
    add_confidences(p, detection=0.5)
    add_num_threads(p)
    p.add_argument("--descriptor", choices=("geometry", "blendshapes", "landmarks"), default="geometry",
                   help="expression vector: geometry (default), or the blendshapes / landmarks baselines")
    p.add_argument("--model", type=Path, default=None, metavar="FILE.onnx",
                   help="your own ONNX embedding model instead (needs --model-sha256)")
    p.add_argument("--model-sha256", default=None, metavar="HEX", help="sha256 the --model file must have")


def _descriptor_spec(args: argparse.Namespace) -> Any:
    from facepipe.apps.expression_search.descriptor import DescriptorSpec

    if args.model is None and args.model_sha256 is not None:
        raise UsageError("--model-sha256 is given without --model")
    if args.model is not None and not args.model_sha256:
        raise UsageError(f"{args.model}: --model needs --model-sha256 (the file's sha256, to pin it)")
    return DescriptorSpec(args.descriptor, None if args.model is None else str(args.model), args.model_sha256,
                          args.num_threads)


# ---------------------------------------------------------------------------------------------- index


def run_index(args: argparse.Namespace) -> int:
    from facepipe.apps.expression_search.indexer import EmbedOptions, FaceEmbedder, index_paths, list_images

    spec = _descriptor_spec(args)
    for src in args.inputs:
        if not src.exists():
            raise InputError(f"{src}: no such file or folder")
    if not args.output.parent.is_dir():
        raise InputError(f"{args.output}: output folder {args.output.parent} does not exist")
    files = list_images(args.inputs, args.recursive)
    refuse_overwrite(args.output, *files)
    if not files:
        raise InputError(f"{', '.join(map(str, args.inputs))}: no image files found"
                         + ("" if args.recursive else " (use -r for subfolders)"))
    options = EmbedOptions(max_num_faces=args.max_num_faces, largest_only=args.largest,
                           min_detection_confidence=args.min_detection_confidence, num_threads=args.num_threads,
                           descriptor=spec, identity=args.identity)
    if args.ray is not None:
        report, total = _index_on_ray(args, files, options)
        return _print_index_report(args, report, total)
    embedder = FaceEmbedder(options)
    show = sys.stderr.isatty() if args.progress is None else args.progress
    done = [0]

    def progress(path: Path) -> None:
        done[0] += 1
        sys.stderr.write(f"\r{done[0]}/{len(files)} {path.name[:50]:<50}")
        sys.stderr.flush()

    try:
        with embedder.open_index(args.output) as index:
            report = index_paths(index, files, embedder, progress if show else None)
            if args.prune:
                report.removed = index.remove_missing({str(p.resolve()) for p in files})
            total = len(index)
    finally:
        embedder.close()
        if show:
            sys.stderr.write("\n")
    return _print_index_report(args, report, total)


def _index_on_ray(args: argparse.Namespace, files: list[Path], options: Any) -> tuple[Any, int]:
    """Workers embed the photos; this process adds them to the index as they come (see apps/batch/index.py)."""
    from facepipe.apps.batch import IndexLedger, IndexTask, plan_index
    from facepipe.apps.expression_search.descriptor import make_descriptor
    from facepipe.apps.expression_search.identity import IdentityEmbedder
    from facepipe.apps.expression_search.index import ExpressionIndex

    descriptor = make_descriptor(options.descriptor)
    identity_model = IdentityEmbedder().model_id if options.identity else ""
    with ExpressionIndex(args.output, descriptor.id, descriptor.dim, identity_model=identity_model) as index:
        ledger = IndexLedger(index)
        summary = run_batch_with_progress(args, IndexTask(options), plan_index(files, args.output).items, ledger)
        ledger.report.seconds = summary.seconds
        if args.prune:
            ledger.report.removed = index.remove_missing({str(p.resolve()) for p in files})
        return ledger.report, len(index)


def _print_index_report(args: argparse.Namespace, report: Any, total: int) -> int:
    ok = report.with_status("ok")
    no_face, bad = report.with_status("no_face"), report.with_status("unreadable")
    rate = len(report.added) / report.seconds if report.seconds > 0 else 0.0
    lines = [f"{args.output}: added {report.faces} faces from {len(ok)} photos ({rate:.1f} photos/s),"
             f" {report.unchanged} unchanged, {len(no_face)} skipped without a face, {len(bad)} unreadable"
             + (f", {report.removed} removed" if report.removed else "") + f"; {total} faces in the index"]
    lines += [f"  skipped (no face): {r.path}" for r in no_face]
    lines += [f"  unreadable: {r.path}: {r.message}" for r in bad]
    sys.stdout.write("\n".join(lines) + "\n")
    return 1 if bad else 0


# ---------------------------------------------------------------------------------------------- query


def run_query(args: argparse.Namespace) -> int:
    from facepipe.apps.expression_search.query import ExpressionSearch, QueryOptions, open_index_for
    from facepipe.io.video import is_video_file

    if (args.input is None) == (args.camera is None):
        raise UsageError("give a query PHOTO or VIDEO, or --camera N (one of them)")
    spec = _descriptor_spec(args)
    if args.input is not None and not args.input.exists():
        raise InputError(f"{args.input}: no such file")
    if not args.index.is_file():
        raise InputError(f"{args.index}: no such index (make one with `facepipe search index DIR -o INDEX`)")
    inputs = [args.index] + ([args.input] if args.input is not None else [])
    for out in (args.output, args.render):
        if out is not None:
            refuse_overwrite(out, *inputs)
            if not out.parent.is_dir():
                raise InputError(f"{out}: output folder {out.parent} does not exist")
    fmt = args.format or ("json" if args.output is not None else "text")
    video = args.camera is not None or is_video_file(args.input)
    try:
        options = QueryOptions(k=args.k, max_num_faces=args.max_num_faces,
                               min_detection_confidence=args.min_detection_confidence, video=video,
                               num_threads=args.num_threads, descriptor=spec, picture=args.render is not None)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    with open_index_for(args.index, options.descriptor) as index:
        if len(index) == 0:
            raise InputError(f"{args.index}: the index has no faces")
        if args.camera is not None:
            return _query_camera(args, index, options, fmt)
        frames = _frames(args.input, video, args.max_frames)
        results, best = [], None
        with ExpressionSearch(index, options) as search:
            for ts, result, picture in search.query_frames(frames):
                results.append((len(results), ts, result))
                score = min((float(m.distances[0]) for m in result.matches if len(m)), default=float("inf"))
                if picture is not None and (best is None or score < best[0]):
                    best = (score, picture)
    if args.render is not None and best is not None:
        _write_picture(args.render, best[1])
    doc = {"input": str(args.input), "index": str(args.index), "k": args.k,
           "frames": [_frame_json(i, ts, r) for i, ts, r in results]}
    write_output(args.output, json_text(doc) if fmt == "json" else _text(doc))
    return 0


def _frames(src: Path, video: bool, max_frames: int | None) -> Any:
    from facepipe.io.image import read_image

    if not video:
        yield read_image(src), 0
        return
    from facepipe.io.video import VideoReader

    last = -1
    with VideoReader(src) as reader:
        for frame in reader:
            if max_frames is not None and frame.index >= max_frames:
                break
            ts = max(int(round(frame.time * 1e6)), last + 1)  # strictly increasing µs
            last = ts
            yield frame.image, ts


def _frame_json(index: int, ts: int, result: Any) -> dict[str, Any]:
    return {"frame": index, "timestamp_ms": round(ts / 1000), "faces": result.to_faces_json()}


def _text(doc: dict[str, Any]) -> str:
    lines = []
    for frame in doc["frames"]:
        head = f"frame {frame['frame']} ({frame['timestamp_ms']} ms)" if len(doc["frames"]) > 1 else doc["input"]
        if not frame["faces"]:
            lines.append(f"{head}: no face")
        for i, face in enumerate(frame["faces"]):
            box = ",".join(f"{v:.0f}" for v in face["box"])
            lines.append(f"{head} face {i} [{box}]:")
            lines += [f"  {m['distance']:8.3f}  {m['path']}  [{','.join(f'{v:.0f}' for v in m['box'])}]"
                      for m in face["matches"]]
    return "\n".join(lines) + "\n"


def _write_picture(path: Path, picture: Any) -> None:
    from facepipe.io.image import write_image

    write_image(path, picture)
    log.info("wrote %s", path)


def _query_camera(args: argparse.Namespace, index: Any, options: Any, fmt: str) -> int:
    from dataclasses import replace

    import cv2

    from facepipe.apps.expression_search.calculators import display_available
    from facepipe.apps.expression_search.query import ExpressionSearch, run_live

    show, why = display_available()
    if args.preview and not show:
        raise InputError(f"--preview: no preview window possible: {why}")
    show = show if args.preview is None else args.preview
    if not show:
        log.warning("no preview window (%s); printing matches only", why)
    cap = cv2.VideoCapture(args.camera)
    if not cap.isOpened():
        raise InputError(f"camera {args.camera}: cannot be opened (not connected, busy, or no permission)")
    shown: list[dict[str, Any]] = []
    source = f"camera:{args.camera}"

    def on_update(index: int, ts: int, result: Any) -> None:
        frame = _frame_json(index, ts, result)
        shown.append(frame)
        doc = {"input": source, "frames": [frame]}
        sys.stdout.write(json_text(doc) if fmt == "json" else _text(doc))
        sys.stdout.flush()

    report = None
    try:
        search = ExpressionSearch(index, replace(options, preview=show, picture=show or args.render is not None))
        report = run_live(search, cap, on_update, max_frames=args.max_frames,
                          min_interval_s=_LIVE_PRINT_INTERVAL_S)
    except KeyboardInterrupt:
        pass  # stopping a live query is the normal way to end it
    finally:
        cap.release()
    if report is not None and report.frames == 0:
        raise InputError(f"camera {args.camera}: delivers no frames")
    if report is not None:
        log.info("camera %d: %d frames read, %d searched, %d updates", args.camera, report.frames,
                 report.processed, report.updates)
        if args.render is not None and report.last_picture is not None:
            _write_picture(args.render, report.last_picture)
    if args.output is not None:
        write_output(args.output, json_text({"input": source, "index": str(args.index), "k": args.k,
                                             "frames": shown}))
    return 0
