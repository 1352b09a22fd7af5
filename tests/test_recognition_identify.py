"""Recognition end to end on real photos and video: enroll, identify, per-track names, errors.

Uses the shared identities (8 people, 30 photos), unrelated faces from testdata/faces, and the
hamilton clip (Lin-Manuel Miranda on stage, then Barack Obama in the audience after a scene cut).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import TESTDATA, model_path
from conftest import testdata_file as data

from facepipe.apps.recognition import (
    UNKNOWN,
    FaceRecognizer,
    GalleryInfo,
    TrackVoteOptions,
    identify_frames,
    open_gallery,
)
from facepipe.cli.main import main

IDENTITIES = TESTDATA / "identities"


@pytest.fixture(scope="module")
def recognizer_parts():
    model_path("face_recognition_dlib_resnet_v1")
    from facepipe.apps.recognition.faces import FaceSpotter
    from facepipe.apps.recognition.recognizer import default_embedder

    return default_embedder(), FaceSpotter()


@pytest.fixture(scope="module")
def held_out_gallery(tmp_path_factory, recognizer_parts):
    """All identities but the last photo of each person enrolled (through the CLI's --people layout)."""
    if not IDENTITIES.is_dir():
        pytest.skip("no shared identities")
    root = tmp_path_factory.mktemp("people")
    held = {}
    for person in sorted(IDENTITIES.iterdir()):
        photos = sorted(person.iterdir())
        (root / person.name).mkdir()
        for p in photos[:-1]:
            shutil.copy(p, root / person.name / p.name)
        held[person.name] = photos[-1]
    gallery = root / "gallery.sqlite3"
    assert main(["faces", "enroll", "--people", str(root), "--gallery", str(gallery)]) == 0
    return gallery, held


def _recognizer(gallery, parts) -> FaceRecognizer:
    embedder, spotter = parts
    return FaceRecognizer(gallery, embedder=embedder, spotter=spotter)


def test_held_out_photos_are_named_and_strangers_are_not(held_out_gallery, recognizer_parts):
    from facepipe.io.image import read_image

    gallery, held = held_out_gallery
    with _recognizer(gallery, recognizer_parts) as rec:
        assert len(rec.gallery) == 30 - 8
        names = {person: rec.identify(read_image(photo)) for person, photo in held.items()}
        for found in names.values():
            assert len(found) == 1 and found.embeddings.shape == (1, 128)
        right = [p for p, f in names.items() if f.names[0] == p]
        wrong = [(p, f.names[0]) for p, f in names.items() if f.names[0] not in (p, UNKNOWN)]
        assert len(right) >= 7, names  # measured: 8 of 8
        assert wrong == []
        # People who are not enrolled stay unknown: the recogniser must not invent names. At the
        # default 0.6 one face of pyfeat_multi_face.jpg is 0.595 from a photo of Katy Perry (measured;
        # the README says so): at most that one borderline face may be named, nothing nearer.
        strangers = ["faces/mp_sergey.png", "faces/pyfeat_single_face.jpg", "faces/tfjs_depth_portrait.jpg",
                     "faces/if_attr_1561.jpg", "groups/tfjs_three_people.jpg", "groups/pyfeat_multi_face.jpg",
                     "groups/lz_9.jpg", "groups/lz_11.jpg"]
        faces = invented = 0
        for rel in strangers:
            found = rec.identify(read_image(data(rel)))
            assert len(found) >= 1
            faces += len(found)
            named = found[found.known]
            invented += len(named)
            assert (named.distances > rec.threshold - 0.01).all(), (rel, named.names, named.distances)
            assert (found[~found.known].distances >= rec.threshold).all()
        assert faces >= 25 and invented <= 1


def test_enroll_errors_name_the_photo_and_change_nothing(tmp_path, caplog, recognizer_parts):
    gallery = tmp_path / "g.sqlite3"
    two = data("groups/fr_two_people.jpg")
    none = data("hands/tfjs_hands.jpg")
    one = IDENTITIES / "barack_obama" / "obama.jpg"
    assert main(["faces", "enroll", "obama", str(one), str(two), "--gallery", str(gallery)]) == 1
    assert "fr_two_people.jpg: 2 faces found; use --largest" in caplog.text
    assert main(["faces", "enroll", "obama", str(one), str(none), "--gallery", str(gallery)]) == 1
    assert "tfjs_hands.jpg: no face found" in caplog.text
    with open_gallery(gallery, None, create=False) as g:
        assert g.people() == []  # all or nothing: the good photo was not enrolled either
    assert main(["faces", "enroll", "obama", str(one), str(two), "--largest", "--gallery", str(gallery)]) == 0
    assert main(["faces", "enroll", "obama", str(none), "--skip-bad", "--gallery", str(gallery)]) == 1
    assert "no usable photo of 'obama'" in caplog.text
    with open_gallery(gallery, None, create=False) as g:
        assert [(p.name, p.embeddings, p.thumbnails) for p in g.people()] == [("obama", 2, 0)]
    # A gallery made for another model is refused before anything is embedded.
    other = tmp_path / "arc.sqlite3"
    open_gallery(other, GalleryInfo("arcface-r100", 512, "cosine")).close()
    caplog.clear()
    assert main(["faces", "enroll", "obama", str(one), "--gallery", str(other)]) == 1
    assert "holds 512-d cosine embeddings of model 'arcface-r100'; the embedder makes 128-d" in caplog.text


def test_thumbnails_only_when_asked(tmp_path, recognizer_parts):
    import cv2

    gallery = tmp_path / "g.sqlite3"
    photo = IDENTITIES / "katy_perry" / "img46.jpg"
    assert main(["faces", "enroll", "katy", str(photo), "--keep-thumbnails", "--gallery", str(gallery)]) == 0
    with open_gallery(gallery, None, create=False) as g:
        (rec,) = g.records()
    chip = cv2.imdecode(np.frombuffer(rec.thumbnail, np.uint8), cv2.IMREAD_COLOR)
    assert chip.shape == (150, 150, 3)
    assert rec.source == "img46.jpg"


def test_identify_cli_writes_json_and_annotated_photo(held_out_gallery, tmp_path, capsys):
    gallery, held = held_out_gallery
    photo = held["jack_dorsey"]
    out = tmp_path / "out"
    assert main(["faces", "identify", str(photo), "--gallery", str(gallery), "-o", str(out)]) == 0
    doc = json.loads((out / "faces.json").read_text())
    from facepipe.jobs.schema import validate

    assert validate(doc) == []
    (face,) = doc["inputs"][0]["frames"][0]["faces"]
    assert face["name"] == "jack_dorsey" and 0 < face["distance"] < doc["threshold"]
    assert face["track_id"] is None and len(face["box"]) == 4
    assert doc["inputs"][0]["frames"][0]["frame"] == 0 and doc["inputs"][0]["people"] == {"jack_dorsey": 1}
    assert (out / f"{photo.stem}_faces{photo.suffix}").stat().st_size > 0
    assert main(["faces", "identify", str(photo), "--gallery", str(gallery)]) == 0
    assert json.loads(capsys.readouterr().out)["inputs"][0]["frames"][0]["faces"][0]["name"] == "jack_dorsey"


def _clip_frames(*ranges: range):
    from facepipe.io.video import VideoReader

    with VideoReader(data("videos/fr_short_hamilton_clip.mp4")) as reader:
        for frame in reader:
            if any(frame.index in r for r in ranges):
                yield frame.index, frame.image, frame.time * 1000
            if frame.index >= max(r.stop for r in ranges):
                break


def test_video_names_are_decided_per_track(tmp_path, recognizer_parts):
    """Lin-Manuel Miranda enrolled from one still of the clip (frame 150, third scene), looked for in
    the first scene (frames 0-19: a wide shot, his face ~40 px) and across the cut at frame 211 from
    the third scene to the audience (Barack Obama and others, not enrolled: Obama's official portrait
    is in the gallery too, but dlib does not match his three-quarter view in the dark audience)."""
    gallery = tmp_path / "g.sqlite3"
    ((_, still, _),) = _clip_frames(range(150, 151))
    frames = list(_clip_frames(range(0, 20), range(190, 240)))
    with _recognizer(gallery, recognizer_parts) as rec:
        from facepipe.io.image import read_image

        rec.gallery.add("lin-manuel", rec.embed_faces(still)[1][:1])
        rec.gallery.add("obama", rec.embed_faces(read_image(IDENTITIES / "barack_obama" / "obama.jpg"))[1])
        result = identify_frames(rec, [(im, t) for _, im, t in frames], TrackVoteOptions(embed_every=2))
    index = [i for i, _, _ in frames]
    names_per_track: dict[int, set[str]] = {}
    for _, _, ids in result.frames:
        for t, n in zip(ids.track_ids, ids.names):
            names_per_track.setdefault(int(t), set()).add(str(n))
    assert all(len(v) == 1 for v in names_per_track.values())  # one name per track: no flicker
    by_scene = {"wide": set(), "stage": set(), "audience": set()}
    for d in result.tracks.values():
        first = index[d.first]
        scene = "wide" if first < 20 else "stage" if first < 211 else "audience"
        by_scene[scene].add(d.name)
    assert "lin-manuel" in by_scene["wide"] and "lin-manuel" in by_scene["stage"]
    assert by_scene["audience"] == {UNKNOWN}  # nobody invented after the cut
    assert result.people()["lin-manuel"] >= 30


def test_graph_calculators_match_the_recognizer(held_out_gallery, recognizer_parts):
    from facepipe.graph import GraphBuilder, Packet
    from facepipe.io.image import read_image

    gallery, held = held_out_gallery
    photos = [held[p] for p in ("katy_perry", "mark_zuckerberg")] + [data("groups/if_t1.jpg")]
    images = [read_image(p) for p in photos]
    embedder, _ = recognizer_parts
    with open_gallery(gallery, None, create=False) as store:
        b = GraphBuilder()
        b.input_stream("image")
        b.side_packet("embedder")
        b.side_packet("gallery")
        b.add_node("FaceEmbedderCalculator", inputs={"IMAGE": "image"},
                   outputs={"FACES": "faces", "EMBEDDINGS": "emb"}, side_packets={"EMBEDDER": "embedder"})
        b.add_node("GalleryLookupCalculator", inputs={"FACES": "faces", "EMBEDDINGS": "emb"},
                   outputs={"IDENTITIES": "ids"}, side_packets={"GALLERY": "gallery"})
        graph = b.build()
        packets = graph.run(inputs={"image": [Packet(im, i) for i, im in enumerate(images)]},
                            side_packets={"embedder": embedder, "gallery": store}, collect=["ids"])["ids"]
    got = [p.payload for p in packets]
    with _recognizer(gallery, recognizer_parts) as rec:
        want = [rec.identify(im) for im in images]
    assert [list(g.names) for g in got] == [list(w.names) for w in want]
    assert got[0].names[0] == "katy_perry" and got[1].names[0] == "mark_zuckerberg"
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.distances, w.distances, rtol=1e-5)


