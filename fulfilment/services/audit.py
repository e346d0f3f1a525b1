"""The append-only audit log for changes that are not order status changes."""

from __future__ import annotations

from typing import Any

from fulfilment.extensions import db
from fulfilment.models import AuditLog


def record_audit(
    *, actor: str, action: str, entity_type: str, entity_id: str, details: dict[str, Any]
) -> AuditLog:
    """Adds an audit row to the current transaction (the caller commits)."""
    row = AuditLog(
        actor=actor, action=action, entity_type=entity_type, entity_id=entity_id, details=details
    )
    db.session.add(row)
    return row
