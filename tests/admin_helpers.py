"""Test helpers for logins, CSRF tokens, users and API tokens."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

PASSWORD = "correct-horse-battery"

_CSRF_RE = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(client: Any, path: str = "/login") -> str:
    """The CSRF token from the hidden `csrf_token` input of the page at `path`."""
    resp = client.get(path)
    assert resp.status_code == 200, (path, resp.status_code)
    match = _CSRF_RE.search(resp.get_data(as_text=True))
    assert match, f"no csrf_token input on {path}"
    return match.group(1)


def make_user(app: Any, email: str, role: str, password: str = PASSWORD) -> str:
    from fulfilment.services.users import create_user

    with app.app_context():
        create_user(email, role, password, actor="test")
    return email


def make_token(app: Any, email: str) -> str:
    from fulfilment.services.users import issue_token

    with app.app_context():
        return issue_token(email, actor="test")


def user_with_token(app: Any, email: str, role: str) -> str:
    """Creates a user and returns a bearer token for it."""
    make_user(app, email, role)
    return make_token(app, email)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client: Any, email: str, password: str = PASSWORD, *, next_url: str | None = None) -> Any:
    """GET /login for a CSRF token, then POST the credentials. Returns the POST response."""
    token = csrf_from(client, "/login")
    query = {"next": next_url} if next_url is not None else None
    return client.post(
        "/login",
        query_string=query,
        data={"csrf_token": token, "email": email, "password": password},
    )


def logged_in_user_id(client: Any) -> str | None:
    with client.session_transaction() as sess:
        return sess.get("_user_id")


def audit_rows(app: Any, action: str | None = None) -> list[tuple[str, str, str, str, Any]]:
    """(actor, action, entity_type, entity_id, details) of audit rows, oldest first."""
    from fulfilment.extensions import db
    from fulfilment.models import AuditLog

    query = select(AuditLog).order_by(AuditLog.id)
    if action is not None:
        query = query.where(AuditLog.action == action)
    with app.app_context():
        return [
            (r.actor, r.action, r.entity_type, r.entity_id, r.details)
            for r in db.session.execute(query).scalars()
        ]
