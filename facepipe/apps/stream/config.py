"""Streaming settings from a small TOML or JSON file, and the neutral-face calibration file.

Config file (every key optional; names are ARKit blendshape names)::

    [shapes]
    forced_zero = ["jawForward", "jawLeft", "jawRight", "mouthDimpleLeft", "mouthDimpleRight",
                   "cheekPuff", "tongueOut"]      # always sent as 0
    gain = { jawOpen = 1.3, mouthSmileLeft = 1.2 }  # out = clip(gain * value ** curve, 0, 1)
    curve = { eyeBlinkLeft = 0.7, eyeBlinkRight = 0.7 }

    [smoothing]                                   # One-Euro filters (Casiez et al. 2012)
    enabled = true
    shapes_min_cutoff = 3.0                       # Hz
    shapes_beta = 2.0
    pose_min_cutoff = 1.5                         # head angles, position and gaze
    pose_beta = 0.05

    [vmc]
    capitalize_names = false                      # "EyeBlinkLeft" instead of "eyeBlinkLeft"

The calibration file is JSON written by `--calibrate`: the neutral face's 52
blendshape values, head angles, position and gaze (medians over the calibration
frames).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facepipe._fsutil import atomic_write_bytes
from facepipe.errors import InputError
from facepipe.solutions.blendshapes import ARKIT_NAMES

__all__ = [
    "DEFAULT_FORCED_ZERO",
    "Calibration",
    "ShapeTuning",
    "SmoothingOptions",
    "StreamConfig",
    "load_config",
]

# Shapes the Tasks blendshape model does not track reliably (or at all: tongueOut): sent as 0 by default.
DEFAULT_FORCED_ZERO: tuple[str, ...] = (
    "jawForward", "jawRight", "jawLeft", "mouthDimpleRight", "mouthDimpleLeft", "cheekPuff", "tongueOut",
)
_ARKIT_INDEX = {n: i for i, n in enumerate(ARKIT_NAMES)}


def _check_names(names: Any, where: str) -> None:
    unknown = sorted(set(names) - set(ARKIT_NAMES))
    if unknown:
        raise InputError(f"{where}: unknown blendshape name(s) {', '.join(unknown)} (use ARKit names, e.g. jawOpen)")


@dataclass(frozen=True)
class ShapeTuning:
    """Per-shape gain and curve (out = clip(gain * value ** curve, 0, 1)) and the shapes always sent as 0."""

    gain: Mapping[str, float] = field(default_factory=dict)
    curve: Mapping[str, float] = field(default_factory=dict)
    forced_zero: tuple[str, ...] = DEFAULT_FORCED_ZERO

    def __post_init__(self) -> None:
        for kind in ("gain", "curve"):
            table = getattr(self, kind)
            _check_names(table, f"shapes.{kind}")
            for name, v in table.items():
                if not isinstance(v, (int, float)) or isinstance(v, bool) or not (0 < v < math.inf):
                    raise ValueError(f"shapes.{kind}.{name} must be a number > 0, got {v!r}")
        _check_names(self.forced_zero, "shapes.forced_zero")

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(gain, curve, keep) as (52,) arrays in ARKit order; keep is 0 for forced-zero shapes."""
        gain, curve, keep = (np.ones(len(ARKIT_NAMES), np.float32) for _ in range(3))
        for name, v in self.gain.items():
            gain[_ARKIT_INDEX[name]] = v
        for name, v in self.curve.items():
            curve[_ARKIT_INDEX[name]] = v
        for name in self.forced_zero:
            keep[_ARKIT_INDEX[name]] = 0.0
        return gain, curve, keep


