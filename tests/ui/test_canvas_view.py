"""Canvas navigation and the smaller editing gestures: pan (middle-drag, Space+drag),
zoom to cursor, fit, drag from the library, seed randomize, settings, image viewer."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from ui.canvas import NODE_MIME

from .helpers import click, drag, drop_mime, field_point, quick_add
from .test_build_and_run import build_invert_graph, run_and_wait


def test_middle_drag_and_space_drag_pan_the_view(qtbot, make_window):
    window = make_window()
    view = window.view
    center = view.viewport().rect().center()
    before = view.mapToScene(center)
    drag(window, center, center + QPoint(100, 50), button=Qt.MouseButton.MiddleButton)
    after = view.mapToScene(center)
    assert abs((before - after).x() - 100) < 2 and abs((before - after).y() - 50) < 2
    QTest.keyPress(view, Qt.Key.Key_Space)
    drag(window, center, center + QPoint(-40, 0))
    QTest.keyRelease(view, Qt.Key.Key_Space)
    assert abs((view.mapToScene(center) - after).x() - 40) < 2
    assert window.document.stack.count() == 0  # panning is not an edit


def test_wheel_zooms_around_the_cursor(qtbot, make_window):
    window = make_window()
    view = window.view
    point = QPoint(200, 150)
    before = view.mapToScene(point)
    wheel = QWheelEvent(QPointF(point), QPointF(view.viewport().mapToGlobal(point)),
                        QPoint(0, 0), QPoint(0, 240), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), wheel)
    assert view.transform().m11() > 1.2
    after = view.mapToScene(point)
    assert abs(after.x() - before.x()) < 2 and abs(after.y() - before.y()) < 2


def test_fit_all_and_fit_selection(qtbot, make_window):
    window = make_window()
    solid, _invert, preview = build_invert_graph(qtbot, window)
    window.canvas.editor.move({preview: (3000.0, 2000.0)})
    QTest.keyClick(window.view, Qt.Key.Key_Home)
    visible = window.view.mapToScene(window.view.viewport().rect()).boundingRect()
    for item in window.canvas.nodes.values():
        assert visible.contains(item.sceneBoundingRect())
    window.canvas.select_nodes([solid])
    QTest.keyClick(window.view, Qt.Key.Key_F)
    visible = window.view.mapToScene(window.view.viewport().rect()).boundingRect()
    assert visible.contains(window.canvas.nodes[solid].sceneBoundingRect())
    assert not visible.intersects(window.canvas.nodes[preview].sceneBoundingRect())


def test_dragging_a_node_from_the_library_onto_the_canvas(qtbot, make_window):
    window = make_window()
    mime = QMimeData()
    mime.setData(NODE_MIME, b"image.Blend")
    drop_mime(window, mime, QPoint(300, 200))
    (node,) = window.document.graph.nodes.values()
    assert node.type == "image.Blend"
    expected = window.view.mapToScene(QPoint(300, 200))
    assert abs(node.pos[0] - expected.x()) < 1 and abs(node.pos[1] - expected.y()) < 1


def test_seed_dice_randomizes_and_bool_toggles(qtbot, make_window):
    window = make_window()
    seed = quick_add(qtbot, window, "seed", QPoint(150, 150))
    click(window, field_point(window, seed, "seed", "right"))
    first = window.document.graph.nodes[seed].params["seed"]
    click(window, field_point(window, seed, "seed", "right"))
    assert first != 0 and window.document.graph.nodes[seed].params["seed"] != first
    flag = quick_add(qtbot, window, "boolean", QPoint(500, 150))
    click(window, field_point(window, flag, "value"))
    assert window.document.graph.nodes[flag].params["value"] is True


def test_bypass_mute_collapse_and_colour_through_the_editor(qtbot, make_window):
    window = make_window()
    solid, invert, _preview = build_invert_graph(qtbot, window)
    window.canvas.select_nodes([invert])
    QTest.keyClick(window.view, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    assert window.document.graph.nodes[invert].bypass
    run_and_wait(qtbot, window)
    assert window.last_run.status == "finished"
    preview_image = next(iter(window.images.values()))[0]
    assert preview_image.pixelColor(1, 1).name() == "#ff8000"  # invert was bypassed
    QTest.keyClick(window.view, Qt.Key.Key_C, Qt.KeyboardModifier.AltModifier)
    assert window.document.graph.nodes[invert].collapsed
    assert window.canvas.nodes[invert].layout.height < 40
    window.canvas.editor.set_attr([solid], "color", "#2d4260")
    window.document.stack.undo()
    assert window.document.graph.nodes[solid].color is None


def test_settings_apply_to_the_next_run(qtbot, make_window, tmp_path, monkeypatch):
    from ui.dialogs import SettingsDialog

    monkeypatch.setenv("NODEGRAPH_MODELS", "")  # what configure() sets is undone after

    window = make_window()
    dialog = SettingsDialog(window.settings, window)
    dialog.device.setCurrentText("cpu")
    dialog.cache.setValue(256)
    dialog.folders.setPlainText(str(tmp_path / "models"))
    dialog.apply()
    dialog.deleteLater()
    s = window.settings
    window.runs.configure(s.get("device"), s.get("cache_mb"), s.get("output_dir"),
                          s.get("model_folders"))
    executor = window.runs.executor()
    assert window.runs.options.device == "cpu" and executor.cache.budget_bytes == 256 * 1024 * 1024
    import os

    assert os.environ["NODEGRAPH_MODELS"] == str(tmp_path / "models")


def test_image_viewer_saves_the_full_size_image(qtbot, make_window, tmp_path):
    window = make_window()
    _solid, _invert, preview = build_invert_graph(qtbot, window)
    run_and_wait(qtbot, window)
    item = window.canvas.nodes[preview]
    click(window, window.view.mapFromScene(item.mapToScene(item.layout.thumb.center())))
    viewer = window._viewers[-1]
    assert viewer.isVisible()
    assert viewer.save(str(tmp_path / "full.png"))
    from PySide6.QtGui import QImage

    assert QImage(str(tmp_path / "full.png")).size() == window.images[preview][0].size()
    viewer.close()


def test_long_note_text_is_cut_with_an_ellipsis_and_titles_fit_their_room(qtbot, make_window):
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QFontMetricsF

    from ui.node_item import fit_wrapped, style

    window = make_window()  # a QApplication and the node style exist
    s = style()
    rect = QRectF(0, 0, 120, 40)
    assert fit_wrapped(s.metrics, rect, "short note") == "short note"
    long = "this note has far more words than the small box could ever hold " * 4
    shown = fit_wrapped(s.metrics, rect, long)
    assert shown.endswith("…") and long.startswith(shown[:-1].rstrip())
    flags = Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap
    assert s.metrics.boundingRect(rect, flags, shown).height() <= rect.height() + 0.5
    # a long title next to the time badge is elided in its own (bold, larger) font
    node = window.canvas.editor.add_node("image.Solid", (0.0, 0.0))
    window.canvas.editor.set_attr([node], "title", "Upscale x4 (for viewing), a long title")
    item = window.canvas.nodes[node]
    item.set_state("done", seconds=0.01)
    rect, shown = item.shown_title()
    assert shown.endswith("…")
    assert QFontMetricsF(s.title_font).horizontalAdvance(shown) <= rect.width()
    window.close()


def test_hovering_a_port_or_field_shows_its_description(qtbot, make_window):
    """The registry's descriptions reach the node: e.g. what an unlinked negative means."""
    from PySide6.QtCore import QPointF

    from nodegraph.links import IN

    from .helpers import vp

    window = make_window()
    node_id = window.canvas.editor.add_node("sampling.CFGGuider", (0.0, 0.0))
    item = window.canvas.nodes[node_id]
    QTest.mouseMove(window.view.viewport(), vp(window, item.port_pos("negative", IN)))
    qtbot.waitUntil(lambda: "guidance_scale 1" in item.toolTip())
    assert item.toolTip().startswith("negative: unlinked: no guidance")
    _param, rect = next(p for p in item.layout.params if p[0].name == "scale")
    QTest.mouseMove(window.view.viewport(), vp(window, item.mapToScene(rect.center())))
    qtbot.waitUntil(lambda: item.toolTip().startswith("scale: "))
    assert "at or below 1 guidance is off" in item.toolTip()
    assert item.tooltip_at(QPointF(-50, -50)) == ""


