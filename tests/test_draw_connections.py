"""Connection sets: exact MediaPipe contents, checked against the extracted data and the reference text."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

from facepipe.draw import connections as c
from facepipe.draw import styles as st

# Counts and distinct-index counts from mediapipe-reference.md section 11.3.
EXPECTED = {
    "FACEMESH_TESSELATION": (2556, 468), "FACEMESH_CONTOURS": (124, 128), "FACEMESH_LIPS": (40, 40),
    "FACEMESH_LEFT_EYE": (16, 16), "FACEMESH_RIGHT_EYE": (16, 16), "FACEMESH_LEFT_EYEBROW": (8, 10),
    "FACEMESH_RIGHT_EYEBROW": (8, 10), "FACEMESH_FACE_OVAL": (36, 36), "FACEMESH_NOSE": (25, 24),
    "FACEMESH_LEFT_IRIS": (4, 4), "FACEMESH_RIGHT_IRIS": (4, 4), "FACEMESH_IRISES": (8, 8),
    "HAND_CONNECTIONS": (21, 21), "POSE_CONNECTIONS": (35, 33),
}

# The small sets exactly as written in mediapipe-reference.md section 11.3 (independent of the JSON dump).
REFERENCE_TEXT = {
    "FACEMESH_LIPS": """61-146 146-91 91-181 181-84 84-17 17-314 314-405 405-321 321-375 375-291 61-185 185-40
        40-39 39-37 37-0 0-267 267-269 269-270 270-409 409-291 78-95 95-88 88-178 178-87 87-14 14-317 317-402
        402-318 318-324 324-308 78-191 191-80 80-81 81-82 82-13 13-312 312-311 311-310 310-415 415-308""",
    "FACEMESH_LEFT_EYE": """263-249 249-390 390-373 373-374 374-380 380-381 381-382 382-362 263-466 466-388
        388-387 387-386 386-385 385-384 384-398 398-362""",
    "FACEMESH_LEFT_IRIS": "474-475 475-476 476-477 477-474",
    "FACEMESH_LEFT_EYEBROW": "276-283 283-282 282-295 295-285 300-293 293-334 334-296 296-336",
    "FACEMESH_RIGHT_EYE": """33-7 7-163 163-144 144-145 145-153 153-154 154-155 155-133 33-246 246-161 161-160
        160-159 159-158 158-157 157-173 173-133""",
    "FACEMESH_RIGHT_EYEBROW": "46-53 53-52 52-65 65-55 70-63 63-105 105-66 66-107",
    "FACEMESH_RIGHT_IRIS": "469-470 470-471 471-472 472-469",
    "FACEMESH_FACE_OVAL": """10-338 338-297 297-332 332-284 284-251 251-389 389-356 356-454 454-323 323-361
        361-288 288-397 397-365 365-379 379-378 378-400 400-377 377-152 152-148 148-176 176-149 149-150
        150-136 136-172 172-58 58-132 132-93 93-234 234-127 127-162 162-21 21-54 54-103 103-67 67-109
        109-10""",
    "FACEMESH_NOSE": """168-6 6-197 197-195 195-5 5-4 4-1 1-19 19-94 94-2 98-97 97-2 2-326 326-327 327-294
        294-278 278-344 344-440 440-275 275-4 4-45 45-220 220-115 115-48 48-64 64-98""",
    "POSE_CONNECTIONS": """0-1 1-2 2-3 3-7 0-4 4-5 5-6 6-8 9-10 11-12 11-13 13-15 15-17 15-19 15-21 17-19
        12-14 14-16 16-18 16-20 16-22 18-20 11-23 12-24 23-24 23-25 24-26 25-27 26-28 27-29 28-30 29-31 30-32
        27-31 28-32""",
}
# Hand sub-sets are tuples in MediaPipe: their order is part of the content.
REFERENCE_HAND_PARTS = {
    "HAND_PALM_CONNECTIONS": [(0, 1), (0, 5), (9, 13), (13, 17), (5, 9), (0, 17)],
    "HAND_THUMB_CONNECTIONS": [(1, 2), (2, 3), (3, 4)],
    "HAND_INDEX_FINGER_CONNECTIONS": [(5, 6), (6, 7), (7, 8)],
    "HAND_MIDDLE_FINGER_CONNECTIONS": [(9, 10), (10, 11), (11, 12)],
    "HAND_RING_FINGER_CONNECTIONS": [(13, 14), (14, 15), (15, 16)],
    "HAND_PINKY_FINGER_CONNECTIONS": [(17, 18), (18, 19), (19, 20)],
}


def _pairs(text: str) -> set[tuple[int, int]]:
    return {tuple(int(v) for v in tok.split("-")) for tok in text.split()}  # type: ignore[misc]


def _as_set(edges: np.ndarray) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for a, b in edges}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_counts_match_reference(name: str) -> None:
    edges = c.CONNECTION_SETS[name]
    n_edges, n_idx = EXPECTED[name]
    assert edges.shape == (n_edges, 2) and edges.dtype == np.int32
    assert len(np.unique(edges)) == n_idx
    assert len(_as_set(edges)) == n_edges  # frozensets: no repeated (start, end) pair


@pytest.mark.parametrize("name", sorted(REFERENCE_TEXT))
def test_small_sets_equal_reference_text(name: str) -> None:
    assert _as_set(c.CONNECTION_SETS[name]) == _pairs(REFERENCE_TEXT[name])


def test_hand_parts_keep_tuple_order_and_union() -> None:
    union: set[tuple[int, int]] = set()
    for name, ref in REFERENCE_HAND_PARTS.items():
        assert [tuple(e) for e in c.CONNECTION_SETS[name].tolist()] == ref
        union |= set(ref)
    assert _as_set(c.HAND_CONNECTIONS) == union


def test_unions_as_in_mediapipe() -> None:
    parts = [c.FACEMESH_LIPS, c.FACEMESH_LEFT_EYE, c.FACEMESH_LEFT_EYEBROW, c.FACEMESH_RIGHT_EYE,
             c.FACEMESH_RIGHT_EYEBROW, c.FACEMESH_FACE_OVAL]
    assert _as_set(c.FACEMESH_CONTOURS) == set().union(*map(_as_set, parts))
    assert not _as_set(c.FACEMESH_NOSE) & _as_set(c.FACEMESH_CONTOURS)  # contours hold no nose edge
    assert _as_set(c.FACEMESH_IRISES) == _as_set(c.FACEMESH_LEFT_IRIS) | _as_set(c.FACEMESH_RIGHT_IRIS)
    # Subject's sides: the right eye is the one around 33-133, with iris ring 469-472.
    assert {33, 133} <= set(np.unique(c.FACEMESH_RIGHT_EYE).tolist())
    assert set(np.unique(c.FACEMESH_RIGHT_IRIS).tolist()) == {469, 470, 471, 472}


def test_tasks_api_lists_hold_the_same_edges() -> None:
    t = c.TASKS_FACE_CONNECTIONS
    assert _as_set(t["FACE_LANDMARKS_TESSELATION"]) == _as_set(c.FACEMESH_TESSELATION)
    assert _as_set(t["FACE_LANDMARKS_CONTOURS"]) == _as_set(c.FACEMESH_CONTOURS)
    for part in ("LIPS", "LEFT_EYE", "RIGHT_EYE", "LEFT_EYEBROW", "RIGHT_EYEBROW", "FACE_OVAL", "LEFT_IRIS",
                 "RIGHT_IRIS"):
        assert _as_set(t[f"FACE_LANDMARKS_{part}"]) == _as_set(c.CONNECTION_SETS[f"FACEMESH_{part}"])


def test_arrays_keep_the_extracted_iteration_order_and_are_read_only() -> None:
    raw = json.loads(resources.files("facepipe").joinpath("data", "mediapipe_connections.json").read_text())
    for name, entry in raw["sets"].items():
        assert c.CONNECTION_SETS[name].tolist() == entry["edges"], name
    assert raw["sets"]["FACEMESH_TESSELATION"]["type"] == "frozenset"
    with pytest.raises(ValueError):
        c.FACEMESH_TESSELATION[0, 0] = 1


def test_edge_membership_and_as_edges() -> None:
    m = c.edge_membership(c.FACEMESH_CONTOURS, c.FACEMESH_LIPS)
    assert m.sum() == 40
    # Direction matters, as for MediaPipe's tuple keys.
    assert not c.edge_membership(c.FACEMESH_LIPS[:, ::-1], c.FACEMESH_LIPS).any()
    assert c.as_edges(frozenset({(1, 2)})).tolist() == [[1, 2]]
    assert c.as_edges([]).shape == (0, 2)
    with pytest.raises(ValueError, match="index pairs"):
        c.as_edges([1, 2, 3])
    with pytest.raises(ValueError, match="integers"):
        c.as_edges([[0.5, 1.0]])


def test_default_styles_cover_their_sets() -> None:
    contours = st.face_mesh_contours_style()
    assert len(contours) == 124
    lips = c.edge_membership(contours.edges, c.FACEMESH_LIPS)
    right_eye = c.edge_membership(contours.edges, c.FACEMESH_RIGHT_EYE)
    assert (contours.colors[lips] == (224, 224, 224)).all()
    assert (contours.colors[right_eye] == (255, 48, 48)).all()  # MediaPipe BGR (48,48,255) as RGB
    assert len(st.face_mesh_contours_style(1, include_nose=True)) == 124 + 25
    hand = st.hand_connections_style()
    palm = c.edge_membership(hand.edges, c.HAND_PALM_CONNECTIONS)
    assert (hand.thickness[palm] == 3).all() and (hand.thickness[~palm] == 2).all()
    pose = st.pose_landmarks_style()
    assert tuple(pose.colors[0]) == (224, 224, 224) and tuple(pose.colors[11]) == (255, 138, 0)
    assert tuple(pose.colors[12]) == (0, 217, 231)
    with pytest.raises(ValueError, match="no style"):
        st.ConnectionStyle.from_parts(c.FACEMESH_CONTOURS, [(c.FACEMESH_LIPS, st.DrawingSpec())])
