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
