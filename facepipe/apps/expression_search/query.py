"""Querying an expression index with photos, video frames or a camera, by running search.yaml."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from facepipe.apps.expression_search.calculators import SearchResult
from facepipe.apps.expression_search.descriptor import DescriptorSpec, make_descriptor
from facepipe.apps.expression_search.index import ExpressionIndex
from facepipe.errors import ProcessingError
from facepipe.graph import Graph, GraphConfig, GraphError, parse_config

log = logging.getLogger(__name__)

__all__ = ["QueryOptions", "ExpressionSearch", "LiveReport", "run_live", "search_config", "open_index_for"]

# A frame's result must come back within this long (the first frame loads the models).
_FRAME_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class QueryOptions:
    """k: matches per face; max_num_faces: query faces per frame; video: track faces across frames;
    picture: render the query face beside its matches (off: the graph ends at the matches, one node less
    per frame); preview: show the picture in a window (where there is a display; implies picture);
    identity: centre each query face by its person's group when the index was built with identities
    (runs the recognition embedder on each query face; off: searched as an unknown person)."""

    k: int = 3
    max_num_faces: int = 1
    min_detection_confidence: float = 0.5
    video: bool = False
    preview: bool = False
    picture: bool = True
    num_threads: int | None = None
    descriptor: DescriptorSpec = field(default_factory=DescriptorSpec)
    identity: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"k must be an integer >= 1, got {self.k!r}")
        if not isinstance(self.max_num_faces, int) or self.max_num_faces < 1:
            raise ValueError(f"max_num_faces must be an integer >= 1, got {self.max_num_faces!r}")
        if not 0.0 <= self.min_detection_confidence <= 1.0:
            raise ValueError(f"min_detection_confidence must be in [0, 1], got {self.min_detection_confidence}")


def search_config(options: QueryOptions | None = None, *, identity: bool = False) -> GraphConfig:
    """The shipped search.yaml with `options` applied to its nodes; identity: the index keeps identities (the
    embedding node then computes each query face's recognition embedding, unless options.identity is off)."""
    o = options or QueryOptions()
    text = resources.files(__package__).joinpath("search.yaml").read_text("utf-8")
    config = parse_config(text, "yaml", source="search.yaml")
    settings: dict[str, dict[str, Any]] = {
        "landmarker": {"num_faces": o.max_num_faces, "min_face_detection_confidence": o.min_detection_confidence,
                       "running_mode": "video" if o.video else "image",
                       "runtime": {"num_threads": o.num_threads}},
        "embedding": {"descriptor": o.descriptor.name, "onnx": o.descriptor.onnx, "sha256": o.descriptor.sha256,
                      "identity": identity and o.identity, "num_threads": o.num_threads},
        "closest": {"k": o.k},
        "preview": {"enabled": o.preview},
    }
    for node in config.nodes:
        if node.name in settings:
            node.options = {**(node.options or {}), **settings[node.name]}
    if not (o.picture or o.preview):
        config.nodes = [n for n in config.nodes if n.name not in ("render", "preview")]
        for node in config.nodes:
            if node.name == "limiter":
                node.inputs = {**node.inputs, "FINISHED": "matches"}
        config.output_streams = {"matches": "matches"}
    return config


def open_index_for(path: Any, spec: DescriptorSpec) -> ExpressionIndex:
    """Open an existing index, refusing it unless it was built with the descriptor `spec` makes."""
    descriptor = make_descriptor(spec)
    return ExpressionIndex(path, descriptor.id, descriptor.dim, create=False)


class ExpressionSearch:
    """Runs search.yaml over frames; one instance per query source. Use as a context manager.

    `query_frames` feeds one frame at a time and waits for its result, so nothing is dropped (files);
    `start_live`/`push` feed frames as they come and the flow limiter drops what the graph cannot keep up
    with (a camera); results then go to the callback.
    """

    def __init__(self, index: ExpressionIndex, options: QueryOptions | None = None) -> None:
        self.index = index
        self.options = options or QueryOptions()
        self._graph = Graph(search_config(self.options, identity=index.identity.enabled))
        self._started = False
        self._last_ts = -1  # photos queried one after another get timestamps 0, 1, 2...
        self._cond = threading.Condition()
        self._results: dict[int, tuple[SearchResult | None, np.ndarray | None]] = {}
        self._callback: Callable[[int, SearchResult, np.ndarray | None], None] | None = None
        self._pictures = self.options.picture or self.options.preview
        self._pending: dict[int, SearchResult] = {}
        self._quit = threading.Event()
        self._graph.observe_output("matches", self._on_matches)
        if self._pictures:
            self._graph.observe_output("picture", self._on_picture)
            self._graph.observe_output("keys", self._on_key)

    def _on_key(self, packet: Any) -> None:
        if packet.payload in ("q", "\x1b"):
            self._quit.set()

    @property
    def quit_requested(self) -> bool:
        """Whether q or Esc was pressed in the preview window."""
        return self._quit.is_set()

    def _on_matches(self, packet: Any) -> None:
        if self._pictures:  # the frame is done when its picture comes
            with self._cond:
                self._pending[packet.timestamp] = packet.payload
            return
        self._done(packet.timestamp, packet.payload, None)

    def _on_picture(self, packet: Any) -> None:
        with self._cond:
            result = self._pending.pop(packet.timestamp, None)
        self._done(packet.timestamp, result, packet.payload)

    def _done(self, ts: int, result: SearchResult | None, picture: np.ndarray | None) -> None:
        with self._cond:
            self._results[ts] = (result, picture)
            self._cond.notify_all()
        if self._callback is not None and result is not None:
            self._callback(ts, result, picture)

    def _start(self) -> None:
        if not self._started:
            self._graph.start(side_packets={"index": self.index})
            self._started = True

    def query_frames(
        self, frames: Iterable[tuple[np.ndarray, int]]
    ) -> Iterator[tuple[int, SearchResult, np.ndarray | None]]:
        """(timestamp µs, result, picture or None) for each (image, timestamp µs), in order, none dropped."""
        self._start()
        for image, ts in frames:
            self._graph.add_packet("frames", image, timestamp=ts)
            self._last_ts = ts
            result, picture = self._wait_for(ts)
            if result is None:  # pragma: no cover - render always follows matches
                raise ProcessingError(f"frame at {ts} µs: the graph produced no result")
            yield ts, result, picture

    def _wait_for(self, ts: int) -> tuple[SearchResult | None, np.ndarray | None]:
        deadline = time.monotonic() + _FRAME_TIMEOUT_S
        while True:
            with self._cond:
                if self._cond.wait_for(lambda: ts in self._results, timeout=0.1):
                    return self._results.pop(ts)
            try:  # a failed node ends the run: report its error instead of waiting
                self._graph.wait_until_done(0)
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise ProcessingError(
                        f"frame at {ts} µs: no search result after {_FRAME_TIMEOUT_S:.0f} s") from None
                continue
            except GraphError as exc:
                self._started = False
                raise ProcessingError(str(exc)) from exc
            self._started = False
            raise ProcessingError(f"frame at {ts} µs: the search graph stopped without a result")

    def query_image(self, image: np.ndarray) -> tuple[SearchResult, np.ndarray | None]:
        if self.options.video:
            raise ValueError("query_image is for photos; use query_frames in video mode")
        _, result, picture = next(iter(self.query_frames([(image, self._last_ts + 1)])))
        return result, picture

    def start_live(self, callback: Callable[[int, SearchResult, np.ndarray | None], None]) -> None:
        """Live mode: `callback(timestamp, result, picture or None)` runs on a graph thread for every frame
        processed."""
        self._callback = callback
        self._start()

    def push(self, image: np.ndarray, timestamp: int) -> None:
        """Feed a live frame (µs timestamps, increasing); frames arriving while one is in flight are dropped."""
        self._graph.add_packet("frames", image, timestamp=timestamp)
        self._last_ts = timestamp
        with self._cond:
            self._results.clear()

    def close(self) -> None:
        if self._started:
            self._started = False
            try:
                self._graph.close()
            except GraphError as exc:
                raise ProcessingError(str(exc)) from exc

    def __enter__(self) -> ExpressionSearch:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        elif self._started:
            self._graph.cancel()
            self._started = False



@dataclass
class LiveReport:
    """A live query: frames read, frames the graph processed (the rest were dropped), updates reported."""

    frames: int = 0
    processed: int = 0
    updates: int = 0
    last_picture: np.ndarray | None = None


def run_live(search: ExpressionSearch, capture: Any, on_update: Callable[[int, int, SearchResult], None], *,
             max_frames: int | None = None, min_interval_s: float = 0.5) -> LiveReport:
    """Query every frame of an OpenCV-style `capture` (read() -> (ok, BGR image)) as it comes.

    Frames arriving while one is in the graph are dropped (flow limiter), so the matches follow the face.
    `on_update(frame index, timestamp µs, result)` is called when the top matches change, at most every
    `min_interval_s`.
    Stops when the capture ends, after `max_frames`, or on q / Esc in the preview window.
    """
    import cv2

    report = LiveReport()
    lock = threading.Lock()
    last: dict[str, Any] = {"key": None, "at": -float("inf")}
    frame_of: dict[int, int] = {}  # timestamp -> frame index, for the frames still in flight

    def on_result(ts: int, result: SearchResult, picture: np.ndarray | None) -> None:
        now = time.monotonic()
        key = tuple(tuple(m.paths.tolist()) for m in result.matches)
        with lock:
            index = frame_of.pop(ts, -1)
            for old in [t for t in frame_of if t < ts]:  # dropped by the flow limiter
                del frame_of[old]
            report.processed += 1
            report.last_picture = picture
            if key == last["key"] or now - last["at"] < min_interval_s:
                return
            last["key"], last["at"] = key, now
            report.updates += 1
        on_update(index, ts, result)

    start = time.monotonic()
    search.start_live(on_result)
    try:
        while max_frames is None or report.frames < max_frames:
            grabbed, bgr = capture.read()
            if not grabbed:
                break
            # at least 1 ms apart: the landmarker in video mode needs strictly increasing milliseconds
            ts = max(int((time.monotonic() - start) * 1e6), search._last_ts + 1000)
            with lock:
                frame_of[ts] = report.frames
            search.push(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), ts)
            report.frames += 1
            if search.quit_requested:
                break
    finally:
        search.close()
    return report
