"""Libraries and tracks on both stores: counts derived, a library's tracks deleted with it
by the cascade, a tombstone left for the other devices, a name taken refused by name."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from app.domain.errors import RefusedError
from app.domain.tracks import Library, Track
from storage import track_store
from storage.sql import SqlRepository

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _lib(repo: SqlRepository, name: str, at: datetime = AT) -> Library:
    return Library(uuid.uuid4(), repo.identity.user_id, name, at, at)


def _track(repo: SqlRepository, lib: Library, title: str) -> Track:
    return Track(uuid.uuid4(), repo.identity.user_id, lib.id, title, AT, sha256="f" * 64)


async def test_libraries_count_their_tracks_and_a_delete_cascades(repo: SqlRepository) -> None:
    older, newer = _lib(repo, "Rain"), _lib(repo, "Waves", AT.replace(hour=10))
    async with repo.transaction() as tx:
        await track_store.insert_library(tx, older)
        await track_store.insert_library(tx, newer)
        for title in ("one", "two", "three"):
            await track_store.insert_track(tx, _track(repo, older, title))
        await track_store.insert_track(tx, _track(repo, newer, "four"))
        await tx.commit()
    listed = await track_store.libraries(repo.conn, repo.identity.user_id)
    assert [(x.name, x.tracks_count) for x in listed] == [("Waves", 1), ("Rain", 3)]

    async with repo.transaction() as tx:  # a favourite comes first
        await track_store.update_library(
            tx, older, replace(older, is_favorite=True, version=2, updated_at=AT)
        )
        await tx.commit()
    listed = await track_store.libraries(repo.conn, repo.identity.user_id)
    assert [x.name for x in listed] == ["Rain", "Waves"]

    async with repo.transaction() as tx:
        assert await track_store.delete(tx, "library", older.id, AT)
        assert not await track_store.delete(tx, "library", older.id, AT)  # gone already
        await tx.commit()
    left = await track_store.tracks(repo.conn, repo.identity.user_id, None)
    assert [t.title for t in left] == ["four"]
    rows = await repo.conn.fetch(
        "SELECT entity, change_stamp FROM deletions WHERE user_id = :uid",
        {"uid": repo.conn.value(repo.identity.user_id)},
    )
    assert [r[0] for r in rows] == ["library"]


async def test_a_taken_name_is_refused_and_nothing_is_written(repo: SqlRepository) -> None:
    async with repo.transaction() as tx:
        await track_store.insert_library(tx, _lib(repo, "Rain"))
        await tx.commit()
    with pytest.raises(RefusedError, match="'Rain' exists already"):
        async with repo.transaction() as tx:
            await track_store.insert_library(tx, _lib(repo, "Rain"))
            await tx.commit()
    assert len(await track_store.libraries(repo.conn, repo.identity.user_id)) == 1
