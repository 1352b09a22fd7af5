"""FunctionCalculator: a plain Python function as a node (Python-built graphs).

    b.add_node(FunctionCalculator, inputs={"IN0": "frames", "IN1": "faces"}, outputs={"OUT": "annotated"},
               options=FunctionOptions(draw_faces), max_in_flight=2)

calls `draw_faces(frame, faces)` once per timestamp (None for an input without a
packet there) and emits what it returns (nothing when it returns None). Inputs
are passed in the order of their tags (IN0, IN1, ...; or IN alone).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from facepipe.graph.calculator import Calculator, CalculatorContext
from facepipe.graph.registry import register_calculator

__all__ = ["FunctionCalculator", "FunctionOptions"]


@dataclass(frozen=True)
class FunctionOptions:
    """fn: called with the input payloads. with_timestamp: also pass `timestamp=` (µs).
    Give the node max_in_flight > 1 only if fn may run on several threads at once."""

    fn: Callable[..., Any]
    with_timestamp: bool = False


def _tag_order(tag: str) -> tuple[int, str]:
    digits = tag[2:].lstrip(":_")
    return (int(digits), tag) if digits.isdigit() else (-1, tag)


@register_calculator
class FunctionCalculator(Calculator):
    inputs = ("IN*",)
    outputs = ("OUT",)
    Options = FunctionOptions
    reentrant = True  # one instance: the function's own thread safety is what counts

    def process(self, ctx: CalculatorContext) -> None:
        args = [ctx.input(tag) for tag in sorted(ctx.inputs, key=_tag_order)]
        kwargs = {"timestamp": ctx.timestamp} if ctx.options.with_timestamp else {}
        result = ctx.options.fn(*args, **kwargs)
        if result is not None:
            ctx.outputs.add("OUT", result)
