"""2,000 generated malformed OrderPlaced payloads, correctly signed: no 500, nothing stored."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fulfilment.models import InboundEvent, Order
from tests.helpers import NOTHING_STORED, count, counts, sample, signed_headers

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


# Every path in the sample whose value is required or constrained.
def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append((*prefix, k))
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.append((*prefix, i))
            out.extend(_paths(v, (*prefix, i)))
    return out


BASE = sample()
PATHS = [p for p in _paths(BASE) if p[:2] != ("order", "package")]
# Values that are wrong wherever they go in this schema (no field accepts all of them).
BAD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(json_scalars, max_size=3),
    st.dictionaries(st.text(max_size=5), json_scalars, max_size=3),
    st.sampled_from(["", " ", "NaN", "Infinity", "-1", "1e999", "\u0000", "<script>", "9" * 400]),
)


FREE_TEXT = {"event_id", "order_id", "name", "line1", "line2", "city", "state", "sku", "reference"}


def _set(doc: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _delete(doc: Any, path: tuple) -> None:
    for key in path[:-1]:
        doc = doc[key]
    if isinstance(doc, dict):
        del doc[path[-1]]
    else:
        doc.pop(path[-1])


@st.composite
def malformed_payloads(draw: Any) -> bytes:
    kind = draw(st.sampled_from(["replace", "delete", "arbitrary", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "arbitrary":
        return json.dumps(draw(json_values)).encode()
    doc = sample()
    path = draw(st.sampled_from(PATHS))
    if kind == "delete":
        if path[-2:] == ("shipping_address", "line2") or path[-1] in (
            "hsn",
            "tax_rate",
            "reference",
        ):
            path = ("order", "customer")  # those are optional: deleting them is valid
        _delete(doc, path)
    else:
        value = draw(BAD_VALUES)
        leaf = path[-1]
        if leaf in ("hsn", "tax_rate", "reference", "line2") and value is None:
            value = [1]  # None is valid for optional fields
        if leaf in ("reference", "line2") and isinstance(value, str) and len(value) <= 100:
            value = {"x": value}  # any short text, blank included, is a valid optional line
        if leaf in FREE_TEXT and isinstance(value, str) and value.strip() and len(value) <= 40:
            value = {"x": value}  # a short non-blank string can be a valid id, name or line
        _set(doc, path, value)
    return json.dumps(doc).encode()


@settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(body=malformed_payloads())
def test_malformed_payloads_never_500_and_store_nothing(app, client, body):
    text = body.decode("utf-8", errors="replace")
    headers = signed_headers(app.config["CHECKOUT_WEBHOOK_SECRET"], text)

    resp = client.post("/webhooks/checkout", data=body, headers=headers)

    assert resp.status_code in (400, 422), (resp.status_code, body[:200])
    assert resp.is_json
    assert count(app, Order) == 0 and count(app, InboundEvent) == 0


def test_edge_bodies_are_refused_and_nothing_is_stored(app, client):
    for body in [b"", b"[]", b"{}", b'{"order": null}', json.dumps({**BASE, "order": []}).encode()]:
        headers = signed_headers(app.config["CHECKOUT_WEBHOOK_SECRET"], body.decode())
        assert client.post("/webhooks/checkout", data=body, headers=headers).status_code in (
            400,
            422,
        )
    assert counts(app) == NOTHING_STORED
