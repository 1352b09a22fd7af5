"""What the window's controls say, as one frozen dataclass, and how it reaches the anonymizer.

The settings are turned into `facepipe anonymize` arguments (`cli_args`) and those into
`AnonymizeOptions` by the CLI's own parser (`anonymize_options`), so an export from the window
and the command line with the same arguments cannot differ. `save`/`load` keep them (and the
recent files) in a QSettings store between sessions.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

__all__ = ["METHODS", "MODES", "SHAPES", "GuiSettings", "anonymize_job", "anonymize_options", "anonymize_parser",
           "load", "load_recent", "save", "remember_recent"]

METHODS = ("blur", "mosaic", "solid")
SHAPES = ("ellipse", "box", "hull")
MODES = ("everyone", "only", "except")  # the people panel: mask everyone / only these / all but these
RECENT_MAX = 10


@dataclass(frozen=True)
class GuiSettings:
    """method/shape/mask_scale/blur/mosaic: as `anonymize --method/--shape/--mask-scale/--blur/--mosaic`
    (mask_scale None: the shape's default). `mosaic_level` is the mosaic block in percent of the face
    size (the seed tool's "mosaic level"), stored as the fraction `mosaic`.
    threshold: --min-detection-confidence (None: the anonymizer's defaults per media kind).
    keep_audio: copy the audio (else --no-audio). mode/people/gallery: masking everyone, only `people`,
    or all but `people` (anonymize --only/--except NAMES --gallery G; gallery None: the default one)."""

    method: str = "blur"
    shape: str = "ellipse"
    mask_scale: float | None = None
    blur: float = 1.0
    mosaic: float = 0.15
    threshold: float | None = None
    keep_audio: bool = True
    mode: str = "everyone"
    people: tuple[str, ...] = field(default_factory=tuple)
    gallery: str | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.shape not in SHAPES:
            raise ValueError(f"shape must be one of {', '.join(SHAPES)}, got {self.shape!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")

    @property
    def mosaic_level(self) -> int:
        return round(self.mosaic * 100)

    def with_mosaic_level(self, level: int) -> GuiSettings:
        return replace(self, mosaic=level / 100)

    def cli_args(self) -> list[str]:
        """`facepipe anonymize` arguments that give the same output."""
        args = ["--method", self.method, "--shape", self.shape]
        if self.mask_scale is not None:
            args += ["--mask-scale", f"{self.mask_scale:g}"]
        if self.method == "blur" and self.blur != 1.0:
            args += ["--blur", f"{self.blur:g}"]
        if self.method == "mosaic":
            args += ["--mosaic", f"{self.mosaic:g}"]
        if self.threshold is not None:
            args += ["--min-detection-confidence", f"{self.threshold:g}"]
        if not self.keep_audio:
            args.append("--no-audio")
        if self.mode != "everyone" and self.people:
            args += [f"--{self.mode}", ",".join(self.people)]
            if self.gallery:
                args += ["--gallery", self.gallery]
        return args


@functools.lru_cache(maxsize=1)
def anonymize_parser():
    """The CLI's `facepipe anonymize` parser (built once)."""
    from facepipe.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices["anonymize"]


def _parse(settings: GuiSettings):
    from facepipe.errors import UsageError

    argv = settings.cli_args()
    try:
        return anonymize_parser().parse_args(["x", *argv])
    except SystemExit:  # argparse's way to refuse (its message went to stderr): one line for the dialog
        raise UsageError(f"facepipe anonymize refuses these settings: {' '.join(argv)}") from None


def anonymize_options(settings: GuiSettings):
    """`AnonymizeOptions` exactly as `facepipe anonymize <settings.cli_args()>` builds them."""
    from facepipe.cli.cmd_anonymize import build_options

    return build_options(_parse(settings))


def anonymize_job(settings: GuiSettings):
    """(AnonymizeOptions, SelectiveOptions or None) as `facepipe anonymize <settings.cli_args()>`
    builds them: the second only when chosen people are masked (--only/--except)."""
    from facepipe.cli.cmd_anonymize import build_options

    args = _parse(settings)
    options = build_options(args)
    if settings.mode == "everyone" or not settings.people:
        return options, None
    from facepipe.cli.cmd_anonymize import selection_options

    return options, selection_options(args, options)


# -- persistence (QSettings) -------------------------------------------------------------------------

_PREFIX = "anonymize/"
_NOT_KEPT = ("people", "gallery")  # who is in a video is picked per video, in the people panel


def save(store: Any, settings: GuiSettings) -> None:
    """Write the settings into a QSettings `store`."""
    for key, value in asdict(settings).items():
        if key not in _NOT_KEPT:
            store.setValue(_PREFIX + key, "" if value is None else value)


def load(store: Any) -> GuiSettings:
    """The settings last saved in `store`; a missing or unreadable value keeps its default."""
    default = GuiSettings()
    values: dict[str, Any] = {}
    for f in fields(GuiSettings):
        raw = store.value(_PREFIX + f.name)
        if raw is None or f.name in _NOT_KEPT:
            continue
        current = getattr(default, f.name)
        try:
            if f.name in ("mask_scale", "threshold"):
                values[f.name] = float(raw) if str(raw) else None
            elif isinstance(current, bool):
                values[f.name] = str(raw).lower() in ("true", "1")
            elif isinstance(current, float):
                values[f.name] = float(raw)
            else:
                values[f.name] = str(raw)
        except ValueError:
            continue
    try:
        return GuiSettings(**values)
    except ValueError:
        return default


def load_recent(store: Any) -> list[str]:
    raw = store.value("recent/files")
    if not raw:
        return []
    return [str(p) for p in (raw if isinstance(raw, list) else [raw])][:RECENT_MAX]


def remember_recent(store: Any, path: str) -> list[str]:
    """Put `path` first in the recent files (at most RECENT_MAX, no duplicates)."""
    recent = [path, *(p for p in load_recent(store) if p != path)][:RECENT_MAX]
    store.setValue("recent/files", recent)
    return recent
