"""Workflows without positions (hand-written, ComfyUI API files) load laid out: columns
left to right along the links, no two nodes on top of each other."""

import json
from pathlib import Path

import pytest

from nodegraph.layout import layered_positions, node_size
from nodegraph.workflow import loads

ROOT = Path(__file__).parents[2]


def _boxes(graph, registry):
    return {n.id: (n.pos[0], n.pos[1], *node_size(n, registry)) for n in graph.nodes.values()}


def _overlap(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_a_workflow_without_positions_is_laid_out_left_to_right(real_registry):
    document = json.loads((ROOT / "workflows" / "txt2img.json").read_text())
    for node in document["nodes"]:
        del node["pos"]
    graph, problems = loads(json.dumps(document), real_registry)
    assert not [p for p in problems if p.severity == "error"]
    boxes = _boxes(graph, real_registry)
    ids = list(boxes)
    assert not [
        (a, b) for i, a in enumerate(ids) for b in ids[i + 1 :] if _overlap(boxes[a], boxes[b])
    ]
    for link in graph.links.values():  # every link runs left to right
        assert boxes[link.src][0] + boxes[link.src][2] < boxes[link.dst][0]
    # the sampler is right of the guider, which is right of the prompts
    by_title = {n.title or n.type: n for n in graph.nodes.values()}
    assert by_title["Sampler"].pos[0] > by_title["CFG guider"].pos[0] > by_title["Prompt"].pos[0]


def test_columns_follow_the_longest_path_and_order_reduces_crossings(registry):
    from nodegraph.graph import Graph

    graph = Graph()
    a, b = graph.add_node("test.Number"), graph.add_node("test.Number")
    add = graph.add_node("test.Add")
    late = graph.add_node("test.Sink")  # fed by b directly and through add
    sink_b, sink_a = graph.add_node("test.Sink"), graph.add_node("test.Sink")
    graph.connect(a.id, "value", add.id, "a")
    graph.connect(b.id, "value", add.id, "b")
    graph.connect(add.id, "value", late.id, "a")
    graph.connect(b.id, "value", sink_b.id, "a")
    graph.connect(a.id, "value", sink_a.id, "a")
    pos = layered_positions(graph, registry=registry)
    assert pos[a.id][0] == pos[b.id][0] < pos[add.id][0] < pos[late.id][0]
    assert pos[sink_a.id][0] == pos[add.id][0]
    # sink_a (fed by a, the top source) sits above sink_b (fed by b)
    assert pos[sink_a.id][1] < pos[sink_b.id][1]


def test_positioned_nodes_stay_and_unpositioned_ones_go_below(real_registry):
    document = json.loads((ROOT / "workflows" / "txt2img.json").read_text())
    kept = {n["id"]: tuple(n["pos"]) for n in document["nodes"][:3]}
    for node in document["nodes"][3:]:
        del node["pos"]
    graph, _ = loads(json.dumps(document), real_registry)
    assert {i: graph.nodes[i].pos for i in kept} == {
        i: (float(x), float(y)) for i, (x, y) in kept.items()
    }
    bottom = max(graph.nodes[i].pos[1] + node_size(graph.nodes[i], real_registry)[1] for i in kept)
    assert all(n.pos[1] > bottom for n in graph.nodes.values() if n.id not in kept)


@pytest.fixture(scope="module")
def real_registry():
    from nodegraph_app import default_registry

    return default_registry(plugins=False)
