"""'Unmatched tracking': Shiprocket pushes for AWBs none of our shipments has, kept for review.

Usually a shipment created in Shiprocket's panel by hand, or a push that arrived before our job
stored its AWB (such scans are linked to the shipment as soon as the AWB is ours). Read-only.
"""

from __future__ import annotations

from typing import Any

from flask_admin import BaseView, expose

from fulfilment.admin.common import Secured
from fulfilment.services.tracking import unmatched_awbs
from fulfilment.timefmt import show_ist

LIMIT = 200


class UnmatchedTrackingView(Secured, BaseView):
    @expose("/")
    def index(self) -> Any:
        return self.render(
            "admin/unmatched_tracking.html",
            items=unmatched_awbs(LIMIT),
            limit=LIMIT,
            show_ist=show_ist,
        )
