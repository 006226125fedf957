"""User settings (device, cache budget, model folders, recent files) stored
with QSettings; ``NODEGRAPH_CONFIG_DIR`` moves them (and recovery files) elsewhere."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QStandardPaths

from nodegraph.cache import DEFAULT_BUDGET_MB
from nodegraph.run_options import DEFAULT_OUTPUT_DIR

MAX_RECENT = 10
DEFAULTS: dict[str, Any] = {
    "device": "auto",
    "cache_mb": DEFAULT_BUDGET_MB,
    "model_folders": [],
    "output_dir": DEFAULT_OUTPUT_DIR,
    "snap_to_grid": False,
    "recent_files": [],
}


def config_dir() -> Path:
    """Where settings and recovery files live."""
    override = os.environ.get("NODEGRAPH_CONFIG_DIR")
    if override:
        return Path(override)
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppConfigLocation)
    return Path(base or Path.home() / ".config") / "nodegraph"


class Settings:
    """Typed access to the stored settings."""

    def __init__(self) -> None:
        folder = config_dir()
        folder.mkdir(parents=True, exist_ok=True)
        self._store = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)

    def get(self, key: str) -> Any:
        default = DEFAULTS[key]
        value = self._store.value(key, default)
        if isinstance(default, bool):
            return value in (True, "true", "1", 1)
        if isinstance(default, int):
            try:
                return int(value)
            except (TypeError, ValueError):
                return default
        if isinstance(default, list):
            if value in (None, ""):
                return []
            return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
        return str(value)

    def set(self, key: str, value: Any) -> None:
        self._store.setValue(key, value)
        self._store.sync()

    @property
    def recovery_dir(self) -> Path:
        """Autosave files of open documents (left behind only by a crash)."""
        path = config_dir() / "recovery"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def add_recent(self, path: str | os.PathLike[str]) -> list[str]:
        """Put ``path`` first in the recent files list; returns the list."""
        path = str(Path(path).resolve())
        recent = [p for p in self.get("recent_files") if p != path]
        recent.insert(0, path)
        recent = recent[:MAX_RECENT]
        self.set("recent_files", recent)
        return recent
