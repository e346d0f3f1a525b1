"""ShiprocketClient error mapping, retry schedule and token handling, against Shiprocket's real
sample bodies (shared/spec/shiprocket/samples) served by `responses`. No network, no app."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import requests
import responses
from responses import matchers
from urllib3.exceptions import NewConnectionError, ProtocolError

from fulfilment.shiprocket.client import TOKEN_TTL_SECONDS, RedisTokenStore, ShiprocketClient
from fulfilment.shiprocket.types import (
    AuthenticationError,
    AwbAlreadyAssigned,
    NotServiceable,
    PermanentShiprocketError,
    RetryableShiprocketError,
)

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "spec" / "shiprocket" / "samples"
BASE = "https://apiv2.shiprocket.in"
API = BASE + "/v1/external"
LOGIN = API + "/auth/login"
CREATE = API + "/orders/create/adhoc"
ASSIGN = API + "/courier/assign/awb"
SERVICEABILITY = API + "/courier/serviceability/"
SHIPMENT = API + "/shipments/16016920"
TIMEOUT = (3.05, 20.0)
EMAIL, PASSWORD = "api-user@example.com", "s3cret-pw"
NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>"
)


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    """Every test's HTTP; afterwards asserts that EVERY call carried the (connect, read) timeout."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
        for call in mock.calls:
            assert call.request.req_kwargs["timeout"] == TIMEOUT, call.request.url


@pytest.fixture
def redis() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


@pytest.fixture
def store(redis: fakeredis.FakeRedis) -> RedisTokenStore:
    return RedisTokenStore(redis)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_client(store: RedisTokenStore, sleeps: Sleeps, **kwargs: Any) -> ShiprocketClient:
    return ShiprocketClient(BASE, EMAIL, PASSWORD, token_store=store, sleep=sleeps, **kwargs)


@pytest.fixture
def client(store: RedisTokenStore, sleeps: Sleeps) -> ShiprocketClient:
    """A client whose shared store already holds a token ("tok-0"): no login unless a 401."""
    store.set("tok-0", 3600)
    return make_client(store, sleeps)


def add_login(rsps: responses.RequestsMock, token: str = "tok-1", status: int = 200) -> None:
    body = sample("auth_login.response.200.reconstructed.json") | {"token": token}
    if status != 200:
        body = {"message": "Invalid email and password combination", "status_code": status}
    rsps.add(responses.POST, LOGIN, json=body, status=status)


def calls_to(rsps: responses.RequestsMock, url: str) -> list[Any]:
    return [c for c in rsps.calls if c.request.url.split("?")[0] == url]


# ---- token store --------------------------------------------------------------------------


def test_token_store_set_get_and_ttl(store: RedisTokenStore, redis: fakeredis.FakeRedis) -> None:
    assert store.get() is None
    store.set("abc", 100)
    assert store.get() == "abc"
    assert 0 < redis.ttl("shiprocket:token") <= 100


def test_token_store_clear_only_if_still_the_same_token(store: RedisTokenStore) -> None:
    store.set("new-token", 100)
    store.clear("old-token")  # another process already replaced it: keep the new one
    assert store.get() == "new-token"
    store.clear("new-token")
    assert store.get() is None
    store.set("x", 100)
    store.clear()
    assert store.get() is None


# ---- login and 401 ------------------------------------------------------------------------


def test_login_lazily_once_and_stores_token_for_nine_days(
    rsps: responses.RequestsMock, store: RedisTokenStore, redis: fakeredis.FakeRedis, sleeps: Sleeps
) -> None:
    add_login(rsps, "tok-1")
    rsps.add(responses.GET, SHIPMENT, json=sample("shipments_show.response.200.json"))
    client = make_client(store, sleeps)

    client.get_shipment(16016920)
    client.get_shipment(16016920)

    assert len(calls_to(rsps, LOGIN)) == 1
    assert json.loads(calls_to(rsps, LOGIN)[0].request.body) == {
        "email": EMAIL,
        "password": PASSWORD,
    }
    assert "Authorization" not in calls_to(rsps, LOGIN)[0].request.headers
    assert store.get() == "tok-1"
    assert TOKEN_TTL_SECONDS == 9 * 24 * 3600
    assert TOKEN_TTL_SECONDS - 5 <= redis.ttl("shiprocket:token") <= TOKEN_TTL_SECONDS
    for call in calls_to(rsps, SHIPMENT):
        assert call.request.headers["Authorization"] == "Bearer tok-1"


def test_token_shared_by_two_clients_on_one_store(
    rsps: responses.RequestsMock, store: RedisTokenStore, sleeps: Sleeps
) -> None:
    add_login(rsps, "tok-1")
    rsps.add(responses.GET, SHIPMENT, json=sample("shipments_show.response.200.json"))
    web, worker = make_client(store, sleeps), make_client(store, sleeps)

    web.get_shipment(16016920)
    worker.get_shipment(16016920)

    assert len(calls_to(rsps, LOGIN)) == 1
    assert [c.request.headers["Authorization"] for c in calls_to(rsps, SHIPMENT)] == [
        "Bearer tok-1",
        "Bearer tok-1",
    ]


