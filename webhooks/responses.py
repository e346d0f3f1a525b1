"""What the webhook routes share: JSON answers, the size-limited body, the JSON-object payload."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, current_app, jsonify, request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from fulfilment.schemas import flatten_errors

Answer = tuple[Response, int]


def answer(http_status: int, /, **body: Any) -> Answer:
    return jsonify(body), http_status


def read_body() -> tuple[bytes, None] | tuple[None, Answer]:
    """The raw body, or a 413 answer when it exceeds WEBHOOK_MAX_BYTES (chunked bodies too)."""
    limit = current_app.config["WEBHOOK_MAX_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        return None, answer(413, error="payload_too_large")
    # A chunked body has no Content-Length: read at most one byte past the limit to know.
    request.max_content_length = limit + 1
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        return None, answer(413, error="payload_too_large")
    if len(raw) > limit:
        return None, answer(413, error="payload_too_large")
    return raw, None


def load_payload(body: str | bytes, schema: Schema) -> tuple[Any, None] | tuple[None, Answer]:
    """The schema's result for a JSON object body, or the 400/422 answer saying what is wrong."""
    try:
        document = json.loads(body)
    except ValueError:
        return None, answer(400, error="invalid_json", detail="body is not valid JSON")
    if not isinstance(document, dict):
        return None, answer(
            422, error="validation_failed", fields={"_body": ["must be a JSON object"]}
        )
    try:
        return schema.load(document), None
    except ValidationError as exc:
        return None, answer(422, error="validation_failed", fields=flatten_errors(exc.messages))
