"""Load, save and preview images. Saved PNGs embed the workflow that made them."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nodegraph.context import NodeContext, NodeInputError
from nodegraph.files import NotARegularFile, regular_file
from nodegraph.fingerprint import file_content
from nodegraph.memory import require
from nodegraph.registry import BoolParam, Input, Output, PathParam, StringParam, node
from nodegraph.types import IMAGE, MASK, STRING
from nodegraph.workflow import PNG_RUN_KEY, PNG_WORKFLOW_KEY, valid_unicode

from .convert import from_pil, to_uint8

if TYPE_CHECKING:
    import torch

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp)"
WORKFLOW_CHUNK = PNG_WORKFLOW_KEY
RUN_CHUNK = PNG_RUN_KEY
LOAD_BYTES_PER_PIXEL = 24  # decoded + uint8 RGBA + float32 IMAGE and MASK at the peak
SAVE_BYTES_PER_PIXEL = 8  # the uint8 copy, and the PNG encoder's 4-byte pixels
_PREFIX_RE = re.compile(r"^[\w\-. /]+$")


def _image_fingerprint(params: dict[str, Any]) -> str:
    return file_content(params["path"])


@node("image.Load", "Load image", "image",
      params=[PathParam("path", "", IMAGE_FILTER)],
      outputs=[Output("image", IMAGE), Output("mask", MASK), Output("workflow", STRING)],
      fingerprint=_image_fingerprint)
def load_image(path: str) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Read a PNG, JPEG or WebP. The mask is 1 - alpha (zeros without alpha); 'workflow'
    is the workflow JSON a nodegraph PNG carries ('' if none)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not path:
        raise NodeInputError("path", "no image file chosen")
    try:
        regular_file(path)  # a FIFO or /dev/zero would block or stream forever
        with Image.open(path) as opened:  # reads the header only
            width, height = opened.size
            require(width * height * LOAD_BYTES_PER_PIXEL, "path",
                    f"decoding this {width}x{height} image")
            opened.load()
            text = getattr(opened, "text", {}) or {}
            ImageOps.exif_transpose(opened, in_place=True)  # no copy of the pixels
            rgb, mask = from_pil(opened)
    except FileNotFoundError:
        raise NodeInputError("path", f"file not found: {path}") from None
    except NotARegularFile as error:
        raise NodeInputError("path", str(error)) from None
    except (UnidentifiedImageError, OSError) as error:
        raise NodeInputError("path", f"not a readable PNG/JPEG/WebP image: {path} "
                             f"({error})") from None
    return rgb, mask, text.get(WORKFLOW_CHUNK, "")


def _next_free(folder: Path, stem: str) -> tuple[Path, Any]:
    """Create and open the first free ``stem_00001.png``: never overwrites, race-free."""
    existing = [int(m.group(1)) for p in folder.glob(f"{glob_escape(stem)}_*.png")
                if (m := re.fullmatch(re.escape(stem) + r"_(\d+)\.png", p.name))]
    counter = max(existing, default=0) + 1
    while True:
        path = folder / f"{stem}_{counter:05d}.png"
        try:
            return path, open(path, "xb")
        except FileExistsError:
            counter += 1


def glob_escape(text: str) -> str:
    """Escape glob metacharacters."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def output_target(output_dir: Path, filename_prefix: str) -> Path:
    """``output_dir / prefix`` for a Save image prefix: subfolders are allowed, leaving the
    folder is not; an empty last part (``""``, ``.``, ``sub/``) means the default name."""
    prefix = filename_prefix.strip()
    parts = [part.strip() for part in prefix.split("/")]
    if (prefix and not _PREFIX_RE.match(prefix)) or ".." in parts or os.path.isabs(prefix):
        raise NodeInputError("filename_prefix", "use letters, digits, '-', '_', '.', spaces "
                             f"and '/' for subfolders inside the output folder; got {prefix!r}")
    folders = [part for part in parts[:-1] if part not in ("", ".")]
    stem = parts[-1] if parts[-1] not in ("", ".") else "nodegraph"
    return Path(output_dir).joinpath(*folders, stem)


@node("image.Save", "Save image", "image",
      inputs=[Input("images", IMAGE)],
      params=[StringParam("filename_prefix", "nodegraph"),
              BoolParam("embed_workflow", True)],
      output_node=True)
def save_image(images: torch.Tensor, filename_prefix: str, embed_workflow: bool,
               ctx: NodeContext) -> None:
    """Write each image as PNG in the output folder as prefix_00001.png, prefix_00002.png,
    ... (never overwriting), with the workflow and run parameters in text chunks."""
    from PIL.PngImagePlugin import PngInfo

    target = output_target(ctx.output_dir, filename_prefix)
    info = PngInfo()
    if embed_workflow and ctx.workflow is not None:
        info.add_text(WORKFLOW_CHUNK, valid_unicode(json.dumps(ctx.workflow, ensure_ascii=False)))
        info.add_text(RUN_CHUNK, valid_unicode(json.dumps(
            {"node": ctx.node_id, **ctx.run_info}, ensure_ascii=False, default=str)))
    count, height, width = images.shape[:3]
    require(count * height * width * SAVE_BYTES_PER_PIXEL, "images",
            f"saving {count} {width}x{height} image{'s' * (count > 1)}")
    pixels = to_uint8(images)
    ctx.show_images(pixels)  # shown even if the disk refuses them
    try:
        paths = _write_pngs(target, pixels, info)
    except OSError as error:  # computed images are never lost: keep them elsewhere
        rescue = Path(tempfile.gettempdir()) / "nodegraph-unsaved" / target.name
        reason = f"cannot write into {target.parent} ({error.strerror or error})"
        try:
            kept = _write_pngs(rescue, pixels, info)
        except OSError:
            raise NodeInputError("filename_prefix", reason) from None
        raise NodeInputError("filename_prefix", f"{reason}; the images were kept in "
                             + ", ".join(str(p) for p in kept)) from None
    for path in paths:
        ctx.add_file(path)


def _write_pngs(target: Path, pixels: Any, info: Any) -> list[Path]:
    """Write each image as ``target_NNNNN.png``; a partly written file is removed."""
    from PIL import Image

    target.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for array in pixels:
        path, handle = _next_free(target.parent, target.name)
        try:
            with handle:
                Image.fromarray(array, "RGB").save(handle, format="PNG", pnginfo=info)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        paths.append(path)
    return paths


@node("image.Preview", "Preview image", "image",
      inputs=[Input("images", IMAGE)], output_node=True)
def preview_image(images: torch.Tensor, ctx: NodeContext) -> None:
    """Show images on the node (editor) without writing files."""
    ctx.show_images(to_uint8(images))
