"""Settings: a TOML file (optional) plus `FOCUS_*` environment variables, validated.

The file is `--config`, else `$FOCUS_CONFIG`, else `platformdirs.user_config_path("focus")/
config.toml`; a missing default file means defaults. Environment variables override the file
(`FOCUS_TIMER__FOCUS_MINUTES=50`, `FOCUS_SYNC__POSTGRES_URL=...`).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from app.domain.errors import ConfigError

APP_NAME = "focus"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class TimerSettings(_Section):
    focus_minutes: float = Field(25, gt=0, le=1440)
    """Default length of a focus session."""
    short_break_minutes: float = Field(5, gt=0, le=1440)
    """Default length of a short break."""
    long_break_minutes: float = Field(15, gt=0, le=1440)
    """Default length of a long break."""
    long_break_every: int = Field(4, ge=1, le=100)
    """Suggest a long break after this many completed focus sessions."""
    max_pause_minutes: float = Field(120, gt=0, le=10080)
    """A session paused for longer than this expires (no reward)."""
    sleep_policy: Literal["pause", "count", "ask"] = "pause"
    """What a machine suspend means for a running session: pause it, count it, or ask."""
    auto_start_breaks: bool = False
    """Start the suggested break as soon as a focus session completes (TUI)."""
    auto_start_focus: bool = False
    """Start a focus session as soon as a break completes (TUI)."""
    tick_seconds: float = Field(0.25, ge=0.05, le=5)
    """How often the TUI refreshes the remaining time."""


class GeneralSettings(_Section):
    timezone: str = ""
    """IANA time zone for days, weeks and streaks; empty means the system's."""
    db_path: str = ""
    """SQLite file; empty means the platform data directory. `--db` / FOCUS_DB win."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class NotifySettings(_Section):
    bell: bool = True
    """Ring the terminal bell when a session ends."""
    desktop: bool = True
    """Send a desktop notification (notify-send, osascript) when a session ends."""
    sound_file: str = ""
    """Sound file played when a session ends; empty for none."""
    sound_player: str = ""
    """Player command for `sound_file`; empty means the first found of paplay, aplay, afplay,
    ffplay, mpv."""


class HookSettings(_Section):
    """Shell commands run on session events; the session is JSON in $FOCUS_SESSION."""

    start: str = ""
    pause: str = ""
    resume: str = ""
    extend: str = ""
    complete: str = ""
    abandon: str = ""
    expire: str = ""
    timeout_seconds: float = Field(10, gt=0, le=600)
    """A hook still running after this long is stopped and reported."""


class TuiSettings(_Section):
    theme: str = "textual-dark"
    """Any Textual theme name (textual-dark, nord, gruvbox, dracula, ...)."""


class SyncSettings(_Section):
    postgres_url: SecretStr | None = None
    """postgresql://user:password@host/db of the shared store; best set as
    FOCUS_SYNC__POSTGRES_URL."""
    batch_size: int = Field(1000, ge=1, le=100_000)
    """Outbox rows pushed per round trip."""


class R2Settings(_Section):
    account_id: str = ""
    """Cloudflare account id; the endpoint is https://{account_id}.r2.cloudflarestorage.com."""
    bucket: str = ""
    access_key_id: str = ""
    secret_access_key: SecretStr | None = None
    """Best set as FOCUS_R2__SECRET_ACCESS_KEY."""
    endpoint_url: str = ""
    """Overrides the R2 endpoint (any S3-compatible server)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FOCUS_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    general: GeneralSettings = GeneralSettings()
    timer: TimerSettings = TimerSettings()
    notify: NotifySettings = NotifySettings()
    hooks: HookSettings = HookSettings()
    keys: dict[str, str] = {}
    """Key remapping: binding id -> keys, e.g. `start_pause = "space,p"`."""
    tui: TuiSettings = TuiSettings()
    sync: SyncSettings = SyncSettings()
    r2: R2Settings = R2Settings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file (passed as init kwargs); no dotenv, no secrets dir.
        return (env_settings, init_settings)


def default_config_path() -> Path:
    from platformdirs import user_config_path

    return user_config_path(APP_NAME) / "config.toml"


def default_db_path() -> Path:
    from platformdirs import user_data_path

    return user_data_path(APP_NAME) / "focus.db"


def config_path(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, bool]:
    """The config file to read and whether the user named it (then it must exist)."""
    if explicit:
        return Path(explicit).expanduser(), True
    env = os.environ.get("FOCUS_CONFIG")
    if env:
        return Path(env).expanduser(), True
    return default_config_path(), False


def _format_error(path: Path | None, exc: ValidationError) -> str:
    """One line naming where each bad value came from (the file or an env var) and its key."""
    in_file, in_env = [], []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        # A quoted TOML key may hold a line break; escape it so the message stays one line.
        key = (".".join(loc) or "(top level)").encode("unicode_escape").decode("ascii")
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        # The value may come from a variable for the key or for a whole section (JSON).
        names = ["FOCUS_" + "__".join(loc[:n]).upper() for n in range(len(loc), 0, -1)]
        env_name = next((n for n in names if n in os.environ), names[0] if names else "FOCUS_")
        if env_name in os.environ or path is None:
            in_env.append(f"environment variable {env_name} ({key}): {msg}")
        else:
            in_file.append(f"{key}: {msg}")
    head = f"config error in {path}: " + "; ".join(in_file) if in_file else "config error"
    return "; ".join([head, *in_env]) if in_file else f"{head}: " + "; ".join(in_env)


def load_settings(explicit: str | os.PathLike[str] | None = None) -> tuple[Settings, Path]:
    """Read and validate the settings; every failure is a one-line `ConfigError`."""
    path, named = config_path(explicit)
    data: dict[str, Any] = {}
    if path.is_dir():
        raise ConfigError(f"config error in {path}: is a directory, not a TOML file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if named:
            raise ConfigError(f"config file {path} does not exist") from None
        raw = None
    except OSError as exc:
        raise ConfigError(f"config error in {path}: {exc.strerror or exc}") from None
    if raw is not None:
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(f"config error in {path}: not UTF-8 text") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config error in {path}: invalid TOML: {exc}") from None
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_format_error(path if raw is not None else None, exc)) from None
    except SettingsError as exc:
        # A whole section given as FOCUS_<SECTION> must be JSON; it fails before validation.
        names = [f"FOCUS_{f.upper()}" for f in Settings.model_fields]
        where = ", ".join(n for n in names if n in os.environ) or "FOCUS_*"
        raise ConfigError(f"config error: environment variable {where}: {exc}") from None
    return settings, path


def resolve_timezone(settings: Settings) -> ZoneInfo:
    """The configured zone, else the system's (`TZ`, /etc/localtime), else UTC."""
    if settings.general.timezone:
        return ZoneInfo(settings.general.timezone)
    tz_env = os.environ.get("TZ", "").lstrip(":")
    if tz_env:
        try:
            return ZoneInfo(tz_env)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        link = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in link:
            return ZoneInfo(link.split("zoneinfo/", 1)[1])
    except (OSError, ZoneInfoNotFoundError, ValueError):
        pass
    return ZoneInfo("UTC")


def resolve_db_path(settings: Settings, explicit: str | None = None) -> Path:
    chosen = explicit or os.environ.get("FOCUS_DB") or settings.general.db_path
    return Path(chosen).expanduser() if chosen else default_db_path()
