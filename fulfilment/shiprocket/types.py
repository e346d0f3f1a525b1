"""Typed results and errors of the Shiprocket client. Knows nothing of our models.

Every response maps to one of these results or to one of two kinds of error:
RetryableShiprocketError (connection errors, timeouts, 5xx, 429) and PermanentShiprocketError
(4xx, validation errors, refusals delivered inside HTTP 200).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol


class ShiprocketError(Exception):
    """Base error. `message` is plain text fit to show ops; `body` is Shiprocket's answer."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: Any = None,
        endpoint: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = body
        self.endpoint = endpoint


class RetryableShiprocketError(ShiprocketError):
    """Worth trying again later: connection error, timeout, 5xx, 429.

    `retry_after` is Shiprocket's Retry-After in seconds when it sent one.
    `ambiguous` is True when the request may have taken effect (read timeout or 5xx on a POST).
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        ambiguous: bool = False,
        **kwargs: Any,
    ):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.ambiguous = ambiguous


class PermanentShiprocketError(ShiprocketError):
    """Retrying the same request will not help (4xx, 422 field errors, refusals in a 200).

    `field_errors` maps Shiprocket's field names to plain messages, e.g.
    {"billing_pincode": ["must be 6 digits"]}; `message` already reads
    "billing_pincode: must be 6 digits" when there are field errors.
    """

    def __init__(
        self, message: str, *, field_errors: dict[str, list[str]] | None = None, **kwargs: Any
    ):
        super().__init__(message, **kwargs)
        self.field_errors = field_errors or {}


class AuthenticationError(PermanentShiprocketError):
    """Login refused, or a 401 that survived one re-login."""


class AwbAlreadyAssigned(PermanentShiprocketError):
    """assign/awb refused because the shipment already has an AWB (recover it, don't fail)."""


class NotServiceable(PermanentShiprocketError):
    """No courier serves the lane. `message` reads "no courier serves <pincode>"."""

    def __init__(self, delivery_postcode: str, **kwargs: Any):
        super().__init__(f"no courier serves {delivery_postcode}", **kwargs)
        self.delivery_postcode = delivery_postcode


@dataclass(frozen=True)
class CreatedOrder:
    """Answer of orders/create/adhoc (also when Shiprocket echoes an existing order)."""

    sr_order_id: int
    shipment_id: int
    status: str  # "NEW", or e.g. "CANCELED" when a duplicate channel order id echoes an old one
    status_code: int
    awb_code: str | None = None  # None when empty
    courier_company_id: int | None = None
    courier_name: str | None = None

    @property
    def is_cancelled(self) -> bool:
        return self.status.upper() in ("CANCELED", "CANCELLED") or self.status_code == 5


@dataclass(frozen=True)
class CourierOption:
    courier_id: int
    name: str
    rate: Decimal  # INR
    estimated_days: int | None
    etd: str | None  # e.g. "Jul 01, 2024"
    rating: float | None
    is_surface: bool | None = None
    cod: bool | None = None


@dataclass(frozen=True)
class Serviceability:
    options: list[CourierOption]
    recommended_courier_id: int | None


@dataclass(frozen=True)
class AwbAssignment:
    awb: str
    courier_id: int
    courier_name: str
    pickup_scheduled_date: str | None = None


@dataclass(frozen=True)
class PickupResult:
    scheduled_date: str | None
    token_number: str | None


@dataclass(frozen=True)
class LabelResult:
    label_url: str


@dataclass(frozen=True)
class ShipmentInfo:
    """GET /shipments/{id}: used to recover an AWB already assigned."""

    shipment_id: int
    sr_order_id: int | None
    awb: str | None
    courier_name: str | None
    status: int | None


@dataclass(frozen=True)
class TrackingScan:
    date: str
    status: str
    activity: str
    location: str
    sr_status: str | None
    sr_status_label: str | None


@dataclass(frozen=True)
class Tracking:
    awb: str
    track_status: int
    shipment_status: int | None
    current_status: str | None
    track_url: str | None
    etd: str | None
    activities: list[TrackingScan] = field(default_factory=list)


@dataclass(frozen=True)
class PickupLocation:
    id: int
    nickname: str
    pin_code: str
    city: str | None
    is_primary: bool


class TokenStore(Protocol):
    """Where the login token is kept, shared by every web and worker process (e.g. Redis)."""

    def get(self) -> str | None: ...

    def set(self, token: str, ttl_seconds: int) -> None: ...

    def clear(self, token: str | None = None) -> None:
        """Forget the token (only if it is still `token`, when given)."""
        ...


def tracking_url(awb: str) -> str:
    """Shiprocket's public tracking page for an AWB."""
    return f"https://shiprocket.co/tracking/{awb}"
