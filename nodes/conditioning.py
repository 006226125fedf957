"""Text encoding: prompt -> CONDITIONING, with A1111/ComfyUI-style emphasis and chunking.

Emphasis: ``(words)`` x1.1, ``[words]`` /1.1, ``(words:1.3)`` x1.3, nestable; ``\\(`` for a
literal bracket. Prompts longer than the encoder's window (75 tokens plus BOS/EOS) are
split into 77-token chunks, each encoded on its own, and the hidden states concatenated
along the sequence axis (as A1111 and ComfyUI do).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nodegraph.context import NodeContext, NodeInputError
from nodegraph.registry import FloatParam, Input, IntParam, Output, StringParam, node
from nodegraph.types import CLIP, CONDITIONING

from .devices import torch_device

if TYPE_CHECKING:
    import torch

    from .handles import ClipHandle, TextEncoderSlot

_ATTENTION_RE = re.compile(r"""
\\\(|\\\)|\\\[|\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|]|[^\\()\[\]:]+|:
""", re.X)


def parse_prompt_attention(text: str) -> list[tuple[str, float]]:
    """Split a prompt into (text, weight) runs, the way A1111 reads emphasis."""
    res: list[list[Any]] = []
    round_open: list[int] = []
    square_open: list[int] = []

    def multiply(start: int, factor: float) -> None:
        for item in res[start:]:
            item[1] *= factor

    for match in _ATTENTION_RE.finditer(text):
        token, weight = match.group(0), match.group(1)
        if token.startswith("\\"):
            res.append([token[1:], 1.0])
        elif token == "(":
            round_open.append(len(res))
        elif token == "[":
            square_open.append(len(res))
        elif weight is not None and round_open:
            multiply(round_open.pop(), float(weight))
        elif token == ")" and round_open:
            multiply(round_open.pop(), 1.1)
        elif token == "]" and square_open:
            multiply(square_open.pop(), 1 / 1.1)
        else:
            res.append([token, 1.0])
    for start in round_open:
        multiply(start, 1.1)
    for start in square_open:
        multiply(start, 1 / 1.1)
    merged: list[list[Any]] = []
    for text_part, weight in res:
        if merged and merged[-1][1] == weight:
            merged[-1][0] += text_part
        else:
            merged.append([text_part, weight])
    return [(t, float(w)) for t, w in merged] or [("", 1.0)]


@dataclass(frozen=True, eq=False)
class Conditioning:
    """CONDITIONING: encoder hidden states [1, 77*k, D] (float32, CPU), SDXL's pooled
    embedding [1, P] (or None), and the encoding of an empty chunk [1, 77, D] (set when
    the prompt needed more than one chunk) used to
    pad a shorter prompt to the length of a longer one in one batched UNet call."""

    embeds: torch.Tensor
    pooled: torch.Tensor | None
    pad_chunk: torch.Tensor | None
    text: str = ""



def tokenize_weighted(tokenizer: Any, text: str,
                      window: int | None = None) -> tuple[list[list[int]], list[list[float]]]:
    """Token ids and weights per chunk of ``window`` tokens (77 for CLIP): [BOS] + the
    prompt's tokens + [EOS] + padding with the tokenizer's pad token, as diffusers'
    pipelines pad. A prompt longer than one chunk fills several."""
    limit = int(getattr(tokenizer, "model_max_length", 77) or 77)
    if limit > 100_000:  # tokenizers saved without a length
        limit = 77
    window = min(limit, window) if window else limit
    ids: list[int] = []
    weights: list[float] = []
    for part, weight in parse_prompt_attention(text):
        if not part:
            continue
        part_ids = tokenizer(part, add_special_tokens=False, truncation=False,
                             verbose=False).input_ids
        ids.extend(part_ids)
        weights.extend([weight] * len(part_ids))
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    head = [bos] if bos is not None else []
    tail = [eos] if eos is not None else []
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = eos if eos is not None else 0
    body = window - len(head) - len(tail)
    chunk_ids, chunk_weights = [], []
    for start in range(0, max(len(ids), 1), body):
        piece, piece_w = ids[start:start + body], weights[start:start + body]
        fill = body - len(piece)
        chunk_ids.append(head + piece + tail + [pad] * fill)
        chunk_weights.append([1.0] * len(head) + piece_w + [1.0] * (len(tail) + fill))
    return chunk_ids, chunk_weights


def _run_encoder(slot: TextEncoderSlot, ids: list[int], device: Any,
                 last_layer: int = -1) -> tuple[Any, Any]:
    """Hidden states (and the pooled embedding, if the slot gives one) of one chunk.
    ``last_layer`` < -1 reads an earlier layer, as diffusers' ``clip_skip`` does: through the
    final layer norm for "last" encoders, and one more layer back, without it, for SDXL's
    "penultimate" ones."""
    import torch

    encoder = slot.encoder
    input_ids = torch.tensor([ids], device=device)
    kwargs: dict[str, Any] = {}
    eos = slot.tokenizer.eos_token_id
    if getattr(encoder.config, "use_attention_mask", False) and eos in ids:
        mask = [1] * (ids.index(eos) + 1)
        kwargs["attention_mask"] = torch.tensor([mask + [0] * (len(ids) - len(mask))],
                                                device=device)
    penultimate = slot.output == "penultimate"
    want_hidden = penultimate or last_layer != -1
    out = encoder(input_ids, output_hidden_states=want_hidden, **kwargs)
    if penultimate:
        hidden = out.hidden_states[last_layer - 1]
    elif last_layer != -1:
        # transformers 5 flattened CLIPTextModel (no .text_model); 4 nests it
        norm = getattr(encoder, "text_model", encoder).final_layer_norm
        hidden = norm(out.hidden_states[last_layer])
    else:
        hidden = out[0]
    pooled = getattr(out, "text_embeds", None) if slot.pooled else None
    return hidden, pooled


def apply_weights(hidden: torch.Tensor, weights: list[float]) -> torch.Tensor:
    """Hidden states [1, T, D] scaled per token by ``weights`` and rescaled to their
    original mean, as A1111 does. When either mean is (next to) zero, next to the values'
    typical size, or the two have opposite signs, the scaled states are kept without the
    rescale: it would zero the whole prompt, blow it up, fill it with NaN or flip it."""
    import torch

    w = torch.tensor(weights, device=hidden.device, dtype=hidden.dtype)
    scaled = hidden * w[None, :, None]
    original_mean, new_mean = hidden.float().mean(), scaled.float().mean()
    tiny = 1e-4 * hidden.float().abs().mean()
    if not (original_mean.abs() > tiny and new_mean.abs() > tiny
            and torch.sign(original_mean) == torch.sign(new_mean)):
        return scaled
    return scaled * (original_mean / new_mean).to(hidden.dtype)


def encode_prompt(clip: ClipHandle, text: str, device: Any, dtype: str = "auto") -> Conditioning:
    """Encode ``text`` with every text encoder of ``clip`` (SDXL: both, features joined)
    in ``dtype`` (auto: the device policy's)."""
    import torch

    with torch.inference_mode(), clip.encoders_for(device, dtype) as slots:
        per_encoder, pooled = [], None
        pad_parts = []
        for slot in slots:
            window = getattr(slot.encoder.config, "max_position_embeddings", None)
            chunk_ids, chunk_weights = tokenize_weighted(slot.tokenizer, text, window)
            hidden_chunks = []
            for index, (ids, weights) in enumerate(zip(chunk_ids, chunk_weights)):
                hidden, chunk_pooled = _run_encoder(slot, ids, device, clip.last_layer)
                if index == 0 and chunk_pooled is not None:
                    pooled = chunk_pooled
                if any(w != 1.0 for w in weights):
                    hidden = apply_weights(hidden, weights)
                hidden_chunks.append(hidden)
            per_encoder.append(torch.cat(hidden_chunks, dim=1))
            if len(chunk_ids) > 1:
                empty_ids, _ = tokenize_weighted(slot.tokenizer, "", window)
                pad_parts.append(_run_encoder(slot, empty_ids[0], device, clip.last_layer)[0])
        lengths = {t.shape[1] for t in per_encoder}
        if len(lengths) != 1:
            raise ValueError("the text encoders split the prompt into different chunk counts")
        embeds = torch.cat(per_encoder, dim=-1).float().cpu()
        pad_chunk = torch.cat(pad_parts, dim=-1).float().cpu() if pad_parts else None
        pooled = pooled.float().cpu() if pooled is not None else None
    return Conditioning(embeds, pooled, pad_chunk, text)


@node("conditioning.TextEncode", "Text encode", "conditioning",
      inputs=[Input("clip", CLIP)],
      params=[StringParam("text", "", multiline=True,
                          description="the prompt; (word:1.3) and [word] set emphasis")],
      outputs=[Output("conditioning", CONDITIONING)])
def text_encode(clip: ClipHandle, text: str, ctx: NodeContext) -> Conditioning:
    """Encode a prompt for the sampler. Long prompts are split into 77-token chunks and
    concatenated; (word:1.3), (word) and [word] change a word's emphasis. Weighted hidden
    states are rescaled to their original mean (as A1111), except where a mean is next to
    zero or changes sign: there the rescale would zero the prompt, blow it up or give NaN."""
    if text.count("\x00"):
        raise NodeInputError("text", "the prompt contains a NUL character")
    return encode_prompt(clip, text, torch_device(ctx.device), ctx.dtype)


@node("conditioning.ClipSetLastLayer", "CLIP set last layer", "conditioning",
      inputs=[Input("clip", CLIP)],
      params=[IntParam("stop_at_layer", -1, -24, -1, 1,
                       description="-1: the last layer (as trained); -2: one earlier "
                       "(\"clip skip 2\", which many anime-style checkpoints expect)")],
      outputs=[Output("clip", CLIP)])
def clip_set_last_layer(clip: ClipHandle, stop_at_layer: int) -> ClipHandle:
    """Read the text encoder's output from an earlier layer (clip skip)."""
    layers = min(getattr(slot.encoder.config, "num_hidden_layers", 0) for slot in clip.slots)
    if -stop_at_layer > layers:
        raise NodeInputError("stop_at_layer", f"is {stop_at_layer}, but the text encoder has "
                             f"only {layers} layers (use -1 to -{layers})")
    return clip.with_last_layer(stop_at_layer)


@node("conditioning.ZeroOut", "Conditioning zero out", "conditioning",
      inputs=[Input("conditioning", CONDITIONING)],
      outputs=[Output("conditioning", CONDITIONING)])
def zero_out(conditioning: Conditioning) -> Conditioning:
    """The conditioning with every value zero (SDXL's pooled embedding too): what diffusers'
    SDXL pipeline uses as the negative when no negative prompt is given
    (force_zeros_for_empty_prompt), and what ComfyUI's ConditioningZeroOut gives."""
    import torch

    embeds = torch.zeros_like(conditioning.embeds)
    pooled = None if conditioning.pooled is None else torch.zeros_like(conditioning.pooled)
    # one chunk of zeros: the prompt's own empty chunk when it has several, else itself
    pad = torch.zeros_like(conditioning.pad_chunk if conditioning.pad_chunk is not None
                           else embeds)
    return Conditioning(embeds, pooled, pad, conditioning.text)


def pad_embeds(embeds: torch.Tensor, pad: torch.Tensor | None, length: int) -> torch.Tensor:
    """Hidden states lengthened to ``length`` tokens with empty chunks (``pad`` is set
    whenever one side is longer: a multi-chunk prompt carries its empty chunk)."""
    import torch

    while embeds.shape[1] < length:
        embeds = torch.cat([embeds, pad], dim=1)
    return embeds


@node("conditioning.Average", "Conditioning average", "conditioning",
      inputs=[Input("conditioning_to", CONDITIONING), Input("conditioning_from", CONDITIONING)],
      params=[FloatParam("to_strength", 0.5, 0.0, 1.0, 0.01,
                         description="1: only conditioning_to; 0: only conditioning_from")],
      outputs=[Output("conditioning", CONDITIONING)])
def average(conditioning_to: Conditioning, conditioning_from: Conditioning,
            to_strength: float) -> Conditioning:
    """Blend two prompts: to_strength * to + (1 - to_strength) * from, hidden states and
    pooled embedding alike (ComfyUI's ConditioningAverage). Sweep to_strength to morph one
    prompt into the other."""
    a, b = conditioning_to, conditioning_from
    if a.embeds.shape[2] != b.embeds.shape[2]:
        raise NodeInputError("conditioning_from", f"has {b.embeds.shape[2]} features per "
                             f"token, conditioning_to {a.embeds.shape[2]}: encode both with "
                             "the same CLIP")
    pad = a.pad_chunk if a.pad_chunk is not None else b.pad_chunk
    length = max(a.embeds.shape[1], b.embeds.shape[1])
    w = float(to_strength)
    embeds = pad_embeds(a.embeds, pad, length) * w + pad_embeds(b.embeds, pad, length) * (1 - w)
    pooled = a.pooled
    if a.pooled is not None and b.pooled is not None:
        pooled = a.pooled * w + b.pooled * (1 - w)
    return Conditioning(embeds, pooled, pad, f"{w:g} x ({a.text}) + {1 - w:g} x ({b.text})")
