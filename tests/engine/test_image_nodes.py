"""The basic image nodes, checked on pixels."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nodegraph.graph import Graph
from nodes.image import basic, io


def _run(executor, graph, node_id):
    result = executor.run(graph, outputs=[node_id], keep_values=True)
    assert not result.failures, result.failures
    return result.values[node_id]


def test_solid_invert_blend_pixels():
    red = basic.solid(4, 3, 2, "#ff0000")
    assert red.shape == (2, 3, 4, 3) and red[0, 0, 0].tolist() == [1.0, 0.0, 0.0]
    cyan = basic.invert(red)
    assert cyan[1, 2, 3].tolist() == [0.0, 1.0, 1.0]
    half = basic.blend(red, cyan, 0.5, "normal")
    assert torch.allclose(half[0, 0, 0], torch.tensor([0.5, 0.5, 0.5]))
    assert basic.blend(red, cyan, 1.0, "multiply").max() == 0
    assert basic.blend(red, cyan, 1.0, "screen").min() == 1
    assert basic.blend(red, cyan, 0.0, "difference").equal(red)


def test_grid_lays_a_batch_out_row_by_row():
    from nodegraph.context import NodeInputError

    images = torch.stack([torch.full((4, 5, 3), v) for v in (0.1, 0.2, 0.3)])  # 3 of 5x4
    out = basic.grid(images, columns=2, gap=1, background="#ff0000")
    assert tuple(out.shape) == (1, 9, 11, 3)
    assert out[0, 0, 0, 0] == 0.1 and out[0, 0, 6, 0] == 0.2 and out[0, 5, 0, 0] == 0.3
    assert out[0, 4, 0].tolist() == [1.0, 0.0, 0.0]  # the gap row
    assert out[0, 8, 10].tolist() == [1.0, 0.0, 0.0]  # the empty fourth cell
    assert tuple(basic.grid(images, 0, 0, "#000000").shape) == (1, 4, 15, 3)  # one row
    with pytest.raises(NodeInputError, match="at most 16384"):
        basic.grid(torch.zeros(64, 8, 300, 3), 0, 0, "#000000")


def test_blend_resizes_top_to_base():
    base = basic.solid(8, 8, 1, "#000000")
    top = basic.solid(2, 2, 1, "#ffffff")
    assert basic.blend(base, top, 1.0, "add").shape == (1, 8, 8, 3)


@pytest.mark.parametrize("method", basic.RESIZE_METHODS)
def test_resize_methods_keep_a_flat_colour(method):
    image = basic.solid(20, 10, 1, "#336699")
    out = basic.resize(image, 7, 5, method, "none")
    assert out.shape == (1, 5, 7, 3)
    assert torch.allclose(out, image[:, :5, :7], atol=1 / 255)
    assert basic.scale(image, 0.5, method).shape == (1, 5, 10, 3)


def test_resize_center_crop_keeps_aspect():
    image = torch.zeros(1, 10, 20, 3)
    image[:, :, 5:15] = 1.0  # a bright middle half
    out = basic.resize(image, 10, 10, "nearest", "center")
    assert out.min() == 1.0


def test_load_image_alpha_becomes_mask(executor, tmp_path):
    rgba = np.zeros((6, 5, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:3, :, 3] = 255  # top half opaque, bottom half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    Image.fromarray(rgba[..., :3]).save(tmp_path / "b.jpg")
    Image.fromarray(rgba).save(tmp_path / "c.webp", lossless=True)
    image, mask, workflow = io.load_image(str(tmp_path / "a.png"))
    assert image.shape == (1, 6, 5, 3) and mask.shape == (1, 6, 5)
    assert mask[0, :3].max() == 0 and mask[0, 3:].min() == 1
    assert workflow == ""
    _, jpeg_mask, _ = io.load_image(str(tmp_path / "b.jpg"))
    assert jpeg_mask.max() == 0
    webp, webp_mask, _ = io.load_image(str(tmp_path / "c.webp"))
    assert webp[0, 0, 0].tolist() == [1.0, 0.0, 0.0] and webp_mask[0, 5].min() == 1


def test_load_image_errors_name_the_path(executor, tmp_path):
    (tmp_path / "junk.png").write_bytes(b"not an image")
    graph = Graph()
    load = graph.add_node("image.Load", {"path": "junk.png"}, title="Photo")
    preview = graph.add_node("image.Preview")
    graph.connect(load.id, "image", preview.id, "images")
    failure = executor.run(graph).failures[load.id]
    assert failure.field == "path"
    assert str(failure).startswith("node Photo (#1), param 'path': "
                                   "not a readable PNG/JPEG/WebP image")
    graph.set_param(load.id, "path", "nowhere.png")
    assert "file not found: nowhere.png" in str(executor.run(graph).failures[load.id])


def test_save_never_overwrites_and_embeds_the_workflow(executor, tmp_path):
    graph = Graph()
    solid = graph.add_node("image.Solid", {"width": 6, "height": 4, "batch": 2,
                                           "color": "#00ff00"})
    save = graph.add_node("image.Save", {"filename_prefix": "sub/shot"})
    graph.connect(solid.id, "image", save.id, "images")
    out = tmp_path / "out" / "sub"
    out.mkdir(parents=True)
    (out / "shot_00001.png").write_bytes(b"precious")
    first = executor.run(graph).files
    graph.set_param(solid.id, "color", "#0000ff")
    second = executor.run(graph).files
    names = [Path(p).name for p in first + second]
    assert names == ["shot_00002.png", "shot_00003.png", "shot_00004.png", "shot_00005.png"]
    assert (out / "shot_00001.png").read_bytes() == b"precious"
    with Image.open(second[0]) as png:
        assert np.asarray(png)[0, 0].tolist() == [0, 0, 255]
        embedded = json.loads(png.text["workflow"])
    assert embedded["nodes"][0]["params"]["color"] == "#0000ff"
    _, _, text = io.load_image(second[0])
    assert json.loads(text) == embedded


def test_save_refuses_prefix_outside_output_folder(executor):
    graph = Graph()
    solid = graph.add_node("image.Solid", {"width": 2, "height": 2})
    save = graph.add_node("image.Save", {"filename_prefix": "../escape"})
    graph.connect(solid.id, "image", save.id, "images")
    failure = executor.run(graph).failures[save.id]
    assert failure.field == "filename_prefix"


@pytest.mark.parametrize(
    ("prefix", "written"),
    [
        (".", "nodegraph_00001.png"),
        ("./", "nodegraph_00001.png"),
        (" . ", "nodegraph_00001.png"),
        ("", "nodegraph_00001.png"),
        ("shots/", "shots/nodegraph_00001.png"),
        ("./shots/./day", "shots/day_00001.png"),
    ],
)
def test_save_keeps_odd_prefixes_inside_the_output_folder(executor, tmp_path, prefix, written):
    graph = Graph()
    solid = graph.add_node("image.Solid", {"width": 2, "height": 2})
    save = graph.add_node("image.Save", {"filename_prefix": prefix})
    graph.connect(solid.id, "image", save.id, "images")
    result = executor.run(graph)
    assert not result.failures
    assert result.files == [str(tmp_path / "out" / written)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing beside it


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/urandom", "fifo"])
def test_load_image_refuses_devices_and_pipes_at_once(executor, tmp_path, special):
    import os

    if special == "fifo":
        special = str(tmp_path / "pipe.png")
        os.mkfifo(special)  # opening it for reading would wait for a writer forever
    graph = Graph()
    load = graph.add_node("image.Load", {"path": special}, title="Photo")
    preview = graph.add_node("image.Preview")
    graph.connect(load.id, "image", preview.id, "images")
    failure = executor.run(graph).failures[load.id]
    assert failure.field == "path"
    assert "not a regular file" in str(failure)


def test_images_that_cannot_be_saved_are_kept_elsewhere(registry, tmp_path, monkeypatch):
    import tempfile

    from nodegraph.executor import Executor

    blocked = tmp_path / "not_a_folder"
    blocked.write_text("a file where the output folder should be")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    graph = Graph()
    solid = graph.add_node("image.Solid", {"width": 3, "height": 2, "color": "#ff0000"})
    save = graph.add_node("image.Save", {"filename_prefix": "shot"}, title="Out")
    graph.connect(solid.id, "image", save.id, "images")
    failure = Executor(registry, output_dir=blocked).run(graph).failures[save.id]
    kept = tmp_path / "tmp" / "nodegraph-unsaved" / "shot_00001.png"
    assert str(failure) == (
        f"node Out (#2), param 'filename_prefix': cannot write into {blocked} (File exists); "
        f"the images were kept in {kept}"
    )
    with Image.open(kept) as png:
        assert png.size == (3, 2) and png.getpixel((0, 0)) == (255, 0, 0)


def test_load_image_turns_photos_by_their_exif_orientation(tmp_path):
    pixels = np.zeros((2, 4, 3), dtype=np.uint8)  # 4 wide, 2 high; red at the top left
    pixels[0, 0] = (255, 0, 0)
    photo = Image.fromarray(pixels)
    exif = photo.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    photo.save(tmp_path / "turned.jpg", exif=exif, quality=100, subsampling=0)
    rgb, mask, _ = io.load_image(str(tmp_path / "turned.jpg"))
    assert tuple(rgb.shape) == (1, 4, 2, 3) and mask.max() == 0
    assert rgb[0, 0, 1, 0] > 0.8 and rgb[0, 0, 0, 0] < 0.3  # red now at the top right