@pytest.mark.parametrize("status", [401, 403, 422])
def test_login_refused_is_authentication_error(
    rsps: responses.RequestsMock, store: RedisTokenStore, sleeps: Sleeps, status: int
) -> None:
    add_login(rsps, status=status)
    client = make_client(store, sleeps)

    with pytest.raises(AuthenticationError) as err:
        client.get_shipment(16016920)

    assert err.value.status_code == status
    assert len(rsps.calls) == 1 and sleeps == []
    assert store.get() is None


def test_401_clears_token_logs_in_once_and_repeats(
    rsps: responses.RequestsMock, client: ShiprocketClient, store: RedisTokenStore
) -> None:
    rsps.add(responses.GET, SHIPMENT, json={"message": "Token has expired"}, status=401)
    add_login(rsps, "tok-1")
    rsps.add(responses.GET, SHIPMENT, json=sample("shipments_show.response.200.json"))

    info = client.get_shipment(16016920)

    assert info.shipment_id == 16016920
    assert len(calls_to(rsps, LOGIN)) == 1
    auth = [c.request.headers["Authorization"] for c in calls_to(rsps, SHIPMENT)]
    assert auth == ["Bearer tok-0", "Bearer tok-1"]
    assert store.get() == "tok-1"


def test_second_401_is_authentication_error_after_exactly_one_relogin(
    rsps: responses.RequestsMock, client: ShiprocketClient, sleeps: Sleeps
) -> None:
    rsps.add(responses.GET, SHIPMENT, json={"message": "Unauthenticated."}, status=401)
    add_login(rsps, "tok-1")

    with pytest.raises(AuthenticationError) as err:
        client.get_shipment(16016920)

    assert err.value.status_code == 401
    assert len(calls_to(rsps, LOGIN)) == 1
    assert len(calls_to(rsps, SHIPMENT)) == 2
    assert sleeps == []


def test_401_does_not_clear_a_token_another_process_already_renewed(
    rsps: responses.RequestsMock, client: ShiprocketClient, store: RedisTokenStore
) -> None:
    def renewed_elsewhere(request: Any) -> tuple[int, dict[str, str], str]:
        store.set("tok-other", 3600)  # another worker logged in meanwhile
        return 401, {}, json.dumps({"message": "Token has expired"})

    rsps.add_callback(responses.GET, SHIPMENT, callback=renewed_elsewhere)
    add_login(rsps, "tok-1")
    rsps.add(responses.GET, SHIPMENT, json=sample("shipments_show.response.200.json"))
    cleared: list[str | None] = []
    original_clear = store.clear
    store.clear = lambda token=None: (cleared.append(token), original_clear(token))[1]

    client.get_shipment(16016920)

    assert cleared == ["tok-0"]  # asked to clear only the token it used


# ---- create order -------------------------------------------------------------------------


def test_create_adhoc_order_success(rsps: responses.RequestsMock, client: ShiprocketClient) -> None:
    rsps.add(responses.POST, CREATE, json=sample("orders_create_adhoc.response.200.json"))
    payload = sample("orders_create_adhoc.request.json")

    order = client.create_adhoc_order(payload)

    assert (order.sr_order_id, order.shipment_id) == (16161616, 15151515)
    assert (order.status, order.status_code, order.awb_code) == ("NEW", 1, None)
    assert order.courier_company_id is None and order.courier_name is None
    assert not order.is_cancelled
    assert json.loads(rsps.calls[0].request.body) == payload


def test_duplicate_channel_order_id_echoes_cancelled_order(
    rsps: responses.RequestsMock, client: ShiprocketClient
) -> None:
    body = sample("orders_create_adhoc.response.200_duplicate_of_cancelled.observed.json")
    rsps.add(responses.POST, CREATE, json=body)

    order = client.create_adhoc_order(sample("orders_create_adhoc.request.json"))

    assert (order.sr_order_id, order.shipment_id) == (1499133560, 1495356234)
    assert (order.status, order.status_code) == ("CANCELED", 5)
    assert order.awb_code is None
    assert order.is_cancelled


def test_400_bad_channel_is_permanent_and_not_retried(
    rsps: responses.RequestsMock, client: ShiprocketClient, sleeps: Sleeps
) -> None:
    body = sample("orders_create_adhoc.response.400_bad_channel.json")
    rsps.add(responses.POST, CREATE, json=body, status=400)

    with pytest.raises(PermanentShiprocketError) as err:
        client.create_adhoc_order({"order_id": "x"})

    assert err.value.message == "Given channel id does not exist"
    assert err.value.status_code == 400 and err.value.field_errors == {}
    assert err.value.endpoint == "POST /v1/external/orders/create/adhoc"
    assert len(rsps.calls) == 1 and sleeps == []


