"""Face anonymizer: blur/mosaic/cover every face in images, videos, folders and cameras.

Python API (the CLI is `facepipe anonymize`):

    from facepipe.apps.anonymize import AnonymizeOptions, Anonymizer, anonymize_paths
    from facepipe.apps.anonymize import RedactOptions

    opts = AnonymizeOptions(redact=RedactOptions(method="mosaic"))
    anonymize_paths(["holiday.mp4", "photos/"], opts)      # files: outputs NAME_anonymized.EXT
    live = Anonymizer(opts)                                 # frame by frame (camera, stream)
    result = live.process_frame(rgb)                        # result.image, result.regions

Stages, usable on their own (e.g. as graph calculators): `FaceFinder` (detect),
`StreamVerifier` (a stream's second opinion on weak detections, in frame order, reusing recent
confirmations), `FaceTracker` (track, hold, backfill), `Redactor` (redact), `BackfillBuffer`
(delays frames so backfilled regions reach them), `RegionBuffer` (stream verifier, tracker,
scene cuts and backfill in frame order), and `facepipe.stages.scene_cuts.SceneCutDetector` (hard cuts: no
track, hold or backfill crosses one; `AnonymizeOptions.cuts`).
"""

from facepipe.apps.anonymize.detect import FaceFinder, FaceFinderOptions
from facepipe.apps.anonymize.files import anonymize_image_file, anonymize_paths, anonymize_video_file
from facepipe.apps.anonymize.options import AnonymizeOptions
from facepipe.apps.anonymize.pipeline import Anonymizer, BackfillBuffer, FrameResult, OfflineAnonymizer, RegionBuffer
from facepipe.apps.anonymize.redact import RedactOptions, Redactor
from facepipe.apps.anonymize.regions import Source, face_regions, region_sources
from facepipe.apps.anonymize.stream_verify import StreamVerifier
from facepipe.apps.anonymize.track import FaceTracker, TrackerOptions, TrackStep
from facepipe.jobs import FileReport, RunSummary

__all__ = [
    "AnonymizeOptions",
    "Anonymizer",
    "BackfillBuffer",
    "FaceFinder",
    "FaceFinderOptions",
    "FaceTracker",
    "FileReport",
    "FrameResult",
    "OfflineAnonymizer",
    "RedactOptions",
    "Redactor",
    "RegionBuffer",
    "RunSummary",
    "Source",
    "StreamVerifier",
    "TrackStep",
    "TrackerOptions",
    "anonymize_image_file",
    "anonymize_paths",
    "anonymize_video_file",
    "face_regions",
    "region_sources",
]
