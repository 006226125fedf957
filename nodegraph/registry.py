"""Node declarations (NodeSpec) and the registry that holds them.

A node is a plain function under the :func:`node` decorator, which declares its typed
inputs (links), params (widgets) and outputs. The declaration is checked against the
function's signature at import time. The registry is the single source of truth for the
validator, the executor, the CLI listing and the editor.
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from .types import PARAM_PORT_TYPES

ENTRY_POINT_GROUP = "nodegraph.nodes"
SEED_MAX = 2**64 - 1
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
_ID_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$")


class ParamValueError(ValueError):
    """A param value that does not fit its declaration; the message says what was expected."""


@dataclass(frozen=True)
class Input:
    """A typed link input. Optional inputs may stay unconnected (the function gets None)."""

    name: str
    type: str
    optional: bool = False
    description: str = ""


@dataclass(frozen=True)
class Output:
    """A typed output."""

    name: str
    type: str
    description: str = ""


@dataclass(frozen=True)
class Param:
    """A widget value stored in the workflow. ``kind`` is one of PARAM_PORT_TYPES' keys."""

    name: str
    kind: str
    default: Any
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple[str, ...] | Callable[[], Sequence[str]] | None = None
    multiline: bool = False
    file_filter: str = ""
    description: str = ""
    zero_label: str = ""  # what 0 means, shown instead of it (e.g. "model default")

    @property
    def port_type(self) -> str:
        """The link type that may drive this param instead of its widget."""
        return PARAM_PORT_TYPES[self.kind]

    def current_choices(self) -> list[str]:
        """Choices of an enum param (dynamic choices are asked for now)."""
        if self.choices is None:
            return []
        return list(self.choices() if callable(self.choices) else self.choices)

    def check(self, value: Any) -> Any:
        """Return ``value`` if it fits this param, else raise ParamValueError."""
        kind = self.kind
        if kind in ("int", "seed"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ParamValueError(f"expected an integer, got {_show(value)}")
            self._check_range(value)
        elif kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParamValueError(f"expected a number, got {_show(value)}")
            if isinstance(value, int) and abs(value) > 2**53:
                raise ParamValueError(f"expected a number of usual size, got {value}")
            if not math.isfinite(value):
                raise ParamValueError(f"expected a finite number, got {value}")
            self._check_range(value)
            value = float(value)
        elif kind == "bool":
            if not isinstance(value, bool):
                raise ParamValueError(f"expected true or false, got {_show(value)}")
        elif kind in ("string", "path", "enum", "color"):
            if not isinstance(value, str):
                raise ParamValueError(f"expected a string, got {_show(value)}")
            if kind == "enum":
                options = self.current_choices()
                # dynamic choices (model listings) may accept more, and say where they looked
                accepts = getattr(self.choices, "accepts", None)
                if value not in options and not (callable(accepts) and accepts(value)):
                    shown = ", ".join(options) if options else "(none available)"
                    describe = getattr(self.choices, "describe_missing", None)
                    hint = f" ({describe()})" if callable(describe) else ""
                    raise ParamValueError(f"expected one of: {shown}; got {value!r}{hint}")
            if kind == "color" and not _COLOR_RE.match(value):
                raise ParamValueError(f"expected a colour like #ff8800, got {value!r}")
        return value

    def _check_range(self, value: float) -> None:
        if self.min is not None and value < self.min:
            raise ParamValueError(f"expected at least {self.min}, got {value}")
        if self.max is not None and value > self.max:
            raise ParamValueError(f"expected at most {self.max}, got {value}")

    def parse(self, text: str) -> Any:
        """Parse a command-line string (``--set``/``--sweep``) into a checked value."""
        try:
            if self.kind in ("int", "seed"):
                value: Any = int(text)
            elif self.kind == "float":
                value = float(text)
            elif self.kind == "bool":
                lowered = text.strip().lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                    raise ValueError
                value = lowered in ("true", "1", "yes", "on")
            else:
                value = text
        except ValueError:
            wanted = {"int": "an integer", "seed": "an integer", "float": "a number",
                      "bool": "true or false"}[self.kind]
            raise ParamValueError(f"expected {wanted}, got {text!r}") from None
        return self.check(value)

    def to_json(self) -> dict[str, Any]:
        """Plain-data description for ``nodegraph nodes --json`` and the editor."""
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, "default": self.default}
        for key in ("min", "max", "step"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.kind == "enum":
            data["choices"] = self.current_choices()
        if self.multiline:
            data["multiline"] = True
        if self.file_filter:
            data["file_filter"] = self.file_filter
        if self.description:
            data["description"] = self.description
        if self.zero_label:
            data["zero_label"] = self.zero_label
        return data


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}"


