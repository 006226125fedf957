"""The node library: every registered node by category, filterable; drag a node onto
the canvas (or double-click it) to add it."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nodegraph.registry import Registry

from .canvas import NODE_MIME
from .quick_add import score_spec

TYPE_ROLE = Qt.ItemDataRole.UserRole


class _Tree(QTreeWidget):
    def mimeData(self, items) -> QMimeData:
        mime = QMimeData()
        type_id = items[0].data(0, TYPE_ROLE) if items else None
        if type_id:
            mime.setData(NODE_MIME, type_id.encode())
        return mime

    def mimeTypes(self) -> list[str]:
        return [NODE_MIME]


class LibraryPanel(QDockWidget):
    """A dock with the categorised node list."""

    add_requested = Signal(str)

    def __init__(self, registry: Registry, parent: QWidget | None = None) -> None:
        super().__init__("Nodes", parent)
        self.setObjectName("LibraryPanel")
        self.registry = registry
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.filter = QLineEdit(body)
        self.filter.setPlaceholderText("Filter…")
        self.tree = _Tree(body)
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QTreeWidget.DragDropMode.DragOnly)
        layout.addWidget(self.filter)
        layout.addWidget(self.tree)
        self.setWidget(body)
        self.filter.textChanged.connect(self.refresh)
        self.tree.itemDoubleClicked.connect(self._activated)
        self.refresh()

    def refresh(self) -> None:
        query = self.filter.text()
        self.tree.clear()
        categories: dict[str, QTreeWidgetItem] = {}
        for spec in self.registry:
            if query and score_spec(query, spec) is None:
                continue
            parent = categories.get(spec.category)
            if parent is None:
                parent = categories[spec.category] = QTreeWidgetItem(self.tree, [spec.category])
                parent.setFlags(parent.flags() & ~Qt.ItemFlag.ItemIsDragEnabled)
            item = QTreeWidgetItem(parent, [spec.title])
            item.setData(0, TYPE_ROLE, spec.id)
            item.setToolTip(0, f"{spec.id}\n{spec.description}")
        self.tree.expandAll()

    def _activated(self, item: QTreeWidgetItem) -> None:
        type_id = item.data(0, TYPE_ROLE)
        if type_id:
            self.add_requested.emit(type_id)
