"""Finding every face in a frame, small ones included: BlazeFace over an image pyramid.

BlazeFace sees a 192² (full range) or 128² (short range) tensor, so a 20 px
face in a 1080p frame shrinks to 2 px when the whole frame is letterboxed
into it. `FaceFinder` therefore runs the detectors on

* the whole frame, and the whole frame zoomed out 2x (faces that fill the
  frame are too big for both models otherwise), with every model, and
* square tiles of the frame at finer scales, with the full-range model, down
  to the scale at which a face of `min_face` pixels is still detectable.

Each level's tiles overlap by the largest face that level is responsible for
(faces bigger than that are found whole at the coarser level), and a
detection touching an inner tile edge is dropped because its face lies whole
in the neighbouring tile. Tiles shrunk 2x or more are area-averaged before the
detector sees them (its own bilinear warp would alias 5-10x reductions), and
the results of all levels and models are merged with weighted NMS.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from facepipe.results import Detections, box_iou
from facepipe.runtime.options import RuntimeOptions, fold_legacy_options
from facepipe.solutions.face_detection import FaceDetector, FaceDetectorOptions

__all__ = ["FaceFinder", "FaceFinderOptions", "ModelRange", "MODEL_RANGES", "Tile", "plan_tiles"]


@dataclass(frozen=True)
class ModelRange:
    """Face sizes (box width, in tensor pixels) a detector model finds reliably.

    Measured on 18 single-face photos (shared testdata faces/ and expressions/)
    pasted at known sizes into the tensor, score >= 0.5: `lo` is about the smallest
    size found in >= 75% of them, `hi` the largest found in >= 90%. The sparse
    full-range model finds pasted faces down to 8 px but misses most 20 px faces of
    the shared crowd photos when tiled for that, so it is planned like the dense one.
    """

    size: int
    lo: float
    hi: float
    max_zoom: float = 3.0  # tiles are never enlarged more than this (enlarged tiles respond to textures)


# tools: benchmarks/bench_anonymize.py --measure-ranges reproduces these numbers.
MODEL_RANGES = {
    "full": ModelRange(192, 14.0, 90.0),  # sparse full range (mp.solutions)
    "full_dense": ModelRange(192, 14.0, 90.0),
    # On enlarged tiles the short-range model fires on hair and fabric (measured: 3x the
    # false positives on 55 portraits), so it only ever sees tiles at or below full size.
    "short": ModelRange(128, 12.0, 60.0, max_zoom=1.0),
    "short_tasks": ModelRange(128, 12.0, 60.0, max_zoom=1.0),
}


@dataclass(frozen=True)
class FaceFinderOptions:
    """tile_models: models run on tiles (small faces). whole_models: models run on the whole frame.
    min_score: detection threshold (low: recall first; tracking removes nothing, so false
        positives only cost a little extra blur).
    min_face: smallest face (box width, in frame pixels) the tiling must make detectable;
        None or 0 disables tiling.
    min_face_relative: if set, the smallest face is at least this fraction of the frame's long
        side (keeps the tile count of very large photos bounded).
    max_face: drop detections wider than this many frame pixels (None: keep all).
    scale: detect on the frame resized by this factor (boxes are mapped back to full resolution).
    zoom_out: also run the `zoom_models` on the frame padded to this many times its size,
        for faces that fill the frame (1 disables).
    zoom_min_face: drop zoomed-out detections narrower than this fraction of the model's
        reliable size (the tiles and the plain views see such faces better; in the zoomed-out
        view they are mostly blobs on blurred backgrounds). Measured on the 14 shared videos
        (leak criterion of benchmarks/leak_test.py, frames redacted in memory): no face left
        visible at 1.0 or 0, and 29.8 % of the frame changed at 1.0 against 32.9 % (the squats
        clip: 5 % against 23 %). An earlier measurement, before the sparse full-range model
        joined the whole-frame views, had found dark faces of the hamilton clip only here.
    nms_iou: IoU above which detections of one face from different tiles/models merge.
    level_overlap: factor by which the face-size ranges of neighbouring pyramid levels overlap
        (larger: more levels, each face seen at more scales; slower).
    min_views, confident: a detection scoring below `confident` is kept only if at least
        `min_views` views (a model at one framing: each whole-frame view, each tile level)
        found it, or a confident detection of a similar size lies within `crowd_radius` face
        widths (in a crowd, BlazeFace scores many real faces low; next to confident faces of the
        same size, a weak response is most likely one more face).
    verify_size, verify_below: a detection at least `verify_size` of the frame's short side,
        scoring below `verify_below` and seen by only one view is kept only if re-detected in
        a crop around it (large false positives would blur much of the frame).
    crowd_tile_models, crowd_tile_score, crowd_faces, crowd_tile_radius: models also run on the
        tiles (threshold `crowd_tile_score`) whose detections count only in a crowd: each must have
        at least `crowd_faces` distinct confident (>= `confident`) faces of 0.5-2x its size, found
        by the other views, within `crowd_tile_radius` of its widths. BlazeFace short range finds
        most crowd faces the full-range tiles miss, but on tiles it also fires on hair and fabric
        next to a lone face; a lone face (or two) never makes a crowd. Their detections lend no
        support (`min_views`) to the other views' detections.
    tile_period: in a stream (`FaceFinder.__call__`), each frame scans only every
        `tile_period`-th tile, in turn, so every tile is scanned once per `tile_period` frames
        (the tracker holds small faces in between), but never fewer than `min_tiles_per_frame`
        per frame (small frames have few tiles: all are scanned every frame). Single images
        always get all tiles. Measured: period 4 doubles the frame rate of 720p and 1080p
        videos against period 1; the 640x360 hamilton clip (6 tiles) left 56 faces visible
        with period 4 against 28 with 3, hence the minimum.
    mirror_tile_models: tile models (regular or crowd) also run on each tile flipped left-right;
        BlazeFace is not symmetric, so the mirror image of a weak face is a second chance. A
        mirrored tile level is a view of its own (for `min_views`).
    crowd_max_zoom: the most the crowd-only tiles are enlarged (the models' own `max_zoom` holds
        for the other tiles): crowd gating discards the textures that enlarged tiles respond to.
    crowd_body_depth: drop crowd-only detections centred on the body of a confident face, down
        to this many face heights below its chin (0: off). Measured on the group photos: bodies
        are where the crowd tiles' false positives sit (1.9x fewer regions off YuNet's faces at
        5, no face lost). "Below" follows each face's eyes-to-mouth direction.
    runtime: threads, model files, delegate of every detector model (`RuntimeOptions`);
        num_threads is its deprecated alias.
    """

    tile_models: tuple[str, ...] = ("full_dense",)
    # The sparse full-range file finds dark, cut-off faces the dense one misses (the hamilton
    # clip's last 25 leaks: score 0.33 there, nothing from the dense model): 25 -> 0 leaks over
    # the 14 shared videos for one more 192² call per frame (-8 % fps on 360p, none on 720p+).
    whole_models: tuple[str, ...] = ("full_dense", "short", "full")
    min_score: float = 0.3
    min_face: float | None = 20.0
    min_face_relative: float | None = None
    max_face: float | None = None
    scale: float = 1.0
    zoom_out: float = 2.0
    zoom_models: tuple[str, ...] = ("full_dense", "short")
    zoom_min_face: float = 1.0
    nms_iou: float = 0.3
    level_overlap: float = 1.3
    min_views: int = 1
    confident: float = 0.5
    crowd_radius: float = 4.0
    verify_size: float = 0.2
    verify_below: float = 0.75
    crowd_tile_models: tuple[str, ...] = ()
    crowd_tile_score: float = 0.2
    crowd_faces: int = 3
    crowd_tile_radius: float = 6.0
    tile_period: int = 4
    min_tiles_per_frame: int = 8
    mirror_tile_models: tuple[str, ...] = ()
    crowd_max_zoom: float = 1.0
    crowd_body_depth: float = 0.0
    num_threads: int | None = None  # deprecated: runtime.num_threads
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)

    @classmethod
    def for_images(cls, **changes) -> FaceFinderOptions:
        """Defaults for still photos: no time budget and no tracker to cover a miss, so all
        tiles, smaller faces (7 px, or 1/320 of the long side on large photos) and a lower
        threshold; weak detections must be confirmed by a second view (model or scale) or
        by confident faces of their size nearby.

        The short-range model also runs on the tiles, mirrored too and enlarged up to 2x,
        counted only in crowds (see `crowd_tile_models`).
        Measured (benchmarks/leak_test.py criterion, shared photos): 0 leaks of 557 YuNet faces
        on the 12 group photos (crowd tiles neither mirrored nor enlarged: 9; without crowd
        tiles: 52; video settings: 183); on the 16 single-face photos of testdata/faces, 4
        regions away from the face. The price is precision in groups: BlazeFace scores many
        real crowd faces as low as body and background textures next to them, so group photos
        get blobs off the faces too (counted as regions of >= 40 px off every YuNet face at score
        0.3: 325 on the 12 group photos, against 222 with the crowd tiles at full size and not
        mirrored, 623 without `crowd_body_depth`)."""
        base = {"min_score": 0.25, "min_face": 7.0, "min_face_relative": 1 / 320, "tile_period": 1,
                "min_views": 2, "crowd_tile_models": ("short",), "whole_models": ("full_dense", "short"),
                "crowd_max_zoom": 2.0, "mirror_tile_models": ("short",), "crowd_body_depth": 5.0}
        return cls(**{**base, **changes})

    @classmethod
    def for_crowds(cls, **changes) -> FaceFinderOptions:
        """Dense crowds (BlazeFace scores many real faces in crowds low and erratically): the
        short-range model on every tile and threshold 0.2, its detections not gated by the crowd
        rule. Meant for streams (`facepipe anonymize --crowd` uses it for videos and cameras);
        on still photos `for_images` does better since its crowd tiles (measured on the shared
        photos: 3 leaks of 557 on the group photos against 0, and 147 regions away from the
        face on the 16 single-face photos against 4)."""
        return cls.for_images(**{"tile_models": ("full_dense", "short"), "min_score": 0.2, "crowd_tile_models": (),
                                 **changes})

    def __post_init__(self) -> None:
        object.__setattr__(self, "runtime", fold_legacy_options(type(self).__name__, self.runtime, self.num_threads))
        object.__setattr__(self, "num_threads", None)
        for m in (*self.tile_models, *self.whole_models, *self.zoom_models, *self.crowd_tile_models,
                  *self.mirror_tile_models):
            if m not in MODEL_RANGES:
                raise ValueError(f"unknown face detector model {m!r}; choose from {sorted(MODEL_RANGES)}")
        if not 0.0 < self.min_score <= 1.0:
            raise ValueError(f"min_score must be in (0, 1], got {self.min_score}")
        if not 0.0 < self.scale <= 4.0:
            raise ValueError(f"scale must be in (0, 4], got {self.scale}")
        if self.min_face_relative is not None and not 0 < self.min_face_relative < 1:
            raise ValueError(f"min_face_relative must be in (0, 1), got {self.min_face_relative}")
        if self.min_face is not None and self.min_face < 0:
            raise ValueError(f"min_face must be >= 0, got {self.min_face}")
        if self.max_face is not None and self.max_face <= 0:
            raise ValueError(f"max_face must be > 0, got {self.max_face}")
        if self.zoom_out < 1.0:
            raise ValueError(f"zoom_out must be >= 1, got {self.zoom_out}")
        if not 0.0 < self.crowd_tile_score <= 1.0 or self.crowd_faces < 1:
            raise ValueError(f"crowd_tile_score must be in (0, 1] and crowd_faces >= 1, got {self.crowd_tile_score},"
                             f" {self.crowd_faces}")
        if self.crowd_max_zoom <= 0 or self.crowd_body_depth < 0:
            raise ValueError(f"crowd_max_zoom must be > 0 and crowd_body_depth >= 0, got {self.crowd_max_zoom},"
                             f" {self.crowd_body_depth}")
        if self.tile_period < 1 or self.min_tiles_per_frame < 1:
            raise ValueError(f"tile_period and min_tiles_per_frame must be >= 1, got {self.tile_period},"
                             f" {self.min_tiles_per_frame}")


@dataclass(frozen=True)
class Tile:
    """A square-ish region x0:x1, y0:y1 of the frame shown to the detector at `k` tensor px per frame px.

    inner: (left, top, right, bottom) flags, True where the edge borders another tile.
    """

    x0: int
    y0: int
    x1: int
    y1: int
    k: float
    inner: tuple[bool, bool, bool, bool] = (False, False, False, False)
    overlap: float = 0.0


def _axis_starts(length: int, tile: int, overlap: float) -> list[int]:
    if tile >= length:
        return [0]
    stride = max(1.0, tile - overlap)
    n = math.ceil((length - tile) / stride) + 1
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def plan_tiles(width: int, height: int, min_face: float | None, rng: ModelRange, margin: float = 1.3) -> list[Tile]:
    """Tiles of the finer pyramid levels (the whole-frame level is not included).

    Levels step by at most hi/(lo·margin) in scale so that the size ranges of
    neighbouring levels overlap by `margin`; tiles of a level overlap by the
    largest face it must find whole (what the coarser level cannot see).
    """
    if not min_face:
        return []
    long_side = max(width, height)
    k_prev = rng.size / long_side  # whole-frame level
    k_final = min(rng.lo / min_face, rng.max_zoom)
    if k_final <= k_prev * 1.05:
        return []
    # As few levels as the allowed step permits, spaced evenly in log-scale between the
    # whole frame and the finest level (the finest level's tile count dominates the cost).
    max_step = rng.hi / (rng.lo * margin)
    n_levels = max(1, math.ceil(math.log(k_final / k_prev) / math.log(max_step) - 1e-9))
    step = (k_final / k_prev) ** (1.0 / n_levels)
    tiles: list[Tile] = []
    for level in range(1, n_levels + 1):
        k = k_prev * step if level < n_levels else k_final
        side = rng.size / k
        tw, th = min(width, round(side)), min(height, round(side))
        overlap = min(margin * rng.lo / k_prev, side / 2)
        xs, ys = _axis_starts(width, tw, overlap), _axis_starts(height, th, overlap)
        for y in ys:
            for x in xs:
                inner = (x > 0, y > 0, x + tw < width, y + th < height)
                tiles.append(Tile(x, y, x + tw, y + th, k, inner, overlap))
        k_prev = k
    return tiles


class FaceFinder:
    """High-recall face detection on RGB frames of any size. Thread-safe (one call at a time)."""

    def __init__(self, options: FaceFinderOptions | None = None) -> None:
        self.options = options or FaceFinderOptions()
        o = self.options
        names = dict.fromkeys((*o.whole_models, *o.tile_models) if o.min_face else o.whole_models)
        self._detectors = {
            m: FaceDetector(FaceDetectorOptions(model=m, min_score=o.min_score, runtime=o.runtime))
            for m in names
        }
        self._lock = threading.Lock()
        self._plan_cache: dict[tuple[int, int, str], list[Tile]] = {}
        self._calls = 0

    def tiles_for(self, width: int, height: int, model: str | None = None) -> list[Tile]:
        """The tile plan of a tile model (default: all of them) for frames of this size, in
        detection pixels (after `scale`)."""
        if model is None:
            return [t for m in self._all_tile_models() for t in self.tiles_for(width, height, m)]
        key = (width, height, model)
        if key not in self._plan_cache:
            o = self.options
            min_face = o.min_face or 0.0
            if min_face and o.min_face_relative:
                min_face = max(min_face, o.min_face_relative * max(width, height) / o.scale)
            min_face *= o.scale
            rng = MODEL_RANGES[model]
            if model in self._crowd_only():
                rng = replace(rng, max_zoom=o.crowd_max_zoom)
            self._plan_cache[key] = plan_tiles(width, height, min_face, rng, o.level_overlap)
        return self._plan_cache[key]

    def _all_tile_models(self) -> tuple[str, ...]:
        o = self.options
        return tuple(dict.fromkeys((*o.tile_models, *o.crowd_tile_models)))

    def _crowd_only(self) -> tuple[str, ...]:
        """Models run on tiles for crowds only (a model that is also a tile model is not)."""
        o = self.options
        return tuple(m for m in dict.fromkeys(o.crowd_tile_models) if m not in o.tile_models)

    def inferences_per_frame(self, width: int, height: int) -> int:
        o = self.options
        w, h = round(width * o.scale), round(height * o.scale)
        whole = len(o.whole_models) + (len(o.zoom_models) if o.zoom_out > 1 else 0)
        return whole + len(self.tiles_for(w, h))

    def __call__(self, rgb: np.ndarray) -> Detections:
        """Detect in the next frame of a stream (tiles taken in turn when `tile_period` > 1)."""
        with self._lock:
            phase = self._calls
            self._calls += 1
        return self.detect(rgb, phase=phase if self.options.tile_period > 1 else None)

    def detect(self, rgb: np.ndarray, *, phase: int | None = None) -> Detections:
        """All faces in an RGB uint8 frame, in the frame's pixel coordinates, merged across scales.

        phase: scan only the tiles i with i % tile_period == phase % tile_period (None: all).
        """
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 (H, W, 3) frame, got {rgb.dtype} {rgb.shape}")
        o = self.options
        H, W = rgb.shape[:2]
        work = rgb
        if o.scale != 1.0:
            size = (max(1, round(W * o.scale)), max(1, round(H * o.scale)))
            work = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if o.scale < 1 else cv2.INTER_LINEAR)
        with self._lock:
            raw = self._detect_work(work, phase)
        if len(raw) == 0:
            return Detections.empty(6, (W, H))
        raw = raw.with_nms(o.nms_iou)
        sx, sy = W / work.shape[1], H / work.shape[0]
        if o.max_face is not None:
            # Before the nesting rule: a too-big box that is dropped anyway must not also
            # remove the real faces inside it.
            raw = raw[(raw.xyxy[:, 2] - raw.xyxy[:, 0]) * sx <= o.max_face]
        raw = raw[~_inside_larger(raw.xyxy)]
        if o.scale != 1.0:
            raw = raw.mapped((sx, sy), image_size=(W, H))
        return raw

    def _detect_work(self, img: np.ndarray, phase: int | None) -> Detections:
        o = self.options
        H, W = img.shape[:2]
        parts: list[Detections] = []
        view_ids: list[tuple[int, str]] = []  # per part: which view (id, model) produced it
        # Whole frame, and zoomed out for faces that fill it.
        for name in o.whole_models:
            self._run(name, [(img, 0, 0, 1.0)], parts, view_ids, None)
        if o.zoom_out > 1:
            for name in o.zoom_models:
                view = _zoomed_out(img, o.zoom_out, MODEL_RANGES[name].size)
                # This view is for faces too big for the plain one (see zoom_min_face).
                min_side = o.zoom_min_face * MODEL_RANGES[name].lo * view[3]
                self._run(name, [view], parts, view_ids, None, min_side=min_side)
        for model in o.tile_models:
            self._run_tiles(img, model, phase, parts, view_ids)
        n_regular = len(parts)
        if o.min_face and self._crowd_only():
            # Crowd-only detections count only near `crowd_faces` confident faces, so the
            # tiles without that many anchors in reach are not worth running (a portrait:
            # none of them).
            anchors = _confident_faces(parts, o.confident, o.nms_iou)
            for model in self._crowd_only():
                self._run_tiles(img, model, phase, parts, view_ids, min_score=o.crowd_tile_score,
                                only_near=(anchors, o.crowd_faces, o.crowd_tile_radius))
        if not parts:
            return Detections.empty(6, (W, H))
        raw = Detections.merge(parts, image_size=(W, H))
        views_of = np.concatenate([np.full(len(p), v[0]) for p, v in zip(parts, view_ids)])
        models_of = [v[1] for p, v in zip(parts, view_ids) for _ in range(len(p))]
        crowd_only = np.concatenate([np.full(len(p), i >= n_regular) for i, p in enumerate(parts)])
        return raw[self._plausible(img, raw, views_of, models_of, crowd_only)]

    def _run_tiles(self, img: np.ndarray, model: str, phase: int | None, parts: list[Detections],
                   view_ids: list[tuple[int, str]], min_score: float | None = None,
                   only_near: tuple[np.ndarray, int, float] | None = None) -> None:
        o = self.options
        tiles = self.tiles_for(img.shape[1], img.shape[0], model)
        period = min(o.tile_period, len(tiles) // o.min_tiles_per_frame) if phase is not None else 1
        if period > 1:
            tiles = tiles[phase % period :: period]
        if only_near is not None:
            tiles = _tiles_near(tiles, *only_near)
        if not tiles:
            return
        views = []
        for t in tiles:
            crop = img[t.y0 : t.y1, t.x0 : t.x1]
            w, h = max(1, round((t.x1 - t.x0) * t.k)), max(1, round((t.y1 - t.y0) * t.k))
            views.append((_resized(crop, w, h), t.x0, t.y0, (t.x1 - t.x0) / w))
        self._run(model, views, parts, view_ids, tiles, min_score=min_score)

    def _plausible(self, img: np.ndarray, raw: Detections, views_of: np.ndarray,
                   models_of: list[str], crowd_only: np.ndarray) -> np.ndarray:
        """Mask of detections to keep: large ones seen by a single view only, with a modest
        score, must be found again in a crop centred on them.

        A false positive the size of a third of the frame would blur a third of the
        frame; real large faces are seen by several views (both models, both framings),
        and when one is not, the crop re-detection finds it.
        """
        o = self.options
        H, W = img.shape[:2]
        keep = np.ones(len(raw), bool)
        side = raw.wh.max(1)
        big = (side >= o.verify_size * min(W, H)) & (raw.scores < o.verify_below)
        need_views = o.min_views > 1 and len(raw) > 0
        if not big.any() and not need_views and not crowd_only.any():
            return keep
        # Crowd-only detections lend no support: their false positives cluster on the same texture.
        overlap = (box_iou(raw.xyxy, raw.xyxy) > 0.3) & ~crowd_only[None, :]
        if need_views:
            # Detections scoring below `confident` must be seen by `min_views` views (models or
            # scales): chance texture responses rarely repeat across them, faces do.
            support = np.array([len(np.unique(views_of[overlap[i]])) for i in range(len(raw))])
            sure = (raw.scores >= o.confident) & ~crowd_only
            keep &= (support >= o.min_views) | sure | _near_similar(raw.xyxy, sure, o.crowd_radius)
        if crowd_only.any():
            anchors = keep & ~crowd_only & (raw.scores >= o.confident)
            keep &= ~crowd_only
            keep |= crowd_only & _in_crowd(raw, anchors, o.crowd_faces, o.crowd_tile_radius, o.nms_iou)
            if o.crowd_body_depth > 0:
                keep &= ~(crowd_only & _on_body(raw.xyxy, raw.xyxy[anchors], raw.keypoints[anchors],
                                                o.crowd_body_depth))
        for i in np.flatnonzero(big & keep):
            if len(np.unique(views_of[overlap[i]])) >= 2:
                continue
            keep[i] = self._found_in_crop(img, raw.xyxy[i], models_of[i])
        return keep

    def _found_in_crop(self, img: np.ndarray, box: np.ndarray, found_by: str) -> bool:
        """Whether another model finds a face on `box` in a crop three times its size (the
        model that found it would mostly repeat itself, on a crop that can be the whole frame)."""
        H, W = img.shape[:2]
        c = (box[:2] + box[2:]) / 2
        half = 1.5 * (box[2:] - box[:2]).max()  # the face fills a third: inside every model's range
        x0, y0 = int(max(0, c[0] - half)), int(max(0, c[1] - half))
        x1, y1 = int(min(W, c[0] + half)), int(min(H, c[1] + half))
        if x1 - x0 < 4 or y1 - y0 < 4:
            return False
        crop = img[y0:y1, x0:x1]
        others = [m for m in dict.fromkeys((*self.options.tile_models, *self.options.whole_models))
                  if _family(m) != _family(found_by)]
        for name in others or [found_by]:
            size = MODEL_RANGES[name].size
            k = size / max(crop.shape[:2])
            small = cv2.resize(crop, (max(1, round(crop.shape[1] * k)), max(1, round(crop.shape[0] * k))),
                               interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
            det = self._detector(name).detect(small)
            if len(det):
                boxes = det.xyxy / k + np.array([x0, y0, x0, y0], np.float32)
                if (box_iou(box[None], boxes) > 0.3).any():
                    return True
        return False

    def _detector(self, name: str, min_score: float | None = None) -> FaceDetector:
        o = self.options
        score = o.min_score if min_score is None else min_score
        key = name if score == o.min_score else f"{name}@{score}"
        if key not in self._detectors:
            self._detectors[key] = FaceDetector(FaceDetectorOptions(model=name, min_score=score, runtime=o.runtime))
        return self._detectors[key]

    def _run(self, name: str, views: Sequence[tuple[np.ndarray, float, float, float]], parts: list[Detections],
             view_ids: list[tuple[int, str]], tiles: Sequence[Tile] | None, min_side: float = 0.0,
             min_score: float | None = None) -> None:
        detector = self._detector(name, min_score)
        # One call per view: batching these models is no faster on CPU (measured: 24 tiles
        # 2.9 ms/tile looped vs 4.7-5.3 batched), and LiteRT folds a resized batch into
        # the anchor axis of their outputs.
        mirrored = (False, True) if tiles is not None and name in self.options.mirror_tile_models else (False,)
        for i, (img, x0, y0, s) in enumerate(views):
            for mirror in mirrored:
                self._run_view(detector, name, img, mirror, x0, y0, s, parts, view_ids,
                               tiles[i] if tiles is not None else None, min_side)

    def _run_view(self, detector: FaceDetector, name: str, img: np.ndarray, mirror: bool, x0: float, y0: float,
                  s: float, parts: list[Detections], view_ids: list[tuple[int, str]], tile: Tile | None,
                  min_side: float) -> None:
        """Detections of one view (mirrored: the view flipped left-right, boxes flipped back) in
        frame pixels, appended to `parts` with their view id."""
        det = detector.detect(np.ascontiguousarray(img[:, ::-1]) if mirror else img)
        if len(det) == 0:
            return
        boxes, kps = det.xyxy, det.keypoints
        if mirror:
            w = img.shape[1]
            boxes = np.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1)
            kps = kps[:, _MIRRORED_KEYPOINTS] * np.array([-1, 1], np.float32) + np.array([w, 0], np.float32)
        boxes = boxes * s + np.array([x0, y0, x0, y0], np.float32)
        kps = kps * s + np.array([x0, y0], np.float32)
        if tile is not None:
            keep = _off_inner_edges(boxes, tile)
            boxes, kps, scores = boxes[keep], kps[keep], det.scores[keep]
        else:
            scores = det.scores
        if min_side > 0:
            big = (boxes[:, 2:] - boxes[:, :2]).max(1) >= min_side
            boxes, kps, scores = boxes[big], kps[big], scores[big]
        if len(scores):
            parts.append(Detections(boxes, kps, scores))  # frame pixels; the frame size is set on merging
            # A view is one framing of one model: each whole-frame view, and each tile level
            # (mirrored or not).
            vid = len(view_ids) + 1 if tile is None else -(hash((name, round(tile.k, 4), mirror)) & 0xFFFFFFF) - 1
            view_ids.append((vid, name))


# BlazeFace keypoints: right eye, left eye, nose, mouth, right ear, left ear; a mirror swaps sides.
_MIRRORED_KEYPOINTS = [1, 0, 2, 3, 5, 4]


def _zoomed_out(img: np.ndarray, factor: float, tensor: int) -> tuple[np.ndarray, float, float, float]:
    """The image shrunk to fit the tensor, centred on a black canvas `factor` times its size."""
    H, W = img.shape[:2]
    side = max(W, H) * factor
    k = tensor / side
    w, h = max(1, round(W * k)), max(1, round(H * k))
    small = _resized(img, w, h)
    canvas = np.zeros((tensor, tensor, 3), np.uint8)
    ox, oy = (tensor - w) // 2, (tensor - h) // 2
    canvas[oy : oy + h, ox : ox + w] = small
    s = W / w
    # Canvas pixel (u, v) -> frame pixel ((u - ox) * s, (v - oy) * s).
    return canvas, -ox * s, -oy * s, s


def _resized(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """`img` at w x h for a detector view. Enlarged or shrunk less than 2x: bilinear. Shrunk
    more: area averaging (bilinear would alias), halving first while at least twice the
    target, as OpenCV's exact-halving path is several times faster than a general area
    resize (1080p to 96 px: 0.3 ms instead of 1.1 ms). Measured on the 14 shared videos:
    bilinear instead of area for the 274 -> 192 px tiles of 720p/1080p costs no leak and
    makes the finder 9 % faster."""
    while img.shape[1] >= 2 * w and img.shape[0] >= 2 * h and img.shape[1] % 2 == 0 and img.shape[0] % 2 == 0:
        img = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if img.shape[1] < 2 * w and img.shape[0] < 2 * h:
        return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


def _family(model: str) -> str:
    """"short"/"short_tasks" are one model family, "full"/"full_dense" the other."""
    return model.split("_")[0]


def _near_similar(boxes: np.ndarray, sure: np.ndarray, radius: float) -> np.ndarray:
    """Mask of boxes with a `sure` box of 0.5-2x their size within `radius` of their size."""
    if not sure.any():
        return np.zeros(len(boxes), bool)
    side = (boxes[:, 2:] - boxes[:, :2]).max(1)
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    s_side, s_c = side[sure], c[sure]
    dist = np.linalg.norm(c[:, None] - s_c[None], axis=-1)
    ratio = s_side[None, :] / np.maximum(side[:, None], 1e-6)
    return ((dist <= radius * side[:, None]) & (ratio >= 0.5) & (ratio <= 2.0) & (dist > 0)).any(1)


def _confident_faces(parts: Sequence[Detections], confident: float, nms_iou: float) -> np.ndarray:
    """(N,4) boxes of the distinct faces scoring >= `confident` in `parts` (views merged)."""
    merged = Detections.merge(parts)
    return merged[merged.scores >= confident].with_nms(nms_iou).xyxy


def _tiles_near(tiles: Sequence[Tile], anchors: np.ndarray, min_faces: int, radius: float) -> list[Tile]:
    """The tiles where a detection could have `min_faces` anchors in reach (see `_in_crowd`): an
    anchor of side a counts for detections of side >= a/2 within `radius` of their side, so
    within 2·radius·a of the tile."""
    if len(anchors) < min_faces or not tiles:
        return []
    c = (anchors[:, :2] + anchors[:, 2:]) / 2
    reach = 2 * radius * (anchors[:, 2:] - anchors[:, :2]).max(1)
    t = np.array([[tl.x0, tl.y0, tl.x1, tl.y1] for tl in tiles], np.float32)
    dx = np.maximum(np.maximum(t[:, None, 0] - c[None, :, 0], c[None, :, 0] - t[:, None, 2]), 0)
    dy = np.maximum(np.maximum(t[:, None, 1] - c[None, :, 1], c[None, :, 1] - t[:, None, 3]), 0)
    near = np.hypot(dx, dy) <= reach[None, :]
    return [tl for tl, n in zip(tiles, near.sum(1), strict=True) if n >= min_faces]


def _on_body(boxes: np.ndarray, faces: np.ndarray, face_kps: np.ndarray, depth: float, width: float = 1.0,
             ratio: float = 0.7) -> np.ndarray:
    """Mask of boxes centred on the body of one of `faces`: within `width` face widths of the
    line through its centre pointing down the face (eyes to mouth, so a photo on its side or a
    tilted head is handled), at most `depth` face heights beyond its chin, and not much bigger
    than it (`ratio`: a face in the row in front of it is usually bigger)."""
    if len(faces) == 0 or len(boxes) == 0:
        return np.zeros(len(boxes), bool)
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    side = (boxes[:, 2:] - boxes[:, :2]).max(1)
    fc = (faces[:, :2] + faces[:, 2:]) / 2
    fs = (faces[:, 2:] - faces[:, :2]).max(1)
    down = face_kps[:, 3] - (face_kps[:, 0] + face_kps[:, 1]) / 2  # eyes' midpoint -> mouth
    norm = np.linalg.norm(down, axis=1, keepdims=True)
    down = np.where(norm > 1e-3, down / np.maximum(norm, 1e-6), np.array([0.0, 1.0], np.float32))
    rel = c[:, None] - fc[None]  # (N, F, 2)
    along = (rel * down[None]).sum(-1) - fs[None] / 2  # beyond the chin
    across = np.abs(rel[..., 0] * down[None, :, 1] - rel[..., 1] * down[None, :, 0])
    on = (across <= width * fs[None]) & (along > 0) & (along <= depth * fs[None]) & (fs[None] >= ratio * side[:, None])
    return on.any(1)


def _in_crowd(raw: Detections, anchors: np.ndarray, min_faces: int, radius: float, nms_iou: float) -> np.ndarray:
    """Mask of detections with at least `min_faces` distinct `anchors` faces (merged, as one face
    is found by several views) of 0.5-2x their size within `radius` of their size, not on them."""
    if anchors.sum() < min_faces:
        return np.zeros(len(raw), bool)
    faces = raw[anchors].with_nms(nms_iou).xyxy
    f_side = (faces[:, 2:] - faces[:, :2]).max(1)
    side = raw.wh.max(1)
    c = (raw.xyxy[:, :2] + raw.xyxy[:, 2:]) / 2
    dist = np.linalg.norm(c[:, None] - ((faces[:, :2] + faces[:, 2:]) / 2)[None], axis=-1)
    ratio = f_side[None, :] / np.maximum(side[:, None], 1e-6)
    near = (dist <= radius * side[:, None]) & (dist > 0.5 * side[:, None]) & (ratio >= 0.5) & (ratio <= 2.0)
    return near.sum(1) >= min_faces


def _inside_larger(boxes: np.ndarray, ratio: float = 2.0, grow: float = 1.2) -> np.ndarray:
    """Mask of boxes lying (90 %) inside a box at least `ratio` times larger (scaled by `grow`).

    Tiles at fine scales respond to parts of a large face (an eye, a nostril); those
    areas are redacted with the large face anyway, so such detections only add clutter.
    """
    n = len(boxes)
    if n < 2:
        return np.zeros(n, bool)
    side = (boxes[:, 2:] - boxes[:, :2]).max(1)
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) / 2 * grow
    big = np.concatenate([c - half, c + half], 1)
    lt = np.maximum(boxes[:, None, :2], big[None, :, :2])
    rb = np.minimum(boxes[:, None, 2:], big[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = np.maximum((boxes[:, 2:] - boxes[:, :2]).prod(-1), 1e-6)
    inside = (inter / area[:, None] >= 0.9) & (side[None, :] >= ratio * side[:, None])
    return inside.any(1)


def _off_inner_edges(boxes: np.ndarray, t: Tile, tol: float = 2.0) -> np.ndarray:
    """Boxes to keep: those not touching an edge shared with another tile, unless too big to
    fit whole in the overlap (only faces that fit are sure to be whole in the neighbour)."""
    keep = (boxes[:, 2:] - boxes[:, :2]).max(1) > 0.8 * t.overlap
    left, top, right, bottom = t.inner
    inside = np.ones(len(boxes), bool)
    if left:
        inside &= boxes[:, 0] > t.x0 + tol
    if top:
        inside &= boxes[:, 1] > t.y0 + tol
    if right:
        inside &= boxes[:, 2] < t.x1 - tol
    if bottom:
        inside &= boxes[:, 3] < t.y1 - tol
    return keep | inside