# Param constructors: short, readable declarations in node modules.
def IntParam(name: str, default: int, min: int | None = None, max: int | None = None,
             step: int = 1, description: str = "", zero_label: str = "") -> Param:
    """An integer widget with optional bounds (``zero_label``: what 0 means)."""
    return Param(name, "int", default, min=min, max=max, step=step, description=description,
                 zero_label=zero_label)


def FloatParam(name: str, default: float, min: float | None = None, max: float | None = None,
               step: float = 0.01, description: str = "") -> Param:
    """A float widget with optional bounds."""
    return Param(name, "float", default, min=min, max=max, step=step, description=description)


def StringParam(name: str, default: str = "", multiline: bool = False,
                description: str = "") -> Param:
    """A text widget; multiline for prompts."""
    return Param(name, "string", default, multiline=multiline, description=description)


def BoolParam(name: str, default: bool = False, description: str = "") -> Param:
    """A checkbox."""
    return Param(name, "bool", default, description=description)


def EnumParam(name: str, choices: Sequence[str] | Callable[[], Sequence[str]],
              default: str | None = None, description: str = "") -> Param:
    """A choice from a fixed list, or from a function (e.g. the models on disk)."""
    fixed = tuple(choices) if not callable(choices) else choices
    if default is None:
        default = fixed[0] if isinstance(fixed, tuple) and fixed else ""
    return Param(name, "enum", default, choices=fixed, description=description)


def SeedParam(name: str = "seed", default: int = 0, description: str = "") -> Param:
    """A 64-bit seed (the editor offers randomize)."""
    return Param(name, "seed", default, min=0, max=SEED_MAX, step=1, description=description)


def PathParam(name: str, default: str = "", file_filter: str = "", description: str = "") -> Param:
    """A file path (the editor offers a file picker)."""
    return Param(name, "path", default, file_filter=file_filter, description=description)


def ColorParam(name: str, default: str = "#000000", description: str = "") -> Param:
    """An RGB colour as ``#rrggbb``."""
    return Param(name, "color", default, description=description)


