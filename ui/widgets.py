"""Param fields: how values are shown on a node, how a number drag changes them, and
the inline editors the canvas opens over a field (typing merges into one undo step)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QLineEdit, QPlainTextEdit, QWidget

from nodegraph.registry import SEED_MAX, Param, ParamValueError

PIXELS_PER_STEP = 6.0


def format_value(param: Param, value: Any) -> str:
    """A param value as shown on its field."""
    if param.zero_label and value == 0:
        return param.zero_label
    if param.kind == "float" and isinstance(value, (int, float)):
        step = param.step or 0.01
        decimals = max(0, min(6, len(f"{step:g}".split(".")[1]) if "." in f"{step:g}" else 0))
        return f"{value:.{max(decimals, 2)}f}"
    if param.kind == "bool":
        return "on" if value else "off"
    return "" if value is None else str(value)


def step_value(param: Param, value: Any, steps: float) -> Any:
    """``value`` moved by ``steps`` of the param's step, clamped to its range."""
    step = param.step or (1 if param.kind in ("int", "seed") else 0.01)
    if param.kind in ("int", "seed"):
        new: Any = round((value or 0) + round(steps) * step)
    else:
        new = round(float(value or 0.0) + steps * step, 10)
    if param.min is not None:
        new = max(param.min, new)
    if param.max is not None:
        new = min(param.max, new)
    return int(new) if param.kind in ("int", "seed") else float(new)


def random_seed() -> int:
    """A fresh seed for the randomize button."""
    return random.randrange(0, min(SEED_MAX, 2**48))


def parse_text(param: Param, text: str) -> Any:
    """Typed text -> a checked value (ParamValueError says what was expected)."""
    if param.kind in ("int", "seed", "float"):
        text = text.strip()
        if param.zero_label and text in (param.zero_label, ""):
            return param.check(0)
    return param.parse(text)


def is_ctrl_enter(event: QKeyEvent) -> bool:
    """Ctrl+Enter: the window's Run, which commits an open field first (so editors let
    it through to the window instead of taking it as their own Enter)."""
    return event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and bool(
        event.modifiers() & Qt.KeyboardModifier.ControlModifier)


def is_plain_enter_or_escape(event: QKeyEvent) -> bool:
    """Esc, or Enter without Ctrl: the keys an inline editor keeps for itself."""
    if event.key() == Qt.Key.Key_Escape:
        return True
    return event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not is_ctrl_enter(event)


class _EscapeAware:
    """Editors claim Esc (cancel) and plain Enter before window shortcuts see them."""

    def event(self, event: QEvent) -> bool:  # type: ignore[override]
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent) \
                and is_plain_enter_or_escape(event):
            event.accept()
            return True
        return super().event(event)  # type: ignore[misc]


class InlineLineEdit(_EscapeAware, QLineEdit):
    """One-line editor over a field: Enter or focus-out commits, Esc cancels."""

    def __init__(self, parent: QWidget, text: str, commit: Callable[[str], bool],
                 live: Callable[[str], None] | None = None) -> None:
        super().__init__(text, parent)
        self._commit, self._done = commit, False
        self.selectAll()
        if live is not None:
            self.textEdited.connect(live)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if is_ctrl_enter(event):
            event.ignore()  # up to the window (Run), which commits the field first
            return
        if event.key() == Qt.Key.Key_Escape:
            self.finish(commit=False)
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.finish(commit=True)
            return
        super().keyPressEvent(event)

    def focusOutEvent(self, event) -> None:
        super().focusOutEvent(event)
        self.finish(commit=True)

    def finish(self, commit: bool = True) -> bool:
        """Close the editor (committing unless told not to); False if the text is
        invalid and the editor stays open."""
        if self._done:
            return True
        if commit and not self._commit(self.text()):
            return False  # invalid: keep editing
        self._done = True
        self.hide()
        self.deleteLater()
        if self.parentWidget() is not None:
            self.parentWidget().setFocus()
        return True


class InlineTextEdit(_EscapeAware, QPlainTextEdit):
    """Multi-line editor (prompts): every keystroke is applied live, merged into one undo
    step; Esc or focus-out closes it (Ctrl+Enter closes it and runs the graph)."""

    def __init__(self, parent: QWidget, text: str, live: Callable[[str], None]) -> None:
        super().__init__(parent)
        self.setPlainText(text)
        self._done = False
        self.textChanged.connect(lambda: live(self.toPlainText()))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.finish()
            return
        if is_ctrl_enter(event):
            event.ignore()  # up to the window (Run)
            return
        super().keyPressEvent(event)

    def focusOutEvent(self, event) -> None:
        super().focusOutEvent(event)
        self.finish()

    def finish(self, commit: bool = True) -> bool:
        """Close the editor (its text is already applied)."""
        if self._done:
            return True
        self._done = True
        self.hide()
        self.deleteLater()
        if self.parentWidget() is not None:
            self.parentWidget().setFocus()
        return True


def check_or_message(param: Param, text: str) -> tuple[Any, str | None]:
    """(value, None) if ``text`` is a valid value, else (None, reason)."""
    try:
        return parse_text(param, text), None
    except ParamValueError as error:
        return None, f"{param.name}: {error}"
