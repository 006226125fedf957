"""The composition root: wires the engine, the node library and the editor together.

Nothing imports this package; it imports everyone. It decides which node packages load,
hands the node library's device policy to the engine (device checks, freeing device
memory after an out-of-memory error) and starts the CLI or the editor.
"""

from __future__ import annotations

import argparse

from nodegraph.cli import main as cli_main
from nodegraph.host import Host
from nodegraph.registry import Registry

NODE_PACKAGES = ("nodes",)


def default_registry(plugins: bool = True) -> Registry:
    """The built-in node library, plus installed plugins when ``plugins``."""
    from nodes.devices import free_memory

    registry = Registry()
    for package in NODE_PACKAGES:
        registry.add_package(package)
    registry.on_out_of_memory.append(free_memory)
    if plugins:
        registry.load_plugins()
    return registry


def check_device(device: str) -> None:
    """Refuse a device this machine does not have before anything runs."""
    if device in ("auto", "cpu"):
        return
    from nodes.devices import torch_device

    try:
        torch_device(device)
    except RuntimeError as error:
        raise ValueError(f"--device {device}: {error} (try --device auto)") from None


def open_editor(args: argparse.Namespace, registry: Registry) -> int:
    """The ``gui`` command."""
    from ui.app import main as editor_main

    return editor_main(args, registry)


HOST = Host(default_registry, check_device, open_editor)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``nodegraph`` console script."""
    return cli_main(argv, HOST)
