"""The ops dashboard in a real browser against a live stack (gunicorn, RQ worker, sandbox).

Each scenario of the dashboard issue, as ops would do it: log in, find, act, watch it change.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.admin_helpers import PASSWORD
from tests.browser.conftest import OPS, PHONE, VIEWER, Stack, api, login, screenshot
from tests.shipping_helpers import place, place_processing

pytestmark = pytest.mark.slow

NO_COURIER = "no courier serves 111111"
FAILED_MESSAGE = (
    "Shipment generation failed: no courier serves 111111. Please verify address and try again."
)
SHIPPED = re.compile(r"Shipment created successfully\. AWB: (\S+)")


def detail(page: Any, order_id: str) -> None:
    page.goto(f"/admin/orders/details/?order_id={order_id}")
    expect(page.locator("#order-id")).to_have_text(order_id)


def row_link(page: Any, order_id: str) -> Any:
    return page.locator("a.order-link", has_text=re.compile(f"^{re.escape(order_id)}$"))


WATCH_SCRIPT = """
document.addEventListener("DOMContentLoaded", () => {
  const box = document.querySelector("#shipment-result");
  if (!box) { return; }
  new MutationObserver(() => window.__shipmentResult(box.textContent.trim()))
    .observe(box, { childList: true, characterData: true, subtree: true });
});
"""


def watch_shipment_result(page: Any) -> list[str]:
    """Every text #shipment-result shows, across the page's own reloads (call before goto)."""
    seen: list[str] = []
    page.expose_function("__shipmentResult", lambda text: seen.append(text))
    page.add_init_script(WATCH_SCRIPT)
    return seen


def shown(page: Any, selector: str) -> str | None:
    """The element's text, or None while it is absent (or the page is between loads)."""
    try:
        element = page.query_selector(selector)
        return element.inner_text().strip() if element else None
    except PlaywrightError:  # the page reloaded itself under us
        return None


def ship_in_browser(page: Any, seen: list[str], timeout: float = 30) -> str:
    """Confirms the open courier dialog and waits for the success message; returns the AWB.

    The page reloads itself a moment after the message: an AWB on the page with no success
    message ever shown fails at once."""
    page.click("#confirm-shipment")
    deadline = time.monotonic() + timeout
    while True:
        for text in seen:
            if match := SHIPPED.fullmatch(text):
                return match.group(1)
        if shown(page, "#awb"):
            page.wait_for_timeout(200)  # a last observer report may be in flight
            if not any(SHIPPED.fullmatch(text) for text in seen):
                raise AssertionError(f"shipped, but the success message never showed: {seen}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no success message in {timeout} s; #shipment-result: {seen}")
        page.wait_for_timeout(50)


def wait_failure_shown(page: Any, seen: list[str], message: str, timeout: float = 30) -> None:
    """Waits until #shipment-result (live) or #shipment-failure (after the reload) reads it."""
    deadline = time.monotonic() + timeout
    while message not in seen and shown(page, "#shipment-failure") != message:
        if time.monotonic() > deadline:
            raise AssertionError(f"failure not shown in {timeout} s; #shipment-result: {seen}")
        page.wait_for_timeout(50)


def no_dialogs(page: Any) -> list[str]:
    seen: list[str] = []

    def handle(dialog: Any) -> None:
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", handle)
    return seen


# ------------------------------------------------------------------ 1. log in


def test_login_lands_on_admin_and_wrong_password_is_refused(stack: Stack, page: Any) -> None:
    page.goto("/login")
    page.fill("#email", OPS)
    page.fill("#password", "not-the-password")
    page.click("button[type=submit]")
    expect(page.locator(".alert")).to_have_text("Wrong e-mail or password.")
    assert "/login" in page.url

    page.fill("#email", OPS)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(stack.url("/admin/"))
    expect(page.locator(".navbar")).to_contain_text(OPS)


# ------------------------------------------------------------------ 2. find by AWB


def test_find_order_by_awb_then_open_it(stack: Stack, page: Any) -> None:
    from fulfilment.services.shipments import request_shipment

    place(stack.app, "ORD-B2-OTHER1")
    place_processing(stack.app, "ORD-B2-OTHER2")
    place_processing(stack.app, "ORD-B2-SHIP")
    with stack.app.app_context():
        request_shipment("ORD-B2-SHIP", actor=OPS)
    shipped = stack.wait_order("ORD-B2-SHIP", lambda o: o["status"] == "shipped")
    awb = shipped["shipment"]["awb"]
    assert awb

    login(page)
    page.goto("/admin/orders/")
    expect(page.locator("a.order-link")).to_have_count(3)
    expect(page.locator('[data-shipment-for="ORD-B2-SHIP"]')).to_have_text(awb)
    screenshot(page, "list.png")

    page.fill("input[name=search]", awb)
    page.press("input[name=search]", "Enter")
    page.wait_for_url(re.compile(r"search="))
    expect(page.locator("a.order-link")).to_have_count(1)
    expect(page.locator("a.order-link")).to_have_text("ORD-B2-SHIP")

    page.click("a.order-link")
    expect(page.locator("#order-id")).to_have_text("ORD-B2-SHIP")
    expect(page.locator("#awb")).to_have_text(awb)
    expect(page.locator("#order-status .badge")).to_have_text("Shipped")
    screenshot(page, "detail.png")


