"""The link rules, in one place: which output may feed which input, and why not.

:class:`Graph.connect <nodegraph.graph.Graph.connect>` enforces them when the graph has
:class:`LinkRules`; validation reports saved links that break them; the editor asks them
which ports light up while a wire is dragged and why a drop is refused. Qt-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .types import ANY, compatible

if TYPE_CHECKING:
    from .graph import Graph
    from .registry import NodeSpec, Registry

IN, OUT = "in", "out"


@dataclass(frozen=True)
class PortRef:
    """One socket: ``name`` is an input, a param (driven by a link) or an output."""

    node_id: str
    name: str
    direction: str  # IN or OUT


def output_type(graph: Graph, registry: Registry, node_id: str, output: str) -> str:
    """The type an output carries; pass-through (``*``) outputs take their source's type."""
    seen: set[str] = set()
    while node_id not in seen:
        seen.add(node_id)
        spec = registry.get(graph.nodes[node_id].type)
        port = spec.output(output) if spec else None
        if port is None:
            return ANY
        if port.type != ANY:
            return port.type
        upstream = next(iter(graph.incoming(node_id).values()), None)
        if upstream is None:
            return ANY
        node_id, output = upstream.src, upstream.src_output
    return ANY


def input_type(graph: Graph, registry: Registry, node_id: str, name: str) -> str | None:
    """The type an input (or a param's link port) accepts; None if there is no such input."""
    spec = registry.get(graph.nodes[node_id].type)
    if spec is None:
        return ANY  # a missing node type keeps whatever its saved links were
    port = spec.input(name)
    if port is not None:
        return port.type
    param = spec.param(name)
    return param.port_type if param is not None else None


def port_type(graph: Graph, registry: Registry, port: PortRef) -> str | None:
    """The type carried by ``port``; None if the node has no such port."""
    if port.direction == OUT:
        spec = registry.get(graph.nodes[port.node_id].type)
        if spec is not None and spec.output(port.name) is None:
            return None
        return output_type(graph, registry, port.node_id, port.name)
    return input_type(graph, registry, port.node_id, port.name)


def upstream_of(graph: Graph, node_id: str) -> set[str]:
    """``node_id`` and every node that feeds it, directly or not."""
    return _closure(graph, node_id, lambda n: [link.src for link in graph.incoming(n).values()])


def downstream_of(graph: Graph, node_id: str) -> set[str]:
    """``node_id`` and every node it feeds, directly or not."""
    return _closure(graph, node_id, lambda n: [link.dst for link in graph.outgoing(n)])


def _closure(graph: Graph, start: str, step) -> set[str]:
    seen, stack = {start}, [start]
    while stack:
        for other in step(stack.pop()):
            if other not in seen:
                seen.add(other)
                stack.append(other)
    return seen


def structural_refusal(graph: Graph, src: str, dst: str) -> str | None:
    """Why a link from node ``src`` to node ``dst`` breaks the graph's shape (a link to
    itself, a cycle); None if it does not. Needs no registry."""
    if src == dst:
        return "cannot link a node to itself"
    if src in downstream_of(graph, dst):
        return "this link would make a cycle"
    return None


def type_refusal(src_name: str, src_type: str | None, dst_name: str,
                 dst_type: str | None) -> str | None:
    """Why an output of ``src_type`` may not feed an input of ``dst_type``; None if it may."""
    if src_type is None or dst_type is None:
        return "no such port"
    if not compatible(src_type, dst_type):
        return (f"type mismatch: output '{src_name}' gives {src_type}, "
                f"input '{dst_name}' expects {dst_type}")
    return None


class LinkRules:
    """The link rules of one registry: types must match, no self-links, no cycles."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def refusal(self, graph: Graph, src: str, src_output: str, dst: str,
                dst_input: str) -> str | None:
        """Why linking ``src.src_output`` into ``dst.dst_input`` is refused; None if legal.
        Replacing the link an input already has is legal."""
        shape = structural_refusal(graph, src, dst)
        if shape:
            return shape
        src_type = port_type(graph, self.registry, PortRef(src, src_output, OUT))
        dst_type = input_type(graph, self.registry, dst, dst_input)
        spec = self.registry.get(graph.nodes[dst].type)
        if src_type == ANY and spec is not None and spec.param(dst_input) is not None:
            return (f"output '{src_output}' has no type yet (link something into it first), "
                    f"so it cannot drive param '{dst_input}'")
        return type_refusal(src_output, src_type, dst_input, dst_type)

    def check(self, graph: Graph, a: PortRef, b: PortRef) -> str | None:
        """Why a link between ports ``a`` and ``b`` (either order) is refused; None if legal."""
        if a.direction == b.direction:
            both = "inputs" if a.direction == IN else "outputs"
            return f"cannot link two {both}: drag from an output to an input"
        src, dst = (a, b) if a.direction == OUT else (b, a)
        return self.refusal(graph, src.node_id, src.name, dst.node_id, dst.name)

    def targets(self, graph: Graph, port: PortRef) -> set[PortRef]:
        """Every port a wire from ``port`` may end on: types fit and no cycle closes."""
        type_name = port_type(graph, self.registry, port) or ANY
        if port.direction == OUT:
            blocked = upstream_of(graph, port.node_id)
        else:
            blocked = downstream_of(graph, port.node_id)
        found: set[PortRef] = set()
        for node_id, node in graph.nodes.items():
            spec = self.registry.get(node.type)
            if node_id in blocked or spec is None:
                continue
            if port.direction == OUT:
                found.update(PortRef(node_id, name, IN)
                             for name in input_names(spec, type_name))
            else:
                found.update(PortRef(node_id, out.name, OUT) for out in spec.outputs
                             if compatible(output_type(graph, self.registry, node_id, out.name),
                                           type_name))
        return found


def input_names(spec: NodeSpec, type_name: str) -> list[str]:
    """The inputs of ``spec`` (link inputs, then params) an output of ``type_name`` may
    feed. A param is driven only by a link of a known type, never by an unresolved ``*``."""
    names = [port.name for port in spec.inputs if compatible(type_name, port.type)]
    if type_name != ANY:
        names += [param.name for param in spec.params
                  if compatible(type_name, param.port_type)]
    return names


def first_fitting_port(spec: NodeSpec, type_name: str, direction: str) -> str | None:
    """The first port of ``spec`` that could link to a port of ``type_name``: an input
    (or param port) when ``direction`` is IN, an output when OUT; None if none fits."""
    if direction == IN:
        return next(iter(input_names(spec, type_name)), None)
    return next((port.name for port in spec.outputs if compatible(port.type, type_name)), None)
