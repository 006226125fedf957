"""Drive the editor like a user: mouse drags between ports, quick-add typing."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from nodegraph.links import IN, OUT


def vp(window, scene_point: QPointF) -> QPoint:
    """A scene point in viewport coordinates."""
    return window.view.mapFromScene(scene_point)


def port_point(window, node_id: str, name: str, direction: str) -> QPointF:
    return window.canvas.nodes[node_id].port_pos(name, direction)


def drag(window, start: QPoint, end: QPoint, steps: int = 6,
         button=Qt.MouseButton.LeftButton, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """Press at ``start``, move in steps, release at ``end`` (viewport coordinates)."""
    viewport = window.view.viewport()
    QTest.mousePress(viewport, button, modifier, start)
    for i in range(1, steps + 1):
        point = start + (end - start) * (i / steps)
        QTest.mouseMove(viewport, point)
    QTest.mouseRelease(viewport, button, modifier, end)


def wire(window, src: str, src_out: str, dst: str, dst_in: str) -> None:
    """Drag from an output port to an input port."""
    drag(window, vp(window, port_point(window, src, src_out, OUT)),
         vp(window, port_point(window, dst, dst_in, IN)))


def quick_add(qtbot, window, query: str, at: QPoint | None = None) -> str:
    """Double-click empty canvas at ``at`` (or press Tab), type, Enter; the new node's id."""
    before = set(window.document.graph.nodes)
    viewport = window.view.viewport()
    if at is None:
        window.view.setFocus()
        QTest.keyClick(window.view, Qt.Key.Key_Tab)
    else:
        QTest.mouseDClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)
    box = window.view.quick_add
    qtbot.waitUntil(box.isVisible, timeout=60_000)
    qtbot.keyClicks(box.edit, query)
    qtbot.keyClick(box.edit, Qt.Key.Key_Return)
    added = set(window.document.graph.nodes) - before
    assert len(added) == 1, f"quick-add {query!r} added {added}"
    return added.pop()


def field_point(window, node_id: str, param: str, where: str = "middle") -> QPoint:
    """A point on a param field (middle, or its left/right arrow)."""
    item = window.canvas.nodes[node_id]
    rect = next(r for p, r in item.layout.params if p.name == param)
    x = {"middle": rect.center().x(), "left": rect.left() + 5, "right": rect.right() - 5}[where]
    return vp(window, item.mapToScene(QPointF(x, rect.center().y())))


def click(window, point: QPoint, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, modifier, point)


def type_into_field(qtbot, window, node_id: str, param: str, text: str) -> None:
    """Click a field, replace its text, press Enter."""
    click(window, field_point(window, node_id, param))
    editor = window.view.editor_widget
    assert editor is not None, "no inline editor opened"
    if hasattr(editor, "selectAll"):
        editor.selectAll()
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key.Key_Return)


def choose_enum(qtbot, window, node_id: str, param: str, choice: str) -> None:
    """Click an enum field and pick ``choice`` from the menu it pops up."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMenu

    picked = []

    def pick() -> None:
        menu = QApplication.activePopupWidget()
        if not isinstance(menu, QMenu):
            QTimer.singleShot(20, pick)
            return
        for action in menu.actions():
            if action.text() == choice:
                picked.append(choice)
                action.trigger()
        menu.close()

    QTimer.singleShot(20, pick)
    click(window, field_point(window, node_id, param))
    assert picked == [choice], f"{choice!r} was not offered"


def type_into_text(qtbot, window, node_id: str, param: str, text: str) -> None:
    """Click a multi-line field, type, press Esc to close it."""
    click(window, field_point(window, node_id, param))
    editor = window.view.editor_widget
    assert editor is not None, "no text editor opened"
    editor.selectAll()
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key.Key_Escape)


def drop_mime(window, mime, point: QPoint | None = None) -> None:
    """Drag ``mime`` onto the canvas and drop it at ``point`` (viewport coordinates)."""
    import warnings

    point = point or QPoint(200, 200)
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    viewport = window.view.viewport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the QPoint constructor
        enter = QDragEnterEvent(point, Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(point), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, drop)
    assert drop.isAccepted()


def solid_into_preview(qtbot, window, preview_x: int = 450,
                       size: str | None = "8") -> tuple[str, str]:
    """Add Solid colour -> Preview image through the editor (a ``size`` x ``size``
    image unless None: the default size); returns their node ids."""
    solid = quick_add(qtbot, window, "solid", QPoint(100, 80))
    preview = quick_add(qtbot, window, "preview", QPoint(preview_x, 80))
    wire(window, solid, "image", preview, "images")
    if size is not None:
        type_into_field(qtbot, window, solid, "width", size)
        type_into_field(qtbot, window, solid, "height", size)
    return solid, preview
