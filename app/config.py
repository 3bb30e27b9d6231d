"""Settings: a TOML file (optional) plus `FOCUS_*` environment variables, validated.

The file is `--config`, else `$FOCUS_CONFIG`, else `config.toml` in the user config folder
(`app.paths`: XDG on Linux, platformdirs elsewhere); a missing default file means defaults.
`FOCUS_<SECTION>` (a JSON object) overrides the file key by key, and `FOCUS_<SECTION>__<KEY>`
overrides both.

Only the standard library is imported up front, and `tomllib`, `zoneinfo` and `platformdirs`
only when needed: `focus statusline` runs from a status bar, where pydantic-settings alone
cost 0.45 s.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from app.config_rules import (
    Invalid,
    Rule,
    Secret,
    convert,
    key_list,
    kind_of,
    known_zone,
    one_line,
    secret,
    setting,
    show,
)
from app.domain.errors import ConfigError, UsageError
from app.keymap import DEFAULT_KEYS

# `typing` costs a few milliseconds to import and is only needed by the type checker.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, TypeVar
    from zoneinfo import ZoneInfo

    _T = TypeVar("_T")

APP_NAME = "focus"


class _Section:
    """A frozen dataclass for one `[section]`; building one checks every field."""

    _section = ""

    def __post_init__(self) -> None:
        problems = []
        for key, rule in rules(type(self)).items():
            try:
                value = convert(rule, getattr(self, key), text=False)
            except Invalid as exc:
                problems.append(f"{self._section}.{key}: {exc}")
            else:
                object.__setattr__(self, key, value)  # 25 -> 25.0 for a float field
        if problems:
            raise ConfigError(one_line("invalid settings: " + "; ".join(problems)))


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class GeneralSettings(_Section):
    """`[general]`: the time zone and the database file."""

    _section = "general"
    timezone: str = setting(
        "", "IANA time zone for days, weeks and streaks; empty: the system's.", check=known_zone
    )
    db_path: str = setting(
        "",
        "SQLite file, relative to the config file's directory (`~` expanded); empty: the "
        "platform data directory. `--db` / FOCUS_DB win.",
    )
    week_start: str = setting(
        "monday",
        "The first day of a week in stats (this week's totals).",
        choices=WEEKDAYS,
    )


@dataclass(frozen=True)
class TimerSettings(_Section):
    """`[timer]`: session lengths, the long-break cycle, pauses and suspends."""

    _section = "timer"
    focus_minutes: float = setting(25.0, "Default length of a focus session.", gt=0, le=1440)
    short_break_minutes: float = setting(5.0, "Default length of a short break.", gt=0, le=1440)
    long_break_minutes: float = setting(15.0, "Default length of a long break.", gt=0, le=1440)
    long_break_every: int = setting(
        4, "Suggest a long break after this many focus sessions.", ge=1, le=100
    )
    max_pause_minutes: float = setting(
        120.0, "A session paused for longer than this expires (no reward).", gt=0, le=10080
    )
    sleep_policy: str = setting(
        "pause",
        "What a machine suspend means for a running session: pause it, count it, or ask.",
        choices=("pause", "count", "ask"),
    )
    auto_start_breaks: bool = setting(False, "Start the suggested break when a focus session ends.")
    auto_start_focus: bool = setting(False, "Start a focus session when a break ends (TUI).")
    tick_seconds: float = setting(0.25, "How often the TUI refreshes the time.", ge=0.05, le=5)


@dataclass(frozen=True)
class NotifySettings(_Section):
    """`[notify]`: what happens when a session ends."""

    _section = "notify"
    bell: bool = setting(True, "Ring the terminal bell when a session ends.")
    desktop: bool = setting(True, "Send a desktop notification when a session ends.")
    sound_file: str = setting("", "Sound file played when a session ends; empty for none.")
    sound_player: str = setting(
        "", "Player for `sound_file`; empty: the first found of paplay, pw-play, aplay, ..."
    )


_HOOK = "Shell command run on this event; the session is JSON in $FOCUS_SESSION."


@dataclass(frozen=True)
class HookSettings(_Section):
    """`[hooks]`: shell commands run on session events."""

    _section = "hooks"
    start: str = setting("", _HOOK)
    pause: str = setting("", _HOOK)
    resume: str = setting("", _HOOK)
    extend: str = setting("", _HOOK)
    complete: str = setting("", _HOOK)
    abandon: str = setting("", _HOOK)
    expire: str = setting("", _HOOK)
    timeout_seconds: float = setting(10.0, "A hook running longer is stopped.", gt=0, le=600)


@dataclass(frozen=True)
class TuiSettings(_Section):
    """`[tui]`: the look of the app."""

    _section = "tui"
    theme: str = setting("textual-dark", "Any Textual theme name (textual-dark, nord, ...).")


@dataclass(frozen=True)
class StorageSettings(_Section):
    """`[storage]`: where sessions are kept. No url: the local SQLite file (the default)."""

    _section = "storage"
    url: Secret | None = field(
        default=None,
        metadata=secret(
            "postgresql://user:password@host:5432/db: run directly on a shared Postgres "
            "(online only; see `focus server add-user`). Also FOCUS_STORAGE_URL."
        ),
    )
    connect_timeout_seconds: float = setting(
        5.0, "Give up connecting to Postgres after this long.", gt=0, le=300
    )
    statement_timeout_seconds: float = setting(
        10.0, "Give up on a Postgres statement after this long.", gt=0, le=3600
    )


@dataclass(frozen=True)
class SyncSettings(_Section):
    """`[sync]`: the shared Postgres this device syncs to (none: the device stays local)."""

    _section = "sync"
    url: Secret | None = field(
        default=None,
        metadata=secret(
            "postgresql://user:password@host:5432/db: the user's URL from `focus server "
            "add-user`. Also FOCUS_SYNC_URL (and the password alone in FOCUS_SYNC_PASSWORD)."
        ),
    )
    batch_size: int = setting(1000, "Changes pushed per server transaction.", ge=1, le=100_000)
    interval_seconds: float = setting(
        60.0, "The app syncs this often (and shortly after each change).", ge=5, le=86_400
    )
    connect_timeout_seconds: float = setting(
        5.0, "Give up connecting to the sync server after this long.", gt=0, le=300
    )
    statement_timeout_seconds: float = setting(
        30.0, "Give up on one sync statement after this long.", gt=0, le=3600
    )


@dataclass(frozen=True)
class TracksSettings(_Section):
    """`[tracks]`: focus music on this device."""

    _section = "tracks"
    max_file_mb: int = setting(500, "The largest audio file `tracks add` takes.", ge=1, le=5000)
    part_size_mb: int = setting(
        8, "Uploads above this go multipart, in parts of this size (R2: 5 or more).", ge=5, le=512
    )
    concurrency: int = setting(4, "Parts of one upload sent at once.", ge=1, le=32)
    player: str = setting(
        "", 'Command that plays a track ("{file}" is the file); empty: mpv, else ffplay.'
    )


@dataclass(frozen=True)
class R2Settings(_Section):
    """`[r2]`: Cloudflare R2 (or any S3-compatible server) holding the tracks' audio."""

    _section = "r2"
    account_id: str = setting(
        "", "Cloudflare account id: https://{account_id}.r2.cloudflarestorage.com"
    )
    bucket: str = setting("", "The bucket holding the tracks.")
    access_key_id: str = setting("", "R2 access key id.")
    secret_access_key: Secret | None = field(default=None, metadata=secret("R2 secret key."))
    endpoint_url: str = setting("", "Overrides the R2 endpoint (any S3-compatible server).")


