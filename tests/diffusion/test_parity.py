"""Our graph equals diffusers' pipelines on the same tiny components (CPU, fp32)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from .conftest import MODEL, run_image, txt2img_graph

# every sampler the Scheduler node offers, and the diffusers scheduler a diffusers user
# picks for that name (diffusers' documented A1111/k-diffusion equivalents); None: the
# model's own scheduler, as the pipeline loads it
SAMPLERS = {
    "ddpm": ("DDPMScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "pndm": ("PNDMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_ancestral": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "dpm_2": ("KDPM2DiscreteScheduler", {}),
    "dpm_2_ancestral": ("KDPM2AncestralDiscreteScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++",
                                                 "solver_order": 2}),
    "dpmpp_2m_sde": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++",
                                                     "solver_order": 2}),
    "unipc": ("UniPCMultistepScheduler", {}),
    "lcm": ("LCMScheduler", {}),
    "default": (None, {}),
}


def test_every_offered_sampler_is_compared_with_the_pipeline():
    from nodes.sampling import SAMPLERS as OFFERED

    assert set(OFFERED) == set(SAMPLERS)


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
    if name is not None:
        base = dict(pipe.scheduler.config)
        pipe.scheduler = getattr(diffusers, name).from_config({**base, **overrides})
    return pipe


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_txt2img_matches_stable_diffusion_pipeline(executor, pipeline, sampler):
    """Each sampler gives the image of StableDiffusionPipeline with the diffusers scheduler
    of that name (ancestral and SDE ones drawing from the same seed), and the choice
    matters: every one but ddim (the tiny model's own) differs from the default image."""
    base_scheduler = pipeline.scheduler
    graph, ids = txt2img_graph(sampler=sampler, steps=5, scale=6.0, seed=42,
                               prompt="a photo of an astronaut riding a horse",
                               negative="ugly blurry")
    ours, _ = run_image(executor, graph, ids)

    def reference(pipe):
        return pipe("a photo of an astronaut riding a horse", negative_prompt="ugly blurry",
                    num_inference_steps=5, guidance_scale=6.0, height=64, width=64,
                    generator=torch.Generator("cpu").manual_seed(42), output_type="np").images

    own = reference(pipeline)
    try:
        ref = reference(_with_scheduler(pipeline, sampler))
    finally:
        pipeline.scheduler = base_scheduler
    assert ours.shape == (1, 64, 64, 3)
    diff = np.abs(ours.numpy() - ref).max()
    apart = np.abs(ours.numpy() - own).max()
    print(f"{sampler}: diff {diff:.2e}, from the default scheduler's image {apart:.2e}")
    assert diff <= 1e-4, f"{sampler}: max abs pixel difference {diff}"
    assert (apart > 1e-3) == (sampler not in ("ddim", "default"))


def test_guidance_is_off_at_scale_1_or_below_and_without_a_negative_as_in_the_pipeline(
        executor, pipeline):
    """diffusers guides only above scale 1; an unlinked negative is its guidance 1, not its
    default empty negative prompt (the CFG guider's input says so in the editor)."""
    from nodegraph_app import default_registry

    prompt = "a photo of a cat"

    def ref(**kwargs):
        return pipeline(prompt, num_inference_steps=3, height=64, width=64, output_type="np",
                        generator=torch.Generator("cpu").manual_seed(31), **kwargs).images

    ours, _ = run_image(executor, *txt2img_graph(prompt=prompt, negative="blurry",
                                                 sampler="ddim", steps=3, scale=0.5, seed=31))
    low = np.abs(ours.numpy() - ref(negative_prompt="blurry", guidance_scale=0.5)).max()
    graph, ids = txt2img_graph(prompt=prompt, sampler="ddim", steps=3, scale=7.5, seed=31)
    graph.disconnect(next(k for k, v in graph.links.items()
                          if v.dst == ids["guider"] and v.dst_input == "negative"))
    unlinked, _ = run_image(executor, graph, ids)
    off = np.abs(unlinked.numpy() - ref(guidance_scale=1.0)).max()
    empty = np.abs(unlinked.numpy() - ref(guidance_scale=7.5)).max()
    print(f"scale 0.5: {low:.2e}; unlinked vs guidance 1: {off:.2e}, vs empty negative "
          f"{empty:.2e}")
    assert low <= 1e-4 and off <= 1e-4 and empty > 1e-3
    spec = default_registry(plugins=False)["sampling.CFGGuider"]
    negative = next(i for i in spec.inputs if i.name == "negative")
    assert "guidance_scale 1" in negative.description
    assert "empty negative prompt" in negative.description


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

    ex = Executor(registry, options=executor.options)
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


def _img2img_graph(posterior: str, seed: int, strength: float, sampler: str):
    from nodegraph.graph import Graph

    g = Graph()
    ids = {"ckpt": g.add_node("loaders.Checkpoint", {"checkpoint": MODEL}).id,
           "image": g.add_node("test.Image", {"key": "img2img"}).id,
           "noise": g.add_node("sampling.Noise", {"seed": seed}).id,
           "enc": g.add_node("latent.VAEEncode", {"posterior": posterior}).id,
           "pos": g.add_node("conditioning.TextEncode", {"text": "a red house"}).id,
           "neg": g.add_node("conditioning.TextEncode", {"text": "blurry"}).id,
           "sched": g.add_node("sampling.Scheduler", {"sampler": sampler, "steps": 10,
                                                     "denoise": strength}).id,
           "guider": g.add_node("sampling.CFGGuider", {"scale": 5.0}).id,
           "sampler": g.add_node("sampling.Sampler", {}).id}
    for src, out, dst, inp in (
            ("ckpt", "vae", "enc", "vae"), ("image", "image", "enc", "image"),
            ("noise", "noise", "enc", "noise"), ("ckpt", "clip", "pos", "clip"),
            ("ckpt", "clip", "neg", "clip"), ("ckpt", "model", "sched", "model"),
            ("ckpt", "model", "guider", "model"), ("pos", "conditioning", "guider", "positive"),
            ("neg", "conditioning", "guider", "negative"),
            ("guider", "guider", "sampler", "guider"),
            ("sched", "scheduler", "sampler", "scheduler"),
            ("noise", "noise", "sampler", "noise"), ("enc", "latent", "sampler", "latent")):
        g.connect(ids[src], out, ids[dst], inp)
    return g, ids


@pytest.mark.parametrize("sampler", ["euler", "euler_ancestral"])
def test_img2img_with_a_sampled_posterior_reproduces_the_pipelines_image(
        test_executor, pipeline, sampler):
    """VAE encode 'sample' + the same Noise on the Sampler = StableDiffusionImg2ImgPipeline
    given the image and that seed (its one generator draws the posterior sample, then the
    noise, then the ancestral noise). 'mean' (the default) is another image."""
    from diffusers import StableDiffusionImg2ImgPipeline

    from .conftest import TENSORS

    image = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(9))
    TENSORS["img2img"] = image
    graph, ids = _img2img_graph("sample", seed=12, strength=0.3, sampler=sampler)
    result = test_executor.run(graph, outputs=[ids["sampler"]], keep_values=True)
    assert not result.failures, {k: str(v) for k, v in result.failures.items()}
    ours = result.values[ids["sampler"]][0]["samples"]
    name, overrides = SAMPLERS[sampler]
    import diffusers

    scheduler = getattr(diffusers, name).from_config({**pipeline.scheduler.config, **overrides})
    pipe = StableDiffusionImg2ImgPipeline(**{**pipeline.components, "scheduler": scheduler})
    pipe.set_progress_bar_config(disable=True)
    ref = pipe("a red house", image=image.movedim(-1, 1), strength=0.3,
               num_inference_steps=10, guidance_scale=5.0, negative_prompt="blurry",
               generator=torch.Generator("cpu").manual_seed(12), output_type="latent").images
    diff = (ours - ref).abs().max().item()
    print(f"{sampler}: sampled posterior vs pipeline {diff:.2e}")
    assert diff <= 1e-4, f"img2img, sampled posterior: max abs latent difference {diff}"
    graph.set_param(ids["enc"], "posterior", "mean")
    mean = test_executor.run(graph, outputs=[ids["sampler"]], keep_values=True)
    mean_diff = (mean.values[ids["sampler"]][0]["samples"] - ref).abs().max().item()
    print(f"{sampler}: posterior mean vs pipeline {mean_diff:.2e}")
    assert mean_diff > 1e-2


