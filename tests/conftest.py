"""Fixtures. A SQLite *file* by default; PostgreSQL and Redis when TEST_DATABASE_URL /
TEST_REDIS_URL are set (CI runs both). Each test gets an empty, fully migrated database."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import create_engine, text

from fulfilment import create_app
from fulfilment.extensions import db

pytest_plugins = ["tests.shipping_helpers"]  # sandbox, ship_app, sleeps fixtures

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL") or None
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL") or None

APPEND_ONLY = ("order_status_history", "order_notes", "audit_log")


def _pg_url(url: str) -> str:
    return (
        url.replace("postgresql://", "postgresql+psycopg://", 1)
        if url.startswith("postgresql://")
        else url
    )


def base_environ(database_url: str) -> dict[str, str]:
    return {"APP_ENV": "development", "DATABASE_URL": database_url, "LOG_LEVEL": "warning"}


def _migrate(database_url: str, instance: Path) -> None:
    from flask_migrate import upgrade

    app = create_app(environ=base_environ(database_url), instance_path=instance)
    with app.app_context():
        upgrade()
        for engine in db.engines.values():
            engine.dispose()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Runs the Alembic migrations once: into the test PostgreSQL schema, or a template file."""
    instance = tmp_path_factory.mktemp("migrate-instance")
    if TEST_DATABASE_URL:
        engine = create_engine(_pg_url(TEST_DATABASE_URL))
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        _migrate(TEST_DATABASE_URL, instance)
        return TEST_DATABASE_URL
    template = tmp_path_factory.mktemp("db") / "template.sqlite3"
    _migrate(f"sqlite:///{template}", instance)
    return str(template)


def _empty_postgres(url: str) -> None:
    engine = create_engine(_pg_url(url))
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname='public' "
                    "AND tablename <> 'alembic_version'"
                )
            )
        ]
        for table in APPEND_ONLY:
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        for table in APPEND_ONLY:
            conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
    engine.dispose()


@pytest.fixture
def database_url(migrated_database: str, tmp_path: Path) -> str:
    if TEST_DATABASE_URL:
        _empty_postgres(TEST_DATABASE_URL)
        return TEST_DATABASE_URL
    path = tmp_path / "fulfilment.sqlite3"
    shutil.copyfile(migrated_database, path)
    return f"sqlite:///{path}"


@pytest.fixture
def redis_conn() -> Iterator[Redis]:
    if TEST_REDIS_URL:
        conn = Redis.from_url(TEST_REDIS_URL)
        conn.flushdb()
        yield conn
        conn.flushdb()
        conn.close()
    else:
        yield fakeredis.FakeRedis(server=fakeredis.FakeServer())


@pytest.fixture
def make_app(database_url: str, redis_conn: Redis, tmp_path: Path) -> Iterator[Any]:
    """Builds apps on this test's database and Redis; extra env/overrides per call."""
    made: list[Flask] = []

    def make(env: dict[str, str] | None = None, **overrides: Any) -> Flask:
        environ = {**base_environ(database_url), **(env or {})}
        config = {"TESTING": True, "REDIS_CONNECTION_FACTORY": lambda: redis_conn, **overrides}
        app = create_app(config, environ=environ, instance_path=tmp_path / "instance")
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()


@pytest.fixture
def app(make_app: Any) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()
