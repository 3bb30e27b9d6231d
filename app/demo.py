"""`focus demo`: the whole session lifecycle, accelerated, on a throwaway database."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from app import cli_output as out
from app import presenters as p
from app.bootstrap import bootstrap
from app.clock import ScaledClock
from app.config import HookSettings, Settings
from app.domain.errors import RefusedError
from app.domain.models import Mode


async def run_demo(
    speed: float, write: Callable[[str], None], settings: Settings
) -> list[dict[str, Any]]:
    """Play the lifecycle at `speed` times real time; returns what happened, step by step."""
    clock = ScaledClock(speed)
    steps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="focus-demo-") as tmp:
        app = await bootstrap(db=str(Path(tmp) / "demo.db"), clock=clock, settings=settings)
        svc, zone = app.service, app.zone

        async def wait(minutes: float) -> None:
            await asyncio.sleep(minutes * 60 / speed)

        def step(name: str, text: str, session: Any = None, **extra: Any) -> None:
            entry: dict[str, Any] = {"step": name, "at": p.iso(clock.now())} | extra
            if session is not None:
                entry["session"] = p.session_dict(session, clock.now())
            steps.append(entry)
            write(f"[{clock.now().astimezone(zone):%H:%M:%S}] {text}")

        try:
            s = await svc.start(Mode.FOCUS, 25, "Demo: write the intro", ["demo"])
            step("start", out.started(s, zone), s)
            await wait(10)
            s = await svc.status() or s
            step("status", "10 minutes in: " + out.session_line(s, clock.now(), zone), s)
            s = await svc.pause()
            step("pause", "Paused: " + out.session_line(s, clock.now(), zone), s)
            await wait(30)
            s = await svc.status() or s
            step("still paused", "30 minutes later: " + out.session_line(s, clock.now(), zone), s)
            s = await svc.resume()
            step("resume", "Resumed: " + out.session_line(s, clock.now(), zone), s)
            s = await svc.extend(5)
            step("extend", "Extended by 5 min: " + out.session_line(s, clock.now(), zone), s)
            assert s.ends_at is not None
            await asyncio.sleep(max(0.0, (s.ends_at - clock.now()).total_seconds() / speed) + 0.05)
            done = await svc.settle()
            if done is not None:
                step(
                    "complete",
                    f"Time is up: {done.mode.label} {done.status.value}, "
                    f"+{done.xp_awarded} xp, +{done.coins_awarded} coins",
                    done,
                )
                nxt = await svc.suggest_next(done)
            else:
                nxt = Mode.SHORT_BREAK
            b = await svc.start(nxt)
            step("break", out.started(b, zone), b)
            await wait(4)
            try:
                c = await svc.complete()
                step("break done", out.completed(c), c.session)
            except RefusedError:  # at extreme speeds the break may already have run out
                ended = await svc.repo.get_session(b.id)
                step("break done", f"Break {ended.status.value if ended else 'over'}", ended)
            s = await svc.start(Mode.FOCUS, 25, "Demo: answer mail", ["demo", "mail"])
            step("start", out.started(s, zone), s)
            await wait(3)
            s = await svc.abandon("phone call")
            step("abandon", "Abandoned after 3 minutes (no reward): " + out.label(s), s)
            stats = await svc.stats(7)
            step("stats", "Stats:\n" + out.stats_text(stats), stats=p.stats_dict(stats))
        finally:
            await app.close()
    return steps


def demo_duration(speed: float) -> timedelta:
    """Real time the demo takes: about 77 simulated minutes."""
    return timedelta(minutes=77) / speed


def main_demo(speed: float, as_json: bool, settings: Settings) -> int:
    import json

    def write(line: str) -> None:
        if not as_json:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    if not as_json:
        secs = demo_duration(speed).total_seconds()
        write(f"Focus demo at {speed:g}x on a throwaway database (about {secs:.0f} s).")
    # The user's hooks stay quiet: a demo must not post to their chat or log their time.
    quiet = dataclasses.replace(settings, hooks=HookSettings())
    steps = asyncio.run(run_demo(speed, write, quiet))
    if as_json:
        sys.stdout.write(json.dumps({"speed": speed, "steps": steps}, indent=2) + "\n")
    return 0