def test_422_field_errors_become_plain_messages(
    rsps: responses.RequestsMock, client: ShiprocketClient
) -> None:
    body = sample("orders_create_adhoc.response.422_missing_order_id.json")
    rsps.add(responses.POST, CREATE, json=body, status=422)

    with pytest.raises(PermanentShiprocketError) as err:
        client.create_adhoc_order({})

    assert err.value.field_errors == {"order_id": ["is required"]}
    assert err.value.message == "order_id: is required"
    assert err.value.body == body


def test_422_with_message_as_object(rsps: responses.RequestsMock, client: ShiprocketClient) -> None:
    body = sample("settings_company_addpickup.response.422_message_object.observed.json")
    rsps.add(responses.POST, CREATE, json=body, status=422)

    with pytest.raises(PermanentShiprocketError) as err:
        client.create_adhoc_order({})

    assert err.value.field_errors == {
        "address": ["Address line 1 should have House no / Flat no / Road no"],
        "email": ["is required"],
    }
    assert err.value.message == (
        "address: Address line 1 should have House no / Flat no / Road no; email: is required"
    )


def test_422_with_message_as_json_string(
    rsps: responses.RequestsMock, client: ShiprocketClient
) -> None:
    inner = {"billing_pincode": ["must be 6 digits"], "billing_phone": ["must be 10 digits"]}
    rsps.add(responses.POST, CREATE, json={"message": json.dumps(inner)}, status=422)

    with pytest.raises(PermanentShiprocketError) as err:
        client.create_adhoc_order({})

    assert err.value.field_errors == inner
    assert (
        err.value.message == "billing_pincode: must be 6 digits; billing_phone: must be 10 digits"
    )


# ---- retry schedule -----------------------------------------------------------------------

TRANSIENT = {
    "500": {"json": sample("error.500_foreach.json"), "status": 500},
    "502-nginx-html": {"body": NGINX_502, "status": 502, "content_type": "text/html"},
    "503": {"body": "", "status": 503},
    "504": {"json": {"message": "Gateway Timeout"}, "status": 504},
    "connect-timeout": {"body": requests.ConnectTimeout("connect timed out")},
    "read-timeout": {"body": requests.ReadTimeout("read timed out")},
    "connection-reset": {
        "body": requests.ConnectionError(
            ProtocolError("Connection aborted.", ConnectionResetError(104, "reset by peer"))
        )
    },
}


@pytest.mark.parametrize("failure", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_transient_failure_on_get_is_retried_then_succeeds(
    rsps: responses.RequestsMock, client: ShiprocketClient, sleeps: Sleeps, failure: dict
) -> None:
    rsps.add(responses.GET, SHIPMENT, **failure)
    rsps.add(responses.GET, SHIPMENT, json=sample("shipments_show.response.200.json"))

    info = client.get_shipment(16016920)

    assert info.sr_order_id == 16167171
    assert len(rsps.calls) == 2
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 8.0


@pytest.mark.parametrize("failure", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_transient_failure_stops_at_max_attempts_and_reraises(
    rsps: responses.RequestsMock, client: ShiprocketClient, sleeps: Sleeps, failure: dict
) -> None:
    rsps.add(responses.GET, SHIPMENT, **failure)  # the last registration repeats forever

    with pytest.raises(RetryableShiprocketError) as err:
        client.get_shipment(16016920)

    assert len(rsps.calls) == 3
    assert len(sleeps) == 2 and all(0 <= s <= 8.0 for s in sleeps)
    assert err.value.ambiguous is False  # a GET never is
    assert err.value.endpoint == "GET /v1/external/shipments/16016920"


def test_502_html_keeps_the_page_as_body(
    rsps: responses.RequestsMock, client: ShiprocketClient
) -> None:
    rsps.add(responses.GET, SHIPMENT, **TRANSIENT["502-nginx-html"])

    with pytest.raises(RetryableShiprocketError) as err:
        client.get_shipment(16016920)

    assert err.value.status_code == 502
    assert "Bad Gateway" in err.value.body
    assert err.value.message == "Shiprocket HTTP 502: server error"


def test_backoff_is_bounded_by_max_wait(
    rsps: responses.RequestsMock, store: RedisTokenStore, sleeps: Sleeps
) -> None:
    store.set("tok-0", 3600)
    client = make_client(store, sleeps, max_attempts=6, max_wait=2.0)
    rsps.add(responses.GET, SHIPMENT, status=503)

    with pytest.raises(RetryableShiprocketError):
        client.get_shipment(16016920)

    assert len(rsps.calls) == 6
    assert len(sleeps) == 5 and all(0 <= s <= 2.0 for s in sleeps)


def test_429_waits_at_least_retry_after(
    rsps: responses.RequestsMock, client: ShiprocketClient, sleeps: Sleeps
) -> None:
    rsps.add(
        responses.GET,
        SHIPMENT,
        json={"message": "Too Many Attempts.", "status_code": 429},
        status=429,
        headers={"Retry-After": "7"},
    )
    rsps.add(responses.GET, SHIPMENT, json=sample("shipments_show.response.200.json"))

    client.get_shipment(16016920)

    assert len(rsps.calls) == 2
    assert len(sleeps) == 1 and 7 <= sleeps[0] <= 8.0


def test_429_retry_after_longer_than_max_wait_is_raised_without_sleeping(
    rsps: responses.RequestsMock, client: ShiprocketClient, sleeps: Sleeps
) -> None:
    rsps.add(responses.GET, SHIPMENT, status=429, headers={"Retry-After": "120"})

    with pytest.raises(RetryableShiprocketError) as err:
        client.get_shipment(16016920)

    assert err.value.retry_after == 120.0 and err.value.status_code == 429
    assert len(rsps.calls) == 1 and sleeps == []


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (400, "courier_generate_pickup.response.400_invalid.json"),
        (404, "error.404_not_found.json"),
        (422, "courier_serviceability.response.422_missing.json"),
        (403, "error.404_not_found.json"),
    ],
)
def test_4xx_is_permanent_and_called_exactly_once(
    rsps: responses.RequestsMock, client: ShiprocketClient, sleeps: Sleeps, status: int, name: str
) -> None:
    rsps.add(responses.GET, SHIPMENT, json=sample(name), status=status)

    with pytest.raises(PermanentShiprocketError) as err:
        client.get_shipment(16016920)

    assert not isinstance(err.value, RetryableShiprocketError)
    assert err.value.status_code == status
    assert len(rsps.calls) == 1 and sleeps == []


