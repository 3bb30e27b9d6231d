"""History cursors: an opaque, URL-safe text for the keyset position of a page's last row."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

from app.domain.errors import UsageError
from app.domain.models import Session
from storage.repository import Cursor


def encode_cursor(session: Session) -> str:
    raw = f"{session.started_at.isoformat()}|{session.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        started, _, ident = raw.partition("|")
        instant = datetime.fromisoformat(started)
        if instant.tzinfo is None:
            raise ValueError("naive")
        return Cursor(instant, uuid.UUID(ident))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise UsageError(
            f"invalid cursor {text!r}; use the next_cursor of a history page"
        ) from None
