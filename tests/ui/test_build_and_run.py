"""Build a graph from an empty canvas with quick-add and port drags, run it, check the
pixels; refuse an incompatible drag; undo to empty and redo to the same JSON."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from nodegraph.links import IN, OUT, PortRef
from nodegraph.workflow import dumps

from .helpers import drag, port_point, quick_add, type_into_field, vp, wire


def build_invert_graph(qtbot, window) -> tuple[str, str, str]:
    """Solid colour -> Invert -> Preview, made the way a user would."""
    solid = quick_add(qtbot, window, "solid", QPoint(120, 120))
    invert = quick_add(qtbot, window, "invert", QPoint(450, 140))
    preview = quick_add(qtbot, window, "prev img", QPoint(750, 120))
    wire(window, solid, "image", invert, "image")
    wire(window, invert, "image", preview, "images")
    type_into_field(qtbot, window, solid, "width", "64")
    type_into_field(qtbot, window, solid, "height", "48")
    type_into_field(qtbot, window, solid, "color", "#ff8000")
    return solid, invert, preview


def run_and_wait(qtbot, window, timeout=60_000) -> None:
    window.last_run = None
    QTest.keyClick(window.view, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.runs.busy, (QApplication.focusWidget(), QApplication.activeWindow())
    qtbot.waitUntil(lambda: not window.runs.busy and window.last_run is not None,
                    timeout=timeout)


def test_build_graph_with_quick_add_and_drags_then_run_shows_pixels(qtbot, make_window):
    window = make_window()
    solid, invert, preview = build_invert_graph(qtbot, window)
    graph = window.document.graph
    assert [n.type for n in graph.nodes.values()] == ["image.Solid", "image.Invert",
                                                      "image.Preview"]
    assert {(link.src, link.dst_input) for link in graph.links.values()} == {
        (solid, "image"), (invert, "images")}
    assert graph.nodes[solid].params["width"] == 64
    assert graph.nodes[solid].params["color"] == "#ff8000"
    run_and_wait(qtbot, window)
    assert window.last_run.status == "finished"
    image = window.images[preview][0]
    assert (image.width(), image.height()) == (64, 48)
    color = image.pixelColor(10, 10)
    assert (color.red(), color.green(), color.blue()) == (0, 127, 255)
    item = window.canvas.nodes[preview]
    assert item.state == "done" and item.layout.thumb is not None
    # a click on the thumbnail opens the full-size viewer
    viewer = window.open_viewer(preview)
    assert viewer is not None and viewer.images[0].width() == 64
    viewer.close()


def test_rerun_after_edit_reruns_only_what_changed(qtbot, make_window):
    window = make_window()
    solid, invert, preview = build_invert_graph(qtbot, window)
    run_and_wait(qtbot, window)
    run_and_wait(qtbot, window)
    states = {i: window.canvas.nodes[i].state for i in (solid, invert)}
    assert states == {solid: "cached", invert: "cached"}
    type_into_field(qtbot, window, solid, "color", "#000000")
    run_and_wait(qtbot, window)
    assert window.canvas.nodes[solid].state == "done"
    assert window.images[preview][0].pixelColor(1, 1).red() == 255


def test_incompatible_drag_is_refused_with_reason(qtbot, make_window):
    window = make_window()
    number = quick_add(qtbot, window, "integer", QPoint(120, 120))
    invert = quick_add(qtbot, window, "invert", QPoint(500, 120))
    wire(window, number, "value", invert, "image")
    assert window.document.graph.links == {}
    assert "type mismatch" in window.statusBar().currentMessage()
    assert "INT" in window.statusBar().currentMessage()
    # output to output is refused too
    solid = quick_add(qtbot, window, "solid", QPoint(120, 400))
    drag(window, vp(window, port_point(window, solid, "image", OUT)),
         vp(window, port_point(window, invert, "image", OUT)))
    assert window.document.graph.links == {}
    # and a compatible one is accepted; connecting to an occupied input replaces its link
    wire(window, solid, "image", invert, "image")
    solid2 = quick_add(qtbot, window, "solid", QPoint(120, 650))
    wire(window, solid2, "image", invert, "image")
    links = list(window.document.graph.links.values())
    assert [(link.src, link.dst) for link in links] == [(solid2, invert)]


def test_wiring_highlights_compatible_ports_while_dragging(qtbot, make_window):
    window = make_window()
    solid = quick_add(qtbot, window, "solid", QPoint(120, 120))
    invert = quick_add(qtbot, window, "invert", QPoint(500, 120))
    number = quick_add(qtbot, window, "integer", QPoint(500, 400))
    viewport = window.view.viewport()
    start = vp(window, port_point(window, solid, "image", OUT))
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(viewport, start + QPoint(40, 40))
    targets = window.canvas.wire_targets
    assert PortRef(invert, "image", IN) in targets
    assert not any(t.node_id == number for t in targets)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       start + QPoint(40, 40))


def test_dropping_a_wire_on_empty_canvas_adds_a_connected_node(qtbot, make_window):
    window = make_window()
    solid = quick_add(qtbot, window, "solid", QPoint(120, 120))
    drag(window, vp(window, port_point(window, solid, "image", OUT)), QPoint(600, 500))
    box = window.view.quick_add
    qtbot.waitUntil(box.isVisible)
    offered = box.results()
    assert "image.Invert" in offered and "primitive.Int" not in offered
    qtbot.keyClicks(box.edit, "invert")
    qtbot.keyClick(box.edit, Qt.Key.Key_Return)
    graph = window.document.graph
    assert len(graph.nodes) == 2
    (link,) = graph.links.values()
    assert (link.src, link.src_output, graph.nodes[link.dst].type, link.dst_input) == (
        solid, "image", "image.Invert", "image")
    # adding and connecting was one undo step
    window.document.stack.undo()
    assert len(graph.nodes) == 1 and not graph.links


def test_undo_to_empty_and_redo_gives_the_same_workflow(qtbot, make_window):
    window = make_window()
    build_invert_graph(qtbot, window)
    # move a node by dragging its title: one undo step
    solid_id = next(iter(window.document.graph.nodes))
    item = window.canvas.nodes[solid_id]
    title = vp(window, item.mapToScene(item.layout.width / 2, 10))
    stack = window.document.stack
    before = stack.count()
    drag(window, title, title + QPoint(80, 60), steps=10)
    assert stack.count() == before + 1
    full = dumps(window.document.graph)
    while stack.canUndo():
        QTest.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(window.document.graph.nodes) == 0 and not window.canvas.nodes
    while stack.canRedo():
        QTest.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier
                       | Qt.KeyboardModifier.ShiftModifier)
    assert dumps(window.document.graph) == full
    assert set(window.canvas.nodes) == set(window.document.graph.nodes)
    assert set(window.canvas.links) == set(window.document.graph.links)


def test_run_selected_runs_only_the_selection_and_what_it_needs(qtbot, make_window):
    window = make_window()
    solid, invert, preview = build_invert_graph(qtbot, window)
    window.canvas.select_nodes([invert])
    window.last_run = None
    QTest.keyClick(window.view, Qt.Key.Key_Return,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: not window.runs.busy and window.last_run is not None,
                    timeout=60_000)
    assert window.last_run.status == "finished"
    assert window.canvas.nodes[solid].state == window.canvas.nodes[invert].state == "done"
    assert window.canvas.nodes[preview].state != "done" and preview not in window.images
    # nothing selected: nothing runs, and the status bar says why
    window.canvas.select_nodes([])
    window.run_selected()
    assert not window.runs.busy
    assert "Select the nodes to run" in window.statusBar().currentMessage()


def test_a_click_on_the_colour_swatch_picks_a_colour_undoably(qtbot, make_window, monkeypatch):
    from PySide6.QtGui import QColor
    from PySide6.QtWidgets import QColorDialog

    from .helpers import click, field_point

    window = make_window()
    solid, _invert, _preview = build_invert_graph(qtbot, window)
    asked = []

    def get_color(initial, *_args):
        asked.append(initial.name())
        return QColor("#12ab34")

    monkeypatch.setattr(QColorDialog, "getColor", get_color)
    click(window, field_point(window, solid, "color", "right"))
    assert asked == ["#ff8000"]
    assert window.document.graph.nodes[solid].params["color"] == "#12ab34"
    window.document.stack.undo()
    assert window.document.graph.nodes[solid].params["color"] == "#ff8000"


def test_dragging_the_corner_grip_widens_a_node_in_one_undo_step(qtbot, make_window):
    from PySide6.QtCore import QPointF

    from .helpers import drag, vp

    window = make_window()
    solid, invert, _preview = build_invert_graph(qtbot, window)
    item = window.canvas.nodes[invert]
    width = item.layout.width
    corner = item.mapToScene(QPointF(width - 3, item.layout.height - 3))
    view_scale = window.view.transform().m11()
    drag(window, vp(window, corner), vp(window, corner + QPointF(80 / view_scale, 0)))
    node = window.document.graph.nodes[invert]
    assert node.size is not None and abs(node.size[0] - (width + 80)) <= 2
    assert abs(item.layout.width - node.size[0]) < 1e-6  # drawn at the new width
    # the wire into the node follows its new right edge
    assert abs(item.port_pos("image", OUT).x() - item.mapToScene(
        QPointF(node.size[0], 0)).x()) < 1e-6
    pos_before = window.document.graph.nodes[solid].pos
    window.document.stack.undo()
    assert window.document.graph.nodes[invert].size is None
    assert item.layout.width == width and window.document.graph.nodes[solid].pos == pos_before
    # never narrower than the minimum
    drag(window, vp(window, corner), vp(window, corner - QPointF(400 / view_scale, 0)))
    assert window.document.graph.nodes[invert].size[0] == 140.0
