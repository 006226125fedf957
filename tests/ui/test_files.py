"""Files: save -> reopen identical, PNG drop restores the graph, missing node types are
kept, dirty marker and the save prompt, autosave recovery after a crash."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtTest import QTest

from nodegraph.graph import Graph
from nodegraph.workflow import dumps, save

from .helpers import drop_mime, quick_add, type_into_field, wire
from .test_build_and_run import build_invert_graph, run_and_wait

ROOT = Path(__file__).resolve().parents[2]


def drop_files(window, paths) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    drop_mime(window, mime)


def test_save_then_reopen_gives_the_identical_workflow(qtbot, make_window, tmp_path):
    window = make_window()
    build_invert_graph(qtbot, window)
    assert window.isWindowModified()
    target = tmp_path / "saved.json"
    window.ask_save_path = lambda: str(target)
    QTest.keyClick(window.view, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert target.exists() and not window.isWindowModified()
    assert window.windowTitle().startswith("saved.json")
    other = make_window(target)
    assert dumps(other.document.graph) == target.read_text() == dumps(window.document.graph)
    assert str(target.resolve()) in window.settings.get("recent_files")
    # a second save writes the same bytes
    other.document.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text() == target.read_text()


def test_dropping_a_png_made_by_save_image_restores_the_graph(qtbot, make_window, tmp_path):
    window = make_window()
    solid = quick_add(qtbot, window, "solid", QPoint(120, 120))
    saver = quick_add(qtbot, window, "save image", QPoint(500, 120))
    wire(window, solid, "image", saver, "images")
    type_into_field(qtbot, window, solid, "width", "16")
    type_into_field(qtbot, window, solid, "height", "16")
    run_and_wait(qtbot, window)
    assert window.last_run.status == "finished"
    pngs = list((tmp_path / "output").glob("*.png"))
    assert len(pngs) == 1
    other = make_window()
    drop_files(other, pngs)
    assert other.document.graph.nodes, other.statusBar().currentMessage()
    assert dumps(other.document.graph) == dumps(window.document.graph)
    assert other.document.path is None  # a PNG is not where the workflow gets saved


def test_dropping_a_json_opens_it(qtbot, make_window, tmp_path):
    graph = Graph()
    graph.add_node("image.Solid", {"width": 8, "height": 8, "batch": 1, "color": "#123456"})
    save(graph, tmp_path / "w.json")
    window = make_window()
    drop_files(window, [tmp_path / "w.json"])
    assert dumps(window.document.graph) == (tmp_path / "w.json").read_text()


def test_unknown_node_types_load_as_missing_and_are_kept_on_save(qtbot, make_window, tmp_path):
    graph = Graph()
    graph.add_node("image.Solid", {"width": 8, "height": 8, "batch": 1, "color": "#123456"},
                   id="1")
    graph.add_node("vendor.Magic", {"strength": 3, "mode": "x"}, id="2", pos=(300, 0))
    graph.add_node("image.Invert", {}, id="3", pos=(600, 0))
    graph.connect("1", "image", "2", "pixels")
    graph.connect("2", "result", "3", "image")
    source = tmp_path / "missing.json"
    save(graph, source)
    window = make_window(source)
    item = window.canvas.nodes["2"]
    assert item.spec is None and "missing" in item.title
    assert set(item.layout.inputs) == {"pixels"} and set(item.layout.outputs) == {"result"}
    assert "unknown type" in window.statusBar().currentMessage()
    target = tmp_path / "out.json"
    window.document.save(target)
    assert target.read_text() == source.read_text()


def test_close_with_unsaved_changes_asks_and_can_cancel(qtbot, make_window):
    window = make_window()
    quick_add(qtbot, window, "solid", QPoint(120, 120))
    asked = []
    window.ask_save_changes = lambda: asked.append(1) or "cancel"
    window.close()
    assert asked and window.isVisible()
    window.ask_save_changes = lambda: "discard"
    window.close()
    assert not window.isVisible()


CRASHER = textwrap.dedent("""
    import os, sys
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from nodegraph_app import default_registry
    from ui.main_window import MainWindow
    window = MainWindow(default_registry(plugins=False))
    editor = window.canvas.editor
    a = editor.add_node("image.Solid", (0, 0))
    b = editor.add_node("image.Invert", (300, 0))
    from nodegraph.links import PortRef
    editor.connect(PortRef(a, "image", "out"), PortRef(b, "image", "in"))
    editor.set_param(a, "color", "#00ff00")
    # no explicit save: the debounced autosave after the last edit writes it; wait for
    # that event (the file holding the last edit), then crash
    import time
    while window.document.text() != window.autosaver._last:
        app.processEvents()
        time.sleep(0.01)
    sys.stdout.write(window.document.text())
    sys.stdout.flush()
    os._exit(3)  # a crash: no clean close, the recovery file stays
