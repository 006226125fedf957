"""nodegraph engine: node registry, graph model, workflow I/O, validation and executor.

Pure Python: importing the engine never imports Qt or torch.
"""

__version__ = "0.1.0"
