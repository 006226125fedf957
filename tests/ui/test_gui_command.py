"""`nodegraph gui --screenshot` as a script would use it: exit codes and the image."""

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def _gui(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "nodegraph_app", "gui", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)


def test_screenshot_of_a_workflow(tmp_path):
    shot = tmp_path / "shot.png"
    result = _gui("workflows/photo_ops.json", "--screenshot", str(shot))
    assert result.returncode == 0, result.stderr
    with Image.open(shot) as image:
        assert image.width >= 800 and len(set(image.convert("L").getdata())) > 10


def test_screenshot_of_a_missing_workflow_fails_clearly(tmp_path):
    result = _gui(str(tmp_path / "nope.json"), "--screenshot", str(tmp_path / "shot.png"))
    assert result.returncode == 2
    assert "Cannot open nope.json" in result.stderr
