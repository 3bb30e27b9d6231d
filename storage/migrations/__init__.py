"""Alembic migrations for both dialects; HEAD must name the newest revision (a test checks)."""

HEAD = "0004"
