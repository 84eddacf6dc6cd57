"""Liên Thông: interconnection of Vietnamese government information systems."""

__version__ = "0.1.0"
