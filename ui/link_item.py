"""Links: bezier curves coloured by the type they carry, plus the wire that follows the
mouse while the user drags from a port."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from nodegraph.graph import Link

from . import theme


def bezier(start: QPointF, end: QPointF) -> QPainterPath:
    """A horizontal S-curve from an output (``start``) to an input (``end``)."""
    path = QPainterPath(start)
    dx = max(40.0, abs(end.x() - start.x()) * 0.5)
    path.cubicTo(QPointF(start.x() + dx, start.y()), QPointF(end.x() - dx, end.y()), end)
    return path


class LinkItem(QGraphicsItem):
    """One graph link. Its path is recomputed only when an end moves."""

    Type = QGraphicsItem.UserType + 2

    def __init__(self, link: Link, type_name: str) -> None:
        super().__init__()
        self.link = link
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(1)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._path = QPainterPath()
        self._shape: QPainterPath | None = None
        self._rect = QRectF()
        self.set_type(type_name)

    def type(self) -> int:
        return self.Type

    def set_type(self, type_name: str) -> None:
        self.type_name = type_name
        color = theme.type_color(type_name)
        self._pen = QPen(color, 2.5)
        self._selected_pen = QPen(QColor(theme.SELECTED), 3.5)
        self._far_pen = QPen(color, 1.0)
        self._far_pen.setCosmetic(True)
        self.update()

    def set_ends(self, start: QPointF, end: QPointF) -> None:
        self.prepareGeometryChange()
        self._path = bezier(start, end)
        self._shape = None
        self._rect = self._path.boundingRect().adjusted(-3, -3, 3, 3)

    def boundingRect(self) -> QRectF:
        return self._rect

    def shape(self) -> QPainterPath:
        if self._shape is None:
            stroker = QPainterPathStroker()
            stroker.setWidth(10)
            self._shape = stroker.createStroke(self._path)
        return self._shape

    def midpoint(self) -> QPointF:
        return self._path.pointAtPercent(0.5)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        if self.isSelected():
            painter.setPen(self._selected_pen)
        else:
            painter.setPen(self._pen if lod >= 0.45 else self._far_pen)
        if lod < 0.2 and not self.isSelected():  # far away a curve is not worth its cost
            painter.drawLine(self._path.elementAt(0), self._path.currentPosition())
            return
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path)


class WireItem(LinkItem):
    """The provisional link drawn while dragging from a port."""

    def __init__(self, type_name: str) -> None:
        super().__init__(Link(0, "", "", "", ""), type_name)
        self.setCacheMode(QGraphicsItem.CacheMode.NoCache)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, False)
        self.setZValue(10)
        self._pen.setStyle(Qt.PenStyle.DashLine)

    def refused(self, refused: bool) -> None:
        self._pen.setColor(QColor(theme.STATE_COLORS["failed"]) if refused
                           else theme.type_color(self.type_name))
        self.update()
