"""Expression search: descriptor quality (leave-one-person-out), the index, the graph and the CLI, on real photos."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from facepipe.apps.expression_search.descriptor import (
    GEOMETRY_FEATURES,
    BlendshapeDescriptor,
    DescriptorSpec,
    ExpressionDescriptor,
    GeometryDescriptor,
    LandmarkDescriptor,
    OnnxDescriptor,
)
from facepipe.apps.expression_search.evaluation import (
    identity_normalised,
    leave_one_out,
    load_tune_split,
    lopo_identity_normalised,
)
from facepipe.apps.expression_search.identity import IdentityEmbedder, IdentityGroups, IdentityOptions
from facepipe.apps.expression_search.index import ExpressionIndex
from facepipe.apps.expression_search.indexer import EmbedOptions, FaceEmbedder
from facepipe.apps.expression_search.query import ExpressionSearch, QueryOptions, search_config
from facepipe.apps.expression_search.symmetry import (
    mirror_blendshapes,
    mirror_geometry,
    symmetric_blendshapes,
    symmetric_geometry,
)
from facepipe.cli.main import main
from facepipe.errors import InputError, ModelError
from facepipe.io.image import read_image

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TUNE_SPLIT = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "expressions_tune.json"


def _shared() -> Path:
    import os

    root = Path(os.environ.get("FACEPIPE_SHARED", SHARED))
    if not (root / "testdata" / "expressions").is_dir():
        pytest.skip("../shared/testdata/expressions not available")
    return root


@pytest.fixture(scope="module")
def expressions():
    """Every labelled face of testdata/expressions: (paths, labels, persons, FaceLandmarkerResult per photo)."""
    from facepipe.solutions.face_landmarker import FaceLandmarker

    root = _shared() / "testdata" / "expressions"
    paths = sorted(root.glob("*/*"))
    lm = FaceLandmarker(EmbedOptions(max_num_faces=1).landmarker_options())
    results = [lm.detect(read_image(p)) for p in paths]
    assert all(len(r) == 1 for r in results)
    labels = np.array([p.parent.name for p in paths])
    # yale_NN_* files are named by person; the other photos are of people who appear once.
    persons = np.array([p.name[:7] if p.name.startswith("yale_") else p.name for p in paths])
    images = [read_image(p) for p in paths]
    return paths, labels, persons, results, images


def _stack(descriptor, results, images) -> np.ndarray:
    return np.concatenate([descriptor.describe(img, r) for img, r in zip(images, results)]).astype(np.float64)


def test_geometry_descriptor_beats_baselines(expressions):
    """The geometry features (v2; v3 is their symmetric form) learn nothing, so scoring them on these photos is
    fair: leave-one-out, every other labelled face is the gallery."""
    _, labels, persons, results, images = expressions
    geometry = _stack(GeometryDescriptor(), results, images)
    ours = leave_one_out(lambda q: geometry, labels, persons)
    blend = _stack(BlendshapeDescriptor(), results, images)
    lmk = _stack(LandmarkDescriptor(), results, images)
    base_b = leave_one_out(lambda q: blend, labels, persons)
    base_l = leave_one_out(lambda q: lmk, labels, persons)
    # Measured: ours P@1 0.62, blendshapes 0.52, landmarks 0.55 (one 'anger' photo can never match).
    assert ours.repeated == 24  # the four Yale subjects' 6 photos each
    assert ours.p_at_1 >= 0.6
    assert ours.p_at_1 > max(base_b.p_at_1, base_l.p_at_1) + 0.05
    assert ours.p_at_3 > max(base_b.p_at_3, base_l.p_at_3) + 0.1
    # Identity invariance: the nearest face is far more often another person with the same expression
    # (measured 15 vs 2; blendshapes 13 vs 6, landmarks 14 vs 8).
    assert ours.other_person_same_label >= 3 * max(ours.same_person_other_label, 1)
    assert (ours.other_person_same_label - ours.same_person_other_label
            > max(b.other_person_same_label - b.same_person_other_label for b in (base_b, base_l)))


def test_tuning_split_is_other_people(expressions):
    """What is fitted or chosen for expression search comes from benchmarks/data/expressions_tune.json: it must
    share no person and no photo with the test set, and use the same labels."""
    import hashlib

    paths, labels, persons, results, _ = expressions
    tune = load_tune_split(TUNE_SPLIT, GEOMETRY_FEATURES)
    assert len(tune.labels) == 66 and len(set(tune.persons)) == 11
    assert not set(tune.persons) & set(persons)
    assert not set(tune.sha256) & {hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    assert set(tune.labels) <= set(labels)
    assert tune.geometry.shape == (66, 14) and tune.blendshapes.shape == (66, 52)
    assert tune.geometry_mirrored.shape == (66, 14) and tune.blendshapes_mirrored.shape == (66, 52)
    assert np.isfinite(tune.geometry).all() and np.isfinite(tune.geometry_mirrored).all()
    # The stored features are this descriptor's: each test face (with a label the split has) lies nearest the
    # split's mean face of its own label (measured 23 of 28; features computed another way would not).
    names = sorted(set(tune.labels))
    centroids = np.array([tune.geometry[tune.labels == n].mean(0) for n in names])
    feats = np.concatenate([GeometryDescriptor().features(r) for r in results])
    known = np.isin(labels, names)
    nearest = np.array(names)[np.argmin(((feats[known, None] - centroids[None]) ** 2).sum(-1), axis=1)]
    assert np.mean(nearest == labels[known]) >= 0.7
    with pytest.raises(InputError, match="other geometry features"):
        load_tune_split(TUNE_SPLIT, GEOMETRY_FEATURES[:-1])


def test_geometry_descriptor_optional_map(expressions):
    """v2 (GeometryDescriptor) is the plain features; a map fitted elsewhere (here on the tuning split) is applied
    last and renames the embedding, so an index built without it refuses queries made with it."""
    from facepipe.apps.expression_search.descriptor import fit_metric

    _, _, _, results, images = expressions
    plain = GeometryDescriptor()
    assert plain.id == "expression-geometry-v2" and plain.dim == 14
    feats = np.concatenate([plain.features(r) for r in results])
    np.testing.assert_allclose(_stack(plain, results, images), feats, atol=1e-6)
    tune = load_tune_split(TUNE_SPLIT, GEOMETRY_FEATURES)
    w = fit_metric(tune.geometry, tune.labels)[:, :5]
    mapped = GeometryDescriptor(metric=w)
    assert mapped.id.startswith("expression-geometry-custom-") and mapped.dim == 5
    assert GeometryDescriptor(metric=w * 2).id != mapped.id  # another map, another embedding
    np.testing.assert_allclose(_stack(mapped, results, images), feats @ w, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match=r"metric must be \(14, D\), got \(5, 5\)"):
        GeometryDescriptor(metric=np.eye(5))


def test_geometry_ignores_head_pose_and_scale(expressions):
    """The same face scaled and rotated in the image gets (nearly) the same vector."""
    import cv2

    from facepipe.solutions.face_landmarker import FaceLandmarker

    paths, _, _, results, images = expressions
    i = next(k for k, p in enumerate(paths) if p.name == "if_happy.png")
    img = images[i]
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 20, 0.7)
    turned = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    lm = FaceLandmarker(EmbedOptions().landmarker_options())
    d = ExpressionDescriptor()
    a, b = d.describe(img, results[i])[0], d.describe(turned, lm.detect(turned))[0]
    others = np.concatenate([d.describe(im, r) for im, r in zip(images, results)])
    spread = np.median(np.linalg.norm(others - a, axis=1))
    assert np.linalg.norm(a - b) < 0.25 * spread


def test_index_search_is_exact_and_refuses_other_embeddings(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(500, 14)).astype(np.float32)
    path = tmp_path / "x.idx"
    with ExpressionIndex(path, "expression-geometry-v2", 14) as index:
        for i in range(0, 500, 50):  # ten "files" of 50 faces
            boxes = np.tile(np.array([[0, 0, 10, 10]], np.float32), (50, 1)) + i
            index.put_file(f"/photos/{i}.jpg", 1, 1, boxes=boxes, vectors=vectors[i:i + 50])
        queries = rng.normal(size=(4, 14)).astype(np.float32)
        found = index.search(queries, k=5)
    for q, m in zip(queries, found):
        d = np.linalg.norm(vectors - q, axis=1)
        expect = np.argsort(d)[:5]
        np.testing.assert_allclose(m.distances, d[expect], rtol=1e-4, atol=1e-4)
        assert [str(p) for p in m.paths] == [f"/photos/{(j // 50) * 50}.jpg" for j in expect]
    with pytest.raises(InputError, match=r"built with embedding 'expression-geometry-v2' \(dimension 14\).*"
                                         r"'blendshapes-v1' \(dimension 52\)"):
        ExpressionIndex(path, "blendshapes-v1", 52)
    not_index = tmp_path / "other.sqlite"
    sqlite3.connect(not_index).execute("CREATE TABLE t (a)").connection.commit()
    with pytest.raises(InputError, match="not a facepipe expression index"):
        ExpressionIndex.open(not_index)
    (tmp_path / "empty.idx").write_bytes(b"")
    with pytest.raises(InputError, match="not a facepipe expression index"):
        ExpressionIndex.open(tmp_path / "empty.idx")
    (tmp_path / "junk.idx").write_bytes(b"\x00junk" * 100)
    with pytest.raises(InputError, match="not a facepipe expression index"):
        ExpressionIndex.open(tmp_path / "junk.idx")


def test_cli_index_incremental_skips_and_reports(tmp_path, capsys, caplog):
    root = _shared() / "testdata"
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("happy/yale_01_happy.png", "surprise/yale_02_surprised.png", "sad/if_sad.png"):
        shutil.copy(root / "expressions" / name, photos)
    shutil.copy(root / "pose" / "tfjs_posenet_skiing.jpg", photos / "no_face.jpg")  # a person, no usable face
    (photos / "broken.jpg").write_bytes(b"not an image")
    index = tmp_path / "faces.idx"
    assert main(["search", "index", str(photos), "-o", str(index)]) == 1  # one unreadable file
    out = capsys.readouterr().out
    assert "added 3 faces from 3 photos" in out and "1 skipped without a face" in out and "1 unreadable" in out
    assert "skipped (no face):" in out and "no_face.jpg" in out and "unreadable:" in out and "broken.jpg" in out
    (photos / "broken.jpg").unlink()
    shutil.copy(root / "expressions" / "wink" / "yale_03_wink.png", photos)
    assert main(["search", "index", str(photos), "-o", str(index)]) == 0
    out = capsys.readouterr().out
    # 4 unchanged: 3 photos with faces and 1 without (the unreadable one is tried again: it is gone)
    assert "added 1 faces from 1 photos" in out and "4 unchanged" in out and "4 faces in the index" in out
    # A query photo that is in the index finds itself first, at distance 0.
    result = tmp_path / "m.json"
    picture = tmp_path / "m.png"
    query = photos / "yale_02_surprised.png"
    assert main(["search", "query", str(index), str(query), "-k", "2", "-o", str(result),
                 "--render", str(picture)]) == 0
    doc = json.loads(result.read_text())
    (face,) = doc["frames"][0]["faces"]
    assert doc["frames"][0]["frame"] == 0 and doc["frames"][0]["timestamp_ms"] == 0
    assert face["matches"][0]["path"] == str(query.resolve()) and face["matches"][0]["distance"] < 1e-3
    assert len(face["matches"]) == 2 and face["matches"][1]["distance"] > 0.1
    assert read_image(picture).shape[1] > 2 * read_image(picture).shape[0]  # query + 2 tiles side by side
    # Another descriptor is refused with a clear message and exit 1.
    assert main(["search", "query", str(index), str(query), "--descriptor", "blendshapes"]) == 1
    assert "built with embedding 'expression-geometry-v3'" in caplog.text
    # Usage errors exit 2 with the range or the rule in the message.
    for bad, why in ((["-k", "0"], "must be an integer >= 1, got 0"),
                     (["--min-detection-confidence", "1.5"], r"must be a number in 0.0..1.0")):
        with pytest.raises(SystemExit) as exit_info:  # argparse: the range in the message
            main(["search", "query", str(index), str(query), *bad])
        assert exit_info.value.code == 2
        assert re.search(why, capsys.readouterr().err)
    for bad, why in ((["--camera", "0"], "one of them"), (["--model-sha256", "ab"], "without --model")):
        assert main(["search", "query", str(index), str(query), *bad]) == 2
        assert why in caplog.text
    assert main(["search", "query", str(index)]) == 2


def test_onnx_embedding_model_is_pinned_and_drops_in(tmp_path, capsys, caplog):
    """Any ONNX image model works as the embedding (here YuNet's first output, 6400-d), only with its sha256."""
    model = _shared() / "models" / "face_detection_yunet_2023mar.onnx"
    if not model.is_file():
        pytest.skip("YuNet ONNX model not in ../shared/models")
    sha = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
    with pytest.raises(ModelError, match="sha256 is 8f2383e4"):
        OnnxDescriptor(model, "0" * 64)
    photos = _shared() / "testdata" / "expressions" / "happy"
    index = tmp_path / "onnx.idx"
    args = ["--model", str(model), "--model-sha256", sha]
    assert main(["search", "index", str(photos / "yale_01_happy.png"), str(photos / "if_happy.png"),
                 "-o", str(index), *args]) == 0
    with ExpressionIndex.open(index) as ix:
        assert ix.dim == 6400 and ix.descriptor_id == "onnx-" + sha[:16] and len(ix) == 2
    capsys.readouterr()
    assert main(["search", "query", str(index), str(photos / "if_happy.png"), "-f", "json", *args]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["frames"][0]["faces"][0]["matches"][0]["distance"] < 1e-3
    assert main(["search", "query", str(index), str(photos / "if_happy.png")]) == 1  # geometry: refused
    assert "dimension 6400" in caplog.text
    assert main(["search", "query", str(index), str(photos / "if_happy.png"), "--model", str(model)]) == 2
    assert "needs --model-sha256" in caplog.text


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, expressions):
    paths, *_ = expressions
    index_path = tmp_path_factory.mktemp("idx") / "expr.idx"
    embedder = FaceEmbedder()
    from facepipe.apps.expression_search.indexer import index_paths

    with embedder.open_index(index_path) as index:  # with identities, as `facepipe search index` builds it
        index_paths(index, paths, embedder)
        assert index.identity_model.startswith("dlib_resnet_v1:") and (index.group_ids() >= 0).all()
    embedder.close()
    return index_path


def test_graph_video_query_every_frame(small_index):
    """search.yaml on a real video in video mode: one result per frame, none dropped, in order."""
    from facepipe.io.video import VideoReader

    video = _shared() / "testdata" / "videos" / "pyfeat_wolfganglanger_pexels.mp4"
    frames = []
    with VideoReader(video) as reader:
        for frame in reader:
            if frame.index >= 12:
                break
            frames.append((frame.image, int(round(frame.time * 1e6))))
    with ExpressionIndex.open(small_index) as index, ExpressionSearch(index, QueryOptions(k=3, video=True)) as s:
        out = list(s.query_frames(frames))
    assert [ts for ts, _, _ in out] == [ts for _, ts in frames]
    for _, result, picture in out:
        assert len(result.faces) == 1 and len(result.matches[0]) == 3
        assert np.all(np.diff(result.matches[0].distances) >= 0)
        assert picture.ndim == 3 and picture.dtype == np.uint8


def test_graph_live_mode_drops_frames_instead_of_queueing(small_index):
    """Frames pushed faster than the graph runs are dropped by the flow limiter; matches keep coming."""
    import time

    img = read_image(_shared() / "testdata" / "expressions" / "happy" / "if_happy.png")
    seen = []
    with ExpressionIndex.open(small_index) as index:
        search = ExpressionSearch(index, QueryOptions(k=2, video=True, preview=True))  # preview: no-op here
        search.start_live(lambda ts, result, picture: seen.append((ts, result.matches[0].paths[0])))
        for i in range(60):
            search.push(img, i * 1000)  # 1 ms apart: far faster than the landmarker
        time.sleep(0.05)
        search.close()
    assert 1 <= len(seen) < 60
    assert all(str(p).endswith("if_happy.png") for _, p in seen)
    assert [ts for ts, _ in seen] == sorted(ts for ts, _ in seen)


def test_search_yaml_wires_the_documented_nodes():
    config = search_config(QueryOptions(k=5, max_num_faces=2, descriptor=DescriptorSpec("blendshapes")))
    names = {n.name: n for n in config.nodes}
    assert [n.calculator for n in config.nodes] == [
        "FlowLimiterCalculator", "FaceLandmarkerCalculator", "ExpressionEmbeddingCalculator",
        "ClosestEmbeddingsCalculator", "MatchesRenderCalculator", "PreviewCalculator"]
    assert names["closest"].options["k"] == 5 and names["closest"].side_packets == {"INDEX": "index"}
    assert names["landmarker"].options["num_faces"] == 2
    assert names["embedding"].options["descriptor"] == "blendshapes"


def test_camera_that_cannot_open_is_a_clear_error(small_index, caplog):
    assert main(["search", "query", str(small_index), "--camera", "97", "--no-preview"]) == 1
    assert "camera 97: cannot be opened" in caplog.text


def test_live_query_follows_a_capture_and_throttles_updates(small_index):
    """run_live on an OpenCV capture (a video file standing in for a camera): frames the graph cannot keep up
    with are dropped, and updates come at most once per interval, only when the matches change."""
    import cv2

    from facepipe.apps.expression_search.query import run_live

    cap = cv2.VideoCapture(str(_shared() / "testdata" / "videos" / "pyfeat_wolfganglanger_pexels.mp4"))
    assert cap.isOpened()
    updates = []
    with ExpressionIndex.open(small_index) as index:
        search = ExpressionSearch(index, QueryOptions(k=3, video=True, preview=True))  # preview: no-op here
        report = run_live(search, cap, lambda i, ts, r: updates.append((i, ts, r)), max_frames=60,
                          min_interval_s=0.2)
    cap.release()
    assert report.frames == 60 and 1 <= report.processed <= 60
    assert 1 <= report.updates == len(updates) <= report.processed
    assert report.last_picture is not None and report.last_picture.ndim == 3
    frames = [i for i, _, _ in updates]
    assert frames == sorted(frames) and all(0 <= i < 60 for i in frames)
    keys = [tuple(tuple(m.paths.tolist()) for m in r.matches) for _, _, r in updates]
    assert all(a != b for a, b in zip(keys, keys[1:]))  # an update only when the matches change


def test_graph_without_picture_gives_the_same_matches(small_index, expressions):
    """picture=False drops the render and preview nodes; the matches are the same."""
    paths, _, _, _, images = expressions
    with ExpressionIndex.open(small_index) as index, ExpressionSearch(index, QueryOptions(k=3)) as full, \
                ExpressionSearch(index, QueryOptions(k=3, picture=False)) as bare:
        assert [n.name for n in search_config(bare.options).nodes][-1] == "closest"
        for image in images[:4]:
            a, pic_a = full.query_image(image)
            b, pic_b = bare.query_image(image)
            assert pic_a is not None and pic_b is None
            assert a.to_faces_json() == b.to_faces_json()


def test_cli_video_query_json_per_frame(small_index, tmp_path):
    video = _shared() / "testdata" / "videos" / "pyfeat_single_face.mp4"
    out = tmp_path / "v.json"
    picture = tmp_path / "best.png"
    assert main(["search", "query", str(small_index), str(video), "--max-frames", "4", "-k", "2", "-o", str(out),
                 "--render", str(picture)]) == 0
    doc = json.loads(out.read_text())
    assert [f["frame"] for f in doc["frames"]] == [0, 1, 2, 3]
    stamps = [f["timestamp_ms"] for f in doc["frames"]]
    assert stamps[0] == 0 and all(30 <= b - a <= 37 for a, b in zip(stamps, stamps[1:]))  # 30 fps
    for frame in doc["frames"]:
        (face,) = frame["faces"]
        assert len(face["matches"]) == 2 and face["matches"][0]["distance"] <= face["matches"][1]["distance"]
        x1, y1, x2, y2 = face["box"]
        assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 360
    assert read_image(picture).ndim == 3


# ------------------------------------------------------------------------- identity-normalised search


@pytest.fixture(scope="module")
def identities(expressions):
    """(N,128) recognition embeddings of the shared expression photos (dlib, from the landmarker's points)."""
    paths, _, _, results, images = expressions
    embedder = IdentityEmbedder()
    return np.concatenate([embedder.embed(im, r) for im, r in zip(images, results)])


def test_identity_groups_find_the_people_of_the_shared_photos(expressions, identities):
    """The index's grouping (IdentityOptions' threshold, photos in file order) against the file names' people.

    Measured: 10 groups; no group holds two Yale people; 22 of the 24 Yale faces are in their person's main
    group (yale_01_happy and yale_03_surprised start groups of their own: a big smile or an open mouth moves
    the recognition embedding); if_close_eyes and if_open_eyes share a group (0.39 apart; by eye the same
    woman, though the file names do not say)."""
    paths, labels, persons, _, _ = expressions
    groups = IdentityGroups(IdentityOptions().threshold).assign(identities)
    yale = np.array([p.startswith("yale_") for p in persons])
    for g in np.unique(groups[yale]):
        assert len(set(persons[yale & (groups == g)])) == 1, "a group mixes two Yale people"
    in_main = sum(np.unique(groups[persons == p], return_counts=True)[1].max() for p in set(persons[yale]))
    assert in_main >= 20  # measured 22 of 24
    for name in ("if_anger.png", "if_happy.png", "if_sad.png"):  # people seen once are alone
        (i,) = np.flatnonzero(persons == name)
        assert (groups == groups[i]).sum() == 1


def _loo_through_index(tmp_path, paths, labels, vectors, identities, options=None):
    """Leave-one-out through real indexes: every other face put in a fresh index (with its identity), then
    the face queried with its own identity. Returns P@1."""
    hits = 0
    for q in range(len(paths)):
        path = tmp_path / f"loo{q}.idx"
        with ExpressionIndex(path, "expression-geometry-v2", vectors.shape[1], identity_model="dlib-test",
                             identity=options) as index:
            for i in range(len(paths)):
                if i != q:
                    index.put_file(str(paths[i]), 1, 1, boxes=np.zeros((1, 4)), vectors=vectors[i:i + 1],
                                   identities=identities[i:i + 1])
            (found,) = index.search(vectors[q:q + 1], 1, identities[q:q + 1])
        hits += labels[paths.index(Path(found.paths[0]))] == labels[q]
        path.unlink()
    return hits / len(paths)


def test_identity_normalised_search_beats_the_plain_descriptor(tmp_path, expressions, identities):
    """On the shared test photos, the shipped search (v3 descriptor, centred by identity group; settings chosen on
    the tuning split, the v3 symmetry picked after the test set was scored: docs/expression-search.md) reaches
    leave-one-out P@1 0.828 (v2 0.793, v2 uncentred 0.621; bench_search.py), asserted with a margin of one face.
    The real index (put_file's grouping, the centring at load, the query's own group) gives what the
    benchmark's simulation gives."""
    paths, labels, persons, results, images = expressions
    geo = _stack(GeometryDescriptor(), results, images)
    plain = leave_one_out(lambda q: geo, labels, persons).p_at_1
    shipped = _stack(ExpressionDescriptor(), results, images)
    normalised = leave_one_out(identity_normalised(shipped, identities, IdentityOptions()), labels, persons)
    assert normalised.p_at_1 >= plain + 0.15  # measured 0.828 vs 0.621
    assert normalised.p_at_1 >= 0.79  # 23 of 29; measured 24
    assert normalised.same_person_other_label <= 2  # measured 1 of 24
    assert normalised.other_person_same_label >= 19  # measured 21 of 24
    assert _loo_through_index(tmp_path, list(paths), labels, shipped.astype(np.float32), identities) == pytest.approx(
        normalised.p_at_1)


def test_identity_normalisation_on_the_tuning_split_only():
    """The shipped settings are the tuning split's best: leave-one-out there (no test photo) well above the
    plain descriptor (measured 0.879 vs 0.788)."""
    tune = load_tune_split(TUNE_SPLIT, GEOMETRY_FEATURES)
    assert tune.identities is not None and tune.identities.shape == (66, 128)
    plain = leave_one_out(lambda q: tune.geometry, tune.labels, tune.persons).p_at_1
    tuned = leave_one_out(identity_normalised(tune.geometry, tune.identities, IdentityOptions()), tune.labels,
                          tune.persons).p_at_1
    assert tuned >= plain + 0.05
    groups = IdentityGroups(IdentityOptions().threshold).assign(tune.identities)
    assert len(set(groups.tolist())) == 11  # one group per tuning person
    assert all(len(set(tune.persons[groups == g])) == 1 for g in set(groups.tolist()))


def test_symmetric_descriptor_on_the_tuning_split_and_mirrored_queries():
    """v3 = v2 made mirror-symmetric, measured on the tuning split: as good as v2 on the photos as taken (0.879
    both), and a query given as its mirror image (landmarker run on the flipped photo) still finds its label
    (0.879, v2 0.697)."""
    tune = load_tune_split(TUNE_SPLIT, GEOMETRY_FEATURES)
    options = IdentityOptions()

    def p_at_1(gallery, queries):
        vf = lopo_identity_normalised(lambda train: (gallery, queries), tune.persons, tune.identities, options)
        return leave_one_out(vf, tune.labels, tune.persons).p_at_1

    v2, v2_mirrored = p_at_1(tune.geometry, tune.geometry), p_at_1(tune.geometry, tune.geometry_mirrored)
    sym = symmetric_geometry(tune.geometry)
    v3, v3_mirrored = p_at_1(sym, sym), p_at_1(sym, symmetric_geometry(tune.geometry_mirrored))
    assert v3 >= v2 - 1e-9 and v3 >= 0.85  # measured 0.879 and 0.879
    assert v3_mirrored >= v2_mirrored + 0.1  # measured 0.879 vs 0.697


def test_symmetry_swaps_sides_exactly():
    """Mirroring swaps each right/left feature with its twin and negates the asymmetries; the symmetric vector
    of a face and of its mirror are the same."""
    from facepipe.solutions.blendshapes import BLENDSHAPE_NAMES

    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 14))
    x[:, 11] = x[:, 0] - x[:, 1]  # asymmetries are right minus left, as geometry_features makes them
    x[:, 12] = x[:, 2] - x[:, 3]
    x[:, 13] = x[:, 7] - x[:, 8]
    m = mirror_geometry(x)
    named = dict(zip(GEOMETRY_FEATURES, m.T))
    np.testing.assert_array_equal(named["left_eye_open"], x[:, 0])
    np.testing.assert_array_equal(named["right_corner_height"], x[:, 8])
    np.testing.assert_allclose(named["eye_open_asymmetry"], m[:, 0] - m[:, 1])
    np.testing.assert_array_equal(mirror_geometry(m), x)
    np.testing.assert_allclose(symmetric_geometry(m), symmetric_geometry(x))
    names = list(BLENDSHAPE_NAMES)
    b = rng.random((3, 52))
    mb = mirror_blendshapes(b)
    assert (mb[:, names.index("eyeBlinkLeft")] == b[:, names.index("eyeBlinkRight")]).all()
    assert (mb[:, names.index("jawOpen")] == b[:, names.index("jawOpen")]).all()
    np.testing.assert_array_equal(mirror_blendshapes(mb), b)
    np.testing.assert_allclose(symmetric_blendshapes(mb), symmetric_blendshapes(b))


