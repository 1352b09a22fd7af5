"""anonymize's progress callback (the GUI's progress bar) and cancelling through it: counts reach the
total, and a cancel leaves no output and no temp file, in both video paths (graph and sequential)."""

from __future__ import annotations

import pytest
from mediafiles import make_clip

from facepipe.apps.anonymize import AnonymizeOptions, anonymize_paths, anonymize_video_file
from facepipe.errors import CancelledError
from facepipe.jobs import ExecutionOptions


@pytest.mark.parametrize("workers", [1, 2])
def test_progress_counts_every_frame(tmp_path, workers):
    src = tmp_path / "clip.mp4"
    make_clip(src, n=12, size=(96, 64), audio=True)
    seen = []
    report = anonymize_video_file(src, tmp_path / "out.mp4", AnonymizeOptions(execution=ExecutionOptions(workers)),
                                  progress=False, on_progress=lambda done, total: seen.append((done, total)))
    assert report.frames == 12
    assert seen[-1] == (12, 12) and all(t == 12 for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.parametrize("workers", [1, 2])
def test_cancel_from_the_callback_writes_nothing(tmp_path, workers):
    src = tmp_path / "clip.mp4"
    make_clip(src, n=40, size=(96, 64), audio=True)
    out = tmp_path / "out"
    out.mkdir()
    calls = []

    def cancel_at_third(done, total):
        calls.append(done)
        if len(calls) == 3:
            raise CancelledError(f"{src}: cancelled")

    summary = anonymize_paths([src], AnonymizeOptions(execution=ExecutionOptions(workers)), output=out / "x.mp4",
                              progress=False, on_progress=cancel_at_third)
    assert not summary.ok and summary.failed[0].error == f"{src}: cancelled"
    assert list(out.iterdir()) == []
    assert len(calls) >= 3
