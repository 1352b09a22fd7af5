"""`facepipe stream` end to end: real UDP receivers on 127.0.0.1, a shared talking-head video, and what
arrives decoded with python-osc's own parser (VMC, plain OSC) or by hand (Live Link Face)."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import model_path
from conftest import testdata_file as shared_file

from facepipe.cli.main import main
from facepipe.solutions.blendshapes import ARKIT_NAMES, to_arkit

pytest.importorskip("pythonosc")
from pythonosc.osc_bundle import OscBundle  # noqa: E402

VIDEO = "videos/lp_d12_talking.mp4"
FORCED_ZERO = {"jawForward", "jawRight", "jawLeft", "mouthDimpleRight", "mouthDimpleLeft", "cheekPuff", "tongueOut"}


@pytest.fixture(scope="module", autouse=True)
def _models() -> None:
    for name in ("blaze_face_short_range", "face_landmarks_detector", "face_blendshapes",
                 "geometry_pipeline_metadata_landmarks"):
        model_path(name)


class Receiver:
    """A UDP socket on an ephemeral 127.0.0.1 port that records (arrival time, datagram)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.packets: list[tuple[float, bytes]] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            self.packets.append((time.perf_counter(), data))

    def close(self) -> list[tuple[float, bytes]]:
        time.sleep(0.1)  # let the last datagrams land
        self._stop = True
        self._thread.join()
        self.sock.close()
        return self.packets


@pytest.fixture()
def receivers():
    made: list[Receiver] = []

    def make() -> Receiver:
        made.append(Receiver())
        return made[-1]

    yield make
    for r in made:
        if not r._stop:
            r.close()


def osc_messages(dgram: bytes) -> list[tuple[str, list]]:
    bundle = OscBundle(dgram)
    return [(m.address, list(m.params)) for m in bundle]


def parse_livelink(p: bytes) -> tuple[str, int, float, int, np.ndarray]:
    """Independent reader of the Live Link Face packet: subject, frame, sub-frame, fps, 61 values."""
    assert p[0] == 6
    pos = 1
    strings = []
    for _ in range(2):
        n = int.from_bytes(p[pos : pos + 4], "big")
        strings.append(p[pos + 4 : pos + 4 + n].decode())
        pos += 4 + n
    frame, sub, fps, den = struct.unpack(">ifii", p[pos : pos + 16])
    assert den == 1 and p[pos + 16] == 61
    values = np.frombuffer(p[pos + 17 :], ">f4").astype(np.float64)
    assert values.shape == (61,)
    return strings[1], frame, sub, fps, values


def reference_track(n: int):
    """Landmarker results of the first n frames, computed here with the library directly."""
    from facepipe.io.video import VideoReader
    from facepipe.runtime.options import RuntimeOptions
    from facepipe.solutions.face_landmarker import FaceLandmarker, FaceLandmarkerOptions

    lm = FaceLandmarker(FaceLandmarkerOptions(running_mode="video", output_face_blendshapes=True,
                                              output_facial_transformation_matrixes=True,
                                              runtime=RuntimeOptions(num_threads=1)))
    out = []
    with VideoReader(shared_file(VIDEO)) as reader:
        for frame in reader:
            if frame.index >= n:
                break
            out.append(lm.detect_for_video(frame.image, int(round(frame.time * 1000))))
    return out


