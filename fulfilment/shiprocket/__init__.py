"""Shiprocket: the API client (client.py), its typed results (types.py) and the built-in sandbox
(sandbox.py). Nothing here knows our models."""
