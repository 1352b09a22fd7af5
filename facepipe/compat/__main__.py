"""`python -m facepipe.compat script.py [args]`: run a MediaPipe program unchanged on facepipe.

Also `python -m facepipe.compat -m package.module [args]`.
"""

from __future__ import annotations

import os
import runpy
import sys

from facepipe.compat._alias import install_mediapipe_alias

_USAGE = "usage: python -m facepipe.compat SCRIPT.py [ARGS...]  |  python -m facepipe.compat -m MODULE [ARGS...]"


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        (sys.stdout if argv else sys.stderr).write(_USAGE + "\n")
        return 2 if not argv else 0
    install_mediapipe_alias()
    if argv[0] == "-m":
        if len(argv) < 2:
            sys.stderr.write(_USAGE + "\n")
            return 2
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return 0
    script = argv[0]
    sys.argv = list(argv)
    sys.path[0] = os.path.dirname(os.path.abspath(script))  # as `python script.py` does
    try:
        runpy.run_path(script, run_name="__main__")
    except FileNotFoundError as exc:
        if exc.filename == script:
            sys.stderr.write(f"facepipe.compat: cannot run {script}: no such file\n")
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
