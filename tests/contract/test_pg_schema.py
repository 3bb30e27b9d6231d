"""The Alembic migrations build on Postgres exactly the schema the metadata describes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from storage.migrate import upgrade
from storage.schema import metadata
from tests.pg import asyncpg_url

pytestmark = pytest.mark.postgres


async def test_the_migrated_postgres_schema_equals_the_metadata(pg_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_async_engine(asyncpg_url(pg_url))
    try:
        await upgrade(engine)
        await upgrade(engine)  # twice is harmless

        def differences(sync_conn: Any) -> list[Any]:
            context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))

        async with engine.connect() as conn:
            diffs = await conn.run_sync(differences)
            tables = await conn.run_sync(
                lambda c: {
                    r[0]
                    for r in c.exec_driver_sql(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    )
                }
            )
    finally:
        await engine.dispose()
    assert diffs == []
    assert set(metadata.tables) <= tables
