"""Latents: empty latents, VAE encode/decode (tiled for large images), the inpainting
noise mask and latent upscaling. LATENT is a dict: "samples" [B,C,h,w] float32, optional
"noise_mask" (MASK, pixel or latent size), "scale_factor" (pixels per latent cell),
for inpainting models "inpaint_concat" [B,1+C,h,w] (mask and masked-image latents), and
"posterior_draw" (seed, shape) when VAE encode sampled the posterior with a seed, or
"inpaint_posterior" (the posteriors' standard deviations) for the Sampler to draw from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nodegraph.context import NodeContext, NodeInputError
from nodegraph.registry import (
    BoolParam,
    EnumParam,
    FloatParam,
    Input,
    IntParam,
    Output,
    node,
)
from nodegraph.types import IMAGE, LATENT, MASK, MODEL, NOISE, VAE

from .devices import torch_device
from .sampling import INPAINT_POSTERIOR, POSTERIOR_DRAW, NoiseSource
from .tiling import tiled_apply

if TYPE_CHECKING:
    import torch

    from .handles import ModelHandle, VaeHandle

MAX_SIDE = 16384
UPSCALE_METHODS = ("nearest", "bilinear", "bicubic", "area")


NATIVE = "model default"


@node("latent.Empty", "Empty latent", "latent",
      inputs=[Input("model", MODEL)],
      params=[IntParam("width", 0, 0, MAX_SIDE, 8, "0: the model's native width",
                       zero_label=NATIVE),
              IntParam("height", 0, 0, MAX_SIDE, 8, "0: the model's native height",
                       zero_label=NATIVE),
              IntParam("batch", 1, 1, 64)],
      outputs=[Output("latent", LATENT)])
def empty_latent(model: ModelHandle, width: int, height: int, batch: int) -> dict[str, Any]:
    """A batch of zero latents for an image of width x height (0, the default: the size
    the model was trained at, 64 for shapes64, 512 for SD1.x); the channel count and the
    scale factor come from the model."""
    import torch

    factor = model.vae_scale_factor
    native_height, native_width = native_size(model)
    width, height = width or native_width, height or native_height
    for name, value in (("width", width), ("height", height)):
        if value % factor:
            raise NodeInputError(name, f"{value} is not a multiple of {factor} (this model's "
                                 f"latent cell is {factor} pixels); try "
                                 f"{max(factor, value // factor * factor)}")
    samples = torch.zeros(batch, model.latent_channels, height // factor, width // factor)
    return {"samples": samples, "scale_factor": factor}


def native_size(model: ModelHandle) -> tuple[int, int]:
    """(height, width) in pixels the model was trained at: its UNet's sample size times
    the VAE's scale factor (512 when the config does not say)."""
    size = getattr(model.config, "sample_size", None)
    factor = model.vae_scale_factor
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return int(size[0]) * factor, int(size[1]) * factor
    if isinstance(size, int) and size > 0:
        return size * factor, size * factor
    return 512, 512


TILE_PARAMS = [BoolParam("tiled", False, description="work in tiles (large images)"),
               IntParam("tile_size", 512, 64, 4096, 64, description="tile side in pixels"),
               IntParam("overlap", 64, 0, 1024, 8, description="tile overlap in pixels")]


POSTERIOR_MODES = ("mean", "sample")


@node("latent.VAEEncode", "VAE encode", "latent",
      inputs=[Input("vae", VAE), Input("image", IMAGE),
              Input("noise", NOISE, optional=True,
                    description="the seed to sample the posterior with ('sample'); link "
                                "the Sampler's Noise to reproduce diffusers' pipelines")],
      params=[EnumParam("posterior", POSTERIOR_MODES, "mean",
                        description="mean: the VAE posterior's mean, the same latent for "
                                    "every seed (as ComfyUI); sample: a draw from it with the "
                                    "seed's generator (as diffusers' img2img pipeline)"),
              *TILE_PARAMS],
      outputs=[Output("latent", LATENT)])
