"""Small nodes for engine tests: integers flowing through a graph."""

from __future__ import annotations

import gc
import random
import time
import weakref

from nodegraph.context import NodeContext
from nodegraph.registry import FloatParam, Input, IntParam, Output, Registry, node
from nodegraph.types import INT

CALLS: list[str] = []


@node("test.Number", "Number", "test", params=[IntParam("value", 0, -1000, 1000)],
      outputs=[Output("value", INT)])
def number(value: int) -> int:
    CALLS.append("number")
    return value


@node("test.Add", "Add", "test", inputs=[Input("a", INT), Input("b", INT, optional=True)],
      params=[IntParam("offset", 0)], outputs=[Output("value", INT)])
def add(a: int, b: int | None, offset: int) -> int:
    CALLS.append("add")
    return a + (b or 0) + offset


@node("test.Random", "Random", "test", outputs=[Output("value", INT)], deterministic=False)
def rand() -> int:
    return random.randint(0, 10**9)


@node("test.Fail", "Fail", "test", inputs=[Input("a", INT)], outputs=[Output("value", INT)])
def fail(a: int) -> int:
    raise RuntimeError(f"cannot handle {a}")


@node("test.Slow", "Slow", "test", inputs=[Input("a", INT)],
      params=[IntParam("steps", 50, 1, 10_000), FloatParam("delay", 0.02, 0.0, 1.0)],
      outputs=[Output("value", INT)])
def slow(a: int, steps: int, delay: float, ctx: NodeContext) -> int:
    for step in range(steps):
        time.sleep(delay)
        ctx.progress(step + 1, steps)
    return a


@node("test.Sink", "Sink", "test", inputs=[Input("a", INT)], output_node=True)
def sink(a: int, ctx: NodeContext) -> None:
    CALLS.append("sink")


def registry() -> Registry:
    """The built-in nodes plus these test nodes."""
    import sys

    from nodegraph_app import default_registry

    reg = default_registry(plugins=False)
    reg.add_module(sys.modules[__name__])
    return reg


class Box:
    """A value whose lifetime tests can watch."""

    alive: weakref.WeakSet[Box]

    def __init__(self, value: int) -> None:
        self.value = value
        Box.alive.add(self)


Box.alive = weakref.WeakSet()
SEEN_ALIVE: list[int] = []


@node("test.BoxNew", "New box", "test", params=[IntParam("value", 0)],
      outputs=[Output("box", "BOX")])
def box_new(value: int) -> Box:
    return Box(value)


@node("test.BoxInc", "Increment box", "test", inputs=[Input("box", "BOX")],
      outputs=[Output("box", "BOX")])
def box_inc(box: Box) -> Box:
    return Box(box.value + 1)


@node("test.BoxProbe", "Probe boxes", "test", inputs=[Input("box", "BOX")], output_node=True)
def box_probe(box: Box) -> None:
    gc.collect()
    SEEN_ALIVE.append(len(Box.alive))


@node("test.PreviewFlag", "Preview flag", "test", outputs=[Output("value", INT)])
def preview_flag(ctx: NodeContext) -> int:
    return int(ctx.previews)
