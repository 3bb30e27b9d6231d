"""`focus server`: set up and look after a shared Postgres, as its admin role."""

from __future__ import annotations

import argparse
import asyncio
import os
from datetime import timedelta
from typing import Any

from app.cli.context import emit


def _admin(args: argparse.Namespace) -> tuple[Any, Any]:
    from app.config import load_settings
    from storage.postgres import Timeouts
    from storage.server import admin_target

    settings, _ = load_settings(getattr(args, "config", None))
    s = settings.storage
    url = args.admin_url or os.environ.get("FOCUS_ADMIN_URL")
    admin = admin_target(url, Timeouts(s.connect_timeout_seconds, s.statement_timeout_seconds))
    return settings, admin


def server(args: argparse.Namespace) -> int:
    from app.clock import SystemClock
    from storage import server as srv

    settings, admin = _admin(args)
    now = SystemClock().now()
    if args.action == "init":
        report = asyncio.run(srv.init(admin))
        was = report["from"]
        change = (
            "created"
            if was is None
            else ("up to date" if was == report["schema"] else f"upgraded from {was}")
        )
        text = (
            f"{report['database']}: schema {report['schema']} ({change}); row-level security "
            f"enabled and forced on {report['tables']} tables; admin role {report['admin']}"
        )
    elif args.action == "add-user":
        report = asyncio.run(srv.add_user(admin, args.name, now))
        text = f"user {args.name}: user_id {report['user_id']}\nsync_url {report['sync_url']}"
        if getattr(args, "json", False):
            report = {"user_id": report["user_id"], "sync_url": report["sync_url"]}
    elif args.action == "remove-user":
        report = asyncio.run(srv.remove_user(admin, args.name, args.purge))
        kept = f"{report['rows_removed']} rows deleted" if args.purge else "their rows kept"
        text = f"user {args.name} removed ({kept})"
    else:
        minutes = args.max_pause_minutes or settings.timer.max_pause_minutes
        report = asyncio.run(srv.expire_stale(admin, now, timedelta(minutes=minutes)))
        text = f"expired {report['expired']} stale sessions of {report['users']} users"
    emit(args, report, text)
    return 0