def test_v3_descriptor_is_the_symmetric_geometry_and_ignores_mirroring(expressions):
    """ExpressionDescriptor (the shipped v3, 14-d) is symmetric_geometry of the v2 features; a photo and its mirror
    image get nearly one vector (the landmarker's noise only), where v2's differ by the swapped sides."""
    from facepipe.solutions.face_landmarker import FaceLandmarker

    paths, _, _, results, images = expressions
    d = ExpressionDescriptor()
    assert d.id == "expression-geometry-v3" and d.dim == 14 and DescriptorSpec().name == "geometry"
    shipped = _stack(d, results, images)
    v2 = _stack(GeometryDescriptor(), results, images)
    np.testing.assert_allclose(shipped, symmetric_geometry(v2), atol=1e-5)
    i = next(k for k, p in enumerate(paths) if p.name == "yale_01_wink.png")
    flipped = np.ascontiguousarray(images[i][:, ::-1])
    mirrored = FaceLandmarker(EmbedOptions(max_num_faces=1).landmarker_options()).detect(flipped)
    gap_v3 = np.linalg.norm(d.describe(flipped, mirrored)[0] - shipped[i])
    gap_v2 = np.linalg.norm(GeometryDescriptor().describe(flipped, mirrored)[0] - v2[i])
    spread = np.median(np.linalg.norm(shipped - shipped[i], axis=1))
    assert gap_v3 < 0.25 * spread and gap_v3 < 0.5 * gap_v2


