"""The built-in node library.

Every module here is imported to build the registry (for the editor's palette and
``nodegraph nodes``), so node modules import torch, diffusers and friends inside their
functions, never at module level: listing nodes and opening the editor stay fast.
"""
