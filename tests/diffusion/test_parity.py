"""Our graph equals diffusers' pipelines on the same tiny components (CPU, fp32)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from .conftest import MODEL, run_image, txt2img_graph

SAMPLERS = {
    "ddim": ("DDIMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_ancestral": ("EulerAncestralDiscreteScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++",
                                                 "solver_order": 2}),
}


@pytest.fixture(scope="module")
def pipeline(models_dir):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(
        models_dir / MODEL, safety_checker=None, requires_safety_checker=False,
        local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _with_scheduler(pipe, sampler: str):
    import diffusers

    name, overrides = SAMPLERS[sampler]
    base = dict(pipe.scheduler.config)
    pipe.scheduler = getattr(diffusers, name).from_config({**base, **overrides})
    return pipe


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_txt2img_matches_stable_diffusion_pipeline(executor, pipeline, sampler):
    base_scheduler = pipeline.scheduler
    graph, ids = txt2img_graph(sampler=sampler, steps=5, scale=6.0, seed=42,
                               prompt="a photo of an astronaut riding a horse",
                               negative="ugly blurry")
    ours, _ = run_image(executor, graph, ids)
    try:
        pipe = _with_scheduler(pipeline, sampler)
        ref = pipe("a photo of an astronaut riding a horse", negative_prompt="ugly blurry",
                   num_inference_steps=5, guidance_scale=6.0, height=64, width=64,
                   generator=torch.Generator("cpu").manual_seed(42), output_type="np").images
    finally:
        pipeline.scheduler = base_scheduler
    assert ours.shape == (1, 64, 64, 3)
    diff = np.abs(ours.numpy() - ref).max()
    print(f"{sampler}: diff {diff:.2e} std {ours.std():.3f}")
    assert diff <= 1e-4, f"{sampler}: max abs pixel difference {diff}"


def test_img2img_matches_img2img_pipeline(executor, pipeline):
    from diffusers import StableDiffusionImg2ImgPipeline

    from nodegraph.graph import Graph

    image = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(1))
    g = Graph()
    ck = g.add_node("loaders.Checkpoint", {"checkpoint": MODEL}).id
    enc = g.add_node("latent.VAEEncode", {}).id
    g.connect(ck, "vae", enc, "vae")
    pos = g.add_node("conditioning.TextEncode", {"text": "a red house"}).id
    neg = g.add_node("conditioning.TextEncode", {"text": ""}).id
    for n in (pos, neg):
        g.connect(ck, "clip", n, "clip")
    sched = g.add_node("sampling.Scheduler", {"sampler": "euler", "steps": 10,
                                              "denoise": 0.6}).id
    g.connect(ck, "model", sched, "model")
    guider = g.add_node("sampling.CFGGuider", {"scale": 5.0}).id
    g.connect(ck, "model", guider, "model")
    g.connect(pos, "conditioning", guider, "positive")
    g.connect(neg, "conditioning", guider, "negative")
    noise = g.add_node("sampling.Noise", {"seed": 7}).id
    smp = g.add_node("sampling.Sampler", {}).id
    g.connect(guider, "guider", smp, "guider")
    g.connect(sched, "scheduler", smp, "scheduler")
    g.connect(noise, "noise", smp, "noise")
    g.connect(enc, "latent", smp, "latent")
    dec = g.add_node("latent.VAEDecode", {}).id
    g.connect(ck, "vae", dec, "vae")
    g.connect(smp, "latent", dec, "latent")
    # the image arrives through a primitive-free path: feed it with a tiny helper node
    from nodegraph.registry import Output, Registry, node
    from nodegraph.types import IMAGE

    @node("test.Image", "Image", "test", outputs=[Output("image", IMAGE)])
    def _image() -> torch.Tensor:
        return image

    registry = Registry(list(executor.registry))
    registry.add(_image.__nodegraph_spec__)
    src = g.add_node("test.Image", {}).id
    g.connect(src, "image", enc, "image")
    from nodegraph.executor import Executor

    ex = Executor(registry, output_dir=executor.output_dir, device="cpu")
    result = ex.run(g, outputs=[dec], keep_values=True)
    assert not result.failures, {k: str(v) for k, v in result.failures.items()}
    ours = result.values[dec][0].numpy()
    init_latents = result.values[enc][0]["samples"]

    # our VAE encode is the posterior mean times the scaling factor
    vae = pipeline.vae
    with torch.no_grad():
        mean = vae.encode(image.movedim(-1, 1) * 2 - 1).latent_dist.mode()
    assert torch.allclose(init_latents, mean * vae.config.scaling_factor, atol=1e-6)

    from diffusers import EulerDiscreteScheduler

    pipe = StableDiffusionImg2ImgPipeline(**{**pipeline.components, "scheduler":
                                             EulerDiscreteScheduler.from_config(
                                                 pipeline.scheduler.config)})
    pipe.set_progress_bar_config(disable=True)
    ref = pipe("a red house", image=init_latents, strength=0.6, num_inference_steps=10,
               guidance_scale=5.0, negative_prompt="",
               generator=torch.Generator("cpu").manual_seed(7), output_type="np").images
    diff = np.abs(ours - ref).max()
    assert diff <= 1e-4, f"img2img: max abs pixel difference {diff}"


def test_a_model_like_the_shipped_default_loads_and_matches_the_pipeline(executor, models_dir):
    """3-block VAE (latent cell 4 px), 32-token text window, DDIM: through the ordinary
    loader, and equal to the pipeline."""
    from diffusers import StableDiffusionPipeline

    from .tiny import save_small_window_folder

    folder = models_dir / "small-window"
    if not folder.exists():
        save_small_window_folder(folder)
    prompt = " ".join(["a red house on the moon"] * 3)  # 18 words: fits in 32
    graph, ids = txt2img_graph(checkpoint="small-window", prompt=prompt, negative="ugly",
                               sampler="ddim", steps=4, scale=4.0, seed=3, width=32,
                               height=32)
    ours, result = run_image(executor, graph, ids)
    assert result.values[ids["latent"]][0]["samples"].shape == (1, 4, 8, 8)
    pipe = StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(prompt, negative_prompt="ugly", num_inference_steps=4, guidance_scale=4.0,
               height=32, width=32, generator=torch.Generator("cpu").manual_seed(3),
               output_type="np").images
    assert np.abs(ours.numpy() - ref).max() <= 1e-4
    # a width that is not a multiple of the 4-pixel latent cell names the param
    graph.set_param(ids["latent"], "width", 30)
    failed = executor.run(graph, outputs=[ids["decode"]]).failures[ids["latent"]]
    assert failed.field == "width" and "multiple of 4" in failed.message
