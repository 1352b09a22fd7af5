"""Charts of `facepipe train`: the loss curve of a training run and a regressor's evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from facepipe.draw.plots import _new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_eval", "plot_loss_curve"]


def plot_loss_curve(train_loss: Sequence[float], val_mae: Sequence[float], best_epoch: int, title: str = "") -> Figure:
    """Training loss and validation MAE per epoch (log scale), the kept epoch marked."""
    fig = _new_figure((7, 4), 100)
    ax = fig.add_subplot(1, 1, 1)
    epochs = np.arange(1, len(train_loss) + 1)
    ax.plot(epochs, train_loss, label="training loss (smooth L1)")
    ax.plot(epochs, val_mae, label="validation MAE")
    ax.axvline(best_epoch, color="0.5", linestyle="--", linewidth=1, label=f"kept: epoch {best_epoch}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.legend()
    ax.set_title(title or "facepipe train blendshapes")
    fig.tight_layout()
    return fig


def plot_eval(names: Sequence[str], mae: np.ndarray, baseline_mae: np.ndarray, yaw_edges: Sequence[float],
              yaw_mae: np.ndarray, yaw_count: np.ndarray, title: str = "") -> Figure:
    """Per-blendshape MAE against the training-mean baseline, and the MAE by |head yaw| bin."""
    fig = _new_figure((12, 7), 100)
    ax = fig.add_subplot(2, 1, 1)
    x = np.arange(len(names))
    ax.bar(x - 0.2, baseline_mae, 0.4, color="0.75", label="training mean")
    ax.bar(x + 0.2, mae, 0.4, color="tab:blue", label="model")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=90, fontsize=7)
    ax.set_ylabel("MAE")
    ax.legend()
    ax.set_title(title or "blendshape regressor: error per blendshape")
    ax2 = fig.add_subplot(2, 1, 2)
    labels = [f"{lo:g}-{hi:g} deg\n(n={n})" for lo, hi, n in zip(yaw_edges[:-1], yaw_edges[1:], yaw_count)]
    ax2.bar(np.arange(len(labels)), np.nan_to_num(yaw_mae), color="tab:orange")
    ax2.set_xticks(np.arange(len(labels)))
    ax2.set_xticklabels(labels, fontsize=8)
    ax2.set_ylabel("mean MAE")
    ax2.set_xlabel("|head yaw|")
    fig.tight_layout()
    return fig
