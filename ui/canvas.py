"""The canvas: a scene that mirrors one document's Graph (items are created, moved and
removed only in answer to the Graph's change events) and a view with pan, zoom, grid,
fit, drops and the mouse gestures of wiring, moving and editing fields."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QLineF, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPen, QTransform, QWheelEvent
from PySide6.QtWidgets import (
    QApplication,
    QColorDialog,
    QFileDialog,
    QGraphicsItem,
    QGraphicsScene,
    QGraphicsSceneContextMenuEvent,
    QGraphicsSceneMouseEvent,
    QGraphicsView,
    QMenu,
)

from nodegraph.graph import (
    GraphChange,
    GroupAdded,
    GroupChanged,
    GroupRemoved,
    LinkAdded,
    LinkRemoved,
    NodeAdded,
    NodeChanged,
    NodeRemoved,
    ParamChanged,
)
from nodegraph.links import IN, OUT, PortRef, first_fitting_port, output_type, port_type
from nodegraph.registry import Param
from nodegraph.types import ANY

from . import theme
from .commands import SetGroupAttr
from .document import Document
from .editor import Editor, snap
from .group_item import GroupItem
from .link_item import LinkItem, WireItem
from .node_item import LOD_SIMPLE, MIN_WIDTH, TITLE_H, NodeItem
from .quick_add import QuickAdd
from .widgets import (
    PIXELS_PER_STEP,
    InlineLineEdit,
    InlineTextEdit,
    check_or_message,
    format_value,
    random_seed,
    step_value,
)

_gestures = itertools.count(1)
NODE_MIME = "application/x-nodegraph-node-type"


class Canvas(QGraphicsScene):
    """Scene items for one document, kept in step with its Graph."""

    status = Signal(str)
    quick_add_requested = Signal(QPointF, object, object)  # scene pos, accept(spec), PortRef
    image_clicked = Signal(str)  # node id
    error_clicked = Signal(str)  # node id
    run_requested = Signal(list)  # node ids to run, with what they need
    edit_requested = Signal(object, object, QRectF)  # NodeItem, Param, scene rect

    def __init__(self, document: Document,
                 snap_to_grid: Callable[[], bool] = lambda: False) -> None:
        super().__init__()
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        self.setSceneRect(QRectF(-50_000, -50_000, 100_000, 100_000))
        self.snap_enabled = snap_to_grid
        self.nodes: dict[str, NodeItem] = {}
        self.links: dict[int, LinkItem] = {}
        self.groups: dict[int, GroupItem] = {}
        self.wire_targets: set[PortRef] | None = None
        self._drag: dict[str, Any] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.document = document
        self.editor = Editor(document, self.node_rect)
        self.bind(document)

    # -- binding to a document --
    @property
    def graph(self):
        return self.document.graph

    @property
    def registry(self):
        return self.document.registry

    def bind(self, document: Document) -> None:
        """Show ``document``: rebuild every item and follow its graph's events."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.document = document
        self.editor = Editor(document, self.node_rect)
        self.cancel_wire()
        # remove (not delete) the old items: Python owns them and frees them itself
        for item in [*self.links.values(), *self.nodes.values(), *self.groups.values()]:
            self.removeItem(item)
        self.nodes.clear()
        self.links.clear()
        self.groups.clear()
        graph = document.graph
        for group in graph.groups.values():
            self._add_group(group)
        for node in graph.nodes.values():
            self._add_node(node)
        for link in graph.links.values():
            self._add_link(link)
        self._change_handlers: dict[type[GraphChange], Callable[[Any], None]] = {
            NodeAdded: lambda change: self._add_node(change.node),
            NodeRemoved: self._node_removed,
            NodeChanged: self._node_changed,
            ParamChanged: self._param_changed,
            LinkAdded: self._link_added,
            LinkRemoved: self._link_removed,
            GroupAdded: lambda change: self._add_group(change.group),
            GroupRemoved: self._group_removed,
            GroupChanged: self._group_changed,
        }
        self._unsubscribe = graph.subscribe(self._on_change)

    def unbind(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_change(self, change: GraphChange) -> None:
        handler = self._change_handlers.get(type(change))
        if handler is not None:
            handler(change)

    def _node_removed(self, change: NodeRemoved) -> None:
        item = self.nodes.pop(change.node.id, None)
        if item is not None:
            self.removeItem(item)

    def _node_changed(self, change: NodeChanged) -> None:
        item = self.nodes.get(change.node_id)
        if item is None:
            return
        if change.attr == "pos":
            item.setPos(*change.value)
            self._update_links_of(item.node_id)
        elif change.attr in ("collapsed", "size"):
            item.relayout()
            self._update_links_of(item.node_id)
        else:
            item.update()

    def _param_changed(self, change: ParamChanged) -> None:
        item = self.nodes.get(change.node_id)
        if item is not None:
            item.update()

    def _link_added(self, change: LinkAdded) -> None:
        self._add_link(change.link)
        self._link_ends_changed(change.link)

    def _link_removed(self, change: LinkRemoved) -> None:
        item = self.links.pop(change.link.id, None)
        if item is not None:
            self.removeItem(item)
        self._link_ends_changed(change.link)

    def _group_removed(self, change: GroupRemoved) -> None:
        item = self.groups.pop(change.group.id, None)
        if item is not None:
            self.removeItem(item)

    def _group_changed(self, change: GroupChanged) -> None:
        item = self.groups.get(change.group_id)
        if item is not None:
            item.refresh()

    def _add_node(self, node) -> None:
        item = NodeItem(self, node, self.registry.get(node.type))
        self.nodes[node.id] = item
        self.addItem(item)

    def _add_group(self, group) -> None:
        item = GroupItem(group)
        self.groups[group.id] = item
        self.addItem(item)

    def _add_link(self, link) -> None:
        item = LinkItem(link, self._link_type(link))
        self.links[link.id] = item
        self._place_link(item)
        self.addItem(item)

    def _link_type(self, link) -> str:
        if link.src not in self.graph.nodes:
            return ANY
        return output_type(self.graph, self.registry, link.src, link.src_output)

    def _place_link(self, item: LinkItem) -> None:
        link = item.link
        src, dst = self.nodes.get(link.src), self.nodes.get(link.dst)
        if src is None or dst is None:
            return
        item.set_ends(src.port_pos(link.src_output, OUT), dst.port_pos(link.dst_input, IN))

    def _update_links_of(self, node_id: str) -> None:
        graph = self.graph
        for link in graph.incoming(node_id).values():
            item = self.links.get(link.id)
            if item is not None:
                self._place_link(item)
        for link in graph.outgoing(node_id):
            item = self.links.get(link.id)
            if item is not None:
                self._place_link(item)

    def _link_ends_changed(self, link) -> None:
        """Param fields show "linked"; missing nodes and reroutes re-derive their ports."""
        for node_id in (link.src, link.dst):
            item = self.nodes.get(node_id)
            if item is None:
                continue
            if item.spec is None or item.is_reroute:
                item.relayout()
                self._update_links_of(node_id)
            item.update()
        # a reroute chain takes its type from its source: recolour downstream links
        stack, seen = [link.dst], set()
        while stack:
            node_id = stack.pop()
            item = self.nodes.get(node_id)
            if node_id in seen or item is None or not item.is_reroute:
                continue
            seen.add(node_id)
            item.update()
            for out in self.graph.outgoing(node_id):
                link_item = self.links.get(out.id)
                if link_item is not None:
                    link_item.set_type(self._link_type(out))
                stack.append(out.dst)

    def resolved_type(self, node_id: str, declared: str) -> str:
        if declared != ANY or node_id not in self.graph.nodes:
            return declared
        return output_type(self.graph, self.registry, node_id, "value")

    def node_rect(self, node_id: str) -> tuple[float, float, float, float]:
        item = self.nodes[node_id]
        pos = self.graph.nodes[node_id].pos
        return (pos[0], pos[1], item.layout.width, item.layout.height)

    # -- selection --
    def selected_node_ids(self) -> list[str]:
        return [i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)]

    def selected_link_ids(self) -> list[int]:
        return [i.link.id for i in self.selectedItems() if isinstance(i, LinkItem)]

    def selected_group_ids(self) -> list[int]:
        return [i.group.id for i in self.selectedItems() if isinstance(i, GroupItem)]

    def select_nodes(self, node_ids) -> None:
        self.clearSelection()
        for node_id in node_ids:
            if node_id in self.nodes:
                self.nodes[node_id].setSelected(True)

    # -- hit testing --
    def _view_transform(self, event) -> QTransform:
        widget = event.widget()
        view = widget.parent() if widget is not None else None
        return view.transform() if isinstance(view, QGraphicsView) else QTransform()

    def item_at(self, pos: QPointF, transform: QTransform) -> QGraphicsItem | None:
        for item in self.items(pos, Qt.ItemSelectionMode.IntersectsItemShape,
                               Qt.SortOrder.DescendingOrder, transform):
            if isinstance(item, (NodeItem, LinkItem, GroupItem)) and not isinstance(item, WireItem):
                return item
        return None

    def port_near(self, pos: QPointF, radius: float = 12.0) -> PortRef | None:
        box = QRectF(pos.x() - radius - 300, pos.y() - radius, 2 * radius + 600, 2 * radius)
        for item in self.items(box):
            if isinstance(item, NodeItem):
                port = item.port_at(item.mapFromScene(pos), radius)
                if port is not None:
                    return port
        return None

    # -- mouse gestures --
    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            if event.button() == Qt.MouseButton.RightButton:
                event.accept()
                return
            event.ignore()
            return
        pos = event.scenePos()
        item = self.item_at(pos, self._view_transform(event))
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if isinstance(item, NodeItem):
            local = item.mapFromScene(pos)
            port = item.port_at(local)
            if port is not None:
                self.begin_wire(port, pos)
                event.accept()
                return
            if item.in_resize_grip(local):
                self._select_only(item)
                self._drag = {"kind": "node_resize", "node": item.node_id, "start": pos,
                              "width": item.layout.width, "key": next(_gestures)}
                event.accept()
                return
            hit = item.param_at(local)
            if hit is not None and not ctrl:
                self._select_only(item)
                self._press_param(item, hit[0], hit[1], local, event)
                event.accept()
                return
            if item.layout.thumb is not None and item.layout.thumb.contains(local) and item.images:
                self._select_only(item)
                self.image_clicked.emit(item.node_id)
                event.accept()
                return
            self._press_movable(item, ctrl, pos)
            event.accept()
            return
        if isinstance(item, GroupItem):
            local = item.mapFromScene(pos)
            if item.in_handle(local):
                self._drag = {"kind": "resize", "group": item.group.id, "start": pos,
                              "rect": item.group.rect, "key": next(_gestures)}
                event.accept()
                return
            if item.in_title(local):
                self._press_movable(item, ctrl, pos)
                event.accept()
                return
        if isinstance(item, LinkItem):
            if ctrl:
                item.setSelected(not item.isSelected())
            else:
                self._select_only(item)
            event.accept()
            return
        super().mousePressEvent(event)  # empty canvas: clear selection, view rubber-bands

    def _select_only(self, item: QGraphicsItem) -> None:
        if not item.isSelected() or len(self.selectedItems()) > 1:
            self.clearSelection()
            item.setSelected(True)

    def _press_movable(self, item: QGraphicsItem, ctrl: bool, pos: QPointF) -> None:
        if ctrl:
            item.setSelected(not item.isSelected())
            return
        reselect = item.isSelected()
        if not item.isSelected():
            self.clearSelection()
            item.setSelected(True)
        nodes = {i.node_id: self.graph.nodes[i.node_id].pos for i in self.selectedItems()
                 if isinstance(i, NodeItem)}
        groups = {}
        for group_item in self.selectedItems():
            if isinstance(group_item, GroupItem):
                groups[group_item.group.id] = group_item.group.rect
                frame = group_item.scene_rect()
                for node_id, node_item in self.nodes.items():
                    if frame.contains(node_item.sceneBoundingRect().center()):
                        nodes.setdefault(node_id, self.graph.nodes[node_id].pos)
        self._drag = {"kind": "move", "start": pos, "nodes": nodes, "groups": groups,
                      "key": next(_gestures), "moved": False, "item": item,
                      "reselect": reselect}

    def _press_param(self, item: NodeItem, param: Param, rect: QRectF, local: QPointF,
                     event: QGraphicsSceneMouseEvent) -> None:
        node_id = item.node_id
        if param.name in self.graph.incoming(node_id):
            self.status.emit(f"'{param.name}' is driven by a link; disconnect it to edit")
            return
        value = self.graph.nodes[node_id].params.get(param.name, param.default)
        kind = param.kind
        if kind == "bool":
            self.editor.set_param(node_id, param.name, not bool(value))
        elif kind == "enum":
            self._enum_menu(node_id, param, event.screenPos())
        elif kind == "seed" and local.x() > rect.right() - 26:
            self.editor.set_param(node_id, param.name, random_seed())
        elif kind == "path" and local.x() > rect.right() - 24:
            self.pick_file(node_id, param)
        elif kind == "color" and local.x() > rect.right() - 22:
            self.pick_color(node_id, param, value)
        elif kind in ("int", "float", "seed"):
            self._drag = {"kind": "param", "node": node_id, "param": param, "start": local,
                          "value": value, "key": next(_gestures), "moved": False,
                          "item": item, "rect": rect}
        else:
            self.edit_requested.emit(item, param, item.mapRectToScene(rect))

    def _enum_menu(self, node_id: str, param: Param, screen_pos: QPoint) -> None:
        menu = QMenu()
        current = self.graph.nodes[node_id].params.get(param.name)
        for choice in param.current_choices():
            action = menu.addAction(choice)
            action.setCheckable(True)
            action.setChecked(choice == current)
            action.triggered.connect(
                lambda _=False, c=choice: self.editor.set_param(node_id, param.name, c))
        menu.exec(screen_pos)

    def pick_file(self, node_id: str, param: Param) -> None:
        path, _ = QFileDialog.getOpenFileName(None, f"Choose {param.name}", "",
                                              param.file_filter or "All files (*)")
        if path:
            self.editor.set_param(node_id, param.name, path)

    def pick_color(self, node_id: str, param: Param, value: Any) -> None:
        """The colour dialog, opened on the swatch at the right of a colour field."""
        color = QColorDialog.getColor(QColor(str(value)), None, f"Choose {param.name}")
        if color.isValid():
            self.editor.set_param(node_id, param.name, color.name())

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        drag = self._drag
        if drag is None:
            super().mouseMoveEvent(event)
            return
        pos = event.scenePos()
        kind = drag["kind"]
        if kind == "wire":
            self.update_wire(pos)
        elif kind == "move":
            delta = pos - drag["start"]
            if not drag["moved"] and abs(delta.x()) + abs(delta.y()) < 3:
                return
            drag["moved"] = True
            on = self.snap_enabled()
            positions = {i: (snap(p[0] + delta.x(), on), snap(p[1] + delta.y(), on))
                         for i, p in drag["nodes"].items()}
            rects = {i: (snap(r[0] + delta.x(), on), snap(r[1] + delta.y(), on), r[2], r[3])
                     for i, r in drag["groups"].items()}
            self.editor.move(positions, rects, merge_key=("move", drag["key"]))
        elif kind == "resize":
            delta = pos - drag["start"]
            x, y, w, h = drag["rect"]
            rect = (x, y, max(120.0, w + delta.x()), max(80.0, h + delta.y()))
            self.editor.move({}, {drag["group"]: rect}, merge_key=("resize", drag["key"]))
        elif kind == "node_resize":
            width = round(max(MIN_WIDTH, drag["width"] + pos.x() - drag["start"].x()))
            height = self.nodes[drag["node"]].layout.height
            self.editor.set_attr([drag["node"]], "size", (float(width), height),
                                 merge_key=("node_resize", drag["key"]))
        elif kind == "param":
            dx = drag["item"].mapFromScene(pos).x() - drag["start"].x()
            if not drag["moved"] and abs(dx) < 3:
                return
            drag["moved"] = True
            value = step_value(drag["param"], drag["value"], dx / PIXELS_PER_STEP)
            self.editor.set_param(drag["node"], drag["param"].name, value,
                                  merge_key=("param", drag["key"]))
        event.accept()

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        drag, self._drag = self._drag, None
        if drag is None:
            super().mouseReleaseEvent(event)
            return
        kind = drag["kind"]
        if kind == "wire":
            self._drag = drag
            self.finish_wire(event.scenePos())
        elif kind == "move" and not drag["moved"] and drag["reselect"]:
            self._select_only(drag["item"])
        elif kind == "param" and not drag["moved"]:
            param, rect, local = drag["param"], drag["rect"], drag["start"]
            number = param.kind in ("int", "float")
            if number and local.x() < rect.left() + 14:
                self.editor.set_param(drag["node"], param.name,
                                      step_value(param, drag["value"], -1))
            elif number and local.x() > rect.right() - 14:
                self.editor.set_param(drag["node"], param.name,
                                      step_value(param, drag["value"], 1))
            else:
                self.edit_requested.emit(drag["item"], param, drag["item"].mapRectToScene(rect))
        event.accept()

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        pos = event.scenePos()
        item = self.item_at(pos, self._view_transform(event))
        if item is None:
            self.quick_add_requested.emit(pos, None, None)
        elif isinstance(item, LinkItem):
            self.editor.insert_reroute(item.link.id, (pos.x(), pos.y()))
        elif isinstance(item, NodeItem) and item.error and self._on_error_or_header(
                item, item.mapFromScene(pos)):
            self.error_clicked.emit(item.node_id)
        event.accept()

    @staticmethod
    def _on_error_or_header(item: NodeItem, local: QPointF) -> bool:
        """Where a double-click opens a failed node's details: its header or message."""
        on_error = item.layout.error is not None and item.layout.error.contains(local)
        return on_error or 0 <= local.y() <= TITLE_H

    # -- wiring --
    def begin_wire(self, port: PortRef, pos: QPointF) -> None:
        """Start dragging a wire from ``port``; dragging from a linked input picks up its
        link (drop it elsewhere to move it, on empty canvas to remove it)."""
        detached = None
        if port.direction == IN:
            link = self.graph.link_into(port.node_id, port.name)
            if link is not None:
                detached = link
                port = PortRef(link.src, link.src_output, OUT)
                self.links[link.id].setVisible(False)
        type_name = port_type(self.graph, self.registry, port) or ANY
        wire = WireItem(type_name)
        self.addItem(wire)
        self._drag = {"kind": "wire", "port": port, "wire": wire, "detached": detached,
                      "type": type_name}
        self.wire_targets = self.graph.rules.targets(self.graph, port)
        for item in self.nodes.values():
            item.update()
        self.update_wire(pos)

    def update_wire(self, pos: QPointF) -> None:
        drag = self._drag
        port, wire = drag["port"], drag["wire"]
        start = self.nodes[port.node_id].port_pos(port.name, port.direction)
        target = self.port_near(pos)
        end = pos
        refused = False
        if target is not None and target != port:
            refused = target not in (self.wire_targets or ())
            end = self.nodes[target.node_id].port_pos(target.name, target.direction)
        if port.direction == OUT:
            wire.set_ends(start, end)
        else:
            wire.set_ends(end, start)
        wire.refused(refused)

    def finish_wire(self, pos: QPointF) -> None:
        drag, self._drag = self._drag, None
        self.removeItem(drag["wire"])
        self.wire_targets = None
        for item in self.nodes.values():
            item.update()
        port, detached = drag["port"], drag["detached"]
        if detached is not None and detached.id in self.links:
            self.links[detached.id].setVisible(True)
        target = self.port_near(pos)
        stack = self.document.stack
        if target is not None:
            if detached is not None and (target.node_id, target.name) == (detached.dst,
                                                                          detached.dst_input):
                return
            reason = self.graph.rules.check(self.graph, port, target)
            if reason:
                self.status.emit(f"Link refused: {reason}")
                return
            stack.beginMacro("Move link" if detached else "Connect")
            if detached is not None:
                self.editor.delete(link_ids=[detached.id])
            self.editor.connect(port, target)
            stack.endMacro()
            self.status.emit("")
            return
        if detached is not None:
            self.editor.delete(link_ids=[detached.id])
            return
        if self.item_at(pos, QTransform()) is None:
            type_name = drag["type"]
            wanted = IN if port.direction == OUT else OUT

            def accept(spec, type_name=type_name, wanted=wanted):
                return first_fitting_port(spec, type_name, wanted) is not None

            self.quick_add_requested.emit(pos, accept, port)

    @property
    def wiring(self) -> bool:
        """True while a wire is being dragged from a port."""
        return self._drag is not None and self._drag["kind"] == "wire"

    def cancel_wire(self) -> None:
        if self._drag is not None and self._drag["kind"] == "wire":
            drag, self._drag = self._drag, None
            self.removeItem(drag["wire"])
            self.wire_targets = None
            if drag["detached"] is not None and drag["detached"].id in self.links:
                self.links[drag["detached"].id].setVisible(True)
            for item in self.nodes.values():
                item.update()

    def _rename_group(self, group_id: int) -> None:
        from PySide6.QtWidgets import QInputDialog

        title, ok = QInputDialog.getText(None, "Rename group", "Title",
                                         text=self.graph.groups[group_id].title)
        if ok and title != self.graph.groups[group_id].title:
            self.document.stack.push(SetGroupAttr(self.graph, group_id, "title", title))

    # -- context menu --
    def contextMenuEvent(self, event: QGraphicsSceneContextMenuEvent) -> None:
        item = self.item_at(event.scenePos(), self._view_transform(event))
        menu = QMenu()
        editor = self.editor
        if isinstance(item, NodeItem):
            if not item.isSelected():
                self._select_only(item)
            ids = self.selected_node_ids()
            menu.addAction("Run to here", lambda: self.run_requested.emit(ids))
            menu.addSeparator()
            menu.addAction("Rename…", lambda: self.edit_requested.emit(item, None, QRectF()))
            menu.addAction("Bypass", lambda: editor.toggle(ids, "bypass"))
            menu.addAction("Mute", lambda: editor.toggle(ids, "mute"))
            menu.addAction("Collapse", lambda: editor.toggle(ids, "collapsed"))
            colors = menu.addMenu("Colour")
            colors.addAction("Default", lambda: editor.set_attr(ids, "color", None))
            for name, value in theme.NODE_COLORS.items():
                colors.addAction(name, lambda v=value: editor.set_attr(ids, "color", v))
            menu.addSeparator()
            menu.addAction("Duplicate", lambda: self.select_nodes(editor.duplicate(ids)))
            menu.addAction("Group", lambda: editor.add_group(ids))
            menu.addAction("Delete", lambda: editor.delete(ids))
            if item.error:
                menu.addAction("Error details…", lambda: self.error_clicked.emit(item.node_id))
        elif isinstance(item, LinkItem):
            link_id = item.link.id
            pos = event.scenePos()
            menu.addAction("Add reroute", lambda: editor.insert_reroute(link_id,
                                                                        (pos.x(), pos.y())))
            menu.addAction("Delete link", lambda: editor.delete(link_ids=[link_id]))
        elif isinstance(item, GroupItem):
            group_id = item.group.id
            menu.addAction("Rename group…", lambda: self._rename_group(group_id))
            colors = menu.addMenu("Colour")
            for name, value in theme.NODE_COLORS.items():
                colors.addAction(name, lambda v=value: self.document.stack.push(
                    SetGroupAttr(self.graph, group_id, "color", v)))
            menu.addAction("Delete group", lambda: editor.delete(group_ids=[group_id]))
        else:
            pos = event.scenePos()
            menu.addAction("Add node…", lambda: self.quick_add_requested.emit(pos, None, None))
            menu.addAction("Add note", lambda: editor.add_node("utils.Note", (pos.x(), pos.y())))
            menu.addAction("Add group", lambda: editor.add_group([]))
        menu.exec(event.screenPos())
        event.accept()


