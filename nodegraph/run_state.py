"""What each node of a document shows about the runs: a Qt-free model fed by the
executor's events. The editor's node items observe it; a remote client or a test can
read it the same way.

Statuses: ``queued``, ``running``, ``cached``, ``done``, ``failed`` (it raised),
``problem`` (it could not run: invalid), ``skipped`` (something it needs did not run),
``cancelled`` (it was running when the run was cancelled), or None (not in the last run).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import events as ev
from .problems import Problem

#: Failure codes of nodes that ran and raised; any other problem means "could not run".
RAN_AND_FAILED = ("node_failed", "bad_input")


@dataclass
class NodeRunState:
    """One node's part of the runs: ``images`` (HxWx3 uint8 arrays) stay until a run
    renews them and are ``stale`` while a newer run has not confirmed them."""

    status: str | None = None
    progress: tuple[int, int] | None = None
    preview: Any = None
    images: tuple[Any, ...] = ()
    stale: bool = False
    seconds: float | None = None
    parts: tuple[tuple[str, float], ...] = ()
    problem: Problem | None = None
    reason: str = ""  # why it was skipped


@dataclass
class RunSummary:
    """The latest run of the document, for its status line."""

    finished: ev.RunFinished | None = None
    failures: list[ev.NodeFailed] = field(default_factory=list)
    node_times: list[ev.NodeFinished] = field(default_factory=list)
    cancelled_seconds: float = 0.0  # what the node stopped by a cancel had run


Listener = Callable[[set[str]], None]


class RunStates:
    """Per-node run state, updated by :meth:`apply` (engine events) and :meth:`reject`
    (a run refused before it started); listeners get the ids of the nodes that changed."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeRunState] = {}
        self.summary = RunSummary()
        self._listeners: list[Listener] = []
        self._started: dict[str, float] = {}  # running node -> perf_counter at its start

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def state(self, node_id: str) -> NodeRunState:
        """The node's state (a fresh, empty one for a node no run has touched)."""
        return self.nodes.setdefault(node_id, NodeRunState())

    def clear(self) -> None:
        """Forget every node's state (another document is shown)."""
        changed = set(self.nodes)
        self.nodes.clear()
        self.summary = RunSummary()
        self._notify(changed)

    def forget(self, node_ids: Iterable[str]) -> None:
        """Drop nodes that left the document."""
        for node_id in node_ids:
            self.nodes.pop(node_id, None)

    def apply(self, event: ev.Event) -> None:
        """Update the states an engine event changes and tell the listeners."""
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            self._notify(handler(self, event))

    def reject(self, problems: Iterable[Problem]) -> None:
        """A run was refused: each node with a problem shows its first one; queued nodes
        go back to showing nothing."""
        first: dict[str, Problem] = {}
        for problem in problems:
            if problem.node_id is not None:
                first.setdefault(problem.node_id, problem)
        changed = set()
        for node_id, state in self.nodes.items():
            if state.status == "queued" and node_id not in first:
                state.status = None
                changed.add(node_id)
        for node_id, problem in first.items():
            state = self.state(node_id)
            state.status, state.problem = "problem", problem
            changed.add(node_id)
        self._notify(changed)

    def _notify(self, changed: set[str]) -> None:
        if changed:
            for listener in list(self._listeners):
                listener(changed)

    # -- one method per event type ------------------------------------------------------
    def _run_started(self, event: ev.RunStarted) -> set[str]:
        self.summary = RunSummary()
        order = set(event.order)
        for node_id in order:
            self.state(node_id)
        for node_id, state in self.nodes.items():
            _reset(state, "queued" if node_id in order else None)
            if node_id in order and state.images:
                state.stale = True  # until this run shows (or confirms) its images
        return set(self.nodes)

    def _run_finished(self, event: ev.RunFinished) -> set[str]:
        self.summary.finished = event
        changed = set()
        for node_id, state in self.nodes.items():
            if state.status == "queued":
                state.status = None
                changed.add(node_id)
            elif state.status == "running":  # stopped by the cancel
                state.status, state.progress, state.preview = "cancelled", None, None
                started = self._started.get(node_id)
                if started is not None:
                    state.seconds = time.perf_counter() - started
                    self.summary.cancelled_seconds += state.seconds
                changed.add(node_id)
        self._started.clear()
        return changed

    def _node_started(self, event: ev.NodeStarted) -> set[str]:
        _reset(self.state(event.node_id), "running")
        self._started[event.node_id] = time.perf_counter()
        return {event.node_id}

    def _node_progress(self, event: ev.NodeProgress) -> set[str]:
        state = self.state(event.node_id)
        state.progress = (event.step, event.total)
        if event.preview is not None:
            state.preview = event.preview
        return {event.node_id}

    def _node_cached(self, event: ev.NodeCached) -> set[str]:
        self.state(event.node_id).status = "cached"  # its images follow as NodeOutput
        return {event.node_id}

    def _node_output(self, event: ev.NodeOutput) -> set[str]:
        state = self.state(event.node_id)
        state.images, state.stale, state.preview = tuple(event.images), False, None
        return {event.node_id}

    def _node_finished(self, event: ev.NodeFinished) -> set[str]:
        self.summary.node_times.append(event)
        state = self.state(event.node_id)
        state.status, state.progress = "done", None
        state.seconds, state.parts = event.seconds, event.parts
        return {event.node_id}

    def _node_failed(self, event: ev.NodeFailed) -> set[str]:
        self.summary.failures.append(event)
        state = self.state(event.node_id)
        ran = event.problem.code in RAN_AND_FAILED
        state.status = "failed" if ran else "problem"
        state.problem, state.progress, state.preview = event.problem, None, None
        return {event.node_id}

    def _node_skipped(self, event: ev.NodeSkipped) -> set[str]:
        state = self.state(event.node_id)
        state.status, state.reason = "skipped", event.reason
        return {event.node_id}


def _reset(state: NodeRunState, status: str | None) -> None:
    """A node entering a run (or left out of it): no progress, time or failure yet."""
    state.status = status
    state.progress = state.seconds = state.problem = None
    state.parts, state.reason = (), ""
    if status != "running":
        state.preview = None


_HANDLERS: dict[type, Callable[[RunStates, Any], set[str]]] = {
    ev.RunStarted: RunStates._run_started,
    ev.RunFinished: RunStates._run_finished,
    ev.NodeStarted: RunStates._node_started,
    ev.NodeProgress: RunStates._node_progress,
    ev.NodeCached: RunStates._node_cached,
    ev.NodeOutput: RunStates._node_output,
    ev.NodeFinished: RunStates._node_finished,
    ev.NodeFailed: RunStates._node_failed,
    ev.NodeSkipped: RunStates._node_skipped,
}
