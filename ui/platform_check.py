"""Can Qt open the editor here? Checked before Qt is imported, because when its platform
plugin cannot load Qt prints a generic "Reinstalling the application may fix this" and
aborts the process (exit 134). Linux only; no Qt imports here.
"""

from __future__ import annotations

import ctypes
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

# Shared libraries (soname -> Debian/Ubuntu package) that PySide6's wheels expect from the
# system. QtGui needs these on every platform (offscreen included)...
GUI_LIBRARIES = {
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libX11.so.6": "libx11-6",
    "libxcb.so.1": "libxcb1",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
}
# ...the X11 (xcb) platform plugin these as well...
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libX11-xcb.so.1": "libx11-xcb1",
}
# ...and the Wayland platform plugin these.
WAYLAND_LIBRARIES = {
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
}
SCREENSHOT_HINT = (
    "Or, for a screenshot without a display: "
    "QT_QPA_PLATFORM=offscreen nodegraph gui WORKFLOW.json --screenshot FILE.png"
)


def missing_libraries(libraries: Mapping[str, str]) -> dict[str, str]:
    """The libraries (soname -> package) that the dynamic loader cannot load."""
    missing = {}
    for soname, package in libraries.items():
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing[soname] = package
    return missing


def platform_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """Why Qt could not start here and what to do (several lines), or None if it can.

    Follows Qt's own choice of platform: ``QT_QPA_PLATFORM`` if set, else Wayland when
    ``WAYLAND_DISPLAY`` is set, falling back to X11 (xcb) on ``DISPLAY``.
    """
    if not sys.platform.startswith("linux"):
        return None
    env = os.environ if environ is None else environ
    missing = missing_libraries(GUI_LIBRARIES)
    if missing:
        return _message([f"Qt needs {', '.join(missing)} (not found)"], missing, screenshot=False)
    reasons: list[str] = []
    if env.get("QT_QPA_PLATFORM"):
        platforms = [name.split(":")[0] for name in env["QT_QPA_PLATFORM"].split(";")]
        if any(name != "xcb" for name in platforms if name):
            return None  # offscreen, wayland, ...: the user chose
    elif env.get("WAYLAND_DISPLAY"):
        missing = missing_libraries(WAYLAND_LIBRARIES)
        reason = _wayland_problem(env["WAYLAND_DISPLAY"], env.get("XDG_RUNTIME_DIR", ""))
        if not missing and reason is None:
            return None
        reasons.append(reason or f"Wayland needs {', '.join(missing)}")  # then Qt tries X11
    xcb_missing = missing_libraries(XCB_LIBRARIES)
    missing = {**missing, **xcb_missing}
    display = env.get("DISPLAY", "")
    if not display:
        reasons.append(
            "no display: DISPLAY is not set"
            if reasons
            else "no display: neither DISPLAY nor WAYLAND_DISPLAY is set"
        )
    elif xcb_missing:
        reasons.append(f"Qt's X11 (xcb) platform needs {', '.join(xcb_missing)} (not found)")
    elif not _can_connect(display):
        reasons.append(
            f"cannot connect to the X display {display!r} (DISPLAY): is its server "
            "running, and may you use it (xhost, `ssh -X`, XAUTHORITY)?"
        )
    else:
        return None  # X11 works (Wayland's problem, if any, is only a warning)
    lines = [] if display else ["Start it in a desktop session (or over `ssh -X`)."]
    return _message(reasons, missing, screenshot=True, advice=lines)


def startup_failure_advice() -> str:
    """What to try when Qt could not start a platform plugin for a reason not checked here."""
    packages = " ".join(dict.fromkeys([*GUI_LIBRARIES.values(), *XCB_LIBRARIES.values()]))
    return "\n  ".join(
        [
            "the editor cannot start: Qt found no platform plugin it could start (its messages "
            "above say why)",
            "Check that a display is available (DISPLAY or WAYLAND_DISPLAY).",
            _install_line("Install the system libraries Qt needs", packages),
            SCREENSHOT_HINT,
        ]
    )


def _message(
    reasons: list[str],
    missing: Mapping[str, str],
    *,
    screenshot: bool,
    advice: list[str] | None = None,
) -> str:
    lines = ["the editor cannot start: " + "; ".join(reasons), *(advice or [])]
    if missing:
        packages = " ".join(dict.fromkeys(missing.values()))
        lines.append(_install_line("Install the missing system libraries", packages))
    if screenshot:
        lines.append(SCREENSHOT_HINT)
    return "\n  ".join(lines)


def _install_line(what: str, packages: str) -> str:
    return f"{what} (Debian/Ubuntu): sudo apt-get install {packages}"


def _wayland_problem(display: str, runtime_dir: str) -> str | None:
    """Why no connection to the Wayland compositor's socket could be made, if none could."""
    path = Path(runtime_dir, display)
    with socket.socket(socket.AF_UNIX) as connection:
        try:
            connection.connect(str(path))
        except OSError as error:
            return f"cannot connect to the Wayland display {str(path)!r} ({error.strerror})"
    return None


def _can_connect(display: str) -> bool:
    """Whether libxcb can open a connection to the X server of ``display``."""
    xcb = ctypes.CDLL("libxcb.so.1")
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)
    try:
        return xcb.xcb_connection_has_error(connection) == 0
    finally:
        xcb.xcb_disconnect(connection)
