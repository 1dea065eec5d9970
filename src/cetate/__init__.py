"""Cetate: an open smart-city platform built around an NGSI-LD context hub."""

__version__ = "0.1.0"