def vae_encode(vae: VaeHandle, image: torch.Tensor, noise: NoiseSource | None, posterior: str,
               tiled: bool, tile_size: int, overlap: int, ctx: NodeContext) -> dict[str, Any]:
    """Image -> latent, times the VAE's scaling factor. posterior 'mean' (the default)
    takes the posterior's mean; 'sample' draws from it with the linked Noise's seed, and a
    Sampler using the same Noise then continues that seed's random stream, as the one
    generator of diffusers' StableDiffusionImg2ImgPipeline does: the same seed gives the
    pipeline's image. Tiled encoding bounds memory for large images."""
    factor = vae.scale_factor
    _check_image_size(image, factor)
    if posterior == "sample" and noise is None:
        raise NodeInputError("noise", "posterior 'sample' draws with a seed: link a Noise "
                             "(the Sampler's, to reproduce diffusers' pipelines)")
    sample_with = noise if posterior == "sample" else None
    samples = _encode(vae, image.movedim(-1, 1) * 2 - 1, (tiled, tile_size, overlap), ctx,
                      sample_with)
    out: dict[str, Any] = {"samples": samples, "scale_factor": factor}
    if sample_with is not None:
        out[POSTERIOR_DRAW] = (sample_with.seed, tuple(samples.shape))
    return out


def _check_image_size(image: torch.Tensor, factor: int) -> None:
    height, width = image.shape[1:3]
    if height % factor or width % factor:
        raise NodeInputError("image", f"is {width}x{height}; both sides must be multiples of "
                             f"{factor} (resize or crop it first)")