def test_binary_noise_mask_reproduces_the_inpaint_pipeline_with_an_ordinary_model(
        test_executor, pipeline):
    """A 4-channel model: VAE encode 'sample' -> Set latent noise mask 'binary' -> Sampler
    with one Noise = StableDiffusionInpaintPipeline (mask binarised at 0.5, posterior
    sampled with the seed's generator). The default 'soft' blends a feathered edge instead."""
    from diffusers import StableDiffusionInpaintPipeline

    from .conftest import TENSORS

    image = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(4))
    ramp = torch.linspace(0, 1, 64)  # a feathered mask: 0 on the left, 1 on the right
    mask = ramp[None, None, :].expand(1, 64, 64).clone()
    TENSORS["img2img"], TENSORS["soft-mask"] = image, mask
    graph, ids = _img2img_graph("sample", seed=5, strength=1.0, sampler="ddim")
    ids["mask"] = graph.add_node("test.Mask", {"key": "soft-mask"}).id
    ids["setmask"] = graph.add_node("latent.SetNoiseMask", {"mode": "binary"}).id
    graph.connect(ids["enc"], "latent", ids["setmask"], "latent")
    graph.connect(ids["mask"], "mask", ids["setmask"], "mask")
    graph.connect(ids["setmask"], "latent", ids["sampler"], "latent")
    pipe = StableDiffusionInpaintPipeline(**pipeline.components)
    pipe.set_progress_bar_config(disable=True)
    ref = pipe("a red house", image=image.movedim(-1, 1), mask_image=mask[:, None],
               strength=1.0, num_inference_steps=10, guidance_scale=5.0,
               negative_prompt="blurry", height=64, width=64,
               generator=torch.Generator("cpu").manual_seed(5), output_type="latent").images

    def run(mode: str) -> torch.Tensor:
        graph.set_param(ids["setmask"], "mode", mode)
        result = test_executor.run(graph, outputs=[ids["sampler"]], keep_values=True)
        assert not result.failures, {k: str(v) for k, v in result.failures.items()}
        return result.values[ids["sampler"]][0]["samples"]

    binary, soft = (run("binary") - ref).abs().max().item(), (run("soft") - ref).abs().max().item()
    print(f"inpainting vs pipeline: binary {binary:.2e}, soft {soft:.2e}")
    assert binary <= 1e-4 < 1e-2 < soft


