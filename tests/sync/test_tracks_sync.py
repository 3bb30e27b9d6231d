"""Libraries, tracks and their deletions sync between two devices of one user through the
suite's Postgres, with the same batches as sessions; counts are derived, never synced."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from app.domain.tracks import DEFAULT_LIBRARY_ID, Library, Track, UploadState
from storage import track_store
from tests.sync.conftest import Device, admin_fetch


async def _library(dev: Device, name: str, ident: uuid.UUID | None = None) -> Library:
    now = dev.clock.now()
    lib = Library(ident or uuid.uuid4(), dev.repo.identity.user_id, name, now, now)
    async with dev.repo.transaction() as tx:
        await track_store.insert_library(tx, lib)
        await tx.commit()
    return lib


async def _track(dev: Device, lib: Library, title: str, sha: str) -> Track:
    track = Track(
        uuid.uuid4(),
        dev.repo.identity.user_id,
        lib.id,
        title,
        dev.clock.now(),
        size_bytes=1000,
        sha256=sha,
        content_type="audio/wav",
        local_path=f"/music/{title}.wav",
        updated_at=dev.clock.now(),
    )
    async with dev.repo.transaction() as tx:
        await track_store.insert_track(tx, track)
        await tx.commit()
    return track


async def _libraries(dev: Device) -> dict[str, Library]:
    libs = await track_store.libraries(dev.repo.conn, dev.repo.identity.user_id)
    return {x.name: x for x in libs}


async def _tracks(dev: Device) -> dict[uuid.UUID, Track]:
    found = await track_store.tracks(dev.repo.conn, dev.repo.identity.user_id, None)
    return {t.id: t for t in found}


async def test_libraries_and_tracks_reach_the_other_device_with_counts_derived(
    laptop: Device, phone: Device, pg_admin: str, user: dict[str, Any]
) -> None:
    await laptop.sync()
    await phone.sync()
    rain = await _library(laptop, "Rain")
    a = await _track(laptop, rain, "drizzle", "a" * 64)
    # The phone adds a track to the same library offline, once it has it.
    report = await laptop.sync()
    assert report.rejected == []
    await phone.sync()
    b = await _track(phone, (await _libraries(phone))["Rain"], "storm", "b" * 64)
    await phone.sync()
    await laptop.sync()

    for dev in (laptop, phone):
        libs = await _libraries(dev)
        assert libs["Rain"].tracks_count == 2, dev.name
        assert set(await _tracks(dev)) == {a.id, b.id}
    # The file's place on a device is that device's own: it never travels.
    assert (await _tracks(phone))[a.id].local_path is None
    assert (await _tracks(laptop))[a.id].local_path == "/music/drizzle.wav"
    rows = await admin_fetch(pg_admin, "SELECT local_path FROM tracks WHERE id = $1", a.id)
    assert rows[0][0] is None


async def test_the_higher_version_wins_and_the_loser_gets_the_winner_back(
    laptop: Device, phone: Device
) -> None:
    lib = await _library(laptop, "Focus")
    await laptop.sync()
    await phone.sync()
    held = (await _libraries(phone))["Focus"]
    now = laptop.clock.now()
    twice = replace(held, name="Deep focus", version=3, updated_at=now)
    once = replace(held, is_favorite=True, version=2, updated_at=now)
    async with laptop.repo.transaction() as tx:
        await track_store.update_library(tx, held, twice)
        await tx.commit()
    async with phone.repo.transaction() as tx:
        await track_store.update_library(tx, held, once)
        await tx.commit()
    await laptop.sync()
    await phone.sync()  # loses: version 2 < 3, and pulls the winner
    for dev in (laptop, phone):
        libs = await _libraries(dev)
        assert set(libs) == {"Deep focus"}, dev.name
        assert libs["Deep focus"].id == lib.id and libs["Deep focus"].version == 3


async def test_a_deleted_library_takes_its_tracks_everywhere_and_stays_deleted(
    laptop: Device, phone: Device, pg_admin: str
) -> None:
    lib = await _library(laptop, "Old")
    keep = await _library(laptop, "Keep")
    await _track(laptop, lib, "one", "c" * 64)
    kept = await _track(laptop, keep, "two", "d" * 64)
    await laptop.sync()
    await phone.sync()
    assert set(await _tracks(phone)) == set(await _tracks(laptop))

    # The phone, offline, renames the library the laptop deletes.
    held = (await _libraries(phone))["Old"]
    async with phone.repo.transaction() as tx:
        await track_store.update_library(
            tx, held, replace(held, name="Renamed", version=held.version + 1)
        )
        await tx.commit()
    async with laptop.repo.transaction() as tx:
        assert await track_store.delete(tx, "library", lib.id, laptop.clock.now())
        await tx.commit()
    assert set(await _tracks(laptop)) == {kept.id}  # the cascade, here
    await laptop.sync()
    report = await phone.sync()
    assert report.rejected == []
    await laptop.sync()

    for dev in (laptop, phone):
        assert set(await _libraries(dev)) == {"Keep"}, dev.name
        assert set(await _tracks(dev)) == {kept.id}, dev.name
    rows = await admin_fetch(pg_admin, "SELECT count(*) FROM libraries WHERE id = $1", lib.id)
    assert rows[0][0] == 0
    tomb = await admin_fetch(pg_admin, "SELECT entity FROM deletions WHERE entity_id = $1", lib.id)
    assert [r[0] for r in tomb] == ["library"]


async def test_the_default_library_made_on_two_devices_is_one_library(
    laptop: Device, phone: Device
) -> None:
    await laptop.sync()
    await phone.sync()
    await _library(laptop, "Focus music", DEFAULT_LIBRARY_ID)
    await _library(phone, "Focus music", DEFAULT_LIBRARY_ID)
    assert (await laptop.sync()).rejected == []
    assert (await phone.sync()).rejected == []
    await laptop.sync()
    for dev in (laptop, phone):
        libs = await _libraries(dev)
        assert [x.id for x in libs.values()] == [DEFAULT_LIBRARY_ID], dev.name


async def test_one_name_made_on_two_devices_keeps_both_libraries_and_their_tracks(
    laptop: Device, phone: Device
) -> None:
    await laptop.sync()
    await phone.sync()
    theirs = await _library(laptop, "Lo-fi")
    a = await _track(laptop, theirs, "tape", "a" * 64)
    await laptop.sync()
    mine = await _library(phone, "LO-FI")  # made offline before it pulled the laptop's
    b = await _track(phone, mine, "vinyl", "b" * 64)
    await _library(phone, "Lo-fi (2)")  # the first free suffix is found, not assumed
    report = await phone.sync()
    assert report.rejected == []
    assert report.skipped == []
    await laptop.sync()

    for dev in (laptop, phone):
        libs = await _libraries(dev)
        assert set(libs) == {"Lo-fi", "Lo-fi (2)", "LO-FI (3)"}, dev.name
        assert libs["Lo-fi"].id == theirs.id and libs["LO-FI (3)"].id == mine.id, dev.name
        assert libs["Lo-fi"].tracks_count == 1 and libs["LO-FI (3)"].tracks_count == 1
        tracks = await _tracks(dev)
        assert tracks[a.id].library_id == theirs.id and tracks[b.id].library_id == mine.id
    # The renamed library is an ordinary one afterwards: the phone's next rename wins.
    before = (await _libraries(phone))["LO-FI (3)"]
    renamed = replace(before, name="Vinyl", version=before.version + 1)
    async with phone.repo.transaction() as tx:
        await track_store.update_library(tx, before, renamed)
        await tx.commit()
    await phone.sync()
    await laptop.sync()
    assert "Vinyl" in await _libraries(laptop)


async def test_an_uploaded_state_reaches_the_other_device(laptop: Device, phone: Device) -> None:
    lib = await _library(laptop, "Rain")
    track = await _track(laptop, lib, "drizzle", "e" * 64)
    key = f"user/{laptop.repo.identity.user_id}/tracks/{'e' * 64}"
    done = replace(track, r2_key=key, upload_state=UploadState.UPLOADED, version=2, attempts=1)
    async with laptop.repo.transaction() as tx:
        await track_store.update_track(tx, track, done)
        await tx.commit()
    await laptop.sync()
    await phone.sync()
    there = (await _tracks(phone))[track.id]
    assert (there.r2_key, there.upload_state, there.attempts) == (key, UploadState.UPLOADED, 0)
