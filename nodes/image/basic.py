"""Image arithmetic: solid colour, grid, invert, blend, resize and scale."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nodegraph.context import NodeInputError
from nodegraph.memory import require
from nodegraph.registry import (
    ColorParam,
    EnumParam,
    FloatParam,
    Input,
    IntParam,
    Output,
    node,
)
from nodegraph.types import IMAGE

from .convert import parse_color, to_pil

if TYPE_CHECKING:
    import torch

RESIZE_METHODS = ("nearest", "bilinear", "bicubic", "area", "lanczos")
BLEND_MODES = ("normal", "multiply", "screen", "overlay", "add", "subtract", "difference",
               "darken", "lighten", "soft_light")
MAX_SIDE = 16384


@node("image.Solid", "Solid colour", "image",
      params=[IntParam("width", 512, 1, MAX_SIDE), IntParam("height", 512, 1, MAX_SIDE),
              IntParam("batch", 1, 1, 64), ColorParam("color", "#808080")],
      outputs=[Output("image", IMAGE)])
def solid(width: int, height: int, batch: int, color: str) -> torch.Tensor:
    """A batch of images filled with one colour."""
    import torch

    require(batch * height * width * 3 * 4, "width",
            f"{batch} {width}x{height} image{'s' * (batch > 1)}")
    return torch.tensor(parse_color(color), dtype=torch.float32).expand(
        batch, height, width, 3).contiguous()


@node("image.Grid", "Image grid", "image",
      inputs=[Input("images", IMAGE)],
      params=[IntParam("columns", 0, 0, 64, description="images per row (0: all in one row)"),
              IntParam("gap", 0, 0, 256, description="pixels between images"),
              ColorParam("background", "#ffffff")],
      outputs=[Output("image", IMAGE)])
def grid(images: torch.Tensor, columns: int, gap: int, background: str) -> torch.Tensor:
    """A batch laid out as one image, row by row (item 0 at the top left): the seeds of a
    batch, or the images of a sweep, side by side."""
    import torch

    count, height, width, _ = images.shape
    cols = min(columns or count, count)
    rows = -(-count // cols)
    size = (rows * height + (rows - 1) * gap, cols * width + (cols - 1) * gap)
    if max(size) > MAX_SIDE:
        raise NodeInputError("columns", f"the grid would be {size[1]}x{size[0]} pixels "
                             f"(at most {MAX_SIDE} a side): use more or fewer columns")
    require(size[0] * size[1] * 3 * images.element_size(), "columns",
            f"a {size[1]}x{size[0]} grid")
    out = torch.tensor(parse_color(background), dtype=images.dtype).expand(
        1, *size, 3).clone()
    for index in range(count):
        row, col = divmod(index, cols)
        y, x = row * (height + gap), col * (width + gap)
        out[0, y:y + height, x:x + width] = images[index]
    return out


@node("image.Invert", "Invert image", "image",
      inputs=[Input("image", IMAGE)], outputs=[Output("image", IMAGE)])
def invert(image: torch.Tensor) -> torch.Tensor:
    """1 - image."""
    return 1.0 - image


def _match(base: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
    """Resize ``top`` to ``base``'s size and broadcast batches of one."""
    if top.shape[1:3] != base.shape[1:3]:
        top = _resize(top, base.shape[2], base.shape[1], "bilinear", "top")
    if top.shape[0] != base.shape[0]:
        if top.shape[0] != 1 and base.shape[0] != 1:
            raise NodeInputError("top", f"batch of {top.shape[0]} cannot be blended with "
                                 f"a batch of {base.shape[0]} (use equal batches or one image)")
        top = top.expand(base.shape[0], -1, -1, -1) if top.shape[0] == 1 else top
    return top


