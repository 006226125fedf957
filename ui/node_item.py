"""A node on the canvas, drawn from its registry declaration: title, typed sockets,
param fields, run state, image thumbnails and errors.

Everything is painted by this one item (no widget per param): params are drawn as
fields and edited by an inline editor the canvas opens on click. Far zoomed out, a node
is drawn as two rectangles, which keeps 1000-node scenes fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from nodegraph.graph import Node
from nodegraph.links import IN, OUT, PortRef
from nodegraph.registry import NodeSpec, Param

from . import theme
from .widgets import format_value

if TYPE_CHECKING:
    from nodegraph.run_state import NodeRunState

    from .canvas import Canvas

WIDTH = 220.0
MIN_WIDTH = 140.0
GRIP = 10.0  # the resize grip in the bottom-right corner
TITLE_H = 26.0
ROW_H = 22.0
TEXT_ROWS = 4
SOCKET_R = 5.0
PAD = 8.0
THUMB_MAX_H = 220.0
ERROR_H = 48.0
LOD_SIMPLE = 0.45
REROUTE = "utils.Reroute"


@dataclass
class Layout:
    """Where everything of one node goes, in item coordinates."""

    width: float
    height: float
    inputs: dict[str, tuple[QPointF, str]] = field(default_factory=dict)
    outputs: dict[str, tuple[QPointF, str]] = field(default_factory=dict)
    params: list[tuple[Param, QRectF]] = field(default_factory=list)
    thumb: QRectF | None = None
    error: QRectF | None = None


def fit_wrapped(metrics: QFontMetricsF, rect: QRectF, text: str) -> str:
    """``text`` if it fits ``rect`` word-wrapped, else its longest head that fits with "…"
    appended (so a cut-off note or prompt says there is more)."""
    flags = int(Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap)

    def fits(candidate: str) -> bool:
        return metrics.boundingRect(rect, flags, candidate).height() <= rect.height() + 0.5

    if fits(text):
        return text
    low, high = 0, len(text)
    while low < high:  # longest prefix that fits with the ellipsis
        mid = (low + high + 1) // 2
        if fits(text[:mid].rstrip() + "…"):
            low = mid
        else:
            high = mid - 1
    return text[:low].rstrip() + "…"


class _Style:
    """Pens, brushes and fonts made once (not per paint)."""

    def __init__(self) -> None:
        self.title_font = QFont()
        self.title_font.setPointSizeF(9.5)
        self.title_font.setBold(True)
        self.font = QFont()
        self.font.setPointSizeF(8.5)
        self.small = QFont()
        self.small.setPointSizeF(7.5)
        self.metrics = QFontMetricsF(self.font)
        self.title_metrics = QFontMetricsF(self.title_font)
        self.text = QPen(QColor(theme.TEXT))
        self.dim = QPen(QColor(theme.TEXT_DIM))
        self.border = QPen(QColor(theme.NODE_BORDER), 1.0)
        self.selected = QPen(QColor(theme.SELECTED), 2.0)
        self.states = {k: QPen(QColor(v), 2.0) for k, v in theme.STATE_COLORS.items()}
        self.field = QBrush(QColor(theme.FIELD))
        self.title = QBrush(QColor(theme.NODE_TITLE))
        self.body = QBrush(QColor(theme.NODE_BODY))
        self.missing = QBrush(QColor(theme.MISSING))
        self.note = QBrush(QColor(theme.NOTE))
        self.error_pen = QPen(QColor(theme.STATE_COLORS["failed"]), 1.5)
        self.error_text = QPen(QColor("#ffb4ae"))
        self.highlight = QPen(QColor("#ffffff"), 2.0)
        self.progress = QBrush(QColor(theme.STATE_COLORS["running"]))
        self.bypass = QBrush(QColor(150, 80, 200, 70))
        self.stale = QBrush(QColor(30, 30, 34, 150))
        self.type_brushes: dict[str, QBrush] = {}

    def type_brush(self, type_name: str) -> QBrush:
        brush = self.type_brushes.get(type_name)
        if brush is None:
            brush = self.type_brushes[type_name] = QBrush(theme.type_color(type_name))
        return brush


_style: _Style | None = None


def style() -> _Style:
    global _style
    if _style is None:
        _style = _Style()
    return _style


class NodeItem(QGraphicsItem):
    """The drawing and hit-testing of one graph node."""

    Type = QGraphicsItem.UserType + 1

    def __init__(self, canvas: Canvas, node: Node, spec: NodeSpec | None) -> None:
        super().__init__()
        self.canvas = canvas
        self.node = node
        self.spec = spec
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(2)
        # painted once per zoom level and state, then blitted: 1000-node scenes repaint
        # without a Python call per node
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        # run state, shown on the node
        self.state: str | None = None
        self.progress: tuple[int, int] | None = None
        self.seconds: float | None = None
        self.error: str | None = None
        self.error_field: str | None = None
        self.traceback: str = ""
        self.images: list[QImage] = []
        self.stale = False  # the images are from an earlier run than the latest
        self._shown_run_state: tuple = (None, None, None)  # (status, problem, seconds)
        self.preview: QImage | None = None
        self.layout = Layout(WIDTH, TITLE_H)
        self._rect = QRectF()
        self.relayout()
        self.setPos(*node.pos)
        self.setAcceptHoverEvents(True)  # tooltips: the spec's port and param descriptions

    def type(self) -> int:
        return self.Type

    @property
    def node_id(self) -> str:
        return self.node.id

    @property
    def is_reroute(self) -> bool:
        return self.node.type == REROUTE

    @property
    def title(self) -> str:
        if self.node.title:
            return self.node.title
        return self.spec.title if self.spec else f"missing: {self.node.type}"

    # -- layout --
    def _port_names(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        if self.spec is not None:
            return ([(i.name, i.type) for i in self.spec.inputs],
                    [(o.name, o.type) for o in self.spec.outputs])
        graph = self.canvas.graph  # a missing node keeps the ports its links use
        ins = sorted(graph.incoming(self.node.id))
        outs = sorted({link.src_output for link in graph.outgoing(self.node.id)})
        return [(n, "*") for n in ins], [(n, "*") for n in outs]

    def relayout(self) -> None:
        """Recompute geometry (after a change of size, collapse, state or images)."""
        self.prepareGeometryChange()
        ins, outs = self._port_names()
        if self.is_reroute:
            lay = Layout(24.0, 16.0)
            lay.inputs["value"] = (QPointF(0, 8), ins[0][1] if ins else "*")
            lay.outputs["value"] = (QPointF(24, 8), outs[0][1] if outs else "*")
            self.layout = lay
            self._rect = QRectF(-SOCKET_R - 2, -2, 24 + 2 * SOCKET_R + 4, 20)
            return
        width = self.node.size[0] if self.node.size else WIDTH
        lay = Layout(width, TITLE_H)
        params = self.spec.params if self.spec else ()
        if self.node.collapsed:
            for name, type_name in ins:
                lay.inputs[name] = (QPointF(0, TITLE_H / 2), type_name)
            for param in params:
                lay.inputs[param.name] = (QPointF(0, TITLE_H / 2), param.port_type)
            for name, type_name in outs:
                lay.outputs[name] = (QPointF(width, TITLE_H / 2), type_name)
        else:
            y = TITLE_H + 4
            for row in range(max(len(ins), len(outs))):
                center = y + ROW_H / 2
                if row < len(ins):
                    lay.inputs[ins[row][0]] = (QPointF(0, center), ins[row][1])
                if row < len(outs):
                    lay.outputs[outs[row][0]] = (QPointF(width, center), outs[row][1])
                y += ROW_H
            for param in params:
                height = ROW_H * TEXT_ROWS if param.multiline else ROW_H
                rect = QRectF(PAD, y + 2, width - 2 * PAD, height - 4)
                lay.params.append((param, rect))
                lay.inputs[param.name] = (QPointF(0, y + ROW_H / 2), param.port_type)
                y += height
            if self.spec is None and self.node.params:
                y += ROW_H  # "missing" line
            shown = self.images[0] if self.images else None  # (a live preview is drawn
            if shown is not None and not shown.isNull():  # over the body: no growing)
                thumb_w = width - 2 * PAD
                thumb_h = min(THUMB_MAX_H, thumb_w * shown.height() / max(1, shown.width()))
                lay.thumb = QRectF(PAD, y + 4, thumb_w, thumb_h)
                y += thumb_h + 8
            if self.error:
                lay.error = QRectF(PAD, y + 2, width - 2 * PAD, ERROR_H)
                y += ERROR_H + 4
            lay.height = y + 6
        self.layout = lay
        self._rect = QRectF(-SOCKET_R - 2, -4, lay.width + 2 * SOCKET_R + 4, lay.height + 8)
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    def body_rect(self) -> QRectF:
        return QRectF(0, 0, self.layout.width, self.layout.height)

    def port_pos(self, name: str, direction: str) -> QPointF:
        """Scene position of a socket (the node's edge when unknown)."""
        ports = self.layout.inputs if direction == IN else self.layout.outputs
        entry = ports.get(name)
        local = entry[0] if entry else QPointF(0 if direction == IN else self.layout.width,
                                               TITLE_H / 2)
        return self.pos() + local

    def port_at(self, local: QPointF, radius: float = 9.0) -> PortRef | None:
        """The socket under ``local`` (item coordinates), if any."""
        if self.node.collapsed and not self.is_reroute:
            return None
        best, best_d = None, radius * radius
        for direction, ports in ((IN, self.layout.inputs), (OUT, self.layout.outputs)):
            for name, (center, _type) in ports.items():
                d = (center.x() - local.x()) ** 2 + (center.y() - local.y()) ** 2
                if d <= best_d:
                    best, best_d = PortRef(self.node.id, name, direction), d
        return best

    def in_resize_grip(self, local: QPointF) -> bool:
        """Whether ``local`` is on the width grip (bottom-right corner of an open node)."""
        if self.node.collapsed or self.is_reroute:
            return False
        lay = self.layout
        return (lay.width - GRIP <= local.x() <= lay.width
                and lay.height - GRIP <= local.y() <= lay.height)

    def param_at(self, local: QPointF) -> tuple[Param, QRectF] | None:
        if self.node.collapsed:
            return None
        for param, rect in self.layout.params:
            if rect.contains(local):
                return param, rect
        return None

    def tooltip_at(self, local: QPointF) -> str:
        """The tooltip at ``local``: the failure, else the registry's description of the
        input, output or param under it (e.g. what an unlinked optional input means)."""
        if self.error or self.spec is None:
            return self.error or ""
        port = self.port_at(local)
        if port is not None:
            declared = (self.spec.inputs if port.direction == IN else self.spec.outputs)
            entry = next((p for p in declared if p.name == port.name), None)
            if entry is None and port.direction == IN:  # a param driven by a link
                entry = next((p for p in self.spec.params if p.name == port.name), None)
            return f"{port.name}: {entry.description}" if entry and entry.description else ""
        hit = self.param_at(local)
        if hit is not None and hit[0].description:
            return f"{hit[0].name}: {hit[0].description}"
        return ""

    def hoverMoveEvent(self, event: Any) -> None:
        self.setToolTip(self.tooltip_at(event.pos()))
        super().hoverMoveEvent(event)

    # -- run state --
    def set_state(self, state: str | None, **info: Any) -> None:
        """Show a run state: queued, running, cached, done, failed, skipped, problem,
        cancelled (a running node stopped by Esc: its progress and preview go)."""
        relayout = False
        if state in (None, "queued", "running"):
            if self.error:
                relayout = True
            self.error = self.error_field = None
            self.traceback = ""
            self.seconds = None
            self.progress = None
        if state in ("queued", "cancelled") and self.preview is not None:
            self.preview = None
            relayout = True
        if state == "cancelled":
            self.progress = None
        if state in ("failed", "problem"):
            self.error = info.get("message", "")
            self.error_field = info.get("field")
            self.traceback = info.get("traceback", "")
            relayout = True
        tip = self.error or ""
        if state == "done":
            self.seconds = info.get("seconds")
            self.progress = None
            if self.seconds is not None:
                tip = f"ran in {self.seconds:.2f} s" + "".join(
                    f", of which {name} {sec:.2f} s" for name, sec in info.get("parts", ()))
        self.state = state
        self.setToolTip(tip)
        if relayout:
            self.relayout()
        self.update()

    def show_run_state(self, state: NodeRunState) -> None:
        """Show the run-state model's entry for this node (status, time, problem); a
        progress step of the same status changes none of these and costs nothing here."""
        shown = (state.status, state.problem, state.seconds)
        if shown == self._shown_run_state:
            return
        self._shown_run_state = shown
        problem = state.problem
        self.set_state(state.status, message=problem.message if problem else "",
                       field=problem.field if problem else None,
                       traceback=(problem.traceback or "") if problem else "",
                       seconds=state.seconds, parts=state.parts)
        if state.status == "skipped":
            self.setToolTip(state.reason)

    def set_progress(self, step: int, total: int, preview: QImage | None) -> None:
        """Progress, and the live preview: drawn over the node's body while it runs, so
        the node keeps its size and never grows over the node below it."""
        self.progress = (step, total)
        if preview is not None:
            self.preview = preview
        self.update()

    def preview_rect(self) -> QRectF | None:
        """Where the live preview goes while the node runs: the body under the title,
        the image's aspect kept."""
        lay, shown = self.layout, self.preview
        if shown is None or shown.isNull() or self.state != "running" or self.node.collapsed:
            return None
        area = QRectF(PAD, TITLE_H + 4, lay.width - 2 * PAD, lay.height - TITLE_H - 10)
        if area.height() < 16:
            return None
        scale = min(area.width() / max(1, shown.width()), area.height() / max(1, shown.height()))
        w, h = shown.width() * scale, shown.height() * scale
        return QRectF(area.center().x() - w / 2, area.center().y() - h / 2, w, h)

    def set_images(self, images: list[QImage]) -> None:
        self.images = images
        self.stale = False
        self.preview = None
        self.relayout()

    def mark_stale(self, stale: bool = True) -> None:
        """Say the images shown are not the latest run's (dimmed, marked "stale")."""
        if self.images and stale != self.stale:
            self.stale = stale
            self.update()

    # -- painting --
    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        s = style()
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        lay = self.layout
        body = QRectF(0, 0, lay.width, lay.height)
        outline = s.selected if self.isSelected() else s.states.get(self.state or "", s.border)
        if self.spec is None:
            body_brush = s.missing
        elif self.node.color:
            body_brush = QBrush(QColor(self.node.color))
        elif self.node.type == "utils.Note":
            body_brush = s.note
        else:
            body_brush = s.body
        if self.node.mute:
            painter.setOpacity(0.45)
        if self.is_reroute:
            painter.setPen(outline)
            type_name = lay.outputs["value"][1]
            painter.setBrush(s.type_brush(self._link_type(type_name)))
            painter.drawEllipse(QRectF(4, 0, 16, 16))
            return
        if lod < LOD_SIMPLE:  # far away: two rectangles (and an outline if it matters)
            if outline is not s.border:
                painter.setPen(outline)
                painter.setBrush(body_brush)
                painter.drawRect(body)
            else:
                painter.fillRect(body, body_brush)
            painter.fillRect(QRectF(0, 0, lay.width, TITLE_H), s.title)
            if self.progress and self.state == "running":
                self._paint_progress(painter, s)
            return
        painter.setPen(outline)
        painter.setBrush(body_brush)
        painter.drawRoundedRect(body, 6, 6)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(s.title if self.spec is not None else s.missing)
        title_path = QPainterPath()
        title_path.addRoundedRect(QRectF(1, 1, lay.width - 2, TITLE_H - 1), 5, 5)
        painter.drawPath(title_path)
        painter.setFont(s.title_font)
        painter.setPen(s.text)
        badge = self._badge()
        title_rect, title = self.shown_title(badge)
        painter.drawText(title_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         title)
        if badge:
            painter.setFont(s.small)
            painter.setPen(s.states.get(self.state or "", s.dim))
            painter.drawText(QRectF(lay.width - 80, 0, 72, TITLE_H),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, badge)
        if self.progress and self.state == "running":
            self._paint_progress(painter, s)
        if self.node.bypass:
            painter.fillRect(body, s.bypass)
        self._paint_ports(painter, s)
        if not self.node.collapsed:
            self._paint_params(painter, s)
            self._paint_images_and_error(painter, s)
            if lod >= LOD_SIMPLE:
                painter.setPen(s.dim)
                for d in (3.0, 6.0):  # the resize grip
                    painter.drawLine(QPointF(lay.width - d, lay.height - 2),
                                     QPointF(lay.width - 2, lay.height - d))

    def shown_title(self, badge: str | None = None) -> tuple[QRectF, str]:
        """Where the title goes (left of the state badge, if any; default the current one)
        and the title elided to fit there in the title font."""
        badge = self._badge() if badge is None else badge
        room = self.layout.width - 2 * PAD - (70 if badge else 0)
        rect = QRectF(PAD + 2, 0, room, TITLE_H)
        return rect, style().title_metrics.elidedText(self.title, Qt.TextElideMode.ElideRight,
                                                      room)

    def _badge(self) -> str:
        if self.node.bypass:
            return "bypassed"
        if self.node.mute:
            return "muted"
        if self.state == "done" and self.seconds is not None:
            return f"{self.seconds:.2f} s"
        if self.state == "running" and self.progress:
            return f"{self.progress[0]}/{self.progress[1]}"
        return self.state or ""

    def _paint_progress(self, painter: QPainter, s: _Style) -> None:
        step, total = self.progress
        fraction = 0.0 if total <= 0 else min(1.0, step / total)
        painter.fillRect(QRectF(0, TITLE_H - 3, self.layout.width * fraction, 3), s.progress)

    def _link_type(self, declared: str) -> str:
        return self.canvas.resolved_type(self.node.id, declared)

    def _paint_ports(self, painter: QPainter, s: _Style) -> None:
        wiring = self.canvas.wire_targets
        linked = self.canvas.graph.incoming(self.node.id)
        painter.setFont(s.font)
        for direction, ports in ((IN, self.layout.inputs), (OUT, self.layout.outputs)):
            for name, (center, type_name) in ports.items():
                is_param = direction == IN and self.spec is not None and \
                    self.spec.input(name) is None
                if is_param and name not in linked and not (
                        wiring and PortRef(self.node.id, name, IN) in wiring):
                    if self.node.collapsed:
                        continue
                    painter.setPen(Qt.PenStyle.NoPen)  # a faint dot: links may drive params
                    painter.setBrush(s.type_brush(type_name))
                    painter.setOpacity(0.35 if not self.node.mute else 0.2)
                    painter.drawEllipse(center, 3, 3)
                    painter.setOpacity(1.0 if not self.node.mute else 0.45)
                    continue
                highlight = wiring is not None and PortRef(self.node.id, name, direction) in wiring
                painter.setPen(s.highlight if highlight else s.border)
                painter.setBrush(s.type_brush(type_name))
                radius = SOCKET_R + (2 if highlight else 0)
                if wiring is not None and not highlight:
                    painter.setOpacity(0.3)
                painter.drawEllipse(center, radius, radius)
                painter.setOpacity(1.0 if not self.node.mute else 0.45)
                if self.node.collapsed or is_param:
                    continue
                painter.setPen(s.text)
                if direction == IN:
                    rect = QRectF(PAD + 4, center.y() - ROW_H / 2, self.layout.width / 2, ROW_H)
                    align = Qt.AlignmentFlag.AlignLeft
                else:
                    rect = QRectF(self.layout.width / 2 - 4, center.y() - ROW_H / 2,
                                  self.layout.width / 2 - PAD - 4, ROW_H)
                    align = Qt.AlignmentFlag.AlignRight
                if self.error_field == name:
                    painter.setPen(s.error_text)
                painter.drawText(rect, align | Qt.AlignmentFlag.AlignVCenter, name)

    def _paint_params(self, painter: QPainter, s: _Style) -> None:
        linked = self.canvas.graph.incoming(self.node.id)
        painter.setFont(s.font)
        for param, rect in self.layout.params:
            painter.setPen(s.error_pen if self.error_field == param.name else Qt.PenStyle.NoPen)
            painter.setBrush(s.field)
            painter.drawRoundedRect(rect, 4, 4)
            inner = rect.adjusted(8, 0, -8, 0)
            value = self.node.params.get(param.name, param.default)
            if param.name in linked:
                painter.setPen(s.dim)
                painter.drawText(inner, Qt.AlignmentFlag.AlignVCenter, f"{param.name}  ← linked")
                continue
            if param.multiline:
                painter.setPen(s.dim)
                painter.drawText(inner.adjusted(0, 2, 0, 0), Qt.AlignmentFlag.AlignTop,
                                 param.name)
                painter.setPen(s.text)
                text_rect = inner.adjusted(0, 16, 0, -2)
                painter.drawText(text_rect, Qt.AlignmentFlag.AlignTop
                                 | Qt.TextFlag.TextWordWrap,
                                 fit_wrapped(s.metrics, text_rect, str(value)[:2000]))
                continue
            painter.setPen(s.dim)
            painter.drawText(inner, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                             param.name)
            painter.setPen(s.text)
            shown = format_value(param, value)
            right = inner
            if param.kind in ("int", "float"):
                painter.setPen(s.dim)
                painter.drawText(rect.adjusted(2, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, "‹")
                painter.drawText(rect.adjusted(0, 0, -3, 0), Qt.AlignmentFlag.AlignVCenter
                                 | Qt.AlignmentFlag.AlignRight, "›")
                painter.setPen(s.text)
                right = inner.adjusted(0, 0, -4, 0)
            elif param.kind == "seed":
                right = inner.adjusted(0, 0, -18, 0)
                self._paint_dice(painter, s, QRectF(inner.right() - 11, rect.center().y() - 5.5,
                                                    11, 11))
            elif param.kind == "path":
                right = inner.adjusted(0, 0, -16, 0)
                painter.drawText(inner, Qt.AlignmentFlag.AlignVCenter
                                 | Qt.AlignmentFlag.AlignRight, "…")
                shown = s.metrics.elidedText(shown, Qt.TextElideMode.ElideLeft,
                                             right.width() * 0.6)
            elif param.kind == "enum":
                right = inner.adjusted(0, 0, -12, 0)
                painter.drawText(inner, Qt.AlignmentFlag.AlignVCenter
                                 | Qt.AlignmentFlag.AlignRight, "▾")
            elif param.kind == "color" and isinstance(value, str):
                swatch = QRectF(inner.right() - 14, rect.center().y() - 6, 12, 12)
                painter.fillRect(swatch, QColor(value))
                right = inner.adjusted(0, 0, -18, 0)
            elif param.kind == "bool":
                box = QRectF(inner.right() - 12, rect.center().y() - 6, 12, 12)
                painter.setPen(s.dim)
                painter.setBrush(s.progress if value else Qt.BrushStyle.NoBrush)
                painter.drawRect(box)
                continue
            if param.kind == "string":
                shown = s.metrics.elidedText(shown, Qt.TextElideMode.ElideRight,
                                             right.width() * 0.6)
            painter.drawText(right, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                             shown)
        if self.spec is None and self.node.params:
            painter.setPen(s.dim)
            y = self.layout.height - ROW_H - 6
            if self.layout.error:
                y = self.layout.error.top() - ROW_H - 4
            painter.drawText(QRectF(PAD, y, self.layout.width - 2 * PAD, ROW_H),
                             Qt.AlignmentFlag.AlignVCenter,
                             f"{len(self.node.params)} params kept")

    @staticmethod
    def _paint_dice(painter: QPainter, s: _Style, box: QRectF) -> None:
        """The seed's randomize button: a die showing three."""
        painter.setPen(s.dim)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(box, 2, 2)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(s.dim.color())
        step = box.width() / 4
        for i in (1, 2, 3):
            painter.drawEllipse(QPointF(box.left() + i * step, box.top() + i * step), 1.1, 1.1)
        painter.setPen(s.text)

    def _paint_images_and_error(self, painter: QPainter, s: _Style) -> None:
        lay = self.layout
        live = self.preview_rect()
        if live is not None:
            painter.fillRect(QRectF(SOCKET_R + 1, TITLE_H, lay.width - 2 * SOCKET_R - 2,
                                    lay.height - TITLE_H - 4), s.body)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawImage(live, self.preview)
        shown = self.images[0] if self.images else None
        if lay.thumb is not None and shown is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawImage(lay.thumb, shown)
            if self.stale and self.images:
                painter.fillRect(lay.thumb, s.stale)
                painter.setPen(s.text)
                painter.setFont(s.small)
                painter.drawText(lay.thumb.adjusted(4, 2, -4, -2), Qt.AlignmentFlag.AlignBottom
                                 | Qt.AlignmentFlag.AlignLeft, "stale: from an earlier run")
            if len(self.images) > 1:
                painter.setPen(s.text)
                painter.setFont(s.small)
                painter.drawText(lay.thumb.adjusted(4, 2, -4, -2), Qt.AlignmentFlag.AlignTop
                                 | Qt.AlignmentFlag.AlignRight, f"1/{len(self.images)}")
        if lay.error is not None and self.error:
            painter.setPen(s.error_text)
            painter.setFont(s.small)
            text = self.error
            if self.error_field:
                text = f"{self.error_field}: {text}"
            painter.drawText(lay.error, Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
                             text[:240] + "\n(double-click for details)")
