"""The people panel: who is in the video (thumbnails), who to mask, enrolling a person.

A scan runs `video_people` (apps.recognition) in a thread against the gallery. Named people can
be ticked; the mode says whether the ticked ones are the only ones masked or the ones left
visible, which is `anonymize --only/--except NAMES`. An unknown person is enrolled under a name
first (its embeddings from the video go into the gallery), then it can be picked. The modes need
the anonymizer's --only/--except; without them the panel says so and masks everyone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from facepipe.errors import CancelledError, FacepipeError
from facepipe.gui.settings import MODES
from facepipe.gui.worker import ThreadWorker

__all__ = ["PeoplePanel", "PeopleScanner", "selection_supported", "to_pixmap"]

MODE_LABELS = {"everyone": "Mask everyone", "only": "Mask only these", "except": "Mask all but these"}


def to_pixmap(rgb: np.ndarray) -> QPixmap:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QPixmap.fromImage(QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy())


def selection_supported() -> bool:
    """Whether `facepipe anonymize` has --only/--except (the people modes need them)."""
    from facepipe.gui.settings import anonymize_parser

    return "--only" in anonymize_parser()._option_string_actions


class PeopleScanner(ThreadWorker):
    """Runs `video_people` in its own thread: `progress(frame)`, then `done(people, gallery info)` or
    `failed(msg)`."""

    progress = Signal(int)
    done = Signal(object, object)
    failed = Signal(str)
    _start = Signal(str, str)

    def __init__(self) -> None:
        super().__init__("facepipe-people")
        self._start.connect(self._run)

    def start(self, video: str, gallery: str) -> None:
        self.cancel_event.clear()
        self._start.emit(video, gallery)

    @Slot(str, str)
    def _run(self, video: str, gallery: str) -> None:
        from facepipe.apps.recognition import FaceRecognizer
        from facepipe.apps.recognition.people import video_people

        def on_frame(index: int) -> None:
            if self.cancel_event.is_set():
                raise CancelledError(f"{video}: scan cancelled")
            if index % 10 == 0:
                self.progress.emit(index)

        try:
            with FaceRecognizer(gallery) as recognizer:
                self.done.emit(video_people(recognizer, video, on_frame=on_frame), recognizer.info)
        except CancelledError:
            return
        except FacepipeError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - shown in a dialog
            self.failed.emit(f"{video}: people scan failed ({type(exc).__name__}: {exc})")


class PeoplePanel(QWidget):
    """changed(mode, names, gallery) whenever the mode or the ticked people change."""

    changed = Signal(str, object, object)  # mode, names, gallery (None: the default one)
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.video: str | None = None
        self.gallery: str | None = None  # None: the default gallery (as `facepipe faces`)
        self.people: list = []
        self.info = None  # the gallery's embedding model, from the last scan (enrolling needs it)
        self.supported = selection_supported()
        self.mode = QComboBox()
        for m in MODES:
            self.mode.addItem(MODE_LABELS[m], m)
        self.mode.setEnabled(self.supported)
        if not self.supported:
            self.mode.setToolTip("needs `facepipe anonymize --only/--except` (not in this version)")
        self.scan_button = QPushButton("Find people")
        self.scan_button.setToolTip("Find the people in the video and name them from the gallery")
        self.enroll_button = QPushButton("Enroll…")
        self.enroll_button.setToolTip("Add the selected person to the gallery under a name")
        self.list = QListWidget()
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setIconSize(QSize(72, 72))
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.setMovement(QListWidget.Movement.Static)
        self.list.setMinimumHeight(120)
        self.status = QLabel("Open a video, then find the people in it.")
        self.status.setWordWrap(True)
        # The selective anonymizer decides whom to mask per track over the whole video (two passes),
        # which a one-frame preview cannot do: say so rather than preview a guess.
        self.note = QLabel("The preview masks everyone; the export masks as chosen here"
                           " (decided over the whole video in a first pass, as `anonymize --only/--except`).")
        self.note.setWordWrap(True)
        self.note.hide()
        self.bar = QProgressBar()
        self.bar.hide()
        top = QHBoxLayout()
        top.addWidget(self.scan_button)
        top.addWidget(self.enroll_button)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>People</b>"))
        layout.addLayout(top)
        layout.addWidget(self.mode)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addWidget(self.note)
        self.scanner = PeopleScanner()
        self.scanner.progress.connect(self._on_progress)
        self.scanner.done.connect(self._on_done)
        self.scanner.failed.connect(self._on_failed)
        self.scan_button.clicked.connect(self.scan)
        self.enroll_button.clicked.connect(lambda: self.enroll_selected())  # asks for the name
        self.mode.currentIndexChanged.connect(self._emit)
        self.list.itemChanged.connect(self._emit)
        self.set_video(None)

    def set_video(self, path: str | None, frame_count: int = 0) -> None:
        self.video, self.frame_count = path, frame_count
        self.list.clear()
        self.people = []
        self.scan_button.setEnabled(path is not None)
        self.enroll_button.setEnabled(False)
        self._emit()  # no one picked in a new file

    @Slot()
    def scan(self) -> None:
        if self.video is None:
            return
        from facepipe.apps.recognition import default_gallery_path

        self.scan_button.setEnabled(False)
        self.bar.setRange(0, max(self.frame_count, 0))
        self.bar.setValue(0)
        self.bar.show()
        self.status.setText("Finding people…")
        self.scanner.start(self.video, str(self.gallery or default_gallery_path()))

    @Slot(int)
    def _on_progress(self, index: int) -> None:
        self.bar.setValue(index)

    @Slot(object, object)
    def _on_done(self, people: list, info: object) -> None:
        self.info = info
        self.bar.hide()
        self.scan_button.setEnabled(self.video is not None)
        self.show_people(people)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.bar.hide()
        self.scan_button.setEnabled(self.video is not None)
        self.status.setText("People could not be found.")
        self.failed.emit(message)

    def show_people(self, people: list) -> None:
        keep = set(self.checked())
        self.people = people
        self.list.blockSignals(True)
        self.list.clear()
        for k, person in enumerate(people):
            label = person.name if person.known else f"unknown {k + 1}"
            item = QListWidgetItem(QIcon(to_pixmap(person.thumbnail)), f"{label}\n{person.frames} frames")
            item.setData(Qt.ItemDataRole.UserRole, k)
            if person.known:
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if person.name in keep else Qt.CheckState.Unchecked)
            else:
                item.setToolTip("Enroll this person under a name to pick them")
            self.list.addItem(item)
        self.list.blockSignals(False)
        known = sum(p.known for p in people)
        self.status.setText(f"{len(people)} people, {known} known." + (
            "" if self.supported else " Masking only some people needs --only/--except (not in this version):"
            " everyone is masked."))
        self.enroll_button.setEnabled(bool(people))
        self._emit()

    def checked(self) -> list[str]:
        names = []
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.checkState() == Qt.CheckState.Checked:
                names.append(self.people[item.data(Qt.ItemDataRole.UserRole)].name)
        return names

    def current_mode(self) -> str:
        return self.mode.currentData() if self.supported else "everyone"

    @Slot()
    def _emit(self, *_args: object) -> None:
        names = tuple(self.checked())
        self.note.setVisible(self.current_mode() != "everyone" and bool(names))
        self.changed.emit(self.current_mode(), names, self.gallery)

    def enroll_selected(self, name: str | None = None) -> None:
        """Enroll the selected person (its embeddings from this video) under `name` (asked if None)."""
        item = self.list.currentItem()
        if item is None:
            self.status.setText("Select a person to enroll.")
            return
        person = self.people[item.data(Qt.ItemDataRole.UserRole)]
        if name is None:
            name, ok = QInputDialog.getText(self, "Enroll person", "Name:")
            if not ok or not name.strip():
                return
        if not len(person.embeddings) or self.info is None:
            self.failed.emit(f"{self.video}: no usable view of this face to enroll")
            return
        from dataclasses import replace

        from facepipe.apps.recognition import default_gallery_path, open_gallery

        name = name.strip()
        try:
            with open_gallery(self.gallery or default_gallery_path(), self.info) as store:
                store.add(name, person.embeddings, [f"{Path(self.video).name} tracks {list(person.track_ids)}"]
                          * len(person.embeddings))
        except FacepipeError as exc:
            self.failed.emit(str(exc))
            return
        self.people[item.data(Qt.ItemDataRole.UserRole)] = replace(person, name=name)
        self.show_people(self.people)
        self.status.setText(f"Enrolled {name!r} from {len(person.embeddings)} views of the video.")

    def shutdown(self) -> None:
        self.scanner.stop()
