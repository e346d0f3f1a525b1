"""POST /webhooks/tracking: Shiprocket's pushes move orders on, never backwards (contract §3)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from fulfilment.extensions import db
from fulfilment.models import InboundEvent, OutboxEvent, TrackingEvent
from tests.helpers import TRACKING_SAMPLE, count, post_tracking, tracking_push
from tests.shipping_helpers import load, place_processing, ship


@pytest.fixture
def shipped(ship_app, sandbox):
    place_processing(ship_app, "ORD-T1")
    ship(ship_app, "ORD-T1")
    return load(ship_app, "ORD-T1")["shipment"]["awb"]


def test_docs_sample_moves_tracking_on_and_keeps_every_scan(ship_app, shipped):
    resp = post_tracking(ship_app, tracking_push(shipped))

    assert resp.status_code == 200 and resp.get_json()["status"] == "recorded"
    order = load(ship_app, "ORD-T1")
    assert order["status"] == "shipped"
    assert order["shipment"]["tracking_status"] == "IN TRANSIT"
    assert len(order["tracking_events"]) == len(TRACKING_SAMPLE["scans"]) + 1
    assert order["tracking_events"][0]["at"] == "2023-05-19T11:59:16+05:30"  # India time kept


def test_same_push_twenty_times_is_one_event(ship_app, shipped):
    for _ in range(20):
        assert post_tracking(ship_app, tracking_push(shipped)).status_code == 200

    assert count(ship_app, TrackingEvent) == len(TRACKING_SAMPLE["scans"]) + 1
    with ship_app.app_context():
        assert (
            db.session.execute(
                select(func.count())
                .select_from(InboundEvent)
                .where(InboundEvent.source == "shiprocket")
            ).scalar_one()
            == 1
        )


def test_delivered_delivers_and_an_older_push_changes_nothing(ship_app, shipped):
    delivered = tracking_push(
        shipped,
        shipment_status="DELIVERED",
        shipment_status_id=7,
        current_status="DELIVERED",
        current_timestamp="24 05 2023 15:10:00",
    )

    assert post_tracking(ship_app, delivered).status_code == 200
    older = post_tracking(ship_app, tracking_push(shipped))  # IN TRANSIT, 23 May, arrives late

    order = load(ship_app, "ORD-T1")
    assert older.get_json()["status"] == "stale"
    assert order["status"] == "delivered"
    assert order["shipment"]["tracking_status"] == "DELIVERED"
    last = order["history"][-1]
    assert (last["from_status"], last["to_status"], last["actor"]) == (
        "shipped",
        "delivered",
        "system:shiprocket",
    )
    with ship_app.app_context():
        types = db.session.execute(select(OutboxEvent.event_type)).scalars().all()
        assert types == ["OrderShipped", "OrderDelivered"]


def test_rto_is_flagged_as_an_exception(ship_app, shipped):
    post_tracking(
        ship_app,
        tracking_push(
            shipped,
            shipment_status="RTO INITIATED",
            shipment_status_id=9,
            current_timestamp="25 05 2023 10:00:00",
        ),
    )

    order = load(ship_app, "ORD-T1")
    assert order["status"] == "shipped"
    assert order["shipment"]["tracking_exception"] == "RTO initiated"
    assert order["tracking_events"][-1]["is_exception"] is True


def test_wrong_key_is_401_and_nothing_is_stored(ship_app, shipped):
    before = count(ship_app, TrackingEvent)

    assert post_tracking(ship_app, tracking_push(shipped), key="wrong").status_code == 401
    unsigned = ship_app.test_client().post("/webhooks/tracking", json=TRACKING_SAMPLE)
    assert unsigned.status_code == 401
    assert count(ship_app, TrackingEvent) == before


def test_get_answers_200_for_the_panel_probe(ship_app):
    assert ship_app.test_client().get("/webhooks/tracking").status_code == 200


def test_unknown_awb_is_200_and_kept_for_review(ship_app):
    resp = post_tracking(ship_app, tracking_push("999999999999"))

    assert resp.status_code == 200 and resp.get_json()["status"] == "unknown_awb"
    with ship_app.app_context():
        kept = (
            db.session.execute(select(TrackingEvent).where(TrackingEvent.awb == "999999999999"))
            .scalars()
            .all()
        )
        assert kept and all(e.shipment_id is None for e in kept)


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"{nope", 400), (b"[]", 422), (b'{"awb": "1"}', 422)],
)
def test_malformed_pushes_are_refused_clearly(ship_app, body, status):
    resp = ship_app.test_client().post(
        "/webhooks/tracking",
        data=body,
        headers={
            "x-api-key": ship_app.config["SHIPROCKET_WEBHOOK_TOKEN"],
            "Content-Type": "application/json",
        },
    )
    assert resp.status_code == status


def test_sandbox_push_over_http_delivers_through_a_running_server(
    ship_app, sandbox, shipped, database_url, tmp_path
):
    import requests

    from tests.server import gunicorn

    (remote,) = sandbox.orders_for("ORD-T1")
    sandbox.set_status(remote["shipment_id"], "DELIVERED")
    env = {
        "APP_ENV": "development",
        "DATABASE_URL": database_url,
        "FULFILMENT_INSTANCE_PATH": str(tmp_path / "instance"),  # same token as ship_app
        "LOG_LEVEL": "warning",
    }
    with gunicorn(env, workers=1, log=tmp_path / "gunicorn.log") as base:
        answer = requests.post(
            f"{sandbox.url}/_sandbox/push-tracking",
            json={
                "awb": shipped,
                "url": f"{base}/webhooks/tracking",
                "token": ship_app.config["SHIPROCKET_WEBHOOK_TOKEN"],
            },
            timeout=10,
        ).json()

    assert answer["status_code"] == 200
    assert load(ship_app, "ORD-T1")["status"] == "delivered"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda s: s["scans"][3].update(date="19/05/2023"), "scans.3.date"),
        (lambda s: s["scans"][2].pop("date"), "scans.2.date"),
        (lambda s: s["scans"][0].update(location="Chomu\x00"), "scans.0.location"),
        (lambda s: s["scans"][1].update(activity=["not", "text"]), "scans.1.activity"),
        (lambda s: s["scans"].append("a scan"), f"scans.{len(TRACKING_SAMPLE['scans'])}"),
        (lambda s: s.update(scans={"0": {}}), "scans"),
        (lambda s: s.update(current_timestamp="2023-05-23 11:43:52"), "current_timestamp"),
        (lambda s: s.update(current_timestamp="23 05 1023 11:43:52"), "current_timestamp"),
        (lambda s: s.update(awb="   "), "awb"),
    ],
)
def test_a_bad_scan_or_field_is_named_and_nothing_is_stored(ship_app, shipped, change, field):
    body = tracking_push(shipped)
    change(body)
    before = count(ship_app, TrackingEvent)

    resp = post_tracking(ship_app, body)

    assert resp.status_code == 422, resp.get_json()
    assert field in resp.get_json()["fields"], resp.get_json()
    assert count(ship_app, TrackingEvent) == before
    assert load(ship_app, "ORD-T1")["shipment"]["tracking_status"] is None


def test_ids_are_read_leniently(ship_app, shipped):
    body = tracking_push(shipped, shipment_status_id="18")
    body["scans"][0]["sr-status"] = 5
    body["scans"][1]["sr-status"] = "NA"
    body["scans"][2]["sr-status"] = "²"  # a digit to str.isdigit, not to int()
    body["scans"][3]["sr-status"] = 10**12  # beyond an INTEGER column

    assert post_tracking(ship_app, body).status_code == 200

    with ship_app.app_context():
        ids = db.session.execute(
            select(TrackingEvent.status_id).order_by(TrackingEvent.occurred_at)
        ).scalars()
        assert list(ids)[:4] == [5, None, None, None]


def test_concurrent_pushes_leave_the_newest_state(ship_app, shipped):
    """Pushes for one AWB racing each other: whatever the order they land in, the shipment
    ends at the newest push (the UPDATE re-checks the time on the row it locks)."""
    from concurrent.futures import ThreadPoolExecutor

    statuses = ["PICKED UP", "IN TRANSIT", "REACHED AT DESTINATION HUB", "OUT FOR DELIVERY"]
    bodies = [
        tracking_push(
            shipped,
            shipment_status=statuses[n % 4],
            shipment_status_id=[42, 18, 38, 17][n % 4],
            current_timestamp=f"{20 + n // 4:02d} 05 2023 {10 + n % 4:02d}:00:00",
        )
        for n in range(16)
    ]

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda b: post_tracking(ship_app, b).status_code, reversed(bodies)))

    assert codes == [200] * 16
    assert load(ship_app, "ORD-T1")["shipment"]["tracking_status"] == "OUT FOR DELIVERY"
    with ship_app.app_context():
        from fulfilment.models import Shipment
        from fulfilment.timefmt import iso_ist

        at = db.session.execute(select(Shipment.tracking_at)).scalar_one()
        assert iso_ist(at) == "2023-05-23T13:00:00+05:30"


def test_unknown_awbs_are_listed_for_review(ship_app):
    from tests.admin_helpers import login, make_user

    post_tracking(ship_app, tracking_push("888000111222"))
    post_tracking(
        ship_app,
        tracking_push(
            "888000111333",
            shipment_status="RTO INITIATED",
            shipment_status_id=9,
            current_timestamp="25 05 2023 10:00:00",
        ),
    )
    make_user(ship_app, "viewer@example.in", "viewer")
    client = ship_app.test_client()
    login(client, "viewer@example.in")

    html = client.get("/admin/unmatched/").get_data(as_text=True)

    assert 'data-awb="888000111222"' in html and 'data-awb="888000111333"' in html
    assert html.index("888000111333") < html.index("888000111222")  # newest push first
    assert "RTO INITIATED" in html and "exception" in html
    assert f"<td>{len(TRACKING_SAMPLE['scans']) + 1}</td>" in html  # events per AWB


def test_review_page_needs_a_login(ship_app):
    resp = ship_app.test_client().get("/admin/unmatched/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_a_push_before_our_job_stored_the_awb_is_linked_to_the_shipment(ship_app, sandbox):
    """Shiprocket can push as soon as it assigns the AWB, before our job stores it."""
    place_processing(ship_app, "ORD-T2")
    ship(ship_app, "ORD-T2")
    first = load(ship_app, "ORD-T2")["shipment"]["awb"]
    # The sandbox numbers AWBs per courier in sequence: the next order's AWB is predictable.
    predicted = f"{first[:-7]}{int(first[-7:]) + 1:07d}"
    assert post_tracking(ship_app, tracking_push(predicted)).get_json()["status"] == "unknown_awb"

    place_processing(ship_app, "ORD-T3")
    ship(ship_app, "ORD-T3")

    order = load(ship_app, "ORD-T3")
    assert order["shipment"]["awb"] == predicted
    assert len(order["tracking_events"]) == len(TRACKING_SAMPLE["scans"]) + 1
    with ship_app.app_context():
        from fulfilment.services.tracking import unmatched_awbs

        assert unmatched_awbs() == []


def test_a_delivered_push_that_keeps_losing_races_is_503_and_stores_nothing(
    ship_app, shipped, monkeypatch
):
    import fulfilment.services.tracking as tracking
    from fulfilment.errors import ConcurrentUpdate

    calls = []

    def always_raced(order, *args, **kwargs):
        calls.append(order.order_id)
        from fulfilment.extensions import db as _db

        _db.session.rollback()  # as transition() does on a version conflict
        raise ConcurrentUpdate(order.order_id)

    monkeypatch.setattr(tracking, "transition", always_raced)
    before = count(ship_app, TrackingEvent)
    delivered = tracking_push(
        shipped,
        shipment_status="DELIVERED",
        shipment_status_id=7,
        current_timestamp="24 05 2023 15:10:00",
    )

    resp = post_tracking(ship_app, delivered)

    assert resp.status_code == 503 and resp.get_json()["error"] == "busy"
    assert calls == ["ORD-T1", "ORD-T1"]  # replayed once
    assert count(ship_app, TrackingEvent) == before
    assert load(ship_app, "ORD-T1")["status"] == "shipped"
    monkeypatch.undo()
    retried = post_tracking(ship_app, delivered)  # Shiprocket's retry
    assert retried.get_json()["status"] == "recorded"
    assert load(ship_app, "ORD-T1")["status"] == "delivered"
