"""The Flask-Admin dashboard. Built per app by `init_admin(app)`; views delegate to services.

Every view checks the login and role in `is_accessible`; state tables are read-only (no create,
edit or delete): status changes happen only through actions that call the services.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, flash, redirect, request, url_for
from flask_admin import Admin, AdminIndexView, BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.theme import Bootstrap4Theme
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from fulfilment.auth import current_actor, role_at_least
from fulfilment.extensions import db
from fulfilment.models import AuditLog, Order
from fulfilment.services.flags import list_flags, seed_flags, set_flag
from fulfilment.timefmt import show_ist

STATUS_BADGE = {
    "placed": "badge-primary",
    "processing": "badge-warning",
    "shipped": "badge-info",
    "delivered": "badge-success",
    "cancelled": "badge-secondary",
}


class _Secured:
    """Login required; `required_role` (viewer < ops < admin) to see the view at all."""

    required_role = "viewer"

    def is_accessible(self) -> bool:
        return role_at_least(current_user, self.required_role)

    def inaccessible_callback(self, name: str, **kwargs: Any) -> Response:
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        abort(403)


class HomeView(_Secured, AdminIndexView):
    @expose("/")
    def index(self) -> str:
        return self.render("admin/home.html")


def _status_badge(view: Any, context: Any, model: Order, name: str) -> Markup:
    css = STATUS_BADGE.get(model.status, "badge-light")
    return Markup('<span class="badge {}">{}</span>').format(css, escape(model.status.title()))


def _ist(view: Any, context: Any, model: Any, name: str) -> str:
    return show_ist(getattr(model, name))


def _money(view: Any, context: Any, model: Order, name: str) -> str:
    return f"₹{getattr(model, name):,.2f}"


class OrderView(_Secured, ModelView):
    """Read-only order list (the full dashboard is its own issue)."""

    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = True
    can_export = False
    form_base_class = FlaskForm

    column_list = (
        "order_id",
        "placed_at",
        "customer_name",
        "customer_phone",
        "total",
        "payment_method",
        "status",
    )
    column_labels = {
        "order_id": "Order",
        "placed_at": "Placed",
        "customer_name": "Customer",
        "customer_phone": "Phone",
        "payment_method": "Payment",
    }
    column_default_sort = [("placed_at", True), ("id", True)]
    page_size = 25
    column_searchable_list = ("order_id", "customer_email", "customer_phone")
    column_filters = ("status", "payment_method")
    column_formatters = {
        "status": _status_badge,
        "placed_at": _ist,
        "received_at": _ist,
        "updated_at": _ist,
        "total": _money,
    }
    column_details_list = (
        "order_id",
        "status",
        "placed_at",
        "customer_name",
        "customer_email",
        "customer_phone",
        "ship_line1",
        "ship_line2",
        "ship_city",
        "ship_state",
        "ship_pincode",
        "items",
        "subtotal",
        "shipping_fee",
        "discount",
        "total",
        "payment_status",
        "payment_method",
        "payment_reference",
        "history",
        "notes",
    )
    column_formatters_detail = {
        "status": _status_badge,
        "placed_at": _ist,
        "subtotal": _money,
        "shipping_fee": _money,
        "discount": _money,
        "total": _money,
        "items": lambda v, c, m, n: "; ".join(
            f"{i.quantity} × {i.name} ({i.sku}) @ ₹{i.unit_price:,.2f}" for i in m.items
        ),
        "history": lambda v, c, m, n: " → ".join(
            f"{h.to_status} ({show_ist(h.at)}, {h.actor})" for h in m.history
        ),
        "notes": lambda v, c, m, n: " | ".join(
            f"{n_.author}, {show_ist(n_.at)}: {n_.body}" for n_ in m.notes
        ),
    }


class AuditLogView(_Secured, ModelView):
    required_role = "admin"
    can_create = False
    can_edit = False
    can_delete = False
    form_base_class = FlaskForm
    column_list = ("at", "actor", "action", "entity_type", "entity_id", "details")
    column_default_sort = ("id", True)
    column_formatters = {"at": _ist}
    page_size = 50


class FlagsView(_Secured, BaseView):
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


def init_admin(app: Flask) -> Admin:
    """A new Admin per app (a module-level Admin collides on a second create_app)."""
    admin = Admin(
        app,
        name="Fulfilment",
        theme=Bootstrap4Theme(swatch="default", fluid=True),
        index_view=HomeView(name="Home", url="/admin"),
    )
    admin.add_view(OrderView(Order, db, name="Orders", endpoint="orders"))
    admin.add_view(FlagsView(name="Feature flags", endpoint="flags"))
    admin.add_view(AuditLogView(AuditLog, db, name="Audit log", endpoint="audit"))
    return admin
