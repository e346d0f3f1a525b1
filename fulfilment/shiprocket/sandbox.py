"""Built-in Shiprocket SANDBOX: an HTTP server that speaks Shiprocket's external API.

Real paths (under /v1/external), request validation, Laravel/Dingo envelopes and the quirks of
/work/shared/spec/shiprocket/NOTES.md, with deterministic fault triggers and a control API. All
state is in memory, per app instance, guarded by one lock. Nothing here imports the rest of
fulfilment.

    create_sandbox_app(*, latency_ms=0) -> Flask         # the WSGI app alone
    SandboxServer(host="127.0.0.1", port=0, *, latency_ms=0).start() / .stop() / .url
    python -m fulfilment.shiprocket.sandbox --port 8765 [--latency-ms 150]

Code map: sandbox_orders.py (login, orders, addresses, pickup locations), sandbox_shipping.py
(serviceability, AWB, pickup, label, tracking, NDR, AWB cancellation, label PDFs),
sandbox_couriers.py (couriers and rate cards), sandbox_tracking.py (statuses, scans, webhook),
sandbox_rules.py (validation), sandbox_control.py (pipeline + /_sandbox), sandbox_state.py.

Endpoints (prefix /v1/external; every one but login needs `Authorization: Bearer <token>`)
=====================================================  ==========================================
POST /auth/login {email,password}                       200 {id,first_name,last_name,email,
                                                        company_id,created_at,token}; token = HS256
                                                        JWT, exp = iat + 864000; missing field ->
                                                        422; config reject_logins -> 400 "Invalid
                                                        email and password combination"
(any other path) no/ non-Bearer header                  401 "Token not provided"
(any other path) unknown, expired or expire-tokens'd    401 "Token has expired"
POST /orders/create/adhoc                               200 {order_id,shipment_id,status:"NEW",
                                                        status_code:1,onboarding_completed_now:0,
                                                        awb_code/courier_*: null}; 422 errors map
                                                        (fields of NOTES §2.1); bad channel_id ->
                                                        400; DUPLICATE order_id -> 200 echo of
                                                        the existing order (status, ids; awb_code
                                                        "" when cancelled or none) - never a
                                                        second order
GET  /orders?search=&page=&per_page=                    {data:[{id,channel_order_id,status,
                                                        status_code,shipments:[{id,awb,courier}]..}],
                                                        meta.pagination}; search = substring of the
                                                        channel order id, or exact sr id / AWB
GET  /orders/show/{id}                                  {data:{..., shipments:{...}}}; unknown ->
                                                        400 "Order ID not found"
GET  /courier/serviceability/ (query or JSON body)      pickup_postcode, delivery_postcode,
                                                        weight, cod - or order_id; 422 "Required
                                                        field missing";
                                                        unknown order_id -> 200 {status:404,..}
POST /courier/assign/awb {shipment_id,courier_id?,      200 awb_assign_status 1 + new numeric AWB
     status?:"reassign"}                                (default courier = recommended); 422 no
                                                        shipment_id; 400 "Invalid shipment id";
                                                        400 "order is in cancelled state."; 200
                                                        awb_assign_status 0 "AWB is already
                                                        assigned" / "Selected courier is not
                                                        serviceable for pincode N" / "No courier
                                                        serviceable for pincode N"; reassign: once,
                                                        before pickup,
                                                        else 400 "Oops! Cannot reassign courier..."
GET  /shipments/{id}                                    {data:{id,order_id,awb,courier,status,..}};
                                                        unknown -> 200 {}
POST /courier/generate/pickup {shipment_id:[id]}        200 pickup_status 1 (idempotent); unknown or
                                                        empty -> 400 "Invalid shipment id"; no AWB /
                                                        cancelled -> 400 with a message
POST /courier/generate/label {shipment_id:[ids]}        label_created 1 + label_url
                                                        <sandbox>/labels/<ids>.pdf (a real PDF, no
                                                        auth); non-array -> 422; none valid -> 200
                                                        label_created 0
GET  /courier/track/awb/{awb} (/track/shipment/{id})    tracking_data (activities newest first);
                                                        unknown -> 200 track_status 0 "Aahh! ..."
GET  /ndr/all?page=&per_page=                           {data:[{id,shipment_id,channel_order_id,
                                                        customer_name,reason,attempts,
                                                        ndr_raised_at,courier,awb_code,..}],
                                                        meta.pagination}: shipments UNDELIVERED now
GET  /ndr/{awb}                                         {data:[row]}; not in NDR -> 404 "No NDR
                                                        found for the AWB"
POST /ndr/{awb}/action {action:"re-attempt"|"return",   202 {"status":"Data Updated Sucessfully"}
     comments, phone?, address1?, address2?,            (sic); 422 errors map (phone 10 digits,
     deferred_date? "YYYY-MM-DD"}                       date today..+7 days); unknown AWB -> 404;
                                                        not UNDELIVERED -> 400 "Action can not be
                                                        taken as the shipment is not in NDR
                                                        state."; re-attempt -> OUT FOR DELIVERY
                                                        (phone/address lines replace the
                                                        delivery address's), return -> RTO
                                                        INITIATED; kept in state "ndr_actions"
POST /orders/cancel {ids:[sr order ids]}                204; no ids -> 422; not a list -> 500
                                                        foreach; unknown id -> 500 "Trying to get
                                                        property of non-object"; picked up -> 400
                                                        "Cannot cancel order: shipment is already
                                                        picked up / in transit"; order -> CANCELED
                                                        (5), shipment 8; repeat cancel -> 204
POST /orders/cancel/shipment/awbs {awbs:[...]}          200 {"message":"Bulk Shipment cancellation
                                                        is in progress. ..."}; the AWB is released
                                                        and the order goes back to NEW (AWB can be
                                                        assigned again); unknown AWBs ignored;
                                                        picked up -> 400 "Cannot cancel shipment:
                                                        it is already picked up / in transit"
POST /orders/address/update                             202 empty; unknown order -> 422
                                                        errors.order_id; missing fields -> 422
GET  /settings/company/pickup                           data.shipping_address: "Sandbox Warehouse"
                                                        (560001, primary), "Sandbox Delhi" (110020)
POST /settings/company/addpickup                        200 {success,address,pickup_id}; 422 errors
(unknown route) / (wrong method)                        404 {"message":"404 Not Found",..} / 405
=====================================================  ==========================================

Couriers (see sandbox_couriers.py): Ekart Logistics 48 (cheapest; not for delivery PINs 7xxxxx-
9xxxxx), Xpressbees 33 and Ecom Express Surface 14 (always the SAME rate), Delhivery Surface 43
(= recommended_courier_company_id: neither cheapest nor fastest), Blue Dart 1 (fastest, dearest).
Rates scale with 0.5 kg slabs and zone (z_a..z_e from the PINs); COD adds cod_charges.
Status flow: NEW(1) -> AWB: "READY TO SHIP"(3), shipment 1 -> pickup: "PICKUP SCHEDULED"(4),
shipment 3 + a scan -> control statuses (NOTES §5.1 / §5.2 ids) -> cancel: "CANCELED"(5), 8.

Deterministic DATA triggers (case-insensitive on the channel `order_id`)
=====================================================  ==========================================
delivery/shipping pincode 111111 (or pickup 111111)     serviceability 200 with an empty
                                                        available_courier_companies (and
                                                        recommended id null); assign/awb -> 200
                                                        awb_assign_status 0 "No courier ..."
delivery pincode 222222                                 every assign/awb -> 200 awb_assign_status 0
                                                        "Courier is facing some issues"
order_id contains SBX500                                create/adhoc -> 500 {"message":"Internal
                                                        server error.","status_code":500} the FIRST
                                                        time for that order id (nothing created)
order_id contains SBX500ALWAYS                          create/adhoc -> always that 500
order_id contains SBX429                                create/adhoc -> 429 + Retry-After: 1 the
                                                        first time (nothing created)
order_id contains SBXSLOW                               create/adhoc CREATES the order, then sleeps
                                                        3 s before answering (only on the call that
                                                        creates; the duplicate echo answers at once)
=====================================================  ==========================================
Triggers fire before validation (a first, invalid SBX500 call still uses up the 500).

Control API (no auth; not logged in "calls"; no latency)
=====================================================  ==========================================
GET  /_sandbox/state                                    {"orders":[{channel_order_id,sr_order_id,
                                                        shipment_id,status,status_code,
                                                        shipment_status,awb,courier_id,courier_name,
                                                        pickup_scheduled (date or null),label_url,
                                                        cancelled,picked_up,address{..},scans,..}],
                                                        "creates":{channel_order_id:n},
                                                        "awbs_assigned":{"<shipment_id>":n},
                                                        "logins":n,"calls":[{method,path,status,
                                                        at}],"ndr_actions":[{awb,shipment_id,
                                                        action,comments,phone,address1,address2,
                                                        deferred_date,at}],"faults":[..],
                                                        "config":{..}}
POST /_sandbox/reset                                    forget orders, counters, calls, NDR
                                                        actions, faults and
                                                        triggers' memory; config back to the
                                                        constructor's; issued tokens stay valid
POST /_sandbox/faults {path,kind,times=1,method?,       the next `times` matching calls fail (see
     retry_after=1,delay_s}                             below); 201 {fault,faults}; 422 if invalid
GET / DELETE /_sandbox/faults                           list / clear injected faults
POST /_sandbox/expire-tokens                            every token issued so far -> 401 "Token has
                                                        expired" from now on
GET|POST /_sandbox/config {latency_ms,reject_logins}    partial update; answers the config
POST /_sandbox/shipments/<id>/status {"status": ...}    adds a scan and moves the shipment on; 422
                                                        unknown status, 404 unknown shipment, 409 no
                                                        live AWB; from PICKED UP on, cancellation is
                                                        refused
POST /_sandbox/push-tracking {awb|shipment_id,url,      POSTs Shiprocket's webhook payload for the
     token?}                                            shipment's current state to url (header
                                                        x-api-key: token); 200 {"status_code":
                                                        <receiver's>, "payload"}; 502 with "error"
                                                        when the receiver is unreachable
=====================================================  ==========================================
Statuses for /_sandbox/shipments/<id>/status (shipment §5.1 id / order §5.2 id; * = picked up):
OUT FOR PICKUP 19/34, PICKUP EXCEPTION 20/35, PICKUP RESCHEDULED 15/13, PICKED UP* 42/51,
SHIPPED* 6/6, IN TRANSIT* 18/20, REACHED AT DESTINATION HUB* 38/43, OUT FOR DELIVERY* 17/19,
DELIVERED* 7/7, UNDELIVERED* 21/36, DELAYED* 22/37, RTO INITIATED* 9/15, RTO IN TRANSIT* 46/55,
RTO DELIVERED* 10/16, LOST* 12/33, DAMAGED* 25/40, DESTROYED* 24/39.

Fault kinds for POST /_sandbox/faults (path: "/v1/external/x", "/x" or "x"; trailing "/" ignored;
method optional = any; a fault is consumed only by calls that passed the token check)
=====================================================  ==========================================
"500"                                                   500 {"message":"Internal server error."}
                                                        without doing anything
"429"                                                   429 + Retry-After: retry_after (default 1),
                                                        without doing anything
"timeout"                                               does the work, then sleeps delay_s (default
                                                        5) before answering
"hang"                                                  sleeps delay_s (default 5) BEFORE the work
"drop"                                                  sleeps delay_s (default 0), then shuts the
                                                        socket: the client sees the connection
                                                        closed without an answer; nothing done
"drop_after"                                            does the work, sleeps delay_s (default 0),
                                                        then drops the connection (the ambiguous
                                                        case without a timeout)
"refuse" (assign/awb only)                              200 awb_assign_status 0 "Courier is facing
                                                        some issues", nothing done
=====================================================  ==========================================
Call log: every /v1 call (incl. 401/404), status null when dropped. "creates" counts every
authenticated create/adhoc call carrying that order_id, whatever the outcome (faults, triggers,
422s, echoes). "awbs_assigned" counts AWBs actually assigned. "logins" counts tokens issued.
Latency: every /v1 call sleeps latency_ms (constructor or /_sandbox/config) before answering.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server

from fulfilment.shiprocket import sandbox_control, sandbox_orders, sandbox_shipping
from fulfilment.shiprocket.sandbox_http import EXTENSION
from fulfilment.shiprocket.sandbox_state import SandboxState

__all__ = ["SandboxServer", "create_sandbox_app", "main"]


def create_sandbox_app(*, latency_ms: int = 0) -> Flask:
    """A small Flask app emulating Shiprocket; its state lives in app.extensions."""
    app = Flask("shiprocket_sandbox")
    app.json.sort_keys = False
    app.extensions[EXTENSION] = SandboxState(latency_ms=latency_ms)
    app.before_request(sandbox_control.before_v1)
    app.after_request(sandbox_control.after_v1)
    for blueprint in (
        sandbox_orders.bp,
        sandbox_shipping.bp,
        sandbox_shipping.labels_bp,
        sandbox_control.bp,
    ):
        app.register_blueprint(blueprint)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _crash)
    return app


def _http_error(exc: HTTPException) -> Any:
    code = exc.code or 500
    return jsonify({"message": f"{code} {exc.name}", "status_code": code}), code


def _crash(exc: Exception) -> Any:
    import logging

    logging.getLogger(__name__).exception("sandbox crashed: %s", exc)
    return jsonify({"message": "Internal server error.", "status_code": 500}), 500


class SandboxServer:
    """The sandbox app on a threaded werkzeug server, in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, latency_ms: int = 0):
        self.app = create_sandbox_app(latency_ms=latency_ms)
        self._server = make_server(host, port, self.app, threaded=True)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self._server.port}"

    @property
    def state(self) -> SandboxState:
        return self.app.extensions[EXTENSION]

    def start(self) -> SandboxServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="shiprocket-sandbox", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the Shiprocket sandbox until Ctrl-C.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency-ms", type=int, default=0)
    args = parser.parse_args(argv)
    server = SandboxServer(args.host, args.port, latency_ms=args.latency_ms).start()
    banner = f"Shiprocket sandbox on {server.url}  (control: {server.url}/_sandbox/state)"
    print(banner, flush=True)  # noqa: T201 - a console program
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
