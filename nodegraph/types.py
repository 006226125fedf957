"""Port type names and the data layouts they carry.

Port types are plain strings; a link is legal only between equal types.
``ANY`` is used by pass-through nodes (reroute): their output takes the type of
whatever is linked into them.

Data layouts (documented in docs/workflow-format.md):

- IMAGE: torch float32 tensor ``[batch, height, width, 3]`` (channels last), values in [0, 1].
- MASK: torch float32 tensor ``[batch, height, width]``, values in [0, 1]; 1 marks the
  selected region (the part to repaint when inpainting).
- LATENT: dict ``{"samples": tensor [batch, channels, h, w]}`` plus optional
  ``"noise_mask"``.
"""

from __future__ import annotations

MODEL = "MODEL"
CLIP = "CLIP"
VAE = "VAE"
CONDITIONING = "CONDITIONING"
LATENT = "LATENT"
IMAGE = "IMAGE"
MASK = "MASK"
NOISE = "NOISE"
GUIDER = "GUIDER"
UPSCALE_MODEL = "UPSCALE_MODEL"
SCHEDULER = "SCHEDULER"
INT = "INT"
FLOAT = "FLOAT"
STRING = "STRING"
BOOLEAN = "BOOLEAN"
ANY = "*"

#: Param kinds (widgets) and the port type a link must carry to drive that param.
PARAM_PORT_TYPES: dict[str, str] = {
    "int": INT,
    "seed": INT,
    "float": FLOAT,
    "string": STRING,
    "enum": STRING,
    "path": STRING,
    "color": STRING,
    "bool": BOOLEAN,
}


def compatible(source_type: str, target_type: str) -> bool:
    """True when an output of ``source_type`` may feed an input of ``target_type``."""
    return source_type == target_type or ANY in (source_type, target_type)
