"""Inbound webhook blueprints. Authenticated by signature or token, not by session (CSRF-exempt)."""

from flask import Blueprint

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

from webhooks import checkout, tracking  # noqa: E402,F401  (registers the routes)
