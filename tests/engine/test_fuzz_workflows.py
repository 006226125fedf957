"""Random and mutated documents: loading and validating raise only WorkflowError."""

import contextlib
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodegraph.graph import Graph
from nodegraph.problems import WorkflowError
from nodegraph.validation import validate
from nodegraph.workflow import dumps, graph_from_document, loads

from .sample_nodes import registry as make_registry

REGISTRY = make_registry()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def _seed_document() -> dict:
    graph = Graph()
    solid = graph.add_node("image.Solid", {"width": 8, "height": 8, "batch": 1,
                                           "color": "#000000"})
    blend = graph.add_node("image.Blend", {"factor": 0.5, "mode": "normal"})
    preview = graph.add_node("image.Preview")
    graph.connect(solid.id, "image", blend.id, "base")
    graph.connect(solid.id, "image", blend.id, "top")
    graph.connect(blend.id, "image", preview.id, "images")
    graph.add_group("g", (0, 0, 1, 1))
    return json.loads(dumps(graph))


SEED = _seed_document()
KEYS = ["format", "version", "nodes", "links", "groups", "metadata", "id", "type", "params",
        "pos", "from", "to", "title", "rect", "width", "mode", "factor", "size", "bypass"]


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _load_and_validate(document) -> None:
    try:
        graph, _ = graph_from_document(document, REGISTRY)
        validate(graph, REGISTRY)
        dumps(graph)
    except WorkflowError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(json_values)
def test_random_documents(document):
    _load_and_validate(document)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_mutated_documents(data):
    document = json.loads(json.dumps(SEED))
    for _ in range(data.draw(st.integers(1, 4))):
        paths = list(_paths(document))
        path = data.draw(st.sampled_from(paths))
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            document = data.draw(json_values) if action == "replace" else document
            continue
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        if action == "replace":
            parent[key] = data.draw(json_values)
        elif action == "delete":
            del parent[key]
        elif isinstance(parent, dict):
            parent[data.draw(st.sampled_from(KEYS))] = data.draw(json_values)
        else:
            parent.append(data.draw(json_values))
    _load_and_validate(document)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text(text):
    with contextlib.suppress(WorkflowError):
        loads(text, REGISTRY)
