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


def test_saving_through_a_symlink_replaces_its_target(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    save(_sample_graph(), real / "wf.json")
    link = tmp_path / "wf.json"
    link.symlink_to(real / "wf.json")
    graph = _sample_graph()
    graph.add_node("image.Invert", title="Added")
    save(graph, link)
    assert link.is_symlink()
    assert "Added" in (real / "wf.json").read_text()
    assert sorted(p.name for p in real.iterdir()) == ["wf.json"]


def test_saving_keeps_the_file_mode_or_follows_the_umask(tmp_path):
    kept = tmp_path / "kept.json"
    save(_sample_graph(), kept)
    kept.chmod(0o640)
    save(_sample_graph(), kept)
    assert kept.stat().st_mode & 0o777 == 0o640
    old = os.umask(0o027)
    try:
        save(_sample_graph(), tmp_path / "new.json")
    finally:
        os.umask(old)
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == 0o640
    os.umask(old := os.umask(0o022))
    try:
        save(_sample_graph(), tmp_path / "plain.json")
    finally:
        os.umask(old)
    assert (tmp_path / "plain.json").stat().st_mode & 0o777 == 0o644


def test_a_killed_save_leaves_no_temp_file_after_the_next_save(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "wf.json"
    script = (
        "import os, signal, sys\n"
        "from nodegraph.graph import Graph\n"
        "from nodegraph.workflow import save\n"
        "os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)\n"  # dies mid-save
        f"save(Graph(), {str(path)!r})\n"
    )
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert killed.returncode == -9
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # left behind
    save(_sample_graph(), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wf.json"]


def test_saving_fsyncs_the_folder_after_the_rename(tmp_path, monkeypatch):
    import stat

    synced = []
    real_fsync = os.fsync

    def watching_fsync(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", watching_fsync)
    save(_sample_graph(), tmp_path / "wf.json")
    assert synced == [False, True]  # the file's data, then the folder's entry


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "folder"])
def test_workflow_paths_that_are_not_regular_files_are_refused(tmp_path, capsys, special):
    from nodegraph_app import main

    if special == "fifo":
        special = str(tmp_path / "pipe.json")
        os.mkfifo(special)
    elif special == "folder":
        special = str(tmp_path)
    assert main(["validate", "--json", special]) == 2
    [problem] = json.loads(capsys.readouterr().out)
    assert "not a regular file" in problem["message"]


def test_oversized_workflows_and_text_chunk_bombs_are_refused(tmp_path, capsys):
    import struct
    import zlib

    from nodegraph_app import main

    huge = tmp_path / "huge.json"
    with huge.open("wb") as file:
        file.truncate(workflow.MAX_FILE_BYTES + 1)  # sparse: costs no disk
    assert main(["validate", str(huge)]) == 2
    assert "is larger than 64 MiB" in capsys.readouterr().err

    def chunk(kind, body):
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    bomb = zlib.compress(b" " * (64 * 1024**2), 9)  # 64 MiB of spaces in ~64 KiB
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    png = tmp_path / "bomb.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                    + chunk(b"zTXt", b"workflow\0\0" + bomb) + chunk(b"IEND", b""))
    assert main(["validate", str(png)]) == 2
    assert "inflates to more than 32 MiB" in capsys.readouterr().err


def test_a_lone_surrogate_from_an_api_or_clipboard_never_breaks_saving(registry, tmp_path):
    from nodegraph.executor import Executor

    graph = Graph()
    solid = graph.add_node("image.Solid", {"width": 2, "height": 2}, title="Fill \ud800")
    out = graph.add_node("image.Save", title="pair \ud83d\ude00")
    graph.connect(solid.id, "image", out.id, "images")
    save(graph, tmp_path / "wf.json")
    loaded, problems = load(tmp_path / "wf.json", registry)
    assert problems == []
    assert [n.title for n in loaded] == ["Fill \ufffd", "pair \U0001f600"]
    result = Executor(registry, output_dir=tmp_path / "out").run(graph)
    assert not result.failures
    again, _ = load(result.files[0], registry)
    assert again.nodes[solid.id].title == "Fill \ufffd"


def test_a_snapshot_with_a_lone_surrogate_still_runs(registry, tmp_path):
    from nodegraph.executor import Executor
    from nodegraph.workflow import graph_to_document

    graph = Graph()
    solid = graph.add_node("image.Solid", {"width": 2, "height": 2}, title="Fill \udcff")
    out = graph.add_node("image.Save")
    graph.connect(solid.id, "image", out.id, "images")
    result = Executor(registry, output_dir=tmp_path / "out").run(graph_to_document(graph))
    assert not result.failures and len(result.files) == 1
