"""Face embedders: parity with dlib on dlib's own chips, alignment against dlib's chips, batching, the
keypoint helpers and a user-supplied ONNX embedder with its sha256 pin."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from conftest import GOLDENS, model_path
from conftest import testdata_file as shared_file

import facepipe as fp
from facepipe.errors import ModelError
from facepipe.io.image import read_image
from facepipe.runtime.onnx_writer import OnnxGraph
from facepipe.runtime.options import RuntimeOptions
from facepipe.solutions.face_embedder import (
    DLIB_MODEL,
    DlibFaceEmbedder,
    FaceEmbedder,
    MirrorAveragedEmbedder,
    OnnxFaceEmbedder,
    five_point_from_detection,
    five_point_landmarks,
)
from facepipe.stages.face_align import ARCFACE_TEMPLATE_112, similarity_transforms, warp_chips

REF = GOLDENS / "recognition" / "dlib_faces.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(REF, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def dlib_embedder() -> DlibFaceEmbedder:
    return DlibFaceEmbedder(RuntimeOptions(model_paths={DLIB_MODEL: model_path(DLIB_MODEL)}))


@pytest.fixture(scope="module")
def landmarker():
    model_path("face_landmarker")
    return fp.FaceLandmarker(fp.FaceLandmarkerOptions(num_faces=1))


def test_dlib_embedder_matches_dlib_on_dlib_chips(ref, dlib_embedder):
    """Same 150x150 chips (cut by dlib), same network: the ONNX conversion reproduces dlib's descriptors."""
    assert isinstance(dlib_embedder, FaceEmbedder)
    assert (dlib_embedder.dim, dlib_embedder.metric, dlib_embedder.chip_size) == (128, "euclidean", 150)
    assert dlib_embedder.model_id.startswith("dlib_resnet_v1:")
    chips = ref["golden_chips"]
    assert len(chips) >= 8
    got = dlib_embedder.embed_chips(chips)
    assert got.dtype == np.float32 and got.shape == (len(chips), 128)
    assert np.abs(got - ref["golden_descriptors"]).max() <= 1e-4


def test_batch_gives_the_same_vectors_as_one_by_one(ref, dlib_embedder):
    chips = ref["golden_chips"][:5]
    batch = dlib_embedder.embed_chips(chips)
    single = np.concatenate([dlib_embedder.embed_chips(c[None]) for c in chips])
    np.testing.assert_allclose(batch, single, atol=1e-5)
    assert dlib_embedder.embed_chips(np.zeros((0, 150, 150, 3), np.uint8)).shape == (0, 128)


