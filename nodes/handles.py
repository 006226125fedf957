"""The values that travel on MODEL, CLIP and VAE links.

A checkpoint's weights are loaded once (``Components``) and shared by every handle that
refers to them; the process-wide table below hands the same Components to every loader
node that opens the same file (same path, size and mtime), and lets them go when no
handle refers to them any more.

LoRA never touches the shared weights at rest: a LoRA'd handle is the base handle plus
a tuple of ``LoraPatch``. While a node uses the model (``unet_for`` / ``encoders_for``),
the patches are injected as peft adapters under the Components' lock and removed
afterwards (``unload_lora`` puts the original nn.Linear/Conv modules back, so the base
computes exactly what it did before). Two graphs, one with and one without the LoRA,
therefore see the same base model.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from typing import Any

from .devices import compute_dtype, place
from .latent_preview import (
    PREVIEW_DECODER_MAX_PARAMS,
    Render,
    decoder_params,
    factor_render,
    known_factors,
    vae_render,
)


@dataclass(eq=False)
class TextEncoderSlot:
    """One text encoder with its tokenizer and how its output is read."""

    encoder: Any
    tokenizer: Any
    output: str = "last"  # "last" hidden state (SD1/2) or "penultimate" (SDXL)
    pooled: bool = False  # gives the pooled text embedding (SDXL's second encoder)


@dataclass(eq=False)
class Components:
    """The weights of one checkpoint, shared by every handle that refers to it."""

    source: str
    kind: str  # sd15 / sd2 / sdxl / diffusers
    unet: Any
    vae: Any
    text_encoders: list[TextEncoderSlot]
    scheduler_config: dict[str, Any]
    lock: threading.RLock = field(default_factory=threading.RLock)

    def nbytes(self) -> int:
        total = 0
        modules = [self.unet, self.vae] + [s.encoder for s in self.text_encoders]
        for module in modules:
            for tensor in list(module.parameters()) + list(module.buffers()):
                total += tensor.element_size() * tensor.nelement()
        return total


_LOADED: weakref.WeakValueDictionary[str, Components] = weakref.WeakValueDictionary()
_LOADED_LOCK = threading.Lock()


def shared_components(key: str, load: Any) -> Components:
    """The Components for ``key`` (a file fingerprint), loading them only if no live
    handle holds them already."""
    with _LOADED_LOCK:
        found = _LOADED.get(key)
        if found is not None:
            return found
    components = load()
    with _LOADED_LOCK:
        return _LOADED.setdefault(key, components)


@dataclass(frozen=True, eq=False)
class LoraPatch:
    """A LoRA file's converted state dict and its two strengths."""

    name: str
    state_dict: dict[str, Any]
    network_alphas: dict[str, float] | None
    unet_strength: float
    clip_strength: float
    # peft settings from the file's metadata (rank, lora_alpha, ...), keys prefixed
    # "unet." / "text_encoder." as diffusers saves them
    metadata: dict[str, Any] | None = None

    def part_metadata(self, prefix: str) -> dict[str, Any] | None:
        """The metadata of one part (``unet``, ``text_encoder``...), prefix removed."""
        if not self.metadata:
            return None
        part = {k.removeprefix(prefix + "."): v for k, v in self.metadata.items()
                if k.startswith(prefix + ".")}
        return part or None

    def has_unet(self) -> bool:
        return any(k.startswith("unet.") for k in self.state_dict)

    def has_text_encoder(self, prefix: str) -> bool:
        return any(k.startswith(prefix + ".") for k in self.state_dict)

    def nbytes(self) -> int:
        return sum(t.element_size() * t.nelement() for t in self.state_dict.values())


def _device_and_dtype(device: Any, dtype: str) -> tuple[Any, Any]:
    return device, compute_dtype(device, dtype)


