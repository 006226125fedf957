"""What a user can do to a document, each as undo commands on its stack: add, connect,
delete, edit params, move, duplicate, copy/paste through workflow JSON, align, group."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from nodegraph.graph import Node
from nodegraph.links import IN, OUT, PortRef, first_fitting_port, port_type
from nodegraph.problems import WorkflowError
from nodegraph.workflow import compact_json, graph_from_document, graph_to_document, parse_json

from .commands import AddFragment, Connect, MoveItems, RemoveItems, SetNodeAttrs, SetParams
from .document import Document

CLIPBOARD_MIME = "application/x-nodegraph-workflow"
GRID = 20.0

Rect = tuple[float, float, float, float]


class Editor:
    """User-level edit operations on one document."""

    def __init__(self, document: Document, node_rect: Callable[[str], Rect]) -> None:
        self.document = document
        self.node_rect = node_rect  # (x, y, w, h) of a node as drawn

    @property
    def graph(self):
        return self.document.graph

    @property
    def registry(self):
        return self.document.registry

    def _push(self, command) -> None:
        self.document.stack.push(command)

    def _fresh_ids(self, count: int) -> list[str]:
        ids, n = [], 1
        while len(ids) < count:
            if str(n) not in self.graph.nodes:
                ids.append(str(n))
            n += 1
        return ids

    # -- nodes and links --
    def add_node(self, type_id: str, pos: tuple[float, float],
                 params: dict[str, Any] | None = None) -> str:
        """Add a node with its default params (a choice from what is on disk, such as a
        checkpoint, starts on the first one available); returns its id."""
        spec = self.registry[type_id]
        values = spec.default_params()
        for param in spec.params:
            if param.kind == "enum" and callable(param.choices) and param.name not in (
                    params or {}):
                choices = param.current_choices()
                if choices and values[param.name] not in choices:
                    values[param.name] = choices[0]
        values.update(params or {})
        node = Node(self._fresh_ids(1)[0], type_id, values, pos=(float(pos[0]), float(pos[1])),
                    version=spec.version)
        self._push(AddFragment(self.graph, [node], text=f"Add {spec.title}"))
        return node.id

    def connect(self, a: PortRef, b: PortRef) -> str | None:
        """Link two ports (either order); returns why it was refused, or None."""
        reason = self.graph.rules.check(self.graph, a, b)
        if reason:
            return reason
        src, dst = (a, b) if a.direction == OUT else (b, a)
        existing = self.graph.link_into(dst.node_id, dst.name)
        if existing and (existing.src, existing.src_output) == (src.node_id, src.name):
            return None
        self._push(Connect(self.graph, src.node_id, src.name, dst.node_id, dst.name))
        return None

    def add_node_connected(self, type_id: str, pos: tuple[float, float], port: PortRef) -> str:
        """Add a node and link it to ``port`` (the end of a dropped wire), as one step."""
        spec = self.registry[type_id]
        type_name = port_type(self.graph, self.registry, port) or "*"
        wanted = IN if port.direction == OUT else OUT
        stack = self.document.stack
        stack.beginMacro(f"Add {spec.title}")
        node_id = self.add_node(type_id, pos)
        name = first_fitting_port(spec, type_name, wanted)
        if name is not None:
            self.connect(port, PortRef(node_id, name, wanted))
        stack.endMacro()
        return node_id

    def delete(self, node_ids: Iterable[str] = (), link_ids: Iterable[int] = (),
               group_ids: Iterable[int] = ()) -> None:
        node_ids, group_ids = list(node_ids), list(group_ids)
        link_ids = [i for i in link_ids
                    if self.graph.links[i].src not in node_ids
                    and self.graph.links[i].dst not in node_ids]
        if node_ids or link_ids or group_ids:
            self._push(RemoveItems(self.graph, node_ids, link_ids, group_ids))

    def set_param(self, node_id: str, name: str, value: Any, merge_key: Any = None) -> None:
        if self.graph.nodes[node_id].params.get(name) == value and merge_key is None:
            return
        self._push(SetParams(self.graph, {(node_id, name): value}, f"Set {name}", merge_key))

    def set_attr(self, node_ids: Iterable[str], attr: str, value: Any,
                 merge_key: Any = None) -> None:
        values = {i: value for i in node_ids if getattr(self.graph.nodes[i], attr) != value}
        if values:
            self._push(SetNodeAttrs(self.graph, attr, values, merge_key=merge_key))

    def toggle(self, node_ids: Iterable[str], attr: str) -> None:
        """Flip bypass/mute/collapsed: all on unless all are on already."""
        node_ids = list(node_ids)
        if node_ids:
            value = not all(getattr(self.graph.nodes[i], attr) for i in node_ids)
            self.set_attr(node_ids, attr, value)

    def move(self, positions: dict[str, tuple[float, float]],
             group_rects: dict[int, Rect] | None = None, merge_key: Any = None) -> None:
        positions = {k: (float(v[0]), float(v[1])) for k, v in positions.items()
                     if self.graph.nodes[k].pos != (float(v[0]), float(v[1]))}
        group_rects = {k: tuple(v) for k, v in (group_rects or {}).items()
                       if self.graph.groups[k].rect != tuple(v)}
        if positions or group_rects:
            self._push(MoveItems(self.graph, positions, group_rects, merge_key))

    def insert_reroute(self, link_id: int, pos: tuple[float, float]) -> str:
        """Split a link with a reroute point at ``pos``."""
        link = self.graph.links[link_id]
        stack = self.document.stack
        stack.beginMacro("Add reroute")
        node_id = self.add_node("utils.Reroute", (pos[0] - 12, pos[1] - 8))
        self._push(Connect(self.graph, link.src, link.src_output, node_id, "value"))
        self._push(Connect(self.graph, node_id, "value", link.dst, link.dst_input))
        stack.endMacro()
        return node_id

    # -- clipboard --
    def fragment_text(self, node_ids: Iterable[str]) -> str:
        """The selected nodes and the links between them as workflow JSON."""
        wanted = set(node_ids)
        doc = graph_to_document(self.graph)
        doc["nodes"] = [n for n in doc["nodes"] if n["id"] in wanted]
        doc["links"] = [link for link in doc["links"]
                        if link["from"][0] in wanted and link["to"][0] in wanted]
        doc["groups"] = []
        doc["metadata"] = {}
        return compact_json(doc)

    def paste_text(self, text: str, at: tuple[float, float] | None = None,
                   offset: tuple[float, float] = (30.0, 30.0)) -> list[str]:
        """Add the nodes of a workflow fragment with fresh ids, keeping its internal
        links; placed with its top-left at ``at`` (or shifted by ``offset``)."""
        try:
            fragment, _problems = graph_from_document(parse_json(text), self.registry)
        except WorkflowError:
            return []
        if not fragment.nodes:
            return []
        left = min(n.pos[0] for n in fragment.nodes.values())
        top = min(n.pos[1] for n in fragment.nodes.values())
        dx, dy = (at[0] - left, at[1] - top) if at is not None else offset
        new_ids = dict(zip(fragment.nodes, self._fresh_ids(len(fragment.nodes))))
        nodes = []
        for old_id, node in fragment.nodes.items():
            clone = copy.deepcopy(node)
            clone.id = new_ids[old_id]
            clone.pos = (node.pos[0] + dx, node.pos[1] + dy)
            nodes.append(clone)
        stack = self.document.stack
        stack.beginMacro("Paste")
        self._push(AddFragment(self.graph, nodes, text="Paste"))
        for link in sorted(fragment.links.values(), key=lambda link: link.id):
            self._push(Connect(self.graph, new_ids[link.src], link.src_output,
                               new_ids[link.dst], link.dst_input))
        stack.endMacro()
        return [new_ids[i] for i in fragment.nodes]

    def duplicate(self, node_ids: Iterable[str]) -> list[str]:
        node_ids = list(node_ids)
        return self.paste_text(self.fragment_text(node_ids)) if node_ids else []

    # -- layout --
    def align(self, node_ids: Iterable[str], edge: str) -> None:
        """Line nodes up on their left/right/top/bottom edge or horizontal/vertical centre."""
        rects = {i: self.node_rect(i) for i in node_ids}
        if len(rects) < 2:
            return
        if edge == "left":
            x = min(r[0] for r in rects.values())
            new = {i: (x, r[1]) for i, r in rects.items()}
        elif edge == "right":
            x = max(r[0] + r[2] for r in rects.values())
            new = {i: (x - r[2], r[1]) for i, r in rects.items()}
        elif edge == "top":
            y = min(r[1] for r in rects.values())
            new = {i: (r[0], y) for i, r in rects.items()}
        elif edge == "bottom":
            y = max(r[1] + r[3] for r in rects.values())
            new = {i: (r[0], y - r[3]) for i, r in rects.items()}
        elif edge == "hcenter":
            c = sum(r[0] + r[2] / 2 for r in rects.values()) / len(rects)
            new = {i: (c - r[2] / 2, r[1]) for i, r in rects.items()}
        else:
            c = sum(r[1] + r[3] / 2 for r in rects.values()) / len(rects)
            new = {i: (r[0], c - r[3] / 2) for i, r in rects.items()}
        self.move(new)

    def distribute(self, node_ids: Iterable[str], axis: str) -> None:
        """Equal gaps between nodes along ``axis`` ('x' or 'y')."""
        rects = {i: self.node_rect(i) for i in node_ids}
        if len(rects) < 3:
            return
        k = 0 if axis == "x" else 1
        order = sorted(rects, key=lambda i: rects[i][k])
        start = rects[order[0]][k]
        end = rects[order[-1]][k] + rects[order[-1]][k + 2]
        total = sum(rects[i][k + 2] for i in order)
        gap = (end - start - total) / (len(order) - 1)
        new, cursor = {}, start
        for i in order:
            r = rects[i]
            new[i] = (cursor, r[1]) if k == 0 else (r[0], cursor)
            cursor += r[k + 2] + gap
        self.move(new)

    def add_group(self, node_ids: Iterable[str], title: str = "Group") -> int:
        """A frame around the nodes (or a default frame when none are given)."""
        rects = [self.node_rect(i) for i in node_ids]
        if rects:
            left = min(r[0] for r in rects) - 20
            top = min(r[1] for r in rects) - 50
            right = max(r[0] + r[2] for r in rects) + 20
            bottom = max(r[1] + r[3] for r in rects) + 20
        else:
            left, top, right, bottom = 0, 0, 400, 300
        group_id = max(self.graph.groups, default=0) + 1
        from nodegraph.graph import Group

        group = Group(group_id, title, (left, top, right - left, bottom - top))
        self._push(AddFragment(self.graph, [], [], [group], text="Add group"))
        return group_id


def snap(value: float, enabled: bool) -> float:
    """Round to the grid when snapping is on."""
    return round(value / GRID) * GRID if enabled else value
