"""Shared admin pieces: access control, home, feature flags and the audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import AdminIndexView, BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from fulfilment.auth import current_actor, role_at_least
from fulfilment.errors import DomainError
from fulfilment.extensions import db
from fulfilment.services.flags import list_flags, seed_flags, set_flag
from fulfilment.services.users import create_user, list_users, update_user
from fulfilment.timefmt import show_ist


class Secured:
    """Login required; `required_role` (viewer < ops < admin) to see the view at all."""

    required_role = "viewer"

    def is_accessible(self) -> bool:
        return role_at_least(current_user, self.required_role)

    def inaccessible_callback(self, name: str, **kwargs: Any) -> Response:
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        abort(403)


class HomeView(Secured, AdminIndexView):
    @expose("/")
    def index(self) -> str:
        return self.render("admin/home.html")


def _ist(view: Any, context: Any, model: Any, name: str) -> str:
    return show_ist(getattr(model, name))


class AuditLogView(Secured, ModelView):
    required_role = "admin"
    can_create = False
    can_edit = False
    can_delete = False
    form_base_class = FlaskForm
    column_list = ("at", "actor", "action", "entity_type", "entity_id", "details")
    column_default_sort = ("id", True)
    column_formatters = {"at": _ist}
    page_size = 50


class FlagsView(Secured, BaseView):
    required_role = "admin"

    @expose("/", methods=["GET", "POST"])
    def index(self) -> Any:
        form = FlaskForm()
        if request.method == "POST":
            if not form.validate_on_submit():
                abort(400)
            key = request.form.get("key", "")
            wanted = request.form.get("enabled") == "1"
            try:
                set_flag(key, wanted, actor=current_actor())
            except KeyError:
                abort(404)
            flash(f"{key} is now {'on' if wanted else 'off'}.", "success")
            return redirect(url_for(".index"))
        seed_flags()
        return self.render("admin/flags.html", flags=list_flags(), form=form, show_ist=show_ist)


def describe_error(exc: DomainError) -> str:
    """ "cannot create user: email: must be an e-mail address" — the message and its fields."""
    fields = getattr(exc, "fields", {}) or {}
    detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in fields.items())
    return f"{exc}: {detail}" if detail else str(exc)


def post_and_return(apply: Callable[[Any], None]) -> Response:
    """A CSRF-checked form POST on an admin page: apply it, flash any refusal, back to the page."""
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        apply(request.form)
    except DomainError as exc:
        db.session.rollback()
        flash(describe_error(exc), "error")
    return redirect(url_for(".index"))


class UsersView(Secured, BaseView):
    """Admins create logins, change roles and disable users (all audited)."""

    required_role = "admin"

    @expose("/", methods=["GET", "POST"])
    def index(self) -> Any:
        if request.method == "POST":
            return post_and_return(self._apply)
        return self.render(
            "admin/users.html", users=list_users(), form=FlaskForm(), show_ist=show_ist
        )

    def _apply(self, data: Any) -> None:
        op = data.get("op")
        if op == "create":
            create_user(
                data.get("email", ""),
                data.get("role", ""),
                data.get("password", ""),
                actor=current_actor(),
            )
            flash(f"Created {data.get('email')}.", "success")
        elif op == "role":
            update_user(data.get("email", ""), role=data.get("role"), actor=current_actor())
            flash("Role changed.", "success")
        elif op == "active":
            update_user(
                data.get("email", ""), active=data.get("active") == "1", actor=current_actor()
            )
            flash("User updated.", "success")
        else:
            abort(400)
