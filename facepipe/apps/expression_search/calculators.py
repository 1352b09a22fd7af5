"""Expression search as graph nodes: embedding, ClosestEmbeddings (the index as a side packet), rendering,
and Preview, which shows any image stream in a window (a no-op where there is no display).

search.yaml wires them: FlowLimiter -> FaceLandmarker -> ExpressionEmbedding -> ClosestEmbeddings -> render
-> Preview.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from dataclasses import dataclass

import cv2
import numpy as np

from facepipe.apps.expression_search.descriptor import DescriptorSpec, make_descriptor
from facepipe.apps.expression_search.identity import IdentityEmbedder
from facepipe.apps.expression_search.index import ExpressionIndex, Matches
from facepipe.apps.expression_search.indexer import embed_faces
from facepipe.apps.expression_search.render import ThumbnailCache, render_matches
from facepipe.graph import Calculator, CalculatorContext, register_calculator
from facepipe.runtime.options import RuntimeOptions

log = logging.getLogger(__name__)

__all__ = [
    "FaceEmbeddings",
    "SearchResult",
    "ExpressionEmbeddingCalculator",
    "ClosestEmbeddingsCalculator",
    "MatchesRenderCalculator",
    "PreviewCalculator",
    "display_available",
]


@dataclass(frozen=True, eq=False)
class FaceEmbeddings:
    """Faces of one frame with a vector: boxes (N,4) pixel xyxy, scores (N,), vectors (N,D); identities (N,128)
    recognition embeddings by `identity_model` (None when not computed)."""

    boxes: np.ndarray
    scores: np.ndarray
    vectors: np.ndarray
    identities: np.ndarray | None = None
    identity_model: str = ""

    def __len__(self) -> int:
        return len(self.boxes)


@dataclass(frozen=True, eq=False)
class SearchResult:
    """A frame's query faces and the matches of each (same order)."""

    faces: FaceEmbeddings
    matches: tuple[Matches, ...]

    def to_faces_json(self) -> list[dict]:
        return [{"box": [round(float(v), 1) for v in box], "score": round(float(score), 4),
                 "matches": found.to_list()}
                for box, score, found in zip(self.faces.boxes, self.faces.scores, self.matches)]


@register_calculator
class ExpressionEmbeddingCalculator(Calculator):
    """IMAGE + LANDMARKS (FaceLandmarkerResult with blendshapes and matrices) -> EMBEDDINGS (FaceEmbeddings).

    identity: also run the recognition embedder (dlib) on each face, so that ClosestEmbeddings can centre it
    by its person's group in an index built with identities (query.py turns it on for such an index).
    """

    inputs = ("IMAGE", "LANDMARKS")
    outputs = ("EMBEDDINGS",)

    @dataclass(frozen=True)
    class Options:
        descriptor: str = "geometry"
        onnx: str | None = None
        sha256: str | None = None
        largest_only: bool = False
        identity: bool = False
        num_threads: int | None = None

    def open(self, ctx: CalculatorContext) -> None:
        o = ctx.options
        self._descriptor = make_descriptor(DescriptorSpec(o.descriptor, o.onnx, o.sha256))
        self._identity = IdentityEmbedder(RuntimeOptions(num_threads=o.num_threads)) if o.identity else None

    def process(self, ctx: CalculatorContext) -> None:
        image, faces = ctx.input("IMAGE"), ctx.input("LANDMARKS")
        if image is None or faces is None:
            return
        found = embed_faces(self._descriptor, image, faces, ctx.options.largest_only, self._identity)
        model = self._identity.model_id if self._identity is not None else ""
        ctx.outputs.add("EMBEDDINGS", FaceEmbeddings(found.boxes, found.scores, found.vectors, found.identities,
                                                     model))


