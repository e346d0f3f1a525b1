"""In-memory state of one Shiprocket sandbox app: orders, tokens, faults, counters, call log.

Everything is guarded by `SandboxState.lock` (an RLock); callers never sleep while holding it.
Orders are plain dicts (see `new_order`); the sandbox's public view of them is `order_view`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")
TOKEN_TTL = 864000  # 10 days, as Shiprocket's JWTs (exp - iat)
USER_ID = 3634560
COMPANY_ID = 3502136
CHANNEL_ID = 5123456
FIRST_ORDER_ID = 700000001
FIRST_SHIPMENT_ID = 600000001
MAX_CALLS = 2000

SEED_PICKUPS: tuple[dict[str, Any], ...] = (
    {
        "id": 4984500,
        "pickup_location": "Sandbox Warehouse",
        "address": "No. 12, MG Road",
        "address_2": "Ashok Nagar",
        "city": "Bengaluru",
        "state": "Karnataka",
        "country": "India",
        "pin_code": "560001",
        "email": "warehouse@sandbox.example",
        "phone": "9876543210",
        "name": "Sandbox Warehouse",
        "is_primary_location": 1,
    },
    {
        "id": 4984501,
        "pickup_location": "Sandbox Delhi",
        "address": "Plot 7, Okhla Phase 2",
        "address_2": "",
        "city": "New Delhi",
        "state": "Delhi",
        "country": "India",
        "pin_code": "110020",
        "email": "delhi@sandbox.example",
        "phone": "9876543211",
        "name": "Sandbox Delhi",
        "is_primary_location": 0,
    },
)


def now_ist() -> datetime:
    return datetime.now(IST)


def ist_str(when: datetime | None = None) -> str:
    """'YYYY-MM-DD HH:MM:SS' in India time."""
    return (when or now_ist()).strftime("%Y-%m-%d %H:%M:%S")


def php_date(when: datetime | None = None) -> dict[str, Any]:
    """PHP DateTime as Shiprocket serialises it."""
    return {
        "date": (when or now_ist()).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "timezone_type": 3,
        "timezone": "Asia/Kolkata",
    }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(key: bytes, claims: dict[str, Any]) -> str:
    """A real HS256 JWT signed with the sandbox's own key."""
    header = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":")).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(key, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


class SandboxState:
    """All mutable state of one sandbox app instance."""

    def __init__(self, *, latency_ms: int = 0):
        self.lock = threading.RLock()
        self._key = secrets.token_bytes(32)
        self._default_config = {"latency_ms": int(latency_ms), "reject_logins": False}
        self.tokens: dict[str, int] = {}  # token -> exp (kept across reset)
        self.reset()

    def reset(self) -> None:
        """Forget orders, counters, faults and calls; restore the constructor config."""
        with self.lock:
            self.config: dict[str, Any] = dict(self._default_config)
            self.orders: dict[int, dict[str, Any]] = {}
            self.by_channel: dict[str, int] = {}
            self.by_shipment: dict[int, int] = {}
            self.by_awb: dict[str, int] = {}
            self.faults: list[dict[str, Any]] = []
            self.creates: Counter[str] = Counter()
            self.awbs_assigned: Counter[int] = Counter()
            self.logins = 0
            self.calls: list[dict[str, Any]] = []
            self.ndr_actions: list[dict[str, Any]] = []  # accepted POST /ndr/{awb}/action
            self.fired: set[tuple[str, str]] = set()
            self.pickups: list[dict[str, Any]] = [dict(p) for p in SEED_PICKUPS]
            self._next_order = FIRST_ORDER_ID
            self._next_shipment = FIRST_SHIPMENT_ID
            self._next_awb = 1

    # -- tokens --------------------------------------------------------------------------
    def issue_token(self, email: str) -> str:
        iat = int(time.time())
        claims = {
            "iss": "https://apiv2.shiprocket.in/v1/external/auth/login",
            "iat": iat,
            "exp": iat + TOKEN_TTL,
            "nbf": iat,
            "jti": secrets.token_urlsafe(12)[:16],
            "sub": USER_ID,
            "prv": hashlib.sha1(email.encode(), usedforsecurity=False).hexdigest(),
            "cid": COMPANY_ID,
        }
        token = make_jwt(self._key, claims)
        with self.lock:
            self.tokens[token] = claims["exp"]
            self.logins += 1
        return token

    def token_valid(self, token: str) -> bool:
        with self.lock:
            exp = self.tokens.get(token)
        return exp is not None and exp > time.time()

    def expire_tokens(self) -> int:
        with self.lock:
            n = len(self.tokens)
            self.tokens.clear()
        return n

    # -- ids -----------------------------------------------------------------------------
    def next_ids(self) -> tuple[int, int]:
        with self.lock:
            ids = (self._next_order, self._next_shipment)
            self._next_order += 1
            self._next_shipment += 1
        return ids

    def next_awb(self, courier_id: int) -> str:
        with self.lock:
            n = self._next_awb
            self._next_awb += 1
        return f"77{courier_id:03d}{n:07d}"

    # -- lookups -------------------------------------------------------------------------
    def order(self, sr_order_id: Any) -> dict[str, Any] | None:
        key = to_int(sr_order_id)
        return None if key is None else self.orders.get(key)

    def order_by_shipment(self, shipment_id: Any) -> dict[str, Any] | None:
        key = to_int(shipment_id)
        sr_id = None if key is None else self.by_shipment.get(key)
        return None if sr_id is None else self.orders.get(sr_id)

    def order_by_awb(self, awb: Any) -> dict[str, Any] | None:
        sr_id = self.by_awb.get(str(awb))
        return None if sr_id is None else self.orders.get(sr_id)

    def pickup(self, nickname: Any) -> dict[str, Any] | None:
        for p in self.pickups:
            if p["pickup_location"] == nickname:
                return p
        return None

    def add_order(self, order: dict[str, Any]) -> None:
        with self.lock:
            self.orders[order["sr_order_id"]] = order
            self.by_channel[order["channel_order_id"]] = order["sr_order_id"]
            self.by_shipment[order["shipment_id"]] = order["sr_order_id"]

    # -- faults --------------------------------------------------------------------------
    def add_fault(self, fault: dict[str, Any]) -> None:
        with self.lock:
            self.faults.append(fault)

    def take_fault(self, method: str, path: str) -> dict[str, Any] | None:
        """Consume one use of the first fault matching this call, if any."""
        path = path.rstrip("/")
        with self.lock:
            for fault in self.faults:
                if fault["path"] != path or fault["method"] not in (None, method):
                    continue
                fault["times"] -= 1
                if fault["times"] <= 0:
                    self.faults.remove(fault)
                return dict(fault)
        return None

    def fire_once(self, trigger: str, channel_order_id: str) -> bool:
        """True the first time (trigger, id) is seen."""
        with self.lock:
            if (trigger, channel_order_id) in self.fired:
                return False
            self.fired.add((trigger, channel_order_id))
            return True

    # -- call log ------------------------------------------------------------------------
    def record_call(self, method: str, path: str) -> dict[str, Any]:
        call = {"method": method, "path": path, "status": None, "at": _utc_iso()}
        with self.lock:
            self.calls.append(call)
            del self.calls[:-MAX_CALLS]
        return call

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "orders": [order_view(o) for _, o in sorted(self.orders.items())],
                "creates": dict(self.creates),
                "awbs_assigned": {str(k): v for k, v in self.awbs_assigned.items()},
                "logins": self.logins,
                "calls": [dict(c) for c in self.calls],
                "ndr_actions": [dict(a) for a in self.ndr_actions],
                "faults": [dict(f) for f in self.faults],
                "config": dict(self.config),
            }


