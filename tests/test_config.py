"""Settings (contract §1): defaults for local runs, a one-line error for anything missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fulfilment.config import load_config
from fulfilment.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

PRODUCTION = {
    "APP_ENV": "production",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "SECRET_KEY": "x" * 32,
    "CHECKOUT_WEBHOOK_SECRET": SECRET,
    "OUTBOUND_WEBHOOK_SECRET": SECRET,
    "SHIPROCKET_EMAIL": "api@example.in",
    "SHIPROCKET_PASSWORD": "pw",
    "SHIPROCKET_WEBHOOK_TOKEN": "tok",
}


def test_production_with_every_setting_loads(tmp_path):
    cfg = load_config(PRODUCTION, tmp_path)

    assert cfg["APP_ENV"] == "production"
    assert cfg["SHIPROCKET_SANDBOX"] is False
    assert cfg["SESSION_COOKIE_SECURE"] is True
    assert cfg["CARRIER_RULE"] == "cheapest"
    assert cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")


def test_app_env_defaults_to_production(tmp_path):
    with pytest.raises(ConfigError, match="REDIS_URL is required"):
        load_config({}, tmp_path)


@pytest.mark.parametrize("name", sorted(set(PRODUCTION) - {"APP_ENV"}))
def test_each_missing_production_setting_is_named(tmp_path, name):
    env = {k: v for k, v in PRODUCTION.items() if k != name}

    with pytest.raises(ConfigError) as exc:
        load_config(env, tmp_path)

    message = str(exc.value)
    assert message.startswith(name) and "\n" not in message


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("APP_ENV", "staging", "APP_ENV must be one of"),
        ("DATABASE_URL", "not a url", "DATABASE_URL"),
        ("DATABASE_URL", "mysql://x@y/z", "SQLite or PostgreSQL"),
        ("REDIS_URL", "http://localhost", "REDIS_URL must be"),
        ("CHECKOUT_WEBHOOK_SECRET", "secret", "whsec_"),
        ("CHECKOUT_WEBHOOK_SECRET", "whsec_%%%", "base64"),
        ("CHECKOUT_WEBHOOK_SECRET", "whsec_c2hvcnQ=", "24 to 64"),
        ("CARRIER_RULE", "random", "CARRIER_RULE must be one of"),
        ("FEATURE_ORDERS_ORDER_FULFILLMENT", "maybe", "FEATURE_ORDERS_ORDER_FULFILLMENT"),
        ("SHIPROCKET_BASE_URL", "ftp://x", "SHIPROCKET_BASE_URL"),
        ("SHIPROCKET_PICKUP_POSTCODE", "12345", "SHIPROCKET_PICKUP_POSTCODE"),
        ("OUTBOUND_WEBHOOK_URLS", "https://a.example,nope", "OUTBOUND_WEBHOOK_URLS"),
        ("SECRET_KEY", "short", "SECRET_KEY"),
    ],
)
def test_malformed_settings_are_named(tmp_path, name, value, fragment):
    with pytest.raises(ConfigError, match=fragment) as exc:
        load_config({**PRODUCTION, name: value}, tmp_path)
    assert "\n" not in str(exc.value)


def test_secret_values_never_appear_in_config_errors(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_config({**PRODUCTION, "CHECKOUT_WEBHOOK_SECRET": "whsec_c2hvcnQ="}, tmp_path)
    assert "c2hvcnQ" not in str(exc.value)


def test_local_run_needs_nothing_and_keeps_generated_secrets(tmp_path):
    first = load_config({"APP_ENV": "development"}, tmp_path)
    second = load_config({"APP_ENV": "development"}, tmp_path)

    assert first["REDIS_URL"] is None  # the embedded stand-in
    assert first["SHIPROCKET_SANDBOX"] is True
    assert first["CHECKOUT_WEBHOOK_SECRET"].startswith("whsec_")
    for key in ("SECRET_KEY", "CHECKOUT_WEBHOOK_SECRET", "OUTBOUND_WEBHOOK_SECRET"):
        assert first[key] == second[key]
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_plain_postgresql_urls_use_psycopg3(tmp_path):
    cfg = load_config({**PRODUCTION, "DATABASE_URL": "postgresql://u@h/db"}, tmp_path)
    assert cfg["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


def test_missing_setting_stops_start_up_with_one_line(tmp_path):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "DATABASE_", "REDIS_"))
    }
    env.update({**PRODUCTION, "FULFILMENT_INSTANCE_PATH": str(tmp_path)})
    del env["SHIPROCKET_WEBHOOK_TOKEN"]

    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "fulfilment: configuration error: SHIPROCKET_WEBHOOK_TOKEN is required when "
        "APP_ENV=production"
    ]
