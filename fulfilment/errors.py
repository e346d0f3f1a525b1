"""Domain exceptions. Transport layers (webhooks, API, admin, jobs) map them to answers."""

from __future__ import annotations


class ConfigError(RuntimeError):
    """A required setting is missing or malformed. The message is one line naming it."""


class DomainError(Exception):
    """Base class of errors a caller can show to a user."""

    code = "error"


class OrderNotFound(DomainError):
    code = "not_found"

    def __init__(self, order_id: str):
        super().__init__(f"order {order_id} not found")
        self.order_id = order_id


class InvalidTransition(DomainError):
    code = "invalid_transition"

    def __init__(self, order_id: str, current: str, requested: str):
        super().__init__(f"order {order_id} is {current}; it cannot move to {requested}")
        self.order_id = order_id
        self.current = current
        self.requested = requested


class ConcurrentUpdate(DomainError):
    code = "conflict"

    def __init__(self, order_id: str):
        super().__init__(f"order {order_id} was changed by someone else; reload and try again")
        self.order_id = order_id


class FeatureDisabled(DomainError):
    code = "feature_disabled"

    def __init__(self, flag: str):
        super().__init__(f"{flag} is off: fulfilment actions are disabled")
        self.flag = flag


class PermissionDenied(DomainError):
    code = "forbidden"


class InvalidInput(DomainError):
    code = "validation_failed"

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.fields = fields or {}
