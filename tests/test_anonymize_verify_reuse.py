"""A stream's verifier reuses recent confirmations (issue 16): fewer model checks in a crowd, the same
verdicts where nothing is reused, no chains of reused verdicts, and the same regions however many frames
the finder runs at once.

Real frames: the first frames of facenet_pedestrians.mp4 (1080p, about ten walking faces, many of them
scored below 0.8 by BlazeFace and so checked).
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from conftest import model_path
from conftest import testdata_file as shared_file

from facepipe.apps.anonymize.detect import FaceFinder, FaceFinderOptions
from facepipe.apps.anonymize.stream_verify import StreamVerifier
from facepipe.apps.anonymize.verify import FaceVerifier, Verdicts, VerifyOptions
from facepipe.io.video import VideoReader
from facepipe.results import Detections, box_iou

CROWD = "videos/facenet_pedestrians.mp4"
N = 14  # frames of the crowd


class CountingVerifier:
    """A real FaceVerifier that records every check: (frame, boxes, verdicts: confirmed with nothing
    found beside)."""

    def __init__(self, models: FaceVerifier) -> None:
        self.models = models
        self.frame = -1
        self.calls: list[tuple[int, np.ndarray, np.ndarray]] = []

    def check(self, rgb: np.ndarray, dets: Detections) -> Verdicts:
        got = self.models.check(rgb, dets)
        self.calls.append((self.frame, dets.xyxy.copy(), got.ok & (got.beside == 0)))
        return got

    @property
    def checks(self) -> int:
        return sum(len(b) for _, b, _ in self.calls)


def _options(reuse: int) -> FaceFinderOptions:
    o = FaceFinderOptions()
    return replace(o, verify=replace(o.verify, reuse_frames=reuse))


@pytest.fixture(scope="module")
def crowd() -> tuple[list[np.ndarray], list[Detections], FaceFinder]:
    """The crowd's frames, their stream detections (weak ones unchecked) and the finder."""
    for name in ("face_detection_full_range", "face_detection_short_range", "face_detection_yunet_2023mar",
                 "face_landmark"):
        model_path(name)
    finder = FaceFinder(_options(2))
    with VideoReader(shared_file(CROWD)) as reader:
        frames = [f.image.copy() for f in reader if f.index < N]
    return frames, [finder.detect_frame(f, i, check=False) for i, f in enumerate(frames)], finder


def _run(crowd, reuse: int) -> tuple[list[Detections], CountingVerifier, StreamVerifier]:
    frames, detections, finder = crowd
    counting = CountingVerifier(finder.verifier)
    stream = StreamVerifier(_options(reuse), verifier=counting)
    out = []
    for i, (rgb, d) in enumerate(zip(frames, detections)):
        counting.frame = i
        out.append(stream(rgb, d, i))
    return out, counting, stream


def _same(a: Detections, b: Detections) -> bool:
    return (len(a) == len(b) and sorted(a.extras) == sorted(b.extras) and np.array_equal(a.xyxy, b.xyxy)
            and np.array_equal(a.scores, b.scores)
            and all(np.array_equal(a.extras[k], b.extras[k]) for k in a.extras))


def test_stream_detections_leave_the_weak_ones_to_the_stream_verifier(crowd):
    frames, detections, finder = crowd
    weak = sum(int(d.extras["unchecked"].sum()) for d in detections)
    assert weak >= 5 * N  # a crowd: many weak detections to check
    for d in detections:
        assert np.array_equal(d.extras["unchecked"], d.scores < finder.options.verify.below)
        assert not d.extras["verified"][d.extras["unchecked"]].any()  # unchecked: not confirmed yet
    # Still images, and any detect() call, check at once (nothing reused there).
    assert "unchecked" not in finder.detect(frames[0]).extras


def test_the_public_stream_calls_check_at_once(crowd):
    """A program that feeds `FaceFinder(frame)` / `detect_frame` to its own tracker gets every weak
    detection checked, as before the stream verifier: only the anonymizer's own stream paths (which
    run a StreamVerifier next) ask for unchecked ones. On the first frame nothing can be reused, so the
    stream verifier's verdicts on the unchecked detections are the same."""
    frames, detections, finder = crowd
    own = finder.detect_frame(frames[0], 0)
    assert "unchecked" not in own.extras and "verified" in own.extras
    assert _same(own, StreamVerifier(finder.options)(frames[0], detections[0], 0))
    assert "unchecked" not in FaceFinder(_options(2))(frames[0]).extras
    assert FaceFinderOptions.for_images().verify.reuse_frames == 0


def test_without_reuse_the_stream_verifier_gives_what_the_finder_gave(crowd):
    """reuse_frames 0: the finder checks every weak detection itself (today's behaviour); checking its
    unchecked detections in the stream verifier instead gives the very same detections."""
    frames, detections, finder = crowd
    plain = FaceFinder(_options(0))
    out, counting, _ = _run(crowd, 0)
    for i in (0, 1, 5):
        own = plain.detect_frame(frames[i], i)
        assert "unchecked" not in own.extras
        assert _same(own, out[i]), i
    assert counting.checks == sum(int(d.extras["unchecked"].sum()) for d in detections)