def test_read_timeout_on_create_is_ambiguous_and_not_repeated(
    rsps: responses.RequestsMock, client: ShiprocketClient, sleeps: Sleeps
) -> None:
    rsps.add(responses.POST, CREATE, body=requests.ReadTimeout("read timed out"))

    with pytest.raises(RetryableShiprocketError) as err:
        client.create_adhoc_order({"order_id": "ORD-1"})

    assert err.value.ambiguous is True
    assert len(rsps.calls) == 1 and sleeps == []  # the caller looks the order up first


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_on_post_is_ambiguous(
    rsps: responses.RequestsMock, client: ShiprocketClient, sleeps: Sleeps, status: int
) -> None:
    rsps.add(responses.POST, ASSIGN, json={"message": "oops", "status_code": status}, status=status)

    with pytest.raises(RetryableShiprocketError) as err:
        client.assign_awb(16090281)

    assert err.value.ambiguous is True and err.value.status_code == status
    assert len(rsps.calls) == 1 and sleeps == []


def test_reset_connection_on_post_is_ambiguous(
    rsps: responses.RequestsMock, client: ShiprocketClient
) -> None:
    rsps.add(responses.POST, CREATE, **TRANSIENT["connection-reset"])

    with pytest.raises(RetryableShiprocketError) as err:
        client.create_adhoc_order({"order_id": "ORD-1"})

    assert err.value.ambiguous is True and len(rsps.calls) == 1


@pytest.mark.parametrize(
    "failure",
    [
        {"body": requests.ConnectTimeout("connect timed out")},
        {"body": requests.ConnectionError(NewConnectionError(None, "Connection refused"))},
        {"status": 429, "headers": {"Retry-After": "1"}},
    ],
    ids=["connect-timeout", "connection-refused", "429"],
)
def test_create_retries_failures_that_surely_did_not_take_effect(
    rsps: responses.RequestsMock, client: ShiprocketClient, sleeps: Sleeps, failure: dict
) -> None:
    rsps.add(responses.POST, CREATE, **failure)
    rsps.add(responses.POST, CREATE, json=sample("orders_create_adhoc.response.200.json"))

    order = client.create_adhoc_order({"order_id": "ORD-1"})

    assert order.sr_order_id == 16161616
    assert len(rsps.calls) == 2 and len(sleeps) == 1


def test_idempotent_post_retries_a_5xx_and_reports_it_ambiguous(
    rsps: responses.RequestsMock, client: ShiprocketClient, sleeps: Sleeps
) -> None:
    url = API + "/orders/cancel"
    rsps.add(
        responses.POST, url, json=sample("orders_cancel.response.500_unknown_id.json"), status=500
    )

    with pytest.raises(RetryableShiprocketError) as err:
        client.cancel_orders([16168898])

    assert err.value.ambiguous is True
    assert err.value.message == "Shiprocket HTTP 500: Trying to get property of non-object"
    assert len(rsps.calls) == 3 and len(sleeps) == 2