def rotation_from_quaternion(x: float, y: float, z: float, w: float) -> np.ndarray:
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def test_all_three_targets_no_realtime(receivers, capsys) -> None:
    n = 30
    vmc, livelink, osc = receivers(), receivers(), receivers()
    rc = main(["stream", str(shared_file(VIDEO)), "--vmc", vmc.address, "--livelink", livelink.address,
               "--osc", osc.address, "--max-frames", str(n), "--no-realtime", "--no-smoothing",
               "--subject", "tester", "--no-preview"])
    assert rc == 0
    assert f"{n} frames" in capsys.readouterr().err
    got_vmc, got_ll, got_osc = vmc.close(), livelink.close(), osc.close()
    # One datagram per frame and target.
    assert len(got_vmc) == len(got_ll) == len(got_osc) == n

    ref = reference_track(n)
    assert all(len(r) == 1 for r in ref)  # one talking head in every frame

    for k, ((_, v), (_, ll), (_, o), r) in enumerate(zip(got_vmc, got_ll, got_osc, ref)):
        m = r.transformation_matrices[0].astype(np.float64)
        rot = m[:3, :3] / np.linalg.norm(m[:3, 0])
        expected = to_arkit(r.blendshapes)[0].astype(np.float64)
        expected[[ARKIT_NAMES.index(s) for s in FORCED_ZERO]] = 0.0

        # VMC: message order, names, ranges, head bone = the matrix's rotation (mapped to Unity).
        msgs = osc_messages(v)
        addrs = [a for a, _ in msgs]
        assert addrs[:3] == ["/VMC/Ext/OK", "/VMC/Ext/T", "/VMC/Ext/Root/Pos"]
        assert addrs[3:6] == ["/VMC/Ext/Bone/Pos"] * 3 and addrs[6:58] == ["/VMC/Ext/Blend/Val"] * 52
        assert addrs[58:] == ["/VMC/Ext/Blend/Apply"]
        assert msgs[0][1] == [1, 3, 0, 1]
        assert [p[0] for _, p in msgs[3:6]] == ["Head", "LeftEye", "RightEye"]
        assert [p[0] for _, p in msgs[6:58]] == list(ARKIT_NAMES)
        vals = np.array([p[1] for _, p in msgs[6:58]])
        assert ((vals >= 0) & (vals <= 1)).all()
        np.testing.assert_allclose(vals, expected, atol=1e-6)
        qx, qy, qz, qw = msgs[3][1][4:]
        # Unity (left-handed, avatar facing the viewer) back to the camera frame: negate y and z.
        np.testing.assert_allclose(rotation_from_quaternion(qx, -qy, -qz, qw), rot, atol=2e-3)

        # Live Link Face: 52 ARKit values then head yaw/pitch/roll in radians.
        subject, frame_no, sub, fps, values = parse_livelink(ll)
        assert subject == "tester" and fps == 25
        assert frame_no + sub == pytest.approx(k, abs=1e-3)  # frame k at 25 fps
        np.testing.assert_allclose(values[:52], expected, atol=1e-6)
        yaw = np.arctan2(rot[0, 2], rot[2, 2])
        pitch = np.arcsin(rot[1, 2])  # R = Ry(yaw) Rx(-pitch) Rz(roll): R[1,2] = sin(pitch)
        roll = np.arctan2(rot[1, 0], rot[1, 1])
        np.testing.assert_allclose(values[52:55], [yaw, pitch, roll], atol=2e-3)
        assert np.all(np.abs(values[55:]) < np.radians(60)) and values[57] == 0 and values[60] == 0

        # Plain OSC: the documented layout.
        omsgs = dict(osc_messages(o))
        assert omsgs["/facepipe/frame"] == [k, pytest.approx(r.timestamp_ms / 1000, abs=1e-3), 1]
        np.testing.assert_allclose(omsgs["/facepipe/blendshapes"], expected, atol=1e-6)
        np.testing.assert_allclose(rotation_from_quaternion(*omsgs["/facepipe/head/quaternion"]), rot, atol=2e-3)
        np.testing.assert_allclose(np.radians(omsgs["/facepipe/head"][:3]), [yaw, pitch, roll], atol=2e-3)
        assert ("/facepipe/blendshape_names" in omsgs) == (k % 30 == 0)
    names = dict(osc_messages(got_osc[0][1]))["/facepipe/blendshape_names"]
    assert names == list(ARKIT_NAMES)
    # A talking head: the jaw moves.
    jaw = [parse_livelink(p)[4][ARKIT_NAMES.index("jawOpen")] for _, p in got_ll]
    assert max(jaw) - min(jaw) > 0.1


def test_realtime_paces_at_the_frame_rate(receivers, capsys) -> None:
    n = 25  # one second at 25 fps
    rx = receivers()
    rc = main(["stream", str(shared_file(VIDEO)), "--livelink", rx.address, "--max-frames", str(n),
               "--no-preview"])
    assert rc == 0
    err = capsys.readouterr().err
    dropped = int(err.split("dropped ")[1].split(",")[0])
    got = rx.close()
    frames = [parse_livelink(p)[1] + parse_livelink(p)[2] for _, p in got]
    assert len(got) + dropped == n and len(got) >= 5
    # Packets leave when their frame is due: arrival times follow the video's own timeline, never ahead of it
    # (beyond the first frame's extra latency) and never far behind (late frames are dropped, not queued).
    arrival = np.array([t for t, _ in got]) - got[0][0]
    video_time = (np.array(frames) - frames[0]) / 25.0
    # "Far behind" is 0.5 s: queued frames would fall seconds behind; a receiver thread starved on a loaded
    # 2-core machine (load 24) was once 0.25 s late on a frame sent in time.
    assert (arrival - video_time).min() > -0.1 and (arrival - video_time).max() < 0.5
    if dropped == 0:
        rate = (len(got) - 1) / arrival[-1]
        assert rate == pytest.approx(25.0, rel=0.1)


