"""A trained regressor -> ONNX bytes, written by facepipe's own ONNX writer (no torch.onnx, no `onnx` package).

The network is a plain MLP, so its graph is a handful of standard operators
(Sub, Mul, Gemm, Relu, Sigmoid; Sum to average an ensemble); writing them directly gives byte-identical
files for identical weights (a seeded training run always produces the same
sha256) and keeps the exporter free of PyTorch's exporter and its dependencies.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from facepipe.runtime.onnx_writer import OnnxGraph
from facepipe.solutions.blendshape_regressor import LIVE_LINK_NAMES, METADATA_KEY

__all__ = ["regressor_onnx"]

_FORMAT_VERSION = 1


def regressor_onnx(layers: Sequence, mean: np.ndarray, std: np.ndarray, *, feature_set: str, neutral: np.ndarray,
                   label_mean: np.ndarray, info: dict | None = None) -> bytes:
    """ONNX model: features (N,F) -> blendshapes (N,52); sigmoid((relu(...)) of standardised inputs.

    layers: one network's [(W (out,in), b), ...], or a list of such networks (an ensemble on the same
    standardisation: its outputs are averaged); neutral: (F,) default neutral features (training mean);
    label_mean: (52,) mean training labels; info: extra JSON-able facts kept in the metadata (seed, sets,
    epochs...)."""
    networks = [layers] if isinstance(layers[0][0], np.ndarray) else list(layers)
    f = len(mean)
    g = OnnxGraph("facepipe_blendshape_regressor")
    x0 = g.input("features", np.float32, ["N", f])
    x0 = g.node("Sub", [x0, g.constant("mean", np.asarray(mean, np.float32))])
    x0 = g.node("Mul", [x0, g.constant("inv_std", (1.0 / np.asarray(std, np.float32)).astype(np.float32))])
    outs = []
    for net in networks:
        x = x0
        for k, (w, b) in enumerate(net):
            x = g.node("Gemm", [x, g.constant("w", np.asarray(w, np.float32)),
                                g.constant("b", np.asarray(b, np.float32))], transB=1)
            last = k == len(net) - 1
            x = g.node("Relu" if not last else "Sigmoid", [x],
                       out="blendshapes" if last and len(networks) == 1 else None)
        outs.append(x)
    if len(networks) > 1:
        total = g.node("Sum", outs)
        g.node("Mul", [total, g.constant("inv_count", np.array(1.0 / len(networks), np.float32))], out="blendshapes")
    g.output("blendshapes", np.float32, ["N", len(LIVE_LINK_NAMES)])
    meta = {
        "version": _FORMAT_VERSION,
        "features": feature_set,
        "names": list(LIVE_LINK_NAMES),
        "neutral": [round(float(v), 7) for v in neutral],
        "label_mean": [round(float(v), 7) for v in label_mean],
        "info": info or {},
    }
    return g.to_bytes(metadata={METADATA_KEY: json.dumps(meta, separators=(",", ":"), sort_keys=True)},
                      doc="facepipe train blendshapes: landmark patch features -> 52 ARKit blendshapes")
