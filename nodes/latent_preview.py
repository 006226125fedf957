"""Cheap RGB previews of latents while a sampler runs. A checkpoint whose VAE decoder is
small (the shipped shapes64's, TAESD-sized ones) is previewed by decoding with that VAE:
exact colours at full size for a few milliseconds a step. Others get a linear map of the
latent channels to RGB, with the factors ComfyUI uses for SD1.x/2.x and SDXL latents
(other 4-channel latent spaces get SD's factors: rough colours)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nodegraph.context import add_time

if TYPE_CHECKING:
    import torch

Factors = tuple[Any, Any]  # weight [C, 3], bias [3]: rgb in [-1, 1] = latent @ weight + bias
Render = Callable[["torch.Tensor"], "torch.Tensor"]  # latent batch -> HxWx3 uint8 (its device)

PREVIEW_DECODER_MAX_PARAMS = 4_000_000
"""VAE decoders up to this size preview by decoding (SD's has 49 M parameters, TAESD's 1.2 M)."""


def known_factors(kind: str, channels: int) -> Factors | None:
    """ComfyUI's fixed factors for SD (sd15/sd2/diffusers) and SDXL latents."""
    import torch

    if channels != 4:
        return None
    if kind == "sdxl":
        return (torch.tensor([[0.3651, 0.4232, 0.4341], [-0.2533, -0.0042, 0.1068],
                              [0.1076, 0.1111, -0.0362], [-0.3165, -0.2492, -0.2188]]),
                torch.tensor([0.1084, -0.0175, -0.0011]))
    return (torch.tensor([[0.3512, 0.2297, 0.3227], [0.3250, 0.4974, 0.2350],
                          [-0.2829, 0.1762, 0.2721], [-0.2120, -0.2616, -0.7177]]),
            torch.zeros(3))


def _to_uint8(rgb: torch.Tensor) -> torch.Tensor:
    """HxWx3 in [-1, 1] -> uint8."""
    import torch

    return (((rgb.float() + 1) / 2).clamp(0, 1) * 255).round().to(torch.uint8)


def preview_rgb(latent: torch.Tensor, factors: Factors | None) -> torch.Tensor:
    """An HxWx3 uint8 preview (on the latent's device) of the first latent of a batch;
    without factors, the first channels shown as grey levels."""
    import torch

    x = latent[0].detach().float()
    channels = x.shape[0]
    if factors is not None:
        weight, bias = (f.to(x.device) for f in factors)
        rgb = torch.einsum("chw,cr->hwr", x, weight) + bias
    else:
        index = [i % channels for i in range(3)]
        rgb = x[index].permute(1, 2, 0) * 0.5
    return _to_uint8(rgb)


def factor_render(factors: Factors | None) -> Render:
    """Previews by the linear latent -> RGB map (or grey levels without factors)."""
    return lambda latent: preview_rgb(latent, factors)


def decoder_params(vae: Any) -> int:
    """Parameters of a diffusers VAE's decoder (post_quant_conv included)."""
    parts = [getattr(vae, "decoder", None), getattr(vae, "post_quant_conv", None)]
    return sum(p.numel() for part in parts if part is not None for p in part.parameters())


def vae_render(vae: Any, place: Callable[[Any], Any], scaling_factor: float,
               shift_factor: float) -> Render:
    """Previews by decoding the first latent of a batch with ``vae`` (``place`` puts it on
    the latent's device in the right dtype and returns it)."""
    import torch

    def render(latent: torch.Tensor) -> torch.Tensor:
        model = place(latent.device)
        z = latent[:1].detach().to(model.dtype) / scaling_factor + shift_factor
        with torch.inference_mode():
            image = model.decode(z).sample[0]
        return _to_uint8(image.permute(1, 2, 0))

    return render


def latent_preview(latent: torch.Tensor, render: Render) -> Any:
    """A preview as a numpy array."""
    return render(latent).cpu().numpy()


class Previewer:
    """Per-step previews that never stall a GPU: on CUDA the preview is copied to the
    host asynchronously and handed out at a later step once the copy has finished (a
    step whose copy is still in flight reports progress without a preview)."""

    def __init__(self, render: Render, device: Any) -> None:
        self.render = render
        self.pending: tuple[Any, Any] | None = None
        self.cuda = getattr(device, "type", str(device)) == "cuda"

    def __call__(self, latent: torch.Tensor, last: bool = False) -> Any:
        started = time.perf_counter()
        try:
            return self._preview(latent, last)
        finally:  # shown beside the sampler's time: what previews cost
            add_time("previews", time.perf_counter() - started)

    def _preview(self, latent: torch.Tensor, last: bool) -> Any:
        import torch

        rgb = self.render(latent)
        if not self.cuda:
            return rgb.cpu().numpy()
        ready = None
        if self.pending is not None and self.pending[0].query():
            ready, self.pending = self.pending[1].numpy(), None
        if last:
            return rgb.cpu().numpy()
        if self.pending is None:
            host = torch.empty(rgb.shape, dtype=torch.uint8, pin_memory=True)
            host.copy_(rgb, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
            self.pending = (event, host)
        return ready
