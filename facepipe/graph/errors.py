"""Errors raised by the graph framework."""

from __future__ import annotations

from facepipe.errors import FacepipeError
from facepipe.graph.packet import format_timestamp

__all__ = ["GraphError", "GraphConfigError", "GraphCancelledError"]


class GraphError(FacepipeError):
    """A graph run failed. `node`, `phase` and `timestamp` say where; `__cause__` is the original error."""

    def __init__(
        self,
        message: str,
        *,
        node: str | None = None,
        phase: str | None = None,
        timestamp: int | None = None,
    ) -> None:
        super().__init__(message)
        self.node = node
        self.phase = phase
        self.timestamp = timestamp

    @classmethod
    def from_node(
        cls, node: str, calculator: str, phase: str, timestamp: int | None, exc: BaseException
    ) -> GraphError:
        where = f" at timestamp {format_timestamp(timestamp)}" if timestamp is not None else ""
        err = cls(
            f"node {node!r} ({calculator}) failed in {phase}(){where}: {type(exc).__name__}: {exc}",
            node=node,
            phase=phase,
            timestamp=timestamp,
        )
        err.__cause__ = exc
        return err


class GraphConfigError(GraphError):
    """A graph config is invalid: unknown calculator or stream, two producers, a cycle, bad options..."""


class GraphCancelledError(GraphError):
    """The run was cancelled with Graph.cancel()."""