# ------------------------------------------------------------------ 3. mark processing


def test_mark_processing_updates_badge_and_timeline(stack: Stack, page: Any) -> None:
    place(stack.app, "ORD-B3-1")
    login(page)
    detail(page, "ORD-B3-1")
    expect(page.locator("#order-status .badge")).to_have_text("Placed")

    page.click("#mark-processing")

    expect(page.locator("#order-status .badge")).to_have_text("Processing")
    entry = page.locator("#timeline li", has_text="Processing")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text(OPS)
    expect(page.locator("#mark-processing")).to_have_count(0)
    assert stack.order("ORD-B3-1")["status"] == "processing"


# ------------------------------------------------------------------ 4. choose a courier


def test_generate_shipment_with_a_non_default_courier(stack: Stack, page: Any) -> None:
    place_processing(stack.app, "ORD-B4-1")
    seen = watch_shipment_result(page)
    login(page)
    detail(page, "ORD-B4-1")

    started = time.monotonic()
    page.click("#generate-shipment")
    page.wait_for_selector("#courier-options .courier-option", timeout=3_000)
    assert time.monotonic() - started < 3.0

    options = page.locator("#courier-options .courier-option")
    assert options.count() >= 2
    auto = page.locator("#courier-options .courier-option.active")
    expect(auto).to_have_count(1)
    expect(auto.locator(".badge", has_text="auto: cheapest")).to_have_count(1)
    auto_id = int(auto.get_attribute("data-courier-id"))

    chosen_id = int(
        page.locator("#courier-options .courier-option:not(.active)").first.get_attribute(
            "data-courier-id"
        )
    )
    assert chosen_id != auto_id
    other = page.locator(f'#courier-options .courier-option[data-courier-id="{chosen_id}"]')
    other.click()
    expect(other).to_have_class(re.compile(r"\bactive\b"))
    expect(page.locator("#courier-options .courier-option.active")).to_have_count(1)

    awb = ship_in_browser(page, seen)

    order = stack.wait_order("ORD-B4-1", lambda o: o["status"] == "shipped")
    assert order["shipment"]["awb"] == awb
    assert order["shipment"]["courier_id"] == chosen_id
    # The page reloads itself onto the shipped order.
    expect(page.locator("#awb")).to_have_text(awb)


# ------------------------------------------------------------------ 5. fail, fix, retry


def test_failed_shipment_then_fix_address_and_retry(stack: Stack, page: Any) -> None:
    place_processing(stack.app, "ORD-B5-1", pincode="111111")
    seen = watch_shipment_result(page)
    login(page)
    detail(page, "ORD-B5-1")
    expect(page.locator("#generate-shipment")).to_have_text("Generate Shipment")

    page.click("#generate-shipment")
    expect(
        page.locator("#confirm-shipment"),
        "no courier options for 111111: ops must still be able to request the shipment",
    ).to_be_enabled(timeout=5_000)
    page.click("#confirm-shipment")
    wait_failure_shown(page, seen, FAILED_MESSAGE)
    # It reloads itself onto the failed attempt.
    expect(page.locator("#shipment-failure")).to_have_text(FAILED_MESSAGE)
    stack.wait_order("ORD-B5-1", lambda o: (o["shipment"] or {}).get("state") == "failed")

    page.goto("/admin/orders/?flt0_1=failed")
    expect(page.locator("a.order-link")).to_have_count(1)
    expect(row_link(page, "ORD-B5-1")).to_be_visible()
    expect(page.locator('[data-shipment-for="ORD-B5-1"]')).to_have_text("Shipment failed")

    row_link(page, "ORD-B5-1").click()
    expect(page.locator("#shipment-failure")).to_have_text(FAILED_MESSAGE)
    page.click("#edit-address")
    page.fill("#pincode", "560001")
    page.click("#save-address")
    expect(page.locator(".alert", has_text="Address updated")).to_be_visible()
    expect(page.locator("#shipping-address")).to_contain_text("560001")

    retry = page.locator("#generate-shipment")
    expect(retry).to_have_text("Retry Shipment")
    retry.click()
    expect(page.locator("#courier-options .courier-option.active")).to_have_count(1)
    awb = ship_in_browser(page, seen)
    order = stack.wait_order("ORD-B5-1", lambda o: o["status"] == "shipped")
    assert order["shipment"]["awb"] == awb


