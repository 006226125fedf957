"""The `nodegraph gui` entry: --screenshot (with --run) renders and exits; start-up does
not import torch; quick-add search; the help overlay lists shortcuts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest

from nodegraph.graph import Graph
from nodegraph.workflow import save
from ui.quick_add import fuzzy_score, search

ROOT = Path(__file__).resolve().parents[2]


def _env(config_dir) -> dict[str, str]:
    return dict(os.environ, QT_QPA_PLATFORM="offscreen", NODEGRAPH_CONFIG_DIR=str(config_dir),
                PYTHONPATH=str(ROOT))


def test_screenshot_after_run_writes_the_window_image(tmp_path, config_dir):
    graph = Graph()
    graph.add_node("image.Solid", {"width": 32, "height": 32, "batch": 1, "color": "#ff0000"},
                   id="1")
    graph.add_node("image.Preview", {}, id="2", pos=(300, 0))
    graph.connect("1", "image", "2", "images")
    save(graph, tmp_path / "wf.json")
    shot = tmp_path / "shot.png"
    result = subprocess.run(
        [sys.executable, "-m", "nodegraph_app", "gui", str(tmp_path / "wf.json"),
         "--screenshot", str(shot), "--run"],
        capture_output=True, text=True, env=_env(config_dir), cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    image = QImage(str(shot))
    assert image.width() >= 800 and image.height() >= 600
    # the red preview thumbnail is in the picture
    reds = sum(1 for x in range(0, image.width(), 8) for y in range(0, image.height(), 8)
               if image.pixelColor(x, y).name() == "#ff0000")
    assert reds > 20


STARTUP = """
import sys, time
from ui.app import make_app
app = make_app()
from nodegraph_app import default_registry
from ui.main_window import MainWindow
window = MainWindow(default_registry())
window.show()
app.processEvents()
heavy = sorted(m for m in ("torch", "diffusers", "transformers") if m in sys.modules)
print(",".join(heavy))
window.close()
"""


def test_start_up_does_not_import_torch(tmp_path, config_dir):
    result = subprocess.run([sys.executable, "-c", STARTUP], capture_output=True, text=True,
                            env=_env(config_dir), cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_fuzzy_search_ranks_titles_and_matches_categories_and_types(registry):
    assert fuzzy_score("inv", "Invert image") > fuzzy_score("inv", "Load image (inverse)")
    assert fuzzy_score("xyz", "Invert image") is None
    assert search(registry, "invert")[0].id == "image.Invert"
    assert search(registry, "solid col")[0].id == "image.Solid"
    assert search(registry, "svimg")[0].id == "image.Save"  # letters in order
    assert {s.id for s in search(registry, "primitive")} >= {"primitive.Int", "primitive.Float"}
    assert "image.Invert" in {s.id for s in search(registry, "IMAGE")}


def test_quick_add_is_keyboard_navigable(qtbot, make_window):
    window = make_window()
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key.Key_Tab)
    box = window.view.quick_add
    assert box.isVisible()
    qtbot.keyClicks(box.edit, "image")
    first = box.results()
    QTest.keyClick(box.edit, Qt.Key.Key_Down)
    QTest.keyClick(box.edit, Qt.Key.Key_Return)
    (node,) = window.document.graph.nodes.values()
    assert node.type == first[1]
    QTest.keyClick(window.view, Qt.Key.Key_Tab)
    QTest.keyClick(box.edit, Qt.Key.Key_Escape)
    assert not box.isVisible() and len(window.document.graph.nodes) == 1


def test_help_overlay_lists_the_shortcuts(qtbot, make_window):
    window = make_window()
    QTest.keyClick(window.view, Qt.Key.Key_F1)
    from ui.dialogs import HelpOverlay

    overlays = window.findChildren(HelpOverlay)
    assert overlays
    text = overlays[0].findChildren(type(window.run_label))[0].text()
    assert "Ctrl+Return" in text and "Ctrl+Z" in text and "Quick-add" in text
    overlays[0].close()


def test_library_panel_adds_nodes(qtbot, make_window):
    window = make_window()
    tree = window.library.tree
    category = next(tree.topLevelItem(i) for i in range(tree.topLevelItemCount())
                    if tree.topLevelItem(i).text(0) == "image")
    item = next(category.child(i) for i in range(category.childCount())
                if category.child(i).text(0) == "Invert image")
    mime = tree.mimeData([item])
    assert bytes(mime.data("application/x-nodegraph-node-type")) == b"image.Invert"
    tree.itemDoubleClicked.emit(item, 0)
    (node,) = window.document.graph.nodes.values()
    assert node.type == "image.Invert"


def test_screenshot_run_of_an_invalid_workflow_exits_with_2(tmp_path, config_dir):
    graph = Graph()
    graph.add_node("image.Preview", {}, id="1")
    save(graph, tmp_path / "bad.json")
    result = subprocess.run(
        [sys.executable, "-m", "nodegraph_app", "gui", str(tmp_path / "bad.json"),
         "--screenshot", str(tmp_path / "shot.png"), "--run"],
        capture_output=True, text=True, env=_env(config_dir), cwd=tmp_path, timeout=300)
    assert result.returncode == 2
    assert "images" in result.stderr
    assert (tmp_path / "shot.png").exists()
