"""Group frames: a titled rectangle behind nodes; dragging its title moves the frame and
the nodes inside it, the corner handle resizes it."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from nodegraph.graph import Group

TITLE_H = 30.0
HANDLE = 14.0


class GroupItem(QGraphicsItem):
    """Drawing and hit zones of one group."""

    Type = QGraphicsItem.UserType + 3

    def __init__(self, group: Group) -> None:
        super().__init__()
        self.group = group
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(0)
        self._font = QFont()
        self._font.setPointSizeF(12)
        self._font.setBold(True)
        self.refresh()

    def type(self) -> int:
        return self.Type

    def refresh(self) -> None:
        self.prepareGeometryChange()
        x, y, w, h = self.group.rect
        self.setPos(x, y)
        self._rect = QRectF(0, 0, w, h)
        color = QColor(self.group.color or "#4a5a78")
        fill = QColor(color)
        fill.setAlpha(60)
        self._fill = QBrush(fill)
        title = QColor(color)
        title.setAlpha(140)
        self._title = QBrush(title)
        self._pen = QPen(color, 1.5)
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-2, -2, 2, 2)

    def scene_rect(self) -> QRectF:
        x, y, w, h = self.group.rect
        return QRectF(x, y, w, h)

    def in_title(self, local) -> bool:
        return 0 <= local.y() <= TITLE_H and 0 <= local.x() <= self._rect.width()

    def in_handle(self, local) -> bool:
        return (self._rect.right() - HANDLE <= local.x() <= self._rect.right()
                and self._rect.bottom() - HANDLE <= local.y() <= self._rect.bottom())

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        painter.setPen(QPen(QColor("#f0b429"), 2) if self.isSelected() else self._pen)
        painter.setBrush(self._fill)
        painter.drawRect(self._rect)
        painter.fillRect(QRectF(0, 0, self._rect.width(), TITLE_H), self._title)
        painter.setFont(self._font)
        painter.setPen(QColor("#f0f0f0"))
        painter.drawText(QRectF(10, 0, self._rect.width() - 20, TITLE_H),
                         Qt.AlignmentFlag.AlignVCenter, self.group.title)
        painter.fillRect(QRectF(self._rect.right() - HANDLE, self._rect.bottom() - HANDLE,
                                HANDLE, HANDLE), self._title)
