"""Base of the legacy solution classes: context manager, close/reset, MediaPipe's closed-graph error."""

from __future__ import annotations

from typing import Any

import numpy as np

from facepipe.compat.mediapipe.python.solutions._common import SolutionOutputs, check_rgb


class Solution:
    """Wraps one facepipe solution object; subclasses turn its result into MediaPipe's outputs."""

    _impl: Any

    def process(self, image: np.ndarray) -> SolutionOutputs:
        impl = self.__dict__.get("_impl")
        if impl is None:
            raise ValueError("Graph is not started or already closed.")  # MediaPipe's message after close()
        return self._outputs(impl.process(check_rgb(image)))

    def _outputs(self, result: Any) -> SolutionOutputs:  # pragma: no cover - abstract
        raise NotImplementedError

    def reset(self) -> None:
        """Forget tracking state (MediaPipe restarts its graph)."""
        self._impl.reset()

    def close(self) -> None:
        impl = self.__dict__.pop("_impl", None)
        if impl is not None and hasattr(impl, "close"):
            impl.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_impl":
            raise AttributeError(name)
        raise AttributeError(
            f"{type(self).__name__}.{name} is not implemented in facepipe.compat; the facepipe object "
            f"behind it ({type(self.__dict__.get('_impl')).__name__}) is in facepipe.solutions"
        )
