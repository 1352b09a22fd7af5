"""Batch runs on a real local Ray cluster (2 CPUs): same outputs as the local run, a killed worker
loses and duplicates nothing, a rerun skips everything, a corrupt input is retried then reported;
for anonymize, analyze, faces identify and search index."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import TESTDATA, model_path
from conftest import testdata_file as shared_file

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
ray = pytest.importorskip("ray")
av = pytest.importorskip("av")

from test_batch import cut_clip, make_folder, manifest_records  # noqa: E402
from test_video_io import audio_packets, video_times  # noqa: E402

from facepipe.apps.analyze import AnalyzeOptions, collect_inputs  # noqa: E402
from facepipe.apps.anonymize.options import AnonymizeOptions  # noqa: E402
from facepipe.apps.batch import AnalyzeTask, AnonymizeTask, BatchOptions, plan_analyze, plan_anonymize, run_batch  # noqa: E402
from facepipe.cli.main import main  # noqa: E402
from facepipe.io.video import VideoReader  # noqa: E402

pytestmark = pytest.mark.ray

ON_RAY = BatchOptions(ray="local", workers=2, retries=2)


@pytest.fixture(scope="module")
def cluster():
    model_path("face_detection_full_range")
    model_path("face_detection_short_range")
    model_path("face_landmarker")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             configure_logging=False)  # leave the logging of later tests alone
    yield
    ray.shutdown()


def run_cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facepipe", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def frames(path: Path) -> list[np.ndarray]:
    with VideoReader(path) as r:
        return [f.image for f in r]


def assert_same_video(a: Path, b: Path) -> None:
    fa, fb = frames(a), frames(b)
    assert len(fa) == len(fb) > 0, (a, b)
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb)), (a, b)
    assert video_times(a) == video_times(b)
    assert audio_packets(a) == audio_packets(b) and audio_packets(a)[0]
    assert a.read_bytes() == b.read_bytes(), (a, b)  # the whole file: the graph (local default) and a Ray
    # worker of 1 CPU (one frame after another) write the same MP4


def test_anonymize_on_ray_equals_local_survives_a_killed_worker_and_resumes(cluster, tmp_path):
    folder = make_folder(tmp_path)
    (folder / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + os.urandom(2000))
    # The local run in a process of its own, as a user runs it (and untouched by earlier tests' state), with
    # its defaults: the graph on all cores, while each Ray worker runs one frame after another.
    local = run_cli("anonymize", folder, "-o", tmp_path / "local")
    assert local.returncode == 1 and "corrupt.mp4" in local.stderr
    out = tmp_path / "ray"
    plan = plan_anonymize([folder], out, recursive=False)
    killed: list[str] = []

    def kill_first_video_worker(item, actor):
        # Kill the worker while it is on its first video (its models take longer than this to load).
        if item.kind == "video" and not killed:
            killed.append(item.input.name)
            threading.Timer(0.5, ray.kill, (actor,)).start()

    task = AnonymizeTask(AnonymizeOptions())
    summary = run_batch(task, plan.items, plan.manifest_dir, ON_RAY, on_dispatch=kill_first_video_worker)
    assert summary.lost_workers >= 1 and summary.attempts[folder / killed[0]] >= 2
    assert [r.input.name for r in summary.failed] == ["corrupt.mp4"]
    assert summary.attempts[folder / "corrupt.mp4"] == 3 and "corrupt.mp4" in summary.failed[0].error
    names = sorted(p.name for p in folder.iterdir() if p.name != "corrupt.mp4")
    assert sorted(r.input.name for r in summary.done) == names
    assert sorted(p.name for p in out.iterdir()) == sorted([".facepipe-manifest.jsonl", *names])  # no temp files
    done = [Path(r["input"]).name for r in manifest_records(out) if r["status"] == "done"]
    assert sorted(done) == names  # each file recorded once
    for name in names:
        if name.endswith(".mp4"):
            assert_same_video(out / name, tmp_path / "local" / name)
        else:
            assert (out / name).read_bytes() == (tmp_path / "local" / name).read_bytes()

    again = run_batch(task, plan.items, plan.manifest_dir, ON_RAY)
    assert sorted(p.name for p in again.skipped) == names and not again.done
    assert [r.input.name for r in again.failed] == ["corrupt.mp4"]  # failures are tried again


def test_analyze_on_ray_equals_local(cluster, tmp_path):
    folder = make_folder(tmp_path, clips=1, photos=1)
    options = AnalyzeOptions(charts=False)
    local = run_cli("analyze", folder, "-o", tmp_path / "local", "--no-charts")
    assert local.returncode == 0, local.stderr
    plan = plan_analyze(collect_inputs([folder], tmp_path / "ray"), tmp_path / "ray")
    summary = run_batch(AnalyzeTask(options), plan.items, plan.manifest_dir, ON_RAY)
    assert summary.ok and len(summary.done) == 2
    for stem in ("clip0_pyfeat_single_face", "if_blur"):
        a, b = (json.loads((tmp_path / d / f"{stem}.json").read_text()) for d in ("local", "ray"))
        assert a == b and a["frames"][0]["faces"]
    assert_same_video(tmp_path / "ray" / "clip0_pyfeat_single_face.annotated.mp4",
                      tmp_path / "local" / "clip0_pyfeat_single_face.annotated.mp4")
    assert ((tmp_path / "ray" / "if_blur.annotated.jpg").read_bytes()
            == (tmp_path / "local" / "if_blur.annotated.jpg").read_bytes())


def test_identify_on_ray_equals_local_and_reruns_skip(cluster, tmp_path, capsys):
    model_path("face_recognition_dlib_resnet_v1")
    people, folder = tmp_path / "people", tmp_path / "in"
    folder.mkdir()
    for person in ("barack_obama", "jack_dorsey"):
        photos = sorted((TESTDATA / "identities" / person).iterdir())
        (people / person).mkdir(parents=True)
        for p in photos[:-1]:
            shutil.copy(p, people / person / p.name)
        shutil.copy(photos[-1], folder / f"{person}{photos[-1].suffix}")  # held out
    cut_clip(shared_file("videos/fr_short_hamilton_clip.mp4"), folder / "hamilton.mp4", 1.3)  # video starts at 0.85 s
    gallery = tmp_path / "g.sqlite3"
    assert main(["faces", "enroll", "--people", str(people), "--gallery", str(gallery)]) == 0
    local = run_cli("faces", "identify", folder, "-o", tmp_path / "local", "--gallery", gallery)
    assert local.returncode == 0, local.stderr
    capsys.readouterr()
    ray_args = ["faces", "identify", str(folder), "-o", str(tmp_path / "ray"), "--gallery", str(gallery), "--ray",
                "--ray-workers", "2"]
    assert main(ray_args) == 0
    assert "3 done, 0 skipped" in capsys.readouterr().err
    local_doc = (tmp_path / "local" / "faces.json").read_bytes()
    assert (tmp_path / "ray" / "faces.json").read_bytes() == local_doc
    obama, video, jack = json.loads(local_doc)["inputs"]  # in the folder's order
    assert (obama["people"], jack["people"], video["kind"]) == ({"barack_obama": 1}, {"jack_dorsey": 1}, "video")
    assert sum(len(f["faces"]) for f in video["frames"]) > 0
    for name in ("barack_obama_faces.jpg", "jack_dorsey_faces.jpg"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    ours, theirs = tmp_path / "ray" / "hamilton_faces.mp4", tmp_path / "local" / "hamilton_faces.mp4"
    a, b = frames(ours), frames(theirs)
    assert len(a) == len(b) == len(video["frames"]) and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert ours.read_bytes() == theirs.read_bytes()

    assert main(ray_args) == 0  # a rerun skips everything and writes the same faces.json
    assert "0 done, 3 skipped" in capsys.readouterr().err
    assert (tmp_path / "ray" / "faces.json").read_bytes() == local_doc


def test_search_index_on_ray_equals_local(cluster, tmp_path, capsys):
    model_path("face_landmarker")
    folder = tmp_path / "in"
    folder.mkdir()
    for expression in ("happy", "sad"):
        for p in sorted((TESTDATA / "expressions" / expression).iterdir())[:2]:
            shutil.copy(p, folder / p.name)
    (folder / "bad.jpg").write_bytes(b"not a jpeg")
    assert main(["search", "index", str(folder), "-o", str(tmp_path / "local.idx"), "--no-progress"]) == 1
    local_out = capsys.readouterr().out
    ray_args = ["search", "index", str(folder), "-o", str(tmp_path / "ray.idx"), "--ray", "--ray-workers", "2",
                "--retries", "1", "--no-progress"]
    assert main(ray_args) == 1
    ray_out = capsys.readouterr().out
    assert "added 4 faces from 4 photos" in ray_out and "1 unreadable" in ray_out
    assert ray_out.splitlines()[1:] == local_out.splitlines()[1:] == [
        f"  unreadable: {folder / 'bad.jpg'}: not an image, or a format neither OpenCV nor Pillow can read"]
    assert index_rows(tmp_path / "ray.idx") == index_rows(tmp_path / "local.idx")  # same vectors, to the bit

    os.utime(folder / "if_happy.png")  # touched: indexed again; the rest unchanged; bad.jpg tried again
    assert main(ray_args) == 1
    assert "added 1 faces from 1 photos" in (out := capsys.readouterr().out) and "3 unchanged" in out
    assert index_rows(tmp_path / "ray.idx")[0] == index_rows(tmp_path / "local.idx")[0]


def index_rows(path: Path) -> tuple[list, list]:
    """(files: path, status, message; faces: path, box, score, vector bytes), sorted."""
    with sqlite3.connect(path) as db:
        files = sorted(db.execute("SELECT path, status, message FROM files").fetchall())
        faces = sorted(db.execute("SELECT f.path, c.x1, c.y1, c.x2, c.y2, c.score, c.vector FROM faces c"
                                  " JOIN files f ON f.id = c.file_id").fetchall())
    return files, faces
