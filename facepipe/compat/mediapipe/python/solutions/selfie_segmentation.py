"""mp.solutions.selfie_segmentation on facepipe.SelfieSegmentation (same models, same numbers)."""

from __future__ import annotations

from facepipe.compat.mediapipe.python.solutions._common import SolutionOutputs, unimplemented
from facepipe.compat.mediapipe.python.solutions._solution import Solution


class SelfieSegmentation(Solution):
    """SelfieSegmentation(model_selection=0): 0 general (256x256), 1 landscape (256x144)."""

    def __init__(self, model_selection: int = 0) -> None:
        from facepipe import SelfieSegmentation as _SelfieSegmentation
        from facepipe import SelfieSegmentationOptions

        self._impl = _SelfieSegmentation(SelfieSegmentationOptions(model_selection=model_selection))

    def _outputs(self, result) -> SolutionOutputs:  # noqa: ANN001
        return SolutionOutputs(segmentation_mask=result.mask)

    def reset(self) -> None:
        """Nothing to forget: each image is segmented on its own."""


def __getattr__(name: str):
    raise unimplemented(__name__, name, "facepipe.SelfieSegmentation is the native equivalent.")