def _graph_share_of_view(window) -> float:
    """How much of the viewport's width or height the graph's nodes fill (0..1)."""
    from PySide6.QtCore import QRectF

    rect = QRectF()
    for item in window.canvas.nodes.values():
        rect = rect.united(item.sceneBoundingRect())
    shown = window.view.mapFromScene(rect).boundingRect()
    viewport = window.view.viewport().rect()
    assert viewport.contains(shown.center())
    return max(shown.width() / viewport.width(), shown.height() / viewport.height())


def test_a_workflow_opened_at_start_up_is_fitted_once_the_window_has_its_size(
        qtbot, make_window):
    from pathlib import Path

    path = Path(__file__).parents[2] / "workflows" / "txt2img.json"
    window = make_window(path)  # loaded (and fitted) before the window was shown
    assert _graph_share_of_view(window) > 0.6  # not a speck in an empty canvas
    # the user zooms: a later resize keeps the user's view
    window.view.zoom(0.5)
    scale = window.view.transform().m11()
    window.resize(window.width() - 100, window.height() - 50)
    QApplication.processEvents()
    assert window.view.transform().m11() == scale


def _checkerboard(size: int = 64, cell: int = 8):
    from PySide6.QtGui import QColor, QImage

    image = QImage(size, size, QImage.Format.Format_RGB32)
    for y in range(size):
        for x in range(size):
            on = (x // cell + y // cell) % 2
            image.setPixelColor(x, y, QColor("#ff0000") if on else QColor("#0000ff"))
    return image


def test_image_viewer_fits_small_images_with_crisp_pixels_and_zooms_with_the_wheel(qtbot):
    from ui.viewer import ImageViewer

    viewer = ImageViewer([_checkerboard()], "Preview image")
    qtbot.addWidget(viewer)
    viewer.resize(420, 360)
    viewer.show()
    qtbot.waitExposed(viewer)
    view = viewer.view
    shot = view.viewport().grab().toImage()
    side = min(shot.width(), shot.height())
    # fitted: the 64 px image fills the window's smaller side (not 64 px at 1:1)
    assert view.scale_factor * 64 >= 0.9 * side
    # nearest neighbour: every pixel inside the image is one of the two colours
    rect = view.mapFromScene(view.item.sceneBoundingRect()).boundingRect()
    inner = rect.adjusted(2, 2, -2, -2)
    colours = {shot.pixelColor(x, y).name() for x in range(inner.left(), inner.right(), 3)
               for y in range(inner.top(), inner.bottom(), 3)}
    assert colours == {"#ff0000", "#0000ff"}
    # the wheel zooms in; a double-click fits again
    scale = view.scale_factor
    point = view.viewport().rect().center()
    wheel = QWheelEvent(QPointF(point), QPointF(view.viewport().mapToGlobal(point)),
                        QPoint(0, 0), QPoint(0, 240), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), wheel)
    assert view.scale_factor > 1.3 * scale and not view.fitting
    QTest.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier, point)
    assert view.fitting and abs(view.scale_factor - scale) < 1e-6
    viewer.close()


