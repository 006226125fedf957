"""The example workflows show what they say they show: checked on their pixels.

Each workflow is run once (module-wide executor, so the shapes64 checkpoint loads once)
with keep_values=True; node outputs are looked up by node title. The workflows are made
by tools/build_workflows.py.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from nodegraph.executor import Executor
from nodegraph.workflow import load
from nodegraph_app import default_registry

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    registry = default_registry()
    executor = Executor(registry, output_dir=tmp_path_factory.mktemp("outputs"),
                        base_dir=WORKFLOWS)
    done = {}

    def run_workflow(name):
        if name not in done:
            graph, problems = load(WORKFLOWS / f"{name}.json", registry)
            assert problems == [], problems
            result = executor.run(graph, keep_values=True)
            assert not result.failures, [str(f) for f in result.failures.values()]

            def value(title, output=0):
                outputs = result.values[graph.find_node(title).id]
                return outputs[output]

            done[name] = (value, result)
        return done[name]

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


def test_hires_fix_makes_a_128px_image(run):
    value, result = run("hires_fix")
    assert tuple(value("VAE decode (128px)").shape) == (1, 128, 128, 3)
    assert tuple(value("VAE decode (pass 1, 64px)").shape) == (1, 64, 64, 3)
    from PIL import Image

    sizes = {Path(f).name.rsplit("_", 1)[0]: Image.open(f).size for f in result.files}
    assert sizes["hires_fix"] == (128, 128)


def test_img2img_stays_closer_to_the_photo_at_lower_denoise(run):
    value, _ = run("img2img")
    photo = value("Resize to 64x64")[0]
    assert tuple(photo.shape) == (64, 64, 3)
    errors = [(value(f"VAE decode (denoise {d})")[0] - photo).pow(2).mean().item()
              for d in (0.3, 0.6, 0.9)]
    assert errors[0] < errors[2], errors
    assert errors == sorted(errors), errors


def test_lora_branches_are_more_purple_than_the_base(run):
    value, _ = run("lora")
    base, lora1, lora2 = (purpleness(value(f"VAE decode ({label})")[0])
                          for label in ("base", "LoRA 0.5", "LoRA 1"))
    assert base < lora1 < lora2, (base, lora1, lora2)


def test_cfg_scale_changes_the_image(run):
    value, _ = run("cfg_sweep")
    images = [value(f"VAE decode (CFG {s})")[0] for s in (1, 3, 5, 8)]
    diffs = [(images[0] - other).abs().mean().item() for other in images[1:]]
    assert diffs == sorted(diffs) and diffs[0] > 0.002, diffs
    strip = value("CFG strip: tile 4")[0]
    assert tuple(strip.shape) == (64, 256, 3)
    assert torch.equal(strip[:, 192:], images[3])


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
    assert 0.005 < (blended - big).abs().mean().item() < (value("Invert")[0] - big).abs().mean()


def test_deterministic_samplers_agree_and_ancestral_ones_differ(run):
    value, _ = run("sampler_comparison")
    images = {name: value(f"VAE decode ({name})")[0]
              for name in ("ddpm", "ddim", "euler_ancestral", "dpmpp_2m")}
    for name, image in images.items():
        assert red_pixels(image) > 60, f"{name}: no red circle"
    gap = {name: (images["ddim"] - image).abs().mean().item() for name, image in images.items()}
    assert gap["dpmpp_2m"] < min(gap["ddpm"], gap["euler_ancestral"]), gap


def test_negative_prompt_red_removes_red(run):
    value, _ = run("negative_prompt")
    plain, negative = value("VAE decode (no negative)"), value("VAE decode (negative: red)")
    red_plain = [red_pixels(image) > 60 for image in plain]
    red_negative = [red_pixels(image) > 60 for image in negative]
    assert sum(red_plain) >= 1, "no red circle to remove in this batch"
    assert sum(red_negative) == 0, red_negative
    grid = value("Without / with: tile 2")[0]
    assert tuple(grid.shape) == (128, 64 * len(plain), 3)
