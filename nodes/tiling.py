"""Apply a model to overlapping tiles of an image or latent and blend the seams with
linear ramps, so memory is bounded by the tile size, not the image size (tiled VAE
encode/decode, tiled model upscaling)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def _ramp(length: int, overlap: int, start_edge: bool, end_edge: bool) -> torch.Tensor:
    """A tile's blending weight along one axis: rising over the overlap, except at the
    image's edges."""
    import torch

    weight = torch.ones(length)
    if overlap > 0:
        rise = (torch.arange(overlap, dtype=torch.float32) + 0.5) / overlap
        if not start_edge:
            weight[:overlap] = rise
        if not end_edge:
            weight[-overlap:] = rise.flip(0)
    return weight


def _starts(size: int, tile: int, overlap: int) -> list[int]:
    """Where tiles start along one axis; the last one ends at the edge."""
    if size <= tile:
        return [0]
    return sorted({*range(0, size - tile, tile - overlap), size - tile})


def tiled_apply(fn: Any, x: torch.Tensor, cells: tuple[int, int], in_scale: int,
                out_scale: int, tile: int, overlap: int, check: Any = None) -> torch.Tensor:
    """Apply ``fn`` (a VAE encoder or decoder, an upscale model) to overlapping tiles of
    ``x`` and blend the results with linear ramps. Tiles are laid out on a grid of
    ``cells`` (height, width; ``tile`` and ``overlap`` in cells); ``x`` has ``in_scale``
    and the output ``out_scale`` pixels per cell (decode: 1 and the VAE factor; encode:
    the factor and 1; upscale: 1 and the model's scale)."""
    import torch

    h, w = cells
    out = weight = None
    ys, xs = _starts(h, tile, overlap), _starts(w, tile, overlap)
    for y in ys:
        for x0 in xs:
            if check is not None:
                check()
            piece = fn(x[:, :, y * in_scale:(y + tile) * in_scale,
                         x0 * in_scale:(x0 + tile) * in_scale]).float()
            th, tw = piece.shape[-2:]
            wy = _ramp(th, overlap * out_scale, y == 0, y + tile >= h).to(x.device)
            wx = _ramp(tw, overlap * out_scale, x0 == 0, x0 + tile >= w).to(x.device)
            mask = (wy[:, None] * wx[None, :])[None, None]
            if out is None:
                size = (h * out_scale, w * out_scale)
                out = torch.zeros(x.shape[0], piece.shape[1], *size, device=x.device)
                weight = torch.zeros(1, 1, *size, device=x.device)
            py, px = y * out_scale, x0 * out_scale
            out[:, :, py:py + th, px:px + tw] += piece * mask
            weight[:, :, py:py + th, px:px + tw] += mask
    return out / weight
