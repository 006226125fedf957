"""Test-only nodes for the editor's tests: a slow, cancellable node."""

from __future__ import annotations

import time

from nodegraph.context import NodeContext
from nodegraph.registry import IntParam, Output, node
from nodegraph.types import INT


@node("test.Slow", "Slow counter", "test", params=[IntParam("steps", 100, 1, 100000)],
      outputs=[Output("value", INT)], output_node=True, deterministic=False)
def slow(steps: int, ctx: NodeContext) -> int:
    """Counts slowly, reporting progress (and so checking for cancel) every step."""
    for step in range(steps):
        time.sleep(0.02)
        ctx.progress(step + 1, steps)
    return steps
