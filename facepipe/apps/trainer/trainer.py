"""`facepipe train blendshapes`: a small MLP from feature offsets to the 52 blendshapes, in PyTorch.

PyTorch is an optional extra (`pip install 'facepipe[train]'`) and is imported
only here; the trained network is exported to ONNX (export.py) and runs on
onnxruntime. Deterministic for a seed: one fixed thread count, seeded shuffles
and initialisation, deterministic kernels. The validation set is whole dataset
folders (people/recordings), never frames of a training folder: neighbouring
frames are near copies and would make the validation loss meaningless.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from facepipe.apps.trainer.samples import Samples
from facepipe.errors import FacepipeError, UsageError
from facepipe.jobs import Progress

log = logging.getLogger(__name__)

__all__ = ["TrainOptions", "TrainResult", "import_torch", "split_by_folder", "train"]


def import_torch():
    try:
        import torch
    except ImportError:
        raise FacepipeError("training needs PyTorch: pip install 'facepipe[train]' (CPU: pip install torch)") from None
    return torch


LOSSES = ("smooth_l1", "l1", "mse")


def _loss(torch, name: str):
    f = torch.nn.functional
    if name == "l1":
        return f.l1_loss
    if name == "mse":
        return f.mse_loss
    return lambda pred, target: f.smooth_l1_loss(pred, target, beta=0.02)


@dataclass(frozen=True)
class TrainOptions:
    """hidden: widths of the hidden layers; max_epochs / patience: early stopping on the validation MAE;
    val_sets: folder names held out for validation (default: val_fraction of the folders, at least one,
    picked with the seed); noise: std of Gaussian noise added to the training features (in units of
    each feature's std), against over-fitting few people; teacher_mix: blended faces added to the
    training set (augment.py; only for datasets labelled by the Tasks model), `mix_mode` and `mirror` say
    how they are made (augment.teacher_mixes); ensemble: networks trained
    with seeds seed, seed+1, ... (each with its own early stopping), whose outputs the model averages."""

    seed: int = 0
    hidden: tuple[int, ...] = (256, 256)
    max_epochs: int = 300
    patience: int = 25
    batch_size: int = 256
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    noise: float = 0.05
    val_sets: tuple[str, ...] = ()
    val_fraction: float = 0.2
    num_threads: int = 1
    teacher_mix: int = 0
    mix_mode: str = "transfer"
    mirror: bool = True
    loss: str = "smooth_l1"
    ensemble: int = 1
    progress: bool = False

    def __post_init__(self) -> None:
        checks = [
            (self.max_epochs >= 1, f"max epochs must be >= 1, got {self.max_epochs}"),
            (self.patience >= 1, f"patience must be >= 1, got {self.patience}"),
            (self.batch_size >= 1, f"batch size must be >= 1, got {self.batch_size}"),
            (self.learning_rate > 0, f"learning rate must be > 0, got {self.learning_rate}"),
            (self.weight_decay >= 0, f"weight decay must be >= 0, got {self.weight_decay}"),
            (self.noise >= 0, f"noise must be >= 0, got {self.noise}"),
            (0 < self.val_fraction < 1, f"validation fraction must be in (0, 1), got {self.val_fraction}"),
            (self.num_threads >= 1, f"threads must be >= 1, got {self.num_threads}"),
            (self.teacher_mix >= 0, f"teacher mix count must be >= 0, got {self.teacher_mix}"),
            (self.mix_mode in ("blend", "transfer", "transfer-all"),
             f"mix mode must be blend, transfer or transfer-all, got {self.mix_mode!r}"),
            (self.loss in LOSSES, f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}"),
            (len(self.hidden) >= 1 and min(self.hidden) >= 1, f"hidden layer widths must be >= 1: {self.hidden}"),
            (self.ensemble >= 1, f"ensemble size must be >= 1, got {self.ensemble}"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message)


@dataclass
class TrainResult:
    """layers: [(W (out,in), b (out,))...] float32 of the (first) network; members: every network's layers
    (an ensemble; members[0] is layers); mean/std: the input standardisation (shared); best_val_mae: the
    model's (the ensemble's average); history, best_epoch: per epoch train loss, validation MAE of the
    first network."""

    layers: list[tuple[np.ndarray, np.ndarray]]
    mean: np.ndarray
    std: np.ndarray
    train_sets: tuple[str, ...]
    val_sets: tuple[str, ...]
    best_epoch: int
    best_val_mae: float
    seconds: float
    samples: int
    history: dict[str, list[float]] = field(default_factory=dict)
    members: list[list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=list)


def split_by_folder(samples: Samples, options: TrainOptions) -> tuple[np.ndarray, tuple[str, ...]]:
    """(validation mask, validation folder names)."""
    names = samples.folders
    if options.val_sets:
        unknown = sorted(set(options.val_sets) - set(names))
        if unknown:
            raise UsageError(f"validation sets not in the dataset: {', '.join(unknown)} (it has {', '.join(names)})")
        val = tuple(options.val_sets)
    else:
        if len(names) < 2:
            raise UsageError("a validation split by folder needs at least 2 dataset folders in sets.txt")
        k = max(1, round(options.val_fraction * len(names)))
        order = np.random.default_rng(options.seed).permutation(len(names))
        val = tuple(names[i] for i in sorted(order[:k]))
    if len(val) == len(names):
        raise UsageError("every dataset folder is in the validation set; nothing is left to train on")
    mask = np.isin(samples.group, [names.index(v) for v in val])
    return mask, val


def build_network(torch, num_inputs: int, hidden: Sequence[int], num_outputs: int, mean: np.ndarray,
                  std: np.ndarray):
    """Standardisation, then Linear+ReLU hidden layers, then Linear+Sigmoid (scores in [0, 1])."""
    nn = torch.nn

    class Regressor(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.from_numpy(mean.astype(np.float32)))
            self.register_buffer("inv_std", torch.from_numpy((1.0 / std).astype(np.float32)))
            widths = [num_inputs, *hidden]
            self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
            self.out = nn.Linear(widths[-1], num_outputs)

        def forward(self, x):
            x = (x - self.mean) * self.inv_std
            for layer in self.hidden:
                x = torch.relu(layer(x))
            return torch.sigmoid(self.out(x))

    return Regressor()


def network_layers(net) -> list[tuple[np.ndarray, np.ndarray]]:
    mods = [*net.hidden, net.out]
    return [(m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy()) for m in mods]


def build_ensemble(torch, networks):
    """The mean of the networks' outputs (what the exported ONNX model computes)."""

    class Ensemble(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.members = torch.nn.ModuleList(networks)

        def forward(self, x):
            return torch.stack([m(x) for m in self.members]).mean(0)

    return Ensemble()


Extra = tuple[np.ndarray, np.ndarray]


def train(samples: Samples, options: TrainOptions | None = None,
          extra: Extra | list[Extra | None] | None = None) -> tuple[TrainResult, object]:
    """Train on `samples` (plus `extra` (inputs, labels) in the training part only; a list: one per ensemble
    member, e.g. each its own blended faces); returns the result (weights as numpy) and the PyTorch
    module of the best epoch (the ensemble's average if options.ensemble > 1). Every member uses the
    first member's input standardisation."""
    o = options or TrainOptions()
    extras = extra if isinstance(extra, list) else [extra] * o.ensemble
    if len(extras) != o.ensemble:
        raise UsageError(f"{len(extras)} sets of extra samples for an ensemble of {o.ensemble}")
    torch = import_torch()
    torch.use_deterministic_algorithms(True)
    threads = torch.get_num_threads()
    torch.set_num_threads(o.num_threads)
    try:
        runs: list[tuple[TrainResult, object]] = []
        for k in range(o.ensemble):
            torch.manual_seed(o.seed + k)
            norm = (runs[0][0].mean, runs[0][0].std) if runs else None
            runs.append(_train(torch, samples, dataclasses.replace(o, seed=o.seed + k), extras[k], norm))
    finally:
        torch.set_num_threads(threads)
    result, net = runs[0]
    if o.ensemble == 1:
        return dataclasses.replace(result, members=[result.layers]), net
    net = build_ensemble(torch, [n for _, n in runs])
    net.eval()
    val_mask, _ = split_by_folder(samples, o)
    with torch.no_grad():
        val_mae = float((net(torch.from_numpy(samples.features[val_mask])) - torch.from_numpy(
            samples.labels[val_mask])).abs().mean())
    log.info("ensemble of %d: validation MAE %.4f (members %s)", o.ensemble, val_mae,
             ", ".join(f"{r.best_val_mae:.4f}" for r, _ in runs))
    return dataclasses.replace(result, best_val_mae=val_mae, seconds=sum(r.seconds for r, _ in runs),
                               members=[r.layers for r, _ in runs]), net


def _train(torch, samples: Samples, o: TrainOptions, extra, norm=None) -> tuple[TrainResult, object]:
    start = time.perf_counter()
    val_mask, val_sets = split_by_folder(samples, o)
    train_s, val_s = samples.take(~val_mask), samples.take(val_mask)
    train_sets = tuple(n for n in samples.folders if n not in val_sets)
    if len(train_s) == 0 or len(val_s) == 0:
        raise UsageError("the folder split left no training or no validation samples")
    x_np, y_np = train_s.features, train_s.labels
    if extra is not None and len(extra[0]):
        x_np, y_np = np.concatenate([x_np, extra[0]]), np.concatenate([y_np, extra[1]])
    mean, std = norm if norm is not None else (x_np.mean(0), np.maximum(x_np.std(0), 1e-4))
    net = build_network(torch, x_np.shape[1], o.hidden, y_np.shape[1], mean, std)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    xv, yv = torch.from_numpy(val_s.features), torch.from_numpy(val_s.labels)
    noise_scale = torch.from_numpy((o.noise * std).astype(np.float32))
    opt = torch.optim.AdamW(net.parameters(), lr=o.learning_rate, weight_decay=o.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=o.max_epochs, eta_min=o.learning_rate * 0.05)
    gen = torch.Generator().manual_seed(o.seed)
    loss_fn = _loss(torch, o.loss)
    history: dict[str, list[float]] = {"train_loss": [], "val_mae": []}
    best, best_epoch, best_state = float("inf"), -1, None
    with Progress(o.max_epochs, "train", enabled=o.progress, unit="epoch") as bar:
        for epoch in range(o.max_epochs):
            net.train()
            perm = torch.randperm(len(x), generator=gen)
            total = 0.0
            for i in range(0, len(x), o.batch_size):
                idx = perm[i : i + o.batch_size]
                xb = x[idx]
                if o.noise > 0:
                    xb = xb + torch.randn(xb.shape, generator=gen) * noise_scale
                loss = loss_fn(net(xb), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            sched.step()
            net.eval()
            with torch.no_grad():
                val_mae = float((net(xv) - yv).abs().mean())
            history["train_loss"].append(total / len(x))
            history["val_mae"].append(val_mae)
            bar.update()
            if val_mae < best - 1e-6:
                best, best_epoch = val_mae, epoch
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
            elif epoch - best_epoch >= o.patience:
                log.info("early stop at epoch %d: best validation MAE %.4f at epoch %d", epoch + 1, best,
                         best_epoch + 1)
                break
    net.load_state_dict(best_state)
    net.eval()
    result = TrainResult(network_layers(net), mean.astype(np.float32), std.astype(np.float32), train_sets, val_sets,
                         best_epoch + 1, best, time.perf_counter() - start, len(x_np), history)
    return result, net