def test_mirror_averaged_embedder_is_the_mean_of_a_chip_and_its_mirror(ref, dlib_embedder, tmp_path):
    mirror = MirrorAveragedEmbedder(dlib_embedder)
    assert isinstance(mirror, FaceEmbedder)
    assert (mirror.model_id, mirror.dim, mirror.metric, mirror.chip_size) == (
        dlib_embedder.model_id, 128, "euclidean", 150)  # same space: a plain gallery stays usable
    chips = ref["golden_chips"][:4]
    got = mirror.embed_chips(chips)
    plain, flipped = dlib_embedder.embed_chips(chips), dlib_embedder.embed_chips(chips[:, :, ::-1].copy())
    assert got.dtype == np.float32 and got.shape == (4, 128)
    np.testing.assert_allclose(got, (plain + flipped) / 2, atol=1e-5)
    # a face and its mirror image get the same vector; a chip alone is still a chip
    np.testing.assert_allclose(mirror.embed_chips(chips[:, :, ::-1].copy()), got, atol=1e-5)
    np.testing.assert_allclose(mirror.embed_chips(chips[0]), got[:1], atol=1e-5)
    assert mirror.embed_chips(np.zeros((0, 150, 150, 3), np.uint8)).shape == (0, 128)
    # a cosine model's averaged vector is normalised again
    path, sha, _ = _toy_arcface(tmp_path)
    toy = MirrorAveragedEmbedder(OnnxFaceEmbedder(path, sha))
    v = toy.embed_chips(np.random.default_rng(0).integers(0, 255, (3, 112, 112, 3), dtype=np.uint8))
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_alignment_from_facepipe_landmarks_lands_where_dlib_puts_the_face(ref, dlib_embedder, landmarker):
    """facepipe's own landmarks -> chip; compared with dlib's chip of the same face.

    Not bit-exact (different landmarks), so: dlib's 5 landmarks land within a few
    chip pixels of where dlib's chip has them, and the embedding stays far inside
    face_recognition's 0.6 same-person threshold."""
    landmark_err, dist, pixel_diff = [], [], []
    for g, row in enumerate(ref["golden_index"]):
        image = read_image(shared_file(str(ref["files"][row])))
        faces = landmarker.detect(image)
        assert len(faces) == 1, ref["files"][row]
        kp5 = five_point_landmarks(faces.pixels)
        chip = dlib_embedder.align(image, kp5)
        assert chip.shape == (1, 150, 150, 3) and chip.dtype == np.uint8
        # where dlib's shape points land in our chip vs in dlib's chip
        ours = similarity_transforms(kp5, dlib_embedder._template, dlib_embedder._weights)[0]
        theirs = np.linalg.inv(np.vstack([ref["chip_to_image"][row], [0, 0, 1]]))[:2]
        s5 = ref["shape5"][row]
        offsets = (s5 @ ours[:, :2].T + ours[:, 2]) - (s5 @ theirs[:, :2].T + theirs[:, 2])
        landmark_err.append(np.linalg.norm(offsets, axis=1).mean())
        pixel_diff.append(np.abs(chip[0].astype(np.float32) - ref["golden_chips"][g]).mean())
        dist.append(np.linalg.norm(dlib_embedder.embed_chips(chip)[0] - ref["golden_descriptors"][g]))
    print(f"landmark error {np.mean(landmark_err):.2f} px, pixel diff {np.mean(pixel_diff):.1f}, "
          f"embedding distance mean {np.mean(dist):.3f} max {np.max(dist):.3f}")  # fmt: skip
    assert np.mean(landmark_err) < 2.5 and np.max(landmark_err) < 4.0
    assert np.mean(dist) < 0.15 and np.max(dist) < 0.25  # vs the 0.6 same-person threshold


def test_warp_uses_dlibs_own_placement_faithfully(ref, dlib_embedder):
    """With dlib's chip placement, facepipe's sampling gives (nearly) dlib's chip and descriptor."""
    for g, row in enumerate(ref["golden_index"][:4]):
        image = read_image(shared_file(str(ref["files"][row])))
        to_chip = np.linalg.inv(np.vstack([ref["chip_to_image"][row], [0, 0, 1]]))[:2]
        chip = warp_chips(image, to_chip[None], 150)
        assert np.abs(chip[0].astype(np.float32) - ref["golden_chips"][g]).mean() < 2.5
        assert np.linalg.norm(dlib_embedder.embed_chips(chip)[0] - ref["golden_descriptors"][g]) < 0.04


def test_embed_handles_no_faces_and_rejects_bad_keypoints(dlib_embedder):
    image = np.zeros((64, 64, 3), np.uint8)
    assert dlib_embedder.embed(image, np.zeros((0, 5, 2))).shape == (0, 128)
    assert dlib_embedder.align(image, np.zeros((0, 5, 2))).shape == (0, 150, 150, 3)
    with pytest.raises(ValueError, match=r"\(N,5,2\)"):
        dlib_embedder.embed(image, np.zeros((1, 6, 2)))
    with pytest.raises(ValueError, match="NaN"):
        dlib_embedder.embed(image, np.full((1, 5, 2), np.nan))
    with pytest.raises(ValueError, match="RGB uint8"):
        dlib_embedder.embed(image[..., 0], np.zeros((0, 5, 2)))
    with pytest.raises(ValueError, match=r"\(N,150,150,3\) uint8"):
        dlib_embedder.embed_chips(np.zeros((1, 112, 112, 3), np.uint8))


def test_same_person_closer_than_different_people(dlib_embedder, landmarker):
    def embed(rel: str) -> np.ndarray:
        image = read_image(shared_file(rel))
        return dlib_embedder.embed(image, five_point_landmarks(landmarker.detect(image).pixels))[0]

    a1, a2 = embed("identities/barack_obama/obama.jpg"), embed("identities/barack_obama/obama2.jpg")
    b = embed("identities/katy_perry/img27.jpg")
    assert np.linalg.norm(a1 - a2) < 0.6 < np.linalg.norm(a1 - b)


# ------------------------------------------------------------------ keypoints