def test_retries_are_logged_without_secrets(
    rsps: responses.RequestsMock,
    store: RedisTokenStore,
    sleeps: Sleeps,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rsps.add(responses.POST, LOGIN, status=503)
    add_login(rsps, "tok-secret")
    rsps.add(responses.GET, SHIPMENT, status=502, body=NGINX_502)
    rsps.add(responses.GET, SHIPMENT, json=sample("shipments_show.response.200.json"))
    client = make_client(store, sleeps)

    with caplog.at_level(logging.DEBUG, logger="fulfilment.shiprocket.client"):
        client.get_shipment(16016920)

    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 2
    assert "POST /v1/external/auth/login" in retries[0] and "503" in retries[0]
    assert "GET /v1/external/shipments/16016920" in retries[1] and "502" in retries[1]
    assert "tok-secret" not in caplog.text and PASSWORD not in caplog.text
    assert PASSWORD not in repr(client)


# ---- serviceability -----------------------------------------------------------------------


def test_serviceability_parses_options(
    rsps: responses.RequestsMock, client: ShiprocketClient
) -> None:
    rsps.add(
        responses.GET,
        SERVICEABILITY,
        json=sample("courier_serviceability.response.200.json"),
        match=[
            matchers.query_param_matcher(
                {
                    "pickup_postcode": "110030",
                    "delivery_postcode": "175019",
                    "weight": "0.5",
                    "cod": "1",
                    "declared_value": "999.00",
                    "length": "10",
                    "breadth": "15",
                    "height": "20",
                }
            )
        ],
    )

    result = client.serviceability(
        pickup_postcode="110030",
        delivery_postcode="175019",
        weight_kg=Decimal("0.5"),
        cod=True,
        declared_value=Decimal("999.00"),
        length_cm=Decimal("10"),
        breadth_cm=Decimal("15"),
        height_cm=Decimal("20"),
    )

    assert result.recommended_courier_id == 43
    assert [o.courier_id for o in result.options] == [43, 225, 19]
    assert [o.name for o in result.options] == [
        "Delhivery Surface",
        "India Post-Business Parcel Surface Prepaid",
        "Ecom Express Surface 2kg",
    ]
    assert [o.rate for o in result.options] == [Decimal("54"), Decimal("123.9"), Decimal("150.12")]
    assert all(isinstance(o.rate, Decimal) for o in result.options)
    assert [o.estimated_days for o in result.options] == [4, 8, 6]
    assert [o.rating for o in result.options] == [4.9, 4.4, 4.62]
    assert result.options[0].etd == "Jul 01, 2024"
    assert result.options[0].is_surface is True and result.options[0].cod is True


def test_serviceability_tolerates_rate_object_and_string_ids(
    rsps: responses.RequestsMock, client: ShiprocketClient
) -> None:
    courier = {
        "courier_company_id": "35",
        "courier_name": "Aramex International",
        "rate": {"rate": "1234.50"},
        "estimated_delivery_days": "",
        "rating": None,
    }
    body = {"status": 200, "data": {"available_courier_companies": [courier]}}
    rsps.add(responses.GET, SERVICEABILITY, json=body)

    result = client.serviceability(
        pickup_postcode="110030", delivery_postcode="560099", weight_kg=Decimal("1"), cod=False
    )

    option = result.options[0]
    assert (option.courier_id, option.rate) == (35, Decimal("1234.50"))
    assert option.estimated_days is None and option.rating is None and option.etd is None
    assert result.recommended_courier_id is None
    assert rsps.calls[0].request.params["cod"] == "0"


@pytest.mark.parametrize(
    "data",
    [{"available_courier_companies": []}, {}, None],
    ids=["empty-list", "absent", "no-data"],
)
def test_no_courier_is_not_serviceable(
    rsps: responses.RequestsMock, client: ShiprocketClient, data: Any
) -> None:
    rsps.add(responses.GET, SERVICEABILITY, json={"status": 200, "data": data})

    with pytest.raises(NotServiceable) as err:
        client.serviceability(
            pickup_postcode="110030", delivery_postcode="560099", weight_kg=Decimal("1"), cod=False
        )

    assert err.value.message == "no courier serves 560099"
    assert err.value.delivery_postcode == "560099"


def test_serviceability_status_404_inside_200_is_permanent(
    rsps: responses.RequestsMock, client: ShiprocketClient, sleeps: Sleeps
) -> None:
    body = sample("courier_serviceability.response.200_order_not_found.json")
    rsps.add(responses.GET, SERVICEABILITY, json=body)

    with pytest.raises(PermanentShiprocketError) as err:
        client.serviceability(
            pickup_postcode="110030", delivery_postcode="175019", weight_kg=Decimal("1"), cod=True
        )

    assert not isinstance(err.value, NotServiceable)
    assert err.value.message == "Order does not exist!"
    assert len(rsps.calls) == 1 and sleeps == []


def test_serviceability_422_lists_every_field(
    rsps: responses.RequestsMock, client: ShiprocketClient
) -> None:
    body = sample("courier_serviceability.response.422_missing.json")
    rsps.add(responses.GET, SERVICEABILITY, json=body, status=422)

    with pytest.raises(PermanentShiprocketError) as err:
        client.serviceability(
            pickup_postcode="110030", delivery_postcode="175019", weight_kg=Decimal("1"), cod=True
        )

    assert err.value.field_errors["weight"] == ["is required when order id is not present"]
    assert err.value.message.startswith(
        "weight: is required when order id is not present; "
        "cod: is required when order id is not present; order_id: is required when"
    )


# ---- assign AWB ---------------------------------------------------------------------------


def test_assign_awb_success(rsps: responses.RequestsMock, client: ShiprocketClient) -> None:
    rsps.add(responses.POST, ASSIGN, json=sample("courier_assign_awb.response.200.json"))

    result = client.assign_awb(16090281, courier_id=142)

    assert result.awb == "321055706540"
    assert (result.courier_id, result.courier_name) == (142, "Amazon Surface")
    assert result.pickup_scheduled_date == "2022-11-25 14:00:00"
    assert json.loads(rsps.calls[0].request.body) == {"shipment_id": 16090281, "courier_id": 142}


def test_assign_awb_without_courier_sends_only_the_shipment(
    rsps: responses.RequestsMock, client: ShiprocketClient
) -> None:
    rsps.add(responses.POST, ASSIGN, json=sample("courier_assign_awb.response.200.json"))

    client.assign_awb(16090281)

    assert json.loads(rsps.calls[0].request.body) == {"shipment_id": 16090281}


@pytest.mark.parametrize(
    "body",
    [
        {
            "awb_assign_status": 0,
            "response": {"data": {"awb_assign_error": "Courier is facing some issues"}},
        },
        {"awb_assign_status": 0, "message": "Courier is facing some issues"},
    ],
    ids=["reason-in-data", "reason-top-level"],
)
def test_assign_awb_refusal_inside_200_is_permanent_with_reason(
    rsps: responses.RequestsMock, client: ShiprocketClient, sleeps: Sleeps, body: dict
) -> None:
    rsps.add(responses.POST, ASSIGN, json=body)

    with pytest.raises(PermanentShiprocketError) as err:
        client.assign_awb(16090281)

    assert type(err.value) is PermanentShiprocketError
    assert err.value.message == "Courier is facing some issues"
    assert len(rsps.calls) == 1 and sleeps == []


def test_assign_awb_already_assigned(
    rsps: responses.RequestsMock, client: ShiprocketClient
) -> None:
    body = sample("courier_assign_awb.response.200_refused.integrator_shape.json")
    rsps.add(responses.POST, ASSIGN, json=body)

    with pytest.raises(AwbAlreadyAssigned) as err:
        client.assign_awb(16090281)

    assert err.value.message == "AWB is already assigned"


def test_assign_awb_already_assigned_in_a_4xx(
    rsps: responses.RequestsMock, client: ShiprocketClient
) -> None:
    rsps.add(
        responses.POST,
        ASSIGN,
        json={"message": "AWB is already assigned", "status_code": 400},
        status=400,
    )

    with pytest.raises(AwbAlreadyAssigned):
        client.assign_awb(16090281)


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        (
            "courier_assign_awb.response.400_cannot_reassign.json",
            400,
            "Oops! Cannot reassign courier for this shipment.",
        ),
        ("courier_assign_awb.response.422_missing.json", 422, "shipment_id: is required"),
    ],
)
def test_assign_awb_4xx(
    rsps: responses.RequestsMock, client: ShiprocketClient, name: str, status: int, message: str
) -> None:
    rsps.add(responses.POST, ASSIGN, json=sample(name), status=status)

    with pytest.raises(PermanentShiprocketError) as err:
        client.assign_awb(16090281)

    assert type(err.value) is PermanentShiprocketError
    assert err.value.message == message
    assert len(rsps.calls) == 1


