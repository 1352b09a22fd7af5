"""Integrity of the committed MediaPipe goldens (tests/goldens) and their loader.

These do not compare facepipe with MediaPipe (the per-solution parity tests do);
they catch a golden set that is stale, half-regenerated or out of step with the
shared test data it was made from.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from goldens_util import (
    GOLDENS_DIR,
    golden_file,
    golden_inputs,
    golden_sets,
    load_golden,
    manifest,
    unpack_mask,
)


def test_manifest_and_files_agree() -> None:
    # Other generators own other folders (e.g. goldens/drawing); look only at ours.
    listed = set(manifest()["files"])
    on_disk = {
        p.relative_to(GOLDENS_DIR).as_posix()
        for name in golden_sets()
        for p in (GOLDENS_DIR / name).glob("*")
    }
    assert listed == on_disk
    for name in golden_sets():
        for input_rel in golden_inputs(name):
            assert golden_file(name, input_rel).is_file()


def test_goldens_stay_small() -> None:
    files = [GOLDENS_DIR / "MANIFEST.json", *(GOLDENS_DIR / rel for rel in manifest()["files"])]
    total = sum(p.stat().st_size for p in files)
    assert total < 8 * 1024 * 1024


@pytest.mark.parametrize("set_name", golden_sets())
def test_arrays_match_manifest(set_name: str) -> None:
    for input_rel in golden_inputs(set_name):
        g = load_golden(set_name, input_rel)
        meta = g["meta"]
        assert meta["set"] == set_name and meta["input"] == input_rel
        assert set(meta["arrays"]) == {k for k in g if k not in ("meta", "mask")}
        for key, doc in meta["arrays"].items():
            assert list(g[key].shape) == doc["shape"], (input_rel, key)
            assert str(g[key].dtype) == doc["dtype"], (input_rel, key)
        assert list(g["image_size"]) == meta["image_size"]
        if meta["kind"] == "video":
            assert len(g["timestamps_ms"]) == meta["frames"]
            assert np.all(np.diff(g["timestamps_ms"]) > 0)


def test_inputs_unchanged_since_generation(testdata) -> None:
    changed = []
    for entry in manifest()["files"].values():
        path = testdata / entry["input"]
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != entry["input_sha256"]:
            changed.append(entry["input"])
    assert not changed, f"regenerate goldens (tools/README.md): inputs changed: {sorted(set(changed))}"


def test_mask_bits_round_trip() -> None:
    name = "selfie_segmentation"
    input_rel = next(i for i in golden_inputs(name) if "mask_f16" in load_golden(name, i))
    g = load_golden(name, input_rel)
    w = int(g["image_size"][0])
    assert g["mask"].shape == g["mask_f16"].shape
    assert np.array_equal(np.packbits(g["mask"], axis=-1), g["mask_bits"])
    assert np.array_equal(unpack_mask(g["mask_bits"], w), g["mask"])
    # float16 rounding can move values within 2**-11 of 0.5 across the threshold.
    agree = (g["mask_f16"].astype(np.float32) > 0.5) == g["mask"]
    assert agree.mean() > 0.999


def test_unknown_golden_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="unknown golden set"):
        load_golden("no_such_set", "faces/mp_sergey.png")
    with pytest.raises(KeyError, match="no golden for"):
        load_golden("face_detection_full", "faces/no_such_image.png")


def test_facepipe_readers_give_the_pixels_mediapipe_saw(testdata) -> None:
    """Parity tests assume facepipe decodes each input to the same RGB bytes as the generator."""
    from facepipe.io.image import read_image
    from facepipe.io.video import VideoReader

    def digest(rgb: np.ndarray) -> str:
        return hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest()

    checked: set[str] = set()
    for entry in manifest()["files"].values():
        input_rel = entry["input"]
        if input_rel in checked:
            continue
        checked.add(input_rel)
        if entry["kind"] == "image":
            assert digest(read_image(testdata / input_rel)) == entry["pixels_sha256"], input_rel
            continue
        got_hashes, got_ms = [], []
        with VideoReader(testdata / input_rel) as reader:
            for frame in reader:
                got_hashes.append(digest(frame.image)[:16])
                got_ms.append(round(frame.time * 1000))
                if len(got_hashes) == entry["frames"]:
                    break
        assert got_hashes == entry["frame_pixels_sha256_16"], input_rel
        assert got_ms == entry["timestamps_ms"], input_rel
