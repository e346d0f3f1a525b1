"""Admin logins (sessions, CSRF, roles, redirects), the read-only admin, and the users CLI."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from fulfilment.extensions import db
from fulfilment.models import ApiToken, AuditLog, Order, User
from tests.admin_helpers import (
    PASSWORD,
    audit_rows,
    csrf_from,
    logged_in_user_id,
    login,
    make_user,
)
from tests.helpers import count, counts, post_signed, sample

ADMIN = "admin@example.in"
OPS = "ops@example.in"
VIEWER = "viewer@example.in"

# Placeholder values for URL arguments when crawling the admin's rules.
_URL_ARGS = {"export_type": "csv", "filename": "x", "id": "1"}


def _is_login_redirect(resp) -> bool:
    return resp.status_code == 302 and urlsplit(resp.headers["Location"]).path == "/login"


def _same_site(location: str) -> bool:
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        return parts.scheme in ("http", "https") and parts.netloc == "localhost"
    return location.startswith("/") and not location.startswith(("//", "/\\"))


def _order_pk(app, order_id: str = "ORD-100045") -> int:
    with app.app_context():
        return db.session.execute(select(Order.id).where(Order.order_id == order_id)).scalar_one()


def _order_snapshot(app) -> list[tuple]:
    with app.app_context():
        return [
            (o.order_id, o.status, o.version, o.customer_name, o.total)
            for o in db.session.execute(select(Order).order_by(Order.id)).scalars()
        ]


# --- login page and sessions -------------------------------------------------------------


def test_login_page_renders_with_a_csrf_token(client):
    resp = client.get("/login")

    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'name="csrf_token"' in html
    assert 'name="email"' in html and 'name="password"' in html


def test_correct_login_redirects_to_the_admin(app, client):
    make_user(app, ADMIN, "admin")

    resp = login(client, ADMIN)

    assert resp.status_code == 302
    assert resp.headers["Location"] == "/admin/"
    assert logged_in_user_id(client) is not None
    home = client.get("/admin/")
    assert home.status_code == 200
    assert ADMIN in home.get_data(as_text=True)


def test_login_email_is_case_insensitive(app, client):
    make_user(app, ADMIN, "admin")

    resp = login(client, "Admin@Example.IN")

    assert resp.status_code == 302
    assert logged_in_user_id(client) is not None


@pytest.mark.parametrize(
    ("email", "password"),
    [(ADMIN, "wrong-password-123"), ("nobody@example.in", PASSWORD)],
    ids=["wrong-password", "unknown-user"],
)
def test_wrong_credentials_are_400_with_a_message_and_no_session(app, client, email, password):
    make_user(app, ADMIN, "admin")

    resp = login(client, email, password)

    assert resp.status_code == 400
    assert "Wrong e-mail or password." in resp.get_data(as_text=True)
    assert logged_in_user_id(client) is None
    assert _is_login_redirect(client.get("/admin/"))


def test_empty_password_is_400_and_no_session(app, client):
    make_user(app, ADMIN, "admin")

    resp = login(client, ADMIN, "")

    assert resp.status_code == 400
    assert logged_in_user_id(client) is None


def test_login_without_csrf_token_is_400_and_does_not_log_in(app, client):
    make_user(app, ADMIN, "admin")
    client.get("/login")

    resp = client.post("/login", data={"email": ADMIN, "password": PASSWORD})

    assert resp.status_code == 400
    assert logged_in_user_id(client) is None
    assert _is_login_redirect(client.get("/admin/"))


def test_login_with_a_forged_csrf_token_is_400(app, client):
    make_user(app, ADMIN, "admin")
    client.get("/login")

    resp = client.post(
        "/login", data={"csrf_token": "forged", "email": ADMIN, "password": PASSWORD}
    )

    assert resp.status_code == 400
    assert logged_in_user_id(client) is None


def test_session_cookie_is_httponly_and_samesite_lax(app, client):
    make_user(app, ADMIN, "admin")

    resp = login(client, ADMIN)

    cookies = [c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert len(cookies) == 1, resp.headers.getlist("Set-Cookie")
    attributes = [a.strip().lower() for a in cookies[0].split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes


def test_passwords_are_stored_as_scrypt_hashes(app):
    make_user(app, ADMIN, "admin")

    with app.app_context():
        stored = db.session.execute(select(User.password_hash)).scalar_one()

    assert stored.startswith("scrypt:")
    assert PASSWORD not in stored


def test_inactive_user_cannot_log_in(app, client):
    make_user(app, ADMIN, "admin")
    with app.app_context():
        db.session.execute(select(User)).scalar_one().is_active = False
        db.session.commit()

    resp = login(client, ADMIN)

    assert resp.status_code == 400
    assert logged_in_user_id(client) is None


# --- open redirects ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "\\\\evil.com",
        "/\\evil.com",
        "https://evil.com/x",
        "javascript:alert(1)",
        "///evil.com",
        " //evil.com",
        "/\t/evil.com",
        "/\n/evil.com",
        "\t//evil.com",
        "https:evil.com",
    ],
)
def test_next_after_login_never_leaves_the_site(app, client, target):
    make_user(app, ADMIN, "admin")

    resp = login(client, ADMIN, next_url=target)

    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert _same_site(location), location
    assert "evil" not in location and "javascript" not in location


def test_next_to_an_admin_page_is_followed(app, client):
    make_user(app, ADMIN, "admin")

    resp = login(client, ADMIN, next_url="/admin/orders/")

    assert resp.status_code == 302
    assert resp.headers["Location"] == "/admin/orders/"


def test_anonymous_admin_page_redirects_to_login_with_next(client):
    resp = client.get("/admin/orders/")

    assert _is_login_redirect(resp)
    assert "next=" in resp.headers["Location"]


# --- every admin URL needs a login ----------------------------------------------------------


def _admin_urls(app) -> list[tuple[str, set[str]]]:
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or rule.endpoint.endswith("static"):
            continue
        url = rule.rule
        for arg in rule.arguments:
            url = url.replace(f"<{arg}>", _URL_ARGS.get(arg, "1"))
            for converter in ("string", "int", "path"):
                url = url.replace(f"<{converter}:{arg}>", _URL_ARGS.get(arg, "1"))
        urls.append((url, set(rule.methods or ())))
    return urls


def test_every_admin_url_redirects_anonymous_users_to_login(app, client):
    post_signed(client, app, sample())
    pk = _order_pk(app)
    before = counts(app)
    snapshot = _order_snapshot(app)
    urls = _admin_urls(app)
    assert len(urls) >= 10  # the crawl found the admin's rules
    token = csrf_from(client, "/login")  # a valid token: only the login must stop these

    problems = []
    for url, methods in urls:
        if "GET" in methods:
            resp = client.get(f"{url}?id={pk}")
            if not _is_login_redirect(resp):
                problems.append(("GET", url, resp.status_code, resp.headers.get("Location")))
        if "POST" in methods:
            resp = client.post(
                f"{url}?id={pk}",
                data={
                    "csrf_token": token,
                    "id": str(pk),
                    "customer_name": "Hacked",
                    "key": "feature.orders.order_fulfillment",
                    "enabled": "0",
                    "list_form_pk": str(pk),
                    "action": "delete",
                    "rowid": str(pk),
                },
            )
            if resp.status_code == 200 or (
                resp.status_code == 302 and not _is_login_redirect(resp)
            ):
                problems.append(("POST", url, resp.status_code, resp.headers.get("Location")))

    assert problems == []
    assert counts(app) == before
    assert _order_snapshot(app) == snapshot
    assert count(app, AuditLog) == 0


# --- roles ----------------------------------------------------------------------------------


def test_viewer_sees_the_order_list_but_not_flags_or_audit(app, client):
    post_signed(client, app, sample())
    make_user(app, VIEWER, "viewer")
    login(client, VIEWER)

    orders = client.get("/admin/orders/")
    flags = client.get("/admin/flags/")
    audit = client.get("/admin/audit/")

    assert orders.status_code == 200
    assert "ORD-100045" in orders.get_data(as_text=True)
    assert flags.status_code == 403
    assert audit.status_code == 403


def test_viewer_sees_order_details(app, client):
    post_signed(client, app, sample())
    make_user(app, VIEWER, "viewer")
    login(client, VIEWER)

    resp = client.get(f"/admin/orders/details/?id={_order_pk(app)}")

    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "ORD-100045" in html and "Ananya Krishnan" in html


def test_ops_cannot_open_flags_or_audit(app, client):
    make_user(app, OPS, "ops")
    login(client, OPS)

    assert client.get("/admin/orders/").status_code == 200
    assert client.get("/admin/flags/").status_code == 403
    assert client.get("/admin/audit/").status_code == 403


def test_admin_opens_orders_flags_and_audit(app, client):
    post_signed(client, app, sample())
    make_user(app, ADMIN, "admin")
    login(client, ADMIN)

    orders = client.get("/admin/orders/")
    flags = client.get("/admin/flags/")
    audit = client.get("/admin/audit/")

    assert orders.status_code == 200 and "ORD-100045" in orders.get_data(as_text=True)
    assert flags.status_code == 200
    assert "feature.orders.order_fulfillment" in flags.get_data(as_text=True)
    assert audit.status_code == 200
    assert "user.create" in audit.get_data(as_text=True)


# --- escaping -------------------------------------------------------------------------------

XSS = "<script>alert(1)</script>"


def test_customer_name_with_script_is_escaped_in_list_and_details(app, client):
    payload = sample()
    payload["order"]["customer"]["name"] = XSS
    assert post_signed(client, app, payload).status_code == 202
    make_user(app, VIEWER, "viewer")
    login(client, VIEWER)

    listing = client.get("/admin/orders/").get_data(as_text=True)
    details = client.get(f"/admin/orders/details/?id={_order_pk(app)}").get_data(as_text=True)

    for html in (listing, details):
        assert "ORD-100045" in html
        assert XSS not in html
        assert "&lt;script&gt;" in html


def test_search_term_with_script_is_escaped(app, client):
    make_user(app, VIEWER, "viewer")
    login(client, VIEWER)

    resp = client.get("/admin/orders/", query_string={"search": XSS})

    assert resp.status_code == 200
    assert XSS not in resp.get_data(as_text=True)


def test_item_name_with_script_is_escaped_in_details(app, client):
    payload = sample()
    payload["order"]["items"][0]["name"] = XSS
    assert post_signed(client, app, payload).status_code == 202
    make_user(app, VIEWER, "viewer")
    login(client, VIEWER)

    html = client.get(f"/admin/orders/details/?id={_order_pk(app)}").get_data(as_text=True)

    assert XSS not in html
    assert "&lt;script&gt;" in html


# --- orders are read-only in the admin -------------------------------------------------------


def _no_form(resp) -> bool:
    if resp.status_code in (403, 404, 405):
        return True
    if resp.status_code == 302:
        path = urlsplit(resp.headers["Location"]).path
        return path not in ("/admin/orders/new/", "/admin/orders/edit/")
    return False


def test_orders_have_no_create_form(app, client):
    make_user(app, ADMIN, "admin")
    login(client, ADMIN)

    resp = client.get("/admin/orders/new/")

    assert _no_form(resp), (resp.status_code, resp.headers.get("Location"))


def test_orders_have_no_edit_form(app, client):
    post_signed(client, app, sample())
    make_user(app, ADMIN, "admin")
    login(client, ADMIN)

    resp = client.get(f"/admin/orders/edit/?id={_order_pk(app)}")

    assert _no_form(resp), (resp.status_code, resp.headers.get("Location"))


def test_posting_to_create_or_edit_changes_nothing(app, client):
    post_signed(client, app, sample())
    make_user(app, ADMIN, "admin")
    login(client, ADMIN)
    pk = _order_pk(app)
    snapshot = _order_snapshot(app)
    token = csrf_from(client, "/admin/")
    form = {
        "csrf_token": token,
        "order_id": "ORD-EVIL",
        "customer_name": "Hacked",
        "status": "delivered",
        "total": "0.00",
    }

    created = client.post("/admin/orders/new/", data=form)
    edited = client.post(f"/admin/orders/edit/?id={pk}", data=form)
    inline = client.post(
        "/admin/orders/ajax/update/",
        data={"csrf_token": token, "list_form_pk": str(pk), "status": "delivered"},
    )

    assert created.status_code != 200
    assert edited.status_code != 200
    assert inline.status_code != 200
    assert _order_snapshot(app) == snapshot


def test_orders_cannot_be_deleted_from_the_admin(app, client):
    post_signed(client, app, sample())
    make_user(app, ADMIN, "admin")
    login(client, ADMIN)
    pk = _order_pk(app)
    before = counts(app)
    token = csrf_from(client, "/admin/")

    resp = client.post("/admin/orders/delete/", data={"csrf_token": token, "id": str(pk)})
    bulk = client.post(
        "/admin/orders/action/",
        data={"csrf_token": token, "action": "delete", "rowid": str(pk)},
    )

    assert resp.status_code != 200
    assert bulk.status_code != 200
    assert counts(app) == before
    assert _order_snapshot(app)[0][:2] == ("ORD-100045", "placed")


def test_audit_log_cannot_be_created_edited_or_deleted_from_the_admin(app, client):
    make_user(app, ADMIN, "admin")
    login(client, ADMIN)
    rows = audit_rows(app)
    token = csrf_from(client, "/admin/")

    new = client.get("/admin/audit/new/")
    edit = client.get("/admin/audit/edit/?id=1")
    delete = client.post("/admin/audit/delete/", data={"csrf_token": token, "id": "1"})

    assert new.status_code != 200
    assert edit.status_code != 200
    assert delete.status_code != 200
    assert audit_rows(app) == rows


# --- logout ---------------------------------------------------------------------------------


def test_logout_by_get_is_not_allowed_and_keeps_the_session(app, client):
    make_user(app, ADMIN, "admin")
    login(client, ADMIN)

    resp = client.get("/logout")

    assert resp.status_code == 405
    assert logged_in_user_id(client) is not None


def test_logout_without_csrf_is_400_and_keeps_the_session(app, client):
    make_user(app, ADMIN, "admin")
    login(client, ADMIN)

    resp = client.post("/logout")

    assert resp.status_code == 400
    assert logged_in_user_id(client) is not None
    assert client.get("/admin/").status_code == 200


def test_logout_with_csrf_ends_the_session(app, client):
    make_user(app, ADMIN, "admin")
    login(client, ADMIN)
    token = csrf_from(client, "/admin/")

    resp = client.post("/logout", data={"csrf_token": token})

    assert resp.status_code == 302
    assert urlsplit(resp.headers["Location"]).path == "/login"
    assert logged_in_user_id(client) is None
    assert _is_login_redirect(client.get("/admin/"))


# --- users CLI ------------------------------------------------------------------------------


def test_cli_creates_a_user_and_audits_it(app, runner):
    result = runner.invoke(
        args=["users", "create", "ops@example.in", "--role", "ops", "--password", "correct-horse-1"]
    )

    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.execute(select(User)).scalar_one()
        assert (user.email, user.role, user.is_active) == ("ops@example.in", "ops", True)
        assert user.password_hash.startswith("scrypt:")
    assert audit_rows(app) == [
        ("system:cli", "user.create", "user", "ops@example.in", {"role": "ops"})
    ]


def test_cli_prompts_for_the_password_when_omitted(app, runner):
    result = runner.invoke(
        args=["users", "create", "ops@example.in", "--role", "ops"],
        input="correct-horse-1\ncorrect-horse-1\n",
    )

    assert result.exit_code == 0, result.output
    assert "correct-horse-1" not in result.output
    with app.app_context():
        assert db.session.execute(select(User.email)).scalar_one() == "ops@example.in"


def test_cli_invalid_email_fails_and_creates_nothing(app, runner):
    result = runner.invoke(
        args=["users", "create", "not-an-email", "--role", "ops", "--password", "correct-horse-1"]
    )

    assert result.exit_code != 0
    assert "email" in result.output
    assert count(app, User) == 0


def test_cli_created_user_can_log_in(app, runner, client):
    runner.invoke(
        args=["users", "create", "ops@example.in", "--role", "ops", "--password", "correct-horse-1"]
    )

    resp = login(client, "ops@example.in", "correct-horse-1")

    assert resp.status_code == 302
    assert client.get("/admin/orders/").status_code == 200


def test_cli_short_password_fails_clearly_and_creates_nothing(app, runner):
    result = runner.invoke(
        args=["users", "create", "ops@example.in", "--role", "ops", "--password", "short"]
    )

    assert result.exit_code != 0
    assert "password" in result.output
    assert "at least 10 characters" in result.output
    assert "Traceback" not in result.output
    assert count(app, User) == 0
    assert count(app, AuditLog) == 0


def test_cli_unknown_role_fails_and_creates_nothing(app, runner):
    result = runner.invoke(
        args=["users", "create", "x@example.in", "--role", "root", "--password", "correct-horse-1"]
    )

    assert result.exit_code != 0
    assert count(app, User) == 0


def test_cli_duplicate_email_fails_and_changes_nothing(app, runner):
    first = runner.invoke(
        args=["users", "create", "ops@example.in", "--role", "ops", "--password", "correct-horse-1"]
    )
    rows = audit_rows(app)

    again = runner.invoke(
        args=["users", "create", "OPS@example.in", "--role", "admin", "--password", "another-pw-12"]
    )

    assert first.exit_code == 0
    assert again.exit_code != 0
    assert "already exists" in again.output
    assert count(app, User) == 1
    with app.app_context():
        assert db.session.execute(select(User.role)).scalar_one() == "ops"
    assert audit_rows(app) == rows


def test_cli_token_is_printed_once_and_only_its_sha256_is_stored(app, runner):
    runner.invoke(
        args=["users", "create", "ops@example.in", "--role", "ops", "--password", "correct-horse-1"]
    )

    result = runner.invoke(args=["users", "token", "ops@example.in"])

    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.startswith("ful_")
    assert len(token) > 30
    with app.app_context():
        row = db.session.execute(select(ApiToken)).scalar_one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        stored = [getattr(row, c.key) for c in ApiToken.__table__.columns]
        assert all(token not in str(value) for value in stored)
        assert row.user.email == "ops@example.in"
    assert [r[:4] for r in audit_rows(app)] == [
        ("system:cli", "user.create", "user", "ops@example.in"),
        ("system:cli", "token.issue", "user", "ops@example.in"),
    ]
    assert token not in str(audit_rows(app))


def test_cli_token_works_against_the_api(app, runner, client):
    runner.invoke(
        args=["users", "create", "ops@example.in", "--role", "ops", "--password", "correct-horse-1"]
    )
    post_signed(client, app, sample())
    token = runner.invoke(args=["users", "token", "ops@example.in"]).output.strip()

    resp = client.get("/api/v1/orders/ORD-100045", headers={"Authorization": f"Bearer {token}"})

    assert resp.status_code == 200


def test_cli_token_for_unknown_user_fails_and_stores_nothing(app, runner):
    result = runner.invoke(args=["users", "token", "nobody@example.in"])

    assert result.exit_code != 0
    assert "nobody@example.in" in result.output
    assert count(app, ApiToken) == 0
    assert count(app, AuditLog) == 0


def test_sixth_wrong_password_in_the_window_is_429_even_with_the_right_one(app):
    from tests.admin_helpers import PASSWORD, csrf_from, make_user

    make_user(app, "slow@example.in", "ops")
    client = app.test_client()
    statuses = []
    for attempt in range(6):
        password = PASSWORD if attempt == 5 else "wrong-password-1"
        statuses.append(
            client.post(
                "/login",
                data={
                    "email": "slow@example.in",
                    "password": password,
                    "csrf_token": csrf_from(client),
                },
            ).status_code
        )

    assert statuses == [400, 400, 400, 400, 400, 429]
    with client.session_transaction() as sess:
        assert "_user_id" not in sess


@pytest.mark.parametrize(("sandbox", "shown"), [(True, True), (False, False)])
def test_sandbox_marker_shows_when_shipments_go_to_the_sandbox(make_app, sandbox, shown):
    from tests.admin_helpers import login, make_user

    app = make_app(SHIPROCKET_SANDBOX=sandbox)
    make_user(app, "viewer@example.in", "viewer")
    client = app.test_client()
    login(client, "viewer@example.in")

    page = client.get("/admin/").get_data(as_text=True)

    assert ("SANDBOX" in page) is shown


def test_admin_creates_changes_and_disables_users_with_audit(app):
    from tests.admin_helpers import audit_rows, csrf_from, login, make_user

    make_user(app, "boss@example.in", "admin")
    client = app.test_client()
    login(client, "boss@example.in")

    def post(**data):
        data["csrf_token"] = csrf_from(client, "/admin/users/")
        return client.post("/admin/users/", data=data, follow_redirects=True)

    post(op="create", email="new@example.in", role="viewer", password="a-long-password")
    post(op="role", email="new@example.in", role="ops")
    post(op="active", email="new@example.in", active="0")
    refused = post(op="active", email="boss@example.in", active="0")

    from fulfilment.extensions import db
    from fulfilment.models import User

    with app.app_context():
        user = db.session.query(User).filter_by(email="new@example.in").one()
        boss = db.session.query(User).filter_by(email="boss@example.in").one()
        assert (user.role, user.is_active, boss.is_active) == ("ops", False, True)
    assert "you cannot demote or disable yourself" in refused.get_data(True)
    assert [r[1] for r in audit_rows(app) if r[1].startswith("user.")][-3:] == [
        "user.create",
        "user.update",
        "user.update",
    ]


def test_ops_cannot_manage_users(app):
    from tests.admin_helpers import login, make_user

    make_user(app, "ops2@example.in", "ops")
    client = app.test_client()
    login(client, "ops2@example.in")

    assert client.get("/admin/users/").status_code == 403
