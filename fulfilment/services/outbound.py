"""Outbound events (contract §5): outbox → one delivery per subscriber → signed POSTs, retried.

At-least-once: the outbox row is written with the status change; the relay (a worker job queued
every second) fans it out to deliveries, and each delivery is POSTed by its own job. Redis being
down only delays this: nothing lives only in Redis. Every try is logged; a delivery keeps the
event's `webhook-id` on every try.

Retry schedule after a failed try (Standard Webhooks' schedule, ±10 % jitter): 5 s, 5 min,
30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h — ten tries over about 75 hours, then `failed` (it can
be sent again from the admin). A 429/503 `Retry-After` is honoured when longer. 410 Gone
disables the subscriber at once; one failing for 5 days is disabled with a visible reason.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import random
import socket
import time
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload
from standardwebhooks.webhooks import Webhook

from fulfilment.db import insert_ignoring_conflicts, utcnow
from fulfilment.errors import InvalidInput
from fulfilment.extensions import db
from fulfilment.models import Delivery, DeliveryAttempt, OutboxEvent, Subscriber
from fulfilment.services.audit import record_audit

log = logging.getLogger(__name__)

SCHEDULE_S = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
TIMEOUT = (3.05, 10.0)
SEND_LEASE_S = 30  # a try in flight; if its worker dies the delivery is due again after this
DISABLE_AFTER = timedelta(days=5)
ROTATION_OVERLAP = timedelta(hours=24)
_session = requests.Session()
_session.trust_env = False  # no proxy/.netrc lookups from the environment on every POST
BATCH = 25  # deliveries per job: RQ's own cost per job is larger than one delivery's
CLAIM_LEASE_S = 300  # claimed for a queued job; due again after this if the job never ran


def sync_env_subscribers() -> None:
    """OUTBOUND_WEBHOOK_URLS become subscribers (idempotent); admin-added ones are kept."""
    dialect = db.session.get_bind().dialect.name
    for url in current_app.config["OUTBOUND_WEBHOOK_URLS"]:
        db.session.execute(
            insert_ignoring_conflicts(Subscriber.__table__, dialect, ["url"]).values(
                url=url, source="env", enabled=True, event_types=[], created_at=utcnow()
            )
        )
    db.session.commit()


def fan_out(limit: int = 500) -> int:
    """Pending outbox rows → one delivery per enabled subscriber taking that event type."""
    sync_env_subscribers()
    events = list(
        db.session.execute(
            select(OutboxEvent)
            .where(OutboxEvent.state == "pending")
            .order_by(OutboxEvent.id)
            .limit(limit)
        ).scalars()
    )
    if not events:
        return 0
    subscribers = list(
        db.session.execute(select(Subscriber).where(Subscriber.enabled.is_(True))).scalars()
    )
    dialect = db.session.get_bind().dialect.name
    now = utcnow()
    for event in events:
        rows = [
            {
                "outbox_event_id": event.id,
                "subscriber_id": sub.id,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for sub in subscribers
            if not sub.event_types or event.event_type in sub.event_types
        ]
        if rows:
            db.session.execute(
                insert_ignoring_conflicts(
                    Delivery.__table__, dialect, ["outbox_event_id", "subscriber_id"]
                ),
                rows,
            )
        event.state = "dispatched"
    db.session.commit()
    return len(events)


def due_deliveries(limit: int = 200) -> list[tuple[int, int]]:
    """(delivery id, attempts) of deliveries whose next try is due."""
    rows = db.session.execute(
        select(Delivery.id, Delivery.attempts)
        .where(Delivery.state == "pending", Delivery.next_attempt_at <= utcnow())
        .order_by(Delivery.next_attempt_at)
        .limit(limit)
    ).all()
    db.session.rollback()
    return [(r.id, r.attempts) for r in rows]


def _secrets(sub: Subscriber, now: datetime) -> list[str]:
    current = sub.secret or current_app.config["OUTBOUND_WEBHOOK_SECRET"]
    keys = [current]
    if sub.previous_secret and sub.previous_secret_until and sub.previous_secret_until > now:
        keys.append(sub.previous_secret)
    return keys


def signed_headers(msg_id: str, body: str, keys: list[str], at: datetime) -> dict[str, str]:
    signatures = " ".join(Webhook(k).sign(msg_id, at, body) for k in keys)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "Content-Type": "application/json",
        "User-Agent": "fulfilment-webhooks/1",
    }


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
    except (TypeError, ValueError):
        return None


def claim_due(limit: int = 500) -> list[list[int]]:
    """Claims due deliveries for a send lease, grouped by subscriber in batches of BATCH.

    Claimed deliveries are not due again until the lease runs out, so the relay (every second)
    never queues them twice; if a job dies, they are simply due again after the lease.
    """
    now = utcnow()
    rows = db.session.execute(
        select(Delivery.id, Delivery.subscriber_id)
        .where(Delivery.state == "pending", Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at)
        .limit(limit)
    ).all()
    if not rows:
        db.session.rollback()
        return []
    claimed = set(
        db.session.execute(
            update(Delivery)
            .where(
                Delivery.id.in_([r.id for r in rows]),
                Delivery.state == "pending",
                Delivery.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + timedelta(seconds=CLAIM_LEASE_S))
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    db.session.commit()
    by_sub: dict[int, list[int]] = {}
    for r in rows:
        if r.id in claimed:
            by_sub.setdefault(r.subscriber_id, []).append(r.id)
    return [ids[i : i + BATCH] for ids in by_sub.values() for i in range(0, len(ids), BATCH)]


def release(delivery_ids: list[int]) -> None:
    """Undo a claim whose job could not be queued: the deliveries are due again now."""
    db.session.execute(
        update(Delivery)
        .where(Delivery.id.in_(delivery_ids), Delivery.state == "pending")
        .values(next_attempt_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def deliver_claimed(delivery_ids: list[int]) -> dict[str, int]:
    """Sends the deliveries the relay claimed for this job: one query loads them all, each is
    POSTed in turn, and the outcomes are written in one commit at the end (if the job dies
    midway, the claim runs out and the unrecorded ones are sent again: at-least-once)."""
    db.session().expire_on_commit = False  # this job's own rows: no reload after the commit
    deliveries = list(
        db.session.execute(
            select(Delivery)
            .options(joinedload(Delivery.subscriber), joinedload(Delivery.event))
            .where(Delivery.id.in_(delivery_ids), Delivery.state == "pending")
            .order_by(Delivery.id)
        ).scalars()
    )
    db.session.commit()  # no transaction held open across the HTTP calls
    outcomes: dict[str, int] = {}
    for delivery in deliveries:
        if delivery.subscriber.enabled:
            outcome = _apply(delivery, *_post(delivery))
        else:
            delivery.state, outcome = "failed", "failed"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    db.session.commit()
    return outcomes


def _claim(delivery_id: int) -> bool:
    now = utcnow()
    result = db.session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.state == "pending",
            Delivery.next_attempt_at <= now,
        )
        .values(next_attempt_at=now + timedelta(seconds=SEND_LEASE_S))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def deliver(delivery_id: int) -> str:
    """One try at POSTing one delivery. Returns "sent", "retry", "failed" or "skipped"."""
    if not _claim(delivery_id):
        return "skipped"
    return _send(delivery_id)


def _send(delivery_id: int) -> str:
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None or delivery.state != "pending":
        return "skipped"
    if not delivery.subscriber.enabled:
        delivery.state = "failed"
        db.session.commit()
        return "failed"
    db.session.commit()  # no transaction held open across the HTTP call
    return _record(delivery, *_post(delivery))


def _post(delivery: Delivery) -> tuple[int | None, str | None, str | None, int, float | None]:
    """Signs and POSTs; returns (status, error, excerpt, latency ms, retry-after). No DB work."""
    sub, event = delivery.subscriber, delivery.event
    now = utcnow()
    body = json.dumps(event.payload, separators=(",", ":"), default=str)
    headers = signed_headers(event.event_id, body, _secrets(sub, now), now)
    started = time.monotonic()
    status, error, excerpt, retry_after = None, None, None, None
    try:
        resp = _session.post(
            sub.url, data=body.encode(), headers=headers, timeout=TIMEOUT, allow_redirects=False
        )
        status, excerpt, retry_after = resp.status_code, resp.text[:500], _retry_after(resp)
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {str(exc)[:250]}"
    return status, error, excerpt, int((time.monotonic() - started) * 1000), retry_after


def _apply(
    delivery: Delivery,
    status: int | None,
    error: str | None,
    excerpt: str | None,
    latency: int,
    retry_after: float | None,
) -> str:
    now = utcnow()
    sub = delivery.subscriber
    db.session.add(
        DeliveryAttempt(
            delivery_id=delivery.id,
            at=now,
            status_code=status,
            latency_ms=latency,
            error=error,
            response_excerpt=excerpt,
        )
    )
    delivery.attempts += 1
    delivery.last_status = status
    if status is not None and 200 <= status < 300:
        delivery.state, delivery.sent_at = "sent", now
        sub.failing_since = None
        return "sent"
    if status == 410:
        delivery.state = "failed"
        _disable(sub, "the endpoint answered 410 Gone")
        return "failed"
    sub.failing_since = sub.failing_since or now
    if now - sub.failing_since > DISABLE_AFTER:
        _disable(sub, f"failing since {sub.failing_since:%Y-%m-%d %H:%M} UTC (5 days)")
    if delivery.attempts > len(SCHEDULE_S):
        delivery.state = "failed"
        return "failed"
    wait = SCHEDULE_S[delivery.attempts - 1] * random.uniform(0.9, 1.1)  # noqa: S311
    if retry_after is not None:
        wait = max(wait, retry_after)
    delivery.next_attempt_at = now + timedelta(seconds=wait)
    log.info(
        "delivery %s to %s failed (%s); next try in %.0f s",
        delivery.id,
        sub.url,
        status or error,
        wait,
    )
    return "retry"


def _record(delivery: Delivery, *result: Any) -> str:
    outcome = _apply(delivery, *result)
    db.session.commit()
    return outcome


def _disable(sub: Subscriber, reason: str) -> None:
    sub.enabled = False
    sub.disabled_reason = reason
    record_audit(
        actor="system:webhooks",
        action="subscriber.disable",
        entity_type="subscriber",
        entity_id=sub.url,
        details={"reason": reason},
    )
    log.warning("subscriber %s disabled: %s", sub.url, reason)


def send_again(delivery_id: int, *, actor: str) -> Delivery:
    """Queue another try now (also for a failed delivery); audited."""
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None:
        raise InvalidInput("no such delivery", {"delivery_id": [str(delivery_id)]})
    delivery.state = "pending"
    delivery.next_attempt_at = utcnow()
    record_audit(
        actor=actor,
        action="delivery.resend",
        entity_type="delivery",
        entity_id=str(delivery_id),
        details={"event_id": delivery.event.event_id},
    )
    db.session.commit()
    return delivery


def _check_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("bad URL", {"url": ["must be an http(s) URL"]})
    if not current_app.config["LOCAL_RUN"]:
        if parts.scheme != "https":
            raise InvalidInput("bad URL", {"url": ["must use https"]})
        try:
            addresses = {i[4][0] for i in socket.getaddrinfo(parts.hostname, None)}
        except OSError:
            raise InvalidInput("bad URL", {"url": ["host does not resolve"]}) from None
        for address in addresses:
            ip = ipaddress.ip_address(address)
            if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved:
                raise InvalidInput("bad URL", {"url": ["private addresses are refused"]})
    return url.strip()


def add_subscriber(
    url: str, *, actor: str, secret: str | None = None, event_types: list[str] | None = None
) -> Subscriber:
    sub = Subscriber(url=_check_url(url), secret=secret or None, event_types=event_types or [])
    db.session.add(sub)
    record_audit(
        actor=actor,
        action="subscriber.add",
        entity_type="subscriber",
        entity_id=sub.url,
        details={"event_types": sub.event_types},
    )
    db.session.commit()
    return sub


def set_subscriber_enabled(subscriber_id: int, enabled: bool, *, actor: str) -> Subscriber:
    sub = db.session.get(Subscriber, subscriber_id)
    if sub is None:
        raise InvalidInput("no such subscriber", {"subscriber_id": [str(subscriber_id)]})
    sub.enabled, sub.failing_since = enabled, None
    sub.disabled_reason = None if enabled else f"disabled by {actor}"
    record_audit(
        actor=actor,
        action="subscriber.enable" if enabled else "subscriber.disable",
        entity_type="subscriber",
        entity_id=sub.url,
        details={},
    )
    db.session.commit()
    return sub


def rotate_secret(subscriber_id: int, new_secret: str, *, actor: str) -> Subscriber:
    """New secret now; the old one keeps signing too for 24 h so the receiver can switch."""
    from fulfilment.config import parse_webhook_secret
    from fulfilment.errors import ConfigError

    try:
        parse_webhook_secret("secret", new_secret)
    except ConfigError as exc:
        raise InvalidInput("bad secret", {"secret": [str(exc)]}) from None
    sub = db.session.get(Subscriber, subscriber_id)
    if sub is None:
        raise InvalidInput("no such subscriber", {"subscriber_id": [str(subscriber_id)]})
    sub.previous_secret = sub.secret or current_app.config["OUTBOUND_WEBHOOK_SECRET"]
    sub.previous_secret_until = utcnow() + ROTATION_OVERLAP
    sub.secret = new_secret
    record_audit(
        actor=actor,
        action="subscriber.rotate",
        entity_type="subscriber",
        entity_id=sub.url,
        details={"overlap_until": sub.previous_secret_until.isoformat()},
    )
    db.session.commit()
    return sub


def deliveries_for_order(order_pk: int) -> list[Delivery]:
    return list(
        db.session.execute(
            select(Delivery)
            .join(OutboxEvent, OutboxEvent.id == Delivery.outbox_event_id)
            .where(OutboxEvent.order_pk == order_pk)
            .order_by(Delivery.id)
        ).scalars()
    )


def describe(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event": delivery.event.event_type,
        "webhook_id": delivery.event.event_id,
        "url": delivery.subscriber.url,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at,
    }
