"""Shiprocket REST client: one `requests.Session`, explicit timeouts, a short bounded retry,
and every answer mapped to a typed result (types.py) or to one of two error kinds.

Knows nothing of our models. See /work/shared/spec/shiprocket/NOTES.md for the API's quirks
(errors inside HTTP 200, `message` as an object, duplicate channel order ids echoing old orders).

Retry policy of one call (the long-haul retry is the caller's RQ job):
- retried here: RetryableShiprocketError (connection errors, timeouts, 5xx, 429), at most
  `max_attempts` tries, full-jitter exponential backoff capped at `max_wait`, never shorter than a
  429's Retry-After;
- not retried here: a Retry-After longer than `max_wait` (raised at once for RQ to reschedule), and
  an *ambiguous* failure (read timeout, reset connection or 5xx on a POST that may have taken
  effect) of a non-idempotent POST (create order, assign AWB, generate pickup, NDR action): the
  caller looks the result up before repeating it (RELIABILITY.md §4.3).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from redis.exceptions import WatchError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)
from urllib3.exceptions import NewConnectionError

from fulfilment.shiprocket.types import (
    AuthenticationError,
    AwbAlreadyAssigned,
    AwbAssignment,
    CourierOption,
    CreatedOrder,
    LabelResult,
    NotServiceable,
    PermanentShiprocketError,
    PickupLocation,
    PickupResult,
    RetryableShiprocketError,
    Serviceability,
    ShipmentInfo,
    TokenStore,
    Tracking,
    TrackingScan,
)

logger = logging.getLogger(__name__)

TOKEN_TTL_SECONDS = 9 * 24 * 3600  # Shiprocket tokens live 10 days; renew a day early
API_PREFIX = "/v1/external"
NDR_ACTIONS = ("re-attempt", "return")
_ALREADY_ASSIGNED = re.compile(r"already\s+(been\s+)?assigned", re.IGNORECASE)


class RedisTokenStore:
    """The login token in Redis, shared by every web and worker process."""

    def __init__(self, redis: Any, key: str = "shiprocket:token"):
        self._redis = redis
        self._key = key

    def get(self) -> str | None:
        return _text(self._redis.get(self._key))

    def set(self, token: str, ttl_seconds: int) -> None:
        self._redis.set(self._key, token, ex=ttl_seconds)

    def clear(self, token: str | None = None) -> None:
        """Forget the token; with `token`, only if it is still the stored one (WATCH/MULTI)."""
        if token is None:
            self._redis.delete(self._key)
            return
        with self._redis.pipeline() as pipe:
            try:
                pipe.watch(self._key)
                if _text(pipe.get(self._key)) != token:
                    pipe.unwatch()
                    return
                pipe.multi()
                pipe.delete(self._key)
                pipe.execute()
            except WatchError:
                pass  # another process replaced the token meanwhile: keep its new one


class _TokenRejected(Exception):
    """Internal: a 401 on an authenticated call (handled by one re-login)."""

    def __init__(self, response: requests.Response, body: Any):
        super().__init__("401 from Shiprocket")
        self.response = response
        self.body = body


class ShiprocketClient:
    """Calls Shiprocket's external API. Each public method makes one logical call."""

    def __init__(
        self,
        base_url: str,
        email: str,
        password: str,
        *,
        token_store: TokenStore,
        connect_timeout: float = 3.05,
        read_timeout: float = 20.0,
        max_attempts: int = 3,
        max_wait: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        base = base_url.rstrip("/")
        if base.endswith(API_PREFIX):  # tolerate a base URL that already carries the prefix
            base = base[: -len(API_PREFIX)]
        self._base_url = base
        self._email = email
        self._password = password
        self._store = token_store
        self._timeout = (connect_timeout, read_timeout)
        self._max_attempts = max_attempts
        self._max_wait = max_wait
        self._sleep = sleep
        self._backoff = wait_random_exponential(multiplier=0.5, max=max_wait)
        if session is None:
            session = requests.Session()
            # Proxy and .netrc settings are not ours to pick up, and re-reading the environment
            # on every call was ~9 % of a shipment's CPU (bench/shipments_bench.py).
            session.trust_env = False
        self._session = session
        self._session.headers.update({"Accept": "application/json"})

    def __repr__(self) -> str:  # never show the password
        return f"ShiprocketClient({self._base_url!r}, email={self._email!r})"

    # ---- authentication -------------------------------------------------------------------

    def login(self) -> str:
        """POST /auth/login; stores the token (TTL 9 days) in the shared store and returns it."""
        path = f"{API_PREFIX}/auth/login"
        body = {"email": self._email, "password": self._password}
        try:
            answer = self._retrying(idempotent=True)(
                self._send, "POST", path, json_body=body, token=None
            )
        except PermanentShiprocketError as exc:
            if exc.status_code in (401, 403, 422):
                raise AuthenticationError(
                    f"Shiprocket login refused: {exc.message}",
                    status_code=exc.status_code,
                    body=exc.body,
                    endpoint=exc.endpoint,
                ) from exc
            raise
        token = answer.get("token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthenticationError(
                "Shiprocket login answered without a token", endpoint=f"POST {path}"
            )
        self._store.set(token, TOKEN_TTL_SECONDS)
        logger.info("shiprocket login ok", extra={"endpoint": f"POST {path}"})
        return token

    # ---- orders ---------------------------------------------------------------------------

    def create_adhoc_order(self, payload: dict[str, Any]) -> CreatedOrder:
        """POST /orders/create/adhoc. A duplicate channel order id echoes the existing order
        (even a cancelled one): check `CreatedOrder.is_cancelled`. Not retried when ambiguous."""
        path = f"{API_PREFIX}/orders/create/adhoc"
        answer = self._call("POST", path, json_body=payload, idempotent=False)
        if not isinstance(answer, dict):
            raise _unexpected(path, answer)
        sr_order_id = _int(answer.get("order_id"))
        shipment_id = _int(answer.get("shipment_id"))
        if sr_order_id is None or shipment_id is None:
            raise _unexpected(path, answer)
        return CreatedOrder(
            sr_order_id=sr_order_id,
            shipment_id=shipment_id,
            status=str(answer.get("status") or ""),
            status_code=_int(answer.get("status_code")) or 0,
            awb_code=_str(answer.get("awb_code")),
            courier_company_id=_int(answer.get("courier_company_id")),
            courier_name=_str(answer.get("courier_name")),
        )

    def find_order_by_channel_id(self, channel_order_id: str) -> CreatedOrder | None:
        """GET /orders?search=<id>: the order whose channel_order_id is exactly ours, or None."""
        path = f"{API_PREFIX}/orders"
        answer = self._call("GET", path, params={"search": channel_order_id}, idempotent=True)
        rows = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(rows, list):
            return None
        matches = [
            row
            for row in rows
            if isinstance(row, dict) and str(row.get("channel_order_id")) == channel_order_id
        ]
        if not matches:
            return None
        live = [row for row in matches if _int(row.get("status_code")) != 5]
        return _order_from_row(path, (live or matches)[0])

    def cancel_orders(self, sr_order_ids: list[int]) -> None:
        """POST /orders/cancel {"ids": [...]}: 204 (or 200)."""
        path = f"{API_PREFIX}/orders/cancel"
        self._call("POST", path, json_body={"ids": list(sr_order_ids)}, idempotent=True)

    def cancel_shipments(self, awbs: list[str]) -> str:
        """POST /orders/cancel/shipment/awbs; returns Shiprocket's message."""
        path = f"{API_PREFIX}/orders/cancel/shipment/awbs"
        answer = self._call("POST", path, json_body={"awbs": list(awbs)}, idempotent=True)
        return _message_text(answer) or ""

    def update_delivery_address(self, sr_order_id: int, address: dict[str, Any]) -> None:
        """POST /orders/address/update (202, empty body)."""
        path = f"{API_PREFIX}/orders/address/update"
        body = {**address, "order_id": sr_order_id}
        self._call("POST", path, json_body=body, idempotent=True)

    # ---- couriers -------------------------------------------------------------------------

    def serviceability(
        self,
        *,
        pickup_postcode: str,
        delivery_postcode: str,
        weight_kg: Decimal,
        cod: bool,
        declared_value: Decimal | None = None,
        length_cm: Decimal | None = None,
        breadth_cm: Decimal | None = None,
        height_cm: Decimal | None = None,
    ) -> Serviceability:
        """GET /courier/serviceability/. No courier → NotServiceable(delivery_postcode)."""
        path = f"{API_PREFIX}/courier/serviceability/"
        params: dict[str, str] = {
            "pickup_postcode": str(pickup_postcode),
            "delivery_postcode": str(delivery_postcode),
            "weight": str(weight_kg),
            "cod": "1" if cod else "0",
        }
        optional = {
            "declared_value": declared_value,
            "length": length_cm,
            "breadth": breadth_cm,
            "height": height_cm,
        }
        params.update({k: str(v) for k, v in optional.items() if v is not None})
        answer = self._call("GET", path, params=params, idempotent=True)
        if not isinstance(answer, dict):
            raise _unexpected(path, answer)
        _raise_for_status_in_body(path, answer)
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        companies = data.get("available_courier_companies") or []
        options = [opt for opt in map(_courier_option, companies) if opt is not None]
        if not options:
            raise NotServiceable(
                str(delivery_postcode), status_code=200, body=answer, endpoint=f"GET {path}"
            )
        return Serviceability(
            options=options, recommended_courier_id=_int(data.get("recommended_courier_company_id"))
        )

    def assign_awb(self, shipment_id: int, courier_id: int | None = None) -> AwbAssignment:
        """POST /courier/assign/awb. Refusal → PermanentShiprocketError with the reason;
        "already assigned" → AwbAlreadyAssigned (recover with get_shipment)."""
        path = f"{API_PREFIX}/courier/assign/awb"
        body: dict[str, Any] = {"shipment_id": shipment_id}
        if courier_id is not None:
            body["courier_id"] = courier_id
        try:
            answer = self._call("POST", path, json_body=body, idempotent=False)
        except PermanentShiprocketError as exc:
            if type(exc) is PermanentShiprocketError and _ALREADY_ASSIGNED.search(exc.message):
                raise AwbAlreadyAssigned(
                    exc.message, status_code=exc.status_code, body=exc.body, endpoint=exc.endpoint
                ) from exc
            raise
        if not isinstance(answer, dict):
            raise _unexpected(path, answer)
        data = _dig(answer, "response", "data")
        data = data if isinstance(data, dict) else {}
        awb = _str(data.get("awb_code"))
        courier = _int(data.get("courier_company_id"))
        if _int(answer.get("awb_assign_status")) != 1 or awb is None or courier is None:
            reason = (
                _str(data.get("awb_assign_error"))
                or _message_text(answer)
                or "AWB assignment refused"
            )
            cls = AwbAlreadyAssigned if _ALREADY_ASSIGNED.search(reason) else None
            raise (cls or PermanentShiprocketError)(
                reason, status_code=200, body=answer, endpoint=f"POST {path}"
            )
        return AwbAssignment(
            awb=awb,
            courier_id=courier,
            courier_name=str(data.get("courier_name") or ""),
            pickup_scheduled_date=_str(data.get("pickup_scheduled_date")),
        )

    def generate_pickup(self, shipment_id: int) -> PickupResult:
        """POST /courier/generate/pickup {"shipment_id": [id]}. Not retried when ambiguous."""
        path = f"{API_PREFIX}/courier/generate/pickup"
        answer = self._call(
            "POST", path, json_body={"shipment_id": [shipment_id]}, idempotent=False
        )
        if not isinstance(answer, dict):
            raise _unexpected(path, answer)
        response = answer.get("response") if isinstance(answer.get("response"), dict) else {}
        if _int(answer.get("pickup_status")) != 1:
            reason = _message_text(answer) or _str(response.get("data")) or "pickup not generated"
            raise PermanentShiprocketError(
                reason, status_code=200, body=answer, endpoint=f"POST {path}"
            )
        return PickupResult(
            scheduled_date=_str(response.get("pickup_scheduled_date")),
            token_number=_str(response.get("pickup_token_number")),
        )

    def generate_label(self, shipment_id: int) -> LabelResult:
        """POST /courier/generate/label {"shipment_id": [id]}; label_created 0 → permanent."""
        path = f"{API_PREFIX}/courier/generate/label"
        answer = self._call("POST", path, json_body={"shipment_id": [shipment_id]}, idempotent=True)
        if not isinstance(answer, dict):
            raise _unexpected(path, answer)
        url = _str(answer.get("label_url"))
        if _int(answer.get("label_created")) != 1 or url is None:
            reason = _str(answer.get("response")) or _message_text(answer) or "label not created"
            raise PermanentShiprocketError(
                reason, status_code=200, body=answer, endpoint=f"POST {path}"
            )
        return LabelResult(label_url=url)

    def track_awb(self, awb: str) -> Tracking | None:
        """GET /courier/track/awb/{awb}; None while Shiprocket has no activity (track_status 0)."""
        path = f"{API_PREFIX}/courier/track/awb/{awb}"
        answer = self._call("GET", path, idempotent=True)
        data = answer.get("tracking_data") if isinstance(answer, dict) else None
        if not isinstance(data, dict):
            raise _unexpected(path, answer)
        track_status = _int(data.get("track_status"))
        if not track_status:
            return None
        tracks = data.get("shipment_track")
        first = tracks[0] if isinstance(tracks, list) and tracks else {}
        first = first if isinstance(first, dict) else {}
        activities = data.get("shipment_track_activities")
        return Tracking(
            awb=str(first.get("awb_code") or awb),
            track_status=track_status,
            shipment_status=_int(data.get("shipment_status")),
            current_status=_str(first.get("current_status")),
            track_url=_str(data.get("track_url")),
            etd=_str(data.get("etd")),
            activities=[
                _scan(a)
                for a in (activities if isinstance(activities, list) else [])
                if isinstance(a, dict)
            ],
        )

    # ---- NDR (non-delivery reports) -------------------------------------------------------

    def ndr_action(
        self,
        awb: str,
        action: str,
        *,
        comments: str,
        phone: str | None = None,
        address1: str | None = None,
        address2: str | None = None,
        deferred_date: str | None = None,
    ) -> None:
        """POST /ndr/{awb}/action: "re-attempt" (optionally with a corrected phone, address lines
        or a "YYYY-MM-DD" deferred date) or "return" (RTO); 202 {"status": "Data Updated
        Sucessfully"}. A refusal (400 not in NDR, 404, 422) → PermanentShiprocketError with
        Shiprocket's reason. Not retried when ambiguous (the action may have been taken)."""
        if action not in NDR_ACTIONS:
            raise ValueError(f"action must be one of {', '.join(NDR_ACTIONS)}")
        path = f"{API_PREFIX}/ndr/{awb}/action"
        body: dict[str, Any] = {"action": action, "comments": comments}
        optional = {
            "phone": phone,
            "address1": address1,
            "address2": address2,
            "deferred_date": deferred_date,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        answer = self._call("POST", path, json_body=body, idempotent=False)
        if isinstance(answer, dict):
            status = answer.get("status")
            code = _int(answer.get("status_code"))
            if status is False or (code is not None and code >= 400):
                raise PermanentShiprocketError(
                    _message_text(answer) or "NDR action refused",
                    status_code=200,
                    body=answer,
                    endpoint=f"POST {path}",
                )

    # ---- shipments and settings -----------------------------------------------------------

    def get_shipment(self, shipment_id: int) -> ShipmentInfo:
        """GET /shipments/{id}; Shiprocket answers an unknown id with 200 {}."""
        path = f"{API_PREFIX}/shipments/{shipment_id}"
        answer = self._call("GET", path, idempotent=True)
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, dict) or not data:
            raise PermanentShiprocketError(
                f"shipment {shipment_id} not found",
                status_code=200,
                body=answer,
                endpoint=f"GET {path}",
            )
        return ShipmentInfo(
            shipment_id=_int(data.get("id")) or shipment_id,
            sr_order_id=_int(data.get("order_id")),
            awb=_str(data.get("awb")),
            courier_name=_str(data.get("courier")),
            status=_int(data.get("status")),
        )

    def list_pickup_locations(self) -> list[PickupLocation]:
        """GET /settings/company/pickup."""
        path = f"{API_PREFIX}/settings/company/pickup"
        answer = self._call("GET", path, idempotent=True)
        rows = _dig(answer, "data", "shipping_address")
        if not isinstance(rows, list):
            raise _unexpected(path, answer)
        locations = []
        for row in rows:
            if not isinstance(row, dict) or _int(row.get("id")) is None:
                continue
            locations.append(
                PickupLocation(
                    id=_int(row.get("id")) or 0,
                    nickname=str(row.get("pickup_location") or ""),
                    pin_code=str(row.get("pin_code") or ""),
                    city=_str(row.get("city")),
                    is_primary=bool(_int(row.get("is_primary_location"))),
                )
            )
        return locations

    # ---- plumbing -------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """One authenticated call: token from the store (login when absent), tenacity retry,
        and on a 401 one re-login and one repeat; a second 401 → AuthenticationError."""
        retrying = self._retrying(idempotent=idempotent)
        token = self._store.get() or self.login()
        try:
            return retrying(
                self._send, method, path, json_body=json_body, params=params, token=token
            )
        except _TokenRejected:
            logger.info(
                "shiprocket token rejected, logging in again",
                extra={"endpoint": f"{method} {path}"},
            )
            self._store.clear(token)
        token = self.login()
        try:
            return retrying(
                self._send, method, path, json_body=json_body, params=params, token=token
            )
        except _TokenRejected as exc:
            self._store.clear(token)
            raise AuthenticationError(
                "Shiprocket rejected a fresh token (401)",
                status_code=401,
                body=exc.body,
                endpoint=f"{method} {path}",
            ) from None

    def _retrying(self, *, idempotent: bool) -> Retrying:
        def should_retry(exc: BaseException) -> bool:
            if not isinstance(exc, RetryableShiprocketError):
                return False
            if exc.retry_after is not None and exc.retry_after > self._max_wait:
                return False  # too long to wait in-process: the caller's RQ retry reschedules
            return idempotent or not exc.ambiguous

        return Retrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            retry=retry_if_exception(should_retry),
            reraise=True,
            sleep=self._sleep,
            before_sleep=self._log_retry,
        )

    def _wait(self, retry_state: RetryCallState) -> float:
        seconds = float(self._backoff(retry_state))
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        return max(seconds, retry_after) if retry_after is not None else seconds

    def _log_retry(self, retry_state: RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        endpoint = getattr(exc, "endpoint", None)
        status = getattr(exc, "status_code", None)
        logger.warning(
            "shiprocket %s failed (%s), attempt %d/%d, retrying in %.2fs",
            endpoint,
            status if status is not None else type(exc.__cause__ or exc).__name__,
            retry_state.attempt_number,
            self._max_attempts,
            wait,
            extra={
                "endpoint": endpoint,
                "status_code": status,
                "attempt": retry_state.attempt_number,
            },
        )

    def _send(
        self,
        method: str,
        path: str,
        *,
        token: str | None,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """One HTTP request → decoded JSON body (None when empty), or a typed error."""
        endpoint = f"{method} {path}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = self._session.request(
                method,
                self._base_url + path,
                json=json_body,
                params=params,
                headers=headers,
                timeout=self._timeout,
            )
        except requests.ConnectTimeout as exc:
            raise RetryableShiprocketError(
                f"could not connect to Shiprocket (timeout): {endpoint}", endpoint=endpoint
            ) from exc
        except requests.Timeout as exc:
            raise RetryableShiprocketError(
                f"Shiprocket did not answer in {self._timeout[1]}s: {endpoint}",
                ambiguous=method != "GET",
                endpoint=endpoint,
            ) from exc
        except requests.ConnectionError as exc:
            raise RetryableShiprocketError(
                f"connection to Shiprocket failed: {endpoint}",
                ambiguous=method != "GET" and not _never_connected(exc),
                endpoint=endpoint,
            ) from exc
        body = _decode(response)
        if response.status_code == 401 and token is not None:
            raise _TokenRejected(response, body)
        if response.status_code < 300:
            if response.content and body is None:
                raise PermanentShiprocketError(
                    f"Shiprocket answered {endpoint} with a non-JSON body",
                    status_code=response.status_code,
                    body=response.text[:500],
                    endpoint=endpoint,
                )
            return body
        raise _http_error(method, endpoint, response, body)


# ---- error mapping ------------------------------------------------------------------------


def _http_error(
    method: str, endpoint: str, response: requests.Response, body: Any
) -> RetryableShiprocketError | PermanentShiprocketError:
    status = response.status_code
    shown = body if body is not None else response.text[:500]
    text = _message_text(body) if isinstance(body, dict) else None
    if status == 429:
        return RetryableShiprocketError(
            f"Shiprocket rate limit (429): {text or 'Too Many Requests'}",
            retry_after=_retry_after(response.headers.get("Retry-After")),
            status_code=status,
            body=shown,
            endpoint=endpoint,
        )
    if status >= 500:
        return RetryableShiprocketError(
            f"Shiprocket HTTP {status}: {text or 'server error'}",
            ambiguous=method != "GET",
            status_code=status,
            body=shown,
            endpoint=endpoint,
        )
    field_errors = _field_errors(body)
    if field_errors:
        message = "; ".join(f"{f}: {m}" for f, msgs in field_errors.items() for m in msgs)
    else:
        message = text or f"Shiprocket HTTP {status}"
    return PermanentShiprocketError(
        message, field_errors=field_errors, status_code=status, body=shown, endpoint=endpoint
    )


def _field_errors(body: Any) -> dict[str, list[str]]:
    """Shiprocket's field errors, from `errors` or from `message` (an object or a JSON string)."""
    if not isinstance(body, dict):
        return {}
    raw = body.get("errors")
    if not isinstance(raw, dict) or not raw:
        raw = _as_mapping(body.get("message"))
    if not raw:
        return {}
    result: dict[str, list[str]] = {}
    for field_name, messages in raw.items():
        items = messages if isinstance(messages, list) else [messages]
        plain = [_plain(str(field_name), str(m)) for m in items if m not in (None, "")]
        if plain:
            result[str(field_name)] = plain
    return result


def _plain(field_name: str, sentence: str) -> str:
    """ "The order id field is required." → "is required" (Laravel boilerplate stripped)."""
    text = sentence.strip().rstrip(".").strip()
    human = re.escape(field_name.replace("_", " "))
    stripped = re.sub(rf"^the {human}( field)?\s+", "", text, flags=re.IGNORECASE)
    return stripped or text


def _as_mapping(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def _message_text(body: Any) -> str | None:
    """A plain `message` (or `error`) string from a JSON body, if any."""
    if not isinstance(body, dict):
        return None
    for key in ("message", "error"):
        value = body.get(key)
        if isinstance(value, str) and value.strip() and _as_mapping(value) is None:
            return value.strip()
    return None


def _raise_for_status_in_body(path: str, answer: dict[str, Any]) -> None:
    """Serviceability's 200 {"status": 404, "message": ...}."""
    status = _int(answer.get("status"))
    if status is not None and status >= 400:
        raise PermanentShiprocketError(
            _message_text(answer) or f"Shiprocket status {status}",
            status_code=200,
            body=answer,
            endpoint=f"GET {path}",
        )


def _unexpected(path: str, answer: Any) -> PermanentShiprocketError:
    return PermanentShiprocketError(
        _message_text(answer) or f"unexpected answer from Shiprocket {path}",
        status_code=200,
        body=answer,
        endpoint=path,
    )


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _never_connected(exc: requests.ConnectionError) -> bool:
    """True when the request surely never reached Shiprocket (refused, DNS): safe to repeat."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, NewConnectionError):
            return True
        reason = getattr(current, "reason", None)
        if isinstance(reason, NewConnectionError):
            return True
        arg = current.args[0] if current.args else None
        current = arg if isinstance(arg, BaseException) else current.__cause__
    return False


def _decode(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


# ---- tolerant parsing ---------------------------------------------------------------------


def _courier_option(raw: Any) -> CourierOption | None:
    if not isinstance(raw, dict):
        return None
    courier_id = _int(raw.get("courier_company_id"))
    rate_raw = raw.get("rate")
    if isinstance(rate_raw, dict):  # international answers nest it: {"rate": {"rate": n}}
        rate_raw = rate_raw.get("rate")
    rate = _decimal(rate_raw)
    if rate is None:
        rate = _decimal(raw.get("freight_charge"))
    if courier_id is None or rate is None:
        logger.warning("shiprocket courier option skipped (no id or rate)")
        return None
    return CourierOption(
        courier_id=courier_id,
        name=str(raw.get("courier_name") or ""),
        rate=rate,
        estimated_days=_int(raw.get("estimated_delivery_days")),
        etd=_str(raw.get("etd")),
        rating=_float(raw.get("rating")),
        is_surface=raw.get("is_surface") if isinstance(raw.get("is_surface"), bool) else None,
        cod=None if _int(raw.get("cod")) is None else bool(_int(raw.get("cod"))),
    )


def _order_from_row(path: str, row: dict[str, Any]) -> CreatedOrder:
    shipments = row.get("shipments")
    first = shipments[0] if isinstance(shipments, list) and shipments else shipments
    first = first if isinstance(first, dict) else {}
    sr_order_id = _int(row.get("id"))
    shipment_id = _int(first.get("id"))
    if sr_order_id is None or shipment_id is None:
        raise _unexpected(path, row)
    return CreatedOrder(
        sr_order_id=sr_order_id,
        shipment_id=shipment_id,
        status=str(row.get("status") or ""),
        status_code=_int(row.get("status_code")) or 0,
        awb_code=_str(first.get("awb")) or _str(first.get("awb_code")),
        courier_company_id=_int(first.get("courier_id") or first.get("sr_courier_id")),
        courier_name=_str(first.get("courier")) or _str(first.get("courier_name")),
    )


def _scan(raw: dict[str, Any]) -> TrackingScan:
    return TrackingScan(
        date=str(raw.get("date") or ""),
        status=str(raw.get("status") or ""),
        activity=str(raw.get("activity") or "").strip(),
        location=str(raw.get("location") or ""),
        sr_status=_str(raw.get("sr-status")),
        sr_status_label=_str(raw.get("sr-status-label")),
    )


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    match = re.fullmatch(r"\s*(-?\d+)(\.0*)?\s*", str(value))
    return int(match.group(1)) if match else None


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def _str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
