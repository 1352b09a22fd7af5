"""Anonymize only chosen people, or everyone but them (`facepipe anonymize --only/--except`).

    from facepipe.apps.selective import PeopleSelection, SelectiveAnonymizer, SelectiveOptions

    opts = SelectiveOptions(PeopleSelection("except", names=("Ann",), gallery="people.sqlite3"))
    with SelectiveAnonymizer(opts) as anon:
        result = anon.anonymize_video("talk.mp4", "talk_anonymized.mp4")
    for verdict in result.verdicts.values():              # one per track and scene
        print(verdict.track_id, verdict.state, verdict.masked, verdict.votes)

Faces are found and tracked exactly as by plain anonymize (same regions, same recall); each
track is decided by voting over its embedded frames, and the decision applies to all its
frames. Layers: `options`, `targets` (the chosen people and matching), `survey` (pass 1),
`decide`, `engine` (both passes), `files` (inputs, outputs, the review report), `report`,
`calculators` (graph nodes).
"""

from facepipe.apps.selective.decide import STATES, Verdict
from facepipe.apps.selective.engine import SelectiveAnonymizer, SelectiveResult
from facepipe.apps.selective.options import PeopleSelection, SelectiveOptions, TrackSampling
from facepipe.apps.selective.survey import Segment, Survey
from facepipe.apps.selective.targets import ChosenPeople, load_chosen

__all__ = [
    "STATES",
    "ChosenPeople",
    "PeopleSelection",
    "Segment",
    "SelectiveAnonymizer",
    "SelectiveOptions",
    "SelectiveResult",
    "Survey",
    "TrackSampling",
    "Verdict",
    "load_chosen",
]
