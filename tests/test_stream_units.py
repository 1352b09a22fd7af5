"""facepipe.apps.stream pieces: addresses, config, calibration, shaping, pose math, encoders, the ONNX
blendshape regressor contract (a real ONNX model written here byte by byte, run by onnxruntime)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from conftest import model_path
from conftest import testdata_file as shared_file

from facepipe.apps.stream import Calibration, FaceFrame, RawFace, Shaper, load_config, parse_address
from facepipe.apps.stream.config import DEFAULT_FORCED_ZERO, ShapeTuning, SmoothingOptions, StreamConfig
from facepipe.apps.stream.pose import (
    eye_gaze,
    head_euler,
    quaternion_from_matrix,
    rotation_from_euler,
    to_unity_quaternion,
)
from facepipe.apps.stream.protocols.livelink import LIVELINK_CURVES, LiveLinkEncoder, decode_livelink
from facepipe.apps.stream.targets import UsageError
from facepipe.errors import InputError, ModelError
from facepipe.solutions.blendshapes import ARKIT_NAMES

J = ARKIT_NAMES.index


def raw(values=None, euler=(0.0, 0.0, 0.0), gaze=((0.0, 0.0), (0.0, 0.0)), found=True) -> RawFace:
    v = np.full(52, 0.5, np.float32) if values is None else np.asarray(values, np.float32)
    return RawFace(found, v, np.asarray(euler, float), np.array([1.0, 2.0, -50.0]), np.asarray(gaze, float))


# -- addresses --------------------------------------------------------------------------------------------

def test_parse_address() -> None:
    assert parse_address("127.0.0.1:39539") == parse_address(" 127.0.0.1:39539 ")
    a = parse_address("[::1]:9000")
    assert (a.host, a.port, str(a)) == ("::1", 9000, "[::1]:9000")
    assert parse_address(":11111").host == "127.0.0.1"
    assert parse_address("studio-pc.local:1").port == 1
    for bad in ("host", "host:", "host:0", "host:65536", "host:-5", "::1:90", "a b:9"):
        with pytest.raises(UsageError) as e:
            parse_address(bad, "--vmc")
        assert e.value.exit_code == 2 and "--vmc" in str(e.value)


# -- config and calibration files -------------------------------------------------------------------------

def test_config_toml_and_json(tmp_path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('[shapes]\nforced_zero = ["tongueOut"]\ngain = { jawOpen = 1.5 }\ncurve = { eyeBlinkLeft = 0.5 }\n'
                    '[smoothing]\nenabled = false\n[vmc]\ncapitalize_names = true\n')
    c = load_config(toml)
    assert c.shapes.forced_zero == ("tongueOut",) and c.shapes.gain == {"jawOpen": 1.5}
    assert not c.smoothing.enabled and c.vmc_capitalize_names
    js = tmp_path / "c.json"
    js.write_text(json.dumps({"shapes": {"gain": {"jawOpen": 1.5}, "curve": {"eyeBlinkLeft": 0.5},
                                         "forced_zero": ["tongueOut"]},
                              "smoothing": {"enabled": False}, "vmc": {"capitalize_names": True}}))
    assert load_config(js) == c
    assert load_config(None).shapes.forced_zero == DEFAULT_FORCED_ZERO


@pytest.mark.parametrize(("text", "suffix", "message"), [
    ("[shapes]\ngain = { jawOpen = 0 }\n", ".toml", "shapes.gain.jawOpen must be a number > 0"),
    ("[shape]\n", ".toml", "unknown section [shape]"),
    ("[smoothing]\nbeta = 1\n", ".toml", "unknown key smoothing.beta"),
    ("[shapes]\nforced_zero = ['tongue']\n", ".toml", "unknown blendshape name(s) tongue"),
    ("[smoothing]\nshapes_min_cutoff = -1\n", ".toml", "shapes_min_cutoff must be > 0"),
    ("{nope", ".json", "not a valid JSON file"),
    ("a = [", ".toml", "not a valid TOML file"),
    ("{}", ".yaml", "must be a .toml or .json file"),
])
def test_config_errors_name_the_file(tmp_path, text, suffix, message) -> None:
    p = tmp_path / f"tune{suffix}"
    p.write_text(text)
    with pytest.raises(InputError) as e:
        load_config(p)
    assert str(e.value).startswith(str(p)) and message in str(e.value)


def test_calibration_round_trip_and_errors(tmp_path) -> None:
    rng = np.random.default_rng(0)
    samples = rng.uniform(0, 0.3, (9, 52)).astype(np.float32)
    cal = Calibration.from_samples(samples, rng.normal(size=(9, 3)), rng.normal(size=(9, 3)),
                                   rng.normal(size=(9, 2, 2)))
    p = tmp_path / "n.json"
    cal.save(p)
    back = Calibration.load(p)
    np.testing.assert_allclose(back.blendshapes, np.median(samples, 0), atol=1e-6)
    np.testing.assert_allclose(back.head_euler_deg, cal.head_euler_deg, atol=1e-4)
    assert back.frames == 9
    p.write_text('{"format": "something else"}')
    with pytest.raises(InputError, match="not a facepipe stream calibration file"):
        Calibration.load(p)
    with pytest.raises(InputError, match="cannot read"):
        Calibration.load(tmp_path / "absent.json")


# -- shaping ----------------------------------------------------------------------------------------------

def test_gain_curve_forced_zero_and_clipping() -> None:
    tuning = ShapeTuning(gain={"jawOpen": 3.0, "mouthClose": 0.5}, curve={"eyeBlinkLeft": 2.0},
                         forced_zero=("tongueOut", "cheekPuff"))
    shaper = Shaper(StreamConfig(tuning, SmoothingOptions(enabled=False)))
    f = shaper(raw(), 0, 0.0)
    assert f.tracked and f.blendshapes.shape == (52,)
    assert f.blendshapes[J("jawOpen")] == 1.0  # 3 * 0.5 clipped
    assert f.blendshapes[J("mouthClose")] == pytest.approx(0.25)
    assert f.blendshapes[J("eyeBlinkLeft")] == pytest.approx(0.25)
    assert f.blendshapes[J("tongueOut")] == 0 and f.blendshapes[J("cheekPuff")] == 0
    assert f.blendshapes[J("jawForward")] == pytest.approx(0.5)  # not in this forced list
    lost = shaper(raw(found=False), 1, 0.033)
    assert not lost.tracked and not lost.blendshapes.any() and np.array_equal(lost.head_rotation, np.eye(3))


def test_calibration_makes_the_neutral_face_zero() -> None:
    neutral = np.linspace(0, 0.5, 52).astype(np.float32)
    cal = Calibration(neutral, np.array([10.0, -5.0, 3.0]), np.array([1.0, 2.0, -50.0]),
                      np.array([[2.0, 1.0], [-2.0, 1.0]]), 10)
    shaper = Shaper(StreamConfig(ShapeTuning(forced_zero=()), SmoothingOptions(enabled=False)), cal)
    f = shaper(raw(neutral, euler=(10.0, -5.0, 3.0), gaze=((2.0, 1.0), (-2.0, 1.0))), 0, 0.0)
    np.testing.assert_allclose(f.blendshapes, 0, atol=1e-6)
    np.testing.assert_allclose(f.head_rotation, np.eye(3), atol=1e-9)
    np.testing.assert_allclose(f.head_euler_deg, 0, atol=1e-9)
    np.testing.assert_allclose(f.translation_cm, 0) and np.testing.assert_allclose(f.gaze_deg, 0)
    full = shaper(raw(np.ones(52)), 1, 0.04)
    np.testing.assert_allclose(full.blendshapes, 1.0, atol=1e-6)  # the full range is kept


def test_one_euro_smooths_jitter_and_restarts_after_a_lost_face() -> None:
    rng = np.random.default_rng(1)
    noisy = [np.clip(0.5 + rng.normal(0, 0.05, 52), 0, 1) for _ in range(60)]
    smooth = Shaper(StreamConfig(ShapeTuning(forced_zero=())))
    plain = Shaper(StreamConfig(ShapeTuning(forced_zero=()), SmoothingOptions(enabled=False)))
    out_s = np.array([smooth(raw(v, euler=(rng.normal(0, 2), 0, 0)), i, i / 30).blendshapes
                      for i, v in enumerate(noisy)])
    out_p = np.array([plain(raw(v), i, i / 30).blendshapes for i, v in enumerate(noisy)])
    assert np.diff(out_s[10:], axis=0).std() < 0.5 * np.diff(out_p[10:], axis=0).std()
    smooth(raw(found=False), 60, 2.0)
    jump = smooth(raw(np.ones(52)), 61, 2.033).blendshapes  # no glide from the old values
    np.testing.assert_allclose(jump, 1.0, atol=1e-6)


# -- pose -------------------------------------------------------------------------------------------------

def test_euler_matrix_quaternion_round_trips() -> None:
    for yaw, pitch, roll in [(0, 0, 0), (30, -10, 5), (-60, 25, -40), (170, 5, 0)]:
        r = rotation_from_euler(yaw, pitch, roll)
        m = np.eye(4)
        m[:3, :3] = r * 1.1  # head_euler ignores the fit's scale
        np.testing.assert_allclose(head_euler(m)[0], [yaw, pitch, roll], atol=1e-6)
        x, y, z, w = quaternion_from_matrix(r)
        assert w >= 0 and np.isclose(x * x + y * y + z * z + w * w, 1)
        # The rotation by angle t about axis a has q = (a sin(t/2), cos(t/2)): apply it to a vector.
        v = np.array([0.3, -0.2, 0.9])
        qv = np.array([x, y, z])
        rotated = v + 2 * w * np.cross(qv, v) + 2 * np.cross(qv, np.cross(qv, v))
        np.testing.assert_allclose(rotated, r @ v, atol=1e-9)


def test_unity_mapping_moves_the_avatar_like_the_person() -> None:
    # Turning to one's own left (yaw > 0) turns the avatar to ITS left: in Unity (avatar facing +Z, its left
    # is -X) the forward vector swings toward -X.
    q = to_unity_quaternion(quaternion_from_matrix(rotation_from_euler(30, 0, 0)))
    x, y, z, w = q
    fwd = np.array([0.0, 0.0, 1.0])
    qv = np.array([x, y, z])
    turned = fwd + 2 * w * np.cross(qv, fwd) + 2 * np.cross(qv, np.cross(qv, fwd))
    # Unity's rotation matrices are the same numbers as right-handed ones; only the picture differs.
    assert turned[0] == pytest.approx(-0.5) and turned[2] == pytest.approx(np.cos(np.radians(30)))
    # Chin up (pitch > 0): forward swings to +Y in both frames.
    x, y, z, w = to_unity_quaternion(quaternion_from_matrix(rotation_from_euler(0, 20, 0)))
    qv = np.array([x, y, z])
    up = fwd + 2 * w * np.cross(qv, fwd) + 2 * np.cross(qv, np.cross(qv, fwd))
    assert up[1] == pytest.approx(np.sin(np.radians(20)))


def test_eye_gaze_follows_the_iris() -> None:
    lm = np.zeros((478, 3))
    w, h = 200, 100
    # Left eye corners at x 120/160 px, right eye 40/80 px, all at y 50 px; irises centred.
    for idx, x in ((362, 120), (263, 160), (33, 40), (133, 80), (473, 140), (468, 60)):
        lm[idx, :2] = x / w, 0.5
    np.testing.assert_allclose(eye_gaze(lm, (w, h)), 0, atol=1e-9)
    lm[473, 0] = (140 + 8) / w  # 8 px right of 20 px half width: 0.4 half widths -> asin(0.4 / 0.8)
    lm[468, 1] = (50 - 8) / h  # up
    g = eye_gaze(lm, (w, h))
    assert g[0, 0] == pytest.approx(30.0) and g[0, 1] == pytest.approx(0.0)
    assert g[1, 0] == pytest.approx(0.0) and g[1, 1] == pytest.approx(30.0)


# -- encoders ---------------------------------------------------------------------------------------------

def frame(**kw) -> FaceFrame:
    values = np.linspace(0, 1, 52, dtype=np.float32)
    args = dict(index=7, time_s=1.3, tracked=True, blendshapes=values, head_euler_deg=np.array([10.0, -20, 5]),
                head_rotation=rotation_from_euler(10, -20, 5), translation_cm=np.zeros(3),
                gaze_deg=np.array([[4.0, -3], [5, -2]]), fps=30.0)
    args.update(kw)
    return FaceFrame(**args)


def test_livelink_packet_layout() -> None:
    enc = LiveLinkEncoder(subject="Ülla", device_id="ABC")
    p = enc.encode(frame())
    assert len(p) == 1 + 4 + 3 + 4 + len("Ülla".encode()) + 16 + 1 + 61 * 4
    d = decode_livelink(p)
    assert (d["version"], d["device_id"], d["subject"], d["fps"]) == (6, "ABC", "Ülla", (30, 1))
    assert d["frame"] == 39 and d["sub_frame"] == pytest.approx(0.0, abs=1e-4)  # 1.3 s * 30 fps
    assert list(d["values"]) == list(LIVELINK_CURVES) and LIVELINK_CURVES[0] == "EyeBlinkLeft"
    v = np.array(list(d["values"].values()))
    np.testing.assert_allclose(v[:52], np.linspace(0, 1, 52), atol=1e-6)
    np.testing.assert_allclose(v[52:], np.radians([10, -20, 5, 4, -3, 0, 5, -2, 0]), atol=1e-6)
    for broken in (p[:-1], b"\x05" + p[1:], p + b"\x00"):
        with pytest.raises(ValueError):
            decode_livelink(broken)
    # A device id per encoder (per run) unless given.
    assert decode_livelink(LiveLinkEncoder().encode(frame()))["device_id"] != \
        decode_livelink(LiveLinkEncoder().encode(frame()))["device_id"]


def test_vmc_capitalized_names_and_lost_face() -> None:
    pytest.importorskip("pythonosc")
    from pythonosc.osc_bundle import OscBundle

    from facepipe.apps.stream.protocols.vmc import VmcEncoder

    msgs = list(OscBundle(VmcEncoder(capitalize_names=True).encode(FaceFrame.neutral(3, 0.1))))
    assert msgs[0].address == "/VMC/Ext/OK" and list(msgs[0].params) == [1, 3, 0, 0]  # tracking lost
    blend = [m.params[0] for m in msgs if m.address == "/VMC/Ext/Blend/Val"]
    assert blend[0] == "EyeBlinkLeft" and blend[-1] == "TongueOut" and len(blend) == 52
    head = next(m for m in msgs if m.address == "/VMC/Ext/Bone/Pos")
    assert list(head.params) == ["Head", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]


# -- ONNX blendshape regressor ----------------------------------------------------------------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _f(num: int, value: int | bytes | str) -> bytes:
    """One protobuf field: varint for int, length-delimited for bytes/str."""
    if isinstance(value, int):
        return _varint(num << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def _value_info(name: str, dims: list[int | str]) -> bytes:
    shape = b"".join(_f(1, _f(2, d) if isinstance(d, str) else _f(1, d)) for d in dims)
    return _f(1, name) + _f(2, _f(1, _f(1, 1) + _f(2, shape)))  # elem_type FLOAT, shape


def _tensor(name: str, dims: list[int], dtype: int, raw_bytes: bytes) -> bytes:
    return b"".join(_f(1, d) for d in dims) + _f(2, dtype) + _f(8, name) + _f(9, raw_bytes)


def regressor_onnx(out_dims: int = 52) -> bytes:
    """(N,478,3) -> Reshape (N,1434) -> MatMul W: output k = x of landmark k (W[3k, k] = 1)."""
    w = np.zeros((1434, out_dims), np.float32)
    w[np.arange(out_dims) * 3, np.arange(out_dims)] = 1.0
    graph = (_f(1, _f(1, "landmarks") + _f(1, "shape") + _f(2, "flat") + _f(4, "Reshape"))
             + _f(1, _f(1, "flat") + _f(1, "W") + _f(2, "blendshapes") + _f(4, "MatMul"))
             + _f(2, "test_regressor")
             + _f(5, _tensor("shape", [2], 7, struct.pack("<2q", -1, 1434)))
             + _f(5, _tensor("W", [1434, out_dims], 1, w.tobytes()))
             + _f(11, _value_info("landmarks", ["N", 478, 3]))
             + _f(12, _value_info("blendshapes", ["N", out_dims])))
    return _f(1, 7) + _f(7, graph) + _f(8, _f(1, "") + _f(2, 13))


def test_onnx_regressor_contract(tmp_path) -> None:
    import hashlib

    from facepipe.apps.stream import BlendshapeRegressor, FaceTracker, TrackerOptions
    from facepipe.io.video import VideoReader

    path = tmp_path / "reg.onnx"
    path.write_bytes(regressor_onnx())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    lm = np.random.default_rng(0).uniform(-0.2, 1.2, (2, 478, 3)).astype(np.float32)
    out = BlendshapeRegressor(path, sha256=digest)(lm)
    np.testing.assert_allclose(out, np.clip(lm[:, :52, 0], 0, 1), atol=1e-6)
    with pytest.raises(ModelError, match="sha256 is"):
        BlendshapeRegressor(path, sha256="0" * 64)
    wrong = tmp_path / "wrong.onnx"
    wrong.write_bytes(regressor_onnx(out_dims=51))
    with pytest.raises(ModelError, match=r"output must be \(N, 52\)"):
        BlendshapeRegressor(wrong)
    with pytest.raises(InputError, match="no such blendshape model"):
        BlendshapeRegressor(tmp_path / "none.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="junk.onnx"):
        BlendshapeRegressor(junk)

    # In the tracker: the regressor's values are the landmarks' x (landmarks from the real landmarker).
    for name in ("blaze_face_short_range", "face_landmarks_detector", "geometry_pipeline_metadata_landmarks"):
        model_path(name)
    tracker = FaceTracker(TrackerOptions(blendshapes_model=path))
    assert tracker.landmarker.options.output_face_blendshapes is False
    with VideoReader(shared_file("videos/lp_d12_talking.mp4")) as reader:
        image = next(iter(reader)).image
    face = tracker.track(image, 0)
    assert face.found
    # The first VIDEO-mode frame is found like an IMAGE-mode one (detector, then landmarks, no smoothing yet).
    from facepipe.solutions.face_landmarker import FaceLandmarker

    ref = FaceLandmarker().detect(image)
    np.testing.assert_allclose(face.blendshapes, np.clip(ref.landmarks[0, :52, 0], 0, 1), atol=1e-5)


# -- live source ------------------------------------------------------------------------------------------

def test_live_source_drops_frames_instead_of_queueing() -> None:
    """The grabber keeps only the newest frame: a consumer slower than the capture gets recent frames and the
    rest are counted as dropped. (OpenCV opening a video file stands in for a camera: same capture API.)"""
    import time

    from facepipe.apps.stream.sources import CameraSource

    path = shared_file("videos/lp_d12_talking.mp4")  # 183 frames, decoded by OpenCV faster than we consume
    source = CameraSource(str(path))
    got, staleness = [], []
    try:
        for item in source:  # until the capture ends
            staleness.append(time.perf_counter() - item.arrived)
            assert item.image.shape == (512, 512, 3) and item.image.dtype == np.uint8
            got.append(item.index)
            time.sleep(0.02)  # a consumer slower than the capture
    finally:
        source.close()
    assert got == sorted(got) and len(set(got)) == len(got)
    # Every captured frame was either taken or dropped (overwritten by a newer one before it was taken).
    assert source.dropped > 0 and len(got) + source.dropped == 183
    # Taken frames are fresh, not from a backlog (a queue would make them seconds old by the end).
    assert np.median(staleness) < 0.1 and max(staleness) < 1.0
    with pytest.raises(InputError, match="camera 96: cannot be opened"):
        CameraSource(96)


def test_video_loop_continues_numbers_and_times() -> None:
    from facepipe.apps.stream.sources import VideoSource

    src = VideoSource(shared_file("videos/pyfeat_single_face.mp4"), realtime=False, loop=True, max_frames=200)
    try:
        items = [(f.index, f.time_s) for f in src]  # the clip has 72 frames: played almost three times
    finally:
        src.close()
    assert [i for i, _ in items] == list(range(200))
    times = np.array([t for _, t in items])
    assert (np.diff(times) > 0).all() and np.diff(times).max() < 2.5 / src.fps
