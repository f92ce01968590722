"""Shipments: the parcels customers track; tracking numbers are company-wide."""