""")


def test_autosave_is_offered_back_after_a_crash(qtbot, make_window, config_dir):
    import os

    env = dict(os.environ, NODEGRAPH_CONFIG_DIR=str(config_dir), PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", CRASHER], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=120)
    assert result.returncode == 3, result.stderr
    crashed_text = result.stdout
    assert list((config_dir / "recovery").glob("recovery-*.json"))
    from ui.main_window import MainWindow

    offered = []
    original = MainWindow.ask_recover
    MainWindow.ask_recover = lambda self, recovery: offered.append(recovery) or True
    try:
        window = make_window(offer_recovery=True)
    finally:
        MainWindow.ask_recover = original
    assert [r.original_path for r in offered] == [None]
    # the prompt says how old the snapshot is
    prompt = offered[0].prompt(now=offered[0].saved_at + 125)
    assert "untitled workflow" in prompt and "autosaved 2 min ago" in prompt
    assert window.document.text() == crashed_text
    assert window.isWindowModified()
    from .test_canvas_view import _graph_share_of_view

    assert _graph_share_of_view(window) > 0.3  # fitted, not a speck
    json.loads(crashed_text)
    # the recovery file was consumed; this window's own autosave replaces it
    qtbot.waitUntil(lambda: window.autosaver.file.exists(), timeout=60_000)
    files = list((config_dir / "recovery").glob("recovery-*.json"))
    assert [f.name for f in files] == [window.autosaver.file.name]
    window.document.stack.setClean()
    window.document._forced_dirty = False
    window.close()
    assert not list((config_dir / "recovery").glob("recovery-*.json"))


def test_new_document_has_its_own_history_and_recent_files_reopen(qtbot, make_window,
                                                                    tmp_path):
    window = make_window()
    quick_add(qtbot, window, "solid", QPoint(120, 120))
    target = tmp_path / "first.json"
    window.ask_save_path = lambda: str(target)
    window.save()
    first_doc = window.document
    quick_add(qtbot, window, "invert", QPoint(400, 120))
    asked = []
    window.ask_save_changes = lambda: asked.append(1) or "discard"
    QTest.keyClick(window.view, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert asked and window.document is not first_doc
    assert not window.document.graph.nodes and not window.document.stack.canUndo()
    assert window.windowTitle().startswith("Untitled")
    window._fill_recent()
    actions = window.recent_menu.actions()
    assert actions and actions[0].text() == str(target.resolve())
    actions[0].trigger()
    assert window.document.path == target.resolve() or window.document.path == target
    assert [n.type for n in window.document.graph.nodes.values()] == ["image.Solid"]


def test_autosave_writes_while_dirty_and_clears_on_save(qtbot, make_window, tmp_path,
                                                         config_dir):
    window = make_window()
    quick_add(qtbot, window, "solid", QPoint(120, 120))
    window.autosaver.save_now()
    recovery = window.autosaver.file
    assert recovery.exists()
    assert json.loads(recovery.read_text())["workflow"]["nodes"][0]["type"] == "image.Solid"
    window.ask_save_path = lambda: str(tmp_path / "saved.json")
    window.save()
    assert not recovery.exists()


def test_autosave_follows_each_edit_within_a_second(qtbot, make_window, config_dir):
    window = make_window()
    saver = window.autosaver
    assert not saver.file.exists()  # nothing unsaved yet
    node = window.canvas.editor.add_node("image.Solid", (0, 0))
    # the write is due one second after the edit (not at the next 30 s tick)
    assert saver.timer.isActive() and saver.timer.isSingleShot()
    assert saver.timer.interval() <= 1000
    qtbot.waitUntil(saver.file.exists, timeout=60_000)
    saved = json.loads(saver.file.read_text())
    assert [n["id"] for n in saved["workflow"]["nodes"]] == [node]
    assert isinstance(saved["saved_at"], float)
    window.canvas.editor.set_param(node, "width", 32)
    qtbot.waitUntil(lambda: json.loads(saver.file.read_text())["workflow"]["nodes"][0][
        "params"]["width"] == 32, timeout=60_000)


def test_recovery_prompt_ages():
    from ui.document import describe_age

    assert [describe_age(s) for s in (4, 200, 7500, 4 * 86400)] == [
        "4 s", "3 min", "2 h 5 min", "4 days"]


def test_a_workflow_without_positions_opens_laid_out(qtbot, make_window, tmp_path):
    document = json.loads((ROOT / "workflows" / "txt2img.json").read_text())
    for node in document["nodes"]:
        del node["pos"]
    path = tmp_path / "no_pos.json"
    path.write_text(json.dumps(document))
    window = make_window(path)
    items = list(window.canvas.nodes.values())
    rects = [i.mapRectToScene(i.body_rect()) for i in items]
    overlapping = [(a.title, b.title) for k, (a, ra) in enumerate(zip(items, rects))
                   for b, rb in zip(items[k + 1:], rects[k + 1:]) if ra.intersects(rb)]
    assert not overlapping
    for link in window.document.graph.links.values():
        src, dst = window.canvas.nodes[link.src], window.canvas.nodes[link.dst]
        assert src.port_pos(link.src_output, "out").x() < dst.port_pos(link.dst_input, "in").x()
