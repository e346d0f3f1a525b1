"""'Action required': undelivered shipments (Shiprocket's non-delivery reports) and ops' answer.

Each row shows the courier's reason and the time left before Shiprocket's 24 h deadline; ops
(with the feature flag on) answer with Reattempt (optional corrected phone, address lines, date)
or Return to origin, both CSRF-protected POSTs calling fulfilment.services.ndr. Viewers see the
list only.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_wtf import FlaskForm

from fulfilment.admin.common import Secured
from fulfilment.admin.orders import can_fulfil
from fulfilment.auth import current_actor
from fulfilment.errors import DomainError, InvalidInput
from fulfilment.extensions import db
from fulfilment.services.ndr import MAX_DEFER_DAYS, action_required, take_ndr_action
from fulfilment.timefmt import IST, show_ist


class NdrView(Secured, BaseView):
    @expose("/")
    def index(self) -> Any:
        today = _today()
        return self.render(
            "admin/ndr.html",
            items=action_required(),
            form=FlaskForm(),
            can_fulfil=can_fulfil(),
            show_ist=show_ist,
            min_date=today.isoformat(),
            max_date=(today + timedelta(days=MAX_DEFER_DAYS)).isoformat(),
        )

    @expose("/<order_id>/reattempt", methods=["POST"])
    def reattempt(self, order_id: str) -> Any:
        form = request.form
        return self._act(
            order_id,
            "reattempt",
            phone=form.get("phone"),
            address1=form.get("address1"),
            address2=form.get("address2"),
            date=form.get("date"),
            comments=form.get("comments"),
            ok=f"Re-attempt requested for {order_id}.",
        )

    @expose("/<order_id>/rto", methods=["POST"])
    def rto(self, order_id: str) -> Any:
        if request.form.get("confirm") != "1":
            flash(f"Tick the box to confirm the return of {order_id} to origin.", "error")
            return redirect(url_for(".index"))
        return self._act(
            order_id,
            "rto",
            comments=request.form.get("comments"),
            ok=f"Return to origin requested for {order_id}.",
        )

    def _act(self, order_id: str, action: str, *, ok: str, **kwargs: Any) -> Any:
        if not can_fulfil():
            abort(403)
        try:
            take_ndr_action(order_id, action, actor=current_actor(), **kwargs)
            flash(ok, "success")
        except InvalidInput as exc:
            db.session.rollback()
            details = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.fields.items())
            flash(f"{order_id}: {exc}" + (f" ({details})" if details else ""), "error")
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        return redirect(url_for(".index"))


def _today() -> date:
    return datetime.now(IST).date()
