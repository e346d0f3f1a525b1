"""The sandbox's request pipeline (call log, latency, auth, injected faults) and its control API
under /_sandbox (no auth). See the table in fulfilment/shiprocket/sandbox.py."""

from __future__ import annotations

import time
from typing import Any

import requests
from flask import Blueprint, Response, g, jsonify, request

from fulfilment.shiprocket.sandbox_http import (
    V1,
    body,
    drop_connection,
    fail,
    invalid,
    refused,
    server_error,
    state,
    too_many,
)
from fulfilment.shiprocket.sandbox_rules import blank, number
from fulfilment.shiprocket.sandbox_shipping import COURIER_ISSUES
from fulfilment.shiprocket.sandbox_state import SandboxState, to_int
from fulfilment.shiprocket.sandbox_tracking import STATUSES, add_scan, normalize_status
from fulfilment.shiprocket.sandbox_tracking import webhook_payload as build_payload

FAULT_KINDS = ("500", "429", "timeout", "hang", "drop", "drop_after", "refuse")
ASSIGN_PATH = f"{V1}/courier/assign/awb"
CREATE_ENDPOINT = "sandbox_v1.create_order"
LOGIN_ENDPOINT = "sandbox_v1.login"
DEFAULT_DELAY = {"timeout": 5.0, "hang": 5.0}

bp = Blueprint("sandbox_control", __name__, url_prefix="/_sandbox")


# -- pipeline for /v1/external ---------------------------------------------------------------
def before_v1() -> Any:
    """Log the call, sleep the latency, check the token, apply an injected fault."""
    if not request.path.startswith(V1):
        return None
    s = state()
    g.sandbox_call = s.record_call(request.method, request.path)
    latency = s.config["latency_ms"]
    if latency > 0:
        time.sleep(latency / 1000)
    if request.url_rule is None:
        return None  # 404 / 405 in Dingo's envelope, from the error handler
    if request.endpoint != LOGIN_ENDPOINT:
        denied = check_token(s)
        if denied is not None:
            return denied
    if request.endpoint == CREATE_ENDPOINT:
        count_create(s)
    return apply_fault(s.take_fault(request.method, request.path))


def check_token(s: SandboxState) -> Any:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return fail(401, "Token not provided")
    if not s.token_valid(token.strip()):
        return fail(401, "Token has expired")
    return None


def count_create(s: SandboxState) -> None:
    channel_order_id = str(body().get("order_id") or "").strip()
    if channel_order_id:
        with s.lock:
            s.creates[channel_order_id] += 1


def apply_fault(fault: dict[str, Any] | None) -> Any:
    """The early answer of an injected fault, or None to let the route run."""
    if fault is None:
        return None
    kind, delay = fault["kind"], fault["delay_s"]
    if kind == "500":
        return server_error()
    if kind == "429":
        return too_many(fault["retry_after"])
    if kind == "refuse":
        return refused(COURIER_ISSUES)
    if kind == "hang":
        time.sleep(delay)
    elif kind == "timeout":
        g.sandbox_sleep_after = delay
    elif kind == "drop":
        time.sleep(delay)
        drop_connection()
        g.sandbox_dropped = True
        return server_error()  # never reaches the client: its socket is shut
    elif kind == "drop_after":
        g.sandbox_sleep_after, g.sandbox_drop_after = delay, True
    return None


def after_v1(response: Response) -> Response:
    """Delay (timeout faults), drop (drop_after faults) and log the final status."""
    call = g.get("sandbox_call")
    if call is None:
        return response
    if g.get("sandbox_sleep_after"):
        time.sleep(g.sandbox_sleep_after)
    if g.get("sandbox_drop_after"):
        drop_connection()
        g.sandbox_dropped = True
    with state().lock:
        call["status"] = None if g.get("sandbox_dropped") else response.status_code
    return response


# -- control API -----------------------------------------------------------------------------
@bp.get("/state")
def get_state():
    return jsonify(state().snapshot())


@bp.post("/reset")
def reset():
    state().reset()
    return jsonify({"reset": True})


