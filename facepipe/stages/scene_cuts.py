"""Hard scene cuts in a stream of frames, from small grayscale thumbnails.

A frame starts a new shot when it is unlike the frame before it in two ways at once:

* in structure: the best correlation between the two thumbnails (a coarse grid of mean luma,
  about `grid` cells across), over small shifts of one against the other, is below
  `max_correlation`. Correlation ignores gain and offset, so lighting changes, fades and
  exposure changes do not count; the shifts let pans and shake through;
* in tone: half the L1 distance of the two luma histograms is above `min_histogram`. A fast
  pan or a zoom changes the structure but keeps the tones; a cut to another place or to a
  close-up changes both.

And it must stay unlike it: the `confirm` frames after it must also differ from the old shot
in both ways, so a flash, a strobe, a muzzle flash or a glitched frame (the old picture comes
back within `confirm` frames) is not a cut. The price is that a cut is known `confirm` frames
late: `SceneCutDetector.push` decides frame i when frame i + confirm arrives.

Featureless frames (luma spread below `flat_std`: black, white, a fade's darkest frames) never
start a shot and are never compared: the shot after them is compared with the last frame with
content before them, so a dip to black between two views of one scene is no cut, and a fade out
of one shot into another is a cut at the new shot's first frame with content.

Cost: a strided sample of about `sample` pixels across, one histogram, one correlation per
shift on a grid of ~32x18 cells: well under 1 ms a frame at 1080p (benchmarks/RESULTS.md,
"Scene cuts").
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["CutDecision", "SceneCutDetector", "SceneCutOptions", "ShotThumb", "check_live_cuts", "shot_thumb", "unlike"]

log = logging.getLogger(__name__)

_BINS = 32


@dataclass(frozen=True)
class SceneCutOptions:
    """sample: pixels across the longer side after striding (the thumbnail and histogram source).
    grid: thumbnail cells across the longer side.
    max_shift: cells the structure comparison shifts one thumbnail against the other (each way).
    max_correlation: best shifted correlation below which two frames differ in structure.
    min_histogram: half the L1 distance of the luma histograms (0..1) above which they differ in tone.
    confirm: frames after a candidate cut that must also differ from the shot before it.
    flat_std: thumbnail luma spread (gray levels) below which a frame is featureless.

    Measured on the 14 test videos (benchmarks/RESULTS.md, "Scene cuts"): within shots the best
    shifted correlation stays >= 0.78 and the histogram distance <= 0.07 (a hand-held zoom, a
    dropped frame); at hamilton's three cuts they are 0.02-0.50 and 0.19-0.37.
    """

    sample: int = 160
    grid: int = 32
    max_shift: int = 2
    max_correlation: float = 0.65
    min_histogram: float = 0.12
    confirm: int = 2
    flat_std: float = 3.0

    def __post_init__(self) -> None:
        if self.grid < 4 or self.sample < self.grid:
            raise ValueError(f"need 4 <= grid <= sample, got grid {self.grid}, sample {self.sample}")
        if self.max_shift < 0 or 2 * self.max_shift >= self.grid // 2:
            raise ValueError(f"max_shift must be in [0, grid/4), got {self.max_shift}")
        if self.confirm < 0:
            raise ValueError(f"confirm must be >= 0 frames, got {self.confirm}")
        if not -1.0 <= self.max_correlation <= 1.0 or not 0.0 <= self.min_histogram <= 1.0:
            raise ValueError(f"max_correlation must be in [-1, 1] and min_histogram in [0, 1], got "
                             f"{self.max_correlation}, {self.min_histogram}")


def check_live_cuts(options: SceneCutOptions | None) -> None:
    """ValueError unless `options` (None: no cuts) decide each frame as it comes (`confirm` 0), as
    `SceneCutDetector.starts_shot` needs."""
    if options is not None and options.confirm != 0:
        raise ValueError(f"scene cuts here are decided frame by frame: confirm must be 0, got {options.confirm}")


@dataclass(frozen=True, eq=False)
class ShotThumb:
    """A frame's summary: cells (h, w) float32 mean luma, hist (_BINS,) float32 summing to 1."""

    cells: np.ndarray
    hist: np.ndarray

    @property
    def flat(self) -> float:
        return float(self.cells.std())


@dataclass(frozen=True)
class CutDecision:
    """index: the frame decided. cut: it is the first frame of a new shot.
    correlation, histogram: how it compared with the shot before (1.0, 0.0 for featureless frames
    and the first frame)."""

    index: int
    cut: bool
    correlation: float = 1.0
    histogram: float = 0.0


