"""The run-state model: what each node shows about the runs, fed by the executor's
events, without Qt (the editor's items only observe it)."""

from __future__ import annotations

import threading

from nodegraph.context import CancelToken
from nodegraph.events import NodeProgress
from nodegraph.graph import Graph
from nodegraph.problems import Problem
from nodegraph.run_state import RunStates

from .conftest import chain


def _run(executor, graph, states: RunStates, **kwargs):
    return executor.run(graph, on_event=states.apply, **kwargs)


def test_a_run_leaves_done_cached_failed_and_skipped_nodes(executor):
    graph = Graph()
    ids = chain(graph, 2)
    bad = graph.add_node("test.Fail", title="Breaker")
    after = graph.add_node("test.Sink")
    graph.connect(ids[0], "value", bad.id, "a")
    graph.connect(bad.id, "value", after.id, "a")
    states, changes = RunStates(), []
    states.subscribe(changes.append)
    _run(executor, graph, states)
    assert [states.nodes[i].status for i in ids] == ["done"] * len(ids)
    assert states.nodes[bad.id].status == "failed"
    assert "cannot handle" in states.nodes[bad.id].problem.message
    assert states.nodes[after.id].status == "skipped"
    assert "Breaker" in states.nodes[after.id].reason
    assert all(states.nodes[i].seconds is not None for i in ids)
    assert [e.node_id for e in states.summary.failures] == [bad.id]
    assert changes and all(isinstance(c, set) for c in changes)
    _run(executor, graph, states)
    assert [states.nodes[i].status for i in ids] == ["cached"] * len(ids)
    assert states.nodes[ids[0]].seconds is None  # cached: no time of its own this run


def test_cancel_leaves_the_running_node_cancelled_with_no_progress(executor):
    graph = Graph()
    number = graph.add_node("test.Number", {"value": 1})
    slow = graph.add_node("test.Slow", {"steps": 50, "delay": 0.01})
    sink = graph.add_node("test.Sink")
    graph.connect(number.id, "value", slow.id, "a")
    graph.connect(slow.id, "value", sink.id, "a")
    states, cancel = RunStates(), CancelToken()
    progressed = threading.Event()

    def watch(event):
        states.apply(event)
        if isinstance(event, NodeProgress) and event.step >= 3:
            cancel.cancel()
            progressed.set()

    executor.run(graph, on_event=watch, cancel=cancel)
    assert progressed.is_set()
    assert states.nodes[slow.id].status == "cancelled"
    assert states.nodes[slow.id].progress is None and states.nodes[slow.id].preview is None
    assert states.nodes[sink.id].status is None  # queued, never reached
    # the time the stopped node ran counts as node time, not as engine time
    assert states.nodes[slow.id].seconds >= 3 * 0.01
    assert states.summary.cancelled_seconds == states.nodes[slow.id].seconds


def test_images_are_stale_until_the_next_run_renews_them(executor):
    graph = Graph()
    solid = graph.add_node("image.Solid", {"width": 4, "height": 4})
    preview = graph.add_node("image.Preview")
    graph.connect(solid.id, "image", preview.id, "images")
    states = RunStates()
    _run(executor, graph, states)
    first = states.nodes[preview.id].images
    assert len(first) == 1 and not states.nodes[preview.id].stale
    graph.set_param(solid.id, "color", "#00ff00")
    seen_stale = []
    states.subscribe(lambda changed: seen_stale.append(states.nodes[preview.id].stale))
    _run(executor, graph, states)
    assert seen_stale[0] is True  # marked when the run started
    assert states.nodes[preview.id].images is not first and not states.nodes[preview.id].stale


def test_a_refused_run_marks_each_node_with_its_first_problem():
    states = RunStates()
    states.state("1").status = "queued"
    states.state("2").status = "queued"
    states.reject([Problem("missing_input", "required input is not connected", "2", "Sink",
                           "a"), Problem("bad_param", "too big", "2", "Sink", "x")])
    assert states.nodes["1"].status is None
    assert states.nodes["2"].status == "problem"
    assert states.nodes["2"].problem.field == "a"
