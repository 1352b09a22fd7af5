"""Per-node run statistics and the profile table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["NodeProfile", "RunProfile", "format_profile"]


@dataclass
class NodeStats:
    """Mutable counters a run updates under its lock."""

    calls: int = 0
    total_s: float = 0.0
    max_s: float = 0.0
    open_s: float = 0.0
    close_s: float = 0.0
    counters: dict[str, int] = field(default_factory=dict)

    def add_call(self, seconds: float) -> None:
        self.calls += 1
        self.total_s += seconds
        if seconds > self.max_s:
            self.max_s = seconds

    def add_counters(self, counters: dict[str, int]) -> None:
        for name, n in counters.items():
            self.counters[name] = self.counters.get(name, 0) + n


@dataclass(frozen=True)
class NodeProfile:
    """One node's numbers for one run. Times in seconds; process() calls only (open/close apart)."""

    name: str
    calculator: str
    calls: int
    total_s: float
    mean_s: float
    max_s: float
    open_s: float
    close_s: float
    max_queue: int  # deepest any of its input queues got
    queue_limit: int | None
    max_in_flight: int
    counters: dict[str, int]


@dataclass(frozen=True)
class RunProfile:
    nodes: tuple[NodeProfile, ...]
    wall_s: float
    num_workers: int

    def node(self, name: str) -> NodeProfile:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node {name!r} in this profile")


def format_profile(profile: RunProfile, nodes: Sequence[NodeProfile] | None = None) -> str:
    """A fixed-width table: where the time went, and how deep the queues got."""
    rows = list(nodes if nodes is not None else profile.nodes)
    busy = sum(n.total_s + n.open_s + n.close_s for n in rows)
    header = ("node", "calculator", "calls", "total ms", "mean ms", "max ms", "share", "max queue")
    table = [header]
    for n in rows:
        share = 100.0 * n.total_s / busy if busy > 0 else 0.0
        limit = "-" if n.queue_limit is None else str(n.queue_limit)
        table.append(
            (
                n.name + (f" (x{n.max_in_flight})" if n.max_in_flight > 1 else ""),
                n.calculator,
                str(n.calls),
                f"{1e3 * n.total_s:.1f}",
                f"{1e3 * n.mean_s:.2f}",
                f"{1e3 * n.max_s:.2f}",
                f"{share:.1f}%",
                f"{n.max_queue}/{limit}",
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = []
    for k, r in enumerate(table):
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])] + [
            c.rjust(w) for c, w in zip(r[2:], widths[2:], strict=False)
        ]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("-" * len(lines[0]))
    capacity = profile.wall_s * profile.num_workers
    util = 100.0 * busy / capacity if capacity > 0 else 0.0
    lines.append(
        f"wall {profile.wall_s:.3f} s, {profile.num_workers} workers, node time {busy:.3f} s"
        f" ({util:.0f}% of worker capacity)"
    )
    counters = [f"{n.name}.{k}={v}" for n in rows for k, v in sorted(n.counters.items())]
    if counters:
        lines.append("counters: " + ", ".join(counters))
    return "\n".join(lines)