@register_calculator
class ClosestEmbeddingsCalculator(Calculator):
    """EMBEDDINGS -> MATCHES (SearchResult): the k nearest indexed faces of each face.

    Side packet INDEX: an ExpressionIndex, or the path of one (opened here, read-only use).
    """

    inputs = ("EMBEDDINGS",)
    outputs = ("MATCHES",)
    side_packets = ("INDEX",)

    @dataclass(frozen=True)
    class Options:
        k: int = 3

        def __post_init__(self) -> None:
            if not isinstance(self.k, int) or self.k < 1:
                raise ValueError(f"k must be an integer >= 1, got {self.k!r}")

    def open(self, ctx: CalculatorContext) -> None:
        index = ctx.side_packets["INDEX"]
        self._owned = not isinstance(index, ExpressionIndex)
        self._index = ExpressionIndex.open(index) if self._owned else index

    def process(self, ctx: CalculatorContext) -> None:
        faces = ctx.input("EMBEDDINGS")
        if faces is None:
            return
        if len(faces) and faces.vectors.shape[1] != self._index.dim:
            raise ValueError(f"embeddings have dimension {faces.vectors.shape[1]}, the index {self._index.dim}")
        if faces.identities is not None and faces.identity_model != self._index.identity_model:
            raise ValueError(f"query faces embedded by recognition model {faces.identity_model!r}, the index's"
                             f" identities by {self._index.identity_model or 'none'!r}")
        found = self._index.search(faces.vectors, ctx.options.k, faces.identities) if len(faces) else []
        ctx.outputs.add("MATCHES", SearchResult(faces, tuple(found)))

    def close(self, ctx: CalculatorContext) -> None:
        if getattr(self, "_owned", False):
            self._index.close()


@register_calculator
class MatchesRenderCalculator(Calculator):
    """IMAGE + MATCHES -> IMAGE: each query face beside its matches with their distances (render.py)."""

    inputs = ("IMAGE", "MATCHES")
    outputs = ("IMAGE",)

    @dataclass(frozen=True)
    class Options:
        tile: int = 160

    def open(self, ctx: CalculatorContext) -> None:
        self._cache = ThumbnailCache(ctx.options.tile)

    def process(self, ctx: CalculatorContext) -> None:
        image, result = ctx.input("IMAGE"), ctx.input("MATCHES")
        if image is None or result is None:
            return
        ctx.outputs.add("IMAGE", render_matches(image, result.faces.boxes, list(result.matches), self._cache))


@functools.lru_cache(maxsize=1)
def display_available() -> tuple[bool, str]:
    """(whether OpenCV can open a window here, why not)."""
    # opencv-python-headless (facepipe's default dependency) is built with "GUI: NONE".
    gui = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    if gui is not None and gui.group(1).upper() == "NONE":
        return False, "this OpenCV has no GUI support (opencv-python-headless); install opencv-python for a window"
    if os.name == "posix" and sys.platform != "darwin" and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False, "no display (DISPLAY / WAYLAND_DISPLAY unset)"
    try:
        cv2.namedWindow("facepipe-probe", cv2.WINDOW_AUTOSIZE)
        cv2.destroyWindow("facepipe-probe")
    except cv2.error as exc:
        return False, f"OpenCV cannot open a window ({exc.msg.strip() if hasattr(exc, 'msg') else exc})"
    return True, ""


@register_calculator
class PreviewCalculator(Calculator):
    """IMAGE (RGB) -> shown in a window; KEY: the key pressed (q or Esc closes the window and stops the node).

    Without a display, or with an OpenCV built without GUI support, it logs why once and does nothing,
    so a graph with a Preview node runs the same on a server.
    """

    inputs = ("IMAGE",)
    outputs = ("KEY",)

    @dataclass(frozen=True)
    class Options:
        window: str = "facepipe"
        enabled: bool = True

    def open(self, ctx: CalculatorContext) -> None:
        ok, why = display_available()
        self._show = ctx.options.enabled and ok
        self._closed = False
        if ctx.options.enabled and not ok:
            log.info("preview off: %s", why)

    def process(self, ctx: CalculatorContext) -> None:
        image = ctx.input("IMAGE")
        if not self._show or self._closed or image is None:
            return
        cv2.imshow(ctx.options.window, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        key = cv2.waitKey(1) & 0xFF
        if key != 0xFF:
            ctx.outputs.add("KEY", chr(key))
            if key in (ord("q"), 27):
                self._closed = True
                cv2.destroyWindow(ctx.options.window)

    def close(self, ctx: CalculatorContext) -> None:
        if self._show and not self._closed:
            cv2.destroyWindow(ctx.options.window)