class CanvasView(QGraphicsView):
    """Pan (middle-drag or Space+drag), zoom to cursor, grid, fit, node drops."""

    files_dropped = Signal(list)

    def __init__(self, canvas: Canvas, parent=None) -> None:
        super().__init__(canvas, parent)
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setOptimizationFlags(QGraphicsView.OptimizationFlag.DontSavePainterState)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._grid_minor = QPen(QColor(theme.GRID_MINOR), 0)
        self._grid_major = QPen(QColor(theme.GRID_MAJOR), 0)
        self._background = QColor(theme.BACKGROUND)
        self._pan: QPoint | None = None
        self._space = False
        self.quick_add = QuickAdd(canvas.registry, self)
        self.quick_add.chosen.connect(self._quick_add_chosen)
        self._quick_add_at = QPointF()
        self._quick_add_port: PortRef | None = None
        self.editor_widget = None
        # fit_all() before the view has its final size (a file opened at start-up, a
        # recovered document) is redone on each resize until the user zooms or pans
        self._fit_on_resize = False
        canvas.quick_add_requested.connect(self.open_quick_add)
        canvas.edit_requested.connect(self.open_field_editor)

    @property
    def canvas(self) -> Canvas:
        return self.scene()

    # -- grid --
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        # Grid lines never need antialiasing; items do only when big enough to see it.
        # (The view does not save painter state, so the hint set last holds for items.)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.fillRect(rect, self._background)
        scale = self.transform().m11()
        self._draw_grid(painter, rect, scale)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, scale >= LOD_SIMPLE)

    def _draw_grid(self, painter: QPainter, rect: QRectF, scale: float) -> None:
        for step, pen in ((20.0, self._grid_minor), (100.0, self._grid_major)):
            if step * scale < 8:
                continue
            painter.setPen(pen)
            left = int(rect.left() // step) * step
            top = int(rect.top() // step) * step
            lines = []
            x = left
            while x < rect.right():
                lines.append(QLineF(x, rect.top(), x, rect.bottom()))
                x += step
            y = top
            while y < rect.bottom():
                lines.append(QLineF(rect.left(), y, rect.right(), y))
                y += step
            painter.drawLines(lines)

    # -- zoom and fit --
    def zoom(self, factor: float, anchor: QPoint | None = None) -> None:
        """Scale by ``factor`` keeping the scene point under ``anchor`` (viewport pixels;
        default the centre) where it is."""
        self._fit_on_resize = False  # the user chose a view
        scale = self.transform().m11()
        factor = max(0.05 / scale, min(4.0 / scale, factor))
        if anchor is None:
            anchor = self.viewport().rect().center()
        before = self.mapToScene(anchor)
        self.scale(factor, factor)
        moved = self.mapFromScene(before) - anchor
        self.pan_pixels(moved.x(), moved.y())

    def pan_pixels(self, dx: float, dy: float) -> None:
        """Scroll the view by viewport pixels (the scene moves the other way)."""
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() + round(dx))
        v.setValue(v.value() + round(dy))

    def wheelEvent(self, event: QWheelEvent) -> None:
        angle = event.angleDelta().y()
        if angle:
            self.zoom(1.0015 ** angle, event.position().toPoint())
        event.accept()

    def fit(self, rect: QRectF) -> None:
        if rect.isNull() or rect.isEmpty():
            return
        self.fitInView(rect.adjusted(-40, -40, 40, 40), Qt.AspectRatioMode.KeepAspectRatio)
        if self.transform().m11() > 1.5:
            center = rect.center()
            self.resetTransform()
            self.scale(1.5, 1.5)
            self.centerOn(center)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit_on_resize:
            self.fit_all()

    def fit_all(self) -> None:
        """Show every node and group (again after each resize while the window is still
        taking its size, until the user zooms or pans)."""
        self._fit_on_resize = not self.isVisible() or self._fit_on_resize
        items = [i for i in self.canvas.items() if isinstance(i, (NodeItem, GroupItem))]
        rect = QRectF()
        for item in items:
            rect = rect.united(item.sceneBoundingRect())
        self.fit(rect)

    def fit_selection(self) -> None:
        rect = QRectF()
        for item in self.canvas.selectedItems():
            rect = rect.united(item.sceneBoundingRect())
        if rect.isNull():
            self.fit_all()
        else:
            self.fit(rect)

    # -- pan --
    def _start_pan(self, event: QMouseEvent) -> None:
        self._fit_on_resize = False
        self._pan = event.position().toPoint()
        self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.quick_add.isVisible() and not self.quick_add.geometry().contains(
                event.position().toPoint()):
            self.quick_add.close_box()
        if event.button() == Qt.MouseButton.MiddleButton or (
                event.button() == Qt.MouseButton.LeftButton and self._space):
            self._start_pan(event)
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan is not None:
            point = event.position().toPoint()
            delta = point - self._pan
            self._pan = point
            self.pan_pixels(-delta.x(), -delta.y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan is not None:
            self._pan = None
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space
                                      else Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        if event.key() == Qt.Key.Key_Tab:
            self.open_quick_add(self.mapToScene(self.mapFromGlobal(self.cursor().pos())))
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
            return
        super().keyReleaseEvent(event)

    def focusNextPrevChild(self, next: bool) -> bool:
        return False  # Tab opens quick-add instead of moving focus

    # -- quick add --
    def open_quick_add(self, scene_pos: QPointF, accept=None, port: PortRef | None = None) -> None:
        if not self.viewport().rect().contains(self.mapFromScene(scene_pos)):
            scene_pos = self.mapToScene(self.viewport().rect().center())
        self._quick_add_at = scene_pos
        self._quick_add_port = port
        self.quick_add.open(self.mapFromScene(scene_pos), accept)

    def _quick_add_chosen(self, type_id: str) -> None:
        pos = self._quick_add_at
        canvas = self.canvas
        if self._quick_add_port is not None:
            port = self._quick_add_port
            x = pos.x() if port.direction == OUT else pos.x() - 220
            node_id = canvas.editor.add_node_connected(type_id, (x, pos.y() - 20), port)
        else:
            node_id = canvas.editor.add_node(type_id, (pos.x(), pos.y()))
        self._quick_add_port = None
        canvas.select_nodes([node_id])

    # -- inline field editors --
    def open_field_editor(self, item: NodeItem, param: Param | None, scene_rect: QRectF) -> None:
        """An editor over a field (or over the title when ``param`` is None)."""
        if self.editor_widget is not None:
            self.editor_widget.finish()
        canvas = self.canvas
        node_id = item.node_id
        if param is None:
            scene_rect = item.mapRectToScene(QRectF(0, 0, item.layout.width, 26))
        rect = self.mapFromScene(scene_rect).boundingRect()
        rect.setHeight(max(rect.height(), 24))
        key = ("edit", next(_gestures))
        if param is None:
            def commit_title(text: str) -> bool:
                canvas.editor.set_attr([node_id], "title", text.strip())
                return True

            widget = InlineLineEdit(self.viewport(), item.title, commit_title)
        elif param.multiline:
            value = canvas.graph.nodes[node_id].params.get(param.name, "")
            def live_text(text: str) -> None:
                if node_id in canvas.graph.nodes:  # it may have been deleted meanwhile
                    canvas.editor.set_param(node_id, param.name, text, merge_key=key)

            widget = InlineTextEdit(self.viewport(), str(value), live_text)
            rect.setHeight(max(rect.height(), 90))
        else:
            value = canvas.graph.nodes[node_id].params.get(param.name, param.default)

            def commit(text: str) -> bool:
                if node_id not in canvas.graph.nodes:
                    return True
                checked, problem = check_or_message(param, text)
                if problem:
                    canvas.status.emit(problem)
                    return False
                canvas.editor.set_param(node_id, param.name, checked, merge_key=key)
                return True

            live = None
            if param.kind == "string":
                def live(text: str) -> None:
                    if node_id in canvas.graph.nodes:
                        canvas.editor.set_param(node_id, param.name, text, merge_key=key)
            widget = InlineLineEdit(self.viewport(), format_value(param, value)
                                    if param.kind != "string" else str(value), commit, live)
        widget.setGeometry(rect)
        widget.show()
        widget.setFocus()
        widget.destroyed.connect(lambda *_: setattr(self, "editor_widget", None))
        self.editor_widget = widget

    # -- drops --
    def dragEnterEvent(self, event) -> None:
        mime = event.mimeData()
        if mime.hasFormat(NODE_MIME) or mime.hasUrls():
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:
        mime = event.mimeData()
        if mime.hasFormat(NODE_MIME) or mime.hasUrls():
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event) -> None:
        mime = event.mimeData()
        if mime.hasFormat(NODE_MIME):
            type_id = bytes(mime.data(NODE_MIME)).decode()
            pos = self.mapToScene(event.position().toPoint())
            node_id = self.canvas.editor.add_node(type_id, (pos.x(), pos.y()))
            self.canvas.select_nodes([node_id])
            event.acceptProposedAction()
            return
        if mime.hasUrls():
            paths = [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]
            if paths:
                self.files_dropped.emit(paths)
                event.acceptProposedAction()
                return
        super().dropEvent(event)


def process_events() -> None:
    QApplication.processEvents()
