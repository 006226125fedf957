"""The editor's runs go around invalid nodes: an unconnected output node does not stop
the rest; messages name nodes by their title, not their type id."""

import pytest

from nodegraph.events import NodeFailed, NodeSkipped
from nodegraph.graph import Graph
from nodegraph.problems import WorkflowError
from nodegraph.validation import validate


def _graph_with_a_dangling_sink() -> tuple[Graph, str, str, str]:
    graph = Graph()
    number = graph.add_node("test.Number", {"value": 3})
    good = graph.add_node("test.Sink")
    graph.connect(number.id, "value", good.id, "a")
    dangling = graph.add_node("test.Sink")  # its required input is not connected
    return graph, number.id, good.id, dangling.id


def test_an_unconnected_output_node_does_not_stop_the_rest(executor):
    graph, number, good, dangling = _graph_with_a_dangling_sink()
    with pytest.raises(WorkflowError):  # headless runs stay strict
        executor.run(graph)
    events = []
    result = executor.run(graph, on_event=events.append, partial=True)
    assert result.executed == [number, good]
    assert result.status == "failed" and list(result.failures) == [dangling]
    assert str(result.failures[dangling]) == (
        f"node Sink (#{dangling}), input 'a': required input is not connected (expects INT)"
    )
    failed = [e for e in events if isinstance(e, NodeFailed)]
    assert [(e.node_id, e.problem.field, e.problem.code) for e in failed] == [
        (dangling, "a", "missing_input")
    ]


def test_descendants_of_an_invalid_node_are_skipped_naming_it_by_title(executor):
    graph, _number, good, _dangling = _graph_with_a_dangling_sink()
    broken = graph.add_node("test.Add", title="Adder")  # 'a' not connected
    after = graph.add_node("test.Sink")
    graph.connect(broken.id, "value", after.id, "a")
    events = []
    result = executor.run(graph, on_event=events.append, partial=True)
    assert good in result.executed
    assert result.skipped[after.id] == f"input 'a' comes from Adder (#{broken.id}), which failed"
    assert any(isinstance(e, NodeSkipped) and e.node_id == after.id for e in events)


def test_a_run_where_nothing_could_run_is_still_rejected(executor):
    graph = Graph()
    graph.add_node("test.Sink")
    with pytest.raises(WorkflowError) as raised:
        executor.run(graph, partial=True)
    assert str(raised.value.problems[0]).startswith("node Sink (#1), 'a': ")


def test_problems_name_nodes_by_title_not_type_id(registry):
    graph = Graph()
    number = graph.add_node("test.Number")
    box = graph.add_node("test.BoxInc")
    graph.connect(number.id, "value", box.id, "box")
    problems = validate(graph, registry)
    assert [(p.node_title, p.code) for p in problems] == [("Increment box", "type_mismatch")]
    assert f"of Number (#{number.id})" in problems[0].message
    assert "test." not in str(problems[0])
