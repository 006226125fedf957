"""Runs: cancel a long run, the UI stays usable meanwhile, runs queue, node errors show
on the node (with the input at fault) and the app keeps working."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog, QPlainTextEdit

from nodegraph import events as ev

from .helpers import quick_add, solid_into_preview, type_into_field, vp, wire
from .test_build_and_run import run_and_wait


def test_cancel_a_long_run_while_the_ui_stays_responsive(qtbot, make_window):
    window = make_window()
    slow = quick_add(qtbot, window, "slow counter", QPoint(150, 150))
    window.canvas.editor.set_param(slow, "steps", 5000)  # ~100 s if not cancelled
    QTest.keyClick(window.view, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    item = window.canvas.nodes[slow]
    qtbot.waitUntil(lambda: item.state == "running" and item.progress is not None,
                    timeout=60_000)
    # the UI keeps working during the run: zoom, add a node, undo it; progress keeps
    # arriving while the run goes on (ordering, not a stopwatch: the machine may be busy)
    scale = window.view.transform().m11()
    wheel = QWheelEvent(QPointF(300, 300), QPointF(window.view.viewport().mapToGlobal(
        QPoint(300, 300))), QPoint(0, 0), QPoint(0, 240), Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(window.view.viewport(), wheel)
    assert window.view.transform().m11() > scale
    shown = item.progress[0]
    quick_add(qtbot, window, "invert", QPoint(500, 150))
    qtbot.waitUntil(lambda: item.progress[0] > shown, timeout=60_000)
    assert window.runs.busy and item.state == "running"
    # a second run queues behind the first
    QTest.keyClick(window.view, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.runs.queued == 1
    # record the worker's step when Esc sets the cancel token
    token = window.runs._worker.cancel
    checks, at_cancel = [], []
    check, cancel = token.raise_if_cancelled, token.cancel
    token.raise_if_cancelled = lambda: (checks.append(1), check())
    token.cancel = lambda: (at_cancel.append(len(checks)), cancel())
    steps: list[int] = []
    window.runs.event.connect(lambda e: steps.append(e.step)
                              if isinstance(e, ev.NodeProgress) else None)
    QTest.keyClick(window.view, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.runs.busy, timeout=60_000)
    assert window.last_run.status == "cancelled"
    assert window.runs.queued == 0
    # it stopped at the first check after the Esc (the worker's check may race the key
    # by one step): no more than two progress checks after the cancel, and far from done
    assert at_cancel and len(checks) - at_cancel[0] <= 2
    assert max(steps, default=0) < 5000
    assert "cancelled" in window.statusBar().currentMessage()


def test_a_node_error_shows_on_the_node_and_the_app_keeps_working(qtbot, make_window):
    window = make_window()
    base = quick_add(qtbot, window, "solid", QPoint(100, 80))
    top = quick_add(qtbot, window, "solid", QPoint(100, 380))
    blend = quick_add(qtbot, window, "blend", QPoint(450, 200))
    preview = quick_add(qtbot, window, "preview", QPoint(800, 200))
    for node_id, batch in ((base, "2"), (top, "3")):
        type_into_field(qtbot, window, node_id, "width", "8")
        type_into_field(qtbot, window, node_id, "height", "8")
        type_into_field(qtbot, window, node_id, "batch", batch)
    wire(window, base, "image", blend, "base")
    wire(window, top, "image", blend, "top")
    wire(window, blend, "image", preview, "images")
    run_and_wait(qtbot, window)
    assert window.last_run.status == "failed"
    item = window.canvas.nodes[blend]
    assert item.state == "failed"
    assert item.error_field == "top"
    assert "batch of 3" in item.error
    assert item.layout.error is not None
    assert window.canvas.nodes[preview].state == "skipped"
    dialog = window.show_error_details(blend)
    assert "Traceback" in dialog.findChildren(type(dialog.layout().itemAt(0).widget()))[
        0].toPlainText()
    dialog.close()
    # a double-click on the failed node's header opens the details too
    header = vp(window, item.mapToScene(QPointF(item.layout.width / 2, 12)))
    QTest.mouseDClick(window.view.viewport(), Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier, header)
    dialogs = [w for w in window._viewers if isinstance(w, QDialog) and w.isVisible()]
    assert dialogs and "batch of 3" in dialogs[0].findChild(QPlainTextEdit).toPlainText()
    dialogs[0].close()
    # fix the input and run again: the app kept working
    type_into_field(qtbot, window, top, "batch", "1")
    run_and_wait(qtbot, window)
    assert window.last_run.status == "finished"
    assert item.state == "done" and item.error is None
    assert len(window.images[preview]) == 2


def test_an_invalid_graph_is_rejected_with_the_problem_on_the_node(qtbot, make_window):
    window = make_window()
    invert = quick_add(qtbot, window, "invert", QPoint(100, 80))
    preview = quick_add(qtbot, window, "preview", QPoint(450, 80))
    wire(window, invert, "image", preview, "images")
    QTest.keyClick(window.view, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.runs.busy, timeout=60_000)
    item = window.canvas.nodes[invert]
    qtbot.waitUntil(lambda: item.state == "problem")
    assert item.error_field == "image"
    assert "Cannot run" in window.statusBar().currentMessage()


def test_after_cancel_nothing_looks_running_and_old_images_are_marked_stale(qtbot, make_window):
    window = make_window()
    slow = quick_add(qtbot, window, "slow counter", QPoint(150, 450))
    solid, preview = solid_into_preview(qtbot, window, preview_x=500)
    window.canvas.editor.set_param(slow, "steps", 2)
    run_and_wait(qtbot, window)
    assert window.last_run.status == "finished"
    assert "Run finished" in window.statusBar().currentMessage()
    shown = window.canvas.nodes[preview]
    assert shown.images and not shown.stale
    # a second, long run, cancelled while the slow counter (first in order) runs
    window.canvas.editor.set_param(slow, "steps", 5000)
    window.canvas.editor.set_param(solid, "color", "#00ff00")
    QTest.keyClick(window.view, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    item = window.canvas.nodes[slow]
    qtbot.waitUntil(lambda: item.state == "running" and item.progress is not None,
                    timeout=60_000)
    assert "Run finished" not in window.statusBar().currentMessage()  # not the old run's
    assert "Running" in window.statusBar().currentMessage()
    QTest.keyClick(window.view, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.runs.busy, timeout=60_000)
    assert window.last_run.status == "cancelled"
    assert item.state == "cancelled" and item.progress is None
    assert "/5000" not in item._badge()
    assert item.preview is None and item.layout.thumb is None
    # the preview keeps run 1's picture, marked as not from the latest run
    assert shown.images and shown.stale
    assert shown.state is None
    # a finished run shows fresh images again
    window.canvas.editor.set_param(slow, "steps", 2)
    run_and_wait(qtbot, window)
    assert not shown.stale and window.images[preview][0].pixelColor(1, 1).name() == "#00ff00"


def test_an_unconnected_preview_is_marked_and_the_rest_runs(qtbot, make_window):
    window = make_window()
    _solid, preview = solid_into_preview(qtbot, window)
    dangling = quick_add(qtbot, window, "preview", QPoint(450, 420))
    run_and_wait(qtbot, window)
    assert window.images[preview][0].width() == 8  # the rest ran
    item = window.canvas.nodes[dangling]
    assert item.state == "problem" and item.error_field == "images"
    assert "not connected" in item.error
    message = window.statusBar().currentMessage()
    assert f"Preview image (#{dangling}), input 'images': required input is not connected" \
        in message
    assert "image.Preview" not in message


def test_the_run_time_is_accounted_for_in_the_status_bar(qtbot, make_window):
    import re

    window = make_window()
    solid, _preview = solid_into_preview(qtbot, window, size=None)
    run_and_wait(qtbot, window)
    message = window.statusBar().currentMessage()
    found = re.search(r"Run finished in ([\d.]+) s: nodes ([\d.]+) s; engine ([\d.]+) s; "
                      r"start ([\d.]+) s", message)
    assert found, message
    total, *parts = (float(v) for v in found.groups())
    assert abs(total - sum(parts)) <= 0.015  # the parts add up to the time waited
    nodes = sum(e.seconds for e in window.run_states.summary.node_times)
    assert abs(parts[0] - nodes) <= 0.005
    assert "ran in" in window.canvas.nodes[solid].toolTip()
