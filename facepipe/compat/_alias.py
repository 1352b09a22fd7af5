"""Make `import mediapipe` (and every `mediapipe.*` submodule) resolve to facepipe.compat.mediapipe.

A meta-path finder placed first on sys.meta_path: the module object a program
gets for `mediapipe.solutions.hands` is facepipe.compat.mediapipe's own
`...solutions.hands` (same object under both names), so classes and state are
shared whichever name imported them. An installed mediapipe is shadowed while
the alias is on.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
from types import ModuleType

__all__ = ["install_mediapipe_alias", "uninstall_mediapipe_alias"]

_ALIAS = "mediapipe"
_TARGET = "facepipe.compat.mediapipe"
_lock = threading.Lock()


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self._target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self._target)

    def exec_module(self, module: ModuleType) -> None:
        # importlib stamped the alias's spec on the shared module: give it its own back.
        spec = _SPECS.get(self._target)
        if spec is not None:
            module.__spec__ = spec


_SPECS: dict[str, importlib.machinery.ModuleSpec] = {}


class _MediapipeAliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path=None, target=None):  # noqa: ANN001 - importlib's signature
        if fullname != _ALIAS and not fullname.startswith(_ALIAS + "."):
            return None
        real_name = _TARGET + fullname[len(_ALIAS):]
        try:
            module = importlib.import_module(real_name)
        except ModuleNotFoundError as exc:
            if exc.name != real_name:
                raise
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: facepipe.compat does not implement it (see "
                "docs/migrating-from-mediapipe.md for what is covered and the facepipe equivalents)",
                name=fullname,
            ) from None
        if module.__spec__ is not None:
            _SPECS.setdefault(real_name, module.__spec__)
        is_pkg = hasattr(module, "__path__")
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(real_name), is_package=is_pkg)


_finder = _MediapipeAliasFinder()


def install_mediapipe_alias() -> None:
    """Put the alias first on sys.meta_path (idempotent); drops any `mediapipe` modules already imported."""
    with _lock:
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)
        for name in [n for n in sys.modules if n == _ALIAS or n.startswith(_ALIAS + ".")]:
            if not getattr(sys.modules[name], "__name__", "").startswith(_TARGET):
                del sys.modules[name]


def uninstall_mediapipe_alias() -> None:
    """Remove the alias and the `mediapipe.*` names it created."""
    with _lock:
        if _finder in sys.meta_path:
            sys.meta_path.remove(_finder)
        for name in [n for n in sys.modules if n == _ALIAS or n.startswith(_ALIAS + ".")]:
            if getattr(sys.modules[name], "__name__", "").startswith(_TARGET):
                del sys.modules[name]
