"""Load checkpoints (diffusers folders and single-file SD1.x / SD2.x / SDXL .safetensors)
and LoRAs, offline: configs come from the checkpoint folder, a local ``<name>.config``
folder beside a single file, or the architecture configs kept in nodes/configs/."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from nodegraph.context import NodeInputError
from nodegraph.memory import is_out_of_memory
from nodegraph.registry import EnumParam, FloatParam, Input, Output, node
from nodegraph.types import CLIP, MODEL, VAE

from . import model_files
from .handles import (
    ClipHandle,
    Components,
    LoraPatch,
    ModelHandle,
    TextEncoderSlot,
    VaeHandle,
    count_lora_layers,
    inject_text_encoder_lora,
    inject_unet_lora,
    remove_lora,
    shared_components,
)

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message says why."""


# -- architecture detection -------------------------------------------------------------
def detect_architecture(keys: Any) -> str:
    """sd15 / sd2 / sdxl from the key layout of an original (LDM/SGM) checkpoint."""
    keys = set(keys)
    if any(k.startswith("conditioner.embedders.1.model.") for k in keys):
        return "sdxl"
    if any(k.startswith("cond_stage_model.model.") for k in keys):
        return "sd2"
    if any(k.startswith("cond_stage_model.transformer.") for k in keys):
        return "sd15"
    if not any(k.startswith("model.diffusion_model.") for k in keys):
        raise CheckpointError("this file holds no Stable Diffusion UNet "
                              "('model.diffusion_model.*' keys); is it a LoRA or a VAE?")
    raise CheckpointError("unrecognised checkpoint layout: expected an SD1.x, SD2.x or SDXL "
                          "single-file checkpoint")


def architecture_config(arch: str) -> dict[str, Any]:
    """The bundled configs of a known architecture (nodes/configs/<arch>.json)."""
    return json.loads((CONFIG_DIR / f"{arch}.json").read_text("utf-8"))


# -- diffusers folders ---------------------------------------------------------------------
def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"missing {path.name} in {path.parent}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is not valid JSON: {error}") from None


def _load_tokenizer(folder: Path, class_name: str | None) -> Any:
    import transformers

    cls = getattr(transformers, class_name or "", None) or transformers.AutoTokenizer
    try:
        return cls.from_pretrained(str(folder), local_files_only=True)
    except Exception:
        if cls is transformers.AutoTokenizer:
            raise
        return transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


def load_diffusers_folder(folder: Path) -> Components:
    """A standard diffusers folder: model_index.json, unet/, vae/, text_encoder(_2)/,
    tokenizer(_2)/, scheduler/."""
    import transformers
    from diffusers import AutoencoderKL, UNet2DConditionModel

    transformers.utils.logging.disable_progress_bar()  # no bars inside our own progress
    index = _read_json(folder / "model_index.json")
    try:
        unet = UNet2DConditionModel.from_pretrained(str(folder), subfolder="unet",
                                                    local_files_only=True)
        vae = AutoencoderKL.from_pretrained(str(folder), subfolder="vae", local_files_only=True)
    except Exception as error:  # corrupt weights surface as many different error types
        raise CheckpointError(f"cannot load the diffusers model in {folder}: "
                              f"{type(error).__name__}: {error}") from None
    slots = []
    for suffix in ("", "_2"):
        entry = index.get("text_encoder" + suffix)
        if not entry or entry[0] is None:
            continue
        cls = getattr(transformers, entry[1], None) or transformers.CLIPTextModel
        try:
            encoder = cls.from_pretrained(str(folder / ("text_encoder" + suffix)),
                                          local_files_only=True)
            tok_entry = index.get("tokenizer" + suffix) or [None, None]
            tokenizer = _load_tokenizer(folder / ("tokenizer" + suffix), tok_entry[1])
        except Exception as error:
            raise CheckpointError(f"cannot load text_encoder{suffix} of {folder}: "
                                  f"{type(error).__name__}: {error}") from None
        sdxl = "text_encoder_2" in index and index["text_encoder_2"][0] is not None
        slots.append(TextEncoderSlot(encoder, tokenizer,
                                     output="penultimate" if sdxl else "last",
                                     pooled=sdxl and suffix == "_2"))
    if not slots:
        raise CheckpointError(f"{folder} has no text encoder")
    scheduler = _read_json(folder / "scheduler" / "scheduler_config.json")
    kind = "sdxl" if unet.config.get("addition_embed_type") == "text_time" else "diffusers"
    # weights stored in half precision load as such; keep fp32 at rest (the device policy
    # casts on use)
    for module in [unet, vae] + [slot.encoder for slot in slots]:
        module.float().eval()
    return Components(str(folder), kind, unet, vae, slots, scheduler)