def _moments(vae: VaeHandle, pixels: torch.Tensor, tiling: tuple[bool, int, int],
             ctx: NodeContext, with_std: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Pixels [B,3,H,W] in [-1, 1] -> the VAE posterior's mean in sampler space (shifted
    and scaled) and, ``with_std``, its standard deviation in the same units; float32, CPU.
    Contiguous: an image [B,H,W,C] moved to [B,C,H,W] leaves the VAE's output with
    channels_last strides, and the UNet and decoder then compute ~1e-5 differently."""
    import torch

    factor = vae.scale_factor
    device = torch_device(ctx.device)
    model = vae.vae_for(device, ctx.dtype)
    pixels = pixels.to(device, model.dtype)
    cells = (pixels.shape[-2] // factor, pixels.shape[-1] // factor)
    tiles = _tiling(*tiling, factor, cells)

    def moments(t: torch.Tensor) -> torch.Tensor:
        dist = model.encode(t).latent_dist
        return torch.cat([dist.mean, dist.std], dim=1) if with_std else dist.mode()

    with torch.inference_mode():
        if tiles is not None:
            out = tiled_apply(moments, pixels, cells, factor, 1, *tiles, ctx.check_cancelled)
        else:
            out = moments(pixels)
    out = out.float().cpu()
    mean, std = out.chunk(2, dim=1) if with_std else (out, None)
    mean = ((mean - vae.shift_factor) * vae.scaling_factor).contiguous()
    return mean, None if std is None else (std * vae.scaling_factor).contiguous()


def _encode(vae: VaeHandle, pixels: torch.Tensor, tiling: tuple[bool, int, int],
            ctx: NodeContext, sample_with: NoiseSource | None = None) -> torch.Tensor:
    """Pixels [B,3,H,W] in [-1, 1] -> latents in sampler space, on CPU: the posterior's
    mean, or with ``sample_with`` mean + std * a draw from its seed's generators (item i
    from seed + i, as diffusers samples with a list of generators)."""
    mean, std = _moments(vae, pixels, tiling, ctx, sample_with is not None)
    if sample_with is None or std is None:
        return mean
    eps = sample_with.draw(tuple(mean.shape), sample_with.generators(mean.shape[0]))
    return mean + std * eps


@node("latent.InpaintEncode", "VAE encode (inpainting model)", "latent",
      inputs=[Input("vae", VAE), Input("image", IMAGE), Input("mask", MASK)],
      params=[BoolParam("keep_unmasked", True,
                        description="also set the noise mask, so the unmasked region stays "
                                    "exactly as it was (off: as diffusers' inpaint pipeline)"),
              EnumParam("posterior", POSTERIOR_MODES, "mean",
                        description="mean: the VAE posteriors' means (as ComfyUI); sample: "
                                    "the Sampler draws from them with its Noise's seed, in "
                                    "the order diffusers' inpaint pipeline does"),
              *TILE_PARAMS],
      outputs=[Output("latent", LATENT)])
def inpaint_encode(vae: VaeHandle, image: torch.Tensor, mask: torch.Tensor, keep_unmasked: bool,
                   posterior: str, tiled: bool, tile_size: int, overlap: int,
                   ctx: NodeContext) -> dict[str, Any]:
    """For inpainting models (UNets with 9 input channels): the image's latent plus what
    the UNet reads beside it at every step, the mask (1 = repaint, binarised at 0.5) and
    the latent of the image with the masked part blanked out, as diffusers'
    StableDiffusionInpaintPipeline prepares them. posterior 'mean' (the default) encodes
    both to their posterior means; 'sample' leaves the draws to the Sampler, which makes
    them with its Noise's seed where the pipeline's one generator does (the image below
    strength 1, then the initial noise, then the masked image): the same seed then gives
    the pipeline's image (UNet step reads the means)."""
    import torch
    import torch.nn.functional as F

    factor = vae.scale_factor
    _check_image_size(image, factor)
    if mask.ndim == 2:
        mask = mask[None]
    if mask.shape[-2:] != image.shape[1:3] or mask.shape[0] not in (1, image.shape[0]):
        raise NodeInputError("mask", f"is {tuple(mask.shape)}; it must be a [batch, height, "
                             f"width] mask of the image's size {tuple(image.shape[1:3])}")
    binary = (mask.float() >= 0.5).float()[:, None]  # [B,1,H,W]
    pixels = image.movedim(-1, 1) * 2 - 1
    tiling = (tiled, tile_size, overlap)
    sample = posterior == "sample"
    samples, samples_std = _moments(vae, pixels, tiling, ctx, sample)
    masked, masked_std = _moments(vae, pixels * (1 - binary), tiling, ctx, sample)
    small = F.interpolate(binary, size=samples.shape[-2:])
    concat = torch.cat([small.expand(samples.shape[0], -1, -1, -1),
                        masked.expand(samples.shape[0], -1, -1, -1)], dim=1)
    out = {"samples": samples, "scale_factor": factor, "inpaint_concat": concat}
    if sample:
        out[INPAINT_POSTERIOR] = {"samples_std": samples_std, "masked_std": masked_std}
    if keep_unmasked:
        out["noise_mask"] = binary[:, 0]
    return out


def _decode(model: Any, z: torch.Tensor) -> torch.Tensor:
    return model.decode(z, return_dict=False)[0]


