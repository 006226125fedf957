"""Cheap RGB previews of latents while a sampler runs: a linear map of the latent channels
to RGB, with the factors ComfyUI uses for SD1.x/2.x and SDXL latents (other 4-channel
latent spaces, such as the shipped shapes64's, get SD's factors: rough colours)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

Factors = tuple[Any, Any]  # weight [C, 3], bias [3]: rgb in [-1, 1] = latent @ weight + bias



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
    return (((rgb + 1) / 2).clamp(0, 1) * 255).round().to(torch.uint8)


def latent_preview(latent: torch.Tensor, factors: Factors | None) -> Any:
    """:func:`preview_rgb` as a numpy array."""
    return preview_rgb(latent, factors).cpu().numpy()


class Previewer:
    """Per-step previews that never stall a GPU: on CUDA the preview is copied to the
    host asynchronously and handed out at a later step once the copy has finished (a
    step whose copy is still in flight reports progress without a preview)."""

    def __init__(self, factors: Factors | None, device: Any) -> None:
        self.device = device
        self.factors = None if factors is None else tuple(f.to(device) for f in factors)
        self.pending: tuple[Any, Any] | None = None
        self.cuda = getattr(device, "type", str(device)) == "cuda"

    def __call__(self, latent: torch.Tensor, last: bool = False) -> Any:
        import torch

        rgb = preview_rgb(latent, self.factors)
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
