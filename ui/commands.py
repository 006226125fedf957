"""Undo commands. Each one changes the Graph only through its mutation API; the scene
follows the Graph's change events, so undo/redo never touch items directly.

Commands with a ``merge_key`` merge with the previous command of the same key: a node
drag or typing into one field is a single undo step.
"""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtGui import QUndoCommand

from nodegraph.graph import Graph, Group, Link, Node

MERGE_ID = 7301  # any commands with a merge key share this Qt merge id


class GraphCommand(QUndoCommand):
    """Base: a command on one graph, optionally mergeable by ``merge_key``."""

    def __init__(self, graph: Graph, text: str, merge_key: Any = None) -> None:
        super().__init__(text)
        self.graph = graph
        self.merge_key = merge_key

    def id(self) -> int:
        return MERGE_ID if self.merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if (not isinstance(other, type(self)) or other.merge_key is None
                or other.merge_key != self.merge_key):
            return False
        self.absorb(other)
        return True

    def absorb(self, other: GraphCommand) -> None:
        """Take over the end state of ``other`` (a later command of the same gesture)."""
        raise NotImplementedError


class AddFragment(GraphCommand):
    """Add nodes, the links between them (or to existing nodes) and groups, keeping ids."""

    def __init__(self, graph: Graph, nodes: list[Node], links: list[Link] = (),
                 groups: list[Group] = (), text: str = "Add nodes") -> None:
        super().__init__(graph, text)
        self.nodes = [copy.deepcopy(n) for n in nodes]
        self.links = list(links)
        self.groups = [copy.deepcopy(g) for g in groups]
        self.replaced: list[Link] = []

    def redo(self) -> None:
        for group in self.groups:
            self.graph.add_group(group.title, group.rect, group.color, id=group.id)
        for node in self.nodes:
            self.graph.restore_node(copy.deepcopy(node))
        self.replaced = []
        for link in self.links:
            old = self.graph.link_into(link.dst, link.dst_input)
            if old is not None:
                self.replaced.append(self.graph.disconnect(old.id))
            self.graph.restore_link(link)

    def undo(self) -> None:
        for link in reversed(self.links):
            self.graph.disconnect(link.id)
        for node in reversed(self.nodes):
            self.graph.remove_node(node.id)
        for link in reversed(self.replaced):
            self.graph.restore_link(link)
        for group in reversed(self.groups):
            self.graph.remove_group(group.id)


class RemoveItems(GraphCommand):
    """Delete nodes (with their links), single links and groups."""

    def __init__(self, graph: Graph, node_ids: list[str] = (), link_ids: list[int] = (),
                 group_ids: list[int] = (), text: str = "Delete") -> None:
        super().__init__(graph, text)
        self.node_ids, self.link_ids, self.group_ids = list(node_ids), list(link_ids), list(
            group_ids)
        self.removed_nodes: list[Node] = []
        self.removed_links: list[Link] = []
        self.removed_groups: list[Group] = []

    def redo(self) -> None:
        self.removed_links = [self.graph.disconnect(i) for i in self.link_ids
                              if i in self.graph.links]
        self.removed_nodes = []
        self.indices: list[int] = []
        for node_id in self.node_ids:
            self.indices.append(list(self.graph.nodes).index(node_id))
            node, links = self.graph.remove_node(node_id)
            self.removed_nodes.append(node)
            self.removed_links.extend(links)
        self.removed_groups = [self.graph.remove_group(i) for i in self.group_ids]

    def undo(self) -> None:
        for group in reversed(self.removed_groups):
            self.graph.add_group(group.title, group.rect, group.color, id=group.id)
        for node, index in reversed(list(zip(self.removed_nodes, self.indices))):
            self.graph.restore_node(node, index=index)
        for link in sorted(self.removed_links, key=lambda link: link.id):
            self.graph.restore_link(link)


