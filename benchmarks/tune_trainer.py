"""Choosing `facepipe train blendshapes` settings on the TRAINING videos only: leave-one-video-out.

Each of bench_trainer.py's 5 training videos is held out in turn; the model is trained on the other 4
(their frames plus faces blended from them, labelled by the teacher) with early stopping on the held-out
video, and scored on it: mean MAE against the teacher's labels (forced-zero blendshapes at 0, as at run
time) and the ratio to predicting the training labels' mean. The evaluation videos of bench_trainer.py
are never read here, so settings picked from this table are not tuned on them.

    python benchmarks/tune_trainer.py --work /tmp/bench_trainer base mix20k transfer wide noise0

Blended faces are cached per fold, mode and seed in WORK/tune/ (they depend only on the folds), or in
WORK/tune/NAME/ with `--root WORK/NAME`: another training root, e.g. one that also lists bench_trainer.py's
photo-people folders (they are never held out: pass the videos as --fold).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import time
from pathlib import Path

import numpy as np

from facepipe.apps.trainer.augment import Mixes, mixed_inputs, teacher_mixes
from facepipe.apps.trainer.dataset import read_root
from facepipe.apps.trainer.samples import load_samples
from facepipe.apps.trainer.trainer import TrainOptions, train
from facepipe.solutions.blendshape_regressor import DEFAULT_FORCED_ZERO, LIVE_LINK_NAMES, featurizer

log = logging.getLogger("tune_trainer")

BASE = TrainOptions(seed=0, num_threads=2, ensemble=1)  # one network per config (RESULTS.md: ensembles)
# name: (options changes, total training samples (frames + blended faces))
CONFIGS: dict[str, tuple[dict, int]] = {
    "base": ({}, 10_000),
    "mix5k": ({}, 5_000),
    "mix20k": ({}, 20_000),
    "transfer": ({"mix_mode": "transfer"}, 10_000),
    "nomirror": ({"mirror": False}, 10_000),
    "transfer20k": ({"mix_mode": "transfer"}, 20_000),
    "wide": ({"hidden": (512, 512)}, 10_000),
    "narrow": ({"hidden": (128, 128)}, 10_000),
    "deep": ({"hidden": (256, 256, 256)}, 10_000),
    "noise0": ({"noise": 0.0}, 10_000),
    "noise02": ({"noise": 0.2}, 10_000),
    "l1": ({"loss": "l1"}, 10_000),
    "mse": ({"loss": "mse"}, 10_000),
    "wd1e-2": ({"weight_decay": 1e-2}, 10_000),
    "ep100": ({"max_epochs": 100}, 10_000),
    "ep60": ({"max_epochs": 60}, 10_000),
    "ep40": ({"max_epochs": 40}, 10_000),
    "transfer_ep100": ({"mix_mode": "transfer", "max_epochs": 100}, 10_000),
}


def fold_mixes(cache: Path, folders, fold: str, mode: str, count: int, mirror: bool) -> Mixes:
    stem = f"mix_{fold}_{mode}" + ("_mirror" if mirror else "")
    for have in sorted(cache.glob(f"{stem}_[0-9]*.npz")):
        if int(have.stem.rsplit("_", 1)[1]) >= count:
            with np.load(have) as z:
                return Mixes(z["landmarks"][:count], z["neutral"][:count], z["sizes"][:count], z["labels"][:count])
    path = cache / f"{stem}_{count}.npz"
    lms = [lm for name, lm in zip(folders.folders, folders.landmarks) if name != fold]
    mixes = teacher_mixes(lms, count, featurizer("normalized"), seed=0, mode=mode, mirror=mirror)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, landmarks=mixes.landmarks, neutral=mixes.neutral, sizes=mixes.sizes, labels=mixes.labels)
    return mixes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("configs", nargs="+", choices=sorted(CONFIGS), metavar="CONFIG", help=", ".join(CONFIGS))
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_trainer"))
    ap.add_argument("--root", type=Path, default=None,
                    help="training dataset root (default WORK/train); e.g. one that adds photo people")
    ap.add_argument("--fold", action="append", dest="folds", default=None,
                    help="a held-out training video (repeat; default: all 5)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    root = args.root or args.work / "train"
    cache = args.work / "tune" if args.root is None else args.work / "tune" / root.name
    samples = load_samples(read_root(root))
    folds = args.folds or list(samples.folders)
    zero = np.isin(np.array(LIVE_LINK_NAMES), np.array(DEFAULT_FORCED_ZERO))
    table = {}
    for name in args.configs:
        changes, total = CONFIGS[name]
        opts = dataclasses.replace(BASE, num_threads=args.threads, **changes)
        maes, ratios = [], []
        t0 = time.perf_counter()
        for fold in folds:
            gi = samples.folders.index(fold)
            n_real = int((samples.group != gi).sum())
            sub = fold_mixes(cache, samples, fold, opts.mix_mode, max(0, total - n_real), opts.mirror)
            extra = (mixed_inputs(sub, featurizer("normalized")), sub.labels)
            res, net = train(samples, dataclasses.replace(opts, val_sets=(fold,)), extra)
            import torch

            val = samples.group == gi
            with torch.no_grad():
                pred = net(torch.from_numpy(samples.features[val])).numpy()
            pred[:, zero] = 0.0
            labels = samples.labels[val]
            mae = float(np.abs(pred - labels).mean())
            mean = np.concatenate([samples.labels[~val], sub.labels]).mean(0)
            base = float(np.abs(labels - mean).mean())
            maes.append(mae)
            ratios.append(base / mae)
            log.info("%s %s: MAE %.4f baseline %.4f (%.2fx), epoch %d", name, fold, mae, base, base / mae,
                     res.best_epoch)
        table[name] = (maes, ratios, time.perf_counter() - t0)
        print(f"| {name} | " + " | ".join(f"{m:.4f}" for m in maes) + f" | {np.mean(maes):.4f} | "
              f"{np.mean(ratios):.2f}x | {table[name][2]:.0f} |", flush=True)
    print(f"\n| config | {' | '.join(folds)} | mean MAE | mean ratio | s |")
    print("| --- | " + " | ".join("---" for _ in folds) + " | --- | --- | --- |")
    for name, (maes, ratios, secs) in table.items():
        print(f"| {name} | " + " | ".join(f"{m:.4f}" for m in maes) + f" | {np.mean(maes):.4f} | "
              f"{np.mean(ratios):.2f}x | {secs:.0f} |")
    print(f"\nload average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
