"""Copy/paste (also between two windows, through the clipboard as workflow JSON) keeps
the links between the copied nodes; duplicate; delete."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest

from nodegraph.workflow import parse_json

from .test_build_and_run import build_invert_graph


def _signature(graph):
    """Types, params and links, independent of ids and positions."""
    nodes = sorted((n.type, sorted(n.params.items())) for n in graph.nodes.values())
    links = sorted((graph.nodes[link.src].type, link.src_output, graph.nodes[link.dst].type,
                    link.dst_input) for link in graph.links.values())
    return nodes, links


def test_copy_paste_between_windows_keeps_links(qtbot, make_window):
    first = make_window()
    build_invert_graph(qtbot, first)
    QTest.keyClick(first.view, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(first.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    text = QGuiApplication.clipboard().text()
    assert parse_json(text)["format"] == "nodegraph.workflow"
    second = make_window()
    second.activateWindow()
    qtbot.waitUntil(second.isActiveWindow)
    QTest.keyClick(second.view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert _signature(second.document.graph) == _signature(first.document.graph)
    assert len(second.canvas.links) == 2
    # paste into the same window: the copies link to each other, not to the originals
    first.activateWindow()
    qtbot.waitUntil(first.isActiveWindow)
    QTest.keyClick(first.view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    graph = first.document.graph
    assert len(graph.nodes) == 6 and len(graph.links) == 4
    new_ids = set(first.canvas.selected_node_ids())
    assert len(new_ids) == 3
    for link in graph.links.values():
        assert (link.src in new_ids) == (link.dst in new_ids)
    # one paste is one undo step
    first.document.stack.undo()
    assert len(graph.nodes) == 3 and len(graph.links) == 2


def test_duplicate_and_delete_selection(qtbot, make_window):
    window = make_window()
    solid, invert, _preview = build_invert_graph(qtbot, window)
    window.canvas.select_nodes([solid, invert])
    QTest.keyClick(window.view, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    graph = window.document.graph
    assert len(graph.nodes) == 5 and len(graph.links) == 3
    QTest.keyClick(window.view, Qt.Key.Key_Delete)
    assert len(graph.nodes) == 3 and len(graph.links) == 2


def test_rubber_band_and_ctrl_click_selection(qtbot, make_window):
    from .helpers import click, drag, vp

    window = make_window()
    solid, _invert, preview = build_invert_graph(qtbot, window)
    window.canvas.clearSelection()
    item = window.canvas.nodes[solid]
    rect = item.sceneBoundingRect()
    start = vp(window, rect.topLeft()) - QPoint(15, 15)
    end = vp(window, rect.bottomRight()) + QPoint(15, 15)
    drag(window, start, end)
    assert window.canvas.selected_node_ids() == [solid]
    other = window.canvas.nodes[preview]
    title = vp(window, other.mapToScene(other.layout.width / 2, 8))
    click(window, title, Qt.KeyboardModifier.ControlModifier)
    assert set(window.canvas.selected_node_ids()) == {solid, preview}
    # selection is not in the undo history
    count = window.document.stack.count()
    click(window, title)
    assert window.canvas.selected_node_ids() == [preview]
    assert window.document.stack.count() == count
