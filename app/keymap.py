"""The app's key binding ids and default keys: what `[keys]` in the config may remap.

Free of Textual, so the config loader can refuse an unknown id without importing the UI;
a TUI test checks that the screens' `Binding(id=...)` entries match this table.
"""

from __future__ import annotations

DEFAULT_KEYS: dict[str, str] = {
    # the timer screen
    "start_pause": "space",
    "complete": "c",
    "abandon": "x",
    "extend": "e",
    "next_mode": "m",
    "edit_task": "t",
    # the app, on every screen
    "history": "h",
    "stats": "g",
    "tracks": "l",
    "quit": "q",
    "command_palette": "ctrl+p",
    "sync_now": "s",
    # history and stats
    "back": "escape",
    "reload": "r",
    # the tracks screen
    "upload_tracks": "u",
    "fetch_track": "d",
}
"""Binding id -> its default key(s), comma-separated as Textual writes them."""

BINDING_IDS: frozenset[str] = frozenset(DEFAULT_KEYS)
