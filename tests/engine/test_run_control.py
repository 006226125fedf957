"""Runs: big graphs, cancellation, failures, events."""

import threading

from nodegraph.context import CancelToken
from nodegraph.events import (
    NodeCached,
    NodeFailed,
    NodeFinished,
    NodeProgress,
    NodeStarted,
    RunFinished,
    RunStarted,
)
from nodegraph.graph import Graph
from nodegraph.validation import validate

from .conftest import chain


def test_ten_thousand_node_chain_validates_and_runs(executor, registry):
    graph = Graph()
    ids = chain(graph, 10_000)
    assert validate(graph, registry) == []
    result = executor.run(graph, keep_values=True)
    assert result.status == "finished"
    assert len(result.executed) == 10_002
    assert result.values[ids[-2]] == (1 + 10_000,)
    assert executor.run(graph).executed == []


def test_cancel_stops_a_long_node_and_the_rest(executor):
    graph = Graph()
    number = graph.add_node("test.Number", {"value": 1})
    slow = graph.add_node("test.Slow", {"steps": 1000, "delay": 0.01})
    sink = graph.add_node("test.Sink")
    graph.connect(number.id, "value", slow.id, "a")
    graph.connect(slow.id, "value", sink.id, "a")
    cancel = CancelToken()
    events = []

    def on_event(event):
        events.append(event)
        if isinstance(event, NodeProgress) and event.step == 5:
            canceller = threading.Thread(target=cancel.cancel)  # from another thread,
            canceller.start()  # as the editor's Esc does; waited for, not timed
            canceller.join()

    result = executor.run(graph, on_event=on_event, cancel=cancel)
    assert result.status == "cancelled"
    steps = [e.step for e in events if isinstance(e, NodeProgress)]
    assert max(steps) == 5  # stopped at the first check after the cancel
    assert result.executed == [number.id]
    assert set(result.skipped) == {slow.id, sink.id}
    assert isinstance(events[-1], RunFinished) and events[-1].status == "cancelled"


def test_failing_branch_does_not_stop_an_independent_branch(executor):
    graph = Graph()
    number = graph.add_node("test.Number", {"value": 4})
    bad = graph.add_node("test.Fail", title="Breaker")
    after_bad = graph.add_node("test.Add")
    bad_sink = graph.add_node("test.Sink")
    good = graph.add_node("test.Add", {"offset": 1})
    good_sink = graph.add_node("test.Sink")
    second_bad = graph.add_node("test.Fail", title="Second")
    second_sink = graph.add_node("test.Sink")
    graph.connect(number.id, "value", bad.id, "a")
    graph.connect(bad.id, "value", after_bad.id, "a")
    graph.connect(after_bad.id, "value", bad_sink.id, "a")
    graph.connect(number.id, "value", good.id, "a")
    graph.connect(good.id, "value", good_sink.id, "a")
    graph.connect(number.id, "value", second_bad.id, "a")
    graph.connect(second_bad.id, "value", second_sink.id, "a")
    events = []
    result = executor.run(graph, on_event=events.append)
    assert result.status == "failed"
    assert set(result.failures) == {bad.id, second_bad.id}
    assert str(result.failures[bad.id]) == "node Breaker (#2) failed: RuntimeError: cannot handle 4"
    assert "Traceback" in result.failures[bad.id].traceback
    assert {good.id, good_sink.id} <= set(result.executed)
    assert set(result.skipped) == {after_bad.id, bad_sink.id, second_sink.id}
    failed = [e for e in events if isinstance(e, NodeFailed)]
    assert [e.node_id for e in failed] == [bad.id, second_bad.id]
    # the failure is not cached: fixing the input re-runs it
    assert set(executor.run(graph).failures) == {bad.id, second_bad.id}


def test_events_arrive_in_order(executor):
    graph = Graph()
    ids = chain(graph, 2)
    events = []
    executor.run(graph, on_event=events.append)
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert events[0].order == tuple(ids)
    assert kinds[1:-1] == ["NodeStarted", "NodeFinished"] * 4
    assert all(e.seconds >= 0 for e in events if isinstance(e, NodeFinished))
    events.clear()
    executor.run(graph, on_event=events.append)
    assert [type(e) for e in events[1:-1]] == [NodeCached] * 4
    assert isinstance(events[0], RunStarted) and not any(
        isinstance(e, NodeStarted) for e in events)


def test_bypass_passes_input_through_and_mute_skips(executor):
    graph = Graph()
    number = graph.add_node("test.Number", {"value": 5})
    add = graph.add_node("test.Add", {"offset": 100}, bypass=True)
    sink = graph.add_node("test.Sink")
    muted_sink = graph.add_node("test.Sink", mute=True)
    graph.connect(number.id, "value", add.id, "a")
    graph.connect(add.id, "value", sink.id, "a")
    graph.connect(number.id, "value", muted_sink.id, "a")
    result = executor.run(graph, keep_values=True)
    assert result.bypassed == [add.id]
    assert result.values[add.id] == (5,)
    assert muted_sink.id not in result.order


def test_a_link_can_drive_a_param(executor):
    graph = Graph()
    size = graph.add_node("primitive.Int", {"value": 12})
    solid = graph.add_node("image.Solid", {"height": 4})
    preview = graph.add_node("image.Preview")
    graph.connect(size.id, "value", solid.id, "width")
    graph.connect(solid.id, "image", preview.id, "images")
    result = executor.run(graph, keep_values=True)
    assert tuple(result.values[solid.id][0].shape) == (1, 4, 12, 3)


def test_a_snapshot_document_runs_like_the_graph(executor):
    from nodegraph.workflow import graph_to_document

    graph = Graph()
    ids = chain(graph, 3)
    document = graph_to_document(graph)
    result = executor.run(document, keep_values=True)
    assert result.values[ids[-2]] == (4,)


def test_headless_runs_tell_nodes_to_skip_previews(registry, tmp_path):
    from nodegraph.executor import Executor

    graph = Graph()
    flag = graph.add_node("test.PreviewFlag")
    watched = Executor(registry, output_dir=tmp_path).run(graph, [flag.id], keep_values=True)
    headless = Executor(registry, output_dir=tmp_path, previews=False).run(
        graph, [flag.id], keep_values=True)
    assert (watched.values[flag.id], headless.values[flag.id]) == ((1,), (0,))


def test_run_time_failures_and_validation_problems_share_one_shape(executor):
    from nodegraph.problems import Problem

    graph = Graph()
    number = graph.add_node("test.Number", {"value": 4})
    bad = graph.add_node("test.Fail", title="Breaker")
    graph.connect(number.id, "value", bad.id, "a")
    graph.connect(bad.id, "value", graph.add_node("test.Sink").id, "a")
    events = []
    failure = executor.run(graph, on_event=events.append).failures[bad.id]
    assert isinstance(failure, Problem)
    data = failure.to_json()
    assert data["code"] == "node_failed" and data["node_id"] == bad.id
    assert data["node_title"] == "Breaker" and data["message"] == "RuntimeError: cannot handle 4"
    assert "Traceback" in data["traceback"]
    assert [e.problem for e in events if isinstance(e, NodeFailed)] == [failure]
