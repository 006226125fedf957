"""Restoration: non-local means denoising (OpenCV)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nodegraph.context import NodeContext
from nodegraph.registry import FloatParam, Input, IntParam, Output, node
from nodegraph.types import IMAGE

from .convert import to_uint8

if TYPE_CHECKING:
    import torch


@node("image.Restore", "Denoise (non-local means)", "image",
      inputs=[Input("image", IMAGE)],
      params=[FloatParam("strength", 6.0, 0.0, 50.0, 0.5,
                         description="luminance filter strength (OpenCV h)"),
              FloatParam("color_strength", 6.0, 0.0, 50.0, 0.5),
              IntParam("template_window", 7, 3, 21, 2),
              IntParam("search_window", 21, 3, 63, 2)],
      outputs=[Output("image", IMAGE)])
def restore(image: torch.Tensor, strength: float, color_strength: float, template_window: int,
            search_window: int, ctx: NodeContext) -> torch.Tensor:
    """Remove noise while keeping edges: OpenCV's fastNlMeansDenoisingColored, per image."""
    import cv2
    import numpy as np
    import torch

    out = []
    template = template_window | 1
    search = search_window | 1
    for array in to_uint8(image):
        ctx.check_cancelled()
        bgr = np.ascontiguousarray(array[..., ::-1])
        clean = cv2.fastNlMeansDenoisingColored(bgr, None, strength, color_strength,
                                                template, search)
        out.append(clean[..., ::-1].astype(np.float32) / 255.0)
    return torch.from_numpy(np.ascontiguousarray(np.stack(out)))
