"""JSON API /api/v1 (contract §6): bearer tokens, order detail, process, errors."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from fulfilment.extensions import db
from fulfilment.models import ApiToken, Order, OrderStatusHistory, User
from tests.admin_helpers import bearer, user_with_token
from tests.helpers import count, counts, post_signed, sample

OPS = "ops@example.in"
VIEWER = "viewer@example.in"
ADMIN = "admin@example.in"
ORDER = "/api/v1/orders/ORD-100045"


def _status(app, order_id: str = "ORD-100045") -> str:
    with app.app_context():
        return db.session.execute(
            select(Order.status).where(Order.order_id == order_id)
        ).scalar_one()


def _history(app) -> list[tuple[str | None, str, str]]:
    with app.app_context():
        return [
            (h.from_status, h.to_status, h.actor)
            for h in db.session.execute(
                select(OrderStatusHistory).order_by(OrderStatusHistory.id)
            ).scalars()
        ]


# --- authentication -------------------------------------------------------------------------


def _unauthorized(resp) -> bool:
    return resp.status_code == 401 and resp.is_json and resp.get_json()["error"] == "unauthorized"


def test_no_token_is_401(app, client):
    post_signed(client, app, sample())

    resp = client.get(ORDER)

    assert _unauthorized(resp), (resp.status_code, resp.get_data(as_text=True))


@pytest.mark.parametrize(
    "header",
    [
        "Bearer ful_not-a-real-token",
        "Bearer not-even-prefixed",
        "Bearer ",
        "Bearer",
        "",
    ],
    ids=["unknown-token", "unprefixed", "empty-token", "scheme-only", "empty-header"],
)
def test_bad_token_is_401(app, client, header):
    user_with_token(app, VIEWER, "viewer")
    post_signed(client, app, sample())

    resp = client.get(ORDER, headers={"Authorization": header})

    assert _unauthorized(resp)


@pytest.mark.parametrize("scheme", ["Basic", "Token", "ful"])
def test_valid_token_with_wrong_scheme_is_401(app, client, scheme):
    token = user_with_token(app, VIEWER, "viewer")
    post_signed(client, app, sample())

    resp = client.get(ORDER, headers={"Authorization": f"{scheme} {token}"})

    assert _unauthorized(resp)


def test_bearer_scheme_is_case_insensitive(app, client):
    token = user_with_token(app, VIEWER, "viewer")
    post_signed(client, app, sample())

    resp = client.get(ORDER, headers={"Authorization": f"bearer {token}"})

    assert resp.status_code == 200


def test_token_in_query_string_is_not_accepted(app, client):
    token = user_with_token(app, VIEWER, "viewer")
    post_signed(client, app, sample())

    resp = client.get(ORDER, query_string={"token": token, "access_token": token})

    assert _unauthorized(resp)


def test_revoked_token_is_401(app, client):
    token = user_with_token(app, VIEWER, "viewer")
    post_signed(client, app, sample())
    with app.app_context():
        db.session.execute(update(ApiToken).values(revoked_at=db.func.now()))
        db.session.commit()

    assert _unauthorized(client.get(ORDER, headers=bearer(token)))


def test_token_of_a_deactivated_user_is_401(app, client):
    token = user_with_token(app, VIEWER, "viewer")
    post_signed(client, app, sample())
    with app.app_context():
        db.session.execute(update(User).values(is_active=False))
        db.session.commit()

    assert _unauthorized(client.get(ORDER, headers=bearer(token)))


def test_unauthenticated_process_is_401_and_changes_nothing(app, client):
    post_signed(client, app, sample())
    before = counts(app)

    resp = client.post(f"{ORDER}/process")

    assert _unauthorized(resp)
    assert _status(app) == "placed"
    assert counts(app) == before


def test_session_login_alone_does_not_authenticate_the_api(app, client):
    from tests.admin_helpers import login

    user_with_token(app, OPS, "ops")
    post_signed(client, app, sample())
    login(client, OPS)

    resp = client.post(f"{ORDER}/process")

    assert _unauthorized(resp)
    assert _status(app) == "placed"


# --- order detail ---------------------------------------------------------------------------


def test_order_detail_for_a_viewer(app, client):
    token = user_with_token(app, VIEWER, "viewer")
    post_signed(client, app, sample())

    resp = client.get(ORDER, headers=bearer(token))

    assert resp.status_code == 200
    body = resp.get_json()
    assert body["order_id"] == "ORD-100045"
    assert body["status"] == "placed"
    assert body["placed_at"] == "2026-11-24T10:15:40+05:30"
    assert body["customer"] == {
        "name": "Ananya Krishnan",
        "email": "ananya.k@example.in",
        "phone": "9845012345",
    }
    assert body["shipping_address"] == {
        "line1": "Flat 4B, Sai Residency, 12th Cross",
        "line2": "Indiranagar 2nd Stage",
        "city": "Bengaluru",
        "state": "Karnataka",
        "pincode": "560038",
        "country": "IN",
    }
    assert [(i["sku"], i["name"], i["quantity"], i["unit_price"]) for i in body["items"]] == [
        ("TEE-ORG-BLK-M", "Organic Cotton Tee - Black - M", 2, "599.00"),
        ("MUG-CER-350", "Ceramic Mug 350ml", 1, "300.00"),
    ]
    assert body["total"] == "1498.00"
    assert body["payment"] == {
        "status": "paid",
        "method": "prepaid",
        "reference": "pay_NxQ81kLm2ZrT0a",
    }
    assert body["shipment"] is None
    assert body["tracking_events"] == []
    assert body["notes"] == []
    (first,) = body["history"]
    assert set(first) == {"at", "from_status", "to_status", "actor", "details"}
    assert (first["from_status"], first["to_status"], first["actor"]) == (
        None,
        "placed",
        "system:checkout",
    )
    assert first["at"].endswith("+05:30")
    assert first["details"]["event_id"] == "evt_01JDZ8Q4W7K3M2N5P6R8S9T0UV"


def test_money_is_never_a_float(app, client):
    token = user_with_token(app, VIEWER, "viewer")
    post_signed(client, app, sample())

    body = client.get(ORDER, headers=bearer(token)).get_json()

    for value in [body["total"], *(i["unit_price"] for i in body["items"])]:
        assert isinstance(value, str)


def test_unknown_order_is_404(app, client):
    token = user_with_token(app, VIEWER, "viewer")

    resp = client.get("/api/v1/orders/ORD-404", headers=bearer(token))

    assert resp.status_code == 404
    assert resp.get_json()["error"] == "not_found"


# --- process --------------------------------------------------------------------------------


def test_ops_processes_a_placed_order(app, client):
    token = user_with_token(app, OPS, "ops")
    post_signed(client, app, sample())

    resp = client.post(f"{ORDER}/process", headers=bearer(token))

    assert resp.status_code == 200
    body = resp.get_json()
    assert body["order_id"] == "ORD-100045"
    assert body["status"] == "processing"
    assert [(h["from_status"], h["to_status"], h["actor"]) for h in body["history"]] == [
        (None, "placed", "system:checkout"),
        ("placed", "processing", OPS),
    ]
    assert body["history"][1]["at"].endswith("+05:30")
    assert body["history"][0]["at"] <= body["history"][1]["at"]
    assert _status(app) == "processing"
    assert _history(app) == [
        (None, "placed", "system:checkout"),
        ("placed", "processing", OPS),
    ]


def test_admin_can_process_too(app, client):
    token = user_with_token(app, ADMIN, "admin")
    post_signed(client, app, sample())

    resp = client.post(f"{ORDER}/process", headers=bearer(token))

    assert resp.status_code == 200
    assert _history(app)[-1] == ("placed", "processing", ADMIN)


def test_processing_twice_is_409_naming_the_current_status(app, client):
    token = user_with_token(app, OPS, "ops")
    post_signed(client, app, sample())
    client.post(f"{ORDER}/process", headers=bearer(token))
    before = counts(app)

    resp = client.post(f"{ORDER}/process", headers=bearer(token))

    assert resp.status_code == 409
    body = resp.get_json()
    assert body["error"] == "invalid_transition"
    assert body["current_status"] == "processing"
    assert counts(app) == before
    assert _status(app) == "processing"


def test_viewer_cannot_process(app, client):
    token = user_with_token(app, VIEWER, "viewer")
    post_signed(client, app, sample())
    before = counts(app)

    resp = client.post(f"{ORDER}/process", headers=bearer(token))

    assert resp.status_code == 403
    assert resp.get_json()["error"] == "forbidden"
    assert _status(app) == "placed"
    assert counts(app) == before


def test_processing_an_unknown_order_is_404(app, client):
    token = user_with_token(app, OPS, "ops")

    resp = client.post("/api/v1/orders/ORD-404/process", headers=bearer(token))

    assert resp.status_code == 404
    assert resp.get_json()["error"] == "not_found"
    assert count(app, OrderStatusHistory) == 0


def test_cancelled_order_cannot_be_processed(app, client):
    from fulfilment.services.orders import get_order, transition

    token = user_with_token(app, OPS, "ops")
    post_signed(client, app, sample())
    with app.app_context():
        transition(get_order("ORD-100045"), "cancelled", actor="test", details={"reason": "t"})
    before = counts(app)

    resp = client.post(f"{ORDER}/process", headers=bearer(token))

    assert resp.status_code == 409
    body = resp.get_json()
    assert body["error"] == "invalid_transition"
    assert body["current_status"] == "cancelled"
    assert _status(app) == "cancelled"
    assert counts(app) == before


def test_unknown_api_path_is_json_404(app, client):
    token = user_with_token(app, VIEWER, "viewer")

    resp = client.get("/api/v1/nope", headers=bearer(token))

    assert resp.status_code == 404
    assert resp.is_json
    assert resp.get_json()["error"] == "not_found"


def test_get_on_process_is_405_json(app, client):
    token = user_with_token(app, OPS, "ops")
    post_signed(client, app, sample())

    resp = client.get(f"{ORDER}/process", headers=bearer(token))

    assert resp.status_code == 405
    assert resp.is_json
    assert _status(app) == "placed"
