"""Full-size image viewer with save, opened by clicking a node's thumbnail."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)


def qimage_from_array(array) -> QImage:
    """HxWx3 (or HxW) uint8 numpy array -> an independent QImage."""
    import numpy as np

    data = np.ascontiguousarray(array)
    if data.ndim == 2:
        h, w = data.shape
        return QImage(data.data, w, h, data.strides[0], QImage.Format.Format_Grayscale8).copy()
    h, w = data.shape[:2]
    if data.shape[2] == 4:
        return QImage(data.data, w, h, data.strides[0], QImage.Format.Format_RGBA8888).copy()
    return QImage(data.data, w, h, data.strides[0], QImage.Format.Format_RGB888).copy()


class ImageViewer(QDialog):
    """Shows a node's images at full size; Left/Right step through them, Save writes PNG."""

    def __init__(self, images: list[QImage], title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.images = images
        self.index = 0
        self.label = QLabel()
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        scroll = QScrollArea()
        scroll.setWidget(self.label)
        scroll.setWidgetResizable(True)
        self.caption = QLabel()
        save = QPushButton("Save…")
        save.clicked.connect(self.save_dialog)
        buttons = QHBoxLayout()
        buttons.addWidget(self.caption)
        buttons.addStretch()
        buttons.addWidget(save)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll)
        layout.addLayout(buttons)
        QShortcut(QKeySequence(Qt.Key.Key_Right), self, lambda: self.show_index(self.index + 1))
        QShortcut(QKeySequence(Qt.Key.Key_Left), self, lambda: self.show_index(self.index - 1))
        QShortcut(QKeySequence.StandardKey.Save, self, self.save_dialog)
        self.show_index(0)
        first = images[0] if images else QImage()
        self.resize(min(1200, first.width() + 60), min(900, first.height() + 100))

    def show_index(self, index: int) -> None:
        if not self.images:
            return
        self.index = index % len(self.images)
        image = self.images[self.index]
        self.label.setPixmap(QPixmap.fromImage(image))
        self.caption.setText(f"{self.index + 1}/{len(self.images)}  ·  "
                             f"{image.width()}×{image.height()}")

    def save(self, path: str) -> bool:
        return self.images[self.index].save(path, "PNG")

    def save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save image", "image.png", "PNG (*.png)")
        if path:
            self.save(path)
