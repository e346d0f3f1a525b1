"""The orders dashboard: list, detail with timeline, every action, live updates, CSV export.

Every action is a CSRF-protected POST that calls the same service as the API; status is never
an editable field. Fulfilment actions need the ops role and the feature flag.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Response, abort, flash, jsonify, redirect, request, stream_with_context, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from marshmallow import ValidationError
from sqlalchemy import BigInteger, literal, select, tuple_
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import joinedload, selectinload

from fulfilment.admin.common import Secured
from fulfilment.admin.filters import (
    CarrierFilter,
    PlacedBetweenFilter,
    ShipmentFilter,
    SlaFilter,
    carrier_options,
    sla_state,
)
from fulfilment.auth import current_actor, role_at_least
from fulfilment.db import UTCDateTime, utcnow
from fulfilment.errors import DomainError
from fulfilment.extensions import db
from fulfilment.models import Order, SavedView, Shipment
from fulfilment.schemas import AddressSchema, flatten_errors
from fulfilment.search import search_condition
from fulfilment.services.batches import create_batch
from fulfilment.services.flags import is_enabled
from fulfilment.services.orders import add_note, get_order, process_order
from fulfilment.services.outbound import deliveries_for_order
from fulfilment.services.shipments import (
    cancel_order,
    courier_quote,
    failure_message,
    request_shipment,
    update_shipping_address,
)
from fulfilment.services.tracking import tracking_events
from fulfilment.shiprocket.types import ShiprocketError
from fulfilment.timefmt import IST, show_ist

log = logging.getLogger(__name__)

STATUSES = [
    ("placed", "Placed"),
    ("processing", "Processing"),
    ("shipped", "Shipped"),
    ("delivered", "Delivered"),
    ("cancelled", "Cancelled"),
]
STATUS_BADGE = {
    "placed": "badge-primary",
    "processing": "badge-warning",
    "shipped": "badge-info",
    "delivered": "badge-success",
    "cancelled": "badge-secondary",
}
SLA_BADGE = {"at risk": "badge-warning", "breached": "badge-danger"}
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CHANGES_LIMIT = 200


def can_fulfil() -> bool:
    """Ops (or admin) and the feature flag on: the fulfilment buttons and actions show."""
    return role_at_least(current_user, "ops") and is_enabled("feature.orders.order_fulfillment")


def status_badge(status: str, order_id: str) -> Markup:
    return Markup('<span class="badge {} status-badge" data-status-for="{}">{}</span>').format(
        STATUS_BADGE.get(status, "badge-light"), order_id, status.title()
    )


def age(value: datetime) -> str:
    minutes = int((utcnow() - value).total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // 1440} d ago"


def _fmt_order_id(view: Any, context: Any, m: Order, name: str) -> Markup:
    new = m.status == "placed" and (utcnow() - m.placed_at).total_seconds() < 24 * 3600
    link = Markup('<a class="order-link" href="{}">{}</a>').format(
        url_for("orders.details_view", id=m.id), m.order_id
    )
    return link + (Markup(' <span class="badge badge-success new-badge">New</span>') if new else "")


def _fmt_placed(view: Any, context: Any, m: Order, name: str) -> Markup:
    return Markup('{}<br><small class="text-muted">{}</small>').format(
        show_ist(m.placed_at), age(m.placed_at)
    )


def _fmt_status(view: Any, context: Any, m: Order, name: str) -> Markup:
    return status_badge(m.status, m.order_id)


def _fmt_total(view: Any, context: Any, m: Order, name: str) -> str:
    return f"₹{m.total:,.2f}"


def _fmt_payment(view: Any, context: Any, m: Order, name: str) -> str:
    return "COD" if m.payment_method == "cod" else "Paid"


def _fmt_shipment(view: Any, context: Any, m: Order, name: str) -> Markup | str:
    sh = m.shipment
    if sh is None:
        return ""
    if sh.state == "failed":
        return Markup(
            '<span class="badge badge-danger" data-shipment-for="{}">Shipment failed</span>'
        ).format(m.order_id)
    if sh.awb and sh.tracking_exception:
        return Markup(
            '<span class="awb" data-shipment-for="{}">{}</span> '
            '<span class="badge badge-danger tracking-exception">{}</span>'
        ).format(m.order_id, sh.awb, sh.tracking_exception)
    if sh.awb:
        return Markup('<span class="awb" data-shipment-for="{}">{}</span>').format(
            m.order_id, sh.awb
        )
    return Markup('<span class="badge badge-light" data-shipment-for="{}">{}</span>').format(
        m.order_id, "In progress" if sh.state in ("requested", "in_progress") else sh.state.title()
    )


def _fmt_carrier(view: Any, context: Any, m: Order, name: str) -> str:
    return (m.shipment.courier_name or "") if m.shipment else ""


def _fmt_sla(view: Any, context: Any, m: Order, name: str) -> Markup | str:
    state = sla_state(m)
    if state in SLA_BADGE:
        return Markup('<span class="badge {}">SLA {}</span>').format(SLA_BADGE[state], state)
    return ""


def csv_cell(value: Any) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas: defuse them with a quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(CSV_FORMULA_START) else text


class OrderView(Secured, ModelView):
    list_template = "admin/orders/list.html"
    details_template = "admin/orders/detail.html"

    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = True
    can_export = False  # our own streaming export below (formula-safe, no row cap)
    column_display_actions = False
    form_base_class = FlaskForm

    column_list = (
        "order_id",
        "placed_at",
        "customer_name",
        "customer_phone",
        "total",
        "payment_method",
        "status",
        "shipment",
        "carrier",
        "sla",
    )
    column_labels = {
        "order_id": "Order",
        "placed_at": "Placed",
        "customer_name": "Customer",
        "customer_phone": "Phone",
        "payment_method": "Payment",
        "shipment": "Shipment",
        "carrier": "Carrier",
        "sla": "SLA",
    }
    column_sortable_list = ("placed_at", "total")
    column_default_sort = [("placed_at", True), ("id", True)]
    page_size = 25
    can_set_page_size = False
    # No COUNT(*) for the pager: over a million orders it cost 100–950 ms per page view
    # (bench/dashboard_bench.py); previous/next paging needs none.
    simple_list_pager = True
    # Kept for Flask-Admin to show the search box; the search itself is `_apply_search` below.
    column_searchable_list = ("order_id",)
    column_formatters = {
        "order_id": _fmt_order_id,
        "placed_at": _fmt_placed,
        "status": _fmt_status,
        "total": _fmt_total,
        "payment_method": _fmt_payment,
        "shipment": _fmt_shipment,
        "carrier": _fmt_carrier,
        "sla": _fmt_sla,
    }

    def __init__(self, *args: Any, **kwargs: Any):
        self.column_filters = [
            FilterEqual(Order.status, "Status", options=STATUSES),
            ShipmentFilter(
                Order.id,
                "Shipment",
                options=[
                    ("failed", "Failed"),
                    ("awb", "Has AWB"),
                    ("exception", "Tracking exception"),
                ],
            ),
            SlaFilter(
                Order.placed_at,
                "SLA",
                options=[("at_risk", "At risk (over 24 h)"), ("breached", "Breached (over 48 h)")],
            ),
            FilterEqual(
                Order.payment_method, "Payment", options=[("prepaid", "Paid"), ("cod", "COD")]
            ),
            CarrierFilter(Order.id, "Carrier", options=carrier_options),
            PlacedBetweenFilter(Order.placed_at, "Placed"),
        ]
        super().__init__(*args, **kwargs)

    # ---------------------------------------------------------------- list

    def get_query(self) -> Any:
        return super().get_query().options(joinedload(Order.shipment))

    def search_placeholder(self) -> str:
        return "Order id, e-mail, phone or AWB"

    def _apply_search(
        self, query: Any, count_query: Any, joins: Any, count_joins: Any, search: str
    ) -> Any:
        condition = search_condition(search)
        query = query.filter(condition)
        if count_query is not None:
            count_query = count_query.filter(condition)
        return query, count_query, joins, count_joins

    def is_action_allowed(self, name: str) -> bool:
        return can_fulfil() and super().is_action_allowed(name)

    @action("process", "Mark as Processing", "Mark the selected orders as Processing?")
    def action_process(self, ids: list[str]) -> None:
        done, problems = 0, []
        for order in self._orders(ids):
            try:
                process_order(order.order_id, actor=current_actor())
                done += 1
            except DomainError as exc:
                db.session.rollback()
                problems.append(f"{order.order_id}: {exc}")
        flash(f"{done} order(s) marked as Processing.", "success")
        for problem in problems[:10]:
            flash(problem, "warning")

    @action("ship", "Generate Shipments", "Generate shipments for the selected orders?")
    def action_ship(self, ids: list[str]) -> Any:
        order_ids = [o.order_id for o in self._orders(ids)]
        try:
            batch = create_batch(order_ids, actor=current_actor())
        except DomainError as exc:
            flash(f"Could not start the batch: {exc}", "error")
            return None
        return redirect(url_for("batches.detail", batch_id=batch.id))

    def _orders(self, ids: list[str]) -> list[Order]:
        pks = [int(i) for i in ids if str(i).isdigit() and len(str(i)) <= 18]
        return list(db.session.execute(select(Order).where(Order.id.in_(pks))).scalars())

    @expose("/")
    def index_view(self) -> Any:
        """The list; if it cannot load, say so plainly (detail URLs keep working)."""
        try:
            self._refresh_filters_cache()  # carrier options come from the data
            return super().index_view()
        except SQLAlchemyError as exc:
            db.session.rollback()
            log.error("order list failed to load: %s", type(exc).__name__)
            return self.render("admin/orders/unavailable.html"), 503

    def render(self, template: str, **kwargs: Any) -> str:
        kwargs.setdefault("can_fulfil", can_fulfil())
        kwargs.setdefault("now_iso", utcnow().isoformat())
        kwargs.setdefault("badges", STATUS_BADGE)
        kwargs.setdefault(
            "saved_views",
            db.session.execute(select(SavedView).order_by(SavedView.name)).scalars().all(),
        )
        return super().render(template, **kwargs)

    # ---------------------------------------------------------------- detail

    @expose("/details/")
    def details_view(self) -> Any:
        pk = request.args.get("id", "")
        order_id = request.args.get("order_id")
        query = select(Order).options(
            selectinload(Order.items),
            selectinload(Order.history),
            selectinload(Order.notes),
            joinedload(Order.shipment),
        )
        if order_id:
            query = query.where(Order.order_id == order_id)
        elif pk.isdigit() and len(pk) <= 18:
            query = query.where(Order.id == int(pk))
        else:
            abort(404)
        order = db.session.execute(query).scalar_one_or_none()
        if order is None:
            abort(404)
        return self.render(
            self.details_template,
            order=order,
            shipment=order.shipment,
            failure=failure_message(order.shipment.failure_reason)
            if order.shipment is not None and order.shipment.failure_reason
            else None,
            show_ist=show_ist,
            status_badge=status_badge,
            sla=sla_state(order),
            form=FlaskForm(),
            return_url=url_for(".index_view"),
            deliveries=deliveries_for_order(order.id),
            tracking=tracking_events(order.shipment.id) if order.shipment else [],
        )

    def _back(self, order_id: str) -> Any:
        return redirect(url_for(".details_view", order_id=order_id))

    def _act(self, order_id: str, fn: Any, ok: str) -> Any:
        if not can_fulfil():
            abort(403)
        try:
            fn()
            flash(ok, "success")
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        return self._back(order_id)

    @expose("/<order_id>/process", methods=["POST"])
    def process(self, order_id: str) -> Any:
        version = request.form.get("version", type=int)
        return self._act(
            order_id,
            lambda: process_order(order_id, actor=current_actor(), expected_version=version),
            "Order marked as Processing.",
        )

    @expose("/<order_id>/cancel", methods=["POST"])
    def cancel(self, order_id: str) -> Any:
        return self._act(
            order_id,
            lambda: cancel_order(
                order_id,
                actor=current_actor(),
                reason=request.form.get("reason", ""),
                confirmed_by_hand=request.form.get("confirmed_by_hand") == "1",
            ),
            "Order cancelled.",
        )

    @expose("/<order_id>/address", methods=["POST"])
    def address(self, order_id: str) -> Any:
        if not can_fulfil():
            abort(403)
        fields = {
            k: request.form.get(k, "") for k in ("line1", "line2", "city", "state", "pincode")
        }
        fields["country"] = "IN"
        if not fields["line2"]:
            fields["line2"] = None
        try:
            address = AddressSchema().load(fields)
        except ValidationError as exc:
            for field, messages in flatten_errors(exc.messages).items():
                flash(f"{field}: {'; '.join(messages)}", "error")
            return self._back(order_id)
        return self._act(
            order_id,
            lambda: update_shipping_address(order_id, address, actor=current_actor()),
            "Address updated. Retry the shipment to use it.",
        )

    @expose("/<order_id>/note", methods=["POST"])
    def note(self, order_id: str) -> Any:
        if not role_at_least(current_user, "ops"):
            abort(403)
        try:
            add_note(order_id, request.form.get("body", ""), author=current_actor())
            flash("Note added.", "success")
        except DomainError as exc:
            flash(str(exc), "error")
        return self._back(order_id)

    @expose("/<order_id>/couriers.json")
    def couriers(self, order_id: str) -> Any:
        if not can_fulfil():
            return jsonify(error="forbidden"), 403
        try:
            quote = courier_quote(order_id)
        except ShiprocketError as exc:
            return jsonify(error=exc.message), 502
        except DomainError as exc:
            return jsonify(error=str(exc)), 409
        return jsonify(
            rule=quote.rule,
            reason=quote.reason,
            automatic_choice=quote.chosen_id,
            options=[
                {
                    "id": o.courier_id,
                    "name": o.name,
                    "rate": f"{o.rate:.2f}",
                    "estimated_days": o.estimated_days,
                    "etd": o.etd,
                    "rating": o.rating,
                    "recommended": o.courier_id == quote.recommended_id,
                }
                for o in quote.options
            ],
        )

    @expose("/<order_id>/ship", methods=["POST"])
    def ship(self, order_id: str) -> Any:
        if not can_fulfil():
            return jsonify(error="forbidden"), 403
        courier = request.form.get("courier_id", type=int)
        try:
            req = request_shipment(order_id, actor=current_actor(), courier_id=courier)
        except DomainError as exc:
            db.session.rollback()
            return jsonify(error=str(exc)), 409
        return jsonify(job_id=req.job_id), 202

    @expose("/<order_id>/state.json")
    def state(self, order_id: str) -> Any:
        try:
            order = get_order(order_id)
        except DomainError:
            return jsonify(error="not_found"), 404
        sh = order.shipment
        return jsonify(
            order_id=order.order_id,
            status=order.status,
            version=order.version,
            shipment=None
            if sh is None
            else {
                "state": sh.state,
                "awb": sh.awb,
                "courier": sh.courier_name,
                "tracking_url": sh.tracking_url,
                "failure": failure_message(sh.failure_reason) if sh.failure_reason else None,
                "updated_at": sh.updated_at.isoformat(),
            },
        )

    @expose("/changes.json")
    def changes(self) -> Any:
        """Orders changed after a cursor (updated_at, id): an index range scan, never the table."""
        since = request.args.get("since", "")
        after_id = request.args.get("after_id", 0, type=int)
        try:
            cursor = datetime.fromisoformat(since) if since else utcnow()
        except ValueError:
            return jsonify(error="since must be an ISO 8601 time"), 400
        if cursor.tzinfo is None:
            cursor = cursor.replace(tzinfo=UTC)
        rows = db.session.execute(
            select(Order.id, Order.order_id, Order.status, Order.version, Order.updated_at)
            .where(
                tuple_(Order.updated_at, Order.id)
                > tuple_(literal(cursor, UTCDateTime()), literal(after_id, BigInteger()))
            )
            .order_by(Order.updated_at, Order.id)
            .limit(CHANGES_LIMIT)
        ).all()
        last = rows[-1] if rows else None
        return jsonify(
            since=(last.updated_at if last else cursor).isoformat(),
            after_id=last.id if last else after_id,
            changes=[
                {"order_id": r.order_id, "status": r.status, "version": r.version} for r in rows
            ],
        )

    @expose("/export.csv")
    def export_csv(self) -> Any:
        """The filtered list as CSV, streamed in chunks (no row cap, no timeout)."""
        view_args = self._get_list_extra_args()
        # selectinload, not joinedload: it works batch by batch with yield_per.
        query = select(Order).options(selectinload(Order.shipment))
        if view_args.search:
            query = query.filter(search_condition(view_args.search))
        if view_args.filters and self._filters:
            for idx, _name, value in view_args.filters:
                flt = self._filters[idx]
                query = flt.apply(query, flt.clean(value))
        query = query.order_by(Order.placed_at.desc(), Order.id.desc())

        def rows() -> Iterator[str]:
            buf = io.StringIO()
            writer = csv.writer(buf)
            header = [
                "order_id",
                "placed_at_ist",
                "status",
                "customer_name",
                "customer_email",
                "customer_phone",
                "city",
                "pincode",
                "total",
                "payment",
                "awb",
                "carrier",
            ]
            writer.writerow(header)
            result = db.session.execute(query.execution_options(yield_per=1000)).scalars()
            for n, o in enumerate(result, 1):
                sh = o.shipment
                writer.writerow(
                    csv_cell(v)
                    for v in (
                        o.order_id,
                        o.placed_at.astimezone(IST).strftime("%Y-%m-%d %H:%M"),
                        o.status,
                        o.customer_name,
                        o.customer_email,
                        o.customer_phone,
                        o.ship_city,
                        o.ship_pincode,
                        f"{o.total:.2f}",
                        o.payment_method,
                        sh.awb if sh else "",
                        sh.courier_name if sh else "",
                    )
                )
                if n % 500 == 0:
                    yield buf.getvalue()
                    buf.seek(0)
                    buf.truncate()
            yield buf.getvalue()

        return Response(
            stream_with_context(rows()),
            mimetype="text/csv",
            headers={"Content-Disposition": "attachment; filename=orders.csv"},
        )

    @expose("/views", methods=["POST"])
    def save_view(self) -> Any:
        if not role_at_least(current_user, "ops"):
            abort(403)
        name = (request.form.get("name") or "").strip()[:80]
        query = (request.form.get("query") or "").lstrip("?")[:1000]
        if not name:
            flash("Give the view a name.", "error")
            return redirect(url_for(".index_view") + ("?" + query if query else ""))
        existing = db.session.execute(
            select(SavedView).where(SavedView.name == name)
        ).scalar_one_or_none()
        if existing is None:
            db.session.add(SavedView(name=name, query=query, created_by=current_actor()))
        else:
            existing.query = query
        db.session.commit()
        flash(f"View “{name}” saved for the team.", "success")
        return redirect(url_for(".index_view") + ("?" + query if query else ""))


def seed_saved_views() -> None:
    """The team's starting views (idempotent)."""
    defaults = {
        "COD to confirm": "flt0_0=placed&flt1_3=cod",
        "Failed shipments": "flt0_1=failed",
        "Ready to ship": "flt0_0=processing",
    }
    have = set(db.session.execute(select(SavedView.name)).scalars())
    for name, query in defaults.items():
        if name not in have:
            db.session.add(SavedView(name=name, query=query, created_by="system"))
    db.session.commit()


__all__ = ["OrderView", "seed_saved_views", "Shipment"]
