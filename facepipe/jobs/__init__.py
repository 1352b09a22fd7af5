"""The media-job layer: what every app and command does around its own processing.

Small modules, one job each, below apps/ and cli/ and above io/ and graph/:

- `inputs`: `collect_inputs` (files, folders, -r, hidden files and own outputs skipped, symlink
  loops walked once) -> `InputFile`s.
- `naming`: `output_stems`, output names that never collide (a Live Photo's IMG_1.JPG and
  IMG_1.MOV); `refuse_overwrite` (facepipe._fsutil) keeps every output off its input.
- `frames`: `open_media` / `open_camera` -> `MediaFrame`s (index, RGB image, strictly increasing
  timestamp_ms) of a photo, a video or a camera.
- `live`: `LiveView`, the end of a live run (preview window, recording from the first frame,
  q/Esc/Ctrl-C stops, an error aborts the recording); `gui_available`.
- `progress`: `Progress`, the one progress bar.
- `reports`: `FileReport` per input, `run_each` (a failing file is reported, the rest carry on; a
  missing model stops the run), `graph_error` (a graph run fails like a sequential one).
- `execution`: `ExecutionOptions` (threads: one frame after another, or a pipelined graph) and
  `run_pipelined`, which runs an app's `PipelinedJob` in the form the options choose.

A new app only writes what it computes; a toy app that reads a video and writes JSON:

    from facepipe.jobs import FileReport, open_media, run_each, collect_inputs
    def one(item):
        with open_media(item.path) as media:
            frames = [{"frame": f.index, "timestamp_ms": f.timestamp_ms, "faces": detect(f.image)}
                      for f in media]
        write_json(item.path.with_suffix(".json"), frames)
        return FileReport(item.path, item.kind, [item.path.with_suffix(".json")], frames=len(frames))
    summary = run_each(collect_inputs(paths), one, describe=lambda i: (i.path, i.kind))
"""

from facepipe.jobs.execution import (
    ExecutionOptions,
    PipelinedJob,
    execution_with_workers,
    fold_workers_alias,
    run_pipelined,
)
from facepipe.jobs.frames import MediaFrame, MediaSource, MonotonicMs, open_camera, open_media
from facepipe.jobs.inputs import InputFile, collect_inputs, media_kind
from facepipe.jobs.live import LiveView, gui_available
from facepipe.jobs.naming import output_stems
from facepipe.jobs.progress import Progress
from facepipe.jobs.reports import FileReport, RunSummary, graph_error, run_each

__all__ = [
    "ExecutionOptions",
    "FileReport",
    "InputFile",
    "LiveView",
    "MediaFrame",
    "MediaSource",
    "MonotonicMs",
    "PipelinedJob",
    "Progress",
    "RunSummary",
    "collect_inputs",
    "execution_with_workers",
    "fold_workers_alias",
    "graph_error",
    "gui_available",
    "media_kind",
    "open_camera",
    "open_media",
    "output_stems",
    "run_each",
    "run_pipelined",
]
