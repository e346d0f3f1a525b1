"""NDR action queue: undelivered shipments, Reattempt / Return to origin through Shiprocket's NDR
action API (the sandbox over real HTTP), audited; the 'Action required' admin page."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from fulfilment.errors import FeatureDisabled, InvalidInput
from fulfilment.extensions import db
from fulfilment.models import NdrAction
from fulfilment.services.ndr import (
    NdrActionRefused,
    NdrActionUnconfirmed,
    NoPendingNdr,
    action_required,
    countdown,
    take_ndr_action,
)
from fulfilment.shiprocket.client import RedisTokenStore, ShiprocketClient
from fulfilment.shiprocket.sandbox_tracking import webhook_payload
from fulfilment.shiprocket.types import PermanentShiprocketError, RetryableShiprocketError
from fulfilment.timefmt import IST
from tests.admin_helpers import audit_rows, csrf_from, login, make_user
from tests.shipping_helpers import load, place_processing, ship

OPS = "ops@example.in"
V1 = "/v1/external"


# ---------------------------------------------------------------- helpers


@pytest.fixture
def ndr_app(ship_app: Any) -> Any:
    """ship_app with the 'Action required' view (registered here until admin/__init__ adds it)."""
    from fulfilment.admin.ndr import NdrView

    if "ndr" not in ship_app.blueprints:
        (admin,) = ship_app.extensions["admin"]
        admin.add_view(NdrView(name="Action required", endpoint="ndr"))
    return ship_app


def shipped(app: Any, sandbox: Any, order_id: str) -> dict[str, Any]:
    place_processing(app, order_id)
    ship(app, order_id)
    assert load(app, order_id)["status"] == "shipped"
    (remote,) = sandbox.orders_for(order_id)
    return remote


def push_undelivered(
    app: Any,
    sandbox: Any,
    order_id: str,
    *,
    at: datetime | None = None,
    in_sandbox: bool = True,
    reason: str = "Consignee not available",
) -> dict[str, Any]:
    """Shiprocket's UNDELIVERED push (shipment_status_id 21) with the courier's scan.

    in_sandbox=False: our side hears of an NDR the sandbox does not have (so it refuses).
    """
    (remote,) = sandbox.orders_for(order_id)
    if in_sandbox:
        sandbox.set_status(remote["shipment_id"], "UNDELIVERED")
    state = sandbox.server.state
    with state.lock:
        body = webhook_payload(state.order_by_awb(remote["awb"]))
    when = (at or datetime.now(IST)).astimezone(IST)
    body.update(
        shipment_status="UNDELIVERED",
        shipment_status_id=21,
        current_status="UNDELIVERED",
        current_status_id=36,
        current_timestamp=when.strftime("%d %m %Y %H:%M:%S"),
    )
    body["scans"] = [s for s in body["scans"] if s["sr-status"] != "21"] + [
        {
            "date": when.strftime("%Y-%m-%d %H:%M:%S"),
            "status": "UD",
            "activity": f"Undelivered - {reason}",
            "location": "Bengaluru_Hub (Karnataka)",
            "sr-status": "21",
            "sr-status-label": "UNDELIVERED",
        }
    ]
    resp = app.test_client().post(
        "/webhooks/tracking",
        json=body,
        headers={"x-api-key": app.config["SHIPROCKET_WEBHOOK_TOKEN"]},
    )
    assert resp.status_code == 200 and resp.get_json()["status"] == "recorded", resp.get_json()
    return remote


def queue(app: Any) -> list[Any]:
    with app.app_context():
        return action_required()


def act(app: Any, order_id: str, action: str, **kwargs: Any) -> NdrAction:
    kwargs.setdefault("comments", None)
    with app.app_context():
        row = take_ndr_action(order_id, action, actor=OPS, **kwargs)
        db.session.refresh(row)
        db.session.expunge(row)
        return row


def ndr_rows(app: Any) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(NdrAction)).scalar_one()


def sandbox_order(sandbox: Any, order_id: str) -> dict[str, Any]:
    (remote,) = sandbox.orders_for(order_id)
    return remote


def flag_off(app: Any) -> None:
    from fulfilment.services.flags import set_flag

    with app.app_context():
        set_flag("feature.orders.order_fulfillment", False, actor="admin@example.in")


# ---------------------------------------------------------------- the queue


def test_undelivered_push_appears_with_the_reason_and_deadline(ship_app, sandbox):
    remote = shipped(ship_app, sandbox, "ORD-N1")
    shipped(ship_app, sandbox, "ORD-N2")  # in transit: not in the queue
    assert queue(ship_app) == []

    push_undelivered(ship_app, sandbox, "ORD-N1")

    (item,) = queue(ship_app)
    assert (item.order_id, item.awb) == ("ORD-N1", remote["awb"])
    assert item.reason == "Consignee not available"
    assert item.status == "UNDELIVERED"
    assert item.courier == remote["courier_name"]
    assert item.deadline == item.ndr_at + timedelta(hours=24)
    assert 24 * 3600 - 120 < item.seconds_left <= 24 * 3600
    assert item.countdown in ("23 h 59 min left", "23 h 58 min left", "24 h 0 min left")
    assert not item.overdue
    assert load(ship_app, "ORD-N1")["status"] == "shipped"


def test_a_report_older_than_24_hours_is_overdue(ship_app, sandbox):
    shipped(ship_app, sandbox, "ORD-N3")
    push_undelivered(ship_app, sandbox, "ORD-N3", at=datetime.now(IST) - timedelta(hours=30))

    (item,) = queue(ship_app)
    assert item.overdue and item.countdown == "overdue"
    assert -6 * 3600 - 120 < item.seconds_left < -6 * 3600 + 120


def test_without_a_scan_the_reason_is_the_push_status(ship_app, sandbox):
    remote = shipped(ship_app, sandbox, "ORD-N4")
    body = {
        "awb": remote["awb"],
        "shipment_status": "UNDELIVERED",
        "shipment_status_id": 21,
        "current_timestamp": datetime.now(IST).strftime("%d %m %Y %H:%M:%S"),
        "scans": [],
    }
    token = ship_app.config["SHIPROCKET_WEBHOOK_TOKEN"]
    client = ship_app.test_client()
    resp = client.post("/webhooks/tracking", json=body, headers={"x-api-key": token})
    assert resp.status_code == 200

    (item,) = queue(ship_app)
    assert item.reason == "Undelivered"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(65520, "18 h 12 min left"), (600, "10 min left"), (59, "0 min left"), (0, "overdue")],
)
def test_countdown_text(seconds, text):
    assert countdown(seconds) == text


# ---------------------------------------------------------------- reattempt / RTO


def test_reattempt_with_a_corrected_phone_is_sent_audited_and_leaves_the_queue(ship_app, sandbox):
    remote = shipped(ship_app, sandbox, "ORD-N5")
    push_undelivered(ship_app, sandbox, "ORD-N5")
    in_two_days = (datetime.now(IST) + timedelta(days=2)).date()

    row = act(
        ship_app,
        "ORD-N5",
        "reattempt",
        phone="+91 98450 12345",
        address1="Flat 4B, 12 Residency Road",
        date=in_two_days.isoformat(),
        comments="Call before delivery",
    )

    (sent,) = sandbox.state()["ndr_actions"]
    assert sent["awb"] == remote["awb"]
    assert sent["action"] == "re-attempt"
    assert sent["phone"] == "9845012345"
    assert sent["address1"] == "Flat 4B, 12 Residency Road"
    assert sent["deferred_date"] == in_two_days.isoformat()
    assert sent["comments"] == "Call before delivery"
    assert sandbox_order(sandbox, "ORD-N5")["shipment_status"] == 17  # out for delivery again
    assert row.action == "reattempt" and row.actor == OPS
    ((actor, action, etype, eid, details),) = audit_rows(ship_app, "ndr.reattempt")
    assert (actor, etype, eid) == (OPS, "order", "ORD-N5")
    assert details["awb"] == remote["awb"]
    assert details["sent"]["phone"] == "9845012345"
    assert details["sent"]["action"] == "re-attempt"
    assert details["shiprocket"] == "accepted"
    assert queue(ship_app) == []
    order = load(ship_app, "ORD-N5")
    assert order["status"] == "shipped"  # no status change: tracking tells what happens next


def test_a_later_report_needs_a_new_answer(ship_app, sandbox):
    shipped(ship_app, sandbox, "ORD-N6")
    first = datetime.now(IST) - timedelta(minutes=5)
    push_undelivered(ship_app, sandbox, "ORD-N6", at=first)
    act(ship_app, "ORD-N6", "reattempt")
    assert queue(ship_app) == []
    with pytest.raises(NoPendingNdr):
        act(ship_app, "ORD-N6", "reattempt")  # answered: not sent twice

    push_undelivered(ship_app, sandbox, "ORD-N6", reason="Address incomplete")

    (item,) = queue(ship_app)
    assert item.reason == "Address incomplete"
    act(ship_app, "ORD-N6", "rto")
    assert [a["action"] for a in sandbox.state()["ndr_actions"]] == ["re-attempt", "return"]
    assert ndr_rows(ship_app) == 2


def test_return_to_origin_is_sent_audited_and_leaves_the_queue(ship_app, sandbox):
    remote = shipped(ship_app, sandbox, "ORD-N7")
    push_undelivered(ship_app, sandbox, "ORD-N7")

    act(ship_app, "ORD-N7", "rto")

    (sent,) = sandbox.state()["ndr_actions"]
    assert (sent["awb"], sent["action"]) == (remote["awb"], "return")
    assert sent["comments"] == f"Return to origin requested by {OPS}"
    assert sandbox_order(sandbox, "ORD-N7")["shipment_status"] == 9  # RTO initiated
    ((actor, _, _, eid, details),) = audit_rows(ship_app, "ndr.rto")
    assert (actor, eid, details["sent"]["action"]) == (OPS, "ORD-N7", "return")
    assert queue(ship_app) == []
    assert load(ship_app, "ORD-N7")["status"] == "shipped"


def test_shiprocket_refusing_records_nothing_but_the_audited_refusal(ship_app, sandbox):
    shipped(ship_app, sandbox, "ORD-N8")
    push_undelivered(ship_app, sandbox, "ORD-N8", in_sandbox=False)  # Shiprocket: not in NDR

    with pytest.raises(NdrActionRefused) as caught:
        act(ship_app, "ORD-N8", "reattempt", phone="9845012345")

    assert "Shiprocket refused the re-attempt for ORD-N8" in str(caught.value)
    assert "not in NDR state" in str(caught.value)
    assert sandbox.state()["ndr_actions"] == []
    assert ndr_rows(ship_app) == 0
    assert audit_rows(ship_app, "ndr.reattempt") == []
    ((actor, _, _, eid, details),) = audit_rows(ship_app, "ndr.reattempt_refused")
    assert (actor, eid) == (OPS, "ORD-N8")
    assert "not in NDR state" in details["shiprocket"] and details["status_code"] == 400
    assert [i.order_id for i in queue(ship_app)] == ["ORD-N8"]  # still waiting for an answer


def test_no_answer_from_shiprocket_is_unconfirmed_and_not_repeated(ship_app, sandbox, sleeps):
    remote = shipped(ship_app, sandbox, "ORD-N9")
    push_undelivered(ship_app, sandbox, "ORD-N9")
    sandbox.fault(f"/ndr/{remote['awb']}/action", "500")

    with pytest.raises(NdrActionUnconfirmed) as caught:
        act(ship_app, "ORD-N9", "rto")

    assert caught.value.ambiguous and "check Shiprocket's NDR panel" in str(caught.value)
    assert len(sandbox.calls("/ndr/")) == 1  # a POST that may have taken effect: not retried
    assert sleeps.waits == []
    assert ndr_rows(ship_app) == 0
    ((_, _, _, _, details),) = audit_rows(ship_app, "ndr.rto_unconfirmed")
    assert details["status_code"] == 500
    assert len(queue(ship_app)) == 1


def test_flag_off_refuses_without_calling_shiprocket(ship_app, sandbox):
    shipped(ship_app, sandbox, "ORD-N10")
    push_undelivered(ship_app, sandbox, "ORD-N10")
    flag_off(ship_app)

    with pytest.raises(FeatureDisabled):
        act(ship_app, "ORD-N10", "reattempt")

    assert sandbox.calls("/ndr/") == []
    assert ndr_rows(ship_app) == 0
    assert len(queue(ship_app)) == 1  # the list still shows it


@pytest.mark.parametrize(
    ("action", "kwargs", "field"),
    [
        ("reattempt", {"phone": "12345"}, "phone"),
        ("reattempt", {"date": "2020-01-01"}, "date"),
        ("reattempt", {"date": "next tuesday"}, "date"),
        ("reattempt", {"address2": "Near the temple"}, "address1"),
        ("reattempt", {"address1": "x" * 201}, "address1"),
        ("rto", {"phone": "9845012345"}, "phone"),
        ("rto", {"date": "2030-01-01"}, "date"),
        ("hold", {}, "action"),
    ],
)
def test_invalid_input_is_refused_before_calling_shiprocket(
    ship_app, sandbox, action, kwargs, field
):
    shipped(ship_app, sandbox, "ORD-N11")
    push_undelivered(ship_app, sandbox, "ORD-N11")

    with pytest.raises(InvalidInput) as caught:
        act(ship_app, "ORD-N11", action, **kwargs)

    assert field in caught.value.fields
    assert sandbox.calls("/ndr/") == []


def test_a_date_more_than_seven_days_ahead_is_refused(ship_app, sandbox):
    shipped(ship_app, sandbox, "ORD-N12")
    push_undelivered(ship_app, sandbox, "ORD-N12")
    too_late = (datetime.now(IST) + timedelta(days=8)).date()

    with pytest.raises(InvalidInput) as caught:
        act(ship_app, "ORD-N12", "reattempt", date=too_late)

    assert caught.value.fields == {"date": ["must be within 7 days"]}


def test_an_order_without_a_pending_report_is_refused(ship_app, sandbox):
    shipped(ship_app, sandbox, "ORD-N13")

    with pytest.raises(NoPendingNdr):
        act(ship_app, "ORD-N13", "reattempt")
    assert sandbox.calls("/ndr/") == []


# ---------------------------------------------------------------- admin page


def ndr_page(client: Any) -> str:
    resp = client.get("/admin/ndr/")
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def test_ops_see_the_row_and_reattempt_from_the_page(ndr_app, sandbox):
    remote = shipped(ndr_app, sandbox, "ORD-N20")
    push_undelivered(ndr_app, sandbox, "ORD-N20")
    make_user(ndr_app, OPS, "ops")
    client = ndr_app.test_client()
    login(client, OPS)

    html = ndr_page(client)
    assert "ORD-N20" in html and remote["awb"] in html
    assert "Consignee not available" in html
    assert "min left" in html and "IST" in html
    assert 'class="ndr-reattempt' in html and "Return to origin" in html

    resp = client.post(
        "/admin/ndr/ORD-N20/reattempt",
        data={"csrf_token": csrf_from(client, "/admin/ndr/"), "phone": "09845012345"},
        follow_redirects=True,
    )

    assert resp.status_code == 200
    assert "Re-attempt requested for ORD-N20." in resp.get_data(as_text=True)
    (sent,) = sandbox.state()["ndr_actions"]
    assert (sent["action"], sent["phone"]) == ("re-attempt", "9845012345")
    assert "ORD-N20" not in ndr_page(client)


def test_rto_from_the_page_needs_the_confirmation_and_csrf(ndr_app, sandbox):
    shipped(ndr_app, sandbox, "ORD-N21")
    push_undelivered(ndr_app, sandbox, "ORD-N21")
    make_user(ndr_app, OPS, "ops")
    client = ndr_app.test_client()
    login(client, OPS)
    token = csrf_from(client, "/admin/ndr/")

    assert client.post("/admin/ndr/ORD-N21/rto", data={"confirm": "1"}).status_code == 400
    unconfirmed = client.post(
        "/admin/ndr/ORD-N21/rto", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Tick the box to confirm" in unconfirmed.get_data(as_text=True)
    assert sandbox.calls("/ndr/") == []

    done = client.post(
        "/admin/ndr/ORD-N21/rto",
        data={"csrf_token": token, "confirm": "1"},
        follow_redirects=True,
    )
    assert "Return to origin requested for ORD-N21." in done.get_data(as_text=True)
    assert [a["action"] for a in sandbox.state()["ndr_actions"]] == ["return"]


def test_a_refusal_is_shown_on_the_page(ndr_app, sandbox):
    shipped(ndr_app, sandbox, "ORD-N22")
    push_undelivered(ndr_app, sandbox, "ORD-N22", in_sandbox=False)
    make_user(ndr_app, OPS, "ops")
    client = ndr_app.test_client()
    login(client, OPS)

    resp = client.post(
        "/admin/ndr/ORD-N22/reattempt",
        data={"csrf_token": csrf_from(client, "/admin/ndr/")},
        follow_redirects=True,
    )

    html = resp.get_data(as_text=True)
    assert "Shiprocket refused the re-attempt for ORD-N22" in html
    assert "not in NDR state" in html
    assert 'data-order-id="ORD-N22"' in html  # still in the queue


def test_viewers_see_the_list_without_forms_and_cannot_post(ndr_app, sandbox):
    shipped(ndr_app, sandbox, "ORD-N23")
    push_undelivered(ndr_app, sandbox, "ORD-N23")
    make_user(ndr_app, "viewer@example.in", "viewer")
    client = ndr_app.test_client()
    login(client, "viewer@example.in")

    html = ndr_page(client)
    assert "ORD-N23" in html and "Consignee not available" in html
    assert "ndr-reattempt" not in html and "Return to origin" not in html

    token = csrf_from(client, "/admin/ndr/")
    resp = client.post("/admin/ndr/ORD-N23/rto", data={"csrf_token": token, "confirm": "1"})
    assert resp.status_code == 403
    assert sandbox.calls("/ndr/") == []


def test_flag_off_hides_the_forms(ndr_app, sandbox):
    shipped(ndr_app, sandbox, "ORD-N24")
    push_undelivered(ndr_app, sandbox, "ORD-N24")
    flag_off(ndr_app)
    make_user(ndr_app, OPS, "ops")
    client = ndr_app.test_client()
    login(client, OPS)

    html = ndr_page(client)
    assert "ORD-N24" in html
    assert "ndr-reattempt" not in html and "Return to origin" not in html


def test_the_page_needs_a_login(ndr_app):
    resp = ndr_app.test_client().get("/admin/ndr/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


# ---------------------------------------------------------------- sandbox and client


def _token(url: str) -> dict[str, str]:
    token = requests.post(
        f"{url}{V1}/auth/login", json={"email": "a@shop.in", "password": "pw"}, timeout=5
    ).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_sandbox_ndr_routes(ship_app, sandbox):
    remote = shipped(ship_app, sandbox, "ORD-N30")
    headers = _token(sandbox.url)
    url = f"{sandbox.url}{V1}/ndr"

    not_yet = requests.post(
        f"{url}/{remote['awb']}/action",
        json={"action": "return", "comments": "x"},
        headers=headers,
        timeout=5,
    )
    assert not_yet.status_code == 400
    assert not_yet.json() == {
        "message": "Action can not be taken as the shipment is not in NDR state.",
        "status_code": 400,
    }
    assert requests.get(f"{url}/all", headers=headers, timeout=5).json()["data"] == []

    sandbox.set_status(remote["shipment_id"], "UNDELIVERED")
    (row,) = requests.get(f"{url}/all", headers=headers, timeout=5).json()["data"]
    assert (row["awb_code"], row["channel_order_id"]) == (remote["awb"], "ORD-N30")
    assert (row["reason"], row["attempts"]) == ("Consignee not available", 1)
    one = requests.get(f"{url}/{remote['awb']}", headers=headers, timeout=5)
    assert one.json()["data"] == [row]

    bad = requests.post(
        f"{url}/{remote['awb']}/action",
        json={"action": "later", "phone": "123", "deferred_date": "31-12-2030"},
        headers=headers,
        timeout=5,
    )
    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"action", "comments", "phone", "deferred_date"}

    unknown = requests.post(
        f"{url}/999999/action",
        json={"action": "return", "comments": "x"},
        headers=headers,
        timeout=5,
    )
    assert unknown.status_code == 404 and unknown.json()["status_code"] == 404

    ok = requests.post(
        f"{url}/{remote['awb']}/action",
        json={"action": "re-attempt", "comments": "retry", "address2": "Near the park"},
        headers=headers,
        timeout=5,
    )
    assert ok.status_code == 202 and ok.json() == {"status": "Data Updated Sucessfully"}
    after = sandbox_order(sandbox, "ORD-N30")
    assert after["shipment_status"] == 17 and after["address"]["address_2"] == "Near the park"
    assert requests.get(f"{url}/all", headers=headers, timeout=5).json()["data"] == []
    assert requests.get(f"{url}/all", timeout=5).status_code == 401
    assert [c["status"] for c in sandbox.calls("/ndr/")][-1] == 401  # in the call log


def test_client_ndr_action_maps_errors(sandbox, redis_conn, sleeps):
    client = ShiprocketClient(
        sandbox.url,
        "sandbox@example.in",
        "pw",
        token_store=RedisTokenStore(redis_conn, key="ndr-test"),
        sleep=sleeps,
    )
    with pytest.raises(ValueError):
        client.ndr_action("1", "reattempt", comments="x")  # Shiprocket's word is re-attempt
    with pytest.raises(PermanentShiprocketError) as unknown:
        client.ndr_action("999", "return", comments="x")
    assert unknown.value.status_code == 404
    with pytest.raises(PermanentShiprocketError) as invalid:
        client.ndr_action("999", "re-attempt", comments="x", phone="12")
    assert invalid.value.field_errors == {"phone": ["must be 10 digits"]}
    sandbox.fault("/ndr/999/action", "429", retry_after=0)
    with pytest.raises(PermanentShiprocketError):
        client.ndr_action("999", "return", comments="x")  # the 429 is retried, then 404
    assert len(sleeps.waits) == 1
    sandbox.fault("/ndr/999/action", "drop")
    with pytest.raises(RetryableShiprocketError) as dropped:
        client.ndr_action("999", "return", comments="x")
    assert dropped.value.ambiguous
