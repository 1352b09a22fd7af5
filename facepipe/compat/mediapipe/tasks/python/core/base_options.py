"""BaseOptions of the Tasks API: where the model is (path or bytes). Runs on the CPU."""

from __future__ import annotations

import dataclasses
import enum


@dataclasses.dataclass
class BaseOptions:
    class Delegate(enum.Enum):
        CPU = 0
        GPU = 1

    model_asset_path: str | None = None
    model_asset_buffer: bytes | None = None
    delegate: BaseOptions.Delegate | None = None
