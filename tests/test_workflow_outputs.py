"""The example workflows show what they say they show: checked on their pixels.

Each workflow is run once per session (the `shipped_workflow` fixture of tests/conftest.py,
shared with tests/test_workflows.py) with keep_values=True; node outputs are looked up by
node title. The workflows are made by tools/build_workflows.py.
"""

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / "workflows"
sys.path.insert(0, str(ROOT / "tools"))
import build_workflows as built  # noqa: E402
import shapes_world  # noqa: E402

PALETTE = {**shapes_world.OBJECT_COLOURS, **shapes_world.BACKGROUND_COLOURS}


@pytest.fixture(scope="module")
def run(shipped_workflow):
    """``run(name) -> (value, result)``; ``value(title, output=0)`` is a node's output."""

    def run_workflow(name):
        graph, result = shipped_workflow(name)
        assert not result.failures, [str(f) for f in result.failures.values()]

        def value(title, output=0):
            return result.values[graph.find_node(title).id][output]

        return value, result

    return run_workflow


def object_pixels(image):
    """[H,W,3] pixels that differ clearly from the image's background (border median)."""
    border = torch.cat([image[0], image[-1], image[:, 0], image[:, -1]])
    background = border.median(0).values
    return image[(image - background).abs().sum(-1) > 0.3]


def purpleness(image):
    """Mean of (R + B) / 2 - G over the object pixels: purple is high, yellow low."""
    pixels = object_pixels(image)
    assert len(pixels) > 20, "no object drawn"
    return ((pixels[:, 0] + pixels[:, 2]) / 2 - pixels[:, 1]).mean().item()


def near(image, colour: str, tolerance: float = 0.2) -> np.ndarray:
    """[H,W] bool: pixels within ``tolerance`` (RGB distance, 0..1 scale) of a palette
    colour of the shapes world."""
    target = torch.tensor(PALETTE[colour], dtype=torch.float32) / 255
    return ((image - target).norm(dim=-1) < tolerance).numpy()


def blobs(mask: np.ndarray, min_area: int = 6) -> list[tuple[int, int, int, int, int]]:
    """Connected regions of a bool mask: (area, x, y, width, height), small specks left out."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    return [(s[4], s[0], s[1], s[2], s[3]) for s in stats[1:count] if s[4] >= min_area]


def off_palette(image, tolerance: float = 0.2) -> float:
    """Share of pixels farther than ``tolerance`` from every palette colour."""
    return float(np.mean(~np.any([near(image, c, tolerance) for c in PALETTE], axis=0)))


def background(image) -> torch.Tensor:
    border = torch.cat([image[0], image[-1], image[:, 0], image[:, -1]])
    return border.median(0).values


def red_pixels(image) -> int:
    """Pixels of the shapes world's red (255, 40, 40)-ish."""
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    return int(((r > 0.6) & (g < 0.4) & (b < 0.4)).sum())


def test_forward_process_gets_noisier_with_t(run):
    value, _ = run("forward_process")
    images = [value(f"VAE decode t={t}")[0] for t in (0, 250, 500, 750, 999)]
    scene = value("Scene")[0]
    assert (images[0] - scene).abs().mean() < 0.05, "t=0 is the scene (up to the VAE)"
    spread = [(image - images[0]).std().item() for image in images[1:]]
    assert spread == sorted(spread) and spread[0] > 0.01, spread


def test_inpainting_keeps_everything_outside_the_mask(run):
    value, _ = run("inpainting")
    mask = value("Mask from image")[0]  # [64, 64], 1 = repaint
    original = value("VAE encode")["samples"]
    sampled = value("Sampler")["samples"]
    keep = torch.nn.functional.max_pool2d(mask[None, None], 4)[0, 0] < 0.5  # latent cells
    assert keep.any() and not keep.all()
    assert torch.equal(sampled[..., keep], original[..., keep]), "latent kept exactly"
    assert (sampled[..., ~keep] - original[..., ~keep]).abs().mean() > 0.1, "mask repainted"

    start, result = value("VAE round trip (no sampling)")[0], value("VAE decode")[0]
    # away from the mask and the image border; the VAE decoder's attention lets a
    # repainted region shift far pixels a little, so compare means, not each pixel
    far = torch.nn.functional.max_pool2d(mask[None, None], 9, stride=1, padding=4)[0, 0] < 0.5
    far[:4], far[-4:], far[:, :4], far[:, -4:] = False, False, False, False
    kept = (result - start).abs()[far].mean().item()
    changed = (result - start).abs()[mask > 0.5].mean().item()
    assert kept < 0.05, kept
    assert changed > 4 * kept, (changed, kept)
    assert red_pixels(result[mask > 0.5]) > 60, "the prompt's red circle is not in the mask"

    pasted, photo = value("Paste back into the start image")[0], value("Start image")[0]
    feathered = value("Feather mask")[0]
    assert torch.equal(pasted[feathered == 0], photo[feathered == 0])
    assert torch.allclose(pasted[feathered == 1], result[feathered == 1])


