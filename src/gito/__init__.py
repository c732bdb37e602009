"""Gito: an open-source, multi-tenant IoT platform."""

__version__ = "0.1.0"
