"""How an app runs one media file: one frame after another, or as a pipelined graph.

An app gives both forms of its processing in a `PipelinedJob` (they must give the same
results) and calls `run_pipelined(job, options.execution, path)`: the choice between them,
the thread count, how many stateless frames run at once, graph errors unwrapped like the
sequential run's and the graph's profile in the debug log live here, once, for every app.

    class _MyVideo:
        def run_sequential(self) -> None:
            for frame in reader: writer.write(process(frame.image), frame)
        def build_graph(self, execution: ExecutionOptions) -> tuple[Graph, dict[str, Any]]:
            return my_graph(num_workers=execution.threads), {"input_path": str(src)}
    run_pipelined(_MyVideo(), options.execution, src)
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from facepipe.jobs.reports import graph_error

if TYPE_CHECKING:
    from facepipe.graph import Graph

log = logging.getLogger(__name__)

__all__ = ["ExecutionOptions", "PipelinedJob", "execution_with_workers", "fold_workers_alias", "run_pipelined"]

# More frames of a stateless stage at once than this only cost memory: the graph's queues hold 8 frames.
MAX_IN_FLIGHT = 8


@dataclass(frozen=True)
class ExecutionOptions:
    """workers: threads for one video (None: all cores). Above 1 the video runs as a graph in
    which decoding, the app's stages and encoding work on different frames at once; 1 runs the
    stages one frame after another without the graph. Both give the same results."""

    workers: int | None = None

    def __post_init__(self) -> None:
        if self.workers is not None and (isinstance(self.workers, bool) or int(self.workers) != self.workers
                                         or self.workers < 1):
            raise ValueError(f"workers must be an integer >= 1, got {self.workers!r}")

    @property
    def threads(self) -> int:
        """The thread count these options mean on this machine."""
        return self.workers or os.cpu_count() or 1

    @property
    def sequential(self) -> bool:
        """True when the job runs one frame after another in the calling thread (no graph)."""
        return self.threads == 1

    @property
    def in_flight(self) -> int:
        """Frames a stateless graph node (detection, drawing, redaction) works on at once."""
        return max(1, min(self.threads, MAX_IN_FLIGHT))


def execution_with_workers(owner: str, execution: ExecutionOptions, workers: int | None, *,
                           _stacklevel: int = 3) -> ExecutionOptions:
    """`execution`, or, when the deprecated `workers=` was given, `ExecutionOptions(workers)` (warning)."""
    if workers is None:
        return execution
    warnings.warn(f"{owner}: workers= is deprecated and will be removed in the next release;"
                  " pass execution=ExecutionOptions(workers=...)", DeprecationWarning, stacklevel=_stacklevel)
    return ExecutionOptions(workers)


def fold_workers_alias(options: Any) -> None:
    """In the __post_init__ of an options dataclass with a deprecated `workers` field and an
    `execution` field: move the first into the second (warning) and clear it."""
    execution = execution_with_workers(type(options).__name__, options.execution, options.workers, _stacklevel=5)
    object.__setattr__(options, "execution", execution)
    object.__setattr__(options, "workers", None)


class PipelinedJob(Protocol):
    """One file's processing in both forms (they must give the same results)."""

    def run_sequential(self) -> None:
        """Process every frame, one after another, in this thread."""

    def build_graph(self, execution: ExecutionOptions) -> tuple[Graph, dict[str, Any]]:
        """The graph that does the same, and the side packets to run it with."""


def run_pipelined(job: PipelinedJob, execution: ExecutionOptions, path: Path) -> None:
    """Run `job` as `execution` says. A failed graph raises the stage's own FacepipeError, or a
    ProcessingError naming `path` and the frame, as the sequential run does."""
    from facepipe.graph import GraphError

    if execution.sequential:
        job.run_sequential()
        return
    graph, side_packets = job.build_graph(execution)
    try:
        graph.run(side_packets=side_packets)
    except GraphError as exc:
        err = graph_error(path, exc)
        raise err from err.__cause__
    log.debug("%s: graph profile\n%s", path, graph.profile_table())
