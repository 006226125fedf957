"""Where model files live and how they are named in workflows.

Model folders, searched in order: the NODEGRAPH_MODELS environment variable (folders
separated by os.pathsep), the user's folder (~/.nodegraph/models) and the repository's
models/. Workflows store a name relative to its folder ("sd15.safetensors",
"loras/style.safetensors", "tiny-shapes"), so they stay portable across machines.

Kinds: checkpoints are diffusers folders (with model_index.json) or single-file
.safetensors checkpoints; LoRAs live under loras/; upscale models under upscale_models/.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nodegraph.fingerprint import file_stat

REPO_MODELS = Path(__file__).resolve().parent.parent / "models"
USER_MODELS = Path.home() / ".nodegraph" / "models"
ENV_VAR = "NODEGRAPH_MODELS"
CHECKPOINT_SUFFIXES = (".safetensors",)
LORA_SUFFIXES = (".safetensors",)
UPSCALE_SUFFIXES = (".pth", ".safetensors")  # no .pt: TorchScript is not data (see read_tensors)
_SUBFOLDERS = {"lora": "loras", "upscale": "upscale_models"}


def model_roots() -> list[Path]:
    """The model folders that exist, in search order."""
    roots = [Path(p).expanduser() for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    roots += [USER_MODELS, REPO_MODELS]
    seen, result = set(), []
    for root in roots:
        key = str(root.resolve()) if root.exists() else None
        if key and key not in seen and root.is_dir():
            seen.add(key)
            result.append(root)
    return result


def _walk(root: Path, depth: int) -> list[Path]:
    out: list[Path] = []
    try:
        children = sorted(root.iterdir())
    except OSError:
        return out
    for child in children:
        if child.name.startswith("."):
            continue
        out.append(child)
        if child.is_dir() and depth > 1 and not (child / "model_index.json").exists():
            out.extend(_walk(child, depth - 1))
    return out


def _name(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def list_checkpoints() -> list[str]:
    """Checkpoint names: diffusers folders and single .safetensors files (two levels
    deep; LoRA and upscale-model folders excluded)."""
    names: dict[str, None] = {}
    for root in model_roots():
        for path in _walk(root, 2):
            rel = _name(path, root)
            if rel.split("/")[0] in _SUBFOLDERS.values():
                continue
            is_folder = path.is_dir() and (path / "model_index.json").is_file()
            if is_folder or (path.is_file() and path.suffix in CHECKPOINT_SUFFIXES):
                names.setdefault(rel, None)
    return sorted(names)


def _list_kind(kind: str, suffixes: tuple[str, ...]) -> list[str]:
    names: dict[str, None] = {}
    for root in model_roots():
        folder = root / _SUBFOLDERS[kind]
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix in suffixes:
                names.setdefault(_name(path, folder), None)
    return sorted(names)


def _folder_of(root: Path, kind: str) -> Path:
    return root / _SUBFOLDERS[kind] if kind in _SUBFOLDERS else root


def where_to_add(kind: str = "checkpoint") -> str:
    """Where models of ``kind`` were looked for and how to add more, for messages."""
    folders = [_folder_of(r, kind) for r in model_roots()]
    searched = ", ".join(str(f) for f in folders) or "(no model folder exists)"
    return (f"looked in {searched}; to add a folder, set {ENV_VAR} (folders separated by "
            f"{os.pathsep!r}) or put the model in {_folder_of(USER_MODELS, kind)}; an absolute "
            "path to a model file or folder also works")


def _is_absolute_model(value: object) -> bool:
    """An absolute path to an existing model (accepted beside the listed names)."""
    if not isinstance(value, str) or not value:
        return False
    path = Path(value).expanduser()
    return path.is_absolute() and path.exists()


def _model_choices(function: Any, kind: str) -> Any:
    """Mark a listing function as an enum's choices for models: the registry accepts
    absolute paths too and says where it looked when a name is not found."""
    function.accepts = _is_absolute_model
    function.describe_missing = lambda: where_to_add(kind)
    return function


def list_loras() -> list[str]:
    """LoRA names (relative to a models/loras folder)."""
    return _list_kind("lora", LORA_SUFFIXES)


def list_upscale_models() -> list[str]:
    """Upscale model names (relative to a models/upscale_models folder)."""
    return _list_kind("upscale", UPSCALE_SUFFIXES)


def resolve(name: str, kind: str = "checkpoint") -> Path:
    """The path of a model name (the first model folder that has it). Absolute paths
    are accepted as they are. Raises FileNotFoundError naming the folders searched."""
    if not name:
        raise FileNotFoundError("no model chosen")
    candidate = Path(name).expanduser()
    if candidate.is_absolute():
        if candidate.exists():
            return candidate
        raise FileNotFoundError(f"{name} does not exist")
    if ".." in candidate.parts:
        raise FileNotFoundError(f"{name!r}: model names may not leave the model folder")
    roots = model_roots()
    for root in roots:
        base = root / _SUBFOLDERS[kind] if kind in _SUBFOLDERS else root
        if (base / candidate).exists():
            return base / candidate
    raise FileNotFoundError(f"{name!r} was not found: {where_to_add(kind)}")


_model_choices(list_checkpoints, "checkpoint")
_model_choices(list_loras, "lora")
_model_choices(list_upscale_models, "upscale")


class NotPlainTensors(ValueError):
    """A weights file that holds more than tensors (code, arbitrary objects)."""


def read_tensors(path: Path) -> dict[str, Any]:
    """The tensors of a .safetensors or .pth file, without ever running code from it.

    A TorchScript archive (a zip with code/ or constants.pkl) is refused before torch sees
    it, since torch.load would hand it to torch.jit.load, which runs its code; other .pth
    files go through torch.load(weights_only=True), which builds only tensors and plain
    containers. Raises NotPlainTensors naming what was found."""
    import zipfile

    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
            raise NotPlainTensors(f"{path.name} is a TorchScript archive: it holds code, which "
                                  "nodegraph never runs; use a .safetensors file of the model")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError for forbidden objects, corrupt files
        raise NotPlainTensors(f"{path.name} holds more than plain tensors or is damaged "
                              f"({type(error).__name__}: {str(error)[:200]}); use a "
                              ".safetensors file of the model") from None
    if not isinstance(state, dict):
        raise NotPlainTensors(f"{path.name} holds a {type(state).__name__}, not a dict of "
                              "tensors")
    return state


def fingerprint_path(path: Path) -> list[Any]:
    """Path, size and mtime of a file, or of every file of a folder (a diffusers model)."""
    if path.is_file():
        return file_stat(path)
    return [file_stat(p) for p in sorted(path.rglob("*")) if p.is_file()]


def fingerprint(name: str, kind: str = "checkpoint") -> Any:
    """What the executor hashes for a model param: changes when the file changes."""
    try:
        return fingerprint_path(resolve(name, kind))
    except (FileNotFoundError, OSError):
        return ["missing", name]
