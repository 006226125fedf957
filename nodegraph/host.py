"""What the engine's CLI needs from the application around it, handed in from outside.

The engine knows no node library, no torch and no editor. The composition root
(:mod:`nodegraph_app`) builds a :class:`Host` that says which node packages make the
registry, how to check a device and how to open the editor, and passes it to
:func:`nodegraph.cli.main`; the import contracts then hold without escape hatches.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from .registry import Registry


def _any_device(device: str) -> None:
    """Accept every device (a host without a device policy)."""


@dataclass(frozen=True)
class Host:
    """``make_registry(plugins)``: the node library (plus plugins when asked);
    ``check_device(device)``: raise ValueError with a message if this machine lacks it;
    ``open_editor(args, registry)``: the ``gui`` command (None: no editor installed)."""

    make_registry: Callable[[bool], Registry]
    check_device: Callable[[str], None] = _any_device
    open_editor: Callable[[argparse.Namespace, Registry], int] | None = None
