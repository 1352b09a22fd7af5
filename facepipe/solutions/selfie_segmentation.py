"""Person/background segmentation (MediaPipe's selfie_segmentation, reference section 8).

The whole image is stretched (no letterbox) into the model tensor; the model
already outputs a probability, which is resized back to the image with
bilinear interpolation. No temporal smoothing, as in MediaPipe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from facepipe.io.image import check_rgb_image
from facepipe.runtime.options import RuntimeOptions, fold_legacy_options, fold_num_threads_alias
from facepipe.stages.image_to_tensor import BORDER_ZERO, FullImageCropper

__all__ = ["SelfieSegmentation", "SelfieSegmentationOptions", "SegmentationResult"]

# model_selection -> (model name, tensor width, tensor height)
_MODELS = {
    0: ("selfie_segmentation", 256, 256),
    1: ("selfie_segmentation_landscape", 256, 144),
}


@dataclass(frozen=True, eq=False)
class SegmentationResult:
    """mask: (H, W) float32 person probability in [0, 1] at the input's resolution."""

    mask: np.ndarray

    @property
    def image_size(self) -> tuple[int, int]:
        return (int(self.mask.shape[1]), int(self.mask.shape[0]))

    def binary(self, threshold: float = 0.5) -> np.ndarray:
        """(H, W) bool: pixels whose probability is above `threshold`."""
        return self.mask > threshold


@dataclass(frozen=True)
class SelfieSegmentationOptions:
    """model_selection: 0 = general model (256x256), 1 = landscape model (256 wide x 144 high, faster).
    runtime: threads, model files, delegate (`RuntimeOptions`).
    """

    model_selection: int = 0
    num_threads: int | None = None  # deprecated: runtime.num_threads
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)

    def __post_init__(self) -> None:
        fold_num_threads_alias(self)
        if self.model_selection not in _MODELS:
            raise ValueError(f"model_selection must be 0 or 1, got {self.model_selection}")


class SelfieSegmentation:
    """Person mask of RGB uint8 images; stateless per call and thread-safe."""

    def __init__(self, options: SelfieSegmentationOptions | None = None, *, model_path: str | None = None) -> None:
        self.options = options or SelfieSegmentationOptions()
        name, self._w, self._h = _MODELS[self.options.model_selection]
        runtime = fold_legacy_options("SelfieSegmentation", self.options.runtime, _stacklevel=3, **{name: model_path})
        self.model = runtime.load(name)
        self._cropper = FullImageCropper(self._w, self._h, keep_aspect=False, border=BORDER_ZERO,
                                         value_range=(0.0, 1.0))

    def low_res_mask(self, image: np.ndarray) -> np.ndarray:
        """(h_t, w_t) float32 mask at the model's resolution (before resizing to the image)."""
        image = check_rgb_image(image)
        # Warped straight into the interpreter's input (sampling maps cached per image size);
        # the mask is copied out of the interpreter once, already reshaped.
        return self.model.run_filled(
            1, lambda ins: self._cropper.warp_into(image, ins[0][0]),
            lambda outs: outs[0].reshape(self._h, self._w).copy(),
        )

    def process(self, image: np.ndarray) -> SegmentationResult:
        low = self.low_res_mask(image)
        H, W = image.shape[:2]
        return SegmentationResult(cv2.resize(low, (W, H), interpolation=cv2.INTER_LINEAR))
