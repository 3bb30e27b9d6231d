"""The housekeeping commands: config check/path, db upgrade/path and the demo."""

from __future__ import annotations

import argparse

from app.cli.context import emit, say


def config(args: argparse.Namespace) -> int:
    if args.action == "path":
        from app.config import config_path

        path, _ = config_path(getattr(args, "config", None))
        emit(args, {"config_path": str(path), "exists": path.exists()}, str(path))
        return 0
    from app.bootstrap import load
    from app.config import exposed_secrets

    _, path, db_path = load(getattr(args, "config", None), getattr(args, "db", None))
    where = str(path) if path.exists() else f"defaults (no file at {path})"
    data: dict[str, object] = {"ok": True, "config_path": str(path), "db_path": str(db_path)}
    warnings = [w for w in (exposed_secrets(path),) if w]
    if warnings:
        data["warnings"] = warnings
    emit(args, data, f"config OK: {where}")
    if not getattr(args, "json", False):
        for warning in warnings:
            say(f"warning: {warning}")
    return 0


def db(args: argparse.Namespace) -> int:
    from app.bootstrap import load

    _, _, db_path = load(getattr(args, "config", None), getattr(args, "db", None))
    if args.action == "path":
        emit(args, {"db_path": str(db_path), "exists": db_path.exists()}, str(db_path))
        return 0
    import asyncio

    from app.clock import SystemClock
    from storage.local import upgrade_file

    before, after, saved = asyncio.run(upgrade_file(db_path, SystemClock().now()))
    text = f"{db_path}: schema {after}"
    if before != after:
        text += f" (was {before or 'empty'})" + (f"; backup at {saved}" if saved else "")
    emit(
        args,
        {
            "db_path": str(db_path),
            "from": before,
            "to": after,
            "backup": str(saved) if saved else None,
        },
        text,
    )
    return 0


def demo(args: argparse.Namespace) -> int:
    from app.config import load_settings
    from app.demo import main_demo

    settings, _ = load_settings(getattr(args, "config", None))
    as_json = getattr(args, "json", False)
    return main_demo(args.speed, as_json, settings, headless=args.headless, autoplay=args.autoplay)
