"""Settings of selective anonymization: who is chosen, and how a track is decided."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from facepipe.apps.anonymize.options import AnonymizeOptions
from facepipe.apps.recognition.matching import MatchOptions
from facepipe.stages.scene_cuts import SceneCutOptions, check_live_cuts

__all__ = ["MODES", "PeopleSelection", "SelectiveOptions", "TrackSampling"]

MODES = ("only", "except")


@dataclass(frozen=True)
class PeopleSelection:
    """Who is chosen, and what happens to them.

    mode: "only" masks the chosen people and leaves everyone else visible; "except" masks every
        face but theirs.
    names: people of the gallery (`gallery`).
    photos: people named by one photo each (one clearly visible face), no gallery needed; each is
        called after its file name.
    gallery: a gallery file or postgresql:// URL holding `names` (None: the per-user default; not
        opened at all when only photos are given).
    strict: mode "only": also mask the tracks that came near a chosen person but were not decided
        (see `TrackSampling.near_margin`). Mode "except" is always strict: anything not confidently
        matched to a chosen person is masked.
    """

    mode: str = "only"
    names: tuple[str, ...] = ()
    photos: tuple[Path, ...] = ()
    gallery: str | os.PathLike[str] | None = None
    strict: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        object.__setattr__(self, "names", tuple(str(n).strip() for n in self.names))
        object.__setattr__(self, "photos", tuple(Path(p) for p in self.photos))
        if not self.names and not self.photos:
            raise ValueError("choose at least one person (a name in the gallery or a photo)")
        if any(not n for n in self.names):
            raise ValueError("a chosen name is empty")


@dataclass(frozen=True)
class TrackSampling:
    """How the faces of a track are sampled and a track decided.

    embed_every: frames between two embeddings of one track (a track is embedded on its first
        usable detection, then every `embed_every` frames, at most `max_embeddings` times).
    max_embeddings: most embeddings per track and scene (a long track gets a few refreshes, not
        one per frame: embeddings cost ~10 ms a face).
    min_face: detections narrower than this (pixels) are not embedded (too small to recognise);
        their track is decided by its other frames, or stays undecided.
    only_min_share / except_min_share: least share of a track's embedded frames that must name a
        chosen person for the track to count as that person, with --only (mask: recall first, as
        face recognition's own default) and with --except (leave visible: a majority, so a
        stranger is not shown on a few lucky matches).
    near_margin: a track not decided as a chosen person is "undecided" (reported; masked by
        `PeopleSelection.strict`) if one of its embeddings came within threshold + near_margin of a
        chosen person, or if it was never embedded and passes close to such a track or a chosen
        one (see `decide`). In the shared identities, different people come as near as 0.666
        (dlib, mirror-averaged), so the default 0.1 (0.67 in all with the default threshold 0.57)
        flags strangers too: the price of --only-strict.
    cuts: the scene-cut detector that numbers the scenes (recognition's `TrackVoteOptions.cuts`; frame
        by frame, `confirm` 0). A track is decided per scene: with the anonymizer's own cuts off
        (`AnonymizeOptions.cuts`) its tracker may link a face before a cut to another one after it.
        None: one scene.
    mirror: embed every face (and every chosen person's photo) together with its mirror image and
        average the two (`MirrorAveragedEmbedder`; twice the network time, ~10 ms a face): a face
        turned aside comes nearer its frontal photo.
    track_level: also decide a segment on its *track embedding*, the mean of all its embeddings
        weighted by the face mesh's presence score (a profile or a blurred frame, where the mesh is
        unsure, counts less): averaging removes most of the frame-to-frame noise, so a person seen
        in many middling frames is recognised although few single frames come within threshold.
        It names a chosen person when it is within the matcher's threshold of them and no one else
        in the gallery is nearer.
    rival_margin: one person is one face at a time. A segment named a chosen person (by its votes
        or its track embedding) keeps the name only if every other face seen in the same frames
        (a different face: not a second box on it) has a track embedding at least this much
        farther from that person; otherwise it is "undecided" (masked by --except and
        --only-strict). This keeps a stranger from being shown or masked as the chosen person when
        the chosen person's photo is near many faces (a poor or unrepresentative photo: with dlib,
        dark, low-contrast faces come near each other), at the price of a chosen person standing
        next to a look-alike. 0 turns the rule off.
    except_min_embedded: with --except, a segment is left visible only if at least this many of its
        frames were embedded (or all of its detections, if it has fewer): one or two lucky frames of
        a small or passing face are not enough to show it (fail-closed). --only needs one.
    match: gallery matching (k, distance threshold).
    """

    embed_every: int = 4
    max_embeddings: int = 32
    min_face: float = 24.0
    only_min_share: float = 0.25
    except_min_share: float = 0.5
    near_margin: float = 0.1
    cuts: SceneCutOptions | None = field(default_factory=lambda: SceneCutOptions(confirm=0))
    mirror: bool = True
    track_level: bool = True
    rival_margin: float = 0.05
    except_min_embedded: int = 3
    match: MatchOptions = field(default_factory=MatchOptions)

    def __post_init__(self) -> None:
        if not isinstance(self.embed_every, int) or self.embed_every < 1:
            raise ValueError(f"embed_every must be an integer >= 1, got {self.embed_every!r}")
        if not isinstance(self.max_embeddings, int) or self.max_embeddings < 1:
            raise ValueError(f"max_embeddings must be an integer >= 1, got {self.max_embeddings!r}")
        if self.min_face < 0:
            raise ValueError(f"min_face must be >= 0 pixels, got {self.min_face}")
        for name in ("only_min_share", "except_min_share"):
            v = getattr(self, name)
            if not 0.0 < v <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {v}")
        if self.near_margin < 0:
            raise ValueError(f"near_margin must be >= 0, got {self.near_margin}")
        if not isinstance(self.except_min_embedded, int) or self.except_min_embedded < 1:
            raise ValueError(f"except_min_embedded must be an integer >= 1, got {self.except_min_embedded!r}")
        if self.rival_margin < 0:
            raise ValueError(f"rival_margin must be >= 0, got {self.rival_margin}")
        check_live_cuts(self.cuts)


@dataclass(frozen=True)
class SelectiveOptions:
    """anonymize: the plain anonymizer's settings (detection, tracking, redaction, encoding): the
    same faces are found as by plain anonymize. selection: who. sampling: how tracks are decided."""

    selection: PeopleSelection
    anonymize: AnonymizeOptions = field(default_factory=AnonymizeOptions)
    sampling: TrackSampling = field(default_factory=TrackSampling)