Fingerprint = Callable[[Mapping[str, Any]], Any]
Migration = Callable[[int, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class NodeSpec:
    """Everything the engine and the editor know about one node type."""

    id: str
    title: str
    category: str
    function: Callable[..., Any]
    inputs: tuple[Input, ...] = ()
    params: tuple[Param, ...] = ()
    outputs: tuple[Output, ...] = ()
    version: int = 1
    description: str = ""
    deterministic: bool = True
    output_node: bool = False
    fingerprint: Fingerprint | None = None
    migrate: Migration | None = None
    wants_context: bool = field(default=False, compare=False)

    @cached_property
    def _by_name(self) -> dict[str, dict[str, Any]]:
        return {"inputs": {i.name: i for i in self.inputs},
                "params": {p.name: p for p in self.params},
                "outputs": {o.name: o for o in self.outputs}}

    @cached_property
    def output_index(self) -> dict[str, int]:
        """Position of each output in the tuple the function returns."""
        return {o.name: i for i, o in enumerate(self.outputs)}

    def input(self, name: str) -> Input | None:
        """The input called ``name``, if any."""
        return self._by_name["inputs"].get(name)

    def param(self, name: str) -> Param | None:
        """The param called ``name``, if any."""
        return self._by_name["params"].get(name)

    def output(self, name: str) -> Output | None:
        """The output called ``name``, if any."""
        return self._by_name["outputs"].get(name)

    def default_params(self) -> dict[str, Any]:
        """A fresh dict of every param's default."""
        return {p.name: p.default for p in self.params}

    def to_json(self) -> dict[str, Any]:
        """Plain-data description (``nodegraph nodes --json``)."""
        return {
            "id": self.id,
            "title": self.title,
            "category": self.category,
            "version": self.version,
            "description": self.description,
            "deterministic": self.deterministic,
            "output_node": self.output_node,
            "inputs": [
                {"name": i.name, "type": i.type, "optional": i.optional} for i in self.inputs
            ],
            "params": [p.to_json() for p in self.params],
            "outputs": [{"name": o.name, "type": o.type} for o in self.outputs],
        }


def node(
    id: str,
    title: str,
    category: str,
    inputs: Iterable[Input] = (),
    params: Iterable[Param] = (),
    outputs: Iterable[Output] = (),
    *,
    version: int = 1,
    description: str = "",
    deterministic: bool = True,
    output_node: bool = False,
    fingerprint: Fingerprint | None = None,
    migrate: Migration | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a node type. The function receives one keyword argument per input and
    param (and ``ctx``, a NodeContext, if it names it) and returns its outputs: None for
    none, the value for one, a tuple for several."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        spec = NodeSpec(
            id=id, title=title, category=category, function=function,
            inputs=tuple(inputs), params=tuple(params), outputs=tuple(outputs),
            version=version, description=description or (inspect.getdoc(function) or ""),
            deterministic=deterministic, output_node=output_node,
            fingerprint=fingerprint, migrate=migrate,
            wants_context="ctx" in inspect.signature(function).parameters,
        )
        _check_declaration(spec)
        function.__nodegraph_spec__ = spec  # type: ignore[attr-defined]
        return function

    return decorate


def _check_declaration(spec: NodeSpec) -> None:
    """Fail at import time when a declaration and its function disagree."""
    if not _ID_RE.match(spec.id):
        raise TypeError(f"node id {spec.id!r} must look like 'category.Name'")
    names = [i.name for i in spec.inputs] + [p.name for p in spec.params]
    if len(set(names)) != len(names):
        raise TypeError(f"{spec.id}: input and param names must be unique: {names}")
    out_names = [o.name for o in spec.outputs]
    if len(set(out_names)) != len(out_names):
        raise TypeError(f"{spec.id}: output names must be unique: {out_names}")
    signature = inspect.signature(spec.function)
    accepted = [n for n in signature.parameters if n != "ctx"]
    if sorted(accepted) != sorted(names):
        raise TypeError(
            f"{spec.id}: function {spec.function.__name__}{signature} does not match the "
            f"declared inputs and params {names}"
        )
    for param in spec.params:
        if param.kind not in PARAM_PORT_TYPES:
            raise TypeError(f"{spec.id}: param {param.name!r} has unknown kind {param.kind!r}")
        if param.kind != "enum" or not callable(param.choices):
            try:
                param.check(param.default)
            except ParamValueError as error:
                raise TypeError(f"{spec.id}: default of {param.name!r}: {error}") from None


class Registry:
    """The node types known to this process, by id, and the node library's hooks:
    ``on_out_of_memory`` are called (after the cache is freed) before the executor retries
    a node that ran out of memory, e.g. to return a GPU's cached blocks."""

    def __init__(self, specs: Iterable[NodeSpec] = ()) -> None:
        self._specs: dict[str, NodeSpec] = {}
        self.plugin_errors: list[str] = []
        self.on_out_of_memory: list[Callable[[], None]] = []
        for spec in specs:
            self.add(spec)

    def add(self, spec: NodeSpec) -> None:
        """Register one node type; a second type with the same id is an error."""
        if spec.id in self._specs and self._specs[spec.id] is not spec:
            raise ValueError(f"node type {spec.id!r} is registered twice")
        self._specs[spec.id] = spec

    def add_module(self, module: ModuleType) -> int:
        """Register every decorated function in ``module``; returns how many."""
        count = 0
        for value in vars(module).values():
            spec = getattr(value, "__nodegraph_spec__", None)
            if isinstance(spec, NodeSpec) and getattr(value, "__module__", None) == module.__name__:
                self.add(spec)
                count += 1
        return count

    def add_package(self, package_name: str) -> int:
        """Import a package and each of its submodules, registering their nodes."""
        package = importlib.import_module(package_name)
        count = self.add_module(package)
        for info in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
            count += self.add_module(importlib.import_module(info.name))
        return count

    def load_plugins(self) -> None:
        """Register node packages published under the ``nodegraph.nodes`` entry points.

        An entry point names a module or package (its nodes are registered) or a callable
        that returns NodeSpecs or modules. A broken plugin is reported, not fatal."""
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            try:
                loaded = entry.load()
                if isinstance(loaded, ModuleType):
                    if hasattr(loaded, "__path__"):
                        self.add_package(loaded.__name__)
                    else:
                        self.add_module(loaded)
                    continue
                for item in loaded() if callable(loaded) else loaded:
                    if isinstance(item, ModuleType):
                        self.add_module(item)
                    else:
                        self.add(getattr(item, "__nodegraph_spec__", item))
            except Exception as error:  # a plugin must never take the app down
                self.plugin_errors.append(f"plugin {entry.name!r} ({entry.value}): {error}")

    def get(self, type_id: str) -> NodeSpec | None:
        """The spec for ``type_id``, or None if unknown."""
        return self._specs.get(type_id)

    def __getitem__(self, type_id: str) -> NodeSpec:
        return self._specs[type_id]

    def __contains__(self, type_id: object) -> bool:
        return type_id in self._specs

    def __iter__(self):
        return iter(sorted(self._specs.values(), key=lambda s: (s.category, s.id)))

    def __len__(self) -> int:
        return len(self._specs)

    def to_json(self) -> list[dict[str, Any]]:
        """Every spec as plain data, sorted by category and id."""
        return [spec.to_json() for spec in self]
