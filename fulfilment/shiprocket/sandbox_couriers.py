"""Couriers and deterministic rate cards of the Shiprocket sandbox.

Per lane (pickup PIN, delivery PIN) and weight:
- zone: z_a same first 3 digits, z_b same first 2, z_c same first digit, z_d elsewhere,
  z_e when the delivery PIN starts with 18, 19 (J&K/Himachal) or 78, 79 (North-East);
- charge weight = weight rounded up to 0.5 kg slabs; freight = slabs * (base + step * zone index);
- COD adds a fixed `cod_charges` per courier (included in `rate`, like Shiprocket);
- Ekart (48) does not serve delivery PINs starting with 7, 8 or 9; PIN 111111 (either end) is
  served by nobody.
Always: Ekart is the cheapest when present, Xpressbees (33) and Ecom Express Surface (14) tie on
rate, Blue Dart (1) is the fastest, and the recommended courier is Delhivery Surface (43) -
neither the cheapest nor the fastest.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fulfilment.shiprocket.sandbox_state import now_ist

NOBODY_SERVES = "111111"
RECOMMENDED_ID = 43
ZONES = ("z_a", "z_b", "z_c", "z_d", "z_e")
FAR_PREFIXES = ("18", "19", "78", "79")
STATES = {
    "1": ("New Delhi", "Delhi"),
    "2": ("Lucknow", "Uttar Pradesh"),
    "3": ("Jaipur", "Rajasthan"),
    "4": ("Mumbai", "Maharashtra"),
    "5": ("Bengaluru", "Karnataka"),
    "6": ("Chennai", "Tamil Nadu"),
    "7": ("Kolkata", "West Bengal"),
    "8": ("Patna", "Bihar"),
    "9": ("Field Post", "Army Postal Service"),
}


@dataclass(frozen=True)
class Courier:
    id: int
    name: str
    base: float  # INR per 0.5 kg slab in zone z_a
    step: float  # INR added per slab for each zone further
    cod_fee: float
    days: int  # estimated days in zone z_a
    day_step: float  # days added per zone
    rating: float
    surface: bool
    excluded_first_digits: str = ""

    def serves(self, pickup: str, delivery: str) -> bool:
        if NOBODY_SERVES in (pickup, delivery):
            return False
        return delivery[:1] not in self.excluded_first_digits


COURIERS: tuple[Courier, ...] = (
    Courier(48, "Ekart Logistics", 30, 6, 30, 5, 1, 3.6, True, excluded_first_digits="789"),
    Courier(33, "Xpressbees", 34, 7, 35, 4, 1, 3.9, True),
    Courier(14, "Ecom Express Surface", 34, 7, 35, 5, 1, 3.8, True),
    Courier(43, "Delhivery Surface", 38, 8, 35, 3, 1, 4.5, True),
    Courier(1, "Blue Dart", 60, 15, 50, 1, 0.5, 4.7, False),
)


def place(pincode: str) -> tuple[str, str]:
    """(city, state) of a PIN, by its first digit."""
    return STATES.get(pincode[:1], ("Sandbox City", "Sandbox State"))


def zone_index(pickup: str, delivery: str) -> int:
    if delivery[:2] in FAR_PREFIXES:
        return 4
    for i, n in enumerate((3, 2, 1)):
        if pickup[:n] == delivery[:n]:
            return i
    return 3


def lane_couriers(pickup: str, delivery: str) -> list[Courier]:
    return [c for c in COURIERS if c.serves(pickup, delivery)]


def find_courier(pickup: str, delivery: str, courier_id: int) -> Courier | None:
    return next((c for c in lane_couriers(pickup, delivery) if c.id == courier_id), None)


def recommended(pickup: str, delivery: str) -> Courier | None:
    couriers = lane_couriers(pickup, delivery)
    return next((c for c in couriers if c.id == RECOMMENDED_ID), couriers[0] if couriers else None)


def estimated_days(c: Courier, pickup: str, delivery: str) -> int:
    return int(c.days + c.day_step * zone_index(pickup, delivery))


def quote(c: Courier, pickup: str, delivery: str, weight: float, cod: bool) -> dict[str, Any]:
    """One entry of data.available_courier_companies."""
    z = zone_index(pickup, delivery)
    slabs = max(1, math.ceil(round(weight / 0.5, 6)))
    freight = round(slabs * (c.base + c.step * z), 2)
    cod_charges = c.cod_fee if cod else 0
    days = estimated_days(c, pickup, delivery)
    city, state = place(delivery)
    entry = _static_fields(c)
    entry.update(
        {
            "charge_weight": slabs * 0.5,
            "city": city,
            "cod_charges": cod_charges,
            "courier_company_id": c.id,
            "courier_name": c.name,
            "estimated_delivery_days": str(days),
            "etd": (now_ist() + timedelta(days=days)).strftime("%b %d, %Y"),
            "etd_hours": days * 24,
            "freight_charge": freight,
            "id": 459245000 + c.id,
            "postcode": delivery,
            "rate": round(freight + cod_charges, 2),
            "rating": c.rating,
            "rto_charges": freight,
            "state": state,
            "zone": ZONES[z],
        }
    )
    return entry


def _static_fields(c: Courier) -> dict[str, Any]:
    return {
        "air_max_weight": "0.00" if c.surface else "10.00",
        "assured_amount": 0,
        "base_courier_id": None,
        "base_weight": "",
        "blocked": 0,
        "call_before_delivery": "Available",
        "cod": 1,
        "cod_multiplier": 0.01,
        "cost": "",
        "courier_type": "0",
        "coverage_charges": 0,
        "cutoff_time": "11:00",
        "delivery_boy_contact": "Not Available",
        "delivery_performance": round(c.rating + 0.2, 1),
        "description": "",
        "edd": "",
        "entry_tax": 0,
        "is_custom_rate": 0,
        "is_hyperlocal": False,
        "is_international": 0,
        "is_rto_address_available": True,
        "is_surface": c.surface,
        "local_region": 0,
        "metro": 0,
        "min_weight": 0.5,
        "mode": 0 if c.surface else 1,
        "new_edd": 0,
        "odablock": False,
        "other_charges": 0,
        "others": json.dumps({"allow_postcode_auto_sync": 1, "cancel_real_time": True}),
        "pickup_availability": "1",
        "pickup_performance": c.rating,
        "pickup_priority": "",
        "pickup_supress_hours": 0,
        "pod_available": "Instant",
        "qc_courier": 0,
        "rank": "",
        "realtime_tracking": "Real Time",
        "region": 1,
        "rto_performance": c.rating,
        "seconds_left_for_pickup": 0,
        "secure_shipment_disabled": False,
        "ship_type": 1,
        "suppress_date": "",
        "suppress_text": "",
        "suppression_dates": None,
        "surface_max_weight": "20.00" if c.surface else "0.00",
        "tracking_performance": c.rating,
        "volumetric_max_weight": None,
        "weight_cases": c.rating,
    }


def serviceability(pickup: str, delivery: str, weight: float, cod: bool) -> dict[str, Any]:
    """The full 200 body of GET /courier/serviceability/."""
    couriers = lane_couriers(pickup, delivery)
    rec = recommended(pickup, delivery)
    rec_id = rec.id if rec else None
    return {
        "company_auto_shipment_insurance_setting": False,
        "covid_zones": {"delivery_zone": None, "pickup_zone": None},
        "currency": "INR",
        "data": {
            "available_courier_companies": [
                quote(c, pickup, delivery, weight, cod) for c in couriers
            ],
            "blocked_courier_companies": [],
            "child_courier_id": None,
            "is_recommendation_enabled": 1,
            "recommendation_advance_rule": None,
            "recommended_by": {"id": 6, "title": "Recommendation By Shiprocket"},
            "recommended_courier_company_id": rec_id,
            "shiprocket_recommended_courier_id": rec_id,
        },
        "dg_courier": 0,
        "eligible_for_insurance": 0,
        "insurace_opted_at_order_creation": False,
        "is_allow_templatized_pricing": True,
        "is_latlong": 0,
        "is_old_zone_opted": False,
        "is_zone_from_mongo": False,
        "label_generate_type": 0,
        "on_new_zone": 2,
        "seller_address": [],
        "status": 200,
        "user_insurance_manadatory": False,
    }
