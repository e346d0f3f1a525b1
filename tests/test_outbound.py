"""Outbound events (contract §5): signed, stable webhook-id, retried, logged, re-sendable."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook

from fulfilment.db import utcnow
from fulfilment.extensions import db
from fulfilment.models import Delivery, DeliveryAttempt, OutboxEvent, Subscriber
from fulfilment.services import outbound
from tests.receiver import start_receiver
from tests.shipping_helpers import place_processing, run_worker, ship


@pytest.fixture
def receiver():
    made = []

    def make(answers=None):
        rec, server = start_receiver(answers)
        made.append(server)
        return rec

    yield make
    for server in made:
        server.shutdown()


def shipped_with_subscriber(app, url):
    app.config["OUTBOUND_WEBHOOK_URLS"] = [url]
    place_processing(app, "ORD-O1")
    ship(app, "ORD-O1")


def make_due(app):
    with app.app_context():
        db.session.execute(update(Delivery).values(next_attempt_at=utcnow()))
        db.session.commit()


def deliver_all(app):
    with app.app_context():
        outbound.fan_out()
        return [outbound.deliver(i) for i, _ in outbound.due_deliveries()]


def test_500_three_times_then_200_sends_four_times_same_id_valid_signatures(
    ship_app, sandbox, receiver
):
    rec = receiver([(500, {}), (500, {}), (500, {}), (200, {})])
    shipped_with_subscriber(ship_app, rec.url)

    outcomes = []
    for _ in range(4):
        outcomes += deliver_all(ship_app)
        make_due(ship_app)  # time passes: the next try is due

    assert outcomes == ["retry", "retry", "retry", "sent"]
    assert len(rec.received) == 4
    ids = {r["headers"]["Webhook-Id"] for r in rec.received}
    assert len(ids) == 1
    secret = ship_app.config["OUTBOUND_WEBHOOK_SECRET"]
    for r in rec.received:
        body = Webhook(secret).verify(r["body"], r["headers"])
        assert body["type"] == "OrderShipped"
        assert body["data"]["order_id"] == "ORD-O1" and body["data"]["shipment"]["awb"]
    with ship_app.app_context():
        attempts = db.session.execute(select(DeliveryAttempt)).scalars().all()
        assert [a.status_code for a in attempts] == [500, 500, 500, 200]
        assert all(a.latency_ms >= 0 for a in attempts)
        delivery = db.session.execute(select(Delivery)).scalar_one()
        assert delivery.state == "sent" and delivery.attempts == 4


def test_schedule_grows_and_spans_more_than_a_day():
    assert list(outbound.SCHEDULE_S) == sorted(outbound.SCHEDULE_S)
    assert sum(outbound.SCHEDULE_S) > 24 * 3600


def test_429_honours_retry_after(ship_app, sandbox, receiver):
    rec = receiver([(429, {"Retry-After": "120"})])
    shipped_with_subscriber(ship_app, rec.url)

    assert deliver_all(ship_app) == ["retry"]

    with ship_app.app_context():
        delivery = db.session.execute(select(Delivery)).scalar_one()
        assert delivery.next_attempt_at >= utcnow() + timedelta(seconds=115)


def test_410_disables_the_subscriber_with_a_reason(ship_app, sandbox, receiver):
    rec = receiver([(410, {})])
    shipped_with_subscriber(ship_app, rec.url)

    assert deliver_all(ship_app) == ["failed"]

    with ship_app.app_context():
        sub = db.session.execute(select(Subscriber)).scalar_one()
        assert sub.enabled is False and "410" in sub.disabled_reason


def test_redirect_is_a_failure_not_followed(ship_app, sandbox, receiver):
    rec = receiver([(302, {"Location": "http://127.0.0.1:1/"})])
    shipped_with_subscriber(ship_app, rec.url)

    assert deliver_all(ship_app) == ["retry"]


@pytest.mark.slow
def test_receiver_that_never_answers_holds_a_worker_no_longer_than_the_timeout(
    ship_app, sandbox, receiver
):
    rec = receiver(["hang"])
    shipped_with_subscriber(ship_app, rec.url)

    started = time.monotonic()
    outcome = deliver_all(ship_app)
    elapsed = time.monotonic() - started

    assert outcome == ["retry"]
    assert elapsed < outbound.TIMEOUT[1] + 2
    with ship_app.app_context():
        attempt = db.session.execute(select(DeliveryAttempt)).scalar_one()
        assert "Timeout" in attempt.error


def test_rotated_secret_sends_both_signatures(ship_app, sandbox, receiver):
    rec = receiver()
    shipped_with_subscriber(ship_app, rec.url)
    new = "whsec_" + "TmV3U2VjcmV0TmV3U2VjcmV0TmV3U2VjcmV0MTIz"
    with ship_app.app_context():
        outbound.sync_env_subscribers()
        sub = db.session.execute(select(Subscriber)).scalar_one()
        outbound.rotate_secret(sub.id, new, actor="admin@example.in")

    deliver_all(ship_app)

    (req,) = rec.received
    assert len(req["headers"]["Webhook-Signature"].split(" ")) == 2
    Webhook(new).verify(req["body"], req["headers"])
    Webhook(ship_app.config["OUTBOUND_WEBHOOK_SECRET"]).verify(req["body"], req["headers"])


def test_send_again_after_failure(ship_app, sandbox, receiver):
    rec = receiver([(410, {})])
    shipped_with_subscriber(ship_app, rec.url)
    deliver_all(ship_app)
    with ship_app.app_context():
        sub = db.session.execute(select(Subscriber)).scalar_one()
        outbound.set_subscriber_enabled(sub.id, True, actor="admin@example.in")
        delivery = db.session.execute(select(Delivery)).scalar_one()
        outbound.send_again(delivery.id, actor="admin@example.in")

    assert deliver_all(ship_app) == ["sent"]
    assert len(rec.received) == 2


def test_relay_job_and_a_real_worker_deliver_the_event(ship_app, sandbox, receiver):
    from workers.jobs import relay_outbox

    rec = receiver()
    shipped_with_subscriber(ship_app, rec.url)

    with ship_app.app_context():
        queued = relay_outbox()
    run_worker(ship_app)

    assert queued == 1
    assert json.loads(rec.received[0]["body"])["type"] == "OrderShipped"
    with ship_app.app_context():
        assert db.session.execute(select(OutboxEvent.state)).scalar_one() == "dispatched"


def test_redis_down_loses_nothing_the_event_goes_out_when_it_is_back(
    make_app, sandbox, receiver, redis_conn
):
    import redis

    from workers.jobs import relay_outbox

    rec = receiver()
    down = {"yes": True}

    def connection():
        if down["yes"]:
            return redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
        return redis_conn

    app = make_app(SHIPROCKET_SANDBOX_URL=sandbox.url, OUTBOUND_WEBHOOK_URLS=[rec.url])
    place_processing(app, "ORD-RD")
    with app.app_context():
        from fulfilment.services.orders import get_order, transition

        # The order ships while Redis is down: the event is committed in the outbox only.
        transition(get_order("ORD-RD"), "shipped", actor="ops@example.in", details={})
    down_app = make_app(
        SHIPROCKET_SANDBOX_URL=sandbox.url,
        OUTBOUND_WEBHOOK_URLS=[rec.url],
        REDIS_CONNECTION_FACTORY=connection,
    )
    with down_app.app_context():
        with pytest.raises(redis.exceptions.RedisError):
            relay_outbox()  # cannot queue deliveries now …
    assert rec.received == []

    down["yes"] = False
    with app.app_context():
        relay_outbox()  # … Redis is back: the relay picks it up
    run_worker(app)

    assert [json.loads(r["body"])["data"]["order_id"] for r in rec.received] == ["ORD-RD"]


def test_admin_adds_rotates_and_disables_subscribers_and_ops_resend_from_the_order_page(
    ship_app, sandbox, receiver
):
    from fulfilment.models import AuditLog
    from tests.admin_helpers import csrf_from, login, make_user

    rec = receiver()
    shipped_with_subscriber(ship_app, rec.url)
    deliver_all(ship_app)
    make_user(ship_app, "boss@example.in", "admin")
    make_user(ship_app, "ops@example.in", "ops")
    admin = ship_app.test_client()
    login(admin, "boss@example.in")

    def post(**data):
        data["csrf_token"] = csrf_from(admin, "/admin/subscribers/")
        return admin.post("/admin/subscribers/", data=data, follow_redirects=True)

    post(op="add", url="http://127.0.0.1:9/other", event_types="OrderDelivered")
    with ship_app.app_context():
        env_sub = db.session.execute(
            select(Subscriber).where(Subscriber.url == rec.url)
        ).scalar_one()
    rotated = post(op="rotate", id=str(env_sub.id))
    post(op="disable", id=str(env_sub.id))
    ops = ship_app.test_client()
    login(ops, "ops@example.in")
    page = ops.get("/admin/orders/details/?order_id=ORD-O1").get_data(True)
    token = csrf_from(ops, "/admin/orders/details/?order_id=ORD-O1")
    with ship_app.app_context():
        delivery_id = db.session.execute(select(Delivery.id)).scalar_one()
    resent = ops.post(
        f"/admin/subscribers/deliveries/{delivery_id}/resend",
        data={"csrf_token": token, "next": "/admin/orders/details/?order_id=ORD-O1"},
    )

    assert "whsec_" in rotated.get_data(True)
    assert 'id="deliveries"' in page and "OrderShipped" in page
    assert resent.status_code == 302
    assert ops.get("/admin/subscribers/").status_code == 403
    with ship_app.app_context():
        subs = {s.url: s for s in db.session.execute(select(Subscriber)).scalars()}
        assert subs["http://127.0.0.1:9/other"].event_types == ["OrderDelivered"]
        assert subs[rec.url].enabled is False and subs[rec.url].previous_secret
        actions = db.session.execute(select(AuditLog.action)).scalars().all()
        assert {
            "subscriber.add",
            "subscriber.rotate",
            "subscriber.disable",
            "delivery.resend",
        } <= set(actions)
        assert db.session.get(Delivery, delivery_id).state == "pending"


def test_relay_claims_deliveries_so_a_second_pass_queues_nothing_twice(ship_app, sandbox, receiver):
    from fulfilment.queues import EVENTS, get_queue
    from workers.jobs import relay_outbox

    rec = receiver()
    ship_app.config["OUTBOUND_WEBHOOK_URLS"] = [rec.url]
    for n in range(3):
        place_processing(ship_app, f"ORD-Q{n}")
        ship(ship_app, f"ORD-Q{n}")

    with ship_app.app_context():
        first = relay_outbox()
        second = relay_outbox()
        jobs = get_queue(EVENTS).count
    run_worker(ship_app)

    assert (first, second, jobs) == (3, 0, 1)  # one job carries the subscriber's three events
    assert sorted(json.loads(r["body"])["data"]["order_id"] for r in rec.received) == [
        "ORD-Q0",
        "ORD-Q1",
        "ORD-Q2",
    ]