def edge_share(image) -> float:
    """Share of pixels between the background and the object colour (border median and
    median of the rest): the soft edge of a flat shape; less is crisper."""
    bg = background(image)
    far_from_bg = (image - bg).abs().sum(-1)
    obj = image[far_from_bg > 0.3].median(0).values
    return ((far_from_bg > 0.15) & ((image - obj).abs().sum(-1) > 0.15)).float().mean().item()


def object_mask(image) -> torch.Tensor:
    return (image - background(image)).abs().sum(-1) > 0.3


def iou(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a & b).sum() / (a | b).sum()).item()


def test_inpainting_draws_the_whole_circle_inside_the_mask(run):
    value, _ = run("inpainting")
    pasted = value("Paste back into the start image")[0]
    x, y, w, h = built.MASK_BOX
    circles = blobs(near(pasted, "red"))
    assert len(circles) == 1, circles
    _, cx, cy, cw, ch = circles[0]
    assert abs(cw - ch) <= 2 and cw >= 18, "round, not cut off by the mask"
    assert x < cx and cx + cw < min(x + w, 64) and y < cy and cy + ch < y + h


def test_hires_fix_sharpens_and_the_latent_pass_breaks_the_star(run):
    value, result = run("hires_fix")
    plain = value("Pass 1 upscaled x2 (lanczos)")[0]
    hires = value("VAE decode (128px)")[0]
    classic = value("VAE decode (latent upscale, denoise 0.5)")[0]
    assert tuple(value("VAE decode (pass 1, 64px)").shape) == (1, 64, 64, 3)
    assert plain.shape == hires.shape == classic.shape == (128, 128, 3)
    # the hires fix: the same star with crisper edges than the plain upscale
    assert iou(object_mask(hires), object_mask(plain)) > 0.85
    assert edge_share(hires) < 0.7 * edge_share(plain), (edge_share(hires), edge_share(plain))
    assert len(blobs(near(hires, "yellow"))) == 1
    # the classic latent pass at denoise 0.5: no longer the star of pass 1
    assert iou(object_mask(classic), object_mask(plain)) < 0.6
    from PIL import Image

    sizes = {Path(f).name.rsplit("_", 1)[0]: Image.open(f).size for f in result.files}
    assert sizes["hires_fix"] == (128, 128) and sizes["hires_fix_strip"] == (384, 128)


def test_img2img_turns_the_sketch_into_clean_shapes(run):
    value, _ = run("img2img")
    sketch = value("Sketch")[0]
    assert tuple(sketch.shape) == (64, 64, 3)
    round_trip = value("VAE round trip (denoise 0)")[0]
    images = [value(f"VAE decode (denoise {d})")[0] for d in built.IMG2IMG_DENOISE]
    # the VAE keeps the sketch's shapes, colours and layout (not its grain): close to it
    assert (round_trip - sketch).abs().mean() < 0.07
    # the higher the strength, the farther from the sketch and the flatter the colours
    away = [(image - sketch).abs().mean().item() for image in images]
    assert away == sorted(away), away
    rough = [off_palette(image) for image in [round_trip, *images]]
    assert rough[0] > rough[1] > rough[2] > max(rough[3:]), rough
    assert max(rough[3:]) < 0.6 * rough[0], rough
    # at the highest strength: the prompt's clean shapes where the sketch put them
    orange, blue = blobs(near(images[-1], "orange")), blobs(near(images[-1], "blue"))
    assert len(orange) == 1 and orange[0][1] + orange[0][3] < 34, orange
    assert len(blue) == 1 and blue[0][1] > 34 and blue[0][2] + blue[0][4] < 30, blue


