"""Graph utilities: reroute points, notes and primitive values."""

from __future__ import annotations

from typing import Any

from nodegraph.registry import (
    BoolParam,
    FloatParam,
    Input,
    IntParam,
    Output,
    SeedParam,
    StringParam,
    node,
)
from nodegraph.types import ANY, BOOLEAN, FLOAT, INT, STRING


@node("utils.Reroute", "Reroute", "utils",
      inputs=[Input("value", ANY)], outputs=[Output("value", ANY)])
def reroute(value: Any) -> Any:
    """A point on a link; it carries whatever type arrives."""
    return value


@node("utils.Note", "Note", "utils", params=[StringParam("text", "", multiline=True)])
def note(text: str) -> None:
    """A text note on the canvas; it never runs."""


@node("primitive.Int", "Integer", "primitive", params=[IntParam("value", 0)],
      outputs=[Output("value", INT)])
def int_value(value: int) -> int:
    """An integer to link into any int param."""
    return value


@node("primitive.Float", "Float", "primitive", params=[FloatParam("value", 0.0)],
      outputs=[Output("value", FLOAT)])
def float_value(value: float) -> float:
    """A number to link into any float param."""
    return value


@node("primitive.String", "Text", "primitive", params=[StringParam("value", "", multiline=True)],
      outputs=[Output("value", STRING)])
def string_value(value: str) -> str:
    """Text to link into any string param (e.g. one prompt shared by several nodes)."""
    return value


@node("primitive.Bool", "Boolean", "primitive", params=[BoolParam("value", False)],
      outputs=[Output("value", BOOLEAN)])
def bool_value(value: bool) -> bool:
    """A true/false value."""
    return value


@node("primitive.Seed", "Seed", "primitive", params=[SeedParam("seed", 0)],
      outputs=[Output("seed", INT)])
def seed_value(seed: int) -> int:
    """A seed to share between nodes."""
    return seed
