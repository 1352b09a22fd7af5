"""The files of a batch and where their outputs go: the plain commands' own rules, unchanged."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from facepipe.apps.batch.tasks import ItemResult, WorkItem

__all__ = ["Plan", "plan_analyze", "plan_anonymize", "plan_identify", "plan_index"]


@dataclass
class Plan:
    items: list[WorkItem]
    manifest_dir: Path  # the output folder (where the manifest lives)
    rejected: list[ItemResult] = field(default_factory=list)  # inputs refused before any work (one line each)


def _claim(claimed: dict[Path, Path], src: Path, outputs: Iterable[Path], inputs: set[Path]) -> str | None:
    for p in outputs:
        resolved = p.resolve()
        if resolved in inputs:
            return f"{src}: its output {p} is an input; refusing to overwrite it"
        first = claimed.setdefault(resolved, src)
        if first != src:
            return f"{src}: its output {p} is also the output of {first}; skipped"
    return None


def plan_anonymize(inputs: Iterable[str | os.PathLike[str]], output: Path | None, recursive: bool) -> Plan:
    """As `facepipe anonymize`: NAME_anonymized.EXT next to each input, or mirrored below -o."""
    from facepipe.apps.anonymize.files import file_kind, planned_outputs

    jobs, outputs = planned_outputs(inputs, output, recursive)
    folder = output if output is not None and (len(jobs) > 1 or jobs[0].folder is not None) else None
    if output is not None and folder is None:
        folder = output.parent  # one input, -o naming its output file
    all_inputs = {job.path.resolve() for job in jobs}
    plan = Plan([], _manifest_dir(folder, [job.path for job in jobs]))
    claimed: dict[Path, Path] = {}
    for job in jobs:
        dst = outputs[job.path]
        problem = _claim(claimed, job.path, [dst], all_inputs)
        if problem:
            plan.rejected.append(ItemResult(job.path, False, error=problem))
        else:
            plan.items.append(WorkItem(job.path, dst, (dst,), file_kind(job)))
    return plan


def plan_analyze(items: Iterable[tuple[Path, Path]], out_root: Path | None) -> Plan:
    """As `facepipe analyze`: (input, folder relative to out_root) from analyze.collect_inputs."""
    from facepipe.apps.analyze import output_places, outputs_for
    from facepipe.jobs import media_kind

    items = list(items)
    all_inputs = {p.resolve() for p, _ in items}
    out_dirs, stems = output_places(items, out_root)
    plan = Plan([], _manifest_dir(out_root, [p for p, _ in items]))
    claimed: dict[Path, Path] = {}
    for path, _ in items:
        outs = tuple(outputs_for(path, out_dirs[path], stems[path]).values())
        problem = _claim(claimed, path, outs, all_inputs)
        if problem:
            plan.rejected.append(ItemResult(path, False, error=problem))
        else:
            plan.items.append(WorkItem(path, out_dirs[path], outs, media_kind(path) or "image", stems[path]))
    return plan


def plan_identify(files: Iterable[Path], output: Path) -> Plan:
    """As `facepipe faces identify -o OUT`: OUT/NAME_faces.EXT per input, and its JSON document."""
    from facepipe.apps.batch.identify import doc_path
    from facepipe.apps.recognition.files import annotated_path
    from facepipe.io.video import is_video_file

    files = list(files)
    all_inputs = {p.resolve() for p in files}
    plan = Plan([], output)
    claimed: dict[Path, Path] = {}
    for path in files:
        video = is_video_file(path)
        annotated = annotated_path(path, output, video)
        outs = (annotated, doc_path(annotated))
        problem = _claim(claimed, path, outs, all_inputs)
        if problem:
            plan.rejected.append(ItemResult(path, False, error=problem))
        else:
            plan.items.append(WorkItem(path, output, outs, "video" if video else "image"))
    return plan


def plan_index(files: Iterable[Path], index: Path) -> Plan:
    """As `facepipe search index`: every photo goes into the one index file, written by the driver."""
    return Plan([WorkItem(path, index, (), "image") for path in files], index.parent)


def _manifest_dir(output_folder: Path | None, inputs: list[Path]) -> Path:
    """The output folder; without one (outputs next to the inputs), the inputs' common folder."""
    if output_folder is not None:
        return output_folder
    return Path(os.path.commonpath([str(p.resolve().parent) for p in inputs]))
