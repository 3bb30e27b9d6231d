"""Where the config and the database live by default, without importing platformdirs on Linux.

On Linux these are the XDG base directories, which is what platformdirs answers there too;
other platforms ask platformdirs. `focus statusline` and `focus pause` run from a status bar
and a key: the import alone would cost them a third of a bare Python start.
"""

from __future__ import annotations

import os
import sys

APP_NAME = "focus"
_XDG = {
    "config": ("XDG_CONFIG_HOME", ".config"),
    "data": ("XDG_DATA_HOME", ".local/share"),
    "state": ("XDG_STATE_HOME", ".local/state"),
}


def user_dir(kind: str) -> str:
    """The user's `config`, `data` or `state` folder for Focus (not created)."""
    if sys.platform.startswith("linux"):
        variable, fallback = _XDG[kind]
        base = os.environ.get(variable, "").strip()
        if not os.path.isabs(base):
            base = os.path.join(os.path.expanduser("~"), fallback)
        return os.path.join(base, APP_NAME)
    import platformdirs

    finder = {
        "config": platformdirs.user_config_dir,
        "data": platformdirs.user_data_dir,
        "state": platformdirs.user_state_dir,
    }[kind]
    return str(finder(APP_NAME))
