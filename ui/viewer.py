"""Image viewer with zoom and save, opened by clicking a node's thumbnail."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeySequence,
    QPainter,
    QPixmap,
    QShortcut,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFrame,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPushButton,
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


class ImageView(QGraphicsView):
    """One image, fitted to the window until the wheel zooms it (around the cursor);
    scaled up it shows crisp pixels (nearest neighbour), scaled down it is smoothed.
    Drag to pan when zoomed in; double-click (or 0) fits again."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.item = QGraphicsPixmapItem()
        self.scene().addItem(self.item)
        self.setBackgroundBrush(QColor("#1b1c1f"))
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.fitting = True

    @property
    def scale_factor(self) -> float:
        return self.transform().m11()

    def set_image(self, image: QImage) -> None:
        self.item.setPixmap(QPixmap.fromImage(image))
        self.scene().setSceneRect(QRectF(self.item.pixmap().rect()))
        if self.fitting:
            self.fit()
        else:
            self._update_filter()

    def fit(self) -> None:
        """Scale the image to fill the window (keeping its aspect ratio)."""
        self.fitting = True
        if not self.item.pixmap().isNull():
            self.fitInView(self.item, Qt.AspectRatioMode.KeepAspectRatio)
        self._update_filter()

    def zoom(self, factor: float) -> None:
        self.fitting = False
        factor = max(0.02 / self.scale_factor, min(64.0 / self.scale_factor, factor))
        self.scale(factor, factor)
        self._update_filter()

    def _update_filter(self) -> None:
        smooth = self.scale_factor < 1.0
        self.item.setTransformationMode(Qt.TransformationMode.SmoothTransformation if smooth
                                        else Qt.TransformationMode.FastTransformation)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)

    def wheelEvent(self, event: QWheelEvent) -> None:
        angle = event.angleDelta().y()
        if angle:
            self.zoom(1.0015 ** angle)
        event.accept()

    def mouseDoubleClickEvent(self, event) -> None:
        self.fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.fitting:
            self.fit()


class ImageViewer(QDialog):
    """Shows a node's images, fitted to the window (wheel zooms); Left/Right step
    through them, Save writes the full-size PNG."""

    def __init__(self, images: list[QImage], title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.images = images
        self.index = 0
        self.view = ImageView()
        self.caption = QLabel()
        save = QPushButton("Save…")
        save.clicked.connect(self.save_dialog)
        buttons = QHBoxLayout()
        buttons.addWidget(self.caption)
        buttons.addStretch()
        buttons.addWidget(save)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        layout.addLayout(buttons)
        QShortcut(QKeySequence(Qt.Key.Key_Right), self, lambda: self.show_index(self.index + 1))
        QShortcut(QKeySequence(Qt.Key.Key_Left), self, lambda: self.show_index(self.index - 1))
        QShortcut(QKeySequence(Qt.Key.Key_0), self, self.view.fit)
        QShortcut(QKeySequence.StandardKey.Save, self, self.save_dialog)
        self.show_index(0)
        first = images[0] if images else QImage()
        # room to see a small image enlarged, no bigger than a usual screen
        side = max(first.width(), first.height(), 1)
        grow = max(1.0, 512 / side)
        self.resize(min(1200, int(first.width() * grow) + 40),
                    min(900, int(first.height() * grow) + 80))

    def show_index(self, index: int) -> None:
        if not self.images:
            return
        self.index = index % len(self.images)
        image = self.images[self.index]
        self.view.set_image(image)
        self.caption.setText(f"{self.index + 1}/{len(self.images)}  ·  "
                             f"{image.width()}×{image.height()}  ·  wheel: zoom, "
                             "double-click: fit")

    def save(self, path: str) -> bool:
        return self.images[self.index].save(path, "PNG")

    def save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save image", "image.png", "PNG (*.png)")
        if path:
            self.save(path)
