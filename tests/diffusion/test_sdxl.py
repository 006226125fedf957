"""SDXL: two text encoders (penultimate hidden states joined, pooled embedding) and the
text_time conditioning; our graph equals StableDiffusionXLPipeline on tiny components."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from .conftest import run_image, txt2img_graph
from .tiny import write_tokenizer

SDXL = "tiny-sdxl"


@pytest.fixture(scope="module")
def sdxl_folder(models_dir):
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    folder = models_dir / SDXL
    if (folder / "model_index.json").exists():
        return folder
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=8, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
        use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=80, cross_attention_dim=64, norm_num_groups=32)
    vae = AutoencoderKL(
        block_out_channels=(8, 16, 16, 16), in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4, norm_num_groups=8, layers_per_block=1, sample_size=64,
        scaling_factor=0.13025)
    config = dict(bos_token_id=0, eos_token_id=2, hidden_size=32, intermediate_size=37,
                  layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2,
                  pad_token_id=1, vocab_size=1000, hidden_act="gelu", projection_dim=32,
                  max_position_embeddings=77)
    text = CLIPTextModel(CLIPTextConfig(**config))
    text_2 = CLIPTextModelWithProjection(CLIPTextConfig(**config))
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012,
                                       beta_schedule="scaled_linear", steps_offset=1,
                                       timestep_spacing="leading")
    for name, part in (("unet", unet), ("vae", vae), ("text_encoder", text),
                       ("text_encoder_2", text_2), ("scheduler", scheduler)):
        part.save_pretrained(folder / name)
    write_tokenizer(folder / "tokenizer")
    write_tokenizer(folder / "tokenizer_2")
    index = {"_class_name": "StableDiffusionXLPipeline", "_diffusers_version": "0.42.1",
             "unet": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL"],
             "text_encoder": ["transformers", "CLIPTextModel"],
             "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
             "tokenizer": ["transformers", "CLIPTokenizer"],
             "tokenizer_2": ["transformers", "CLIPTokenizer"],
             "scheduler": ["diffusers", "EulerDiscreteScheduler"],
             "force_zeros_for_empty_prompt": True}
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


def test_sdxl_txt2img_matches_the_sdxl_pipeline(executor, sdxl_folder):
    from diffusers import StableDiffusionXLPipeline

    ours, _ = run_image(executor, *txt2img_graph(
        checkpoint=SDXL, prompt="a castle on the moon", negative="blurry", steps=4,
        scale=5.0, seed=21))
    pipe = StableDiffusionXLPipeline.from_pretrained(sdxl_folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    ref = pipe("a castle on the moon", negative_prompt="blurry", num_inference_steps=4,
               guidance_scale=5.0, height=64, width=64, output_type="np",
               generator=torch.Generator("cpu").manual_seed(21)).images
    diff = np.abs(ours.numpy() - ref).max()
    assert diff <= 1e-4, f"SDXL: max abs pixel difference {diff}"


def test_sdxl_single_file_gives_the_image_of_its_folder(executor, sdxl_folder):
    """SGM layout: conditioner.embedders.0.transformer.text_model.* (CLIP, position_ids
    included) and conditioner.embedders.1.model.* (OpenCLIP with text_projection)."""
    from nodes.loaders import load_checkpoint

    from .tiny import save_single_file

    single = sdxl_folder.with_name("tiny-sdxl-single.safetensors")
    if not single.exists():
        save_single_file(sdxl_folder, single, arch="sdxl")
    assert load_checkpoint(single).kind == "sdxl"
    kwargs = dict(prompt="a castle on the moon", negative="blurry", steps=3, scale=5.0,
                  seed=23)
    folder_image, _ = run_image(executor, *txt2img_graph(checkpoint=SDXL, **kwargs))
    single_image, _ = run_image(executor, *txt2img_graph(checkpoint=single.name, **kwargs))
    assert torch.equal(folder_image, single_image)


def test_sdxl_clip_skip_matches_the_sdxl_pipeline(sdxl_folder):
    from diffusers import StableDiffusionXLPipeline

    from nodes.conditioning import clip_set_last_layer, encode_prompt
    from nodes.handles import ClipHandle
    from nodes.loaders import load_checkpoint

    pipe = StableDiffusionXLPipeline.from_pretrained(sdxl_folder, local_files_only=True)
    clip = ClipHandle(load_checkpoint(sdxl_folder))
    prompt = "a castle at dusk"
    ours = encode_prompt(clip_set_last_layer(clip, -2), prompt, torch.device("cpu"))
    plain = encode_prompt(clip, prompt, torch.device("cpu"))
    with torch.no_grad():
        embeds, _, pooled, _ = pipe.encode_prompt(prompt, device="cpu",
                                                  do_classifier_free_guidance=False,
                                                  clip_skip=1)
    assert torch.equal(ours.embeds, embeds.float())
    assert torch.equal(ours.pooled, pooled.float()) and torch.equal(ours.pooled, plain.pooled)
    assert not torch.allclose(ours.embeds, plain.embeds)


def test_zeroed_negative_matches_the_sdxl_pipeline_without_negative_prompt(executor,
                                                                          sdxl_folder):
    """force_zeros_for_empty_prompt: diffusers' SDXL pipeline with no negative prompt uses
    zeros; Conditioning zero out on the negative gives the same image."""
    from diffusers import StableDiffusionXLPipeline

    graph, ids = txt2img_graph(checkpoint=SDXL, prompt="a castle on the moon", negative="",
                               steps=4, scale=5.0, seed=22)
    zero = graph.add_node("conditioning.ZeroOut", {}).id
    graph.connect(ids["neg"], "conditioning", zero, "conditioning")
    graph.connect(zero, "conditioning", ids["guider"], "negative")
    ours, _ = run_image(executor, graph, ids)
    pipe = StableDiffusionXLPipeline.from_pretrained(sdxl_folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    kwargs = dict(num_inference_steps=4, guidance_scale=5.0, height=64, width=64,
                  output_type="np", generator=torch.Generator("cpu").manual_seed(22))
    ref = pipe("a castle on the moon", **kwargs).images
    assert np.abs(ours.numpy() - ref).max() <= 1e-4
    kwargs["generator"] = torch.Generator("cpu").manual_seed(22)
    encoded_empty = pipe("a castle on the moon", negative_prompt="", **kwargs).images
    assert np.abs(encoded_empty - ref).max() > 1e-3  # zeros are not the encoded ""
