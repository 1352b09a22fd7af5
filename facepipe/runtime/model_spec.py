"""The record of one registered model (`ModelSpec`) and where its file can come from (sources).

registry.py holds the table of every model built from these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "ArchiveRef",
    "ArchiveSource",
    "BundleSource",
    "ConvertSource",
    "ModelSpec",
    "Source",
    "UrlSource",
    "WheelRef",
    "WheelSource",
    "build_registry",
]


@dataclass(frozen=True)
class UrlSource:
    url: str

    def describe(self) -> str:
        return self.url


@dataclass(frozen=True)
class WheelRef:
    """One exact wheel file on the package index (the tags pin the platform)."""

    package: str
    version: str
    filename: str
    sha256: str
    size: int
    platform: str
    python_version: str
    implementation: str
    abi: str


@dataclass(frozen=True)
class WheelSource:
    wheel: WheelRef
    member: str  # path inside the wheel

    def describe(self) -> str:
        return f"pip wheel {self.wheel.package}=={self.wheel.version} ({self.member})"


@dataclass(frozen=True)
class BundleSource:
    bundle: str  # registered name of the .task bundle
    member: str  # file name inside the bundle

    def describe(self) -> str:
        return f"member {self.member} of {self.bundle}"


@dataclass(frozen=True)
class ArchiveRef:
    """One exact archive file (an sdist) on the package index, fetched by URL and hash-checked."""

    package: str
    version: str
    url: str
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ArchiveSource:
    archive: ArchiveRef
    member: str  # path inside the .tar.gz

    def describe(self) -> str:
        return f"PyPI sdist {self.archive.package}=={self.archive.version} ({self.member})"


@dataclass(frozen=True)
class ConvertSource:
    model: str  # registered name of the model converted
    converter: str  # key in facepipe.runtime.convert.CONVERTERS

    def describe(self) -> str:
        return f"converted from {self.model} by facepipe's {self.converter} converter"


Source = UrlSource | WheelSource | BundleSource | ArchiveSource | ConvertSource


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str
    filename: str
    sha256: str
    size: int | None  # bytes; None where no official size is recorded
    licence: str
    contract: str  # input/output summary, outputs in interpreter order
    sources: tuple[Source, ...] = ()
    notes: str = ""
    custom: bool = False  # user-registered: hash recorded at import, provenance unverified

    @property
    def is_bundle(self) -> bool:
        return self.filename.endswith(".task")


def build_registry(specs: tuple[ModelSpec, ...]) -> Mapping[str, ModelSpec]:
    table: dict[str, ModelSpec] = {}
    for spec in specs:
        if spec.name in table:
            raise RuntimeError(f"model registry: duplicate name {spec.name!r}")
        table[spec.name] = spec
    for spec in specs:
        for src in spec.sources:
            if isinstance(src, BundleSource) and src.bundle not in table:
                raise RuntimeError(f"model registry: {spec.name} names unknown bundle {src.bundle!r}")
            if isinstance(src, ConvertSource) and src.model not in table:
                raise RuntimeError(f"model registry: {spec.name} is converted from unknown model {src.model!r}")
    return MappingProxyType(table)
