"""The link rules live in the engine: Graph.connect refuses what they refuse, with the
reason the editor shows, and they list the ports a dragged wire may end on."""

from __future__ import annotations

import pytest

from nodegraph.graph import Graph, LinkRefused
from nodegraph.links import IN, OUT, LinkRules, PortRef
from nodegraph.validation import validate
from nodegraph.workflow import graph_from_document, graph_to_document


@pytest.fixture
def graph(registry) -> Graph:
    return Graph(LinkRules(registry))


def test_connect_refuses_a_type_mismatch_naming_both_types(graph):
    number = graph.add_node("test.Number", {"value": 1})
    box = graph.add_node("test.BoxInc")
    with pytest.raises(LinkRefused) as refused:
        graph.connect(number.id, "value", box.id, "box")
    assert refused.value.reason == ("type mismatch: output 'value' gives INT, "
                                    "input 'box' expects BOX")
    assert not graph.links


def test_connect_refuses_a_cycle_and_a_self_link(graph):
    a = graph.add_node("test.Add")
    b = graph.add_node("test.Add")
    graph.connect(a.id, "value", b.id, "a")
    with pytest.raises(LinkRefused, match="would make a cycle"):
        graph.connect(b.id, "value", a.id, "a")
    with pytest.raises(LinkRefused, match="to itself"):
        graph.connect(a.id, "value", a.id, "b")
    assert len(graph.links) == 1


def test_a_graph_without_rules_refuses_only_self_links(registry):
    graph = Graph()
    number = graph.add_node("test.Number")
    box = graph.add_node("test.BoxInc")
    graph.connect(number.id, "value", box.id, "box")  # validation reports it later
    with pytest.raises(LinkRefused):
        graph.connect(box.id, "box", box.id, "box")  # its own output


def test_an_int_output_may_drive_an_int_param_but_an_untyped_reroute_may_not(graph):
    number = graph.add_node("test.Number")
    add = graph.add_node("test.Add")
    graph.connect(number.id, "value", add.id, "offset")
    reroute = graph.add_node("utils.Reroute")
    other = graph.add_node("test.Add")
    with pytest.raises(LinkRefused, match="no type yet"):
        graph.connect(reroute.id, "value", other.id, "offset")
    graph.connect(number.id, "value", reroute.id, "value")
    graph.connect(reroute.id, "value", other.id, "offset")  # now it carries INT
    assert graph.link_into(other.id, "offset").src == reroute.id


def test_targets_of_an_output_are_the_fitting_inputs_off_the_cycle(graph):
    first = graph.add_node("test.Add")
    second = graph.add_node("test.Add")
    graph.connect(first.id, "value", second.id, "a")
    box = graph.add_node("test.BoxInc")
    targets = graph.rules.targets(graph, PortRef(second.id, "value", OUT))
    assert PortRef(first.id, "a", IN) not in targets  # upstream: would close a cycle
    assert PortRef(box.id, "box", IN) not in targets  # wrong type
    sink = graph.add_node("test.Sink")
    targets = graph.rules.targets(graph, PortRef(second.id, "value", OUT))
    assert PortRef(sink.id, "a", IN) in targets
    for target in targets:  # every port that lights up is one connect accepts
        assert graph.rules.check(graph, PortRef(second.id, "value", OUT), target) is None


def test_targets_of_an_input_are_the_fitting_outputs(graph):
    number = graph.add_node("test.Number")
    box = graph.add_node("test.BoxNew")
    sink = graph.add_node("test.Sink")
    targets = graph.rules.targets(graph, PortRef(sink.id, "a", IN))
    assert PortRef(number.id, "value", OUT) in targets
    assert PortRef(box.id, "box", OUT) not in targets


def test_a_loaded_file_keeps_its_bad_links_for_validation_to_report(registry):
    graph = Graph()
    number = graph.add_node("test.Number")
    box = graph.add_node("test.BoxInc")
    graph.connect(number.id, "value", box.id, "box")
    loaded, _ = graph_from_document(graph_to_document(graph), registry)
    assert len(loaded.links) == 1
    problems = validate(loaded, registry)
    assert any(p.code == "type_mismatch" and p.field == "box" for p in problems)