def _utc_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def to_int(value: Any) -> int | None:
    """An int from an int or a numeric string; None otherwise (bools are not ints here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def order_view(o: dict[str, Any]) -> dict[str, Any]:
    """One order as GET /_sandbox/state shows it."""
    return {
        "channel_order_id": o["channel_order_id"],
        "sr_order_id": o["sr_order_id"],
        "shipment_id": o["shipment_id"],
        "status": o["status"],
        "status_code": o["status_code"],
        "shipment_status": o["shipment_status"],
        "awb": o["awb"],
        "courier_id": o["courier_id"],
        "courier_name": o["courier_name"],
        "pickup_scheduled": o["pickup_scheduled"],
        "label_url": o["label_url"],
        "cancelled": o["cancelled"],
        "picked_up": o["picked_up"],
        "pickup_location": o["pickup_location"],
        "payment_method": o["payment_method"],
        "weight": o["weight"],
        "address": dict(o["address"]),
        "cancelled_awbs": list(o["cancelled_awbs"]),
        "scans": [dict(s) for s in o["scans"]],
    }


def pickup_date_after(when: datetime) -> datetime:
    """Next pickup slot: 14:00 today if before 11:00, else tomorrow; never on a Sunday."""
    day = when if when.hour < 11 else when + timedelta(days=1)
    if day.weekday() == 6:
        day += timedelta(days=1)
    return day.replace(hour=14, minute=0, second=0, microsecond=0)
