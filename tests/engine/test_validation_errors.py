"""Every kind of workflow problem is reported, all at once, naming node and field."""

import json

import pytest

from nodegraph.graph import Graph, Link
from nodegraph.problems import WorkflowError
from nodegraph.validation import validate
from nodegraph.workflow import dumps, graph_to_document, loads


def _codes(problems):
    return [(p.code, p.node_id, p.field) for p in problems]


def test_unknown_node_type_is_kept_and_reported(registry):
    graph = Graph()
    graph.add_node("image.Solid", {"width": 8, "height": 8}, title="Base")
    graph.add_node("vendor.Magic", {"power": 9000}, title="Magic")
    text = dumps(graph)
    loaded, problems = loads(text, registry)
    assert _codes(problems) == [("unknown_node_type", "2", None)]
    assert "unknown node type 'vendor.Magic'" in problems[0].message
    assert problems[0].node_title == "Magic"
    saved = json.loads(dumps(loaded))
    assert saved["nodes"][1] == json.loads(text)["nodes"][1]  # kept as it was, params and all


def test_missing_required_input(registry):
    graph = Graph()
    graph.add_node("image.Invert", title="Flip")
    [problem] = validate(graph, registry)
    assert (problem.code, problem.field, problem.expected) == ("missing_input", "image", "IMAGE")
    assert str(problem) == ("node Flip (#1), 'image': required input is not connected "
                            "(expects IMAGE)")


def test_type_mismatch_on_a_link(registry):
    graph = Graph()
    number = graph.add_node("test.Number", {"value": 1}, title="Count")
    invert = graph.add_node("image.Invert")
    graph.connect(number.id, "value", invert.id, "image")
    [problem] = validate(graph, registry)
    assert problem.code == "type_mismatch"
    assert problem.message == "expects IMAGE but is linked to INT output 'value' of Count (#1)"


def test_reroute_takes_the_type_of_its_source(registry):
    graph = Graph()
    number = graph.add_node("test.Number", {"value": 1})
    reroute = graph.add_node("utils.Reroute")
    invert = graph.add_node("image.Invert")
    graph.connect(number.id, "value", reroute.id, "value")
    graph.connect(reroute.id, "value", invert.id, "image")
    [problem] = validate(graph, registry)
    assert problem.code == "type_mismatch"
    assert "expects IMAGE but is linked to INT" in problem.message


def test_link_to_missing_port_and_missing_node(registry):
    graph = Graph()
    solid = graph.add_node("image.Solid")
    invert = graph.add_node("image.Invert")
    graph.restore_link(Link(1, solid.id, "picture", invert.id, "image"))
    graph.restore_link(Link(2, solid.id, "image", invert.id, "colour"))
    document = graph_to_document(graph)
    document["links"].append({"id": 3, "from": ["99", "image"], "to": [invert.id, "image"]})
    _, problems = loads(json.dumps(document), registry)
    messages = [p.message for p in problems]
    assert any("goes from node '99', which does not exist" in m for m in messages)
    assert any("no such output (it has: image)" in m for m in messages)
    assert any("a link arrives at 'colour', but image.Invert has no such input" in m
               for m in messages)


def test_cycle_names_the_nodes_on_it(registry):
    graph = Graph()
    a = graph.add_node("test.Add", title="A")
    b = graph.add_node("test.Add", title="B")
    c = graph.add_node("test.Add", title="C")
    graph.connect(a.id, "value", b.id, "a")
    graph.connect(b.id, "value", c.id, "a")
    graph.connect(c.id, "value", a.id, "a")
    problems = [p for p in validate(graph, registry) if p.code == "cycle"]
    assert len(problems) == 1
    assert problems[0].message == "the graph has a cycle: A (#1) -> B (#2) -> C (#3) -> A (#1)"


@pytest.mark.parametrize(("params", "field", "message"), [
    ({"width": 0}, "width", "expected at least 1, got 0"),
    ({"width": 99999}, "width", "expected at most 16384, got 99999"),
    ({"width": "wide"}, "width", "expected an integer, got str 'wide'"),
    ({"width": 8.5}, "width", "expected an integer, got float 8.5"),
    ({"color": "red"}, "color", "expected a colour like #ff8800, got 'red'"),
])
def test_bad_param_values(registry, params, field, message):
    graph = Graph()
    graph.add_node("image.Solid", params, title="Fill")
    [problem] = validate(graph, registry)
    assert (problem.code, problem.field, problem.message) == ("bad_param", field, message)


def test_enum_value_not_in_choices(registry):
    graph = Graph()
    graph.add_node("image.Blend", {"mode": "glow"})
    problems = validate(graph, registry)
    bad = [p for p in problems if p.code == "bad_param"]
    assert bad[0].field == "mode"
    assert bad[0].message.startswith("expected one of: normal, multiply, screen")


def test_all_problems_are_reported_at_once(registry):
    graph = Graph()
    graph.add_node("image.Solid", {"width": -1, "color": "nope"})
    graph.add_node("image.Invert")
    graph.add_node("vendor.Gone")
    codes = [p.code for p in validate(graph, registry)]
    assert codes == ["bad_param", "bad_param", "missing_input", "unknown_node_type"]


def test_malformed_json_names_line_and_column(registry):
    with pytest.raises(WorkflowError) as caught:
        loads('{\n  "format": "nodegraph.workflow",\n  "nodes": [,]\n}', registry)
    [problem] = caught.value.problems
    assert (problem.code, problem.line, problem.column) == ("malformed_json", 3, 13)
    assert "line 3, column 13" in str(problem)


def test_newer_format_version_is_refused(registry):
    with pytest.raises(WorkflowError, match="saved by a newer nodegraph"):
        loads('{"format": "nodegraph.workflow", "version": 99}', registry)


def test_comfyui_document_gets_a_specific_message(registry):
    with pytest.raises(WorkflowError, match="looks like a ComfyUI workflow"):
        loads('{"3": {"class_type": "KSampler", "inputs": {}}}', registry)


def test_run_refuses_invalid_workflow_before_running(executor):
    graph = Graph()
    graph.add_node("image.Solid", {"width": 0})
    graph.add_node("image.Preview")
    with pytest.raises(WorkflowError) as caught:
        executor.run(graph)
    assert {p.code for p in caught.value.problems} == {"missing_input"}  # the Solid isn't needed


def test_an_error_without_problems_still_says_something():
    from nodegraph.problems import WorkflowError

    error = WorkflowError([])
    assert len(error.problems) == 1
    assert str(error).startswith("the workflow cannot be run")
