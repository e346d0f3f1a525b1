"""Batch progress pages: "2 of 5 shipments created", failures with reasons, retry failed only."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, jsonify, redirect, url_for
from flask_admin import BaseView, expose
from flask_wtf import FlaskForm
from sqlalchemy import select

from fulfilment.admin.common import Secured
from fulfilment.admin.orders import can_fulfil
from fulfilment.auth import current_actor
from fulfilment.errors import DomainError
from fulfilment.extensions import db
from fulfilment.models import Batch
from fulfilment.services.batches import BatchNotFound, batch_progress, retry_failed
from fulfilment.timefmt import show_ist


class BatchView(Secured, BaseView):
    @expose("/")
    def index(self) -> Any:
        batches = db.session.execute(select(Batch).order_by(Batch.id.desc()).limit(50)).scalars()
        rows = [(b, batch_progress(b.id)) for b in batches]
        return self.render("admin/batches/index.html", rows=rows, show_ist=show_ist)

    @expose("/<int:batch_id>/")
    def detail(self, batch_id: int) -> Any:
        try:
            progress = batch_progress(batch_id)
        except BatchNotFound:
            abort(404)
        batch = db.session.get(Batch, batch_id)
        return self.render(
            "admin/batches/detail.html",
            batch=batch,
            progress=progress,
            show_ist=show_ist,
            form=FlaskForm(),
            can_fulfil=can_fulfil(),
        )

    @expose("/<int:batch_id>/progress.json")
    def progress(self, batch_id: int) -> Any:
        try:
            return jsonify(batch_progress(batch_id).as_dict())
        except BatchNotFound:
            return jsonify(error="not_found"), 404

    @expose("/<int:batch_id>/retry", methods=["POST"])
    def retry(self, batch_id: int) -> Any:
        if not can_fulfil():
            abort(403)
        try:
            batch = retry_failed(batch_id, actor=current_actor())
        except DomainError as exc:
            flash(str(exc), "error")
            return redirect(url_for(".detail", batch_id=batch_id))
        flash(f"Retrying the failed orders as batch {batch.id}.", "success")
        return redirect(url_for(".detail", batch_id=batch.id))
