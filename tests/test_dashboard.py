"""Dashboard server side: exact-match search, filters, changes feed, CSV export, saved views,
the list's failure page, actions by role and flag (the browser journeys are in tests/browser)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from fulfilment.db import utcnow
from fulfilment.extensions import db
from fulfilment.models import Order, SavedView
from fulfilment.search import parse_search
from tests.admin_helpers import login, make_user
from tests.shipping_helpers import place, place_processing, ship


@pytest.fixture
def ops_client(ship_app):
    make_user(ship_app, "ops@example.in", "ops")
    client = ship_app.test_client()
    login(client, "ops@example.in")
    return client


def rows(html: str) -> list[str]:
    import re

    return re.findall(r'class="order-link" href="[^"]+">([^<]+)</a>', html)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ORD-100045", ("ORD-100045", None, None, None)),
        ("Ananya.K@Example.in", (None, "ananya.k@example.in", None, None)),
        ("+91 98450 12345", (None, None, "9845012345", None)),
        ("098450-12345", ("098450-12345", None, "9845012345", None)),
        ("19041424751540", ("19041424751540", None, None, "19041424751540")),
    ],
)
def test_search_terms_are_read_as_every_kind_they_could_be(raw, expected):
    t = parse_search(raw)
    assert (t.order_id, t.email, t.phone, t.awb) == expected


def test_search_finds_by_order_id_email_phone_and_awb(ship_app, sandbox, ops_client):
    place(ship_app, "ORD-X1")
    place_processing(
        ship_app,
        "ORD-X2",
        customer={"name": "Rohit D", "email": "rohit@example.in", "phone": "09823012345"},
    )
    place_processing(ship_app, "ORD-X3")
    ship(ship_app, "ORD-X3")
    with ship_app.app_context():
        awb = (
            db.session.execute(select(Order).where(Order.order_id == "ORD-X3"))
            .scalar_one()
            .shipment.awb
        )

    def search(term):
        return rows(ops_client.get("/admin/orders/", query_string={"search": term}).get_data(True))

    assert search("ORD-X1") == ["ORD-X1"]
    assert search("ROHIT@example.in") == ["ORD-X2"]
    assert search("+91 98230 12345") == ["ORD-X2"]
    assert search(awb) == ["ORD-X3"]
    assert search("ORD-X") == []  # exact matches only, no LIKE scan
    assert search("' OR 1=1 --") == []


def test_filters_status_failed_shipment_sla_and_payment(ship_app, sandbox, ops_client):
    place(ship_app, "ORD-F1")
    place_processing(ship_app, "ORD-F2", pincode="111111")
    ship(ship_app, "ORD-F2")  # fails: no courier
    place(ship_app, "ORD-F3")
    place(ship_app, "ORD-F4", cod=True)
    with ship_app.app_context():
        old = utcnow() - timedelta(hours=30)
        older = utcnow() - timedelta(hours=50)
        db.session.execute(update(Order).where(Order.order_id == "ORD-F1").values(placed_at=old))
        db.session.execute(update(Order).where(Order.order_id == "ORD-F3").values(placed_at=older))
        db.session.execute(
            update(Order).where(Order.order_id.in_(["ORD-F2", "ORD-F4"])).values(placed_at=utcnow())
        )
        db.session.commit()

    def listed(qs):
        return sorted(rows(ops_client.get(f"/admin/orders/?{qs}").get_data(True)))

    assert listed("flt0_0=processing") == ["ORD-F2"]
    assert listed("flt0_1=failed") == ["ORD-F2"]
    assert "Shipment failed" in ops_client.get("/admin/orders/?flt0_1=failed").get_data(True)
    assert listed("flt0_2=at_risk") == ["ORD-F1"]
    assert listed("flt0_2=breached") == ["ORD-F3"]
    assert listed("flt0_3=cod") == ["ORD-F4"]


def test_list_is_newest_first_25_a_page(ship_app, ops_client):
    for n in range(27):
        place(ship_app, f"ORD-P{n:02d}", placed_at=f"2026-11-20T10:{n:02d}:00+05:30")

    first = rows(ops_client.get("/admin/orders/").get_data(True))
    second = rows(ops_client.get("/admin/orders/?page=1").get_data(True))

    assert len(first) == 25 and first[0] == "ORD-P26" and first[-1] == "ORD-P02"
    assert second == ["ORD-P01", "ORD-P00"]


def test_changes_feed_returns_only_orders_changed_after_the_cursor(ship_app, ops_client):
    place(ship_app, "ORD-C1")
    place(ship_app, "ORD-C2")
    start = ops_client.get("/admin/orders/changes.json").get_json()
    with ship_app.app_context():
        from fulfilment.services.orders import process_order

        process_order("ORD-C2", actor="someone@example.in")

    body = ops_client.get(
        "/admin/orders/changes.json",
        query_string={"since": start["since"], "after_id": start["after_id"]},
    ).get_json()
    again = ops_client.get(
        "/admin/orders/changes.json",
        query_string={"since": body["since"], "after_id": body["after_id"]},
    ).get_json()

    assert [(c["order_id"], c["status"]) for c in body["changes"]] == [("ORD-C2", "processing")]
    assert again["changes"] == []
    bad = ops_client.get("/admin/orders/changes.json?since=yesterday")
    assert bad.status_code == 400


def test_csv_export_streams_the_filtered_list_and_defuses_formulas(ship_app, ops_client):
    payload_name = '=HYPERLINK("http://evil","x")'
    place(
        ship_app,
        "ORD-E1",
        customer={"name": payload_name, "email": "e@example.in", "phone": "9845012345"},
    )
    place(ship_app, "ORD-E2", cod=True)

    resp = ops_client.get("/admin/orders/export.csv?flt0_3=prepaid")

    assert resp.mimetype == "text/csv" and resp.is_streamed
    table = list(csv.reader(io.StringIO(resp.get_data(True))))
    assert table[0][0] == "order_id"
    assert [r[0] for r in table[1:]] == ["ORD-E1"]
    assert table[1][3] == "'" + payload_name


def test_saved_views_are_shared_and_seeded(ship_app, ops_client):
    from tests.admin_helpers import csrf_from

    token = csrf_from(ops_client, "/admin/orders/")
    ops_client.post(
        "/admin/orders/views",
        data={"name": "COD today", "query": "flt0_3=cod", "csrf_token": token},
    )
    with ship_app.app_context():
        from fulfilment.admin.orders import seed_saved_views

        seed_saved_views()
        names = db.session.execute(select(SavedView.name)).scalars().all()
    page = ops_client.get("/admin/orders/").get_data(True)

    assert set(names) == {"COD today", "COD to confirm", "Failed shipments", "Ready to ship"}
    assert "COD today" in page and "Failed shipments" in page


def test_list_failure_says_so_with_retry_and_detail_urls_still_work(
    ship_app, ops_client, monkeypatch
):
    from sqlalchemy.exc import OperationalError

    from fulfilment.admin.orders import OrderView

    place(ship_app, "ORD-L1")

    def broken(self, *a, **k):
        raise OperationalError("SELECT", {}, Exception("connection lost"))

    monkeypatch.setattr(OrderView, "get_list", broken)
    resp = ops_client.get("/admin/orders/")
    detail = ops_client.get("/admin/orders/details/?order_id=ORD-L1")

    assert resp.status_code == 503
    html = resp.get_data(True)
    assert "Unable to load orders. Please refresh or try again later." in html
    assert 'id="retry-list"' in html
    assert detail.status_code == 200 and "ORD-L1" in detail.get_data(True)


def test_viewer_and_flag_off_see_no_actions_ops_does(ship_app, ops_client):
    from fulfilment.services.flags import set_flag

    place(ship_app, "ORD-V1")
    make_user(ship_app, "viewer@example.in", "viewer")
    viewer = ship_app.test_client()
    login(viewer, "viewer@example.in")

    ops_detail = ops_client.get("/admin/orders/details/?order_id=ORD-V1").get_data(True)
    viewer_detail = viewer.get("/admin/orders/details/?order_id=ORD-V1").get_data(True)
    viewer_list = viewer.get("/admin/orders/").get_data(True)
    with ship_app.app_context():
        set_flag("feature.orders.order_fulfillment", False, actor="admin@example.in")
    off_detail = ops_client.get("/admin/orders/details/?order_id=ORD-V1").get_data(True)
    off_list = ops_client.get("/admin/orders/").get_data(True)
    refused = ops_client.post("/admin/orders/ORD-V1/process")

    assert 'id="mark-processing"' in ops_detail
    assert 'id="actions"' not in viewer_detail and "With selected" not in viewer_list
    assert 'id="actions"' not in off_detail and "With selected" not in off_list
    assert "ORD-V1" in off_list
    assert refused.status_code in (400, 403)  # no CSRF token or no permission: nothing changes
    with ship_app.app_context():
        assert (
            db.session.execute(select(Order.status).where(Order.order_id == "ORD-V1")).scalar_one()
            == "placed"
        )


def test_mark_processing_from_the_detail_page_with_a_stale_version_is_refused(ship_app, ops_client):
    from tests.admin_helpers import csrf_from

    place(ship_app, "ORD-M1")
    token = csrf_from(ops_client, "/admin/orders/details/?order_id=ORD-M1")

    stale = ops_client.post(
        "/admin/orders/ORD-M1/process",
        data={"csrf_token": token, "version": "0"},
        follow_redirects=True,
    )
    fresh = ops_client.post(
        "/admin/orders/ORD-M1/process",
        data={"csrf_token": token, "version": "1"},
        follow_redirects=True,
    )

    assert "changed by someone else" in stale.get_data(True)
    assert "Order marked as Processing." in fresh.get_data(True)


def test_date_range_filter_takes_whole_days_in_india_time(ship_app, ops_client):
    place(ship_app, "ORD-D1", placed_at="2026-05-31T23:30:00+05:30")  # 18:00 UTC, May 31
    place(ship_app, "ORD-D2", placed_at="2026-06-01T00:10:00+05:30")  # 18:40 UTC, May 31
    place(ship_app, "ORD-D3", placed_at="2026-05-01T00:00:00+05:30")

    june = rows(ops_client.get("/admin/orders/?flt0_5=2026-06-01+to+2026-06-30").get_data(True))
    may = rows(ops_client.get("/admin/orders/?flt0_5=2026-05-01+to+2026-05-31").get_data(True))

    assert june == ["ORD-D2"]
    assert sorted(may) == ["ORD-D1", "ORD-D3"]


def test_carrier_filter_lists_the_carriers_seen(ship_app, sandbox, ops_client):
    place_processing(ship_app, "ORD-K1")
    ship(ship_app, "ORD-K1")
    with ship_app.app_context():
        from fulfilment.admin.filters import carrier_options

        (name,) = [n for n, _ in carrier_options()]
    listed = rows(ops_client.get("/admin/orders/", query_string={"flt0_4": name}).get_data(True))
    assert listed == ["ORD-K1"]


def test_tracking_exceptions_are_flagged_in_the_list_and_filterable(ship_app, sandbox, ops_client):
    from tests.helpers import post_tracking, tracking_push
    from tests.shipping_helpers import load

    for order_id in ("ORD-X1", "ORD-X2"):
        place_processing(ship_app, order_id)
        ship(ship_app, order_id)
    awb = load(ship_app, "ORD-X1")["shipment"]["awb"]
    rto = tracking_push(
        awb,
        shipment_status="RTO INITIATED",
        shipment_status_id=9,
        current_timestamp="25 05 2023 10:00:00",
    )
    assert post_tracking(ship_app, rto).status_code == 200

    html = ops_client.get("/admin/orders/?flt0_1=exception").get_data(True)

    assert rows(html) == ["ORD-X1"]
    assert 'class="badge badge-danger tracking-exception">RTO initiated<' in html
