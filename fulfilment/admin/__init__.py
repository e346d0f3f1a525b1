"""The Flask-Admin dashboard, built per app by `init_admin(app)`; every view calls the services.

Every view checks the login and role in `is_accessible`; state tables are read-only (no create,
edit or delete): status changes happen only through actions that call the services.
"""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from fulfilment.admin.batches import BatchView
from fulfilment.admin.common import AuditLogView, FlagsView, HomeView, UsersView
from fulfilment.admin.ndr import NdrView
from fulfilment.admin.orders import OrderView
from fulfilment.admin.tracking import UnmatchedTrackingView
from fulfilment.admin.webhooks import SubscribersView
from fulfilment.extensions import db
from fulfilment.models import AuditLog, Order


def init_admin(app: Flask) -> Admin:
    """A new Admin per app (a module-level Admin collides on a second create_app)."""
    admin = Admin(
        app,
        name="Fulfilment",
        theme=Bootstrap4Theme(swatch="default", fluid=True),
        index_view=HomeView(name="Home", url="/admin"),
    )
    admin.add_view(OrderView(Order, db, name="Orders", endpoint="orders"))
    admin.add_view(NdrView(name="Action required", endpoint="ndr"))
    admin.add_view(UnmatchedTrackingView(name="Unmatched tracking", endpoint="unmatched"))
    admin.add_view(BatchView(name="Batches", endpoint="batches"))
    admin.add_view(FlagsView(name="Feature flags", endpoint="flags"))
    admin.add_view(UsersView(name="Users", endpoint="users"))
    admin.add_view(SubscribersView(name="Webhooks", endpoint="subscribers"))
    admin.add_view(AuditLogView(AuditLog, db, name="Audit log", endpoint="audit"))
    return admin
