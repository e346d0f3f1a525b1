"""fulfilment: order management and Shiprocket fulfilment for Indian D2C shops."""

from fulfilment.app import create_app

__all__ = ["create_app"]
