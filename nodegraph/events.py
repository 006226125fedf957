"""Events an executor run emits, in order. Plain dataclasses: the editor turns them into
Qt signals, the CLI into a progress bar, a cluster worker could send them over a wire."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .problems import Problem


@dataclass(frozen=True)
class Event:
    """Base class: every event belongs to one run."""

    run_id: int


@dataclass(frozen=True)
class RunStarted(Event):
    """The plan: the nodes that will be visited, in execution order."""

    order: tuple[str, ...]


@dataclass(frozen=True)
class NodeStarted(Event):
    node_id: str


@dataclass(frozen=True)
class NodeProgress(Event):
    """A long node's progress; ``preview`` is an optional HxWx3 uint8 numpy image."""

    node_id: str
    step: int
    total: int
    preview: Any = None


@dataclass(frozen=True)
class NodeOutput(Event):
    """Images (HxWx3 uint8 numpy arrays) and files an output node produced (or had cached)."""

    node_id: str
    images: tuple[Any, ...] = ()
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeCached(Event):
    """The node's outputs came from the cache; it did not run."""

    node_id: str


@dataclass(frozen=True)
class NodeFinished(Event):
    """``parts``: (name, seconds) of the time the node said it spent on what, e.g.
    ("previews", 4.2) for a sampler decoding its live previews."""

    node_id: str
    seconds: float
    parts: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class NodeFailed(Event):
    """The node raised: ``problem`` says why (its ``field`` names the input or param at
    fault when the node said which; its ``traceback`` is for a details view)."""

    node_id: str
    problem: Problem

    def __str__(self) -> str:
        """One line naming the node by title, and the input or param at fault."""
        return str(self.problem)


@dataclass(frozen=True)
class NodeSkipped(Event):
    """The node could not run because something it needs failed, was muted or cancelled."""

    node_id: str
    reason: str


@dataclass(frozen=True)
class RunFinished(Event):
    """The run ended; ``status`` is finished, failed or cancelled (see RunResult)."""

    status: str
    seconds: float
    failures: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class RunRejected(Event):
    """The workflow was invalid; nothing ran. ``problems`` are Problem objects."""

    problems: tuple[Any, ...]
