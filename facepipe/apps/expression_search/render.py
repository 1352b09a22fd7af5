"""The search picture: the query face beside its matches, each labelled with its distance."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

import cv2
import numpy as np

from facepipe.apps.expression_search.index import Matches
from facepipe.errors import FacepipeError
from facepipe.io.image import read_image

log = logging.getLogger(__name__)

__all__ = ["ThumbnailCache", "render_matches", "face_thumbnail"]

_MARGIN = 1.3  # context around a face box in a tile
_LABEL_H = 26
_GAP = 6
_BACKGROUND = (32, 32, 32)
_MISSING = (90, 90, 90)


def face_thumbnail(image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """A size x size RGB tile of the square around `box` (enlarged 1.3x; borders replicated)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = max(box[2] - box[0], box[3] - box[1], 1.0) * _MARGIN / 2
    s = size / (2 * half)
    m = np.array([[s, 0, size / 2 - cx * s], [0, s, size / 2 - cy * s]], np.float32)
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


class ThumbnailCache:
    """Match tiles by (path, box), read once: a live query shows the same few matches frame after frame."""

    def __init__(self, size: int = 160, capacity: int = 64) -> None:
        self.size = size
        self._capacity = capacity
        self._tiles: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: str, box: np.ndarray) -> np.ndarray:
        key = (path, *np.round(box, 1).tolist())
        with self._lock:
            if key in self._tiles:
                self._tiles.move_to_end(key)
                return self._tiles[key]
        try:
            tile = face_thumbnail(read_image(path), box, self.size)
        except FacepipeError as exc:
            log.warning("%s", exc)
            tile = np.full((self.size, self.size, 3), _MISSING, np.uint8)
            cv2.putText(tile, "missing", (8, self.size // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (230, 230, 230), 1,
                        cv2.LINE_AA)
        with self._lock:
            self._tiles[key] = tile
            while len(self._tiles) > self._capacity:
                self._tiles.popitem(last=False)
        return tile


def _labelled(tile: np.ndarray, text: str, colour: tuple[int, int, int]) -> np.ndarray:
    out = np.full((tile.shape[0] + _LABEL_H, tile.shape[1], 3), _BACKGROUND, np.uint8)
    out[: tile.shape[0]] = tile
    cv2.putText(out, text, (6, tile.shape[0] + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    return out


def render_matches(image: np.ndarray, boxes: np.ndarray, matches: list[Matches],
                   cache: ThumbnailCache | None = None) -> np.ndarray:
    """One row per query face: its tile, then its matches' tiles with distances. RGB uint8.

    With no face, the picture is the frame itself scaled to the tile height, labelled "no face".
    """
    cache = cache or ThumbnailCache()
    size = cache.size
    rows = []
    for box, found in zip(np.asarray(boxes, np.float32).reshape(-1, 4), matches):
        tiles = [_labelled(face_thumbnail(image, box, size), "query", (255, 255, 255))]
        for path, mbox, dist in zip(found.paths, found.boxes, found.distances):
            tiles.append(_labelled(cache.get(str(path), mbox), f"d = {dist:.3f}", (120, 230, 120)))
        row = np.full((size + _LABEL_H, len(tiles) * (size + _GAP) - _GAP, 3), _BACKGROUND, np.uint8)
        for i, tile in enumerate(tiles):
            row[:, i * (size + _GAP): i * (size + _GAP) + size] = tile
        rows.append(row)
    if not rows:
        h, w = image.shape[:2]
        small = cv2.resize(image, (max(1, round(w * size / h)), size), interpolation=cv2.INTER_AREA)
        return _labelled(small, "no face", (230, 120, 120))
    width = max(r.shape[1] for r in rows)
    canvas = np.full((sum(r.shape[0] for r in rows) + _GAP * (len(rows) - 1), width, 3), _BACKGROUND, np.uint8)
    y = 0
    for r in rows:
        canvas[y: y + r.shape[0], : r.shape[1]] = r
        y += r.shape[0] + _GAP
    return canvas