def _tiling(tiled: bool, tile_size: int, overlap: int, factor: int,
            cells: tuple[int, int]) -> tuple[int, int] | None:
    """(tile, overlap) in latent cells when tiling applies, else None."""
    tile = max(1, tile_size // factor)
    if not tiled or (cells[0] <= tile and cells[1] <= tile):
        return None
    return tile, min(overlap // factor, tile // 2)


@node("latent.VAEDecode", "VAE decode", "latent",
      inputs=[Input("vae", VAE), Input("latent", LATENT)],
      params=TILE_PARAMS,
      outputs=[Output("image", IMAGE)])
def vae_decode(vae: VaeHandle, latent: dict[str, Any], tiled: bool, tile_size: int,
               overlap: int, ctx: NodeContext) -> torch.Tensor:
    """Latent -> image. Tiled decoding bounds memory for large images (seams are blended
    over the overlap)."""
    import torch

    samples = latent["samples"]
    if samples.shape[1] != vae.latent_channels:
        raise NodeInputError("latent", f"has {samples.shape[1]} channels; this VAE takes "
                             f"{vae.latent_channels}")
    factor = vae.scale_factor
    device = torch_device(ctx.device)
    model = vae.vae_for(device, ctx.dtype)
    z = samples.to(device, model.dtype) / vae.scaling_factor + vae.shift_factor
    cells = (z.shape[-2], z.shape[-1])
    tiling = _tiling(tiled, tile_size, overlap, factor, cells)
    with torch.inference_mode():
        if tiling is not None:
            decoded = tiled_apply(lambda t: _decode(model, t), z, cells, 1, factor, *tiling,
                                  ctx.check_cancelled)
        else:
            decoded = _decode(model, z)
    image = (decoded.float() / 2 + 0.5).clamp(0, 1)
    return image.movedim(1, -1).cpu().contiguous()


MASK_MODES = ("soft", "binary")


@node("latent.SetNoiseMask", "Set latent noise mask", "latent",
      inputs=[Input("latent", LATENT), Input("mask", MASK)],
      params=[EnumParam("mode", MASK_MODES, "soft",
                        description="soft: blend by the mask's value, so feathered edges "
                                    "blend (as ComfyUI); binary: repaint where the mask is "
                                    ">= 0.5, keep the rest (as diffusers' inpaint pipeline)")],
      outputs=[Output("latent", LATENT)])
def set_noise_mask(latent: dict[str, Any], mask: torch.Tensor, mode: str) -> dict[str, Any]:
    """Inpainting: only the masked region (mask 1) is regenerated; the rest is reset to
    the noised original at every step and survives exactly. The mask may be at image or
    latent size. mode 'soft' (the default) blends by the mask's value at every step;
    'binary' first rounds it at 0.5, as StableDiffusionInpaintPipeline does (with VAE encode
    'sample' and the same Noise, a 4-channel model then gives that pipeline's image for
    non-ancestral samplers)."""
    from .sampling import latent_mask

    latent_mask(mask, latent["samples"], "mask")  # checks size and batch
    if mode == "binary":
        mask = (mask.float() >= 0.5).float()
    return {**latent, "noise_mask": mask}


@node("latent.Upscale", "Latent upscale", "latent",
      inputs=[Input("latent", LATENT)],
      params=[EnumParam("method", UPSCALE_METHODS, "nearest"),
              EnumParam("mode", ("factor", "size"), "factor"),
              FloatParam("factor", 1.5, 0.05, 8.0),
              IntParam("width", 1024, 8, MAX_SIDE, 8), IntParam("height", 1024, 8, MAX_SIDE, 8)],
      outputs=[Output("latent", LATENT)])
def latent_upscale(latent: dict[str, Any], method: str, mode: str, factor: float,
                   width: int, height: int) -> dict[str, Any]:
    """Resize a latent by a factor or to an image size (pixels; divided by the latent's
    scale factor). A noise mask is resized with it."""
    import torch.nn.functional as F

    samples = latent["samples"]
    cell = int(latent.get("scale_factor", 8))
    h, w = samples.shape[-2:]
    if mode == "factor":
        new_h, new_w = max(1, round(h * factor)), max(1, round(w * factor))
    else:
        if width % cell or height % cell:
            raise NodeInputError("width" if width % cell else "height",
                                 f"must be a multiple of {cell} (the latent cell size)")
        new_h, new_w = height // cell, width // cell
    if max(new_h, new_w) * cell > MAX_SIDE:
        raise NodeInputError("factor" if mode == "factor" else "width",
                             f"would give a {new_w * cell}x{new_h * cell} image")
    kwargs = {"align_corners": False} if method in ("bilinear", "bicubic") else {}
    out = {**latent, "samples": F.interpolate(samples, size=(new_h, new_w), mode=method,
                                              **kwargs)}
    mask = latent.get("noise_mask")
    if mask is not None:
        mh, _mw = mask.shape[-2:]
        scale = mh // h if mh % h == 0 else 1
        out["noise_mask"] = F.interpolate(mask[:, None].float(),
                                          size=(new_h * scale, new_w * scale))[:, 0]
    return out
