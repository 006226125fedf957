"""Ctrl+Enter runs the graph wherever the focus is in the window: in a number field
being typed into, in a prompt being typed, and when the window system has not (yet)
made the window the active one (as after a popup menu closed on a busy machine)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWidget

from .helpers import click, field_point, quick_add, type_into_field, wire


def _solid_to_preview(qtbot, window) -> tuple[str, str]:
    solid = quick_add(qtbot, window, "solid", QPoint(120, 120))
    preview = quick_add(qtbot, window, "prev img", QPoint(500, 120))
    wire(window, solid, "image", preview, "images")
    type_into_field(qtbot, window, solid, "width", "16")
    type_into_field(qtbot, window, solid, "height", "8")
    return solid, preview


def _ctrl_enter(widget) -> None:
    QTest.keyClick(widget, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)


def test_ctrl_enter_in_a_number_field_commits_it_and_runs(qtbot, make_window):
    window = make_window()
    solid, preview = _solid_to_preview(qtbot, window)
    click(window, field_point(window, solid, "width"))
    editor = window.view.editor_widget
    editor.selectAll()
    qtbot.keyClicks(editor, "24")
    _ctrl_enter(editor)  # no Enter first: the typed value must still be the one that runs
    assert window.runs.busy
    qtbot.waitUntil(lambda: window.last_run is not None and not window.runs.busy, timeout=120_000)
    assert window.last_run.status == "finished"
    assert window.images[preview][0].width() == 24
    assert window.view.editor_widget is None


def test_ctrl_enter_while_typing_a_prompt_runs_what_was_typed(qtbot, make_window):
    window = make_window()
    solid, preview = _solid_to_preview(qtbot, window)
    text = quick_add(qtbot, window, "primitive text", QPoint(120, 420))
    wire(window, text, "value", solid, "color")
    click(window, field_point(window, text, "value"))
    editor = window.view.editor_widget
    qtbot.keyClicks(editor, "#00ff00")
    _ctrl_enter(editor)
    assert window.runs.busy
    qtbot.waitUntil(lambda: window.last_run is not None and not window.runs.busy, timeout=120_000)
    assert window.last_run.status == "finished", window.statusBar().currentMessage()
    assert window.images[preview][0].pixelColor(2, 2).name() == "#00ff00"
    assert "\n" not in window.document.graph.nodes[text].params["value"]


def test_ctrl_enter_runs_when_the_window_is_not_the_active_one(qtbot, make_window):
    window = make_window()
    _solid, preview = _solid_to_preview(qtbot, window)
    other = QWidget()  # takes the activation, like a popup the window system still holds
    qtbot.addWidget(other)
    other.show()
    other.activateWindow()
    qtbot.waitUntil(lambda: not window.isActiveWindow())
    _ctrl_enter(window.view)
    assert window.runs.busy
    qtbot.waitUntil(lambda: window.last_run is not None and not window.runs.busy, timeout=120_000)
    assert window.last_run.status == "finished"
    assert window.images[preview][0].width() == 16
    other.close()
