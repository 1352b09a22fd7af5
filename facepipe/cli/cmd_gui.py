"""`facepipe gui`: the desktop app for the anonymizer (needs the optional extra `facepipe[gui]`)."""

from __future__ import annotations

import argparse
import importlib.util

from facepipe.cli._help import HelpFormatter
from facepipe.cli._options import add_camera
from facepipe.errors import FacepipeError

INSTALL_HINT = "facepipe gui needs PySide6: pip install 'facepipe[gui]'"


class MissingExtraError(FacepipeError):
    """An optional extra the command needs is not installed."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "gui",
        help="desktop app: preview, tune and export anonymized photos and videos",
        description="Open the anonymizer's desktop window (PySide6; pip install 'facepipe[gui]'): open a photo, "
                    "video, folder or camera, preview the redaction, tune it, pick people, export with audio.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="photo, video or folder to open")
    add_camera(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("PySide6") is None:
        raise MissingExtraError(INSTALL_HINT)
    from facepipe.gui.app import run as run_app

    return run_app(args.inputs, camera=args.camera)
