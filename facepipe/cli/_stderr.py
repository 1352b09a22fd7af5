"""Keeps native runtime chatter off the terminal.

LiteRT's C++ code prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." on file
descriptor 2 for every interpreter it makes; no setting turns it off, and Python's logging
never sees it. The command line owns the process, so while a command runs it routes fd 2
through a pipe and a thread that passes every line on except those (all of them with -vv).
Library code never does this: it would change the process's stderr under its caller.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator

__all__ = ["filtered_native_stderr"]

_NATIVE_CHATTER = re.compile(rb"^INFO: (Created TensorFlow Lite|Initialized TensorFlow Lite)")


@contextlib.contextmanager
def filtered_native_stderr(enabled: bool = True) -> Iterator[None]:
    if not enabled:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        read_end, write_end = os.pipe()
    except (OSError, ValueError, AttributeError):  # no real fd 2 (embedded interpreters)
        yield
        return

    def forward() -> None:
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            pending = b""
            while chunk := pipe.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                out = b"".join(line + b"\n" for line in lines if not _NATIVE_CHATTER.match(line))
                if out:
                    os.write(saved, out)
            if pending and not _NATIVE_CHATTER.match(pending):
                os.write(saved, pending)

    thread = threading.Thread(target=forward, name="facepipe-stderr", daemon=True)
    thread.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last writer closes: the thread drains it and ends
        thread.join(timeout=5)
        os.close(saved)
