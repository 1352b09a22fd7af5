"""Run a task over many files, in this process or on a Ray cluster, with a manifest.

The loop is the same for both: skip what the manifest says is done, hand each remaining file to
a free worker, record each finished file in the manifest as it arrives, retry a failed file up to
`retries` more times (a file whose worker died counts as failed) and then report it. Nothing is
dropped: every input ends as done, skipped or failed in the summary.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from facepipe.apps.batch.manifest import ManifestLedger
from facepipe.apps.batch.tasks import BatchWorker, ItemResult, Task, WorkItem

log = logging.getLogger("facepipe.batch")

__all__ = ["BatchOptions", "BatchSummary", "Ledger", "LocalPool", "run_batch"]


class Ledger(Protocol):
    """Where a batch records its files, read to skip finished ones on a rerun; used by the driver only.
    `ManifestLedger` (the workers write the outputs; a manifest records them) is the usual one;
    `search index` records into its index instead."""

    def is_done(self, item: WorkItem) -> bool: ...
    def done(self, item: WorkItem, result: ItemResult) -> None: ...
    def failed(self, item: WorkItem, result: ItemResult, attempts: int) -> None: ...


@dataclass(frozen=True)
class BatchOptions:
    """ray: None runs in this process; "local" starts a Ray cluster on this machine; "auto" or an
    address ("host:6379", "ray://host:10001") joins a running one.
    workers: Ray workers (actors) to run (default: local cluster: all cores; cluster: its CPUs / threads).
    threads: CPUs per Ray worker, also its video threads (in this process: the task's own setting).
    retries: more attempts for a failed file before it is reported as failed."""

    ray: str | None = None
    workers: int | None = None
    threads: int = 1
    retries: int = 2

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if not 0 <= self.retries <= 100:
            raise ValueError(f"retries must be in 0..100, got {self.retries}")


@dataclass
class BatchSummary:
    done: list[ItemResult] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[ItemResult] = field(default_factory=list)
    attempts: Counter = field(default_factory=Counter)  # input -> attempts made in this run
    lost_workers: int = 0
    workers: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def frames(self) -> int:
        return sum(r.frames for r in self.done)

    def describe(self) -> str:
        fps = f" ({self.frames / self.seconds:.1f} frames/s)" if self.seconds > 0 and self.frames else ""
        lines = [f"{len(self.done)} done, {len(self.skipped)} skipped (already done), {len(self.failed)} failed:"
                 f" {self.frames} frames in {self.seconds:.1f} s{fps} on {self.workers} worker(s)"
                 + (f"; {self.lost_workers} worker(s) lost and replaced" if self.lost_workers else "")]
        lines += [f"FAILED after {self.attempts[r.input]} attempt(s): {r.error}" if self.attempts[r.input]
                  else f"FAILED: {r.error}" for r in self.failed]
        return "\n".join(lines)


class LocalPool:
    """One worker in this process: files one after another (each video with the task's own threads)."""

    def __init__(self, task: Task) -> None:
        self.worker = BatchWorker(task)
        self.size = 1
        self._queued: deque[WorkItem] = deque()

    def idle(self) -> bool:
        return not self._queued

    def busy(self) -> bool:
        return bool(self._queued)

    def submit(self, item: WorkItem) -> Any:
        self._queued.append(item)
        return None

    def next_result(self) -> tuple[WorkItem, ItemResult]:
        item = self._queued.popleft()
        return item, self.worker.run(item)

    def close(self) -> None:
        self.worker.close()


def _remove_partial_outputs(item: WorkItem) -> None:
    """Temp files a killed worker left next to this file's outputs (names from facepipe's atomic
    writers: `.<stem>.<8 random>.part<ext>` for videos, `.<name>.<8 random>.tmp` otherwise)."""
    for out in item.outputs:
        if not out.parent.is_dir():
            continue
        for pattern in (f".{out.stem}.{'?' * 8}.part{out.suffix}", f".{out.name}.{'?' * 8}.tmp"):
            for tmp in out.parent.glob(pattern):
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                    log.info("removed %s, left by a lost worker", tmp)


def run_batch(task: Task, items: Iterable[WorkItem], record: str | os.PathLike[str] | Ledger,
              options: BatchOptions | None = None, *,
              on_result: Callable[[ItemResult, BatchSummary], None] | None = None,
              on_dispatch: Callable[[WorkItem, Any], None] | None = None) -> BatchSummary:
    """Run `task` on every item not already done.

    record: the folder of the manifest (see manifest.py), or another Ledger.

    on_result: called for each finished or finally failed file, in the driver, as results arrive.
    on_dispatch: called with (item, worker handle: a Ray actor or None) as each file is handed out.
    """
    options = options or BatchOptions()
    t0 = time.perf_counter()
    ledger = ManifestLedger(record, task.settings()) if isinstance(record, (str, os.PathLike)) else record
    summary = BatchSummary()
    pending: deque[WorkItem] = deque()
    for item in items:
        if ledger.is_done(item):
            summary.skipped.append(item.input)
        else:
            pending.append(item)
    if not pending:
        summary.seconds = time.perf_counter() - t0
        return summary
    if options.ray is None:
        pool: Any = LocalPool(task)
    else:
        from facepipe.apps.batch.ray_pool import RayPool

        pool = RayPool(task, options.ray, options.workers, options.threads, len(pending))
    summary.workers = pool.size
    try:
        while pending or pool.busy():
            while pending and pool.idle():
                item = pending.popleft()
                summary.attempts[item.input] += 1
                handle = pool.submit(item)
                if on_dispatch is not None:
                    on_dispatch(item, handle)
            item, result = pool.next_result()
            if result.worker_lost:
                summary.lost_workers += 1
                _remove_partial_outputs(item)
            if result.ok:
                ledger.done(item, result)
                summary.done.append(result)
            elif summary.attempts[item.input] <= options.retries:
                log.warning("%s (attempt %d of %d; retrying)", result.error, summary.attempts[item.input],
                            options.retries + 1)
                pending.append(item)
                continue
            else:
                ledger.failed(item, result, summary.attempts[item.input])
                summary.failed.append(result)
            summary.seconds = time.perf_counter() - t0
            if on_result is not None:
                on_result(result, summary)
    finally:
        pool.close()
    summary.seconds = time.perf_counter() - t0
    return summary
