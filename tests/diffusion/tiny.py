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
           "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2",
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


# schedule buffers that LDM training code stored beside the weights (SD1.x/SD2.x files)
_LDM_BUFFERS = ("betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod",
                "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod", "posterior_variance",
                "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2")


def _text_state(encoder) -> dict:
    """A transformers CLIP text model's weights, named as transformers 4 named them (with
    the ``text_model.`` level that original checkpoints keep, whatever this transformers
    version calls them)."""
    out = {}
    for key, value in encoder.state_dict().items():
        if not key.startswith(("text_model.", "text_projection.")):
            key = "text_model." + key
        out[key] = value
    return out


def clip_to_ldm(encoder, prefix: str) -> dict:
    """HF CLIP layout, as SD1.x (``cond_stage_model.transformer.``) and SDXL's first
    encoder (``conditioner.embedders.0.transformer.``) store it, position_ids included."""
    state = {prefix + k: v for k, v in _text_state(encoder).items()}
    positions = encoder.config.max_position_embeddings
    state[prefix + "text_model.embeddings.position_ids"] = torch.arange(positions)[None]
    return state


def open_clip_to_ldm(encoder, prefix: str, unused_layers: int = 0, seed: int = 0) -> dict:
    """OpenCLIP layout (``cond_stage_model.model.`` in SD2.x, ``conditioner.embedders.1.model.``
    in SDXL): fused q/k/v ``in_proj``, ``resblocks``, ``ln_final``, ``positional_embedding``,
    a ``text_projection`` matrix (x @ P) and ``logit_scale``. ``unused_layers`` appends
    blocks the model does not run (SD2 reads OpenCLIP's penultimate layer, so its file has
    one block more than diffusers' text encoder)."""
    state = _text_state(encoder)
    hidden = encoder.config.hidden_size
    out = {"positional_embedding": state.pop("text_model.embeddings.position_embedding.weight"),
           "token_embedding.weight": state.pop("text_model.embeddings.token_embedding.weight"),
           "ln_final.weight": state.pop("text_model.final_layer_norm.weight"),
           "ln_final.bias": state.pop("text_model.final_layer_norm.bias"),
           "logit_scale": torch.tensor(4.6052)}
    projection = state.pop("text_projection.weight", None)
    generator = torch.Generator().manual_seed(seed)
    if projection is None:  # SD2's text projection is stored but not used
        projection = torch.randn(hidden, hidden, generator=generator)
    out["text_projection"] = projection.T.contiguous()
    layers = encoder.config.num_hidden_layers
    names = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc",
             "mlp.fc2": "mlp.c_proj", "self_attn.out_proj": "attn.out_proj"}
    for i in range(layers):
        base = f"text_model.encoder.layers.{i}."
        block = f"transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            out[block + f"attn.in_proj_{kind}"] = torch.cat(
                [state.pop(base + f"self_attn.{p}_proj.{kind}") for p in "qkv"])
            for ours, theirs in names.items():
                out[block + f"{theirs}.{kind}"] = state.pop(base + f"{ours}.{kind}")
    assert not state, f"unmapped text encoder weights: {sorted(state)[:3]}"
    for i in range(layers, layers + unused_layers):
        template = {k.replace(f"resblocks.{layers - 1}.", f"resblocks.{i}."): v
                    for k, v in out.items() if k.startswith(f"transformer.resblocks.{layers - 1}.")}
        out.update({k: torch.randn(v.shape, generator=generator) * 0.02
                    for k, v in template.items()})
    return {prefix + k: v for k, v in out.items()}


def _ldm_buffers(scheduler_config: dict) -> dict:
    """The diffusion schedule as LDM's DDPM module registered it (stored in SD1.x/SD2.x
    files; loaders ignore it)."""
    from diffusers import DDPMScheduler

    betas = DDPMScheduler.from_config(scheduler_config).betas.double()
    a = torch.cumprod(1 - betas, 0)
    prev = torch.cat([torch.ones(1, dtype=a.dtype), a[:-1]])
    variance = betas * (1 - prev) / (1 - a)
    values = {"betas": betas, "alphas_cumprod": a, "alphas_cumprod_prev": prev,
              "sqrt_alphas_cumprod": a.sqrt(), "sqrt_one_minus_alphas_cumprod": (1 - a).sqrt(),
              "log_one_minus_alphas_cumprod": (1 - a).log(),
              "sqrt_recip_alphas_cumprod": (1 / a).sqrt(),
              "sqrt_recipm1_alphas_cumprod": (1 / a - 1).sqrt(),
              "posterior_variance": variance,
              "posterior_log_variance_clipped": variance.clamp(min=1e-20).log(),
              "posterior_mean_coef1": betas * prev.sqrt() / (1 - a),
              "posterior_mean_coef2": (1 - prev) * (1 - betas).sqrt() / (1 - a)}
    return {name: values[name].float() for name in _LDM_BUFFERS}


def ldm_state(unet, vae, encoders: list, arch: str, scheduler_config: dict | None = None) -> dict:
    """The state dict of an original-format (LDM/SGM) checkpoint of these diffusers and
    transformers models. ``arch``: "sd15" (CLIP under ``cond_stage_model.transformer.``),
    "sd2" (its text encoder stored as OpenCLIP under ``cond_stage_model.model.``, with the
    unused final block) or "sdxl" (two encoders under ``conditioner.embedders.0/1``)."""
    state = {}
    state.update(_unet_to_ldm(unet.state_dict(), unet.config))
    state.update(_vae_to_ldm(vae.state_dict(), vae.config))
    if arch == "sd15":
        state.update(clip_to_ldm(encoders[0], "cond_stage_model.transformer."))
    elif arch == "sd2":
        state.update(open_clip_to_ldm(encoders[0], "cond_stage_model.model.", unused_layers=1))
    elif arch == "sdxl":
        state.update(clip_to_ldm(encoders[0], "conditioner.embedders.0.transformer."))
        state.update(open_clip_to_ldm(encoders[1], "conditioner.embedders.1.model."))
    else:
        raise ValueError(arch)
    if arch != "sdxl" and scheduler_config is not None:
        state.update(_ldm_buffers(scheduler_config))
    return state


def save_single_file(folder: Path, target: Path, arch: str = "sd15",
                     dtype: torch.dtype = torch.float32) -> None:
    """Write the diffusers model in ``folder`` as one original-format .safetensors file (see
    ``ldm_state``; "sdxl" needs a folder with text_encoder_2), in ``dtype``, with a
    ``<name>.config`` folder of its (non-standard, tiny) configs beside it."""
    import shutil

    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    unet = UNet2DConditionModel.from_pretrained(folder / "unet")
    vae = AutoencoderKL.from_pretrained(folder / "vae")
    encoders = [CLIPTextModel.from_pretrained(folder / "text_encoder")]
    parts = ["unet", "vae", "text_encoder"]
    if arch == "sdxl":
        encoders.append(CLIPTextModelWithProjection.from_pretrained(folder / "text_encoder_2"))
        parts.append("text_encoder_2")
    scheduler_config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    state = ldm_state(unet, vae, encoders, arch, scheduler_config)
    save_file({k: (v.to(dtype) if v.is_floating_point() else v).contiguous()
               for k, v in state.items()}, str(target))
    sidecar = target.with_name(target.stem + ".config")
    for part in parts:
        (sidecar / part).mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / part / "config.json", sidecar / part / "config.json")
    for part in ("tokenizer", "tokenizer_2", "scheduler"):
        if (folder / part).is_dir():
            shutil.copytree(folder / part, sidecar / part, dirs_exist_ok=True)
