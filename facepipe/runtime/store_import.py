"""`facepipe models import`: a file copied into the model cache as the registered model(s) whose
sha256 it has, or registered as an unverified custom model (name, sha256 and origin in the cache's
custom_models.json, checked on every later use). `ModelStore.import_file` is the entry point.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from facepipe._fsutil import atomic_write, atomic_write_bytes
from facepipe.errors import InputError, ModelError
from facepipe.runtime.model_spec import ModelSpec
from facepipe.runtime.store import CUSTOM_INDEX, ModelStore, UnknownModelError

__all__ = ["CUSTOM_SUFFIXES", "import_file"]

CUSTOM_SUFFIXES = (".tflite", ".onnx", ".task", ".binarypb")
_CHUNK = 1 << 20


def _copy_verified(src: Path, dest: Path, sha256: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    with src.open("rb") as fin, atomic_write(dest) as fout:
        for chunk in iter(lambda: fin.read(_CHUNK), b""):
            h.update(chunk)
            fout.write(chunk)
        if h.hexdigest() != sha256:  # the file changed while we copied it
            raise InputError(f"{src}: changed while being imported; try again")

def import_file(
    store: ModelStore, file: str | os.PathLike[str], *, name: str | None = None, custom: bool = False
) -> list[tuple[ModelSpec, Path]]:
    """Copy `file` into `store`'s cache as the registered model(s) whose sha256 it has.

    With `custom=True`, register it instead as user model `name`: its hash is
    recorded now and checked on every later use, but nobody vouches for it.
    """
    src = Path(file)
    if not src.is_file():
        raise InputError(f"{src}: no such file")
    digest = store._digests.sha256(src)
    matches = [s for s in store.registry.values() if s.sha256 == digest]
    if custom:
        return [_import_custom(store, src, digest, name, matches)]
    if name is not None:
        wanted = store.spec(name)
        if wanted not in matches:
            what = (
                f"it is {', '.join(m.name for m in matches)}"
                if matches
                else "it matches no registered model"
            )
            raise ModelError(f"{src} is not model {wanted.name!r} (sha256 {digest}: {what})")
        matches = [wanted]
    if not matches:
        raise ModelError(
            f"{src} (sha256 {digest}) matches no registered model. To use it anyway, register it as an "
            f"unverified custom model: `facepipe models import {src} --custom --name NAME`"
        )
    done = []
    for spec in matches:
        dest = store.cache_dir / spec.filename
        if not (dest.exists() and dest.samefile(src)):
            try:
                _copy_verified(src, dest, digest)
            except OSError as exc:
                raise ModelError(f"cannot write {dest}: {exc}") from exc
        done.append((spec, dest))
    return done

def _import_custom(
    store: ModelStore, src: Path, digest: str, name: str | None, matches: list[ModelSpec]
) -> tuple[ModelSpec, Path]:
    if not name:
        raise UnknownModelError("a custom model needs a name: --custom --name NAME")
    if matches:
        raise ModelError(
            f"{src} is the registered model {matches[0].name!r};"
            " import it without --custom to get it verified"
        )
    if name in store.registry:
        raise UnknownModelError(
            f"{name!r} is a registered model name; choose another name for a custom model"
        )
    suffix = src.suffix.lower()
    if suffix not in CUSTOM_SUFFIXES:
        raise InputError(
            f"{src}: unsupported model type {suffix!r} (expected one of {', '.join(CUSTOM_SUFFIXES)})"
        )
    dest = store.cache_dir / f"{name}{suffix}"
    try:
        if not (dest.exists() and dest.samefile(src)):
            _copy_verified(src, dest, digest)
        index = store.cache_dir / CUSTOM_INDEX
        data = json.loads(index.read_text(encoding="utf-8")) if index.exists() else {"version": 1}
        data.setdefault("models", {})[name] = {
            "filename": dest.name,
            "sha256": digest,
            "size": src.stat().st_size,
            "task": "custom",
            "licence": "unknown",
            "imported_from": str(src.resolve()),
            "imported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        atomic_write_bytes(index, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
    except OSError as exc:
        raise ModelError(f"cannot write to the model cache {store.cache_dir}: {exc}") from exc
    except ValueError as exc:
        raise ModelError(
            f"{store.cache_dir / CUSTOM_INDEX}: unreadable custom-model index ({exc})"
        ) from exc
    return store.custom_specs()[name], dest
