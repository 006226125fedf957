"""Small dialogs: settings (device, cache budget, model folders, output folder)
and the shortcut help overlay."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from nodegraph.run_options import DEFAULT_OUTPUT_DIR

from .settings import Settings

EXTRA_SHORTCUTS = [
    ("Double-click / Tab", "Quick-add a node"),
    ("Middle-drag / Space+drag", "Pan"),
    ("Wheel", "Zoom to cursor"),
    ("Drag from a port", "Wire (drop on empty canvas to add a connected node)"),
    ("Drag from a linked input", "Move or remove that link"),
    ("Double-click a link", "Insert a reroute point"),
    ("Ctrl+click / drag on empty canvas", "Add to selection / rubber-band select"),
    ("Drag on a number", "Change it (arrows step it; click to type)"),
]


class SettingsDialog(QDialog):
    """Edits the stored settings; applied when accepted."""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        form = QFormLayout()
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda", "mps"])
        self.device.setCurrentText(settings.get("device"))
        self.cache = QSpinBox()
        self.cache.setRange(0, 1_000_000)
        self.cache.setSuffix(" MiB")
        self.cache.setValue(settings.get("cache_mb"))
        self.output = QLineEdit(settings.get("output_dir"))
        self.folders = QPlainTextEdit("\n".join(settings.get("model_folders")))
        self.folders.setPlaceholderText("one folder per line")
        form.addRow("Device", self.device)
        form.addRow("Cache budget", self.cache)
        form.addRow("Output folder", self.output)
        form.addRow("Model folders", self.folders)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def apply(self) -> None:
        s = self.settings
        s.set("device", self.device.currentText())
        s.set("cache_mb", self.cache.value())
        s.set("output_dir", self.output.text().strip() or DEFAULT_OUTPUT_DIR)
        s.set("model_folders", [line.strip() for line in self.folders.toPlainText().splitlines()
                                if line.strip()])


def shortcut_rows(actions: list[QAction]) -> list[tuple[str, str]]:
    rows = []
    for action in actions:
        keys = ", ".join(k.toString() for k in action.shortcuts())
        if keys:
            rows.append((keys, action.text().replace("&", "").rstrip("…")))
    return rows + EXTRA_SHORTCUTS


class HelpOverlay(QDialog):
    """The list of shortcuts (F1)."""

    def __init__(self, actions: list[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Shortcuts")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        rows = "".join(f"<tr><td><b>{k}</b></td><td>&nbsp;&nbsp;{v}</td></tr>"
                       for k, v in shortcut_rows(actions))
        label = QLabel(f"<table>{rows}</table>")
        label.setTextFormat(Qt.TextFormat.RichText)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
