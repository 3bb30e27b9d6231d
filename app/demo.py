"""`focus demo`: the whole product, accelerated, on throwaway stores and servers.

`--headless` plays the script without the TUI, one line per step (`--json`: JSON lines with
each step's outcome): the session lifecycle on a throwaway SQLite file, then, with the
`demo` extra, a second device syncing through a throwaway Postgres and a track uploaded to
a throwaway S3 server. Without a flag the TUI opens on a throwaway store (app.tui.demo).
Whatever the demo made is removed when it ends, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import cli_output as out
from app import presenters as p
from app.clock import ScaledClock
from app.config import HookSettings, Settings
from app.domain.models import Mode

if TYPE_CHECKING:
    from app.bootstrap import Container
    from app.demo_online import Step

HEADLESS_SPEED = 120.0
"""The script at 120x takes about 20 s (a 25-minute focus session in 12.5 s)."""
TUI_SPEED = 60.0
"""In the app: a 25-minute focus session takes 25 s."""
UNATTENDED = timedelta(minutes=60)
"""How far the clock jumps while the demo's last session is left alone (past its grace)."""


class DemoClock(ScaledClock):
    """The scaled clock, which can also jump ahead (time nobody watches) and stop."""

    def __init__(self, speed: float) -> None:
        super().__init__(speed)
        self._skipped = timedelta(0)
        self._stopped: datetime | None = None

    def now(self) -> datetime:
        if self._stopped is not None:
            return self._stopped
        return super().now() + self._skipped

    def skip(self, delta: timedelta) -> None:
        self._skipped += delta

    def stop(self) -> None:
        """Time stands still from here (the lifecycle is over; syncing waits on no clock)."""
        self._stopped = self.now()


def quiet(settings: Settings) -> Settings:
    """The user's settings without their hooks: a demo must not post to their chat."""
    return dataclasses.replace(settings, hooks=HookSettings())


async def open_store(
    path: Path, clock: DemoClock, settings: Settings, threaded: bool = False
) -> Container:
    from app.bootstrap import bootstrap

    return await bootstrap(db=str(path), clock=clock, settings=settings, threaded=threaded)


class Reporter:
    """Writes each step: a timestamped line, or a JSON line with its outcome."""

    def __init__(self, clock: DemoClock, write: Callable[[str], None], as_json: bool) -> None:
        self.clock = clock
        self.write = write
        self.as_json = as_json
        self.zone: Any = None
        self.names: list[str] = []

    def __call__(self, name: str, text: str, /, **outcome: Any) -> None:
        self.names.append(name)
        now = self.clock.now()
        if self.as_json:
            entry = {"step": name, "text": text, "at": p.iso(now)} | outcome
            self.write(json.dumps(entry, default=str))
        else:
            shown = now.astimezone(self.zone) if self.zone is not None else now
            self.write(f"[{shown:%H:%M:%S}] {text}")

    def progress(self, done: int, total: int) -> None:
        if self.as_json:
            return  # the step's outcome lists every report
        width = 24
        filled = round(width * done / total) if total else width
        pct = 100 * done // total if total else 100
        bar = "#" * filled + "-" * (width - filled)
        self.write(f"           upload [{bar}] {pct:3d}% {done // 1024}/{total // 1024} KiB")


async def play_lifecycle(app: Container, clock: DemoClock, step: Step) -> None:
    """Focus with a pause and a resume, completion and rewards, a break, an abandon, an expiry."""
    svc, zone, speed = app.service, app.zone, clock.speed

    async def wait(minutes: float) -> None:
        await asyncio.sleep(minutes * 60 / speed)

    async def until(instant: datetime | None) -> None:
        assert instant is not None
        for _ in range(100):  # asyncio.sleep may wake a hair early on a coarse timer
            left = (instant - clock.now()).total_seconds()
            if left <= 0:
                return
            await asyncio.sleep(left / speed + 0.01)

    def line(s: Any) -> str:
        return out.session_line(s, clock.now(), zone)

    def shown(s: Any) -> dict[str, Any]:
        return p.session_dict(s, clock.now())

    s = await svc.start(Mode.FOCUS, 25, "Demo: write the intro", ["demo"])
    step("start", out.started(s, zone), session=shown(s))
    await wait(10)
    s = await svc.pause()
    step("pause", "10 minutes in, paused: " + line(s), session=shown(s))
    await wait(2)
    s = await svc.status() or s
    step("still paused", "2 minutes later, a pause spends nothing: " + line(s), session=shown(s))
    s = await svc.resume()
    step("resume", "Resumed: " + line(s), session=shown(s))
    await until(s.ends_at)
    done = await svc.complete()
    level = done.level
    step(
        "complete",
        f"Time is up: {out.label(done.session)} completed, +{done.session.xp_awarded} xp, "
        f"+{done.session.coins_awarded} coins; level {level.level} "
        f"({level.total_xp}/{level.next_level_xp} xp)",
        session=shown(done.session),
        xp=done.session.xp_awarded,
        coins=done.session.coins_awarded,
        level=p.level_dict(level),
        leveled_up=done.leveled_up,
    )
    b = await svc.start(await svc.suggest_next(done.session))
    step("break", out.started(b, zone), session=shown(b))
    await until(b.ends_at)
    ended = await svc.settle() or await svc.session(b.id)
    assert ended is not None
    step("break done", f"{ended.mode.label} {ended.status.value}.", session=shown(ended))
    s = await svc.start(Mode.FOCUS, 25, "Demo: answer mail", ["demo", "mail"])
    step("distracted", out.started(s, zone), session=shown(s))
    await wait(3)
    s = await svc.abandon("phone call")
    step(
        "abandon",
        f"Abandoned after 3 minutes ({s.abandon_reason}): no reward. " + out.label(s),
        session=shown(s),
    )
    s = await svc.start(Mode.FOCUS, 25, "Demo: left running", ["demo"])
    step("unattended", out.started(s, zone) + " Then nobody comes back...", session=shown(s))
    clock.skip(UNATTENDED)
    gone = await svc.settle() or await svc.session(s.id)
    assert gone is not None
    step(
        "expired",
        f"{UNATTENDED.seconds // 60} minutes later, past its grace (ends + one planned "
        f"length): {out.label(gone)} {gone.status.value}, no reward.",
        session=shown(gone),
    )
    stats = await svc.stats(7)
    step("stats", "Stats: " + out.stats_text(stats).replace("\n", " | "), stats=p.stats_dict(stats))


