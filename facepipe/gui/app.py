"""Starting the desktop app."""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["run"]


def run(paths: Sequence[str] = (), camera: int | None = None, argv: Sequence[str] | None = None) -> int:
    """Show the main window (opening `paths[0]` or `camera`) and run Qt's event loop until it closes."""
    from pathlib import Path

    from PySide6.QtWidgets import QApplication

    from facepipe.gui.window import MainWindow

    app = QApplication.instance() or QApplication(list(argv if argv is not None else sys.argv[:1]))
    app.setApplicationName("facepipe")
    app.setOrganizationName("facepipe")
    window = MainWindow()
    window.show()
    if camera is not None:
        window.open_camera(camera)
    elif paths:
        first = paths[0]
        window.open_folder(first) if Path(first).is_dir() else window.open_path(first)
    return int(app.exec())
