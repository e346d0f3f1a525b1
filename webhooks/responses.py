"""JSON answers shared by the webhook routes."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify


def answer(http_status: int, /, **body: Any) -> tuple[Response, int]:
    return jsonify(body), http_status
