"""Connecting to Postgres, and its failures as one line each: a URL checked before use (and
named without its password), both timeouts on every connection, and driver errors turned
into the domain's (configuration: exit 2; a server down or too slow: exit 1)."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from app.domain.errors import (
    BusyError,
    ConfigError,
    FocusError,
    RefusedError,
    StorageError,
    UnavailableError,
)


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed `postgresql://` URL: what to connect to, and how to name it without secrets."""

    dsn: str
    user: str
    host: str
    port: int
    database: str

    @property
    def shown(self) -> str:
        if self.host.startswith("/"):  # a Unix socket folder
            return f"postgresql://{self.user}@/{self.database}?host={self.host}"
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"


_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")


def parse_url(url: str, what: str = "storage.url") -> Target:
    """Check a Postgres URL; ConfigError (one line, never the password) when malformed."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or 5432
    except ValueError as exc:
        # Never quote urllib's message: it quotes what it took for the port, which is the
        # start of the password when the password holds an unencoded / ? or #.
        problem = "its port is not a number up to 65535" if "Port" in str(exc) else "a bad host"
        raise ConfigError(
            f"{what}: not a valid postgresql:// URL ({problem}; "
            "percent-encode any @ : / ? # in the password)"
        ) from None
    if parts.scheme not in _SCHEMES:
        scheme = parts.scheme or "none"
        raise ConfigError(f"{what}: expected a postgresql:// URL, got scheme {scheme!r}")
    query = dict(parse_qsl(parts.query))
    # libpq's form for a Unix socket: postgresql://user@/db?host=/run/postgresql
    host = parts.hostname or query.get("host", "")
    user = unquote(parts.username or "") or query.get("user", "")
    database = unquote(parts.path.lstrip("/")) or query.get("dbname", "")
    if not host or "/" in database:
        raise ConfigError(f"{what}: a postgresql:// URL needs a host (postgresql://user@host/db)")
    if not user:
        raise ConfigError(f"{what}: the URL names no user (postgresql://user@host/db)")
    dsn = parts._replace(scheme="postgresql").geturl()
    return Target(dsn, user, host, port, database or user)


def with_password(url: str, user: str, password: str) -> str:
    """`url` logging in as `user` with `password` (for the URL `add-user` prints)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    # Only where to connect is kept from the admin's query (a socket folder, TLS mode).
    kept = [(k, v) for k, v in parse_qsl(parts.query) if k in ("host", "port", "sslmode")]
    return parts._replace(scheme="postgresql", netloc=netloc, query=urlencode(kept)).geturl()


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 5.0
    statement: float = 10.0


def load_asyncpg() -> Any:
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - a dependency of the package
        raise ConfigError("Postgres needs asyncpg: pip install asyncpg") from None
    return asyncpg


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def connect_error(exc: BaseException, target: Target, timeouts: Timeouts) -> FocusError:
    """A connection failure as one line naming the server (never the password)."""
    asyncpg = load_asyncpg()
    where = target.shown
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return ConfigError(f"Postgres refused the password for role {target.user} at {where}")
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return ConfigError(f"Postgres refused role {target.user} at {where}: {_reason(exc)}")
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return ConfigError(f"no database {target.database!r} on {target.host}:{target.port}")
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return UnavailableError(
            f"Postgres at {target.host}:{target.port} did not answer within "
            f"{timeouts.connect:g} s (connect timeout)"
        )
    if isinstance(exc, socket.gaierror):
        return ConfigError(f"cannot resolve the Postgres host {target.host!r}")
    if isinstance(exc, ValueError):  # asyncpg's ClientConfigurationError: a bad URL option
        return ConfigError(f"bad Postgres connection setting for {where}: {_reason(exc)}")
    if isinstance(exc, OSError | asyncpg.CannotConnectNowError | asyncpg.InterfaceError):
        return UnavailableError(
            f"cannot reach Postgres at {target.host}:{target.port}: {_reason(exc)}"
        )
    if isinstance(exc, asyncpg.PostgresError):
        return StorageError(f"Postgres at {where} refused the connection: {_reason(exc)}")
    return UnavailableError(f"cannot connect to Postgres at {where}: {_reason(exc)}")


async def raw_connect(target: Target, timeouts: Timeouts, *, app_name: str = "focus") -> Any:
    """An asyncpg connection with both timeouts set, or one FocusError."""
    asyncpg = load_asyncpg()
    try:
        # The whole attempt (DNS, TCP, TLS negotiation, login) is bounded, so a port that
        # accepts and never answers fails within the connect timeout.
        return await asyncio.wait_for(
            asyncpg.connect(
                target.dsn,
                timeout=timeouts.connect,
                command_timeout=timeouts.statement + 1,
                statement_cache_size=256,
                server_settings={
                    "application_name": app_name,
                    "statement_timeout": str(int(timeouts.statement * 1000)),
                    "lock_timeout": str(int(timeouts.statement * 1000)),
                    "idle_in_transaction_session_timeout": str(
                        int(max(60.0, timeouts.statement * 6) * 1000)
                    ),
                    # Every statement seeks one user's rows by index: a generic plan is
                    # as good, and re-planning each prepared statement (with its row-level
                    # security) cost about 0.3 ms a statement here.
                    "plan_cache_mode": "force_generic_plan",
                },
            ),
            timeout=timeouts.connect + 0.5,
        )
    except Exception as exc:
        raise connect_error(exc, target, timeouts) from None


def statement_error(exc: BaseException, target: Target, timeouts: Timeouts) -> FocusError | None:
    """A failed statement as a domain error (None: not a failure this layer knows)."""
    asyncpg = load_asyncpg()
    where = target.shown
    if isinstance(exc, asyncpg.QueryCanceledError):  # statement_timeout, lock_timeout
        return UnavailableError(
            f"Postgres at {where} did not finish within {timeouts.statement:g} s "
            f"(statement timeout): {_reason(exc)}"
        )
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return UnavailableError(
            f"Postgres at {where} stopped answering (no reply within {timeouts.statement:g} s)"
        )
    if isinstance(exc, asyncpg.SerializationError | asyncpg.DeadlockDetectedError):
        return BusyError("the change collided with another one on the server; try again")
    if isinstance(exc, asyncpg.InsufficientPrivilegeError):
        return RefusedError(f"Postgres refused this for role {target.user}: {_reason(exc)}")
    if isinstance(exc, asyncpg.UndefinedTableError | asyncpg.UndefinedColumnError):
        return StorageError(
            f"{where} does not hold this focus's schema ({_reason(exc)}); "
            "run `focus server init --admin-url URL`"
        )
    if isinstance(
        exc,
        OSError
        | asyncpg.ConnectionDoesNotExistError
        | asyncpg.PostgresConnectionError
        | asyncpg.CannotConnectNowError
        | asyncpg.AdminShutdownError,
    ):
        return UnavailableError(f"lost the connection to Postgres at {where}: {_reason(exc)}")
    if isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc):
        return UnavailableError(f"lost the connection to Postgres at {where}")
    if isinstance(exc, asyncpg.PostgresError):
        return StorageError(f"Postgres at {where}: {_reason(exc)}")
    return None
