"""Shipment alerts: status events pushed by the tracking system, fanned out to customers who asked for them."""
