"""Reliability fixtures: a Postgres database set up by `focus server init` shared by the
reliability tests (each test makes users of its own, who see only their own rows), a new
user on it, and the suite's S3 server (moto, in a thread).

Helpers that read a user's rows as the admin, and the checks every device must pass,
live in tests/sync/conftest.py (`server_view`, `check_consistent`) and are imported from
there."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.r2.conftest import s3, s3_url  # fixtures, re-exported

__all__ = ["reliability_db", "s3", "s3_url", "sync_user"]


@pytest.fixture(scope="session")
def reliability_db(pg_server: str) -> str:
    """The admin URL of one database, set up by `focus server init`, for the reliability
    tests (a database per test costs half a second)."""
    from tests.pg import create_database, init_server

    async def make() -> str:
        url = await create_database(pg_server)
        await init_server(url)
        return url

    return asyncio.run(make())


@pytest.fixture
async def sync_user(reliability_db: str) -> dict[str, Any]:
    """A new Focus user on `reliability_db`: {'user_id', 'role', 'sync_url'}."""
    from tests.pg import add_user

    return await add_user(reliability_db)
