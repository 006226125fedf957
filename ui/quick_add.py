"""Quick-add search: a fuzzy finder over node titles, categories, ids and port types.
Opens on double-click or Tab (or when a wire is dropped on empty canvas, then limited to
nodes that can take the wire); Up/Down move, Enter adds, Esc closes."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QFrame, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from nodegraph.registry import NodeSpec, Registry

TYPE_ROLE = Qt.ItemDataRole.UserRole


def fuzzy_score(query: str, text: str) -> float | None:
    """How well ``query``'s letters appear in order in ``text`` (None: they don't).
    Consecutive letters and letters at word starts score more; substrings score most."""
    query, lowered = query.lower(), text.lower()
    if not query:
        return 0.0
    found = lowered.find(query)
    if found >= 0:
        return 10.0 + 2 * len(query) - 0.05 * found + (5.0 if found == 0 else 0.0)
    score, pos, last = 0.0, 0, -2
    for char in query:
        index = lowered.find(char, pos)
        if index < 0:
            return None
        score += 1.0
        if index == last + 1:
            score += 2.0
        if index == 0 or not lowered[index - 1].isalnum():
            score += 1.5
        score -= 0.02 * (index - pos)
        last, pos = index, index + 1
    return score


def score_spec(query: str, spec: NodeSpec) -> float | None:
    """Every word of ``query`` must match the title, category, id or a port type."""
    ports = " ".join([i.type for i in spec.inputs] + [o.type for o in spec.outputs])
    fields = ((spec.title, 3.0), (spec.category, 1.5), (spec.id, 1.0), (ports, 1.0))
    total = 0.0
    for token in query.split():
        best = None
        for text, weight in fields:
            score = fuzzy_score(token, text)
            if score is not None and (best is None or score * weight > best):
                best = score * weight
        if best is None:
            return None
        total += best
    return total


def search(registry: Registry, query: str,
           accept: Callable[[NodeSpec], bool] | None = None) -> list[NodeSpec]:
    """Specs matching ``query`` (all when empty), best first."""
    scored = []
    for spec in registry:
        if accept is not None and not accept(spec):
            continue
        score = score_spec(query, spec)
        if score is not None:
            scored.append((-score, spec.category, spec.title, spec))
    scored.sort(key=lambda item: item[:3])
    return [item[3] for item in scored]


class QuickAdd(QFrame):
    """The search box shown over the canvas."""

    chosen = Signal(str)
    closed = Signal()

    def __init__(self, registry: Registry, parent: QWidget) -> None:
        super().__init__(parent)
        self.registry = registry
        self.accept_spec: Callable[[NodeSpec], bool] | None = None
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("QuickAdd")
        self.setStyleSheet("#QuickAdd { background: #2b2d31; border: 1px solid #4a4d55; "
                           "border-radius: 6px; }")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText("Search nodes (title, category, type)…")
        self.list = QListWidget(self)
        layout.addWidget(self.edit)
        layout.addWidget(self.list)
        self.resize(320, 360)
        self.edit.textChanged.connect(self.refresh)
        self.edit.installEventFilter(self)
        self.list.itemActivated.connect(self._activate)
        self.hide()

    def open(self, at, accept: Callable[[NodeSpec], bool] | None = None) -> None:
        """Show at widget point ``at`` with an empty query."""
        self.accept_spec = accept
        parent = self.parentWidget()
        x = min(max(0, at.x()), max(0, parent.width() - self.width()))
        y = min(max(0, at.y()), max(0, parent.height() - self.height()))
        self.move(x, y)
        self.edit.blockSignals(True)
        self.edit.clear()
        self.edit.blockSignals(False)
        self.refresh()
        self.show()
        self.raise_()
        self.edit.setFocus()

    def refresh(self) -> None:
        self.list.clear()
        for spec in search(self.registry, self.edit.text(), self.accept_spec):
            item = QListWidgetItem(f"{spec.title}    ·  {spec.category}")
            item.setData(TYPE_ROLE, spec.id)
            item.setToolTip(f"{spec.id}\n{spec.description}")
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def results(self) -> list[str]:
        return [self.list.item(i).data(TYPE_ROLE) for i in range(self.list.count())]

    def _activate(self, item: QListWidgetItem) -> None:
        type_id = item.data(TYPE_ROLE)
        self.close_box()
        self.chosen.emit(type_id)

    def close_box(self) -> None:
        if self.isVisible():
            self.hide()
            self.closed.emit()
            self.parentWidget().setFocus()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (watched is self.edit and event.type() == QEvent.Type.ShortcutOverride
                and isinstance(event, QKeyEvent) and event.key() in (
                    Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab)):
            event.accept()
            return True
        if watched is self.edit and event.type() == QEvent.Type.KeyPress:
            key = event.key()
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
                row = self.list.currentRow() + (1 if key == Qt.Key.Key_Down else -1)
                if 0 <= row < self.list.count():
                    self.list.setCurrentRow(row)
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                item = self.list.currentItem()
                if item is not None:
                    self._activate(item)
                return True
            if key == Qt.Key.Key_Escape:
                self.close_box()
                return True
        return super().eventFilter(watched, event)