def shot_thumb(rgb: np.ndarray, options: SceneCutOptions) -> ShotThumb:
    """The thumbnail and histogram of an (H, W, 3) uint8 RGB (or (H, W) gray) frame."""
    h, w = rgb.shape[:2]
    stride = max(1, max(h, w) // options.sample)
    s = rgb[::stride, ::stride]
    if s.ndim == 3:
        # Integer luma (BT.601 weights / 256) on the sample only: ~15k pixels at any size.
        y = (s[..., 0].astype(np.uint16) * 77 + s[..., 1].astype(np.uint16) * 150
             + s[..., 2].astype(np.uint16) * 29) >> 8
    else:
        y = s.astype(np.uint16)
    hist = np.bincount((y >> 3).ravel(), minlength=_BINS)[:_BINS].astype(np.float32)
    hist /= max(float(hist.sum()), 1.0)
    sh, sw = y.shape
    b = max(1, max(sh, sw) // options.grid)
    gh, gw = max(1, sh // b), max(1, sw // b)
    rows = np.add.reduceat(y[: gh * b, : gw * b], np.arange(0, gh * b, b), axis=0, dtype=np.uint32)
    cells = np.add.reduceat(rows, np.arange(0, gw * b, b), axis=1).astype(np.float32) / float(b * b)
    return ShotThumb(cells, hist)


def _best_correlation(a: np.ndarray, b: np.ndarray, shift: int) -> float:
    """Largest Pearson correlation of `a`'s centre (cut `shift` cells in from each edge) with the
    windows of `b` at every offset within `shift`: one vectorised pass over (2s+1)^2 windows."""
    h, w = a.shape
    if shift and (h <= 2 * shift + 1 or w <= 2 * shift + 1):
        shift = 0
    core = a[shift: h - shift, shift: w - shift].astype(np.float64)
    core = core - core.mean()
    n = core.size
    win = sliding_window_view(b.astype(np.float64), core.shape)  # (2s+1, 2s+1, h', w')
    sums = win.sum(axis=(2, 3))
    sq = np.einsum("ijkl,ijkl->ij", win, win)
    cross = np.einsum("ijkl,kl->ij", win, core)  # sum((win - mean) * core) = sum(win * core): core is centred
    var_b = np.maximum(sq - sums * sums / n, 0.0)
    den = np.sqrt(var_b * float((core * core).sum()))
    corr = np.where(den > 1e-9, cross / np.maximum(den, 1e-9), 0.0)
    return float(corr.max())


def unlike(a: ShotThumb, b: ShotThumb, options: SceneCutOptions) -> tuple[bool, float, float]:
    """(differ in structure and in tone, best shifted correlation, histogram distance)."""
    hist = 0.5 * float(np.abs(a.hist - b.hist).sum())
    if hist <= options.min_histogram:
        return False, 1.0, hist  # same tones: never a cut, whatever the structure (skip the shifts)
    corr = _best_correlation(a.cells, b.cells, options.max_shift) if a.cells.shape == b.cells.shape else -1.0
    return corr < options.max_correlation, corr, hist


class SceneCutDetector:
    """Finds the first frames of new shots in a stream (see the module doc). Holds per-instance state:
    one detector per stream, frames in order.

        cuts = SceneCutDetector()
        for rgb in frames:
            for d in cuts.push(rgb):   # decisions come `confirm` frames late, in frame order
                ...d.index, d.cut
        for d in cuts.flush(): ...
    """

    def __init__(self, options: SceneCutOptions | None = None) -> None:
        self.options = options or SceneCutOptions()
        self._reference: ShotThumb | None = None  # the last frame with content of the current shot
        self._pending: deque[tuple[int, ShotThumb]] = deque()  # undecided frames, oldest first
        self._index = 0

    def reset(self) -> None:
        self._reference = None
        self._pending.clear()
        self._index = 0

    def push(self, rgb: np.ndarray) -> list[CutDecision]:
        """Add the next frame; returns the frames decided now (usually one: frame index - confirm)."""
        self._pending.append((self._index, shot_thumb(rgb, self.options)))
        self._index += 1
        return self._decide(final=False)

    def starts_shot(self, rgb: np.ndarray) -> bool:
        """Add the next frame and say whether it starts a new shot, at once: for callers that must
        decide each frame as it comes (a live recogniser), with `confirm` 0 (no look-ahead: a flash
        counts as a cut, and the frame after it as another)."""
        check_live_cuts(self.options)
        (decision,) = self.push(rgb)
        return decision.cut

    def flush(self) -> list[CutDecision]:
        """Decide every frame still pending (the end of the stream: fewer frames confirm a cut)."""
        return self._decide(final=True)

    def _decide(self, *, final: bool) -> list[CutDecision]:
        o = self.options
        out: list[CutDecision] = []
        while self._pending and (final or len(self._pending) > o.confirm):
            index, thumb = self._pending[0]
            ref = self._reference
            if thumb.flat < o.flat_std:
                self._pending.popleft()
                out.append(CutDecision(index, False))
                continue
            if ref is None:
                self._pending.popleft()
                self._reference = thumb
                out.append(CutDecision(index, False))
                continue
            candidate, corr, hist = unlike(ref, thumb, o)
            cut = candidate
            if cut:
                # The old shot must not come back within `confirm` frames (a flash, a glitch).
                for _, later in list(self._pending)[1: o.confirm + 1]:
                    if later.flat >= o.flat_std and not unlike(ref, later, o)[0]:
                        cut = False
                        break
            self._pending.popleft()
            if cut:
                log.debug("scene cut at frame %d (correlation %.2f, histogram %.2f)", index, corr, hist)
            out.append(CutDecision(index, cut, corr, hist))
            if cut or not candidate:
                # A rejected candidate (a flash) is no reference: the frames after it compare with the shot.
                self._reference = thumb
        return out