def test_query_person_absent_from_the_index_is_searched_uncentred(tmp_path, expressions):
    """A query of someone the index has never seen falls in no group and is searched as it is; it still gets
    its k matches, through the graph and the CLI."""
    paths, labels, persons, _, images = expressions
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in paths:
        if not p.name.startswith("yale_05"):
            shutil.copy(p, photos / p.name)
    index = tmp_path / "no05.idx"
    assert main(["search", "index", str(photos), "-o", str(index)]) == 0
    query = next(i for i, p in enumerate(paths) if p.name == "yale_05_happy.png")
    embedder = IdentityEmbedder()
    with ExpressionIndex.open(index) as ix, ExpressionSearch(ix, QueryOptions(k=3, picture=False)) as search:
        from facepipe.solutions.face_landmarker import FaceLandmarker

        faces = FaceLandmarker(EmbedOptions(max_num_faces=1).landmarker_options()).detect(images[query])
        own = embedder.embed(images[query], faces)
        assert IdentityGroups.nearest(ix._identity_groups(), own)[0] == -1  # nobody near enough
        assert not ix.query_offsets(own, 1).any()
        plain = ix.search(ExpressionDescriptor().describe(images[query], faces), 3)[0]
        result, _ = search.query_image(images[query])
        (found,) = result.matches
        assert len(found) == 3 and list(found.paths) == list(plain.paths)  # the uncentred query's neighbours
        np.testing.assert_allclose(found.distances, plain.distances, atol=1e-4)
        # A person who is in the index is centred: yale_01's own photo moves by its group's offset.
        seen = next(i for i, p in enumerate(paths) if p.name == "yale_01_sad.png")
        faces = FaceLandmarker(EmbedOptions(max_num_faces=1).landmarker_options()).detect(images[seen])
        assert np.abs(ix.query_offsets(embedder.embed(images[seen], faces), 1)).max() > 0.01


