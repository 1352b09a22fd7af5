"""A calculator graph framework in plain Python (MediaPipe's calculators, streams and packets).

Calculators are Python classes; graphs are built with GraphBuilder or read from
YAML/TOML/JSON; a thread pool runs ready nodes in parallel with bounded queues.
See docs/graph.md.
"""

from facepipe.graph.calculator import DEFAULT, IMMEDIATE, STOP, Calculator, CalculatorContext, OutputSet
from facepipe.graph.config import GraphConfig, NodeConfig, load_config, parse_config
from facepipe.graph.errors import GraphCancelledError, GraphConfigError, GraphError
from facepipe.graph.flow_limiter import FlowLimiterCalculator, FlowLimiterOptions
from facepipe.graph.function import FunctionCalculator, FunctionOptions
from facepipe.graph.graph import DEFAULT_MAX_QUEUE_SIZE, Graph, GraphBuilder
from facepipe.graph.packet import Packet, Timestamp, format_timestamp
from facepipe.graph.profiler import NodeProfile, RunProfile, format_profile
from facepipe.graph.registry import (
    CalculatorRegistry,
    default_registry,
    register_calculator,
    register_subgraph,
)
from facepipe.graph.scheduler import OutputPoller
from facepipe.graph.subgraph import ConfigSubgraph, Subgraph

__all__ = [
    "Calculator",
    "CalculatorContext",
    "OutputSet",
    "STOP",
    "DEFAULT",
    "IMMEDIATE",
    "GraphConfig",
    "NodeConfig",
    "load_config",
    "parse_config",
    "GraphError",
    "GraphConfigError",
    "GraphCancelledError",
    "FlowLimiterCalculator",
    "FlowLimiterOptions",
    "FunctionCalculator",
    "FunctionOptions",
    "Graph",
    "GraphBuilder",
    "DEFAULT_MAX_QUEUE_SIZE",
    "OutputPoller",
    "Packet",
    "Timestamp",
    "format_timestamp",
    "NodeProfile",
    "RunProfile",
    "format_profile",
    "CalculatorRegistry",
    "default_registry",
    "register_calculator",
    "register_subgraph",
    "Subgraph",
    "ConfigSubgraph",
]