def test_sampling_the_posterior_without_a_noise_names_the_input(test_executor):
    from .conftest import TENSORS, failures

    TENSORS["img2img"] = torch.rand(1, 64, 64, 3)
    graph, ids = _img2img_graph("sample", seed=1, strength=0.5, sampler="euler")
    link = next(k for k, v in graph.links.items() if v.dst == ids["enc"] and
                v.dst_input == "noise")
    graph.disconnect(link)
    field, message = failures(test_executor.run(graph, outputs=[ids["sampler"]]))[ids["enc"]]
    assert field == "noise" and "link a Noise" in message


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


@pytest.fixture(scope="module")
def inpaint_folder(models_dir):
    """The tiny model with a 9-channel UNet (latent + mask + masked-image latents), as SD
    inpainting checkpoints have."""
    import shutil

    from diffusers import UNet2DConditionModel

    folder = models_dir / "tiny-inpaint"
    if not folder.exists():
        shutil.copytree(models_dir / MODEL, folder)
        config = dict(UNet2DConditionModel.load_config(folder / "unet"), in_channels=9)
        torch.manual_seed(5)
        UNet2DConditionModel.from_config(config).save_pretrained(folder / "unet")
    return folder


def _inpaint_graph(keep_unmasked: bool):
    from nodegraph.graph import Graph

    g = Graph()
    ck = g.add_node("loaders.Checkpoint", {"checkpoint": "tiny-inpaint"}).id
    img = g.add_node("test.Image", {"key": "inpaint-image"}).id
    msk = g.add_node("test.Mask", {"key": "inpaint-mask"}).id
    enc = g.add_node("latent.InpaintEncode", {"keep_unmasked": keep_unmasked}).id
    g.connect(ck, "vae", enc, "vae")
    g.connect(img, "image", enc, "image")
    g.connect(msk, "mask", enc, "mask")
    pos = g.add_node("conditioning.TextEncode", {"text": "a red house"}).id
    neg = g.add_node("conditioning.TextEncode", {"text": "blurry"}).id
    for n in (pos, neg):
        g.connect(ck, "clip", n, "clip")
    sched = g.add_node("sampling.Scheduler", {"sampler": "ddim", "steps": 4}).id
    g.connect(ck, "model", sched, "model")
    guider = g.add_node("sampling.CFGGuider", {"scale": 6.0}).id
    g.connect(ck, "model", guider, "model")
    g.connect(pos, "conditioning", guider, "positive")
    g.connect(neg, "conditioning", guider, "negative")
    noise = g.add_node("sampling.Noise", {"seed": 11}).id
    smp = g.add_node("sampling.Sampler", {}).id
    for src, out, dst in ((guider, "guider", "guider"), (sched, "scheduler", "scheduler"),
                          (noise, "noise", "noise"), (enc, "latent", "latent")):
        g.connect(src, out, smp, dst)
    return g, enc, smp


