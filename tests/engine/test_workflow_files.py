"""Workflow files: stable round trips, atomic saves, migrations."""

import json
import os

import pytest

from nodegraph import workflow
from nodegraph.graph import Graph
from nodegraph.workflow import dumps, load, loads, save


def _sample_graph() -> Graph:
    graph = Graph()
    solid = graph.add_node("image.Solid", {"width": 32, "height": 16, "batch": 2,
                                           "color": "#102030"}, title="Fill", pos=(10.5, -4))
    blend = graph.add_node("image.Blend", {"factor": 0.25, "mode": "screen"}, pos=(200, 0),
                           color="#335577", collapsed=True)
    invert = graph.add_node("image.Invert", pos=(100, 80), bypass=True)
    save_node = graph.add_node("image.Save", {"filename_prefix": "ünïcode prompt",
                                              "embed_workflow": False}, mute=True)
    graph.connect(solid.id, "image", invert.id, "image")
    graph.connect(solid.id, "image", blend.id, "base")
    graph.connect(invert.id, "image", blend.id, "top")
    graph.connect(blend.id, "image", save_node.id, "images")
    graph.add_group("Stage 1", (0, 0, 320, 200), "#223344")
    graph.set_metadata("description", "round trip sample")
    return graph


def test_load_save_round_trip_is_byte_identical(registry, tmp_path):
    path = tmp_path / "wf.json"
    save(_sample_graph(), path)
    first = path.read_bytes()
    graph, problems = load(path, registry)
    assert problems == []
    save(graph, path)
    assert path.read_bytes() == first
    again, _ = load(path, registry)
    save(again, path)
    assert path.read_bytes() == first


def test_a_partial_document_is_stable_from_the_first_load(registry):
    partial = '{"format": "nodegraph.workflow", "version": 1, "nodes": [{"id": "7", ' \
              '"type": "image.Solid", "params": {"width": 3}}]}'
    graph, _ = loads(partial, registry)
    first = dumps(graph)
    assert json.loads(first)["nodes"][0]["params"] == {
        "width": 3, "height": 512, "batch": 1, "color": "#808080"}
    assert dumps(loads(first, registry)[0]) == first


def test_round_trip_keeps_everything(registry):
    original = _sample_graph()
    loaded, _ = loads(dumps(original), registry)
    assert loaded.nodes == original.nodes
    assert loaded.links == original.links
    assert loaded.groups == original.groups
    assert loaded.metadata == original.metadata


def test_failed_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "wf.json"
    save(_sample_graph(), path)
    before = path.read_bytes()
    bigger = _sample_graph()
    bigger.add_node("image.Solid")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        save(bigger, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["wf.json"]  # no temp file left


def test_documents_of_older_versions_are_migrated(registry, monkeypatch):
    def v1_to_v2(document):
        for node in document["nodes"]:
            node["params"]["color"] = node["params"].pop("colour")
        return document

    monkeypatch.setattr(workflow, "VERSION", 2)
    monkeypatch.setitem(workflow.MIGRATIONS, 1, v1_to_v2)
    old = {"format": "nodegraph.workflow", "version": 1,
           "nodes": [{"id": "1", "type": "image.Solid", "params": {"colour": "#ff0000"}}]}
    graph, problems = loads(json.dumps(old), registry)
    assert problems == []
    assert graph.nodes["1"].params["color"] == "#ff0000"
    assert json.loads(dumps(graph))["version"] == 2


def test_node_versions_migrate_their_params(registry):
    from dataclasses import replace

    from nodegraph.registry import Registry

    spec = registry["image.Solid"]

    def migrate(version, params):
        return {**params, "width": params["size"], "height": params["size"]}

    newer = Registry([replace(spec, version=2, migrate=migrate)])
    old = {"format": "nodegraph.workflow", "version": 1,
           "nodes": [{"id": "1", "type": "image.Solid", "version": 1, "params": {"size": 24}}]}
    graph, problems = loads(json.dumps(old), newer)
    node = graph.nodes["1"]
    assert (node.version, node.params["width"], node.params["height"]) == (2, 24, 24)
    assert [p.code for p in problems] == ["unknown_param"]  # 'size' is kept, flagged


def test_png_text_chunks_are_read_without_pillow(tmp_path):
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from nodegraph.pngmeta import read_text_chunks

    info = PngInfo()
    info.add_text("plain", "latin text")
    info.add_text("squeezed", "x" * 500, zip=True)
    info.add_itxt("workflow", '{"prompt": "ünïcode ☃"}', zip=True)
    path = tmp_path / "meta.png"
    Image.new("RGB", (2, 2)).save(path, pnginfo=info)
    assert read_text_chunks(path) == {"plain": "latin text", "squeezed": "x" * 500,
                                      "workflow": '{"prompt": "ünïcode ☃"}'}
