"""Non-delivery reports (NDR): undelivered shipments waiting for ops' answer, and that answer.

- A shipped order whose latest tracking push says Undelivered (NOTES §5.1 id 21, or a status
  naming UNDELIVERED / NDR) is in the "Action required" queue until ops answer *that* NDR; a
  later NDR (a new failed attempt, a later push) needs an answer of its own.
- Shiprocket gives the seller 24 hours from the NDR to answer before the courier acts on its own
  (usually returning the parcel): each item carries the deadline and the seconds left.
- The answer (re-attempt, optionally with a corrected phone, address lines or a date; or return
  to origin) goes through Shiprocket's NDR action API. Accepted: one `ndr_actions` row and an
  audit row. Refused or unconfirmed: an audit row only, and a DomainError with the reason.
- No status transition here: the order stays shipped; delivery or RTO comes later by tracking.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.exc import IntegrityError

from fulfilment.db import utcnow
from fulfilment.errors import DomainError, InvalidInput
from fulfilment.extensions import db
from fulfilment.models import NdrAction, Order, Shipment, TrackingEvent
from fulfilment.schemas import normalise_phone
from fulfilment.services.audit import record_audit
from fulfilment.services.flags import require_enabled
from fulfilment.services.orders import get_order
from fulfilment.services.shiprocket_gateway import shiprocket
from fulfilment.shiprocket.types import PermanentShiprocketError, RetryableShiprocketError
from fulfilment.states import OrderStatus
from fulfilment.timefmt import IST

log = logging.getLogger(__name__)

UNDELIVERED = 21  # NOTES §5.1
NDR_WORDS = ("UNDELIVERED", "NDR")
DEADLINE = timedelta(hours=24)
MAX_DEFER_DAYS = 7
ACTIONS = {"reattempt": "re-attempt", "rto": "return"}  # ours → Shiprocket's
ACTION_LABELS = {"reattempt": "re-attempt", "rto": "return to origin"}
MAX_ADDRESS_LINE = 200
MAX_COMMENTS = 255


class NdrActionRefused(DomainError):
    """Shiprocket refused the action (not in NDR, unknown AWB, invalid field…)."""

    code = "shiprocket_refused"

    def __init__(self, order_id: str, action: str, reason: str):
        super().__init__(f"Shiprocket refused the {ACTION_LABELS[action]} for {order_id}: {reason}")
        self.order_id = order_id
        self.reason = reason


class NdrActionUnconfirmed(DomainError):
    """Shiprocket did not answer (or failed): the action may or may not have been taken."""

    code = "shiprocket_unavailable"

    def __init__(self, order_id: str, action: str, reason: str, *, ambiguous: bool):
        hint = (
            "it may have been recorded: check Shiprocket's NDR panel before trying again"
            if ambiguous
            else "nothing was sent; try again in a few minutes"
        )
        super().__init__(
            f"Shiprocket did not confirm the {ACTION_LABELS[action]} for {order_id} "
            f"({reason}); {hint}"
        )
        self.order_id = order_id
        self.ambiguous = ambiguous


class NoPendingNdr(DomainError):
    code = "no_pending_ndr"

    def __init__(self, order_id: str, why: str):
        super().__init__(f"{order_id} has no non-delivery report awaiting action: {why}")
        self.order_id = order_id


@dataclass(frozen=True)
class NdrItem:
    order_id: str
    order_pk: int
    shipment_id: int
    awb: str
    courier: str | None
    status: str  # the push's status, e.g. "UNDELIVERED"
    reason: str  # the courier's reason, e.g. "Consignee not available"
    ndr_at: datetime
    deadline: datetime
    seconds_left: int  # negative once overdue
    phone: str
    address1: str
    address2: str | None

    @property
    def overdue(self) -> bool:
        return self.seconds_left <= 0

    @property
    def countdown(self) -> str:
        return countdown(self.seconds_left)


def countdown(seconds_left: int) -> str:
    """'18 h 12 min left', '35 min left' or 'overdue'."""
    if seconds_left <= 0:
        return "overdue"
    minutes = seconds_left // 60
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min left" if hours else f"{minutes} min left"


def _is_ndr_status():
    status = func.upper(func.coalesce(Shipment.tracking_status, ""))
    return or_(
        Shipment.tracking_status_id == UNDELIVERED,
        *(status.contains(word) for word in NDR_WORDS),
    )


def _answered():
    return exists().where(
        and_(NdrAction.shipment_id == Shipment.id, NdrAction.ndr_at >= Shipment.tracking_at)
    )


def action_required(*, now: datetime | None = None) -> list[NdrItem]:
    """Shipped orders with an unanswered NDR, the most urgent first."""
    now = now or utcnow()
    rows = db.session.execute(
        select(Shipment, Order)
        .join(Order, Order.id == Shipment.order_pk)
        .where(
            Order.status == OrderStatus.SHIPPED.value,
            Shipment.awb.is_not(None),
            Shipment.tracking_at.is_not(None),
            _is_ndr_status(),
            ~_answered(),
        )
        .order_by(Shipment.tracking_at, Shipment.id)
    ).all()
    reasons = _reasons([sh.id for sh, _ in rows])
    items = []
    for sh, order in rows:
        deadline = sh.tracking_at + DEADLINE
        items.append(
            NdrItem(
                order_id=order.order_id,
                order_pk=order.id,
                shipment_id=sh.id,
                awb=sh.awb,
                courier=sh.courier_name,
                status=sh.tracking_status or "",
                reason=reasons.get(sh.id) or (sh.tracking_status or "Undelivered").title(),
                ndr_at=sh.tracking_at,
                deadline=deadline,
                seconds_left=int((deadline - now).total_seconds()),
                phone=order.customer_phone,
                address1=order.ship_line1,
                address2=order.ship_line2,
            )
        )
    return items


def _reasons(shipment_ids: list[int]) -> dict[int, str]:
    """The activity of each shipment's latest undelivered scan (prefix "Undelivered - " cut)."""
    if not shipment_ids:
        return {}
    status = func.upper(TrackingEvent.status)
    events = db.session.execute(
        select(TrackingEvent.shipment_id, TrackingEvent.activity)
        .where(
            TrackingEvent.shipment_id.in_(shipment_ids),
            TrackingEvent.activity.is_not(None),
            TrackingEvent.activity != "",
            or_(
                TrackingEvent.status_id == UNDELIVERED,
                *(status.contains(word) for word in NDR_WORDS),
            ),
        )
        .order_by(TrackingEvent.occurred_at, TrackingEvent.id)
    ).all()
    latest: dict[int, str] = {}
    for shipment_id, activity in events:
        latest[shipment_id] = _plain_reason(activity)
    return latest


