"""Running the `facepipe` command line from tests: in this process (fast), or in a child process
when a crash or a signal must not take the test run with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from facepipe.cli.main import main


def cli(argv: list[str], capsys, caplog) -> tuple[int, str]:
    """main() in this process: (exit status, everything written to stderr or logged)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    text = capsys.readouterr().err + caplog.text
    caplog.clear()
    return code, text


def run_cli(*args: str | Path, cwd: Path | None = None, env: dict | None = None, timeout: float = 300
            ) -> subprocess.CompletedProcess:
    """The CLI in a child process: a crash (signal) shows as a negative return code."""
    return subprocess.run([sys.executable, "-m", "facepipe.cli.main", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def popen_cli(*args: str | Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "facepipe.cli.main", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)
