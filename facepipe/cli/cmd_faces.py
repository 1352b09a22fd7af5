"""`facepipe faces`: a gallery of people, and who is in photos, videos and cameras.

    facepipe faces enroll NAME PHOTO|DIR…      add photos of one person (one face each; --largest picks)
    facepipe faces enroll --people DIR         one subfolder per person: DIR/NAME/*.jpg
    facepipe faces list | remove NAME | export FILE | import FILE
    facepipe faces identify PHOTO|VIDEO|DIR… [-o OUT]   names drawn into OUT/, JSON to OUT/faces.json or stdout
    facepipe faces identify --camera N [-o FILE.mp4]

The gallery is an SQLite file (default: $FACEPIPE_GALLERY, else $XDG_DATA_HOME/facepipe/gallery.sqlite3,
mode 0600) or, with --gallery postgresql://…, a PostgreSQL database with pgvector shared by a team.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from facepipe.cli._batch import add_batch_arguments, report_summary, run_batch_with_progress, wants_batch
from facepipe.cli._help import HelpFormatter
from facepipe.cli._options import (
    add_camera,
    add_confidences,
    add_max_frames,
    add_max_num_faces,
    add_num_threads,
    add_progress,
    add_recursive,
    float_range,
    int_range,
    solution_options,
)
from facepipe.errors import InputError, UsageError

log = logging.getLogger("facepipe.faces")


def _common(p: argparse.ArgumentParser, *, recognise: bool) -> None:
    p.add_argument("--gallery", default=None, metavar="PATH|URL",
                   help="gallery file or postgresql://user@host/db URL (default: $FACEPIPE_GALLERY, else"
                        " $XDG_DATA_HOME/facepipe/gallery.sqlite3)")
    if not recognise:
        return
    add_confidences(p, detection=0.5)
    add_max_num_faces(p, None, "most faces per image/frame, largest first (default: all)")
    add_num_threads(p)
    p.add_argument("--threshold", type=float_range(0.0, 4.0, above=True), default=None,
                   help="largest embedding distance that counts as the same person (default: the embedder's"
                        " calibrated value, 0.6 for dlib)")
    p.add_argument("-k", type=int_range(1, 100), default=5, dest="k",
                   help="nearest gallery embeddings that vote per face")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("faces", help="people gallery: enroll, list, remove, export/import, identify",
                              description=__doc__, formatter_class=HelpFormatter)
    sub = p.add_subparsers(dest="faces_command", metavar="ACTION")
    sub.required = True

    e = sub.add_parser("enroll", help="add photos of a person (or --people DIR: a subfolder per person)",
                       formatter_class=HelpFormatter)
    e.add_argument("name", nargs="?", help="the person's name")
    e.add_argument("photos", nargs="*", metavar="PHOTO|DIR", help="photos, or folders of photos, of that person")
    e.add_argument("--people", type=Path, metavar="DIR", help="enroll every subfolder DIR/NAME/ as person NAME")
    e.add_argument("--largest", action="store_true", help="a photo with several faces: enroll the largest")
    e.add_argument("--skip-bad", action="store_true",
                   help="skip photos without a usable face (with a warning) instead of failing")
    e.add_argument("--keep-thumbnails", action="store_true",
                   help="also store the aligned face chip (JPEG) of each photo; by default no image is stored")
    add_recursive(e)
    _common(e, recognise=True)
    e.set_defaults(func=_enroll)

    ls = sub.add_parser("list", help="who is enrolled", formatter_class=HelpFormatter)
    ls.add_argument("-f", "--format", choices=("text", "json"), default="text")
    _common(ls, recognise=False)
    ls.set_defaults(func=_list)

    rm = sub.add_parser("remove", help="delete a person and all their embeddings", formatter_class=HelpFormatter)
    rm.add_argument("name")
    _common(rm, recognise=False)
    rm.set_defaults(func=_remove)

    ex = sub.add_parser("export", help="write the gallery to a JSON file (mode 0600)", formatter_class=HelpFormatter)
    ex.add_argument("output", type=Path, metavar="FILE")
    _common(ex, recognise=False)
    ex.set_defaults(func=_export)

    im = sub.add_parser("import", help="add the people of an exported JSON file", formatter_class=HelpFormatter)
    im.add_argument("input", type=Path, metavar="FILE")
    _common(im, recognise=False)
    im.set_defaults(func=_import)

    i = sub.add_parser("identify", help="name the faces in photos, videos, folders or a camera",
                       formatter_class=HelpFormatter)
    i.add_argument("inputs", nargs="*", metavar="PHOTO|VIDEO|DIR")
    add_camera(i)
    i.add_argument("-o", "--output", type=Path, default=None,
                   help="folder for annotated copies (NAME_faces.EXT) and faces.json (camera: a video file);"
                        " without it, JSON goes to standard output")
    add_recursive(i)
    i.add_argument("--embed-every", type=int_range(1, 1000), default=3,
                   help="video: frames between two embeddings of one tracked face")
    add_max_frames(i)
    add_progress(i)
    _common(i, recognise=True)
    add_batch_arguments(i)
    i.set_defaults(func=_identify)


def _store(args: argparse.Namespace):
    from facepipe.apps.recognition.store import open_gallery

    return open_gallery(args.gallery, None, create=False)


def _recognizer_options(args: argparse.Namespace):
    from facepipe.apps.recognition.faces import SpotterOptions
    from facepipe.apps.recognition.matching import MatchOptions
    from facepipe.apps.recognition.recognizer import RecognizerOptions

    return RecognizerOptions(
        solution_options(SpotterOptions, args, min_detection_confidence=args.min_detection_confidence,
                         max_num_faces=args.max_num_faces),
        MatchOptions(threshold=args.threshold, k=args.k))


def _recognizer(args: argparse.Namespace):
    from facepipe.apps.recognition.recognizer import FaceRecognizer

    return FaceRecognizer(args.gallery, _recognizer_options(args))


def _enroll(args: argparse.Namespace) -> int:
    from facepipe.apps.recognition.enroll import enroll, media_files, people_folders

    if args.people is not None:
        if args.name or args.photos:
            raise UsageError("enroll: give either NAME PHOTO… or --people DIR, not both")
        people = people_folders(args.people)
    else:
        if not args.name or not args.photos:
            raise UsageError("enroll: give NAME and at least one PHOTO or folder (or --people DIR)")
        people = {args.name: media_files(args.photos, args.recursive)}
    with _recognizer(args) as rec:
        done = enroll(rec, people, largest=args.largest, skip_bad=args.skip_bad,
                      keep_thumbnails=args.keep_thumbnails)
        for e in done:
            log.warning("enrolled %s: %d photo(s)%s into %s", e.name, len(e.embeddings),
                        f", {len(e.skipped)} skipped" if e.skipped else "", rec.gallery.location)
    return 0


def _list(args: argparse.Namespace) -> int:
    with _store(args) as store:
        people = store.people()
        if args.format == "json":
            doc = {"gallery": store.location, "model_id": store.info.model_id, "dim": store.info.dim,
                   "metric": store.info.metric,
                   "people": [{"name": p.name, "embeddings": p.embeddings, "thumbnails": p.thumbnails}
                              for p in people]}
            sys.stdout.write(json.dumps(doc) + "\n")
        else:
            for p in people:
                sys.stdout.write(f"{p.name}\t{p.embeddings}\n")
    return 0


def _remove(args: argparse.Namespace) -> int:
    with _store(args) as store:
        n = store.remove(args.name)
        log.warning("removed %s (%d embeddings) from %s", args.name, n, store.location)
    return 0


def _export(args: argparse.Namespace) -> int:
    from facepipe.apps.recognition.enroll import export_gallery

    if not args.output.parent.is_dir():
        raise InputError(f"{args.output}: output folder {args.output.parent} does not exist")
    with _store(args) as store:
        n = export_gallery(store, args.output)
    log.warning("exported %d embeddings to %s", n, args.output)
    return 0


def _import(args: argparse.Namespace) -> int:
    from facepipe.apps.recognition.enroll import import_gallery, read_export
    from facepipe.apps.recognition.store import GalleryError, open_gallery

    info, _ = read_export(args.input)
    try:
        store = open_gallery(args.gallery, None, create=False)
    except GalleryError:  # no gallery yet (or a broken one, which fails again here): made for the file's model
        store = open_gallery(args.gallery, info)
    with store:
        n = import_gallery(store, args.input)
    log.warning("imported %d embeddings into %s", n, store.location)
    return 0


def _identify(args: argparse.Namespace) -> int:
    from facepipe._fsutil import atomic_write
    from facepipe.apps.recognition.enroll import media_files
    from facepipe.apps.recognition.files import identify_image_file, identify_report, identify_video_file
    from facepipe.apps.recognition.video import TrackVoteOptions
    from facepipe.io.video import is_video_file

    if args.camera is not None:
        if args.inputs:
            raise UsageError("identify: give inputs or --camera N, not both")
        if wants_batch(args):
            raise UsageError("--ray and --resume take files and folders, not a camera")
        from facepipe.apps.recognition.camera import run_camera

        with _recognizer(args) as rec:
            return run_camera(rec, args.camera, args.output, TrackVoteOptions(embed_every=args.embed_every),
                              max_frames=args.max_frames)
    if not args.inputs:
        raise UsageError("identify: give at least one photo, video or folder (or --camera N)")
    files = media_files(args.inputs, args.recursive, videos=True)
    if args.output is not None:
        if args.output.exists() and not args.output.is_dir():
            raise InputError(f"{args.output}: not a folder (-o takes the folder for annotated copies and JSON)")
        args.output.mkdir(parents=True, exist_ok=True)
    if wants_batch(args):
        return _identify_batch(args, files)
    docs, failed = [], 0
    with _recognizer(args) as rec:
        votes = TrackVoteOptions(embed_every=args.embed_every)
        for path in files:
            if args.progress:
                log.warning("%s", path)
            try:
                if is_video_file(path):
                    docs.append(identify_video_file(rec, path, args.output, votes, max_frames=args.max_frames))
                else:
                    docs.append(identify_image_file(rec, path, args.output))
            except InputError as exc:
                if len(files) == 1:
                    raise
                log.error("%s", exc)
                failed += 1
        doc = identify_report(rec.info.model_id, rec.threshold, rec.gallery.location, docs)
    text = json.dumps(doc) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        with atomic_write(args.output / "faces.json", mode=0o600) as fh:
            fh.write(text.encode("utf-8"))
    return 1 if failed else 0


def _identify_batch(args: argparse.Namespace, files: list[Path]) -> int:
    """--ray/--resume: files on workers, a manifest in OUT, OUT/faces.json as the plain run writes it."""
    from facepipe.apps.batch import IdentifyTask, plan_identify
    from facepipe.apps.batch.identify import gallery_sha256, write_identify_report
    from facepipe.apps.recognition.recognizer import FaceRecognizer
    from facepipe.apps.recognition.store import default_gallery_path, is_postgres_url, open_gallery
    from facepipe.apps.recognition.video import TrackVoteOptions

    if args.output is None:
        raise UsageError("identify: --ray and --resume need -o OUT (the manifest and each file's results live there)")
    options = _recognizer_options(args)
    gallery = args.gallery if is_postgres_url(args.gallery) else str(
        (default_gallery_path() if args.gallery is None else Path(args.gallery).expanduser()).resolve())
    if not is_postgres_url(gallery) and not Path(gallery).exists():
        FaceRecognizer(gallery, options).close()  # made empty, as the plain run does; not by every worker at once
    with open_gallery(args.gallery, None, create=False) as store:  # as named in the plain run's JSON
        contents = gallery_sha256(store)
        head = {"model_id": store.info.model_id, "threshold": options.match.threshold_for(store.info.metric),
                "gallery": store.location}
    task = IdentifyTask(options, gallery, TrackVoteOptions(embed_every=args.embed_every), args.max_frames, contents)
    plan = plan_identify(files, args.output)
    summary = run_batch_with_progress(args, task, plan.items, plan.manifest_dir)
    write_identify_report(plan.items, {r.input for r in summary.failed}, args.output, head)
    return report_summary(summary, plan)
