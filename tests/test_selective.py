"""`anonymize --only/--except`: recognition-driven masking on real photos and video.

Photo: fr_two_people.jpg (Barack Obama and Joe Biden) with Obama chosen by his official portrait.
Video: the first 25 frames of the hamilton clip (Lin-Manuel Miranda on stage, ~40 px, an audience
member at the bottom left; a scene cut at frame 20), with Miranda chosen by a still of the same clip
(frame 150, as the README's recognition example). Pass 1 is run once and decided for both modes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import GOLDENS, model_path
from conftest import testdata_file as data

from facepipe.apps.anonymize.regions import Source, region_sources
from facepipe.apps.selective import PeopleSelection, SelectiveAnonymizer, SelectiveOptions
from facepipe.apps.selective.decide import decide_segments, masked_regions
from facepipe.cli.main import main
from facepipe.results import box_iou

CLIP = "videos/fr_short_hamilton_clip.mp4"
FRAMES = 25


def _changed(a: np.ndarray, b: np.ndarray, box: np.ndarray) -> float:
    """Share of the box's pixels that moved by more than 6 levels (the leak test's rule)."""
    h, w = a.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in np.clip(box, 0, [w, h, w, h]))
    d = np.abs(a[y0:y1, x0:x1].astype(np.int16) - b[y0:y1, x0:x1].astype(np.int16)).max(-1)
    return float((d > 6).mean())


@pytest.fixture(scope="module")
def miranda_photo(tmp_path_factory):
    model_path("face_recognition_dlib_resnet_v1")
    from facepipe.io.image import write_image
    from facepipe.io.video import VideoReader

    path = tmp_path_factory.mktemp("people") / "miranda.png"
    with VideoReader(data(CLIP)) as r:
        write_image(path, next(f.image for f in r if f.index == 150))
    return path


@pytest.fixture(scope="module")
def clip_run(miranda_photo, tmp_path_factory):
    """Both passes over the first frames through the graphs (as the CLI runs them), Miranda chosen by
    --only; (anonymizer, result, output file)."""
    dst = tmp_path_factory.mktemp("out") / "clip.mp4"
    anon = SelectiveAnonymizer(SelectiveOptions(PeopleSelection("only", photos=(miranda_photo,))))
    result = anon.anonymize_video(data(CLIP), dst, max_frames=FRAMES, workers=2)
    yield anon, result, dst
    anon.close()


def test_photo_only_and_except(testdata):
    from facepipe.io.image import read_image

    portrait = data("identities/barack_obama/obama.jpg")
    image = read_image(data("groups/fr_two_people.jpg"))  # Obama left, Biden right
    mid = image.shape[1] / 2
    with SelectiveAnonymizer(SelectiveOptions(PeopleSelection("only", photos=(portrait,)))) as anon:
        survey = anon.survey_image(image)
        for mode in ("only", "except"):
            verdicts = decide_segments(survey, PeopleSelection(mode, photos=(portrait,)), anon.options.sampling,
                                       anon.chosen.threshold, anon.chosen.chosen)
            out = anon.redact_frame(image, survey, verdicts)
            regions = survey.regions[0]
            faces = {("obama" if (b[0] + b[2]) / 2 < mid else "biden"): (b, verdicts[(int(t), 0)])
                     for b, t in zip(regions.xyxy, regions.track_ids) if b[2] - b[0] > 100}
            assert set(faces) == {"obama", "biden"}
            assert faces["obama"][1].state == "chosen" and faces["obama"][1].distance < 0.6
            assert faces["biden"][1].state == "other"
            obama_masked = _changed(image, out, faces["obama"][0]) > 0.5
            biden_masked = _changed(image, out, faces["biden"][0]) > 0.5
            assert (obama_masked, biden_masked) == ((True, False) if mode == "only" else (False, True))
            if mode == "except":  # fail closed: every region that is not the chosen person is masked
                assert all(v.masked for v in verdicts.values() if v.state != "chosen")


def test_video_tracks_decided_once_for_all_frames(clip_run):
    anon, result, _ = clip_run
    survey = result.survey
    assert len(survey.regions) == FRAMES
    assert survey.scenes[0] == 0 and survey.scenes[-1] == 1  # the cut at frame 20 starts scene 1
    chosen = anon.chosen.chosen
    only = decide_segments(survey, PeopleSelection("only", photos=anon.options.selection.photos),
                           anon.options.sampling, anon.chosen.threshold, chosen)
    excepted = decide_segments(survey, PeopleSelection("except", photos=anon.options.selection.photos),
                               anon.options.sampling, anon.chosen.threshold, chosen)
    # Miranda and the audience member: the labelled faces of frame 0 (tests/goldens/hamilton_identities.json),
    # each the track of the detection overlapping it most.
    labels = json.loads((GOLDENS / "hamilton_identities.json").read_text())["frames_faces"][0]["faces"]
    first = survey.regions[0]
    detected = first[region_sources(first) == Source.DETECTED]

    def track_of(box: list[float]) -> tuple[int, int]:
        return int(detected.track_ids[int(np.argmax(box_iou(np.array([box]), detected.xyxy)[0]))]), 0

    miranda = track_of(next(f["box"] for f in labels if f["box"][0] > 320))
    audience = track_of(next(f["box"] for f in labels if f["box"][0] < 320))
    assert only[miranda].state == "chosen" and only[miranda].masked
    votes = only[miranda].votes
    assert votes[chosen[0]] > sum(votes.values()) / 2, votes
    assert excepted[miranda].state == "chosen" and not excepted[miranda].masked
    # The decision covers all of the track's frames, the ones before its deciding votes included.
    seg = survey.segments[miranda]
    assert seg.first == 0 and len(seg.embedded_frames) >= 3
    for i in range(FRAMES):
        ids_only = set(masked_regions(survey, only, i).track_ids.tolist())
        ids_except = set(masked_regions(survey, excepted, i).track_ids.tolist())
        all_ids = set(survey.regions[i].track_ids.tolist())
        if survey.scenes[i] == 0:
            assert (miranda[0] in all_ids) == (miranda[0] in ids_only), i
        # --except: every region but the chosen person's is masked (fail closed).
        assert ids_except == {t for t in all_ids if excepted[(t, survey.scenes[i])].state != "chosen"}, i
        # --only masks nobody but chosen tracks (no --only-strict here).
        assert all(only[(t, survey.scenes[i])].state == "chosen" for t in ids_only), i
    # The audience member at the bottom left is someone else: visible with --only, masked with --except.
    assert only[audience].state != "chosen" and not only[audience].masked and excepted[audience].masked


def test_video_output_keeps_frames_timestamps_and_audio(clip_run):
    from facepipe.io.video import VideoReader

    _, result, dst = clip_run
    survey, verdicts = result.survey, result.verdicts
    assert result.report.frames == FRAMES
    with VideoReader(data(CLIP)) as a, VideoReader(dst) as b:
        src = [(f.pts * f.time_base, f.image) for f, _ in zip(a, range(FRAMES))]
        out = [(f.pts * f.time_base, f.image) for f in b]
        assert len(b.info.audio) == len(a.info.audio) == 1  # the audio stream is copied
    assert [t for t, _ in out] == [t for t, _ in src]
    # Every masked region is redacted; the audience member (labelled, tests/goldens) is left as it was.
    labels = json.loads((GOLDENS / "hamilton_identities.json").read_text())["frames_faces"]
    for i in (0, 10, 22):
        for box in masked_regions(survey, verdicts, i).xyxy:
            assert _changed(src[i][1], out[i][1], box) > 0.5, i
    for i in (0, 10):
        audience = next(f["box"] for f in labels[i]["faces"] if f["box"][0] < 320)
        assert _changed(src[i][1], out[i][1], np.array(audience)) < 0.2, i


def test_sequential_pass_finds_what_the_graph_finds(clip_run):
    anon, result, _ = clip_run
    steps = []
    survey = anon.survey_video(data(CLIP), max_frames=FRAMES, on_progress=lambda d, t: steps.append((d, t)))  # no graph
    assert steps == [(k, FRAMES) for k in range(1, FRAMES + 1)]
    assert survey.scenes == result.survey.scenes
    for a, b in zip(survey.regions, result.survey.regions):
        np.testing.assert_array_equal(a.track_ids, b.track_ids)
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)
    assert {k: v.masked for k, v in anon.decide(survey).items()} == {k: v.masked for k, v in result.verdicts.items()}


def test_cli_report_and_bad_selections(tmp_path, capsys, caplog, miranda_photo):
    from facepipe.apps.recognition.recognizer import default_embedder
    from facepipe.apps.recognition.store import GalleryInfo, open_gallery

    photo = data("groups/fr_two_people.jpg")
    gallery = tmp_path / "g.sqlite3"
    info = GalleryInfo.of(default_embedder())
    with open_gallery(gallery, info):
        pass  # created, nobody enrolled
    assert main(["anonymize", str(photo), "--only", "Ann", "--gallery", str(gallery)]) == 2
    assert "the gallery is empty" in caplog.text
    caplog.clear()
    assert main(["faces", "enroll", "Barack Obama", str(data("identities/barack_obama/obama.jpg")),
                 "--gallery", str(gallery)]) == 0
    assert main(["anonymize", str(photo), "--only", "Ann,Barack Obama", "--gallery", str(gallery)]) == 2
    assert "no person named 'Ann'" in caplog.text and "known: Barack Obama" in caplog.text
    caplog.clear()
    assert main(["anonymize", str(photo), "--only", "Barack Obama", "--except-photo", str(miranda_photo)]) == 2
    assert "--only and --except cannot be combined" in caplog.text
    caplog.clear()
    assert main(["anonymize", str(photo), "--only-strict"]) == 2
    out = tmp_path / "out.jpg"
    report = tmp_path / "review.json"
    assert main(["anonymize", str(photo), "--except", "Barack Obama", "--gallery", str(gallery), "-o", str(out),
                 "--report", str(report), "--no-progress"]) == 0
    doc = json.loads(report.read_text())
    assert doc["schema"] == "facepipe.selective/1" and doc["mode"] == "except" and doc["chosen"] == ["Barack Obama"]
    tracks = doc["inputs"][0]["tracks"]
    assert [t["name"] for t in tracks if t["state"] == "chosen"] == ["Barack Obama"]
    assert all(t["masked"] == (t["state"] != "chosen") for t in tracks)
    assert (tmp_path / doc["contact_sheet"]).stat().st_size > 0 and out.exists()
    html = tmp_path / "review.html"
    assert main(["anonymize", str(photo), "--only", "Barack Obama", "--gallery", str(gallery), "-o",
                 str(tmp_path / "o2.jpg"), "--report", str(html), "--no-progress"]) == 0
    page = html.read_text()
    assert "Barack Obama" in page and page.count("data:image/png;base64") >= 2
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically


def test_decisions_follow_the_chosen_face_and_fail_closed():
    """The decision rules on a hand-made survey (pure logic, no models): votes, a second box on the
    chosen face, a segment held over a cut, a never-embedded face near or far from the chosen one."""
    from facepipe.apps.anonymize.regions import face_regions
    from facepipe.apps.selective import Segment, Survey, TrackSampling

    ann = np.array([100, 100, 200, 200], np.float32)
    wide = np.array([60, 60, 240, 240], np.float32)  # a zoomed-out box around Ann's head
    stranger = np.array([400, 100, 480, 180], np.float32)
    small = np.array([210, 120, 230, 140], np.float32)  # never embedded, right next to Ann
    far = np.array([10, 300, 25, 315], np.float32)  # never embedded, far from everyone

    def frame(*items):
        boxes = [b for b, _, _ in items]
        return face_regions(np.stack(boxes), np.zeros((len(items), 6, 2)), np.ones(len(items)),
                           [t for _, t, _ in items], [s for _, _, s in items], (640, 360))

    det, held = Source.DETECTED, Source.HELD
    regions = [frame((ann, 0, det), (wide, 1, det), (stranger, 2, det), (small, 3, det), (far, 4, det)),
               frame((ann, 0, det), (stranger, 2, det), (small, 3, det), (far, 4, det)),
               frame((ann, 0, held), (stranger, 5, det))]  # a cut before frame 2: Ann held over it
    segments = {
        (0, 0): Segment(0, 0, 0, 1, 2, 2, [0, 1], ["Ann", "Ann"], [0.4, 0.45], [0.4, 0.45], ["Ann", "Ann"]),
        (1, 0): Segment(1, 0, 0, 0, 1, 1),
        (2, 0): Segment(2, 0, 0, 1, 2, 2, [0], ["unknown"], [0.8], [0.8], ["Ann"]),
        (3, 0): Segment(3, 0, 0, 1, 2, 2),
        (4, 0): Segment(4, 0, 0, 1, 2, 2),
        (0, 1): Segment(0, 1, 2, 2, 1, 0),
        (5, 1): Segment(5, 1, 2, 2, 1, 1, [2], ["Ann"], [0.55], [0.55], ["Ann"]),
    }
    survey = Survey(regions, [0, 0, 1], segments)
    sampling = TrackSampling()
    only = decide_segments(survey, PeopleSelection("only", names=("Ann",)), sampling, 0.6, ("Ann",))
    strict = decide_segments(survey, PeopleSelection("only", names=("Ann",), strict=True), sampling, 0.6, ("Ann",))
    excepted = decide_segments(survey, PeopleSelection("except", names=("Ann",)), sampling, 0.6, ("Ann",))
    assert only[(0, 0)].state == "chosen" and only[(0, 0)].masked and not excepted[(0, 0)].masked
    assert only[(1, 0)].via == (0, 0) and only[(1, 0)].masked and not excepted[(1, 0)].masked  # same face
    assert only[(2, 0)].state == "other" and not only[(2, 0)].masked and excepted[(2, 0)].masked
    assert only[(3, 0)].state == "undecided" and not only[(3, 0)].masked  # near Ann, never embedded
    assert strict[(3, 0)].masked and excepted[(3, 0)].masked
    assert only[(4, 0)].state == "other" and not strict[(4, 0)].masked and excepted[(4, 0)].masked
    assert only[(0, 1)].via == (0, 0) and only[(0, 1)].masked  # held over the cut: Ann's decision
    assert excepted[(5, 1)].state == "chosen"  # one vote of one is a majority
    assert [len(masked_regions(survey, excepted, i)) for i in range(3)] == [3, 3, 0]


def test_track_embedding_names_a_track_and_one_person_is_one_face_at_a_time():
    """Track-level evidence and the rival rule on a hand-made survey (pure logic, no models): a track
    whose frames each stay just outside the threshold is named by its track embedding; two different
    faces seen together cannot both be the chosen person unless one is clearly nearer; a second box on
    the chosen face follows it also where only the second box was detected."""
    from facepipe.apps.anonymize.regions import face_regions
    from facepipe.apps.selective import Segment, Survey, TrackSampling
    from facepipe.apps.selective.survey import track_embedding

    ann = np.array([100, 100, 200, 200], np.float32)
    inner = np.array([115, 120, 185, 190], np.float32)  # a second, tighter box on Ann's face
    left = np.array([300, 100, 380, 180], np.float32)
    right = np.array([450, 100, 530, 180], np.float32)

    def frame(*items):
        boxes = [b for b, _, _ in items]
        return face_regions(np.stack(boxes), np.zeros((len(items), 6, 2)), np.ones(len(items)),
                           [t for _, t, _ in items], [s for _, _, s in items], (640, 360))

    det, held = Source.DETECTED, Source.HELD

    def seg(tid, scene, first, last, frames, detected, d_frames, track=None, rival=None):
        n = len(d_frames)
        s = Segment(tid, scene, first, last, frames, detected, list(range(n)), ["unknown"] * n, list(d_frames),
                    list(d_frames), ["Ann"] * n)
        if track is not None:
            s.track_name, s.track_distance, s.track_chosen = track[0], track[1], {"Ann": track[1]}
        return s

    # scene 0: Ann (every frame 0.62-0.65 from her photo, the track embedding 0.55) and a stranger far off;
    # frame 1: Ann held, only the inner box detected. Scene 1: two faces at once, 0.57 and 0.59 from Ann.
    regions = [frame((ann, 0, det), (inner, 1, det), (left, 2, det)),
               frame((ann, 0, held), (inner, 1, det), (left, 2, det)),
               frame((left, 3, det), (right, 4, det))]
    segments = {
        (0, 0): seg(0, 0, 0, 1, 2, 1, [0.62, 0.65], ("Ann", 0.55)),
        (1, 0): seg(1, 0, 0, 1, 2, 2, [0.68, 0.7], ("unknown", 0.66)),
        (2, 0): seg(2, 0, 0, 1, 2, 2, [0.8, 0.82], ("unknown", 0.78)),
        (3, 1): seg(3, 1, 2, 2, 1, 1, [0.57], ("Ann", 0.57)),
        (4, 1): seg(4, 1, 2, 2, 1, 1, [0.59], ("Ann", 0.59)),
    }
    survey = Survey(regions, [0, 0, 1], segments)
    sampling = TrackSampling()
    only = decide_segments(survey, PeopleSelection("only", names=("Ann",)), sampling, 0.6, ("Ann",))
    excepted = decide_segments(survey, PeopleSelection("except", names=("Ann",)), sampling, 0.6, ("Ann",))
    assert only[(0, 0)].state == "chosen" and only[(0, 0)].name == "Ann" and only[(0, 0)].distance == 0.55
    assert only[(0, 0)].votes == {"unknown": 2} and only[(0, 0)].rival_distance == 0.78  # the stranger
    assert not excepted[(0, 0)].masked and excepted[(2, 0)].masked
    assert excepted[(1, 0)].via == (0, 0) and not excepted[(1, 0)].masked  # Ann's face is not blurred
    # Two faces in one frame, 0.02 apart from Ann: neither is taken for her (margin 0.05)...
    for k in ((3, 1), (4, 1)):
        assert only[k].state == "undecided" and excepted[k].masked and not only[k].masked
    assert only[(3, 1)].rival_distance == 0.59
    # ...unless one is clearly nearer, or the rule is off.
    segments[(4, 1)] = seg(4, 1, 2, 2, 1, 1, [0.7], ("unknown", 0.7))
    clear = decide_segments(survey, PeopleSelection("except", names=("Ann",)), sampling, 0.6, ("Ann",))
    assert clear[(3, 1)].state == "chosen" and clear[(4, 1)].masked
    segments[(4, 1)] = seg(4, 1, 2, 2, 1, 1, [0.59], ("Ann", 0.59))
    off = decide_segments(survey, PeopleSelection("only", names=("Ann",)), TrackSampling(rival_margin=0), 0.6,
                          ("Ann",))
    assert off[(3, 1)].state == off[(4, 1)].state == "chosen"
    # Without the track embedding, the frames alone (all beyond 0.6) do not name Ann's track.
    votes_only = decide_segments(survey, PeopleSelection("only", names=("Ann",)), TrackSampling(track_level=False),
                                 0.6, ("Ann",))
    assert votes_only[(0, 0)].state == "undecided"
    # The track embedding: weighted by presence, at least MIN_WEIGHT each.
    e = [np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)]
    np.testing.assert_allclose(track_embedding(e, [1.0, 0.0], "euclidean"), [1 / 1.05, 0.05 / 1.05], atol=1e-6)
    np.testing.assert_allclose(track_embedding(e, [1.0, 1.0], "cosine"), [0.5 ** 0.5] * 2, atol=1e-6)


def _blackener(margin: int):
    """A redaction for redact_selected that blacks out each region `margin` px wider on each side, as a
    scaled ellipse reaches out beyond its box."""
    def blacken(image, regions):
        out = image.copy()
        for x0, y0, x1, y1 in regions.xyxy.astype(int):
            out[max(0, y0 - margin):y1 + margin, max(0, x0 - margin):x1 + margin] = 0
        return out

    return blacken


def test_a_much_larger_masked_region_does_not_blur_the_visible_chosen_face():
    """--except: a recall-first box around a whole group (masked) holds the excepted face; it is redacted
    everywhere but on that face, while a neighbour's face overlapping it stays redacted on its whole
    box; the neighbour's redaction reaching beyond its box onto the excepted face is taken back."""
    from facepipe.apps.anonymize.regions import face_regions
    from facepipe.apps.selective import Segment, Survey, TrackSampling
    from facepipe.apps.selective.decide import redact_selected, uncovered_chosen

    ann = np.array([100, 100, 160, 160], np.float32)
    group = np.array([40, 40, 300, 300], np.float32)  # 4.3x wider than Ann's face, holds it
    neighbour = np.array([140, 140, 200, 200], np.float32)  # someone else's face, overlapping Ann's corner
    det = Source.DETECTED
    regions = [face_regions(np.stack([ann, group, neighbour]), np.zeros((3, 6, 2)), np.ones(3), [0, 1, 2],
                            [det, det, det], (640, 360))]
    segments = {(0, 0): Segment(0, 0, 0, 0, 1, 1, [0], ["Ann"], [0.4], [0.4], ["Ann"]),
                (1, 0): Segment(1, 0, 0, 0, 1, 1, [0], ["unknown"], [0.9], [0.9], ["Ann"]),
                (2, 0): Segment(2, 0, 0, 0, 1, 1, [0], ["unknown"], [0.8], [0.8], ["Ann"])}
    survey = Survey(regions, [0], segments)
    excepted = decide_segments(survey, PeopleSelection("except", names=("Ann",)), TrackSampling(), 0.6, ("Ann",))
    assert [excepted[(k, 0)].masked for k in range(3)] == [False, True, True]
    shown, covering = uncovered_chosen(survey, excepted, 0)
    np.testing.assert_array_equal(shown, [ann])
    np.testing.assert_array_equal(covering, [neighbour])  # the group box does not count on Ann's face

    image = np.full((360, 640, 3), 200, np.uint8)
    out = redact_selected(_blackener(20), image, survey, excepted, 0)
    assert (out[100:140, 100:140] == 200).all()  # Ann's face, where no one else's box is
    assert (out[140:200, 140:200] == 0).all()  # the neighbour's face, also where it overlaps Ann's
    assert (out[20:100, 20:320] == 0).all() and (out[160:320, 20:140] == 0).all()  # the rest of the group box
    # --only masks Ann: nothing is kept out
    only = decide_segments(survey, PeopleSelection("only", names=("Ann",)), TrackSampling(), 0.6, ("Ann",))
    assert uncovered_chosen(survey, only, 0) is None


