"""Users, roles, passwords (scrypt via Werkzeug) and bearer tokens (stored as sha256)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from fulfilment.db import utcnow
from fulfilment.errors import InvalidInput
from fulfilment.extensions import db
from fulfilment.models import ROLES, ApiToken, User
from fulfilment.services.audit import record_audit

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_PREFIX = "ful_"
MIN_PASSWORD = 10
# A hash to compare against when the user does not exist, so timing does not reveal it.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(email: str, role: str, password: str, *, actor: str) -> User:
    """Creates a user with a scrypt-hashed password; audits; commits."""
    email = email.strip().lower()
    errors: dict[str, list[str]] = {}
    if not EMAIL_RE.match(email):
        errors["email"] = ["must be an e-mail address"]
    if role not in ROLES:
        errors["role"] = [f"must be one of {', '.join(ROLES)}"]
    if len(password) < MIN_PASSWORD:
        errors["password"] = [f"must be at least {MIN_PASSWORD} characters"]
    if not errors and db.session.execute(select(User.id).where(User.email == email)).first():
        errors["email"] = ["a user with this e-mail already exists"]
    if errors:
        raise InvalidInput("cannot create user", errors)
    user = User(email=email, role=role, password_hash=generate_password_hash(password))
    db.session.add(user)
    db.session.flush()
    record_audit(
        actor=actor,
        action="user.create",
        entity_type="user",
        entity_id=email,
        details={"role": role},
    )
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    """The active user with these credentials, or None (constant-ish time either way)."""
    user = db.session.execute(
        select(User).where(User.email == (email or "").strip().lower())
    ).scalar_one_or_none()
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(user.password_hash, password or "") or not user.is_active:
        return None
    user.last_login_at = utcnow()
    db.session.commit()
    return user


def issue_token(email: str, *, actor: str) -> str:
    """A new bearer token for the user; only its hash is stored. Audits; commits."""
    user = db.session.execute(
        select(User).where(User.email == email.strip().lower())
    ).scalar_one_or_none()
    if user is None:
        raise InvalidInput("no such user", {"email": [f"no user {email}"]})
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=user.id, token_hash=_token_hash(token), prefix=token[:8]))
    record_audit(
        actor=actor,
        action="token.issue",
        entity_type="user",
        entity_id=user.email,
        details={"prefix": token[:8]},
    )
    db.session.commit()
    return token


def user_for_token(token: str) -> User | None:
    """The active user owning an unrevoked token, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    digest = _token_hash(token)
    row = db.session.execute(
        select(ApiToken).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None or not hmac.compare_digest(row.token_hash, digest) or not row.user.is_active:
        return None
    return row.user


def list_users() -> list[User]:
    return list(db.session.execute(select(User).order_by(User.email)).scalars())


def update_user(
    email: str, *, role: str | None = None, active: bool | None = None, actor: str
) -> User:
    """Changes a user's role or active flag; audited; commits. Admins cannot lock themselves out."""
    user = db.session.execute(
        select(User).where(User.email == email.strip().lower())
    ).scalar_one_or_none()
    if user is None:
        raise InvalidInput("no such user", {"email": [f"no user {email}"]})
    if role is not None and role not in ROLES:
        raise InvalidInput("bad role", {"role": [f"must be one of {', '.join(ROLES)}"]})
    if user.email == actor and (active is False or (role is not None and role != "admin")):
        raise InvalidInput("not on yourself", {"email": ["you cannot demote or disable yourself"]})
    before = {"role": user.role, "active": user.is_active}
    if role is not None:
        user.role = role
    if active is not None:
        user.is_active = active
    record_audit(
        actor=actor,
        action="user.update",
        entity_type="user",
        entity_id=user.email,
        details={"from": before, "to": {"role": user.role, "active": user.is_active}},
    )
    db.session.commit()
    return user
