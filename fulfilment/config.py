"""Settings, read once from the environment (and `.env`) when the app is created.

Every setting of contract §1 is parsed here by a small typed parser. A missing required
setting, or a malformed one, raises `ConfigError` with one line naming the variable. The rest
of the code reads `current_app.config[...]` at call time and never touches `os.environ`.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from fulfilment.errors import ConfigError

CARRIER_RULES = ("cheapest", "fastest", "recommended", "best_rated")
DEFAULT_SHIPROCKET_BASE_URL = "https://apiv2.shiprocket.in"
WEBHOOK_MAX_BYTES = 256 * 1024

# Names of settings whose values are secrets: never logged, never shown.
SECRET_SETTINGS = (
    "SECRET_KEY",
    "CHECKOUT_WEBHOOK_SECRET",
    "SHIPROCKET_PASSWORD",
    "SHIPROCKET_WEBHOOK_TOKEN",
    "OUTBOUND_WEBHOOK_SECRET",
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be 1/0 or true/false, got {raw!r}")


def _http_url(name: str, raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http(s) URL, got {raw!r}")
    return raw.strip().rstrip("/")


def _database_url(name: str, raw: str) -> str:
    try:
        url = make_url(raw.strip())
    except ArgumentError:
        raise ConfigError(f"{name} is not a valid SQLAlchemy database URL") from None
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"{name} must point at SQLite or PostgreSQL, got {backend!r}")
    if backend == "postgresql" and url.drivername == "postgresql":
        # psycopg 3 is the driver we install; plain postgresql:// would ask for psycopg2.
        url = url.set(drivername="postgresql+psycopg")
    if backend == "postgresql" and url.drivername == "postgres":
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def _redis_url(name: str, raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"{name} must be a redis://, rediss:// or unix:// URL")
    return raw.strip()


def _webhook_secret(name: str, raw: str) -> str:
    value = raw.strip()
    if not value.startswith("whsec_"):
        raise ConfigError(f"{name} must be a Standard Webhooks secret starting with 'whsec_'")
    try:
        key = base64.b64decode(value[len("whsec_") :], validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{name} must be 'whsec_' followed by base64") from None
    if not 24 <= len(key) <= 64:
        raise ConfigError(f"{name} must hold 24 to 64 random bytes (it holds {len(key)})")
    return value


def _choice(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def _pincode(name: str, raw: str) -> str:
    value = raw.strip()
    if not re.fullmatch(r"[1-9][0-9]{5}", value):
        raise ConfigError(f"{name} must be a 6-digit Indian pincode, got {raw!r}")
    return value


def _positive_decimal(name: str, raw: str) -> Decimal:
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not value.is_finite() or value <= 0:
        raise ConfigError(f"{name} must be a positive number, got {raw!r}")
    return value


def _positive_int(name: str, raw: str) -> int:
    if not raw.strip().isdigit() or int(raw) <= 0:
        raise ConfigError(f"{name} must be a positive whole number, got {raw!r}")
    return int(raw)


def _url_list(name: str, raw: str) -> list[str]:
    return [_http_url(name, item) for item in raw.split(",") if item.strip()]


def _text(name: str, raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ConfigError(f"{name} is set but empty")
    return value


def _instance_secret(instance_path: Path, filename: str, make: Callable[[], str]) -> str:
    """A secret generated once for local runs and kept under instance/."""
    path = instance_path / filename
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def _new_whsec() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def load_config(environ: Mapping[str, str], instance_path: Path) -> dict[str, Any]:
    """Parse contract §1's settings into a Flask config mapping."""

    def get(name: str) -> str | None:
        raw = environ.get(name)
        return raw if raw is not None and raw.strip() != "" else None

    app_env = _choice(("production", "development"))("APP_ENV", get("APP_ENV") or "production")
    local = app_env == "development"

    def required(name: str, parse: Callable[[str, str], Any] = _text) -> Any:
        raw = get(name)
        if raw is None:
            raise ConfigError(f"{name} is required when APP_ENV=production")
        return parse(name, raw)

    def optional(name: str, parse: Callable[[str, str], Any], default: Any) -> Any:
        raw = get(name)
        return default if raw is None else parse(name, raw)

    cfg: dict[str, Any] = {"APP_ENV": app_env, "LOCAL_RUN": local}

    sqlite_default = f"sqlite:///{instance_path / 'fulfilment.sqlite3'}"
    cfg["SQLALCHEMY_DATABASE_URI"] = optional("DATABASE_URL", _database_url, sqlite_default)

    if local:
        cfg["REDIS_URL"] = optional("REDIS_URL", _redis_url, None)
        cfg["SECRET_KEY"] = get("SECRET_KEY") or _instance_secret(
            instance_path, "secret_key", lambda: secrets.token_hex(32)
        )
        cfg["CHECKOUT_WEBHOOK_SECRET"] = optional(
            "CHECKOUT_WEBHOOK_SECRET",
            _webhook_secret,
            None,
        ) or _instance_secret(instance_path, "checkout_webhook_secret", _new_whsec)
        cfg["OUTBOUND_WEBHOOK_SECRET"] = optional(
            "OUTBOUND_WEBHOOK_SECRET", _webhook_secret, None
        ) or _instance_secret(instance_path, "outbound_webhook_secret", _new_whsec)
        cfg["SHIPROCKET_WEBHOOK_TOKEN"] = get("SHIPROCKET_WEBHOOK_TOKEN") or _instance_secret(
            instance_path, "shiprocket_webhook_token", lambda: secrets.token_urlsafe(24)
        )
        cfg["SHIPROCKET_EMAIL"] = get("SHIPROCKET_EMAIL")
        cfg["SHIPROCKET_PASSWORD"] = get("SHIPROCKET_PASSWORD")
    else:
        cfg["REDIS_URL"] = required("REDIS_URL", _redis_url)
        cfg["SECRET_KEY"] = required("SECRET_KEY")
        if len(cfg["SECRET_KEY"]) < 16:
            raise ConfigError("SECRET_KEY must be at least 16 characters")
        cfg["CHECKOUT_WEBHOOK_SECRET"] = required("CHECKOUT_WEBHOOK_SECRET", _webhook_secret)
        cfg["OUTBOUND_WEBHOOK_SECRET"] = required("OUTBOUND_WEBHOOK_SECRET", _webhook_secret)
        cfg["SHIPROCKET_WEBHOOK_TOKEN"] = required("SHIPROCKET_WEBHOOK_TOKEN")
        cfg["SHIPROCKET_EMAIL"] = required("SHIPROCKET_EMAIL")
        cfg["SHIPROCKET_PASSWORD"] = required("SHIPROCKET_PASSWORD")

    # With no Shiprocket credentials (local runs only) the built-in sandbox is used.
    cfg["SHIPROCKET_SANDBOX"] = cfg["SHIPROCKET_EMAIL"] is None
    cfg["SHIPROCKET_BASE_URL"] = optional(
        "SHIPROCKET_BASE_URL", _http_url, DEFAULT_SHIPROCKET_BASE_URL
    )
    cfg["SHIPROCKET_PICKUP_LOCATION"] = optional(
        "SHIPROCKET_PICKUP_LOCATION", _text, "Sandbox Warehouse"
    )
    cfg["SHIPROCKET_PICKUP_POSTCODE"] = optional("SHIPROCKET_PICKUP_POSTCODE", _pincode, "560001")
    cfg["CARRIER_RULE"] = optional("CARRIER_RULE", _choice(CARRIER_RULES), "cheapest")
    cfg["OUTBOUND_WEBHOOK_URLS"] = optional("OUTBOUND_WEBHOOK_URLS", _url_list, [])
    cfg["FEATURE_ORDERS_ORDER_FULFILLMENT"] = optional(
        "FEATURE_ORDERS_ORDER_FULFILLMENT", _bool, True
    )
    # Package defaults for orders that arrive without weight/dimensions.
    cfg["DEFAULT_PACKAGE_WEIGHT_KG"] = optional(
        "DEFAULT_PACKAGE_WEIGHT_KG", _positive_decimal, Decimal("0.5")
    )
    cfg["DEFAULT_PACKAGE_LENGTH_CM"] = optional(
        "DEFAULT_PACKAGE_LENGTH_CM", _positive_decimal, Decimal("20")
    )
    cfg["DEFAULT_PACKAGE_BREADTH_CM"] = optional(
        "DEFAULT_PACKAGE_BREADTH_CM", _positive_decimal, Decimal("15")
    )
    cfg["DEFAULT_PACKAGE_HEIGHT_CM"] = optional(
        "DEFAULT_PACKAGE_HEIGHT_CM", _positive_decimal, Decimal("10")
    )
    # The built-in sandbox (local runs without Shiprocket credentials): `make run` starts it here.
    cfg["SHIPROCKET_SANDBOX_URL"] = optional(
        "SHIPROCKET_SANDBOX_URL", _http_url, "http://127.0.0.1:8765"
    )
    cfg["SHIPROCKET_CONNECT_TIMEOUT"] = 3.05
    cfg["SHIPROCKET_READ_TIMEOUT"] = 20.0
    cfg["SHIPROCKET_MAX_ATTEMPTS"] = 3
    # How long one shipment job may hold its shipment before a sweep may resume it elsewhere.
    cfg["SHIPMENT_LEASE_SECONDS"] = optional("SHIPMENT_LEASE_SECONDS", _positive_int, 120)
    cfg["SHIPMENT_SWEEP_SECONDS"] = optional("SHIPMENT_SWEEP_SECONDS", _positive_int, 60)
    cfg["OUTBOX_RELAY_SECONDS"] = optional("OUTBOX_RELAY_SECONDS", _positive_int, 1)
    cfg["LOG_LEVEL"] = optional("LOG_LEVEL", _choice(("debug", "info", "warning", "error")), "info")

    # Fixed framework settings.
    cfg["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(cfg["SQLALCHEMY_DATABASE_URI"])
    cfg["WEBHOOK_MAX_BYTES"] = WEBHOOK_MAX_BYTES
    cfg["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024
    cfg["SESSION_COOKIE_HTTPONLY"] = True
    cfg["SESSION_COOKIE_SAMESITE"] = "Lax"
    cfg["SESSION_COOKIE_SECURE"] = not local
    cfg["REMEMBER_COOKIE_HTTPONLY"] = True
    cfg["REMEMBER_COOKIE_SAMESITE"] = "Lax"
    cfg["REMEMBER_COOKIE_SECURE"] = not local
    cfg["PERMANENT_SESSION_LIFETIME"] = 12 * 3600
    cfg["WTF_CSRF_TIME_LIMIT"] = None  # token lives as long as the session
    cfg["FLASK_ADMIN_SWATCH"] = "default"
    cfg["JSON_SORT_KEYS"] = False
    return cfg


def engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # A generous busy timeout lets concurrent writers (web + worker) queue instead of
        # failing with "database is locked"; WAL is switched on per connection in db.py.
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    # No pool_pre_ping: it costs a round trip (SELECT 1) on every checkout, about 5 % of an
    # order intake's CPU (docs/BENCHMARKS.md). Without it a connection that died while pooled
    # fails its first statement: that request gets a 503 (contract §2: checkout retries; the
    # admin shows its 503 page), and SQLAlchemy then discards the pool's older connections, so
    # one failure per process follows a database restart. pool_recycle replaces idle connections
    # before a firewall or proxy between us and PostgreSQL is likely to have cut them.
    return {"pool_recycle": 300, "pool_size": 5, "max_overflow": 10, "pool_timeout": 5}


parse_webhook_secret = _webhook_secret  # public: the admin validates rotated secrets with it