# ---- shipments, pickup, label, tracking ---------------------------------------------------


def test_get_shipment(rsps: responses.RequestsMock, client: ShiprocketClient) -> None:
    rsps.add(responses.GET, SHIPMENT, json=sample("shipments_show.response.200.json"))

    info = client.get_shipment(16016920)

    assert (info.shipment_id, info.sr_order_id, info.awb, info.courier_name, info.status) == (
        16016920,
        16167171,
        None,
        None,
        8,
    )


def test_get_shipment_unknown_is_permanent(
    rsps: responses.RequestsMock, client: ShiprocketClient
) -> None:
    rsps.add(responses.GET, API + "/shipments/123", json={})

    with pytest.raises(PermanentShiprocketError) as err:
        client.get_shipment(123)

    assert err.value.message == "shipment 123 not found"


def test_generate_pickup(rsps: responses.RequestsMock, client: ShiprocketClient) -> None:
    url = API + "/courier/generate/pickup"
    rsps.add(responses.POST, url, json=sample("courier_generate_pickup.response.200.json"))

    result = client.generate_pickup(16091084)

    assert result.scheduled_date == "2021-12-10 12:39:54"
    assert result.token_number == "Reference No: 194_BIGFOOT 1966840_11122021"
    assert json.loads(rsps.calls[0].request.body) == sample("courier_generate_pickup.request.json")


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (200, {"pickup_status": 0, "message": "Pickup not possible"}, "Pickup not possible"),
        (400, sample("courier_generate_pickup.response.400_invalid.json"), "Invalid shipment id"),
    ],
)
def test_generate_pickup_refused(
    rsps: responses.RequestsMock, client: ShiprocketClient, status: int, body: dict, message: str
) -> None:
    rsps.add(responses.POST, API + "/courier/generate/pickup", json=body, status=status)

    with pytest.raises(PermanentShiprocketError) as err:
        client.generate_pickup(1)

    assert err.value.message == message and len(rsps.calls) == 1


