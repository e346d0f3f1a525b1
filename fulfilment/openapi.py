"""The OpenAPI document of /api/v1, generated from the same marshmallow schemas the API uses."""

from __future__ import annotations

from functools import cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from fulfilment.api_schemas import (
    BatchCreatedOut,
    BatchIn,
    BatchOut,
    CancelIn,
    CouriersOut,
    ErrorOut,
    JobOut,
    NoteIn,
    OrderListArgs,
    OrderListOut,
    OrderOut,
    ShipmentRequestIn,
)
from fulfilment.schemas import AddressSchema

ORDER_ID = {
    "name": "order_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
}
BATCH_ID = {"name": "batch_id", "in": "path", "required": True, "schema": {"type": "integer"}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        401: "no or bad bearer token",
        403: "role or feature flag forbids",
        404: "unknown order or batch",
        409: "not allowed from the current status, changed concurrently, or refused by Shiprocket",
        422: "invalid input (field by field) or refused by Shiprocket",
        503: "database or Shiprocket unavailable",
    }
    return {
        str(c): {"description": text[c], "content": {"application/json": {"schema": "ErrorOut"}}}
        for c in codes
    }


def _ok(code: int, schema: str, text: str) -> dict[str, Any]:
    return {str(code): {"description": text, "content": {"application/json": {"schema": schema}}}}


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


READ = (401, 403, 404, 503)
ACT = (401, 403, 404, 409, 422, 503)


@cache
def openapi_spec() -> dict[str, Any]:
    spec = APISpec(
        title="fulfilment",
        version="1",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "Orders, shipments and batches (contract §6)."},
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name, schema in {
        "OrderOut": OrderOut,
        "OrderListOut": OrderListOut,
        "ErrorOut": ErrorOut,
        "JobOut": JobOut,
        "BatchIn": BatchIn,
        "BatchOut": BatchOut,
        "BatchCreatedOut": BatchCreatedOut,
        "CancelIn": CancelIn,
        "NoteIn": NoteIn,
        "ShipmentRequestIn": ShipmentRequestIn,
        "AddressIn": AddressSchema,
        "CouriersOut": CouriersOut,
    }.items():
        spec.components.schema(name, schema=schema)
    secured = [{"bearer": []}]
    spec.path(
        path="/api/v1/orders",
        operations={
            "get": {
                "summary": "Orders, newest first, cursor-paginated",
                "security": secured,
                "parameters": [{"in": "query", "schema": OrderListArgs}],
                "responses": {
                    **_ok(200, "OrderListOut", "a page of orders"),
                    **_errors(401, 403, 422, 503),
                },
            }
        },
    )
    spec.path(
        path="/api/v1/orders/{order_id}",
        operations={
            "get": {
                "summary": "One order with history, shipment, tracking and notes",
                "security": secured,
                "parameters": [ORDER_ID],
                "responses": {**_ok(200, "OrderOut", "the order"), **_errors(*READ)},
            }
        },
    )
    actions = {
        "process": ("Mark as processing", None, 200, "OrderOut"),
        "cancel": (
            "Cancel (in Shiprocket first, if it has the order)",
            "CancelIn",
            200,
            "OrderOut",
        ),
        "shipments": ("Queue shipment generation", "ShipmentRequestIn", 202, "JobOut"),
        "address": ("Correct the shipping address", "AddressIn", 200, "OrderOut"),
        "notes": ("Add an internal note", "NoteIn", 201, "OrderOut"),
    }
    for name, (summary, body, code, out) in actions.items():
        operation: dict[str, Any] = {
            "summary": summary,
            "security": secured,
            "parameters": [ORDER_ID],
            "responses": {**_ok(code, out, "done"), **_errors(*ACT)},
        }
        if body:
            operation["requestBody"] = _body(body)
        spec.path(path=f"/api/v1/orders/{{order_id}}/{name}", operations={"post": operation})
    spec.path(
        path="/api/v1/orders/{order_id}/couriers",
        operations={
            "get": {
                "summary": "Shiprocket's courier options with the automatic choice marked",
                "security": secured,
                "parameters": [ORDER_ID],
                "responses": {**_ok(200, "CouriersOut", "options"), **_errors(*ACT)},
            }
        },
    )
    spec.path(
        path="/api/v1/batches",
        operations={
            "post": {
                "summary": "Shipments for many orders",
                "security": secured,
                "requestBody": _body("BatchIn"),
                "responses": {**_ok(202, "BatchCreatedOut", "queued"), **_errors(*ACT)},
            }
        },
    )
    spec.path(
        path="/api/v1/batches/{batch_id}",
        operations={
            "get": {
                "summary": "Batch progress and failures",
                "security": secured,
                "parameters": [BATCH_ID],
                "responses": {**_ok(200, "BatchOut", "progress"), **_errors(*READ)},
            }
        },
    )
    return spec.to_dict()
