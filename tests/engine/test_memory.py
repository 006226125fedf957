"""Memory: a node refuses, before allocating, an output that cannot fit in the memory
available, naming the param to change; previews count in the cache's byte budget."""

from __future__ import annotations

import sys

import pytest
from PIL import Image

from nodegraph import memory
from nodegraph.graph import Graph

MiB = 1024**2


@pytest.fixture
def little_memory(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 100 * MiB)


def _preview(graph, node, output="image"):
    preview = graph.add_node("image.Preview")
    graph.connect(node.id, output, preview.id, "images")
    return preview


def test_a_solid_image_too_big_for_memory_is_refused_before_it_is_made(executor, little_memory):
    graph = Graph()
    solid = graph.add_node("image.Solid", {"width": 16384, "height": 16384}, title="Huge")
    _preview(graph, solid)
    result = executor.run(graph)
    assert str(result.failures[solid.id]) == (
        "node Huge (#1), param 'width': 1 16384x16384 image needs about 3.0 GiB of memory, "
        "but only 100.0 MiB is available: make it smaller"
    )


def test_a_small_png_with_huge_dimensions_is_refused_before_decoding(
    executor, tmp_path, little_memory
):
    Image.new("L", (4000, 3000)).save(tmp_path / "wide.png")  # ~40 KB on disk
    graph = Graph()
    load = graph.add_node("image.Load", {"path": "wide.png"}, title="Photo")
    _preview(graph, load)
    failure = executor.run(graph).failures[load.id]
    assert failure.field == "path"
    assert "decoding this 4000x3000 image needs about 274.7 MiB of memory" in str(failure)


def test_saving_checks_memory_before_converting(executor, monkeypatch):
    graph = Graph()
    solid = graph.add_node("image.Solid", {"width": 2048, "height": 2048})
    save = graph.add_node("image.Save", title="Out")
    graph.connect(solid.id, "image", save.id, "images")
    left = iter([1024 * MiB, 10 * MiB, 10 * MiB])  # the Solid image took most of it
    monkeypatch.setattr(memory, "available_bytes", lambda: next(left))
    failure = executor.run(graph).failures[save.id]
    assert "saving 1 2048x2048 image needs about 32.0 MiB" in str(failure)
    out = executor.options.output_path
    assert not out.exists() or not any(out.rglob("*.png"))


def test_saving_a_large_image_costs_its_uint8_copy_not_float_copies():
    import torch

    from nodes.image.convert import to_uint8

    image = torch.rand(2, 2100, 1400, 3)  # several bands of rows each
    image[0, 0, 0] = torch.tensor([-0.5, 1.5, 0.5])  # clamped
    expected = (image.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    converted = to_uint8(image)
    assert [a.shape for a in converted] == [(2100, 1400, 3)] * 2
    assert all((a == e).all() for a, e in zip(converted, expected))
    assert converted[0][0, 0].tolist() == [0, 255, 128]


def test_sizes_that_fit_still_run(executor, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 4 * MiB)
    graph = Graph()
    solid = graph.add_node("image.Solid", {"width": 64, "height": 64})
    _preview(graph, solid)
    assert not executor.run(graph).failures


def test_previews_count_in_the_cache_budget(executor):
    graph = Graph()
    solid = graph.add_node("image.Solid", {"width": 256, "height": 128, "batch": 2})
    save = graph.add_node("image.Save")
    graph.connect(solid.id, "image", save.id, "images")
    executor.run(graph)
    tensors = 2 * 128 * 256 * 3 * 4
    previews = 2 * 128 * 256 * 3  # uint8 images the Save node shows
    assert executor.cache.nbytes >= tensors + previews
    assert executor.cache.nbytes < (tensors + previews) * 1.1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/meminfo")
def test_available_memory_is_read_on_linux():
    available = memory.available_bytes()
    assert available is not None and available > 0


def test_resizing_and_grids_too_big_for_memory_are_refused(executor, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 16 * MiB)
    graph = Graph()
    solid = graph.add_node("image.Solid", {"width": 512, "height": 512, "batch": 4})
    scale = graph.add_node("image.Scale", {"factor": 2.0}, title="Up")
    grid = graph.add_node("image.Grid", {"columns": 2, "gap": 256}, title="Sheet")
    graph.connect(solid.id, "image", scale.id, "image")
    graph.connect(solid.id, "image", grid.id, "images")
    _preview(graph, scale)
    _preview(graph, grid)
    failures = executor.run(graph).failures
    assert solid.id not in failures  # 12 MiB fits
    assert str(failures[scale.id]).startswith(
        "node Up (#2), param 'factor': resizing 4 images to 1024x1024 needs about 144.0 MiB"
    )
    assert str(failures[grid.id]).startswith(
        "node Sheet (#3), param 'columns': a 1280x1280 grid needs about 18.8 MiB"
    )