def test_generate_label(rsps: responses.RequestsMock, client: ShiprocketClient) -> None:
    url = API + "/courier/generate/label"
    rsps.add(responses.POST, url, json=sample("courier_generate_label.response.200.json"))

    result = client.generate_label(16104408)

    assert result.label_url.endswith("shipping-label-16104408-788830567028.pdf")
    assert json.loads(rsps.calls[0].request.body) == {"shipment_id": [16104408]}


def test_generate_label_not_created_is_permanent(
    rsps: responses.RequestsMock, client: ShiprocketClient
) -> None:
    url = API + "/courier/generate/label"
    rsps.add(
        responses.POST, url, json=sample("courier_generate_label.response.200_not_created.json")
    )

    with pytest.raises(PermanentShiprocketError) as err:
        client.generate_label(1)

    assert err.value.message == "No valid shipment ids to print label"


def test_track_awb(rsps: responses.RequestsMock, client: ShiprocketClient) -> None:
    url = API + "/courier/track/awb/141123221084922"
    rsps.add(responses.GET, url, json=sample("courier_track_awb.response.200.json"))

    tracking = client.track_awb("141123221084922")

    assert tracking is not None
    assert (tracking.awb, tracking.track_status, tracking.shipment_status) == (
        "141123221084922",
        1,
        7,
    )
    assert tracking.current_status == "Delivered"
    assert tracking.track_url == "https://shiprocket.co//tracking/141123221084922"
    assert tracking.etd == "2022-07-20 19:28:00"
    assert len(tracking.activities) == 8
    first = tracking.activities[0]
    assert (first.status, first.activity, first.sr_status, first.sr_status_label) == (
        "DLVD",
        "Delivered",
        "7",
        "DELIVERED",
    )


def test_track_awb_without_activity_is_none(
    rsps: responses.RequestsMock, client: ShiprocketClient
) -> None:
    url = API + "/courier/track/awb/999"
    rsps.add(responses.GET, url, json=sample("courier_track_awb.response.200_no_activity.json"))

    assert client.track_awb("999") is None


# ---- orders: look-up, cancel, address; settings -------------------------------------------


def _order_row(channel_order_id: str, sr_id: int, status: str, code: int, awb: str) -> dict:
    return {
        "id": sr_id,
        "channel_order_id": channel_order_id,
        "status": status,
        "status_code": code,
        "shipments": [{"id": sr_id + 1, "awb": awb, "courier": "Delhivery Surface" if awb else ""}],
    }


def test_find_order_by_channel_id_matches_exactly(
    rsps: responses.RequestsMock, client: ShiprocketClient
) -> None:
    body = {
        "data": [
            _order_row("ORD-10", 500, "NEW", 1, ""),
            _order_row("ORD-1", 100, "READY TO SHIP", 3, "1091188857722"),
        ],
        "meta": {"pagination": {"total": 2}},
    }
    rsps.add(
        responses.GET,
        API + "/orders",
        json=body,
        match=[matchers.query_param_matcher({"search": "ORD-1"})],
    )

    order = client.find_order_by_channel_id("ORD-1")

    assert order is not None
    assert (order.sr_order_id, order.shipment_id, order.status, order.status_code) == (
        100,
        101,
        "READY TO SHIP",
        3,
    )
    assert order.awb_code == "1091188857722" and order.courier_name == "Delhivery Surface"


@pytest.mark.parametrize("data", [[], {}], ids=["empty-list", "empty-object"])
def test_find_order_by_channel_id_none(
    rsps: responses.RequestsMock, client: ShiprocketClient, data: Any
) -> None:
    other = [_order_row("ORD-10", 500, "NEW", 1, "")] if data == [] else data
    rsps.add(responses.GET, API + "/orders", json={"data": other})

    assert client.find_order_by_channel_id("ORD-1") is None


