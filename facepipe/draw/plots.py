"""Matplotlib plots: 3-D landmarks, blendshape bar chart and blendshape timeline.

matplotlib is an optional dependency (`pip install 'facepipe[plot]'`); it is
imported only when a plot is made. Figures are built with matplotlib's
object API on the Agg canvas (no pyplot), so plotting never touches global
backend state and works in threads, scripts and notebooks alike (a returned
Figure displays itself in Jupyter).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facepipe._fsutil import atomic_write
from facepipe.draw.drawing import split_landmarks
from facepipe.draw.styles import BLACK, RED, Color, ConnectionStyle
from facepipe.solutions.blendshapes import BLENDSHAPE_NAMES  # model order, `_neutral` first

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "BLENDSHAPE_NAMES", "plot_landmarks_3d", "plot_blendshapes", "plot_blendshape_timeline",
    "figure_to_rgb", "save_figure",
]

def _matplotlib() -> Any:
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("facepipe plots need matplotlib: pip install 'facepipe[plot]' "
                          "(or pip install matplotlib)") from exc
    return matplotlib, Figure, FigureCanvasAgg


def _new_figure(figsize: tuple[float, float], dpi: float) -> Figure:
    _, Figure, FigureCanvasAgg = _matplotlib()
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)  # attaches itself to fig
    return fig


def _rgb01(color: Color) -> tuple[float, float, float]:
    return tuple(c / 255.0 for c in color)  # type: ignore[return-value]


def _names_for(scores: np.ndarray, names: Sequence[str] | None) -> list[str]:
    n = scores.shape[-1]
    if names is None:
        if n != len(BLENDSHAPE_NAMES):
            raise ValueError(f"{n} blendshape scores but no names; pass names=")
        return list(BLENDSHAPE_NAMES)
    if len(names) != n:
        raise ValueError(f"{len(names)} names for {n} blendshape scores")
    return [str(s) for s in names]


def plot_landmarks_3d(
    landmarks: Any,
    connections: ConnectionStyle | np.ndarray | Sequence[Sequence[int]] | None = None,
    *,
    visibility: Any = None,
    threshold: float = 0.5,
    elevation: float = 10,
    azimuth: float = 10,
    landmark_color: Color = RED,
    connection_color: Color = BLACK,
    point_size: float = 20.0,
    line_width: float = 2.0,
    title: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (6.0, 6.0),
    dpi: float = 100,
) -> Figure:
    """3-D scatter of one landmark set (e.g. pose or hand world landmarks, metres) with its connections.

    Axes follow MediaPipe's plot_landmarks: plotted (x, y, z) = (-z, x, -y), so
    the subject stands upright and faces the viewer at the default view
    (elevation 10, azimuth 10). Landmarks with visibility below `threshold` are
    left out. A ConnectionStyle colours each edge; plain pairs use `connection_color`.
    """
    xyz, vis, pres = split_landmarks(landmarks, visibility)
    if len(xyz) != 1:
        raise ValueError(f"plot_landmarks_3d plots one landmark set, got {len(xyz)}")
    pts = xyz[0]
    keep = np.isfinite(pts).all(1)
    for v in (vis, pres):
        if v is not None:
            keep &= ~(v[0] < threshold)
    plotted = np.stack([-pts[:, 2], pts[:, 0], -pts[:, 1]], axis=1)

    if ax is None:
        fig = _new_figure(figsize, dpi)
        ax = fig.add_subplot(projection="3d")
    else:
        fig = ax.figure
    ax.view_init(elev=elevation, azim=azimuth)
    ax.scatter(plotted[keep, 0], plotted[keep, 1], plotted[keep, 2], color=_rgb01(landmark_color),
               s=point_size, depthshade=False)
    if connections is not None:
        from mpl_toolkits.mplot3d.art3d import Line3DCollection

        if isinstance(connections, ConnectionStyle):
            edges, colors = connections.edges, connections.colors / 255.0
        else:
            from facepipe.draw.connections import as_edges

            edges = as_edges(connections)
            colors = np.tile(_rgb01(connection_color), (len(edges), 1))
        if len(edges) and (edges.min() < 0 or edges.max() >= len(pts)):
            raise ValueError(f"a connection index is out of range for {len(pts)} landmarks")
        ok = keep[edges[:, 0]] & keep[edges[:, 1]]
        ax.add_collection3d(Line3DCollection(plotted[edges[ok]], colors=colors[ok], linewidths=line_width))
    if keep.any():  # equal scale on all axes, or a body looks squashed
        lo, hi = plotted[keep].min(0), plotted[keep].max(0)
        centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-6) * 1.1
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_zlim(centre[2] - half, centre[2] + half)
        ax.set_box_aspect((1, 1, 1))
    ax.set_xlabel("-z")
    ax.set_ylabel("x")
    ax.set_zlabel("-y")
    if title:
        ax.set_title(title)
    return fig


def plot_blendshapes(
    scores: Any,
    names: Sequence[str] | None = None,
    *,
    sort: bool = True,
    top_k: int | None = None,
    title: str | None = "Blendshapes",
    ax: Axes | None = None,
    figsize: tuple[float, float] = (6.0, 10.0),
    dpi: float = 100,
) -> Figure:
    """Horizontal bar chart of one face's blendshape scores (52 in model order by default).

    sort=True puts the strongest on top; top_k keeps only the k strongest (after sorting).
    """
    s = np.asarray(scores, np.float64).reshape(-1)
    labels = _names_for(s, names)
    order = np.argsort(-s, kind="stable") if sort else np.arange(len(s))
    if top_k is not None:
        order = order[:top_k]
    if ax is None:
        fig = _new_figure(figsize, dpi)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    y = np.arange(len(order))
    bars = ax.barh(y, s[order], color="tab:blue")
    ax.set_yticks(y, [labels[i] for i in order], fontsize=7)
    ax.invert_yaxis()  # first entry on top
    ax.set_xlim(0, 1)
    ax.set_xlabel("score")
    for bar, v in zip(bars, s[order], strict=True):
        ax.text(min(v, 1.0) + 0.01, bar.get_y() + bar.get_height() / 2, f"{v:.2f}", va="center", fontsize=6)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_blendshape_timeline(
    scores: Any,
    names: Sequence[str] | None = None,
    *,
    times: Any = None,
    fps: float | None = None,
    top_k: int = 8,
    kind: str = "lines",
    title: str | None = "Blendshapes over time",
    ax: Axes | None = None,
    figsize: tuple[float, float] = (10.0, 4.0),
    dpi: float = 100,
) -> Figure:
    """Per-frame blendshape scores of one face, (T, 52); NaN rows mark frames without a face.

    kind="lines": the `top_k` blendshapes with the largest range over the video,
    one line each. kind="heatmap": all blendshapes as rows of an image.
    The x axis is seconds when `times` (seconds per frame) or `fps` is given, else frames.
    """
    s = np.asarray(scores, np.float64)
    if s.ndim != 2:
        raise ValueError(f"timeline scores must be (T, K), got shape {s.shape}")
    labels = _names_for(s, names)
    if times is not None:
        t = np.asarray(times, np.float64).reshape(-1)
        if len(t) != len(s):
            raise ValueError(f"{len(t)} times for {len(s)} frames")
        xlabel = "time (s)"
    elif fps:
        t, xlabel = np.arange(len(s)) / float(fps), "time (s)"
    else:
        t, xlabel = np.arange(len(s), dtype=np.float64), "frame"
    if ax is None:
        fig = _new_figure(figsize, dpi)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    if kind == "lines":
        nan = np.isnan(s)
        # Frames without a face are NaN: rank by the range over the frames that have one.
        spread = (np.where(nan, -np.inf, s).max(0, initial=-np.inf)
                  - np.where(nan, np.inf, s).min(0, initial=np.inf))
        chosen = np.argsort(-spread, kind="stable")[:top_k]
        for k in chosen:
            ax.plot(t, s[:, k], label=labels[k], linewidth=1.2)
        ax.set_ylim(0, 1)
        ax.set_ylabel("score")
        if len(chosen):
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    elif kind == "heatmap":
        extent = (float(t[0]), float(t[-1]) if len(t) > 1 else float(t[0]) + 1, len(labels) - 0.5, -0.5) \
            if len(t) else None
        ax.imshow(s.T, aspect="auto", vmin=0, vmax=1, cmap="viridis", interpolation="nearest", extent=extent)
        ax.set_yticks(np.arange(len(labels)), labels, fontsize=5)
    else:
        raise ValueError(f"kind must be 'lines' or 'heatmap', got {kind!r}")
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def figure_to_rgb(fig: Figure) -> np.ndarray:
    """Render a figure to an (H, W, 3) uint8 RGB array."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[:, :, :3].copy()


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: float | None = None) -> Path:
    """Write a figure (format from the suffix, e.g. .png/.svg/.pdf) atomically: temp file, then rename."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_write(path) as fh:
        fig.savefig(fh, format=fmt, dpi=dpi if dpi is not None else fig.dpi)
    return path