# ------------------------------------------------------------------ 6. batch


def test_batch_of_five_with_one_failure(stack: Stack, page: Any) -> None:
    good = [place_processing(stack.app, f"ORD-B6-{n}") for n in range(1, 5)]
    bad = place_processing(stack.app, "ORD-B6-BAD", pincode="111111")
    place(stack.app, "ORD-B6-PLACED")  # not processing: filtered out of the list below
    login(page)
    page.goto("/admin/orders/?flt0_0=processing")
    expect(page.locator("a.order-link")).to_have_count(5)
    for order_id in [*good, bad]:
        page.locator("tr", has=row_link(page, order_id)).locator("input.action-checkbox").check()

    page.on("dialog", lambda d: d.accept())
    page.click("a.dropdown-toggle:has-text('With selected')")
    page.click(".dropdown-menu a:has-text('Generate Shipments')")
    page.wait_for_url(re.compile(r"/admin/batches/\d+/$"))

    progress = page.locator("#batch-progress-text")
    expect(progress).to_have_text("4 of 5 shipments created · 1 failed", timeout=60_000)
    failures = page.locator("#batch-failures")
    expect(failures).to_contain_text(bad)
    expect(failures.locator("li")).to_have_count(1)
    expect(failures).to_contain_text(NO_COURIER)

    page.reload()
    expect(progress).to_have_text("4 of 5 shipments created · 1 failed")
    expect(page.locator("#batch-failures li")).to_have_count(1)
    for order_id in good:
        assert stack.order(order_id)["status"] == "shipped"
    assert stack.order(bad)["status"] == "processing"


# ------------------------------------------------------------------ 7. live updates


def test_list_and_detail_update_live_within_two_seconds(stack: Stack, page: Any) -> None:
    from fulfilment.services.users import issue_token

    place(stack.app, "ORD-B7-1")
    place(stack.app, "ORD-B7-2")
    with stack.app.app_context():
        token = issue_token(OPS, actor="test")
    login(page)
    detail(page, "ORD-B7-1")
    listing = page.context.new_page()
    listing.goto("/admin/orders/")
    badge = listing.locator('[data-status-for="ORD-B7-1"]')
    expect(badge).to_have_text("Placed")
    expect(page.locator("#order-status .badge")).to_have_text("Placed")

    started = time.monotonic()
    resp = api(stack, "POST", "/api/v1/orders/ORD-B7-1/process", token)
    assert resp.status_code == 200, resp.text

    expect(badge).to_have_text("Processing", timeout=2_000)
    list_s = time.monotonic() - started
    expect(page.locator("#order-status .badge")).to_have_text("Processing", timeout=2_000)
    detail_s = time.monotonic() - started
    assert list_s <= 2.0, list_s
    assert detail_s <= 2.0, detail_s
    # The detail page reloaded itself: the timeline has the API's change.
    expect(page.locator("#timeline li", has_text="Processing")).to_contain_text(OPS)
    expect(listing.locator('[data-status-for="ORD-B7-2"]')).to_have_text("Placed")


# ------------------------------------------------------------------ 8. phone


def test_phone_layout(stack: Stack, new_page: Any) -> None:
    for n in range(1, 4):
        place(stack.app, f"ORD-B8-{n}")
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    login(page)
    page.goto("/admin/orders/")
    expect(page.locator("a.order-link")).to_have_count(3)

    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    first = page.locator("table.model-list tbody tr").first
    for cell in (".col-order_id", ".col-status", ".col-total"):
        box = first.locator(f"td{cell}").bounding_box()
        assert box is not None, f"{cell} is not shown"
        assert box["width"] > 0 and box["height"] > 0, (cell, box)
        assert 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"], (cell, box)
        assert 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"], (cell, box)
    expect(first.locator("td.col-total")).to_contain_text("₹")
    expect(first.locator("td.col-status .badge")).to_have_text("Placed")
    screenshot(page, "phone-list.png")

    detail(page, "ORD-B8-1")
    buttons = page.locator("#actions button:visible, #add-note")
    assert buttons.count() >= 4  # mark processing, cancel, edit address, add note
    for i in range(buttons.count()):
        box = buttons.nth(i).bounding_box()
        label = buttons.nth(i).inner_text()
        assert box is not None and box["height"] >= 40, (label, box)
        assert 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"], (label, box)
    cards = page.locator(".card:visible")
    for i in range(cards.count()):
        box = cards.nth(i).bounding_box()
        assert box is not None and 0 <= box["x"] <= box["x"] + box["width"] <= PHONE["width"]
    screenshot(page, "phone-detail.png")