# -- single files ---------------------------------------------------------------------------
def _read_safetensors(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as error:  # safetensors raises its own error types
        raise CheckpointError(f"{path.name} is not a readable .safetensors file "
                              f"({type(error).__name__}: {error})") from None


def _sidecar(path: Path) -> Path | None:
    """A local config folder for a single file: ``<stem>.config/`` in diffusers layout
    (unet/config.json, vae/config.json, text_encoder*/config.json, tokenizer*/,
    scheduler/scheduler_config.json), for models that are not the standard sizes."""
    folder = path.with_name(path.stem + ".config")
    return folder if folder.is_dir() else None


_SIZE_HINT = ("if it is a non-standard size, put its diffusers configs in a "
              "'<name>.config' folder beside the file")


def _load_state(module: Any, state: dict[str, Any], what: str, arch: str) -> None:
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as error:  # torch reports weights of other shapes this way
        sizes = [line.strip() for line in str(error).splitlines() if "size mismatch" in line]
        detail = f"{len(sizes)} of another size, e.g. {sizes[0]}" if sizes else str(error)
        raise CheckpointError(f"the {what} weights do not fit the {arch} architecture "
                              f"({detail}); {_SIZE_HINT}") from None
    missing = [k for k in result.missing_keys if not k.endswith("position_ids")]
    unexpected = [k for k in result.unexpected_keys if not k.endswith("position_ids")]
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CheckpointError(
            f"the {what} weights do not fit the {arch} architecture ({len(missing)} missing, "
            f"{len(unexpected)} unexpected keys: {detail}); {_SIZE_HINT}")


def fit_text_keys(encoder: Any, state: dict[str, Any]) -> dict[str, Any]:
    """Text-encoder weights named as ``encoder`` names them. Original checkpoints (and
    diffusers' conversion of them) keep transformers 4's ``text_model.`` level, which
    transformers 5's CLIPTextModel no longer has (CLIPTextModelWithProjection still does);
    a file without the level is fitted the other way."""
    own = set(encoder.state_dict()) | {n for n, _ in encoder.named_buffers()}
    fitted = {}
    for key, value in state.items():
        if key not in own:
            if key.startswith("text_model.") and key.removeprefix("text_model.") in own:
                key = key.removeprefix("text_model.")
            elif "text_model." + key in own:
                key = "text_model." + key
        fitted[key] = value
    return fitted


_LAYER_RE = re.compile(r"(?:^|\.)encoder\.layers\.(\d+)\.")


def _drop_unused_layers(state: dict[str, Any], layers: int, unused: int) -> dict[str, Any]:
    """Without the final ``unused`` OpenCLIP blocks: SD2.x reads the penultimate layer of
    its 24, so its text encoder has 23 and the file's last block is never run."""

    def keep(key: str) -> bool:
        match = _LAYER_RE.search(key)
        return match is None or not layers <= int(match.group(1)) < layers + unused

    return {k: v for k, v in state.items() if keep(k)}


def text_encoder_state(checkpoint: dict[str, Any], entry: dict[str, Any],
                       encoder: Any) -> dict[str, Any]:
    """One text encoder's weights from an original checkpoint, named as ``encoder`` (a
    transformers model) names them; ``entry`` is its record in nodes/configs/<arch>.json."""
    from diffusers.loaders.single_file_utils import (
        convert_ldm_clip_checkpoint,
        convert_open_clip_checkpoint,
    )

    prefix = entry["prefix"]
    if entry["layout"] == "clip":
        state = convert_ldm_clip_checkpoint(
            {k: v for k, v in checkpoint.items() if k.startswith(prefix)}, remove_prefix=prefix)
    else:
        state = convert_open_clip_checkpoint(encoder, checkpoint, prefix=prefix)
        state = _drop_unused_layers(state, encoder.config.num_hidden_layers,
                                    int(entry.get("unused_final_layers", 0)))
    return fit_text_keys(encoder, state)


def load_single_file(path: Path) -> Components:
    """An original-format (LDM/SGM) checkpoint in one .safetensors file."""
    import transformers
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders.single_file_utils import (
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
    )

    from .clip_tokenizer import standard_clip_tokenizer

    checkpoint = _read_safetensors(path)
    arch = detect_architecture(checkpoint.keys())
    spec = architecture_config(arch)
    sidecar = _sidecar(path)

    def config(name: str, default: dict[str, Any]) -> dict[str, Any]:
        if sidecar is not None and (sidecar / name / "config.json").is_file():
            return _read_json(sidecar / name / "config.json")
        return default

    unet_config = config("unet", spec["unet"])
    conv_in = checkpoint.get("model.diffusion_model.input_blocks.0.0.weight")
    if conv_in is not None and conv_in.ndim == 4:  # 9 for inpainting checkpoints
        unet_config = {**unet_config, "in_channels": int(conv_in.shape[1])}
    vae_config = config("vae", spec["vae"])
    unet = UNet2DConditionModel.from_config(unet_config)
    _load_state(unet, convert_ldm_unet_checkpoint(checkpoint, unet.config), "UNet", arch)
    vae = AutoencoderKL.from_config(vae_config)
    _load_state(vae, convert_ldm_vae_checkpoint(checkpoint, vae.config), "VAE", arch)
    slots = []
    for index, entry in enumerate(spec["text_encoders"]):
        name = "text_encoder" if index == 0 else f"text_encoder_{index + 1}"
        cls = getattr(transformers, entry["class"])
        te_config = config(name, entry["config"])
        te_config = {k: v for k, v in te_config.items() if not k.startswith("_")}
        encoder = cls(transformers.CLIPTextConfig(**te_config))
        _load_state(encoder, text_encoder_state(checkpoint, entry, encoder), name, arch)
        tok_name = "tokenizer" if index == 0 else f"tokenizer_{index + 1}"
        if sidecar is not None and (sidecar / tok_name).is_dir():
            tokenizer = _load_tokenizer(sidecar / tok_name, None)
        else:
            tokenizer = standard_clip_tokenizer(entry["pad_token"])
        encoder.eval()
        slots.append(TextEncoderSlot(encoder, tokenizer, entry["output"],
                                     bool(entry.get("pooled"))))
    scheduler = spec["scheduler"]
    if sidecar is not None and (sidecar / "scheduler" / "scheduler_config.json").is_file():
        scheduler = _read_json(sidecar / "scheduler" / "scheduler_config.json")
    unet.eval()
    vae.eval()
    return Components(str(path), arch, unet, vae, slots, scheduler)


def load_checkpoint(path: Path) -> Components:
    """Load (or reuse, if already loaded and unchanged) the checkpoint at ``path``."""
    key = json.dumps(model_files.fingerprint_path(path))
    if path.is_dir():
        return shared_components(key, lambda: load_diffusers_folder(path))
    if path.suffix != ".safetensors":
        raise CheckpointError("only .safetensors single files are loaded (pickled .ckpt "
                              "files can run code; convert them first)")
    return shared_components(key, lambda: load_single_file(path))


def _checkpoint_fingerprint(params: dict[str, Any]) -> Any:
    return model_files.fingerprint(params["checkpoint"], "checkpoint")


@node("loaders.Checkpoint", "Load checkpoint", "loaders",
      params=[EnumParam("checkpoint", model_files.list_checkpoints,
                        description="a diffusers folder or a single-file .safetensors "
                                    "checkpoint in a model folder")],
      outputs=[Output("model", MODEL), Output("clip", CLIP), Output("vae", VAE)],
      fingerprint=_checkpoint_fingerprint)
def load_checkpoint_node(checkpoint: str) -> tuple[ModelHandle, ClipHandle, VaeHandle]:
    """Load a Stable Diffusion checkpoint (SD1.x, SD2.x, SDXL or any diffusers folder)
    from the model folders. Every node using it shares one copy of its weights."""
    try:
        path = model_files.resolve(checkpoint, "checkpoint")
        components = load_checkpoint(path)
    except (FileNotFoundError, CheckpointError) as error:
        raise NodeInputError("checkpoint", str(error)) from None
    except Exception as error:
        if is_out_of_memory(error):
            raise  # the executor frees its cache and retries
        raise NodeInputError("checkpoint", f"cannot load {checkpoint}: "
                             f"{type(error).__name__}: {error}") from None
    return ModelHandle(components), ClipHandle(components), VaeHandle(components)


# -- LoRA -------------------------------------------------------------------------------------
def read_lora(path: Path) -> tuple[dict[str, Any], dict[str, float] | None,
                                 dict[str, Any] | None]:
    """A LoRA file's state dict in diffusers' layout (kohya files are converted), its
    network alphas (kohya's ``.alpha`` tensors) and its peft settings (diffusers/peft
    store rank, lora_alpha and target modules as JSON in the safetensors metadata under
    ``lora_adapter_metadata``, keys prefixed ``unet.`` / ``text_encoder.``)."""
    from diffusers.loaders import StableDiffusionLoraLoaderMixin

    state = _read_safetensors(path)
    if not any("lora" in k for k in state):
        raise CheckpointError(f"{path.name} holds no LoRA weights")
    state_dict, alphas = StableDiffusionLoraLoaderMixin.lora_state_dict(state)
    metadata = _lora_metadata(path)
    if not any(k.startswith(("unet.", "text_encoder")) for k in state_dict):
        # a diffusers LoRA saved for the UNet alone, without prefixes
        state_dict = {f"unet.{k}": v for k, v in state_dict.items()}
        if metadata is not None and not any(k.startswith("unet.") for k in metadata):
            metadata = {f"unet.{k}": v for k, v in metadata.items()}
    if alphas and metadata:  # diffusers refuses both; the tensors are the file's own
        metadata = None
    return state_dict, alphas, metadata


def _lora_metadata(path: Path) -> dict[str, Any] | None:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        raw = (handle.metadata() or {}).get("lora_adapter_metadata")
    if not raw:
        return None
    try:
        metadata = json.loads(raw)
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path.name}: its lora_adapter_metadata is not valid JSON "
                              f"({error})") from None
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path.name}: its lora_adapter_metadata is not a JSON object")
    return _known_lora_settings(path, metadata)


