"""The codec's SQLite conversions follow the schema, so no column is stored in another form."""

from __future__ import annotations

from sqlalchemy import JSON, DateTime, Uuid

from storage.codec import DATETIME_COLUMNS, JSON_COLUMNS, SESSION_COLUMNS, UUID_COLUMNS
from storage.schema import metadata, sessions


def test_column_lists_match_the_schema() -> None:
    """The codec's SQLite conversions name exactly the schema's UUID, instant and JSON
    columns, and the session column list is the table's, in order."""
    columns = [c for t in metadata.sorted_tables for c in t.columns]
    uuids = {c.name for c in columns if isinstance(c.type, Uuid)}
    instants = {
        c.name
        for c in columns
        if isinstance(c.type.impl if hasattr(c.type, "impl") else c.type, DateTime)
    }
    assert uuids == UUID_COLUMNS
    assert instants == DATETIME_COLUMNS
    assert {c.name for c in columns if isinstance(c.type, JSON)} == JSON_COLUMNS
    # Every column but the server's change stamp, which is not part of a session's state.
    assert {c.name for c in sessions.columns} - {"change_stamp", "changed_by"} == set(
        SESSION_COLUMNS
    )
    assert len(SESSION_COLUMNS) == len(set(SESSION_COLUMNS))