@dataclass(frozen=True, eq=False)
class ModelHandle:
    """MODEL: the UNet of a checkpoint, its default scheduler config and LoRA patches."""

    components: Components
    loras: tuple[LoraPatch, ...] = ()

    @property
    def config(self) -> Any:
        return self.components.unet.config

    @property
    def scheduler_config(self) -> dict[str, Any]:
        return dict(self.components.scheduler_config)

    @property
    def latent_channels(self) -> int:
        """Channels of this model's latents (its VAE's)."""
        return int(self.components.vae.config.latent_channels)

    @property
    def unet_channels(self) -> int:
        """Channels the UNet takes (more than the latent's for inpainting UNets)."""
        return int(self.components.unet.config.in_channels)

    @property
    def vae_scale_factor(self) -> int:
        return vae_scale_factor(self.components.vae)

    @property
    def kind(self) -> str:
        return self.components.kind

    def preview_render(self) -> Render:
        """How sampler previews are drawn: by decoding with the checkpoint's own VAE when
        its decoder is small, else by fixed latent -> RGB factors."""
        vae = self.components.vae
        if decoder_params(vae) <= PREVIEW_DECODER_MAX_PARAMS:
            own = VaeHandle(self.components)
            return vae_render(vae, own.vae_for, own.scaling_factor, own.shift_factor)
        return factor_render(known_factors(self.components.kind, self.latent_channels))

    def with_lora(self, patch: LoraPatch) -> ModelHandle:
        return ModelHandle(self.components, (*self.loras, patch))

    @contextmanager
    def unet_for(self, device: Any, dtype: str = "auto") -> Iterator[Any]:
        """The UNet on ``device`` in the compute dtype, with this handle's LoRAs active
        for the duration of the block (and gone afterwards)."""
        device, dtype = _device_and_dtype(device, dtype)
        with self.components.lock:
            unet = place(self.components.unet, device, dtype)
            active = [p for p in self.loras if p.unet_strength != 0 and p.has_unet()]
            if not active:
                yield unet
                return
            try:
                names = [inject_unet_lora(unet, p, f"ng_lora_{i}") for i, p in enumerate(active)]
                unet.set_adapters(names, weights=[p.unet_strength for p in active])
                yield unet
            finally:
                remove_lora(unet)

    def __nodegraph_nbytes__(self) -> int:
        if self.loras:  # the base weights are counted by the loader's cache entry
            return sum(p.nbytes() for p in self.loras)
        return self.components.nbytes()


@dataclass(frozen=True, eq=False)
class ClipHandle:
    """CLIP: the text encoder(s) and tokenizer(s) of a checkpoint, plus LoRA patches and
    the layer whose output is read (``last_layer``: -1 = as the model was trained, -2 =
    one layer earlier, ComfyUI's "CLIP set last layer" / A1111's clip skip 2)."""

    components: Components
    loras: tuple[LoraPatch, ...] = ()
    last_layer: int = -1

    @property
    def slots(self) -> list[TextEncoderSlot]:
        return self.components.text_encoders

    @property
    def kind(self) -> str:
        return self.components.kind

    def with_lora(self, patch: LoraPatch) -> ClipHandle:
        return replace(self, loras=(*self.loras, patch))

    def with_last_layer(self, last_layer: int) -> ClipHandle:
        return replace(self, last_layer=last_layer)

    @contextmanager
    def encoders_for(self, device: Any, dtype: str = "auto") -> Iterator[list[TextEncoderSlot]]:
        """The text encoders on ``device`` with LoRAs active inside the block."""
        device, dtype = _device_and_dtype(device, dtype)
        with self.components.lock:
            slots = self.components.text_encoders
            for slot in slots:
                place(slot.encoder, device, dtype)
            patched = []
            try:
                for index, slot in enumerate(slots):
                    prefix = "text_encoder" if index == 0 else f"text_encoder_{index + 1}"
                    active = [p for p in self.loras
                              if p.clip_strength != 0 and p.has_text_encoder(prefix)]
                    if not active:
                        continue
                    patched.append(slot.encoder)
                    names = [inject_text_encoder_lora(slot.encoder, p, prefix, f"ng_lora_{i}")
                             for i, p in enumerate(active)]
                    from diffusers.utils.peft_utils import set_weights_and_activate_adapters

                    set_weights_and_activate_adapters(
                        slot.encoder, names, [p.clip_strength for p in active])
                yield slots
            finally:
                for encoder in patched:
                    remove_lora(encoder)

    def __nodegraph_nbytes__(self) -> int:
        return sum(p.nbytes() for p in self.loras)  # weights counted with MODEL


