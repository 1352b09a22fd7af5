"""Redaction variants compared on the same regions: the leak margin and the share of frame changed.

Detection and tracking are the slow part of `leak_test.py` and do not depend on how a region is
painted. This script records, once per input, the regions facepipe's defaults redact in every frame
(the video path's FaceFinder, tracker and backfill; the photo path's FaceFinder), cached, and then
redacts them with each variant of `RedactOptions` given, in memory and optionally encoded the way
`facepipe anonymize` writes (x264 through `VideoWriter`'s defaults, JPEG quality 95), scoring the
outputs with `leak_test.py`'s criterion (YuNet faces >= 0.8 with less than half of their box's
pixels changed by more than 6 levels) and its identity check (`--identity`).

    python benchmarks/redact_sweep.py --variants blur=1.0 "blur=1.0,floor=0.12" --encoded
    python benchmarks/redact_sweep.py --videos fr_short_hamilton_clip.mp4 --max-frames 90 --variants ...

A variant is comma-separated `RedactOptions` fields (`blur`, `detail_floor`, `method`, `mosaic`, ...).
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import sys
import tempfile
import time
from dataclasses import fields
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import leak_test as lt  # noqa: E402

REGION_CACHE = lt.CACHE / "regions"


_CODE: dict[bool, str] = {}


def _regions_key(src: Path, is_video: bool) -> str:
    """The input's content and the anonymizer's code as imported (read once: an edit made while
    this runs must not file old regions under the new code's key)."""
    if is_video not in _CODE:
        import facepipe

        h = hashlib.sha1()
        for p in sorted((Path(facepipe.__file__).parent / "apps" / "anonymize").glob("*.py")):
            # How regions are painted does not change which there are; photos are not tracked.
            if p.name != "redact.py" and (is_video or p.name != "track.py"):
                h.update(p.read_bytes())
        _CODE[is_video] = h.hexdigest()
    return hashlib.sha1(src.read_bytes() + _CODE[is_video].encode()).hexdigest()[:16]


def _pack(regions) -> dict:
    from facepipe.apps.anonymize.regions import region_sources

    return {"xyxy": regions.xyxy, "kps": regions.keypoints, "scores": regions.scores,
            "ids": regions.track_ids, "src": region_sources(regions), "size": regions.image_size}


def _unpack(d: dict):
    from facepipe.apps.anonymize.regions import face_regions

    return face_regions(d["xyxy"], d["kps"], d["scores"], d["ids"], d["src"], d["size"])


def facepipe_regions(src: Path, frames: list[np.ndarray], is_video: bool) -> list:
    """The regions facepipe's defaults redact in each frame (cached per input and code version)."""
    from dataclasses import replace

    from facepipe.apps.anonymize.options import AnonymizeOptions
    from facepipe.apps.anonymize.pipeline import Anonymizer, OfflineAnonymizer
    from facepipe.apps.anonymize.redact import RedactOptions

    REGION_CACHE.mkdir(parents=True, exist_ok=True)
    path = REGION_CACHE / f"{src.stem}_{_regions_key(src, is_video)}_{len(frames)}.pkl"
    if path.exists():
        return [_unpack(d) for d in pickle.loads(path.read_bytes())]
    opts = replace(AnonymizeOptions(), redact=RedactOptions(method="none"))
    if not is_video:
        regs = [Anonymizer(opts).process_image(f).regions for f in frames]
    else:
        off = OfflineAnonymizer(opts)
        got: dict[int, object] = {}
        for f in frames:
            for result, _ in off.push(f.copy()):
                got[result.index] = result.regions
        for result, _ in off.flush():
            got[result.index] = result.regions
        regs = [got[i] for i in range(len(frames))]
    path.write_bytes(pickle.dumps([_pack(r) for r in regs]))
    return regs


def parse_variant(text: str):
    from facepipe.apps.anonymize.redact import RedactOptions

    kinds = {f.name: f.type for f in fields(RedactOptions)}
    kw = {}
    for part in filter(None, text.split(",")):
        k, v = part.split("=")
        if k not in kinds:
            raise SystemExit(f"unknown RedactOptions field {k!r}")
        kw[k] = v if k in ("method", "shape") else float(v)
    return RedactOptions(**kw)


def encode_decode(frames: list[np.ndarray], fps: float, work: Path) -> list[np.ndarray]:
    """`frames` through `VideoWriter`'s default encoder and back."""
    from facepipe.io.video import VideoWriter

    path = work / "v.mp4"
    h, w = frames[0].shape[:2]
    with VideoWriter(path, width=w, height=h, fps=Fraction(fps).limit_denominator(1001)) as wr:
        for f in frames:
            wr.write(f)
    out, _ = lt.read_frames(path)
    path.unlink()
    return out


def jpeg_roundtrip(img: np.ndarray) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()


def main(argv: list[str] | None = None) -> int:
    from facepipe.apps.anonymize import detect, pipeline, track  # noqa: F401  (imported before the key is read)

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="+", default=[""], help="RedactOptions fields, e.g. blur=1.0,detail_floor=0.1")
    ap.add_argument("--videos", nargs="*", default=None)
    ap.add_argument("--no-videos", action="store_true")
    ap.add_argument("--no-images", action="store_true")
    ap.add_argument("--images", nargs="*", default=None, help="group photo file names (default: all)")
    ap.add_argument("--max-frames", type=int, default=None)
    ap.add_argument("--encoded", action="store_true", help="score the encoded outputs too")
    ap.add_argument("--regions", action="store_true", help="count false regions (photos)")
    ap.add_argument("--identity", action="store_true", help="the identity check of leak_test.py too")
    args = ap.parse_args(argv)
    from facepipe.apps.anonymize.redact import Redactor

    variants = [(v or "default", Redactor(parse_variant(v))) for v in args.variants]
    videos = [] if args.no_videos else sorted(lt.VIDEOS.glob("*.*"))
    if args.videos:
        videos = [lt.VIDEOS / v for v in args.videos]
    images = [] if args.no_images else sorted(lt.GROUPS.glob("*.jpg"))
    if args.images:
        images = [lt.GROUPS / i for i in args.images]
    judge = lt.RegionJudge() if args.regions else None
    ident = lt.IdentityCheck() if args.identity else None
    modes = ["memory", "encoded"] if args.encoded else ["memory"]
    rows: dict[tuple[str, str], list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for src in [*videos, *images]:
            is_video = src in videos
            if is_video:
                inputs, times = lt.read_frames(src)
                fps = 1 / float(np.median(np.diff(times))) if len(times) > 1 else 25.0
            else:
                inputs = [cv2.imread(str(src))[..., ::-1].copy()]
            key = hashlib.sha1(src.read_bytes()).hexdigest()[:16]
            faces = lt.yunet_faces(inputs, key)
            weak = lt.yunet_faces(inputs, key, lt.WEAK_YUNET_SCORE) if judge else None
            marks = lt.yunet_landmarks(inputs, key) if ident else None
            if is_video and args.max_frames:
                inputs, faces = inputs[: args.max_frames], faces[: args.max_frames]
                weak = weak[: args.max_frames] if weak else None
                marks = marks[: args.max_frames] if marks else None
            t0 = time.perf_counter()
            regs = facepipe_regions(src, inputs, is_video)
            t_reg = time.perf_counter() - t0
            plain = None
            if "encoded" in modes:
                plain = encode_decode(inputs, fps, work) if is_video else [jpeg_roundtrip(inputs[0])]
            for name, red in variants:
                t0 = time.perf_counter()
                outs = [red(f, r) for f, r in zip(inputs, regs)]
                t_red = (time.perf_counter() - t0) / len(inputs)
                for mode in modes:
                    o = outs
                    if mode == "encoded":
                        o = encode_decode(outs, fps, work) if is_video else [jpeg_roundtrip(outs[0])]
                    r = lt.compare(inputs, o, faces, src.stem, None, None, weak if not is_video else None,
                                   judge if not is_video else None,
                                   (plain if mode == "encoded" else inputs) if not is_video else None,
                                   identity=ident, landmarks=marks)
                    rows[(name, mode, src.name)] = r
                    least = f"{100 * r['min_changed']:.1f}" if r["min_changed"] is not None else "-"
                    print(f"{name:28s} {mode:7s} {src.name:34s} leaks {r['leaks']:3d} least {least}", end="")
                    print(f" <60% {r['borderline']:3d} changed {100 * r['changed_area']:.1f}% false-regions"
                          f" {r['false_regions']} recognisable {r.get('recognisable', '-')}"
                          f" of {r.get('comparable', '-')}"
                          f" least-distance {r.get('min_distance', '-')} redetected {r.get('redetected', '-')}"
                          f" least5 {r['least_changed_faces'][:3]}"
                          f" redact {1000 * t_red:.1f} ms/frame (regions {t_reg:.0f} s)", flush=True)
    print("\n| variant | mode | inputs | leaks | least covered % | faces < 60 % | changed % (mean) | false regions |"
          " recognisable | least distance | redetected |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, _ in variants:
        for mode in modes:
            for label, names in (("videos", [v.name for v in videos]), ("photos", [i.name for i in images])):
                rs = [rows[(name, mode, n)] for n in names if (name, mode, n) in rows]
                if not rs:
                    continue
                least = [r["min_changed"] for r in rs if r["min_changed"] is not None]
                print(f"| {name} | {mode} | {label} ({len(rs)}) | {sum(r['leaks'] for r in rs)} |"
                      f" {100 * min(least):.1f} | {sum(r['borderline'] for r in rs)} |"
                      f" {100 * np.mean([r['changed_area'] for r in rs]):.1f} | {sum(r['false_regions'] for r in rs)} |"
                      + (f" {sum(r['recognisable'] for r in rs)} |"
                         f" {min(r['min_distance'] for r in rs if r['min_distance'] is not None):.3f} |"
                         f" {sum(r['redetected'] for r in rs)} |" if ident else " - | - | - |"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
