"""The services: every flow and read of Focus, one transaction each, over the Repository.

`sessions` holds the flows, `reads` history and stats; `rules` the timer settings they use.
"""

from __future__ import annotations

from app.services.cursors import decode_cursor, encode_cursor
from app.services.reads import Reads
from app.services.rules import EventSink, TimerRules

__all__ = ["EventSink", "FocusService", "TimerRules", "decode_cursor", "encode_cursor"]


class FocusService(Reads):
    """Focus's flows and reads over one repository, clock and zone (built by the bootstrap)."""