def test_calibrate_then_reuse(receivers, tmp_path, capsys) -> None:
    cal = tmp_path / "neutral.json"
    rx = receivers()
    rc = main(["stream", str(shared_file(VIDEO)), "--osc", rx.address, "--max-frames", "20", "--no-realtime",
               "--calibrate", "--calibrate-seconds", "0.4", "--calibration", str(cal), "--no-smoothing"])
    assert rc == 0
    got = rx.close()
    import json

    doc = json.loads(cal.read_text())
    assert doc["format"] == "facepipe-stream-neutral/1" and doc["frames"] == 11  # 0.00 .. 0.40 s at 25 fps
    assert list(doc["blendshapes"]) == list(ARKIT_NAMES)
    neutral = np.array(list(doc["blendshapes"].values()))
    assert ((neutral >= 0) & (neutral <= 1)).all()
    # After calibration the head angles are relative to the neutral pose: small for a talking head.
    heads = np.array([dict(osc_messages(p))["/facepipe/head"][:3] for _, p in got])
    raw_pose = np.abs(heads[:11]).max()
    assert np.abs(heads[11:]).max() < max(raw_pose, 10.0)
    assert np.abs(np.median(heads[11:], axis=0)).max() < 5.0

    rx2 = receivers()
    assert main(["stream", str(shared_file(VIDEO)), "--osc", rx2.address, "--max-frames", "5", "--no-realtime",
                 "--calibration", str(cal), "--no-smoothing"]) == 0
    assert len(rx2.close()) == 5


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["--vmc", "localhost"], 2, "expected HOST:PORT"),
    (["--vmc", "127.0.0.1:70000"], 2, "port must be in 1..65535"),
    (["--livelink", "127.0.0.1:abc"], 2, "is not a number"),
    (["--osc", "::1:9000"], 2, "IPv6 address in brackets"),
    (["--vmc", "nosuch-host.invalid:39539"], 1, "does not resolve"),
    ([], 2, "no target"),
    (["--osc", "127.0.0.1:9", "--max-frames", "0"], 2, "--max-frames must be >= 1"),
])
def test_bad_targets_and_options(argv, code, message, caplog) -> None:
    assert main(["stream", str(shared_file(VIDEO)), *argv]) == code
    assert message in caplog.text


def test_bad_inputs(tmp_path, caplog) -> None:
    assert main(["stream", "--camera", "97", "--osc", "127.0.0.1:9"]) == 1
    assert "camera 97: cannot be opened" in caplog.text
    assert main(["stream", str(tmp_path / "missing.mp4"), "--osc", "127.0.0.1:9"]) == 1
    assert "missing.mp4: no such video file" in caplog.text
    assert main(["stream", "--osc", "127.0.0.1:9"]) == 2
    assert "exactly one input" in caplog.text
    bad = tmp_path / "tune.toml"
    bad.write_text('[shapes]\ngain = { jawOpn = 1.2 }\n')
    assert main(["stream", str(shared_file(VIDEO)), "--osc", "127.0.0.1:9", "--config", str(bad)]) == 1
    assert "tune.toml: shapes.gain: unknown blendshape name(s) jawOpn" in caplog.text


def test_nothing_listening_is_a_warning_not_a_failure(caplog) -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # a free port: nothing listens there
    assert main(["stream", str(shared_file(VIDEO)), "--livelink", f"127.0.0.1:{port}", "--max-frames", "4",
                 "--no-realtime"]) == 0
    assert "nothing is listening there yet" in caplog.text


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_ctrl_c_stops_cleanly(receivers) -> None:
    rx = receivers()
    env = dict(os.environ)
    # --loop: the stream cannot end by itself before the signal, however slow the machine is.
    proc = subprocess.Popen([sys.executable, "-m", "facepipe", "stream", str(shared_file(VIDEO)), "--loop",
                             "--vmc", rx.address], stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while not rx.packets and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert rx.packets, "no packet arrived"
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "stopped:" in err and "Traceback" not in err
    sent = int(err.split("--vmc ")[1].split(" packets")[0].split()[-1])
    assert 0 < sent == len(rx.close())
