"""Face recognition: a people gallery, and who is in photos, videos and cameras.

    from facepipe.apps.recognition import FaceRecognizer, open_gallery

    rec = FaceRecognizer("people.sqlite3")                  # SQLite file, or "postgresql://…" (pgvector)
    found = rec.identify(rgb)                               # Identities: xyxy, names, distances, track_ids
    video = identify_video(rec, "clip.mp4")                 # names decided per track, over all its frames

Layers: `store` (GalleryStore interface; `sqlite_store`, `pg_store`), `matching` (exact k-NN,
per-person voting), `faces` (finding faces and their five alignment points), `recognizer`,
`video` (per-track voting), `enroll` (photos in, export/import), `files`/`camera` (the CLI's
runners), `calculators` (graph nodes).
"""

from facepipe.apps.recognition.faces import FaceSpotter, SpottedFaces, SpotterOptions
from facepipe.apps.recognition.matching import DEFAULT_THRESHOLDS, ExactIndex, Matches, MatchOptions, vote
from facepipe.apps.recognition.recognizer import FaceRecognizer, Identities, RecognizerOptions
from facepipe.apps.recognition.store import (
    UNKNOWN,
    GalleryError,
    GalleryInfo,
    GalleryRecord,
    GalleryStore,
    Neighbours,
    PersonSummary,
    default_gallery_path,
    open_gallery,
)
from facepipe.apps.recognition.video import (
    TrackDecision,
    TrackIdentifier,
    TrackVoteOptions,
    VideoIdentities,
    identify_frames,
    identify_video,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "ExactIndex",
    "FaceRecognizer",
    "FaceSpotter",
    "GalleryError",
    "GalleryInfo",
    "GalleryRecord",
    "GalleryStore",
    "Identities",
    "MatchOptions",
    "Matches",
    "Neighbours",
    "PersonSummary",
    "RecognizerOptions",
    "SpottedFaces",
    "SpotterOptions",
    "TrackDecision",
    "TrackIdentifier",
    "TrackVoteOptions",
    "UNKNOWN",
    "VideoIdentities",
    "default_gallery_path",
    "identify_frames",
    "identify_video",
    "open_gallery",
    "vote",
]
