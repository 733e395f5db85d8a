"""Registers the push job kinds on the default registry (imported by the app and CLI)."""

from __future__ import annotations

from tidings.jobs.handlers import default_registry
from tidings.push.fanout import PLAN, SEND, plan_batch
from tidings.push.send import send_batch
from tidings.push.watch import WATCH, watch

default_registry.register(PLAN)(plan_batch)
default_registry.register(SEND)(send_batch)
default_registry.register(WATCH)(watch)
