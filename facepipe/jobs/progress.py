"""One progress bar for every job: tqdm when installed and stderr is a terminal, otherwise a
log line every few seconds (INFO), or nothing when disabled.

    with Progress(total=frames, desc=path.name, enabled=show) as bar:
        for frame in frames:
            ...
            bar.update()
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

log = logging.getLogger("facepipe.progress")

__all__ = ["Progress"]


class Progress:
    """Counts processed units (frames, files); `enabled=False` makes it silent.

    on_update: called as on_update(count, total) after every update, also when disabled (a GUI's
        progress bar); an exception it raises (e.g. `facepipe.errors.CancelledError`) stops the job.
    """

    def __init__(self, total: int | None, desc: str, *, enabled: bool = True, unit: str = "frame",
                 on_update: Callable[[int, int | None], None] | None = None) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self._on_update = on_update
        self.count = 0
        self._start = time.perf_counter()
        self._last_log = self._start
        self._bar = None
        self._enabled = enabled
        if enabled and sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=False, file=sys.stderr)

    def update(self, n: int = 1) -> None:
        self.count += n
        if self._on_update is not None:
            self._on_update(self.count, self.total)
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.perf_counter()
        if self._enabled and now - self._last_log >= 5.0:
            self._last_log = now
            rate = self.count / max(now - self._start, 1e-9)
            eta = f", ETA {(self.total - self.count) / rate:.0f} s" if self.total and rate > 0 else ""
            of = f"/{self.total}" if self.total else ""
            log.info("%s: %d%s %ss, %.1f %s/s%s", self.desc, self.count, of, self.unit, rate, self.unit, eta)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
