"""The generation settings: seed (with "new seed"), steps, guidance, style reference, bundle, device."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from muvi_plugin import limits

# The defaults of the shipped bundles (manifest `defaults`); the form starts from them.
DEFAULT_STEPS = 25
DEFAULT_GUIDANCE = 4.0
MAX_SEED = 2**31 - 1
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Values:
    """What the form says, ready for a `ScoreRequest` and `load_bundle`."""

    seed: int
    steps: int
    guidance: float
    style: Path | None
    bundle: Path | None
    device: str


class SettingsBox(QGroupBox):
    """The settings form. `values()` reads it; the fields are public for tests and embedding hosts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Settings", parent)
        form = QFormLayout(self)

        self.seed = QSpinBox()
        self.seed.setRange(0, MAX_SEED)
        self.new_seed = QPushButton("New seed")
        self.new_seed.setToolTip("Pick a random seed: the same seed gives the same music")
        self.new_seed.clicked.connect(self.roll_seed)
        form.addRow("Seed", _row(self.seed, self.new_seed))

        self.steps = QSpinBox()
        self.steps.setRange(*limits.STEPS)  # the range every front end accepts
        self.steps.setValue(DEFAULT_STEPS)
        self.steps.setToolTip("Sampler steps: more is slower and usually cleaner")
        form.addRow("Steps", self.steps)

        self.guidance = QDoubleSpinBox()
        self.guidance.setRange(*limits.GUIDANCE)
        self.guidance.setSingleStep(0.5)
        self.guidance.setValue(DEFAULT_GUIDANCE)
        self.guidance.setToolTip("Classifier-free guidance: how closely the music follows the picture")
        form.addRow("Guidance", self.guidance)

        self.style_reference = _path_row(
            form,
            "Style",
            placeholder="none",
            tip="Reference audio whose style the music continues",
            browse_tip="Choose a style reference audio file",
            browse=self._browse_style,
        )
        self.bundle = _path_row(
            form,
            "Bundle",
            placeholder="embedded default",
            tip="A model bundle folder or .zip; empty for the one built into muvi",
            browse_tip="Choose a bundle folder",
            browse=self._browse_bundle,
        )

        self.device = QComboBox()
        self.device.addItems(["Auto", "CPU", "CUDA"])
        self.device.setToolTip("Auto uses CUDA when it works, else the CPU")
        form.addRow("Device", self.device)

    def roll_seed(self) -> None:
        self.seed.setValue(random.randint(0, MAX_SEED))

    def values(self) -> Values:
        style, bundle = self.style_reference.text().strip(), self.bundle.text().strip()
        return Values(
            seed=self.seed.value(),
            steps=self.steps.value(),
            guidance=self.guidance.value(),
            style=Path(style) if style else None,
            bundle=Path(bundle) if bundle else None,
            device=DEVICES[self.device.currentIndex()],
        )

    def _browse_style(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Style reference", "", "Audio (*.wav *.flac *.mp3 *.ogg *.m4a);;All files (*)"
        )
        if path:
            self.style_reference.setText(path)
            self.style_reference.setToolTip(path)

    def _browse_bundle(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Model bundle folder")
        if path:
            self.bundle.setText(path)
            self.bundle.setToolTip(path)


def _path_row(form, label: str, *, placeholder: str, tip: str, browse_tip: str, browse) -> QLineEdit:
    """A path field with a browse button, added to `form` under `label`; returns the field."""
    field = QLineEdit()
    field.setPlaceholderText(placeholder)
    field.setToolTip(tip)
    button = QPushButton("…")
    button.setToolTip(browse_tip)
    button.clicked.connect(browse)
    form.addRow(label, _row(field, button))
    return field


def _row(*widgets: QWidget) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for i, widget in enumerate(widgets):
        if isinstance(widget, QPushButton) and widget.text() == "…":
            widget.setFixedWidth(32)  # a browse button needs no more; the path field gets the room
        layout.addWidget(widget, 1 if i == 0 else 0)
    return row
