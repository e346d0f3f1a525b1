"""JSON API under /api/v1 (contract §6), authenticated by per-user bearer tokens."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from fulfilment.api_schemas import OrderOut
from fulfilment.auth import current_actor
from fulfilment.errors import (
    ConcurrentUpdate,
    DomainError,
    FeatureDisabled,
    InvalidInput,
    InvalidTransition,
    OrderNotFound,
)
from fulfilment.services.orders import get_order, process_order
from fulfilment.services.users import user_for_token

bp = Blueprint("api", __name__, url_prefix="/api/v1")
_order_out = OrderOut()

# Minimum role per HTTP method: reading is for everyone with a token, acting needs ops.
_ROLE_FOR_METHOD = {"GET": "viewer", "HEAD": "viewer"}


def _error(status: int, error: str, **extra: Any) -> tuple[Response, int]:
    return jsonify({"error": error, **extra}), status


@bp.before_request
def authenticate_bearer() -> tuple[Response, int] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    user = user_for_token(token.strip()) if scheme.lower() == "bearer" and token else None
    if user is None:
        return _error(401, "unauthorized", detail="send Authorization: Bearer <token>")
    needed = _ROLE_FOR_METHOD.get(request.method, "ops")
    if not user.has_role(needed):
        return _error(403, "forbidden", detail=f"needs the {needed} role")
    g.api_user = user
    return None


@bp.errorhandler(DomainError)
def domain_error(exc: DomainError) -> tuple[Response, int]:
    if isinstance(exc, OrderNotFound):
        return _error(404, "not_found", detail=str(exc))
    if isinstance(exc, FeatureDisabled):
        return _error(403, "feature_disabled", detail=str(exc))
    if isinstance(exc, InvalidTransition):
        return _error(409, "invalid_transition", detail=str(exc), current_status=exc.current)
    if isinstance(exc, ConcurrentUpdate):
        return _error(409, "conflict", detail=str(exc))
    if isinstance(exc, InvalidInput):
        return _error(422, "validation_failed", detail=str(exc), fields=exc.fields)
    return _error(400, exc.code, detail=str(exc))


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> tuple[Response, int]:
    return _error(exc.code or 400, (exc.name or "error").lower().replace(" ", "_"))


@bp.get("/orders/<order_id>")
def order_detail(order_id: str) -> Response:
    return jsonify(_order_out.dump(get_order(order_id, full=True)))


@bp.post("/orders/<order_id>/process")
def order_process(order_id: str) -> Response:
    order = process_order(order_id, actor=current_actor())
    return jsonify(_order_out.dump(get_order(order.order_id, full=True)))
