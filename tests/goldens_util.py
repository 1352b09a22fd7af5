"""Load the MediaPipe golden outputs in tests/goldens (plain numpy + json; no mediapipe).

The goldens are made by tools/make_goldens.py (format: tools/README.md). A
*golden set* is one MediaPipe solution run with fixed options, e.g.
``face_detection_full``; each (set, input) pair is one .npz.

    from goldens_util import golden_inputs, load_golden

    @pytest.mark.parametrize("input_rel", golden_inputs("face_detection_full"))
    def test_parity(input_rel): g = load_golden("face_detection_full", input_rel)
        ... g["boxes"], g["keypoints"], g["scores"], g["meta"]["options"] ...

``input_rel`` is relative to the shared testdata dir (tests/conftest.py's
``testdata_file(input_rel)`` gives the path).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

GOLDENS_DIR = Path(__file__).resolve().parent / "goldens"


@functools.lru_cache(maxsize=1)
def manifest() -> dict[str, Any]:
    """The parsed MANIFEST.json (cached; treat as read-only)."""
    with open(GOLDENS_DIR / "MANIFEST.json", encoding="utf-8") as f:
        return json.load(f)


def golden_sets(solution: str | None = None) -> list[str]:
    """Golden set names, optionally only those of one solution (e.g. "face_mesh")."""
    sets = manifest()["sets"]
    return [name for name, s in sets.items() if solution is None or s["solution"] == solution]


def set_info(set_name: str) -> dict[str, Any]:
    """Manifest entry of a set: solution, api, options, kind, description, files, median_ms."""
    sets = manifest()["sets"]
    if set_name not in sets:
        raise KeyError(f"unknown golden set {set_name!r}; known: {', '.join(sets)}")
    return sets[set_name]


def golden_inputs(set_name: str) -> list[str]:
    """Input paths (relative to shared/testdata) that have a golden in this set."""
    files = manifest()["files"]
    return [files[f]["input"] for f in set_info(set_name)["files"]]


def golden_file(set_name: str, input_rel: str) -> Path:
    return GOLDENS_DIR / set_name / (input_rel.replace("/", "__") + ".npz")


def unpack_mask(bits: np.ndarray, width: int) -> np.ndarray:
    """Bool (H, width) mask from a ``mask_bits`` array (np.packbits along the last axis)."""
    return np.unpackbits(bits, axis=-1, count=width).astype(bool)


def load_golden(set_name: str, input_rel: str) -> dict[str, Any]:
    """Arrays of one golden plus ``"meta"`` (its MANIFEST.json entry).

    A stored ``mask_bits`` array is also returned decoded as ``"mask"`` (bool H×W).
    """
    path = golden_file(set_name, input_rel)
    rel = f"{set_name}/{path.name}"
    files = manifest()["files"]
    if rel not in files:
        raise KeyError(f"no golden for {input_rel!r} in set {set_name!r}; "
                       f"inputs: {', '.join(golden_inputs(set_name))}")
    with np.load(path, allow_pickle=False) as npz:
        out: dict[str, Any] = {k: npz[k] for k in npz.files}
    if "mask_bits" in out:
        out["mask"] = unpack_mask(out["mask_bits"], int(out["image_size"][0]))
    out["meta"] = files[rel]
    return out