def test_rematch_gives_the_survey_back_and_decides_for_someone_else(clip_run):
    """The kept embeddings matched again: against the same person, the same evidence; against someone
    who is not in the clip (Obama's portrait), no segment is his."""
    from facepipe.apps.selective.survey import rematch_survey
    from facepipe.apps.selective.targets import load_chosen

    anon, result, _ = clip_run
    again = rematch_survey(result.survey, anon.chosen, anon.options.sampling)
    for key, seg in result.survey.segments.items():
        new = again.segments[key]
        assert new.names == seg.names and new.track_name == seg.track_name, key
        np.testing.assert_allclose(new.distances, seg.distances, atol=1e-5)
        assert new.track_chosen.keys() == seg.track_chosen.keys()
    assert {k: (v.state, v.masked, v.name, v.track_name) for k, v in anon.decide(again).items()} == {
        k: (v.state, v.masked, v.name, v.track_name) for k, v in result.verdicts.items()}
    obama = PeopleSelection("only", photos=(data("identities/barack_obama/obama.jpg"),))
    with load_chosen(obama, anon.options.sampling) as chosen:
        other = rematch_survey(result.survey, chosen, anon.options.sampling)
        verdicts = decide_segments(other, obama, anon.options.sampling, chosen.threshold, chosen.chosen)
    assert chosen.threshold == 0.57  # mirror-averaged dlib vectors
    assert not any(v.state == "chosen" for v in verdicts.values())


