"""Blendshapes: the model stage vs MediaPipe, name orders (model and ARKit), expressions on real photos."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import model_path, runtime_with
from conftest import testdata_file as data_file
from goldens_util import golden_inputs, load_golden

from facepipe.io.image import read_image
from facepipe.solutions.blendshapes import (
    ARKIT_NAMES,
    BLENDSHAPE_NAMES,
    LANDMARK_SUBSET,
    BlendshapeModel,
    blendshape_input,
    names_in,
    to_arkit,
)
from facepipe.solutions.face_landmarker import FaceLandmarker, FaceLandmarkerOptions


def test_tables() -> None:
    assert len(BLENDSHAPE_NAMES) == 52 and BLENDSHAPE_NAMES[0] == "_neutral"
    assert len(set(BLENDSHAPE_NAMES)) == 52
    assert LANDMARK_SUBSET.shape == (146,)
    assert len(np.unique(LANDMARK_SUBSET)) == 146 and LANDMARK_SUBSET.max() == 477
    # All ten iris points are in the subset (the eye-gaze blendshapes need them).
    assert set(range(468, 478)) <= set(LANDMARK_SUBSET.tolist())
    assert names_in("model") == BLENDSHAPE_NAMES and names_in("arkit") == ARKIT_NAMES
    with pytest.raises(ValueError):
        names_in("alphabetical")


def test_names_match_mediapipe_labels() -> None:
    g = load_golden("face_landmarker", "faces/mp_sergey.png")
    assert tuple(str(n) for n in g["blendshape_names"]) == BLENDSHAPE_NAMES


def test_arkit_order_helper() -> None:
    assert len(ARKIT_NAMES) == 52 and len(set(ARKIT_NAMES)) == 52
    assert ARKIT_NAMES[-1] == "tongueOut" and "_neutral" not in ARKIT_NAMES
    assert set(ARKIT_NAMES) == (set(BLENDSHAPE_NAMES) - {"_neutral"}) | {"tongueOut"}
    scores = np.random.default_rng(1).uniform(0.01, 1.0, (3, 52)).astype(np.float32)
    ark = to_arkit(scores)
    assert ark.shape == (3, 52)
    for j, name in enumerate(ARKIT_NAMES):
        expected = 0.0 if name == "tongueOut" else scores[:, BLENDSHAPE_NAMES.index(name)]
        np.testing.assert_array_equal(ark[:, j], expected)
    assert to_arkit(scores[0]).shape == (52,)
    with pytest.raises(ValueError):
        to_arkit(np.zeros(51))


def test_input_is_the_subset_in_pixels() -> None:
    lm = np.random.default_rng(0).uniform(0, 1, (2, 478, 3)).astype(np.float32)
    x = blendshape_input(lm, (640, 480))
    assert x.shape == (2, 146, 2)
    np.testing.assert_allclose(x[1, 5], lm[1, LANDMARK_SUBSET[5], :2] * [640, 480], rtol=1e-6)
    with pytest.raises(ValueError):
        blendshape_input(lm[:, :468], (640, 480))


@pytest.fixture(scope="module")
def blendshape_model() -> BlendshapeModel:
    return BlendshapeModel(model_path("face_blendshapes"))


def test_model_stage_matches_mediapipe_on_its_own_landmarks(blendshape_model) -> None:
    """MediaPipe's landmarks in, its scores out: isolates the blendshape stage (subset, scaling, batching)."""
    worst = 0.0
    n = 0
    for rel in golden_inputs("face_landmarker"):
        g = load_golden("face_landmarker", rel)
        if len(g["landmarks"]) == 0:
            continue
        got = blendshape_model(g["landmarks"], tuple(int(v) for v in g["image_size"]))
        assert got.shape == g["blendshapes"].shape
        worst = max(worst, float(np.abs(got - g["blendshapes"]).max()))
        n += len(got)
    assert n >= 40
    assert worst < 1e-3


@pytest.fixture(scope="module")
def landmarker() -> FaceLandmarker:
    runtime = runtime_with("face_landmarks_detector", "blaze_face_short_range", "face_blendshapes")
    return FaceLandmarker(FaceLandmarkerOptions(output_face_blendshapes=True, runtime=runtime))


def _scores(lm: FaceLandmarker, rel: str) -> dict[str, float]:
    res = lm.detect(read_image(data_file(rel)))
    assert len(res) == 1, rel
    return res.blendshape_scores()


@pytest.mark.parametrize(
    "open_rel,closed_rel",
    [(f"expressions/neutral/yale_{s}_normal.png", f"expressions/eyes_closed/yale_{s}_sleepy.png")
     for s in ("01", "02", "03", "05")]
    + [("expressions/neutral/if_open_eyes.png", "expressions/eyes_closed/if_close_eyes.jpeg")],
)
def test_closing_the_eyes_raises_eye_blink(landmarker, open_rel: str, closed_rel: str) -> None:
    opened, closed = _scores(landmarker, open_rel), _scores(landmarker, closed_rel)
    for side in ("eyeBlinkLeft", "eyeBlinkRight"):
        assert closed[side] > opened[side] + 0.25, (side, opened[side], closed[side])
        assert closed[side] > 0.4


@pytest.mark.parametrize("subject", ["01", "02", "03", "05"])
def test_opening_the_mouth_raises_jaw_open(landmarker, subject: str) -> None:
    neutral = _scores(landmarker, f"expressions/neutral/yale_{subject}_normal.png")
    surprised = _scores(landmarker, f"expressions/surprise/yale_{subject}_surprised.png")
    assert surprised["jawOpen"] > neutral["jawOpen"] + 0.2
    assert neutral["jawOpen"] < 0.15
