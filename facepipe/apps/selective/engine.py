"""`SelectiveAnonymizer`: anonymize only chosen people, or everyone but them, in photos and videos.

A video takes two passes over the file. Pass 1 decodes, detects, tracks and backfills exactly as
plain anonymize does (its graph nodes, `calculators.survey_video_config`; with workers=1 its
sequential stages, `survey_video`), and embeds a few detections of each track (batched); every
track is then decided on all its votes. Pass 2 (`calculators.render_video_config`, or
`render_video`) decodes again and redacts each frame's regions of the tracks to mask, so a
decision reached late in a track also covers its first frames. Frames, timestamps and audio are written as plain
anonymize writes them (the same `VideoWriter`); a failure leaves no output.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facepipe._fsutil import refuse_overwrite
from facepipe.apps.anonymize.detect import FaceFinder
from facepipe.apps.anonymize.files import OnProgress, detected_ahead
from facepipe.apps.anonymize.pipeline import Anonymizer, Detect, RegionBuffer
from facepipe.apps.anonymize.regions import detected_regions
from facepipe.apps.anonymize.track import FaceTracker
from facepipe.apps.selective.decide import (
    Verdict,
    decide_segments,
    masked_regions,
    redact_selected,
    uncovered_chosen,
)
from facepipe.apps.selective.options import SelectiveOptions
from facepipe.apps.selective.survey import SegmentKey, Survey, TrackSurveyor
from facepipe.apps.selective.targets import ChosenPeople, load_chosen
from facepipe.errors import FacepipeError, ProcessingError
from facepipe.jobs import ExecutionOptions, FileReport, Progress, graph_error
from facepipe.results import Detections
from facepipe.stages.scene_cuts import SceneCutDetector

__all__ = ["SelectiveAnonymizer", "SelectiveResult"]


@dataclass(frozen=True, eq=False)
class SelectiveResult:
    """One input's outcome: the file report, pass 1's survey and the verdict on every segment."""

    report: FileReport
    survey: Survey
    verdicts: dict[SegmentKey, Verdict]

    def masked_frames(self) -> list[Detections]:
        """Per frame, the regions that were redacted."""
        return [masked_regions(self.survey, self.verdicts, i) for i in range(len(self.survey.regions))]


class SelectiveAnonymizer:
    """Anonymizes only the chosen people (mode "only") or everyone but them (mode "except").

        with SelectiveAnonymizer(SelectiveOptions(PeopleSelection("only", names=("Ann",), gallery="g.sqlite3"))) as s:
            result = s.anonymize_video("in.mp4", "out.mp4")
            for v in result.verdicts.values(): print(v.track_id, v.state, v.masked)

    The gallery is opened (and photos embedded) once, in the constructor; errors there are
    UsageError (empty gallery, unknown name) or InputError (unusable photo). One file at a time.
    """

    def __init__(self, options: SelectiveOptions, *, chosen: ChosenPeople | None = None,
                 detector: Detect | None = None) -> None:
        self.options = options
        self.chosen = chosen or load_chosen(options.selection, options.sampling, options.anonymize.detect.runtime)
        # The plain anonymizer's detectors and redaction: the same faces, redacted the same way.
        self.anonymizer = Anonymizer(options.anonymize, detector=detector)
        self._given_detector = detector is not None

    def decide(self, survey: Survey) -> dict[SegmentKey, Verdict]:
        o = self.options
        return decide_segments(survey, o.selection, o.sampling, self.chosen.threshold, self.chosen.chosen,
                               self.chosen.recognizer.info.metric)

    # -- videos ------------------------------------------------------------------------------

    def survey_video(self, src: str | Path, *, max_frames: int | None = None, progress: bool = False,
                     on_progress: OnProgress | None = None) -> Survey:
        """Pass 1: the regions of every frame (as plain anonymize) and the evidence per segment.
        on_progress(frames surveyed, total or None) after each frame (see `anonymize_video`)."""
        from facepipe.io.video import VideoReader

        o = self.options
        regions = RegionBuffer(FaceTracker(o.anonymize.track), SceneCutDetector(o.anonymize.cuts)
                               if o.anonymize.cuts is not None else None, self.anonymizer.verifier)
        surveyor = TrackSurveyor(self.chosen, o.sampling)
        cuts = SceneCutDetector(o.sampling.cuts) if o.sampling.cuts is not None else None
        scene = 0
        with VideoReader(src) as reader, Progress(_total(reader.info.frame_count, max_frames),
                                                  f"{Path(src).name} (1/2)", enabled=progress,
                                                  on_update=on_progress) as bar:
            for frame, dets in detected_ahead(reader, self.anonymizer.stream_detect, max_frames):
                scene += cuts is not None and cuts.starts_shot(frame.image)
                for index, (image, sc), found in regions.push(frame.index, frame.image, (frame.image, scene), dets):
                    surveyor.add(index, image, found, sc)
                bar.update()
            for index, (image, sc), found in regions.flush():
                surveyor.add(index, image, found, sc)
        return surveyor.finish()

    def render_video(self, src: str | Path, dst: str | Path, survey: Survey, verdicts: dict[SegmentKey, Verdict],
                     *, progress: bool = False, on_progress: OnProgress | None = None) -> tuple[int, int]:
        """Pass 2: decode again, redact the masked regions, encode; (frames written, regions redacted).
        on_progress(frames written, frames surveyed) after each frame (see `anonymize_video`)."""
        from facepipe.io.video import VideoReader, VideoWriter

        o = self.options.anonymize
        n = len(survey.regions)
        redacted = 0
        with VideoReader(src) as reader, \
                VideoWriter.like(reader, dst, o.video, copy_audio=o.keep_audio) as writer, \
                Progress(n, f"{Path(src).name} (2/2)", enabled=progress, on_update=on_progress) as bar:
            for frame in reader:
                if frame.index >= n:
                    break
                writer.write(self.redact_frame(frame.image, survey, verdicts, frame.index, inplace=True), frame)
                redacted += len(masked_regions(survey, verdicts, frame.index))
                bar.update()
            written = writer.frames_written
            if written != n:  # fail closed: never a partial output (the writer deletes its file)
                raise ProcessingError(f"{src}: the second pass decoded {written} frames, the first {n};"
                                      " no output was written")
        return written, redacted

    def anonymize_video(self, src: str | Path, dst: str | Path, *, max_frames: int | None = None,
                        progress: bool = False, workers: int | None = None,
                        on_progress: OnProgress | None = None) -> SelectiveResult:
        """Both passes over one video file. workers: threads of the two processing graphs (None: the
        options' `anonymize.execution`, all cores by default), which decode, detect, redact and
        encode different frames at once, as plain anonymize does; 1 runs each pass one frame after
        another (detection in a second thread). Both find the same regions. A given `detector`
        always runs one frame at a time.
        on_progress(steps done, steps in all or None) after each frame of either pass (a GUI's
        progress bar): a frame is one step in each pass, so there are twice as many steps as frames;
        raising from it (`facepipe.errors.CancelledError`) stops the run, writing nothing."""
        src, dst = Path(src), Path(dst)
        refuse_overwrite(dst, src)
        report = FileReport(src, "video", [dst])
        t0 = time.perf_counter()
        dst.parent.mkdir(parents=True, exist_ok=True)
        workers = workers or self.options.anonymize.execution.threads
        first = second = None
        if on_progress is not None:
            def first(done: int, total: int | None) -> None:
                on_progress(done, 2 * total if total else None)

            def second(done: int, total: int | None) -> None:
                on_progress(total + done, 2 * total)
        try:
            if workers == 1 or self._given_detector:
                survey = self.survey_video(src, max_frames=max_frames, progress=progress, on_progress=first)
                verdicts = self.decide(survey)
                report.frames, report.regions = self.render_video(src, dst, survey, verdicts, progress=progress,
                                                                  on_progress=second)
            else:
                survey = self._survey_graph(src, max_frames, progress, workers, first)
                verdicts = self.decide(survey)
                report.frames, report.regions = self._render_graph(src, dst, survey, verdicts, progress, workers,
                                                                   second)
        except FacepipeError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure aborts the file: fail closed
            raise ProcessingError(f"{src}: processing failed ({type(exc).__name__}: {exc}); no output was written"
                                  ) from exc
        report.faces = len({k[0] for k, v in verdicts.items() if v.masked})
        report.seconds = time.perf_counter() - t0
        return SelectiveResult(report, survey, verdicts)

    def _survey_graph(self, src: Path, max_frames: int | None, progress: bool, workers: int,
                      on_progress: OnProgress | None = None) -> Survey:
        from facepipe.apps.selective.calculators import survey_video_config
        from facepipe.graph import Graph, GraphError
        from facepipe.io.video import probe_video

        in_flight = ExecutionOptions(workers).in_flight
        graph = Graph(survey_video_config(self.options, detect_in_flight=in_flight, max_frames=max_frames),
                      num_workers=workers)
        total = _total(probe_video(src).frame_count, max_frames)
        with Progress(total, f"{src.name} (1/2)", enabled=progress, on_update=on_progress) as bar:
            graph.observe_output("regions", lambda _packet: bar.update())
            try:
                found = graph.run(side_packets={"input_path": str(src), "chosen": self.chosen}, collect=["survey"])
            except GraphError as exc:
                err = graph_error(src, exc)
                raise err from err.__cause__
        return found["survey"][0].payload

    def _render_graph(self, src: Path, dst: Path, survey: Survey, verdicts: dict[SegmentKey, Verdict],
                      progress: bool, workers: int, on_progress: OnProgress | None = None) -> tuple[int, int]:
        from facepipe.apps.selective.calculators import render_video_config
        from facepipe.graph import Graph, GraphError

        in_flight = ExecutionOptions(workers).in_flight
        n = len(survey.regions)
        graph = Graph(render_video_config(self.options, redact_in_flight=in_flight, max_frames=n),
                      num_workers=workers)
        counts = [0, 0]
        with Progress(n, f"{src.name} (2/2)", enabled=progress, on_update=on_progress) as bar:

            def on_regions(packet) -> None:  # output callbacks run in stream order, one at a time
                counts[1] += len(packet.payload)

            def on_redacted(_packet) -> None:
                counts[0] += 1
                bar.update()

            graph.observe_output("regions", on_regions)
            graph.observe_output("redacted", on_redacted)
            try:
                graph.run(side_packets={"input_path": str(src), "output_path": str(dst), "survey": survey,
                                        "verdicts": verdicts})
            except GraphError as exc:
                err = graph_error(src, exc)
                raise err from err.__cause__
        if counts[0] != n:  # the encoder has closed its file by now: take it away (fail closed)
            dst.unlink(missing_ok=True)
            raise ProcessingError(f"{src}: the second pass wrote {counts[0]} frames, the first found {n};"
                                  " no output was written")
        return counts[0], counts[1]

    # -- photos ------------------------------------------------------------------------------

    def survey_image(self, rgb: np.ndarray) -> Survey:
        """A still image: every face found (the anonymizer's photo detector) and embedded once,
        each its own one-frame segment."""
        detector = self.anonymizer.image_detector
        detect_all = detector.detect if isinstance(detector, FaceFinder) else detector
        dets = detect_all(rgb)
        surveyor = TrackSurveyor(self.chosen, self.options.sampling)
        surveyor.add(0, rgb, detected_regions(dets, np.arange(len(dets))), 0)
        return surveyor.finish()

    def redact_frame(self, rgb: np.ndarray, survey: Survey, verdicts: dict[SegmentKey, Verdict], index: int = 0,
                     *, inplace: bool = False) -> np.ndarray:
        """Frame `index` of the survey with the regions of its masked segments redacted (the visible chosen
        faces kept out of much larger masked regions around them: `decide.redact_selected`)."""
        if inplace and uncovered_chosen(survey, verdicts, index) is None:
            return self.anonymizer.redact(rgb, masked_regions(survey, verdicts, index), inplace=True)
        return redact_selected(self.anonymizer.redact, rgb, survey, verdicts, index,
                               self.options.anonymize.redact.effective_mask_scale)

    def anonymize_image(self, rgb: np.ndarray) -> tuple[np.ndarray, SelectiveResult]:
        """A still image: every face decided on its own. Returns the redacted copy and the result."""
        survey = self.survey_image(rgb)
        verdicts = self.decide(survey)
        masked = len(masked_regions(survey, verdicts, 0))
        report = FileReport(Path(), "image", frames=1, faces=masked, regions=masked)
        return self.redact_frame(rgb, survey, verdicts), SelectiveResult(report, survey, verdicts)

    def close(self) -> None:
        self.chosen.close()

    def __enter__(self) -> SelectiveAnonymizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _total(frame_count: int | None, max_frames: int | None) -> int | None:
    if max_frames is None:
        return frame_count
    return min(frame_count, max_frames) if frame_count else max_frames
