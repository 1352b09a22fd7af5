"""Plots on real MediaPipe outputs (tests/goldens): 3-D pose, blendshape bars, blendshape timeline."""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest
from goldens_util import golden_inputs, load_golden

pytest.importorskip("matplotlib")

from facepipe.draw import connections as conn  # noqa: E402
from facepipe.draw import plots  # noqa: E402
from facepipe.draw import styles as st  # noqa: E402


def _png_size(path) -> tuple[int, int]:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None
    assert img.std() > 5  # something was drawn
    return img.shape[1], img.shape[0]


def test_pose_world_landmarks_3d(tmp_path) -> None:
    g = load_golden("pose", golden_inputs("pose")[0])
    world = g["world_landmarks"][0]  # (33, 4): x, y, z, visibility
    fig = plots.plot_landmarks_3d(world, conn.POSE_CONNECTIONS, elevation=15, azimuth=-60, figsize=(5, 4),
                                  dpi=80)
    ax = fig.axes[0]
    assert (ax.elev, ax.azim) == (15, -60)
    vis = world[:, 3] >= 0.5
    # MediaPipe's axes: plotted (x, y, z) = (-z, x, -y); only visible points.
    xs, ys, zs = ax.collections[0]._offsets3d
    np.testing.assert_allclose(np.asarray(xs), -world[vis, 2], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ys), world[vis, 0], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(zs), -world[vis, 1], rtol=1e-6)
    edges = conn.POSE_CONNECTIONS
    expected_edges = int((vis[edges[:, 0]] & vis[edges[:, 1]]).sum())
    segments = np.asarray(ax.collections[1]._segments3d)  # (E, 2, 3) in plotted axes
    assert len(segments) == expected_edges > 20
    first = edges[vis[edges[:, 0]] & vis[edges[:, 1]]][0]
    np.testing.assert_allclose(segments[0, 1], [-world[first[1], 2], world[first[1], 0], -world[first[1], 1]],
                               rtol=1e-6)
    out = plots.save_figure(fig, tmp_path / "pose3d.png")
    assert _png_size(out) == (400, 320)


def test_hand_3d_uses_the_style_colours() -> None:
    g = load_golden("hands_full", golden_inputs("hands_full")[0])
    fig = plots.plot_landmarks_3d(g["world_landmarks"][0], st.hand_connections_style())
    colours = fig.axes[0].collections[1].get_colors()
    assert len(colours) == 21
    assert len({tuple(np.round(c, 3)) for c in colours}) == 6  # palm + five fingers
    with pytest.raises(ValueError, match="out of range"):
        plots.plot_landmarks_3d(g["world_landmarks"][0], conn.POSE_CONNECTIONS)


def test_blendshape_bar_chart(tmp_path) -> None:
    g = load_golden("face_landmarker", "expressions/happy/if_happy.png")
    assert tuple(g["blendshape_names"]) == plots.BLENDSHAPE_NAMES  # our names = MediaPipe's, same order
    scores = g["blendshapes"][0]
    fig = plots.plot_blendshapes(scores, figsize=(6, 9), dpi=100)
    ax = fig.axes[0]
    widths = np.array([p.get_width() for p in ax.patches])
    assert len(widths) == 52
    assert np.all(np.diff(widths) <= 0)  # strongest first
    np.testing.assert_allclose(widths, np.sort(scores)[::-1], rtol=1e-6)
    top = [t.get_text() for t in ax.get_yticklabels()][0]
    assert top == plots.BLENDSHAPE_NAMES[int(np.argmax(scores))]
    assert top.startswith("mouthSmile")  # a happy face
    assert _png_size(plots.save_figure(fig, tmp_path / "bs.png")) == (600, 900)

    model_order = plots.plot_blendshapes(scores, sort=False).axes[0]
    assert [t.get_text() for t in model_order.get_yticklabels()] == list(plots.BLENDSHAPE_NAMES)
    assert len(plots.plot_blendshapes(scores, top_k=10).axes[0].patches) == 10
    with pytest.raises(ValueError, match="names"):
        plots.plot_blendshapes(scores[:10])


def test_blendshape_timeline_of_a_video() -> None:
    g = load_golden("face_landmarker_video", golden_inputs("face_landmarker_video")[0])
    scores = g["blendshapes"][:, 0, :].astype(np.float64)  # (F, 52), first face
    scores[~g["present"]] = np.nan
    scores[3] = np.nan  # a frame without a face must not break the plot
    t = g["timestamps_ms"] / 1000.0
    fig = plots.plot_blendshape_timeline(scores, times=t, top_k=5)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 5
    np.testing.assert_allclose(lines[0].get_xdata(), t)
    # The lines are the blendshapes that move most.
    spread = np.nanmax(scores, 0) - np.nanmin(scores, 0)
    expected = {plots.BLENDSHAPE_NAMES[i] for i in np.argsort(-spread)[:5]}
    assert {ln.get_label() for ln in lines} == expected
    heat = plots.plot_blendshape_timeline(scores, fps=30, kind="heatmap")
    assert heat.axes[0].images[0].get_array().shape == (52, len(scores))
    rgb = plots.figure_to_rgb(heat)
    assert rgb.shape == (400, 1000, 3) and rgb.dtype == np.uint8
    with pytest.raises(ValueError, match="kind"):
        plots.plot_blendshape_timeline(scores, kind="pie")


def test_missing_matplotlib_is_a_clear_error(monkeypatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(ImportError, match=r"facepipe\[plot\]"):
        plots.plot_blendshapes(np.zeros(52))