def test_identity_groups_stay_right_when_files_change(tmp_path):
    """Re-indexing a file takes its old faces out of their groups; a file put twice is counted once."""
    rng = np.random.default_rng(1)
    people = rng.normal(size=(3, 128)) * 0.2
    with ExpressionIndex(tmp_path / "g.idx", "expression-geometry-v2", 14, identity_model="m") as index:
        for i in range(9):
            ids = (people[i % 3] + rng.normal(size=128) * 0.005)[None].astype(np.float32)
            index.put_file(f"/p/{i}.jpg", 1, 1, boxes=np.zeros((1, 4)),
                           vectors=rng.normal(size=(1, 14)).astype(np.float32), identities=ids)
        groups = index.group_ids()
        assert len(set(groups.tolist())) == 3 and all(len(set(groups[i::3].tolist())) == 1 for i in range(3))
        before = index._identity_groups()._counts.copy()
        index.put_file("/p/0.jpg", 1, 2, boxes=np.zeros((1, 4)), vectors=np.zeros((1, 14), np.float32),
                       identities=people[0][None].astype(np.float32))
        np.testing.assert_array_equal(index._identity_groups()._counts, before)
        assert index.remove_missing({f"/p/{i}.jpg" for i in range(1, 9)}) == 1
        assert sorted(np.bincount(index.group_ids()).tolist()) == [2, 3, 3]
    # Reopened: the groups are read back from the file, the same.
    with ExpressionIndex.open(tmp_path / "g.idx") as index:
        assert sorted(np.bincount(index.group_ids()).tolist()) == [2, 3, 3]
        assert index._identity_groups()._counts.tolist() == [2, 3, 3]


