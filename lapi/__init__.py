"""LAPI: licence-plate and vehicle-tracking event processor."""

__version__ = "0.1.0"
