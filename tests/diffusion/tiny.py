"""Tiny random-weight Stable Diffusion components, built locally (no hub), and a
writer for an original-format (LDM) single-file checkpoint of them."""

from __future__ import annotations

import json
from pathlib import Path

import torch

WORDS = ["a", "photo", "of", "an", "astronaut", "cat", "dog", "red", "blue", "green", "house",
         "tree", "riding", "horse", "on", "the", "moon", "painting", "ugly", "blurry",
         "sky", "sea", "castle", "forest", "city", "night"]


def write_tokenizer(folder: Path, max_length: int = 77) -> None:
    """A small CLIP BPE vocabulary: every byte symbol (for unknown text) plus whole
    words, and the merges that build them."""
    from nodes.clip_tokenizer import _bytes_to_unicode as bytes_to_unicode

    folder.mkdir(parents=True, exist_ok=True)
    symbols = list(bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for s in symbols:
        vocab.setdefault(s, len(vocab))
    for s in symbols:
        vocab.setdefault(s + "</w>", len(vocab))
    merges: list[str] = []
    for word in WORDS:
        parts = [*list(word[:-1]), word[-1] + "</w>"]
        while len(parts) > 1:
            merged = parts[0] + parts[1]
            merge = f"{parts[0]} {parts[1]}"
            if merge not in merges:
                merges.append(merge)
            vocab.setdefault(merged, len(vocab))
            parts = [merged, *parts[2:]]
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    config = {"tokenizer_class": "CLIPTokenizer", "model_max_length": max_length,
              "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
              "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))


def build_components(seed: int = 0):
    """UNet (block_out_channels (32, 64)), a 4-block VAE (scale factor 8), a 2-layer CLIP
    text encoder and a locally built tokenizer, with random weights."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=8, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
        attention_head_dim=8, norm_num_groups=32)
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(
        block_out_channels=(8, 16, 16, 16), in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4, norm_num_groups=8, layers_per_block=1, sample_size=64)
    torch.manual_seed(seed + 2)
    text_config = CLIPTextConfig(
        bos_token_id=0, eos_token_id=2, hidden_size=32, intermediate_size=37,
        layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2, pad_token_id=1,
        vocab_size=1000, hidden_act="quick_gelu", projection_dim=32,
        max_position_embeddings=77)
    text_encoder = CLIPTextModel(text_config)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    return unet.eval(), vae.eval(), text_encoder.eval(), scheduler, CLIPTokenizer


def save_diffusers_folder(folder: Path, seed: int = 0) -> None:
    """Write a standard diffusers folder (model_index.json and one folder per part)."""
    unet, vae, text_encoder, scheduler, _ = build_components(seed)
    folder.mkdir(parents=True, exist_ok=True)
    unet.save_pretrained(folder / "unet")
    vae.save_pretrained(folder / "vae")
    text_encoder.save_pretrained(folder / "text_encoder")
    scheduler.save_pretrained(folder / "scheduler")
    write_tokenizer(folder / "tokenizer")
    index = {
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.42.1",
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "DDIMScheduler"],
        "safety_checker": [None, None], "feature_extractor": [None, None],
        "requires_safety_checker": False,
    }
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))


def save_small_window_folder(folder: Path) -> None:
    """Like the shipped default model: a 3-block VAE (scale factor 4, scaling factor 1),
    a text encoder with a 32-token window and real BOS/EOS ids, a DDIM 'leading' schedule."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    write_tokenizer(folder / "tokenizer", max_length=32)
    tokenizer = CLIPTokenizer.from_pretrained(str(folder / "tokenizer"))
    torch.manual_seed(5)
    UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=8, in_channels=4,
        out_channels=4, down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
        attention_head_dim=8, norm_num_groups=32).save_pretrained(folder / "unet")
    AutoencoderKL(
        block_out_channels=(8, 16, 16), in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
        latent_channels=4, norm_num_groups=8, layers_per_block=1, sample_size=32,
        scaling_factor=1.0).save_pretrained(folder / "vae")
    CLIPTextModel(CLIPTextConfig(
        hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        vocab_size=len(tokenizer), max_position_embeddings=32,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id, projection_dim=32)).save_pretrained(
        folder / "text_encoder")
    DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                  clip_sample=False, set_alpha_to_one=False, steps_offset=1,
                  timestep_spacing="leading").save_pretrained(folder / "scheduler")
    index = json.loads(json.dumps({
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.42.1",
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "DDIMScheduler"],
        "safety_checker": [None, None], "feature_extractor": [None, None],
        "requires_safety_checker": False}))
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))


