"""Session, ledger and stats value objects shared by every layer."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta


class Mode(enum.StrEnum):
    FOCUS = "focus"
    SHORT_BREAK = "short_break"
    LONG_BREAK = "long_break"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class Status(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    EXPIRED = "expired"

    @property
    def is_open(self) -> bool:
        return self in (Status.ACTIVE, Status.PAUSED)

    @property
    def is_terminal(self) -> bool:
        return not self.is_open


OPEN_STATUSES = (Status.ACTIVE, Status.PAUSED)


@dataclass(frozen=True, slots=True)
class Session:
    """One timed session. Instants are aware UTC; durations are exact `timedelta`s.

    While active, `ends_at` is the truth. While paused, `paused_remaining` is frozen and
    `ends_at` is None. `planned` is the original duration; `extended` is overtime added later.
    """

    id: uuid.UUID
    user_id: uuid.UUID
    client_id: uuid.UUID
    mode: Mode
    status: Status
    planned: timedelta
    started_at: datetime
    ends_at: datetime | None
    task_title: str | None = None
    tags: tuple[str, ...] = ()
    extended: timedelta = timedelta(0)
    paused_at: datetime | None = None
    paused_remaining: timedelta | None = None
    pause_count: int = 0
    paused_total: timedelta = timedelta(0)
    slept: timedelta = timedelta(0)
    focused: timedelta = timedelta(0)
    completed_at: datetime | None = None
    abandoned_at: datetime | None = None
    expired_at: datetime | None = None
    abandon_reason: str | None = None
    xp_awarded: int = 0
    coins_awarded: int = 0
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def target(self) -> timedelta:
        """The whole time this session asks for: planned duration plus extensions."""
        return self.planned + self.extended

    @property
    def ended_at(self) -> datetime | None:
        return self.completed_at or self.abandoned_at or self.expired_at


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One append-only award row; `idempotency_key` is unique per user."""

    id: uuid.UUID
    user_id: uuid.UUID
    idempotency_key: str
    session_id: uuid.UUID | None
    xp: int
    coins: int
    reason: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Reward:
    xp: int = 0
    coins: int = 0


@dataclass(frozen=True, slots=True)
class Streak:
    current: int = 0
    longest: int = 0
    last_day: date | None = None


@dataclass(frozen=True, slots=True)
class Level:
    level: int
    total_xp: int
    level_floor_xp: int
    next_level_xp: int

    @property
    def progress(self) -> float:
        span = self.next_level_xp - self.level_floor_xp
        return (self.total_xp - self.level_floor_xp) / span if span else 0.0


@dataclass(frozen=True, slots=True)
class Completion:
    """What `complete` reports beside the session."""

    session: Session
    reward: Reward
    level: Level
    leveled_up: bool
    streak: Streak


@dataclass(frozen=True, slots=True)
class Bucket:
    """Counts for one slice of history (a day, a task, a tag, a mode)."""

    completed: int = 0
    abandoned: int = 0
    expired: int = 0
    focused_seconds: int = 0
    xp: int = 0
    coins: int = 0
    too_short: int = 0
    """Focus sessions completed in under a minute, apart from `completed` (the stats read
    model counts them so; they earn nothing and keep no streak). Never stored."""

    def __add__(self, other: Bucket) -> Bucket:
        return Bucket(
            self.completed + other.completed,
            self.abandoned + other.abandoned,
            self.expired + other.expired,
            self.focused_seconds + other.focused_seconds,
            self.xp + other.xp,
            self.coins + other.coins,
            self.too_short + other.too_short,
        )

    @property
    def finished(self) -> int:
        return self.completed + self.abandoned + self.expired

    @property
    def completion_rate(self) -> float | None:
        return self.completed / self.finished if self.finished else None


@dataclass(frozen=True, slots=True)
class Stats:
    total: Bucket
    focus: Bucket
    today: Bucket
    week: Bucket
    today_focus: Bucket
    week_focus: Bucket
    by_day: dict[date, Bucket]
    by_task: list[tuple[str, Bucket]]
    by_tag: list[tuple[str, Bucket]]
    abandon_reasons: list[tuple[str, int]]
    level: Level
    streak: Streak
    coins: int


@dataclass(frozen=True, slots=True)
class HistoryPage:
    sessions: list[Session]
    next_cursor: str | None
    extra: dict[str, object] = field(default_factory=dict)
