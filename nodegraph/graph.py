"""The graph model: nodes, links, groups and metadata as plain data.

Every mutation goes through a method here and emits a typed :class:`GraphChange`, so the
editor's undo commands, the tests and the CLI all change a graph the same way. No Qt,
no torch: a graph is cheap to copy and to serialise (``to_dict``/``from_dict``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .links import LinkRules

NODE_ATTRS = ("title", "pos", "bypass", "mute", "color", "collapsed", "size")


class GraphError(ValueError):
    """A mutation that the graph cannot apply (unknown node, duplicate id, ...)."""


class LinkRefused(GraphError):
    """A link the link rules refuse; ``reason`` says why (for the status bar)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"link refused: {reason}")
        self.reason = reason


@dataclass
class Node:
    """One node instance: its type id, its param values and how it looks."""

    id: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)
    title: str = ""
    pos: tuple[float, float] = (0.0, 0.0)
    bypass: bool = False
    mute: bool = False
    color: str | None = None
    collapsed: bool = False
    size: tuple[float, float] | None = None
    version: int = 1

    def label(self) -> str:
        """How messages name this node: its title (or type) and id."""
        return f"{self.title or self.type} (#{self.id})"


@dataclass(frozen=True)
class Link:
    """A link from ``src`` node's output ``src_output`` into ``dst`` node's ``dst_input``."""

    id: int
    src: str
    src_output: str
    dst: str
    dst_input: str


@dataclass
class Group:
    """A titled frame on the canvas; it holds the nodes inside its rectangle."""

    id: int
    title: str
    rect: tuple[float, float, float, float]
    color: str | None = None


@dataclass(frozen=True)
class GraphChange:
    """Base of the typed change events a Graph emits after each mutation."""


@dataclass(frozen=True)
class NodeAdded(GraphChange):
    node: Node


@dataclass(frozen=True)
class NodeRemoved(GraphChange):
    node: Node


@dataclass(frozen=True)
class NodeChanged(GraphChange):
    """A look/behaviour attribute (one of ``NODE_ATTRS``) changed."""

    node_id: str
    attr: str
    old: Any
    value: Any


@dataclass(frozen=True)
class ParamChanged(GraphChange):
    node_id: str
    name: str
    old: Any
    value: Any


@dataclass(frozen=True)
class LinkAdded(GraphChange):
    link: Link


@dataclass(frozen=True)
class LinkRemoved(GraphChange):
    link: Link


@dataclass(frozen=True)
class GroupAdded(GraphChange):
    group: Group


@dataclass(frozen=True)
class GroupRemoved(GraphChange):
    group: Group


@dataclass(frozen=True)
class GroupChanged(GraphChange):
    group_id: int
    attr: str
    old: Any
    value: Any


@dataclass(frozen=True)
class MetadataChanged(GraphChange):
    key: str
    old: Any
    value: Any


Listener = Callable[[GraphChange], None]


