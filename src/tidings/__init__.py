"""Tidings: self-hosted in-product communication."""

__version__ = "0.1.0"