def test_cancel_orders_204(rsps: responses.RequestsMock, client: ShiprocketClient) -> None:
    rsps.add(responses.POST, API + "/orders/cancel", status=204)

    assert client.cancel_orders([16168898, 16167171]) is None
    assert json.loads(rsps.calls[0].request.body) == sample("orders_cancel.request.json")


def test_cancel_shipments_returns_message(
    rsps: responses.RequestsMock, client: ShiprocketClient
) -> None:
    url = API + "/orders/cancel/shipment/awbs"
    rsps.add(responses.POST, url, json=sample("orders_cancel_shipment_awbs.response.json"))

    message = client.cancel_shipments(["19041211125783"])

    assert message == "Bulk Shipment cancellation is in progress. Please wait for some time."
    assert json.loads(rsps.calls[0].request.body) == sample(
        "orders_cancel_shipment_awbs.request.json"
    )


def test_update_delivery_address_202(
    rsps: responses.RequestsMock, client: ShiprocketClient
) -> None:
    request = sample("orders_address_update.request.json")
    address = {k: v for k, v in request.items() if k != "order_id"}
    rsps.add(responses.POST, API + "/orders/address/update", status=202)

    assert client.update_delivery_address(16178831, address) is None
    assert json.loads(rsps.calls[0].request.body) == request


def test_update_delivery_address_bad_order(
    rsps: responses.RequestsMock, client: ShiprocketClient
) -> None:
    body = sample("orders_address_update.response.422_bad_order.json")
    rsps.add(responses.POST, API + "/orders/address/update", json=body, status=422)

    with pytest.raises(PermanentShiprocketError) as err:
        client.update_delivery_address(1, {})

    assert err.value.message == "order_id: The selected order id is invalid"


def test_list_pickup_locations(rsps: responses.RequestsMock, client: ShiprocketClient) -> None:
    url = API + "/settings/company/pickup"
    rsps.add(responses.GET, url, json=sample("settings_company_pickup.response.200.json"))

    [location] = client.list_pickup_locations()

    assert (location.id, location.nickname, location.pin_code) == (
        4984500,
        "Casa Moderna",
        "122003",
    )
    assert location.city == "Gurgaon" and location.is_primary is True


def test_every_call_sends_the_timeout(
    rsps: responses.RequestsMock, store: RedisTokenStore, sleeps: Sleeps
) -> None:
    client = make_client(store, sleeps, connect_timeout=1.5, read_timeout=9.0)
    add_login(rsps)
    rsps.add(responses.POST, CREATE, json=sample("orders_create_adhoc.response.200.json"))
    rsps.add(responses.GET, API + "/orders", json={"data": []})
    rsps.add(responses.GET, SERVICEABILITY, json=sample("courier_serviceability.response.200.json"))
    rsps.add(responses.POST, ASSIGN, json=sample("courier_assign_awb.response.200.json"))
    rsps.add(responses.GET, SHIPMENT, json=sample("shipments_show.response.200.json"))
    rsps.add(
        responses.POST,
        API + "/courier/generate/pickup",
        json=sample("courier_generate_pickup.response.200.json"),
    )
    rsps.add(
        responses.POST,
        API + "/courier/generate/label",
        json=sample("courier_generate_label.response.200.json"),
    )
    rsps.add(
        responses.GET,
        API + "/courier/track/awb/1",
        json=sample("courier_track_awb.response.200_no_activity.json"),
    )
    rsps.add(responses.POST, API + "/orders/cancel", status=204)
    rsps.add(
        responses.POST,
        API + "/orders/cancel/shipment/awbs",
        json=sample("orders_cancel_shipment_awbs.response.json"),
    )
    rsps.add(responses.POST, API + "/orders/address/update", status=202)
    rsps.add(
        responses.GET,
        API + "/settings/company/pickup",
        json=sample("settings_company_pickup.response.200.json"),
    )

    client.create_adhoc_order({})
    client.find_order_by_channel_id("ORD-1")
    client.serviceability(
        pickup_postcode="1", delivery_postcode="2", weight_kg=Decimal("1"), cod=False
    )
    client.assign_awb(16016920)
    client.get_shipment(16016920)
    client.generate_pickup(16016920)
    client.generate_label(16016920)
    client.track_awb("1")
    client.cancel_orders([1])
    client.cancel_shipments(["1"])
    client.update_delivery_address(1, {})
    client.list_pickup_locations()

    assert len(rsps.calls) == 13
    timeouts = {c.request.req_kwargs["timeout"] for c in rsps.calls}
    assert timeouts == {(1.5, 9.0)}
    rsps.calls.reset()  # the fixture checks the default timeout; this client uses its own
