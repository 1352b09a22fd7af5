"""The two jobs of `facepipe train` on a dataset root: train and export a regressor, evaluate one."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facepipe._fsutil import atomic_write_bytes
from facepipe.apps.trainer.dataset import read_root
from facepipe.apps.trainer.evaluation import EvalResult, evaluate
from facepipe.apps.trainer.export import regressor_onnx
from facepipe.apps.trainer.samples import load_samples
from facepipe.apps.trainer.trainer import TrainOptions, TrainResult, split_by_folder, train
from facepipe.errors import UsageError

__all__ = ["TrainRun", "evaluate_root", "train_blendshapes"]


@dataclass
class TrainRun:
    result: TrainResult
    output: Path
    skipped: dict[str, int]
    network: object  # the PyTorch module of the kept epoch


def train_blendshapes(root: str | os.PathLike[str], output: str | os.PathLike[str],
                      options: TrainOptions | None = None, feature_set: str = "normalized") -> TrainRun:
    """Read ROOT, train, write the ONNX model to OUTPUT atomically."""
    o = options or TrainOptions()
    output = Path(output)
    if output.suffix.lower() != ".onnx":
        raise UsageError(f"{output}: the model is written as ONNX; give a .onnx file name")
    samples = load_samples(read_root(root), feature_set, progress=o.progress)
    extra = None
    if o.teacher_mix:
        from facepipe.apps.trainer.augment import mixed_inputs, teacher_mixes
        from facepipe.solutions.blendshape_regressor import featurizer

        val_mask, val_sets = split_by_folder(samples, o)
        train_lms = [lm for name, lm in zip(samples.folders, samples.landmarks) if name not in val_sets]
        extra = []
        for k in range(o.ensemble):  # every member its own blended faces (seed + k): more people seen
            mixes = teacher_mixes(train_lms, o.teacher_mix, featurizer("normalized"), seed=o.seed + k,
                                  mode=o.mix_mode, mirror=o.mirror)
            extra.append((mixed_inputs(mixes, featurizer(feature_set)), mixes.labels))
    result, net = train(samples, o, extra)
    train_mask = np.isin(samples.group, [samples.folders.index(n) for n in result.train_sets])
    info = {"seed": o.seed, "teacher_mix": o.teacher_mix, "train_sets": list(result.train_sets),
            "val_sets": list(result.val_sets), "best_epoch": result.best_epoch,
            "val_mae": round(result.best_val_mae, 6), "samples": result.samples,
            "hidden": list(o.hidden), "mix_mode": o.mix_mode, "mirror": o.mirror, "loss": o.loss,
            "noise": o.noise, "ensemble": o.ensemble}
    data = regressor_onnx(result.members, result.mean, result.std, feature_set=feature_set,
                          neutral=samples.neutral_mean, label_mean=samples.labels[train_mask].mean(0), info=info)
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(output, data)
    return TrainRun(result, output, samples.skipped, net)


def evaluate_root(root: str | os.PathLike[str], model: str | os.PathLike[str], *, forced_zero=None,
                  progress: bool = False) -> EvalResult:
    """Evaluate the regressor MODEL on every folder of ROOT (each against its own neutral.jpg)."""
    from facepipe.solutions.blendshape_regressor import DEFAULT_FORCED_ZERO, BlendshapeRegressor

    reg = BlendshapeRegressor(model, forced_zero=DEFAULT_FORCED_ZERO if forced_zero is None else forced_zero)
    samples = load_samples(read_root(root), reg.feature_set, progress=progress)
    return evaluate(samples, reg)
