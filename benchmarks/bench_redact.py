"""CPU time of the redaction alone (`Redactor`), a frame at a time, on real frames with the regions the
anonymizer gives them; optionally against another tree's redact.py in the same process, with a check that
both redact every frame byte for byte alike.

The regions come from the anonymizer's own finder and tracker (`OfflineAnonymizer`, default options) run once
over the first `--frames` frames of each video (or a photo's detection); then only redaction is timed, in
place, on fresh copies of the frames (as the anonymize graph's in-place node sees them: not just read), with
cv2.setNumThreads(1), as the command runs. The two implementations alternate round by round; the table gives
the median CPU ms a frame (process time) and the 1-minute load average (the machine may be shared).

    python benchmarks/bench_redact.py                                   # this tree
    python benchmarks/bench_redact.py --against /path/to/other/checkout # and another tree's redact.py
    python benchmarks/bench_redact.py --inputs videos/lp_s18_woman_indoor.mp4 groups/lz_25.jpg --method mosaic
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEPIPE_SHARED", REPO.parent / "shared")).resolve()
DEFAULT_INPUTS = ("videos/lp_s18_woman_indoor.mp4", "videos/facenet_pedestrians.mp4",
                  "videos/fr_short_hamilton_clip.mp4", "groups/if_t1.jpg", "groups/lz_25.jpg")


def frames_and_regions(path: Path, frames: int) -> tuple[list[np.ndarray], list]:
    """The first `frames` frames of a video (or the photo) and the regions the anonymizer redacts in each."""
    from facepipe.apps.anonymize.pipeline import Anonymizer, OfflineAnonymizer
    from facepipe.io.image import read_image_file
    from facepipe.io.video import VideoReader

    if path.suffix.lower() not in (".mp4", ".mov", ".mkv", ".avi", ".webm"):
        image = read_image_file(path).rgb
        return [image], [Anonymizer().process_image(image.copy()).regions]
    off = OfflineAnonymizer()
    off.anonymizer.redact = lambda rgb, regions, inplace=False: rgb  # regions only: frames stay as decoded
    with VideoReader(path) as reader:
        done = [r for r, _ in off.run((f.image.copy(), None) for f in itertools.islice(reader, frames))]
    return [r.image for r in done], [r.regions for r in done]


def redact_module(tree: Path):
    """facepipe/apps/anonymize/redact.py of another checkout, imported under a name of its own."""
    spec = importlib.util.spec_from_file_location("other_redact", tree / "facepipe/apps/anonymize/redact.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["other_redact"] = module
    spec.loader.exec_module(module)
    return module


def timed(redactor, frames: list[np.ndarray], regions: list) -> tuple[float, list[str]]:
    """CPU ms a frame redacting fresh copies of `frames` in place, and the SHA-256 of each result."""
    copies = [f.copy() for f in frames]
    t = time.process_time()
    for image, regs in zip(copies, regions, strict=True):
        redactor.redact(image, regs, inplace=True)
    ms = (time.process_time() - t) / len(frames) * 1e3
    return ms, [hashlib.sha256(c.tobytes()).hexdigest() for c in copies]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", nargs="+", default=list(DEFAULT_INPUTS), help="paths under shared/testdata")
    parser.add_argument("--frames", type=int, default=90, help="first frames of each video")
    parser.add_argument("--rounds", type=int, default=6, help="timed rounds (alternating with --against)")
    parser.add_argument("--against", type=Path, help="another checkout whose redact.py to time and compare")
    parser.add_argument("--method", default="blur")
    parser.add_argument("--shape", default="ellipse")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # as the command runs
    from facepipe.apps.anonymize import redact as ours

    sides = {"this tree": ours}
    if args.against is not None:
        sides["other"] = redact_module(args.against.resolve())
    redactors = {k: m.Redactor(m.RedactOptions(method=args.method, shape=args.shape)) for k, m in sides.items()}
    head = ["input", "size", "frames", "regions/frame", *(f"{k} ms/frame" for k in sides)]
    head += ["identical frames"] if len(sides) > 1 else []
    head += ["load average"]
    print("| " + " | ".join(head) + " |")
    print("|---" * len(head) + "|")
    for rel in args.inputs:
        frames, regions = frames_and_regions(SHARED / "testdata" / rel, args.frames)
        load0 = os.getloadavg()[0]
        times: dict[str, list[float]] = {k: [] for k in sides}
        digests: dict[str, list[str]] = {}
        for r in range(args.rounds):
            for k in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
                ms, digest = timed(redactors[k], frames, regions)
                times[k].append(ms)
                digests.setdefault(k, digest)
        h, w = frames[0].shape[:2]
        cells = [Path(rel).name, f"{w}x{h}", str(len(frames)), f"{np.mean([len(r) for r in regions]):.1f}"]
        cells += [f"{statistics.median(times[k]):.2f}" for k in sides]
        if len(sides) > 1:
            same = sum(a == b for a, b in zip(*digests.values(), strict=True))
            cells.append(f"{same}/{len(frames)}")
        cells.append(f"{load0:.1f}-{os.getloadavg()[0]:.1f}")
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
