"""Runs workflows in a worker thread and hands the executor's events to the GUI as Qt
signals. Each run works on a snapshot (a plain document) taken at submit time; further
runs queue behind the current one; cancel stops the current run at its next check
(between nodes, or between sampler steps) and drops the queue."""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import deque
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from nodegraph.cache import DEFAULT_BUDGET_MB
from nodegraph.context import CancelToken
from nodegraph.problems import WorkflowError
from nodegraph.run_options import DEFAULT_OUTPUT_DIR, RunOptions

MODELS_ENV = "NODEGRAPH_MODELS"  # where the node library looks for model folders
_workers: weakref.WeakSet = weakref.WeakSet()


def live_workers() -> list[_Worker]:
    """Workers not yet collected (tests check that none is left running)."""
    return list(_workers)


class _Worker(QObject):
    """Runs one snapshot in a Python thread. Its signals are emitted from that thread
    and delivered, queued, to receivers in the GUI thread."""

    event = Signal(object)
    rejected = Signal(object)  # list of Problems
    crashed = Signal(str)
    done = Signal()

    def __init__(self, executor_factory, document: dict[str, Any],
                 outputs: list[str] | None, options: RunOptions) -> None:
        super().__init__()
        self.executor_factory = executor_factory
        self.document = document
        self.outputs = outputs
        self.options = options
        self.cancel = CancelToken()
        self.thread = threading.Thread(target=self._run, name="nodegraph-run", daemon=True)
        _workers.add(self)

    def start(self) -> None:
        self.thread.start()

    def isRunning(self) -> bool:
        return self.thread.is_alive()

    def _run(self) -> None:
        try:
            executor = self.executor_factory()
            executor.run(self.document, self.outputs, on_event=self.event.emit,
                         cancel=self.cancel, options=self.options,
                         partial=True)  # around invalid nodes
        except WorkflowError as error:
            self.rejected.emit(list(error.problems))
        except Exception as error:  # the app must survive anything a run does
            self.crashed.emit(f"{type(error).__name__}: {error}")
        finally:
            self.done.emit()


class RunController(QObject):
    """The queue of runs and the one executor (and cache) they share."""

    event = Signal(object)  # an engine Event, in the GUI thread
    rejected = Signal(object)
    crashed = Signal(str)
    busy_changed = Signal(bool)
    queue_changed = Signal(int)

    def __init__(self, registry, device: str = "auto", cache_mb: int = DEFAULT_BUDGET_MB,
                 output_dir: str | os.PathLike[str] = DEFAULT_OUTPUT_DIR,
                 model_folders: list[str] | None = None) -> None:
        super().__init__()
        self.registry = registry
        self._executor = None
        self._worker: _Worker | None = None
        self._queue: deque[tuple[dict[str, Any], list[str] | None, Path | None, Any]] = deque()
        self.current_tag: Any = None  # what the caller tagged the latest started run with
        self.started_at = 0.0
        self.configure(device, cache_mb, str(output_dir), list(model_folders or []))

    def configure(self, device: str, cache_mb: int, output_dir: str,
                  model_folders: list[str]) -> None:
        """New settings apply from the next run on (a run keeps the options it started
        with)."""
        self.options = RunOptions(device=device, output_dir=output_dir)
        self.cache_mb, self.model_folders = cache_mb, list(model_folders)
        if self.model_folders:
            os.environ[MODELS_ENV] = os.pathsep.join(self.model_folders)
        if self._executor is not None:
            self._executor.cache.budget_bytes = cache_mb * 1024 * 1024

    def executor(self):
        """The executor (made on first use, so start-up never imports the executor)."""
        if self._executor is None:
            from nodegraph.cache import NodeCache
            from nodegraph.executor import Executor

            self._executor = Executor(self.registry, NodeCache(self.cache_mb * 1024 * 1024),
                                      self.options)
        return self._executor

    @property
    def busy(self) -> bool:
        return self._worker is not None

    @property
    def queued(self) -> int:
        return len(self._queue)

    def submit(self, document: dict[str, Any], outputs: list[str] | None = None,
               base_dir: Path | None = None, tag: Any = None) -> None:
        """Queue a run of ``document`` (already a snapshot: a plain dict); ``tag`` says
        whose run it is (the editor tags runs with their Document)."""
        self._queue.append((document, outputs, base_dir, tag))
        self.queue_changed.emit(len(self._queue))
        if self._worker is None:
            self._start_next()

    def _start_next(self) -> None:
        if not self._queue:
            return
        document, outputs, base_dir, self.current_tag = self._queue.popleft()
        self.queue_changed.emit(len(self._queue))
        options = self.options.replace(base_dir=base_dir)
        worker = _Worker(self.executor, document, outputs, options)
        worker.event.connect(self.event)
        worker.rejected.connect(self.rejected)
        worker.crashed.connect(self.crashed)
        worker.done.connect(self._finished)
        self._worker = worker
        self.started_at = time.perf_counter()  # the wall clock of the run the user waits on
        self.busy_changed.emit(True)
        worker.start()

    def _finished(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.thread.join()
            worker.deleteLater()
        if self._queue:
            self._start_next()
        else:
            self.busy_changed.emit(False)

    def cancel(self) -> None:
        """Stop the current run soon and drop the queued ones."""
        self._queue.clear()
        self.queue_changed.emit(0)
        if self._worker is not None:
            self._worker.cancel.cancel()

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Cancel everything and wait for the worker thread to end."""
        self.cancel()
        worker = self._worker
        if worker is not None:
            worker.thread.join(timeout_s)
            self._worker = None
            for signal in (worker.event, worker.rejected, worker.crashed, worker.done):
                signal.disconnect()
            worker.deleteLater()