class Graph:
    """A mutable node graph with change notification. With ``rules`` (the registry's
    :class:`~nodegraph.links.LinkRules`), :meth:`connect` refuses links of the wrong type
    and links that close a cycle; without, it refuses only a link to the node itself."""

    def __init__(self, rules: LinkRules | None = None) -> None:
        self.rules = rules
        self.nodes: dict[str, Node] = {}
        self.links: dict[int, Link] = {}
        self.groups: dict[int, Group] = {}
        self.metadata: dict[str, Any] = {}
        self._inputs: dict[str, dict[str, int]] = {}  # dst node -> input name -> link id
        self._outputs: dict[str, set[int]] = {}  # src node -> link ids
        self._next_node = 1
        self._next_link = 1
        self._next_group = 1
        self._listeners: list[Listener] = []

    # -- notification -------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` after every change; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, change: GraphChange) -> None:
        for listener in list(self._listeners):
            listener(change)

    # -- nodes ----------------------------------------------------------------------
    def new_node_id(self) -> str:
        """An id no node has yet."""
        while str(self._next_node) in self.nodes:
            self._next_node += 1
        return str(self._next_node)

    def add_node(
        self,
        type: str,
        params: dict[str, Any] | None = None,
        *,
        id: str | None = None,
        title: str = "",
        pos: tuple[float, float] = (0.0, 0.0),
        **attrs: Any,
    ) -> Node:
        """Add a node (id chosen if not given) and return it."""
        node_id = str(id) if id is not None else self.new_node_id()
        if node_id in self.nodes:
            raise GraphError(f"a node with id {node_id!r} already exists")
        node = Node(node_id, type, dict(params or {}), title, tuple(pos), **attrs)
        self.nodes[node_id] = node
        self._emit(NodeAdded(node))
        return node

    def remove_node(self, node_id: str) -> tuple[Node, list[Link]]:
        """Remove a node and its links; returns both so an undo can restore them."""
        node = self.node(node_id)
        removed = sorted(
            {*self._inputs.get(node_id, {}).values(), *self._outputs.get(node_id, ())}
        )
        removed = [self.links[link_id] for link_id in removed]
        for link in removed:
            self.disconnect(link.id)
        del self.nodes[node_id]
        self._emit(NodeRemoved(node))
        return node, removed

    def restore_node(self, node: Node, links: list[Link] = (), index: int | None = None) -> None:
        """Put back a node removed by :meth:`remove_node`, with its links and ids;
        ``index`` puts it back at its old place in the node order (undo keeps files stable)."""
        if node.id in self.nodes:
            raise GraphError(f"a node with id {node.id!r} already exists")
        self.nodes[node.id] = node
        if index is not None and index < len(self.nodes) - 1:
            ordered = list(self.nodes.items())
            ordered.insert(index, ordered.pop())
            self.nodes.clear()
            self.nodes.update(ordered)
        self._emit(NodeAdded(node))
        for link in links:
            self._add_link(link)

    def node(self, node_id: str) -> Node:
        """The node with ``node_id``; GraphError if there is none."""
        try:
            return self.nodes[node_id]
        except KeyError:
            raise GraphError(f"no node with id {node_id!r}") from None

    def set_param(self, node_id: str, name: str, value: Any) -> Any:
        """Set one param value; returns the old value (or None)."""
        node = self.node(node_id)
        old = node.params.get(name)
        node.params[name] = value
        self._emit(ParamChanged(node_id, name, old, value))
        return old

    def set_node_attr(self, node_id: str, attr: str, value: Any) -> Any:
        """Set a look/behaviour attribute (title, pos, bypass, mute, ...); returns the old value."""
        if attr not in NODE_ATTRS:
            raise GraphError(f"unknown node attribute {attr!r}; expected one of {NODE_ATTRS}")
        node = self.node(node_id)
        old = getattr(node, attr)
        if attr in ("pos", "size") and value is not None:
            value = (float(value[0]), float(value[1]))
        setattr(node, attr, value)
        self._emit(NodeChanged(node_id, attr, old, value))
        return old

    # -- links ----------------------------------------------------------------------
    def connect(self, src: str, src_output: str, dst: str, dst_input: str) -> Link:
        """Link an output to an input. An input holds one link: an old one is replaced.
        Raises :class:`LinkRefused` when the rules refuse the link."""
        self.node(src)
        self.node(dst)
        if src == dst:
            raise LinkRefused("cannot link a node to itself")
        if self.rules is not None:
            reason = self.rules.refusal(self, src, src_output, dst, dst_input)
            if reason:
                raise LinkRefused(reason)
        old = self._inputs.get(dst, {}).get(dst_input)
        if old is not None:
            self.disconnect(old)
        while self._next_link in self.links:
            self._next_link += 1
        link = Link(self._next_link, src, src_output, dst, dst_input)
        self._add_link(link)
        return link

    def _add_link(self, link: Link) -> None:
        if link.src == link.dst:
            raise GraphError(f"cannot link node {link.src!r} to itself")
        if link.id in self.links:
            raise GraphError(f"a link with id {link.id} already exists")
        if link.dst_input in self._inputs.get(link.dst, {}):
            raise GraphError(f"input {link.dst_input!r} of node {link.dst!r} is already linked")
        self.links[link.id] = link
        self._inputs.setdefault(link.dst, {})[link.dst_input] = link.id
        self._outputs.setdefault(link.src, set()).add(link.id)
        self._next_link = max(self._next_link, link.id + 1)
        self._emit(LinkAdded(link))

    def disconnect(self, link_id: int) -> Link:
        """Remove a link; returns it."""
        try:
            link = self.links.pop(link_id)
        except KeyError:
            raise GraphError(f"no link with id {link_id}") from None
        del self._inputs[link.dst][link.dst_input]
        self._outputs[link.src].discard(link.id)
        self._emit(LinkRemoved(link))
        return link

    def restore_link(self, link: Link) -> None:
        """Put back a removed link with its id."""
        self._add_link(link)

    def incoming(self, node_id: str) -> dict[str, Link]:
        """The links into ``node_id``, by input (or param) name."""
        return {name: self.links[i] for name, i in self._inputs.get(node_id, {}).items()}

    def link_into(self, node_id: str, name: str) -> Link | None:
        """The link into input ``name`` of ``node_id``, if any."""
        link_id = self._inputs.get(node_id, {}).get(name)
        return None if link_id is None else self.links[link_id]

    def outgoing(self, node_id: str) -> list[Link]:
        """The links leaving ``node_id``."""
        return [self.links[i] for i in sorted(self._outputs.get(node_id, ()))]

    # -- groups and metadata -------------------------------------------------------
    def add_group(self, title: str, rect: tuple[float, float, float, float],
                  color: str | None = None, id: int | None = None) -> Group:
        """Add a group frame."""
        if id is None:
            while self._next_group in self.groups:
                self._next_group += 1
            id = self._next_group
        if id in self.groups:
            raise GraphError(f"a group with id {id} already exists")
        group = Group(id, title, tuple(float(v) for v in rect), color)
        self.groups[id] = group
        self._emit(GroupAdded(group))
        return group

    def remove_group(self, group_id: int) -> Group:
        """Remove a group frame (its nodes stay)."""
        try:
            group = self.groups.pop(group_id)
        except KeyError:
            raise GraphError(f"no group with id {group_id}") from None
        self._emit(GroupRemoved(group))
        return group

    def set_group_attr(self, group_id: int, attr: str, value: Any) -> Any:
        """Set a group's title, rect or color; returns the old value."""
        if attr not in ("title", "rect", "color"):
            raise GraphError(f"unknown group attribute {attr!r}")
        group = self.groups[group_id]
        old = getattr(group, attr)
        setattr(group, attr, tuple(value) if attr == "rect" else value)
        self._emit(GroupChanged(group_id, attr, old, value))
        return old

    def set_metadata(self, key: str, value: Any) -> Any:
        """Set a workflow metadata entry (None removes it); returns the old value."""
        old = self.metadata.get(key)
        if value is None:
            self.metadata.pop(key, None)
        else:
            self.metadata[key] = value
        self._emit(MetadataChanged(key, old, value))
        return old

    # -- queries and snapshots -------------------------------------------------------
    def find_node(self, ref: str) -> Node:
        """A node by id, or by title when exactly one node has that title."""
        if ref in self.nodes:
            return self.nodes[ref]
        matches = [n for n in self.nodes.values() if n.title == ref]
        if len(matches) == 1:
            return matches[0]
        if matches:
            ids = ", ".join(n.id for n in matches)
            raise GraphError(f"title {ref!r} is used by several nodes ({ids}); use a node id")
        import difflib

        titles = sorted({n.title for n in self.nodes.values() if n.title})
        close = difflib.get_close_matches(ref, titles, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise GraphError(f"no node has id or title {ref!r}{hint}")

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())

    def __len__(self) -> int:
        return len(self.nodes)

    def copy(self) -> Graph:
        """A deep, independent copy without listeners (a run's snapshot)."""
        clone = Graph(self.rules)
        clone.nodes = copy.deepcopy(self.nodes)
        clone.links = dict(self.links)
        clone.groups = copy.deepcopy(self.groups)
        clone.metadata = copy.deepcopy(self.metadata)
        clone._inputs = {k: dict(v) for k, v in self._inputs.items()}
        clone._outputs = {k: set(v) for k, v in self._outputs.items()}
        clone._next_node, clone._next_link = self._next_node, self._next_link
        clone._next_group = self._next_group
        return clone
