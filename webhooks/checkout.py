"""POST /webhooks/checkout: signed OrderPlaced events from checkout (contract §2).

Order of work: size limit → Standard Webhooks signature on the raw bytes (5-minute window)
→ content type → JSON → schema → one transaction → answer. 2xx only after the commit.
"""

from __future__ import annotations

import functools
import logging

from flask import Response, current_app, request
from sqlalchemy.exc import SQLAlchemyError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from fulfilment.logs import current_order_id
from fulfilment.schemas import OrderPlacedSchema
from fulfilment.services.intake import record_order_placed
from webhooks import bp
from webhooks.responses import answer, load_payload, read_body

log = logging.getLogger(__name__)
_schema = OrderPlacedSchema()
# The only headers the verifier reads (it lower-cases names; a missing one fails verification).
_SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


@functools.lru_cache(maxsize=4)
def _verifier(secret: str) -> Webhook:
    """One verifier per secret: it base64-decodes the secret once, not per request."""
    return Webhook(secret)


@bp.post("/checkout")
def checkout() -> tuple[Response, int]:
    raw, refused = read_body()
    if refused:
        return refused

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return answer(400, error="invalid_body", detail="body must be UTF-8 JSON")

    try:
        _verifier(current_app.config["CHECKOUT_WEBHOOK_SECRET"]).verify(
            text, {name: request.headers.get(name) for name in _SIGNATURE_HEADERS}, json_parse=False
        )
    except (WebhookVerificationError, ValueError, TypeError) as exc:
        log.info("checkout webhook refused: %s", exc)
        return answer(401, error="invalid_signature")

    if request.mimetype != "application/json":
        return answer(415, error="unsupported_media_type", detail="send application/json")
    event, refused = load_payload(text, _schema)
    if refused:
        return refused

    current_order_id.set(event.order.order_id)
    try:
        result = record_order_placed(event)
    except SQLAlchemyError:
        log.exception("database unavailable while storing order %s", event.order.order_id)
        return answer(503, error="unavailable")

    if result.outcome == "accepted":
        return answer(202, status="accepted", order_id=result.order_id)
    if result.outcome == "duplicate":
        return answer(200, status="duplicate", order_id=result.order_id)
    return answer(409, error="conflict", order_id=result.order_id, detail=result.detail)
