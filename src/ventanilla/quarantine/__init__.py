"""Inbound messages the database refused even after cleaning: set aside with the reason, never dropped."""
