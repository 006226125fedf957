"""Model files: upscale models load as plain tensors only; TorchScript and pickled
objects are refused before torch could run code from them."""

from __future__ import annotations

import pickle

import pytest
import torch

from nodegraph.executor import Executor
from nodegraph.graph import Graph

spandrel = pytest.importorskip("spandrel")


@pytest.fixture
def upscale_folder(tmp_path, monkeypatch):
    from spandrel.architectures.Compact.__arch.SRVGG import SRVGGNetCompact

    folder = tmp_path / "models" / "upscale_models"
    folder.mkdir(parents=True)
    monkeypatch.setenv("NODEGRAPH_MODELS", str(tmp_path / "models"))
    torch.manual_seed(0)
    net = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=2)
    torch.save(net.state_dict(), folder / "plain.pth")
    torch.jit.save(torch.jit.trace(net, torch.zeros(1, 3, 4, 4)), folder / "scripted.pth")
    with (folder / "objects.pth").open("wb") as file:
        pickle.dump({"weight": torch.zeros(1), "hook": Executor}, file)  # not a tensor
    return folder


def _load(registry, tmp_path, name):
    graph = Graph()
    load = graph.add_node("image.UpscaleModelLoader", {"model": name}, title="Upscaler")
    image = graph.add_node("image.Solid", {"width": 4, "height": 4, "color": "#ff0000"})
    up = graph.add_node("image.UpscaleWithModel")
    graph.connect(load.id, "upscale_model", up.id, "upscale_model")
    graph.connect(image.id, "image", up.id, "image")
    executor = Executor(registry, output_dir=tmp_path / "out", device="cpu")
    return executor.run(graph, [up.id], keep_values=True), up.id


def test_a_torchscript_archive_is_refused_before_torch_sees_it(
    registry, tmp_path, upscale_folder, monkeypatch
):
    opened = []
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: opened.append(a))
    result, _ = _load(registry, tmp_path, "scripted.pth")
    assert opened == []
    failure = str(result.failures["1"])
    assert failure.startswith(
        "node Upscaler (#1), param 'model': scripted.pth is a TorchScript archive: it holds code"
    )
    assert "use a .safetensors file" in failure


def test_a_pickle_with_objects_is_refused(registry, tmp_path, upscale_folder):
    result, _ = _load(registry, tmp_path, "objects.pth")
    assert "objects.pth holds more than plain tensors" in str(result.failures["1"])


def test_plain_weights_still_upscale(registry, tmp_path, upscale_folder):
    result, up = _load(registry, tmp_path, "plain.pth")
    assert not result.failures
    [image] = result.values[up]
    assert tuple(image.shape) == (1, 8, 8, 3)
