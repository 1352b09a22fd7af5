"""Output helpers shared by the face CLI commands: format choice and atomic writes."""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

from facepipe._fsutil import atomic_write, refuse_overwrite
from facepipe.errors import InputError, ProcessingError, UsageError

log = logging.getLogger(__name__)

FORMATS = ("json", "csv", "npz")


def add_output_arguments(parser: argparse.ArgumentParser, formats: tuple[str, ...] = FORMATS) -> None:
    """The -o/--output and -f/--format options every data-writing command shares."""
    parser.add_argument("-o", "--output", type=Path, default=None, help="output file (default: standard output)")
    parser.add_argument("-f", "--format", choices=formats, default=None,
                        help="output format (default: from the output's extension, else json)")


def output_format(fmt: str | None, output: Path | None, formats: tuple[str, ...] = FORMATS) -> str:
    """--format if given, else from the output's extension (one of the command's `formats`), else json."""
    if fmt:
        return fmt
    if output is not None and output.suffix.lower().lstrip(".") in formats:
        return output.suffix.lower().lstrip(".")
    return "json"


def check_output(output: Path | None, inputs: list[Path], fmt: str) -> None:
    """Refuse to overwrite an input, binary output on a terminal, or a missing output folder."""
    if output is None:
        if fmt == "npz":
            raise UsageError("--format npz needs an output file (-o FILE.npz)")
        return
    refuse_overwrite(output, *inputs)
    if not output.parent.is_dir():
        raise InputError(f"{output}: output folder {output.parent} does not exist")


def json_text(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":")) + "\n"


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def write_output(output: Path | None, data: str | bytes) -> None:
    """Standard output, or the file written atomically (temporary file, then rename)."""
    if output is None:
        sys.stdout.write(data if isinstance(data, str) else data.decode("utf-8"))
        return
    try:
        with atomic_write(output) as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
    except OSError as exc:
        raise ProcessingError(f"{output}: cannot write ({exc.strerror or exc}); nothing was written") from exc
    log.info("wrote %s", output)
