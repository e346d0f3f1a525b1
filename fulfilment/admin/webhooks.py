"""Outbound webhook subscribers and the delivery log (per subscriber; per order on its page)."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from fulfilment.admin.common import Secured, post_and_return
from fulfilment.auth import current_actor, role_at_least
from fulfilment.errors import DomainError
from fulfilment.extensions import db
from fulfilment.models import Delivery, Subscriber
from fulfilment.services import outbound
from fulfilment.timefmt import show_ist

EVENT_TYPES = ("OrderShipped", "OrderDelivered", "OrderCancelled")


class SubscribersView(Secured, BaseView):
    required_role = "admin"

    @expose("/", methods=["GET", "POST"])
    def index(self) -> Any:
        if request.method == "POST":
            return post_and_return(self._apply)
        form = FlaskForm()
        outbound.sync_env_subscribers()
        subs = db.session.execute(select(Subscriber).order_by(Subscriber.id)).scalars().all()
        return self.render(
            "admin/subscribers.html",
            subs=subs,
            form=form,
            show_ist=show_ist,
            event_types=EVENT_TYPES,
        )

    def _apply(self, data: Any) -> None:
        op = data.get("op")
        if op == "add":
            types = [t for t in data.getlist("event_types") if t in EVENT_TYPES]
            outbound.add_subscriber(
                data.get("url", ""),
                actor=current_actor(),
                secret=data.get("secret") or None,
                event_types=types,
            )
            flash("Subscriber added.", "success")
        elif op in ("enable", "disable"):
            outbound.set_subscriber_enabled(
                int(data.get("id", 0)), op == "enable", actor=current_actor()
            )
            flash(f"Subscriber {op}d.", "success")
        elif op == "rotate":
            new = (
                data.get("secret") or "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
            )
            outbound.rotate_secret(int(data.get("id", 0)), new, actor=current_actor())
            flash(
                "New secret set (the old one also signs for 24 h). Give the receiver: " + new,
                "success",
            )
        else:
            abort(400)

    @expose("/<int:subscriber_id>/")
    def log(self, subscriber_id: int) -> Any:
        sub = db.session.get(Subscriber, subscriber_id)
        if sub is None:
            abort(404)
        deliveries = (
            db.session.execute(
                select(Delivery)
                .where(Delivery.subscriber_id == subscriber_id)
                .order_by(Delivery.id.desc())
                .limit(200)
            )
            .scalars()
            .all()
        )
        return self.render(
            "admin/deliveries.html",
            title=sub.url,
            deliveries=deliveries,
            form=FlaskForm(),
            show_ist=show_ist,
            back=url_for(".index"),
        )

    @expose("/deliveries/<int:delivery_id>/resend", methods=["POST"])
    def resend(self, delivery_id: int) -> Any:
        # Ops may re-send from an order's page too; this view's admin-only gate is not applied.
        if not FlaskForm().validate_on_submit():
            abort(400)
        try:
            outbound.send_again(delivery_id, actor=current_actor())
            flash("Queued to send again.", "success")
        except DomainError as exc:
            flash(str(exc), "error")
        return redirect(request.form.get("next") or url_for(".index"))

    def is_accessible(self) -> bool:
        if request.endpoint == "subscribers.resend":
            return role_at_least(current_user, "ops")
        return super().is_accessible()
