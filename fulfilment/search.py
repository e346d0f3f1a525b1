"""The dashboard's one search box: exact matches on indexed columns, never LIKE '%…%'.

A term is read as every kind it could be: an order id, an e-mail, a phone in any common Indian
format (+91 98450 12345, 098450-12345 …) and an AWB. Each kind is an equality on a unique or
indexed column, so every search is a handful of index lookups whatever the table size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_, select

from fulfilment.models import Order, Shipment
from fulfilment.schemas import normalise_phone

ORDER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")
AWB_RE = re.compile(r"^[A-Za-z0-9]{6,40}$")


@dataclass(frozen=True)
class SearchTerms:
    order_id: str | None
    email: str | None
    phone: str | None
    awb: str | None


def parse_search(raw: str) -> SearchTerms:
    term = (raw or "").replace("\x00", "").strip()
    email = term.lower() if "@" in term and " " not in term else None
    phone = normalise_phone(term) if re.fullmatch(r"[+0-9\s\-().]{10,20}", term) else None
    return SearchTerms(
        order_id=term if ORDER_ID_RE.match(term) else None,
        email=email,
        phone=phone,
        awb=term if AWB_RE.match(term) else None,
    )


def search_condition(raw: str) -> ColumnElement[bool]:
    terms = parse_search(raw)
    parts: list[ColumnElement[bool]] = []
    if terms.order_id:
        parts.append(Order.order_id == terms.order_id)
    if terms.email:
        parts.append(Order.customer_email == terms.email)
    if terms.phone:
        parts.append(Order.customer_phone == terms.phone)
    if terms.awb:
        # AWBs are unique: "id = (subquery)" lets PostgreSQL combine the index lookups, where
        # "id IN (subquery)" under an OR made it filter every order (bench/dashboard_bench.py).
        parts.append(
            Order.id == select(Shipment.order_pk).where(Shipment.awb == terms.awb).scalar_subquery()
        )
    return or_(*parts) if parts else false()
