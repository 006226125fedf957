"""Editor test setup: offscreen Qt (unless a display is chosen), a private config folder
per test, a `make_window` fixture, and a check that fails any test which leaves windows,
worker threads, Python threads or running timers behind."""

from __future__ import annotations

import contextlib
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import threading

import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, QTimer
from PySide6.QtWidgets import QApplication

from nodegraph.registry import Registry
from nodegraph_app import default_registry

from . import slow_nodes


@pytest.fixture(scope="session")
def registry() -> Registry:
    reg = default_registry(plugins=False)
    reg.add_module(slow_nodes)
    return reg


@pytest.fixture(autouse=True)
def no_environment_leaks():
    """Fail a test that leaves nodegraph's environment variables (NODEGRAPH_*) changed,
    as changing settings easily does. config_dir requests it, so it is set up before,
    and torn down after, every monkeypatch."""

    def ours() -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k.startswith("NODEGRAPH_")}

    before = ours()
    yield
    after = ours()
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert not changed, f"environment variables left changed: {sorted(changed)}"


@pytest.fixture(autouse=True)
def config_dir(no_environment_leaks, tmp_path, monkeypatch):
    folder = tmp_path / "config"
    monkeypatch.setenv("NODEGRAPH_CONFIG_DIR", str(folder))
    from ui.settings import Settings

    Settings().set("output_dir", str(tmp_path / "output"))
    return folder


def _flush() -> None:
    app = QApplication.instance()
    if app is None:
        return
    for _ in range(3):
        app.processEvents()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture(autouse=True)
def no_leaks(request):
    """Fail the test if it leaves top-level windows, running workers or threads."""
    before = set(threading.enumerate())
    yield
    if "qapp" not in request.fixturenames and "qtbot" not in request.fixturenames:
        return
    _flush()
    from ui.run_controller import live_workers

    running = [w for w in live_workers() if w.isRunning()]
    assert not running, f"worker threads still running: {running}"
    from ui.main_window import MainWindow

    windows = [w for w in QApplication.topLevelWidgets()
               if w.isVisible() or isinstance(w, MainWindow)]
    for window in windows:
        window.close()
    assert not windows, f"top-level windows left open: {windows}"
    extra = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not extra, f"threads left running: {extra}"
    # the Python wrappers of live Qt objects (a gc.get_objects() scan took ~0.5 s a test)
    timers = [o for o in shiboken6.getAllValidWrappers()
              if isinstance(o, QTimer) and shiboken6.isValid(o) and o.isActive()]
    assert not timers, f"timers left running: {timers}"


@pytest.fixture
def make_window(qtbot, registry, tmp_path):
    """Open a MainWindow the way a user would; closed (discarding changes) at the end."""
    from ui.main_window import DISCARD, MainWindow

    made = []

    def make(path=None, **kwargs):
        window = MainWindow(registry, path, **kwargs)
        window.ask_save_changes = lambda: DISCARD
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        window.raise_()
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow, timeout=60_000)
        made.append(window)
        return window

    yield make
    for window in made:
        with contextlib.suppress(RuntimeError):  # already deleted by Qt
            window.shutdown()


@pytest.fixture(scope="session", autouse=True)
def _clear_clipboard_at_exit():
    """Empty the clipboard before Qt shuts down (it owns mime data made in Python)."""
    yield
    app = QApplication.instance()
    if app is not None:
        app.clipboard().clear()
        _flush()
