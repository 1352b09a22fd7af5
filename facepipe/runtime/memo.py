"""Reusing model work inside a `with` block: the outputs of runs on inputs seen before, and loaded models.

A preview that redraws one frame under other settings runs the same models on the same inputs
again (a new detection threshold changes what is kept of the detector's outputs, not the
inputs of most of its runs). Inside `memoized_inference(memo)`, every `Model.run`/`run_filled`
in this thread (a context variable: other threads are not affected) looks its inputs up in
`memo` first, keyed by the model file and a digest of the input tensors' bytes, and only
invokes the model on a miss. A hit returns the very numbers the run would give (same file, same
input bytes: the interpreters are deterministic and bit-identical for any thread count), so
whatever a caller builds from them is what a fresh run builds; what differs is only the time.

Inside `shared_models(pool)`, `RuntimeOptions.load` gives one `Model` per (file, threads) from
`pool` instead of loading it again, so building a new detector with other options costs no
model loading. The models are then shared by everything built in the block: use it only where
those run in one thread (a `Model` is guarded by a lock, so sharing by mistake is slow, not wrong).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["InferenceMemo", "InferenceStopped", "active_memo", "memoized_inference", "model_pool",
           "shared_models"]

_MEMO: contextvars.ContextVar[InferenceMemo | None] = contextvars.ContextVar("facepipe_inference_memo",
                                                                             default=None)
_POOL: contextvars.ContextVar[dict | None] = contextvars.ContextVar("facepipe_model_pool", default=None)
_STOP: contextvars.ContextVar[Callable[[], bool] | None] = contextvars.ContextVar("facepipe_inference_stop",
                                                                                 default=None)


class InferenceStopped(Exception):  # noqa: N818 - not an error: the caller asked for it
    """Raised by a model run inside `memoized_inference(memo, stop=...)` when `stop()` says so and
    the run is not in the memo: speculative work gives way, and what it computed stays in the memo."""


class InferenceMemo:
    """Model outputs by (model file, input bytes), least recently used dropped first once they
    take more than `max_bytes`. Thread-safe. The stored outputs are read-only arrays.

    A block's `stop` (see `memoized_inference`) is asked before each run that misses."""

    def __init__(self, max_bytes: int = 256 << 20) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self._items: OrderedDict[bytes, tuple[np.ndarray, ...]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(model: str | Path, inputs: Sequence[np.ndarray]) -> bytes:
        h = hashlib.sha256(str(model).encode())  # SHA-NI: the fastest exact digest here (2x blake2b)
        for a in inputs:
            h.update(f"|{a.dtype.str}{a.shape}|".encode())
            h.update(np.ascontiguousarray(a).data)
        return h.digest()

    def get(self, key: bytes) -> tuple[np.ndarray, ...] | None:
        """The stored outputs, or None: then the caller runs the model (InferenceStopped instead
        if the block's `stop` says so)."""
        with self._lock:
            outs = self._items.get(key)
            if outs is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return outs
        stop = _STOP.get()
        if stop is not None and stop():
            raise InferenceStopped("a model run was stopped by its caller")
        with self._lock:
            self.misses += 1
        return None

    def put(self, key: bytes, outputs: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
        """Store copies of `outputs` (read-only); returns them."""
        outs = []
        for o in outputs:
            c = np.array(o, copy=True)
            c.setflags(write=False)
            outs.append(c)
        stored = tuple(outs)
        size = sum(o.nbytes for o in stored)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= sum(o.nbytes for o in old)
            if size <= self.max_bytes:
                self._items[key] = stored
                self._bytes += size
            while self._bytes > self.max_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= sum(o.nbytes for o in dropped)
        return stored

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


def active_memo() -> InferenceMemo | None:
    """The memo of the innermost `memoized_inference` block of this thread (None outside one)."""
    return _MEMO.get()


@contextlib.contextmanager
def memoized_inference(memo: InferenceMemo | None, *, stop: Callable[[], bool] | None = None
                       ) -> Iterator[InferenceMemo | None]:
    """Model runs in this thread inside the block go through `memo` (None: no memo). stop: asked
    before every run not in the memo; True raises `InferenceStopped` (work done so far is kept in
    the memo, so doing it again later costs only the runs not done yet)."""
    token, stop_token = _MEMO.set(memo), _STOP.set(stop)
    try:
        yield memo
    finally:
        _STOP.reset(stop_token)
        _MEMO.reset(token)


def model_pool() -> dict | None:
    """The pool of the innermost `shared_models` block of this thread (None outside one)."""
    return _POOL.get()


@contextlib.contextmanager
def shared_models(pool: dict[Any, Any]) -> Iterator[dict]:
    """`RuntimeOptions.load` in this thread inside the block reuses the models in `pool` (a plain
    dict the caller keeps between blocks) and adds the ones it loads."""
    token = _POOL.set(pool)
    try:
        yield pool
    finally:
        _POOL.reset(token)
