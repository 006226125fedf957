"""Start the editor: ``nodegraph gui [WORKFLOW] [--screenshot FILE.png [--run]]``.

Start-up imports Qt and the registry only (node modules import torch lazily), so the
window shows quickly; torch is first imported when a run needs it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nodegraph.registry import Registry

T0 = time.perf_counter()


def make_app(argv: list[str] | None = None):
    """The QApplication (created once), dark-themed."""
    from PySide6.QtCore import qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from .theme import apply_dark_theme

    app = QApplication.instance()
    if app is None:
        previous = qInstallMessageHandler(_on_qt_start_up_message)
        try:
            app = QApplication(argv or [sys.argv[0]])
        finally:
            qInstallMessageHandler(previous)
        app.setApplicationName("nodegraph")
        app.setOrganizationName("nodegraph")
        apply_dark_theme(app)
    return app


def _on_qt_start_up_message(kind, context, message: str) -> None:
    """Qt's messages while the application starts, printed as Qt prints them; a fatal one
    (no platform plugin could start, for a reason platform_check does not know) ends the
    process with advice and exit 2 instead of Qt's abort."""
    from PySide6.QtCore import QtMsgType

    category = context.category if context.category not in (None, "", "default") else ""
    print(f"{category}: {message}" if category else message, file=sys.stderr)
    if kind == QtMsgType.QtFatalMsg:
        from .platform_check import startup_failure_advice

        print(f"nodegraph: error: {startup_failure_advice()}", file=sys.stderr, flush=True)
        os._exit(2)


def main(args: argparse.Namespace, registry: Registry) -> int:
    """Open the main window on ``registry``'s nodes (or render a screenshot and exit)."""
    from .platform_check import platform_problem

    problem = platform_problem()  # before Qt, which aborts the process when it cannot start
    if problem:
        print(f"nodegraph: error: {problem}", file=sys.stderr)
        return 2
    app = make_app()
    from .main_window import MainWindow, wait_until_idle

    screenshot = getattr(args, "screenshot", None)
    window = MainWindow(registry, getattr(args, "workflow", None),
                        offer_recovery=not screenshot)
    window.show()
    if not screenshot:
        status = app.exec()
        _release_clipboard(app)
        return status
    app.processEvents()
    status = 0
    if not window.opened:
        print(f"nodegraph: {window.statusBar().currentMessage()}", file=sys.stderr)
        status = 2
    elif getattr(args, "run", False):
        window.run()
        wait_until_idle(window)
        if window.last_run is None:  # rejected (invalid workflow) or crashed
            print(f"nodegraph: {window.statusBar().currentMessage()}", file=sys.stderr)
            status = 2
        elif window.last_run.status != "finished":
            status = 1
    window.view.fit_all()
    app.processEvents()
    ok = window.grab().save(screenshot)
    window.document.stack.setClean()
    window.close()
    app.processEvents()
    _release_clipboard(app)
    if not ok:
        print(f"nodegraph: could not write {screenshot}", file=sys.stderr)
        return 2
    return status


def _release_clipboard(app) -> None:
    """The offscreen platform's clipboard crashes at interpreter exit when it still holds
    mime data made in Python; empty it there (real platforms hand it to the desktop)."""
    if app.platformName() == "offscreen":
        app.clipboard().clear()
        app.processEvents()
