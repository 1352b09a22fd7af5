"""facepipe train: dataset layout round trip, bad inputs, training -> ONNX export parity, runtime regressor.

Datasets are made from short pieces of two shared videos (24 frames each), so everything
here runs in seconds. Needs PyTorch (the `train` extra, part of `test`): a missing torch fails.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch  # in the test extra: a missing torch fails here, it is never skipped
from clitools import run_cli
from conftest import testdata_file as shared_file

from facepipe.apps.trainer.dataset import CACHE_NAME, csv_text, folder_landmarks, read_folder, read_root
from facepipe.apps.trainer.make_dataset import MakeDatasetOptions, make_dataset
from facepipe.apps.trainer.samples import image_landmarker, load_samples
from facepipe.apps.trainer.trainer import TrainOptions
from facepipe.errors import InputError
from facepipe.solutions.blendshape_regressor import LIVE_LINK_NAMES, BlendshapeRegressor

TINY = TrainOptions(seed=3, hidden=(16,), max_epochs=4, patience=4, batch_size=8, num_threads=1, teacher_mix=40,
                    val_sets=("talk",), ensemble=1)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("trainer") / "data"
    make_dataset(shared_file("videos/pyfeat_single_face.mp4"), base / "smile", MakeDatasetOptions(max_frames=24))
    make_dataset(shared_file("videos/lp_d20_talking.mp4"), base / "talk", MakeDatasetOptions(max_frames=24, every=2))
    make_dataset(shared_file("videos/lp_d11_child.mp4"), base / "child", MakeDatasetOptions(max_frames=12, every=2))
    return base


def _copy(root: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(root, dst)
    return dst


def test_make_dataset_writes_the_seed_layout(root):
    assert (root / "sets.txt").read_text().split() == ["smile", "talk", "child"]
    folders = read_root(root)
    assert [f.name for f in folders] == ["smile", "talk", "child"]
    smile = folders[0]
    assert len(smile.images) == 24 and smile.images[0].name == "smile_000000.jpg"
    assert smile.labels.shape == (24, 52) and (smile.labels >= 0).all() and (smile.labels <= 1).all()
    header = (root / "smile" / "smile.csv").read_text().splitlines()[0].split(",")
    assert tuple(header) == LIVE_LINK_NAMES and header[0] == "eyeBlinkRight" and header[-1] == "tongueOut"
    assert len(folders[1].images) == 12  # every 2nd of 24 frames
    # The teacher: a smiling face scores high on the smile shapes
    assert smile.labels[:, LIVE_LINK_NAMES.index("mouthSmileLeft")].max() > 0.3
    assert not any(p.name.endswith(".partial") for p in root.iterdir())


def test_landmark_cache_matches_a_fresh_computation(root, tmp_path):
    data = _copy(root, tmp_path)
    folder = read_folder(data / "smile")
    cached = folder_landmarks(folder, lambda: pytest.fail("the cache should answer"))
    (data / "smile" / CACHE_NAME).unlink()
    fresh = folder_landmarks(folder, image_landmarker)
    np.testing.assert_array_equal(cached.landmarks, fresh.landmarks)
    np.testing.assert_array_equal(cached.neutral, fresh.neutral)


def test_train_export_onnx_matches_pytorch_and_is_deterministic(root, tmp_path):
    from facepipe.apps.trainer.run import train_blendshapes

    run = train_blendshapes(root, tmp_path / "m.onnx", TINY)
    again = train_blendshapes(root, tmp_path / "m2.onnx", TINY)
    assert (tmp_path / "m.onnx").read_bytes() == (tmp_path / "m2.onnx").read_bytes()
    assert run.result.train_sets and run.result.val_sets and not set(run.result.train_sets) & set(run.result.val_sets)
    assert len(run.result.history["val_mae"]) <= TINY.max_epochs and again.result.best_epoch == run.result.best_epoch
    assert run.result.samples == 24 + 6 + 40  # the training folders' frames and the blended faces

    samples = load_samples(read_root(root))
    reg = BlendshapeRegressor(tmp_path / "m.onnx", forced_zero=())
    onnx_out = reg.predict(samples.features)
    with torch.no_grad():
        torch_out = run.network(torch.from_numpy(samples.features)).numpy()
    np.testing.assert_allclose(onnx_out, torch_out, atol=1e-5, rtol=0)
    assert onnx_out.std(0).max() > 0  # not a constant

    # Runtime: landmarks in, with the neutral calibrated from the folder's neutral image
    folder = read_folder(root / "smile")
    lms = folder_landmarks(folder, image_landmarker)
    reg.calibrate(lms.neutral[None], lms.neutral_size)
    size = tuple(int(v) for v in lms.sizes[0])
    live = reg(lms.landmarks[:5], size)
    np.testing.assert_allclose(live, onnx_out[:5], atol=1e-5)
    # Calibrated with the neutral face's labels: the neutral face gets exactly those (clipped, forced
    # zeros kept), every other face is shifted by the same amount; reset_calibration undoes it.
    from facepipe.solutions.blendshape_regressor import teacher_labels

    labels = teacher_labels(lms.neutral[None], lms.neutral_size)
    assert labels.shape == (1, 52) and (labels >= 0).all() and (labels <= 1).all()
    before = reg(lms.neutral[None], lms.neutral_size)
    reg.calibrate(lms.neutral[None], lms.neutral_size, labels=labels)
    np.testing.assert_allclose(reg(lms.neutral[None], lms.neutral_size), labels, atol=1e-5)
    shifted = reg(lms.landmarks[:5], size)
    np.testing.assert_allclose(shifted, np.clip(live + (labels - before), 0, 1), atol=1e-5)
    reg.reset_calibration()
    reg.calibrate(lms.neutral[None], lms.neutral_size)
    np.testing.assert_allclose(reg(lms.landmarks[:5], size), live, atol=1e-6)
    zeroed_reg = BlendshapeRegressor(tmp_path / "m.onnx")
    zeroed_reg.calibrate(lms.neutral[None], lms.neutral_size, labels=np.ones(52))
    tongue = LIVE_LINK_NAMES.index("tongueOut")
    assert (zeroed_reg(lms.landmarks[:5], size)[:, tongue] == 0).all()  # forced zeros stay 0
    with pytest.raises(ValueError, match="finite"):
        zeroed_reg.calibrate(lms.neutral[None], lms.neutral_size, labels=np.full(52, np.nan))
    zeroed = BlendshapeRegressor(tmp_path / "m.onnx")(lms.landmarks[:5], size)
    assert (zeroed[:, LIVE_LINK_NAMES.index("tongueOut")] == 0).all()
    assert (zeroed[:, LIVE_LINK_NAMES.index("cheekPuff")] == 0).all()


def test_an_ensemble_exports_the_average_of_its_networks(root, tmp_path):
    import dataclasses

    from facepipe.apps.trainer.run import train_blendshapes

    run = train_blendshapes(root, tmp_path / "e.onnx", dataclasses.replace(TINY, ensemble=3))
    assert len(run.result.members) == 3 and run.result.members[0] is run.result.layers
    samples = load_samples(read_root(root))
    onnx_out = BlendshapeRegressor(tmp_path / "e.onnx", forced_zero=()).predict(samples.features)
    x = torch.from_numpy(samples.features)
    with torch.no_grad():
        members = [m(x).numpy() for m in run.network.members]
        np.testing.assert_allclose(onnx_out, run.network(x).numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(onnx_out, np.mean(members, axis=0), atol=1e-5, rtol=0)
    assert np.abs(members[0] - members[1]).max() > 1e-3  # different seeds, different networks
    # the first member is the single network of the same seed
    single = train_blendshapes(root, tmp_path / "s.onnx", TINY)
    with torch.no_grad():
        np.testing.assert_array_equal(single.network(x).numpy(), members[0])


def test_blending_a_face_with_weight_zero_gives_back_its_teacher_labels(root):
    from facepipe.apps.trainer.augment import mixed_inputs, teacher_mixes
    from facepipe.solutions.blendshape_regressor import featurizer

    samples = load_samples(read_root(root))
    mixes = teacher_mixes(samples.landmarks, 30, featurizer(), seed=2, mix_range=(0.0, 0.0))
    # Canonical frame -> back into the image is exact: each unblended face is a frame of the dataset, and the
    # teacher labels it as make-dataset did (its CSV row); its inputs are that frame's inputs.
    dist = np.abs(mixes.labels[:, None] - samples.labels[None]).max(-1)
    nearest = dist.argmin(1)
    assert dist.min(1).max() < 2e-3
    np.testing.assert_allclose(mixed_inputs(mixes, featurizer()), samples.features[nearest], atol=2e-3)
    halfway = teacher_mixes(samples.landmarks, 30, featurizer(), seed=2, mix_range=(0.5, 0.5))
    assert np.abs(halfway.labels[:, None] - samples.labels[None]).max(-1).min(1).max() > 0.01  # new faces


def test_mirror_mixes_add_each_folder_flipped_as_a_person_of_its_own(root):
    from facepipe.apps.trainer.augment import teacher_mixes
    from facepipe.solutions.blendshape_regressor import featurizer
    from facepipe.solutions.face_geometry import load_geometry_metadata
    from facepipe.stages.face_mirror import mirror_order, mirrored_landmarks

    samples = load_samples(read_root(root))
    frames = np.concatenate([f.landmarks[f.found] for f in samples.landmarks])
    flipped = mirrored_landmarks(frames, mirror_order(load_geometry_metadata().vertices))

    def kinds(mixes):  # per mix: an unblended recorded frame (0), a flipped one (1), or neither (-1)
        near = [np.abs(mixes.landmarks[:, None] - f[None]).max((2, 3)).min(1) < 1e-4 for f in (frames, flipped)]
        return np.where(near[0], 0, np.where(near[1], 1, -1))

    plain = kinds(teacher_mixes(samples.landmarks, 60, featurizer(), seed=2, mix_range=(0.0, 0.0)))
    assert (plain == 0).all()
    mirrored = teacher_mixes(samples.landmarks, 60, featurizer(), seed=2, mix_range=(0.0, 0.0), mirror=True)
    got = kinds(mirrored)
    assert (got >= 0).all() and 15 <= (got == 1).sum() <= 45  # half the people are the flipped folders
    # transfer mixes of mirrored people are new faces, labelled by the teacher like any other
    t = teacher_mixes(samples.landmarks, 40, featurizer(), seed=4, mode="transfer", mirror=True)
    assert t.landmarks.shape == (40, 478, 3) and np.isfinite(t.landmarks).all()
    assert (t.labels >= 0).all() and (t.labels <= 1).all()


def test_cli_train_eval_and_landmarks_with_the_regressor(root, tmp_path):
    model = tmp_path / "cli.onnx"
    r = run_cli("train", "blendshapes", root, "-o", model, "--epochs", "3", "--hidden", "8",
                "--batch-size", "8", "--seed", "1", "--val-sets", "talk")
    assert r.returncode == 0, r.stderr
    assert model.is_file() and model.with_suffix(".loss.png").is_file()
    from facepipe.solutions.blendshape_regressor import read_metadata

    assert read_metadata(model)["info"]["mirror"] is True
    flat = tmp_path / "no_mirror.onnx"
    r = run_cli("train", "blendshapes", root, "-o", flat, "--epochs", "1", "--hidden", "8", "--batch-size", "8",
                "--val-sets", "talk", "--teacher-mix", "8", "--no-mirror")
    assert r.returncode == 0, r.stderr
    assert read_metadata(flat)["info"]["mirror"] is False and read_metadata(flat)["info"]["teacher_mix"] == 8
    report = tmp_path / "eval.json"
    r = run_cli("train", "eval", root, model, "-o", report)
    assert r.returncode == 0, r.stderr
    assert "mean" in r.stdout and report.with_suffix(".png").is_file()
    import json

    doc = json.loads(report.read_text())
    assert doc["samples"] == 42 and set(doc["blendshapes"]) == set(LIVE_LINK_NAMES)
    out = tmp_path / "lm.json"
    photo = root / "smile" / "smile_000005.jpg"
    r = run_cli("landmarks", photo, "--blendshapes", model, "-o", out)
    assert r.returncode == 0, r.stderr
    face = json.loads(out.read_text())["frames"][0]["faces"][0]
    assert face["blendshapes"]["_neutral"] == 0.0
    reg = BlendshapeRegressor(model)
    lm = np.array(face["landmarks"], np.float32)[None]
    want = reg.tasks_order(lm, (640, 360))[0]
    got = np.array(list(face["blendshapes"].values()))
    np.testing.assert_allclose(got, want, atol=2e-4)


def test_live_link_csv_labels_frames_by_timecode(tmp_path):
    rng = np.random.default_rng(0)
    rows = rng.uniform(0, 1, (40, 52)).round(4)
    names = [n[0].upper() + n[1:] for n in LIVE_LINK_NAMES]  # Live Link Face capitalises its names
    lines = ["Timecode,BlendShapeCount," + ",".join(names) + ",HeadYaw"]
    for i, r in enumerate(rows):  # 60 fps timecodes starting at 10:00:00:00
        lines.append(f"10:00:{i // 60:02d}:{i % 60:02d}.000,61," + ",".join(map(str, r)) + ",0.1")
    csv_path = tmp_path / "take.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    video = shared_file("videos/pyfeat_single_face.mp4")  # 30 fps
    rep = make_dataset(video, tmp_path / "ll" / "take", MakeDatasetOptions(max_frames=30, live_link=csv_path))
    # 40 rows at 60 fps cover 0.65 s: video frames at 0, 1/30, ... 19/30 s have a row, later ones not
    assert rep.images == 20 and rep.unlabelled == 10
    labels = read_folder(tmp_path / "ll" / "take").labels
    np.testing.assert_allclose(labels, rows[::2][:20], atol=1e-6)


def test_bad_datasets_fail_with_one_clear_error(root, tmp_path):
    data = _copy(root, tmp_path)
    (data / "sets.txt").write_text("smile\nmissing\n")
    with pytest.raises(InputError, match=r"sets.txt: names folder 'missing', which does not exist"):
        read_root(data)
    (data / "sets.txt").write_text("smile\n")
    table = data / "smile" / "smile.csv"
    good = table.read_text()
    table.write_text(good.replace("eyeBlinkRight", "eyeBlinkLeft", 1))
    with pytest.raises(InputError, match=r"smile.csv: column 1 is 'eyeBlinkLeft', expected 'eyeBlinkRight'"):
        read_root(data)
    lines = good.splitlines()
    table.write_text("\n".join([",".join(lines[0].split(",")[:51])] + lines[1:]) + "\n")
    with pytest.raises(InputError, match=r"smile.csv: header has 51 columns"):
        read_root(data)
    table.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(InputError, match=r"smile.csv: 23 label rows but 24 images"):
        read_root(data)
    table.write_text(good)
    (data / "smile" / "neutral.jpg").unlink()
    with pytest.raises(InputError, match=r"neutral.jpg: missing"):
        read_root(data)
    r = run_cli("train", "blendshapes", data, "-o", tmp_path / "x.onnx")
    assert r.returncode == 1 and "neutral.jpg: missing" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.onnx").exists()


def test_images_without_a_face_are_skipped_and_counted(root, tmp_path):
    data = _copy(root, tmp_path)
    blank = np.full((360, 640, 3), 128, np.uint8)
    for i in (3, 7):
        cv2.imwrite(str(data / "smile" / f"smile_{i:06d}.jpg"), blank)
    samples = load_samples(read_root(data))
    assert samples.skipped == {"smile": 2}
    assert len(samples) == 24 - 2 + 12 + 6


def test_make_dataset_refuses_existing_output_and_faceless_input(root, tmp_path):
    before = sorted(p.name for p in (root / "smile").iterdir())
    with pytest.raises(InputError, match="already exists"):
        make_dataset(shared_file("videos/pyfeat_single_face.mp4"), root / "smile", MakeDatasetOptions(max_frames=2))
    assert sorted(p.name for p in (root / "smile").iterdir()) == before
    faceless = tmp_path / "faceless"
    faceless.mkdir()
    cv2.imwrite(str(faceless / "a.png"), np.full((64, 64, 3), 200, np.uint8))
    with pytest.raises(InputError, match="no face found in any frame; nothing written"):
        make_dataset(faceless, tmp_path / "out" / "x")
    assert not (tmp_path / "out" / "x").exists() and not list((tmp_path / "out").glob(".x.*"))


def test_csv_text_round_trips_through_the_reader(tmp_path):
    labels = np.random.default_rng(1).uniform(0, 1, (3, 52)).astype(np.float32)
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "f.csv").write_text(csv_text(labels))
    for i in range(3):
        cv2.imwrite(str(folder / f"f_{i:06d}.jpg"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(folder / "neutral.jpg"), np.zeros((8, 8, 3), np.uint8))
    np.testing.assert_allclose(read_folder(folder).labels, labels, atol=1e-6)


def test_more_bad_datasets_name_the_file_and_the_problem(root, tmp_path):
    data = _copy(root, tmp_path)
    (data / "sets.txt").write_text("talk\n")
    table = data / "talk" / "talk.csv"
    good = table.read_text()
    lines = good.splitlines()
    table.write_text("\n".join([lines[0], lines[1] + ",0.5", *lines[2:]]) + "\n")
    with pytest.raises(InputError, match=r"talk.csv: row 2 has 53 values, expected 52"):
        read_root(data)
    table.write_text("\n".join([lines[0], lines[1].replace(lines[1].split(",")[0], "1.7", 1), *lines[2:]]) + "\n")
    with pytest.raises(InputError, match=r"talk.csv: row 2, eyeBlinkRight = 1.7.*must be in \[0, 1\]"):
        read_root(data)
    table.write_text(good)
    (data / "talk" / "talk_000004.jpg").unlink()
    with pytest.raises(InputError, match=r"talk_000004.jpg: missing \(images must be numbered"):
        read_root(data)
    (data / "sets.txt").unlink()
    with pytest.raises(InputError, match=r"sets.txt: missing"):
        read_root(data)
    # A neutral image without a face: the folder cannot be calibrated, it is an error, not a skip
    (data / "sets.txt").write_text("smile\n")
    cv2.imwrite(str(data / "smile" / "neutral.jpg"), np.full((360, 640, 3), 128, np.uint8))
    with pytest.raises(InputError, match=r"neutral.jpg: no face found in the neutral image"):
        load_samples(read_root(data))


def test_eval_reports_the_faceless_images_it_skipped(root, tmp_path):
    from facepipe.apps.trainer.run import evaluate_root, train_blendshapes

    data = _copy(root, tmp_path)
    cv2.imwrite(str(data / "child" / "child_000002.jpg"), np.full((512, 512, 3), 90, np.uint8))
    model = tmp_path / "m.onnx"
    train_blendshapes(root, model, TrainOptions(seed=1, hidden=(8,), max_epochs=2, batch_size=16, val_sets=("talk",)))
    report = evaluate_root(data, model)
    assert report.skipped == {"child": 1} and report.samples == 24 + 12 + 6 - 1
    assert report.to_dict()["skipped_no_face"] == {"child": 1}
    r = run_cli("train", "eval", data, model, "-o", tmp_path / "e.json")
    assert r.returncode == 0, r.stderr
    assert "child" in r.stderr and "1 of 6 images without a face" in r.stderr


def test_transfer_mixes_put_other_expressions_on_new_faces(root):
    from facepipe.apps.trainer.augment import teacher_mixes
    from facepipe.solutions.blendshape_regressor import featurizer

    samples = load_samples(read_root(root))
    a = teacher_mixes(samples.landmarks, 40, featurizer(), seed=4, mode="transfer")
    b = teacher_mixes(samples.landmarks, 40, featurizer(), seed=4, mode="transfer")
    np.testing.assert_array_equal(a.labels, b.labels)  # seeded
    assert a.landmarks.shape == (40, 478, 3) and np.isfinite(a.landmarks).all()
    assert (a.labels >= 0).all() and (a.labels <= 1).all()
    blend = teacher_mixes(samples.landmarks, 40, featurizer(), seed=4)
    assert np.abs(a.labels - blend.labels).max() > 0.05
    # the jaw-open spread of the recorded frames survives the transfer (blending averages it away)
    jaw = LIVE_LINK_NAMES.index("jawOpen")
    assert a.labels[:, jaw].std() > 0.5 * samples.labels[:, jaw].std()
    with pytest.raises(Exception, match="mix mode"):
        teacher_mixes(samples.landmarks, 4, featurizer(), mode="swap")
    # transfer-all: the new person's neutral is a convex blend of all three recorded neutral faces
    c = teacher_mixes(samples.landmarks, 40, featurizer(), seed=4, mode="transfer-all")
    assert c.landmarks.shape == (40, 478, 3) and np.isfinite(c.landmarks).all()
    assert (c.labels >= 0).all() and (c.labels <= 1).all() and np.abs(c.labels - a.labels).max() > 0.01
    assert c.labels[:, jaw].std() > 0.5 * samples.labels[:, jaw].std()


def test_features_match_the_per_patch_reference_and_mark_failed_faces(root):
    from facepipe.solutions.blendshape_regressor import featurizer
    from facepipe.stages.blendshape_features import _patch_xy

    feat = featurizer()
    lms = folder_landmarks(read_folder(root / "talk"), image_landmarker)
    size = tuple(int(v) for v in lms.sizes[0])
    faces = lms.landmarks[lms.found].copy()
    obj = feat.object_space(faces, size)  # all 478 points, one patch at a time: the readable reference
    ref = np.concatenate([_patch_xy(obj, p) for p in feat.patches], axis=1).reshape(len(faces), -1)
    got = feat(faces, size)
    assert got.shape == (len(faces), feat.num_features) and got.dtype == np.float32
    np.testing.assert_allclose(got, (ref - feat._low) / feat._span, atol=1e-6)
    # a face whose landmarks all coincide cannot be fitted: NaN, the others unchanged
    faces[1] = faces[1].mean(0)
    out = feat(faces, size)
    assert np.isnan(out[1]).all() and np.isfinite(np.delete(out, 1, 0)).all()
    np.testing.assert_array_equal(np.delete(out, 1, 0), np.delete(got, 1, 0))
    # NaN in a landmark the fit uses: a NaN face (not an SVD error), the others unchanged
    faces[2, feat._procrustes.selected[0]] = np.nan
    out = feat(faces, size)
    assert np.isnan(out[1:3]).all() and np.isfinite(np.delete(out, [1, 2], 0)).all()


def test_fast_features_equal_the_procrustes_path_for_turned_and_scaled_faces(root):
    """__call__ skips the fit (the patch projection is similarity-invariant); it must give what the fit,
    object space and projection give, for any head pose, size and position."""
    from facepipe.solutions.blendshape_regressor import featurizer

    feat = featurizer()
    lms = folder_landmarks(read_folder(root / "talk"), image_landmarker)
    size = tuple(int(v) for v in lms.sizes[0])
    faces = lms.landmarks[lms.found].astype(np.float64)
    px = faces * np.array([size[0], size[1], size[0]])
    c = px.mean(1, keepdims=True)
    for yaw, roll, scale, shift in ((0, 0, 1, 0), (40, 0, 1, 0), (-60, 25, 0.5, 30), (15, -80, 1.7, -50)):
        a, b = np.radians(yaw), np.radians(roll)
        ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        rz = np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
        moved = (scale * (px - c) @ (rz @ ry).T + c + shift) / np.array([size[0], size[1], size[0]])
        want = feat._reference(moved, size)
        got = feat(moved.astype(np.float32), size)
        np.testing.assert_allclose(got, feat._reference(moved.astype(np.float32), size), atol=1e-6)
        np.testing.assert_allclose(feat(moved, size), want, atol=1e-6)


def test_single_portraits_add_people_but_lend_no_expression(root, tmp_path):
    """A one-photo person is their own neutral face: transfer mixes take them as a face to build people
    from, never as the source of the (zero) expression, or a root of many portraits would make mostly
    expressionless mixes."""
    from facepipe.apps.trainer.augment import expression_lenders, teacher_mixes
    from facepipe.solutions.blendshape_regressor import featurizer

    data = _copy(root, tmp_path)
    portraits = ("faces/mp_sergey.png", "faces/if_tom_hanks_112.png", "faces/tfjs_depth_portrait.jpg")
    for photo in portraits:
        src = tmp_path / "src" / Path(photo).stem
        src.mkdir(parents=True)
        (src / Path(photo).name).symlink_to(shared_file(photo))
        make_dataset(src, data / Path(photo).stem)
    samples = load_samples(read_root(data))
    feat = featurizer()
    objs = [feat.object_space(f.landmarks[f.found], tuple(int(v) for v in f.sizes[f.found][0]))
            for f in samples.landmarks]
    neutrals = [feat.object_space(f.neutral[None], f.neutral_size)[0] for f in samples.landmarks]
    lenders = expression_lenders(objs, neutrals)
    assert [samples.folders[i] for i in lenders] == ["smile", "talk", "child"]
    assert expression_lenders(objs[3:], neutrals[3:]).tolist() == [0, 1, 2]  # no lender: all lend (neutral)
    mixes = teacher_mixes(samples.landmarks, 60, feat, seed=5, mode="transfer")
    # a zero offset only from a video's own neutral frame (1 in 6-12), not from 3 of 6 folders
    still = np.abs(mixes.landmarks - mixes.neutral).max((1, 2)) < 1e-6
    assert mixes.labels.shape == (60, 52) and still.sum() <= 12
