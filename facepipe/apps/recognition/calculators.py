"""Recognition as graph nodes: embedding faces, and looking them up in a gallery.

    IMAGE -> FaceEmbedderCalculator -> FACES, EMBEDDINGS -> GalleryLookupCalculator -> IDENTITIES

Both are stateless per frame (run them with max_in_flight > 1 for throughput);
per-track voting over a video is `facepipe.apps.recognition.video`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepipe.apps.recognition.faces import FaceSpotter, SpotterOptions
from facepipe.apps.recognition.matching import MatchOptions, vote
from facepipe.apps.recognition.recognizer import Identities, default_embedder
from facepipe.apps.recognition.store import GalleryStore, open_gallery
from facepipe.graph import Calculator, CalculatorContext, register_calculator

__all__ = ["FaceEmbedderCalculator", "GalleryLookupCalculator", "GalleryLookupOptions"]


@register_calculator
class FaceEmbedderCalculator(Calculator):
    """IMAGE (RGB uint8) -> FACES (SpottedFaces: boxes, scores, five points) and EMBEDDINGS ((N,dim)
    float32, one embedder run per frame). Options: SpotterOptions. Optional side packet EMBEDDER: a
    FaceEmbedder (default: dlib's ResNet on onnxruntime)."""

    inputs = ("IMAGE",)
    outputs = ("FACES", "EMBEDDINGS")
    optional_side_packets = ("EMBEDDER",)
    Options = SpotterOptions

    def open(self, ctx: CalculatorContext) -> None:
        self._embedder = ctx.side_packets.get("EMBEDDER") or default_embedder(ctx.options.runtime)
        self._spotter = FaceSpotter(ctx.options)

    def process(self, ctx: CalculatorContext) -> None:
        image = ctx.input("IMAGE")
        if image is None:
            return
        faces = self._spotter.spot(image)
        emb = (self._embedder.embed(image, faces.points5) if len(faces)
               else np.zeros((0, self._embedder.dim), np.float32))
        ctx.outputs.add("FACES", faces)
        ctx.outputs.add("EMBEDDINGS", np.asarray(emb, np.float32))


@dataclass(frozen=True)
class GalleryLookupOptions:
    """gallery: file path or postgresql:// URL (None: the per-user default), unless a GALLERY side
    packet is given. threshold, k: as MatchOptions."""

    gallery: str | None = None
    threshold: float | None = None
    k: int = 5

    def __post_init__(self) -> None:
        MatchOptions(self.threshold, self.k)  # validates


@register_calculator
class GalleryLookupCalculator(Calculator):
    """FACES + EMBEDDINGS -> IDENTITIES (Identities: names by k-NN voting, distances).
    Optional side packet GALLERY: an open GalleryStore (shared, not closed by the node)."""

    inputs = ("FACES", "EMBEDDINGS")
    outputs = ("IDENTITIES",)
    optional_side_packets = ("GALLERY",)
    Options = GalleryLookupOptions

    def open(self, ctx: CalculatorContext) -> None:
        given = ctx.side_packets.get("GALLERY")
        self._owned = given is None
        self._gallery: GalleryStore = given if given is not None else open_gallery(ctx.options.gallery, None,
                                                                                    create=False)
        match = MatchOptions(ctx.options.threshold, ctx.options.k)
        self._k, self._threshold = match.k, match.threshold_for(self._gallery.info.metric)

    def process(self, ctx: CalculatorContext) -> None:
        faces, emb = ctx.input("FACES"), ctx.input("EMBEDDINGS")
        if faces is None or emb is None:
            return
        if len(faces) == 0:
            ctx.outputs.add("IDENTITIES", Identities.empty(faces.image_size, self._gallery.info.dim))
            return
        matches = vote(self._gallery.search(emb, self._k), self._threshold)
        ctx.outputs.add("IDENTITIES", Identities.of(faces, emb, matches))

    def close(self, ctx: CalculatorContext) -> None:
        if self._owned:
            self._gallery.close()