def test_reuse_skips_model_checks_and_changes_no_frame_where_nothing_is_reused(crowd):
    frames, detections, _ = crowd
    plain, all_checks, s0 = _run(crowd, 0)
    reused, fewer, s2 = _run(crowd, 2)
    assert s0.reused == 0 and s0.checked == all_checks.checks
    assert s2.checked == fewer.checks and s2.checked + s2.reused == all_checks.checks
    # About a quarter of the checks on this crowd (benchmarks/RESULTS.md, "Verdicts reused").
    assert s2.reused >= 0.15 * all_checks.checks, (s2.reused, all_checks.checks)
    checked_in = {f for f, _, _ in fewer.calls}
    weak_in = {i for i, d in enumerate(detections) if d.extras["unchecked"].any()}
    unchanged = 0
    for i in range(N):
        n_checked = sum(len(b) for f, b, _ in fewer.calls if f == i)
        if n_checked == int(detections[i].extras["unchecked"].sum()):  # nothing reused in frame i
            assert _same(plain[i], reused[i]), i
            unchanged += 1
        else:  # a reused verdict is a confirmation
            assert reused[i].extras["verified"].sum() >= plain[i].extras["verified"].sum() - 2, i
    assert unchanged >= 1 and 0 in checked_in and weak_in


def test_a_reused_verdict_is_a_real_confirmation_of_the_last_two_frames(crowd):
    """Every verdict reused at frame t confirms a box with IoU >= 0.5 with one that the models confirmed
    at t-1 or t-2 (YuNet finding no face beside it): reused verdicts are not remembered, so each face is
    checked at least every third frame (remembering them would check a face that stays put once, and
    then never again)."""
    _, detections, _ = crowd
    _, counting, stream = _run(crowd, 2)
    k, iou = stream.options.verify.reuse_frames, stream.options.verify.reuse_iou
    assert stream.reused > 0
    for t, d in enumerate(detections):
        weak = d.xyxy[d.extras["unchecked"]]
        checked = np.concatenate([b for f, b, _ in counting.calls if f == t] or [np.zeros((0, 4), np.float32)])
        not_checked = weak[~(box_iou(weak, checked).max(1, initial=0) >= 0.999)] if len(checked) else weak
        confirmed = np.concatenate([b[ok] for f, b, ok in counting.calls if t - k <= f < t]
                                   or [np.zeros((0, 4), np.float32)])
        for box in not_checked:
            assert len(confirmed) and box_iou(box[None], confirmed).max() >= iou, (t, box)


def test_memory_ends_at_a_cut_and_at_reset(crowd):
    """The same frame again: its confirmations are reused, its rejections checked again; not across a
    new shot, after reset, or after more than `reuse_frames` frames."""
    frames, detections, finder = crowd
    counting = CountingVerifier(finder.verifier)
    stream = StreamVerifier(_options(2), verifier=counting)
    rgb, d = frames[0], detections[0]
    weak = int(d.extras["unchecked"].sum())
    stream(rgb, d, 0)
    confirmed = int(counting.calls[0][2].sum())
    assert 0 < confirmed < weak
    stream(rgb, d, 1)
    assert (stream.reused, stream.checked) == (confirmed, 2 * weak - confirmed)
    stream(rgb, d, 2, new_shot=2)  # a new shot: nothing from before it is reused
    stream.reset()
    stream(rgb, d, 3)
    stream(rgb, d, 6)  # the confirmations of frame 3 are 3 frames old
    assert (stream.reused, stream.checked) == (confirmed, 5 * weak - confirmed)


def test_verify_options_are_checked():
    with pytest.raises(ValueError):
        VerifyOptions(reuse_frames=-1)
    with pytest.raises(ValueError):
        VerifyOptions(reuse_iou=0.0)


def test_graph_regions_do_not_depend_on_how_many_frames_the_finder_runs_at_once(tmp_path):
    """One or two finder slots in the anonymize graph, and the sequential OfflineAnonymizer: the same
    regions on the 1080p crowd, where the stream verifier reuses verdicts."""
    from facepipe.apps.anonymize.calculators import anonymize_video_config
    from facepipe.apps.anonymize.options import AnonymizeOptions
    from facepipe.apps.anonymize.pipeline import OfflineAnonymizer
    from facepipe.graph import Graph

    src, n = shared_file(CROWD), 12
    options = replace(AnonymizeOptions(), detect=_options(2))
    runs = {}
    for slots in (1, 2):
        graph = Graph(anonymize_video_config(options, detect_in_flight=slots, max_frames=n), num_workers=2)
        out = graph.run(side_packets={"input_path": str(src), "output_path": str(tmp_path / f"{slots}.mp4")},
                        collect=["regions"], timeout=300)
        runs[slots] = [p.payload for p in out["regions"]]
    offline = OfflineAnonymizer(options)
    with VideoReader(src) as reader:
        ref = [r.regions for r, _ in offline.run((f.image, f) for f in itertools.islice(reader, n))]
    assert offline.anonymizer.verifier.reused > 0  # reuse happened: the comparison means something
    assert len(runs[1]) == len(runs[2]) == len(ref) == n
    for a, b, c in zip(runs[1], runs[2], ref):
        np.testing.assert_array_equal(a.xyxy, c.xyxy)
        np.testing.assert_array_equal(b.xyxy, c.xyxy)
        np.testing.assert_array_equal(a.track_ids, c.track_ids)
        np.testing.assert_array_equal(b.track_ids, c.track_ids)
