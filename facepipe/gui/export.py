"""Export: the open file anonymized into a new file, in a thread, with progress, ETA and Cancel.

The export is `anonymize_paths([input], options, output=dst)`, the very call `facepipe anonymize
INPUT -o DST` makes, with the options the CLI's parser builds from the same arguments; so the
output is the CLI's (frames, timestamps, audio), written atomically: a cancelled or failed export
leaves no file behind. Cancel raises `CancelledError` from the progress callback, which stops the run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Signal, Slot

from facepipe.errors import CancelledError
from facepipe.gui.settings import GuiSettings, anonymize_job
from facepipe.gui.worker import ThreadWorker

__all__ = ["ExportProgress", "ExportWorker", "eta_text"]


@dataclass(frozen=True)
class ExportProgress:
    """done/total: steps; passes: how many times each frame is processed (2 when chosen people are
    masked: a survey of the whole video, then the redaction), so steps = frames x passes."""

    done: int
    total: int | None
    elapsed: float
    passes: int = 1

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far (None until a frame is done or without a total)."""
        if not self.total or self.done <= 0:
            return None
        return self.elapsed / self.done * max(self.total - self.done, 0)


def eta_text(progress: ExportProgress) -> str:
    eta = progress.eta
    left = "" if eta is None else f", {int(eta) // 60}:{int(eta) % 60:02d} left"
    if progress.passes > 1 and progress.total:
        frames = progress.total // progress.passes
        k = min(progress.done // frames, progress.passes - 1) if frames else 0
        return f"pass {k + 1}/{progress.passes}: {progress.done - k * frames}/{frames} frames{left}"
    of = f"{progress.done}/{progress.total}" if progress.total else f"{progress.done}"
    return f"{of} frames{left}"


class ExportWorker(ThreadWorker):
    """One export at a time in its own thread. `progress`, then `finished(output path)`,
    `cancelled()` or `failed(message)`: the line the CLI would print for the failure."""

    progress = Signal(object)  # ExportProgress
    finished = Signal(str)
    cancelled = Signal()
    failed = Signal(str)
    _start = Signal(str, str, object)

    def __init__(self) -> None:
        super().__init__("facepipe-export")
        self._start.connect(self._run)
        self.busy = False

    def start(self, src: str, dst: str, settings: GuiSettings) -> None:
        self.cancel_event.clear()
        self.busy = True
        self._start.emit(src, dst, settings)

    def cancel(self) -> None:
        self.cancel_event.set()

    @Slot(str, str, object)
    def _run(self, src: str, dst: str, settings: GuiSettings) -> None:
        from facepipe.apps.anonymize import anonymize_paths

        t0 = time.perf_counter()
        last = [0.0]

        passes = [1]

        def on_progress(done: int, total: int | None) -> None:
            if self.cancel_event.is_set():
                raise CancelledError(f"{src}: export cancelled; no output was written")
            now = time.perf_counter()
            if now - last[0] >= 0.1 or done == total:  # at most 10 updates a second reach the UI
                last[0] = now
                self.progress.emit(ExportProgress(done, total, now - t0, passes[0]))

        try:
            options, selective = anonymize_job(settings)
            if selective is None:
                summary = anonymize_paths([src], options, output=dst, progress=False, on_progress=on_progress)
            else:  # chosen people: the CLI's `anonymize --only/--except` run (two passes over the video)
                from facepipe.apps.selective.files import anonymize_people_paths

                passes[0] = 2
                self.progress.emit(ExportProgress(0, None, 0.0, 2))
                summary = anonymize_people_paths([src], selective, output=dst, progress=False,
                                                 on_progress=on_progress).summary
        except Exception as exc:  # noqa: BLE001 - e.g. a missing model (raised, not reported): one line
            self.busy = False
            self.failed.emit(str(exc) or type(exc).__name__)
            return
        self.busy = False
        if self.cancel_event.is_set() and not summary.ok:
            self.cancelled.emit()
        elif summary.ok:
            self.finished.emit(str(Path(summary.reports[0].output)))
        else:
            self.failed.emit(summary.failed[0].error or f"{src}: export failed")
