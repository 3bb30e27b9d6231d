"""`focus sync`: push this device's pending changes to the shared Postgres, then pull the
changes of the user's other devices; `--rejected` lists what the server refused."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from app.cli.context import emit, say, with_store
from app.domain.errors import ConfigError

if TYPE_CHECKING:
    from app.bootstrap import Container


def sync(args: argparse.Namespace) -> int:
    if args.rejected:
        return _rejected(args)
    return _sync(args)


@with_store(readonly=True)
async def _rejected(args: argparse.Namespace, app: Container) -> None:
    from storage.sync import rejections

    found = await rejections(app.repo)
    lines = [
        f"{r.created_at.astimezone(app.zone):%Y-%m-%d %H:%M}  change {r.mutation_id}  "
        f"{r.entity} {r.entity_id}: {r.reason}"
        for r in found
    ]
    emit(
        args,
        {"rejected": [r.as_json() for r in found]},
        "\n".join(lines) or "No rejected changes.",
    )


@with_store(readonly=False, network=True)
async def _sync(args: argparse.Namespace, app: Container) -> None:
    from app.bootstrap import sync_target
    from storage.sync import sync as run_sync

    target = sync_target(app.settings)
    if target is None:
        raise ConfigError(
            "sync is not configured: set [sync] url in the config or FOCUS_SYNC_URL "
            "(a user's URL from `focus server add-user`)"
        )
    if app.settings.storage.url is not None and app.settings.storage.url.get_secret_value():
        raise ConfigError(
            "[storage] url runs this store on Postgres itself, which needs no sync; "
            "[sync] url is for a device's local store: unset one of them"
        )
    report = await run_sync(app.repo, target, app.clock.now())
    if report.adopted:
        say(f"note: this database now belongs to sync user {report.user} on {report.server}")
    for line in report.skipped[:10]:
        say(f"warning: skipped from the server: {line}")
    if len(report.skipped) > 10:
        say(f"warning: ... and {len(report.skipped) - 10} more rows skipped")
    for r in report.rejected:
        say(f"rejected: {r.entity} {r.entity_id}: {r.reason}")
    text = (
        f"pushed {report.pushed}, pulled {report.pulled}, rejected {len(report.rejected)}, "
        f"pending {report.pending}; {report.round_trips} round trips in {report.seconds:.2f} s"
    )
    emit(args, report.as_json(), text)