def test_a_live_preview_is_drawn_inside_the_node_which_keeps_its_size(qtbot, make_window):
    from PySide6.QtGui import QColor, QImage

    window = make_window()
    editor = window.canvas.editor
    sampler = editor.add_node("sampling.Sampler", (0, 0))
    item = window.canvas.nodes[sampler]
    below = editor.add_node("latent.VAEDecode", (0, item.layout.height + 20))
    window.view.fit_all()
    height = item.layout.height
    preview = QImage(64, 64, QImage.Format.Format_RGB32)
    preview.fill(QColor("#00ff00"))
    item.set_state("running")
    item.set_progress(3, 25, preview)
    assert item.layout.height == height  # it does not grow over the node below
    assert not item.sceneBoundingRect().intersects(
        window.canvas.nodes[below].sceneBoundingRect())
    # the preview is on screen, inside the sampler's body
    shot = window.view.viewport().grab().toImage()
    body = window.view.mapFromScene(item.mapToScene(item.preview_rect())).boundingRect()
    centre = body.center()
    ratio = shot.width() / window.view.viewport().width()  # device pixel ratio
    assert shot.pixelColor(int(centre.x() * ratio), int(centre.y() * ratio)).name() == "#00ff00"
    assert item.preview_rect().height() > 0.5 * (height - 26)
    # when the run is over, the node shows its fields again
    item.set_state("done", seconds=1.0)
    assert item.preview_rect() is None


def test_new_nodes_start_with_defaults_that_fit_the_model(qtbot, make_window):
    """Load checkpoint starts on the first checkpoint found; Empty latent starts at the
    model's own size ("model default": 64x64 for shapes64, not 512x512)."""
    from nodegraph.links import IN, OUT, PortRef
    from nodes.model_files import list_checkpoints

    window = make_window()
    editor = window.canvas.editor
    ckpt = editor.add_node("loaders.Checkpoint", (0, 0))
    assert window.document.graph.nodes[ckpt].params["checkpoint"] == list_checkpoints()[0]
    latent = editor.add_node("latent.Empty", (300, 0))
    decode = editor.add_node("latent.VAEDecode", (600, 0))
    preview = editor.add_node("image.Preview", (900, 0))
    for a, out, b, inp in ((ckpt, "model", latent, "model"), (ckpt, "vae", decode, "vae"),
                           (latent, "latent", decode, "latent"),
                           (decode, "image", preview, "images")):
        assert editor.connect(PortRef(a, out, OUT), PortRef(b, inp, IN)) is None
    from ui.widgets import format_value

    spec = window.registry["latent.Empty"]
    shown = format_value(spec.param("width"), window.document.graph.nodes[latent].params["width"])
    assert shown == "model default"
    run_and_wait(qtbot, window, timeout=300_000)
    assert window.last_run.status == "finished", window.statusBar().currentMessage()
    image = window.images[preview][0]
    assert (image.width(), image.height()) == (64, 64)  # shapes64's native size
