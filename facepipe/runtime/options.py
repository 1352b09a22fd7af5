"""`RuntimeOptions`: how a solution loads and runs its models, given once (MediaPipe's BaseOptions).

Every solution's options carry one `runtime`; a solution hands it on to the solutions and
models it builds (Holistic to its pose, face mesh and hand models), so threads, model files and
the delegate are said once for the whole pipeline.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from facepipe.runtime.model import Model

__all__ = ["RuntimeOptions", "DELEGATES", "fold_legacy_options", "fold_num_threads_alias"]

DELEGATES = ("cpu",)  # LiteRT with XNNPACK for .tflite, onnxruntime's CPU provider for .onnx


@dataclass(frozen=True)
class RuntimeOptions:
    """num_threads: interpreter threads per model (None: FACEPIPE_NUM_THREADS, else 1; results are
        bit-identical for any count).
    model_dir: a directory searched first for registered model files (by their registered file
        name, sha256-verified like every store file), before FACEPIPE_MODEL_PATH and the cache.
    model_paths: registered model name -> file to use instead (e.g. {"face_landmark": "my.tflite"}),
        taken as is, not verified: your own file.
    delegate: where models run; "cpu" is the one this build has.
    """

    num_threads: int | None = None
    model_dir: str | os.PathLike[str] | None = None
    model_paths: Mapping[str, str | os.PathLike[str]] = field(default_factory=dict)
    delegate: str = "cpu"

    def __post_init__(self) -> None:
        if self.num_threads is not None and (isinstance(self.num_threads, bool) or int(self.num_threads) < 1
                                             or int(self.num_threads) != self.num_threads):
            raise ValueError(f"num_threads must be an integer >= 1, got {self.num_threads!r}")
        if self.delegate not in DELEGATES:
            raise ValueError(f"delegate must be one of {', '.join(DELEGATES)}, got {self.delegate!r}")
        object.__setattr__(self, "model_paths", dict(self.model_paths))

    def __hash__(self) -> int:  # model_paths is a dict: hash its items
        return hash((self.num_threads, self.model_dir, tuple(sorted(self.model_paths.items())), self.delegate))

    def model_path(self, name: str) -> Path:
        """The file of registered model `name` under these options (see the class docstring)."""
        if name in self.model_paths:
            return Path(self.model_paths[name])
        from facepipe.runtime.store import ModelStore, default_model_path, resolve_model

        if self.model_dir is None:
            return resolve_model(name)
        return ModelStore(model_path=[Path(self.model_dir), *default_model_path()]).resolve(name)

    def load(self, name: str) -> Model:
        """Registered model `name`, loaded with these options."""
        from facepipe.runtime.memo import model_pool
        from facepipe.runtime.model import Model

        pool = model_pool()
        if pool is None:
            return Model(self.model_path(name), num_threads=self.num_threads)
        key = (name, self)  # one per model and runtime options (memo.py)
        if key not in pool:
            pool[key] = Model(self.model_path(name), num_threads=self.num_threads)
        return pool[key]


def fold_legacy_options(owner: str, runtime: RuntimeOptions, num_threads: int | None = None, *,
                        _stacklevel: int = 4, **paths: str | os.PathLike[str] | None) -> RuntimeOptions:
    """`runtime` with what the deprecated `num_threads=` and `<model>_model_path=` arguments said
    (keyword: registered model name), warning that they are deprecated.

    _stacklevel: 4 points the warning at the caller of an options dataclass (through its
    __post_init__ and __init__); a constructor calling this directly passes 3."""
    given = {name: p for name, p in paths.items() if p is not None}
    if num_threads is None and not given:
        return runtime
    old = [*(["num_threads"] if num_threads is not None else []), *(f"{n} model path" for n in given)]
    warnings.warn(f"{owner}: {', '.join(old)} given outside RuntimeOptions is deprecated and will be removed"
                  " in the next release; pass runtime=RuntimeOptions(num_threads=..., model_paths={...})",
                  DeprecationWarning, stacklevel=_stacklevel)
    changes: dict[str, Any] = {}
    if num_threads is not None:
        changes["num_threads"] = num_threads
    if given:
        changes["model_paths"] = {**given, **runtime.model_paths}
    return replace(runtime, **changes)


def fold_num_threads_alias(options: Any) -> None:
    """In the __post_init__ of an options dataclass with a deprecated `num_threads` field and a
    `runtime` field: move the first into the second (warning) and clear it."""
    runtime = fold_legacy_options(type(options).__name__, options.runtime, options.num_threads, _stacklevel=5)
    object.__setattr__(options, "runtime", runtime)
    object.__setattr__(options, "num_threads", None)
