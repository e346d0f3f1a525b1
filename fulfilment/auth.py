"""Logins for the admin (Flask-Login sessions) and bearer tokens for the API."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from redis.exceptions import RedisError
from werkzeug.wrappers import Response
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from fulfilment.extensions import db, login_manager
from fulfilment.models import User
from fulfilment.queues import redis_connection
from fulfilment.services.users import authenticate

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.is_active else None


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths; never '//evil', '\\\\evil' or 'javascript:'."""
    if not target:
        return url_for("admin.index")
    cleaned = target.replace("\\", "/").strip()
    parts = urlsplit(cleaned)
    if parts.scheme or parts.netloc or not cleaned.startswith("/") or cleaned.startswith("//"):
        return url_for("admin.index")
    return cleaned


MAX_FAILED_LOGINS = 5
FAILED_LOGIN_WINDOW_S = 15 * 60


def _failure_key(email: str) -> str:
    return f"login-failures:{request.remote_addr}:{email.strip().lower()}"


def _failures(email: str) -> int:
    try:
        return int(redis_connection().get(_failure_key(email)) or 0)
    except (RedisError, OSError) as exc:
        log.warning("login throttle unavailable: %s", type(exc).__name__)
        return 0


def _record_failure(email: str) -> None:
    try:
        pipe = redis_connection().pipeline()
        pipe.incr(_failure_key(email))
        pipe.expire(_failure_key(email), FAILED_LOGIN_WINDOW_S)
        pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("login throttle unavailable: %s", type(exc).__name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data or ""
        if _failures(email) >= MAX_FAILED_LOGINS:
            flash("Too many failed attempts. Try again in 15 minutes.", "error")
            return render_template("auth/login.html", form=form), 429
        user = authenticate(email, form.password.data or "")
        if user is not None:
            session.clear()
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        _record_failure(email)
        flash("Wrong e-mail or password.", "error")
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
def logout() -> Response:
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


def current_actor() -> str:
    """The e-mail of the signed-in user or the API token's owner."""
    user = getattr(g, "api_user", None) or current_user
    return str(user.email)


def role_at_least(user: Any, role: str) -> bool:
    return bool(user and getattr(user, "is_authenticated", False) and user.has_role(role))


def login_required_role(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return redirect(url_for("auth.login", next=request.full_path))
            if not current_user.has_role(role):
                return render_template("auth/forbidden.html", role=role), 403
            return view(*args, **kwargs)

        return wrapped

    return decorate
