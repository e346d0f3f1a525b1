"""Small request/response helpers shared by the sandbox's blueprints (Laravel/Dingo envelopes)."""

from __future__ import annotations

import socket
from typing import Any

from flask import Response, current_app, jsonify, request

from fulfilment.shiprocket.sandbox_state import SandboxState

V1 = "/v1/external"
EXTENSION = "shiprocket_sandbox"


def state() -> SandboxState:
    return current_app.extensions[EXTENSION]


def body() -> dict[str, Any]:
    """The JSON body as a dict (also on a GET; {} when absent, malformed or not an object)."""
    data = request.get_json(force=True, silent=True)
    return data if isinstance(data, dict) else {}


def fail(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    """`{"message", "status_code"}` with that HTTP status."""
    return jsonify({"message": message, "status_code": status, **extra}), status


def invalid(errors: dict[str, list[str]], message: str = "Oops! Invalid Data.") -> tuple:
    """422 `{"message", "errors", "status_code": 422}`."""
    return jsonify({"message": message, "errors": errors, "status_code": 422}), 422


def too_many(retry_after: int | float) -> Response:
    response = jsonify({"message": "You have exceeded the API call rate limit", "status_code": 429})
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response


def server_error() -> tuple[Response, int]:
    return fail(500, "Internal server error.")


def refused(reason: str) -> Response:
    """assign/awb refusal delivered inside HTTP 200."""
    return jsonify({"awb_assign_status": 0, "response": {"data": {"awb_assign_error": reason}}})


def empty(status: int) -> Response:
    return Response(b"", status=status)


def drop_connection() -> None:
    """Shut the client's socket so it sees the connection closed without an answer.

    werkzeug's dev server exposes the socket as environ["werkzeug.socket"]; writing the response
    afterwards fails with a ConnectionError that werkzeug treats as a dropped connection.
    """
    sock = request.environ.get("werkzeug.socket")
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
