"""A server set up by an older (or newer) focus says which side to upgrade before anything
is read or written; `focus server init` brings an older setup up to date."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from app.domain.errors import StorageError
from storage.postgres import SERVER_SETUP, open_pg_repository
from tests.conftest import UserFactory
from tests.pg import init_server
from tests.server.support import connection

pytestmark = pytest.mark.postgres


async def _set_setup(admin_url: str, value: str | None) -> None:
    async with connection(admin_url) as raw:
        if value is None:
            await raw.execute("DELETE FROM meta WHERE key = 'server_setup'")
        else:
            await raw.execute("UPDATE meta SET value = $1 WHERE key = 'server_setup'", value)


@pytest.mark.parametrize(
    ("stored", "says"),
    [(None, "older focus"), (str(SERVER_SETUP - 1), "older focus"), ("99", "newer focus")],
)
async def test_a_setup_of_another_version_is_named_before_any_write(
    pg_admin: str, pg_user: UserFactory, stored: str | None, says: str
) -> None:
    user = await pg_user()
    await _set_setup(pg_admin, stored)
    with pytest.raises(StorageError, match=says) as caught:
        await open_pg_repository(user["sync_url"], ZoneInfo("UTC"))
    assert "\n" not in str(caught.value)
    async with connection(pg_admin) as raw:
        assert await raw.fetchval("SELECT count(*) FROM sessions") == 0
        assert await raw.fetchval("SELECT max(change_stamp) FROM user_state") == 0


async def test_init_brings_an_older_setup_up_to_date(pg_admin: str, pg_user: UserFactory) -> None:
    user = await pg_user()
    await _set_setup(pg_admin, "1")
    await init_server(pg_admin)
    repo = await open_pg_repository(user["sync_url"], ZoneInfo("UTC"))
    try:
        assert await repo.open_session() is None
    finally:
        await repo.close()
    async with connection(pg_admin) as raw:
        value = await raw.fetchval("SELECT value FROM meta WHERE key = 'server_setup'")
    assert value == str(SERVER_SETUP)
