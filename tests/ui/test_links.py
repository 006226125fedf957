"""Links on the canvas: select and delete, pick up a linked input to move or drop it."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from nodegraph.links import IN

from .helpers import click, drag, port_point, quick_add, vp, wire


def test_click_a_link_and_delete_it(qtbot, make_window):
    window = make_window()
    solid = quick_add(qtbot, window, "solid", QPoint(100, 150))
    invert = quick_add(qtbot, window, "invert", QPoint(650, 150))
    wire(window, solid, "image", invert, "image")
    (item,) = window.canvas.links.values()
    click(window, vp(window, item.midpoint()))
    assert window.canvas.selected_link_ids() == [item.link.id]
    QTest.keyClick(window.view, Qt.Key.Key_Delete)
    assert not window.document.graph.links
    assert len(window.document.graph.nodes) == 2
    window.document.stack.undo()
    assert len(window.document.graph.links) == 1


def test_dragging_a_linked_input_moves_or_removes_the_link(qtbot, make_window):
    window = make_window()
    solid = quick_add(qtbot, window, "solid", QPoint(100, 150))
    first = quick_add(qtbot, window, "invert", QPoint(600, 100))
    second = quick_add(qtbot, window, "invert", QPoint(600, 350))
    wire(window, solid, "image", first, "image")
    graph = window.document.graph
    stack = window.document.stack
    count = stack.count()
    drag(window, vp(window, port_point(window, first, "image", IN)),
         vp(window, port_point(window, second, "image", IN)))
    (link,) = graph.links.values()
    assert (link.src, link.dst) == (solid, second)
    assert stack.count() == count + 1  # moving a link is one step
    drag(window, vp(window, port_point(window, second, "image", IN)), QPoint(900, 650))
    assert not graph.links
    assert not window.view.quick_add.isVisible()  # dropping a picked-up link only removes it