def _known_lora_settings(path: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata's peft LoraConfig settings, per part; settings this peft does not know
    (a newer peft wrote them) are left out, and values it refuses are reported."""
    import dataclasses

    from peft import LoraConfig

    known = {f.name for f in dataclasses.fields(LoraConfig)}
    settings = {k: v for k, v in metadata.items() if k.rpartition(".")[2] in known}
    parts = {k.rpartition(".")[0] for k in settings}
    for part in parts:
        values = {k.rpartition(".")[2]: v for k, v in settings.items()
                  if k.rpartition(".")[0] == part}
        where = f" ({part})" if part else ""
        try:
            LoraConfig(**values)
        except Exception as error:  # peft raises TypeError/ValueError for bad values
            raise CheckpointError(f"{path.name}: its lora_adapter_metadata{where} holds "
                                  f"settings peft refuses: {error}") from None
        rank, alpha = values.get("r", 8), values.get("lora_alpha", 8)
        if not (isinstance(rank, int) and rank > 0 and isinstance(alpha, int | float)):
            raise CheckpointError(f"{path.name}: its lora_adapter_metadata{where} holds "
                                  f"settings peft refuses: rank {rank!r} and lora_alpha "
                                  f"{alpha!r} must be a positive integer and a number")
    return settings


def check_lora_fits(patch: LoraPatch, model: ModelHandle, clip: ClipHandle) -> None:
    """Inject the LoRA into the base models and take it out again, so that a LoRA made
    for another architecture fails here, naming this node, rather than in the sampler."""
    components = model.components
    with components.lock:
        if patch.has_unet():
            _check_part(components.unet, "UNet", " (a LoRA for another architecture?)",
                        lambda: inject_unet_lora(components.unet, patch, "ng_check"))
        for index, slot in enumerate(clip.slots):
            prefix = "text_encoder" if index == 0 else f"text_encoder_{index + 1}"
            if patch.has_text_encoder(prefix):
                _check_part(slot.encoder, prefix, "", lambda slot=slot, prefix=prefix:
                            inject_text_encoder_lora(slot.encoder, patch, prefix, "ng_check"))


def _check_part(module: Any, part: str, hint: str, inject: Any) -> None:
    """Inject into one model, count the LoRA layers that landed, and always remove them."""
    try:
        inject()
        layers = count_lora_layers(module)
    except Exception as error:
        raise NodeInputError("lora", f"does not fit this model's {part}: "
                             f"{type(error).__name__}: {error}") from None
    finally:
        remove_lora(module)
    if layers == 0:
        raise NodeInputError("lora", f"none of its {part} layers exist in this model{hint}")


def _lora_fingerprint(params: dict[str, Any]) -> Any:
    return model_files.fingerprint(params["lora"], "lora")


@node("loaders.LoRA", "Load LoRA", "loaders",
      inputs=[Input("model", MODEL), Input("clip", CLIP)],
      params=[EnumParam("lora", model_files.list_loras),
              FloatParam("unet_strength", 1.0, -10.0, 10.0),
              FloatParam("clip_strength", 1.0, -10.0, 10.0)],
      outputs=[Output("model", MODEL), Output("clip", CLIP)],
      fingerprint=_lora_fingerprint)
def load_lora_node(model: ModelHandle, clip: ClipHandle, lora: str, unet_strength: float,
                   clip_strength: float) -> tuple[ModelHandle, ClipHandle]:
    """Apply a LoRA (diffusers or kohya layout) with separate UNet and text-encoder
    strengths; its scale (alpha / rank) comes from the file (kohya alphas, or the
    lora_alpha diffusers/peft keep in its metadata), as diffusers applies it. Stackable;
    the base model stays untouched (the LoRA is active only while a node downstream uses
    the model)."""
    if model.components is not clip.components:
        raise NodeInputError("clip", "model and clip come from different checkpoints")
    try:
        path = model_files.resolve(lora, "lora")
        state_dict, alphas, metadata = read_lora(path)
    except (FileNotFoundError, CheckpointError) as error:
        raise NodeInputError("lora", str(error)) from None
    patch = LoraPatch(lora, state_dict, alphas, unet_strength, clip_strength, metadata)
    check_lora_fits(patch, model, clip)
    new_model = model.with_lora(patch) if unet_strength != 0 and patch.has_unet() else model
    new_clip = clip.with_lora(patch) if clip_strength != 0 else clip
    return new_model, new_clip
