"""FlowLimiterCalculator: drop frames instead of falling behind a live source.

Wire the pipeline's last output back to FINISHED, marked as a back edge:

    - calculator: FlowLimiterCalculator
      inputs: {FRAMES: camera, FINISHED: detections}
      back_edges: [FINISHED]
      outputs: {FRAMES: throttled}
      options: {max_in_flight: 1}

A frame passes when fewer than `max_in_flight` frames are inside the pipeline;
otherwise it waits in a queue of `max_in_queue` (newest kept) or is dropped. A
frame counts as finished when a FINISHED packet at or after its timestamp
arrives, or when the FINISHED stream's timestamp bound moves past it (the
pipeline produced nothing for it), like MediaPipe's FlowLimiterCalculator.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from facepipe.graph.calculator import IMMEDIATE, Calculator, CalculatorContext
from facepipe.graph.packet import Packet
from facepipe.graph.registry import register_calculator

__all__ = ["FlowLimiterCalculator", "FlowLimiterOptions"]


@dataclass(frozen=True)
class FlowLimiterOptions:
    max_in_flight: int = 1
    max_in_queue: int = 0

    def __post_init__(self) -> None:
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {self.max_in_flight}")
        if self.max_in_queue < 0:
            raise ValueError(f"max_in_queue must be >= 0, got {self.max_in_queue}")


@register_calculator
class FlowLimiterCalculator(Calculator):
    inputs = ("FRAMES", "FINISHED")
    outputs = ("FRAMES",)
    Options = FlowLimiterOptions
    input_policy = IMMEDIATE
    auto_bounds = False  # it decides per frame whether the output moves on
    process_bounds = True  # a frame that produced no output finishes when FINISHED's bound passes it

    def open(self, ctx: CalculatorContext) -> None:
        self._in_flight: deque[int] = deque()  # timestamps of the frames inside the pipeline
        self._waiting: deque[Packet] = deque()

    def process(self, ctx: CalculatorContext) -> None:
        # No FINISHED packet below this bound is still to come (a FINISHED packet at T moves it past T).
        done_below = ctx.bounds["FINISHED"]
        while self._in_flight and self._in_flight[0] < done_below:
            self._in_flight.popleft()
        frame = ctx.inputs["FRAMES"]
        if frame is not None:
            self._waiting.append(frame)
        opts = ctx.options
        while self._waiting and len(self._in_flight) < opts.max_in_flight:
            packet = self._waiting.popleft()
            self._in_flight.append(packet.timestamp)
            ctx.outputs.add_packet("FRAMES", packet)
            ctx.count("passed")
        while len(self._waiting) > opts.max_in_queue:
            dropped = self._waiting.popleft()
            ctx.count("dropped")
            # Downstream must not wait for a frame that will never come.
            ctx.outputs.set_bound(
                "FRAMES", self._waiting[0].timestamp if self._waiting else dropped.timestamp + 1
            )

    def close(self, ctx: CalculatorContext) -> None:
        if self._waiting:
            ctx.count("dropped", len(self._waiting))
            self._waiting.clear()