def _blend_mode(base: torch.Tensor, top: torch.Tensor, mode: str) -> torch.Tensor:
    import torch

    if mode == "normal":
        return top
    if mode == "multiply":
        return base * top
    if mode == "screen":
        return 1 - (1 - base) * (1 - top)
    if mode == "overlay":
        return torch.where(base < 0.5, 2 * base * top, 1 - 2 * (1 - base) * (1 - top))
    if mode == "add":
        return (base + top).clamp(0, 1)
    if mode == "subtract":
        return (base - top).clamp(0, 1)
    if mode == "difference":
        return (base - top).abs()
    if mode == "darken":
        return torch.minimum(base, top)
    if mode == "lighten":
        return torch.maximum(base, top)
    # soft light (the W3C formula)
    d = torch.where(base <= 0.25, ((16 * base - 12) * base + 4) * base, base.sqrt())
    return torch.where(top <= 0.5, base - (1 - 2 * top) * base * (1 - base),
                       base + (2 * top - 1) * (d - base))


@node("image.Blend", "Blend images", "image",
      inputs=[Input("base", IMAGE), Input("top", IMAGE)],
      params=[FloatParam("factor", 0.5, 0.0, 1.0), EnumParam("mode", BLEND_MODES, "normal")],
      outputs=[Output("image", IMAGE)])
def blend(base: torch.Tensor, top: torch.Tensor, factor: float, mode: str) -> torch.Tensor:
    """Mix ``top`` over ``base`` with a blend mode; factor 0 keeps base, 1 the full blend."""
    if base.shape[0] == 1 and top.shape[0] > 1:
        base = base.expand(top.shape[0], -1, -1, -1)
    top = _match(base, top)
    return base + (_blend_mode(base, top, mode) - base) * factor


def _resize(image: torch.Tensor, width: int, height: int, method: str,
            field: str) -> torch.Tensor:
    import numpy as np
    import torch
    import torch.nn.functional as F

    count = image.shape[0]
    # the resized batch, its clamped copy and the contiguous result, in float32
    require(count * height * width * 3 * 4 * 3, field,
            f"resizing {count} image{'s' * (count > 1)} to {width}x{height}")

    if method == "lanczos":
        from PIL import Image

        out = [np.asarray(to_pil(img).resize((width, height), Image.Resampling.LANCZOS),
                          dtype=np.float32) / 255.0 for img in image]
        return torch.from_numpy(np.stack(out))
    chw = image.movedim(-1, 1)
    kwargs = {"align_corners": False} if method in ("bilinear", "bicubic") else {}
    if method in ("bilinear", "bicubic"):
        kwargs["antialias"] = True
    out = F.interpolate(chw, size=(height, width), mode=method, **kwargs)
    return out.movedim(1, -1).clamp(0, 1).contiguous()


@node("image.Resize", "Resize image", "image",
      inputs=[Input("image", IMAGE)],
      params=[IntParam("width", 512, 1, MAX_SIDE), IntParam("height", 512, 1, MAX_SIDE),
              EnumParam("method", RESIZE_METHODS, "bicubic"),
              EnumParam("crop", ("none", "center"), "none")],
      outputs=[Output("image", IMAGE)])
def resize(image: torch.Tensor, width: int, height: int, method: str, crop: str) -> torch.Tensor:
    """Resize to an exact size; 'center' crop keeps the aspect ratio."""
    if crop == "center":
        h, w = image.shape[1:3]
        scale = max(width / w, height / h)
        cw, ch = round(width / scale), round(height / scale)
        top, left = (h - ch) // 2, (w - cw) // 2
        image = image[:, top:top + ch, left:left + cw]
    return _resize(image, width, height, method, "width")


@node("image.Scale", "Scale image", "image",
      inputs=[Input("image", IMAGE)],
      params=[FloatParam("factor", 2.0, 0.01, 16.0),
              EnumParam("method", RESIZE_METHODS, "bicubic")],
      outputs=[Output("image", IMAGE)])
def scale(image: torch.Tensor, factor: float, method: str) -> torch.Tensor:
    """Resize by a factor (each side rounded to whole pixels)."""
    height, width = image.shape[1:3]
    new_w, new_h = max(1, round(width * factor)), max(1, round(height * factor))
    if max(new_w, new_h) > MAX_SIDE:
        raise NodeInputError("factor", f"would make a {new_w}x{new_h} image; the largest "
                             f"side allowed is {MAX_SIDE}")
    return _resize(image, new_w, new_h, method, "factor")
