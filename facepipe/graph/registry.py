"""Name -> calculator/subgraph lookup.

Registration is what lets a config file say `calculator: FaceDetectorCalculator`.
A module registers the calculators it defines as it is imported (`@register_calculator`).
Packages make their modules findable by name without an import by declaring them in the
`facepipe.calculators` entry-point group (pyproject.toml:
`[project.entry-points."facepipe.calculators"] name = "package.module"`); the registry
imports those modules the first time a name is not found. A config can also name any class
by dotted path ("package.module:Class"), and the Python builder takes classes directly, so
registering is optional.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import threading
from collections.abc import Iterable
from typing import Any, TypeVar

from facepipe.graph.calculator import Calculator
from facepipe.graph.config import GraphConfig, load_config
from facepipe.graph.errors import GraphConfigError
from facepipe.graph.subgraph import ConfigSubgraph, Subgraph

log = logging.getLogger(__name__)

__all__ = ["CalculatorRegistry", "default_registry", "register_calculator", "register_subgraph"]

C = TypeVar("C", bound=type)

ENTRY_POINT_GROUP = "facepipe.calculators"


def entry_point_modules(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """The modules that installed packages declare in the calculator entry-point group."""
    from importlib.metadata import entry_points

    return sorted({ep.value.partition(":")[0] for ep in entry_points(group=group)})


class CalculatorRegistry:
    """A thread-safe map of names to Calculator classes, Subgraph classes and subgraph configs."""

    def __init__(self, autoload: Iterable[str] | None = None) -> None:
        """autoload: modules imported the first time a name is not found (None: those of the
        `facepipe.calculators` entry points, looked up then)."""
        self._entries: dict[str, type[Calculator] | type[Subgraph] | ConfigSubgraph] = {}
        self._autoload: list[str] | None = None if autoload is None else list(autoload)
        self._lock = threading.RLock()

    def register(self, obj: Any = None, *, name: str | None = None, replace: bool = False) -> Any:
        """Register a Calculator/Subgraph class (usable as a decorator, with or without name=)
        or a subgraph GraphConfig (its `type` is the name)."""
        if obj is None:
            return lambda o: self.register(o, name=name, replace=replace)
        if isinstance(obj, GraphConfig):
            entry: Any = ConfigSubgraph(obj)
            key = name or obj.type
            if not key:
                raise GraphConfigError(
                    f"{obj.source or 'subgraph config'}: a subgraph config needs `type: Name`"
                )
        elif isinstance(obj, type) and issubclass(obj, (Calculator, Subgraph)):
            entry, key = obj, name or obj.__name__
        else:
            raise TypeError(
                f"can only register Calculator or Subgraph classes or subgraph configs, got {obj!r}"
            )
        with self._lock:
            old = self._entries.get(key)
            if old is not None and old is not entry and not replace and not _same_class(old, entry):
                raise GraphConfigError(f"calculator name {key!r} is already registered to {_describe(old)}")
            self._entries[key] = entry
        return obj

    def register_file(self, path: str) -> ConfigSubgraph:
        """Register the subgraph defined by a config file with a `type:` key."""
        config = load_config(path)
        self.register(config)
        return self._entries[config.type]  # type: ignore[index,return-value]

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._entries)

    def lookup(self, ref: Any) -> type[Calculator] | type[Subgraph] | ConfigSubgraph:
        """Resolve a registered name, a dotted path or a class to a calculator or subgraph."""
        if isinstance(ref, type):
            if issubclass(ref, (Calculator, Subgraph)):
                return ref
            raise GraphConfigError(f"{ref!r} is not a Calculator or Subgraph subclass")
        if isinstance(ref, ConfigSubgraph):
            return ref
        if not isinstance(ref, str) or not ref:
            raise GraphConfigError(f"calculator must be a name, a dotted path or a class, got {ref!r}")
        with self._lock:
            entry = self._entries.get(ref)
            if entry is None and self._autoload != []:
                self._run_autoload()
                entry = self._entries.get(ref)
        if entry is not None:
            return entry
        if "." in ref or ":" in ref:
            return self._import(ref)
        close = difflib.get_close_matches(ref, self.names(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise GraphConfigError(
            f"unknown calculator {ref!r}{hint} (register it with @register_calculator, or give a dotted path"
            f" 'package.module:Class')"
        )

    def _run_autoload(self) -> None:
        modules = entry_point_modules() if self._autoload is None else self._autoload
        self._autoload = []
        for module in modules:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name != module:
                    raise
                log.debug("calculator package %s not available", module)

    def _import(self, ref: str) -> Any:
        module_name, _, attr = ref.partition(":") if ":" in ref else ref.rpartition(".")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise GraphConfigError(
                f"unknown calculator {ref!r}: cannot import {module_name!r}: {exc}"
            ) from None
        obj: Any = module
        for part in attr.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                raise GraphConfigError(f"unknown calculator {ref!r}: {module_name!r} has no {attr!r}")
        if isinstance(obj, GraphConfig):
            return ConfigSubgraph(obj)
        if isinstance(obj, type) and issubclass(obj, (Calculator, Subgraph)):
            return obj
        raise GraphConfigError(f"{ref!r} is not a Calculator or Subgraph subclass")


def _same_class(a: Any, b: Any) -> bool:
    # Re-importing a module (e.g. under pytest's rootdir handling) creates a new class object.
    return (
        isinstance(a, type)
        and isinstance(b, type)
        and (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)
    )


def _describe(entry: Any) -> str:
    if isinstance(entry, type):
        return f"{entry.__module__}.{entry.__qualname__}"
    return repr(entry)


default_registry = CalculatorRegistry()


def register_calculator(obj: C | None = None, *, name: str | None = None) -> Any:
    """Decorator: make a Calculator class available by name (its class name by default)."""
    return default_registry.register(obj, name=name)


def register_subgraph(obj: Any = None, *, name: str | None = None) -> Any:
    """Register a Subgraph class (decorator) or a subgraph GraphConfig with `type:` set."""
    return default_registry.register(obj, name=name)