@dataclass(frozen=True)
class SmoothingOptions:
    """One-Euro filter settings: blendshapes (values in [0, 1]) and pose (degrees and cm)."""

    enabled: bool = True
    shapes_min_cutoff: float = 3.0
    shapes_beta: float = 2.0
    pose_min_cutoff: float = 1.5
    pose_beta: float = 0.05

    def __post_init__(self) -> None:
        for name in ("shapes_min_cutoff", "pose_min_cutoff"):
            if not getattr(self, name) > 0:
                raise ValueError(f"smoothing.{name} must be > 0, got {getattr(self, name)}")
        for name in ("shapes_beta", "pose_beta"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"smoothing.{name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class StreamConfig:
    shapes: ShapeTuning = field(default_factory=ShapeTuning)
    smoothing: SmoothingOptions = field(default_factory=SmoothingOptions)
    vmc_capitalize_names: bool = False


_SECTIONS = {"shapes": ("forced_zero", "gain", "curve"), "smoothing": tuple(SmoothingOptions.__dataclass_fields__),
             "vmc": ("capitalize_names",)}


def _read_table(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the config file ({exc.strerror or exc})") from exc
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            doc = json.loads(data.decode("utf-8"))
        elif suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                try:
                    import tomli as tomllib
                except ModuleNotFoundError:
                    raise InputError(f"{path}: TOML config files need Python 3.11+ or tomli; use JSON") from None
            doc = tomllib.loads(data.decode("utf-8"))
        else:
            raise InputError(f"{path}: config must be a .toml or .json file")
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        raise InputError(f"{path}: not a valid {suffix[1:].upper()} file ({exc})") from exc
    if not isinstance(doc, dict):
        raise InputError(f"{path}: the config must be a table/object at the top level")
    return doc


def load_config(path: str | Path | None) -> StreamConfig:
    """StreamConfig from a .toml/.json file (None: defaults). Unknown sections/keys and names are errors."""
    if path is None:
        return StreamConfig()
    path = Path(path)
    doc = _read_table(path)
    for section, value in doc.items():
        if section not in _SECTIONS:
            raise InputError(f"{path}: unknown section [{section}] (known: {', '.join(_SECTIONS)})")
        if not isinstance(value, dict):
            raise InputError(f"{path}: [{section}] must be a table")
        for key in value:
            if key not in _SECTIONS[section]:
                raise InputError(f"{path}: unknown key {section}.{key} (known: {', '.join(_SECTIONS[section])})")
    shapes = doc.get("shapes", {})
    try:
        tuning = ShapeTuning(gain=dict(shapes.get("gain", {})), curve=dict(shapes.get("curve", {})),
                             forced_zero=tuple(shapes.get("forced_zero", DEFAULT_FORCED_ZERO)))
        smoothing = SmoothingOptions(**doc.get("smoothing", {}))
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path}: {exc}") from exc
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from exc
    return StreamConfig(tuning, smoothing, bool(doc.get("vmc", {}).get("capitalize_names", False)))


@dataclass(frozen=True, eq=False)
class Calibration:
    """A person's neutral face: raw blendshapes (52, ARKit order), head yaw/pitch/roll (deg), position (cm),
    gaze (2,2 deg), and how many frames it was measured on."""

    blendshapes: np.ndarray
    head_euler_deg: np.ndarray
    translation_cm: np.ndarray
    gaze_deg: np.ndarray
    frames: int

    FORMAT = "facepipe-stream-neutral/1"

    @classmethod
    def from_samples(cls, blendshapes: np.ndarray, euler: np.ndarray, translation: np.ndarray,
                     gaze: np.ndarray) -> Calibration:
        """Medians over (K, ...) samples of a held neutral face (robust to a blink or two)."""
        return cls(np.median(blendshapes, axis=0).astype(np.float32), np.median(euler, axis=0),
                   np.median(translation, axis=0), np.median(gaze, axis=0), len(blendshapes))

    def save(self, path: str | Path) -> None:
        doc = {"format": self.FORMAT, "frames": self.frames,
               "blendshapes": {n: round(float(v), 6) for n, v in zip(ARKIT_NAMES, self.blendshapes)},
               "head_euler_deg": [round(float(v), 4) for v in self.head_euler_deg],
               "translation_cm": [round(float(v), 4) for v in self.translation_cm],
               "gaze_deg": [[round(float(v), 4) for v in row] for row in self.gaze_deg]}
        atomic_write_bytes(path, (json.dumps(doc, indent=1) + "\n").encode("utf-8"))

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        path = Path(path)
        try:
            doc = json.loads(path.read_text("utf-8"))
        except OSError as exc:
            raise InputError(f"{path}: cannot read the calibration file ({exc.strerror or exc})") from exc
        except ValueError as exc:
            raise InputError(f"{path}: not a calibration file (invalid JSON: {exc})") from exc
        if not isinstance(doc, dict) or doc.get("format") != cls.FORMAT:
            raise InputError(f"{path}: not a facepipe stream calibration file (format {cls.FORMAT!r} expected)")
        try:
            shapes = doc["blendshapes"]
            _check_names(shapes, f"{path}")
            values = np.array([float(shapes.get(n, 0.0)) for n in ARKIT_NAMES], np.float32)
            euler = np.array(doc["head_euler_deg"], np.float64).reshape(3)
            trans = np.array(doc["translation_cm"], np.float64).reshape(3)
            gaze = np.array(doc["gaze_deg"], np.float64).reshape(2, 2)
            frames = int(doc.get("frames", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path}: broken calibration file ({type(exc).__name__}: {exc})") from exc
        if not (np.isfinite(values).all() and np.isfinite(euler).all() and np.isfinite(trans).all()
                and np.isfinite(gaze).all()):
            raise InputError(f"{path}: broken calibration file (non-finite values)")
        return cls(np.clip(values, 0.0, 1.0), euler, trans, gaze, frames)