class Connect(GraphCommand):
    """Link an output to an input, replacing the input's old link."""

    def __init__(self, graph: Graph, src: str, src_output: str, dst: str, dst_input: str) -> None:
        super().__init__(graph, "Connect")
        self.ends = (src, src_output, dst, dst_input)
        self.link: Link | None = None
        self.old: Link | None = None

    def redo(self) -> None:
        src, src_output, dst, dst_input = self.ends
        self.old = self.graph.link_into(dst, dst_input)
        if self.link is None:
            self.link = self.graph.connect(src, src_output, dst, dst_input)
            return
        if self.old is not None:
            self.graph.disconnect(self.old.id)
        self.graph.restore_link(self.link)

    def undo(self) -> None:
        self.graph.disconnect(self.link.id)
        if self.old is not None:
            self.graph.restore_link(self.old)


class SetParams(GraphCommand):
    """Set param values on nodes: {(node_id, name): value}."""

    def __init__(self, graph: Graph, values: dict[tuple[str, str], Any], text: str = "Edit",
                 merge_key: Any = None) -> None:
        super().__init__(graph, text, merge_key)
        self.new = dict(values)
        self.old = {key: copy.deepcopy(graph.nodes[key[0]].params.get(key[1]))
                    for key in values}

    def absorb(self, other: SetParams) -> None:
        for key, value in other.new.items():
            self.old.setdefault(key, other.old[key])
            self.new[key] = value

    def redo(self) -> None:
        for (node_id, name), value in self.new.items():
            self.graph.set_param(node_id, name, value)

    def undo(self) -> None:
        for (node_id, name), value in self.old.items():
            self.graph.set_param(node_id, name, value)


class SetNodeAttrs(GraphCommand):
    """Set one attribute (title, bypass, mute, color, collapsed, size) on several nodes."""

    def __init__(self, graph: Graph, attr: str, values: dict[str, Any], text: str = "",
                 merge_key: Any = None) -> None:
        super().__init__(graph, text or f"Set {attr}", merge_key)
        self.attr = attr
        self.new = dict(values)
        self.old = {node_id: getattr(graph.nodes[node_id], attr) for node_id in values}

    def absorb(self, other: SetNodeAttrs) -> None:
        for key, value in other.new.items():
            self.old.setdefault(key, other.old[key])
            self.new[key] = value

    def redo(self) -> None:
        for node_id, value in self.new.items():
            self.graph.set_node_attr(node_id, self.attr, value)

    def undo(self) -> None:
        for node_id, value in self.old.items():
            self.graph.set_node_attr(node_id, self.attr, value)


class MoveItems(GraphCommand):
    """Move nodes and group frames; the moves of one drag merge into one step."""

    def __init__(self, graph: Graph, node_pos: dict[str, tuple[float, float]],
                 group_rects: dict[int, tuple[float, ...]] | None = None,
                 merge_key: Any = None, text: str = "Move") -> None:
        super().__init__(graph, text, merge_key)
        self.new_pos = dict(node_pos)
        self.new_rects = dict(group_rects or {})
        self.old_pos = {i: graph.nodes[i].pos for i in self.new_pos}
        self.old_rects = {i: graph.groups[i].rect for i in self.new_rects}

    def absorb(self, other: MoveItems) -> None:
        for key, value in other.new_pos.items():
            self.old_pos.setdefault(key, other.old_pos[key])
            self.new_pos[key] = value
        for key, value in other.new_rects.items():
            self.old_rects.setdefault(key, other.old_rects[key])
            self.new_rects[key] = value

    def redo(self) -> None:
        self._apply(self.new_pos, self.new_rects)

    def undo(self) -> None:
        self._apply(self.old_pos, self.old_rects)

    def _apply(self, positions: dict, rects: dict) -> None:
        for group_id, rect in rects.items():
            if self.graph.groups[group_id].rect != tuple(rect):
                self.graph.set_group_attr(group_id, "rect", tuple(rect))
        for node_id, pos in positions.items():
            if self.graph.nodes[node_id].pos != tuple(pos):
                self.graph.set_node_attr(node_id, "pos", pos)


class SetGroupAttr(GraphCommand):
    """Rename or recolour a group."""

    def __init__(self, graph: Graph, group_id: int, attr: str, value: Any) -> None:
        super().__init__(graph, f"Set group {attr}")
        self.group_id, self.attr, self.value = group_id, attr, value
        self.old = getattr(graph.groups[group_id], attr)

    def redo(self) -> None:
        self.graph.set_group_attr(self.group_id, self.attr, self.value)

    def undo(self) -> None:
        self.graph.set_group_attr(self.group_id, self.attr, self.old)
