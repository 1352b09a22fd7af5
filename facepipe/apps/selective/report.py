"""The review artifact: every track with a thumbnail strip, its decision, votes and distances.

`write_report(path, entries)` writes, atomically,
* `*.html`: one self-contained page (thumbnails inline), for an editor to check before publishing;
* anything else (`*.json`): the same as JSON, plus a contact sheet `<stem>_tracks.png` beside it
  (one row per segment: its thumbnails, then a bar in its decision's colour: red masked, green visible).

JSON: {"schema": "facepipe.selective/1", "mode", "chosen", "strict", "inputs": [{"input", "output",
"kind", "frames", "tracks": [{"track_id", "scene", "first_frame", "last_frame", "frames", "detected",
"state", "masked", "name", "distance", "votes", "embedded", "nearest_chosen", "chosen_distance",
"track_name", "track_distance", "track_chosen_distance", "rival_distance", "follows", "thumbnail_frames",
"sheet_row"}], "undecided_frames": [[first, last], ...]}]}. track_*: the track embedding's vote and its
distance to the nearest chosen person; rival_distance: how near another face seen in the same frames
came to the person this track was named (null: none; see `TrackSampling.rival_margin`).
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facepipe.apps.selective.decide import Verdict
from facepipe.apps.selective.options import PeopleSelection
from facepipe.apps.selective.survey import THUMB_SIZE, Survey

__all__ = ["ReportEntry", "report_doc", "write_report"]

_COLOURS = {True: (200, 40, 40), False: (40, 170, 60)}  # RGB: masked, visible


@dataclass(frozen=True)
class ReportEntry:
    """One input for the report."""

    input: Path
    output: Path | None
    kind: str
    survey: Survey
    verdicts: dict[tuple[int, int], Verdict]


def _num(v: float) -> float | None:
    return round(float(v), 4) if math.isfinite(v) else None


def _ranges(frames: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for f in sorted(set(frames)):
        if out and f == out[-1][1] + 1:
            out[-1][1] = f
        else:
            out.append([f, f])
    return out


def _ordered(entry: ReportEntry) -> list[Verdict]:
    return sorted(entry.verdicts.values(), key=lambda v: (v.first, v.track_id, v.scene))


def report_doc(entries: Sequence[ReportEntry], selection: PeopleSelection, chosen: Sequence[str]) -> dict[str, Any]:
    inputs = []
    row = 0
    for e in entries:
        tracks = []
        for v in _ordered(e):
            seg = e.survey.segments[v.key]
            tracks.append({
                "track_id": v.track_id, "scene": v.scene, "first_frame": v.first, "last_frame": v.last,
                "frames": v.frames, "detected": v.detected, "state": v.state, "masked": v.masked, "name": v.name,
                "distance": _num(v.distance), "votes": v.votes, "embedded": v.embedded,
                "nearest_chosen": v.nearest_chosen or None, "chosen_distance": _num(v.chosen_distance),
                "track_name": v.track_name or None, "track_distance": _num(v.track_distance),
                "track_chosen_distance": _num(v.track_chosen_distance), "rival_distance": _num(v.rival_distance),
                "follows": None if v.via == v.key else {"track_id": v.via[0], "scene": v.via[1]},
                "shown": None if v.shown is None else {"first_frame": v.shown[0], "last_frame": v.shown[1],
                                                       "as_track": v.shown[2][0]},
                "thumbnail_frames": seg.thumb_frames, "sheet_row": row,
            })
            row += 1
        undecided = [f for v in e.verdicts.values() if v.state == "undecided"
                     for f in range(v.first, v.last + 1)]
        inputs.append({"input": str(e.input), "output": str(e.output) if e.output else None, "kind": e.kind,
                       "frames": len(e.survey.regions), "tracks": tracks, "undecided_frames": _ranges(undecided)})
    return {"schema": "facepipe.selective/1", "mode": selection.mode, "chosen": list(chosen),
            "strict": selection.strict, "inputs": inputs}


_LABEL = 200  # pixels of the sheet's text column


def _strip(thumbs: list[np.ndarray], v: Verdict, width: int) -> np.ndarray:
    """One row: track/scene, frames and decision; the thumbnails; a bar in the decision's colour."""
    row = np.full((THUMB_SIZE, width, 3), 255, np.uint8)
    track = "" if not math.isfinite(v.track_chosen_distance) else f"track emb {v.track_chosen_distance:.3f}" + (
        f" rival {v.rival_distance:.3f}" if math.isfinite(v.rival_distance) else "")
    lines = (f"track {v.track_id} scene {v.scene}: {v.first}-{v.last}",
             f"{v.state}: {'masked' if v.masked else 'visible'}"
             + (f", shown {v.shown[0]}-{v.shown[1]}" if v.shown is not None else ""),
             f"{v.chosen_distance:.3f} to {v.nearest_chosen}" if v.nearest_chosen else "not embedded", track)
    for k, text in enumerate(lines):
        cv2.putText(row, text[:28], (3, 14 + 15 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    for i, t in enumerate(thumbs):
        row[:, _LABEL + i * THUMB_SIZE:_LABEL + (i + 1) * THUMB_SIZE] = t
    row[:, width - 12:] = _COLOURS[v.masked]
    return row


def _sheet(entries: Sequence[ReportEntry]) -> np.ndarray:
    from facepipe.apps.selective.survey import MAX_THUMBS

    width = _LABEL + MAX_THUMBS * THUMB_SIZE + 12
    rows = [_strip(e.survey.segments[v.key].thumbs, v, width) for e in entries for v in _ordered(e)]
    return np.concatenate(rows, 0) if rows else np.full((THUMB_SIZE, width, 3), 255, np.uint8)


def _png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode the contact sheet")
    return buf.tobytes()


def _html(doc: dict[str, Any], entries: Sequence[ReportEntry]) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><meta charset='utf-8'><title>facepipe anonymize: review</title>",
        "<style>body{font-family:sans-serif}td{padding:2px 6px;vertical-align:middle}"
        ".masked{color:#b00}.visible{color:#080}img{height:48px;margin-right:2px}</style>",
        f"<h1>anonymize --{esc(doc['mode'])} {esc(', '.join(doc['chosen']))}"
        f"{' (strict)' if doc['strict'] else ''}</h1>",
    ]
    for item, e in zip(doc["inputs"], entries):
        parts.append(f"<h2>{esc(item['input'])} &rarr; {esc(str(item['output']))}</h2>")
        if item["undecided_frames"]:
            spans = ", ".join(f"{a}-{b}" for a, b in item["undecided_frames"])
            parts.append(f"<p>Frames with an undecided track: {esc(spans)}</p>")
        parts.append("<table><tr><th>track</th><th>frames</th><th>decision</th><th>votes</th>"
                     "<th>distance</th><th>nearest chosen</th><th>track embedding</th><th>faces</th></tr>")
        for t, v in zip(item["tracks"], _ordered(e)):
            imgs = "".join(f"<img src='data:image/png;base64,{base64.b64encode(_png(th)).decode()}'>"
                           for th in e.survey.segments[v.key].thumbs)
            cls = "masked" if t["masked"] else "visible"
            votes = ", ".join(f"{esc(n)}: {c}" for n, c in t["votes"].items()) or "none"
            near = f"{esc(t['nearest_chosen'])} {t['chosen_distance']}" if t["nearest_chosen"] else "-"
            track = "-" if t["track_name"] is None else (
                f"{esc(t['track_name'])} {t['track_distance']}; chosen {t['track_chosen_distance']}"
                + (f", rival {t['rival_distance']}" if t["rival_distance"] is not None else ""))
            parts.append(
                f"<tr><td>{t['track_id']}/{t['scene']}</td><td>{t['first_frame']}-{t['last_frame']}</td>"
                f"<td class='{cls}'>{t['state']}: {'masked' if t['masked'] else 'visible'}</td>"
                f"<td>{votes} ({t['embedded']} embedded)</td><td>{esc(t['name'])} {t['distance']}</td>"
                f"<td>{near}</td><td>{track}</td><td>{imgs}</td></tr>")
        parts.append("</table>")
    return "\n".join(parts) + "\n"


def write_report(path: str | Path, entries: Sequence[ReportEntry], selection: PeopleSelection,
                 chosen: Sequence[str]) -> list[Path]:
    """Write the review report (HTML, or JSON + contact sheet PNG); returns the files written."""
    from facepipe._fsutil import atomic_write_bytes

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = report_doc(entries, selection, chosen)
    if path.suffix.lower() in (".html", ".htm"):
        atomic_write_bytes(path, _html(doc, entries).encode("utf-8"))
        return [path]
    sheet = path.with_name(f"{path.stem}_tracks.png")
    atomic_write_bytes(sheet, _png(_sheet(entries)))
    doc["contact_sheet"] = sheet.name
    atomic_write_bytes(path, json.dumps(doc, indent=1).encode("utf-8"))
    return [path, sheet]
