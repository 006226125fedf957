"""Image nodes: model upscaling (spandrel, tiled), denoising, masks and compositing."""

from __future__ import annotations

import pytest
import torch

from .conftest import TENSORS, failures


@pytest.fixture(scope="module")
def upscalers(models_dir):
    from safetensors.torch import save_file
    from spandrel.architectures.Compact.__arch.SRVGG import SRVGGNetCompact

    folder = models_dir / "upscale_models"
    folder.mkdir(exist_ok=True)
    torch.manual_seed(0)
    net = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=2)
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(folder / "tiny_x2.safetensors"))
    torch.save(state, folder / "tiny_x2.pth")
    (folder / "broken.pth").write_bytes(b"\x80\x04not a pickle")
    return net


def _run(test_executor, nodes, links, out):
    from nodegraph.graph import Graph

    g = Graph()
    for node_id, (type_id, params) in nodes.items():
        g.add_node(type_id, params, id=node_id, title=node_id)
    for src, output, dst, inp in links:
        g.connect(src, output, dst, inp)
    return test_executor.run(g, outputs=[out], keep_values=True)


@pytest.mark.parametrize("name", ["tiny_x2.safetensors", "tiny_x2.pth"])
def test_upscale_with_model_tiled_matches_untiled(test_executor, upscalers, name):
    TENSORS["up-image"] = torch.rand(1, 40, 56, 3, generator=torch.Generator().manual_seed(2))
    nodes = {"img": ("test.Image", {"key": "up-image"}),
             "load": ("image.UpscaleModelLoader", {"model": name}),
             "whole": ("image.UpscaleWithModel", {"tile_size": 0, "overlap": 0}),
             "tiled": ("image.UpscaleWithModel", {"tile_size": 32, "overlap": 8})}
    links = [("load", "upscale_model", "whole", "upscale_model"),
             ("load", "upscale_model", "tiled", "upscale_model"),
             ("img", "image", "whole", "image"), ("img", "image", "tiled", "image")]
    result = _run(test_executor, nodes, links, "tiled")
    assert not result.failures, failures(result)
    result2 = _run(test_executor, nodes, links, "whole")
    tiled, whole = result.values["tiled"][0], result2.values["whole"][0]
    assert tiled.shape == (1, 80, 112, 3)
    with torch.no_grad():
        direct = upscalers(TENSORS["up-image"].movedim(-1, 1)).clamp(0, 1).movedim(1, -1)
    assert torch.allclose(whole, direct, atol=1e-5)
    # the network's receptive field is small: tiles with overlap agree away from seams
    assert (tiled - whole).abs().mean() < 1e-2


def test_a_corrupt_upscale_model_is_reported(test_executor, upscalers):
    result = _run(test_executor, {"load": ("image.UpscaleModelLoader", {"model": "broken.pth"})},
                  [], "load")
    assert failures(result)["load"][0] == "model"


def test_restore_denoises(test_executor):
    clean = torch.full((1, 32, 32, 3), 0.3)
    clean[:, :, 16:] = 0.7
    noisy = (clean + 0.08 * torch.randn(1, 32, 32, 3, generator=torch.Generator().manual_seed(0)))
    TENSORS["noisy"] = noisy.clamp(0, 1)
    result = _run(test_executor, {"img": ("test.Image", {"key": "noisy"}),
                                  "fix": ("image.Restore", {"strength": 15.0,
                                                            "color_strength": 15.0})},
                  [("img", "image", "fix", "image")], "fix")
    out = result.values["fix"][0]
    assert out.shape == noisy.shape
    assert (out - clean).abs().mean() < (TENSORS["noisy"] - clean).abs().mean() / 2


def test_mask_nodes(test_executor):
    TENSORS["rgb"] = torch.rand(1, 16, 16, 3)
    nodes = {"img": ("test.Image", {"key": "rgb"}),
             "green": ("mask.FromImage", {"channel": "green"}),
             "thr": ("mask.Threshold", {"threshold": 0.5}),
             "inv": ("mask.Invert", {}),
             "rect": ("mask.Rectangle", {"width": 16, "height": 16, "x": 4, "y": 4,
                                         "rect_width": 8, "rect_height": 8}),
             "grow": ("mask.Grow", {"pixels": 2}),
             "shrink": ("mask.Grow", {"pixels": -2}),
             "feather": ("mask.Feather", {"radius": 2.0}),
             "solid": ("mask.Solid", {"width": 16, "height": 16, "value": 0.25})}
    links = [("img", "image", "green", "image"), ("green", "mask", "thr", "mask"),
             ("thr", "mask", "inv", "mask"), ("rect", "mask", "grow", "mask"),
             ("rect", "mask", "shrink", "mask"), ("rect", "mask", "feather", "mask")]
    values = {}
    for out in ("inv", "grow", "shrink", "feather", "solid"):
        result = _run(test_executor, nodes, links, out)
        assert not result.failures, failures(result)
        values.update(result.values)
    green = TENSORS["rgb"][..., 1]
    assert torch.equal(values["inv"][0], 1 - (green > 0.5).float())
    assert values["rect"][0].sum() == 64
    assert values["grow"][0].sum() == 144 and values["shrink"][0].sum() == 16
    feathered = values["feather"][0]
    assert 0 < feathered[0, 4, 2] < 1 and feathered[0, 8, 8] > 0.99
    assert torch.all(values["solid"][0] == 0.25)


def test_composite_through_a_mask(test_executor):
    TENSORS["dest"] = torch.zeros(1, 16, 16, 3)
    TENSORS["src"] = torch.ones(1, 8, 8, 3)
    mask = torch.zeros(1, 8, 8)
    mask[:, :, :4] = 1.0
    TENSORS["cmask"] = mask
    nodes = {"d": ("test.Image", {"key": "dest"}), "s": ("test.Image", {"key": "src"}),
             "m": ("test.Mask", {"key": "cmask"}),
             "c": ("image.Composite", {"x": 12, "y": 2})}
    links = [("d", "image", "c", "destination"), ("s", "image", "c", "source"),
             ("m", "mask", "c", "mask")]
    result = _run(test_executor, nodes, links, "c")
    out = result.values["c"][0]
    assert out[0, 2:10, 12:16].min() == 1.0 and out.sum() == 8 * 4 * 3
    assert torch.equal(TENSORS["dest"], torch.zeros(1, 16, 16, 3))  # input untouched
    TENSORS["cmask"] = torch.zeros(1, 5, 5)
    nodes["m"] = ("test.Mask", {"key": "cmask"})
    nodes["c"] = ("image.Composite", {"x": 0, "y": 0})
    test_executor.cache.clear()
    result = _run(test_executor, nodes, links, "c")
    assert failures(result)["c"][0] == "mask"
