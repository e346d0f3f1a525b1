"""JSON API under /api/v1 (contract §6), authenticated by per-user bearer tokens."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import HTTPException

from fulfilment.api_schemas import (
    BatchIn,
    CancelIn,
    CourierOptionOut,
    NoteIn,
    OrderListArgs,
    OrderOut,
    OrderSummaryOut,
    ShipmentRequestIn,
)
from fulfilment.auth import current_actor
from fulfilment.errors import (
    ConcurrentUpdate,
    DomainError,
    FeatureDisabled,
    InvalidInput,
    InvalidTransition,
    OrderNotFound,
)
from fulfilment.openapi import openapi_spec
from fulfilment.schemas import AddressSchema, flatten_errors
from fulfilment.services.batches import BatchNotFound, batch_progress, create_batch
from fulfilment.services.orders import add_note, get_order, list_orders, process_order
from fulfilment.services.shipments import (
    CancellationRefused,
    ShipmentBusy,
    cancel_order,
    courier_quote,
    request_shipment,
    update_shipping_address,
)
from fulfilment.services.users import user_for_token
from fulfilment.shiprocket.types import RetryableShiprocketError, ShiprocketError

bp = Blueprint("api", __name__, url_prefix="/api/v1")
_order_out = OrderOut()

# Minimum role per HTTP method: reading is for everyone with a token, acting needs ops.
_ROLE_FOR_METHOD = {"GET": "viewer", "HEAD": "viewer"}


def _error(status: int, error: str, **extra: Any) -> tuple[Response, int]:
    return jsonify({"error": error, **extra}), status


@bp.before_request
def authenticate_bearer() -> tuple[Response, int] | None:
    if "\x00" in request.path or any("\x00" in v for v in request.args.values()):
        return _error(
            422, "validation_failed", fields={"_path": ["must not contain NUL characters"]}
        )
    if request.endpoint == "api.openapi_document":
        return None  # the API's description is public; every operation still needs a token
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
    if isinstance(exc, OrderNotFound | BatchNotFound):
        return _error(404, "not_found", detail=str(exc))
    if isinstance(exc, FeatureDisabled):
        return _error(403, "feature_disabled", detail=str(exc))
    if isinstance(exc, InvalidTransition):
        return _error(409, "invalid_transition", detail=str(exc), current_status=exc.current)
    if isinstance(exc, ConcurrentUpdate | ShipmentBusy):
        return _error(409, exc.code, detail=str(exc))
    if isinstance(exc, CancellationRefused):
        return _error(409, "shiprocket_refused", detail=exc.reason)
    if isinstance(exc, InvalidInput):
        return _error(422, "validation_failed", detail=str(exc), fields=exc.fields)
    return _error(400, exc.code, detail=str(exc))


@bp.errorhandler(ShiprocketError)
def shiprocket_error(exc: ShiprocketError) -> tuple[Response, int]:
    if isinstance(exc, RetryableShiprocketError):
        return _error(503, "shiprocket_unavailable", detail=exc.message)
    return _error(422, "shiprocket_error", detail=exc.message)


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> tuple[Response, int]:
    return _error(exc.code or 400, (exc.name or "error").lower().replace(" ", "_"))


@bp.get("/orders")
def order_list() -> Response:
    try:
        args = OrderListArgs().load(request.args.to_dict())
    except ValidationError as exc:
        raise InvalidInput("invalid query", flatten_errors(exc.messages)) from None
    page = list_orders(
        status=args["status"],
        q=args["q"],
        updated_since=args["updated_since"],
        limit=args["limit"],
        cursor=args["cursor"],
    )
    return jsonify(
        orders=OrderSummaryOut(many=True).dump(page.orders), next_cursor=page.next_cursor
    )


@bp.get("/openapi.json")
def openapi_document() -> Response:
    return jsonify(openapi_spec())


@bp.get("/orders/<order_id>")
def order_detail(order_id: str) -> Response:
    return jsonify(_order_out.dump(get_order(order_id, full=True)))


@bp.post("/orders/<order_id>/process")
def order_process(order_id: str) -> Response:
    order = process_order(order_id, actor=current_actor())
    return jsonify(_order_out.dump(get_order(order.order_id, full=True)))


def _load(schema: Schema) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None and request.get_data():
        raise InvalidInput("body is not JSON", {"_body": ["send a JSON object"]})
    try:
        return schema.load(body or {})
    except ValidationError as exc:
        raise InvalidInput("invalid request", flatten_errors(exc.messages)) from None


@bp.get("/orders/<order_id>/couriers")
def order_couriers(order_id: str) -> Response:
    quote = courier_quote(order_id)
    options = []
    for option in quote.options:
        doc = CourierOptionOut().dump(option)
        doc["recommended"] = option.courier_id == quote.recommended_id
        doc["automatic_choice"] = option.courier_id == quote.chosen_id
        options.append(doc)
    return jsonify(
        order_id=order_id,
        rule=quote.rule,
        automatic_choice=quote.chosen_id,
        reason=quote.reason,
        options=options,
    )


@bp.post("/orders/<order_id>/shipments")
def order_ship(order_id: str) -> tuple[Response, int]:
    data = _load(ShipmentRequestIn())
    req = request_shipment(order_id, actor=current_actor(), courier_id=data["courier_id"])
    return jsonify(job_id=req.job_id, shipment_id=req.shipment_id, order_id=order_id), 202


@bp.post("/orders/<order_id>/cancel")
def order_cancel(order_id: str) -> Response:
    data = _load(CancelIn())
    cancel_order(
        order_id,
        actor=current_actor(),
        reason=data["reason"],
        confirmed_by_hand=data["confirmed_by_hand"],
    )
    return jsonify(_order_out.dump(get_order(order_id, full=True)))


@bp.post("/orders/<order_id>/address")
def order_address(order_id: str) -> Response:
    address = _load(AddressSchema())
    update_shipping_address(order_id, address, actor=current_actor())
    return jsonify(_order_out.dump(get_order(order_id, full=True)))


@bp.post("/orders/<order_id>/notes")
def order_note(order_id: str) -> tuple[Response, int]:
    data = _load(NoteIn())
    add_note(order_id, data["body"], author=current_actor())
    return jsonify(_order_out.dump(get_order(order_id, full=True))), 201


@bp.post("/batches")
def batch_create() -> tuple[Response, int]:
    data = _load(BatchIn())
    batch = create_batch(
        data["order_ids"], actor=current_actor(), courier_rule=data["courier_rule"]
    )
    return jsonify(batch_id=batch.id), 202


@bp.get("/batches/<int:batch_id>")
def batch_detail(batch_id: int) -> Response:
    return jsonify(batch_progress(batch_id).as_dict())
