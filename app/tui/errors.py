"""Turn any failure of a flow into a titled one-line notification, never a traceback."""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widget import Widget

from app.domain.errors import FocusError
from app.textsafe import visible


def describe(exc: BaseException) -> tuple[str, str]:
    """(title, message) for a failure, in the words the CLI uses for the same failure."""
    if isinstance(exc, FocusError):
        return exc.title, exc.message
    if isinstance(exc, OSError):
        return "File", f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    from app.config import scrub  # a bug's message may quote a URL with its password

    return "Unexpected error", scrub(f"{type(exc).__name__}: {exc}")


def report(node: Widget | App[Any] | Screen[Any], exc: BaseException, action: str = "") -> None:
    """Notify the user of `exc`; `action` names what failed when the error does not."""
    title, message = describe(exc)
    if action and not isinstance(exc, FocusError):
        message = f"{action} failed: {message}"
    severity: SeverityLevel = (
        "warning" if isinstance(exc, FocusError) and exc.exit_code == 1 else "error"
    )
    node.notify(visible(message), title=visible(title), severity=severity, timeout=8, markup=False)