def test_inpainting_model_matches_the_inpaint_pipeline(test_executor, inpaint_folder):
    from diffusers import DDIMScheduler, StableDiffusionInpaintPipeline

    from .conftest import TENSORS

    image = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(2))
    mask = torch.zeros(1, 64, 64)
    mask[:, 16:48, 8:40] = 1.0
    TENSORS["inpaint-image"], TENSORS["inpaint-mask"] = image, mask
    graph, enc, smp = _inpaint_graph(keep_unmasked=False)
    result = test_executor.run(graph, outputs=[smp], keep_values=True)
    assert not result.failures, {k: str(v) for k, v in result.failures.items()}
    ours = result.values[smp][0]["samples"]
    concat = result.values[enc][0]["inpaint_concat"]
    assert concat.shape == (1, 5, 8, 8)
    assert torch.equal(concat[:, :1], torch.nn.functional.interpolate(mask[:, None], (8, 8)))

    pipe = StableDiffusionInpaintPipeline.from_pretrained(
        inpaint_folder, safety_checker=None, requires_safety_checker=False,
        local_files_only=True)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    # the pipeline would encode the masked image by sampling the VAE posterior; ours takes
    # its mean (as ComfyUI does), so hand it our masked-image latents
    ref = pipe("a red house", image=image.movedim(-1, 1), mask_image=mask[:, None],
               masked_image_latents=concat[:, 1:], negative_prompt="blurry", strength=1.0,
               num_inference_steps=4, guidance_scale=6.0, height=64, width=64,
               generator=torch.Generator("cpu").manual_seed(11), output_type="latent").images
    diff = (ours - ref).abs().max().item()
    assert diff <= 1e-4, f"inpainting model: max abs latent difference {diff}"

    # keep_unmasked: outside the mask the latent is the encoded original, exactly
    graph, enc, smp = _inpaint_graph(keep_unmasked=True)
    result = test_executor.run(graph, outputs=[smp], keep_values=True)
    kept = result.values[smp][0]["samples"]
    outside = torch.nn.functional.interpolate(mask[:, None], (8, 8)) == 0
    original = result.values[enc][0]["samples"]
    assert torch.equal(kept.masked_select(outside.expand_as(kept)),
                       original.masked_select(outside.expand_as(original)))


@pytest.mark.parametrize("sampler, strength", [("ddim", 1.0), ("euler_ancestral", 1.0),
                                               ("euler_ancestral", 0.6)])
def test_inpainting_model_with_sampled_posteriors_reproduces_the_inpaint_pipeline(
        test_executor, inpaint_folder, sampler, strength):
    """posterior 'sample': the Sampler draws the image (below strength 1) and the masked
    image from its seed where StableDiffusionInpaintPipeline's generator does, so the
    pipeline given only the image, the mask and the seed gives the same latents."""
    import diffusers
    from diffusers import StableDiffusionInpaintPipeline

    from .conftest import TENSORS

    image = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(12))
    mask = torch.zeros(1, 64, 64)
    mask[:, 8:40, 16:56] = 1.0
    TENSORS["inpaint-image"], TENSORS["inpaint-mask"] = image, mask
    graph, enc, smp = _inpaint_graph(keep_unmasked=False)
    graph.set_param(enc, "posterior", "sample")
    sched = next(n.id for n in graph.nodes.values() if n.type == "sampling.Scheduler")
    graph.set_param(sched, "sampler", sampler)
    graph.set_param(sched, "steps", 5)
    graph.set_param(sched, "denoise", strength)
    result = test_executor.run(graph, outputs=[smp], keep_values=True)
    assert not result.failures, {k: str(v) for k, v in result.failures.items()}
    ours = result.values[smp][0]["samples"]

    pipe = StableDiffusionInpaintPipeline.from_pretrained(
        inpaint_folder, safety_checker=None, requires_safety_checker=False,
        local_files_only=True)
    name, overrides = SAMPLERS[sampler]
    pipe.scheduler = getattr(diffusers, name).from_config({**pipe.scheduler.config,
                                                           **overrides})
    pipe.set_progress_bar_config(disable=True)
    ref = pipe("a red house", image=image.movedim(-1, 1), mask_image=mask[:, None],
               negative_prompt="blurry", strength=strength, num_inference_steps=5,
               guidance_scale=6.0, height=64, width=64,
               generator=torch.Generator("cpu").manual_seed(11), output_type="latent").images
    diff = (ours - ref).abs().max().item()
    graph.set_param(enc, "posterior", "mean")
    mean = test_executor.run(graph, outputs=[smp], keep_values=True).values[smp][0]["samples"]
    apart = (mean - ref).abs().max().item()
    print(f"{sampler} strength {strength}: sample {diff:.2e}, mean {apart:.2e}")
    assert diff <= 1e-4 < 1e-2 < apart


