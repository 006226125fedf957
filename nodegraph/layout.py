"""Positions for nodes that have none (a workflow without ``pos``, a ComfyUI API file):
a layered layout, left to right along the links, computed from the graph alone.

Layers follow the longest path from the sources (a node sits one column right of its
furthest input), nodes in a column are ordered by the mean row of what feeds them (the
barycenter heuristic, a few sweeps) to keep links from crossing, and columns are centred
on each other. Node sizes are estimated from the registry with the editor's metrics, so
laid-out nodes do not overlap on the canvas. No Qt, no torch.
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

from .graph import Graph, Node
from .registry import Registry

WIDTH = 220.0  # the editor's default node width
TITLE_H, ROW_H, TEXT_ROWS, PAD_H = 26.0, 22.0, 4, 10.0  # the editor's node metrics
GAP_X, GAP_Y = 90.0, 40.0
SWEEPS = 4


def node_size(node: Node, registry: Registry | None) -> tuple[float, float]:
    """(width, height) of a node as the editor draws it (before any image is shown)."""
    width = node.size[0] if node.size else WIDTH
    if node.collapsed:
        return width, TITLE_H
    spec = registry.get(node.type) if registry is not None else None
    if spec is None:
        rows, params = max(1, len(node.params)), 0.0
    else:
        rows = max(len(spec.inputs), len(spec.outputs))
        params = sum(ROW_H * (TEXT_ROWS if p.multiline else 1) for p in spec.params)
    return width, TITLE_H + 4 + rows * ROW_H + params + PAD_H


def layered_positions(
    graph: Graph,
    node_ids: Iterable[str] | None = None,
    registry: Registry | None = None,
    origin: tuple[float, float] = (0.0, 0.0),
) -> dict[str, tuple[float, float]]:
    """Top-left positions for ``node_ids`` (default: every node), laid out in columns
    from left to right along the links between them, starting at ``origin``."""
    wanted = list(
        graph.nodes
        if node_ids is None
        else (i for i in dict.fromkeys(node_ids) if i in graph.nodes)
    )
    if not wanted:
        return {}
    order = {node_id: i for i, node_id in enumerate(wanted)}
    digraph = nx.DiGraph()
    digraph.add_nodes_from(wanted)
    digraph.add_edges_from(
        (link.src, link.dst)
        for link in graph.links.values()
        if link.src in order and link.dst in order and link.src != link.dst
    )
    layers = _layers(digraph, order)
    columns: list[list[str]] = [[] for _ in range(max(layers.values()) + 1)]
    for node_id in wanted:
        columns[layers[node_id]].append(node_id)
    _reduce_crossings(digraph, columns)
    sizes = {i: node_size(graph.nodes[i], registry) for i in wanted}
    heights = [sum(sizes[i][1] for i in col) + GAP_Y * (len(col) - 1) for col in columns]
    tallest = max(heights)
    positions: dict[str, tuple[float, float]] = {}
    x = origin[0]
    for column, height in zip(columns, heights):
        y = origin[1] + (tallest - height) / 2
        for node_id in column:
            positions[node_id] = (round(x, 1), round(y, 1))
            y += sizes[node_id][1] + GAP_Y
        x += max(sizes[i][0] for i in column) + GAP_X
    return positions


def _layers(digraph: nx.DiGraph, order: dict[str, int]) -> dict[str, int]:
    """Column of each node: one right of its furthest predecessor (cycles, which are
    invalid anyway, are laid out as one column per strongly connected component)."""
    condensed = nx.condensation(digraph)
    members = condensed.graph["mapping"]  # node -> component
    layer_of: dict[int, int] = {}
    for component in nx.lexicographical_topological_sort(
        condensed, key=lambda c: min(order[n] for n in condensed.nodes[c]["members"])
    ):
        preds = [layer_of[p] for p in condensed.predecessors(component)]
        layer_of[component] = max(preds) + 1 if preds else 0
    return {node_id: layer_of[members[node_id]] for node_id in digraph}


def _reduce_crossings(digraph: nx.DiGraph, columns: list[list[str]]) -> None:
    """Order each column by the mean row of its neighbours in the column before (then
    after), a few times; ties keep file order."""
    for sweep in range(SWEEPS):
        forward = sweep % 2 == 0
        indices = range(1, len(columns)) if forward else range(len(columns) - 2, -1, -1)
        for k in indices:
            ref = {n: i for i, n in enumerate(columns[k - 1 if forward else k + 1])}
            current = {n: i for i, n in enumerate(columns[k])}

            def key(node_id: str, ref=ref, current=current, forward=forward) -> tuple:
                near = digraph.predecessors(node_id) if forward else digraph.successors(node_id)
                rows = [ref[n] for n in near if n in ref]
                return (sum(rows) / len(rows) if rows else current[node_id], current[node_id])

            columns[k].sort(key=key)


def place_unpositioned(
    graph: Graph, node_ids: Iterable[str], registry: Registry | None = None
) -> None:
    """Give ``node_ids`` (nodes loaded without a position) a layered layout: where the
    graph has positioned nodes too, below them."""
    unplaced = [i for i in node_ids if i in graph.nodes]
    if not unplaced:
        return
    placed = [n for n in graph.nodes.values() if n.id not in set(unplaced)]
    origin = (0.0, 0.0)
    if placed:
        bottom = max(n.pos[1] + node_size(n, registry)[1] for n in placed)
        origin = (min(n.pos[0] for n in placed), bottom + 2 * GAP_Y)
    for node_id, pos in layered_positions(graph, unplaced, registry, origin).items():
        graph.set_node_attr(node_id, "pos", pos)
