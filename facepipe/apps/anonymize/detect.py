"""Finding every face in a frame, small ones included: BlazeFace over an image pyramid.

`FaceFinder` runs the detectors on

* the whole frame, and the whole frame zoomed out 2x (faces that fill the
  frame are too big for both models otherwise), with every model, and
* square tiles of the frame at finer scales (tiling.py), with the full-range
  model, down to the scale at which a face of `min_face` pixels is still detectable.

The results of all levels and models are merged with weighted NMS, gated by where
they lie and which views found them (gating.py), and weak ones are checked by a
second opinion (verify.py).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from facepipe.apps.anonymize.gating import (
    around_confident,
    around_several,
    confident_faces,
    family,
    inside_larger,
    plausible,
)
from facepipe.apps.anonymize.tiling import (
    MIRRORED_KEYPOINTS,
    MODEL_RANGES,
    Tile,
    off_inner_edges,
    plan_tiles,
    resized,
    tile_phases,
    tiles_near,
    zoomed_out,
)
from facepipe.apps.anonymize.verify import FaceVerifier, VerifyOptions, apply_verdicts
from facepipe.apps.anonymize.wide import WIDE_MODELS, WideFaceDetector
from facepipe.results import Detections, box_iou
from facepipe.runtime.options import RuntimeOptions, fold_num_threads_alias
from facepipe.solutions.face_detection import FaceDetector, FaceDetectorOptions

__all__ = ["FaceFinder", "FaceFinderOptions", "scaled"]


def scaled(rgb: np.ndarray, scale: float) -> np.ndarray:
    """The frame the finder detects in (`FaceFinderOptions.scale`)."""
    if scale == 1.0:
        return rgb
    H, W = rgb.shape[:2]
    size = (max(1, round(W * scale)), max(1, round(H * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


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
        view they are mostly blobs on blurred backgrounds).
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
    tile_period: in a stream (`FaceFinder.__call__`), each frame scans a `tile_period`-th of the
        tiles, in turn, so every tile is scanned once per `tile_period` frames (the tracker holds
        small faces in between), but never fewer than `min_tiles_per_frame` per frame, and frames
        with at most `full_scan_tiles` tiles (640x360: 6, 512²: 9) are scanned whole every frame.
        The turns (`tiling.tile_phases`) put the 2x2 overlapping tiles a small face lies in on four
        different frames of the period, so such a face is scanned about every other frame at
        period 8. Single images always get all tiles.
    wide_tile: the largest side, in tensor pixels, of a tile of a full-range model run on views of
        any size (wide.py): a tile level is one call on one large view where 192² tiles overlap
        (720p: one 896x512 view instead of 32 tiles of 2.6x the frame's area; 13 instead of 27 ms
        a frame). 0 (default): 192² tiles. Off because the overlapping tiles see a face in 2-4
        crops, which finds more of the weak ones (fr_short_hamilton: 152 of 170 small YuNet faces
        against 146; leak_test 7 leaks over 2 videos against 0; benchmarks/RESULTS.md). With wide
        tiles a stream's period is `tile_period` when the frame's tiles have more than
        `full_scan_area` tensor pixels, else 1 (`min_tiles_per_frame` is for 192² tiles).
    whole_turns: whole-frame models that take turns in a stream: of those in `whole_models` (if two
        or more), frame k runs only the one at position k % their number; the other `whole_models`
        run every frame. The dense and sparse full-range files see the same faces (the sparse one
        also dark, cut-off ones), and the tracker holds a face between turns: one 192² call a frame
        fewer (benchmarks/RESULTS.md). Off by default (()): the two files place a face's box
        differently, and alternating them let a track jump from one face to its neighbour (the
        hamilton clip: Obama's track moved to his wife's face), which breaks per-track identity
        decisions (`anonymize --only/--except`). Single images always get all.
    zoom_period: in a stream, the zoomed-out views (`zoom_models`) take turns likewise: frame k
        runs zoom model i only when k % zoom_period == i % zoom_period (1: all every frame). They
        are for faces that fill the frame, which the tracker holds between turns. Single images
        always get all.
    mirror_tile_models: tile models (regular or crowd) also run on each tile flipped left-right;
        BlazeFace is not symmetric, so the mirror image of a weak face is a second chance. A
        mirrored tile level is a view of its own (for `min_views`).
    crowd_max_zoom: the most the crowd-only tiles are enlarged (the models' own `max_zoom` holds
        for the other tiles): crowd gating discards the textures that enlarged tiles respond to.
    crowd_body_depth: drop crowd-only detections centred on the body of a confident face, down
        to this many face heights below its chin (0: off): bodies are where the crowd tiles'
        false positives sit. "Below" follows each face's eyes-to-mouth direction.
    group_boxes: drop a weak box holding two or more separate, stronger faces (`gating.around_several`)
        before the nesting rule could drop those faces as its parts. Streams only: the photo finder's
        fine and crowd tiles score parts of faces and tiny crowd faces up to 0.87 inside a real face's
        box, and on lz_17 the rule uncovered a face (benchmarks/RESULTS.md, "A weak box around a group").
    verify: a second opinion on detections scoring below `verify.below` (face-mesh presence or
        YuNet, see verify.py): for streams the rejected ones are only marked (`mark_only`: the
        tracker keeps those that continue a verified face) and every detection below 0.8 is
        checked, the score under which the tracker does not take a face as confirmed on one
        sighting (`TrackerOptions.confirm_score`): between 0.75 and 0.8 BlazeFace also scores
        fists and palms, which then started tracks nothing had checked (benchmarks/RESULTS.md,
        "The hand-signing clip"). Photos drop the rejected ones and check below 0.75. In streams a
        `StreamVerifier` (stream_verify.py) checks them in frame order and reuses confirmations of
        the last 2 frames (`verify.reuse_frames`; benchmarks/RESULTS.md, "Verdicts reused").
    runtime: threads, model files, delegate of every detector model (`RuntimeOptions`);
        num_threads is its deprecated alias.
    """

    tile_models: tuple[str, ...] = ("full_dense",)
    # The sparse full-range file finds dark, cut-off faces the dense one misses.
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
    tile_period: int = 8
    min_tiles_per_frame: int = 4
    full_scan_tiles: int = 11
    wide_tile: int = 0
    full_scan_area: int = 300_000
    zoom_period: int = 2
    whole_turns: tuple[str, ...] = ()
    mirror_tile_models: tuple[str, ...] = ()
    crowd_max_zoom: float = 1.0
    crowd_body_depth: float = 0.0
    group_boxes: bool = True
    verify: VerifyOptions = field(default_factory=lambda: VerifyOptions(below=0.8, mark_only=True, reuse_frames=2))
    num_threads: int | None = None  # deprecated: runtime.num_threads
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)

    @classmethod
    def for_images(cls, **changes) -> FaceFinderOptions:
        """Defaults for still photos: no time budget and no tracker to cover a miss, so all
        tiles, smaller faces (7 px, or 1/320 of the long side on large photos) and a lower
        threshold; weak detections must be confirmed by a second view (model or scale) or
        by confident faces of their size nearby.

        The short-range model also runs on the tiles, mirrored too and enlarged up to 2x,
        counted only in crowds (see `crowd_tile_models`). BlazeFace scores many real crowd faces
        as low as the body and background textures next to them, so every detection scoring
        below 0.75 needs the verifier's second opinion (verify.py)."""
        base = {"min_score": 0.25, "min_face": 7.0, "min_face_relative": 1 / 320, "tile_period": 1,
                "min_views": 2, "crowd_tile_models": ("short",), "whole_models": ("full_dense", "short"),
                "crowd_max_zoom": 2.0, "mirror_tile_models": ("short",), "crowd_body_depth": 5.0,
                "verify": VerifyOptions(below=0.75), "group_boxes": False}
        return cls(**{**base, **changes})

    @classmethod
    def for_crowds(cls, **changes) -> FaceFinderOptions:
        """Dense crowds (BlazeFace scores many real faces in crowds low and erratically): the
        short-range model on every tile and threshold 0.2, its detections not gated by the crowd
        rule. Meant for streams (`facepipe anonymize --crowd` uses it for videos and cameras);
        on still photos `for_images` does better (benchmarks/RESULTS.md). No verifier (as for
        videos: see benchmarks/RESULTS.md). At least 6 tiles a frame in a stream (the video
        default went to 4 with tile period 8; crowds keep the scans they had)."""
        return cls.for_images(**{"tile_models": ("full_dense", "short"), "min_score": 0.2, "crowd_tile_models": (),
                                 "verify": VerifyOptions(), "min_tiles_per_frame": 6, **changes})

    def __post_init__(self) -> None:
        fold_num_threads_alias(self)
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
        for m in self.whole_turns:
            if m not in MODEL_RANGES:
                raise ValueError(f"unknown face detector model {m!r} in whole_turns; choose from"
                                 f" {sorted(MODEL_RANGES)}")
        if self.zoom_period < 1:
            raise ValueError(f"zoom_period must be >= 1, got {self.zoom_period}")
        if self.wide_tile < 0 or self.full_scan_area < 0:
            raise ValueError(f"wide_tile and full_scan_area must be >= 0, got {self.wide_tile}, {self.full_scan_area}")
        if self.tile_period < 1 or self.min_tiles_per_frame < 1 or self.full_scan_tiles < 0:
            raise ValueError(f"tile_period and min_tiles_per_frame must be >= 1 and full_scan_tiles >= 0, got"
                             f" {self.tile_period}, {self.min_tiles_per_frame}, {self.full_scan_tiles}")


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
        self._phase_cache: dict[tuple[int, int, str, int], np.ndarray] = {}
        self._calls = 0
        self._verifier: FaceVerifier | None = None
        self._verifier_lock = threading.Lock()

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
            tensor = o.wide_tile if self._wide(model) else None
            self._plan_cache[key] = plan_tiles(width, height, min_face, rng, o.level_overlap, tensor)
        return self._plan_cache[key]

    def _wide(self, model: str) -> bool:
        """Whether `model` runs its tiles as views of any size (`wide_tile`)."""
        return bool(self.options.wide_tile) and model in WIDE_MODELS

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
        """Detect in the next frame of a stream (tiles taken in turn when `tile_period` > 1).

        The turn is counted per FaceFinder, across everything it was called on: for results
        that depend only on the video, pass the frame's number to `detect_frame` instead.
        """
        with self._lock:
            index = self._calls
            self._calls += 1
        return self.detect_frame(rgb, index)

    def detect_frame(self, rgb: np.ndarray, index: int, *, check: bool = True) -> Detections:
        """Detect in frame `index` of a stream: it scans that frame's turn of the tiles and zoomed-out views.

        check False (only with `verify.reuse_frames` > 0): the weak detections come back unchecked
        (`extras["unchecked"]`, and `extras["verified"]` False) for a `StreamVerifier` that follows
        and checks them in frame order, reusing recent confirmations (stream_verify.py); the
        anonymizer's own stream paths do this. The default checks them here, so that a caller
        feeding a tracker directly never gets a face marked rejected that nothing checked.
        """
        o = self.options
        return self.detect(rgb, phase=index if o.tile_period > 1 or o.zoom_period > 1 or o.whole_turns else None,
                           check=check or o.verify.reuse_frames == 0)

    def detect(self, rgb: np.ndarray, *, phase: int | None = None, check: bool = True) -> Detections:
        """All faces in an RGB uint8 frame, in the frame's pixel coordinates, merged across scales.

        phase: scan only the tiles i with i % tile_period == phase % tile_period, and the zoomed-out
            views' turn (`zoom_period`) (None: all).
        check: run the verifier on the weak detections (`verify.below`) here; False: only mark them
            `extras["unchecked"]` for a `StreamVerifier`.
        """
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 (H, W, 3) frame, got {rgb.dtype} {rgb.shape}")
        o = self.options
        H, W = rgb.shape[:2]
        work = scaled(rgb, o.scale)
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
        # First the weak boxes around confident faces or around a group of faces, so that the nesting
        # rule cannot take such faces for parts of the box around them.
        drop = around_confident(raw.xyxy, raw.scores)
        if o.group_boxes:
            drop |= around_several(raw.xyxy, raw.scores)
        raw = raw[~drop]
        raw = raw[~inside_larger(raw.xyxy)]
        if o.verify.below > 0:
            raw = self._verified(work, raw, check)
        if o.scale != 1.0:
            raw = raw.mapped((sx, sy), image_size=(W, H))
        return raw

    def _verified(self, img: np.ndarray, dets: Detections, check: bool) -> Detections:
        """`dets` without the weak ones the verifier rejects (or with them marked, `mark_only`),
        plus the faces it saw beside those (merged with any detection of the same face).
        check False: no check here; the weak ones are marked `extras["unchecked"]` (and, until
        checked, `extras["verified"]` False) for the stream's `StreamVerifier`."""
        o = self.options
        weak = dets.scores < o.verify.below
        if not check:
            return replace(dets, extras={**dets.extras, "verified": ~weak, "unchecked": weak})
        keep = ~weak
        if weak.any():
            keep[weak], found = self.verifier(img, dets[weak])
        else:
            found = Detections.empty(6, dets.image_size)
        return apply_verdicts(dets, keep, found, mark_only=o.verify.mark_only, nms_iou=o.nms_iou)

    @property
    def verifier(self) -> FaceVerifier:
        """The second opinion's models (loaded on first use: a stream finder whose verdicts a
        `StreamVerifier` gives never needs them)."""
        with self._verifier_lock:
            if self._verifier is None:
                self._verifier = FaceVerifier(self.options.verify, runtime=self.options.runtime)
            return self._verifier

    def _detect_work(self, img: np.ndarray, phase: int | None) -> Detections:
        o = self.options
        H, W = img.shape[:2]
        parts: list[Detections] = []
        view_ids: list[tuple[int, str]] = []  # per part: which view (id, model) produced it
        # Whole frame, and zoomed out for faces that fill it.
        turns = tuple(m for m in dict.fromkeys(o.whole_turns) if m in o.whole_models)
        for name in o.whole_models:
            if phase is not None and len(turns) > 1 and name in turns and turns[phase % len(turns)] != name:
                continue
            self._run(name, [(img, 0, 0, 1.0)], parts, view_ids, None)
        if o.zoom_out > 1:
            for i, name in enumerate(o.zoom_models):
                if phase is not None and o.zoom_period > 1 and phase % o.zoom_period != i % o.zoom_period:
                    continue
                view = zoomed_out(img, o.zoom_out, MODEL_RANGES[name].size)
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
            anchors = confident_faces(parts, o.confident, o.nms_iou)
            for model in self._crowd_only():
                self._run_tiles(img, model, phase, parts, view_ids, min_score=o.crowd_tile_score,
                                only_near=(anchors, o.crowd_faces, o.crowd_tile_radius))
        if not parts:
            return Detections.empty(6, (W, H))
        raw = Detections.merge(parts, image_size=(W, H))
        views_of = np.concatenate([np.full(len(p), v[0]) for p, v in zip(parts, view_ids)])
        models_of = [v[1] for p, v in zip(parts, view_ids) for _ in range(len(p))]
        crowd_only = np.concatenate([np.full(len(p), i >= n_regular) for i, p in enumerate(parts)])
        keep = plausible(raw, views_of, crowd_only, img.shape[:2], o,
                         lambda i: self._found_in_crop(img, raw.xyxy[i], models_of[i]))
        return raw[keep]

    def _run_tiles(self, img: np.ndarray, model: str, phase: int | None, parts: list[Detections],
                   view_ids: list[tuple[int, str]], min_score: float | None = None,
                   only_near: tuple[np.ndarray, int, float] | None = None) -> None:
        o = self.options
        tiles = self.tiles_for(img.shape[1], img.shape[0], model)
        wide = self._wide(model)
        if phase is None:
            period = 1
        elif wide:
            area = sum(round((t.x1 - t.x0) * t.k) * round((t.y1 - t.y0) * t.k) for t in tiles)
            period = o.tile_period if area > o.full_scan_area else 1
        else:
            period = min(o.tile_period, len(tiles) // o.min_tiles_per_frame)
            if len(tiles) <= o.full_scan_tiles:
                period = 1
        if period > 1:
            key = (img.shape[1], img.shape[0], model, period)
            if key not in self._phase_cache:
                self._phase_cache[key] = tile_phases(tiles, period)
            tiles = [t for t, p in zip(tiles, self._phase_cache[key], strict=True) if p == phase % period]
        if only_near is not None:
            tiles = tiles_near(tiles, *only_near)
        if not tiles:
            return
        views = []
        for t in tiles:
            crop = img[t.y0 : t.y1, t.x0 : t.x1]
            w, h = max(1, round((t.x1 - t.x0) * t.k)), max(1, round((t.y1 - t.y0) * t.k))
            views.append((resized(crop, w, h), t.x0, t.y0, (t.x1 - t.x0) / w))
        self._run(model, views, parts, view_ids, tiles, min_score=min_score, wide=wide)

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
        # One model of each other family, its plain file first ("full": the sparse full-range file).
        # The dense and sparse full-range files rarely disagree on a crop the face fills a third
        # of, and most boxes are rejected, by both: in the first 150 frames of the 14 shared videos
        # the sparse file confirmed 23 of the 24 boxes the pair confirmed (the dense one alone: 1),
        # and asking both cost ~8 ms a frame on the tall clips (benchmarks/RESULTS.md, "One model
        # per family").
        by_family: dict[str, str] = {}
        for m in dict.fromkeys((*self.options.tile_models, *self.options.whole_models)):
            f = family(m)
            if f != family(found_by) and (f not in by_family or m == f):
                by_family[f] = m
        others = list(by_family.values())
        if others and (x0, y0, x1, y1) == (0, 0, W, H) and set(others) <= set(self.options.whole_models):
            # The crop is the whole frame, which these models have already seen as whole-frame views:
            # a detection of theirs on the box would have made it a detection of two views. (Only the
            # resampling would differ; on lp_s18, 720p, these checks cost 20 ms a frame and never
            # found a face. With `whole_turns` one of the full-range files saw it this frame.)
            return False
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

    def _detector(self, name: str, min_score: float | None = None, wide: bool = False
                  ) -> FaceDetector | WideFaceDetector:
        o = self.options
        score = o.min_score if min_score is None else min_score
        key = (name if score == o.min_score else f"{name}@{score}") + (":wide" if wide else "")
        if key not in self._detectors:
            self._detectors[key] = (WideFaceDetector(name, min_score=score, runtime=o.runtime) if wide else
                                    FaceDetector(FaceDetectorOptions(model=name, min_score=score, runtime=o.runtime)))
        return self._detectors[key]

    def _run(self, name: str, views: Sequence[tuple[np.ndarray, float, float, float]], parts: list[Detections],
             view_ids: list[tuple[int, str]], tiles: Sequence[Tile] | None, min_side: float = 0.0,
             min_score: float | None = None, wide: bool = False) -> None:
        detector = self._detector(name, min_score, wide)
        # One call per view: batching these models is no faster on CPU (measured: 24 tiles
        # 2.9 ms/tile looped vs 4.7-5.3 batched), and LiteRT folds a resized batch into
        # the anchor axis of their outputs.
        mirrored = (False, True) if tiles is not None and name in self.options.mirror_tile_models else (False,)
        for i, (img, x0, y0, s) in enumerate(views):
            for mirror in mirrored:
                self._run_view(detector, name, img, mirror, x0, y0, s, parts, view_ids,
                               tiles[i] if tiles is not None else None, min_side)

    def _run_view(self, detector: FaceDetector | WideFaceDetector, name: str, img: np.ndarray, mirror: bool,
                  x0: float, y0: float, s: float, parts: list[Detections], view_ids: list[tuple[int, str]],
                  tile: Tile | None, min_side: float) -> None:
        """Detections of one view (mirrored: the view flipped left-right, boxes flipped back) in
        frame pixels, appended to `parts` with their view id."""
        det = detector.detect(np.ascontiguousarray(img[:, ::-1]) if mirror else img)
        if len(det) == 0:
            return
        boxes, kps = det.xyxy, det.keypoints
        if mirror:
            w = img.shape[1]
            boxes = np.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1)
            kps = kps[:, MIRRORED_KEYPOINTS] * np.array([-1, 1], np.float32) + np.array([w, 0], np.float32)
        boxes = boxes * s + np.array([x0, y0, x0, y0], np.float32)
        kps = kps * s + np.array([x0, y0], np.float32)
        if tile is not None:
            keep = off_inner_edges(boxes, tile)
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
