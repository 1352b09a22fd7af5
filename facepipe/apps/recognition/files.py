"""Identify people in photo, video and folder inputs; write annotated copies and the JSON record.

JSON per input (facepipe.frames/1, docs/json-schema.md, plus recognition keys): {"input", "kind":
"image"|"video", "image_size", "frames": [{"frame", "timestamp_ms", "faces": [{"box", "score", "name",
"distance", "confidence", "track_id"}]}], "tracks": [{"track_id", "name", "distance", "votes",
"embedded", "first_frame", "last_frame"}], "people": {name: frames}}. Photos are frame 0 at 0 ms,
with no tracks. Annotated outputs are written atomically; a video
output is only complete once every frame is written (the writer deletes a partial file).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from facepipe.apps.recognition.draw import draw_identities
from facepipe.apps.recognition.recognizer import FaceRecognizer, Identities
from facepipe.apps.recognition.video import TrackVoteOptions, VideoIdentities, identify_video
from facepipe.jobs import schema

log = logging.getLogger(__name__)

__all__ = ["annotated_path", "identify_image_file", "identify_video_file", "identify_report"]


def annotated_path(path: Path, out_dir: Path, video: bool) -> Path:
    """OUT/NAME_faces.EXT: the annotated copy of `path` (a GIF's as PNG, a video's as MP4)."""
    if video:
        return out_dir / f"{path.stem}_faces.mp4"
    return out_dir / f"{path.stem}_faces{path.suffix if path.suffix.lower() != '.gif' else '.png'}"


def identify_report(model_id: str, threshold: float, gallery: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON document of one `faces identify` run over `inputs` (the per-input documents)."""
    return {"schema": schema.SCHEMA, "command": "faces identify", "model_id": model_id,
            "threshold": threshold, "gallery": gallery, "inputs": inputs}


def _frame_doc(index: int, t_ms: float, ids: Identities) -> dict[str, Any]:
    return {"frame": index, "timestamp_ms": int(round(t_ms)), "faces": ids.to_faces()}


def identify_image_file(recognizer: FaceRecognizer, path: Path, out_dir: Path | None) -> dict[str, Any]:
    from facepipe.io.image import read_image, write_image

    image = read_image(path)
    ids = recognizer.identify(image)
    if out_dir is not None:
        write_image(annotated_path(path, out_dir, video=False), draw_identities(image, ids))
    people = {str(n): 1 for n in ids.names[ids.known]}
    return {"input": str(path), "kind": "image", "image_size": list(ids.image_size),
            "frames": [_frame_doc(0, 0.0, ids)], "tracks": [], "people": people}


def video_doc(path: Path, result: VideoIdentities) -> dict[str, Any]:
    return {
        "input": str(path), "kind": "video",
        "image_size": list(result.frames[0][2].image_size) if result.frames else [0, 0],
        "frames": [_frame_doc(i, t, ids) for i, t, ids in result.frames],
        "tracks": [{"track_id": d.track_id, "name": d.name,
                    "distance": round(d.distance, 4) if d.distance != float("inf") else None,
                    "votes": d.votes, "embedded": d.embedded, "first_frame": d.first, "last_frame": d.last}
                   for d in result.tracks.values()],
        "people": result.people(),
    }


def identify_video_file(recognizer: FaceRecognizer, path: Path, out_dir: Path | None,
                        options: TrackVoteOptions | None = None, *, max_frames: int | None = None) -> dict[str, Any]:
    """Two passes: identify (tracks decided over the whole video), then draw the decisions on a
    second decode, so the first frames of a track already show the name decided later."""
    result = identify_video(recognizer, path, options, max_frames=max_frames)
    if out_dir is not None:
        from facepipe.io.video import VideoReader, VideoWriter

        dest = annotated_path(path, out_dir, video=True)
        with VideoReader(path) as reader, VideoWriter.like(reader, dest) as writer:
            for frame, (_, _, ids) in zip(reader, result.frames):
                writer.write(draw_identities(frame.image, ids), frame)
        log.info("wrote %s", dest)
    return video_doc(path, result)
