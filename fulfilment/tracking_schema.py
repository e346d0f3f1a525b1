"""Shiprocket's tracking push (contract §3, NOTES §5): parsed leniently, times in India time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate

from fulfilment.schemas import BaseSchema
from fulfilment.timefmt import IST

PUSH_TIME = "%d %m %Y %H:%M:%S"  # current_timestamp: "23 05 2023 11:43:52"
SCAN_TIME = "%Y-%m-%d %H:%M:%S"  # scans[].date: "2023-05-19 11:59:16"


def parse_ist(value: str, fmt: str) -> datetime:
    return datetime.strptime(value.strip(), fmt).replace(tzinfo=IST)


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
    """Shiprocket sends ids as numbers or numeric strings ("NA" when unmapped)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int | None:
        if value is None or isinstance(value, bool):
            return None
        text = str(value).strip()
        return int(text) if text.isdigit() else None


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


class ScanSchema(BaseSchema):
    date = IstTime(SCAN_TIME, required=True)
    status = fields.String(load_default="")
    activity = fields.String(load_default="")
    location = fields.String(load_default="")
    sr_status = LenientInt(data_key="sr-status", load_default=None)
    sr_label = fields.String(data_key="sr-status-label", load_default=None, allow_none=True)

    @post_load
    def make(self, d: dict[str, Any], **_: Any) -> Scan:
        label = d.get("sr_label")
        return Scan(
            d["date"],
            d["status"][:40],
            d["activity"][:300],
            d["location"][:200],
            d.get("sr_status"),
            None if label in (None, "NA") else label[:80],
        )


class TrackingPushSchema(BaseSchema):
    awb = fields.String(required=True, validate=validate.Length(min=1, max=40))
    shipment_status = fields.String(required=True, validate=validate.Length(min=1, max=80))
    shipment_status_id = LenientInt(load_default=None)
    current_timestamp = IstTime(PUSH_TIME, required=True)
    order_id = fields.String(load_default=None, allow_none=True)
    courier_name = fields.String(load_default=None, allow_none=True)
    scans = fields.List(fields.Nested(ScanSchema), load_default=list)

    @post_load
    def make(self, d: dict[str, Any], **_: Any) -> TrackingPush:
        return TrackingPush(
            awb=d["awb"].strip(),
            status=d["shipment_status"].strip().upper(),
            status_id=d.get("shipment_status_id"),
            at=d["current_timestamp"],
            channel_order_id=d.get("order_id"),
            courier_name=d.get("courier_name"),
            scans=tuple(d.get("scans") or ()),
        )
