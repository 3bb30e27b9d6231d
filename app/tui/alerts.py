"""End-of-session alerts beyond the toast: desktop notification and sound, gaps said once."""

from __future__ import annotations

from app.config import NotifySettings
from app.notify import Notifier, Outcome


def deliver(
    settings: NotifySettings, notifier: Notifier, title: str, body: str
) -> list[tuple[str, Outcome]]:
    """Notify and play as configured; the failures, by kind. Blocks: run it in a thread."""
    failures: list[tuple[str, Outcome]] = []
    if settings.desktop:
        outcome = notifier.send(title, body)
        if not outcome.ok:
            failures.append(("desktop", outcome))
    if settings.sound_file:
        outcome = notifier.play(settings.sound_file, settings.sound_player)
        if not outcome.ok:
            failures.append(("sound", outcome))
    return failures


class Shortfalls:
    """What the system lacks, reported the first time only (a missing tool stays missing)."""

    def __init__(self) -> None:
        self._said: set[str] = set()

    def first_report(self, kind: str, outcome: Outcome) -> tuple[str, str] | None:
        """(title, message) to show for a failed `kind` delivery, or None if already said."""
        key = kind if outcome.missing else f"{kind}:{outcome.detail}"
        if key in self._said:
            return None
        self._said.add(key)
        title = "No desktop notifications" if kind == "desktop" else "No sound"
        detail = outcome.detail[:1].upper() + outcome.detail[1:]
        return title, f"{detail}. Focus will ring the bell and show a toast instead."
