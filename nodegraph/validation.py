"""Check a Graph against the registry and report every problem at once."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

import networkx as nx

from .graph import Graph, Node
from .paths import resolve_input_path
from .problems import Problem
from .registry import ParamValueError, Registry
from .types import ANY, compatible


def validate(graph: Graph, registry: Registry, only: Iterable[str] | None = None,
             cycles: bool = True) -> list[Problem]:
    """All problems of ``graph`` (or of the nodes in ``only``), in node order.
    ``cycles=False`` skips the cycle search (for callers that already sorted the graph)."""
    wanted = None if only is None else set(only)
    problems: list[Problem] = []
    for node in graph.nodes.values():
        if wanted is None or node.id in wanted:
            problems.extend(_node_problems(graph, registry, node))
    if cycles:
        problems.extend(p for p in cycle_problems(graph)
                        if wanted is None or p.node_id in wanted)
    return problems


def missing_file_problems(graph: Graph, registry: Registry,
                          base_dir: Path | None) -> list[Problem]:
    """Path params (input files) naming a file that is neither beside the workflow
    (``base_dir``) nor at the path as given. Kept out of :func:`validate`: a missing file
    fails its node when the graph runs, and only that node's descendants."""
    problems = []
    for node in graph.nodes.values():
        spec = registry.get(node.type)
        if spec is None or node.bypass or node.mute:
            continue
        links = graph.incoming(node.id)
        for param in spec.params:
            value = node.params.get(param.name, param.default)
            if param.kind != "path" or param.name in links or not isinstance(value, str):
                continue
            resolved = Path(resolve_input_path(value, base_dir)) if value else None
            if resolved is None or resolved.is_file():
                continue
            if resolved.exists():
                message = f"{value} is not a regular file (a folder, device or pipe)"
            else:
                where = f" (looked beside the workflow in {base_dir})" if base_dir else ""
                message = f"file not found: {value}{where}"
            problems.append(_problem(node, "missing_file", message, param.name,
                                     "an existing file"))
    return problems


def _problem(node: Node, code: str, message: str, field: str | None = None,
             expected: str | None = None, severity: str = "error") -> Problem:
    return Problem(code, message, node.id, node.title or node.type, field, expected, severity)


def _node_problems(graph: Graph, registry: Registry, node: Node) -> list[Problem]:
    spec = registry.get(node.type)
    if spec is None:
        close = difflib.get_close_matches(node.type, [s.id for s in registry], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return [_problem(node, "unknown_node_type",
                         f"unknown node type {node.type!r}: {hint}If a plugin provides it, "
                         "install that package (the editor keeps the node, marked missing)",
                         expected="a registered node type")]
    problems: list[Problem] = []
    links = graph.incoming(node.id)
    if node.version > spec.version:
        problems.append(_problem(node, "bad_document",
                                 f"saved by a newer version ({node.version}) of {spec.id} "
                                 f"than this one ({spec.version})", severity="warning"))
    for param in spec.params:
        link = links.get(param.name)
        if link is not None:
            problems.extend(_link_type_problems(graph, registry, node, param.name,
                                                param.port_type, link.src, link.src_output))
            continue
        if param.name not in node.params:
            continue  # the default applies
        try:
            param.check(node.params[param.name])
        except ParamValueError as error:
            problems.append(_problem(node, "bad_param", str(error), param.name,
                                     _expected(param)))
    for extra in sorted(set(node.params) - {p.name for p in spec.params}):
        problems.append(_problem(node, "unknown_param",
                                 f"{spec.id} has no param {extra!r}; the value is kept but "
                                 "ignored", extra, severity="warning"))
    for port in spec.inputs:
        link = links.get(port.name)
        if link is None:
            if not port.optional and not node.bypass:
                problems.append(_problem(node, "missing_input",
                                         f"required input is not connected (expects {port.type})",
                                         port.name, port.type))
            continue
        problems.extend(_link_type_problems(graph, registry, node, port.name, port.type,
                                            link.src, link.src_output))
    known = {i.name for i in spec.inputs} | {p.name for p in spec.params}
    for name in sorted(set(links) - known):
        problems.append(_problem(node, "bad_link",
                                 f"a link arrives at {name!r}, but {spec.id} has no such input",
                                 name, "one of: " + ", ".join(sorted(known))))
    return problems


def _expected(param) -> str:
    if param.kind == "enum":
        return "one of: " + ", ".join(param.current_choices())
    bounds = []
    if param.min is not None:
        bounds.append(f">= {param.min}")
    if param.max is not None:
        bounds.append(f"<= {param.max}")
    return f"a {param.kind}" + (f" {' and '.join(bounds)}" if bounds else "")


def _link_type_problems(graph: Graph, registry: Registry, node: Node, field: str,
                        wanted: str, src_id: str, src_output: str) -> list[Problem]:
    source = graph.nodes[src_id]
    source_spec = registry.get(source.type)
    if source_spec is None:
        return []  # the unknown source node is reported on its own
    if source_spec.output(src_output) is None:
        names = ", ".join(o.name for o in source_spec.outputs) or "none"
        return [_problem(node, "bad_link",
                         f"linked from output {src_output!r} of {source.label()}, which has "
                         f"no such output (it has: {names})", field, wanted)]
    actual = output_type(graph, registry, src_id, src_output)
    if not compatible(actual, wanted):
        return [_problem(node, "type_mismatch",
                         f"expects {wanted} but is linked to {actual} output {src_output!r} "
                         f"of {source.label()}", field, wanted)]
    return []


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


def cycle_problems(graph: Graph) -> list[Problem]:
    """One problem per cycle found (per strongly connected component), naming its nodes."""
    digraph = nx.DiGraph()
    digraph.add_nodes_from(graph.nodes)
    digraph.add_edges_from((link.src, link.dst) for link in graph.links.values())
    problems = []
    order = {node_id: i for i, node_id in enumerate(graph.nodes)}
    for component in nx.strongly_connected_components(digraph):
        if len(component) < 2 and not digraph.has_edge(*component, *component):
            continue
        start = min(component, key=order.__getitem__)
        cycle = [edge[0] for edge in nx.find_cycle(digraph.subgraph(component), start)]
        names = " -> ".join(graph.nodes[n].label() for n in cycle + cycle[:1])
        first = graph.nodes[start]
        problems.append(Problem("cycle", f"the graph has a cycle: {names}", first.id,
                                first.title or first.type, expected="a graph without cycles"))
    return problems
