"""Video files in and out with PyAV: decoded RGB frames with their timestamps, and
an encoder that keeps timing and audio untouched.

Reading (`VideoReader`) yields `Frame`s in presentation order: an RGB uint8
image turned upright according to the stream's display matrix (phone videos),
the frame's own pts (so variable-frame-rate files keep their timing) and its
index. Damage is an error, never a silent short read: a file that cannot be
opened, a packet cut off by truncation, a frame the decoder marks corrupt, or
fewer frames than the container's index promises all raise `InputError`
naming the file.

Writing (`VideoWriter`) encodes RGB frames (H.264 with a CRF quality by
default; any codec/container FFmpeg knows can be chosen) at the pts given, and
can copy the audio streams of a `VideoReader` packet by packet — no
re-encoding, so the audio is bit-identical. Output goes to a temporary file
in the destination folder that replaces the destination only when `close()`
succeeds; on an exception inside `with VideoWriter(...)` (or `abort()`), the
temporary file is deleted and nothing is left behind.

    with VideoReader(src) as reader, VideoWriter.like(reader, dst) as writer:
        for frame in reader:
            writer.write(process(frame.image), frame)
"""

from facepipe.io.video_container import VIDEO_EXTENSIONS, AudioStreamInfo, Frame, VideoInfo, is_video_file
from facepipe.io.video_reader import VideoReader, probe_video
from facepipe.io.video_writer import VideoEncodeOptions, VideoWriter

__all__ = [
    "AudioStreamInfo",
    "Frame",
    "VideoEncodeOptions",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "is_video_file",
    "probe_video",
    "VIDEO_EXTENSIONS",
]