def test_inpainting_model_below_strength_1_decodes_like_the_same_latent_from_elsewhere(
        test_executor, inpaint_folder):
    """The latent of VAE encode (inpainting model) is contiguous, so the unmasked part,
    kept from it, decodes exactly as the same values from anywhere else do."""
    from .conftest import TENSORS, replay_from_a_contiguous_copy

    TENSORS["inpaint-image"] = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(3))
    mask = torch.zeros(1, 64, 64)
    mask[:, 8:40, 8:40] = 1.0
    TENSORS["inpaint-mask"] = mask
    graph, enc, smp = _inpaint_graph(keep_unmasked=True)
    sched = next(n.id for n in graph.nodes.values() if n.type == "sampling.Scheduler")
    graph.set_param(sched, "denoise", 0.6)
    ck = next(n.id for n in graph.nodes.values() if n.type == "loaders.Checkpoint")
    dec = graph.add_node("latent.VAEDecode", {}).id
    graph.connect(ck, "vae", dec, "vae")
    graph.connect(smp, "latent", dec, "latent")
    latent, encoded, replayed = replay_from_a_contiguous_copy(test_executor, graph, enc, dec)
    assert latent["samples"].is_contiguous() and latent["inpaint_concat"].is_contiguous()
    assert torch.equal(encoded, replayed)


def test_an_inpainting_single_file_loads_with_the_standard_config(test_executor,
                                                                  inpaint_folder):
    """sd-v1-5-inpainting-style files: the standard SD1.x config says 4 input channels;
    the file's UNet takes 9, and the loader follows the file."""
    import json

    from .tiny import save_single_file

    single = inpaint_folder.with_name("tiny-inpaint-single.safetensors")
    if not single.exists():
        save_single_file(inpaint_folder, single)
        config = single.with_name("tiny-inpaint-single.config") / "unet" / "config.json"
        config.write_text(json.dumps({**json.loads(config.read_text()), "in_channels": 4}))
    from .conftest import TENSORS

    TENSORS["inpaint-image"] = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(8))
    mask = torch.zeros(1, 64, 64)
    mask[:, 16:48, 16:48] = 1.0
    TENSORS["inpaint-mask"] = mask
    outputs = []
    for checkpoint in ("tiny-inpaint", single.name):
        graph, _enc, smp = _inpaint_graph(keep_unmasked=False)
        ck = next(n.id for n in graph.nodes.values() if n.type == "loaders.Checkpoint")
        graph.set_param(ck, "checkpoint", checkpoint)
        result = test_executor.run(graph, outputs=[smp], keep_values=True)
        assert not result.failures, {k: str(v) for k, v in result.failures.items()}
        outputs.append(result.values[smp][0]["samples"])
    assert torch.equal(*outputs)


def test_an_inpainting_model_refuses_a_plain_latent(test_executor, inpaint_folder):
    from .conftest import failures

    graph, ids = txt2img_graph(checkpoint="tiny-inpaint", steps=2)
    result = test_executor.run(graph, outputs=[ids["sampler"]])
    field, message = failures(result)[ids["sampler"]]
    assert field == "latent" and "VAE encode (inpainting model)" in message
    assert "takes 9 channels: 4 latent + 5 for inpainting" in message


def test_guidance_rescale_matches_the_pipeline(executor, pipeline):
    graph, ids = txt2img_graph(sampler="euler", steps=4, scale=7.0, seed=3,
                               prompt="a red house", negative="blurry")
    graph.set_param(ids["guider"], "guidance_rescale", 0.7)
    ours, _ = run_image(executor, graph, ids)
    base_scheduler = pipeline.scheduler
    try:
        pipe = _with_scheduler(pipeline, "euler")
        ref = pipe("a red house", negative_prompt="blurry", num_inference_steps=4,
                   guidance_scale=7.0, guidance_rescale=0.7, height=64, width=64,
                   generator=torch.Generator("cpu").manual_seed(3), output_type="np").images
        plain = pipe("a red house", negative_prompt="blurry", num_inference_steps=4,
                     guidance_scale=7.0, height=64, width=64,
                     generator=torch.Generator("cpu").manual_seed(3), output_type="np").images
    finally:
        pipeline.scheduler = base_scheduler
    assert np.abs(ours.numpy() - ref).max() <= 1e-4
    assert np.abs(ref - plain).max() > 1e-3  # the rescale changed the picture
