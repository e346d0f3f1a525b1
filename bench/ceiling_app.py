"""The ceiling for the intake benchmark: a bare Flask endpoint that inserts one row.

`POST /ingest` stores the raw request body as one row of `bench_ceiling` in PostgreSQL
(SQLAlchemy Core on psycopg 3, a plain connection pool, one short transaction) and answers 202
with a small JSON body. No signature check, no parsing, no validation, no ORM: it is what the
stack itself (gunicorn + Flask + SQLAlchemy + psycopg + one committed INSERT) costs per
request on this machine, so real intake can be compared with it in the same run.

`GET /ingest` answers 200 without touching the database (readiness probe).

Run: DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_intake \
     gunicorn --chdir bench ceiling_app:app
"""

from __future__ import annotations

import os

from flask import Flask, Response, request
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, text
from sqlalchemy.engine import make_url


def _engine_url(raw: str) -> str:
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")  # psycopg 3, as the real app uses
    return url.render_as_string(hide_password=False)


engine = create_engine(
    _engine_url(os.environ["DATABASE_URL"]), pool_size=5, max_overflow=10, pool_timeout=5
)
metadata = MetaData()
bench_ceiling = Table(
    "bench_ceiling",
    metadata,
    Column("id", Integer, primary_key=True),  # serial
    Column("body", Text, nullable=False),
)
_insert = bench_ceiling.insert()


def _create_table() -> None:
    # Several gunicorn workers start at once: serialise CREATE TABLE IF NOT EXISTS, which
    # is not race-free on its own in PostgreSQL.
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(7315001)"))
        metadata.create_all(conn, checkfirst=True)


_create_table()
app = Flask(__name__)
_ACCEPTED = b'{"status":"accepted"}\n'


@app.post("/ingest")
def ingest() -> Response:
    body = request.get_data(as_text=True)
    with engine.begin() as conn:
        conn.execute(_insert, {"body": body})
    return Response(_ACCEPTED, status=202, mimetype="application/json")


@app.get("/ingest")
def ready() -> Response:
    return Response(b'{"status":"ok"}\n', status=200, mimetype="application/json")
