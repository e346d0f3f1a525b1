"""Tracking of the Shiprocket sandbox: status table, scans, tracking_data and webhook payloads.

Shipment status ids follow NOTES §5.1 (used by `shipment_status`, scan `sr-status`), order status
ids follow §5.2 (order `status_code`, webhook `current_status_id`). Functions that change an order
expect the caller to hold the state lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fulfilment.shiprocket.sandbox_couriers import estimated_days, find_courier, place
from fulfilment.shiprocket.sandbox_state import CHANNEL_ID, now_ist

NO_ACTIVITY = (
    "Aahh! There is no activities found in our DB. "
    "Please have some patience it will be updated soon."
)


@dataclass(frozen=True)
class TrackStatus:
    shipment_id: int  # NOTES §5.1
    order_id: int  # NOTES §5.2
    order_label: str
    code: str  # the courier's own scan code
    activity: str
    picked_up: bool  # True: the parcel left the seller (cancellation refused from then on)
    at_destination: bool = False


# Statuses that POST /_sandbox/shipments/<id>/status accepts (case-insensitive, "_" = " ").
STATUSES: dict[str, TrackStatus] = {
    "OUT FOR PICKUP": TrackStatus(19, 34, "OUT FOR PICKUP", "X-OFP", "Out for Pickup", False),
    "PICKUP EXCEPTION": TrackStatus(
        20, 35, "PICKUP EXCEPTION", "X-PEX", "Pickup Exception - Seller not ready", False
    ),
    "PICKUP RESCHEDULED": TrackStatus(
        15, 13, "PICKUP RESCHEDULED", "X-PRS", "Pickup Rescheduled", False
    ),
    "PICKED UP": TrackStatus(
        42, 51, "PICKED UP", "X-PPOM", "In Transit - Shipment picked up", True
    ),
    "SHIPPED": TrackStatus(
        6, 6, "SHIPPED", "X-PIOM", "In Transit - Shipment Recieved at Origin Center", True
    ),
    "IN TRANSIT": TrackStatus(18, 20, "IN TRANSIT", "X-ILL2F", "In Transit - Trip Arrived", True),
    "REACHED AT DESTINATION HUB": TrackStatus(
        38, 43, "REACHED DESTINATION HUB", "RAD", "Reached at Destination Hub", True, True
    ),
    "OUT FOR DELIVERY": TrackStatus(
        17, 19, "OUT FOR DELIVERY", "OFD", "Out for Delivery", True, True
    ),
    "DELIVERED": TrackStatus(7, 7, "DELIVERED", "DLVD", "Delivered", True, True),
    "UNDELIVERED": TrackStatus(
        21, 36, "UNDELIVERED", "UD", "Undelivered - Consignee not available", True, True
    ),
    "DELAYED": TrackStatus(22, 37, "DELIVERY DELAYED", "DLYD", "Delayed", True),
    "RTO INITIATED": TrackStatus(9, 15, "RTO INITIATED", "RTO", "RTO Initiated", True, True),
    "RTO IN TRANSIT": TrackStatus(46, 55, "RTO IN TRANSIT", "RTO-IT", "RTO In Transit", True),
    "RTO DELIVERED": TrackStatus(10, 16, "RTO DELIVERED", "RTO-DL", "RTO Delivered", True),
    "LOST": TrackStatus(12, 33, "LOST", "LOST", "Shipment Lost", True),
    "DAMAGED": TrackStatus(25, 40, "DAMAGED", "DMG", "Shipment Damaged", True),
    "DESTROYED": TrackStatus(24, 39, "DESTROYED", "DSTR", "Shipment Destroyed", True),
}
PICKUP_GENERATED = TrackStatus(
    3, 4, "PICKUP SCHEDULED", "X-UCI", "Manifested - Pickup scheduled", False
)
CANCELED = TrackStatus(8, 5, "CANCELED", "CAN", "Shipment Cancelled", False)
SHIPMENT_LABELS = {
    1: "AWB ASSIGNED",
    3: "PICKUP SCHEDULED",
    5: "MANIFEST GENERATED",
    8: "CANCELED",
    11: "PENDING",
    **{s.shipment_id: name for name, s in STATUSES.items()},
}


def normalize_status(name: Any) -> str | None:
    key = " ".join(str(name or "").replace("_", " ").upper().split())
    return key if key in STATUSES else None


def add_scan(order: dict[str, Any], status: TrackStatus) -> dict[str, Any]:
    """Append a scan and move the order/shipment status on (caller holds the lock)."""
    when = now_ist()
    pin = order["delivery_pin"] if status.at_destination else order["pickup_pin"]
    city, state = place(pin)
    scan = {
        "date": when.strftime("%Y-%m-%d %H:%M:%S"),
        "status": status.code,
        "activity": status.activity,
        "location": f"{city}_Hub ({state})",
        "sr-status": str(status.shipment_id),
        "sr-status-label": SHIPMENT_LABELS.get(status.shipment_id, status.order_label),
    }
    order["scans"].append(scan)
    order["shipment_status"] = status.shipment_id
    order["status"], order["status_code"] = status.order_label, status.order_id
    if status.picked_up and not order["picked_up"]:
        order["picked_up"] = True
        order["pickup_date"] = scan["date"]
    if status.shipment_id == 7:
        order["delivered_date"] = scan["date"]
    return scan


def etd(order: dict[str, Any]) -> str:
    courier = find_courier(order["pickup_pin"], order["delivery_pin"], order["courier_id"] or 0)
    days = estimated_days(courier, order["pickup_pin"], order["delivery_pin"]) if courier else 5
    return (now_ist() + timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S")


def tracking_data(order: dict[str, Any]) -> dict[str, Any]:
    """Body of GET /courier/track/awb/{awb} for a known AWB."""
    scans = order["scans"]
    current = SHIPMENT_LABELS.get(order["shipment_status"], order["status"])
    track = {
        "id": order["shipment_id"],
        "awb_code": order["awb"],
        "courier_company_id": order["courier_id"],
        "shipment_id": order["shipment_id"],
        "order_id": order["sr_order_id"],
        "pickup_date": order["pickup_date"],
        "delivered_date": order["delivered_date"],
        "weight": f"{order['weight']:.2f}",
        "packages": 1,
        "current_status": current.title() if current else None,
        "delivered_to": order["address"]["city"],
        "destination": order["address"]["city"],
        "consignee_name": order["address"]["name"],
        "origin": order["origin_city"],
        "courier_agent_details": None,
        "courier_name": order["courier_name"],
        "edd": None,
        "pod": "Available" if order["delivered_date"] else "Not Available",
        "pod_status": "",
    }
    return {
        "tracking_data": {
            "track_status": 1,
            "shipment_status": order["shipment_status"],
            "shipment_track": [track],
            "shipment_track_activities": list(reversed(scans)),
            "track_url": f"https://shiprocket.co//tracking/{order['awb']}",
            "etd": etd(order),
            "qc_response": {"qc_image": "", "qc_failed_reason": ""},
        }
    }


def webhook_payload(order: dict[str, Any]) -> dict[str, Any]:
    """Shiprocket's tracking webhook body for the shipment's current state."""
    shipment_label = SHIPMENT_LABELS.get(order["shipment_status"], order["status"])
    return {
        "awb": order["awb"],
        "courier_name": order["courier_name"],
        "current_status": order["status"],
        "current_status_id": order["status_code"],
        "shipment_status": shipment_label,
        "shipment_status_id": order["shipment_status"],
        "current_timestamp": now_ist().strftime("%d %m %Y %H:%M:%S"),
        "order_id": order["channel_order_id"],
        "sr_order_id": order["sr_order_id"],
        "awb_assigned_date": order["awb_assigned_at"],
        "pickup_scheduled_date": order["pickup_scheduled"] or order["pickup_slot"],
        "etd": etd(order),
        "scans": [dict(s) for s in order["scans"]],
        "is_return": 0,
        "channel_id": CHANNEL_ID,
        "pod_status": "OTP Based Delivery",
        "pod": "Not Available",
        "qc_image": "",
        "qc_failure_reason": "",
    }
