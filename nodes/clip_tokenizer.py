"""The standard CLIP BPE tokenizer, built offline from the vocabulary file that the
open-clip-torch package ships (single-file checkpoints carry no tokenizer)."""

from __future__ import annotations

import functools
import gzip
from pathlib import Path
from typing import Any

VOCAB_SIZE = 49408


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable unicode map."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def bpe_vocab_path() -> Path:
    """open_clip/bpe_simple_vocab_16e6.txt.gz from the installed package."""
    import importlib.util

    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the open-clip-torch package is not installed; it ships the "
                                "CLIP vocabulary that single-file checkpoints need")
    path = Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"
    if not path.is_file():
        raise FileNotFoundError(f"CLIP vocabulary not found at {path}")
    return path


@functools.lru_cache(maxsize=1)
def vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The vocabulary and merges, built from open_clip's merges list exactly as open_clip's
    SimpleTokenizer builds them (once per process)."""
    with gzip.open(bpe_vocab_path()) as file:
        lines = file.read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1:49152 - 256 - 2 + 1]]
    vocab = list(_bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    if len(vocab) != VOCAB_SIZE:
        raise ValueError(f"unexpected CLIP vocabulary size {len(vocab)}")
    return {token: i for i, token in enumerate(vocab)}, merges  # type: ignore[return-value]


def standard_clip_tokenizer(pad_token: str = "<|endoftext|>") -> Any:
    """A CLIPTokenizer with the standard 49408-token vocabulary, built without a hub.
    SD1.x pads with <|endoftext|>; OpenCLIP models (SD2.x, SDXL's second encoder) with '!'."""
    from transformers import CLIPTokenizer

    vocab, merges = vocab_and_merges()
    return CLIPTokenizer(vocab=dict(vocab), merges=list(merges), pad_token=pad_token,
                         model_max_length=77)