def test_lora_turns_the_square_purple_at_strength_1(run):
    value, _ = run("lora")
    base, half, full = (
        value(f"VAE decode ({label})")[0] for label in ("base", "LoRA 0.5", "LoRA 1")
    )
    assert purpleness(base) < purpleness(half) < purpleness(full)
    for image, colour in ((base, "yellow"), (half, "yellow"), (full, "purple")):
        found = blobs(near(image, colour))
        assert len(found) == 1 and found[0][0] > 150, (colour, found)
    assert near(full, "yellow").sum() == 0


def follows_two_object_prompt(image) -> bool:
    """built.TWO_OBJECTS drawn as asked: a beige background, one green region in the top
    left cell and one orange region (the ring) in the bottom right cell, nothing else."""
    green, orange = blobs(near(image, "green")), blobs(near(image, "orange"))
    if (background(image) - torch.tensor(PALETTE["beige"]) / 255).norm() > 0.1:
        return False
    return (
        len(green) == 1
        and len(orange) == 1
        and green[0][1] + green[0][3] <= 26
        and green[0][2] + green[0][4] <= 26
        and orange[0][1] >= 36
        and orange[0][2] >= 36
    )


def test_cfg_sweep_goes_from_ignoring_the_prompt_to_breaking_up(run):
    value, _ = run("cfg_sweep")
    images = {s: value(f"VAE decode (CFG {s})")[0] for s in built.CFG_SCALES}
    images[0] = value("VAE decode (no prompt)")[0]  # the unconditional prediction
    assert [follows_two_object_prompt(images[s]) for s in (0, *built.CFG_SCALES)] == [
        False,
        False,
        True,
        True,
        False,
    ]
    assert near(images[0], "orange").sum() < 20, "no prompt: no orange ring"
    assert background(images[0]).std() < 0.02, "... and the beige background: a gray one"
    assert len(blobs(near(images[1], "orange"))) == 2, "CFG 1: a second ring on this seed"
    # CFG 25 overshoots: the ring loses its orange, off-palette specks everywhere
    speckle = {s: off_palette(images[s]) for s in built.CFG_SCALES}
    assert speckle[25] > 3 * max(speckle[3], speckle[8]), speckle
    assert near(images[25], "orange").sum() < 20
    strip = value("CFG strip: tile 5")[0]
    assert tuple(strip.shape) == (64, 64 * (1 + len(built.CFG_SCALES)), 3)
    assert torch.equal(strip[:, 256:], images[25])


def _grid_tiles(value, variants: tuple[str, ...], steps: tuple[int, ...]) -> dict:
    return {(v, n): value(f"VAE decode ({v}, {n} steps)")[0] for n in steps for v in variants}


def test_samplers_differ_at_few_steps_and_agree_at_many(run):
    value, _ = run("sampler_comparison")
    names = ("ddpm", "ddim", "euler_ancestral", "dpmpp_2m")
    tiles = _grid_tiles(value, names, built.SAMPLER_STEPS)
    few, many = built.SAMPLER_STEPS

    def gap(a, b, n):
        return (tiles[a, n] - tiles[b, n]).abs().mean().item()

    # 20 steps: all four draw the prompt and nearly the same picture
    assert all(follows_two_object_prompt(tiles[v, many]) for v in names)
    assert max(gap("ddim", v, many) for v in names) < 0.02
    # 4 steps: ddim still draws the prompt; the others visibly do not agree with it
    assert follows_two_object_prompt(tiles["ddim", few])
    for v in ("ddpm", "euler_ancestral", "dpmpp_2m"):
        assert gap("ddim", v, few) > 2 * gap("ddim", v, many), v
        assert gap("ddim", v, few) > 0.025, v
    # ancestral ones: pale background; dpmpp_2m: the colours drift (a blue triangle)
    beige = torch.tensor(PALETTE["beige"]) / 255
    for v in ("ddpm", "euler_ancestral"):
        assert (background(tiles[v, few]) - beige).norm() > 0.04, v
    assert near(tiles["dpmpp_2m", few], "blue").sum() > 15
    assert near(tiles["dpmpp_2m", few], "green").sum() < 5
    grid = value("Sampler grid: tile 8")[0]
    assert tuple(grid.shape) == (128, 256, 3)
    assert torch.equal(grid[64:, 192:], tiles["dpmpp_2m", many])


