"""The state machine, the one transition(), its concurrency guard and the append-only history."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from fulfilment.errors import ConcurrentUpdate, InvalidTransition
from fulfilment.extensions import db
from fulfilment.models import AuditLog, Order, OrderNote, OrderStatusHistory, OutboxEvent
from fulfilment.services.audit import record_audit
from fulfilment.services.orders import add_note, get_order, transition
from fulfilment.states import ALLOWED_TRANSITIONS, OrderStatus, can_transition
from tests.helpers import post_signed, sample

ALL = list(OrderStatus)


@pytest.fixture
def order_id(app, client) -> str:
    assert post_signed(client, app, sample()).status_code == 202
    return "ORD-100045"


def _walk_to(app, order_id: str, target: OrderStatus) -> None:
    path = {
        OrderStatus.PLACED: [],
        OrderStatus.PROCESSING: [OrderStatus.PROCESSING],
        OrderStatus.SHIPPED: [OrderStatus.PROCESSING, OrderStatus.SHIPPED],
        OrderStatus.DELIVERED: [OrderStatus.PROCESSING, OrderStatus.SHIPPED, OrderStatus.DELIVERED],
        OrderStatus.CANCELLED: [OrderStatus.CANCELLED],
    }[target]
    with app.app_context():
        for status in path:
            transition(get_order(order_id), status, actor="test")


def test_state_machine_matches_the_contract():
    assert {k: set(v) for k, v in ALLOWED_TRANSITIONS.items()} == {
        OrderStatus.PLACED: {OrderStatus.PROCESSING, OrderStatus.CANCELLED},
        OrderStatus.PROCESSING: {OrderStatus.SHIPPED, OrderStatus.CANCELLED},
        OrderStatus.SHIPPED: {OrderStatus.DELIVERED, OrderStatus.CANCELLED},
        OrderStatus.DELIVERED: set(),
        OrderStatus.CANCELLED: set(),
    }


@pytest.mark.parametrize("current", ALL)
@pytest.mark.parametrize("new", ALL)
def test_every_move_is_allowed_or_refused_without_a_trace(app, order_id, current, new):
    _walk_to(app, order_id, current)
    with app.app_context():
        before = len(get_order(order_id).history)
        order = get_order(order_id)
        if can_transition(current, new):
            transition(order, new, actor="ops@example.in", details={"why": "test"})
            db.session.expire_all()
            reloaded = get_order(order_id)
            assert reloaded.status == new.value
            last = reloaded.history[-1]
            assert (last.from_status, last.to_status, last.actor) == (
                current.value,
                new.value,
                "ops@example.in",
            )
            assert last.details == {"why": "test"}
        else:
            with pytest.raises(InvalidTransition) as exc:
                transition(order, new, actor="ops@example.in")
            assert exc.value.current == current.value
            db.session.rollback()
            assert get_order(order_id).status == current.value
            assert len(get_order(order_id).history) == before


@pytest.mark.parametrize(
    ("target", "event_type"),
    [
        (OrderStatus.SHIPPED, "OrderShipped"),
        (OrderStatus.DELIVERED, "OrderDelivered"),
        (OrderStatus.CANCELLED, "OrderCancelled"),
    ],
)
def test_announced_statuses_write_an_outbox_row_in_the_same_transaction(
    app, order_id, target, event_type
):
    _walk_to(app, order_id, target)

    with app.app_context():
        rows = db.session.execute(select(OutboxEvent)).scalars().all()
        types = [r.event_type for r in rows]
        assert types[-1] == event_type
        assert types.count(event_type) == 1
        body = rows[-1].payload
        assert body["type"] == event_type
        assert body["data"]["order_id"] == order_id
        assert body["data"]["customer"]["phone"] == "9845012345"
        assert body["timestamp"].endswith("+05:30")
        assert rows[-1].state == "pending" and rows[-1].event_id.startswith("msg_")


def test_processing_writes_no_outbox_row(app, order_id):
    _walk_to(app, order_id, OrderStatus.PROCESSING)
    with app.app_context():
        assert db.session.execute(select(OutboxEvent)).first() is None


def test_stale_expected_version_is_a_conflict(app, order_id):
    with app.app_context():
        order = get_order(order_id)
        seen = order.version
        transition(order, OrderStatus.PROCESSING, actor="a@example.in")
        with pytest.raises(ConcurrentUpdate):
            transition(
                get_order(order_id),
                OrderStatus.CANCELLED,
                actor="b@example.in",
                expected_version=seen,
            )
        assert get_order(order_id).status == "processing"


@pytest.mark.parametrize(
    "moves",
    [
        (OrderStatus.PROCESSING, OrderStatus.PROCESSING),
        (OrderStatus.PROCESSING, OrderStatus.CANCELLED),
    ],
    ids=["same-move", "different-moves"],
)
def test_two_concurrent_transitions_one_wins_the_other_gets_a_conflict(app, order_id, moves):
    barrier = threading.Barrier(2, timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(new: OrderStatus, actor: str) -> None:
        with app.app_context():
            order = get_order(order_id)  # both read version 1 …
            barrier.wait()  # … before either writes
            try:
                transition(order, new, actor=actor)
                result = "ok"
            except ConcurrentUpdate:
                result = "conflict"
            finally:
                db.session.remove()
            with lock:
                outcomes.append(result)

    threads = [
        threading.Thread(target=attempt, args=(moves[0], "a@example.in")),
        threading.Thread(target=attempt, args=(moves[1], "b@example.in")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert sorted(outcomes) == ["conflict", "ok"]
    with app.app_context():
        order = get_order(order_id)
        assert order.version == 2
        assert [h.to_status for h in order.history] == ["placed", order.status]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE order_status_history SET actor = 'mallory'",
        "UPDATE order_status_history SET to_status = 'delivered' WHERE id = 1",
        "DELETE FROM order_status_history",
        "DELETE FROM order_status_history WHERE id = 1",
        "UPDATE order_notes SET body = 'rewritten'",
        "DELETE FROM order_notes",
        "UPDATE audit_log SET actor = 'mallory'",
        "DELETE FROM audit_log",
    ],
)
def test_append_only_tables_refuse_update_and_delete_even_with_raw_sql(app, order_id, statement):
    with app.app_context():
        add_note(order_id, "Customer contacted for address correction", author="ops@example.in")
        record_audit(actor="test", action="x", entity_type="t", entity_id="1", details={})
        db.session.commit()
        before = [
            db.session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("order_status_history", "order_notes", "audit_log")
        ]

        with pytest.raises(DatabaseError, match="append-only"):
            db.session.execute(text(statement))
            db.session.commit()
        db.session.rollback()

        after = [
            db.session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("order_status_history", "order_notes", "audit_log")
        ]
        assert after == before
        assert db.session.execute(select(OrderStatusHistory.actor)).scalars().all() == [
            "system:checkout"
        ]
        assert db.session.execute(select(OrderNote.body)).scalar_one().startswith("Customer")
        assert db.session.execute(select(AuditLog.actor)).scalar_one() == "test"


def test_append_only_history_refuses_orm_edits_too(app, order_id):
    with app.app_context():
        row = db.session.execute(select(OrderStatusHistory)).scalar_one()
        row.actor = "mallory"
        with pytest.raises(DatabaseError, match="append-only"):
            db.session.commit()
        db.session.rollback()
        assert db.session.execute(select(OrderStatusHistory.actor)).scalar_one() == (
            "system:checkout"
        )


def test_status_column_refuses_unknown_values(app, order_id):
    with app.app_context():
        with pytest.raises(DatabaseError):
            db.session.execute(text("UPDATE orders SET status = 'lost'"))
            db.session.commit()
        db.session.rollback()
        assert db.session.execute(select(Order.status)).scalar_one() == "placed"
