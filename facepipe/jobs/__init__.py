"""The media-job layer: what every app and command does around its own processing.

Small modules, one job each, below apps/ and cli/ and above io/ and graph/:

- `naming`: output names that never collide (`output_stems`) and never replace an input.

Apps take their inputs, outputs, frames, progress and per-file reports from here, so a new
app only writes what it computes.
"""

from facepipe.jobs.naming import output_stems

__all__ = ["output_stems"]
