"""Branches (service points): the unit every other piece of data and every WhatsApp session belongs to."""
