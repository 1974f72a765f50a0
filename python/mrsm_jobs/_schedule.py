"""``parse_schedule``: mrsm's schedule engine with Meerschaum's ``next()`` shape."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterator, Optional

from . import _native


def _millis(at: datetime) -> int:
    """Milliseconds since the epoch; a naive datetime is UTC, as in Meerschaum."""
    if not isinstance(at, datetime):
        raise TypeError(f"now must be a datetime, not {type(at).__name__}")
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return round(at.timestamp() * 1000)


def _aware(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


class Schedule:
    """A schedule's fire times from ``now`` on: ``next()`` gives each in turn as a
    timezone-aware UTC ``datetime``, and iteration gives them all (for ever, for
    most schedules: take what you need)."""

    def __init__(self, native: "_native.Schedule"):
        self._native = native

    @property
    def text(self) -> str:
        """The schedule as written."""
        return self._native.text

    def next(self) -> Optional[datetime]:
        """The next fire time, or None when the schedule never fires again."""
        ms = self._native.next_ms()
        return None if ms is None else _aware(ms)

    def __iter__(self) -> Iterator[datetime]:
        return self

    def __next__(self) -> datetime:
        at = self.next()
        if at is None:
            raise StopIteration
        return at

    def __repr__(self) -> str:
        return f"Schedule({self.text!r})"


def parse_schedule(schedule: str, now: Optional[datetime] = None) -> Schedule:
    """Parse ``schedule`` (``every 10 seconds``, ``daily starting 2024-01-01``,
    ``0 9 * * mon-fri`` …; SCHEDULES.md has the language). Fire times start at
    ``now`` (the present when None; a naive datetime is UTC). A schedule mrsm cannot
    read raises :class:`mrsm_jobs.ScheduleError` (a ``ValueError``) naming the column
    and what was expected."""
    if not isinstance(schedule, str):
        raise TypeError(f"schedule must be a str, not {type(schedule).__name__}")
    return Schedule(
        _native.parse_schedule(schedule, None if now is None else _millis(now))
    )
