"""Keys typed into a field or the search box edit the text, never the graph."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from .helpers import click, field_point, quick_add


def test_delete_and_backspace_in_a_field_do_not_delete_the_node(qtbot, make_window):
    window = make_window()
    solid = quick_add(qtbot, window, "solid", QPoint(150, 150))
    click(window, field_point(window, solid, "color"))
    editor = window.view.editor_widget
    QTest.keyClick(editor, Qt.Key.Key_End)
    QTest.keyClick(editor, Qt.Key.Key_Backspace)
    QTest.keyClick(editor, Qt.Key.Key_Home)
    QTest.keyClick(editor, Qt.Key.Key_Delete)
    QTest.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert solid in window.document.graph.nodes
    assert editor.text() == "80808"
    QTest.keyClick(editor, Qt.Key.Key_Escape)
    assert window.document.graph.nodes[solid].params["color"] == "#808080"


def test_backspace_in_the_search_box_edits_the_query(qtbot, make_window):
    window = make_window()
    solid = quick_add(qtbot, window, "solid", QPoint(150, 150))
    window.canvas.select_nodes([solid])
    QTest.keyClick(window.view, Qt.Key.Key_Tab)
    box = window.view.quick_add
    qtbot.keyClicks(box.edit, "invx")
    QTest.keyClick(box.edit, Qt.Key.Key_Backspace)
    assert box.edit.text() == "inv" and solid in window.document.graph.nodes
    QTest.keyClick(box.edit, Qt.Key.Key_Escape)
