"""The Graph's mutation API and its change events (what the editor's undo builds on)."""

import pytest

from nodegraph.graph import (
    Graph,
    GraphError,
    LinkAdded,
    LinkRemoved,
    NodeAdded,
    NodeChanged,
    NodeRemoved,
    ParamChanged,
)


def test_mutations_emit_change_events_and_can_be_undone():
    graph = Graph()
    changes = []
    unsubscribe = graph.subscribe(changes.append)
    a = graph.add_node("image.Solid", {"width": 8})
    b = graph.add_node("image.Invert")
    link = graph.connect(a.id, "image", b.id, "image")
    graph.set_param(a.id, "width", 16)
    graph.set_node_attr(b.id, "pos", (10, 20))
    node, links = graph.remove_node(a.id)
    assert [type(c) for c in changes] == [NodeAdded, NodeAdded, LinkAdded, ParamChanged,
                                          NodeChanged, LinkRemoved, NodeRemoved]
    assert changes[3] == ParamChanged(node_id="1", name="width", old=8, value=16)
    assert links == [link] and graph.links == {}
    graph.restore_node(node, links)
    assert graph.link_into(b.id, "image") == link
    unsubscribe()
    graph.add_node("image.Solid")
    assert len(changes) == 9


def test_connecting_an_occupied_input_replaces_the_old_link():
    graph = Graph()
    a, b, c = (graph.add_node("image.Solid") for _ in range(3))
    invert = graph.add_node("image.Invert")
    graph.connect(a.id, "image", invert.id, "image")
    graph.connect(b.id, "image", invert.id, "image")
    new = graph.connect(c.id, "image", invert.id, "image")
    assert list(graph.links.values()) == [new]
    assert graph.incoming(invert.id) == {"image": new}
    assert [link.dst for link in graph.outgoing(c.id)] == [invert.id]


def test_bad_mutations_raise_graph_error():
    graph = Graph()
    a = graph.add_node("image.Solid", id="x")
    with pytest.raises(GraphError, match="already exists"):
        graph.add_node("image.Solid", id="x")
    with pytest.raises(GraphError, match="no node with id 'nope'"):
        graph.connect(a.id, "image", "nope", "image")
    with pytest.raises(GraphError, match="itself"):
        graph.connect(a.id, "image", a.id, "image")
    with pytest.raises(GraphError, match="unknown node attribute"):
        graph.set_node_attr(a.id, "shape", "round")


def test_find_node_by_id_or_unique_title():
    graph = Graph()
    graph.add_node("image.Solid", title="Sky")
    graph.add_node("image.Solid", title="Twin")
    graph.add_node("image.Solid", title="Twin")
    assert graph.find_node("Sky").id == "1"
    assert graph.find_node("3").title == "Twin"
    with pytest.raises(GraphError, match="used by several nodes"):
        graph.find_node("Twin")


def test_copy_is_independent():
    graph = Graph()
    a = graph.add_node("image.Solid", {"width": 8})
    clone = graph.copy()
    clone.set_param(a.id, "width", 99)
    clone.add_node("image.Invert")
    assert graph.nodes[a.id].params["width"] == 8 and len(graph) == 1
