"""Editor benchmarks: start-up to window shown, opening a 1000-node workflow, a full
repaint of a 1600x1000 viewport showing 1000 nodes, and one node-drag step with 1000
nodes present. Prints a markdown table (paste it into docs/benchmarks.md).

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/gui_bench.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STARTUP = """
import time, os, sys
launched = float(os.environ["BENCH_LAUNCHED"])
from ui.app import make_app
app = make_app()
from nodegraph_app import default_registry
from ui.main_window import MainWindow
window = MainWindow(default_registry())
window.show()
app.processEvents()
shown = time.time() - launched
heavy = [m for m in ("torch", "diffusers", "transformers") if m in sys.modules]
print(shown, ",".join(heavy) or "-")
window.close()
"""


def big_workflow(path: Path, chains: int = 250) -> None:
    """1000 nodes: 250 chains of Solid -> Invert -> Scale -> Preview, on a grid."""
    from nodegraph.graph import Graph
    from nodegraph.workflow import save

    graph = Graph()
    for c in range(chains):
        x0, y = (c % 10) * 1100.0, (c // 10) * 330.0
        ids = []
        for k, (type_id, params) in enumerate((
                ("image.Solid", {"width": 64, "height": 64, "batch": 1, "color": "#808080"}),
                ("image.Invert", {}),
                ("image.Scale", {"factor": 2.0, "method": "bicubic"}),
                ("image.Preview", {}))):
            ids.append(graph.add_node(type_id, params, pos=(x0 + k * 270.0, y)).id)
        graph.connect(ids[0], "image", ids[1], "image")
        graph.connect(ids[1], "image", ids[2], "image")
        graph.connect(ids[2], "image", ids[3], "images")
    save(graph, path)


def bench_startup(runs: int = 5) -> tuple[float, str]:
    times, heavy = [], "-"
    env = dict(os.environ, PYTHONPATH=str(ROOT),
               NODEGRAPH_CONFIG_DIR=tempfile.mkdtemp(prefix="ng-bench-"))
    for _ in range(runs):
        env["BENCH_LAUNCHED"] = repr(time.time())
        out = subprocess.run([sys.executable, "-c", STARTUP], capture_output=True, text=True,
                             env=env, check=True).stdout.split()
        times.append(float(out[0]))
        heavy = out[1]
    return statistics.median(times), heavy


def main() -> None:
    startup, heavy = bench_startup()
    os.environ["NODEGRAPH_CONFIG_DIR"] = tempfile.mkdtemp(prefix="ng-bench-")
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    from nodegraph_app import default_registry
    from ui.app import make_app
    from ui.main_window import MainWindow

    app = make_app()
    registry = default_registry()
    workflow = Path(tempfile.mkdtemp(prefix="ng-bench-")) / "big.json"
    big_workflow(workflow)

    window = MainWindow(registry)
    window.resize(1600 + 300, 1000 + 80)
    window.show()
    app.processEvents()
    opens = []
    for _ in range(5):
        window.document.stack.setClean()
        started = time.perf_counter()
        window.open_path(workflow)
        app.processEvents()
        opens.append(time.perf_counter() - started)
    assert len(window.document.graph.nodes) == 1000

    view = window.view
    view.setFixedSize(1600, 1000)
    app.processEvents()
    view.fit_all()
    app.processEvents()
    visible = sum(1 for item in window.canvas.nodes.values()
                  if view.mapToScene(view.viewport().rect()).boundingRect().intersects(
                      item.sceneBoundingRect()))
    viewport = view.viewport()
    paints = []
    for _ in range(60):
        started = time.perf_counter()
        viewport.repaint()
        paints.append(time.perf_counter() - started)

    def drag_steps(node_id: str) -> list[float]:
        item = window.canvas.nodes[node_id]
        start = view.mapFromScene(item.mapToScene(item.layout.width / 2, 8))
        QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         start)
        QTest.mouseMove(viewport, start + QPoint(5, 5))
        app.processEvents()
        steps = []
        for i in range(100):
            point = start + QPoint(6 + i % 40, 6 + (i * 3) % 30)
            started = time.perf_counter()
            QTest.mouseMove(viewport, point)
            app.processEvents()
            steps.append(time.perf_counter() - started)
        QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton,
                           Qt.KeyboardModifier.NoModifier, point)
        return steps

    # one drag step: a mouse move while dragging a node's title (command, graph event,
    # item and link updates, repaint of the damaged region)
    item = window.canvas.nodes["500"]
    start = view.mapFromScene(item.mapToScene(item.layout.width / 2, 8))
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(viewport, start + QPoint(5, 5))
    app.processEvents()
    from PySide6.QtCore import QEvent, QObject

    class PaintCounter(QObject):
        count = 0

        def eventFilter(self, watched, event):
            if event.type() == QEvent.Type.Paint:
                PaintCounter.count += 1
            return False

    counter = PaintCounter()
    viewport.installEventFilter(counter)
    steps = []
    for i in range(100):
        point = start + QPoint(6 + i % 40, 6 + (i * 3) % 30)
        started = time.perf_counter()
        QTest.mouseMove(viewport, point)
        app.processEvents()
        steps.append(time.perf_counter() - started)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       point)
    viewport.removeEventFilter(counter)
    assert PaintCounter.count >= 90, f"only {PaintCounter.count} repaints in 100 drag steps"
    assert window.document.stack.count() == 1  # the whole drag is one undo step

    view.resetTransform()  # the same at 100% zoom, centred on a linked node
    view.centerOn(window.canvas.nodes["601"].sceneBoundingRect().center())
    app.processEvents()
    close_steps = drag_steps("601")

    window.document.stack.setClean()
    window.close()
    ms = lambda seconds: f"{seconds * 1000:.1f} ms"  # noqa: E731
    print("| benchmark | goal | median |")
    print("|---|---|---|")
    print(f"| GUI start to window shown (torch imported: {heavy}) | < 1.5 s | "
          f"{startup:.2f} s |")
    print(f"| open a 1000-node workflow (1000 nodes, 750 links) | < 1 s | "
          f"{statistics.median(opens):.2f} s (first open {opens[0]:.2f} s) |")
    print(f"| full repaint, 1600x1000 viewport, {visible} nodes visible | < 16 ms | "
          f"{ms(statistics.median(paints))} |")
    print(f"| one node-drag step, 1000 nodes present | < 4 ms | "
          f"{ms(statistics.median(steps))} (at fit-all zoom), "
          f"{ms(statistics.median(close_steps))} (at 100% zoom) |")


if __name__ == "__main__":
    main()