def _plain_reason(activity: str) -> str:
    text = activity.strip()
    head, sep, tail = text.partition(" - ")
    if sep and head.strip().upper() in NDR_WORDS and tail.strip():
        return tail.strip()
    return text


def take_ndr_action(
    order_id: str,
    action: str,
    *,
    actor: str,
    phone: str | None = None,
    address1: str | None = None,
    address2: str | None = None,
    date: date | str | None = None,
    comments: str | None,
) -> NdrAction:
    """Answers the order's pending NDR at Shiprocket: "reattempt" or "rto". Audited; commits.

    Refused by Shiprocket → NdrActionRefused (audited, nothing else recorded); no answer →
    NdrActionUnconfirmed (audited). Invalid input → InvalidInput; flag off → FeatureDisabled.
    """
    require_enabled()
    if action not in ACTIONS:
        raise InvalidInput("unknown NDR action", {"action": ["must be reattempt or rto"]})
    sent = _validated(action, phone, address1, address2, date, comments, actor)
    order = get_order(order_id)
    sh = _pending_shipment(order)
    ndr = {"status": sh.tracking_status, "at": sh.tracking_at.isoformat()}
    try:
        shiprocket().ndr_action(
            sh.awb,
            ACTIONS[action],
            comments=sent["comments"],
            phone=sent.get("phone"),
            address1=sent.get("address1"),
            address2=sent.get("address2"),
            deferred_date=sent.get("deferred_date"),
        )
    except PermanentShiprocketError as exc:
        _audit_failure(order_id, action, actor, sh.awb, ndr, sent, exc, outcome="refused")
        raise NdrActionRefused(order_id, action, exc.message) from None
    except RetryableShiprocketError as exc:
        outcome = "unconfirmed" if exc.ambiguous else "failed"
        _audit_failure(order_id, action, actor, sh.awb, ndr, sent, exc, outcome=outcome)
        raise NdrActionUnconfirmed(order_id, action, exc.message, ambiguous=exc.ambiguous) from None

    row = NdrAction(
        shipment_id=sh.id,
        order_pk=order.id,
        awb=sh.awb,
        ndr_at=sh.tracking_at,
        action=action,
        actor=actor,
        details=sent,
    )
    db.session.add(row)
    record_audit(
        actor=actor,
        action=f"ndr.{action}",
        entity_type="order",
        entity_id=order_id,
        details={
            "awb": sh.awb,
            "ndr": ndr,
            "sent": {"action": ACTIONS[action], **sent},
            "shiprocket": "accepted",
        },
    )
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise NoPendingNdr(order_id, "someone else answered it a moment ago") from None
    log.info("ndr %s for %s (AWB %s) accepted by Shiprocket", action, order_id, sh.awb)
    return row


