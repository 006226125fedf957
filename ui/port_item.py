"""Ports: where a node's sockets are, what type each carries, and which links are legal.

Ports are painted by their node (one item per node keeps 1000-node scenes fast), so a
port is a small value (node id, name, direction) plus geometry held by the node's layout.
"""

from __future__ import annotations

from dataclasses import dataclass

from nodegraph.graph import Graph
from nodegraph.registry import Registry
from nodegraph.types import ANY, compatible
from nodegraph.validation import output_type

IN, OUT = "in", "out"


@dataclass(frozen=True)
class PortRef:
    """One socket: ``name`` is an input, a param (driven by a link) or an output."""

    node_id: str
    name: str
    direction: str  # IN or OUT


def input_type(graph: Graph, registry: Registry, node_id: str, name: str) -> str | None:
    """The type an input (or a param's link port) accepts; None if there is no such input."""
    node = graph.nodes[node_id]
    spec = registry.get(node.type)
    if spec is None:
        return ANY
    port = spec.input(name)
    if port is not None:
        return port.type
    param = spec.param(name)
    return param.port_type if param is not None else None


def port_type(graph: Graph, registry: Registry, port: PortRef) -> str | None:
    """The type carried by ``port`` (reroute outputs take their source's type)."""
    if port.direction == OUT:
        spec = registry.get(graph.nodes[port.node_id].type)
        if spec is not None and spec.output(port.name) is None:
            return None
        return output_type(graph, registry, port.node_id, port.name)
    return input_type(graph, registry, port.node_id, port.name)


def _reaches(graph: Graph, start: str, goal: str) -> bool:
    """True when ``goal`` is downstream of (or is) ``start``."""
    seen, stack = {start}, [start]
    while stack:
        node_id = stack.pop()
        if node_id == goal:
            return True
        for link in graph.outgoing(node_id):
            if link.dst not in seen:
                seen.add(link.dst)
                stack.append(link.dst)
    return False


def check_link(graph: Graph, registry: Registry, a: PortRef, b: PortRef) -> str | None:
    """Why a link between ports ``a`` and ``b`` (either order) is refused; None if legal."""
    if a.direction == b.direction:
        both = "inputs" if a.direction == IN else "outputs"
        return f"cannot link two {both}: drag from an output to an input"
    src, dst = (a, b) if a.direction == OUT else (b, a)
    if src.node_id == dst.node_id:
        return "cannot link a node to itself"
    src_type = port_type(graph, registry, src)
    dst_type = port_type(graph, registry, dst)
    if src_type is None or dst_type is None:
        return "no such port"
    if not compatible(src_type, dst_type):
        return (f"type mismatch: output '{src.name}' gives {src_type}, "
                f"input '{dst.name}' expects {dst_type}")
    if _reaches(graph, dst.node_id, src.node_id):
        return "this link would make a cycle"
    return None


def spec_accepts(spec, type_name: str, direction: str) -> str | None:
    """The first port of ``spec`` that could link to a port of ``type_name``: an input
    (or param port) when ``direction`` is IN, an output when OUT; None if none fits."""
    if direction == IN:
        for port in spec.inputs:
            if compatible(type_name, port.type):
                return port.name
        for param in spec.params:
            if type_name != ANY and compatible(type_name, param.port_type):
                return param.name
        return None
    for port in spec.outputs:
        if compatible(port.type, type_name):
            return port.name
    return None
