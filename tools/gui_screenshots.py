"""Screenshots of `facepipe gui`'s main states for the README (docs/gui/*.png).

    QT_QPA_PLATFORM=offscreen python tools/gui_screenshots.py [--out docs/gui]

Drives the real window on a shared clip: the redacted preview, mosaic with box regions, the
before view, the people panel after a scan, an export in progress. The gallery and settings are
temporary files (the user's own are not touched).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "gui")
    ap.add_argument("--video", default=None, help="default: shared fr_short_hamilton_clip.mp4")
    ap.add_argument("--frame", type=int, default=38)
    args = ap.parse_args()
    shared = Path(os.environ.get("FACEPIPE_SHARED", REPO.parent / "shared"))
    video = args.video or str(shared / "testdata/videos/fr_short_hamilton_clip.mp4")
    args.out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from facepipe.gui.window import MainWindow

    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="facepipe-shots-"))
    window = MainWindow(QSettings(str(tmp / "gui.ini"), QSettings.Format.IniFormat))
    window.people.gallery = str(tmp / "gallery.sqlite3")
    window.resize(1280, 760)
    window.show()

    def until(done, timeout: float = 600.0) -> None:
        end = time.perf_counter() + timeout
        while not done():
            app.processEvents()
            if time.perf_counter() > end:
                raise RuntimeError(f"timed out ({window.last_error})")
            time.sleep(0.005)

    def preview() -> None:
        until(lambda: window.last_frame is not None and window.last_frame.serial == window.serial
              and not window.waiting)
        app.processEvents()

    def shot(name: str) -> None:
        app.processEvents()
        window.grab().save(str(args.out / f"{name}.png"))
        print("wrote", args.out / f"{name}.png")

    window.open_path(video)
    preview()
    window.slider.setValue(args.frame)
    preview()
    shot("preview")
    window.controls.method.setCurrentText("mosaic")
    window.controls.mosaic.setValue(20)
    window.controls.shape.setCurrentText("box")
    preview()
    shot("mosaic")
    window.before_button.setChecked(True)
    shot("before")
    window.before_button.setChecked(False)
    window.people.scan()
    until(lambda: window.people.people and window.people.bar.isHidden())
    window.people.list.setCurrentRow(0)
    shot("people")
    out = tmp / "export.mp4"
    window.export_to(str(out))
    until(lambda: window.export_bar.value() >= window.export_bar.maximum() // 3)
    shot("export")
    window.cancel_export()
    until(lambda: not window.exporter.busy)
    window.close()


if __name__ == "__main__":
    main()