# -- diffusers -> original (LDM) key layout, the inverse of diffusers' single-file loader --
def _unet_to_ldm(state: dict, config) -> dict:
    res_names = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"),
                 ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"),
                 ("conv_shortcut", "skip_connection")]
    top = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
           "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}
    layers = config.layers_per_block
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        new = None
        for ours, ldm in top.items():
            if key.startswith(ours + "."):
                new = ldm + key[len(ours):]
        if parts[0] == "down_blocks":
            i = int(parts[1])
            if parts[2] == "downsamplers":
                new = f"input_blocks.{(i + 1) * (layers + 1)}.0.op." + ".".join(parts[5:])
            else:
                j = int(parts[3])
                sub = "0" if parts[2] == "resnets" else "1"
                new = f"input_blocks.{1 + i * (layers + 1) + j}.{sub}." + ".".join(parts[4:])
        elif parts[0] == "up_blocks":
            i = int(parts[1])
            if parts[2] == "upsamplers":
                has_attn = any(k.startswith(f"up_blocks.{i}.attentions.") for k in state)
                new = (f"output_blocks.{i * (layers + 1) + layers}.{2 if has_attn else 1}."
                       + ".".join(parts[4:]))
            else:
                j = int(parts[3])
                sub = "0" if parts[2] == "resnets" else "1"
                new = f"output_blocks.{i * (layers + 1) + j}.{sub}." + ".".join(parts[4:])
        elif parts[0] == "mid_block":
            j = int(parts[2])
            index = 2 * j if parts[1] == "resnets" else 1
            new = f"middle_block.{index}." + ".".join(parts[3:])
        if new is None:
            raise KeyError(key)
        if parts[0] in ("down_blocks", "up_blocks", "mid_block") and "resnets" in parts:
            for ours, ldm in res_names:
                new = new.replace(f".{ours}.", f".{ldm}.")
        out["model.diffusion_model." + new] = value
    return out


def _vae_to_ldm(state: dict, config) -> dict:
    n = len(config.block_out_channels)
    out = {}
    for key, value in state.items():
        new = key
        parts = key.split(".")
        if parts[0] in ("encoder", "decoder") and parts[1] in ("down_blocks", "up_blocks"):
            i = int(parts[2])
            if parts[1] == "down_blocks":
                if parts[3] == "resnets":
                    new = f"encoder.down.{i}.block.{parts[4]}." + ".".join(parts[5:])
                else:
                    new = f"encoder.down.{i}.downsample." + ".".join(parts[5:])
            else:
                block = n - 1 - i
                if parts[3] == "resnets":
                    new = f"decoder.up.{block}.block.{parts[4]}." + ".".join(parts[5:])
                else:
                    new = f"decoder.up.{block}.upsample." + ".".join(parts[5:])
        elif parts[0] in ("encoder", "decoder") and parts[1] == "mid_block":
            if parts[2] == "resnets":
                new = f"{parts[0]}.mid.block_{int(parts[3]) + 1}." + ".".join(parts[4:])
            else:
                rest = ".".join(parts[4:])
                rest = {"group_norm.weight": "norm.weight", "group_norm.bias": "norm.bias",
                        "to_q.weight": "q.weight", "to_q.bias": "q.bias",
                        "to_k.weight": "k.weight", "to_k.bias": "k.bias",
                        "to_v.weight": "v.weight", "to_v.bias": "v.bias",
                        "to_out.0.weight": "proj_out.weight",
                        "to_out.0.bias": "proj_out.bias"}[rest]
                if rest.endswith("weight") and value.ndim == 2:
                    value = value[:, :, None, None]
                new = f"{parts[0]}.mid.attn_1.{rest}"
        elif parts[1:2] == ["conv_norm_out"]:
            new = f"{parts[0]}.norm_out." + ".".join(parts[2:])
        new = new.replace("conv_shortcut", "nin_shortcut")
        out["first_stage_model." + new] = value
    return out


def save_single_file(folder: Path, target: Path) -> None:
    """Write the diffusers model in ``folder`` as one original-format .safetensors file,
    with a ``<name>.config`` folder of its (non-standard, tiny) configs beside it."""
    import shutil

    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextModel

    unet = UNet2DConditionModel.from_pretrained(folder / "unet")
    vae = AutoencoderKL.from_pretrained(folder / "vae")
    text = CLIPTextModel.from_pretrained(folder / "text_encoder")
    state = {}
    state.update(_unet_to_ldm(unet.state_dict(), unet.config))
    state.update(_vae_to_ldm(vae.state_dict(), vae.config))
    for key, value in text.state_dict().items():
        state["cond_stage_model.transformer." + key] = value
    save_file({k: v.contiguous() for k, v in state.items()}, str(target))
    sidecar = target.with_name(target.stem + ".config")
    for part in ("unet", "vae", "text_encoder"):
        (sidecar / part).mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / part / "config.json", sidecar / part / "config.json")
    shutil.copytree(folder / "tokenizer", sidecar / "tokenizer", dirs_exist_ok=True)
    shutil.copytree(folder / "scheduler", sidecar / "scheduler", dirs_exist_ok=True)
