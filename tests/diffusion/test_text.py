"""Text encoding: emphasis syntax and chunking of long prompts."""

from __future__ import annotations

import pytest
import torch

from nodes.conditioning import parse_prompt_attention

from .conftest import MODEL


@pytest.mark.parametrize("text, expected", [
    ("a cat", [("a cat", 1.0)]),
    ("a (cat:1.3) dog", [("a ", 1.0), ("cat", 1.3), (" dog", 1.0)]),
    ("(cat)", [("cat", 1.1)]),
    ("[cat]", [("cat", pytest.approx(1 / 1.1))]),
    ("((cat))", [("cat", pytest.approx(1.21))]),
    (r"\(cat\)", [("(cat)", 1.0)]),
    ("a (red (cat:1.5)):0.5", [("a ", 1.0), ("red ", pytest.approx(1.1)),
                               ("cat", pytest.approx(1.65)), (":0.5", 1.0)]),
    ("", [("", 1.0)]),
])
def test_emphasis_syntax(text, expected):
    assert parse_prompt_attention(text) == expected


@pytest.fixture(scope="module")
def clip(models_dir):
    from nodes.handles import ClipHandle
    from nodes.loaders import load_checkpoint

    return ClipHandle(load_checkpoint(models_dir / MODEL))


def test_short_prompt_equals_the_pipeline_encoding(clip):
    from nodes.conditioning import encode_prompt

    slot = clip.slots[0]
    ids = slot.tokenizer("a photo of a cat", padding="max_length", max_length=77,
                         truncation=True, return_tensors="pt").input_ids
    with torch.no_grad():
        expected = slot.encoder(ids)[0]
    cond = encode_prompt(clip, "a photo of a cat", torch.device("cpu"))
    assert torch.equal(cond.embeds, expected)


def test_long_prompts_are_chunked_and_concatenated(clip):
    from nodes.conditioning import encode_prompt, tokenize_weighted

    words = " ".join(["a red house on the moon"] * 20)  # 120 tokens
    chunks, _ = tokenize_weighted(clip.slots[0].tokenizer, words)
    assert len(chunks) == 2 and all(len(c) == 77 for c in chunks)
    cond = encode_prompt(clip, words, torch.device("cpu"))
    assert cond.embeds.shape == (1, 154, 32) and cond.pad_chunk.shape == (1, 77, 32)
    first = encode_prompt(clip, " ".join(["a red house on the moon"] * 12) + " a red house",
                          torch.device("cpu"))
    assert torch.allclose(cond.embeds[:, :77], first.embeds[:, :77], atol=1e-6)


def test_emphasis_changes_only_the_weighted_encoding(clip):
    from nodes.conditioning import encode_prompt

    plain = encode_prompt(clip, "a cat on the moon", torch.device("cpu")).embeds
    strong = encode_prompt(clip, "a (cat:1.5) on the moon", torch.device("cpu")).embeds
    neutral = encode_prompt(clip, "a (cat:1.0) on the moon", torch.device("cpu")).embeds
    assert torch.equal(plain, neutral)
    assert not torch.allclose(plain, strong)
    assert torch.allclose(plain.mean(), strong.mean(), atol=1e-5)  # the mean is restored


def test_emphasis_never_zeroes_or_poisons_a_prompt_whose_mean_is_zero():
    """The rescale to the original mean is skipped where it would divide by (next to) zero
    or flip the sign: the emphasis still applies, and nothing becomes 0 or NaN."""
    from nodes.conditioning import apply_weights

    hidden = torch.randn(1, 6, 8, generator=torch.Generator().manual_seed(0))
    centred = hidden - hidden.mean()  # mean ~1e-9: the rescale would zero the prompt
    weights = [1.0, 1.5, 1.5, 1.0, 1.0, 1.0]
    out = apply_weights(centred, weights)
    assert torch.equal(out, centred * torch.tensor(weights)[None, :, None])
    ones = torch.ones(1, 4, 8)  # weights whose weighted mean is exactly 0: no NaN
    out = apply_weights(ones, [1.0, 1.0, -1.0, -1.0])
    assert torch.isfinite(out).all() and out.abs().min() == 1.0
    flipped = apply_weights(ones, [1.0, -2.0, -2.0, 1.0])  # the mean changes sign
    assert torch.equal(flipped[0, :, 0], torch.tensor([1.0, -2.0, -2.0, 1.0]))
    usual = apply_weights(hidden + 1, weights)  # the ordinary case keeps its mean
    assert torch.allclose(usual.mean(), (hidden + 1).mean(), atol=1e-6)
    assert not torch.allclose(usual, hidden + 1)


