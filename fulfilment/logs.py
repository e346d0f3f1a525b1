"""Logging that carries order ids (and job ids) and never prints a secret."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from contextvars import ContextVar

current_order_id: ContextVar[str] = ContextVar("current_order_id", default="-")
current_job_id: ContextVar[str] = ContextVar("current_job_id", default="-")

FORMAT = "%(asctime)s %(levelname)s %(name)s order=%(order_id)s job=%(job_id)s %(message)s"


class ContextFilter(logging.Filter):
    """Fills order_id/job_id from `extra=` or from the context of the current request/job."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "order_id"):
            record.order_id = current_order_id.get()
        if not hasattr(record, "job_id"):
            record.job_id = current_job_id.get()
        return True


class RedactSecrets(logging.Filter):
    """Replaces the values of configured secrets wherever they appear in a log line."""

    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in self.secrets:
            redacted = redacted.replace(secret, "[redacted]")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure_logging(level: str, secrets: Iterable[str]) -> None:
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_fulfilment", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._fulfilment = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.filters = [ContextFilter(), RedactSecrets(secrets)]
    root.setLevel(level.upper())
