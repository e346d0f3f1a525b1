"""Feature flags stored in the database, seeded from the environment (contract §7)."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from fulfilment.db import insert_ignoring_conflicts
from fulfilment.errors import FeatureDisabled
from fulfilment.extensions import db
from fulfilment.models import FeatureFlag
from fulfilment.services.audit import record_audit

ORDER_FULFILLMENT = "feature.orders.order_fulfillment"

# flag key → config key holding its seed value from the environment
SEEDS = {ORDER_FULFILLMENT: "FEATURE_ORDERS_ORDER_FULFILLMENT"}


def seed_flags() -> None:
    """Inserts each flag with its environment value if it is not stored yet.

    Once stored, the database wins: a later environment value only matters while no admin has
    toggled the flag (source "env"), so re-deploying with a new value still takes effect.
    Commits.
    """
    dialect = db.session.get_bind().dialect.name
    for key, config_key in SEEDS.items():
        value = bool(current_app.config[config_key])
        db.session.execute(
            insert_ignoring_conflicts(FeatureFlag.__table__, dialect, ["key"]).values(
                key=key, enabled=value, source="env", updated_by="system:config"
            )
        )
        flag = db.session.get(FeatureFlag, key)
        if flag is not None and flag.source == "env" and flag.enabled != value:
            flag.enabled = value
    db.session.commit()


def is_enabled(key: str) -> bool:
    """The admin's stored value once an admin has toggled the flag, else the environment's."""
    row = db.session.execute(
        select(FeatureFlag.enabled, FeatureFlag.source).where(FeatureFlag.key == key)
    ).one_or_none()
    if row is not None and row.source == "admin":
        return bool(row.enabled)
    return bool(current_app.config[SEEDS[key]])


def require_enabled(key: str = ORDER_FULFILLMENT) -> None:
    if not is_enabled(key):
        raise FeatureDisabled(key)


def set_flag(key: str, enabled: bool, *, actor: str) -> FeatureFlag:
    """Sets a flag (admins only; the caller checks the role), audits the change, commits."""
    if key not in SEEDS:
        raise KeyError(key)
    flag = db.session.get(FeatureFlag, key)
    before = None if flag is None else flag.enabled
    if flag is None:
        flag = FeatureFlag(key=key, enabled=enabled)
        db.session.add(flag)
    flag.enabled = enabled
    flag.source = "admin"
    flag.updated_by = actor
    record_audit(
        actor=actor,
        action="flag.set",
        entity_type="feature_flag",
        entity_id=key,
        details={"from": before, "to": enabled},
    )
    db.session.commit()
    return flag


def list_flags() -> list[FeatureFlag]:
    return list(db.session.execute(select(FeatureFlag).order_by(FeatureFlag.key)).scalars())
