"""The one error family every layer raises and every interface reports."""


class FocusError(Exception):
    """An expected failure with a one-line message for the user.

    `exit_code` follows the CLI contract: 1 for a refused operation, 2 for bad usage,
    bad configuration or an unusable database.
    """

    exit_code = 1
    title = "Focus"

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return self.message


class RefusedError(FocusError):
    """The operation does not apply to the current state (no open session, one already open)."""

    title = "Not allowed"


class OpenSessionError(RefusedError):
    """A session is already open (the store's one-open-session rule refused another)."""


class NotFoundError(RefusedError):
    """The named record does not exist."""

    title = "Not found"


class UsageError(FocusError):
    """A value given by the user is out of range or malformed."""

    exit_code = 2
    title = "Bad input"


class ConfigError(UsageError):
    """The configuration file or environment holds an invalid value."""

    title = "Configuration"


class StorageError(FocusError):
    """The database cannot be used (not a Focus database, newer schema, unreadable)."""

    exit_code = 2
    title = "Database"


class BusyError(RefusedError):
    """Another process holds the database's write lock for longer than the busy timeout."""

    title = "Database busy"


class ChangedError(BusyError):
    """What a flow read changed before it could write (another process wrote first): it
    wrote nothing, and running it again will see the change."""

    title = "Changed elsewhere"


class DamagedError(StorageError):
    """The database file is damaged (corrupt pages, malformed schema); it is never written."""

    title = "Database damaged"


class MissingDatabaseError(StorageError):
    """A read-only command was pointed at a database that does not exist."""

    title = "No database"


class ReadOnlyError(StorageError):
    """The database can be read but not written (a read-only file or mount)."""

    title = "Read-only database"


class UnavailableError(StorageError):
    """The database server cannot be reached (down, refusing, or not answering in time)."""

    exit_code = 1
    title = "Server unavailable"
