"""Outbound webhooks: company systems told of events by signed POSTs, from an outbox written with the events."""
