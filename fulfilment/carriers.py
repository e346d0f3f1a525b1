"""Carrier choice: the automatic pick by CARRIER_RULE, or an override by courier id. Pure.

Rules and their stated tie-breaks (each ends on the lower courier id, so the pick is stable):
- cheapest:    lowest rate → fewer estimated days → higher rating → lower courier id
- fastest:     fewest estimated days (unknown = slowest) → lowest rate → higher rating → id
- best_rated:  highest rating (unknown = lowest) → lowest rate → fewer days → id
- recommended: Shiprocket's recommended courier; if it is not among the options, the cheapest
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from fulfilment.errors import InvalidInput
from fulfilment.shiprocket.types import CourierOption

_NO_DAYS = 10_000
_RULE_LABEL = {
    "cheapest": "cheapest",
    "fastest": "fastest",
    "best_rated": "best rated",
    "recommended": "Shiprocket's recommendation",
}


@dataclass(frozen=True)
class CarrierChoice:
    option: CourierOption
    rule: str  # the rule applied, or "override"
    reason: str  # e.g. "cheapest of 4", "override by ops@example.in"


def _days(o: CourierOption) -> int:
    return o.estimated_days if o.estimated_days is not None else _NO_DAYS


def _rating(o: CourierOption) -> float:
    return o.rating if o.rating is not None else -1.0


SORT_KEYS = {
    "cheapest": lambda o: (o.rate, _days(o), -_rating(o), o.courier_id),
    "fastest": lambda o: (_days(o), o.rate, -_rating(o), o.courier_id),
    "best_rated": lambda o: (-_rating(o), o.rate, _days(o), o.courier_id),
}


def choose_carrier(
    options: list[CourierOption],
    *,
    rule: str,
    recommended_id: int | None = None,
    override_id: int | None = None,
    actor: str | None = None,
) -> CarrierChoice:
    """The courier to use, and why. Raises InvalidInput for an override not on offer."""
    if not options:
        raise InvalidInput("no courier options", {"courier_id": ["no courier is on offer"]})
    count = len(options)
    if override_id is not None:
        match = next((o for o in options if o.courier_id == override_id), None)
        if match is None:
            offered = ", ".join(str(o.courier_id) for o in options)
            raise InvalidInput(
                f"courier {override_id} is not offered for this order",
                {"courier_id": [f"courier {override_id} is not offered (offered: {offered})"]},
            )
        return CarrierChoice(match, "override", f"override by {actor or 'ops'} ({count} offered)")
    if rule == "recommended":
        match = next((o for o in options if o.courier_id == recommended_id), None)
        if match is not None:
            return CarrierChoice(match, rule, f"Shiprocket's recommendation of {count}")
        cheapest = min(options, key=SORT_KEYS["cheapest"])
        return CarrierChoice(
            cheapest, "cheapest", f"cheapest of {count} (no recommendation on offer)"
        )
    if rule not in SORT_KEYS:
        raise ValueError(f"unknown carrier rule {rule!r}")
    return CarrierChoice(min(options, key=SORT_KEYS[rule]), rule, f"{_RULE_LABEL[rule]} of {count}")


def option_to_json(option: CourierOption) -> dict[str, Any]:
    doc = asdict(option)
    doc["rate"] = f"{option.rate:.2f}"
    return doc


def option_from_json(doc: dict[str, Any]) -> CourierOption:
    return CourierOption(**{**doc, "rate": Decimal(doc["rate"])})
