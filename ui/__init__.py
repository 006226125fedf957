"""The desktop editor: a PySide6 window over the engine's Graph, registry and executor.

The editor never imports torch, diffusers or the node library: it sees the registry,
the Graph's change events and the executor's events (images arrive as numpy arrays).
"""
