"""The main window: open, preview, tune, pick people, export.

Everything slow happens in worker threads (preview, export, people scan); the window only sends
requests and shows answers. Errors appear in a dialog with the line `facepipe anonymize` would
print for them.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from facepipe.gui import settings as store
from facepipe.gui.controls import ControlsPanel
from facepipe.gui.export import ExportProgress, ExportWorker, eta_text
from facepipe.gui.people import PeoplePanel, to_pixmap
from facepipe.gui.preview import PreviewFrame, PreviewWorker

__all__ = ["MainWindow"]



def _media_filter() -> str:
    """The file dialog's filter: every extension `anonymize` reads."""
    from facepipe.io.image import READABLE_EXTENSIONS
    from facepipe.io.video import VIDEO_EXTENSIONS

    patterns = " ".join(f"*{e}" for e in sorted({*READABLE_EXTENSIONS, *VIDEO_EXTENSIONS}))
    return f"Photos and videos ({patterns});;All files (*)"


class MainWindow(QMainWindow):
    """qsettings: where settings and recent files are kept (default: the user's facepipe settings)."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("facepipe — anonymize")
        self.setAcceptDrops(True)
        self.qsettings = qsettings if qsettings is not None else QSettings("facepipe", "facepipe-gui")
        self.path: str | None = None
        self.engine = None
        self.index = 0
        self.last_frame: PreviewFrame | None = None
        self.waiting = False  # a preview request is in flight
        self.serial = 0  # the newest preview request
        self.last_error: str | None = None

        self.preview = PreviewWorker()
        self.preview.ready.connect(self._on_preview)
        self.preview.raw.connect(self._on_raw)
        self.last_raw = None  # the newest request's picture, shown until its redaction is ready
        self.preview.failed.connect(self.show_error)
        self.preview.opened.connect(self._on_opened)
        self.exporter = ExportWorker()
        self.exporter.progress.connect(self._on_export_progress)
        self.exporter.finished.connect(self._on_export_done)
        self.exporter.cancelled.connect(self._on_export_cancelled)
        self.exporter.failed.connect(self._on_export_failed)

        self.controls = ControlsPanel(store.load(self.qsettings))
        self.controls.changed.connect(self._on_settings)
        self.people = PeoplePanel()
        self.people.changed.connect(self.controls.set_people)
        self.people.failed.connect(self.show_error)
        self._build_view()
        self._build_menus()
        self.play_timer = QTimer(self)
        self.play_timer.timeout.connect(self._next_frame)
        self.error_box = QMessageBox(QMessageBox.Icon.Critical, "facepipe", "", parent=self)
        self.resize(1180, 720)
        self._set_media_enabled(False)

    # -- layout ------------------------------------------------------------------------------------
    def _build_view(self) -> None:
        self.view = QLabel("Open a photo or video (Ctrl+O), or drop one here.")
        self.view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.view.setMinimumSize(480, 320)
        self.view.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.view.setStyleSheet("background: #202020; color: #bbbbbb;")
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self.set_playing)
        self.before_button = QPushButton("Original")
        self.before_button.setCheckable(True)
        self.before_button.setToolTip("Before/after: show the frame as it is, unredacted (B)")
        self.before_button.toggled.connect(lambda _on: self._show())
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.valueChanged.connect(self.seek)
        self.frame_label = QLabel("")
        self.frame_label.setMinimumWidth(80)
        transport = QHBoxLayout()
        for w in (self.play_button, self.before_button, self.slider, self.frame_label):
            transport.addWidget(w)
        transport.setStretchFactor(self.slider, 1)
        self.export_bar = QProgressBar()
        self.export_label = QLabel("")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_export)
        export_row = QHBoxLayout()
        export_row.addWidget(self.export_bar, 1)
        export_row.addWidget(self.export_label)
        export_row.addWidget(self.cancel_button)
        self._show_export_row(False)
        self.files = QListWidget()  # the files of an opened folder
        self.files.currentTextChanged.connect(lambda name: name and self.open_path(str(Path(self._folder) / name)))
        self.files.hide()
        self._folder = ""
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.addWidget(self.view, 1)
        lv.addLayout(transport)
        lv.addLayout(export_row)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.addWidget(self.files)
        rv.addWidget(self.controls)
        rv.addWidget(self.people, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 1)
        split.setSizes([820, 340])
        self.setCentralWidget(split)
        self.statusBar().showMessage("Ready")

    def _build_menus(self) -> None:
        def action(menu, text: str, slot, shortcut=None) -> QAction:
            a = QAction(text, self)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            a.triggered.connect(slot)
            menu.addAction(a)
            self.addAction(a)  # shortcuts work without the menu bar too
            return a

        file_menu = self.menuBar().addMenu("&File")
        action(file_menu, "&Open…", self.open_dialog, QKeySequence.StandardKey.Open)
        action(file_menu, "Open &folder…", self.open_folder_dialog, "Ctrl+Shift+O")
        action(file_menu, "Open &camera…", self.open_camera_dialog, "Ctrl+K")
        self.recent_menu = file_menu.addMenu("&Recent files")
        self._fill_recent()
        file_menu.addSeparator()
        self.export_action = action(file_menu, "&Export…", self.export_dialog, "Ctrl+E")
        action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        view_menu = self.menuBar().addMenu("&View")
        action(view_menu, "Play / pause", self.play_button.toggle, "Space")
        action(view_menu, "Before / after", self.before_button.toggle, "B")
        action(view_menu, "Next frame", lambda: self.step(1), "Right")
        action(view_menu, "Previous frame", lambda: self.step(-1), "Left")
        action(view_menu, "Cancel export", self.cancel_export, "Escape")

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in store.load_recent(self.qsettings):
            a = self.recent_menu.addAction(path)
            a.triggered.connect(lambda _c=False, p=path: self.open_path(p))
        self.recent_menu.setEnabled(not self.recent_menu.isEmpty())

    def _set_media_enabled(self, on: bool) -> None:
        video = on and self.engine is not None and self.engine.frame_count > 1
        for w in (self.play_button, self.slider):
            w.setEnabled(video)
        self.before_button.setEnabled(on)
        self.export_action.setEnabled(on and not getattr(self.engine, "is_camera", False))

    def _show_export_row(self, on: bool) -> None:
        for w in (self.export_bar, self.export_label, self.cancel_button):
            w.setVisible(on)

    # -- opening -----------------------------------------------------------------------------------
    @Slot()
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open photo or video", "", _media_filter())
        if path:
            self.open_path(path)

    @Slot()
    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open folder")
        if folder:
            self.open_folder(folder)

    @Slot()
    def open_camera_dialog(self) -> None:
        device, ok = QInputDialog.getInt(self, "Open camera", "Camera number:", 0, 0, 63)
        if ok:
            self.open_camera(device)

    def open_folder(self, folder: str) -> None:
        """List the folder's photos and videos (as `anonymize DIR` would take them); open the first."""
        from facepipe.apps.anonymize.files import is_our_output
        from facepipe.errors import FacepipeError
        from facepipe.jobs import collect_inputs

        try:
            jobs = collect_inputs([folder], skip=is_our_output)
        except FacepipeError as exc:
            self.show_error(str(exc))
            return
        if not jobs:
            self.show_error(f"{folder}: no photos or videos in this folder")
            return
        self._folder = folder
        self.files.blockSignals(True)
        self.files.clear()
        self.files.addItems([str(j.path.relative_to(folder)) for j in jobs])
        self.files.blockSignals(False)
        self.files.show()
        self.files.setCurrentRow(0)
        self.open_path(str(jobs[0].path))

    def open_path(self, path: str) -> None:
        self.set_playing(False)
        self.path = path
        self.last_frame = None
        self.statusBar().showMessage(f"Opening {path}…")
        self.preview.open(path)

    def open_camera(self, device: int) -> None:
        self.set_playing(False)
        self.path = None
        self.preview.open(f"camera:{device}")

    @Slot(object)
    def _on_opened(self, engine) -> None:
        self.engine = engine
        self.index = 0
        if not engine.is_camera:
            store.remember_recent(self.qsettings, str(engine.path))
            self._fill_recent()
            self.setWindowTitle(f"facepipe — {Path(engine.path).name}")
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(engine.frame_count - 1, 0))
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.people.set_video(str(engine.path) if engine.is_video and not engine.is_camera else None,
                              engine.frame_count)
        self._set_media_enabled(True)
        kind = "camera" if engine.is_camera else ("video" if engine.is_video else "photo")
        self.statusBar().showMessage(f"{engine.path}: {kind}"
                                     + (f", {engine.frame_count} frames" if engine.is_video else ""))
        if engine.is_camera:
            self.set_playing(True)
        else:
            self.request()

    # -- preview -----------------------------------------------------------------------------------
    def request(self) -> None:
        if self.engine is None:
            return
        self.waiting = True
        self.serial = self.preview.submit(self.index, self.controls.settings())

    @Slot(int)
    def seek(self, index: int) -> None:
        self.index = index
        self.request()

    def step(self, delta: int) -> None:
        if self.engine is not None and self.engine.frame_count > 1:
            self.slider.setValue(min(max(self.index + delta, 0), self.engine.frame_count - 1))

    @Slot(bool)
    def set_playing(self, on: bool) -> None:
        if self.play_button.isChecked() != on:
            self.play_button.setChecked(on)  # re-enters with the same value
            return
        self.play_button.setText("Pause" if on else "Play")
        if on and self.engine is not None:
            self.play_timer.start(max(1, int(1000 / (self.engine.fps or 25))))
        else:
            self.play_timer.stop()

    @Slot()
    def _next_frame(self) -> None:
        if self.waiting or self.engine is None:
            return  # the previous frame is still being computed: skip, never pile up requests
        if self.engine.is_camera:
            self.request()
        elif self.index + 1 >= self.engine.frame_count:
            self.set_playing(False)
        else:
            self.slider.setValue(self.index + 1)

    @Slot(object)
    def _on_preview(self, frame: PreviewFrame) -> None:
        self.waiting = frame.serial != self.serial  # older answers show while the newest is computed
        self.last_frame = frame
        if self.last_raw is not None and self.last_raw.serial > frame.serial:
            return  # the newest request's picture stays until its own redaction comes
        n = self.engine.frame_count if self.engine is not None else 0
        self.frame_label.setText(f"{frame.index + 1}/{n}" if n > 1 else "")
        self.statusBar().showMessage(f"{frame.faces} faces · preview {frame.seconds * 1000:.0f} ms")
        self._show()

    @Slot(object)
    def _on_raw(self, raw) -> None:
        """The picture of the newest request before its faces are found: shown at once (a seek never
        waits for detection), marked as not redacted yet in the status bar."""
        if raw.serial != self.serial:
            return
        self.last_raw = raw
        n = self.engine.frame_count if self.engine is not None else 0
        self.frame_label.setText(f"{raw.index + 1}/{n}" if n > 1 else "")
        self.statusBar().showMessage(f"Frame {raw.index + 1}: finding faces… (not redacted yet)")
        self._show_image(raw.original)

    def _show(self) -> None:
        if self.last_frame is None:
            return
        self._show_image(self.last_frame.original if self.before_button.isChecked() else self.last_frame.redacted)

    def _show_image(self, image) -> None:
        pix: QPixmap = to_pixmap(image)
        self.view.setPixmap(pix.scaled(self.view.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                       Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._show()

    @Slot(object)
    def _on_settings(self, settings) -> None:
        store.save(self.qsettings, settings)
        self.request()

    # -- export ------------------------------------------------------------------------------------
    @Slot()
    def export_dialog(self) -> None:
        if self.engine is None or self.exporter.busy:
            return
        from facepipe.apps.anonymize.files import default_output_path

        suggested = str(default_output_path(Path(self.engine.path)))
        dst, _ = QFileDialog.getSaveFileName(self, "Export anonymized file", suggested)
        if dst:
            self.export_to(dst)

    def export_to(self, dst: str) -> None:
        if self.engine is None or self.exporter.busy:
            return
        self.export_bar.setRange(0, max(self.engine.frame_count, 1))
        self.export_bar.setValue(0)
        self.export_label.setText("starting…")
        self._show_export_row(True)
        self.export_action.setEnabled(False)
        self.exporter.start(str(self.engine.path), dst, self.controls.settings())

    @Slot()
    def cancel_export(self) -> None:
        if self.exporter.busy:
            self.export_label.setText("cancelling…")
            self.exporter.cancel()

    @Slot(object)
    def _on_export_progress(self, p: ExportProgress) -> None:
        self.export_bar.setRange(0, p.total or 0)  # no total: a busy bar
        self.export_bar.setValue(p.done)
        self.export_label.setText(eta_text(p))

    def _export_over(self, message: str) -> None:
        self._show_export_row(False)
        self.export_action.setEnabled(True)
        self.statusBar().showMessage(message)

    @Slot(str)
    def _on_export_done(self, dst: str) -> None:
        self._export_over(f"Exported {dst}")

    @Slot()
    def _on_export_cancelled(self) -> None:
        self._export_over("Export cancelled; nothing was written")

    @Slot(str)
    def _on_export_failed(self, message: str) -> None:
        self._export_over("Export failed")
        self.show_error(message)

    # -- errors, drops, closing --------------------------------------------------------------------
    @Slot(str)
    def show_error(self, message: str) -> None:
        """A dialog with the message (not blocking the event loop)."""
        self.last_error = message
        self.waiting = False
        self.statusBar().showMessage(message)
        self.error_box.setText(message)
        self.error_box.open()

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt's name
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            event.acceptProposedAction()
            self.open_folder(urls[0]) if Path(urls[0]).is_dir() else self.open_path(urls[0])

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.play_timer.stop()
        store.save(self.qsettings, self.controls.settings())
        self.qsettings.sync()
        self.exporter.stop()
        self.people.shutdown()
        self.preview.stop()
        super().closeEvent(event)