_KEY_RULES = {
    binding: Rule(str, f"Keys for `{binding}` (default {default!r}).", check=key_list)
    for binding, default in DEFAULT_KEYS.items()
}


def rules(section: type[_Section]) -> dict[str, Rule]:
    """A section's keys and their rules, in declaration order."""
    return {f.name: f.metadata["rule"] for f in dataclasses.fields(section)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class Settings:
    """Every section; build one from a dict with `from_mapping`, or load it with
    `load_settings`. Either way every value has been checked."""

    general: GeneralSettings = GeneralSettings()
    timer: TimerSettings = TimerSettings()
    notify: NotifySettings = NotifySettings()
    hooks: HookSettings = HookSettings()
    keys: dict[str, str] = field(default_factory=dict)
    """Key remapping: binding id -> keys, e.g. `start_pause = "space,p"`."""
    tui: TuiSettings = TuiSettings()
    storage: StorageSettings = StorageSettings()
    sync: SyncSettings = SyncSettings()
    tracks: TracksSettings = TracksSettings()
    r2: R2Settings = R2Settings()

    def __post_init__(self) -> None:
        for name, section in SECTIONS.items():
            if section is not None and not isinstance(getattr(self, name), section):
                wanted = section.__name__
                raise TypeError(f"Settings.{name} must be a {wanted} (or use from_mapping)")
        errors: list[Problem] = []
        keys = _check_table("keys", {k: (v, None, False) for k, v in self.keys.items()}, errors)
        if errors:
            raise ConfigError(_message(errors, None))
        object.__setattr__(self, "keys", keys)

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> Settings:
        """Settings from a dict shaped like the file (`{"timer": {"focus_minutes": 1}}`)."""
        return _Loader(None).add_tables(data, None).build()


SECTIONS: dict[str, type[_Section] | None] = {
    "general": GeneralSettings,
    "timer": TimerSettings,
    "notify": NotifySettings,
    "hooks": HookSettings,
    "keys": None,
    "tui": TuiSettings,
    "storage": StorageSettings,
    "sync": SyncSettings,
    "tracks": TracksSettings,
    "r2": R2Settings,
}
"""Every section in file order; `keys` is a free-form table of binding ids."""

ENV_ALIASES = {
    "FOCUS_STORAGE_URL": ("storage", "url"),
    "FOCUS_SYNC_URL": ("sync", "url"),
    "FOCUS_R2_ACCESS_KEY_ID": ("r2", "access_key_id"),
    "FOCUS_R2_SECRET_ACCESS_KEY": ("r2", "secret_access_key"),
}
"""Short environment variables for the keys people set most (they win over the file)."""


def field_table() -> dict[str, dict[str, Rule]]:
    """Section -> key -> rule, for every key the configuration accepts."""
    return {name: rules(s) if s else dict(_KEY_RULES) for name, s in SECTIONS.items()}


# -- collecting values from the file and the environment -------------------------------------

if TYPE_CHECKING:
    # A raw value, where it came from (None: the file; else the env var), whether it is text.
    Entry = tuple[object, str | None, bool]
    # Where the bad value came from, its dotted key, what is wrong with it.
    Problem = tuple[str | None, str, str]


def _check_table(name: str, entries: dict[str, Entry], errors: list[Problem]) -> dict[str, Any]:
    section = SECTIONS[name]
    table = rules(section) if section else _KEY_RULES
    out: dict[str, Any] = {}
    for key, (value, origin, text) in entries.items():
        rule = table.get(key)
        if rule is None:
            known = "" if section else f" binding id (known: {', '.join(_KEY_RULES)})"
            errors.append((origin, f"{name}.{key}", f"unknown key{known}"))
            continue
        try:
            out[key] = convert(rule, value, text)
        except Invalid as exc:
            errors.append((origin, f"{name}.{key}", str(exc)))
    return out


def _message(errors: list[Problem], path: Path | None) -> str:
    """One line naming where each bad value came from (the file or an env var) and its key."""

    def esc(name: str) -> str:
        # A quoted TOML key may hold a line break: escaped, the message stays one line.
        return name.encode("unicode_escape").decode("ascii")

    in_file = [f"{esc(k)}: {msg}" for origin, k, msg in errors if origin is None]
    in_env = [
        f"environment variable {esc(origin)} ({esc(k)}): {msg}"
        for origin, k, msg in errors
        if origin is not None
    ]
    if in_file:
        head = f"config error in {path}: " if path else "config error: "
        return one_line("; ".join([head + "; ".join(in_file), *in_env]))
    return one_line("config error: " + "; ".join(in_env))


class _Loader:
    """Layers the file, `FOCUS_<SECTION>` and `FOCUS_<SECTION>__<KEY>`, then checks them."""

    def __init__(self, path: Path | None) -> None:
        self.path = path  # the file the values marked None came from, if any
        self.entries: dict[str, dict[str, Entry]] = {name: {} for name in SECTIONS}
        self.errors: list[Problem] = []

    def add_tables(self, data: Mapping[str, object], origin: str | None) -> _Loader:
        for name, table in data.items():
            if name not in SECTIONS:
                self.errors.append((origin, name, "unknown key"))
            elif not isinstance(table, dict):
                noun = "a table" if origin is None else "a JSON object"
                self.errors.append((origin, name, f"must be {noun}, not {kind_of(table)}"))
            else:
                for key, value in table.items():
                    self.entries[name][str(key)] = (value, origin, False)
        return self

    def add_environment(self, environ: Mapping[str, str]) -> _Loader:
        whole: list[tuple[str, str, str]] = []
        single: list[tuple[str, str, str]] = []
        for var in sorted(environ):
            head, *rest = var.upper().split("__")
            section = head.removeprefix("FOCUS_").lower()
            if not head.startswith("FOCUS_") or section not in SECTIONS:
                continue  # FOCUS_DB, FOCUS_CONFIG, a hook's FOCUS_SESSION, ...
            (single if rest else whole).append((var, section, ".".join(rest).lower()))
        for var, section, _ in whole:
            import json

            try:
                table = json.loads(environ[var])
            except RecursionError:
                self.errors.append((var, section, "invalid JSON: nested too deeply"))
            except ValueError as exc:
                self.errors.append((var, section, f"invalid JSON: {exc}"))
            else:
                self.add_tables({section: table}, var)
        for var, section, key in single:
            self.entries[section][key] = (environ[var], var, True)
        for var, (section, key) in ENV_ALIASES.items():
            if var in environ:
                self.entries[section][key] = (environ[var], var, True)
        return self

    def build(self) -> Settings:
        checked = {name: _check_table(name, self.entries[name], self.errors) for name in SECTIONS}
        if "db_path" in checked["general"]:
            origin = self.entries["general"]["db_path"][1]
            try:
                checked["general"]["db_path"] = self._db_path(checked["general"]["db_path"], origin)
            except Invalid as exc:
                self.errors.append((origin, "general.db_path", str(exc)))
        if self.errors:
            raise ConfigError(_message(self.errors, self.path))
        sections: dict[str, Any] = {
            name: s(**checked[name]) if s else checked[name] for name, s in SECTIONS.items()
        }
        return Settings(**sections)

    def _db_path(self, value: str, origin: str | None) -> str:
        """`~` expanded; relative to the config file's directory when the file set it."""
        if not value:
            return value
        try:
            path = Path(value).expanduser()
        except RuntimeError:
            raise Invalid("cannot expand ~: no home directory") from None
        if origin is None and self.path is not None and not path.is_absolute():
            path = self.path.parent.absolute() / path
        try:
            is_dir = path.is_dir()
        except OSError as exc:  # a name too long, a folder we may not read
            raise Invalid(f"{show(str(path))}: {exc.strerror or exc}") from None
        if is_dir:
            raise Invalid(f"{show(str(path))} is a directory, not a database file")
        return str(path)


# -- files and paths -------------------------------------------------------------------------


def default_config_path() -> Path:
    from app.paths import user_dir

    return Path(user_dir("config")) / "config.toml"


def default_db_path() -> Path:
    from app.paths import user_dir

    return Path(user_dir("data")) / "focus.db"


def config_path(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, bool]:
    """The config file to read and whether the user named it (then it must exist)."""
    if explicit:
        return Path(explicit).expanduser(), True
    env = os.environ.get("FOCUS_CONFIG")
    if env:
        return Path(env).expanduser(), True
    return default_config_path(), False


def _read_toml(path: Path, named: bool) -> dict[str, Any] | None:
    """The parsed file, or None for a missing default file."""

    def fail(problem: str) -> ConfigError:
        return ConfigError(one_line(f"config error in {path}: {problem}"))

    if path.is_dir():
        raise fail("is a directory, not a TOML file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if named:
            raise ConfigError(one_line(f"config file {path} does not exist")) from None
        return None
    except OSError as exc:
        raise fail(exc.strerror or str(exc)) from None
    except ValueError as exc:  # a path the OS cannot encode
        raise fail(str(exc)) from None
    import tomllib

    try:
        return tomllib.loads(raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8"))
    except UnicodeDecodeError:
        raise fail("not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise fail(f"invalid TOML: {exc}") from None
    except ValueError:  # an integer beyond Python's digit limit
        raise fail("invalid TOML: a number has too many digits") from None
    except RecursionError:
        raise fail("invalid TOML: nested too deeply") from None


def load_settings(explicit: str | os.PathLike[str] | None = None) -> tuple[Settings, Path]:
    """Read and validate the settings; every failure is a one-line `ConfigError`."""
    path, named = config_path(explicit)
    data = _read_toml(path, named)
    loader = _Loader(path if data is not None else None)
    if data is not None:
        loader.add_tables(data, None)
    return loader.add_environment(os.environ).build(), path


def resolve_timezone(settings: Settings) -> ZoneInfo:
    """The configured zone, else the system's (`TZ`, /etc/localtime), else UTC."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if settings.general.timezone:
        return ZoneInfo(settings.general.timezone)
    tz_env = os.environ.get("TZ", "").lstrip(":")
    if tz_env:
        try:
            return ZoneInfo(tz_env)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    try:
        link = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in link:
            return ZoneInfo(link.split("zoneinfo/", 1)[1])
    except (OSError, ZoneInfoNotFoundError, ValueError):
        pass
    return ZoneInfo("UTC")


def resolve_db_path(settings: Settings, explicit: str | None = None) -> Path:
    """`--db` (relative to the current directory), else FOCUS_DB, else the config, else the
    platform data directory."""
    if explicit is not None:
        if not explicit.strip():
            raise UsageError("--db: empty path")
        return Path(explicit).expanduser()
    chosen = os.environ.get("FOCUS_DB") or settings.general.db_path
    return Path(chosen).expanduser() if chosen else default_db_path()


# -- secrets kept in the file ------------------------------------------------------------------

_SECRET_KEYS = (("storage", "url"), ("sync", "url"), ("r2", "secret_access_key"))


def _holds_secret(key: str, value: object) -> bool:
    if not isinstance(value, str) or not value.strip():
        return False
    if key != "url":
        return True
    from urllib.parse import urlsplit

    try:
        return bool(urlsplit(value.strip()).password)
    except ValueError:  # malformed: a password may well be in it
        return "@" in value


def secrets_in_file(path: Path) -> list[str]:
    """The keys of the config file at `path` that hold a secret: a URL with its password,
    the R2 secret key (none when the file is missing or unreadable)."""
    try:
        data = _read_toml(path, named=False) or {}
    except ConfigError:
        return []
    found = []
    for section, key in _SECRET_KEYS:
        table = data.get(section)
        if isinstance(table, dict) and _holds_secret(key, table.get(key)):
            found.append(f"{section}.{key}")
    return found


def exposed_secrets(path: Path) -> str | None:
    """A warning when the config file holds secrets and users other than its owner may
    read it (any group or other permission bit), else None."""
    try:
        mode = path.stat().st_mode & 0o777
    except (OSError, ValueError):
        return None
    if not mode & 0o077:
        return None
    keys = secrets_in_file(path)
    if not keys:
        return None
    return (
        f"{path} holds secrets ({', '.join(keys)}) and other users may read it "
        f"(mode {mode:04o}): run chmod 600 {path}, or set them in the environment instead"
    )


def _url_password(url: object) -> str | None:
    if not isinstance(url, str) or "@" not in url:
        return None
    from urllib.parse import unquote, urlsplit

    try:
        found = urlsplit(url.strip()).password
    except ValueError:  # malformed: whatever sits between the user's ':' and the last '@'
        auth = url.strip().split("://", 1)[-1].rsplit("@", 1)[0]
        found = auth.split(":", 1)[1] if ":" in auth else None
    return unquote(found) if found else None


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret this process was given, in the environment or the config file (database
    passwords, the R2 keys), as given and percent-encoded, longest first: what `scrub`
    removes from text that is about to be shown."""
    env = os.environ if environ is None else environ
    tables: list[Mapping[str, object]] = []
    for section in ("storage", "sync", "r2"):
        plain = {
            k.split("__", 1)[1].lower(): v
            for k, v in env.items()
            if "__" in k and (k.upper().startswith(f"FOCUS_{section.upper()}__"))
        }
        tables.append(plain)
        whole = env.get(f"FOCUS_{section.upper()}")
        if whole:
            import json

            try:
                loaded = json.loads(whole)
            except (ValueError, RecursionError):
                loaded = None
            if isinstance(loaded, dict):
                tables.append(loaded)
    try:
        data = _read_toml(*config_path()) or {}
    except (ConfigError, OSError):
        data = {}
    tables += [t for t in data.values() if isinstance(t, dict)]
    found: list[object] = [
        env.get("FOCUS_SYNC_PASSWORD"),
        env.get("FOCUS_R2_SECRET_ACCESS_KEY"),
        env.get("FOCUS_R2_ACCESS_KEY_ID"),
        _url_password(env.get("FOCUS_SYNC_URL")),
        _url_password(env.get("FOCUS_STORAGE_URL")),
    ]
    for table in tables:
        found += [table.get("secret_access_key"), table.get("access_key_id")]
        found.append(_url_password(table.get("url")))
    from urllib.parse import quote

    values = {v for v in found if isinstance(v, str) and len(v) >= 8}
    values |= {quote(v, safe="") for v in values}
    return sorted(values, key=len, reverse=True)


def scrub(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with every secret of `secret_values` masked."""
    for value in secret_values(environ):
        text = text.replace(value, "**********")
    return text
