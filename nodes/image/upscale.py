"""Upscale images with a super-resolution model (ESRGAN family and the other
architectures spandrel knows), loaded safely (.safetensors, or .pth as plain tensors
through torch.load(weights_only=True); TorchScript refused) and run in overlapping
tiles. Resizing by lanczos/bicubic is the Resize / Scale image nodes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nodegraph.context import NodeContext, NodeInputError
from nodegraph.memory import require
from nodegraph.registry import EnumParam, Input, IntParam, Output, node
from nodegraph.types import IMAGE, UPSCALE_MODEL

from .. import model_files
from ..devices import compute_dtype, torch_device
from ..tiling import tiled_apply

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True, eq=False)
class UpscaleModel:
    """UPSCALE_MODEL: a spandrel ImageModelDescriptor and where it came from."""

    descriptor: Any
    name: str

    @property
    def scale(self) -> int:
        return int(self.descriptor.scale)

    def __nodegraph_nbytes__(self) -> int:
        return sum(p.element_size() * p.nelement() for p in self.descriptor.model.parameters())


def _fingerprint(params: dict[str, Any]) -> Any:
    return model_files.fingerprint(params["model"], "upscale")


@node("image.UpscaleModelLoader", "Load upscale model", "image",
      params=[EnumParam("model", model_files.list_upscale_models)],
      outputs=[Output("upscale_model", UPSCALE_MODEL)], fingerprint=_fingerprint)
def load_upscale_model(model: str) -> UpscaleModel:
    """Load an ESRGAN-family (or other spandrel-supported) super-resolution model from
    models/upscale_models (.safetensors, preferred, or .pth read as plain tensors only;
    TorchScript archives and pickled objects are refused before torch opens them)."""
    import spandrel

    try:
        path = model_files.resolve(model, "upscale")
    except FileNotFoundError as error:
        raise NodeInputError("model", str(error)) from None
    if path.suffix not in model_files.UPSCALE_SUFFIXES:
        raise NodeInputError("model", "use a .safetensors or .pth file")
    try:
        state = model_files.read_tensors(path)  # never torch.jit: no code from the file runs
    except model_files.NotPlainTensors as error:
        raise NodeInputError("model", str(error)) from None
    try:
        descriptor = spandrel.ModelLoader().load_from_state_dict(
            spandrel.canonicalize_state_dict(state))
    except Exception as error:  # unsupported architecture, corrupt file
        raise NodeInputError("model", f"cannot load {path.name}: {type(error).__name__}: "
                             f"{error}") from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise NodeInputError("model", f"{path.name} is not an image-to-image model")
    descriptor.eval()
    return UpscaleModel(descriptor, model)


def upscale_tiled(descriptor: Any, image: torch.Tensor, tile: int, overlap: int,
                  check: Any = None) -> torch.Tensor:
    """Run ``descriptor`` over [B,3,H,W] in tiles of ``tile`` pixels overlapping by
    ``overlap``, blending the overlaps linearly."""
    h, w = image.shape[-2:]
    if tile <= 0 or (h <= tile and w <= tile):
        return descriptor(image)
    return tiled_apply(descriptor, image, (h, w), 1, int(descriptor.scale), tile, overlap,
                       check)


@node("image.UpscaleWithModel", "Upscale image (model)", "image",
      inputs=[Input("upscale_model", UPSCALE_MODEL), Input("image", IMAGE)],
      params=[IntParam("tile_size", 512, 0, 4096, 32, description="0: no tiling"),
              IntParam("overlap", 32, 0, 512, 8)],
      outputs=[Output("image", IMAGE)])
def upscale_with_model(upscale_model: UpscaleModel, image: torch.Tensor, tile_size: int,
                       overlap: int, ctx: NodeContext) -> torch.Tensor:
    """Upscale by the model's factor, in overlapping tiles so large images fit in memory."""
    import torch

    if tile_size and overlap * 2 >= tile_size:
        raise NodeInputError("overlap", "must be less than half the tile size")
    count, height, width = image.shape[:3]
    scale = upscale_model.scale
    # the output and its blending weights, in float32, on the CPU at the end
    require(count * height * scale * width * scale * 3 * 4 * 2, "image",
            f"upscaling {count} {width}x{height} image{'s' * (count > 1)} x{scale}")
    device = torch_device(ctx.device)
    descriptor = upscale_model.descriptor
    dtype = compute_dtype(device, ctx.dtype)
    if dtype == torch.float16 and not descriptor.supports_half:
        dtype = torch.float32
    descriptor.to(device=device, dtype=dtype)
    chw = image.movedim(-1, 1).to(device, dtype)
    with torch.inference_mode():
        out = upscale_tiled(descriptor, chw, tile_size, overlap, ctx.check_cancelled)
    return out.float().clamp(0, 1).movedim(1, -1).cpu().contiguous()
