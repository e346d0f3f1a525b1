"""GET /healthz and GET /readyz (contract §8), and the security headers."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

BAD_DATABASE = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"


def _unreachable_redis() -> redis.Redis:
    # No client-side retries: redis-py's default backoff would only make the test slow.
    return redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )


def test_healthz_is_200_ok(client):
    resp = client.get("/healthz")

    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


def test_healthz_needs_no_database_or_redis(make_app):
    app = make_app({"DATABASE_URL": BAD_DATABASE}, REDIS_CONNECTION_FACTORY=_unreachable_redis)

    resp = app.test_client().get("/healthz")

    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


def test_readyz_is_200_when_database_and_redis_answer(client):
    resp = client.get("/readyz")

    assert resp.status_code == 200
    body = resp.get_json()
    assert body["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_is_503_when_redis_is_unreachable(make_app):
    app = make_app(REDIS_CONNECTION_FACTORY=_unreachable_redis)

    resp = app.test_client().get("/readyz")

    assert resp.status_code == 503
    body = resp.get_json()
    assert body["checks"] == {"database": "ok", "redis": "unreachable"}


def test_readyz_is_503_when_the_database_is_unreachable(make_app):
    app = make_app({"DATABASE_URL": BAD_DATABASE})

    resp = app.test_client().get("/readyz")

    assert resp.status_code == 503
    body = resp.get_json()
    assert body["checks"]["database"] == "unreachable"
    assert body["checks"]["redis"] == "ok"


def test_readyz_is_503_when_both_are_unreachable(make_app):
    app = make_app({"DATABASE_URL": BAD_DATABASE}, REDIS_CONNECTION_FACTORY=_unreachable_redis)

    resp = app.test_client().get("/readyz")

    assert resp.status_code == 503
    assert resp.get_json()["checks"] == {"database": "unreachable", "redis": "unreachable"}


def test_readyz_does_not_leak_connection_details(make_app):
    app = make_app({"DATABASE_URL": BAD_DATABASE}, REDIS_CONNECTION_FACTORY=_unreachable_redis)

    text = app.test_client().get("/readyz").get_data(as_text=True)

    assert "nobody" not in text and "127.0.0.1" not in text


def test_security_headers_on_healthz(client):
    resp = client.get("/healthz")

    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] in ("DENY", "SAMEORIGIN")


def test_security_headers_on_the_login_page(client):
    resp = client.get("/login")

    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] in ("DENY", "SAMEORIGIN")
    assert "frame-ancestors" in resp.headers.get("Content-Security-Policy", "")


def test_healthz_answers_get_only(client):
    resp = client.post("/healthz")

    assert resp.status_code == 405
    assert resp.is_json
