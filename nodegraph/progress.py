"""A terminal progress bar (tqdm) driven by executor events."""

from __future__ import annotations

from typing import Any

from .events import (
    Event,
    NodeCached,
    NodeFailed,
    NodeFinished,
    NodeProgress,
    NodeSkipped,
    NodeStarted,
    RunStarted,
)
from .graph import Graph


class ProgressPrinter:
    """Callable event sink: one bar over the run's nodes, with the running node's steps."""

    def __init__(self, graph: Graph, enabled: bool = True) -> None:
        self.graph = graph
        self.enabled = enabled
        self.bar: Any = None

    def __call__(self, event: Event) -> None:
        if not self.enabled:
            return
        if isinstance(event, RunStarted):
            from tqdm import tqdm

            self.close()
            self.bar = tqdm(total=len(event.order), unit="node", leave=False)
        elif self.bar is None:
            return
        elif isinstance(event, NodeStarted):
            self.bar.set_description(self._name(event.node_id))
        elif isinstance(event, NodeProgress):
            self.bar.set_postfix_str(f"step {event.step}/{event.total}")
        elif isinstance(event, (NodeFinished, NodeCached, NodeFailed, NodeSkipped)):
            self.bar.set_postfix_str("")
            self.bar.update(1)

    def _name(self, node_id: str) -> str:
        node = self.graph.nodes.get(node_id)
        return node.title or node.type if node else node_id

    def close(self) -> None:
        """Remove the bar from the terminal."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
