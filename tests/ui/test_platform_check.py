"""`nodegraph gui` where Qt cannot start (no display, missing system libraries): a message
saying what to do and exit 2, never Qt's abort (exit 134, "Reinstalling the application may
fix this"). Missing libraries are simulated with broken files of their names on
LD_LIBRARY_PATH, which the dynamic loader tries first."""

import os
import socket
import subprocess
import sys
from pathlib import Path

from ui import platform_check

ROOT = Path(__file__).resolve().parents[2]


def _gui(env_changes: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    env.update(env_changes)
    return subprocess.run(
        [sys.executable, "-m", "nodegraph_app", "gui", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _broken_libraries(folder: Path, *sonames: str) -> str:
    for soname in sonames:
        (folder / soname).write_bytes(b"not a library")
    return str(folder)


def test_without_a_display_the_gui_says_what_to_do(tmp_path):
    result = _gui({}, "workflows/txt2img.json", "--screenshot", str(tmp_path / "shot.png"))
    assert result.returncode == 2, result.stderr
    assert "no display: neither DISPLAY nor WAYLAND_DISPLAY is set" in result.stderr
    assert "QT_QPA_PLATFORM=offscreen nodegraph gui WORKFLOW.json --screenshot" in result.stderr
    assert "Reinstalling" not in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "shot.png").exists()


def test_a_missing_xcb_library_is_named_with_its_debian_package(tmp_path):
    libs = _broken_libraries(tmp_path, "libxcb-cursor.so.0", "libxcb-icccm.so.4")
    result = _gui({"DISPLAY": ":4242", "LD_LIBRARY_PATH": libs})
    assert result.returncode == 2, result.stderr
    first, *advice = result.stderr.splitlines()
    assert "Qt's X11 (xcb) platform needs" in first
    assert "libxcb-cursor.so.0" in first and "libxcb-icccm.so.4" in first
    install = next(line for line in advice if "sudo apt-get install" in line)
    assert {"libxcb-cursor0", "libxcb-icccm4"} <= set(install.split(": ")[-1].split())


def test_a_missing_qt_library_is_named_even_offscreen(tmp_path):
    libs = _broken_libraries(tmp_path, "libEGL.so.1")
    result = _gui(
        {"QT_QPA_PLATFORM": "offscreen", "LD_LIBRARY_PATH": libs},
        "--screenshot",
        str(tmp_path / "shot.png"),
    )
    assert result.returncode == 2, result.stderr
    assert "Qt needs libEGL.so.1" in result.stderr
    assert "sudo apt-get install libegl1" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_x_display_is_reported(monkeypatch):
    monkeypatch.setattr(platform_check, "XCB_LIBRARIES", {})  # whatever this machine lacks
    problem = platform_check.platform_problem({"DISPLAY": ":4242"})
    assert problem is not None
    assert "cannot connect to the X display ':4242'" in problem
    assert "QT_QPA_PLATFORM=offscreen" in problem


def test_a_chosen_platform_or_a_reachable_wayland_display_passes(tmp_path, monkeypatch):
    assert platform_check.platform_problem({"QT_QPA_PLATFORM": "offscreen"}) is None
    monkeypatch.setattr(platform_check, "WAYLAND_LIBRARIES", {})
    wayland = {"WAYLAND_DISPLAY": "wl-test", "XDG_RUNTIME_DIR": str(tmp_path)}
    with socket.socket(socket.AF_UNIX) as compositor:
        compositor.bind(str(tmp_path / "wl-test"))
        compositor.listen()
        assert platform_check.platform_problem(wayland) is None
    (tmp_path / "wl-test").unlink()
    problem = platform_check.platform_problem(wayland)
    assert problem is not None and "cannot connect to the Wayland display" in problem


def test_a_platform_failure_not_checked_beforehand_still_ends_with_advice():
    """Qt's own fatal start-up error (here: a platform plugin that does not exist) ends in
    advice and exit 2, not in Qt's abort."""
    result = _gui({"QT_QPA_PLATFORM": "nodegraph-no-such-platform"})
    assert result.returncode == 2, result.stderr
    assert 'platform plugin "nodegraph-no-such-platform"' in result.stderr  # Qt's own words
    assert "Qt found no platform plugin it could start" in result.stderr
    assert "sudo apt-get install libegl1 libgl1" in result.stderr
