"""Masks (MASK: float32 [B,H,W] in [0,1], 1 = selected / to repaint) and compositing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nodegraph.context import NodeInputError
from nodegraph.registry import EnumParam, FloatParam, Input, IntParam, Output, node
from nodegraph.types import IMAGE, MASK

if TYPE_CHECKING:
    import torch

MAX_SIDE = 16384
CHANNELS = ("red", "green", "blue", "luminance")


@node("mask.FromImage", "Mask from channel", "mask",
      inputs=[Input("image", IMAGE)],
      params=[EnumParam("channel", CHANNELS, "luminance")],
      outputs=[Output("mask", MASK)])
def mask_from_image(image: torch.Tensor, channel: str) -> torch.Tensor:
    """One channel (or the Rec. 709 luminance) of an image as a mask. An image's alpha
    arrives as the 'mask' output of Load image."""
    if channel == "luminance":
        r, g, b = image.unbind(-1)
        return (0.2126 * r + 0.7152 * g + 0.0722 * b).contiguous()
    return image[..., CHANNELS.index(channel)].contiguous()


@node("mask.ToImage", "Mask to image", "mask",
      inputs=[Input("mask", MASK)], outputs=[Output("image", IMAGE)])
def mask_to_image(mask: torch.Tensor) -> torch.Tensor:
    """Grey image of a mask (to preview or save it)."""
    return mask[..., None].expand(*mask.shape, 3).contiguous()


@node("mask.Threshold", "Threshold mask", "mask",
      inputs=[Input("mask", MASK)], params=[FloatParam("threshold", 0.5, 0.0, 1.0)],
      outputs=[Output("mask", MASK)])
def threshold(mask: torch.Tensor, threshold: float) -> torch.Tensor:
    """1 where the mask is above the threshold, else 0."""
    return (mask > threshold).float()


@node("mask.Invert", "Invert mask", "mask",
      inputs=[Input("mask", MASK)], outputs=[Output("mask", MASK)])
def invert_mask(mask: torch.Tensor) -> torch.Tensor:
    """1 - mask."""
    return 1.0 - mask


@node("mask.Grow", "Grow / shrink mask", "mask",
      inputs=[Input("mask", MASK)],
      params=[IntParam("pixels", 4, -256, 256, description="negative shrinks")],
      outputs=[Output("mask", MASK)])
def grow(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """Dilate (positive) or erode (negative) by a square of ``pixels`` radius."""
    import torch.nn.functional as F

    if pixels == 0:
        return mask.clone()
    size = 2 * abs(pixels) + 1
    x = mask[:, None]
    if pixels > 0:
        out = F.max_pool2d(x, size, stride=1, padding=abs(pixels))
    else:
        out = -F.max_pool2d(-x, size, stride=1, padding=abs(pixels))
    return out[:, 0].contiguous()


@node("mask.Feather", "Feather mask", "mask",
      inputs=[Input("mask", MASK)], params=[FloatParam("radius", 4.0, 0.0, 256.0, 0.5)],
      outputs=[Output("mask", MASK)])
def feather(mask: torch.Tensor, radius: float) -> torch.Tensor:
    """Soften the edges with a Gaussian blur (sigma = radius / 2)."""
    import torch
    import torch.nn.functional as F

    if radius <= 0:
        return mask.clone()
    sigma = radius / 2
    half = max(1, round(radius * 1.5))
    coords = torch.arange(-half, half + 1, dtype=torch.float32)
    kernel = torch.exp(-(coords**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    x = mask[:, None]
    x = F.conv2d(F.pad(x, (half, half, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, half, half), mode="replicate"), kernel.view(1, 1, -1, 1))
    return x[:, 0].clamp(0, 1).contiguous()


@node("mask.Solid", "Solid mask", "mask",
      params=[IntParam("width", 512, 1, MAX_SIDE), IntParam("height", 512, 1, MAX_SIDE),
              FloatParam("value", 1.0, 0.0, 1.0), IntParam("batch", 1, 1, 64)],
      outputs=[Output("mask", MASK)])
def solid_mask(width: int, height: int, value: float, batch: int) -> torch.Tensor:
    """A mask filled with one value."""
    import torch

    return torch.full((batch, height, width), float(value))


@node("mask.Rectangle", "Rectangle mask", "mask",
      params=[IntParam("width", 512, 1, MAX_SIDE), IntParam("height", 512, 1, MAX_SIDE),
              IntParam("x", 128, 0, MAX_SIDE), IntParam("y", 128, 0, MAX_SIDE),
              IntParam("rect_width", 256, 0, MAX_SIDE), IntParam("rect_height", 256, 0, MAX_SIDE)],
      outputs=[Output("mask", MASK)])
def rectangle_mask(width: int, height: int, x: int, y: int, rect_width: int,
                   rect_height: int) -> torch.Tensor:
    """A width x height mask, 1 inside the rectangle (clipped to the mask), 0 outside."""
    import torch

    mask = torch.zeros(1, height, width)
    mask[:, y:y + rect_height, x:x + rect_width] = 1.0
    return mask


def _batch(t: torch.Tensor, n: int, field: str) -> torch.Tensor:
    if t.shape[0] == n:
        return t
    if t.shape[0] == 1:
        return t.expand(n, *t.shape[1:])
    raise NodeInputError(field, f"a batch of {t.shape[0]} does not fit a batch of {n}")


@node("image.Composite", "Composite images", "image",
      inputs=[Input("destination", IMAGE), Input("source", IMAGE),
              Input("mask", MASK, optional=True)],
      params=[IntParam("x", 0, -MAX_SIDE, MAX_SIDE), IntParam("y", 0, -MAX_SIDE, MAX_SIDE)],
      outputs=[Output("image", IMAGE)])
def composite(destination: torch.Tensor, source: torch.Tensor, mask: torch.Tensor | None,
              x: int, y: int) -> torch.Tensor:
    """Paste ``source`` over ``destination`` with its top-left corner at (x, y), through
    the mask (source-sized; 1 takes the source, 0 keeps the destination; no mask: all
    source). Parts outside the destination are cut off."""
    import torch

    n = max(destination.shape[0], source.shape[0])
    dest = _batch(destination, n, "destination").clone()
    src = _batch(source, n, "source")
    sh, sw = src.shape[1:3]
    if mask is None:
        m = torch.ones(n, sh, sw)
    else:
        if mask.shape[-2:] != (sh, sw):
            raise NodeInputError("mask", f"is {mask.shape[-1]}x{mask.shape[-2]}; it must be the "
                                 f"source's size, {sw}x{sh}")
        m = _batch(mask, n, "mask")
    dh, dw = dest.shape[1:3]
    top, left = max(y, 0), max(x, 0)
    bottom, right = min(y + sh, dh), min(x + sw, dw)
    if bottom <= top or right <= left:
        return dest
    region = (slice(None), slice(top, bottom), slice(left, right))
    src_region = (slice(None), slice(top - y, bottom - y), slice(left - x, right - x))
    alpha = m[src_region][..., None]
    dest[region] = dest[region] * (1 - alpha) + src[src_region] * alpha
    return dest
