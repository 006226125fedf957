"""What a running node can reach: progress reporting, cancellation, output folder,
device choice and the workflow being run (to embed in saved images)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .events import Event, NodeProgress
from .run_options import RunOptions


class Cancelled(Exception):
    """Raised inside a run when its cancel token is set."""


class NodeInputError(ValueError):
    """A node's complaint about one of its inputs or params; ``field`` names it, so the
    editor can mark it and the CLI can say which input was wrong."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class CancelToken:
    """Thread-safe cancel flag, checked between nodes and inside long node loops."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the run to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise Cancelled if cancel() was called."""
        if self._event.is_set():
            raise Cancelled("the run was cancelled")


@dataclass
class NodeContext:
    """Handed to node functions that take a ``ctx`` argument."""

    node_id: str
    title: str
    run_id: int
    cancel: CancelToken
    emit: Callable[[Event], None]
    options: RunOptions = field(default_factory=RunOptions)
    workflow_source: Callable[[], dict[str, Any] | None] = lambda: None
    run_info: dict[str, Any] = field(default_factory=dict)
    images: list[Any] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # parts of its time, by name

    @property
    def workflow(self) -> dict[str, Any] | None:
        """The running graph as a workflow document (to embed in saved images), made
        when a node first asks: serialising a 10,000-node graph costs about half a
        second, which nodes that never embed it should not pay."""
        return self.workflow_source()

    @property
    def output_dir(self) -> Path:
        """Where Save nodes write."""
        return self.options.output_path

    @property
    def device(self) -> str:
        """The device the run asked for (auto, cpu, cuda, mps)."""
        return self.options.device

    @property
    def dtype(self) -> str:
        """The dtype the run asked for (auto: the device policy's choice)."""
        return self.options.dtype

    @property
    def previews(self) -> bool:
        """False when nobody watches (headless): skip building step previews."""
        return self.options.previews

    def check_cancelled(self) -> None:
        """Raise Cancelled if the run was cancelled; call it inside long loops."""
        self.cancel.raise_if_cancelled()

    def progress(self, step: int, total: int, preview: Any = None) -> None:
        """Report progress (and an optional HxWx3 uint8 preview); also checks cancel."""
        self.emit(NodeProgress(self.run_id, self.node_id, step, total, preview))
        self.check_cancelled()

    def show_images(self, images: list[Any]) -> None:
        """Offer images (HxWx3 uint8 numpy arrays) to the editor's thumbnails."""
        self.images.extend(images)

    def add_file(self, path: str | Path) -> None:
        """Record a file this node wrote (reported by the CLI and --report)."""
        self.files.append(str(path))


current_node: ContextVar[NodeContext | None] = ContextVar("nodegraph_node", default=None)


def add_time(part: str, seconds: float) -> None:
    """Count ``seconds`` of the running node's time as ``part`` (e.g. "previews"), so the
    editor can show where a node's time went; a no-op outside a run."""
    ctx = current_node.get()
    if ctx is not None:
        ctx.timings[part] = ctx.timings.get(part, 0.0) + seconds
