"""Registers the analytics job kinds on the default registry (imported by the app)."""

from __future__ import annotations

from tidings.analytics.winner_job import AUTO_WINNER, run
from tidings.jobs.handlers import default_registry

default_registry.register(AUTO_WINNER)(run)
