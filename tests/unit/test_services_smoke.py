"""A first end-to-end pass through the services on a real SQLite file."""

from __future__ import annotations

from app.clock import FakeClock
from app.domain.models import Status
from app.services import FocusService


async def test_start_pause_resume_complete_rewards_focused_time(
    service: FocusService, clock: FakeClock
) -> None:
    started = await service.start(task="Write", tags=["Deep", "#work"])
    assert started.tags == ("deep", "work")
    clock.advance(minutes=10)
    paused = await service.pause()
    clock.advance(hours=1)  # a long pause does not eat the session
    resumed = await service.resume()
    assert paused.paused_remaining is not None
    assert resumed.ends_at == clock.now() + paused.paused_remaining
    clock.advance(minutes=14)
    done = await service.complete()
    assert done.session.status is Status.COMPLETED
    assert int(done.session.focused.total_seconds()) == 24 * 60
    assert (done.session.xp_awarded, done.session.coins_awarded) == (24, 4)
