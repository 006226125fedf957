"""One open workflow: its Graph, its undo stack, its file, dirty state and autosave.

Autosave writes the graph to a recovery file shortly after each edit (debounced: a
burst of edits is one write) while there are unsaved changes; a clean close deletes it,
so a recovery file found at start-up whose process is gone was left by a crash and is
offered back, saying how old it is.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack

from nodegraph.files import write_atomic
from nodegraph.graph import Graph
from nodegraph.links import LinkRules
from nodegraph.problems import Problem
from nodegraph.registry import Registry
from nodegraph.workflow import dumps, load, save


class Document(QObject):
    """A graph being edited, with its own undo stack."""

    changed = Signal()  # path or dirty state changed

    def __init__(self, registry: Registry, graph: Graph | None = None,
                 path: str | os.PathLike[str] | None = None,
                 problems: list[Problem] | None = None) -> None:
        super().__init__()
        self.registry = registry
        self.graph = graph if graph is not None else Graph()
        self.graph.rules = LinkRules(registry)  # the editor's links obey the registry's types
        self.path: Path | None = Path(path) if path else None
        self.problems = problems or []
        self.stack = QUndoStack(self)
        self.stack.cleanChanged.connect(self._clean_changed)
        self._forced_dirty = False

    def _clean_changed(self, _clean: bool) -> None:
        self.changed.emit()

    @classmethod
    def open(cls, path: str | os.PathLike[str], registry: Registry) -> Document:
        """Load a .json workflow or a PNG with an embedded workflow."""
        graph, problems = load(path, registry)  # .json, or a PNG's embedded workflow
        is_png = Path(path).suffix.lower() == ".png"
        doc = cls(registry, graph, None if is_png else path, problems)
        return doc

    @property
    def dirty(self) -> bool:
        return self._forced_dirty or not self.stack.isClean()

    def mark_dirty(self) -> None:
        """Unsaved although nothing is on the undo stack (e.g. a recovered document)."""
        self._forced_dirty = True
        self.changed.emit()

    @property
    def name(self) -> str:
        return self.path.name if self.path else "Untitled"

    def text(self) -> str:
        return dumps(self.graph)

    def save(self, path: str | os.PathLike[str] | None = None) -> None:
        """Save atomically (to ``path`` if given, which becomes the document's file)."""
        target = Path(path) if path else self.path
        if target is None:
            raise ValueError("the document has no file yet; give a path")
        save(self.graph, target)
        self.path = target
        self._forced_dirty = False
        self.stack.setClean()
        self.changed.emit()


@dataclass
class Recovery:
    """An autosave left behind by a process that is gone."""

    file: Path
    original_path: str | None
    text: str
    saved_at: float = 0.0  # time.time() of the autosave

    def prompt(self, now: float | None = None) -> str:
        """The question put to the user, saying what and how old the snapshot is."""
        name = self.original_path or "an untitled workflow"
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.saved_at))
        age = describe_age((time.time() if now is None else now) - self.saved_at)
        return (f"nodegraph did not close cleanly. Recover the unsaved changes to {name}? "
                f"They were autosaved {age} ago ({when}).")


def describe_age(seconds: float) -> str:
    """A duration as people say it: 4 s, 3 min, 2 h 5 min, 3 days."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    hours, rest = divmod(int(minutes), 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{hours // 24} days"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_counter = iter(range(1, 1_000_000))


class AutoSaver(QObject):
    """Writes a document's graph to a recovery file shortly after each edit while it
    has unsaved changes: ``delay_ms`` after the last edit of a burst, and at least every
    ``max_wait_ms`` while edits keep coming (a long drag or typing)."""

    def __init__(self, folder: Path, delay_ms: int = 1000, max_wait_ms: int = 5000,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.file = folder / f"recovery-{os.getpid()}-{next(_counter)}.json"
        self.document: Document | None = None
        self._last = ""
        self.max_wait_ms = max_wait_ms
        self._first_pending: float | None = None
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(delay_ms)
        self.timer.timeout.connect(self.save_now)

    def watch(self, document: Document) -> None:
        if self.document is not None and self.document is not document:
            for signal in (self.document.stack.indexChanged, self.document.changed):
                with contextlib.suppress(RuntimeError, TypeError):
                    signal.disconnect(self.edited)
        self.document = document
        self._last = ""
        document.stack.indexChanged.connect(self.edited)
        document.changed.connect(self.edited)
        self.save_now()

    def edited(self, *_args) -> None:
        """An edit (or undo/redo): save soon, unless edits keep coming for too long."""
        now = time.monotonic()
        if self._first_pending is None:
            self._first_pending = now
        if (now - self._first_pending) * 1000 >= self.max_wait_ms:
            self.save_now()
            return
        self.timer.start()  # restarts: one write after the burst

    def save_now(self) -> None:
        """Write the recovery file now if there are unsaved changes (remove it if not)."""
        self.timer.stop()
        self._first_pending = None
        doc = self.document
        if doc is None or not doc.dirty:
            self.discard()
            return
        text = doc.text()
        if text == self._last:
            return
        payload = {"pid": os.getpid(), "path": str(doc.path) if doc.path else None,
                   "saved_at": time.time(), "workflow": json.loads(text)}
        write_atomic(self.file, json.dumps(payload).encode("utf-8"))
        self._last = text

    def discard(self) -> None:
        """Delete the recovery file (clean close or saved)."""
        self._last = ""
        self.file.unlink(missing_ok=True)

    def stop(self) -> None:
        self.timer.stop()
        self.discard()


def find_recoveries(folder: Path) -> list[Recovery]:
    """Autosaves whose process is gone (a crash), newest first."""
    found = []
    for file in sorted(folder.glob("recovery-*.json"), key=lambda p: -p.stat().st_mtime):
        try:
            pid = int(file.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if _alive(pid):
            continue
        try:
            payload = json.loads(file.read_text(encoding="utf-8"))
            text = json.dumps(payload["workflow"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        saved_at = payload.get("saved_at")
        if not isinstance(saved_at, (int, float)):
            saved_at = file.stat().st_mtime
        found.append(Recovery(file, payload.get("path"), text, float(saved_at)))
    return found