@bp.get("/faults")
def list_faults():
    s = state()
    with s.lock:
        return jsonify({"faults": [dict(f) for f in s.faults]})


@bp.post("/faults")
def add_fault():
    fault, errors = parse_fault(body())
    if errors:
        return invalid(errors)
    s = state()
    s.add_fault(fault)
    with s.lock:
        return jsonify({"fault": fault, "faults": [dict(f) for f in s.faults]}), 201


@bp.delete("/faults")
def clear_faults():
    s = state()
    with s.lock:
        s.faults.clear()
    return jsonify({"faults": []})


def parse_fault(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    path = full_path(str(data.get("path") or ""))
    kind = str(data.get("kind") or "")
    times = to_int(data.get("times", 1))
    if not path:
        errors["path"] = ["The path field is required."]
    if kind not in FAULT_KINDS:
        errors["kind"] = [f"The kind must be one of {', '.join(FAULT_KINDS)}."]
    elif kind == "refuse" and path != ASSIGN_PATH:
        errors["kind"] = [f"refuse applies to {ASSIGN_PATH} only."]
    if times is None or times < 1:
        errors["times"] = ["The times must be an integer of at least 1."]
    fault = {
        "path": path,
        "method": str(data["method"]).upper() if not blank(data.get("method")) else None,
        "kind": kind,
        "times": times,
        "retry_after": _seconds(data.get("retry_after"), 1),
        "delay_s": _seconds(data.get("delay_s"), DEFAULT_DELAY.get(kind, 0.0)),
    }
    return fault, errors


def full_path(path: str) -> str:
    """'/v1/external/x', '/x' and 'x' all mean /v1/external/x; no trailing slash."""
    path = path.strip()
    if not path:
        return ""
    if not path.startswith(V1):
        path = f"{V1}/{path.lstrip('/')}"
    return path.rstrip("/")


def _seconds(value: Any, default: float) -> Any:
    n = number(value)
    if n is None or n < 0:
        return default
    return int(n) if n == int(n) else n


@bp.post("/expire-tokens")
def expire_tokens():
    return jsonify({"expired": state().expire_tokens()})


@bp.route("/config", methods=["GET", "POST"])
def config():
    s, data = state(), body()
    with s.lock:
        if "latency_ms" in data:
            s.config["latency_ms"] = max(0, int(number(data["latency_ms"]) or 0))
        if "reject_logins" in data:
            s.config["reject_logins"] = bool(data["reject_logins"])
        return jsonify(dict(s.config))


@bp.post("/shipments/<shipment_id>/status")
def move_shipment(shipment_id: str):
    s, data = state(), body()
    key = normalize_status(data.get("status"))
    if key is None:
        return invalid({"status": [f"The status must be one of: {', '.join(STATUSES)}."]})
    with s.lock:
        o = s.order_by_shipment(shipment_id)
        if o is None:
            return fail(404, "Unknown shipment id")
        if not o["awb"] or o["cancelled"]:
            return fail(409, "The shipment has no live AWB (none assigned, or cancelled)")
        scan = add_scan(o, STATUSES[key])
        answer = {
            "shipment_id": o["shipment_id"],
            "awb": o["awb"],
            "status": o["status"],
            "status_code": o["status_code"],
            "shipment_status": o["shipment_status"],
            "picked_up": o["picked_up"],
            "scan": scan,
        }
    return jsonify(answer)


@bp.post("/push-tracking")
def push_tracking():
    s, data = state(), body()
    if blank(data.get("url")):
        return invalid({"url": ["The url field is required."]})
    with s.lock:
        o = s.order_by_awb(data.get("awb")) or s.order_by_shipment(data.get("shipment_id"))
        if o is None:
            return fail(404, "Unknown awb")
        payload = build_payload(o)
    headers = {} if blank(data.get("token")) else {"x-api-key": str(data["token"])}
    try:
        answer = requests.post(str(data["url"]), json=payload, headers=headers, timeout=10)
    except requests.RequestException as exc:
        return jsonify({"status_code": None, "error": str(exc), "payload": payload}), 502
    return jsonify({"status_code": answer.status_code, "payload": payload})