async def play_online(
    app: Container, folder: Path, clock: DemoClock, servers: Any, reporter: Reporter
) -> int:
    """The sync and upload steps; 0, or 1 when the servers could not be started."""
    from app.demo_online import play_sync, play_upload
    from app.demo_servers import EXTRA_NOTICE, ExtraMissing

    clock.stop()
    try:
        pg = await servers.postgres()
        s3 = await servers.object_store()
    except ExtraMissing as exc:
        reporter("extra missing", EXTRA_NOTICE, notice=EXTRA_NOTICE, missing=str(exc))
        return 0
    except Exception as exc:
        text = f"Sync and upload skipped: the demo's servers did not start ({exc})"
        reporter("servers failed", text.splitlines()[0], error=str(exc))
        return 1
    reporter(
        "servers",
        f"Throwaway servers up: Postgres (focus server init, user {pg.user['role']}) and an "
        f"S3 server at {s3.endpoint} (bucket {s3.bucket}).",
        postgres_pid=pg.pid,
        s3_endpoint=s3.endpoint,
        bucket=s3.bucket,
        user=pg.user["role"],
    )
    second = await open_store(folder / "second-device.db", clock, app.settings)
    try:
        equal = await play_sync(app, second, pg, reporter)
    finally:
        await second.close()
    await play_upload(app, folder, s3, pg, reporter, reporter.progress)
    return 0 if equal else 1


async def run_headless(
    speed: float, reporter: Reporter, settings: Settings, folder: Path, servers: Any
) -> int:
    clock = reporter.clock
    app = await open_store(folder / "demo.db", clock, settings)
    # Only now: creating a store runs Alembic, which `server init` runs too, and Alembic's
    # context is one per process.
    servers.start()
    reporter.zone = app.zone
    try:
        await play_lifecycle(app, clock, reporter)
        return await play_online(app, folder, clock, servers, reporter)
    finally:
        await app.close()


@contextlib.contextmanager
def throwaway(servers: bool = True) -> Iterator[tuple[Path, Any]]:
    """A temp folder and the servers (`start()` them), both removed at the end.

    SIGTERM is turned into KeyboardInterrupt, like Ctrl-C, so both end here; signals are
    ignored while things are being removed, so a second Ctrl-C cannot leave them half-done.
    """
    from app.demo_servers import DemoServers

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, interrupted)
    folder = Path(tempfile.mkdtemp(prefix="focus-demo-"))
    started = DemoServers() if servers else None
    try:
        yield folder, started
    finally:
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            if started is not None:
                started.close()
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, before)


def main_demo(
    speed: float | None,
    as_json: bool,
    settings: Settings,
    *,
    headless: bool = False,
    autoplay: bool = False,
) -> int:
    """`focus demo`: `--headless` (or `--json`) prints the script; else the TUI opens."""
    settings = quiet(settings)
    if not (headless or as_json):
        from app.tui.demo import run_demo_tui

        with throwaway(servers=autoplay) as (folder, servers):
            return run_demo_tui(speed or TUI_SPEED, settings, folder, servers, autoplay=autoplay)
    speed = speed or HEADLESS_SPEED

    def write(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    clock = DemoClock(speed)
    reporter = Reporter(clock, write, as_json)
    with throwaway() as (folder, servers):
        reporter(
            "setup",
            f"Focus demo at {speed:g}x on throwaway stores in {folder}.",
            speed=speed,
            temp_dir=str(folder),
            postgres_dir=str(servers.pg_dir),
        )
        code: int = asyncio.run(run_headless(speed, reporter, settings, folder, servers))
        return code
