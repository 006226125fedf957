"""The reverse process: noise, schedulers, the CFG guider, the sampler and a single UNet
step, plus the forward process (add noise). Built on diffusers' schedulers as they are:
our sampler runs the same operations in the same order as StableDiffusionPipeline, so
a graph and the pipeline give the same pixels for the same components and seed."""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nodegraph.context import NodeContext, NodeInputError
from nodegraph.registry import (
    BoolParam,
    EnumParam,
    FloatParam,
    Input,
    IntParam,
    Output,
    SeedParam,
    node,
)
from nodegraph.types import CONDITIONING, GUIDER, LATENT, MASK, MODEL, NOISE, SCHEDULER

from .conditioning import pad_embeds
from .devices import torch_device
from .latent_preview import Previewer, latent_preview

if TYPE_CHECKING:
    import torch

    from .conditioning import Conditioning
    from .handles import ModelHandle

# sampler name -> (diffusers scheduler class, config overrides)
SAMPLERS: dict[str, tuple[str | None, dict[str, Any]]] = {
    "default": (None, {}),
    "ddpm": ("DDPMScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "pndm": ("PNDMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_ancestral": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "dpm_2": ("KDPM2DiscreteScheduler", {}),
    "dpm_2_ancestral": ("KDPM2AncestralDiscreteScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler",
                 {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "dpmpp_2m_sde": ("DPMSolverMultistepScheduler",
                     {"algorithm_type": "sde-dpmsolver++", "solver_order": 2}),
    "unipc": ("UniPCMultistepScheduler", {}),
    "lcm": ("LCMScheduler", {}),
}
BETA_SCHEDULES = {"model default": None, "linear": "linear", "scaled_linear": "scaled_linear",
                  "cosine": "squaredcos_cap_v2"}
SEED_MOD = 2**64
POSTERIOR_DRAW = "posterior_draw"  # LATENT key: (seed, shape) of VAE encode's posterior draw
# LATENT key: the standard deviations of the image's and the masked image's posteriors,
# which the Sampler samples (VAE encode (inpainting model), posterior 'sample')
INPAINT_POSTERIOR = "inpaint_posterior"


# -- noise ------------------------------------------------------------------------------
@dataclass(frozen=True)
class NoiseSource:
    """NOISE: a seed. Item i of a batch is drawn from a CPU generator seeded with
    seed + i, so one image of a batch can be reproduced on its own, and a seed gives the
    same noise on every device."""

    seed: int

    def generators(self, batch: int) -> list[torch.Generator]:
        import torch

        return [torch.Generator("cpu").manual_seed((self.seed + i) % SEED_MOD)
                for i in range(batch)]

    def draw(self, shape: tuple[int, ...], generators: list[Any]) -> torch.Tensor:
        """Initial noise [B, ...] on the CPU (float32), one item per generator."""
        import torch

        return torch.cat([torch.randn((1, *shape[1:]), generator=g, dtype=torch.float32)
                          for g in generators[:shape[0]]])

    def generators_for(self, latent: dict[str, Any], batch: int) -> list[torch.Generator]:
        """Generators for noising ``latent``: when VAE encode drew its posterior sample with
        this seed, they continue after that draw, as the one generator of diffusers'
        img2img pipeline does (posterior sample, then the initial noise, then the
        ancestral samplers' noise)."""
        generators = self.generators(batch)
        drawn = latent.get(POSTERIOR_DRAW)
        if drawn is not None and drawn[0] == self.seed:
            self.draw(tuple(drawn[1]), generators)
        return generators


@node("sampling.Noise", "Noise", "sampling",
      params=[SeedParam("seed", 0)], outputs=[Output("noise", NOISE)])
def noise_node(seed: int) -> NoiseSource:
    """Gaussian noise from a seed, drawn on the CPU (the same image on every device).
    Batch item i uses seed + i."""
    return NoiseSource(seed)


# -- schedulers ---------------------------------------------------------------------------
def scheduler_class(name: str, config: dict[str, Any]) -> Any:
    import diffusers

    class_name = SAMPLERS[name][0] or config.get("_class_name") or "DDIMScheduler"
    cls = getattr(diffusers, class_name, None)
    if cls is None:
        raise ValueError(f"unknown scheduler class {class_name!r}")
    return cls


@dataclass(frozen=True, eq=False)
class SchedulePlan:
    """SCHEDULER: which sampler, on which beta schedule, how many steps and how much of
    the schedule to run (denoise < 1 starts part-way, for img2img). ``make()`` builds a
    fresh diffusers scheduler each time: schedulers keep state while sampling."""

    config: dict[str, Any]
    sampler: str
    steps: int
    denoise: float
    beta_schedule: str = "model default"
    karras: bool = False

    def scheduler(self) -> Any:
        """A fresh scheduler (a copy of one built once per plan: from_config is slow)."""
        import copy

        return copy.deepcopy(self._prototype)

    @functools.cached_property
    def _prototype(self) -> Any:
        cls = scheduler_class(self.sampler, self.config)
        overrides = dict(SAMPLERS[self.sampler][1])
        beta = BETA_SCHEDULES[self.beta_schedule]
        if beta is not None:
            overrides["beta_schedule"] = beta
        if self.karras:
            overrides["use_karras_sigmas"] = True
        config = {k: v for k, v in self.config.items() if not k.startswith("_")}
        return cls.from_config({**config, **overrides})

    def make(self, device: Any = None) -> tuple[Any, Any, int]:
        """(scheduler, timesteps to run, index of the first of them in the full list)."""
        scheduler = self.scheduler()
        scheduler.set_timesteps(self.steps, device=device)
        order = getattr(scheduler, "order", 1)
        init = min(int(self.steps * self.denoise), self.steps)
        t_start = max(self.steps - init, 0)
        timesteps = scheduler.timesteps[t_start * order:]
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(t_start * order)
        return scheduler, timesteps, t_start * order


def _accepts(cls: Any, name: str) -> bool:
    return name in inspect.signature(cls.__init__).parameters


@node("sampling.Scheduler", "Scheduler", "sampling",
      inputs=[Input("model", MODEL)],
      params=[EnumParam("sampler", tuple(SAMPLERS), "euler"),
              EnumParam("beta_schedule", tuple(BETA_SCHEDULES), "model default"),
              BoolParam("karras", False, description="Karras sigma spacing"),
              IntParam("steps", 20, 1, 1000),
              FloatParam("denoise", 1.0, 0.0, 1.0,
                         description="1 runs the whole schedule; less starts part-way "
                                     "(img2img strength)")],
      outputs=[Output("scheduler", SCHEDULER)])
def scheduler_node(model: ModelHandle, sampler: str, beta_schedule: str, karras: bool,
                   steps: int, denoise: float) -> SchedulePlan:
    """Choose the sampler (a diffusers scheduler), beta schedule, sigma spacing, step
    count and denoise strength. The model supplies its training schedule."""
    plan = SchedulePlan(model.scheduler_config, sampler, steps, denoise, beta_schedule, karras)
    cls = scheduler_class(sampler, plan.config)
    if karras and not _accepts(cls, "use_karras_sigmas"):
        raise NodeInputError("karras", f"{sampler} ({cls.__name__}) has no Karras spacing")
    if beta_schedule != "model default" and not _accepts(cls, "beta_schedule"):
        raise NodeInputError("beta_schedule", f"{sampler} ({cls.__name__}) takes no beta "
                             "schedule")
    if int(steps * denoise) < 1:
        raise NodeInputError("denoise", f"{denoise} of {steps} steps leaves no step to run")
    try:
        plan.make()
    except (ValueError, NotImplementedError) as error:
        raise NodeInputError("sampler", f"{sampler}: {error}") from None
    return plan


# -- guider ------------------------------------------------------------------------------------
def guidance_embedding(scale: float, batch: int, dim: int) -> torch.Tensor:
    """LCM-distilled UNets take the guidance scale as an embedding (time_cond_proj_dim)."""
    import torch

    w = torch.tensor(scale - 1).repeat(batch) * 1000.0
    half = dim // 2
    emb = torch.log(torch.tensor(10000.0)) / (half - 1)
    emb = torch.exp(torch.arange(half, dtype=torch.float32) * -emb)
    emb = w.float()[:, None] * emb[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)
    if dim % 2 == 1:
        emb = torch.nn.functional.pad(emb, (0, 1))
    return emb


@dataclass(frozen=True, eq=False)
class CFGGuider:
    """GUIDER: classifier-free guidance of a model between two conditionings."""

    model: ModelHandle
    positive: Conditioning
    negative: Conditioning | None
    scale: float
    rescale: float = 0.0

    @property
    def uses_uncond(self) -> bool:
        """Guidance runs only above scale 1 and with a negative, as in diffusers'
        pipelines (do_classifier_free_guidance = guidance_scale > 1): at or below 1 the
        positive prediction alone is used."""
        return self.scale > 1.0 and self.negative is not None

    def prepare(self, batch: int, height: int, width: int, device: Any,
                dtype: Any) -> dict[str, Any]:
        """Everything the UNet needs besides x and t, batched as [negative..., positive...]
        (the order diffusers' pipelines use)."""
        import torch

        pos = self.positive.embeds
        conds = [pos]
        if self.uses_uncond:
            neg = self.negative.embeds
            # each side pads with its own empty chunk (zeros for a zeroed-out negative),
            # else the other side's
            pads = [c.pad_chunk for c in (self.positive, self.negative)]
            length = max(pos.shape[1], neg.shape[1])
            neg = pad_embeds(neg, pads[1] if pads[1] is not None else pads[0], length)
            pos = pad_embeds(pos, pads[0] if pads[0] is not None else pads[1], length)
            conds = [neg, pos]
        embeds = torch.cat([c.expand(batch, -1, -1) for c in conds]).to(device, dtype)
        prepared: dict[str, Any] = {"encoder_hidden_states": embeds, "added_cond_kwargs": None,
                                    "timestep_cond": None}
        config = self.model.config
        if config.get("addition_embed_type") == "text_time":
            pooled = [self.positive.pooled]
            if self.uses_uncond:
                pooled = [self.negative.pooled, self.positive.pooled]
            if any(p is None for p in pooled):
                raise ValueError("this model (SDXL) needs pooled text embeddings: encode the "
                                 "prompts with its own CLIP")
            factor = self.model.vae_scale_factor
            size = [height * factor, width * factor]
            time_ids = torch.tensor([[*size, 0, 0, *size]], dtype=dtype)
            prepared["added_cond_kwargs"] = {
                "text_embeds": torch.cat([p.expand(batch, -1) for p in pooled]).to(device, dtype),
                "time_ids": time_ids.repeat(batch * len(pooled), 1).to(device),
            }
        if config.get("time_cond_proj_dim") is not None:
            prepared["timestep_cond"] = guidance_embedding(
                self.scale, batch, config["time_cond_proj_dim"]).to(device, dtype)
        return prepared

    def predict(self, unet: Any, x_in: torch.Tensor, t: Any,
                prepared: dict[str, Any]) -> torch.Tensor:
        """The guided noise prediction for the (already scaled) model input ``x_in``."""
        import torch

        doubled = self.uses_uncond
        concat = prepared.get("concat")
        if concat is not None:  # an inpainting UNet: [x, mask, masked image latents]
            x_in_full = torch.cat([x_in, concat.to(x_in.device, x_in.dtype)], dim=1)
        else:
            x_in_full = x_in
        model_in = torch.cat([x_in_full] * 2) if doubled else x_in_full
        out = unet(model_in.to(prepared["encoder_hidden_states"].dtype), t,
                   encoder_hidden_states=prepared["encoder_hidden_states"],
                   timestep_cond=prepared["timestep_cond"],
                   added_cond_kwargs=prepared["added_cond_kwargs"], return_dict=False)[0]
        out = out.to(x_in.dtype)
        if not doubled:
            return out
        uncond, text = out.chunk(2)
        guided = uncond + self.scale * (text - uncond)
        if self.rescale > 0:  # Lin et al. 2023, section 3.4: diffusers' own function
            from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import (
                rescale_noise_cfg,
            )

            guided = rescale_noise_cfg(guided, text, guidance_rescale=self.rescale)
        return guided


NEGATIVE_HELP = ("unlinked: no guidance, the positive prompt alone (diffusers' "
                 "guidance_scale 1), not diffusers' default empty negative prompt: for that, "
                 "link a Text encode of an empty prompt")


@node("sampling.CFGGuider", "CFG guider", "sampling",
      inputs=[Input("model", MODEL), Input("positive", CONDITIONING),
              Input("negative", CONDITIONING, optional=True, description=NEGATIVE_HELP)],
      params=[FloatParam("scale", 7.5, 0.0, 100.0, 0.1,
                         description="guidance strength; at or below 1 guidance is off (the "
                                     "positive prompt alone), as in diffusers"),
              FloatParam("guidance_rescale", 0.0, 0.0, 1.0)],
      outputs=[Output("guider", GUIDER)])
def cfg_guider(model: ModelHandle, positive: Conditioning, negative: Conditioning | None,
               scale: float, guidance_rescale: float) -> CFGGuider:
    """Classifier-free guidance: uncond + scale * (cond - uncond), both passes in one
    batched UNet call. As in diffusers' pipelines, guidance is off at scale <= 1 and
    without a negative: the conditional pass runs alone. An unlinked negative is therefore
    diffusers' guidance_scale 1, not its default empty negative prompt (link a Text encode
    of '' for that)."""
    width = positive.embeds.shape[-1]
    expected = model.config.get("cross_attention_dim")
    if expected is not None and width != expected and not isinstance(expected, list):
        raise NodeInputError("positive", f"its embeddings are {width} wide, but the model "
                             f"expects {expected}: encode with this model's CLIP")
    if negative is not None and negative.embeds.shape[-1] != width:
        raise NodeInputError("negative", "was encoded by a different CLIP than positive")
    return CFGGuider(model, positive, negative, scale, guidance_rescale)


# -- the sampler ---------------------------------------------------------------------------
def _step_kwargs(scheduler: Any, generators: list[Any]) -> dict[str, Any]:
    params = inspect.signature(scheduler.step).parameters
    kwargs: dict[str, Any] = {}
    if "generator" in params:
        kwargs["generator"] = generators[0] if len(generators) == 1 else generators
    if "eta" in params:
        kwargs["eta"] = 0.0
    return kwargs


def check_latent_for(model: ModelHandle, latent: dict[str, Any]) -> Any:
    """Refuse a latent the model cannot denoise; returns the extra UNet input channels an
    inpainting model takes (mask + masked-image latents, from VAE encode (inpainting
    model)), or None for an ordinary model."""
    samples = latent["samples"]
    channels = model.latent_channels
    if samples.shape[1] != channels:
        raise NodeInputError("latent", f"has {samples.shape[1]} channels; this model's "
                             f"latents have {channels}")
    extra = model.unet_channels - channels
    if extra == 0:
        return None
    concat = latent.get("inpaint_concat")
    if concat is None or concat.shape[1] != extra:
        raise NodeInputError("latent", f"this model's UNet takes {model.unet_channels} "
                             f"channels: {channels} latent + {extra} for inpainting (mask and "
                             "masked image); make the latent with 'VAE encode (inpainting "
                             "model)'")
    if concat.shape[-2:] != samples.shape[-2:] or concat.shape[0] not in (1, samples.shape[0]):
        raise NodeInputError("latent", "its inpainting mask and masked image no longer fit "
                             f"the latent ({tuple(concat.shape)} vs {tuple(samples.shape)}): "
                             "resize the image before encoding, not the latent after")
    return concat.expand(samples.shape[0], -1, -1, -1)


def latent_mask(mask: torch.Tensor, latent: torch.Tensor, field: str) -> torch.Tensor:
    """A MASK [B,H,W] (pixel or latent size) as [B,1,h,w] at the latent's size."""
    import torch.nn.functional as F

    b, _, h, w = latent.shape
    if mask.ndim == 2:
        mask = mask[None]
    if mask.ndim != 3:
        raise NodeInputError(field, f"expected a mask [batch, height, width], got shape "
                             f"{tuple(mask.shape)}")
    mh, mw = mask.shape[-2:]
    if (mh, mw) != (h, w):
        fy, fx = mh / h, mw / w
        if fy != fx or fy != int(fy) or fy < 1:
            raise NodeInputError(field, f"the mask is {mw}x{mh}, which fits neither the latent "
                                 f"({w}x{h}) nor its image size (a whole multiple of it)")
    if mask.shape[0] not in (1, b):
        raise NodeInputError(field, f"a batch of {mask.shape[0]} masks for {b} latents")
    m = mask.float()[:, None]
    if (mh, mw) != (h, w):
        m = F.interpolate(m, size=(h, w))
    return m.expand(b, -1, -1, -1)


def _x0_from(scheduler: Any, out: Any, eps: torch.Tensor, x: torch.Tensor, t: Any,
             index: int) -> torch.Tensor:
    """The model's prediction of the clean latent at this step."""
    x0 = getattr(out, "pred_original_sample", None)
    if x0 is None:
        x0 = getattr(out, "denoised", None)
    if x0 is not None:
        return x0
    prediction = scheduler.config.get("prediction_type", "epsilon")
    if getattr(scheduler, "init_noise_sigma", 1.0) != 1.0 and hasattr(scheduler, "sigmas"):
        sigma = scheduler.sigmas[index].to(x.device, x.dtype)
        if prediction == "v_prediction":
            return eps * (-sigma / (sigma**2 + 1) ** 0.5) + x / (sigma**2 + 1)
        return x - sigma * eps
    alpha = scheduler.alphas_cumprod.to(x.device)[int(t)].to(x.dtype)
    if prediction == "v_prediction":
        return alpha.sqrt() * x - (1 - alpha).sqrt() * eps
    if prediction == "sample":
        return eps
    return (x - (1 - alpha).sqrt() * eps) / alpha.sqrt()


def run_sampler(guider: CFGGuider, plan: SchedulePlan, noise: NoiseSource,
                latent: dict[str, Any], mask: torch.Tensor | None, add_noise: bool,
                device: Any, progress: Any = None, previews: bool = True,
                dtype: str = "auto") -> torch.Tensor:
    """The reverse process, in the order StableDiffusion(Img2Img/Inpaint)Pipeline runs it,
    the UNet in ``dtype`` (auto: the device policy's). Returns the final latent (float32,
    CPU)."""
    import torch

    concat = check_latent_for(guider.model, latent)
    samples = latent["samples"]
    batch, _, height, width = samples.shape
    scheduler, timesteps, _ = plan.make(device)
    generators = noise.generators_for(latent, batch)
    original = samples.to(device, torch.float32)
    full = plan.denoise >= 1.0
    spread = latent.get(INPAINT_POSTERIOR) if add_noise and concat is not None else None
    if spread is not None and not full:  # the pipeline samples the image below strength 1
        original = original + spread["samples_std"].to(device) * noise.draw(
            tuple(samples.shape), generators).to(device)
    initial_noise = noise.draw(tuple(samples.shape), generators).to(device)
    if spread is not None:  # then the masked image, after the initial noise
        masked_std = spread["masked_std"].expand(batch, -1, -1, -1)
        eps = noise.draw(tuple(masked_std.shape), generators)
        concat = torch.cat([concat[:, :1], concat[:, 1:] + masked_std * eps], dim=1)
    if not add_noise:
        x = original.clone()
    elif full:
        x = initial_noise * scheduler.init_noise_sigma
    else:
        x = scheduler.add_noise(original, initial_noise, timesteps[:1].repeat(batch))
    m = None if mask is None else mask.to(device, torch.float32)
    kwargs = _step_kwargs(scheduler, generators)
    total = len(timesteps)
    previewer = Previewer(guider.model.preview_render(), device) if previews else None
    with torch.inference_mode(), guider.model.unet_for(device, dtype) as unet:
        prepared = guider.prepare(batch, height, width, device, unet.dtype)
        prepared["concat"] = None if concat is None else concat.to(device)
        for i, t in enumerate(timesteps):
            x_in = scheduler.scale_model_input(x, t)
            eps = guider.predict(unet, x_in, t, prepared)
            out = scheduler.step(eps, t, x, **kwargs, return_dict=True)
            x = out.prev_sample
            if m is not None:
                keep = original
                if i < total - 1:
                    keep = scheduler.add_noise(original, initial_noise, timesteps[i + 1:i + 2])
                x = (1 - m) * keep + m * x
            if progress is not None:
                shown = getattr(out, "pred_original_sample", None)
                preview = None if previewer is None else previewer(
                    shown if shown is not None else x, last=i == total - 1)
                progress(i + 1, total, preview)
    return x.float().cpu()


@node("sampling.Sampler", "Sampler", "sampling",
      inputs=[Input("guider", GUIDER), Input("scheduler", SCHEDULER), Input("noise", NOISE),
              Input("latent", LATENT), Input("mask", MASK, optional=True)],
      params=[BoolParam("add_noise", True,
                        description="noise the latent first (off: it is already noised, "
                                    "e.g. by Add noise)")],
      outputs=[Output("latent", LATENT)])
def sampler_node(guider: CFGGuider, scheduler: SchedulePlan, noise: NoiseSource,
                 latent: dict[str, Any], mask: torch.Tensor | None, add_noise: bool,
                 ctx: NodeContext) -> dict[str, Any]:
    """Run the reverse process from the latent (an empty latent for txt2img, an encoded
    image with denoise < 1 for img2img). With a noise mask (input or from Set latent
    noise mask) only the masked region changes: the rest is reset to the noised original
    at every step and equals the original exactly at the end. When VAE encode sampled the
    latent's posterior with this Noise's seed, the noise continues that seed's random
    stream (as diffusers' img2img pipeline's one generator does)."""
    samples = latent["samples"]
    source = mask if mask is not None else latent.get("noise_mask")
    field = "mask" if mask is not None else "latent"
    m = latent_mask(source, samples, field) if source is not None else None
    device = torch_device(ctx.device)
    result = run_sampler(guider, scheduler, noise, latent, m, add_noise, device, ctx.progress,
                          ctx.previews, ctx.dtype)
    out = {k: v for k, v in latent.items() if k not in ("samples", "noise_mask",
                                                         POSTERIOR_DRAW, INPAINT_POSTERIOR)}
    out["samples"] = result
    return out


# -- one step, and the forward process ------------------------------------------------------
@node("sampling.UNetStep", "UNet step", "sampling",
      inputs=[Input("guider", GUIDER), Input("scheduler", SCHEDULER), Input("noise", NOISE),
              Input("latent", LATENT)],
      params=[IntParam("step", 0, 0, 999, description="index among the scheduler's steps")],
      outputs=[Output("latent", LATENT), Output("x0", LATENT)])
def unet_step(guider: CFGGuider, scheduler: SchedulePlan, noise: NoiseSource,
              latent: dict[str, Any], step: int,
              ctx: NodeContext) -> tuple[dict[str, Any], dict[str, Any]]:
    """One reverse step at step index k of the scheduler (the latent must be the noisy
    latent at that step): returns the next latent and the predicted clean latent x0.
    Chain several to unroll sampling. Exact for first-order samplers (ddim, ddpm, euler,
    euler_ancestral, lcm); multistep samplers start their history afresh each step."""
    import torch

    device = torch_device(ctx.device)
    sched, timesteps, begin = scheduler.make(device)
    if getattr(sched, "order", 1) != 1:
        raise NodeInputError("scheduler", f"{scheduler.sampler} takes two model calls per "
                             "step; use a first-order sampler for unrolled steps")
    if step >= len(timesteps):
        raise NodeInputError("step", f"the scheduler has {len(timesteps)} steps "
                             f"(0..{len(timesteps) - 1})")
    if hasattr(sched, "set_begin_index"):
        sched.set_begin_index(begin + step)
    concat = check_latent_for(guider.model, latent)
    samples = latent["samples"]
    batch, _, height, width = samples.shape
    # a different, reproducible noise stream per step (ancestral samplers)
    generators = NoiseSource((noise.seed + step * 1_000_003) % SEED_MOD).generators(batch)
    x = samples.to(device, torch.float32)
    t = timesteps[step]
    with torch.inference_mode(), guider.model.unet_for(device, ctx.dtype) as unet:
        prepared = guider.prepare(batch, height, width, device, unet.dtype)
        prepared["concat"] = None if concat is None else concat.to(device)
        eps = guider.predict(unet, sched.scale_model_input(x, t), t, prepared)
        index = getattr(sched, "step_index", None)
        out = sched.step(eps, t, x, **_step_kwargs(sched, generators), return_dict=True)
        x0 = _x0_from(sched, out, eps, x, t, index if index is not None else begin + step)
    preview = latent_preview(x0, guider.model.preview_render()) if ctx.previews else None
    ctx.progress(1, 1, preview)
    base = {k: v for k, v in latent.items() if k not in ("samples", "noise_mask")}
    return ({**base, "samples": out.prev_sample.float().cpu()},
            {**base, "samples": x0.float().cpu()})


@node("sampling.AddNoise", "Add noise", "sampling",
      inputs=[Input("scheduler", SCHEDULER), Input("noise", NOISE), Input("latent", LATENT)],
      params=[EnumParam("mode", ("strength", "timestep"), "strength"),
              FloatParam("strength", 0.5, 0.0, 1.0),
              IntParam("timestep", 500, 0, 999)],
      outputs=[Output("latent", LATENT)])
def add_noise_node(scheduler: SchedulePlan, noise: NoiseSource, latent: dict[str, Any],
                   mode: str, strength: float, timestep: int) -> dict[str, Any]:
    """The forward process q(x_t | x_0). 'strength': noise to where the scheduler with
    that denoise starts, in the scheduler's own parameterisation (feed it to a Sampler with
    add_noise off, or a UNet step, using a scheduler with the same denoise). 'timestep':
    sqrt(abar_t) x0 + sqrt(1 - abar_t) eps at a training timestep, for inspection."""
    import torch

    samples = latent["samples"].float()
    generators = noise.generators_for(latent, samples.shape[0])
    eps = noise.draw(tuple(samples.shape), generators)
    if mode == "strength":
        if int(scheduler.steps * strength) < 1:
            raise NodeInputError("strength", f"{strength} of {scheduler.steps} steps is no "
                                 "step at all")
        plan = SchedulePlan(scheduler.config, scheduler.sampler, scheduler.steps, strength,
                            scheduler.beta_schedule, scheduler.karras)
        sched, timesteps, _ = plan.make()
        noised = sched.add_noise(samples, eps, timesteps[:1].repeat(samples.shape[0]))
    else:
        sched = scheduler.scheduler()
        alpha = sched.alphas_cumprod[timestep].to(torch.float32)
        noised = alpha.sqrt() * samples + (1 - alpha).sqrt() * eps
    base = {k: v for k, v in latent.items() if k != "samples"}
    return {**base, "samples": noised}