def test_except_shows_the_stretch_of_a_track_that_is_the_excepted_face():
    """--except on a hand-made survey (pure logic, no models): a track that follows Ann's face before
    her own track starts (its embeddings near her track's, a second box on her face where both are
    detected) is shown up to its last embedding near her, masked after it (it left for someone
    else); a stranger overlapping her stays masked; a second box on her face does not redact her;
    her visible face reaches out to her own redaction ellipse, less the stranger's box; a region of
    another track only guessed there (backfilled) does not redact her detected box."""
    from facepipe.apps.anonymize.regions import face_regions
    from facepipe.apps.selective import Segment, Survey, TrackSampling
    from facepipe.apps.selective.decide import redact_selected, uncovered_chosen

    ann = np.array([100, 100, 160, 160], np.float32)
    second = np.array([102, 98, 162, 158], np.float32)  # the other track's box on Ann's face
    elsewhere = np.array([400, 100, 460, 160], np.float32)  # where that track went
    stranger = np.array([130, 130, 190, 190], np.float32)  # a different face overlapping Ann's corner
    guess = np.array([140, 60, 200, 120], np.float32)  # a face backfilled there, over Ann's other corner
    det, back = Source.DETECTED, Source.BACKFILLED

    def frame(*items):
        return face_regions(np.stack([b for b, _ in items]), np.zeros((len(items), 6, 2)), np.ones(len(items)),
                            [t for _, t in items], [back if t == 3 else det for _, t in items], (640, 360))

    regions = ([frame((ann, 1))] * 3 + [frame((ann, 0), (second, 1), (stranger, 2), (guess, 3))] * 3
               + [frame((elsewhere, 1))] * 2)
    near, her, far = np.array([0.2, 0, 0, 0], np.float32), np.array([0.1, 0, 0, 0], np.float32), \
        np.array([2.0, 0, 0, 0], np.float32)
    segments = {
        (0, 0): Segment(0, 0, 3, 5, 3, 3, [3, 4, 5], ["Ann"] * 3, [0.4] * 3, [0.4] * 3, ["Ann"] * 3,
                        embeddings=[her] * 3, weights=[1.0] * 3),
        (1, 0): Segment(1, 0, 0, 7, 8, 8, [0, 2, 4, 6], ["unknown"] * 4, [0.65] * 3 + [0.9],
                        [0.65] * 3 + [0.9], ["Ann"] * 4, embeddings=[near] * 3 + [far], weights=[1.0] * 4),
        (2, 0): Segment(2, 0, 3, 5, 3, 3, [3, 4, 5], ["unknown"] * 3, [0.65] * 3, [0.65] * 3, ["Ann"] * 3,
                        embeddings=[far] * 3, weights=[1.0] * 3),
        (3, 0): Segment(3, 0, 3, 5, 3, 0),
    }
    survey = Survey(regions, [0] * 8, segments)
    excepted = decide_segments(survey, PeopleSelection("except", names=("Ann",)), TrackSampling(), 0.6, ("Ann",))
    assert excepted[(0, 0)].state == "chosen" and not excepted[(0, 0)].masked
    assert excepted[(1, 0)].masked and excepted[(1, 0)].shown == (0, 4, (0, 0))
    assert excepted[(2, 0)].masked and excepted[(2, 0)].shown is None
    assert [masked_regions(survey, excepted, i).track_ids.tolist() for i in range(8)] == \
        [[], [], [], [2, 3], [2, 3], [1, 2, 3], [1], [1]]
    # frame 5: track 1 is masked again, but as a second box on Ann's face it does not count on her
    shown, covering = uncovered_chosen(survey, excepted, 5)
    np.testing.assert_array_equal(shown, [ann])
    np.testing.assert_array_equal(covering, [stranger, guess])
    # the review report says where a masked track is shown, and as whom
    from facepipe.apps.selective.report import ReportEntry, report_doc

    doc = report_doc([ReportEntry(Path("in.mp4"), Path("out.mp4"), "video", survey, excepted)],
                     PeopleSelection("except", names=("Ann",)), ("Ann",))
    shown_in_report = {t["track_id"]: t["shown"] for t in doc["inputs"][0]["tracks"]}
    assert shown_in_report == {0: None, 1: {"first_frame": 0, "last_frame": 4, "as_track": 0}, 2: None, 3: None}
    # --only: nothing of the kind
    only = decide_segments(survey, PeopleSelection("only", names=("Ann",)), TrackSampling(), 0.6, ("Ann",))
    assert all(v.shown is None for v in only.values())
    assert [masked_regions(survey, only, i).track_ids.tolist() for i in range(8)] == [[]] * 3 + [[0]] * 3 + [[]] * 2

    image = np.full((360, 640, 3), 200, np.uint8)
    out = redact_selected(_blackener(30), image, survey, excepted, 4, mask_scale=1.5)
    assert (out[100:130, 100:130] == 200).all()  # Ann's face, where the stranger's box is not
    assert (out[161:170, 120:128] == 200).all()  # her chin: inside her ellipse, outside her box
    assert (out[130:190, 130:190] == 0).all()  # the stranger's face, also where it overlaps Ann's
    assert (out[200:215, 100:110] == 0).all()  # beyond her ellipse: the stranger's redaction stays
    assert (out[100:120, 140:160] == 200).all()  # the backfilled guess on her detected box
    assert (out[70:90, 175:200] == 0).all()  # the guess outside her box and ellipse
    boxed = redact_selected(_blackener(30), image, survey, excepted, 4)
    assert (boxed[161:170, 120:128] == 0).all()  # mask_scale 1: her box only
