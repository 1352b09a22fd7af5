"""`facepipe faces` gallery management from the command line: list, remove, export, import, and the
error paths (unknown name, missing/corrupt/foreign gallery, unreachable PostgreSQL, bad usage)."""

from __future__ import annotations

import json
import stat

import numpy as np
import pytest

from facepipe.apps.recognition.store import GalleryInfo, open_gallery
from facepipe.cli.main import main

INFO = GalleryInfo("test-model-v1", 8, "euclidean")


@pytest.fixture
def gallery(tmp_path):
    path = tmp_path / "g.sqlite3"
    rng = np.random.default_rng(0)
    with open_gallery(path, INFO) as g:
        g.add("Ada Lovelace", rng.normal(size=(3, 8)), sources=["a.jpg", "b.jpg", "c.jpg"])
        g.add("Alan Turing", rng.normal(size=(2, 8)), thumbnails=[b"\xff\xd8x", None])
    return path


def test_list_remove_and_unknown_name(gallery, capsys, caplog):
    assert main(["faces", "list", "--gallery", str(gallery)]) == 0
    assert capsys.readouterr().out == "Ada Lovelace\t3\nAlan Turing\t2\n"
    assert main(["faces", "list", "-f", "json", "--gallery", str(gallery)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["model_id"] == "test-model-v1" and doc["dim"] == 8
    assert [(p["name"], p["embeddings"], p["thumbnails"]) for p in doc["people"]] == [
        ("Ada Lovelace", 3, 0), ("Alan Turing", 2, 1)]
    assert main(["faces", "remove", "Grace Hopper", "--gallery", str(gallery)]) == 1
    err = caplog.text
    assert "no person named 'Grace Hopper'" in err and "known: Ada Lovelace, Alan Turing" in err
    assert "Traceback" not in err
    assert main(["faces", "remove", "Ada Lovelace", "--gallery", str(gallery)]) == 0
    capsys.readouterr()
    with open_gallery(gallery, None, create=False) as g:
        assert [p.name for p in g.people()] == ["Alan Turing"] and len(g) == 2


def test_export_import_round_trip(gallery, tmp_path, caplog):
    out = tmp_path / "export.json"
    assert main(["faces", "export", str(out), "--gallery", str(gallery)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    doc = json.loads(out.read_text())
    assert doc["format"] == "facepipe-gallery" and doc["dim"] == 8 and len(doc["people"]) == 2
    copy = tmp_path / "copy" / "g.sqlite3"
    assert main(["faces", "import", str(out), "--gallery", str(copy)]) == 0
    with open_gallery(gallery, None, create=False) as a, open_gallery(copy, None, create=False) as b:
        assert b.info == a.info
        ra, rb = a.records(), b.records()
        assert [(r.name, r.source, r.thumbnail) for r in ra] == [(r.name, r.source, r.thumbnail) for r in rb]
        for x, y in zip(ra, rb):
            np.testing.assert_array_equal(x.embedding, y.embedding)  # exact float32 round trip
    # Importing into a gallery of another model is refused and changes nothing.
    other = tmp_path / "other.sqlite3"
    open_gallery(other, GalleryInfo("arcface", 512, "cosine")).close()
    assert main(["faces", "import", str(out), "--gallery", str(other)]) == 1
    assert "holds 512-d cosine embeddings of model 'arcface'; the file holds 8-d" in caplog.text
    with open_gallery(other, None, create=False) as g:
        assert len(g) == 0


def test_bad_files_are_one_line_errors(tmp_path, caplog):
    missing = tmp_path / "none.sqlite3"
    assert main(["faces", "list", "--gallery", str(missing)]) == 1
    assert "no gallery here" in caplog.text
    caplog.clear()
    assert not missing.exists()  # listing never creates a gallery
    corrupt = tmp_path / "corrupt.sqlite3"
    corrupt.write_bytes(b"\x00garbage" * 100)
    assert main(["faces", "remove", "x", "--gallery", str(corrupt)]) == 1
    assert "not a facepipe gallery" in caplog.text
    caplog.clear()
    assert corrupt.read_bytes() == b"\x00garbage" * 100
    bad_export = tmp_path / "bad.json"
    bad_export.write_text('{"format": "something else"}')
    assert main(["faces", "import", str(bad_export), "--gallery", str(tmp_path / "n.sqlite3")]) == 1
    assert "not a facepipe gallery export" in caplog.text
    caplog.clear()


def test_postgres_unreachable_from_cli(caplog):
    pytest.importorskip("psycopg")
    assert main(["faces", "list", "--gallery", "postgresql://me:pw@127.0.0.1:1/db?connect_timeout=2"]) == 1
    err = caplog.text
    assert "cannot connect to PostgreSQL" in err and "pw" not in err.replace("PostgreSQL", "")


def test_usage_errors_exit_2(tmp_path, capsys, caplog):
    assert main(["faces", "enroll", "--gallery", str(tmp_path / "g.sqlite3")]) == 2
    assert "give NAME and at least one PHOTO" in caplog.text
    caplog.clear()
    with pytest.raises(SystemExit) as exc:
        main(["faces", "identify", "x.jpg", "-k", "0"])
    assert exc.value.code == 2
    assert "must be an integer in 1..100" in capsys.readouterr().err


def test_camera_that_cannot_be_opened(tmp_path, caplog):
    from conftest import model_path

    model_path("face_recognition_dlib_resnet_v1")
    gallery = tmp_path / "g.sqlite3"
    open_gallery(gallery, _dlib_info()).close()
    assert main(["faces", "identify", "--camera", "99", "--gallery", str(gallery), "--max-frames", "1"]) == 1
    assert "camera 99: cannot be opened" in caplog.text


def _dlib_info() -> GalleryInfo:
    from facepipe.apps.recognition.recognizer import default_embedder

    return GalleryInfo.of(default_embedder())


def test_camera_recording_with_a_fake_device(tmp_path, monkeypatch, capsys):
    """faces identify --camera N -o FILE: one JSON line per frame on standard output and the annotated
    stream recorded (the shared jobs.LiveView), from a stand-in camera of a face photo."""
    import cv2
    from conftest import model_path
    from conftest import testdata_file as shared_file
    from mediafiles import fake_camera

    from facepipe.io.video import VideoReader

    model_path("face_recognition_dlib_resnet_v1")
    gallery = tmp_path / "g.sqlite3"
    open_gallery(gallery, _dlib_info()).close()
    bgr = cv2.imread(str(shared_file("faces/pyfeat_single_face.jpg")))[:360, :560]
    fake_camera(monkeypatch, bgr, frames=4)
    out = tmp_path / "cam.mp4"
    assert main(["faces", "identify", "--camera", "0", "--gallery", str(gallery), "-o", str(out)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["frame"] for d in lines] == [0, 1, 2, 3]
    assert all(len(d["faces"]) == 1 for d in lines)
    with VideoReader(out) as reader:
        recorded = list(reader)
    assert [round(f.time * 1000) for f in recorded] == [d["timestamp_ms"] for d in lines]
    assert np.abs(recorded[0].image.astype(int) - bgr[..., ::-1].astype(int)).max() > 50  # boxes drawn
