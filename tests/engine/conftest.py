import pytest

from nodegraph.executor import Executor
from nodegraph.graph import Graph

from .sample_nodes import registry as make_registry


@pytest.fixture(scope="session")
def registry():
    return make_registry()


@pytest.fixture
def executor(registry, tmp_path):
    return Executor(registry, output_dir=tmp_path / "out", base_dir=tmp_path)


def chain(graph: Graph, length: int, start: int = 1) -> list[str]:
    """Number -> Add -> Add ... -> Sink; returns the node ids in order."""
    ids = [graph.add_node("test.Number", {"value": start}).id]
    for _ in range(length):
        node = graph.add_node("test.Add", {"offset": 1})
        graph.connect(ids[-1], "value", node.id, "a")
        ids.append(node.id)
    sink = graph.add_node("test.Sink", {})
    graph.connect(ids[-1], "value", sink.id, "a")
    ids.append(sink.id)
    return ids
