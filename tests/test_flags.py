"""Feature flag feature.orders.order_fulfillment (contract §7): env seed, admin toggle, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fulfilment.extensions import db
from fulfilment.models import FeatureFlag, Order, OrderStatusHistory
from fulfilment.services.flags import ORDER_FULFILLMENT, is_enabled
from tests.admin_helpers import (
    audit_rows,
    bearer,
    csrf_from,
    login,
    make_user,
    user_with_token,
)
from tests.helpers import count, post_signed, sample

ADMIN = "admin@example.in"
OPS = "ops@example.in"
FLAG = "feature.orders.order_fulfillment"


def _flag(app) -> tuple[bool, str, str] | None:
    with app.app_context():
        row = db.session.get(FeatureFlag, FLAG)
        return None if row is None else (row.enabled, row.source, row.updated_by)


def _enabled(app) -> bool:
    with app.app_context():
        return is_enabled(ORDER_FULFILLMENT)


def _status(app, order_id: str = "ORD-100045") -> str:
    with app.app_context():
        return db.session.execute(
            select(Order.status).where(Order.order_id == order_id)
        ).scalar_one()


def _toggle(client, enabled: str, token: str | None = None):
    data = {"key": FLAG, "enabled": enabled}
    if token is not None:
        data["csrf_token"] = token
    return client.post("/admin/flags/", data=data)


def test_flag_name_is_the_contract_key():
    assert ORDER_FULFILLMENT == FLAG


# --- flag off from the environment ----------------------------------------------------------


def test_flag_off_refuses_process_with_403_and_changes_nothing(make_app):
    app = make_app({"FEATURE_ORDERS_ORDER_FULFILLMENT": "0"})
    client = app.test_client()
    token = user_with_token(app, OPS, "ops")
    assert post_signed(client, app, sample()).status_code == 202

    resp = client.post("/api/v1/orders/ORD-100045/process", headers=bearer(token))

    assert resp.status_code == 403
    assert resp.get_json()["error"] == "feature_disabled"
    assert _status(app) == "placed"
    assert count(app, OrderStatusHistory) == 1


@pytest.mark.parametrize("value", ["0", "false", "FALSE", "off"])
def test_flag_off_spellings_are_honoured(make_app, value):
    app = make_app({"FEATURE_ORDERS_ORDER_FULFILLMENT": value})

    assert _enabled(app) is False


def test_flag_off_still_receives_and_lists_orders_as_placed(make_app):
    app = make_app({"FEATURE_ORDERS_ORDER_FULFILLMENT": "0"})
    client = app.test_client()
    token = user_with_token(app, OPS, "ops")

    received = post_signed(client, app, sample())
    api = client.get("/api/v1/orders/ORD-100045", headers=bearer(token))
    login(client, OPS)
    listing = client.get("/admin/orders/")

    assert received.status_code == 202
    assert received.get_json() == {"status": "accepted", "order_id": "ORD-100045"}
    assert api.status_code == 200
    assert api.get_json()["status"] == "placed"
    assert listing.status_code == 200
    html = listing.get_data(as_text=True)
    assert "ORD-100045" in html and "Placed" in html


def test_flag_on_by_default(app):
    assert app.config["FEATURE_ORDERS_ORDER_FULFILLMENT"] is True
    assert _enabled(app) is True


# --- admin toggle ---------------------------------------------------------------------------


def test_admin_turns_the_flag_off_and_it_is_audited(app):
    client = app.test_client()
    make_user(app, ADMIN, "admin")
    login(client, ADMIN)
    token = csrf_from(client, "/admin/flags/")  # the GET also seeds the flag from the env
    assert _flag(app) == (True, "env", "system:config")

    resp = _toggle(client, "0", token)

    assert resp.status_code == 302
    assert _flag(app) == (False, "admin", ADMIN)
    assert _enabled(app) is False
    assert audit_rows(app, "flag.set") == [
        (ADMIN, "flag.set", "feature_flag", FLAG, {"from": True, "to": False})
    ]
    page = client.get("/admin/flags/").get_data(as_text=True)
    assert "Off" in page and ADMIN in page


def test_admin_toggle_off_makes_the_api_refuse_process(app):
    client = app.test_client()
    make_user(app, ADMIN, "admin")
    ops_token = user_with_token(app, OPS, "ops")
    post_signed(client, app, sample())
    login(client, ADMIN)
    _toggle(client, "0", csrf_from(client, "/admin/flags/"))

    resp = client.post("/api/v1/orders/ORD-100045/process", headers=bearer(ops_token))

    assert resp.status_code == 403
    assert resp.get_json()["error"] == "feature_disabled"
    assert _status(app) == "placed"


def test_admin_turns_the_flag_back_on(make_app):
    app = make_app({"FEATURE_ORDERS_ORDER_FULFILLMENT": "0"})
    client = app.test_client()
    make_user(app, ADMIN, "admin")
    login(client, ADMIN)
    token = csrf_from(client, "/admin/flags/")

    resp = _toggle(client, "1", token)

    assert resp.status_code == 302
    assert _flag(app) == (True, "admin", ADMIN)
    assert _enabled(app) is True
    assert audit_rows(app, "flag.set") == [
        (ADMIN, "flag.set", "feature_flag", FLAG, {"from": False, "to": True})
    ]


@pytest.mark.parametrize("role", ["ops", "viewer"])
def test_non_admin_cannot_toggle_the_flag(app, role):
    client = app.test_client()
    make_user(app, f"{role}@example.in", role)
    login(client, f"{role}@example.in")
    token = csrf_from(client, "/admin/")
    before = _flag(app)

    resp = _toggle(client, "0", token)

    assert resp.status_code == 403
    assert _flag(app) == before
    assert _enabled(app) is True
    assert audit_rows(app, "flag.set") == []


def test_toggle_without_csrf_is_400_and_changes_nothing(app):
    client = app.test_client()
    make_user(app, ADMIN, "admin")
    login(client, ADMIN)
    client.get("/admin/flags/")
    before = _flag(app)

    resp = _toggle(client, "0")

    assert resp.status_code == 400
    assert _flag(app) == before
    assert _enabled(app) is True
    assert audit_rows(app, "flag.set") == []


def test_toggle_of_an_unknown_flag_changes_nothing(app):
    client = app.test_client()
    make_user(app, ADMIN, "admin")
    login(client, ADMIN)
    token = csrf_from(client, "/admin/flags/")

    resp = client.post(
        "/admin/flags/", data={"csrf_token": token, "key": "feature.nope", "enabled": "0"}
    )

    assert resp.status_code in (400, 404)
    assert audit_rows(app, "flag.set") == []
    with app.app_context():
        assert db.session.get(FeatureFlag, "feature.nope") is None


# --- stored value vs environment ------------------------------------------------------------


@pytest.mark.parametrize(("env", "toggled"), [("1", "0"), ("0", "1")])
def test_admin_value_wins_over_the_environment(make_app, env, toggled):
    first = make_app({"FEATURE_ORDERS_ORDER_FULFILLMENT": env})
    client = first.test_client()
    make_user(first, ADMIN, "admin")
    login(client, ADMIN)
    _toggle(client, toggled, csrf_from(client, "/admin/flags/"))

    # A redeploy with the environment still saying the opposite of the admin.
    second = make_app({"FEATURE_ORDERS_ORDER_FULFILLMENT": env})
    with second.app_context():
        from fulfilment.services.flags import seed_flags

        seed_flags()
        assert is_enabled(ORDER_FULFILLMENT) is (toggled == "1")
    assert _flag(second) == (toggled == "1", "admin", ADMIN)


def test_admin_value_wins_over_a_changed_environment(make_app):
    first = make_app({"FEATURE_ORDERS_ORDER_FULFILLMENT": "1"})
    client = first.test_client()
    make_user(first, ADMIN, "admin")
    login(client, ADMIN)
    _toggle(client, "0", csrf_from(client, "/admin/flags/"))

    second = make_app({"FEATURE_ORDERS_ORDER_FULFILLMENT": "1"})
    runner = second.test_cli_runner()
    runner.invoke(args=["flags", "seed"])

    assert _enabled(second) is False


def test_untoggled_flag_follows_a_changed_environment(make_app):
    first = make_app({"FEATURE_ORDERS_ORDER_FULFILLMENT": "1"})
    first.test_cli_runner().invoke(args=["flags", "seed"])
    assert _enabled(first) is True

    second = make_app({"FEATURE_ORDERS_ORDER_FULFILLMENT": "0"})
    second.test_cli_runner().invoke(args=["flags", "seed"])

    assert _enabled(second) is False
    assert _flag(second) == (False, "env", "system:config")


# --- CLI ------------------------------------------------------------------------------------


def test_flags_seed_cli_prints_the_flag(app, runner):
    result = runner.invoke(args=["flags", "seed"])

    assert result.exit_code == 0, result.output
    assert FLAG in result.output
    assert f"{FLAG} = on" in result.output
    assert _flag(app) == (True, "env", "system:config")


def test_flags_seed_cli_prints_off_from_the_environment(make_app):
    app = make_app({"FEATURE_ORDERS_ORDER_FULFILLMENT": "0"})

    result = app.test_cli_runner().invoke(args=["flags", "seed"])

    assert result.exit_code == 0, result.output
    assert f"{FLAG} = off" in result.output


def test_flags_seed_cli_is_idempotent(app, runner):
    runner.invoke(args=["flags", "seed"])
    again = runner.invoke(args=["flags", "seed"])

    assert again.exit_code == 0
    assert count(app, FeatureFlag) == 1
    assert audit_rows(app, "flag.set") == []
