"""Times are stored in UTC and shown in India time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")


def iso_ist(value: datetime | None) -> str | None:
    """ISO 8601 with the +05:30 offset, to the second."""
    if value is None:
        return None
    return value.astimezone(IST).isoformat(timespec="seconds")


def show_ist(value: datetime | None) -> str:
    """For people: '24 Nov 2026, 10:15 IST'."""
    if value is None:
        return ""
    return value.astimezone(IST).strftime("%d %b %Y, %H:%M IST")
