"""One open workflow: its Graph, its undo stack, its file, dirty state and autosave.

Autosave writes the graph to a recovery file every few seconds while there are unsaved
changes; a clean close deletes it, so a recovery file found at start-up whose process
is gone was left by a crash and is offered back.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack

from nodegraph.graph import Graph
from nodegraph.links import LinkRules
from nodegraph.problems import Problem
from nodegraph.registry import Registry
from nodegraph.workflow import dumps, load, save, write_atomic


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
    """Writes a document's graph to a recovery file while it has unsaved changes."""

    def __init__(self, folder: Path, seconds: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.file = folder / f"recovery-{os.getpid()}-{next(_counter)}.json"
        self.document: Document | None = None
        self._last = ""
        self.timer = QTimer(self)
        self.timer.setInterval(max(1, seconds) * 1000)
        self.timer.timeout.connect(self.save_now)
        self.timer.start()

    def watch(self, document: Document) -> None:
        self.document = document
        self._last = ""
        self.save_now()

    def save_now(self) -> None:
        """Write the recovery file now if there are unsaved changes (remove it if not)."""
        doc = self.document
        if doc is None or not doc.dirty:
            self.discard()
            return
        text = doc.text()
        if text == self._last:
            return
        payload = {"pid": os.getpid(), "path": str(doc.path) if doc.path else None,
                   "workflow": json.loads(text)}
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
        found.append(Recovery(file, payload.get("path"), text))
    return found
