"""Check a Graph against the registry and report every problem at once."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable
from pathlib import Path

import networkx as nx

from .graph import Graph, Node
from .links import output_type
from .paths import resolve_input_path
from .problems import Problem
from .registry import ParamValueError, Registry
from .types import compatible


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
        problems.extend(p for p in cycle_problems(graph, registry)
                        if wanted is None or p.node_id in wanted)
    return _titled(problems, graph, registry)


def node_title(node: Node, registry: Registry) -> str:
    """How messages name a node: its own title, else its type's title (else type id)."""
    spec = registry.get(node.type)
    return node.title or (spec.title if spec is not None else node.type)


def node_label(node: Node, registry: Registry) -> str:
    """A node's title and id, e.g. ``Preview image (#14)``."""
    return f"{node_title(node, registry)} (#{node.id})"


def _titled(problems: list[Problem], graph: Graph, registry: Registry) -> list[Problem]:
    """The problems with each node named by its title (not its type id)."""
    return [dataclasses.replace(p, node_title=node_title(graph.nodes[p.node_id], registry))
            if p.node_id in graph.nodes else p for p in problems]


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
    return _titled(problems, graph, registry)


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
                         f"linked from output {src_output!r} of {node_label(source, registry)}, "
                         f"which has no such output (it has: {names})", field, wanted)]
    actual = output_type(graph, registry, src_id, src_output)
    if not compatible(actual, wanted):
        return [_problem(node, "type_mismatch",
                         f"expects {wanted} but is linked to {actual} output {src_output!r} "
                         f"of {node_label(source, registry)}", field, wanted)]
    return []


def dependency_digraph(graph: Graph) -> nx.DiGraph:
    """The graph's nodes with an edge from each link's source to its target."""
    digraph = nx.DiGraph()
    digraph.add_nodes_from(graph.nodes)
    digraph.add_edges_from((link.src, link.dst) for link in graph.links.values())
    return digraph


def cycle_problems(graph: Graph, registry: Registry | None = None) -> list[Problem]:
    """One problem per cycle found (per strongly connected component), naming its nodes
    (by title when ``registry`` is given)."""
    digraph = dependency_digraph(graph)
    problems = []
    order = {node_id: i for i, node_id in enumerate(graph.nodes)}
    for component in nx.strongly_connected_components(digraph):
        if len(component) < 2 and not digraph.has_edge(*component, *component):
            continue
        start = min(component, key=order.__getitem__)
        cycle = [edge[0] for edge in nx.find_cycle(digraph.subgraph(component), start)]
        names = " -> ".join(graph.nodes[n].label() if registry is None
                            else node_label(graph.nodes[n], registry) for n in cycle + cycle[:1])
        first = graph.nodes[start]
        problems.append(Problem("cycle", f"the graph has a cycle: {names}", first.id,
                                first.title or first.type, expected="a graph without cycles"))
    return problems
