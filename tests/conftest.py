"""Shared test setup: offline model hub, offscreen Qt."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# One torch thread: the tiny test models gain little from more, and on a loaded machine
# oversubscribed threads made the suite many times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
