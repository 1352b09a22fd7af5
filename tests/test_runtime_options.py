"""RuntimeOptions: threads, model files and delegate given once, reaching every model of a solution."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from conftest import model_path, runtime_with
from conftest import testdata_file as shared_file

from facepipe.errors import ModelError
from facepipe.io.image import read_image
from facepipe.runtime.options import RuntimeOptions


def _models(holistic) -> list:
    """Every Model instance a Holistic holds (pose detector/landmarks, both hands, face mesh)."""
    out = [holistic.pose.detector.model, holistic.pose.landmark_model.model, holistic.face_mesh._model,
           holistic.face_mesh._detector._model]
    for recrop, hand in holistic._hand_models.values():
        out += [recrop.model, hand.model]
    return out


@pytest.mark.parametrize("bad", [{"num_threads": 0}, {"num_threads": 1.5}, {"delegate": "gpu"}])
def test_bad_runtime_options_are_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        RuntimeOptions(**bad)


def test_holistic_gives_one_runtime_to_all_its_models():
    from facepipe.solutions.holistic import Holistic, HolisticOptions

    runtime = runtime_with("pose_detection", "pose_landmark_full", "hand_landmark_full", "hand_recrop",
                           "face_detection_short_range", "face_landmark")
    runtime = RuntimeOptions(num_threads=2, model_paths=runtime.model_paths)
    h = Holistic(HolisticOptions(static_image_mode=True, runtime=runtime))
    models = _models(h)
    assert len(models) == 8 and {m.num_threads for m in models} == {2}
    assert {m.path for m in models} == {model_path(n) for n in runtime.model_paths}


def test_holistic_options_compose_the_pose_options():
    from facepipe.solutions.holistic import HolisticOptions
    from facepipe.solutions.pose import PoseOptions

    o = HolisticOptions(static_image_mode=True, model_complexity=0, refine_face_landmarks=True)
    assert o.pose == PoseOptions(static_image_mode=True, model_complexity=0)
    assert o.static_image_mode and o.model_complexity == 0 and o.refine_face_landmarks
    assert HolisticOptions(PoseOptions(model_complexity=2)).model_complexity == 2
    from dataclasses import replace

    assert replace(o, min_detection_confidence=0.7).pose.min_detection_confidence == 0.7
    with pytest.raises(ValueError, match="model_complexity"):
        HolisticOptions(model_complexity=5)  # validated once, by PoseOptions
    with pytest.raises(TypeError, match="max_num_hands"):
        HolisticOptions(max_num_hands=2)


def test_deprecated_model_path_arguments_still_work_and_warn():
    """The old per-constructor paths give the same models (and results) as RuntimeOptions."""
    from facepipe.solutions.face_mesh import FaceMesh, FaceMeshOptions

    image = read_image(shared_file("faces/mp_sergey.png"))
    new = FaceMesh(FaceMeshOptions(static_image_mode=True,
                                   runtime=runtime_with("face_landmark", "face_detection_short_range")))
    with pytest.warns(DeprecationWarning, match="RuntimeOptions"):
        old = FaceMesh(FaceMeshOptions(static_image_mode=True), landmark_model_path=model_path("face_landmark"),
                       detector_model_path=model_path("face_detection_short_range"))
    with pytest.warns(DeprecationWarning, match="num_threads"):
        assert FaceMeshOptions(num_threads=3).runtime.num_threads == 3
    a, b = new.process(image), old.process(image)
    assert len(a.landmarks) == 1
    np.testing.assert_array_equal(a.landmarks, b.landmarks)


def test_model_dir_is_searched_first_and_verified(tmp_path):
    """A model_dir copy is used (by its registered file name); a damaged one is refused, not skipped."""
    from facepipe.solutions.face_detection import FaceDetector, FaceDetectorOptions

    src = model_path("face_detection_short_range")
    (tmp_path / src.name).write_bytes(src.read_bytes())
    det = FaceDetector(FaceDetectorOptions(runtime=RuntimeOptions(model_dir=tmp_path)))
    assert det._model.path == tmp_path / src.name
    (tmp_path / src.name).write_bytes(b"not a model")
    os.utime(tmp_path / src.name, (1, 1))
    with pytest.raises(ModelError, match="fails its check"):
        FaceDetector(FaceDetectorOptions(runtime=RuntimeOptions(model_dir=tmp_path)))


def test_no_deprecation_warnings_from_facepipe_itself():
    """facepipe's own apps pass RuntimeOptions: building them warns about nothing."""
    from facepipe.apps.anonymize import AnonymizeOptions, Anonymizer, RedactOptions

    model_path("face_detection_full_range")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        Anonymizer(AnonymizeOptions(redact=RedactOptions(shape="hull")))


def test_cli_num_threads_is_passed_down_not_put_in_the_environment(tmp_path, monkeypatch):
    import json

    from facepipe.cli import cmd_anonymize
    from facepipe.cli.main import build_parser, main

    monkeypatch.delenv("FACEPIPE_NUM_THREADS", raising=False)
    photo = shared_file("faces/pyfeat_single_face.jpg")
    out = tmp_path / "faces.json"
    assert main(["detect", "--num-threads", "3", str(photo), "-o", str(out)]) == 0
    assert len(json.loads(out.read_text())["inputs"][0]["frames"][0]["faces"]) == 1
    assert "FACEPIPE_NUM_THREADS" not in os.environ
    args = build_parser().parse_args(["anonymize", "--num-threads", "3", "--shape", "hull", str(photo)])
    options = cmd_anonymize.build_options(args)
    assert {options.detect.runtime.num_threads, options.image_detect.runtime.num_threads,
            options.redact.runtime.num_threads} == {3}
    from facepipe.apps.anonymize.pipeline import RegionRedactor

    assert RegionRedactor(options.redact).hulls._mesh._model.num_threads == 3  # the hull's face mesh too