def test_old_index_format_and_other_identity_model_are_refused(tmp_path, caplog):
    path = tmp_path / "old.idx"
    with ExpressionIndex(path, "expression-geometry-v2", 14):
        pass
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '1' WHERE key = 'version'")
    db.commit()
    db.close()
    with pytest.raises(InputError, match=r"format '1'.*format '2'.*Build it again"):
        ExpressionIndex.open(path)
    photo = _shared() / "testdata" / "expressions" / "happy" / "if_happy.png"
    assert main(["search", "query", str(path), str(photo)]) == 1
    assert "format '1'" in caplog.text
    # An index of the v2 descriptor (same dimension as v3, other vectors) is refused: build it again.
    v2 = tmp_path / "v2.idx"
    with ExpressionIndex(v2, "expression-geometry-v2", 14):
        pass
    with pytest.raises(InputError, match=r"'expression-geometry-v2' \(dimension 14\).*'expression-geometry-v3'"
                                         r" \(dimension 14\).*older facepipe.*build it again"):
        ExpressionIndex(v2, "expression-geometry-v3", 14)
    assert main(["search", "query", str(v2), str(photo)]) == 1
    assert "older facepipe's geometry descriptor" in caplog.text
    # An index built with one recognition model refuses another (or none) for new photos.
    other = tmp_path / "other.idx"
    with ExpressionIndex(other, "expression-geometry-v2", 14, identity_model="dlib_resnet_v1:0000"):
        pass
    with pytest.raises(InputError, match=r"built with 'dlib_resnet_v1:0000'.*Build a new index"):
        ExpressionIndex(other, "expression-geometry-v2", 14, identity_model="dlib_resnet_v1:1111")
    assert main(["search", "index", str(photo), "-o", str(other)]) == 1
    assert "dlib_resnet_v1:0000" in caplog.text
    assert main(["search", "index", str(photo), "-o", str(tmp_path / "plain.idx"), "--no-identity"]) == 0
    with ExpressionIndex.open(tmp_path / "plain.idx") as index:
        assert index.identity_model == "" and not index.identity.enabled and index.group_ids().tolist() == [-1]
