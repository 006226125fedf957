"""The engine's tests pass on a machine without Qt (as napari checks its model layer):
they run again in a fresh interpreter where importing PySide6 fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BOOTSTRAP = """
import importlib.abc, sys

class NoQt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("PySide6", "shiboken6", "ui"):
            raise ImportError(f"{name}: Qt is not installed (simulated)")
        return None

sys.meta_path.insert(0, NoQt())
import pytest
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-p", "no:pytest-qt",
                      "-p", "no:pytestqt", *sys.argv[1:]]))
"""


def test_engine_tests_pass_without_qt():
    result = subprocess.run([sys.executable, "-c", BOOTSTRAP, "tests/engine"], cwd=ROOT,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "error" not in result.stdout.splitlines()[-1]
