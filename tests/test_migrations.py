"""Every migration goes down and up again, and the head matches the models (both backends)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text

from fulfilment import create_app
from fulfilment.extensions import db
from tests.conftest import TEST_DATABASE_URL, _pg_url, base_environ


@pytest.fixture
def scratch_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of its own: a file, or a scratch database on the test server."""
    if not TEST_DATABASE_URL:
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    name = f"migrations_{uuid.uuid4().hex[:8]}"
    server = create_engine(_pg_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield TEST_DATABASE_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def _indexes(engine: Any, table: str) -> set[str]:
    return {ix["name"] for ix in inspect(engine).get_indexes(table)}


def test_down_to_nothing_and_up_again(scratch_url: str, tmp_path: Path) -> None:
    app = create_app(environ=base_environ(scratch_url), instance_path=tmp_path / "instance")
    with app.app_context():
        upgrade()
        assert "ix_tracking_events_unmatched_awb" in _indexes(db.engine, "tracking_events")
        downgrade(revision="0006")
        assert "ix_tracking_events_awb_occurred_at" in _indexes(db.engine, "tracking_events")
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        db.engine.dispose()
    assert diff == []  # the migrations build exactly what the models declare