def test_a_wrong_schedule_drifts_at_few_steps(run):
    value, _ = run("noise_schedule")
    names = ("model default", "linear", "cosine")
    tiles = _grid_tiles(value, names, built.SCHEDULE_STEPS)
    few, many = built.SCHEDULE_STEPS
    beige = torch.tensor(PALETTE["beige"]) / 255
    # 5 steps on linear: the background washes out towards white
    assert (background(tiles["linear", few]) - beige).norm() > 0.04
    assert (background(tiles["model default", few]) - beige).norm() < 0.05
    drift = {
        (v, n): (tiles[v, n] - tiles["model default", n]).abs().mean().item()
        for v in names[1:]
        for n in built.SCHEDULE_STEPS
    }
    assert drift["linear", few] > 2 * drift["cosine", few], drift
    assert drift["linear", few] > 2 * drift["linear", many], drift
    assert all(follows_two_object_prompt(tiles[v, many]) for v in names)


def test_unrolled_x0_predictions_converge_to_the_final_image(run):
    value, _ = run("unrolled_reverse")
    final = value("x_t after step 5")[0]
    x0 = [value(f"x0 predicted at step {k}")[0] for k in range(6)]
    distance = [(x - final).abs().mean().item() for x in x0]
    assert distance[-1] < 0.01, distance
    assert distance[0] > 5 * distance[3], distance
    grid = value("Steps grid: tile 12")[0]
    assert tuple(grid.shape) == (128, 384, 3)
    assert torch.equal(grid[64:, 320:], x0[5]) and torch.equal(grid[:64, 320:], final)


def test_restore_removes_noise_from_the_photo(run):
    value, _ = run("upscale_restore")
    from PIL import Image

    clean = np.asarray(Image.open(WORKFLOWS / "assets" / "astronaut.png").convert("RGB"))
    clean = torch.from_numpy(clean.astype(np.float32) / 255)
    noisy, restored = value("Noisy photo (sigma 25)")[0], value("Denoise (non-local means)")[0]
    noisy_error = (noisy - clean).pow(2).mean().item()
    assert 0.005 < noisy_error < 0.015, "sigma 25/255 noise: mse about 0.0096"
    assert (restored - clean).pow(2).mean().item() < noisy_error / 2

    photo = value("Photo")[0]
    lanczos, nearest = value("Upscale x4 (lanczos)")[0], value("Upscale x4 (nearest)")[0]
    assert lanczos.shape == photo.shape
    assert (lanczos - photo).abs().mean() < (nearest - photo).abs().mean()


def test_photo_ops_scales_inverts_and_blends_the_photo(run):
    value, _ = run("photo_ops")
    photo, big = value("Photo")[0], value("Upscale 2x")[0]
    assert tuple(big.shape) == (photo.shape[0] * 2, photo.shape[1] * 2, 3)
    assert torch.allclose(value("Invert")[0], 1 - big)
    blended = value("Soft light")[0]
    assert blended.shape == big.shape
    # soft light with its own negative: the contrast visibly flattens
    grey, flat = big.mean(-1), blended.mean(-1)
    assert flat.std() < 0.9 * grey.std(), (flat.std(), grey.std())
    dark, bright = grey < 0.25, grey > 0.75
    assert flat[dark].mean() > grey[dark].mean() + 0.04, "shadows lift"
    assert flat[bright].mean() < grey[bright].mean() - 0.04, "highlights dim"


def test_negative_prompt_red_removes_red(run):
    value, _ = run("negative_prompt")
    plain, negative = value("VAE decode (no negative)"), value("VAE decode (negative: red)")
    red_plain = [red_pixels(image) > 60 for image in plain]
    red_negative = [red_pixels(image) > 60 for image in negative]
    assert sum(red_plain) >= 1, "no red circle to remove in this batch"
    assert sum(red_negative) == 0, red_negative
    grid = value("Without / with: tile 2")[0]
    assert tuple(grid.shape) == (128, 64 * len(plain), 3)