def test_long_positive_and_short_negative_sample_together(executor):
    from .conftest import run_image, txt2img_graph

    long_prompt = " ".join(["a blue castle in the forest at night"] * 12)
    image, _ = run_image(executor, *txt2img_graph(prompt=long_prompt, negative="ugly",
                                                  steps=2))
    assert torch.isfinite(image).all()


def test_clip_set_last_layer_reads_an_earlier_layer_through_the_final_norm(clip):
    """What diffusers' clip_skip=1 computes (its SD pipeline's own clip_skip path reaches for
    CLIPTextModel.text_model, which transformers 5 removed, so it is spelled out here)."""
    from nodegraph.context import NodeInputError
    from nodes.conditioning import clip_set_last_layer, encode_prompt

    prompt = "a photo of a cat"
    slot = clip.slots[0]
    ids = slot.tokenizer(prompt, padding="max_length", max_length=77, truncation=True,
                         return_tensors="pt").input_ids
    with torch.no_grad():
        out = slot.encoder(ids, output_hidden_states=True)
        expected = slot.encoder.final_layer_norm(out.hidden_states[-2])
        plain = out[0]
    cpu = torch.device("cpu")
    ours = encode_prompt(clip_set_last_layer(clip, stop_at_layer=-2), prompt, cpu).embeds
    assert torch.equal(ours, expected)
    assert not torch.allclose(ours, plain)
    assert torch.equal(encode_prompt(clip_set_last_layer(clip, -1), prompt, cpu).embeds, plain)
    with pytest.raises(NodeInputError, match="only 2 layers"):
        clip_set_last_layer(clip, stop_at_layer=-3)


def test_conditioning_average_blends_two_prompts(clip, executor):
    from nodes.conditioning import average, encode_prompt

    from .conftest import run_image, txt2img_graph

    cpu = torch.device("cpu")
    red, blue = (encode_prompt(clip, p, cpu) for p in ("a red house", "a blue car"))
    quarter = average(red, blue, 0.25)
    assert torch.allclose(quarter.embeds, 0.25 * red.embeds + 0.75 * blue.embeds)
    # a long prompt and a short one: the short one is padded with the empty chunk
    long = encode_prompt(clip, " ".join(["a red house on the moon"] * 20), cpu)
    mixed = average(red, long, 0.5)
    assert mixed.embeds.shape == long.embeds.shape == (1, 154, 32)
    assert torch.allclose(mixed.embeds[:, 77:], 0.5 * (long.pad_chunk + long.embeds[:, 77:]))

    # in a graph: strength 1 is the "to" prompt's image, 0 the "from" one's, 0.5 neither
    def image(strength: float | None):
        graph, ids = txt2img_graph(prompt="a red house", steps=2, seed=5)
        if strength is not None:
            other = graph.add_node("conditioning.TextEncode", {"text": "a blue car"}).id
            graph.connect(ids["ckpt"], "clip", other, "clip")
            avg = graph.add_node("conditioning.Average", {"to_strength": strength}).id
            graph.connect(ids["pos"], "conditioning", avg, "conditioning_to")
            graph.connect(other, "conditioning", avg, "conditioning_from")
            graph.connect(avg, "conditioning", ids["guider"], "positive")
        return run_image(executor, graph, ids)[0]

    plain_red = image(None)
    assert torch.equal(image(1.0), plain_red)
    half, none = image(0.5), image(0.0)
    assert not torch.equal(half, plain_red) and not torch.equal(half, none)
