"""The app factory: config → extensions → blueprints → admin → CLI.

This is the composition root: the only module of `fulfilment/` that imports `webhooks/` and
`workers/` (to register their blueprint and CLI). Domain modules never import them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from flask import Flask, Request, Response, jsonify, render_template, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from fulfilment.config import SECRET_SETTINGS, load_config
from fulfilment.db import install_sqlite_pragmas
from fulfilment.extensions import csrf, db, login_manager, migrate
from fulfilment.logs import configure_logging, current_order_id

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)

_JSON_PREFIXES = ("/api/", "/webhooks/", "/healthz", "/readyz")


def create_app(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    instance_path: str | Path | None = None,
) -> Flask:
    """Build an app. `environ` defaults to os.environ plus `.env`; `overrides` win over both."""
    if environ is None:
        env_file = {k: v for k, v in dotenv_values(ROOT / ".env").items() if v is not None}
        environ = {**env_file, **os.environ}
    instance = Path(instance_path or environ.get("FULFILMENT_INSTANCE_PATH") or ROOT / "instance")

    app = Flask(
        "fulfilment",
        instance_path=str(instance),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "fulfilment" / "static"),
    )
    app.config.update(load_config(environ, instance))
    if overrides:
        app.config.update(overrides)
    configure_logging(app.config["LOG_LEVEL"], (app.config.get(k) or "" for k in SECRET_SETTINGS))

    app.session_interface = BrowserSessions()
    _init_extensions(app)
    _register_blueprints(app)
    _register_error_handlers(app)
    _register_cli(app)
    app.before_request(_reset_log_context)
    app.before_request(_refuse_nul)
    app.after_request(_security_headers)
    return app


class BrowserSessions(SecureCookieSessionInterface):
    """Signed-cookie sessions for people; the webhooks (machines, the busiest paths) neither
    read nor set one, which saves verifying and signing a cookie per push."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith("/webhooks/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def _refuse_nul() -> Any:
    """PostgreSQL cannot store or compare NUL in text; a URL carrying one is bad input."""
    if "\x00" in request.path or any("\x00" in v for v in request.args.values()):
        if _wants_json():
            return jsonify(
                error="validation_failed", fields={"_url": ["contains a NUL character"]}
            ), 422
        return render_template(
            "error.html", code=400, message="The address contains a NUL character."
        ), 400
    return None


def _reset_log_context() -> None:
    """A worker thread serves many requests: never let one request's order id tag the next."""
    current_order_id.set("-")


def _init_extensions(app: Flask) -> None:
    from fulfilment.queues import init_queues

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            install_sqlite_pragmas(engine)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to continue."
    csrf.init_app(app)
    init_queues(app)


def _register_blueprints(app: Flask) -> None:
    from fulfilment import auth, health
    from fulfilment.admin import init_admin
    from fulfilment.api import bp as api_bp
    from webhooks import bp as webhooks_bp

    app.register_blueprint(health.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(webhooks_bp)
    csrf.exempt(api_bp)  # bearer tokens, not cookies
    csrf.exempt(webhooks_bp)  # signatures, not cookies
    init_admin(app)

    @app.get("/")
    def root() -> Any:
        from flask import redirect, url_for

        return redirect(url_for("admin.index"))


def _wants_json() -> bool:
    return request.path.startswith(_JSON_PREFIXES)


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    def database_unavailable(exc: Exception) -> Any:
        db.session.rollback()
        log.error("database error: %s", type(exc).__name__)
        if _wants_json():
            return jsonify(error="unavailable"), 503
        return render_template(
            "error.html",
            code=503,
            message="The database is unavailable. Please try again in a moment.",
        ), 503

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if _wants_json():
            name = (exc.name or "error").lower().replace(" ", "_")
            return jsonify(error=name), exc.code or 500
        return render_template("error.html", code=exc.code, message=exc.description), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _wants_json():
            return jsonify(error="internal_error"), 500
        return render_template("error.html", code=500, message="Something went wrong."), 500


def _register_cli(app: Flask) -> None:
    from fulfilment.cli import demo_cli, flags_cli, shipments_cli, users_cli
    from workers.cli import rq_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(flags_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(shipments_cli)
    app.cli.add_command(rq_cli)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self' 'unsafe-inline'; frame-ancestors 'self'; form-action 'self'",
    )
    return response
