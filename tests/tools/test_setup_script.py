"""tools/setup.sh with a stand-in for the virtualenv's python: pip's progress reaches the
user, and a failed pip fails the set-up without marking it done."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Logs pip's arguments, prints what pip prints on a first install (only lines that setup
# filters out with $FAKE_PIP_NOISE_ONLY), exits with $FAKE_PIP_STATUS;
# `import torch, torchvision` fails (a fresh venv), every other `-c` import works.
FAKE_PYTHON = textwrap.dedent("""\
    #!/bin/sh
    if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
      echo "$*" >> "$FAKE_PIP_LOG"
      echo "Requirement already satisfied: numpy in ./.venv/lib/python3.11/site-packages"
      [ -z "$FAKE_PIP_NOISE_ONLY" ] || exit 0
      echo "Collecting torch==2.14.1"
      echo "  Downloading torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl (915.3 MB)"
      echo "WARNING: Location 'file:///opt/pypi/simple/torch/' is ignored" >&2
      [ "$FAKE_PIP_STATUS" = 0 ] || echo "ERROR: No matching distribution found for torch" >&2
      exit "$FAKE_PIP_STATUS"
    fi
    case "$2" in *torchvision*) exit 1;; esac
    exit 0
""")


def _setup(tmp_path: Path, pip_status: int, **env_vars: str) -> subprocess.CompletedProcess:
    (tmp_path / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "setup.sh", tmp_path / "tools" / "setup.sh")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    env = {
        **os.environ,
        "FAKE_PIP_LOG": str(tmp_path / "pip.log"),
        "FAKE_PIP_STATUS": str(pip_status),
        **env_vars,
    }
    env.pop("TORCH_SPEC", None)
    return subprocess.run(
        ["bash", str(tmp_path / "tools" / "setup.sh"), "--test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_failed_pip_fails_the_setup_and_marks_nothing_done(tmp_path):
    result = _setup(tmp_path, pip_status=1)
    assert result.returncode == 1
    assert "ERROR: No matching distribution found for torch" in result.stdout
    assert "setup: 'pip install torch==2.14.1 torchvision==0.29.1' failed (exit 1)" in (
        result.stderr
    )
    assert "installing nodegraph" not in result.stderr  # stopped at the first failure
    assert not (tmp_path / ".venv" / ".nodegraph-setup[test]").exists()


def test_pip_shows_its_progress_and_success_is_marked_done(tmp_path):
    result = _setup(tmp_path, pip_status=0)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Downloading torch-2.14.1" in result.stdout
    assert "Requirement already satisfied" not in result.stdout
    assert "WARNING: Location" not in result.stdout
    calls = (tmp_path / "pip.log").read_text().splitlines()
    assert [call.split()[-1] for call in calls] == ["torchvision==0.29.1", ".[test]"]
    assert not any(" -q" in call for call in calls)
    assert (tmp_path / ".venv" / ".nodegraph-setup[test]").exists()


def test_pip_output_that_is_all_filtered_out_is_no_failure(tmp_path):
    """grep printing nothing exits 1, which under pipefail must not fail the set-up."""
    result = _setup(tmp_path, pip_status=0, FAKE_PIP_NOISE_ONLY="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert (tmp_path / ".venv" / ".nodegraph-setup[test]").exists()
