"""Ventanilla: a multi-branch WhatsApp inbox with a tracking bot."""

__version__ = "0.1.0"
