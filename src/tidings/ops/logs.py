"""Logging (placeholder while being built)."""

import logging


def configure_logging(level: str, fmt: str) -> None:
    logging.basicConfig(level=level.upper())
