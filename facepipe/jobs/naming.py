"""Output names that never collide.

Two inputs whose outputs land in one folder under one stem would overwrite each other's
results: an iPhone Live Photo is `IMG_1.JPG` + `IMG_1.MOV`, and a folder may hold `x.gif`
and `x.png`. `output_stems` gives each such input the stem `NAME_EXT` (`IMG_1_JPG`,
`IMG_1_MOV`); every other input keeps its own stem.

    stems = output_stems(files)                           # outputs next to each input
    json_path = path.parent / f"{stems[path]}.json"
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path

__all__ = ["output_stems"]


def output_stems(inputs: Iterable[Path], folder_of: Callable[[Path], Hashable] = lambda p: p.parent
                 ) -> dict[Path, str]:
    """{input: stem for its outputs}. folder_of(input): where its outputs go (the folder, or the
    folder and the output's extension when only same-extension names can collide).

    Stems are compared case-insensitively (IMG_1.JPG and img_1.mov collide on macOS and Windows).
    """
    groups: dict[tuple[Hashable, str], list[Path]] = defaultdict(list)
    paths = list(dict.fromkeys(inputs))
    for p in paths:
        groups[(folder_of(p), p.stem.lower())].append(p)
    stems = {}
    for p in paths:
        shared = len(groups[(folder_of(p), p.stem.lower())]) > 1
        stems[p] = f"{p.stem}_{p.suffix.lstrip('.')}" if shared and p.suffix else p.stem
    return stems