def test_five_point_landmarks_order_and_shapes(landmarker):
    image = read_image(shared_file("faces/mp_sergey.png"))
    px = landmarker.detect(image).pixels
    kp = five_point_landmarks(px)
    assert kp.shape == (1, 5, 2) and kp.dtype == np.float32
    right_eye, left_eye, nose, mouth_r, mouth_l = kp[0]
    assert right_eye[0] < left_eye[0] and mouth_r[0] < mouth_l[0]  # upright photo: subject's right on image left
    assert max(right_eye[1], left_eye[1]) < nose[1] < min(mouth_r[1], mouth_l[1])
    assert five_point_landmarks(px[:, :468, :2]).shape == (1, 5, 2)  # legacy mesh, 2-D
    assert five_point_landmarks(np.zeros((0, 478, 3))).shape == (0, 5, 2)
    with pytest.raises(ValueError, match="468"):
        five_point_landmarks(np.zeros((1, 68, 2)))


def test_keypoints_from_the_detector_align_nearly_like_the_mesh(dlib_embedder, landmarker):
    """BlazeFace's 6 keypoints (no mouth corners) give a usable but coarser alignment."""
    model_path("face_detection_short_range")
    detector = fp.FaceDetector()
    for rel in ("faces/mp_sergey.png", "identities/barack_obama/obama.jpg", "faces/pyfeat_single_face.jpg"):
        image = read_image(shared_file(rel))
        mesh_kp = five_point_landmarks(landmarker.detect(image).pixels)
        det_kp = five_point_from_detection(detector.detect(image).keypoints[:1])
        assert det_kp.shape == (1, 5, 2)
        e = dlib_embedder.embed(image, np.concatenate([mesh_kp, det_kp]))
        assert np.linalg.norm(e[0] - e[1]) < 0.3, rel


# ------------------------------------------------------------------ a user-supplied ONNX embedder


def _toy_arcface(tmp_path, dim: int = 16) -> tuple[str, str, np.ndarray]:
    """A real ONNX model of the ArcFace input/output contract: (N,3,112,112) float -> (N,dim) projection."""
    w = np.random.default_rng(7).normal(size=(3 * 112 * 112, dim)).astype(np.float32) / 100
    g = OnnxGraph("toy_arcface")
    x = g.input("input.1", np.float32, ["N", 3, 112, 112])
    y = g.node("MatMul", [g.node("Flatten", [x], axis=1), g.constant("w", w)], out="embedding")
    g.output(y, np.float32, ["N", dim])
    path = tmp_path / "toy_arcface.onnx"
    data = g.to_bytes()
    path.write_bytes(data)
    return str(path), hashlib.sha256(data).hexdigest(), w


def test_onnx_embedder_runs_a_pinned_arcface_style_model(tmp_path, landmarker):
    path, sha, w = _toy_arcface(tmp_path)
    emb = OnnxFaceEmbedder(path, sha)
    assert isinstance(emb, FaceEmbedder)
    assert (emb.dim, emb.metric, emb.chip_size) == (16, "cosine", 112) and sha[:16] in emb.model_id
    image = read_image(shared_file("faces/mp_sergey.png"))
    kp5 = five_point_landmarks(landmarker.detect(image).pixels)
    chips = emb.align(image, kp5)
    # the keypoints land on the standard ArcFace template
    m = similarity_transforms(kp5, ARCFACE_TEMPLATE_112)[0]
    assert np.abs(kp5[0] @ m[:, :2].T + m[:, 2] - ARCFACE_TEMPLATE_112).max() < 8
    got = emb.embed(image, kp5)
    x = (chips.astype(np.float32) - 127.5) / 127.5
    want = x.transpose(0, 3, 1, 2).reshape(1, -1) @ w
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert abs(np.linalg.norm(got) - 1) < 1e-5


def test_onnx_embedder_refuses_a_file_that_is_not_the_pinned_one(tmp_path):
    path, sha, _ = _toy_arcface(tmp_path)
    with pytest.raises(ModelError, match="not the pinned"):
        OnnxFaceEmbedder(path, "0" * 64)
    with pytest.raises(ModelError, match="64 hex digits"):
        OnnxFaceEmbedder(path, sha[:12])
    with pytest.raises(ModelError, match="not found"):
        OnnxFaceEmbedder(tmp_path / "missing.onnx", sha)
