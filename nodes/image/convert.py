"""Conversions between IMAGE/MASK tensors, PIL images and uint8 arrays."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL import Image


def to_uint8(images: torch.Tensor) -> list[np.ndarray]:
    """IMAGE [B,H,W,3] in [0,1] -> list of HxWx3 uint8 arrays (rounded, clamped).
    Converted a band of rows at a time, so a large image costs its uint8 copy plus one
    band of float temporaries, not several float copies of the whole batch."""
    torch = _torch()
    images = images.detach()
    count, height, width = images.shape[:3]
    out = torch.empty((count, height, width, 3), dtype=torch.uint8)
    rows = max(1, (1 << 22) // max(1, width * 3))  # about 4 M values per band
    for index in range(count):
        for top in range(0, height, rows):
            band = images[index, top:top + rows].float().clamp(0, 1).mul_(255).round_()
            out[index, top:top + rows] = band.to(torch.uint8)
    return list(out.numpy())


def from_pil(image: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
    """PIL image -> (IMAGE [1,H,W,3], MASK [1,H,W]). The mask is 1 - alpha (transparent
    pixels are the ones to repaint), zeros when the image has no alpha."""
    import numpy as np

    torch = _torch()
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info)
    # uint8 RGBA, then float32 copies of the channels scaled in place: a large image costs
    # its pixels once in each layout, not in several float temporaries
    rgba = np.asarray(image.convert("RGBA"))
    rgb = torch.from_numpy(np.ascontiguousarray(rgba[..., :3], dtype=np.float32))
    rgb = rgb.div_(255.0)[None]
    if has_alpha:
        alpha = torch.from_numpy(np.ascontiguousarray(rgba[..., 3], dtype=np.float32))
        mask = alpha.div_(-255.0).add_(1.0)[None]
    else:
        mask = torch.zeros(rgb.shape[:3])
    return rgb, mask


def to_pil(image: torch.Tensor) -> Image.Image:
    """One image [H,W,3] -> PIL RGB."""
    from PIL import Image

    return Image.fromarray(to_uint8(image[None])[0], "RGB")


def parse_color(value: str) -> tuple[float, float, float]:
    """'#rrggbb' -> (r, g, b) in [0, 1]."""
    return tuple(int(value[i:i + 2], 16) / 255.0 for i in (1, 3, 5))  # type: ignore[return-value]


def _torch() -> Any:
    import torch

    return torch
