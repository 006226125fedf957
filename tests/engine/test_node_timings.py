"""A node can say where its time went (add_time); the executor reports it with the
node's total, so the editor can show it (e.g. a sampler's previews)."""

import time

from nodegraph.context import add_time
from nodegraph.events import NodeFinished
from nodegraph.executor import Executor
from nodegraph.graph import Graph
from nodegraph.registry import Output, Registry, node
from nodegraph.types import INT


@node("test.Timed", "Timed", "test", outputs=[Output("value", INT)], output_node=True)
def timed() -> int:
    started = time.perf_counter()
    time.sleep(0.01)
    add_time("previews", time.perf_counter() - started)
    add_time("previews", 0.5)  # parts add up
    return 1


def test_parts_of_a_node_time_arrive_with_its_finished_event(tmp_path):
    registry = Registry()
    registry.add(timed.__nodegraph_spec__)
    graph = Graph()
    graph.add_node("test.Timed")
    events = []
    Executor(registry, output_dir=tmp_path).run(graph, on_event=events.append)
    finished = [e for e in events if isinstance(e, NodeFinished)]
    ((name, seconds),) = finished[0].parts
    assert name == "previews" and seconds >= 0.51
    add_time("previews", 1.0)  # outside a run: nothing to count it against, no error
