"""A bare webhook receiver for bench/outbound_bench.py: reads the body, answers 200 "ok".

A plain WSGI callable (no framework) so that the receiver costs as little CPU as possible on
the shared cores. The benchmark serves it with gunicorn (`--receiver`); by hand:
`.venv/bin/gunicorn --chdir bench --worker-class gthread --threads 4 receiver_app:app`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", "2")]


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    start_response("200 OK", _HEADERS)
    return [b"ok"]
