"""Cutting a .tflite file into sub-models (facepipe.runtime.tflite_split) keeps every number."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import model_path

from facepipe.runtime.model import Model
from facepipe.runtime.tflite_split import read_graph, submodel


def test_two_halves_chained_equal_the_whole_model(tmp_path) -> None:
    buf = model_path("face_landmark").read_bytes()
    g = read_graph(buf)
    assert not any(op.custom_code for op in g.ops)
    producer = {t: op for op in g.ops for t in op.outputs}

    def static(t: int) -> bool:  # computed from weights only (a DEQUANTIZE of fp16 weights, say)
        return t in producer and all(i < 0 or g.tensors[i].constant for i in producer[t].inputs)

    # XNNPACK folds weight-only ops into the ops that use them, so a cut must not pass such a tensor on:
    # the first cut after the middle that passes only activations.
    for cut in range(len(g.ops) // 2, len(g.ops)):
        first, second = list(range(cut)), list(range(cut, len(g.ops)))
        produced = {t for i in first for t in g.ops[i].outputs}
        needed = {t for i in second for t in g.ops[i].inputs} | set(g.outputs)
        middle = sorted(produced & needed)
        if not any(static(t) for t in middle):
            break
    assert middle, "the cut must pass at least one tensor on"
    (tmp_path / "a.tflite").write_bytes(submodel(buf, g, first, g.inputs, middle))
    outs_a = [t for t in g.outputs if t in produced]
    inputs_b = [t for t in middle if any(t in g.ops[i].inputs for i in second)]
    (tmp_path / "b.tflite").write_bytes(submodel(buf, g, second, inputs_b, [t for t in g.outputs if t not in produced]))
    whole, a, b = Model(model_path("face_landmark")), Model(tmp_path / "a.tflite"), Model(tmp_path / "b.tflite")
    x = np.random.default_rng(1).uniform(0, 1, (1, 192, 192, 3)).astype(np.float32)
    mid = dict(zip(middle, a.run(x)))
    got = dict(zip([t for t in g.outputs if t not in produced], b.run(*(mid[t] for t in inputs_b))))
    got.update({t: mid[t] for t in outs_a})
    for t, want in zip(g.outputs, whole.run(x)):
        np.testing.assert_array_equal(got[t], want)


def test_attention_model_custom_ops_are_found() -> None:
    g = read_graph(model_path("face_landmark_with_attention").read_bytes())
    custom = [op.custom_code for op in g.ops if op.custom_code]
    assert custom == ["Landmarks2TransformMatrix"] * 3 + ["TransformTensorBilinear"] * 3 + ["TransformLandmarks"] * 5
    with pytest.raises(KeyError, match="no tensor named"):
        g.tensor_index("not there")
