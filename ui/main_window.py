"""The main window: canvas, node library, menus and shortcuts, files, runs and the
run state shown on nodes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from PySide6.QtCore import QMimeData, Qt
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from nodegraph import events as ev
from nodegraph.problems import Problem, WorkflowError, errors
from nodegraph.registry import Registry
from nodegraph.run_state import NodeRunState, RunStates
from nodegraph.workflow import dumps, loads

from .canvas import Canvas, CanvasView
from .dialogs import HelpOverlay, SettingsDialog
from .document import AutoSaver, Document, Recovery, find_recoveries
from .editor import CLIPBOARD_MIME
from .library_panel import LibraryPanel
from .run_controller import RunController
from .settings import Settings
from .viewer import ImageViewer, qimage_from_array

SAVE, DISCARD, CANCEL = "save", "discard", "cancel"


class MainWindow(QMainWindow):
    """One document per window; several windows may be open (copy/paste between them)."""

    def __init__(self, registry: Registry, path: str | os.PathLike[str] | None = None,
                 settings: Settings | None = None, offer_recovery: bool = False) -> None:
        super().__init__()
        self.registry = registry
        self.settings = settings or Settings()
        self.document = Document(registry)
        self.canvas = Canvas(self.document, lambda: self.snap_action.isChecked())
        self.view = CanvasView(self.canvas, self)
        self.setCentralWidget(self.view)
        self.resize(1400, 900)
        self.library = LibraryPanel(registry, self)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.library)
        self.library.add_requested.connect(self._add_from_library)
        self.runs = RunController(registry, self.settings.get("device"),
                                  self.settings.get("cache_mb"), self.settings.get("output_dir"),
                                  self.settings.get("model_folders"))
        self.runs.event.connect(self._on_run_event)
        self.runs.rejected.connect(self._on_rejected)
        self.runs.crashed.connect(lambda message: self.show_status(f"Run error: {message}"))
        self.runs.busy_changed.connect(self._update_run_actions)
        self.runs.queue_changed.connect(lambda _n: self._update_run_actions())
        self.autosaver = AutoSaver(self.settings.recovery_dir, parent=self)
        self.last_run: ev.RunFinished | None = None
        self.run_states = RunStates()  # what each node shows about the runs (Qt-free)
        self.run_states.subscribe(self._show_run_states)
        self._shown_images: dict[str, tuple[tuple, list]] = {}  # arrays shown -> QImages
        self.images: dict[str, list] = {}
        self._viewers: list[QWidget] = []
        self._closed = False
        self.run_label = QLabel("")
        self.statusBar().addPermanentWidget(self.run_label)
        self.canvas.status.connect(self.show_status)
        self.canvas.image_clicked.connect(self.open_viewer)
        self.canvas.error_clicked.connect(self.show_error_details)
        self.canvas.run_requested.connect(self.run)
        self.view.files_dropped.connect(self._files_dropped)
        self._build_actions()
        self._set_document(self.document)
        if offer_recovery:
            self.offer_recovery()
        self.opened = self.open_path(path) if path else True  # False: the file failed
        self.view.setFocus()

    # -- hooks that ask the user (tests replace them) -------------------------------
    def ask_save_changes(self) -> str:
        answer = QMessageBox.question(
            self, "Unsaved changes", f"Save changes to {self.document.name}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel)
        return {QMessageBox.StandardButton.Save: SAVE,
                QMessageBox.StandardButton.Discard: DISCARD}.get(answer, CANCEL)

    def ask_open_path(self) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self, "Open workflow", "",
                                              "Workflows (*.json *.png);;All files (*)")
        return path or None

    def ask_save_path(self) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, "Save workflow", self.document.name
                                              if self.document.path else "workflow.json",
                                              "Workflows (*.json)")
        return path or None

    def ask_recover(self, recovery: Recovery) -> bool:
        answer = QMessageBox.question(self, "Recover work?", recovery.prompt())
        return answer == QMessageBox.StandardButton.Yes

    # -- actions --
    def _action(self, menu, text: str, slot, shortcut=None, checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            keys = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(k) for k in keys])
        action.setCheckable(checkable)
        action.triggered.connect(lambda _checked=False, s=slot: s())
        menu.addAction(action)
        self.addAction(action)
        self.all_actions.append(action)
        return action

    def _build_actions(self) -> None:
        self.all_actions: list[QAction] = []
        bar = self.menuBar()
        a = self._action
        file = bar.addMenu("&File")
        a(file, "&New", self.new_document, QKeySequence.StandardKey.New)
        a(file, "New &Window", self.new_window, "Ctrl+Shift+N")
        a(file, "&Open…", self.open_dialog, QKeySequence.StandardKey.Open)
        self.recent_menu = file.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        a(file, "&Save", self.save, QKeySequence.StandardKey.Save)
        a(file, "Save &As…", self.save_as, "Ctrl+Shift+S")
        file.addSeparator()
        a(file, "Se&ttings…", self.open_settings, "Ctrl+,")
        a(file, "&Quit", self.close, "Ctrl+Q")

        edit = bar.addMenu("&Edit")
        self.undo_action = self.document.stack.createUndoAction(self, "&Undo")
        self.redo_action = self.document.stack.createRedoAction(self, "&Redo")
        undo = a(edit, "&Undo", lambda: self.document.stack.undo(), QKeySequence.StandardKey.Undo)
        redo = a(edit, "&Redo", lambda: self.document.stack.redo(),
                 ["Ctrl+Shift+Z", "Ctrl+Y"])
        self._undo_actions = (undo, redo)
        edit.addSeparator()
        a(edit, "Cu&t", self.cut, QKeySequence.StandardKey.Cut)
        a(edit, "&Copy", self.copy, QKeySequence.StandardKey.Copy)
        a(edit, "&Paste", self.paste, QKeySequence.StandardKey.Paste)
        a(edit, "&Duplicate", self.duplicate, "Ctrl+D")
        a(edit, "De&lete", self.delete_selected, ["Delete", "Backspace"])
        a(edit, "Select &All", self.select_all, QKeySequence.StandardKey.SelectAll)
        edit.addSeparator()
        a(edit, "&Bypass", lambda: self.canvas.editor.toggle(self.canvas.selected_node_ids(),
                                                              "bypass"), "Ctrl+B")
        a(edit, "&Mute", lambda: self.canvas.editor.toggle(self.canvas.selected_node_ids(),
                                                            "mute"), "Ctrl+M")
        a(edit, "Co&llapse", lambda: self.canvas.editor.toggle(self.canvas.selected_node_ids(),
                                                                "collapsed"), "Alt+C")
        a(edit, "&Group", lambda: self.canvas.editor.add_group(self.canvas.selected_node_ids()),
          "Ctrl+G")
        a(edit, "Add &Note", self._add_note, "Ctrl+Shift+M")
        arrange = edit.addMenu("&Arrange")
        for label, mode, key in (("Align left", "left", "Alt+Left"),
                                 ("Align right", "right", "Alt+Right"),
                                 ("Align top", "top", "Alt+Up"),
                                 ("Align bottom", "bottom", "Alt+Down"),
                                 ("Align centres horizontally", "vcenter", None),
                                 ("Align centres vertically", "hcenter", None)):
            a(arrange, label, lambda _=False, m=mode: self.canvas.editor.align(
                self.canvas.selected_node_ids(), m), key)
        a(arrange, "Distribute horizontally", lambda: self.canvas.editor.distribute(
            self.canvas.selected_node_ids(), "x"), "Alt+H")
        a(arrange, "Distribute vertically", lambda: self.canvas.editor.distribute(
            self.canvas.selected_node_ids(), "y"), "Alt+V")
        self.snap_action = a(edit, "S&nap to Grid", self._snap_toggled, "Ctrl+Shift+G",
                             checkable=True)
        self.snap_action.setChecked(self.settings.get("snap_to_grid"))

        view = bar.addMenu("&View")
        a(view, "&Fit All", self.view.fit_all, "Home")
        a(view, "Fit &Selection", self.view.fit_selection, "F")
        a(view, "Zoom &In", lambda: self.view.zoom(1.25), QKeySequence.StandardKey.ZoomIn)
        a(view, "Zoom &Out", lambda: self.view.zoom(0.8), QKeySequence.StandardKey.ZoomOut)
        a(view, "&Reset Zoom", lambda: self.view.resetTransform(), "Ctrl+0")
        a(view, "Quick &Add…", lambda: self.view.open_quick_add(
            self.view.mapToScene(self.view.viewport().rect().center())), "Ctrl+Space")
        library = self.library.toggleViewAction()
        library.setText("Node &Library")
        library.setShortcut(QKeySequence("Ctrl+L"))
        view.addAction(library)
        self.all_actions.append(library)

        run = bar.addMenu("&Run")
        self.run_action = a(run, "&Run", self.run, ["Ctrl+Return", "Ctrl+Enter"])
        a(run, "Run &Selected (and what they need)", self.run_selected,
          ["Ctrl+Shift+Return", "Ctrl+Shift+Enter"])
        self.cancel_action = a(run, "&Cancel", self.cancel, "Esc")
        a(run, "Clear &Cache", self._clear_cache)

        help_menu = bar.addMenu("&Help")
        a(help_menu, "&Shortcuts", self.show_help, "F1")

        toolbar = QToolBar("Run", self)
        toolbar.setObjectName("RunToolbar")
        toolbar.addAction(self.run_action)
        toolbar.addAction(self.cancel_action)
        self.addToolBar(toolbar)
        self._update_run_actions()

    def _snap_toggled(self) -> None:
        self.settings.set("snap_to_grid", self.snap_action.isChecked())

    # -- document --
    def _set_document(self, document: Document) -> None:
        old = self.document
        self.document = document
        if self.canvas.document is not document:
            self.canvas.bind(document)
        document.changed.connect(self._update_title)
        self.autosaver.watch(document)
        self.images.clear()
        self._shown_images.clear()
        self.run_states.clear()
        self._update_title()
        if old is not document:
            old.stack.blockSignals(True)
            old.blockSignals(True)
            old.deleteLater()

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.document.name}[*] — nodegraph")
        self.setWindowModified(self.document.dirty)

    def maybe_save(self) -> bool:
        """Ask about unsaved changes; False means the user cancelled."""
        if not self.document.dirty:
            return True
        answer = self.ask_save_changes()
        if answer == CANCEL:
            return False
        if answer == SAVE:
            return self.save()
        return True

    def new_document(self) -> None:
        if self.maybe_save():
            self._set_document(Document(self.registry))

    def new_window(self) -> MainWindow:
        window = MainWindow(self.registry, settings=self.settings)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.show()
        return window

    def open_dialog(self) -> None:
        if self.maybe_save():
            path = self.ask_open_path()
            if path:
                self.open_path(path)

    def open_path(self, path: str | os.PathLike[str]) -> bool:
        """Open a .json workflow or a PNG with an embedded workflow."""
        try:
            document = Document.open(path, self.registry)
        except WorkflowError as error:
            self.show_status(f"Cannot open {Path(path).name}: {error.problems[0].message}")
            return False
        self._set_document(document)
        if document.path is not None:
            self.settings.add_recent(document.path)
        self._report_problems(document.problems, Path(path).name)
        self.view.fit_all()
        return True

    def _report_problems(self, problems: list[Problem], name: str) -> None:
        missing = [p for p in problems if p.code == "unknown_node_type"]
        if missing:
            self.show_status(f"Opened {name}: {len(missing)} node(s) of unknown type, kept "
                             "and marked missing")
        elif errors(problems):
            self.show_status(f"Opened {name}: {errors(problems)[0]}")
        else:
            self.show_status(f"Opened {name}")

    def _files_dropped(self, paths: list[str]) -> None:
        for path in paths:
            if Path(path).suffix.lower() in (".json", ".png") and self.maybe_save():
                self.open_path(path)
                return
        self.show_status("Drop a workflow .json or a PNG saved by nodegraph")

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.get("recent_files"):
            self.recent_menu.addAction(path, lambda p=path: self.maybe_save()
                                       and self.open_path(p))

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self._save_to(self.document.path)

    def save_as(self) -> bool:
        path = self.ask_save_path()
        return self._save_to(path) if path else False

    def _save_to(self, path) -> bool:
        try:
            self.document.save(path)
        except OSError as error:
            self.show_status(f"Could not save: {error}")
            return False
        self.settings.add_recent(path)
        self.autosaver.discard()
        self._update_title()
        self.show_status(f"Saved {Path(path).name}")
        return True

    def offer_recovery(self) -> bool:
        """Offer back an autosave left by a crash; True if one was restored."""
        for recovery in find_recoveries(self.settings.recovery_dir):
            accepted = self.ask_recover(recovery)
            recovery.file.unlink(missing_ok=True)
            if accepted:
                graph, problems = loads(recovery.text, self.registry)
                document = Document(self.registry, graph, recovery.original_path, problems)
                self._set_document(document)
                document.mark_dirty()
                self.view.fit_all()
                self.show_status("Recovered unsaved work")
                return True
        return False

    # -- editing --
    def _add_from_library(self, type_id: str) -> None:
        center = self.view.mapToScene(self.view.viewport().rect().center())
        node_id = self.canvas.editor.add_node(type_id, (center.x(), center.y()))
        self.canvas.select_nodes([node_id])

    def _add_note(self) -> None:
        center = self.view.mapToScene(self.view.viewport().rect().center())
        self.canvas.editor.add_node("utils.Note", (center.x(), center.y()))

    def select_all(self) -> None:
        for item in self.canvas.nodes.values():
            item.setSelected(True)

    def delete_selected(self) -> None:
        c = self.canvas
        c.editor.delete(c.selected_node_ids(), c.selected_link_ids(), c.selected_group_ids())

    def copy(self) -> bool:
        ids = self.canvas.selected_node_ids()
        if not ids:
            return False
        text = self.canvas.editor.fragment_text(ids)
        mime = QMimeData()
        mime.setData(CLIPBOARD_MIME, text.encode("utf-8"))
        mime.setText(text)
        QGuiApplication.clipboard().setMimeData(mime)
        return True

    def cut(self) -> None:
        if self.copy():
            self.canvas.editor.delete(self.canvas.selected_node_ids())

    def paste(self) -> list[str]:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None:
            return []
        if mime.hasFormat(CLIPBOARD_MIME):
            text = bytes(mime.data(CLIPBOARD_MIME)).decode("utf-8")
        else:
            text = mime.text()
        if not text.strip().startswith("{"):
            return []
        cursor = self.view.mapFromGlobal(self.view.cursor().pos())
        at = None
        if self.view.viewport().rect().contains(cursor):
            point = self.view.mapToScene(cursor)
            at = (point.x(), point.y())
        ids = self.canvas.editor.paste_text(text, at)
        self.canvas.select_nodes(ids)
        return ids

    def duplicate(self) -> None:
        self.canvas.select_nodes(self.canvas.editor.duplicate(self.canvas.selected_node_ids()))

    # -- shortcuts --
    def keyPressEvent(self, event: QKeyEvent) -> None:
        """A key that reached the window unhandled although it is an action's shortcut
        (the window was not the active one, e.g. after a popup closed before the window
        system activated it): trigger the action anyway, so Ctrl+Enter runs the graph
        wherever the focus is in the window."""
        action = self.action_for_key(event)
        if action is not None:
            action.trigger()
            event.accept()
            return
        super().keyPressEvent(event)

    def action_for_key(self, event: QKeyEvent) -> QAction | None:
        """The enabled action whose shortcut is this key press, if any."""
        combo = QKeySequence(event.keyCombination().key()
                             | (event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier))
        for action in self.all_actions:
            if action.isEnabled() and any(combo.matches(s) == QKeySequence.SequenceMatch.ExactMatch
                                          for s in action.shortcuts()):
                return action
        return None

    # -- running --
    def run(self, outputs: list[str] | None = None) -> None:
        """Queue a run of a snapshot of the graph as it is now (a field being edited is
        committed first; if its text is invalid, nothing runs)."""
        editor = self.view.editor_widget
        if editor is not None and not editor.finish():
            return
        snapshot = json.loads(dumps(self.document.graph))
        base = self.document.path.parent if self.document.path else None
        self.runs.submit(snapshot, outputs, base, tag=self.document)
        self._update_run_actions()

    def run_selected(self) -> None:
        """Run only the selected nodes and the nodes they depend on."""
        ids = self.canvas.selected_node_ids()
        if not ids:
            self.show_status("Select the nodes to run first")
            return
        self.run(ids)

    def cancel(self) -> None:
        if self.canvas.wiring:
            self.canvas.cancel_wire()
            return
        if self.runs.busy:
            self.runs.cancel()
            self.show_status("Cancelling…")

    def _clear_cache(self) -> None:
        if self.runs._executor is not None and not self.runs.busy:
            self.runs._executor.cache.clear()
            self.show_status("Cache cleared")

    def _update_run_actions(self, *_args) -> None:
        busy, queued = self.runs.busy, self.runs.queued
        self.cancel_action.setEnabled(True)
        self.run_label.setText("running" + (f" (+{queued} queued)" if queued else "")
                               if busy else "")

    def _on_run_event(self, event: ev.Event) -> None:
        if self.runs.current_tag is not self.document:
            return  # a run of a document this window no longer shows
        if isinstance(event, ev.RunStarted):
            self.show_status(f"Running {len(event.order)} node(s)…")
        self.run_states.apply(event)  # the items follow through _show_run_states
        if isinstance(event, ev.RunFinished):
            self.last_run = event
            self._show_run_summary(event)

    def _show_run_summary(self, event: ev.RunFinished) -> None:
        cached = sum(1 for s in self.run_states.nodes.values() if s.status == "cached")
        note = f", {cached} cached" if cached else ""
        failures = self.run_states.summary.failures
        if event.status == "failed" and failures:
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            self.show_status(f"Run ended in {event.seconds:.2f} s; {failures[0]}{more}; "
                             "see the outlined nodes")
        elif event.status == "failed":
            self.show_status(f"Run failed ({len(event.failures)} node(s)); see the "
                             "outlined nodes")
        else:
            self.show_status(f"Run {event.status} in {self._time_account(event)}{note}")

    def _show_run_states(self, changed: set[str]) -> None:
        """Show the run-state model's changes on the node items."""
        for node_id in changed:
            item = self.canvas.nodes.get(node_id)
            if item is None:
                continue
            state = self.run_states.nodes.get(node_id) or NodeRunState()
            item.show_run_state(state)
            shown = self._shown_images.get(node_id)
            if state.images and (shown is None or shown[0] is not state.images):
                images = [qimage_from_array(a) for a in state.images]
                self._shown_images[node_id] = (state.images, images)
                self.images[node_id] = images
                item.set_images(images)
            item.mark_stale(state.stale)
            if state.status == "running" and state.progress is not None:
                preview = None if state.preview is None else qimage_from_array(state.preview)
                item.set_progress(*state.progress, preview)

    def _time_account(self, event: ev.RunFinished) -> str:
        """Where the run's time went, adding up to what the user waited: the nodes (and
        the parts they reported, such as a sampler's previews), the engine between them
        (planning, cache keys and lookups, events) and the start (worker thread,
        reading the snapshot)."""
        wall = max(event.seconds, time.perf_counter() - self.runs.started_at)
        times = self.run_states.summary.node_times
        nodes = sum(e.seconds for e in times) + self.run_states.summary.cancelled_seconds
        parts: dict[str, float] = {}
        for finished in times:
            for name, seconds in finished.parts:
                parts[name] = parts.get(name, 0.0) + seconds
        inside = "".join(f", of which {name} {seconds:.2f} s" for name, seconds in parts.items())
        return (f"{wall:.2f} s: nodes {nodes:.2f} s{inside}; engine "
                f"{max(0.0, event.seconds - nodes):.2f} s; start {wall - event.seconds:.2f} s")

    def _on_rejected(self, problems: list[Problem]) -> None:
        self.run_states.reject(problems)
        self.show_status(f"Cannot run: {problems[0]}" if problems else "Cannot run")

    # -- viewers and dialogs --
    def open_viewer(self, node_id: str) -> ImageViewer | None:
        images = self.images.get(node_id)
        if not images:
            return None
        item = self.canvas.nodes[node_id]
        viewer = ImageViewer(images, item.title, self)
        viewer.setWindowFlag(Qt.WindowType.Window)
        viewer.destroyed.connect(lambda *_: self._viewers.remove(viewer)
                                 if viewer in self._viewers else None)
        self._viewers.append(viewer)
        viewer.show()
        return viewer

    def show_error_details(self, node_id: str) -> QDialog | None:
        item = self.canvas.nodes.get(node_id)
        if item is None or not item.error:
            return None
        dialog = QDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setWindowTitle(f"Error in {item.title}")
        text = QPlainTextEdit(f"{item.error}\n\n{item.traceback}".strip())
        text.setReadOnly(True)
        layout = QVBoxLayout(dialog)
        layout.addWidget(text)
        dialog.resize(700, 400)
        dialog.show()
        self._viewers.append(dialog)
        dialog.destroyed.connect(lambda *_: self._viewers.remove(dialog)
                                 if dialog in self._viewers else None)
        return dialog

    def show_help(self) -> None:
        overlay = HelpOverlay(self.all_actions, self)
        overlay.show()

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec():
            dialog.apply()
            s = self.settings
            self.runs.configure(s.get("device"), s.get("cache_mb"), s.get("output_dir"),
                                s.get("model_folders"))

    def show_status(self, message: str) -> None:
        self.statusBar().showMessage(message, 0 if message else 1)

    # -- closing --
    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closed and not self.maybe_save():
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop runs and timers, drop the recovery file, close viewers (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.runs.shutdown()
        self.autosaver.stop()
        self.canvas.unbind()
        self.document.stack.blockSignals(True)
        self.document.blockSignals(True)
        if self.view.editor_widget is not None:
            self.view.editor_widget.finish()
        for viewer in list(self._viewers):
            viewer.close()


def wait_until_idle(window: MainWindow, timeout_s: float = 600.0) -> bool:
    """Process events until no run is going or queued (used by --screenshot --run)."""
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + timeout_s
    while window.runs.busy and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.01)
    QApplication.processEvents()
    return not window.runs.busy