# ------------------------------------------------------------------ 9. flag off


def test_flag_off_hides_every_fulfilment_action(stack: Stack, page: Any) -> None:
    from fulfilment.services.flags import set_flag

    place(stack.app, "ORD-B9-1")
    place_processing(stack.app, "ORD-B9-2")
    with stack.app.app_context():
        set_flag("feature.orders.order_fulfillment", False, actor="admin@example.in")
    login(page)

    detail(page, "ORD-B9-1")
    expect(page.locator("#order-status .badge")).to_have_text("Placed")
    for selector in ("#actions", "#mark-processing", "#generate-shipment"):
        expect(page.locator(selector)).to_have_count(0)
    detail(page, "ORD-B9-2")
    expect(page.locator("#generate-shipment")).to_have_count(0)

    page.goto("/admin/orders/")
    expect(page.locator("a.order-link")).to_have_count(2)
    expect(page.get_by_text("With selected")).to_have_count(0)
    expect(page.locator("input.action-checkbox")).to_have_count(0)


# ------------------------------------------------------------------ 10. XSS


def test_customer_name_and_note_are_shown_as_text(stack: Stack, page: Any) -> None:
    name = "<script>alert(1)</script>"
    note = "<img src=x onerror=alert(2)>"
    place(
        stack.app,
        "ORD-B10-1",
        customer={"name": name, "email": "xss@example.in", "phone": "+91 98450 12345"},
    )
    dialogs = no_dialogs(page)
    login(page)
    detail(page, "ORD-B10-1")
    expect(page.locator("#customer-name")).to_have_text(name)

    page.fill("#note-body", note)
    page.click("#add-note")
    expect(page.locator(".alert", has_text="Note added.")).to_be_visible()
    expect(page.locator("#notes .note-body")).to_have_text(note)
    expect(page.locator("#customer-name")).to_have_text(name)
    expect(page.locator("#notes img")).to_have_count(0)
    expect(page.locator("#customer-name script")).to_have_count(0)

    page.goto("/admin/orders/")
    expect(page.locator("td.col-customer_name")).to_have_text(name)
    page.reload()  # let any injected handler have its chance
    expect(page.locator("a.order-link")).to_have_count(1)
    assert dialogs == []


# ------------------------------------------------------------------ 11. viewer


def test_viewer_reads_but_cannot_act(stack: Stack, page: Any) -> None:
    place(stack.app, "ORD-B11-1")
    place_processing(stack.app, "ORD-B11-2")
    login(page, VIEWER)

    page.goto("/admin/orders/")
    expect(page.locator("a.order-link")).to_have_count(2)
    expect(page.get_by_text("With selected")).to_have_count(0)
    expect(page.locator("input.action-checkbox")).to_have_count(0)

    row_link(page, "ORD-B11-2").click()
    expect(page.locator("#order-id")).to_have_text("ORD-B11-2")
    expect(page.locator("#order-status .badge")).to_have_text("Processing")
    expect(page.locator("#timeline li")).to_have_count(2)
    for selector in ("#actions", "#generate-shipment", "#mark-processing", "#add-note"):
        expect(page.locator(selector)).to_have_count(0)


# ------------------------------------------------------- unmatched tracking (issue 5)


def test_unmatched_tracking_on_a_phone(stack: Stack, new_page: Any) -> None:
    import requests

    from tests.helpers import tracking_push

    sample = tracking_push("900000000001")
    token = stack.app.config["SHIPROCKET_WEBHOOK_TOKEN"]
    resp = requests.post(
        f"{stack.base}/webhooks/tracking", json=sample, headers={"x-api-key": token}, timeout=10
    )
    assert resp.json()["status"] == "unknown_awb"

    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    login(page, VIEWER)
    page.goto("/admin/unmatched/")

    row = page.locator('tr.unmatched-row[data-awb="900000000001"]')
    expect(row).to_contain_text("IN TRANSIT")
    wide = page.evaluate(  # what sticks out, to say so when the layout is broken
        """(width) => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > width + 1)
            .slice(0, 8).map(e => `${e.tagName}.${e.className}`)""",
        PHONE["width"],
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], wide
    box = row.locator("td.awb").bounding_box()
    assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"]
    screenshot(page, "phone-unmatched-tracking.png")
