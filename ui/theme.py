"""Colours, fonts and the dark application palette, in one place."""

from __future__ import annotations

import hashlib

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

#: Port/link colour per port type; unknown types get a stable colour from their name.
TYPE_COLORS: dict[str, str] = {
    "MODEL": "#b39ddb", "CLIP": "#ffd54f", "VAE": "#ef9a9a", "CONDITIONING": "#ffb74d",
    "LATENT": "#f48fb1", "IMAGE": "#64b5f6", "MASK": "#81c784", "NOISE": "#bdbdbd",
    "GUIDER": "#9575cd", "SCHEDULER": "#4db6ac",
    "UPSCALE_MODEL": "#a1887f", "INT": "#7986cb", "FLOAT": "#aed581", "STRING": "#90a4ae",
    "BOOLEAN": "#e57373", "*": "#e0e0e0",
}

BACKGROUND = "#1e1f22"
GRID_MINOR = "#26282c"
GRID_MAJOR = "#303338"
NODE_BODY = "#2d2f34"
NODE_TITLE = "#3b3f46"
NODE_BORDER = "#17181a"
FIELD = "#1f2024"
TEXT = "#e6e6e6"
TEXT_DIM = "#9aa0a6"
SELECTED = "#f0b429"
MISSING = "#8b2c2c"
NOTE = "#5c5a2e"

#: Outline colours of the run states shown on nodes.
STATE_COLORS: dict[str, str] = {
    "queued": "#7d8590", "running": "#3d8bfd", "cached": "#20b2aa", "done": "#3fb950",
    "failed": "#f85149", "skipped": "#6e7681", "problem": "#f85149",
    "cancelled": "#d29922",
}

#: Node colours offered in the context menu.
NODE_COLORS: dict[str, str] = {
    "red": "#6b2d2d", "brown": "#5a4330", "green": "#2f5a35", "blue": "#2d4260",
    "purple": "#4d3563", "cyan": "#2b5a5a", "yellow": "#5c5a2e", "black": "#1a1a1a",
}


def type_color(type_name: str) -> QColor:
    """The colour of ports and links carrying ``type_name``."""
    known = TYPE_COLORS.get(type_name)
    if known is None:
        digest = hashlib.md5(type_name.encode()).digest()
        return QColor.fromHsv(digest[0] * 360 // 256, 120, 220)
    return QColor(known)


def apply_dark_theme(app: QApplication) -> None:
    """Fusion style with a dark palette (the default look)."""
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#25262a", QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: "#1b1c1f", QPalette.ColorRole.AlternateBase: "#2a2b30",
        QPalette.ColorRole.ToolTipBase: "#2d2f34", QPalette.ColorRole.ToolTipText: TEXT,
        QPalette.ColorRole.Text: TEXT, QPalette.ColorRole.Button: "#2f3136",
        QPalette.ColorRole.ButtonText: TEXT, QPalette.ColorRole.BrightText: "#ff6b6b",
        QPalette.ColorRole.Highlight: "#3d6fb6", QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#58a6ff", QPalette.ColorRole.PlaceholderText: TEXT_DIM,
    }
    for role, color in roles.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6e7681"))
    app.setPalette(palette)