@dataclass(frozen=True, eq=False)
class VaeHandle:
    """VAE: the autoencoder of a checkpoint."""

    components: Components

    @property
    def vae(self) -> Any:
        return self.components.vae

    @property
    def scale_factor(self) -> int:
        return vae_scale_factor(self.components.vae)

    @property
    def scaling_factor(self) -> float:
        return float(getattr(self.components.vae.config, "scaling_factor", 1.0) or 1.0)

    @property
    def shift_factor(self) -> float:
        return float(getattr(self.components.vae.config, "shift_factor", None) or 0.0)

    @property
    def latent_channels(self) -> int:
        return int(self.components.vae.config.latent_channels)

    def vae_for(self, device: Any, requested: str = "auto") -> Any:
        """The VAE on ``device``; fp32 for SDXL when its config asks to be upcast (SDXL's
        VAE overflows in fp16; diffusers' SDXL pipeline upcasts it the same way)."""
        import torch

        dtype = compute_dtype(device, requested)
        if self.components.kind == "sdxl" and getattr(self.components.vae.config,
                                                      "force_upcast", False):
            dtype = torch.float32
        return place(self.components.vae, device, dtype)

    def __nodegraph_nbytes__(self) -> int:
        return 0  # counted with MODEL


def vae_scale_factor(vae: Any) -> int:
    """Pixels per latent cell: 2 ** (number of VAE blocks - 1), as diffusers computes it."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


# -- LoRA through diffusers/peft ------------------------------------------------------
def inject_unet_lora(unet: Any, patch: LoraPatch, adapter_name: str) -> str:
    """Add ``patch`` to ``unet`` as a peft adapter named ``adapter_name``."""
    from diffusers.loaders import StableDiffusionLoraLoaderMixin

    metadata = patch.part_metadata("unet")
    StableDiffusionLoraLoaderMixin.load_lora_into_unet(
        dict(patch.state_dict), None if metadata else patch.network_alphas, unet,
        adapter_name=adapter_name,
        metadata=None if metadata is None else {f"unet.{k}": v for k, v in metadata.items()})
    return adapter_name


def inject_text_encoder_lora(encoder: Any, patch: LoraPatch, prefix: str,
                             adapter_name: str) -> str:
    """Add ``patch``'s text-encoder part to ``encoder`` as a peft adapter. This mirrors
    diffusers' text-encoder LoRA loading but calls peft directly (transformers' own
    adapter integration asks for a newer peft than this environment has)."""
    from diffusers.utils import convert_state_dict_to_diffusers, convert_state_dict_to_peft
    from diffusers.utils.peft_utils import _create_lora_config
    from peft import inject_adapter_in_model, set_peft_model_state_dict

    state = {k.removeprefix(prefix + "."): v for k, v in patch.state_dict.items()
             if k.startswith(prefix + ".")}
    state = convert_state_dict_to_peft(convert_state_dict_to_diffusers(state))
    if not hasattr(encoder, "text_model"):
        state = {k.removeprefix("text_model."): v for k, v in state.items()}
    rank = {}
    for name, _ in encoder.named_modules():
        key = f"{name}.lora_B.weight"
        if key in state:
            rank[key] = state[key].shape[1]
    alphas = None
    if patch.network_alphas:
        alphas = {k.removeprefix(prefix + "."): v for k, v in patch.network_alphas.items()
                  if k.split(".")[0] == prefix}
    metadata = patch.part_metadata(prefix)
    config = _create_lora_config(state, None if metadata else alphas, metadata, rank,
                                 is_unet=False)
    inject_adapter_in_model(config, encoder, adapter_name=adapter_name)
    result = set_peft_model_state_dict(encoder, state, adapter_name=adapter_name)
    unexpected = [k for k in getattr(result, "unexpected_keys", []) if "lora" in k]
    if unexpected:
        raise ValueError(f"{len(unexpected)} LoRA weights match no layer, e.g. {unexpected[0]}")
    return adapter_name


def remove_lora(module: Any) -> None:
    """Take every peft layer out of ``module``, restoring the original modules."""
    from diffusers.utils.peft_utils import recurse_remove_peft_layers

    recurse_remove_peft_layers(module)
    for attribute in ("peft_config",):
        if hasattr(module, attribute):
            with suppress(AttributeError):
                delattr(module, attribute)
    if hasattr(module, "_hf_peft_config_loaded"):
        module._hf_peft_config_loaded = False


def count_lora_layers(module: Any) -> int:
    """How many peft LoRA layers ``module`` holds now."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    return sum(isinstance(m, BaseTunerLayer) for m in module.modules())
