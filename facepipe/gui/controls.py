"""The redaction controls: method, mosaic level, blur strength, shape, mask scale, threshold, audio.

`ControlsPanel.settings()` is the `GuiSettings` the controls show; `changed` fires on any edit
(the window asks for a new preview at once).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QSlider,
    QWidget,
)

from facepipe.gui.settings import METHODS, SHAPES, GuiSettings

__all__ = ["ControlsPanel"]

_DEFAULT = "default"


class ControlsPanel(QWidget):
    changed = Signal(object)  # GuiSettings

    def __init__(self, settings: GuiSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._people: tuple[str, tuple[str, ...], str | None] = (settings.mode, settings.people, settings.gallery)
        self.method = QComboBox()
        self.method.addItems(METHODS)
        self.method.setToolTip("How faces are hidden (anonymize --method)")
        self.mosaic = QSlider(Qt.Orientation.Horizontal)
        self.mosaic.setRange(2, 60)
        self.mosaic.setToolTip("Mosaic level: block size in % of the face size (anonymize --mosaic)")
        self.blur = QDoubleSpinBox()
        self.blur.setRange(0.25, 4.0)
        self.blur.setSingleStep(0.25)
        self.blur.setToolTip("Blur strength (anonymize --blur)")
        self.shape = QComboBox()
        self.shape.addItems(SHAPES)
        self.shape.setToolTip("Region shape (anonymize --shape)")
        self.mask_scale = QDoubleSpinBox()
        self.mask_scale.setRange(0.45, 5.0)  # the lowest value means the shape's default
        self.mask_scale.setSingleStep(0.1)
        self.mask_scale.setSpecialValueText(_DEFAULT)
        self.mask_scale.setToolTip("Region size relative to the face (anonymize --mask-scale)")
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 1.0)  # 0 means the anonymizer's defaults
        self.threshold.setSingleStep(0.05)
        self.threshold.setSpecialValueText(_DEFAULT)
        self.threshold.setToolTip("Detection score threshold (anonymize --min-detection-confidence);"
                                  " lower finds more faces")
        self.keep_audio = QCheckBox("Keep audio")
        form = QFormLayout(self)
        form.addRow("Method", self.method)
        form.addRow("Mosaic level", self.mosaic)
        form.addRow("Blur", self.blur)
        form.addRow("Shape", self.shape)
        form.addRow("Mask scale", self.mask_scale)
        form.addRow("Threshold", self.threshold)
        form.addRow(self.keep_audio)
        self.set_settings(settings)
        for signal in (self.method.currentIndexChanged, self.shape.currentIndexChanged, self.mosaic.valueChanged,
                       self.blur.valueChanged, self.mask_scale.valueChanged, self.threshold.valueChanged,
                       self.keep_audio.toggled):
            signal.connect(self._on_edit)

    def set_settings(self, s: GuiSettings) -> None:
        widgets = (self.method, self.shape, self.mosaic, self.blur, self.mask_scale, self.threshold, self.keep_audio)
        for w in widgets:
            w.blockSignals(True)
        self.method.setCurrentText(s.method)
        self.shape.setCurrentText(s.shape)
        self.mosaic.setValue(s.mosaic_level)
        self.blur.setValue(s.blur)
        self.mask_scale.setValue(self.mask_scale.minimum() if s.mask_scale is None else s.mask_scale)
        self.threshold.setValue(0.0 if s.threshold is None else s.threshold)
        self.keep_audio.setChecked(s.keep_audio)
        self._people = (s.mode, s.people, s.gallery)
        for w in widgets:
            w.blockSignals(False)
        self._enable()

    def set_people(self, mode: str, people: tuple[str, ...], gallery: str | None = None) -> None:
        self._people = (mode, tuple(people), gallery)
        self.changed.emit(self.settings())

    def settings(self) -> GuiSettings:
        scale = self.mask_scale.value()
        threshold = self.threshold.value()
        base = GuiSettings(
            method=self.method.currentText(),
            shape=self.shape.currentText(),
            mask_scale=None if scale <= self.mask_scale.minimum() else round(scale, 2),
            blur=round(self.blur.value(), 2),
            threshold=None if threshold <= 0 else round(threshold, 2),
            keep_audio=self.keep_audio.isChecked(),
            mode=self._people[0],
            people=self._people[1],
            gallery=self._people[2],
        )
        return base.with_mosaic_level(self.mosaic.value())

    def _enable(self) -> None:
        method = self.method.currentText()
        self.mosaic.setEnabled(method == "mosaic")
        self.blur.setEnabled(method == "blur")

    @Slot()
    def _on_edit(self, *_args: object) -> None:
        self._enable()
        self.changed.emit(self.settings())