def _pending_shipment(order: Order) -> Shipment:
    if order.status != OrderStatus.SHIPPED:
        raise NoPendingNdr(order.order_id, f"the order is {order.status}")
    sh = order.shipment
    if sh is None or not sh.awb or sh.tracking_at is None:
        raise NoPendingNdr(order.order_id, "no tracked shipment")
    is_ndr = sh.tracking_status_id == UNDELIVERED or any(
        w in (sh.tracking_status or "").upper() for w in NDR_WORDS
    )
    if not is_ndr:
        raise NoPendingNdr(order.order_id, f"the shipment is {sh.tracking_status}")
    answered = db.session.execute(
        select(NdrAction.id).where(
            NdrAction.shipment_id == sh.id, NdrAction.ndr_at >= sh.tracking_at
        )
    ).first()
    if answered is not None:
        raise NoPendingNdr(order.order_id, "it was already answered")
    return sh


def _validated(
    action: str,
    phone: str | None,
    address1: str | None,
    address2: str | None,
    when: date | str | None,
    comments: str | None,
    actor: str,
) -> dict[str, Any]:
    """What to send Shiprocket (our snake_case keys), or InvalidInput with every problem."""
    fields: dict[str, list[str]] = {}
    sent: dict[str, Any] = {}
    phone, address1, address2 = (_blank_none(v) for v in (phone, address1, address2))
    text = when.isoformat() if isinstance(when, date) else _blank_none(when)
    if action == "rto":
        for name, value in (("phone", phone), ("address1", address1), ("address2", address2)):
            if value is not None:
                fields[name] = ["only a re-attempt takes corrections"]
        if text is not None:
            fields["date"] = ["only a re-attempt takes a date"]
    if action == "reattempt":
        if phone is not None:
            normal = normalise_phone(phone)
            if normal is None:
                fields["phone"] = ["must be a 10-digit Indian mobile number"]
            sent["phone"] = normal
        for name, value in (("address1", address1), ("address2", address2)):
            if value is not None and len(value) > MAX_ADDRESS_LINE:
                fields[name] = [f"must be at most {MAX_ADDRESS_LINE} characters"]
            if value is not None:
                sent[name] = value
        if address2 is not None and address1 is None:
            fields["address1"] = ["is required with address line 2"]
        if text is not None:
            problem = _date_problem(text)
            if problem:
                fields["date"] = [problem]
            sent["deferred_date"] = text
    note = _blank_none(comments) or _default_comment(action, sent, actor)
    if len(note) > MAX_COMMENTS:
        fields["comments"] = [f"must be at most {MAX_COMMENTS} characters"]
    if fields:
        raise InvalidInput("the NDR action is invalid", fields)
    return {"comments": note, **sent}


def _date_problem(text: str) -> str | None:
    try:
        wanted = datetime.strptime(text, "%Y-%m-%d").date()  # noqa: DTZ007 - a calendar date
    except ValueError:
        return "must be a date like 2026-11-30"
    today = datetime.now(IST).date()
    if wanted < today:
        return "must not be in the past"
    if wanted > today + timedelta(days=MAX_DEFER_DAYS):
        return f"must be within {MAX_DEFER_DAYS} days"
    return None


def _default_comment(action: str, sent: dict[str, Any], actor: str) -> str:
    if action == "rto":
        return f"Return to origin requested by {actor}"
    names = {"phone": "phone", "address1": "address", "deferred_date": "date"}
    changes = [label for key, label in names.items() if key in sent]
    extra = f" with corrected {', '.join(changes)}" if changes else ""
    return f"Re-attempt requested by {actor}{extra}"[:MAX_COMMENTS]


def _blank_none(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _audit_failure(
    order_id: str,
    action: str,
    actor: str,
    awb: str,
    ndr: dict[str, Any],
    sent: dict[str, Any],
    exc: PermanentShiprocketError | RetryableShiprocketError,
    *,
    outcome: str,
) -> None:
    db.session.rollback()
    record_audit(
        actor=actor,
        action=f"ndr.{action}_{outcome}",
        entity_type="order",
        entity_id=order_id,
        details={
            "awb": awb,
            "ndr": ndr,
            "sent": {"action": ACTIONS[action], **sent},
            "shiprocket": exc.message,
            "status_code": exc.status_code,
        },
    )
    db.session.commit()
