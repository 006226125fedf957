"""Run options travel with each run as one frozen value; device and dtype are part of
every node's cache key, so switching either recomputes instead of serving stale results."""

from __future__ import annotations

import dataclasses
import json

import pytest

from nodegraph.graph import Graph
from nodegraph.run_options import RunOptions

from .conftest import chain


def test_run_options_are_frozen_and_survive_json():
    options = RunOptions(device="cpu", dtype="bf16", output_dir="out", base_dir="/work")
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.device = "cuda"  # type: ignore[misc]
    assert RunOptions.from_json(json.loads(json.dumps(options.to_json()))) == options


@pytest.mark.parametrize("change", [{"device": "cuda"}, {"dtype": "fp16"}])
def test_another_device_or_dtype_reruns_every_node(executor, change):
    graph = Graph()
    ids = chain(graph, 2)
    first = executor.run(graph)
    assert first.executed == ids
    again = executor.run(graph)
    assert again.executed == [] and again.cached == ids
    switched = executor.run(graph, options=executor.options.replace(**change))
    assert switched.executed == ids


def test_each_run_sees_its_own_options_and_the_executor_keeps_its_defaults(executor, tmp_path):
    graph = Graph()
    flag = graph.add_node("test.PreviewFlag")
    headless = executor.options.replace(previews=False, output_dir=str(tmp_path / "elsewhere"))
    result = executor.run(graph, [flag.id], keep_values=True, options=headless)
    assert result.values[flag.id] == (0,)
    assert executor.options.previews is True
    executor.cache.clear()  # previews change no result, so they are not in the key
    assert executor.run(graph, [flag.id], keep_values=True).values[flag.id] == (1,)


def test_the_workflow_document_is_made_only_for_nodes_that_embed_it(executor, monkeypatch):
    import nodegraph.executor as executor_module

    made = []
    real = executor_module.graph_to_document
    monkeypatch.setattr(executor_module, "graph_to_document",
                        lambda graph: made.append(1) or real(graph))
    graph = Graph()
    chain(graph, 3)  # ends in a Sink, which takes a context but embeds nothing
    executor.run(graph)
    assert made == []
    solid = graph.add_node("image.Solid", {"width": 8, "height": 8})
    save = graph.add_node("image.Save", {"filename_prefix": "embedded"})
    graph.connect(solid.id, "image", save.id, "images")
    result = executor.run(graph)
    assert made == [1] and len(result.files) == 1
