"""Selective anonymization of files and folders: outputs named and written as plain anonymize's
(`NAME_anonymized.EXT`, atomically, never over an input), plus the optional review report."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from facepipe._fsutil import refuse_overwrite
from facepipe.apps.anonymize.files import OnProgress, file_kind, planned_outputs
from facepipe.apps.selective.engine import SelectiveAnonymizer
from facepipe.apps.selective.options import SelectiveOptions
from facepipe.apps.selective.report import ReportEntry, write_report
from facepipe.errors import InputError
from facepipe.jobs import FileReport, InputFile, RunSummary, run_each

log = logging.getLogger("facepipe.anonymize")

__all__ = ["SelectiveRun", "anonymize_people_paths"]


@dataclass
class SelectiveRun:
    """summary: per-file reports (as plain anonymize's); entries: per done input, its tracks and
    verdicts (what the review report shows); report_files: the report written, if asked."""

    summary: RunSummary
    entries: list[ReportEntry] = field(default_factory=list)
    report_files: list[Path] = field(default_factory=list)


def anonymize_people_paths(
    inputs: Iterable[str | os.PathLike[str]],
    options: SelectiveOptions,
    *,
    output: str | os.PathLike[str] | None = None,
    recursive: bool = False,
    report: str | os.PathLike[str] | None = None,
    progress: bool = True,
    max_frames: int | None = None,
    on_progress: OnProgress | None = None,
) -> SelectiveRun:
    """Anonymize the chosen people (or all but them) in files and folders. The gallery is opened
    once, before any file (UsageError/InputError for a bad selection); a bad file is reported and
    the others carry on. report: an .html page, or a .json file plus a contact sheet PNG.
    on_progress (per video): see `SelectiveAnonymizer.anonymize_video` (steps of both passes)."""
    jobs, outputs = planned_outputs(inputs, output, recursive)
    run = SelectiveRun(RunSummary())
    with SelectiveAnonymizer(options) as anon:
        claimed: dict[Path, Path] = {}

        def one(job: InputFile) -> FileReport:
            from facepipe.io.image import read_image_file, write_image

            src, dst = job.path, outputs[job.path]
            first = claimed.setdefault(dst.resolve(), src)
            if first != src:
                raise InputError(f"{src}: its output {dst} is also the output of {first}; skipped")
            if file_kind(job) == "video":
                result = anon.anonymize_video(src, dst, max_frames=max_frames, progress=progress,
                                              on_progress=on_progress)
                file_report = result.report
            else:
                t0 = time.perf_counter()
                refuse_overwrite(dst, src)
                image = read_image_file(src)
                redacted, result = anon.anonymize_image(image.rgb)
                dst.parent.mkdir(parents=True, exist_ok=True)
                o = options.anonymize
                write_image(dst, redacted, keep_metadata=o.keep_metadata, metadata_from=src, alpha=image.alpha,
                            quality=o.image_quality if dst.suffix.lower() in (".jpg", ".jpeg", ".webp") else None)
                file_report = FileReport(src, "image", [dst], frames=1, faces=result.report.faces,
                                         regions=result.report.regions, seconds=time.perf_counter() - t0)
            run.entries.append(ReportEntry(src, dst, file_report.kind, result.survey, result.verdicts))
            for v in sorted(result.verdicts.values(), key=lambda v: (v.first, v.track_id)):
                if v.state == "undecided" and v.via == v.key:
                    log.info("%s: track %d, frames %d-%d: undecided (%d embedded, nearest chosen %s at %s, track"
                             " embedding %s, rival %s): %s", src, v.track_id, v.first, v.last, v.embedded,
                             v.nearest_chosen or "-", f"{v.chosen_distance:.3f}", f"{v.track_chosen_distance:.3f}",
                             f"{v.rival_distance:.3f}", "masked" if v.masked else "left visible")
                if v.shown is not None:
                    log.info("%s: track %d, frames %d-%d: the same face as chosen track %d there, shown", src,
                             v.track_id, v.shown[0], v.shown[1], v.shown[2][0])
            return file_report

        run.summary = run_each(jobs, one, describe=lambda job: (job.path, job.kind or "image"))
        if report is not None:
            run.report_files = write_report(report, run.entries, options.selection, anon.chosen.chosen)
    return run
