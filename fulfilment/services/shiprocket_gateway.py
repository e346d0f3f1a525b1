"""The Shiprocket client for this app: real Shiprocket, or the built-in sandbox in local runs."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import current_app

from fulfilment.queues import redis_connection
from fulfilment.shiprocket.client import RedisTokenStore, ShiprocketClient

SANDBOX_EMAIL = "sandbox@example.in"
SANDBOX_PASSWORD = "sandbox-password"
_EXT = "fulfilment.shiprocket"


def _token_key(cfg: Any, sandbox: bool) -> str:
    """One cached token per Shiprocket account and host (sandbox and live never share one)."""
    who = "sandbox" if sandbox else f"{cfg['SHIPROCKET_BASE_URL']}|{cfg['SHIPROCKET_EMAIL']}"
    return "shiprocket:token:" + hashlib.sha256(who.encode()).hexdigest()[:16]


def shiprocket() -> ShiprocketClient:
    """One client per app (its Session is reused); the login token is shared through Redis."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    client = app.extensions.get(_EXT)
    if client is None:
        cfg = app.config
        factory = cfg.get("SHIPROCKET_CLIENT_FACTORY")
        if factory is not None:
            client = factory()
        else:
            sandbox = cfg["SHIPROCKET_SANDBOX"]
            client = ShiprocketClient(
                cfg["SHIPROCKET_SANDBOX_URL"] if sandbox else cfg["SHIPROCKET_BASE_URL"],
                SANDBOX_EMAIL if sandbox else cfg["SHIPROCKET_EMAIL"],
                SANDBOX_PASSWORD if sandbox else cfg["SHIPROCKET_PASSWORD"],
                token_store=RedisTokenStore(redis_connection(), key=_token_key(cfg, sandbox)),
                connect_timeout=cfg["SHIPROCKET_CONNECT_TIMEOUT"],
                read_timeout=cfg["SHIPROCKET_READ_TIMEOUT"],
                max_attempts=cfg["SHIPROCKET_MAX_ATTEMPTS"],
            )
        app.extensions[_EXT] = client
    return client