def test_postgres_gallery_end_to_end(pg_server, tmp_path, caplog, capsys, recognizer_parts):
    """The same enroll/identify/remove from the CLI against a real PostgreSQL + pgvector server."""
    from test_recognition_store import fresh_db

    url = fresh_db(pg_server)
    people = tmp_path / "people"
    for person in ("katy_perry", "jack_dorsey"):
        (people / person).mkdir(parents=True)
        for p in sorted((IDENTITIES / person).iterdir())[:-1]:
            shutil.copy(p, people / person / p.name)
    assert main(["faces", "enroll", "--people", str(people), "--gallery", url]) == 0
    probe = sorted((IDENTITIES / "katy_perry").iterdir())[-1]
    assert main(["faces", "identify", str(probe), "--gallery", url]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["inputs"][0]["frames"][0]["faces"][0]["name"] == "katy_perry"
    assert "secret" not in doc["gallery"]
    assert main(["faces", "remove", "katy_perry", "--gallery", url]) == 0
    assert main(["faces", "identify", str(probe), "--gallery", url]) == 0
    assert json.loads(capsys.readouterr().out)["inputs"][0]["frames"][0]["faces"][0]["name"] == UNKNOWN
    with open_gallery(url, None, create=False) as g:
        assert [p.name for p in g.people()] == ["jack_dorsey"] and len(g) == 3
