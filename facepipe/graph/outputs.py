"""How a run's output streams reach the caller: pollers (iterate) and callbacks (a node of their own)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from facepipe.graph.calculator import Calculator, CalculatorContext
from facepipe.graph.packet import Packet
from facepipe.graph.run_state import Queue
from facepipe.graph.validate import NodeSpec

if TYPE_CHECKING:
    from facepipe.graph.scheduler import GraphRun

__all__ = ["OutputPoller", "callback_spec"]


class OutputPoller:
    """Iterate over the packets of one output stream: `for packet in poller: ...`.

    Iteration ends when the stream is done and raises the run's GraphError if it failed.
    With max_queue_size set, a reader that falls behind throttles the graph instead of
    letting packets pile up.
    """

    def __init__(self, stream: str, max_queue_size: int | None = None) -> None:
        self.stream = stream
        self.max_queue_size = max_queue_size
        self._run: GraphRun | None = None
        self._queue: Queue | None = None

    def _attach(self, run: GraphRun, queue: Queue) -> None:
        self._run, self._queue = run, queue

    def get(self, timeout: float | None = None) -> Packet | None:
        """The next packet; None once the stream is done. TimeoutError if none came in time."""
        if self._run is None or self._queue is None:
            raise RuntimeError(f"poller on {self.stream!r}: the graph has not been started")
        return self._run._poll(self._queue, timeout)

    def __iter__(self):
        while True:
            packet = self.get()
            if packet is None:
                return
            yield packet


class _CallbackCalculator(Calculator):
    """Calls a user function for every packet of a stream (in timestamp order, one at a time)."""

    inputs = ("IN",)

    def process(self, ctx: CalculatorContext) -> None:
        ctx.options.callback(ctx.inputs["IN"])


class _CallbackOptions:
    __slots__ = ("callback",)

    def __init__(self, callback: Callable[[Packet], Any]) -> None:
        self.callback = callback


def callback_spec(stream: str, fn: Callable[[Packet], Any], index: int) -> NodeSpec:
    return NodeSpec(
        name=f"callback:{stream}" + (f"#{index}" if index else ""),
        calculator=_CallbackCalculator,
        options=_CallbackOptions(fn),
        inputs={"IN": stream},
        outputs={},
        side_packets={},
        back_edges=frozenset(),
        input_policy="default",
        max_in_flight=1,
        max_queue_size=None,
    )
