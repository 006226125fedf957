"""The per-node cache: what re-runs after which change."""

from pathlib import Path

import numpy as np
from PIL import Image

from nodegraph.cache import CacheEntry, NodeCache
from nodegraph.executor import Executor
from nodegraph.graph import Graph

from . import sample_nodes
from .conftest import chain


def test_identical_rerun_executes_nothing(executor):
    graph = Graph()
    ids = chain(graph, 5)
    first = executor.run(graph)
    assert first.executed == ids
    second = executor.run(graph)
    assert second.executed == []
    assert second.cached == ids


def test_changing_last_param_reruns_it_and_its_output_only(executor):
    graph = Graph()
    ids = chain(graph, 5)
    executor.run(graph)
    graph.set_param(ids[-2], "offset", 7)
    result = executor.run(graph, keep_values=True)
    assert result.executed == ids[-2:]
    assert result.cached == ids[:-2]
    assert result.values[ids[-2]] == (1 + 4 + 7,)


def test_changing_the_source_reruns_everything_downstream(executor):
    graph = Graph()
    ids = chain(graph, 5)
    executor.run(graph)
    graph.set_param(ids[0], "value", 3)
    result = executor.run(graph, keep_values=True)
    assert result.executed == ids
    assert result.values[ids[-2]] == (3 + 5,)


def test_changing_a_param_back_hits_the_cache_again(executor):
    graph = Graph()
    ids = chain(graph, 3)
    executor.run(graph)
    graph.set_param(ids[0], "value", 9)
    executor.run(graph)
    graph.set_param(ids[0], "value", 1)
    assert executor.run(graph).executed == []


def test_non_deterministic_node_always_runs_with_its_descendants(executor):
    graph = Graph()
    rand = graph.add_node("test.Random")
    add = graph.add_node("test.Add", {"offset": 0})
    sink = graph.add_node("test.Sink")
    other = graph.add_node("test.Number", {"value": 1})
    other_sink = graph.add_node("test.Sink")
    graph.connect(rand.id, "value", add.id, "a")
    graph.connect(add.id, "value", sink.id, "a")
    graph.connect(other.id, "value", other_sink.id, "a")
    executor.run(graph)
    result = executor.run(graph)
    assert result.executed == [rand.id, add.id, sink.id]
    assert result.cached == [other.id, other_sink.id]


def test_unrequested_branches_do_not_run(executor):
    graph = Graph()
    ids = chain(graph, 3)
    side = graph.add_node("test.Add", {"offset": 5})
    graph.connect(ids[1], "value", side.id, "a")
    side_sink = graph.add_node("test.Sink")
    graph.connect(side.id, "value", side_sink.id, "a")
    result = executor.run(graph, outputs=[side.id])
    assert result.executed == [ids[0], ids[1], side.id]


def _write_png(path: Path, value: int) -> None:
    Image.fromarray(np.full((4, 4, 3), value, np.uint8)).save(path)


def test_edited_input_file_is_read_again(executor, tmp_path):
    picture = tmp_path / "picture.png"
    _write_png(picture, 10)
    graph = Graph()
    load = graph.add_node("image.Load", {"path": "picture.png"})
    preview = graph.add_node("image.Preview")
    graph.connect(load.id, "image", preview.id, "images")
    executor.run(graph)
    assert executor.run(graph).executed == []
    _write_png(picture, 200)
    result = executor.run(graph, keep_values=True)
    assert result.executed == [load.id, preview.id]
    assert round(float(result.values[load.id][0][0, 0, 0, 0]) * 255) == 200


def test_deleted_output_file_is_written_again(executor):
    graph = Graph()
    solid = graph.add_node("image.Solid", {"width": 8, "height": 8})
    save = graph.add_node("image.Save", {"filename_prefix": "again"})
    graph.connect(solid.id, "image", save.id, "images")
    first = executor.run(graph)
    assert executor.run(graph).executed == []
    Path(first.files[0]).unlink()
    result = executor.run(graph)
    assert result.executed == [save.id]
    assert Path(result.files[0]).exists()


def test_values_are_freed_after_their_last_consumer(registry, tmp_path):
    graph = Graph()
    previous = graph.add_node("test.BoxNew", {"value": 1}).id
    for _ in range(5):
        inc = graph.add_node("test.BoxInc").id
        graph.connect(previous, "box", inc, "box")
        previous = inc
    probe = graph.add_node("test.BoxProbe").id
    graph.connect(previous, "box", probe, "box")
    sample_nodes.SEEN_ALIVE.clear()
    Executor(registry, NodeCache(budget_bytes=0), output_dir=tmp_path).run(graph)
    # when the probe runs, only the box it reads is still alive
    assert sample_nodes.SEEN_ALIVE == [1]
    Executor(registry, output_dir=tmp_path).run(graph)
    # with a cache, every box is kept on purpose
    assert sample_nodes.SEEN_ALIVE[-1] == 6


def test_cache_evicts_least_recently_used_within_budget():
    cache = NodeCache(budget_bytes=100)
    for key in "abc":
        cache.put(key, CacheEntry((key,), 40))
    assert "a" not in cache and "b" in cache and "c" in cache
    cache.get("b")
    cache.put("d", CacheEntry(("d",), 40))
    assert "b" in cache and "c" not in cache and "d" in cache
    assert cache.nbytes == 80
    assert not cache.put("huge", CacheEntry(("x",), 101))


def test_cache_budget_evicts_image_tensors(registry, tmp_path):
    graph = Graph()
    solid = graph.add_node("image.Solid", {"width": 64, "height": 64})
    invert = graph.add_node("image.Invert")
    preview = graph.add_node("image.Preview")
    graph.connect(solid.id, "image", invert.id, "image")
    graph.connect(invert.id, "image", preview.id, "images")
    one_image = 64 * 64 * 3 * 4
    executor = Executor(registry, NodeCache(budget_bytes=int(one_image * 1.5)),
                        output_dir=tmp_path)
    executor.run(graph)
    # only the most recent image fits, so the solid colour is computed again
    result = executor.run(graph)
    assert solid.id in result.executed
    assert executor.cache.nbytes <= one_image * 1.5
