"""One inference interface over LiteRT (.tflite) and onnxruntime (.onnx).

A `Model` owns exactly one interpreter/session, so an instance is never shared
between threads by accident: create one per thread (they are cheap). A lock
still guards `run` so that sharing one by mistake is slow, not wrong.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from facepipe.errors import ModelError
from facepipe.runtime.memo import InferenceMemo, active_memo

log = logging.getLogger(__name__)

__all__ = ["Model", "TensorSpec", "ModelLoadError", "default_num_threads"]

R = TypeVar("R")
Fill = Callable[[list[np.ndarray]], Any]
Read = Callable[[list[np.ndarray]], R]


class ModelLoadError(ModelError, RuntimeError):
    """A model file cannot be loaded by its runtime (missing file, unknown format, runtime not
    installed). A `FacepipeError`, so the CLI reports it in one line; still a RuntimeError for
    code that caught it as one."""


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype


def default_num_threads() -> int:
    """Threads per interpreter: FACEPIPE_NUM_THREADS, else 1.

    1 is the default because facepipe's own pipelines (the anonymize/analyze
    graphs, Holistic's concurrent branches) already keep every core busy, and
    XNNPACK threads competing with them for cores make everything slower (seen
    at 10-40 % on a loaded 2-core machine). MediaPipe's desktop build also runs
    XNNPACK on 1 thread (its CPU time equals its wall time). For single-image
    latency on idle cores, more threads pay off: on an idle 2-core machine,
    num_threads=2 took pose 16.9 -> 9.2 ms, hands 15.6 -> 8.7 ms and the face
    landmarker 4.4 -> 2.7 ms. Results are bit-identical for any thread count.
    Set `num_threads=` on a solution's options, or this variable.
    """
    env = os.environ.get("FACEPIPE_NUM_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError as exc:
            raise ValueError(f"FACEPIPE_NUM_THREADS must be an integer, got {env!r}") from exc
        if n < 1:
            raise ValueError(f"FACEPIPE_NUM_THREADS must be >= 1, got {n}")
        return n
    return 1


class Model:
    """Runs a .tflite (LiteRT, XNNPACK) or .onnx (onnxruntime) model.

    `run(*inputs)` takes arrays by input position and returns a list of arrays
    in the model's output-list order (never by tensor index or name: MediaPipe's
    graphs consume outputs by position, and tensor indices can be out of order).
    The leading dimension of the inputs is the batch; for LiteRT the batch
    dimension is resized on demand, and if the model refuses, items are run one
    by one and stacked, so the numbers are the same either way.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        num_threads: int | None = None,
        providers: Sequence[str] | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelLoadError(f"{self.path}: model file not found")
        self.num_threads = num_threads if num_threads is not None else default_num_threads()
        self._lock = threading.Lock()
        suffix = self.path.suffix.lower()
        if suffix == ".tflite":
            self._backend: _Backend = _LiteRTBackend(self.path, self.num_threads)
        elif suffix == ".onnx":
            self._backend = _OnnxBackend(self.path, self.num_threads, providers)
        else:
            raise ModelLoadError(f"{self.path}: unsupported model type {suffix!r} (expected .tflite or .onnx)")

    @property
    def inputs(self) -> list[TensorSpec]:
        return self._backend.inputs

    @property
    def outputs(self) -> list[TensorSpec]:
        return self._backend.outputs

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        specs = self.inputs
        if len(inputs) != len(specs):
            raise ValueError(f"{self.path.name}: expected {len(specs)} inputs, got {len(inputs)}")
        arrays = []
        for arr, spec in zip(inputs, specs):
            a = np.asarray(arr, dtype=spec.dtype)
            want = spec.shape[1:]
            if a.ndim != len(spec.shape) or any(w > 0 and g != w for g, w in zip(a.shape[1:], want)):
                raise ValueError(
                    f"{self.path.name}: input {spec.name!r} wants shape (B,{','.join(map(str, spec.shape[1:]))}),"
                    f" got {a.shape}"
                )
            arrays.append(np.ascontiguousarray(a))
        memo = active_memo()
        if memo is not None:
            return [np.array(o) for o in self._memoized(memo, arrays)]
        with self._lock:
            return self._backend.run(arrays)

    def _memoized(self, memo: InferenceMemo, arrays: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        """The outputs for `arrays` from `memo`, or from a run stored into it (read-only arrays)."""
        key = memo.key(self.path, arrays)
        outs = memo.get(key)
        if outs is None:
            with self._lock:
                outs = memo.put(key, self._backend.run(arrays))
        return outs

    def run_filled(self, batch: int, fill: Fill, read: Read | None = None) -> Any:
        """`run` without the input copies: `fill` writes the inputs in place.

        fill(inputs) gets one writable (batch, *shape) array per model input and
        must set every element; read(outputs), if given, gets the outputs and
        returns what the caller keeps (owned arrays: neither callback may keep a
        reference to its arguments). Without `read` the outputs are returned as
        owned copies, like `run`.

        Why: LiteRT's set_tensor/get_tensor copy every tensor (0.8 MB for a
        256x256 crop, 0.9 MB of pose heatmap and mask outputs); here crops are
        warped straight into the interpreter's input buffer and large outputs
        are read where they lie. The buffers are only lent out while the model's
        lock is held, and LiteRT refuses to invoke (RuntimeError) while one of
        its buffers is still referenced, so a leaked view fails loudly.
        Batches the interpreter is not already sized for take the `run` path
        (resize / verification / item loop), with the same numbers.
        """
        if batch < 1:
            raise ValueError(f"{self.path.name}: batch must be >= 1, got {batch}")
        memo = active_memo()
        if memo is not None:  # inputs into arrays of our own, to be looked up (memo.py)
            arrays = [np.empty((batch, *s.shape[1:]), s.dtype) for s in self.inputs]
            fill(arrays)
            outs = self._memoized(memo, arrays)
            return [np.array(o) for o in outs] if read is None else read(list(outs))
        with self._lock:
            direct = self._backend.run_filled(batch, fill, read)
            if direct is not _NOT_DIRECT:
                return direct
            arrays = [np.empty((batch, *s.shape[1:]), s.dtype) for s in self.inputs]
            fill(arrays)
            outs = self._backend.run(arrays)
        return outs if read is None else read(outs)

    def __repr__(self) -> str:
        return f"Model({self.path.name!r}, backend={type(self._backend).__name__}, threads={self.num_threads})"


_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _quiet_native_stderr():
    """Hide LiteRT's C++ "INFO: Created TensorFlow Lite XNNPACK delegate" line on fd 2.

    It is printed once per interpreter by native code, so Python logging can't
    filter it; it stays visible with debug logging. Load errors still surface as
    the Python exception raised by allocate_tensors.
    """
    # fd 2 is process-wide: with other threads running (graph workers opening models in
    # parallel), their messages would vanish too, so the line is only hidden when alone.
    if log.isEnabledFor(logging.DEBUG) or threading.active_count() > 1:
        yield
        return
    with _STDERR_LOCK:
        try:
            saved = os.dup(2)
        except OSError:  # no usable fd 2 (e.g. some embedded interpreters)
            yield
            return
        try:
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


_NOT_DIRECT = object()


class _Backend:
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:  # pragma: no cover - interface
        raise NotImplementedError

    def run_filled(self, batch: int, fill: Fill, read: Read | None) -> Any:
        """In-place run if the backend can do it for this batch, else _NOT_DIRECT (caller's lock held)."""
        return _NOT_DIRECT


class _LiteRTBackend(_Backend):
    def __init__(self, path: Path, num_threads: int) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:  # pragma: no cover - dependency is required
            raise ModelLoadError("ai-edge-litert is not installed: pip install ai-edge-litert") from exc
        try:
            self._it = Interpreter(model_path=str(path), num_threads=num_threads)
            with _quiet_native_stderr():
                self._it.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"{path}: LiteRT cannot load this model: {exc}") from exc
        self._path = path
        self._in = self._it.get_input_details()
        self._out = self._it.get_output_details()
        self.inputs = [TensorSpec(d["name"], tuple(int(s) for s in d["shape"]), np.dtype(d["dtype"])) for d in self._in]
        self.outputs = [
            TensorSpec(d["name"], tuple(int(s) for s in d["shape"]), np.dtype(d["dtype"])) for d in self._out
        ]
        self._batch = self.inputs[0].shape[0] if self.inputs else 1
        self._resizable = True
        self._batch_verified = False
        # Callables giving numpy views of the interpreter's own buffers (see Model.run_filled).
        self._in_views = [self._it.tensor(d["index"]) for d in self._in]
        self._out_views = [self._it.tensor(d["index"]) for d in self._out]

    def _resize(self, batch: int) -> bool:
        try:
            for d, spec in zip(self._in, self.inputs):
                self._it.resize_tensor_input(d["index"], [batch, *spec.shape[1:]])
            self._it.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            log.debug("%s: batch resize to %d refused (%s); looping instead", self._path.name, batch, exc)
            # Restore the original shape so single runs keep working.
            for d, spec in zip(self._in, self.inputs):
                self._it.resize_tensor_input(d["index"], list(spec.shape))
            self._it.allocate_tensors()
            self._batch = self.inputs[0].shape[0]
            return False
        self._batch = batch
        return True

    def _invoke(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        for d, a in zip(self._in, inputs):
            self._it.set_tensor(d["index"], a)
        self._it.invoke()
        # get_tensor copies, so results stay valid after the next invoke.
        return [self._it.get_tensor(d["index"]) for d in self._out]

    def run_filled(self, batch: int, fill: Fill, read: Read | None) -> Any:
        # Only at the current size: whenever the interpreter rests at a batch > 1 that
        # batch has passed _batch_matches_single (or is the model's own), so it is safe.
        if batch != self._batch:
            return _NOT_DIRECT
        views = [v() for v in self._in_views]
        try:
            fill(views)
        except BaseException as exc:
            _release_views(exc)
            raise
        finally:
            del views
        self._it.invoke()
        if read is None:
            return [self._it.get_tensor(d["index"]) for d in self._out]
        outs = [v() for v in self._out_views]
        try:
            return read(outs)
        except BaseException as exc:
            _release_views(exc)
            raise
        finally:
            del outs

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        batch = inputs[0].shape[0]
        if batch == self._batch:
            return self._invoke(inputs)
        if self._resizable and self._resize(batch):
            outs = self._invoke(inputs)
            # Many graphs accept the resize but fold the batch into another axis through a fixed
            # Reshape (e.g. BlazeFace gives [1, 3*896, 16]): only per-item shaped outputs are batched.
            if all(o.shape == (batch, *s.shape[1:]) for o, s in zip(outs, self.outputs, strict=True)):
                if self._batch_verified or self._batch_matches_single(inputs, outs):
                    return outs
            else:
                log.debug("%s: batched outputs are not per item; looping instead", self._path.name)
        self._resizable = False
        if self._batch != 1:
            self._resize(1)
        parts = [self._invoke([a[i : i + 1] for a in inputs]) for i in range(batch)]
        return _stack_items(parts, self.outputs)


    def _batch_matches_single(self, inputs: list[np.ndarray], outs: list[np.ndarray]) -> bool:
        """Check once that a resized batch computes what single runs do.

        Some graphs accept the resize, keep per-item output shapes and still mix
        items up (hand_recrop: every item after the first is wrong), so the last
        item is re-run alone and compared before batching is trusted.
        """
        self._resize(1)
        single = self._invoke([a[-1:] for a in inputs])
        ok = all(np.allclose(o[-1], s[0], rtol=1e-3, atol=1e-4) for o, s in zip(outs, single, strict=True))
        if ok:
            self._batch_verified = True
        else:
            log.debug("%s: batched results differ from single runs; looping instead", self._path.name)
        return ok


def _release_views(exc: BaseException) -> None:
    """Drop the locals of the frames an exception from fill/read passed through.

    They can hold views of the interpreter's buffers, and LiteRT refuses to run
    while any exists: a caller keeping the exception (logging, pytest.raises)
    would otherwise break every later call of this model.
    """
    traceback.clear_frames(exc.__traceback__)


def _stack_items(parts: list[list[np.ndarray]], outputs: list[TensorSpec]) -> list[np.ndarray]:
    """Per-item results joined on a batch axis; outputs without one (e.g. blendshapes [52]) get a new axis."""
    return [
        np.concatenate([p[k] for p in parts]) if s.shape[:1] == (1,) else np.stack([p[k] for p in parts])
        for k, s in enumerate(outputs)
    ]


class _OnnxBackend(_Backend):
    def __init__(self, path: Path, num_threads: int, providers: Sequence[str] | None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - dependency is required
            raise ModelLoadError("onnxruntime is not installed: pip install onnxruntime") from exc
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = num_threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self._sess = ort.InferenceSession(
                str(path), sess_options=opts, providers=list(providers or ["CPUExecutionProvider"])
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelLoadError(f"{path}: onnxruntime cannot load this model: {exc}") from exc
        type_map = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(uint8)": np.uint8}

        def spec(t) -> TensorSpec:
            shape = tuple(int(s) if isinstance(s, int) else -1 for s in t.shape)
            return TensorSpec(t.name, shape, np.dtype(type_map.get(t.type, np.float32)))

        self.inputs = [spec(t) for t in self._sess.get_inputs()]
        self.outputs = [spec(t) for t in self._sess.get_outputs()]
        self._fixed_batch = self.inputs[0].shape[0] if self.inputs and self.inputs[0].shape[0] > 0 else None

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        names = [s.name for s in self.inputs]
        batch = inputs[0].shape[0]
        if self._fixed_batch is None or self._fixed_batch == batch:
            return list(self._sess.run(None, dict(zip(names, inputs))))
        parts = [self._sess.run(None, {n: a[i : i + 1] for n, a in zip(names, inputs)}) for i in range(batch)]
        return _stack_items(parts, self.outputs)
