"""Shiprocket's tracking push (contract §3, NOTES §5): parsed leniently, times in India time.

A push repeats the shipment's whole scan history (17 scans in the docs' sample), and pushes are
the busiest inbound traffic, so the scans are read by one marshmallow field in a plain loop
rather than by a nested schema per scan: the same rules and the same error paths
(`scans.3.date`), at a fraction of the cost (docs/BENCHMARKS.md, "Tracking intake").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate

from fulfilment.schemas import BaseSchema

# India has kept +05:30 without daylight saving since 1945: a fixed offset is exact here and
# much cheaper to convert than a zoneinfo zone.
IST_OFFSET = timezone(timedelta(hours=5, minutes=30), "IST")

PUSH_TIME = "%d %m %Y %H:%M:%S"  # current_timestamp: "23 05 2023 11:43:52"
SCAN_TIME = "%Y-%m-%d %H:%M:%S"  # scans[].date: "2023-05-19 11:59:16"
_TWO = r"(\d{1,2})"
_CLOCK = rf"{_TWO}:{_TWO}:{_TWO}"
# Per format: the pattern, and which groups hold the year, the month and the day.
_TIMES = {
    PUSH_TIME: (re.compile(rf"{_TWO} {_TWO} (\d{{4}}) {_CLOCK}", re.ASCII), (2, 1, 0)),
    SCAN_TIME: (re.compile(rf"(\d{{4}})-{_TWO}-{_TWO} {_CLOCK}", re.ASCII), (0, 1, 2)),
}


def parse_ist(value: str, fmt: str) -> datetime:
    """`value` in `fmt` (PUSH_TIME or SCAN_TIME), India time. ValueError when it is not."""
    pattern, (y, m, d) = _TIMES[fmt]
    match = pattern.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"{value!r} does not match {fmt}")
    part = [int(p) for p in match.groups()]
    if not 2000 <= part[y] <= 2099:  # a typo, and far-off years cannot be stored in UTC
        raise ValueError(f"{value!r} is outside the years 2000-2099")
    return datetime(part[y], part[m], part[d], part[3], part[4], part[5], tzinfo=IST_OFFSET)


def lenient_int(value: Any) -> int | None:
    """Shiprocket sends ids as numbers or numeric strings ("NA" when unmapped): anything else,
    or a number outside an INTEGER column, reads as no id."""
    if type(value) is int:
        return value if 0 <= value < 10**9 else None
    if type(value) is not str:
        return None
    text = value.strip()
    return int(text) if len(text) <= 9 and text.isascii() and text.isdigit() else None


class IstTime(fields.Field):
    def __init__(self, fmt: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.fmt = fmt

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        try:
            return parse_ist(str(value), self.fmt)
        except ValueError:
            raise ValidationError(f"must be a time like {self.fmt}") from None


class LenientInt(fields.Field):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int | None:
        return lenient_int(value)


@dataclass(frozen=True)
class Scan:
    at: datetime
    code: str
    activity: str
    location: str
    status_id: int | None
    label: str | None


@dataclass(frozen=True)
class TrackingPush:
    awb: str
    status: str
    status_id: int | None
    at: datetime
    channel_order_id: str | None
    courier_name: str | None
    scans: tuple[Scan, ...]


def _scan(scan: Any) -> Scan:
    """One entry of `scans`: `date` required; the rest optional, unknown keys ignored.

    Written flat (no helper per field): it runs for every scan of every push."""
    if type(scan) is not dict:
        raise ValidationError({"_schema": ["must be an object"]})
    get = scan.get
    date = get("date")
    if date is None:
        raise ValidationError({"date": ["Missing data for required field."]})
    try:
        at = parse_ist(str(date), SCAN_TIME)
    except ValueError:
        raise ValidationError({"date": [f"must be a time like {SCAN_TIME}"]}) from None
    code, activity, location, label = (
        get("status") or "",
        get("activity") or "",
        get("location") or "",
        get("sr-status-label"),
    )
    if type(code) is not str or type(activity) is not str or type(location) is not str:
        bad = next(k for k in ("status", "activity", "location") if type(get(k) or "") is not str)
        raise ValidationError({bad: ["Not a valid string."]})
    if label is not None and type(label) is not str:
        raise ValidationError({"sr-status-label": ["Not a valid string."]})
    return Scan(
        at,
        code[:40],
        activity[:300],
        location[:200],
        lenient_int(get("sr-status")),
        None if label is None or label == "NA" else label[:80],
    )


class ScanList(fields.Field):
    """`scans`: a list of scan objects, each checked as `_scan` says, errors keyed by index."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> tuple[Scan, ...]:
        if not isinstance(value, list):
            raise ValidationError("must be a list of scans")
        scans = []
        errors: dict[int, Any] = {}
        for n, item in enumerate(value):
            try:
                scans.append(_scan(item))
            except ValidationError as exc:
                errors[n] = exc.messages
        if errors:
            raise ValidationError(errors)
        return tuple(scans)


class TrackingPushSchema(BaseSchema):
    awb = fields.String(required=True, validate=validate.Length(min=1, max=40))
    shipment_status = fields.String(required=True, validate=validate.Length(min=1, max=80))
    shipment_status_id = LenientInt(load_default=None)
    current_timestamp = IstTime(PUSH_TIME, required=True)
    order_id = fields.String(load_default=None, allow_none=True)
    courier_name = fields.String(load_default=None, allow_none=True)
    scans = ScanList(load_default=tuple)

    @post_load
    def make(self, d: dict[str, Any], **_: Any) -> TrackingPush:
        awb = d["awb"].strip()
        if not awb:
            raise ValidationError({"awb": ["must not be blank"]})
        return TrackingPush(
            awb=awb,
            status=d["shipment_status"].strip().upper(),
            status_id=d.get("shipment_status_id"),
            at=d["current_timestamp"],
            channel_order_id=d.get("order_id"),
            courier_name=d.get("courier_name"),
            scans=d["scans"],
        )
