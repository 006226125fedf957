"""A tiny procedural "shapes world" used to train and evaluate nodegraph's default model.

Images are 64x64 RGB pictures of one or two flat-coloured shapes on a plain background.
Every image has an exact caption in a small fixed grammar::

    a <size> <colour> <shape> <position>
      [and a <size> <colour> <shape> <position>] on a <bg> background

    size      small | large
    colour    red green blue yellow orange purple pink cyan      (object colours)
    shape     circle square triangle star ring cross
    position  in the centre | at the left | at the right | at the top | at the bottom
              | at the top left | at the top right | at the bottom left | at the bottom right
    bg        white black gray beige navy                        (background colours)

Object and background colours are disjoint sets, so an object is never drawn in the
background's colour. Two objects in one scene sit in different cells of a 3x3 grid, have
different colours and never overlap.

Everything is pure torch/numpy: scenes can be sampled and rendered as batches directly on
the GPU (signed-distance functions, antialiased by clamping the distance), or on the CPU
for tests. Sampling is deterministic given a ``torch.Generator``.

Public API: ``Scene``/``SceneObject`` dataclasses, ``sample_scenes``, ``caption``,
``parse_caption``, ``render``, ``VOCABULARY``, plus batched tensor helpers used by the
training script (``sample_scene_tensors``, ``render_tensors``, ``captions_from_tensors``,
``tensors_from_scenes``, ``scenes_from_tensors``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

IMAGE_SIZE = 64

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "ring", "cross")

# Object colours (RGB 0..255). Chosen to be far from each other and from every background.
OBJECT_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (40, 170, 60),
    "blue": (40, 80, 230),
    "yellow": (245, 215, 30),
    "orange": (245, 135, 20),
    "purple": (140, 45, 185),
    "pink": (250, 130, 200),
    "cyan": (40, 205, 225),
}

BACKGROUND_COLOURS: dict[str, tuple[int, int, int]] = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "gray": (128, 128, 128),
    "beige": (232, 220, 190),
    "navy": (20, 28, 75),
}

SIZES: tuple[str, ...] = ("small", "large")
# "Radius" (circumradius-like extent) of a shape, in pixels, per size.
SIZE_RADIUS: dict[str, float] = {"small": 6.5, "large": 11.5}

# 3x3 grid of anchor positions; index = row * 3 + col.
POSITIONS: tuple[str, ...] = (
    "top left",
    "top",
    "top right",
    "left",
    "centre",
    "right",
    "bottom left",
    "bottom",
    "bottom right",
)
ANCHORS: tuple[float, float, float] = (13.0, 32.0, 51.0)  # pixel centres of columns / rows
JITTER = 1.5  # max +- jitter in pixels per axis
MIN_GAP = 1.5  # minimum gap (pixels) between the bounding circles of two objects
# Farthest point of each shape from its anchor, in units of the size radius (see shape_sdf).
SHAPE_EXTENT: dict[str, float] = {
    "circle": 0.93,
    "square": 1.06,
    "triangle": 1.2,
    "star": 1.17,
    "ring": 0.98,
    "cross": 1.0,
}

FUNCTION_WORDS: tuple[str, ...] = ("a", "and", "on", "background", "in", "the", "at", "center")


def _position_phrase(pos: str) -> str:
    return "in the centre" if pos == "centre" else f"at the {pos}"


def _build_vocabulary() -> tuple[str, ...]:
    words: list[str] = []
    for group in (
        FUNCTION_WORDS,
        SIZES,
        tuple(OBJECT_COLOURS),
        SHAPES,
        ("centre", "left", "right", "top", "bottom"),
        tuple(BACKGROUND_COLOURS),
    ):
        for w in group:
            if w not in words:
                words.append(w)
    return tuple(words)


VOCABULARY: tuple[str, ...] = _build_vocabulary()
"""Every word that can occur in a caption ("center" is accepted as a synonym of "centre")."""

MAX_CAPTION_WORDS = (
    23  # "a small red star at the top left and a ... at the bottom right on a white background"
)


@dataclass(frozen=True)
class SceneObject:
    shape: str
    colour: str
    size: str
    position: str
    # Sub-cell jitter in pixels (not part of the caption; ignored by ==).
    dx: float = field(default=0.0, compare=False)
    dy: float = field(default=0.0, compare=False)


@dataclass(frozen=True)
class Scene:
    objects: tuple[SceneObject, ...]
    background: str


# ----------------------------------------------------------------------------- captions


def caption(scene: Scene) -> str:
    parts = [
        f"a {o.size} {o.colour} {o.shape} {_position_phrase(o.position)}" for o in scene.objects
    ]
    return " and ".join(parts) + f" on a {scene.background} background"


def parse_caption(text: str) -> Scene:
    """Inverse of :func:`caption` (also accepts "center", extra spaces and upper case)."""
    words = text.lower().replace(",", " ").split()
    if len(words) < 4 or words[-1] != "background" or words[-3:-2] != ["a"] or words[-4] != "on":
        raise ValueError(f"not a shapes-world caption: {text!r}")
    background = words[-2]
    if background not in BACKGROUND_COLOURS:
        raise ValueError(f"unknown background colour {background!r} in {text!r}")
    body = words[:-4]
    objects = []
    chunks: list[list[str]] = [[]]
    for w in body:
        if w == "and":
            chunks.append([])
        else:
            chunks[-1].append(w)
    for chunk in chunks:
        if len(chunk) < 6 or chunk[0] != "a":
            raise ValueError(f"cannot parse object {' '.join(chunk)!r} in {text!r}")
        size, colour, shape = chunk[1], chunk[2], chunk[3]
        if size not in SIZES or colour not in OBJECT_COLOURS or shape not in SHAPES:
            raise ValueError(f"cannot parse object {' '.join(chunk)!r} in {text!r}")
        rest = chunk[4:]
        if rest in (["in", "the", "centre"], ["in", "the", "center"]):
            pos = "centre"
        elif len(rest) >= 3 and rest[:2] == ["at", "the"] and " ".join(rest[2:]) in POSITIONS:
            pos = " ".join(rest[2:])
            if pos == "centre":
                raise ValueError(f"use 'in the centre' in {text!r}")
        else:
            raise ValueError(f"cannot parse position {' '.join(rest)!r} in {text!r}")
        objects.append(SceneObject(shape, colour, size, pos))
    return Scene(tuple(objects), background)


# ----------------------------------------------------------------------------- tensors
# A batch of scenes as tensors (all on one device):
#   shape, colour, size, pos: int64 [N, 2]; present: bool [N, 2]; jitter: float [N, 2, 2] (dx, dy)
#   background: int64 [N]


def _anchor_xy(pos: torch.Tensor) -> torch.Tensor:
    anchors = torch.tensor(ANCHORS, device=pos.device, dtype=torch.float32)
    return torch.stack([anchors[pos % 3], anchors[pos // 3]], dim=-1)


def sample_scene_tensors(
    n: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    two_object_prob: float = 0.5,
) -> dict[str, torch.Tensor]:
    """Sample ``n`` random scenes as tensors on ``device`` (the generator's device by default)."""
    if device is None:
        device = generator.device if generator is not None else torch.device("cpu")
    device = torch.device(device)
    g = generator

    def randint(high: int, size) -> torch.Tensor:
        return torch.randint(0, high, size, generator=g, device=device)

    def rand(size) -> torch.Tensor:
        return torch.rand(size, generator=g, device=device)

    nc, ns, nshape, npos = len(OBJECT_COLOURS), len(SIZES), len(SHAPES), len(POSITIONS)
    shape = randint(nshape, (n, 2))
    size = randint(ns, (n, 2))
    c0 = randint(nc, (n,))
    c1 = (c0 + 1 + randint(nc - 1, (n,))) % nc  # always a different colour
    colour = torch.stack([c0, c1], dim=1)
    present = torch.ones(n, 2, dtype=torch.bool, device=device)
    present[:, 1] = rand((n,)) < two_object_prob
    background = randint(len(BACKGROUND_COLOURS), (n,))
    radius_tab = torch.tensor([SIZE_RADIUS[s] for s in SIZES], device=device)

    # Rejection sampling of positions, vectorised over K candidates (no host syncs, so it
    # can run inside a CUDA training loop): take the first candidate that does not overlap.
    K = 24
    p0 = randint(npos, (n, K))
    p1 = (p0 + 1 + randint(npos - 1, (n, K))) % npos
    jit = (rand((n, K, 2, 2)) * 2 - 1) * JITTER
    cand = torch.stack([p0, p1], dim=2)  # [n, K, 2]
    xy = _anchor_xy(cand) + jit  # [n, K, 2, 2]
    dist = (xy[:, :, 0] - xy[:, :, 1]).norm(dim=-1)  # [n, K]
    extent_tab = torch.tensor([SHAPE_EXTENT[s] for s in SHAPES], device=device)
    reach = radius_tab[size] * extent_tab[shape]  # [n, 2]
    need = (reach[:, 0] + reach[:, 1] + MIN_GAP).view(n, 1)
    ok = (dist >= need) | ~present[:, 1:2]
    first = torch.argmax(ok.long(), dim=1)  # 0 if none ok
    any_ok = ok.any(dim=1)
    pos = torch.gather(cand, 1, first.view(n, 1, 1).expand(n, 1, 2)).squeeze(1)
    jitter = torch.gather(jit, 1, first.view(n, 1, 1, 1).expand(n, 1, 2, 2)).squeeze(1)
    # Fallback (astronomically rare): opposite corners, both small, no jitter.
    fallback_pos = torch.tensor([0, npos - 1], device=device).expand(n, 2)
    pos = torch.where(any_ok[:, None], pos, fallback_pos)
    jitter = torch.where(any_ok[:, None, None], jitter, torch.zeros_like(jitter))
    size = torch.where(any_ok[:, None], size, torch.zeros_like(size))
    # Unused second slots get harmless values.
    pos[:, 1] = torch.where(present[:, 1], pos[:, 1], (pos[:, 0] + 4) % npos)
    return {
        "shape": shape,
        "colour": colour,
        "size": size,
        "pos": pos,
        "present": present,
        "jitter": jitter,
        "background": background,
    }


def scenes_from_tensors(t: dict[str, torch.Tensor]) -> list[Scene]:
    cpu = {k: v.detach().cpu() for k, v in t.items()}
    colours = list(OBJECT_COLOURS)
    bgs = list(BACKGROUND_COLOURS)
    scenes = []
    for i in range(cpu["shape"].shape[0]):
        objs = []
        for j in range(2):
            if not bool(cpu["present"][i, j]):
                continue
            objs.append(
                SceneObject(
                    shape=SHAPES[int(cpu["shape"][i, j])],
                    colour=colours[int(cpu["colour"][i, j])],
                    size=SIZES[int(cpu["size"][i, j])],
                    position=POSITIONS[int(cpu["pos"][i, j])],
                    dx=float(cpu["jitter"][i, j, 0]),
                    dy=float(cpu["jitter"][i, j, 1]),
                )
            )
        scenes.append(Scene(tuple(objs), bgs[int(cpu["background"][i])]))
    return scenes


def tensors_from_scenes(
    scenes: list[Scene], device: torch.device | str = "cpu"
) -> dict[str, torch.Tensor]:
    n = len(scenes)
    colours = list(OBJECT_COLOURS)
    bgs = list(BACKGROUND_COLOURS)
    out = {
        "shape": torch.zeros(n, 2, dtype=torch.long),
        "colour": torch.zeros(n, 2, dtype=torch.long),
        "size": torch.zeros(n, 2, dtype=torch.long),
        "pos": torch.zeros(n, 2, dtype=torch.long),
        "present": torch.zeros(n, 2, dtype=torch.bool),
        "jitter": torch.zeros(n, 2, 2),
        "background": torch.zeros(n, dtype=torch.long),
    }
    for i, sc in enumerate(scenes):
        if not 1 <= len(sc.objects) <= 2:
            raise ValueError("a scene has one or two objects")
        out["background"][i] = bgs.index(sc.background)
        for j, o in enumerate(sc.objects):
            out["shape"][i, j] = SHAPES.index(o.shape)
            out["colour"][i, j] = colours.index(o.colour)
            out["size"][i, j] = SIZES.index(o.size)
            out["pos"][i, j] = POSITIONS.index(o.position)
            out["present"][i, j] = True
            out["jitter"][i, j, 0] = o.dx
            out["jitter"][i, j, 1] = o.dy
    return {k: v.to(device) for k, v in out.items()}


def sample_scenes(
    n: int, generator: torch.Generator | None = None, two_object_prob: float = 0.5
) -> list[Scene]:
    """Sample ``n`` random scenes (deterministic for a seeded generator)."""
    return scenes_from_tensors(sample_scene_tensors(n, generator, two_object_prob=two_object_prob))


def captions_from_tensors(t: dict[str, torch.Tensor]) -> list[str]:
    return [caption(s) for s in scenes_from_tensors(t)]


# ----------------------------------------------------------------------------- rendering


def _sd_box(px: torch.Tensor, py: torch.Tensor, bx, by) -> torch.Tensor:
    dx = px.abs() - bx
    dy = py.abs() - by
    outside = torch.sqrt(dx.clamp(min=0) ** 2 + dy.clamp(min=0) ** 2)
    inside = torch.maximum(dx, dy).clamp(max=0)
    return outside + inside


def _sd_triangle(px: torch.Tensor, py: torch.Tensor, r) -> torch.Tensor:
    """Equilateral triangle pointing up (y up), centroid at origin, half side ``r`` (iq)."""
    k = math.sqrt(3.0)
    x = px.abs() - r
    y = py + r / k
    cond = (x + k * y) > 0
    x2 = torch.where(cond, (x - k * y) / 2, x)
    y2 = torch.where(cond, (-k * x - y) / 2, y)
    lo = -2.0 * r
    x3 = x2 - torch.minimum(torch.maximum(x2, lo), torch.zeros_like(x2))
    return -torch.sqrt(x3 * x3 + y2 * y2) * torch.sign(y2)


def _sd_star5(px: torch.Tensor, py: torch.Tensor, r, rf: float) -> torch.Tensor:
    """Five-pointed star pointing up (y up), outer radius ``r``, inner ratio ``rf`` (iq)."""
    k1x, k1y = 0.809016994375, -0.587785252292
    k2x, k2y = -k1x, k1y
    x = px.abs()
    y = py
    d = (k1x * x + k1y * y).clamp(min=0)
    x, y = x - 2 * d * k1x, y - 2 * d * k1y
    d = (k2x * x + k2y * y).clamp(min=0)
    x, y = x - 2 * d * k2x, y - 2 * d * k2y
    x = x.abs()
    y = y - r
    bax, bay = rf * (-k1y), rf * k1x - 1.0
    h = ((x * bax + y * bay) / (bax * bax + bay * bay)).clamp(min=0)
    h = torch.minimum(h, r if torch.is_tensor(r) else torch.full_like(h, r))
    dx, dy = x - bax * h, y - bay * h
    return torch.sqrt(dx * dx + dy * dy) * torch.sign(y * bax - x * bay)


def shape_sdf(
    shape_idx: torch.Tensor, px: torch.Tensor, py: torch.Tensor, r: torch.Tensor
) -> torch.Tensor:
    """Signed distance (pixels, negative inside) of shape ``shape_idx`` with size ``r``.

    ``px``/``py`` are offsets from the object's centre with y pointing UP. All arguments
    broadcast together.
    """
    dist = torch.sqrt(px * px + py * py)
    d_circle = dist - 0.92 * r
    d_square = _sd_box(px, py, 0.74 * r, 0.74 * r)
    # equilateral triangle with circumradius r -> half side r*sqrt(3)/2; nudge centroid so
    # the bounding box is centred on the anchor.
    d_tri = _sd_triangle(px, py + 0.25 * r, r * (math.sqrt(3.0) / 2.0) * 1.05)
    d_star = _sd_star5(px, py + 0.1 * r, r * 1.08, 0.42)
    d_ring = (dist - 0.7 * r).abs() - 0.27 * r
    d_cross = torch.minimum(_sd_box(px, py, 0.95 * r, 0.3 * r), _sd_box(px, py, 0.3 * r, 0.95 * r))
    allsd = torch.stack([d_circle, d_square, d_tri, d_star, d_ring, d_cross], dim=0)
    idx = shape_idx.expand_as(d_circle).unsqueeze(0)
    return torch.gather(allsd, 0, idx).squeeze(0)


def palette_tensor(device=None) -> tuple[torch.Tensor, torch.Tensor]:
    obj = torch.tensor(list(OBJECT_COLOURS.values()), dtype=torch.float32, device=device) / 255.0
    bg = torch.tensor(list(BACKGROUND_COLOURS.values()), dtype=torch.float32, device=device) / 255.0
    return obj, bg


def render_tensors(
    t: dict[str, torch.Tensor],
    size: int = IMAGE_SIZE,
    colour_override: int | None = None,
) -> torch.Tensor:
    """Render a batch of scene tensors -> float32 [N, 3, size, size] in [0, 1] on their device.

    ``colour_override``: draw every object in this object-colour index (e.g. all purple),
    whatever the scene says (used for the LoRA style data).
    """
    device = t["shape"].device
    n = t["shape"].shape[0]
    obj_pal, bg_pal = palette_tensor(device)
    scale = size / IMAGE_SIZE
    coords = (torch.arange(size, device=device, dtype=torch.float32) + 0.5) / scale  # pixel centres
    xs = coords.view(1, 1, 1, size)
    ys = coords.view(1, 1, size, 1)
    centre = _anchor_xy(t["pos"]) + t["jitter"]  # [N, 2, 2]
    cx = centre[..., 0].view(n, 2, 1, 1)
    cy = centre[..., 1].view(n, 2, 1, 1)
    radius_tab = torch.tensor([SIZE_RADIUS[s] for s in SIZES], device=device)
    r = radius_tab[t["size"]].view(n, 2, 1, 1)
    px = xs - cx
    py = cy - ys  # y up
    sd = shape_sdf(t["shape"].view(n, 2, 1, 1), px, py, r) * scale  # in output pixels
    alpha = (0.5 - sd).clamp(0.0, 1.0) * t["present"].view(n, 2, 1, 1).float()  # [N,2,H,W]
    colour_idx = (
        t["colour"] if colour_override is None else torch.full_like(t["colour"], colour_override)
    )
    obj_rgb = obj_pal[colour_idx]  # [N, 2, 3]
    img = bg_pal[t["background"]].view(n, 3, 1, 1).expand(n, 3, size, size)
    for j in range(2):
        a = alpha[:, j : j + 1]
        img = img * (1 - a) + obj_rgb[:, j].view(n, 3, 1, 1) * a
    return img.contiguous()


def render(
    scenes: list[Scene], device: torch.device | str = "cpu", size: int = IMAGE_SIZE
) -> torch.Tensor:
    """Render scenes -> float32 tensor [N, 3, size, size] in [0, 1]."""
    return render_tensors(tensors_from_scenes(scenes, device), size=size)


# ----------------------------------------------------------------------------- token ids


def caption_token_ids(
    t: dict[str, torch.Tensor],
    word_to_id: dict[str, int],
    bos_id: int,
    eos_id: int,
    pad_id: int,
    max_length: int,
    keep: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Token ids of the captions of a batch of scene tensors, built on-device without Python
    per-sample work. Requires a tokenizer in which each vocabulary word is one token (ids in
    ``word_to_id``). Result: int64 [N, max_length], identical to
    ``tokenizer(captions, padding="max_length", max_length=max_length, truncation=True)``.

    ``keep`` (optional, see :func:`sample_partial_caption_masks`) leaves phrases out: bool
    masks "size", "colour", "shape", "position" [N, 2], "background" and "function_words" [N].
    """
    device = t["shape"].device
    n = t["shape"].shape[0]
    W = lambda w: word_to_id[w]  # noqa: E731
    colours = list(OBJECT_COLOURS)
    bgs = list(BACKGROUND_COLOURS)
    size_ids = torch.tensor([W(s) for s in SIZES], device=device)
    colour_ids = torch.tensor([W(c) for c in colours], device=device)
    shape_ids = torch.tensor([W(s) for s in SHAPES], device=device)
    bg_ids = torch.tensor([W(b) for b in bgs], device=device)
    # Position phrases padded to 4 tokens with -1.
    phrases = []
    for p in POSITIONS:
        words = _position_phrase(p).split()
        phrases.append([W(w) for w in words] + [-1] * (4 - len(words)))
    pos_ids = torch.tensor(phrases, device=device)  # [9, 4]
    a_id, and_id, on_id, bgw_id = W("a"), W("and"), W("on"), W("background")

    cols = []  # list of [N] tensors (-1 = skip)
    full = lambda v: torch.full((n,), v, device=device, dtype=torch.long)  # noqa: E731
    yes = torch.ones(n, dtype=torch.bool, device=device)
    keep = keep or {}
    words = keep.get("function_words", yes)
    background = keep.get("background", yes)

    def kept(name: str, j: int) -> torch.Tensor:
        return keep[name][:, j] if name in keep else yes

    cols.append(full(bos_id))
    for j in range(2):
        pres = t["present"][:, j]
        if j == 1:
            cols.append(torch.where(pres & words, full(and_id), full(-1)))
        for v, k in (
            (full(a_id), words),
            (size_ids[t["size"][:, j]], kept("size", j)),
            (colour_ids[t["colour"][:, j]], kept("colour", j)),
            (shape_ids[t["shape"][:, j]], kept("shape", j)),
        ):
            cols.append(torch.where(pres & k, v, full(-1)))
        pp = pos_ids[t["pos"][:, j]]  # [N, 4]
        pos_kept = pres & kept("position", j)
        for k in range(4):
            # the leading "at the" / "in the" are function words
            w = words if k < 2 else yes
            cols.append(torch.where(pos_kept & w, pp[:, k], full(-1)))
    bg_words = background & words
    cols += [
        torch.where(bg_words, full(on_id), full(-1)),
        torch.where(bg_words, full(a_id), full(-1)),
        torch.where(background, bg_ids[t["background"]], full(-1)),
        torch.where(bg_words, full(bgw_id), full(-1)),
        full(eos_id),
    ]
    seq = torch.stack(cols, dim=1)  # [N, L] with -1 holes
    valid = seq >= 0
    # Stable compaction: order valid entries first, keeping order.
    L = seq.shape[1]
    key = (~valid).long() * L + torch.arange(L, device=device).view(1, L)
    order = key.argsort(dim=1)
    compact = torch.gather(seq, 1, order)
    count = valid.sum(dim=1, keepdim=True)
    ar = torch.arange(L, device=device).view(1, L)
    compact = torch.where(ar < count, compact, torch.full_like(compact, pad_id))
    if max_length <= L:
        out = compact[:, :max_length]
        # truncated sequences end with eos like the HF tokenizer
        too_long = (count > max_length).view(n)
        last = torch.where(too_long, torch.full_like(out[:, -1], eos_id), out[:, -1])
        return torch.cat([out[:, :-1], last[:, None]], dim=1)
    pad = torch.full((n, max_length - L), pad_id, device=device, dtype=torch.long)
    return torch.cat([compact, pad], dim=1)


def sample_partial_caption_masks(
    n: int, share: float, generator: torch.Generator | None = None, terse: float = 0.3
) -> dict[str, torch.Tensor]:
    """Phrase dropout for :func:`caption_token_ids`: a ``share`` of the captions leave each
    phrase (every object's size, colour, shape and position, the background) out with
    probability 1/2, and ``terse`` of those also drop the function words ("a", "at the",
    "on a ... background"), so that a bare "red" has been seen. Teaches each word's meaning on
    its own: prompts that leave an attribute out, and negative prompts like "red", then work.
    """
    device = generator.device if generator is not None else torch.device("cpu")

    def coin(size, p: float) -> torch.Tensor:
        return torch.rand(size, generator=generator, device=device) < p

    partial = coin((n,), share)
    masks = {
        k: ~(partial[:, None] & coin((n, 2), 0.5)) for k in ("size", "colour", "shape", "position")
    }
    masks["background"] = ~(partial & coin((n,), 0.5))
    masks["function_words"] = ~(partial & coin((n,), terse))
    return masks
