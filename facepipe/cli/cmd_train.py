"""`facepipe train make-dataset|blendshapes|eval`: your own landmarks -> ARKit blendshapes regressor.

  facepipe train make-dataset clip.mp4 -o data/alice        # data/sets.txt, data/alice/...
  facepipe train blendshapes data -o model.onnx --teacher-mix 8000   # model.onnx + model.loss.png
  facepipe train eval heldout model.onnx                    # table, heldout.eval.json, heldout.eval.png
  facepipe analyze clip.mp4 --blendshapes model.onnx        # use it instead of the Tasks blendshape model

Dataset layout (the seed's): ROOT/sets.txt lists folders; each folder NAME has neutral.jpg,
NAME.csv (the 52 ARKit names in Live Link Face order, one row per image, 0..1) and NAME_000000.jpg, ...
Training needs PyTorch: pip install 'facepipe[train]'. Running a trained model does not.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from facepipe.cli._help import HelpFormatter
from facepipe.cli._options import add_max_frames, add_num_threads, add_progress, float_range, int_range
from facepipe.errors import UsageError

log = logging.getLogger("facepipe")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="make datasets, train and evaluate a landmarks -> blendshapes regressor",
                              description=__doc__, formatter_class=HelpFormatter)
    sub = p.add_subparsers(dest="train_command", metavar="ACTION", required=True)

    q = sub.add_parser("make-dataset", help="footage -> a dataset folder labelled by the Tasks blendshape model",
                       formatter_class=HelpFormatter,
                       description="Write ROOT/NAME in the seed layout from a video or a folder of images "
                       "and add NAME to ROOT/sets.txt. Frames without a face are skipped and counted.")
    q.add_argument("input", type=Path, metavar="VIDEO|DIR", help="a video, or a folder of images (name order)")
    q.add_argument("-o", "--output", type=Path, required=True, metavar="ROOT/NAME", help="new dataset folder")
    q.add_argument("--neutral", type=Path, default=None, metavar="FILE",
                   help="image of the neutral face (default: the least expressive, most frontal frame)")
    q.add_argument("--live-link", type=Path, default=None, metavar="CSV",
                   help="labels from this Live Link Face CSV (matched by timecode) instead of the Tasks model")
    q.add_argument("--live-link-offset", type=float, default=0.0, metavar="S",
                   help="video time (s) of the CSV's first row")
    q.add_argument("--timecode-fps", type=float_range(0, 1000, above=True), default=60.0,
                   help="frame rate of the CSV's timecodes")
    q.add_argument("--every", type=int_range(1), default=1, metavar="N", help="keep every N-th frame")
    add_max_frames(q)
    add_progress(q)
    q.set_defaults(func=_make_dataset)

    q = sub.add_parser("blendshapes", help="train a regressor on ROOT and export it as ONNX",
                       formatter_class=HelpFormatter,
                       description="Train on the folders of ROOT/sets.txt; whole folders are held out for "
                       "validation and early stopping. Writes the ONNX model and a loss-curve PNG beside it.")
    q.add_argument("root", type=Path, metavar="ROOT")
    q.add_argument("-o", "--output", type=Path, required=True, metavar="MODEL.onnx")
    q.add_argument("--seed", type=int, default=0, help="same seed, same data: the same model, byte for byte")
    q.add_argument("--epochs", type=int_range(1, 100000), default=300, help="most epochs")
    q.add_argument("--patience", type=int_range(1, 100000), default=25,
                   help="stop after this many epochs without a better validation MAE")
    q.add_argument("--batch-size", type=int_range(1, 1 << 20), default=256)
    q.add_argument("--learning-rate", type=float_range(0, 1, above=True), default=2e-3)
    q.add_argument("--hidden", type=int_range(1, 4096), nargs="+", default=[256, 256], metavar="W",
                   help="hidden layer widths")
    q.add_argument("--val-sets", nargs="+", default=None, metavar="NAME", help="folders held out for validation")
    q.add_argument("--val-fraction", type=float_range(0, 1, above=True), default=0.2,
                   help="share of the folders held out (when --val-sets is not given)")
    q.add_argument("--teacher-mix", type=int_range(0, 10_000_000), default=0, metavar="N",
                   help="add N faces blended from pairs of training people, labelled by the Tasks blendshape "
                   "model (much better on unseen people; only for datasets labelled by that model, not Live "
                   "Link Face)")
    q.add_argument("--mix-mode", choices=("blend", "transfer", "transfer-all"), default="transfer",
                   help="teacher mix: blend two frames of two people, or blend two people's neutral faces and "
                   "put a third frame's expression on the new face, or the same with every person's neutral "
                   "face blended with random weights")
    q.add_argument("--no-mirror", dest="mirror", action="store_false",
                   help="teacher mix: do not also mix the training faces' mirror images (flipped left-right)")
    q.add_argument("--noise", type=float_range(0, 10), default=0.05,
                   help="Gaussian input noise, in units of each feature's std")
    q.add_argument("--loss", choices=("smooth_l1", "l1", "mse"), default="smooth_l1")
    q.add_argument("--ensemble", type=int_range(1, 64), default=1, metavar="K",
                   help="train K networks (seeds SEED..SEED+K-1) and average their outputs: steadier on unseen "
                   "people, K times the training time")
    q.add_argument("--features", choices=("normalized", "raw"), default="normalized",
                   help="pose-free patch features, or raw landmarks (ablation)")
    q.add_argument("--loss-plot", type=Path, default=None, metavar="PNG",
                   help="loss curve (default: MODEL.loss.png; needs matplotlib)")
    add_progress(q)
    add_num_threads(q)
    q.set_defaults(func=_train)

    q = sub.add_parser("eval", help="per-blendshape error and correlation of a regressor on ROOT",
                       formatter_class=HelpFormatter,
                       description="Compare a regressor with the labels of ROOT's folders (each face against "
                       "its folder's neutral.jpg): MAE and correlation per blendshape, the training-mean "
                       "baseline, and the error by head-yaw bin.")
    q.add_argument("root", type=Path, metavar="ROOT")
    q.add_argument("model", type=Path, metavar="MODEL.onnx")
    q.add_argument("-o", "--output", type=Path, default=None, metavar="JSON",
                   help="report (default: ROOT.eval.json beside ROOT)")
    q.add_argument("--chart", type=Path, default=None, metavar="PNG", help="chart (default: the report's .png)")
    q.add_argument("--forced-zero", nargs="*", default=None, metavar="NAME",
                   help="blendshapes reported as 0 (default: jawForward jawRight jawLeft mouthDimpleRight "
                   "mouthDimpleLeft cheekPuff tongueOut)")
    add_progress(q)
    q.set_defaults(func=_eval)


def _progress(args: argparse.Namespace) -> bool:
    return args.progress if args.progress is not None else not args.quiet


def _make_dataset(args: argparse.Namespace) -> int:
    from facepipe.apps.trainer.make_dataset import MakeDatasetOptions, make_dataset

    options = MakeDatasetOptions(every=args.every, max_frames=args.max_frames, neutral=args.neutral,
                                 live_link=args.live_link, live_link_offset_s=args.live_link_offset,
                                 timecode_fps=args.timecode_fps, progress=_progress(args))
    r = make_dataset(args.input, args.output, options)
    extra = f", {r.unlabelled} without a Live Link row" if args.live_link else ""
    log.warning("%s: %d images from %d frames (%d without a face skipped%s); neutral: %s", r.folder, r.images,
                r.frames, r.no_face, extra, r.neutral_from)
    return 0


def _train(args: argparse.Namespace) -> int:
    from facepipe.apps.trainer.run import train_blendshapes
    from facepipe.apps.trainer.trainer import TrainOptions

    options = TrainOptions(seed=args.seed, hidden=tuple(args.hidden), max_epochs=args.epochs,
                           patience=args.patience, batch_size=args.batch_size, learning_rate=args.learning_rate,
                           val_sets=tuple(args.val_sets or ()), val_fraction=args.val_fraction,
                           num_threads=args.num_threads or 1, teacher_mix=args.teacher_mix,
                           mix_mode=args.mix_mode, mirror=args.mirror, noise=args.noise,
                           loss=args.loss, ensemble=args.ensemble, progress=_progress(args))
    run = train_blendshapes(args.root, args.output, options, args.features)
    r = run.result
    log.warning("%s: %d training samples (%s), validation %s: MAE %.4f at epoch %d of %d, %.1f s",
                run.output, r.samples, ", ".join(r.train_sets), ", ".join(r.val_sets), r.best_val_mae,
                r.best_epoch, len(r.history["val_mae"]), r.seconds)
    for name, n in run.skipped.items():
        log.warning("%s: %d images without a face were skipped", name, n)
    plot = args.loss_plot or args.output.with_suffix(".loss.png")
    if _have_matplotlib(plot):
        from facepipe.draw.plots import save_figure
        from facepipe.draw.training_plots import plot_loss_curve

        save_figure(plot_loss_curve(r.history["train_loss"], r.history["val_mae"], r.best_epoch), plot)
    return 0


def _have_matplotlib(what: Path) -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        log.warning("%s not written: charts need matplotlib (pip install 'facepipe[plot]')", what)
        return False
    return True


def _eval(args: argparse.Namespace) -> int:
    from facepipe._fsutil import atomic_write_bytes
    from facepipe.apps.trainer.run import evaluate_root

    root = args.root
    report = args.output or root.resolve().parent / f"{root.resolve().name}.eval.json"
    if report.suffix.lower() != ".json":
        raise UsageError(f"{report}: the report is JSON; give a .json file name")
    res = evaluate_root(root, args.model, forced_zero=args.forced_zero, progress=_progress(args))
    rows = sorted(zip(res.names, res.mae, res.corr, res.baseline_mae), key=lambda t: -t[1])
    if not args.quiet:
        lines = [f"{'blendshape':<22}{'MAE':>8}{'corr':>8}{'mean-pred MAE':>15}"]
        lines += [f"{n:<22}{m:8.4f}{c:8.3f}{b:15.4f}" for n, m, c, b in rows]
        lines.append(f"{'mean':<22}{res.mean_mae:8.4f}{'':>8}{res.mean_baseline_mae:15.4f}   "
                     f"({res.improvement:.1f}x better than predicting the training mean; {res.samples} samples)")
        lines += [f"|yaw| {lo:>4g}-{hi:<4g} deg: {n:6d} samples, mean MAE {m:.4f}"
                  for lo, hi, n, m in zip(res.yaw_edges[:-1], res.yaw_edges[1:], res.yaw_count, res.yaw_mae)]
        sys.stdout.write("\n".join(lines) + "\n")
    atomic_write_bytes(report, (json.dumps(res.to_dict(), indent=1) + "\n").encode("utf-8"))
    chart = args.chart or report.with_suffix(".png")
    if _have_matplotlib(chart):
        from facepipe.draw.plots import save_figure
        from facepipe.draw.training_plots import plot_eval

        save_figure(plot_eval(res.names, res.mae, res.baseline_mae, res.yaw_edges, res.yaw_mae, res.yaw_count,
                              title=f"{args.model.name} on {root.name}: mean MAE {res.mean_mae:.4f}"), chart)
    log.info("report: %s, chart: %s", report, chart)
    return 0
