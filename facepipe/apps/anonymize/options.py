"""All settings of the anonymizer in one dataclass, grouped by stage."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from facepipe.apps.anonymize.detect import FaceFinderOptions
from facepipe.apps.anonymize.redact import RedactOptions
from facepipe.apps.anonymize.track import TrackerOptions
from facepipe.io.video import VideoEncodeOptions
from facepipe.jobs.execution import ExecutionOptions
from facepipe.runtime.options import RuntimeOptions
from facepipe.stages.scene_cuts import SceneCutOptions

__all__ = ["ANONYMIZE_SUBME", "AnonymizeOptions"]

# x264's sub-pixel motion refinement for anonymized videos with the default preset (see `video`).
ANONYMIZE_SUBME = 1


@dataclass(frozen=True)
class AnonymizeOptions:
    """detect: how faces are found in videos and cameras (models, threshold, tiling, scale).
    image_detect: the same for still images (more thorough: see `FaceFinderOptions.for_images`).
    track: temporal safety (hold/backfill frames, association).
    cuts: the scene-cut detector that ends every track at a hard cut (`SceneCutOptions`; None: off,
        tracks then hold and backfill across cuts onto the other shot's picture). Videos and cameras.
    redact: how faces are hidden (method, shape, strength, outlines).
    video: encoder for video outputs (codec, crf, preset, container). Default: x264 veryfast, CRF 18,
        with the quicker sub-pixel motion search (subme 1: x264 takes 35-40 % less CPU, the
        file is about 5 % larger at 0.1-0.2 dB lower PSNR; benchmarks/RESULTS.md, "Speed, fourth pass").
    keep_audio: copy the audio streams of videos (bit-identical).
    keep_metadata: keep EXIF/ICC of images (off by default: GPS and camera serials go).
    image_quality: JPEG/WebP quality of image outputs (None: the encoder's default).
    execution: how a video runs (`ExecutionOptions`: threads; 1 is one frame after another
        without the graph; the regions are the same).
    """

    detect: FaceFinderOptions = field(default_factory=FaceFinderOptions)
    image_detect: FaceFinderOptions = field(default_factory=FaceFinderOptions.for_images)
    track: TrackerOptions = field(default_factory=TrackerOptions)
    cuts: SceneCutOptions | None = field(default_factory=SceneCutOptions)
    redact: RedactOptions = field(default_factory=RedactOptions)
    video: VideoEncodeOptions = field(default_factory=lambda: VideoEncodeOptions(subme=ANONYMIZE_SUBME))
    keep_audio: bool = True
    keep_metadata: bool = False
    image_quality: int | None = 95
    execution: ExecutionOptions = field(default_factory=ExecutionOptions)

    def with_runtime(self, runtime: RuntimeOptions) -> AnonymizeOptions:
        """These options with `runtime` (threads, model files, delegate) for every model the
        anonymizer runs: the video and image detectors and the face mesh of shape "hull"."""
        return replace(self, detect=replace(self.detect, runtime=runtime),
                       image_detect=replace(self.image_detect, runtime=runtime),
                       redact=replace(self.redact, runtime=runtime))
