"""Two users on one initialized server, each with real data in every table: A the victim,
B the attacker (who knows A's user_id and every id of A's rows)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import START, UserFactory
from tests.server.support import UserData, connection, rows_of, write_user_data


@dataclass
class World:
    admin: str
    a: dict[str, Any]
    b: dict[str, Any]
    data: UserData
    b_data: UserData
    before: dict[str, list[dict[str, Any]]]
    """A's rows in every table (and the shared rows) before B did anything."""

    @property
    def a_id(self) -> uuid.UUID:
        return uuid.UUID(self.a["user_id"])

    @property
    def b_id(self) -> uuid.UUID:
        return uuid.UUID(self.b["user_id"])

    async def a_rows(self) -> dict[str, list[dict[str, Any]]]:
        async with connection(self.admin) as raw:
            return await rows_of(raw, self.a_id)


@pytest.fixture
async def world(pg_admin: str, pg_user: UserFactory) -> World:
    a = await pg_user()
    b = await pg_user()
    data = await write_user_data(pg_admin, a, START)
    b_data = await write_user_data(pg_admin, b, START, library="Waves")
    async with connection(pg_admin) as raw:
        before = await rows_of(raw, data.user_id)
    empty = [table for table, rows in before.items() if not rows]
    assert empty == [], f"A has no rows in {empty}: the isolation tests would prove nothing"
    return World(pg_admin, a, b, data, b_data, before)
